"""Context rules of the ``struct __sk_buff`` program types and of XDP.

Mirrors, in net/core/filter.c: ``bpf_skb_is_valid_access()`` (the common part) and the per-type
callers ``sk_filter_is_valid_access()`` (SOCKET_FILTER), ``tc_cls_act_is_valid_access()``
(SCHED_CLS, SCHED_ACT), ``cg_skb_is_valid_access()`` (CGROUP_SKB), ``lwt_is_valid_access()``
(LWT_*), ``sk_skb_is_valid_access()`` (SK_SKB), ``flow_dissector_is_valid_access()``
(FLOW_DISSECTOR), and ``xdp_is_valid_access()`` (XDP, ``struct xdp_md``). Offloaded XDP
programs (which may write ``rx_queue_index``) are not modelled.
"""

from __future__ import annotations

from pybpf.platform.attach import AttachType
from pybpf.platform.ctx_access import (
    AccessInfo,
    AccessRequest,
    c_mod,
    ctx_range,
    ctx_range_ptr,
    ctx_range_till,
    narrow_access_ok,
)
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_types import (
    PTR_TO_SOCK_COMMON_OR_NULL,
    RegType,
)

__all__ = ["RULES"]

S = CTX_STRUCTS["__sk_buff"]
X = CTX_STRUCTS["xdp_md"]
_SIZE_DEFAULT = 4

CB = ctx_range_till(S, "cb[0]", "cb[4]")
DATA = ctx_range(S, "data")
DATA_META = ctx_range(S, "data_meta")
DATA_END = ctx_range(S, "data_end")
IPS = (
    ctx_range_till(S, "remote_ip6[0]", "remote_ip6[3]"),
    ctx_range_till(S, "local_ip6[0]", "local_ip6[3]"),
    ctx_range(S, "remote_ip4"),
    ctx_range(S, "local_ip4"),
)
FLOW_KEYS = ctx_range_ptr(S, "flow_keys")
HWTSTAMP = ctx_range(S, "hwtstamp")
TSTAMP = ctx_range(S, "tstamp")
SK = ctx_range_ptr(S, "sk")
TSTAMP_TYPE = S.offsetof("tstamp_type")
TSTAMP_TYPE_PAD = range(S.offsetofend("tstamp_type"), S.offsetof("hwtstamp"))
TC_CLASSID = ctx_range(S, "tc_classid")
FAMILY_TILL_LOCAL_PORT = ctx_range_till(S, "family", "local_port")
WIRE_LEN = ctx_range(S, "wire_len")
MARK = ctx_range(S, "mark")
PRIORITY = ctx_range(S, "priority")
TC_INDEX = ctx_range(S, "tc_index")
QUEUE_MAPPING = ctx_range(S, "queue_mapping")


def bpf_skb_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``bpf_skb_is_valid_access()``."""
    off, size = r.offset, r.size
    if off < 0 or off >= S.size:
        return False
    if c_mod(off, size):
        return False
    if off in CB:
        return off + size <= S.offsetofend("cb[4]")
    if off in DATA or off in DATA_META or off in DATA_END:
        return not r.ldsx and size == _SIZE_DEFAULT
    if any(off in rng for rng in IPS):
        return size == _SIZE_DEFAULT
    if off in FLOW_KEYS:
        return False
    if off in HWTSTAMP:
        return not r.write and size == 8
    if off in TSTAMP:
        return size == 8
    if off in SK:
        if r.write or size != 8:
            return False
        info.reg_type = PTR_TO_SOCK_COMMON_OR_NULL
        return True
    if off == TSTAMP_TYPE or off in TSTAMP_TYPE_PAD:
        return False
    if r.write:
        return size == _SIZE_DEFAULT
    info.record_field_size(_SIZE_DEFAULT)
    return narrow_access_ok(off, size, _SIZE_DEFAULT)


def _pkt_reg(off: int, info: AccessInfo, *, meta: bool = False) -> None:
    if off in DATA:
        info.reg_type = RegType.PTR_TO_PACKET
    elif meta and off in DATA_META:
        info.reg_type = RegType.PTR_TO_PACKET_META
    elif off in DATA_END:
        info.reg_type = RegType.PTR_TO_PACKET_END


def sk_filter_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``sk_filter_is_valid_access()`` (SOCKET_FILTER)."""
    off = r.offset
    for rng in (TC_CLASSID, DATA, DATA_META, DATA_END, FAMILY_TILL_LOCAL_PORT, TSTAMP,
                WIRE_LEN, HWTSTAMP):
        if off in rng:
            return False
    if r.write and off not in CB:
        return False
    return bpf_skb_is_valid_access(r, info)


