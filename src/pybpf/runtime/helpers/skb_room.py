"""bpf_skb_adjust_room(): make or remove room after the MAC or the network header.

Mirrors ``bpf_skb_adjust_room()``, ``bpf_skb_net_grow()`` and ``bpf_skb_net_shrink()`` of
net/core/filter.c (Linux 6.18):

* flags outside ``BPF_F_ADJ_ROOM_*`` → ``-EINVAL``; ``|len_diff| > 0xfff`` → ``-EFAULT``;
  a packet that is neither IPv4 nor IPv6 → ``-ENOTSUPP``; a mode other than
  ``BPF_ADJ_ROOM_NET`` (room after the IP header) or ``BPF_ADJ_ROOM_MAC`` (after the MAC
  header) → ``-ENOTSUPP``;
* decapsulation flags only when shrinking (``-EINVAL``), and then the minimum length left
  after the network header is that of the inner IP header; shrinking to less than the
  minimum, or growing past ``SKB_MAX_ALLOC`` → ``-ENOTSUPP``;
* growing with encapsulation flags (``ENCAP_L3_IPV4/6``, ``ENCAP_L4_GRE/UDP``,
  ``ENCAP_L2_ETH`` with ``ENCAP_L2(len)``) checks the combination (``-EINVAL``), refuses a
  second encapsulation (``-EALREADY``), marks the skb encapsulated (so a later
  bpf_skb_change_tail() is ``-ENOTSUPP``), moves the network header to just after the MAC
  header, sets the transport header after an L4 encapsulation and switches
  ``skb->protocol`` to the outer IP version;
* shrinking accepts only ``FIXED_GSO``, ``DECAP_L3_IPV4/6`` and ``NO_CSUM_RESET``;
* success resets ``CHECKSUM_UNNECESSARY`` to ``CHECKSUM_NONE`` unless ``NO_CSUM_RESET``.

The new bytes are zeroed. Not modelled: inner header offsets beyond the network header,
GSO size adjustments (only the GSO type bits).
"""

from __future__ import annotations

import errno

from pybpf.platform.skb_flags import (
    ADJ_ROOM_MASK,
    BPF_ADJ_ROOM_ENCAP_L2_MASK,
    BPF_ADJ_ROOM_ENCAP_L2_SHIFT,
    BPF_ADJ_ROOM_MAC,
    BPF_ADJ_ROOM_NET,
    DECAP_L3_MASK,
    ENCAP_L3_MASK,
    IPV4_HLEN,
    IPV6_HLEN,
    SKB_GSO_DODGY,
    SKB_GSO_GRE,
    SKB_GSO_IPXIP4,
    SKB_GSO_IPXIP6,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKB_GSO_UDP_L4,
    SKB_GSO_UDP_TUNNEL,
    AdjRoomFlag,
)
from pybpf.runtime.ctx.skb import SkbContext
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import ENOTSUPP, s32, u32
from pybpf.runtime.helpers.skb import ETH_HLEN, ETH_P_IP, ETH_P_IPV6, net_hdr_pop, net_hdr_push
from pybpf.runtime.helpers.skb_meta import (
    BPF_SKB_MAX_LEN,
    CHECKSUM_NONE,
    CHECKSUM_UNNECESSARY,
    SkbMeta,
    get_protocol,
    set_protocol,
    skb_of,
)

__all__ = ["AdjRoomFlag", "bpf_skb_adjust_room"]

F = AdjRoomFlag


def _net_base_len(proto: int) -> int:
    """``bpf_skb_net_base_len()``."""
    return {ETH_P_IP: IPV4_HLEN, ETH_P_IPV6: IPV6_HLEN}.get(proto, 0xFFFFFFFF)


def _gso_not_tcp(ctx: SkbContext, meta: SkbMeta, flags: int) -> bool:
    """UDP GSO may change size only with ``FIXED_GSO``; other non-TCP GSO never."""
    if not ctx.region.get("gso_size") or meta.gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6):
        return False
    return not (meta.gso_type & SKB_GSO_UDP_L4) or not flags & F.FIXED_GSO


