"""``test_run``: run a loaded program once (or ``repeat`` times) on a packet or a context,
the way ``BPF_PROG_TEST_RUN`` does (net/bpf/test_run.c: ``bpf_prog_test_run_xdp()``,
``bpf_prog_test_run_skb()``, ``bpf_prog_test_run_raw_tp()``...).

Backend-independent: it needs a loaded program with ``run(r1, ...)`` and its ``state``
(:class:`~pybpf.runtime.execstate.ExecState`). Inputs the kernel would refuse raise
:class:`~pybpf.errors.TestRunError` carrying the kernel's errno.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass
from typing import Any, Protocol

from pybpf.errors import TestRunError
from pybpf.platform.enums import ProgType
from pybpf.runtime.ctx.skb import ETH_HLEN, SKB_MAX_TEST_FRAME, SkbContext
from pybpf.runtime.ctx.xdp import XDP_METADATA_MAX, XdpContext
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.memory import RegionKind

#: skb-based program types and whether they see the packet from the MAC header.
SKB_TYPES: dict[int, bool] = {
    ProgType.SOCKET_FILTER: False,
    ProgType.SCHED_CLS: True,
    ProgType.SCHED_ACT: True,
    ProgType.CGROUP_SKB: False,
    ProgType.LWT_IN: False,
    ProgType.LWT_OUT: False,
    ProgType.LWT_XMIT: False,
}
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD


class _Runnable(Protocol):
    state: ExecState

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0,
            *, budget: int | None = None) -> object: ...


@dataclass(frozen=True, slots=True)
class TestRunResult:
    """What ``BPF_PROG_TEST_RUN`` reports, plus what only a userspace runtime can show.

    ``retval`` is the low 32 bits of r0 (the kernel's ``test.retval``); ``r0`` is all 64.
    ``duration_ns`` is the mean time per run. ``redirect`` names where XDP_REDIRECT/TX or
    bpf_redirect sent the packet (``("ifindex", 3)``, ``("cpu", 1)``, ``("xsk", 0)``).
    """

    __test__ = False

    retval: int
    r0: int
    data_out: bytes
    ctx_out: bytes | None
    duration_ns: int
    instructions: int
    trace: tuple[str, ...] = ()
    redirect: tuple[str, int] | None = None


def test_run(
    program: _Runnable,
    prog_type: int | None,
    *,
    data: bytes = b"",
    ctx: bytes | None = None,
    repeat: int = 1,
) -> TestRunResult:
    """Run ``program`` as ``prog_type`` on ``data``/``ctx``; see the module docstring."""
    repeat = max(1, repeat)
    if prog_type == ProgType.XDP:
        return _run_xdp(program, data, ctx, repeat)
    if prog_type in SKB_TYPES:
        return _run_skb(program, int(prog_type), data, ctx, repeat)
    if prog_type in (None, ProgType.UNSPEC, ProgType.SYSCALL, ProgType.RAW_TRACEPOINT,
                     ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT):
        return _run_plain(program, data, ctx, repeat)
    raise TestRunError(
        f"test_run is not supported for program type {ProgType(prog_type).name}", errno=errno.ENOTSUPP
        if hasattr(errno, "ENOTSUPP") else 524,
    )


def _loop(program: _Runnable, r1: int, repeat: int) -> tuple[int, int, int]:
    state = program.state
    state.trace.clear()
    native = getattr(program, "run_repeat", None)
    if native is not None and repeat > 1:  # the JIT loops natively, with the same results
        r0, insns, duration = native(r1, repeat)
        return int(r0), int(insns), int(duration)
    total = 0
    start = time.perf_counter_ns()
    r0 = 0
    for _ in range(repeat):
        result = program.run(r1)
        r0 = result.retval  # type: ignore[attr-defined]
        total += result.instructions  # type: ignore[attr-defined]
    elapsed = time.perf_counter_ns() - start
    return r0, total // repeat, elapsed // repeat


def _run_xdp(program: _Runnable, data: bytes, ctx: bytes | None, repeat: int) -> TestRunResult:
    metadata = b""
    ingress, rxq = 1, 0
    if ctx is not None:
        md = bytes(ctx).ljust(24, b"\0")
        f = [int.from_bytes(md[i : i + 4], "little") for i in range(0, 24, 4)]
        meta_len, data_end, data_meta, ingress_in, rxq, egress = f
        if data_meta or data_end != len(data) or meta_len > data_end or egress:
            raise TestRunError("xdp_md ctx_in: data_meta and egress_ifindex must be 0, "
                               "data_end must equal the data size, data <= data_end")
        if meta_len % 4 or meta_len > XDP_METADATA_MAX:
            raise TestRunError(f"xdp_md ctx_in: metadata length {meta_len} is not a multiple "
                               f"of 4 up to {XDP_METADATA_MAX}")
        # 0 means "no device given": the program still runs on lo's rx queue and reads 1,
        # but ctx_out echoes the 0 (measured on 6.18).
        ingress = ingress_in or 1
        metadata, data = data[:meta_len], data[meta_len:]
    if len(data) < ETH_HLEN:
        raise TestRunError(f"XDP test_run needs at least {ETH_HLEN} bytes of packet, got {len(data)}")
    state = program.state
    xdp = XdpContext(state.memory, data, metadata=metadata, ingress_ifindex=ingress,
                     rx_queue_index=rxq)
    state.context = xdp
    state.packet_of_ctx = None
    try:
        r0, insns, duration = _loop(program, xdp.address, repeat)
        pkt = xdp.packet
        data_out = bytes(pkt.buf[pkt.meta : pkt.end]) + bytes(xdp.frags)
        ctx_out = None
        if ctx is not None:
            out = bytearray(xdp.ctx_out())
            out[12:16] = bytes(ctx).ljust(24, b"\0")[12:16]  # ingress_ifindex as given
            ctx_out = bytes(out)
        return TestRunResult(r0 & 0xFFFFFFFF, r0, data_out, ctx_out,
                             duration, insns, tuple(state.trace), xdp.redirect)
    finally:
        state.context = None
        xdp.release()


def _run_skb(program: _Runnable, prog_type: int, data: bytes, ctx: bytes | None,
             repeat: int) -> TestRunResult:
    if len(data) < ETH_HLEN:
        raise TestRunError(f"skb test_run needs at least {ETH_HLEN} bytes, got {len(data)}")
    if len(data) > SKB_MAX_TEST_FRAME:
        raise TestRunError(f"frame of {len(data)} bytes exceeds the {SKB_MAX_TEST_FRAME} bytes "
                           "an skb test run takes (PAGE_SIZE minus head- and tailroom)")
    proto = int.from_bytes(data[12:14], "big")
    need = {ETH_P_IP: 34, ETH_P_IPV6: 54}.get(proto, 0)
    if len(data) < need:
        raise TestRunError(f"frame of {len(data)} bytes is too short for its "
                           f"{'IPv4' if proto == ETH_P_IP else 'IPv6'} header ({need} needed)")
    state = program.state
    skb = SkbContext(state.memory, data, l2=SKB_TYPES[prog_type], ctx_in=ctx or b"")
    state.context = skb
    state.packet_of_ctx = lambda _ctx: skb.packet.bytes()
    try:
        r0, insns, duration = _loop(program, skb.address, repeat)
        return TestRunResult(r0 & 0xFFFFFFFF, r0, skb.data_out(),
                             skb.ctx_out() if ctx is not None else None,
                             duration, insns, tuple(state.trace), skb.redirect)
    finally:
        state.context = None
        state.packet_of_ctx = None
        skb.release()


def _run_plain(program: _Runnable, data: bytes, ctx: bytes | None, repeat: int) -> TestRunResult:
    """Tracing, syscall and raw programs: r1 points at a copy of ``ctx`` (or of ``data``)."""
    state = program.state
    buf = bytearray(ctx if ctx is not None else data)
    region = state.memory.map(buf, RegionKind.CONTEXT, "ctx") if buf else None
    try:
        r0, insns, duration = _loop(program, region.base if region else 0, repeat)
        return TestRunResult(r0 & 0xFFFFFFFF, r0, b"", bytes(buf) if ctx is not None else None,
                             duration, insns, tuple(state.trace))
    finally:
        if region is not None:
            state.memory.unmap(region)


@dataclass(frozen=True, slots=True)
class SockOpsResult:
    """One sock_ops callback: the program's return value, ``reply`` (what the kernel uses:
    e.g. the SYN RTO for TIMEOUT_INIT), ``replylong`` and the socket after the callback."""

    retval: int
    reply: int
    replylong: tuple[int, int, int, int]
    sock: Any
    instructions: int
    trace: tuple[str, ...] = ()


def run_sock_ops(program: _Runnable, op: int, *, args: tuple[int, ...] = (), sock: Any = None,
                 local: Any = None, remote: Any = None) -> SockOpsResult:
    """Run a sock_ops program for callback ``op`` (the kernel calls
    ``tcp_call_bpf()`` from the TCP stack; there is no BPF_PROG_TEST_RUN for it)."""
    from pybpf.runtime.ctx.sock_ops import SockOpsContext

    state = program.state
    ctx = SockOpsContext(state.memory, op, args=args, sock=sock, local=local, remote=remote)
    state.context = ctx
    try:
        r0, insns, _ = _loop(program, ctx.address, 1)
        return SockOpsResult(r0 & 0xFFFFFFFF, ctx.reply, ctx.replylong, ctx.sock, insns,
                             tuple(state.trace))
    finally:
        state.context = None
        ctx.release()
