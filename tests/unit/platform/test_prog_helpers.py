"""Which helpers each program type may call: the committed table against the live kernel.

The table was measured on Linux 6.18 (tools/gen_prog_helpers.py). By default a sample of
(program type, helper) pairs is re-checked; ``PYBPF_PLATFORM_FULL=1`` re-checks every measured
configuration × every helper id (~9,000 loads, a couple of seconds).
"""

from __future__ import annotations

import pytest
from platform_live import needs_full, needs_kernel

from pybpf.platform.attach import AttachType
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_ids import HelperId
from pybpf.platform.helper_probe import (
    LoadConfig,
    Probe,
    Verdict,
    classify_helper_log,
    default_config,
)
from pybpf.platform.prog_helpers import (
    ALL_CAPABILITIES,
    Capability,
    HelperAccess,
    allowed_helpers,
    helper_access,
    is_measured,
    known_configs,
    unprivileged_helpers,
)

H = HelperId
P = ProgType

# Helpers typical networking and tracing programs use (the brief's list).
TYPICAL = [
    H.MAP_LOOKUP_ELEM, H.MAP_UPDATE_ELEM, H.MAP_DELETE_ELEM, H.TAIL_CALL, H.KTIME_GET_NS,
    H.KTIME_GET_BOOT_NS, H.GET_PRANDOM_U32, H.GET_SMP_PROCESSOR_ID, H.TRACE_PRINTK,
    H.PERF_EVENT_OUTPUT, H.RINGBUF_OUTPUT, H.RINGBUF_RESERVE, H.RINGBUF_SUBMIT,
    H.RINGBUF_DISCARD, H.GET_CURRENT_PID_TGID, H.GET_CURRENT_UID_GID, H.GET_CURRENT_COMM,
    H.GET_CURRENT_TASK, H.PROBE_READ, H.PROBE_READ_KERNEL, H.PROBE_READ_USER,
    H.PROBE_READ_KERNEL_STR, H.REDIRECT, H.REDIRECT_MAP, H.XDP_ADJUST_HEAD,
    H.XDP_ADJUST_TAIL, H.XDP_ADJUST_META, H.SKB_LOAD_BYTES, H.SKB_STORE_BYTES,
    H.SKB_LOAD_BYTES_RELATIVE, H.L3_CSUM_REPLACE, H.L4_CSUM_REPLACE, H.CSUM_DIFF,
    H.SKB_ADJUST_ROOM, H.SKB_CHANGE_HEAD, H.SKB_CHANGE_TAIL, H.SKB_CHANGE_PROTO,
    H.SKB_CHANGE_TYPE, H.SKB_VLAN_PUSH, H.SKB_VLAN_POP, H.GET_HASH_RECALC, H.SET_HASH,
    H.GET_SOCKET_COOKIE, H.SETSOCKOPT, H.GETSOCKOPT, H.SOCK_OPS_CB_FLAGS_SET,
    H.PERF_EVENT_READ, H.PERF_EVENT_READ_VALUE, H.SPIN_LOCK, H.SPIN_UNLOCK, H.LOOP,
    H.STRNCMP, H.SNPRINTF, H.GET_FUNC_IP, H.GET_FUNC_RET, H.GET_FUNC_ARG, H.SK_LOOKUP_TCP,
    H.SK_LOOKUP_UDP, H.SK_RELEASE, H.SKC_LOOKUP_TCP, H.FIB_LOOKUP, H.MAP_PUSH_ELEM,
    H.MAP_POP_ELEM, H.MAP_PEEK_ELEM, H.FOR_EACH_MAP_ELEM, H.TIMER_INIT, H.TIMER_START,
    H.KPTR_XCHG, H.DYNPTR_FROM_MEM, H.DYNPTR_READ,
]


def _table_configs() -> list[LoadConfig]:
    return [c for c in known_configs() if is_measured(c.prog_type, c.attach_type)]


