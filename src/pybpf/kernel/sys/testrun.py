"""``BPF_PROG_TEST_RUN`` (alias ``BPF_PROG_RUN``): run a loaded program on given input.

Owns buffer sizing: unless the caller fixes ``data_size_out``/``ctx_size_out``, output
buffers are sized generously and, when the kernel still answers ``ENOSPC`` (it reports the
size it needed, see bpf_test_finish() and bpf_ctx_finish() in net/bpf/test_run.c), grown and
the run repeated — so a program with side effects (map updates) may run twice then.
Which inputs a program type accepts (data, ctx, repeat, flags) is the kernel's business.
"""

from __future__ import annotations

import ctypes
import errno as _errno
from dataclasses import dataclass

from pybpf.errors import KernelError

from .attr import BpfProgTestRunAttr
from .constants import BpfCmd
from .fd import FdLike, fileno
from .syscall import bpf

__all__ = ["DATA_OUT_HEADROOM", "MIN_DATA_OUT", "TestRunResult", "prog_test_run"]

DATA_OUT_HEADROOM = 256
"""Bytes beyond ``len(data)`` an automatic ``data_out`` buffer always has."""
MIN_DATA_OUT = 64 * 1024
"""Smallest automatic ``data_out`` buffer (room for programs that grow the packet)."""
_MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class TestRunResult:
    """What ``BPF_PROG_TEST_RUN`` reported.

    ``retval`` is the program's return value as the kernel's ``u32``; ``data_out`` the
    packet after the run (``b""`` when no data was passed); ``ctx_out`` the context after the
    run, or ``None`` when no context buffer was passed; ``duration_ns`` the mean time per
    repetition.
    """

    __test__ = False  # not a pytest test class

    retval: int
    data_out: bytes
    ctx_out: bytes | None
    duration_ns: int


def _buffer(size: int) -> ctypes.Array[ctypes.c_char] | None:
    """A zeroed buffer of ``size`` bytes, or ``None`` (a NULL pointer) for size 0."""
    return ctypes.create_string_buffer(size) if size else None


def _address(buf: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def prog_test_run(
    fd: FdLike,
    *,
    data: bytes = b"",
    ctx: bytes | None = None,
    repeat: int = 0,
    data_size_out: int | None = None,
    ctx_size_out: int | None = None,
    flags: int = 0,
    cpu: int = 0,
    batch_size: int = 0,
) -> TestRunResult:
    """Run program ``fd`` once (or ``repeat`` times): ``BPF_PROG_TEST_RUN``.

    ``repeat=0`` is the kernel's default of one run, and the only value program types such
    as ``SYSCALL`` and ``RAW_TRACEPOINT`` accept. ``data_size_out=None`` sizes ``data_out``
    automatically (no buffer when ``data`` is empty); ``ctx_size_out=None`` gives a buffer
    of ``len(ctx)`` when ``ctx`` is passed. An explicit size that proves too small raises
    :class:`KernelError` with ``ENOSPC``. ``flags`` are ``BPF_F_TEST_*`` (e.g. run on
    ``cpu`` with ``BPF_F_TEST_RUN_ON_CPU``).
    """
    auto_data = data_size_out is None
    auto_ctx = ctx_size_out is None
    if data_size_out is None:
        data_cap = max(len(data) + DATA_OUT_HEADROOM, MIN_DATA_OUT) if data else 0
    else:
        data_cap = data_size_out
    if ctx_size_out is None:
        ctx_cap = len(ctx) if ctx is not None else 0
    else:
        ctx_cap = ctx_size_out
    want_ctx = ctx is not None or bool(ctx_size_out)
    data_in = ctypes.create_string_buffer(data, len(data)) if data else None
    ctx_in = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None

    for attempt in range(_MAX_ATTEMPTS):
        data_out = _buffer(data_cap)
        ctx_out = _buffer(ctx_cap)
        attr = BpfProgTestRunAttr(
            prog_fd=fileno(fd),
            data_size_in=len(data),
            data_size_out=data_cap,
            data_in=_address(data_in),
            data_out=_address(data_out),
            repeat=repeat,
            ctx_size_in=len(ctx) if ctx else 0,
            ctx_size_out=ctx_cap,
            ctx_in=_address(ctx_in),
            ctx_out=_address(ctx_out),
            flags=flags,
            cpu=cpu,
            batch_size=batch_size,
        )
        try:
            bpf(BpfCmd.PROG_TEST_RUN, attr)
        except KernelError as exc:
            grow_data = auto_data and attr.data_size_out > data_cap
            grow_ctx = auto_ctx and attr.ctx_size_out > ctx_cap
            if exc.errno != _errno.ENOSPC or not (grow_data or grow_ctx):
                raise
            if attempt == _MAX_ATTEMPTS - 1:
                raise
            data_cap = max(data_cap, attr.data_size_out) if grow_data else data_cap
            ctx_cap = max(ctx_cap, attr.ctx_size_out) if grow_ctx else ctx_cap
            continue
        out = data_out.raw[: attr.data_size_out] if data_out is not None else b""
        ctx_bytes = ctx_out.raw[: attr.ctx_size_out] if ctx_out is not None else b""
        return TestRunResult(
            retval=attr.retval,
            data_out=out,
            ctx_out=ctx_bytes if want_ctx else None,
            duration_ns=attr.duration,
        )
    raise AssertionError("unreachable")  # pragma: no cover
