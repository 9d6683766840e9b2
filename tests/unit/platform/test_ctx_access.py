"""Context access rules, and a differential test against the live kernel.

For every modelled program type (and the attach types that change its rules) the kernel is
asked about every offset of the context (plus a margin on both sides), every access size and
both directions — about 33,000 loads, a few seconds — and must agree with
:func:`pybpf.platform.ctx_access.ctx_access`, including the register type a load yields.
Kernel quirks the test found are encoded in the rules (tracepoint contexts accept negative
offsets: ``off < sizeof(void *)`` is an unsigned comparison).
"""

from __future__ import annotations

import pytest
from platform_live import needs_kernel

from pybpf.platform.attach import AttachType as A
from pybpf.platform.ctx_access import (
    ACCESS_SIZES,
    CtxAccess,
    Reject,
    ctx_access,
    ctx_struct,
    invalid_ctx_access_message,
)
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.ctx_probe import parse_reg_type, probe_ctx_access
from pybpf.platform.enums import ProgType as P
from pybpf.platform.helper_probe import LoadConfig, default_config
from pybpf.platform.helper_types import (
    PTR_TO_SOCK_COMMON_OR_NULL,
    PTR_TO_SOCKET_OR_NULL,
    RegType,
    TypeFlag,
)

SKB = CTX_STRUCTS["__sk_buff"]


def _ok(pt: P, off: int, size: int, write: bool = False, **kw) -> CtxAccess:
    res = ctx_access(pt, off, size, write, **kw)
    assert isinstance(res, CtxAccess), res
    return res


def _no(pt: P, off: int, size: int, write: bool = False, **kw) -> Reject:
    res = ctx_access(pt, off, size, write, **kw)
    assert isinstance(res, Reject), res
    return res


# --------------------------------------------------------------------------------------------
# layouts
# --------------------------------------------------------------------------------------------

def test_uapi_layouts() -> None:
    assert CTX_STRUCTS["xdp_md"].size == 24
    assert SKB.size == 192
    assert SKB.offsetof("data") == 76 and SKB.offsetof("data_end") == 80
    assert SKB.offsetof("cb[0]") == 48 and SKB.offsetofend("cb[4]") == 68
    assert SKB.field("sk").kind == "ptr" and SKB.offsetof("sk") == 168
    assert CTX_STRUCTS["bpf_sock_ops"].size == 224
    assert CTX_STRUCTS["pt_regs"].size == 168  # x86_64
    assert CTX_STRUCTS["bpf_perf_event_data"].offsetof("sample_period") == 168
    assert [f.name for f in CTX_STRUCTS["bpf_sock_ops"].fields_at(4)] == [
        "args[0]", "reply", "replylong[0]"]
    assert SKB.field_at(181) is None  # padding after tstamp_type
    xdp = ctx_struct(P.XDP)
    assert xdp is not None and xdp.name == "xdp_md" and ctx_struct(P.TRACEPOINT) is None


# --------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------

def test_xdp() -> None:
    assert _ok(P.XDP, 0, 4).reg_type == RegType.PTR_TO_PACKET
    assert _ok(P.XDP, 4, 4).reg_type == RegType.PTR_TO_PACKET_END
    assert _ok(P.XDP, 8, 4).reg_type == RegType.PTR_TO_PACKET_META
    assert _ok(P.XDP, 12, 4).reg_type == RegType.SCALAR_VALUE
    r = _no(P.XDP, 12, 2)
    assert r.reason == "invalid bpf_context access off=12 size=2"
    assert r.rule == "xdp_is_valid_access"
    _no(P.XDP, 16, 4, write=True)
    _no(P.XDP, 20, 4)  # egress_ifindex: devmap programs only
    _ok(P.XDP, 20, 4, attach_type=A.XDP_DEVMAP)
    _no(P.XDP, 0, 4, ldsx=True)
    _no(P.XDP, 24, 4)


