"""Socket-buffer data helpers: load/store bytes, pull, change tail/head/proto/type, VLANs.

Mirrors net/core/filter.c and net/core/skbuff.c of Linux 6.18 on a linear skb
(:mod:`.skb_meta` holds the header offsets and checksum state):

* ``bpf_skb_load_bytes(skb, off, to, len)``: ``-EFAULT`` and ``to`` zeroed for an offset above
  ``INT_MAX`` or a range past the packet; ``bpf_skb_load_bytes_relative()`` counts from the MAC
  or network header (``BPF_HDR_START_MAC``/``_NET``), may read the MAC header in the headroom,
  and fails the same way for an offset above 0xffff, an unknown start or a range past the
  tail.
* ``bpf_skb_store_bytes(skb, off, from, len, flags)``: flags other than
  ``BPF_F_RECOMPUTE_CSUM``/``BPF_F_INVALIDATE_HASH`` → ``-EINVAL``; past the packet →
  ``-EFAULT``; with ``CHECKSUM_COMPLETE`` the recompute flag keeps ``skb->csum`` right.
* ``bpf_skb_pull_data(skb, len)``: 0, or ``-ENOMEM`` past the packet.
* ``bpf_skb_change_tail(skb, len, flags)``: between the network header's offset and
  ``SKB_MAX_ALLOC`` (16064), grown bytes zeroed; ``-ENOTSUPP`` once encapsulated.
* ``bpf_skb_change_head(skb, room, flags)``: ``room`` zero bytes before the MAC header.
* ``bpf_skb_change_proto(skb, proto, flags)``: IPv4 <-> IPv6 makes 20 bytes of room after
  the MAC header or removes them; other pairs ``-ENOTSUPP``.
* ``bpf_skb_change_type(skb, type)``: only between ``PACKET_HOST``..``PACKET_OTHERHOST``.
* ``bpf_skb_vlan_push(skb, proto, tci)``/``bpf_skb_vlan_pop(skb)``: the accelerated tag lives
  in the ``vlan_*`` context fields; pushing a second tag writes the first into the packet,
  popping without an accelerated tag removes the packet's outer tag (``skb_vlan_push()``,
  ``skb_vlan_pop()``).

``bpf_skb_adjust_room()`` is in :mod:`.skb_room`. Not modelled: paged (non-linear) data,
cloned skbs, GSO segmentation (only the GSO type bits helpers test and set).
"""

from __future__ import annotations

import errno

from pybpf.platform.skb_flags import (
    BPF_F_INVALIDATE_HASH,
    BPF_F_RECOMPUTE_CSUM,
    ETH_ALEN,
    ETH_HLEN,
    ETH_P_802_2,
    ETH_P_802_3,
    ETH_P_802_3_MIN,
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_IP,
    ETH_P_IPV6,
    SKB_GSO_DODGY,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    VLAN_HLEN,
)
from pybpf.runtime.ctx.skb import SkbContext
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import ENOTSUPP, s32, u16, u32
from pybpf.runtime.helpers.csum import csum_block_add, csum_partial
from pybpf.runtime.helpers.skb_meta import (
    BPF_SKB_MAX_LEN,
    CHECKSUM_COMPLETE,
    CHECKSUM_NONE,
    SkbMeta,
    clear_hash,
    get_protocol,
    head_expansion_fails,
    pull,
    push,
    resize_tail,
    set_protocol,
    skb_of,
)

__all__ = [
    "bpf_skb_change_head",
    "bpf_skb_change_proto",
    "bpf_skb_change_tail",
    "bpf_skb_change_type",
    "bpf_skb_load_bytes",
    "bpf_skb_load_bytes_relative",
    "bpf_skb_pull_data",
    "bpf_skb_store_bytes",
    "bpf_skb_vlan_pop",
    "bpf_skb_vlan_push",
    "net_hdr_pop",
    "net_hdr_push",
]

INT_MAX = 0x7FFFFFFF
PACKET_OTHERHOST = 3
BPF_HDR_START_MAC = 0
BPF_HDR_START_NET = 1
#: IPv6 header minus IPv4 header.
PROTO_LEN_DIFF = 40 - 20


def _clear(state: ExecState, to: int, length: int) -> int:
    state.memory.write_bytes(to, bytes(length), state.pc)
    return -errno.EFAULT


