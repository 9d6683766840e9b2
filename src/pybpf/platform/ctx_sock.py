"""Context rules of the socket and cgroup program types.

Mirrors ``sock_filter_is_valid_access()`` + ``bpf_sock_is_valid_access()`` (CGROUP_SOCK, with
``__sock_filter_check_attach_type()``), ``sock_addr_is_valid_access()`` (CGROUP_SOCK_ADDR),
``sock_ops_is_valid_access()`` (SOCK_OPS), ``sk_msg_is_valid_access()`` (SK_MSG),
``sk_reuseport_is_valid_access()`` (SK_REUSEPORT), ``sk_lookup_is_valid_access()`` (SK_LOOKUP)
in net/core/filter.c and ``cg_sockopt_is_valid_access()`` (CGROUP_SOCKOPT),
``sysctl_is_valid_access()`` (CGROUP_SYSCTL), ``cgroup_dev_is_valid_access()``
(CGROUP_DEVICE) in kernel/bpf/cgroup.c.
"""

from __future__ import annotations

from pybpf.platform.attach import AttachType as A
from pybpf.platform.ctx_access import (
    AccessInfo,
    AccessRequest,
    c_mod,
    ctx_range,
    ctx_range_ptr,
    ctx_range_till,
    narrow_access_ok,
    wide_access_ok,
)
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_types import (
    PTR_TO_SOCK_COMMON_OR_NULL,
    PTR_TO_SOCKET_OR_NULL,
    RegType,
)

__all__ = ["RULES", "bpf_sock_is_valid_access"]

_U32 = 4

# --- struct bpf_sock (CGROUP_SOCK; also what PTR_TO_SOCKET loads see) ----------------------
SK = CTX_STRUCTS["bpf_sock"]
_SK_NARROW_EXACT = {SK.offsetof(n) for n in
                    ("state", "family", "type", "protocol", "src_port", "rx_queue_mapping")}
_SK_NARROW_RANGES = (
    ctx_range(SK, "src_ip4"), ctx_range_till(SK, "src_ip6[0]", "src_ip6[3]"),
    ctx_range(SK, "dst_ip4"), ctx_range_till(SK, "dst_ip6[0]", "dst_ip6[3]"),
)
_SK_DST_PORT = ctx_range(SK, "dst_port")
_SK_DST_PORT_PAD = range(SK.offsetofend("dst_port"), SK.offsetof("dst_ip4"))


def bpf_sock_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``bpf_sock_is_valid_access()``."""
    off, size = r.offset, r.size
    if off < 0 or off >= SK.size or c_mod(off, size):
        return False
    if off in _SK_NARROW_EXACT or any(off in rng for rng in _SK_NARROW_RANGES):
        info.record_field_size(_U32)
        return narrow_access_ok(off, size, _U32)
    if off in _SK_DST_PORT:
        field_size = _U32 if size == _U32 else SK.field("dst_port").size
        info.record_field_size(field_size)
        return narrow_access_ok(off, size, field_size)
    if off in _SK_DST_PORT_PAD:
        return False
    return size == _U32


def _sock_filter_check_attach_type(r: AccessRequest) -> bool:
    """``__sock_filter_check_attach_type()``."""
    off = r.offset
    if off in (SK.offsetof("bound_dev_if"), SK.offsetof("mark"), SK.offsetof("priority")):
        return r.attach_type in (A.CGROUP_INET_SOCK_CREATE, A.CGROUP_INET_SOCK_RELEASE)
    if off in ctx_range(SK, "src_ip4"):
        ok = r.attach_type is A.CGROUP_INET4_POST_BIND
    elif off in ctx_range_till(SK, "src_ip6[0]", "src_ip6[3]"):
        ok = r.attach_type is A.CGROUP_INET6_POST_BIND
    elif off in ctx_range(SK, "src_port"):
        ok = r.attach_type in (A.CGROUP_INET4_POST_BIND, A.CGROUP_INET6_POST_BIND)
    else:
        ok = True
    return ok and not r.write


def sock_filter_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``sock_filter_is_valid_access()`` (CGROUP_SOCK)."""
    return bpf_sock_is_valid_access(r, info) and _sock_filter_check_attach_type(r)


