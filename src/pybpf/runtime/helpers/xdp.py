"""XDP packet geometry and access: bpf_xdp_adjust_head/tail/meta, bpf_xdp_load/store_bytes.

Mirrors net/core/filter.c of Linux 6.18 on a linear (single-buffer) ``xdp_buff``, whose
buffer offsets are those of the :class:`~pybpf.runtime.packet.PacketBuffer` (offset 0 is
``data_hard_start``):

* ``bpf_xdp_adjust_head(xdp, delta)``: the new ``data`` may not reach into the
  ``struct xdp_frame`` (40 bytes) kept at the start of the headroom, plus the metadata,
  and must leave at least ``ETH_HLEN`` (14) bytes of packet; the metadata moves with it;
  ``-EINVAL`` otherwise.
* ``bpf_xdp_adjust_tail(xdp, delta)``: ``data_end`` may grow up to the frame's end minus
  the tailroom reserved for ``skb_shared_info`` (``xdp_data_hard_end()``) and shrink to
  14 bytes of packet; grown bytes are zeroed; ``-EINVAL`` otherwise.
* ``bpf_xdp_adjust_meta(xdp, delta)``: the new ``data_meta`` must lie between the end of
  ``struct xdp_frame`` and ``data`` (``-EINVAL``) and the metadata length must be a multiple
  of 4 of at most 255 bytes (``xdp_metalen_invalid()``; ``-EACCES``).
* ``bpf_xdp_load_bytes``/``bpf_xdp_store_bytes``(xdp, offset, buf, len): ``-EFAULT`` for an
  offset or length above 0xffff, ``-EINVAL`` past the packet (``bpf_xdp_pointer()``).

Every change of geometry maps the packet afresh over its new extent (see
:mod:`pybpf.runtime.packet`: the buffer does not move, ``data`` stays ``data_hard_start``
plus its buffer offset). Not modelled: multi-buffer (fragmented) frames.
"""

from __future__ import annotations

import errno

from pybpf.runtime.ctx.xdp import XDP_FRAME_STRUCT, XDP_METADATA_MAX, XdpContext
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import context_as, s32, u32

__all__ = [
    "bpf_xdp_adjust_head",
    "bpf_xdp_adjust_meta",
    "bpf_xdp_adjust_tail",
    "bpf_xdp_get_buff_len",
    "bpf_xdp_load_bytes",
    "bpf_xdp_store_bytes",
    "xdp_metalen_invalid",
]

ETH_HLEN = 14


def xdp_metalen_invalid(metalen: int) -> bool:
    """``xdp_metalen_invalid()``: not a multiple of 4, or more than ``meta_len`` (u8) holds."""
    return metalen % 4 != 0 or metalen > XDP_METADATA_MAX


def bpf_xdp_adjust_head(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_adjust_head(xdp, delta): 0 or ``-EINVAL``."""
    pkt = context_as(state, XdpContext, "bpf_xdp_adjust_head").packet
    offset = s32(r2)
    metalen = pkt.data - pkt.meta
    data = pkt.data + offset
    if data < XDP_FRAME_STRUCT + metalen or data > pkt.end - ETH_HLEN:
        return -errno.EINVAL
    if metalen:
        pkt.buf[pkt.meta + offset : pkt.meta + offset + metalen] = pkt.buf[pkt.meta : pkt.data]
    pkt.set_layout(pkt.meta + offset, data, pkt.end)
    return 0


def bpf_xdp_adjust_tail(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_adjust_tail(xdp, delta): 0 or ``-EINVAL``."""
    xdp = context_as(state, XdpContext, "bpf_xdp_adjust_tail")
    pkt = xdp.packet
    offset = s32(r2)
    data_end = pkt.end + offset
    if data_end > xdp.frame_end or data_end < pkt.data + ETH_HLEN:
        return -errno.EINVAL
    if offset > 0:
        pkt.buf[pkt.end : data_end] = bytes(offset)
    pkt.set_layout(pkt.meta, pkt.data, data_end)
    return 0


def bpf_xdp_adjust_meta(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_adjust_meta(xdp, delta): 0, ``-EINVAL`` or ``-EACCES``."""
    pkt = context_as(state, XdpContext, "bpf_xdp_adjust_meta").packet
    meta = pkt.meta + s32(r2)
    if meta < XDP_FRAME_STRUCT or meta > pkt.data:
        return -errno.EINVAL
    if xdp_metalen_invalid(pkt.data - meta):
        return -errno.EACCES
    pkt.set_layout(meta, pkt.data, pkt.end)
    return 0


def bpf_xdp_get_buff_len(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_get_buff_len(xdp): the packet length (linear part only here)."""
    return len(context_as(state, XdpContext, "bpf_xdp_get_buff_len").packet)


def _xdp_pointer(state: ExecState, offset: int, length: int, helper: str) -> int:
    """``bpf_xdp_pointer()``: the buffer offset, or ``-EFAULT``/``-EINVAL``."""
    pkt = context_as(state, XdpContext, helper).packet
    if offset > 0xFFFF or length > 0xFFFF:
        return -errno.EFAULT
    if offset + length > len(pkt):
        return -errno.EINVAL
    return pkt.data + offset


def bpf_xdp_load_bytes(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_load_bytes(xdp, offset, buf, len): 0 or ``-errno`` (``buf`` untouched)."""
    length = u32(r4)
    at = _xdp_pointer(state, u32(r2), length, "bpf_xdp_load_bytes")
    if at < 0:
        return at
    buf = context_as(state, XdpContext, "bpf_xdp_load_bytes").packet.buf
    state.memory.write_bytes(r3, bytes(buf[at : at + length]), state.pc)
    return 0


def bpf_xdp_store_bytes(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_xdp_store_bytes(xdp, offset, buf, len): 0 or ``-errno``."""
    length = u32(r4)
    at = _xdp_pointer(state, u32(r2), length, "bpf_xdp_store_bytes")
    if at < 0:
        return at
    buf = context_as(state, XdpContext, "bpf_xdp_store_bytes").packet.buf
    buf[at : at + length] = state.memory.read_bytes(r3, length, state.pc)
    return 0