def bpf_skb_load_bytes(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_load_bytes(skb, offset, to, len): 0, or ``-EFAULT`` with ``to`` zeroed."""
    ctx, _meta = skb_of(state, "bpf_skb_load_bytes")
    offset, length = u32(r2), u32(r4)
    pkt = ctx.packet
    if offset > INT_MAX or offset + length > len(pkt):
        return _clear(state, r3, length)
    state.memory.write_bytes(r3, bytes(pkt.buf[pkt.data + offset : pkt.data + offset + length]),
                             state.pc)
    return 0


def bpf_skb_load_bytes_relative(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                                r5: int) -> int:
    """bpf_skb_load_bytes_relative(skb, offset, to, len, start_header)."""
    ctx, meta = skb_of(state, "bpf_skb_load_bytes_relative")
    offset, length, start_header = u32(r2), u32(r4), u32(r5)
    if offset > 0xFFFF:
        return _clear(state, r3, length)
    if start_header == BPF_HDR_START_MAC:
        start = meta.mac_header
    elif start_header == BPF_HDR_START_NET:
        start = meta.network_header
    else:
        return _clear(state, r3, length)
    pkt = ctx.packet
    at = start + offset
    if at + length > pkt.end:
        return _clear(state, r3, length)
    state.memory.write_bytes(r3, bytes(pkt.buf[at : at + length]), state.pc)
    return 0


def bpf_skb_store_bytes(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_store_bytes(skb, offset, from, len, flags): 0 or ``-errno``."""
    ctx, meta = skb_of(state, "bpf_skb_store_bytes")
    offset, length, flags = u32(r2), u32(r4), r5
    if flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH):
        return -errno.EINVAL
    pkt = ctx.packet
    if offset > INT_MAX or offset + length > len(pkt):
        return -errno.EFAULT
    data = state.memory.read_bytes(r3, length, state.pc)
    at = pkt.data + offset
    if flags & BPF_F_RECOMPUTE_CSUM:
        _postpull_rcsum(meta, bytes(pkt.buf[at : at + length]))
    pkt.buf[at : at + length] = data
    if flags & BPF_F_RECOMPUTE_CSUM:
        _postpush_rcsum(meta, data, offset)
    if flags & BPF_F_INVALIDATE_HASH:
        clear_hash(ctx, meta)
    return 0


def _postpull_rcsum(meta: SkbMeta, removed: bytes) -> None:
    """``__skb_postpull_rcsum()``."""
    if meta.ip_summed == CHECKSUM_COMPLETE:
        meta.csum = ~csum_partial(removed, ~meta.csum & 0xFFFFFFFF) & 0xFFFFFFFF


def _postpush_rcsum(meta: SkbMeta, added: bytes, offset: int) -> None:
    """``__skb_postpush_rcsum()``."""
    if meta.ip_summed == CHECKSUM_COMPLETE:
        meta.csum = csum_block_add(meta.csum, csum_partial(added, 0), offset)


