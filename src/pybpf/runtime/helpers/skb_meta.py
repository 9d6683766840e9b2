"""The ``struct sk_buff`` behind an :class:`~pybpf.runtime.ctx.skb.SkbContext`, as helpers see it.

The context object owns the packet bytes (:class:`~pybpf.runtime.packet.PacketBuffer`) and
the ``__sk_buff`` fields programs read; an :class:`SkbMeta` adds what only helpers touch:
the MAC/network/transport header offsets, ``ip_summed``/``csum``/``csum_level``, the hash
flags (``sw_hash``, ``l4_hash``; the hash value itself is the context's ``hash`` field),
``encapsulation``, the GSO type, and the socket the skb belongs to. ``ip_summed``, ``csum``
and the hash flags, the header offsets, ``mac_len``, ``csum_level``, ``encapsulation`` and
the GSO type live in the context's native half (:class:`~pybpf.native.layout.SkbNative`),
where the native packet and geometry helpers (:mod:`pybpf.native.skb_ir`,
:mod:`pybpf.native.skb_geo_ir`) change them too; the context sets them up
(:func:`pybpf.runtime.ctx.skb.reset_headers`) with the state ``bpf_prog_test_run_skb()``
leaves (net/bpf/test_run.c, Linux 6.18), and an :class:`SkbMeta` wrapping them is created on
first use: ``eth_type_trans()`` set the MAC header at the frame's start and the network
header 14 bytes later, no transport header, ``CHECKSUM_NONE``, no hash, a full socket
owned by the test (so the skb has a socket cookie), no GSO type.

Offsets are indices into ``packet.buf`` (``skb->head``); :func:`push`/:func:`pull`/
:func:`resize_tail` change the geometry, reallocating the buffer with more room the way
``pskb_expand_head()`` does, and remap the packet (stale packet pointers then fault).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pybpf.native.layout import SKB_HEADER_UNSET, SkbNative
from pybpf.platform.skb_flags import (
    CHECKSUM_COMPLETE,
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_MAX_ALLOC,
)
from pybpf.runtime.ctx.skb import SkbContext
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import context_as
from pybpf.runtime.helpers.env import env_of

__all__ = [
    "CHECKSUM_COMPLETE",
    "CHECKSUM_NONE",
    "CHECKSUM_PARTIAL",
    "CHECKSUM_UNNECESSARY",
    "SkbMeta",
    "clear_hash",
    "get_protocol",
    "head_expansion_fails",
    "pull",
    "push",
    "resize_tail",
    "set_protocol",
    "skb_of",
]

NET_SKB_PAD = 64
BPF_SKB_MAX_LEN = SKB_MAX_ALLOC


class _InNative:
    """An :class:`SkbMeta` attribute kept in the context's native half (the field of the
    same name), read as ``kind``; 32-bit and 8-bit fields store the value's low bits.
    With ``unset``, that raw value reads as None (and None stores it)."""

    def __init__(self, kind: type, unset: int | None = None) -> None:
        self.kind = kind
        self.unset = unset

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, meta: SkbMeta, owner: type | None = None) -> Any:
        raw = getattr(meta.native, self.name)
        if self.unset is not None and raw == self.unset:
            return None
        return self.kind(raw)

    def __set__(self, meta: SkbMeta, value: int | None) -> None:
        if value is None:
            assert self.unset is not None, f"{self.name} cannot be unset"
            value = self.unset
        setattr(meta.native, self.name, int(value) & 0xFFFFFFFF)


@dataclass(slots=True, eq=False)
class SkbMeta:
    """Helper-side ``sk_buff`` state (see the module docstring). Everything native helpers
    read or change lives in the context's native half (``native``); the socket is
    Python's alone."""

    native: SkbNative
    #: ``skb->sk`` exists (test runs attach a socket) and its cookie once generated.
    has_socket: bool = True
    socket_cookie: int = 0
    socket_uid: int = 0
    #: ``dst_tclassid(skb)`` (no route attached in a test run: 0).
    route_realm: int = 0

    mac_header = _InNative(int)
    network_header = _InNative(int)
    transport_header = _InNative(int, unset=SKB_HEADER_UNSET)
    mac_len = _InNative(int)
    csum_level = _InNative(int)
    encapsulation = _InNative(bool)
    gso_type = _InNative(int)
    ip_summed = _InNative(int)
    csum = _InNative(int)
    sw_hash = _InNative(bool)
    l4_hash = _InNative(bool)


def skb_of(state: ExecState, helper: str) -> tuple[SkbContext, SkbMeta]:
    """The run's skb context and its :class:`SkbMeta` (created on first use; the context
    set its header offsets up, :func:`pybpf.runtime.ctx.skb.reset_headers`)."""
    ctx = context_as(state, SkbContext, helper)
    store = env_of(state).context_state
    meta = store.get(ctx)
    if meta is None:
        meta = SkbMeta(ctx.native)
        store[ctx] = meta
    return ctx, meta


