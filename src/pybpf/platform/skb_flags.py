"""The socket buffer's checksum states and the flags of its packet helpers, as the Linux UAPI
(include/uapi/linux/bpf.h) and include/linux/skbuff.h define them: shared by the Python
helpers (:mod:`pybpf.runtime.helpers.skb`, :mod:`pybpf.runtime.helpers.csum`) and their
native versions (:mod:`pybpf.native.skb_ir`, :mod:`pybpf.native.skb_geo_ir`), with the
Ethernet and VLAN constants of include/uapi/linux/if_ether.h and if_vlan.h they use."""

from __future__ import annotations

__all__ = [
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
    "SKB_MAX_ALLOC",
    "VLAN_HLEN",
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
