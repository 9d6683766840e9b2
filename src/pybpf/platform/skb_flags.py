"""The socket buffer's checksum states and the flags of its packet helpers, as the Linux UAPI
(include/uapi/linux/bpf.h) and include/linux/skbuff.h define them: shared by the Python
helpers (:mod:`pybpf.runtime.helpers.skb`, :mod:`pybpf.runtime.helpers.csum`) and their
native versions (:mod:`pybpf.native.skb_ir`)."""

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