# --- struct bpf_sock_addr (CGROUP_SOCK_ADDR) ------------------------------------------------
SA = CTX_STRUCTS["bpf_sock_addr"]
_INET4 = {A.CGROUP_INET4_BIND, A.CGROUP_INET4_CONNECT, A.CGROUP_INET4_GETPEERNAME,
          A.CGROUP_INET4_GETSOCKNAME, A.CGROUP_UDP4_SENDMSG, A.CGROUP_UDP4_RECVMSG}
_INET6 = {A.CGROUP_INET6_BIND, A.CGROUP_INET6_CONNECT, A.CGROUP_INET6_GETPEERNAME,
          A.CGROUP_INET6_GETSOCKNAME, A.CGROUP_UDP6_SENDMSG, A.CGROUP_UDP6_RECVMSG}
_SA_USER_IP4 = ctx_range(SA, "user_ip4")
_SA_USER_IP6 = ctx_range_till(SA, "user_ip6[0]", "user_ip6[3]")
_SA_MSG_IP4 = ctx_range(SA, "msg_src_ip4")
_SA_MSG_IP6 = ctx_range_till(SA, "msg_src_ip6[0]", "msg_src_ip6[3]")
_SA_RW = (_SA_USER_IP4, _SA_USER_IP6, _SA_MSG_IP4, _SA_MSG_IP6, ctx_range(SA, "user_port"))
_SA_RO = tuple(ctx_range(SA, n) for n in ("user_family", "family", "type", "protocol"))


def sock_addr_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``sock_addr_is_valid_access()`` (CGROUP_SOCK_ADDR): address fields only of the attach
    type's family; 8-byte access to the IPv6 arrays."""
    off, size = r.offset, r.size
    if off < 0 or off >= SA.size or c_mod(off, size):
        return False
    at = r.attach_type
    if off in _SA_USER_IP4 and at not in _INET4:
        return False
    if off in _SA_USER_IP6 and at not in _INET6:
        return False
    if off in _SA_MSG_IP4 and at is not A.CGROUP_UDP4_SENDMSG:
        return False
    if off in _SA_MSG_IP6 and at is not A.CGROUP_UDP6_SENDMSG:
        return False
    if any(off in rng for rng in _SA_RW):
        if not r.write:
            info.record_field_size(_U32)
        if wide_access_ok(off, size, SA, "user_ip6[0]", "user_ip6[3]"):
            return True
        if wide_access_ok(off, size, SA, "msg_src_ip6[0]", "msg_src_ip6[3]"):
            return True
        if r.write:
            return size == _U32
        return narrow_access_ok(off, size, _U32)
    if off in ctx_range_ptr(SA, "sk"):
        if r.write or size != 8:
            return False
        info.reg_type = RegType.PTR_TO_SOCKET
        return True
    if any(off in rng for rng in _SA_RO):
        return not r.write and size == _U32
    return False


# --- struct bpf_sock_ops (SOCK_OPS) ---------------------------------------------------------
SO = CTX_STRUCTS["bpf_sock_ops"]