def get_protocol(ctx: SkbContext) -> int:
    """``ntohs(skb->protocol)``."""
    raw = ctx.region.get("protocol") & 0xFFFF
    return ((raw & 0xFF) << 8) | (raw >> 8)


def set_protocol(ctx: SkbContext, proto: int) -> None:
    """``skb->protocol = htons(proto)``."""
    ctx.region.set("protocol", ((proto & 0xFF) << 8) | ((proto >> 8) & 0xFF))


def clear_hash(ctx: SkbContext, meta: SkbMeta) -> None:
    """``skb_clear_hash()``."""
    ctx.region.set("hash", 0)
    meta.sw_hash = meta.l4_hash = False


def _shift(meta: SkbMeta, delta: int) -> None:
    meta.mac_header += delta
    meta.network_header += delta
    if meta.transport_header is not None:
        meta.transport_header += delta


def _reserve(ctx: SkbContext, meta: SkbMeta, head: int, tail: int) -> None:
    """``pskb_expand_head()``: at least ``head`` bytes of headroom, ``tail`` of tailroom."""
    pkt = ctx.packet
    need_head = max(head - pkt.meta, 0)
    need_tail = max(tail - pkt.tailroom, 0)
    if not need_head and not need_tail:
        return
    grow_head = (need_head + NET_SKB_PAD - 1) // NET_SKB_PAD * NET_SKB_PAD if need_head else 0
    buf = bytearray(grow_head) + pkt.buf + bytearray(need_tail)
    _shift(meta, grow_head)
    pkt.replace_buffer(buf, pkt.meta + grow_head, pkt.data + grow_head, pkt.end + grow_head)


#: ``KMALLOC_MAX_SIZE`` on x86_64 (``PAGE_SIZE << MAX_PAGE_ORDER``): a bigger skb head
#: cannot be allocated.
KMALLOC_MAX_SIZE = 4096 << 10
#: The kmalloc caches up to ``KMALLOC_MAX_CACHE_SIZE`` (two pages), smallest first.
_KMALLOC_CACHES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)
#: ``SKB_DATA_ALIGN(sizeof(struct skb_shared_info))`` on x86_64.
SKB_SHINFO_SIZE = 320


def kmalloc_size_roundup(size: int) -> int:
    """``kmalloc_size_roundup()``: what kmalloc really hands out for ``size`` bytes."""
    for cache in _KMALLOC_CACHES:
        if size <= cache:
            return cache
    pages = -(-size // 4096)
    return 4096 << (pages - 1).bit_length()


def head_expansion_fails(ctx: SkbContext, head: int) -> bool:
    """Whether ``skb_cow_head(skb, head)`` fails with ``-ENOMEM``: ``pskb_expand_head()``
    would need a head bigger than ``KMALLOC_MAX_SIZE`` (``ALIGN(nhead + skb_end_offset,
    SMP_CACHE_BYTES)`` plus the shared info; measured on 6.18: a 100-byte frame's
    ``bpf_skb_change_head()`` of a GSO skb fails from ``4 MiB - 447`` bytes of room on).
    The kernel's ``skb_end_offset`` is the kmalloc size of the head minus the shared info:
    exact for a test run's first expansion (its head is headroom, frame and shared info,
    as here), approximate after pybpf reallocated the buffer itself."""
    pkt = ctx.packet
    need = head - pkt.meta
    if need <= 0:
        return False
    nhead = -(-need // NET_SKB_PAD) * NET_SKB_PAD
    end_offset = kmalloc_size_roundup(len(pkt.buf)) - SKB_SHINFO_SIZE
    return -(-(nhead + end_offset) // 64) * 64 + SKB_SHINFO_SIZE > KMALLOC_MAX_SIZE


def push(ctx: SkbContext, meta: SkbMeta, length: int) -> None:
    """``skb_cow_head()`` + ``skb_push()``: ``length`` more bytes before ``data`` (not cleared)."""
    _reserve(ctx, meta, length, 0)
    pkt = ctx.packet
    pkt.set_layout(pkt.data - length, pkt.data - length, pkt.end)


def pull(ctx: SkbContext, length: int) -> None:
    """``__skb_pull()``: drop ``length`` bytes from the front."""
    pkt = ctx.packet
    pkt.set_layout(pkt.data + length, pkt.data + length, pkt.end)


def resize_tail(ctx: SkbContext, meta: SkbMeta, new_len: int) -> None:
    """``__skb_grow()`` (new bytes zeroed) or ``__skb_trim()`` to ``new_len`` bytes."""
    pkt = ctx.packet
    old_end = pkt.end
    grow = new_len - len(pkt)
    if grow > 0:
        _reserve(ctx, meta, 0, grow)
        old_end = pkt.end
        pkt.buf[old_end : old_end + grow] = bytes(grow)
    pkt.set_layout(pkt.meta, pkt.data, pkt.data + new_len)