def test_sk_buff_types() -> None:
    for pt in (P.SCHED_CLS, P.SCHED_ACT):
        assert _ok(pt, SKB.offsetof("data"), 4).reg_type == RegType.PTR_TO_PACKET
        assert _ok(pt, SKB.offsetof("data_meta"), 4).reg_type == RegType.PTR_TO_PACKET_META
        assert _ok(pt, SKB.offsetof("sk"), 8).reg_type == PTR_TO_SOCK_COMMON_OR_NULL
        _ok(pt, SKB.offsetof("mark"), 4, write=True)
        _no(pt, SKB.offsetof("len"), 4, write=True)
        _ok(pt, SKB.offsetof("tstamp_type"), 1)
    # narrow loads of plain u32 fields: any power of two up to 4, aligned
    a = _ok(P.SCHED_CLS, SKB.offsetof("len") + 2, 2)
    assert a.narrow and a.ctx_field_size == 4 and a.field is not None and a.field.name == "len"
    _no(P.SCHED_CLS, SKB.offsetof("len"), 8)
    _ok(P.SCHED_CLS, SKB.offsetof("cb[0]"), 8, write=True)  # cb: any aligned width
    _no(P.SCHED_CLS, SKB.offsetof("cb[4]"), 8)
    # socket filters: no packet pointers, writes only to cb
    _no(P.SOCKET_FILTER, SKB.offsetof("data"), 4)
    _no(P.SOCKET_FILTER, SKB.offsetof("mark"), 4, write=True)
    _ok(P.SOCKET_FILTER, SKB.offsetof("cb[1]"), 4, write=True)
    # cgroup skb: packet pointers need CAP_BPF
    _ok(P.CGROUP_SKB, SKB.offsetof("data"), 4)
    _no(P.CGROUP_SKB, SKB.offsetof("data"), 4, privileged=False)
    _no(P.CGROUP_SKB, SKB.offsetof("data_meta"), 4)
    # sk_skb cannot see mark; flow dissector only sees data, data_end, flow_keys
    _no(P.SK_SKB, SKB.offsetof("mark"), 4)
    assert _ok(P.FLOW_DISSECTOR, SKB.offsetof("flow_keys"), 8).reg_type == (
        RegType.PTR_TO_FLOW_KEYS)
    _no(P.FLOW_DISSECTOR, SKB.offsetof("len"), 4)


def test_socket_types() -> None:
    so = CTX_STRUCTS["bpf_sock_ops"]
    assert _ok(P.SOCK_OPS, so.offsetof("sk"), 8).reg_type == PTR_TO_SOCKET_OR_NULL
    assert _ok(P.SOCK_OPS, so.offsetof("skb_data"), 8).reg_type == RegType.PTR_TO_PACKET
    _ok(P.SOCK_OPS, so.offsetof("reply"), 4, write=True)
    _no(P.SOCK_OPS, so.offsetof("op"), 4, write=True)
    _no(P.SOCK_OPS, so.offsetof("op"), 2)
    sa = CTX_STRUCTS["bpf_sock_addr"]
    _ok(P.CGROUP_SOCK_ADDR, sa.offsetof("user_ip4"), 4, attach_type=A.CGROUP_INET4_CONNECT)
    _no(P.CGROUP_SOCK_ADDR, sa.offsetof("user_ip4"), 4, attach_type=A.CGROUP_INET6_CONNECT)
    _ok(P.CGROUP_SOCK_ADDR, sa.offsetof("user_ip6[0]"), 8, write=True,
        attach_type=A.CGROUP_INET6_CONNECT)
    assert _ok(P.CGROUP_SOCK_ADDR, sa.offsetof("sk"), 8,
               attach_type=A.CGROUP_INET4_CONNECT).reg_type == RegType.PTR_TO_SOCKET
    sk = CTX_STRUCTS["bpf_sock"]
    _ok(P.CGROUP_SOCK, sk.offsetof("mark"), 4, write=True)  # sock_create
    _no(P.CGROUP_SOCK, sk.offsetof("mark"), 4, attach_type=A.CGROUP_INET4_POST_BIND)
    _ok(P.CGROUP_SOCK, sk.offsetof("src_ip4"), 4, attach_type=A.CGROUP_INET4_POST_BIND)
    _ok(P.CGROUP_SOCK, sk.offsetof("dst_port"), 2)
    _no(P.CGROUP_SOCK, sk.offsetof("dst_port") + 2, 2)
    sopt = CTX_STRUCTS["bpf_sockopt"]
    _ok(P.CGROUP_SOCKOPT, sopt.offsetof("retval"), 4, attach_type=A.CGROUP_GETSOCKOPT)
    _no(P.CGROUP_SOCKOPT, sopt.offsetof("retval"), 4, attach_type=A.CGROUP_SETSOCKOPT)


def test_tracing_types() -> None:
    _ok(P.KPROBE, 0, 8)
    _ok(P.KPROBE, 160, 8)
    _no(P.KPROBE, 164, 8)
    _no(P.KPROBE, 0, 8, write=True)  # 6.18: read-only
    _no(P.TRACEPOINT, 0, 8)
    _ok(P.TRACEPOINT, 8, 8)
    _ok(P.TRACEPOINT, -8, 8)  # signed/unsigned quirk
    _no(P.TRACEPOINT, 8192, 1)
    _ok(P.RAW_TRACEPOINT, 88, 8)
    _no(P.RAW_TRACEPOINT, 96, 8)
    assert _ok(P.RAW_TRACEPOINT_WRITABLE, 0, 8).reg_type == RegType.PTR_TO_TP_BUFFER
    _ok(P.PERF_EVENT, 168, 4)  # sample_period, narrowly
    _no(P.PERF_EVENT, 8, 4)  # registers only as whole longs
    _ok(P.SYSCALL, 32, 4, write=True)
    nf = _ok(P.NETFILTER, 8, 8)
    assert nf.reg_base is RegType.PTR_TO_BTF_ID and nf.reg_flags == TypeFlag.PTR_TRUSTED
    with pytest.raises(KeyError):
        ctx_access(P.TRACING, 0, 8, False)
    with pytest.raises(ValueError):
        ctx_access(P.XDP, 0, 3, False)