def sock_ops_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``sock_ops_is_valid_access()`` (SOCK_OPS): writes only to ``reply`` and
    ``sk_txhash``."""
    off, size = r.offset, r.size
    if off < 0 or off >= SO.size or c_mod(off, size):
        return False
    if r.write:
        if off in (SO.offsetof("reply"), SO.offsetof("sk_txhash")):
            return size == _U32
        return False
    if off in ctx_range_till(SO, "bytes_received", "bytes_acked"):
        return size == 8
    ptrs = {
        "sk": PTR_TO_SOCKET_OR_NULL,
        "skb_data": RegType.PTR_TO_PACKET,
        "skb_data_end": RegType.PTR_TO_PACKET_END,
    }
    for name, reg in ptrs.items():
        if off in ctx_range_ptr(SO, name):
            if size != 8:
                return False
            info.reg_type = reg
            return True
    if off == SO.offsetof("skb_tcp_flags"):
        info.record_field_size(_U32)
        return narrow_access_ok(off, size, _U32)
    if off in ctx_range(SO, "skb_hwtstamp"):
        return size == 8
    return size == _U32


# --- struct sk_msg_md (SK_MSG) --------------------------------------------------------------
SM = CTX_STRUCTS["sk_msg_md"]
_SM_U32 = (
    ctx_range(SM, "family"), ctx_range(SM, "remote_ip4"), ctx_range(SM, "local_ip4"),
    ctx_range_till(SM, "remote_ip6[0]", "remote_ip6[3]"),
    ctx_range_till(SM, "local_ip6[0]", "local_ip6[3]"),
    ctx_range(SM, "remote_port"), ctx_range(SM, "local_port"), ctx_range(SM, "size"),
)


def sk_msg_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``sk_msg_is_valid_access()`` (SK_MSG): read-only."""
    off, size = r.offset, r.size
    if r.write or c_mod(off, size):
        return False
    ptrs = {"data": RegType.PTR_TO_PACKET, "data_end": RegType.PTR_TO_PACKET_END,
            "sk": RegType.PTR_TO_SOCKET}
    for name, reg in ptrs.items():
        if off in ctx_range_ptr(SM, name):
            info.reg_type = reg
            return size == 8
    if any(off in rng for rng in _SM_U32):
        return size == _U32
    return False


# --- struct sk_reuseport_md (SK_REUSEPORT) --------------------------------------------------
SR = CTX_STRUCTS["sk_reuseport_md"]
_SKB_PROTOCOL_SIZE = 2  # sizeof_field(struct sk_buff, protocol)


def sk_reuseport_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``sk_reuseport_is_valid_access()`` (SK_REUSEPORT): read-only."""
    off, size = r.offset, r.size
    if off < 0 or off >= SR.size or c_mod(off, size) or r.write:
        return False
    exact = {
        SR.offsetof("data"): (RegType.PTR_TO_PACKET, 8),
        SR.offsetof("data_end"): (RegType.PTR_TO_PACKET_END, 8),
        SR.offsetof("hash"): (RegType.SCALAR_VALUE, _U32),
        SR.offsetof("sk"): (RegType.PTR_TO_SOCKET, 8),
        SR.offsetof("migrating_sk"): (PTR_TO_SOCK_COMMON_OR_NULL, 8),
    }
    if off in exact:
        reg, want = exact[off]
        info.reg_type = reg
        return size == want
    if off in ctx_range(SR, "eth_protocol") and size < _SKB_PROTOCOL_SIZE:
        return False
    if any(off in ctx_range(SR, n) for n in ("eth_protocol", "ip_protocol", "bind_inany", "len")):
        info.record_field_size(_U32)
        return narrow_access_ok(off, size, _U32)
    return False


# --- struct bpf_sk_lookup (SK_LOOKUP) -------------------------------------------------------
SL = CTX_STRUCTS["bpf_sk_lookup"]
_SL_NARROW = (
    ctx_range(SL, "family"), ctx_range(SL, "protocol"), ctx_range(SL, "remote_ip4"),
    ctx_range(SL, "local_ip4"), ctx_range_till(SL, "remote_ip6[0]", "remote_ip6[3]"),
    ctx_range_till(SL, "local_ip6[0]", "local_ip6[3]"), ctx_range(SL, "local_port"),
    ctx_range(SL, "ingress_ifindex"),
)


def sk_lookup_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``sk_lookup_is_valid_access()`` (SK_LOOKUP): read-only."""
    off, size = r.offset, r.size
    if off < 0 or off >= SL.size or c_mod(off, size) or r.write:
        return False
    if off in ctx_range_ptr(SL, "sk"):
        info.reg_type = PTR_TO_SOCKET_OR_NULL
        return size == 8
    if any(off in rng for rng in _SL_NARROW):
        info.record_field_size(_U32)
        return narrow_access_ok(off, size, _U32)
    if off in ctx_range(SL, "remote_port"):
        if size == _U32:
            return True  # 4-byte access to the 2-byte field, for backward compatibility
        info.record_field_size(2)
        return narrow_access_ok(off, size, 2)
    if off in range(SL.offsetofend("remote_port"), SL.offsetof("local_ip4")):
        info.record_field_size(2)  # the zero padding after remote_port
        return narrow_access_ok(off, size, 2)
    return False