def _grow(ctx: SkbContext, meta: SkbMeta, off: int, len_diff: int, flags: int) -> int:
    """``bpf_skb_net_grow()``."""
    inner_mac_len = (flags >> BPF_ADJ_ROOM_ENCAP_L2_SHIFT) & BPF_ADJ_ROOM_ENCAP_L2_MASK
    encap = bool(flags & ENCAP_L3_MASK)
    if _gso_not_tcp(ctx, meta, flags):
        return -ENOTSUPP
    mac_len = 0
    proto = get_protocol(ctx)
    if encap:
        if proto not in (ETH_P_IP, ETH_P_IPV6):
            return -ENOTSUPP
        if flags & F.ENCAP_L3_IPV4 and flags & F.ENCAP_L3_IPV6:
            return -errno.EINVAL
        if flags & F.ENCAP_L4_GRE and flags & F.ENCAP_L4_UDP:
            return -errno.EINVAL
        if flags & F.ENCAP_L2_ETH and inner_mac_len < ETH_HLEN:
            return -errno.EINVAL
        if meta.encapsulation:
            return -errno.EALREADY
        mac_len = meta.network_header - meta.mac_header
        if inner_mac_len > len_diff:
            return -errno.EINVAL
    net_hdr_push(ctx, meta, off, len_diff)
    gso_type = SKB_GSO_DODGY
    if encap:
        meta.encapsulation = True
        data = ctx.packet.data
        meta.network_header = data + mac_len
        if flags & F.ENCAP_L4_UDP:
            gso_type |= SKB_GSO_UDP_TUNNEL
        elif flags & F.ENCAP_L4_GRE:
            gso_type |= SKB_GSO_GRE
        elif flags & F.ENCAP_L3_IPV6:
            gso_type |= SKB_GSO_IPXIP6
        elif flags & F.ENCAP_L3_IPV4:
            gso_type |= SKB_GSO_IPXIP4
        if flags & (F.ENCAP_L4_GRE | F.ENCAP_L4_UDP):
            nh_len = IPV6_HLEN if flags & F.ENCAP_L3_IPV6 else IPV4_HLEN
            meta.transport_header = data + mac_len + nh_len
        if proto == ETH_P_IP and flags & F.ENCAP_L3_IPV6:
            set_protocol(ctx, ETH_P_IPV6)
        elif proto == ETH_P_IPV6 and flags & F.ENCAP_L3_IPV4:
            set_protocol(ctx, ETH_P_IP)
    if ctx.region.get("gso_size"):
        meta.gso_type |= gso_type
        ctx.region.set("gso_segs", 0)
    return 0


def _shrink(ctx: SkbContext, meta: SkbMeta, off: int, len_diff: int, flags: int) -> int:
    """``bpf_skb_net_shrink()``."""
    if flags & ~(F.FIXED_GSO | DECAP_L3_MASK | F.NO_CSUM_RESET):
        return -errno.EINVAL
    if _gso_not_tcp(ctx, meta, flags):
        return -ENOTSUPP
    err = net_hdr_pop(ctx, meta, off, len_diff)
    if err:
        return err
    proto = get_protocol(ctx)
    if proto == ETH_P_IP and flags & F.DECAP_L3_IPV6:
        set_protocol(ctx, ETH_P_IPV6)
    elif proto == ETH_P_IPV6 and flags & F.DECAP_L3_IPV4:
        set_protocol(ctx, ETH_P_IP)
    if ctx.region.get("gso_size"):
        meta.gso_type |= SKB_GSO_DODGY
        ctx.region.set("gso_segs", 0)
    return 0


def bpf_skb_adjust_room(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_adjust_room(skb, len_diff, mode, flags): 0 or ``-errno``."""
    ctx, meta = skb_of(state, "bpf_skb_adjust_room")
    len_diff, mode, flags = s32(r2), u32(r3), r4
    len_diff_abs = abs(len_diff)
    shrink = len_diff < 0
    proto = get_protocol(ctx)
    len_min = _net_base_len(proto)
    if flags & ~(ADJ_ROOM_MASK | F.NO_CSUM_RESET):
        return -errno.EINVAL
    if len_diff_abs > 0xFFF:
        return -errno.EFAULT
    if proto not in (ETH_P_IP, ETH_P_IPV6):
        return -ENOTSUPP
    off = meta.network_header - meta.mac_header
    if mode == BPF_ADJ_ROOM_NET:
        off += _net_base_len(proto)
    elif mode != BPF_ADJ_ROOM_MAC:
        return -ENOTSUPP
    if flags & DECAP_L3_MASK:
        if not shrink:
            return -errno.EINVAL
        decap = flags & DECAP_L3_MASK
        if decap == F.DECAP_L3_IPV4:
            len_min = IPV4_HLEN
        elif decap == F.DECAP_L3_IPV6:
            len_min = IPV6_HLEN
        else:
            return -errno.EINVAL
    pkt = ctx.packet
    len_cur = len(pkt) - (meta.network_header - pkt.data)
    is_gso = bool(ctx.region.get("gso_size"))
    if (shrink and (len_diff_abs >= len_cur or len_cur - len_diff_abs < len_min)) or (
        not shrink and len(pkt) + len_diff_abs > BPF_SKB_MAX_LEN and not is_gso
    ):
        return -ENOTSUPP
    if shrink:
        ret = _shrink(ctx, meta, off, len_diff_abs, flags)
    else:
        ret = _grow(ctx, meta, off, len_diff_abs, flags)
    if not ret and not flags & F.NO_CSUM_RESET and meta.ip_summed == CHECKSUM_UNNECESSARY:
        meta.ip_summed = CHECKSUM_NONE
        meta.csum_level = 0
    return ret
