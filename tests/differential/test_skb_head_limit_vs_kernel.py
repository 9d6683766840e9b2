"""bpf_skb_change_head() on a GSO skb, whose room the helper does not cap: the head
pskb_expand_head() would allocate is limited by kmalloc (KMALLOC_MAX_SIZE), so a room close
to 4 MiB fails with -ENOMEM. pybpf (interpreter and JIT) against the kernel, on both sides of
the boundary for two frame sizes (a different kmalloc size of the test run's head), and for
rooms far beyond it (pybpf must not try to allocate them)."""

from __future__ import annotations

import struct

import pytest

from pybpf.asm import assemble
from pybpf.interp import Interpreter
from pybpf.isa import encode
from pybpf.jit import JIT
from pybpf.kernel.sys import bpf_available, prog_load, prog_test_run
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType
from pybpf.program.spec import ProgramSpec
from pybpf.runtime.helpers import default_helpers

AVAILABLE, REASON = bpf_available()
SKB = CTX_STRUCTS["__sk_buff"]
MIB4 = 4 << 20


def _program(room: int) -> str:
    return f"r2 = {room} ll\nr3 = 0\ncall 43\nexit"


def _ctx() -> bytes:
    ctx = bytearray(SKB.size)
    struct.pack_into("<I", ctx, SKB.offsetof("gso_size"), 1000)
    struct.pack_into("<I", ctx, SKB.offsetof("gso_segs"), 2)
    return bytes(ctx)


def _frame(length: int) -> bytes:
    return bytes.fromhex("ffffffffffff0011223344550800") + bytes(length - 14)


#: (frame length, room): the largest rooms that work on Linux 6.18 (measured: 4 MiB - 448
#: for a 100-byte frame, whose head is a 512-byte kmalloc; 4 MiB - 1,984 for 1,000 bytes, a
#: 2,048-byte one), one more, and far more.
CASES = [(100, MIB4 - 448), (100, MIB4 - 447), (1000, MIB4 - 1984), (1000, MIB4 - 1983),
         (100, 0x100000), (100, 0x7FFF0000)]


def _pybpf(backend: object, length: int, room: int) -> int:
    spec = ProgramSpec("head", tuple(assemble(_program(room), syntax="llvm")),
                       prog_type=ProgType.SCHED_CLS)
    prog = backend.load(spec)  # type: ignore[attr-defined]
    return prog.test_run(data=_frame(length), ctx=_ctx()).retval & 0xFFFFFFFF


@pytest.mark.parametrize(("length", "room"), CASES)
def test_change_head_of_a_gso_skb_fails_where_kmalloc_would(length: int, room: int) -> None:
    expected = 0 if room in (MIB4 - 448, MIB4 - 1984, 0x100000) else -12 & 0xFFFFFFFF
    assert _pybpf(Interpreter(helpers=default_helpers()), length, room) == expected
    assert _pybpf(JIT(helpers=default_helpers(), cache=False), length, room) == expected


@pytest.mark.kernel
@pytest.mark.skipif(not AVAILABLE, reason=f"bpf() not usable: {REASON}")
@pytest.mark.parametrize(("length", "room"), CASES)
def test_the_kernel_agrees(length: int, room: int) -> None:
    fd = prog_load(ProgType.SCHED_CLS, encode(assemble(_program(room), syntax="llvm")))
    result = prog_test_run(fd, data=_frame(length), ctx=_ctx(), data_size_out=8 << 20)
    assert result.retval & 0xFFFFFFFF == _pybpf(Interpreter(helpers=default_helpers()),
                                                length, room)
