"""Helper prototypes: table invariants, and the live kernel as the oracle.

Kernel facts (Linux 6.18): a non-GPL program calling a ``gpl_only`` helper gets
``cannot call GPL-restricted function from non-GPL compatible program``; a ``might_sleep``
helper in a non-sleepable program gets ``helper call might sleep in a non-sleepable prog``;
with ``R1 = 0`` a helper whose first argument must be a pointer reports
``R1 type=scalar expected=...``.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from platform_live import FULL, KERNEL_SKIP, needs_full, needs_kernel

from pybpf.platform.enums import ProgType
from pybpf.platform.helper_ids import HelperId
from pybpf.platform.helper_model import HelperArg, parse_kernel_type
from pybpf.platform.helper_probe import Probe, Verdict, default_config, helper_call_program
from pybpf.platform.helper_types import (
    ARG_PTR_TO_UNINIT_MEM,
    ArgType,
    RetType,
    TypeFlag,
)
from pybpf.platform.helpers import (
    HELPERS,
    PROTOS,
    changes_pkt_data,
    helper_proto,
    proto_variants,
)
from pybpf.platform.prog_helpers import known_configs
from pybpf.platform.prog_helpers_table import TABLE

ALL_HELPERS = [h for h in HelperId if h]


# --------------------------------------------------------------------------------------------
# table invariants
# --------------------------------------------------------------------------------------------

def test_every_helper_id_has_a_default_prototype() -> None:
    assert set(HELPERS) == set(ALL_HELPERS)
    assert len(HELPERS) == 211
    for h, proto in HELPERS.items():
        assert proto.id is h
        assert proto.name == "bpf_" + h.name.lower()


def test_prototypes_are_well_formed() -> None:
    for name, p in PROTOS.items():
        assert name == p.proto and name.endswith(("_proto", "_proto_tp", "_proto_pe",
                                                  "_proto_raw_tp", "_proto_kprobe",
                                                  "_proto_tracing", "_proto_kprobe_multi",
                                                  "_proto_uprobe_multi", "_proto_kmulti",
                                                  "_proto_umulti", "_proto_trace"))
        assert len(p.args) <= 5
        for arg in p.args:
            assert arg.type is not ArgType.DONTCARE
            if arg.flags & TypeFlag.MEM_FIXED_SIZE:
                assert arg.size, (name, arg)
            else:
                assert arg.size is None, (name, arg)
            if arg.type in (ArgType.PTR_TO_BTF_ID, ArgType.PTR_TO_SPIN_LOCK) and p.in_kernel:
                assert arg.btf_id, (name, arg)
            # check_mem_arg_rw_flag_ok(): every ARG_PTR_TO_MEM says read or write
            if arg.type is ArgType.PTR_TO_MEM:
                assert arg.flags & (TypeFlag.MEM_WRITE | TypeFlag.MEM_RDONLY), (name, arg)


def test_memory_arguments_are_followed_by_their_size() -> None:
    # check_arg_pair_ok(): a memory argument without a fixed size is followed by its size.
    sizes = (ArgType.CONST_SIZE, ArgType.CONST_SIZE_OR_ZERO)
    for name, p in PROTOS.items():
        for i, arg in enumerate(p.args):
            if arg.type is ArgType.PTR_TO_MEM and not arg.flags & TypeFlag.MEM_FIXED_SIZE:
                assert i + 1 < len(p.args) and p.args[i + 1].type in sizes, name
            if arg.type in sizes:
                assert i > 0, name


def test_well_known_prototypes() -> None:
    lookup = HELPERS[HelperId.MAP_LOOKUP_ELEM]
    assert str(lookup) == (
        "RET_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL bpf_map_lookup_elem"
        "(ARG_CONST_MAP_PTR, ARG_PTR_TO_MAP_KEY)"
    )
    assert lookup.pkt_access and not lookup.gpl_only and lookup.ret_nullable
    printk = HELPERS[HelperId.TRACE_PRINTK]
    assert printk.gpl_only and printk.args[0].kernel_name == "ARG_PTR_TO_MEM | MEM_RDONLY"
    comm = HELPERS[HelperId.GET_CURRENT_COMM]
    assert comm.args[0].raw == ARG_PTR_TO_UNINIT_MEM
    strtol = HELPERS[HelperId.STRTOL]
    assert strtol.args[3].size == 8
    assert strtol.args[3].flags == (TypeFlag.MEM_FIXED_SIZE | TypeFlag.MEM_UNINIT
                                    | TypeFlag.MEM_WRITE | TypeFlag.MEM_ALIGNED)
    assert HELPERS[HelperId.SPIN_LOCK].args[0].btf_id == "<dynamic>"
    assert HELPERS[HelperId.GET_CURRENT_TASK_BTF].ret_btf_id == "task_struct"
    assert HELPERS[HelperId.GET_CURRENT_TASK_BTF].ret_flags == TypeFlag.PTR_TRUSTED
    assert HELPERS[HelperId.COPY_FROM_USER].might_sleep
    assert HELPERS[HelperId.GET_SMP_PROCESSOR_ID].proto == "bpf_get_raw_smp_processor_id_proto"
    assert HELPERS[HelperId.RINGBUF_RESERVE].ret is RetType.PTR_TO_MEM
    assert HELPERS[HelperId.RINGBUF_RESERVE].ret_flags == (TypeFlag.PTR_MAYBE_NULL
                                                          | TypeFlag.MEM_RINGBUF)
    assert HELPERS[HelperId.SK_RELEASE].args[0].flags == TypeFlag.OBJ_RELEASE
    assert HELPERS[HelperId.TAIL_CALL].ret is RetType.VOID
    assert not HELPERS[HelperId.OVERRIDE_RETURN].in_kernel  # no CONFIG_BPF_KPROBE_OVERRIDE


def test_variants_per_program_type() -> None:
    assert helper_proto(HelperId.PERF_EVENT_OUTPUT, ProgType.XDP).proto == (
        "bpf_xdp_event_output_proto")
    assert helper_proto(HelperId.PERF_EVENT_OUTPUT, ProgType.SCHED_CLS).proto == (
        "bpf_skb_event_output_proto")
    assert helper_proto(HelperId.PERF_EVENT_OUTPUT, ProgType.TRACEPOINT).proto == (
        "bpf_perf_event_output_proto_tp")
    assert helper_proto(HelperId.SK_LOOKUP_TCP, ProgType.XDP).proto == (
        "bpf_xdp_sk_lookup_tcp_proto")
    assert helper_proto(HelperId.GET_SMP_PROCESSOR_ID, ProgType.XDP).proto == (
        "bpf_get_smp_processor_id_proto")  # the fastcall variant, not the base one
    assert {p.proto for p in proto_variants(HelperId.GET_SOCKET_COOKIE)} >= {
        "bpf_get_socket_cookie_proto", "bpf_get_socket_cookie_sock_ops_proto",
        "bpf_get_socket_ptr_cookie_proto",
    }
    with pytest.raises(KeyError, match="cannot use helper bpf_xdp_adjust_head#44"):
        helper_proto(HelperId.XDP_ADJUST_HEAD, ProgType.SCHED_CLS)
    with pytest.raises(ValueError):
        helper_proto(0)


def test_changes_pkt_data() -> None:
    assert changes_pkt_data(HelperId.SKB_STORE_BYTES)
    assert changes_pkt_data(HelperId.XDP_ADJUST_HEAD)
    assert changes_pkt_data(HelperId.TAIL_CALL)
    assert not changes_pkt_data(HelperId.MAP_LOOKUP_ELEM)
    for h in ALL_HELPERS:
        if changes_pkt_data(h) and h is not HelperId.TAIL_CALL:
            # the verifier insists such helpers take the context first
            assert HELPERS[h].args[0].type is ArgType.PTR_TO_CTX, h


def test_kernel_type_spelling_round_trips() -> None:
    for p in PROTOS.values():
        for arg in p.args:
            assert HelperArg.from_kernel(arg.kernel_name, arg.btf_id, arg.size) == arg
        assert parse_kernel_type(p.ret_kernel_name) == (p.ret.kernel_name, p.ret_flags)


# --------------------------------------------------------------------------------------------
# the live kernel
# --------------------------------------------------------------------------------------------

def _measured_configs():
    """(config, helper) pairs the table measured as allowed, one config per helper."""
    seen: dict[HelperId, object] = {}
    for cfg in known_configs():
        measured, entries = TABLE[(cfg.prog_type, cfg.attach_type, cfg.sleepable)]
        if not measured:
            continue
        for h in entries:
            seen.setdefault(h, cfg)
    return seen


@needs_kernel
def test_gpl_only_matches_the_kernel_for_every_reachable_helper() -> None:
    reachable = _measured_configs()
    assert len(reachable) >= 190
    mismatches = []
    for h, cfg in reachable.items():
        res = Probe(cfg, license="Dual BSD/MIT").helper(h)
        refused = "cannot call GPL-restricted function" in res.message
        proto = helper_proto(h, cfg.prog_type, attach_type=cfg.attach_type)
        if refused != proto.gpl_only:
            mismatches.append((h.name, cfg.label, proto.gpl_only, res.message))
    assert not mismatches


@needs_kernel
def test_might_sleep_matches_the_kernel() -> None:
    mismatches = []
    for h, cfg in _measured_configs().items():
        if cfg.sleepable:
            continue
        res = Probe(cfg).helper(h)
        refused = "might sleep in a non-sleepable prog" in res.message
        proto = helper_proto(h, cfg.prog_type, attach_type=cfg.attach_type)
        if refused != proto.might_sleep:
            mismatches.append((h.name, cfg.label, res.message))
    assert not mismatches


_EXPECTED = {
    ArgType.CONST_MAP_PTR: "expected=map_ptr",
    ArgType.PTR_TO_CTX: "expected=ctx",
    ArgType.PTR_TO_MEM: "expected=fp, pkt, pkt_meta, map_key, map_value, mem",
}


@needs_kernel
def test_first_argument_type_matches_the_kernel() -> None:
    """With R1 = 0 the verifier names what R1 should have been (or accepts a scalar)."""
    mismatches = []
    for h, cfg in _measured_configs().items():
        proto = helper_proto(h, cfg.prog_type, attach_type=cfg.attach_type)
        res = Probe(cfg).helper(h)
        if any(s in res.message for s in ("GPL", "sleep", "not allowed in probe")):
            continue  # refused before the arguments are looked at
        if "program of this type cannot use helper" in res.message:
            # Compiled out of this kernel build (e.g. the lwt_seg6 helpers without
            # CONFIG_IPV6_SEG6_BPF): its arguments cannot be observed here.
            continue
        complaint = res.message if res.message.startswith("R1 ") else ""
        if not proto.args:
            continue
        a = proto.args[0]
        scalar_ok = a.type in (ArgType.ANYTHING,) or a.nullable or a.type in (
            ArgType.CONST_SIZE, ArgType.CONST_SIZE_OR_ZERO, ArgType.CONST_ALLOC_SIZE_OR_ZERO)
        if scalar_ok and complaint.startswith("R1 type=scalar"):
            mismatches.append((h.name, str(a), complaint))
        if not scalar_ok and not complaint:
            mismatches.append((h.name, str(a), res.message))
        want = _EXPECTED.get(a.type)
        if want and not a.nullable and want not in complaint:
            mismatches.append((h.name, str(a), complaint))
    assert not mismatches


@needs_kernel
def test_probe_program_shape() -> None:
    prog = helper_call_program(HelperId.KTIME_GET_NS)
    assert len(prog) == 8 * 8
    assert struct.unpack_from("<BBhi", prog, 40) == (0x85, 0, 0, 5)
    assert Probe(default_config(ProgType.XDP)).helper(HelperId.KTIME_GET_NS).verdict is (
        Verdict.ALLOWED)


@needs_kernel
@needs_full
def test_every_in_kernel_prototype_matches_kernel_memory() -> None:
    """Read the running kernel's struct bpf_func_proto objects and compare every field."""
    tools = Path(__file__).resolve().parents[3] / "tools"
    sys.path.insert(0, str(tools))
    try:
        from gen_live_protos import read_live_protos
    finally:
        sys.path.remove(str(tools))
    live = read_live_protos()
    by_func: dict[str, list] = {}
    for lp in live:
        by_func.setdefault(lp.func, []).append(lp)
    missing, differ = [], []
    for name, p in PROTOS.items():
        if not p.in_kernel:
            continue
        cands = by_func.get(p.func, [])
        want = (p.gpl_only, p.pkt_access, p.might_sleep, p.allow_fastcall, p.ret_raw,
                tuple(a.raw for a in p.args))
        got = [(lp.gpl_only, lp.pkt_access, lp.might_sleep, lp.allow_fastcall, lp.ret_type,
                tuple(x for x in lp.arg_types if x)) for lp in cands]
        if not cands:
            missing.append(name)
        elif want not in got:
            differ.append((name, want, got))
    assert not missing and not differ


def test_full_mode_flag_is_documented() -> None:
    assert isinstance(FULL, bool)
    assert KERNEL_SKIP is None or isinstance(KERNEL_SKIP, str)