def test_reject_messages() -> None:
    assert invalid_ctx_access_message(-4, 8) == "invalid bpf_context access off=-4 size=8"
    assert not _no(P.XDP, 1, 4)


def test_log_reg_type_parsing() -> None:
    assert parse_reg_type("pkt") == RegType.PTR_TO_PACKET
    assert parse_reg_type("sock_common_or_null") == PTR_TO_SOCK_COMMON_OR_NULL
    assert parse_reg_type("trusted_ptr_sk_buff") == RegType.PTR_TO_BTF_ID | TypeFlag.PTR_TRUSTED
    assert parse_reg_type("scalar") == RegType.SCALAR_VALUE
    assert parse_reg_type("0") == RegType.SCALAR_VALUE


# --------------------------------------------------------------------------------------------
# differential test against the kernel
# --------------------------------------------------------------------------------------------

DIFF_CONFIGS = [default_config(pt) for pt in (
    P.SOCKET_FILTER, P.SCHED_CLS, P.SCHED_ACT, P.XDP, P.CGROUP_SKB, P.LWT_IN, P.LWT_OUT,
    P.LWT_XMIT, P.LWT_SEG6LOCAL, P.SK_SKB, P.FLOW_DISSECTOR, P.SOCK_OPS, P.SK_MSG,
    P.SK_REUSEPORT, P.SK_LOOKUP, P.CGROUP_SYSCTL, P.CGROUP_DEVICE, P.KPROBE, P.PERF_EVENT,
    P.RAW_TRACEPOINT, P.RAW_TRACEPOINT_WRITABLE, P.NETFILTER, P.CGROUP_SOCK,
    P.CGROUP_SOCK_ADDR, P.CGROUP_SOCKOPT,
)] + [
    LoadConfig(P.XDP, A.XDP_DEVMAP),
    LoadConfig(P.CGROUP_SKB, A.CGROUP_INET_EGRESS),
    LoadConfig(P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND),
    LoadConfig(P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND),
    LoadConfig(P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE),
    LoadConfig(P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT),
    LoadConfig(P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG),
    LoadConfig(P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG),
    LoadConfig(P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT),
    LoadConfig(P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT),
]


def _compare(cfg: LoadConfig, offsets, sizes=ACCESS_SIZES, ldsx: bool = False):
    mismatches = []
    count = 0
    for off in offsets:
        for size in sizes:
            for write in ((False,) if ldsx else (False, True)):
                mine = ctx_access(cfg.prog_type, off, size, write,
                                  attach_type=cfg.attach_type, ldsx=ldsx)
                kernel = probe_ctx_access(cfg, off, size, write, ldsx=ldsx)
                count += 1
                same = bool(mine) == kernel.accepted
                if same and isinstance(mine, CtxAccess) and not write:
                    same = mine.reg_type == kernel.reg_type
                if not same:
                    mismatches.append((cfg.label, off, size, write, mine, kernel))
    return count, mismatches


def _span(cfg: LoadConfig) -> range:
    s = ctx_struct(cfg.prog_type)
    size = s.size if s else 96  # raw tracepoint arguments
    return range(-8, size + 8)


@needs_kernel
@pytest.mark.parametrize("cfg", DIFF_CONFIGS, ids=lambda c: c.label)
def test_every_offset_and_size_agrees_with_the_kernel(cfg: LoadConfig) -> None:
    count, mismatches = _compare(cfg, _span(cfg))
    assert count > 0 and not mismatches


@needs_kernel
@pytest.mark.parametrize("pt", [P.TRACEPOINT, P.SYSCALL])
def test_large_contexts_at_their_edges(pt: P) -> None:
    edge = 8192 if pt is P.TRACEPOINT else 32767  # the insn offset is an s16
    offsets = list(range(-16, 72)) + list(range(edge - 40, edge + 1))
    _count, mismatches = _compare(default_config(pt), offsets)
    assert not mismatches


@needs_kernel
@pytest.mark.parametrize("pt", [P.XDP, P.SCHED_CLS, P.CGROUP_SKB, P.FLOW_DISSECTOR, P.SK_SKB,
                                P.SOCK_OPS, P.PERF_EVENT, P.KPROBE])
def test_sign_extending_loads_agree_with_the_kernel(pt: P) -> None:
    cfg = default_config(pt)
    s = ctx_struct(pt)
    assert s is not None
    _count, mismatches = _compare(cfg, range(s.size), sizes=(1, 2, 4), ldsx=True)
    assert not mismatches
