"""The section-name table: libbpf's section_defs[] matching rules."""

from __future__ import annotations

import pytest

from pybpf.elf import SECTION_DEFS, AttachType, SecFlag, find_section_def, match
from pybpf.platform.enums import ProgType

CASES = [
    # name, prog type, expected attach type, attach target
    ("socket", ProgType.SOCKET_FILTER, None, ""),
    ("socket1", ProgType.SOCKET_FILTER, None, ""),  # libbpf 0.x prefix rule
    ("xdp", ProgType.XDP, AttachType.XDP, ""),
    ("xdp.frags", ProgType.XDP, AttachType.XDP, ""),
    ("xdp/devmap", ProgType.XDP, AttachType.XDP_DEVMAP, ""),
    ("xdp.frags/cpumap", ProgType.XDP, AttachType.XDP_CPUMAP, ""),
    ("tc", ProgType.SCHED_CLS, None, ""),
    ("tc/ingress", ProgType.SCHED_CLS, AttachType.TCX_INGRESS, ""),
    ("tc/egress", ProgType.SCHED_CLS, AttachType.TCX_EGRESS, ""),
    ("tcx/ingress", ProgType.SCHED_CLS, AttachType.TCX_INGRESS, ""),
    ("classifier", ProgType.SCHED_CLS, None, ""),
    ("action", ProgType.SCHED_ACT, None, ""),
    ("netkit/peer", ProgType.SCHED_CLS, AttachType.NETKIT_PEER, ""),
    ("sockops", ProgType.SOCK_OPS, AttachType.CGROUP_SOCK_OPS, ""),
    ("sk_skb/stream_parser", ProgType.SK_SKB, AttachType.SK_SKB_STREAM_PARSER, ""),
    ("sk_skb/stream_verdict", ProgType.SK_SKB, AttachType.SK_SKB_STREAM_VERDICT, ""),
    ("sk_skb", ProgType.SK_SKB, None, ""),
    ("sk_msg", ProgType.SK_MSG, AttachType.SK_MSG_VERDICT, ""),
    ("sk_reuseport/migrate", ProgType.SK_REUSEPORT, AttachType.SK_REUSEPORT_SELECT_OR_MIGRATE, ""),
    ("cgroup_skb/ingress", ProgType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS, ""),
    ("cgroup_skb/egress", ProgType.CGROUP_SKB, AttachType.CGROUP_INET_EGRESS, ""),
    ("cgroup/skb", ProgType.CGROUP_SKB, None, ""),
    ("cgroup/sock", ProgType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_CREATE, ""),
    ("cgroup/sock_release", ProgType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_RELEASE, ""),
    ("cgroup/connect4", ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_CONNECT, ""),
    ("cgroup/connect_unix", ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_UNIX_CONNECT, ""),
    ("cgroup/sysctl", ProgType.CGROUP_SYSCTL, AttachType.CGROUP_SYSCTL, ""),
    ("cgroup/getsockopt", ProgType.CGROUP_SOCKOPT, AttachType.CGROUP_GETSOCKOPT, ""),
    ("cgroup/dev", ProgType.CGROUP_DEVICE, AttachType.CGROUP_DEVICE, ""),
    ("kprobe/do_sys_open", ProgType.KPROBE, None, "do_sys_open"),
    ("kprobe", ProgType.KPROBE, None, ""),
    ("kretprobe/do_sys_open+4", ProgType.KPROBE, None, "do_sys_open+4"),
    ("uprobe//bin/true:main", ProgType.KPROBE, None, "/bin/true:main"),
    ("uprobe.s//bin/true:main", ProgType.KPROBE, None, "/bin/true:main"),
    ("kprobe.multi/tcp_*", ProgType.KPROBE, AttachType.TRACE_KPROBE_MULTI, "tcp_*"),
    ("kprobe.session/x", ProgType.KPROBE, AttachType.TRACE_KPROBE_SESSION, "x"),
    ("uprobe.session", ProgType.KPROBE, AttachType.TRACE_UPROBE_SESSION, ""),
    ("ksyscall/openat", ProgType.KPROBE, None, "openat"),
    ("usdt/lib.so:prov:name", ProgType.KPROBE, None, "lib.so:prov:name"),
    ("tracepoint/syscalls/sys_enter_write", ProgType.TRACEPOINT, None, "syscalls/sys_enter_write"),
    ("tp/sched/sched_switch", ProgType.TRACEPOINT, None, "sched/sched_switch"),
    ("raw_tracepoint/sched_switch", ProgType.RAW_TRACEPOINT, None, "sched_switch"),
    ("raw_tp/sched_switch", ProgType.RAW_TRACEPOINT, None, "sched_switch"),
    ("raw_tp.w/x", ProgType.RAW_TRACEPOINT_WRITABLE, None, "x"),
    ("tp_btf/sched_switch", ProgType.TRACING, AttachType.TRACE_RAW_TP, "sched_switch"),
    ("fentry/tcp_connect", ProgType.TRACING, AttachType.TRACE_FENTRY, "tcp_connect"),
    ("fexit/tcp_connect", ProgType.TRACING, AttachType.TRACE_FEXIT, "tcp_connect"),
    ("fmod_ret/x", ProgType.TRACING, AttachType.MODIFY_RETURN, "x"),
    ("freplace/x", ProgType.EXT, None, "x"),
    ("lsm/file_open", ProgType.LSM, AttachType.LSM_MAC, "file_open"),
    ("lsm_cgroup/socket_bind", ProgType.LSM, AttachType.LSM_CGROUP, "socket_bind"),
    ("iter/task", ProgType.TRACING, AttachType.TRACE_ITER, "task"),
    ("perf_event", ProgType.PERF_EVENT, None, ""),
    ("syscall", ProgType.SYSCALL, None, ""),
    ("flow_dissector", ProgType.FLOW_DISSECTOR, AttachType.FLOW_DISSECTOR, ""),
    ("lwt_in", ProgType.LWT_IN, None, ""),
    ("lwt_xmit", ProgType.LWT_XMIT, None, ""),
    ("lwt_seg6local", ProgType.LWT_SEG6LOCAL, None, ""),
    ("lirc_mode2", ProgType.LIRC_MODE2, AttachType.LIRC_MODE2, ""),
    ("sk_lookup", ProgType.SK_LOOKUP, AttachType.SK_LOOKUP, ""),
    ("netfilter", ProgType.NETFILTER, AttachType.NETFILTER, ""),
    ("struct_ops/dctcp_init", ProgType.STRUCT_OPS, None, "dctcp_init"),
    ("struct_ops.s", ProgType.STRUCT_OPS, None, ""),
    ("?xdp", ProgType.XDP, AttachType.XDP, ""),
]