def bpf_skb_pull_data(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_pull_data(skb, len): a linear skb has everything; ``-ENOMEM`` past its end."""
    ctx, _meta = skb_of(state, "bpf_skb_pull_data")
    return -errno.ENOMEM if u32(r2) > len(ctx.packet) else 0


def _min_len(ctx: SkbContext, meta: SkbMeta) -> int:
    """``__bpf_skb_min_len()``: the packet must keep its headers (no ``CHECKSUM_PARTIAL``
    offsets are modelled)."""
    data = ctx.packet.data
    min_len = 0
    if meta.network_header - data > 0:
        min_len = meta.network_header - data
    if meta.transport_header is not None and meta.transport_header - data > 0:
        min_len = meta.transport_header - data
    return min_len


def bpf_skb_change_tail(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_change_tail(skb, new_len, flags): 0 or ``-errno``."""
    ctx, meta = skb_of(state, "bpf_skb_change_tail")
    new_len = u32(r2)
    if r3 or new_len > BPF_SKB_MAX_LEN or new_len < _min_len(ctx, meta):
        return -errno.EINVAL
    if meta.encapsulation:
        return -ENOTSUPP
    if new_len != len(ctx.packet):
        if meta.ip_summed == CHECKSUM_COMPLETE:
            meta.ip_summed = CHECKSUM_NONE
        resize_tail(ctx, meta, new_len)
        if ctx.region.get("gso_size"):  # skb_gso_reset()
            ctx.region.set("gso_size", 0)
            ctx.region.set("gso_segs", 0)
            meta.gso_type = 0
    return 0


def bpf_skb_change_head(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_change_head(skb, head_room, flags): 0, ``-EINVAL`` or ``-ENOMEM``."""
    ctx, meta = skb_of(state, "bpf_skb_change_head")
    head_room = u32(r2)
    length = len(ctx.packet)
    new_len = (length + head_room) & 0xFFFFFFFF
    is_gso = bool(ctx.region.get("gso_size"))
    if r3 or s32(head_room) < 0 or (not is_gso and new_len > BPF_SKB_MAX_LEN) or new_len < length:
        return -errno.EINVAL
    if head_expansion_fails(ctx, head_room):  # a GSO skb's room is not capped above
        return -errno.ENOMEM
    push(ctx, meta, head_room)
    pkt = ctx.packet
    pkt.buf[pkt.data : pkt.data + head_room] = bytes(head_room)
    meta.mac_header = pkt.data
    meta.mac_len = meta.network_header - meta.mac_header
    return 0


def net_hdr_push(ctx: SkbContext, meta: SkbMeta, off: int, length: int) -> None:
    """``bpf_skb_net_hdr_push()``: ``length`` zero bytes at ``off`` from the MAC header."""
    trans_same = meta.transport_header == meta.network_header
    push(ctx, meta, length)
    pkt = ctx.packet
    d = pkt.data
    pkt.buf[d : d + off] = pkt.buf[d + length : d + length + off]
    pkt.buf[d + off : d + off + length] = bytes(length)
    meta.mac_header -= length
    meta.network_header -= length
    if trans_same:
        meta.transport_header = meta.network_header


def net_hdr_pop(ctx: SkbContext, meta: SkbMeta, off: int, length: int) -> int:
    """``bpf_skb_net_hdr_pop()``: remove ``length`` bytes at ``off``; ``-ENOMEM`` if short."""
    pkt = ctx.packet
    if off + length > len(pkt):
        return -errno.ENOMEM
    trans_same = meta.transport_header == meta.network_header
    old = pkt.data
    _postpull_rcsum(meta, bytes(pkt.buf[old + off : old + off + length]))
    pull(ctx, length)
    pkt.buf[old + length : old + length + off] = pkt.buf[old : old + off]
    meta.mac_header += length
    meta.network_header += length
    if trans_same:
        meta.transport_header = meta.network_header
    return 0


def bpf_skb_change_proto(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_change_proto(skb, proto, flags): IPv4 <-> IPv6, else ``-ENOTSUPP``."""
    ctx, meta = skb_of(state, "bpf_skb_change_proto")
    if r3:
        return -errno.EINVAL
    raw = u16(r2)
    to_proto = ((raw & 0xFF) << 8) | (raw >> 8)
    from_proto = get_protocol(ctx)
    off = meta.network_header - meta.mac_header
    if from_proto == ETH_P_IP and to_proto == ETH_P_IPV6:
        net_hdr_push(ctx, meta, off, PROTO_LEN_DIFF)
        _gso_swap(meta, SKB_GSO_TCPV4, SKB_GSO_TCPV6, ctx)
    elif from_proto == ETH_P_IPV6 and to_proto == ETH_P_IP:
        err = net_hdr_pop(ctx, meta, off, PROTO_LEN_DIFF)
        if err:
            return err
        _gso_swap(meta, SKB_GSO_TCPV6, SKB_GSO_TCPV4, ctx)
    else:
        return -ENOTSUPP
    set_protocol(ctx, to_proto)
    clear_hash(ctx, meta)
    return 0


def _gso_swap(meta: SkbMeta, old: int, new: int, ctx: SkbContext) -> None:
    if ctx.region.get("gso_size"):
        if meta.gso_type & old:
            meta.gso_type = (meta.gso_type & ~old) | new
        meta.gso_type |= SKB_GSO_DODGY


def bpf_skb_change_type(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_change_type(skb, pkt_type): 0 or ``-EINVAL`` (``skb_pkt_type_ok()``)."""
    ctx, _meta = skb_of(state, "bpf_skb_change_type")
    pkt_type = u32(r2)
    if ctx.region.get("pkt_type") > PACKET_OTHERHOST or pkt_type > PACKET_OTHERHOST:
        return -errno.EINVAL
    ctx.region.set("pkt_type", pkt_type)
    return 0


# -- VLAN --------------------------------------------------------------------------------


def _vlan_tag(ctx: SkbContext) -> tuple[int, int] | None:
    region = ctx.region
    proto, tci = region.get("vlan_proto") & 0xFFFF, region.get("vlan_tci") & 0xFFFF
    return (proto, tci) if region.get("vlan_present") else None


def _put_vlan_tag(ctx: SkbContext, raw_proto: int, tci: int) -> None:
    """``__vlan_hwaccel_put_tag()`` (``raw_proto`` as stored: big-endian bytes)."""
    region = ctx.region
    region.set("vlan_proto", raw_proto)
    region.set("vlan_tci", tci)
    region.set("vlan_present", 1 if raw_proto or tci else 0)


def _htons(value: int) -> int:
    return ((value & 0xFF) << 8) | ((value >> 8) & 0xFF)


def bpf_skb_vlan_push(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_vlan_push(skb, vlan_proto, vlan_tci): 0 or ``-errno``."""
    ctx, meta = skb_of(state, "bpf_skb_vlan_push")
    raw_proto, tci = u16(r2), u16(r3)
    if raw_proto not in (_htons(ETH_P_8021Q), _htons(ETH_P_8021AD)):
        raw_proto = _htons(ETH_P_8021Q)
    current = _vlan_tag(ctx)
    if current is not None:  # move the accelerated tag into the packet
        pkt = ctx.packet
        if pkt.data != meta.mac_header:
            return -errno.EINVAL
        old_proto, old_tci = current
        push(ctx, meta, VLAN_HLEN)
        d = pkt.data
        pkt.buf[d : d + 2 * ETH_ALEN] = pkt.buf[d + VLAN_HLEN : d + VLAN_HLEN + 2 * ETH_ALEN]
        meta.mac_header -= VLAN_HLEN
        pkt.buf[d + 12 : d + 14] = old_proto.to_bytes(2, "little")
        pkt.buf[d + 14 : d + 16] = old_tci.to_bytes(2, "big")
        ctx.region.set("protocol", old_proto)
        meta.network_header -= VLAN_HLEN
    _put_vlan_tag(ctx, raw_proto, tci)
    meta.mac_len = meta.network_header - meta.mac_header
    return 0


def _is_vlan(raw_proto: int) -> bool:
    return raw_proto in (_htons(ETH_P_8021Q), _htons(ETH_P_8021AD))


def _vlan_pop_inline(ctx: SkbContext, meta: SkbMeta) -> tuple[int, int]:
    """``__skb_vlan_pop()``: remove the packet's outer tag: ``(0, tci)`` or ``(-errno, 0)``."""
    pkt = ctx.packet
    if pkt.data != meta.mac_header:
        return -errno.EINVAL, 0
    if len(pkt) < ETH_HLEN + VLAN_HLEN:
        return -errno.ENOMEM, 0
    d = pkt.data
    _postpull_rcsum(meta, bytes(pkt.buf[d + 2 * ETH_ALEN : d + 2 * ETH_ALEN + VLAN_HLEN]))
    tci = int.from_bytes(pkt.buf[d + 14 : d + 16], "big")
    encap = int.from_bytes(pkt.buf[d + 16 : d + 18], "big")
    pkt.buf[d + VLAN_HLEN : d + VLAN_HLEN + 2 * ETH_ALEN] = pkt.buf[d : d + 2 * ETH_ALEN]
    if encap >= ETH_P_802_3_MIN:  # vlan_set_encap_proto()
        set_protocol(ctx, encap)
    elif pkt.buf[d + 18 : d + 20] == b"\xff\xff":
        set_protocol(ctx, ETH_P_802_3)
    else:
        set_protocol(ctx, ETH_P_802_2)
    pull(ctx, VLAN_HLEN)
    meta.mac_header += VLAN_HLEN
    if meta.network_header - pkt.data < ETH_HLEN:
        meta.network_header = pkt.data + ETH_HLEN
    meta.mac_len = meta.network_header - meta.mac_header
    return 0, tci


def bpf_skb_vlan_pop(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_vlan_pop(skb): 0 or ``-errno``."""
    ctx, meta = skb_of(state, "bpf_skb_vlan_pop")
    if _vlan_tag(ctx) is not None:
        _put_vlan_tag(ctx, 0, 0)
    else:
        if not _is_vlan(ctx.region.get("protocol") & 0xFFFF):
            return 0
        err, _tci = _vlan_pop_inline(ctx, meta)
        if err:
            return err
    raw = ctx.region.get("protocol") & 0xFFFF
    if not _is_vlan(raw):
        return 0
    err, tci = _vlan_pop_inline(ctx, meta)
    if err:
        return err
    _put_vlan_tag(ctx, raw, tci)
    return 0

