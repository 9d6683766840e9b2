"""The calling convention helpers share: C argument types, errno values, the run's context.

A helper receives r1..r5 as unsigned 64-bit values and returns r0. The kernel's helpers are
C functions (``BPF_CALL_n`` in include/linux/filter.h) whose parameters have C types: a ``u32``
parameter sees the low 32 bits of the register, an ``int`` the same bits signed, a pointer
all 64. The functions here do those conversions, so each helper reads like its C original.
Return values may be negative Python ints (``-errno``); the interpreter masks r0 to 64 bits.

Context objects: the verifier guarantees that a helper taking ``ARG_PTR_TO_CTX`` gets the
program's context, so helpers use the run's context object (``state.context``) and check
only its Python type, raising :class:`~pybpf.errors.ExecutionFault` when a helper is called
from a program type it does not belong to.
"""

from __future__ import annotations

import errno
from typing import TypeVar

from pybpf.errors import ExecutionFault
from pybpf.platform.skb_flags import ENOTSUPP
from pybpf.runtime.execstate import ExecState

__all__ = [
    "EFAULT",
    "EINVAL",
    "ENOTSUPP",
    "U64",
    "context_as",
    "read_cstring",
    "s32",
    "s64",
    "u16",
    "u32",
]

U64 = (1 << 64) - 1
EINVAL = errno.EINVAL
EFAULT = errno.EFAULT

T = TypeVar("T")


def u32(value: int) -> int:
    """A register as a C ``u32`` parameter."""
    return value & 0xFFFFFFFF


def u16(value: int) -> int:
    """A register as a C ``u16``/``__be16`` parameter."""
    return value & 0xFFFF


def s32(value: int) -> int:
    """A register as a C ``int``/``s32`` parameter."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def s64(value: int) -> int:
    """A register as a C ``s64``/``long`` parameter."""
    value &= U64
    return value - (1 << 64) if value & (1 << 63) else value


def context_as(state: ExecState, kind: type[T], helper: str) -> T:
    """The run's context object, which must be a ``kind`` for ``helper`` to make sense."""
    ctx = state.context
    if not isinstance(ctx, kind):
        have = type(ctx).__name__ if ctx is not None else "no context"
        raise ExecutionFault(
            f"{helper}() needs a {kind.__name__} context, this run has {have}", pc=state.pc
        )
    return ctx


def read_cstring(state: ExecState, addr: int, limit: int) -> bytes | None:
    """The NUL-terminated string at ``addr`` (without the NUL), reading at most ``limit``
    bytes; None when a byte before the terminator cannot be read or no NUL comes first."""
    out = bytearray()
    memory = state.memory
    for i in range(limit):
        try:
            byte = memory.load(addr + i, 1, state.pc)
        except ExecutionFault:
            return None
        if byte == 0:
            return bytes(out)
        out.append(byte)
    return None
