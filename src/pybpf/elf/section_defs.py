"""ELF section names -> program type, expected attach type and attach target (mostly data).

Mirrors ``section_defs[]``, ``sec_def_matches()`` and ``find_sec_def()`` of libbpf
(tools/lib/bpf/libbpf.c, libbpf 1.x): the first entry that matches wins, where

* ``"type/"`` matches any name that starts with it (``SEC("xdp/devmap")``-style extras required);
* ``"type+"`` matches the exact name ``"type"`` or ``"type/<extras>"``;
* anything else matches only the exact name.

A leading ``?`` (libbpf's "do not autoload" marker) is ignored for matching. The part after the
matched prefix and its ``/`` is the attach target (``kprobe/do_sys_open`` -> ``do_sys_open``,
``tracepoint/syscalls/sys_enter_write`` -> ``syscalls/sys_enter_write``).

Not in libbpf 1.x but accepted here, as libbpf 0.x did (``SEC_SLOPPY_PFX``) and old objects
need: a name that merely *starts with* an exact-match entry (``socket1``, ``classifier_x``)
gets that entry's types, with no attach target. Custom handlers
(``libbpf_register_prog_handler``) are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

from pybpf.platform.attach import AttachType as A
from pybpf.platform.enums import ProgType as P

__all__ = ["SECTION_DEFS", "SecFlag", "SectionDef", "SectionMatch", "find_section_def", "match"]


class SecFlag(IntFlag):
    """``enum sec_def_flags`` of libbpf (the ``cookie`` of a section definition)."""

    NONE = 0
    EXP_ATTACH_OPT = 1
    ATTACHABLE = 2
    ATTACHABLE_OPT = ATTACHABLE | EXP_ATTACH_OPT
    ATTACH_BTF = 4
    SLEEPABLE = 8
    XDP_FRAGS = 16
    USDT = 32


@dataclass(frozen=True, slots=True)
class SectionDef:
    """One row of ``section_defs[]``: ``sec`` pattern, program type, attach type, flags.

    ``attach_type`` is None where libbpf's table has 0 meaning "none" (0 is also
    ``BPF_CGROUP_INET_INGRESS``, spelled out where it is meant).
    """

    sec: str
    prog_type: P
    attach_type: A | None
    flags: SecFlag = SecFlag.NONE


@dataclass(frozen=True, slots=True)
class SectionMatch:
    """The result of matching a section name: the definition and the attach target."""

    definition: SectionDef
    attach_to: str
    #: True when only the libbpf 0.x prefix rule matched (e.g. ``socket1``).
    sloppy: bool = False

    @property
    def prog_type(self) -> P:
        return self.definition.prog_type

    @property
    def attach_type(self) -> A | None:
        return self.definition.attach_type

    @property
    def flags(self) -> SecFlag:
        return self.definition.flags


_N = SecFlag.NONE
_AT = SecFlag.ATTACHABLE
_ATO = SecFlag.ATTACHABLE_OPT
_BTF = SecFlag.ATTACH_BTF
_SL = SecFlag.SLEEPABLE
_FR = SecFlag.XDP_FRAGS
_USDT = SecFlag.USDT


SECTION_DEFS: tuple[SectionDef, ...] = tuple(
    SectionDef(*row)
    for row in (
        ("socket", P.SOCKET_FILTER, None, _N),
        ("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, _AT),
        ("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, _AT),
        ("kprobe+", P.KPROBE, None, _N),
        ("uprobe+", P.KPROBE, None, _N),
        ("uprobe.s+", P.KPROBE, None, _SL),
        ("kretprobe+", P.KPROBE, None, _N),
        ("uretprobe+", P.KPROBE, None, _N),
        ("uretprobe.s+", P.KPROBE, None, _SL),
        ("kprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, _N),
        ("kretprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, _N),
        ("kprobe.session+", P.KPROBE, A.TRACE_KPROBE_SESSION, _N),
        ("uprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, _N),
        ("uretprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, _N),
        ("uprobe.session+", P.KPROBE, A.TRACE_UPROBE_SESSION, _N),
        ("uprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, _SL),
        ("uretprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, _SL),
        ("uprobe.session.s+", P.KPROBE, A.TRACE_UPROBE_SESSION, _SL),
        ("ksyscall+", P.KPROBE, None, _N),
        ("kretsyscall+", P.KPROBE, None, _N),
        ("usdt+", P.KPROBE, None, _USDT),
        ("usdt.s+", P.KPROBE, None, _USDT | _SL),
        ("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS, _N),
        ("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, _N),
        ("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, _N),
        ("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, _N),
        ("tc", P.SCHED_CLS, None, _N),
        ("classifier", P.SCHED_CLS, None, _N),
        ("action", P.SCHED_ACT, None, _N),
        ("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY, _N),
        ("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, _N),
        ("tracepoint+", P.TRACEPOINT, None, _N),
        ("tp+", P.TRACEPOINT, None, _N),
        ("raw_tracepoint+", P.RAW_TRACEPOINT, None, _N),
        ("raw_tp+", P.RAW_TRACEPOINT, None, _N),
        ("raw_tracepoint.w+", P.RAW_TRACEPOINT_WRITABLE, None, _N),
        ("raw_tp.w+", P.RAW_TRACEPOINT_WRITABLE, None, _N),
        ("tp_btf+", P.TRACING, A.TRACE_RAW_TP, _BTF),
        ("fentry+", P.TRACING, A.TRACE_FENTRY, _BTF),
        ("fmod_ret+", P.TRACING, A.MODIFY_RETURN, _BTF),
        ("fexit+", P.TRACING, A.TRACE_FEXIT, _BTF),
        ("fentry.s+", P.TRACING, A.TRACE_FENTRY, _BTF | _SL),
        ("fmod_ret.s+", P.TRACING, A.MODIFY_RETURN, _BTF | _SL),
        ("fexit.s+", P.TRACING, A.TRACE_FEXIT, _BTF | _SL),
        ("freplace+", P.EXT, None, _BTF),
        ("lsm+", P.LSM, A.LSM_MAC, _BTF),
        ("lsm.s+", P.LSM, A.LSM_MAC, _BTF | _SL),
        ("lsm_cgroup+", P.LSM, A.LSM_CGROUP, _BTF),
        ("iter+", P.TRACING, A.TRACE_ITER, _BTF),
        ("iter.s+", P.TRACING, A.TRACE_ITER, _BTF | _SL),
        ("syscall", P.SYSCALL, None, _SL),
        ("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, _FR),
        ("xdp/devmap", P.XDP, A.XDP_DEVMAP, _AT),
        ("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, _FR),
        ("xdp/cpumap", P.XDP, A.XDP_CPUMAP, _AT),
        ("xdp.frags", P.XDP, A.XDP, _FR),
        ("xdp", P.XDP, A.XDP, _ATO),
        ("perf_event", P.PERF_EVENT, None, _N),
        ("lwt_in", P.LWT_IN, None, _N),
        ("lwt_out", P.LWT_OUT, None, _N),
        ("lwt_xmit", P.LWT_XMIT, None, _N),
        ("lwt_seg6local", P.LWT_SEG6LOCAL, None, _N),
        ("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, _ATO),
        ("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, _ATO),
        ("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, _ATO),
        ("sk_skb", P.SK_SKB, None, _N),
        ("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, _ATO),
        ("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, _ATO),
        ("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, _ATO),
        ("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, _ATO),
        ("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, _ATO),
        ("cgroup/skb", P.CGROUP_SKB, None, _N),
        ("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, _AT),
        ("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, _AT),
        ("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, _ATO),
        ("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, _AT),
        ("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, _AT),
        ("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, _AT),
        ("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, _AT),
        ("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, _AT),
        ("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, _AT),
        ("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, _AT),
        ("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, _AT),
        ("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, _AT),
        ("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, _AT),
        ("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, _AT),
        ("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, _AT),
        ("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, _AT),
        ("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, _AT),
        ("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, _AT),
        ("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, _AT),
        ("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, _AT),
        ("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, _AT),
        ("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, _AT),
        ("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, _AT),
        ("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, _AT),
        ("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, _AT),
        ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, _ATO),
        ("struct_ops+", P.STRUCT_OPS, None, _N),
        ("struct_ops.s+", P.STRUCT_OPS, None, _SL),
        ("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, _AT),
        ("netfilter", P.NETFILTER, A.NETFILTER, _N),
    )
)


def _matches(pattern: str, name: str) -> str | None:
    """``sec_def_matches()``: the attach target if ``name`` matches ``pattern``, else None."""
    if pattern.endswith("/"):
        return name[len(pattern) :] if name.startswith(pattern) else None
    if pattern.endswith("+"):
        base = pattern[:-1]
        if name == base:
            return ""
        if name.startswith(base + "/"):
            return name[len(base) + 1 :]
        return None
    return "" if name == pattern else None


def match(section_name: str) -> SectionMatch | None:
    """Match ``section_name`` against :data:`SECTION_DEFS` (``find_sec_def()``).

    Returns None for a name no program type is known for.
    """
    name = section_name.removeprefix("?")
    for sec_def in SECTION_DEFS:
        target = _matches(sec_def.sec, name)
        if target is not None:
            return SectionMatch(sec_def, target)
    for sec_def in SECTION_DEFS:  # libbpf 0.x SEC_SLOPPY_PFX: exact entries as prefixes
        if sec_def.sec[-1] not in "+/" and name.startswith(sec_def.sec) and name:
            return SectionMatch(sec_def, "", sloppy=True)
    return None


def find_section_def(section_name: str) -> SectionDef | None:
    """The :class:`SectionDef` for ``section_name`` (``libbpf_prog_type_by_name()``)."""
    found = match(section_name)
    return found.definition if found is not None else None