def _check(configs: list[LoadConfig], helpers) -> list[tuple[str, str, bool, Verdict]]:
    mismatches: list[tuple[str, str, bool, Verdict]] = []
    for cfg in configs:
        probe = Probe(cfg)
        allowed = allowed_helpers(cfg.prog_type, attach_type=cfg.attach_type)
        for h in helpers:
            verdict = probe.helper(h).verdict
            assert verdict in (Verdict.ALLOWED, Verdict.DENIED), (cfg.label, h, verdict)
            if (verdict is Verdict.ALLOWED) != (h in allowed):
                mismatches.append((cfg.label, h.name, h in allowed, verdict))
    return mismatches


# --------------------------------------------------------------------------------------------
# table facts
# --------------------------------------------------------------------------------------------

def test_well_known_memberships() -> None:
    xdp = allowed_helpers(P.XDP)
    assert {H.XDP_ADJUST_HEAD, H.REDIRECT_MAP, H.FIB_LOOKUP, H.MAP_LOOKUP_ELEM} <= xdp
    assert H.SKB_STORE_BYTES not in xdp
    tc = allowed_helpers(P.SCHED_CLS)
    assert {H.SKB_STORE_BYTES, H.L4_CSUM_REPLACE, H.REDIRECT, H.SKB_ADJUST_ROOM} <= tc
    assert H.XDP_ADJUST_HEAD not in tc
    assert H.SOCK_OPS_CB_FLAGS_SET in allowed_helpers(P.SOCK_OPS)
    assert H.GET_STACKID in allowed_helpers(P.TRACEPOINT)
    assert H.SYS_BPF in allowed_helpers(P.SYSCALL)
    assert H.SKB_LOAD_BYTES in allowed_helpers(P.SOCKET_FILTER)
    assert H.SKB_STORE_BYTES not in allowed_helpers(P.SOCKET_FILTER)


def test_attach_type_dependent_helpers() -> None:
    assert H.BIND in allowed_helpers(P.CGROUP_SOCK_ADDR, attach_type=AttachType.CGROUP_INET4_CONNECT)
    assert H.BIND not in allowed_helpers(P.CGROUP_SOCK_ADDR,
                                         attach_type=AttachType.CGROUP_INET4_BIND)
    setsock = allowed_helpers(P.CGROUP_SOCKOPT, attach_type=AttachType.CGROUP_SETSOCKOPT)
    getsock = allowed_helpers(P.CGROUP_SOCKOPT, attach_type=AttachType.CGROUP_GETSOCKOPT)
    assert H.SETSOCKOPT in setsock and H.SETSOCKOPT not in getsock
    # get_retval is withheld from cgroup skb (ingress and egress) programs
    assert H.GET_RETVAL not in allowed_helpers(P.CGROUP_SKB)
    assert H.GET_RETVAL in allowed_helpers(P.CGROUP_DEVICE, attach_type=AttachType.CGROUP_DEVICE)
    # an unknown attach type falls back to the default configuration
    assert allowed_helpers(P.XDP, attach_type=AttachType.XDP_DEVMAP) == allowed_helpers(P.XDP)


def _access(prog_type: P, helper: H) -> HelperAccess:
    access = helper_access(prog_type, helper)
    assert access is not None, (prog_type, helper)
    return access


def test_capabilities() -> None:
    printk = helper_access(P.SCHED_CLS, H.TRACE_PRINTK)
    assert printk is not None
    assert printk.requires == {Capability.BPF, Capability.PERFMON}
    lock = helper_access(P.SOCKET_FILTER, H.SPIN_LOCK)
    assert lock is not None and lock.requires == {Capability.BPF}
    assert _access(P.XDP, H.MAP_LOOKUP_ELEM).requires == frozenset()
    assert _access(P.SCHED_CLS, H.SKC_TO_TCP_SOCK).requires == {Capability.PERFMON}
    assert _access(P.SYSCALL, H.SYS_BPF).requires == {Capability.PERFMON}
    none: frozenset[Capability] = frozenset()
    assert H.SPIN_LOCK not in allowed_helpers(P.SOCKET_FILTER, capabilities=none)
    assert H.SPIN_LOCK in allowed_helpers(P.SOCKET_FILTER, capabilities=frozenset({Capability.BPF}))
    assert allowed_helpers(P.XDP, capabilities=frozenset({Capability.SYS_ADMIN})) == (
        allowed_helpers(P.XDP, capabilities=ALL_CAPABILITIES))


