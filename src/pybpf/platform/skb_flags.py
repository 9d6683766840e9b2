"""The socket buffer's checksum states and the flags of its packet helpers, as the Linux UAPI
(include/uapi/linux/bpf.h) and include/linux/skbuff.h define them: shared by the Python
helpers (:mod:`pybpf.runtime.helpers.skb`, :mod:`pybpf.runtime.helpers.csum`) and their
native versions (:mod:`pybpf.native.skb_ir`, :mod:`pybpf.native.skb_geo_ir`), with the
Ethernet and VLAN constants of include/uapi/linux/if_ether.h and if_vlan.h they use."""

from __future__ import annotations

__all__ = [
    "ADJ_ROOM_MASK",
    "BPF_ADJ_ROOM_ENCAP_L2_MASK",
    "BPF_ADJ_ROOM_ENCAP_L2_SHIFT",
    "BPF_ADJ_ROOM_MAC",
    "BPF_ADJ_ROOM_NET",
    "BPF_F_HDR_FIELD_MASK",
    "BPF_F_INVALIDATE_HASH",
    "BPF_F_IPV6",
    "BPF_F_MARK_ENFORCE",
    "BPF_F_MARK_MANGLED_0",
    "BPF_F_PSEUDO_HDR",
    "BPF_F_RECOMPUTE_CSUM",
    "CHECKSUM_COMPLETE",
    "CHECKSUM_NONE",
    "CHECKSUM_PARTIAL",
    "CHECKSUM_UNNECESSARY",
    "CSUM_MANGLED_0",
    "DECAP_L3_MASK",
    "ENCAP_L3_MASK",
    "ENOTSUPP",
    "ETH_ALEN",
    "ETH_HLEN",
    "ETH_P_802_2",
    "ETH_P_802_3",
    "ETH_P_802_3_MIN",
    "ETH_P_8021AD",
    "ETH_P_8021Q",
    "ETH_P_IP",
    "ETH_P_IPV6",
    "IPV4_HLEN",
    "IPV6_HLEN",
    "SKB_GSO_DODGY",
    "SKB_GSO_GRE",
    "SKB_GSO_IPXIP4",
    "SKB_GSO_IPXIP6",
    "SKB_GSO_TCPV4",
    "SKB_GSO_TCPV6",
    "SKB_GSO_UDP_L4",
    "SKB_GSO_UDP_TUNNEL",
    "SKB_MAX_ALLOC",
    "VLAN_HLEN",
    "AdjRoomFlag",
]

#: ``skb->ip_summed``.
CHECKSUM_NONE = 0
CHECKSUM_UNNECESSARY = 1
CHECKSUM_COMPLETE = 2
CHECKSUM_PARTIAL = 3

#: ``bpf_skb_store_bytes()`` flags.
BPF_F_RECOMPUTE_CSUM = 1 << 0
BPF_F_INVALIDATE_HASH = 1 << 1

#: ``bpf_l3_csum_replace()``/``bpf_l4_csum_replace()`` flags.
BPF_F_HDR_FIELD_MASK = 0xF
BPF_F_PSEUDO_HDR = 1 << 4
BPF_F_MARK_MANGLED_0 = 1 << 5
BPF_F_MARK_ENFORCE = 1 << 6
BPF_F_IPV6 = 1 << 7
#: What a computed checksum of 0 becomes under ``BPF_F_MARK_MANGLED_0``.
CSUM_MANGLED_0 = 0xFFFF

#: ``ENOTSUPP`` (524) is kernel-internal (include/linux/errno.h) but reaches programs.
ENOTSUPP = 524

#: include/uapi/linux/if_ether.h, include/linux/if_vlan.h.
ETH_ALEN = 6
ETH_HLEN = 14
VLAN_HLEN = 4
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_802_3 = 0x0001
ETH_P_802_2 = 0x0004
ETH_P_802_3_MIN = 0x0600

#: ``SKB_MAX_ALLOC``: ``(PAGE_SIZE << 2) - SKB_DATA_ALIGN(sizeof(struct skb_shared_info))``,
#: the longest packet the geometry helpers make (``BPF_SKB_MAX_LEN``).
SKB_MAX_ALLOC = 4 * 4096 - 320

#: ``bpf_skb_adjust_room()`` modes and flags.
BPF_ADJ_ROOM_NET = 0
BPF_ADJ_ROOM_MAC = 1
BPF_ADJ_ROOM_ENCAP_L2_SHIFT = 56
BPF_ADJ_ROOM_ENCAP_L2_MASK = 0xFF
#: ``sizeof(struct iphdr)``, ``sizeof(struct ipv6hdr)``.
IPV4_HLEN = 20
IPV6_HLEN = 40
#: ``skb_shinfo(skb)->gso_type`` bits (include/linux/skbuff.h).
SKB_GSO_TCPV4 = 1 << 0
SKB_GSO_DODGY = 1 << 2
SKB_GSO_TCPV6 = 1 << 4
SKB_GSO_GRE = 1 << 6
SKB_GSO_IPXIP4 = 1 << 8
SKB_GSO_IPXIP6 = 1 << 9
SKB_GSO_UDP_TUNNEL = 1 << 10
SKB_GSO_UDP_L4 = 1 << 16


class AdjRoomFlag:
    """``BPF_F_ADJ_ROOM_*`` of include/uapi/linux/bpf.h."""

    FIXED_GSO = 1 << 0
    ENCAP_L3_IPV4 = 1 << 1
    ENCAP_L3_IPV6 = 1 << 2
    ENCAP_L4_GRE = 1 << 3
    ENCAP_L4_UDP = 1 << 4
    NO_CSUM_RESET = 1 << 5
    ENCAP_L2_ETH = 1 << 6
    DECAP_L3_IPV4 = 1 << 7
    DECAP_L3_IPV6 = 1 << 8


ENCAP_L3_MASK = AdjRoomFlag.ENCAP_L3_IPV4 | AdjRoomFlag.ENCAP_L3_IPV6
DECAP_L3_MASK = AdjRoomFlag.DECAP_L3_IPV4 | AdjRoomFlag.DECAP_L3_IPV6
ADJ_ROOM_MASK = (AdjRoomFlag.FIXED_GSO | ENCAP_L3_MASK | AdjRoomFlag.ENCAP_L4_GRE
                 | AdjRoomFlag.ENCAP_L4_UDP | AdjRoomFlag.ENCAP_L2_ETH
                 | (BPF_ADJ_ROOM_ENCAP_L2_MASK << BPF_ADJ_ROOM_ENCAP_L2_SHIFT) | DECAP_L3_MASK)