# --- struct bpf_sockopt (CGROUP_SOCKOPT) ----------------------------------------------------
SOPT = CTX_STRUCTS["bpf_sockopt"]


def cg_sockopt_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``cg_sockopt_is_valid_access()`` (CGROUP_SOCKOPT): ``retval`` only for getsockopt
    programs, ``level``/``optname`` writable only for setsockopt programs."""
    off, size = r.offset, r.size
    if off < 0 or off >= SOPT.size or c_mod(off, size):
        return False
    get = r.attach_type is A.CGROUP_GETSOCKOPT
    set_ = r.attach_type is A.CGROUP_SETSOCKOPT
    if r.write:
        if off == SOPT.offsetof("retval"):
            return size == _U32 and get
        if off in (SOPT.offsetof("optname"), SOPT.offsetof("level")):
            return size == _U32 and set_
        if off == SOPT.offsetof("optlen"):
            return size == _U32
        return False
    ptrs = {"sk": RegType.PTR_TO_SOCKET, "optval": RegType.PTR_TO_PACKET,
            "optval_end": RegType.PTR_TO_PACKET_END}
    for name, reg in ptrs.items():
        if off in ctx_range_ptr(SOPT, name):
            if size != 8:
                return False
            info.reg_type = reg
            return True
    if off in ctx_range(SOPT, "retval"):
        return size == _U32 and get
    return size == _U32


# --- struct bpf_sysctl (CGROUP_SYSCTL) ------------------------------------------------------
SYS = CTX_STRUCTS["bpf_sysctl"]


def sysctl_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``sysctl_is_valid_access()`` (CGROUP_SYSCTL): ``write`` read-only, ``file_pos``
    writable as a whole."""
    off, size = r.offset, r.size
    if off < 0 or off + size > SYS.size or c_mod(off, size):
        return False
    if off in ctx_range(SYS, "write"):
        if r.write:
            return False
        info.record_field_size(_U32)
        return narrow_access_ok(off, size, _U32)
    if off in ctx_range(SYS, "file_pos"):
        if not r.write:
            info.record_field_size(_U32)
            return narrow_access_ok(off, size, _U32)
        return size == _U32
    return False


# --- struct bpf_cgroup_dev_ctx (CGROUP_DEVICE) ----------------------------------------------
DEV = CTX_STRUCTS["bpf_cgroup_dev_ctx"]


def cgroup_dev_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``cgroup_dev_is_valid_access()`` (CGROUP_DEVICE): read-only."""
    off, size = r.offset, r.size
    if r.write or off < 0 or off + size > DEV.size or c_mod(off, size):
        return False
    if off in ctx_range(DEV, "access_type"):
        info.record_field_size(_U32)
        return narrow_access_ok(off, size, _U32)
    return size == _U32


RULES = {
    ProgType.CGROUP_SOCK: ("sock_filter_is_valid_access", sock_filter_is_valid_access, "bpf_sock"),
    ProgType.CGROUP_SOCK_ADDR: (
        "sock_addr_is_valid_access", sock_addr_is_valid_access, "bpf_sock_addr"
    ),
    ProgType.SOCK_OPS: ("sock_ops_is_valid_access", sock_ops_is_valid_access, "bpf_sock_ops"),
    ProgType.SK_MSG: ("sk_msg_is_valid_access", sk_msg_is_valid_access, "sk_msg_md"),
    ProgType.SK_REUSEPORT: (
        "sk_reuseport_is_valid_access", sk_reuseport_is_valid_access, "sk_reuseport_md"
    ),
    ProgType.SK_LOOKUP: ("sk_lookup_is_valid_access", sk_lookup_is_valid_access, "bpf_sk_lookup"),
    ProgType.CGROUP_SOCKOPT: (
        "cg_sockopt_is_valid_access", cg_sockopt_is_valid_access, "bpf_sockopt"
    ),
    ProgType.CGROUP_SYSCTL: ("sysctl_is_valid_access", sysctl_is_valid_access, "bpf_sysctl"),
    ProgType.CGROUP_DEVICE: (
        "cgroup_dev_is_valid_access", cgroup_dev_is_valid_access, "bpf_cgroup_dev_ctx"
    ),
}