def tc_cls_act_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``tc_cls_act_is_valid_access()`` (SCHED_CLS, SCHED_ACT)."""
    off = r.offset
    if r.write and not any(
        off in rng for rng in (MARK, TC_INDEX, PRIORITY, TC_CLASSID, CB, TSTAMP, QUEUE_MAPPING)
    ):
        return False
    _pkt_reg(off, info, meta=True)
    if off in FAMILY_TILL_LOCAL_PORT:
        return False
    if off == TSTAMP_TYPE:
        return r.size == 1
    return bpf_skb_is_valid_access(r, info)


def cg_skb_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``cg_skb_is_valid_access()`` (CGROUP_SKB): packet pointers and ``tstamp`` writes need
    ``CAP_BPF``."""
    off = r.offset
    if off in TC_CLASSID or off in DATA_META or off in WIRE_LEN:
        return False
    if (off in DATA or off in DATA_END) and not r.privileged:
        return False
    if r.write:
        if off in TSTAMP:
            if not r.privileged:
                return False
        elif not (off in MARK or off in PRIORITY or off in CB):
            return False
    _pkt_reg(off, info)
    return bpf_skb_is_valid_access(r, info)


def lwt_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``lwt_is_valid_access()`` (LWT_IN, LWT_OUT, LWT_XMIT, LWT_SEG6LOCAL)."""
    off = r.offset
    for rng in (TC_CLASSID, FAMILY_TILL_LOCAL_PORT, DATA_META, TSTAMP, WIRE_LEN, HWTSTAMP):
        if off in rng:
            return False
    if r.write and not (off in MARK or off in PRIORITY or off in CB):
        return False
    _pkt_reg(off, info)
    return bpf_skb_is_valid_access(r, info)


def sk_skb_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``sk_skb_is_valid_access()`` (SK_SKB)."""
    off = r.offset
    for rng in (TC_CLASSID, DATA_META, TSTAMP, WIRE_LEN, HWTSTAMP):
        if off in rng:
            return False
    if r.write and not (off in TC_INDEX or off in PRIORITY):
        return False
    if off in MARK:
        return False
    _pkt_reg(off, info)
    return bpf_skb_is_valid_access(r, info)


def flow_dissector_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``flow_dissector_is_valid_access()`` (FLOW_DISSECTOR): only the packet pointers and
    ``flow_keys``, read-only."""
    off, size = r.offset, r.size
    if off < 0 or off >= S.size or c_mod(off, size) or r.write:
        return False
    if off in DATA:
        if r.ldsx or size != _SIZE_DEFAULT:
            return False
        info.reg_type = RegType.PTR_TO_PACKET
        return True
    if off in DATA_END:
        if r.ldsx or size != _SIZE_DEFAULT:
            return False
        info.reg_type = RegType.PTR_TO_PACKET_END
        return True
    if off in FLOW_KEYS:
        if size != 8:
            return False
        info.reg_type = RegType.PTR_TO_FLOW_KEYS
        return True
    return False


def xdp_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``xdp_is_valid_access()`` (XDP): read-only ``u32`` fields; ``egress_ifindex`` only for
    ``BPF_XDP_DEVMAP`` programs."""
    off, size = r.offset, r.size
    if r.attach_type is not AttachType.XDP_DEVMAP and off == X.offsetof("egress_ifindex"):
        return False
    if r.write:
        return False
    ptrs = {
        X.offsetof("data"): RegType.PTR_TO_PACKET,
        X.offsetof("data_meta"): RegType.PTR_TO_PACKET_META,
        X.offsetof("data_end"): RegType.PTR_TO_PACKET_END,
    }
    if off in ptrs:
        if r.ldsx:
            return False
        info.reg_type = ptrs[off]
    return 0 <= off < X.size and not c_mod(off, size) and size == 4


RULES = {
    ProgType.SOCKET_FILTER: ("sk_filter_is_valid_access", sk_filter_is_valid_access, "__sk_buff"),
    ProgType.SCHED_CLS: ("tc_cls_act_is_valid_access", tc_cls_act_is_valid_access, "__sk_buff"),
    ProgType.SCHED_ACT: ("tc_cls_act_is_valid_access", tc_cls_act_is_valid_access, "__sk_buff"),
    ProgType.CGROUP_SKB: ("cg_skb_is_valid_access", cg_skb_is_valid_access, "__sk_buff"),
    ProgType.LWT_IN: ("lwt_is_valid_access", lwt_is_valid_access, "__sk_buff"),
    ProgType.LWT_OUT: ("lwt_is_valid_access", lwt_is_valid_access, "__sk_buff"),
    ProgType.LWT_XMIT: ("lwt_is_valid_access", lwt_is_valid_access, "__sk_buff"),
    ProgType.LWT_SEG6LOCAL: ("lwt_is_valid_access", lwt_is_valid_access, "__sk_buff"),
    ProgType.SK_SKB: ("sk_skb_is_valid_access", sk_skb_is_valid_access, "__sk_buff"),
    ProgType.FLOW_DISSECTOR: (
        "flow_dissector_is_valid_access", flow_dissector_is_valid_access, "__sk_buff"
    ),
    ProgType.XDP: ("xdp_is_valid_access", xdp_is_valid_access, "xdp_md"),
}
