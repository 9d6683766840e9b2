"""Output to user space: bpf_perf_event_output() and the ring buffer helpers.

``bpf_perf_event_output(ctx, map, flags, data, size)`` mirrors the three kernel variants,
chosen by the program's context as the kernel chooses them by program type:

* tracing and other programs (``bpf_perf_event_output()``, kernel/trace/bpf_trace.c):
  ``flags`` beyond ``BPF_F_INDEX_MASK`` → ``-EINVAL``;
* skb programs (``bpf_skb_event_output()``, net/core/filter.c) and XDP
  (``bpf_xdp_event_output()``): the ``BPF_F_CTXLEN_MASK`` bits (32..51) ask for that many
  bytes of the packet to be appended to the record (``-EFAULT`` if longer than the packet);
  other bits → ``-EINVAL``.

The record goes to the :class:`~pybpf.runtime.maps.PerfEventArray` event at the index
(``BPF_F_CURRENT_CPU`` = the run's CPU), which applies ``__bpf_perf_event_output()``'s
checks (``-E2BIG``, ``-ENOENT``, ``-EOPNOTSUPP`` for an event of another CPU).

Ring buffer (kernel/bpf/ringbuf.c): ``bpf_ringbuf_reserve()`` returns a pointer into the ring
buffer's own memory that the program fills in place; ``bpf_ringbuf_submit()``/``discard()``
commit it, found from the record's address (the ring buffer owns the region it lies in).
"""

from __future__ import annotations

import errno

from pybpf.errors import ExecutionFault, KernelError
from pybpf.runtime.ctx.skb import SkbContext
from pybpf.runtime.ctx.xdp import XdpContext
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.maps import map_arg
from pybpf.runtime.maps import PerfEventArray, RingBuf
from pybpf.runtime.maps.flags import BPF_F_CTXLEN_MASK, BPF_F_INDEX_MASK

__all__ = [
    "bpf_perf_event_output",
    "bpf_ringbuf_discard",
    "bpf_ringbuf_output",
    "bpf_ringbuf_query",
    "bpf_ringbuf_reserve",
    "bpf_ringbuf_submit",
]


def bpf_perf_event_output(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_perf_event_output(ctx, map, flags, data, size): 0 or ``-errno``."""
    m = map_arg(state, r2, "bpf_perf_event_output")
    if not isinstance(m, PerfEventArray):
        raise ExecutionFault("bpf_perf_event_output(): map is not a perf event array",
                             pc=state.pc)
    flags = r3
    ctx = state.context
    ctx_data = b""
    if isinstance(ctx, (SkbContext, XdpContext)):
        if flags & ~(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK):
            return -errno.EINVAL
        ctx_len = (flags & BPF_F_CTXLEN_MASK) >> 32
        packet = ctx.packet.bytes()
        if ctx_len > len(packet):
            return -errno.EFAULT
        ctx_data = packet[:ctx_len]
    elif flags & ~BPF_F_INDEX_MASK:
        return -errno.EINVAL
    data = state.memory.read_bytes(r4, r5, state.pc)
    return m.output(data, flags & BPF_F_INDEX_MASK, cpu=state.cpu, ctx_data=ctx_data)


def _ringbuf(state: ExecState, addr: int, helper: str) -> RingBuf:
    m = map_arg(state, addr, helper)
    if not isinstance(m, RingBuf):
        raise ExecutionFault(f"{helper}(): map is not a ring buffer", pc=state.pc)
    return m


def bpf_ringbuf_output(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_output(ringbuf, data, size, flags): 0, ``-EINVAL`` or ``-EAGAIN``."""
    rb = _ringbuf(state, r1, "bpf_ringbuf_output")
    return rb.output(state.memory.read_bytes(r2, r3, state.pc), r4)


def bpf_ringbuf_reserve(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_reserve(ringbuf, size, flags): the record's address, or NULL."""
    return _ringbuf(state, r1, "bpf_ringbuf_reserve").reserve(r2, r3)


def _commit(state: ExecState, addr: int, discard: bool, helper: str) -> int:
    """The record's ring buffer is the owner of the region it lies in (the kernel finds it
    from the record header's page offset)."""
    region = state.memory.region_at(addr)
    rb = region.owner if region is not None else None
    if not isinstance(rb, RingBuf):
        raise ExecutionFault(f"{helper}(): {addr:#x} is not a reserved ring buffer record",
                             pc=state.pc, address=addr)
    try:
        rb.discard(addr) if discard else rb.submit(addr)
    except KernelError as exc:
        raise ExecutionFault(f"{helper}(): {exc}", pc=state.pc, address=addr) from None
    return 0


def bpf_ringbuf_submit(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_submit(data, flags): commit a reserved record (returns nothing)."""
    return _commit(state, r1, False, "bpf_ringbuf_submit")


def bpf_ringbuf_discard(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_discard(data, flags): drop a reserved record (returns nothing)."""
    return _commit(state, r1, True, "bpf_ringbuf_discard")


def bpf_ringbuf_query(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ringbuf_query(ringbuf, flags): positions and sizes, 0 for unknown flags."""
    return _ringbuf(state, r1, "bpf_ringbuf_query").query(r2)
