"""Per program type facts: context structure, return-value range, load requirements.

Mirrors, in kernel/bpf/verifier.c, check_return_code() (which ``R0`` values a program may exit
with: ``At program exit the register R0 has ... should have been in [lo, hi]``) and
may_access_direct_pkt_data() (which types may *write* packet data directly); in
kernel/bpf/syscall.c, bpf_prog_load_check_attach() / bpf_prog_load_fixup_attach_type() (which
types need an ``expected_attach_type``) and the unprivileged-load rule (only SOCKET_FILTER and
CGROUP_SKB); the ``test_run`` members of the types' ``bpf_prog_ops``.

Context layouts come from :mod:`pybpf.platform.ctx_layouts`, access rules from
:func:`pybpf.platform.ctx_access.ctx_access`, helpers from :mod:`pybpf.platform.prog_helpers`.
Return ranges of TRACING/LSM/STRUCT_OPS programs depend on the attach target and are only
partly modelled (``None`` means "any value"; see :func:`return_range`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from pybpf.platform.attach import AttachType as A
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.ctx_trace import MAX_BPF_FUNC_ARGS, PERF_MAX_TRACE_SIZE, SYSCALL_CTX_MAX
from pybpf.platform.enums import ProgType as P

__all__ = [
    "PROG_TYPES",
    "ProgTypeInfo",
    "ReturnRange",
    "prog_type_info",
    "return_range",
    "return_range_message",
]


@dataclass(frozen=True, slots=True)
class ReturnRange:
    """An inclusive range ``[lo, hi]`` the verifier enforces on ``R0`` at program exit."""

    lo: int
    hi: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.lo <= value <= self.hi


@dataclass(frozen=True, slots=True)
class ProgTypeInfo:
    """What a program type's programs see and must do.

    ``ctx_struct`` names the context structure (``"__sk_buff"``); ``ctx_size`` is the size the
    access rules bound offsets by (``None`` when the caller decides, as for SYSCALL). The
    kernel rewrites context accesses, so the object behind the pointer at run time is a
    different, kernel-internal one (``struct sk_buff``, ``struct xdp_buff``, ...).
    ``ret_range`` is the range for the default attach type (None: unchecked).
    """

    prog_type: P
    ctx_struct: str | None
    ctx_size: int | None
    ret_range: ReturnRange | None
    default_attach: A | None = None
    requires_attach_type: bool = False
    requires_sleepable: bool = False
    requires_attach_btf: bool = False
    unprivileged_load: bool = False
    direct_packet_write: bool = False
    test_run: bool = False
    ctx_note: str = ""

    @property
    def ctx_layout(self):
        """The :class:`~pybpf.platform.ctx_fields.CtxStruct` layout, if the context has one."""
        return CTX_STRUCTS.get(self.ctx_struct) if self.ctx_struct else None


_R01 = ReturnRange(0, 1)
_RAW_TP_CTX = 8 * MAX_BPF_FUNC_ARGS


def _sz(name: str) -> int:
    return CTX_STRUCTS[name].size


PROG_TYPES = MappingProxyType({
    p.prog_type: p
    for p in (
        ProgTypeInfo(P.SOCKET_FILTER, "__sk_buff", _sz("__sk_buff"), None,
                     unprivileged_load=True, test_run=True),
        ProgTypeInfo(P.KPROBE, "pt_regs", _sz("pt_regs"), None,
                     ctx_note="struct pt_regs of the probed context (bpf_user_pt_regs_t)"),
        ProgTypeInfo(P.SCHED_CLS, "__sk_buff", _sz("__sk_buff"), None,
                     direct_packet_write=True, test_run=True),
        ProgTypeInfo(P.SCHED_ACT, "__sk_buff", _sz("__sk_buff"), None,
                     direct_packet_write=True, test_run=True),
        ProgTypeInfo(P.TRACEPOINT, None, PERF_MAX_TRACE_SIZE, None,
                     ctx_note="the tracepoint's perf record; the first 8 bytes are hidden"),
        ProgTypeInfo(P.XDP, "xdp_md", _sz("xdp_md"), None, direct_packet_write=True,
                     test_run=True),
        ProgTypeInfo(P.PERF_EVENT, "bpf_perf_event_data", _sz("bpf_perf_event_data"), None),
        ProgTypeInfo(P.CGROUP_SKB, "__sk_buff", _sz("__sk_buff"), _R01,
                     default_attach=A.CGROUP_INET_INGRESS, unprivileged_load=True,
                     test_run=True),
        ProgTypeInfo(P.CGROUP_SOCK, "bpf_sock", _sz("bpf_sock"), _R01,
                     default_attach=A.CGROUP_INET_SOCK_CREATE),
        ProgTypeInfo(P.LWT_IN, "__sk_buff", _sz("__sk_buff"), None, test_run=True),
        ProgTypeInfo(P.LWT_OUT, "__sk_buff", _sz("__sk_buff"), None, test_run=True),
        ProgTypeInfo(P.LWT_XMIT, "__sk_buff", _sz("__sk_buff"), None,
                     direct_packet_write=True, test_run=True),
        ProgTypeInfo(P.SOCK_OPS, "bpf_sock_ops", _sz("bpf_sock_ops"), _R01),
        ProgTypeInfo(P.SK_SKB, "__sk_buff", _sz("__sk_buff"), None, direct_packet_write=True),
        ProgTypeInfo(P.CGROUP_DEVICE, "bpf_cgroup_dev_ctx", _sz("bpf_cgroup_dev_ctx"), _R01),
        ProgTypeInfo(P.SK_MSG, "sk_msg_md", _sz("sk_msg_md"), None, direct_packet_write=True),
        ProgTypeInfo(P.RAW_TRACEPOINT, None, _RAW_TP_CTX, None, test_run=True,
                     ctx_note="u64 args[]: the tracepoint's arguments (struct "
                              "bpf_raw_tracepoint_args)"),
        ProgTypeInfo(P.CGROUP_SOCK_ADDR, "bpf_sock_addr", _sz("bpf_sock_addr"), _R01,
                     default_attach=A.CGROUP_INET4_CONNECT, requires_attach_type=True),
        ProgTypeInfo(P.LWT_SEG6LOCAL, "__sk_buff", _sz("__sk_buff"), None),
        ProgTypeInfo(P.LIRC_MODE2, None, 4, None, ctx_note="one u32 IR sample"),
        ProgTypeInfo(P.SK_REUSEPORT, "sk_reuseport_md", _sz("sk_reuseport_md"), None),
        ProgTypeInfo(P.FLOW_DISSECTOR, "__sk_buff", _sz("__sk_buff"), None, test_run=True,
                     ctx_note="only data, data_end and flow_keys of __sk_buff"),
        ProgTypeInfo(P.CGROUP_SYSCTL, "bpf_sysctl", _sz("bpf_sysctl"), _R01),
        ProgTypeInfo(P.RAW_TRACEPOINT_WRITABLE, None, _RAW_TP_CTX, None,
                     ctx_note="like RAW_TRACEPOINT; args[0] is the writable buffer"),
        ProgTypeInfo(P.CGROUP_SOCKOPT, "bpf_sockopt", _sz("bpf_sockopt"), _R01,
                     default_attach=A.CGROUP_SETSOCKOPT, requires_attach_type=True,
                     direct_packet_write=True,
                     ctx_note="optval..optval_end is the packet-like option buffer"),
        ProgTypeInfo(P.TRACING, None, None, None, requires_attach_btf=True, test_run=True,
                     ctx_note="the traced function's arguments, typed by BTF"),
        ProgTypeInfo(P.STRUCT_OPS, None, None, None, requires_attach_btf=True, test_run=True),
        ProgTypeInfo(P.EXT, None, None, None, requires_attach_btf=True),
        ProgTypeInfo(P.LSM, None, None, None, requires_attach_btf=True),
        ProgTypeInfo(P.SK_LOOKUP, "bpf_sk_lookup", _sz("bpf_sk_lookup"), _R01,
                     default_attach=A.SK_LOOKUP, requires_attach_type=True, test_run=True),
        ProgTypeInfo(P.SYSCALL, None, SYSCALL_CTX_MAX, None, requires_sleepable=True,
                     test_run=True, ctx_note="caller memory passed to BPF_PROG_TEST_RUN"),
        ProgTypeInfo(P.NETFILTER, "bpf_nf_ctx", _sz("bpf_nf_ctx"), _R01,
                     default_attach=A.NETFILTER, requires_attach_type=True, test_run=True),
    )
})


def prog_type_info(prog_type: P) -> ProgTypeInfo:
    """The :class:`ProgTypeInfo` of ``prog_type``."""
    return PROG_TYPES[P(prog_type)]


_RECV_PEER_SOCK_NAME = {
    A.CGROUP_UDP4_RECVMSG, A.CGROUP_UDP6_RECVMSG, A.CGROUP_UNIX_RECVMSG,
    A.CGROUP_INET4_GETPEERNAME, A.CGROUP_INET6_GETPEERNAME, A.CGROUP_UNIX_GETPEERNAME,
    A.CGROUP_INET4_GETSOCKNAME, A.CGROUP_INET6_GETSOCKNAME, A.CGROUP_UNIX_GETSOCKNAME,
}


def return_range(prog_type: P, attach_type: A | int | None = None) -> ReturnRange | None:
    """The ``R0`` range check_return_code() enforces (None: any value is accepted).

    ``attach_type`` is the program's ``expected_attach_type`` (None: the type's default).
    TRACING: ``[0, 0]`` for fentry/fexit, ``[0, 1]`` for iterators, unchecked for raw_tp /
    fmod_ret; LSM and STRUCT_OPS depend on the hook and are reported as None.
    """
    info = prog_type_info(prog_type)
    at = A(int(attach_type)) if attach_type is not None else info.default_attach
    match info.prog_type:
        case P.CGROUP_SOCK_ADDR:
            if at in _RECV_PEER_SOCK_NAME:
                return ReturnRange(1, 1)
            if at in (A.CGROUP_INET4_BIND, A.CGROUP_INET6_BIND):
                return ReturnRange(0, 3)
            return _R01
        case P.CGROUP_SKB:
            return ReturnRange(0, 3) if at is A.CGROUP_INET_EGRESS else _R01
        case P.KPROBE:
            if at in (A.TRACE_KPROBE_SESSION, A.TRACE_UPROBE_SESSION):
                return _R01
            return None
        case P.TRACING:
            if at in (A.TRACE_FENTRY, A.TRACE_FEXIT):
                return ReturnRange(0, 0)
            if at is A.TRACE_ITER:
                return _R01
            return None
        case _:
            return info.ret_range


def return_range_message(value_min: int, value_max: int, rng: ReturnRange) -> str:
    """The verifier's refusal (verbose_invalid_scalar()) for an ``R0`` in ``[min, max]``."""
    return (
        f"At program exit the register R0 has smin={value_min} smax={value_max} "
        f"should have been in [{rng.lo}, {rng.hi}]"
    )