@pytest.mark.parametrize(("name", "prog_type", "attach_type", "target"), CASES)
def test_section_names(
    name: str, prog_type: ProgType, attach_type: AttachType | None, target: str
) -> None:
    found = match(name)
    assert found is not None
    assert found.prog_type == prog_type
    assert found.attach_type == attach_type
    assert found.attach_to == target


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".text",
        "license",
        "frobnicate",
        "kprobes/x",
        "tpx/y",
        "fentryfoo",
        "maps",
        ".maps",
        "lsmx",
    ],
)
def test_unknown_sections(name: str) -> None:
    assert match(name) is None
    assert find_section_def(name) is None


def test_plus_needs_a_slash() -> None:
    # "type+" means exactly "type" or "type/...": "kprobex" is not a kprobe.
    assert match("kprobex/foo") is None
    assert match("kprobe.multi/x").attach_type == AttachType.TRACE_KPROBE_MULTI  # type: ignore[union-attr]


def test_sloppy_prefix_is_marked() -> None:
    assert match("socket1").sloppy  # type: ignore[union-attr]
    assert match("classifier_main").definition.sec == "classifier"  # type: ignore[union-attr]
    assert not match("socket").sloppy  # type: ignore[union-attr]


def test_flags() -> None:
    assert match("xdp.frags").flags & SecFlag.XDP_FRAGS  # type: ignore[union-attr]
    assert match("fentry.s/x").flags & SecFlag.SLEEPABLE  # type: ignore[union-attr]
    assert match("syscall").flags & SecFlag.SLEEPABLE  # type: ignore[union-attr]
    assert match("usdt/a:b:c").flags & SecFlag.USDT  # type: ignore[union-attr]


def test_table_is_libbpf_ordered_and_unique() -> None:
    secs = [d.sec for d in SECTION_DEFS]
    assert len(secs) == len(set(secs))
    assert secs[0] == "socket" and secs[-1] == "netfilter"
    # specific entries come before the catch-alls they would otherwise lose to
    assert secs.index("tc/ingress") < secs.index("tc")
    assert secs.index("xdp.frags/devmap") < secs.index("xdp")
    assert secs.index("sk_reuseport/migrate") < secs.index("sk_reuseport")