def test_unprivileged_sets_were_measured_and_agree_with_the_capability_checks() -> None:
    for pt in (P.SOCKET_FILTER, P.CGROUP_SKB):
        measured = unprivileged_helpers(pt)
        assert measured is not None and H.MAP_LOOKUP_ELEM in measured
        assert measured == allowed_helpers(pt, capabilities=frozenset())
        assert H.TRACE_PRINTK not in measured


def test_source_only_configurations() -> None:
    assert not is_measured(P.TRACING)
    assert not is_measured(P.LIRC_MODE2)
    assert H.RC_KEYDOWN in allowed_helpers(P.LIRC_MODE2)
    assert H.SEQ_PRINTF in allowed_helpers(P.TRACING, attach_type=AttachType.TRACE_ITER)
    assert H.SEQ_PRINTF not in allowed_helpers(P.TRACING, attach_type=AttachType.TRACE_FENTRY)
    assert H.SKB_OUTPUT in allowed_helpers(P.TRACING)


def test_every_modelled_program_type_has_a_table() -> None:
    for pt in P:
        if pt in (P.UNSPEC, P.STRUCT_OPS, P.EXT, P.LSM):
            continue
        assert allowed_helpers(pt), pt


def test_log_classification() -> None:
    assert classify_helper_log(
        "5: (85) call bpf_skb_store_bytes#9\n"
        "program of this type cannot use helper bpf_skb_store_bytes#9\n"
        "processed 6 insns"
    )[0] is Verdict.DENIED
    assert classify_helper_log("unknown func bpf_foo#77\n")[0] is Verdict.DENIED
    assert classify_helper_log("invalid func unknown#250\n")[0] is Verdict.INVALID
    v, line = classify_helper_log("5: (85) call bpf_map_lookup_elem#1\n"
                                  "R1 type=scalar expected=map_ptr\nprocessed 6 insns")
    assert v is Verdict.ALLOWED and line == "R1 type=scalar expected=map_ptr"


# --------------------------------------------------------------------------------------------
# the live kernel
# --------------------------------------------------------------------------------------------

@needs_kernel
def test_sample_against_the_kernel() -> None:
    configs = [default_config(pt) for pt in (
        P.SOCKET_FILTER, P.SCHED_CLS, P.XDP, P.SOCK_OPS, P.CGROUP_SKB, P.KPROBE, P.TRACEPOINT,
        P.RAW_TRACEPOINT, P.PERF_EVENT, P.SYSCALL, P.CGROUP_SOCK, P.CGROUP_SOCK_ADDR,
        P.SK_SKB, P.SK_MSG, P.FLOW_DISSECTOR, P.LWT_XMIT,
    )]
    sample = sorted(set(TYPICAL) | {h for h in H if h and h % 9 == 0})
    assert not _check(configs, sample)


@needs_kernel
def test_unknown_ids_are_invalid() -> None:
    res = Probe(default_config(P.XDP)).helper(max(H) + 1)
    assert res.verdict is Verdict.INVALID


@needs_kernel
@needs_full
def test_whole_table_against_the_kernel() -> None:
    assert not _check(_table_configs(), [h for h in H if h])


@pytest.mark.parametrize("pt", [P.TRACING, P.LSM, P.EXT, P.STRUCT_OPS])
@needs_kernel
def test_attach_target_types_are_not_loadable_here(pt: ProgType) -> None:
    assert Probe(LoadConfig(pt)).loadable().verdict is Verdict.UNLOADABLE
