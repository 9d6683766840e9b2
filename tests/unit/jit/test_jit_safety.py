"""Verified by default: programs with a kernel program type are verified and compiled
without bounds checks, a rejected one is a VerifierError unless checked=True (then it runs
bounds-checked and faults as in the interpreter); raw programs always run checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pybpf.elf import load_collection
from pybpf.errors import ExecutionFault, VerifierError
from pybpf.interp import Interpreter
from pybpf.isa import Instruction as I
from pybpf.platform.enums import ProgType
from pybpf.program.spec import ProgramSpec
from pybpf.runtime.collection import Collection
from pybpf.runtime.helpers import default_helpers

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
# r0 = *(u8 *)(r1 + 100): past the end of xdp_md, which the verifier refuses
OUT_OF_CTX = ProgramSpec("bad", (I(0x71, 0, 1, off=100), I(0x95)), prog_type=ProgType.XDP)
FRAME = bytes(64)


@pytest.mark.parametrize("checked", [None, False])
def test_a_rejected_program_is_a_verifier_error(jit: Callable, checked: bool | None) -> None:
    with pytest.raises(VerifierError, match=r"program 'bad' rejected by the verifier: "
                       r"invalid bpf_context access .*checked=True") as info:
        jit(checked=checked).load(OUT_OF_CTX)
    assert info.value.pc == 0 and "invalid bpf_context access" in info.value.log
    with pytest.raises(VerifierError):  # the cached verdict says the same
        jit(checked=checked).load(OUT_OF_CTX)


def test_checked_mode_runs_it_and_faults_like_the_interpreter(jit: Callable) -> None:
    native = jit(checked=True).load(OUT_OF_CTX)
    assert native.checked
    with pytest.raises(ExecutionFault) as expected:
        Interpreter().load(OUT_OF_CTX).test_run(data=FRAME)
    with pytest.raises(ExecutionFault) as got:
        native.test_run(data=FRAME)
    assert str(got.value) == str(expected.value) and "outside ctx region" in str(got.value)


def test_raw_programs_are_not_verified_and_run_checked(jit: Callable) -> None:
    prog = jit().load([I(0xB7, 0, imm=0), I(0x61, 0, 1, off=6), I(0x95)])
    assert prog.checked
    with pytest.raises(ExecutionFault, match="offset 6 is outside mem region"):
        prog.run_mem(bytes(8))


def test_an_accepted_program_runs_without_bounds_checks(jit: Callable) -> None:
    prog = jit().load(ProgramSpec("ok", (I(0xB7, 0, imm=2), I(0x95)), prog_type=ProgType.XDP))
    assert not prog.checked and prog.test_run(data=FRAME).retval == 2


@pytest.mark.parametrize("path", ["xdp_firewall/xdp_firewall.o", "l2_switch/l2_switch.o",
                                  "rate_limiter/token_bucket.o", "socket_filter/dns_filter.o",
                                  "sock_ops/tcp_tuning.o", "tracing/exec_trace.o"])
def test_every_example_is_verified_with_its_maps(jit: Callable, path: str,
                                                 tmp_path: Path) -> None:
    obj = Collection(load_collection(EXAMPLES / path),
                     jit(helpers=default_helpers(), cache_dir=tmp_path))
    assert all(not prog.checked for prog in obj.programs.values())


def test_map_addresses_in_lddw_verify_as_map_references(jit: Callable) -> None:
    from pybpf.asm import assemble
    from pybpf.platform.enums import MapType
    from pybpf.program.spec import MapSpec
    from pybpf.runtime.maps import create_map

    backend = jit(helpers=default_helpers())
    m = create_map(MapSpec("counts", MapType.ARRAY, 4, 8, 2), backend.memory, ncpus=2)
    text = f"""
        *(u32 *)(r10 - 4) = 1
        r2 = r10
        r2 += -4
        r1 = {m.address} ll
        call 1
        if r0 == 0 goto +2
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
        r0 = 2
        exit
    """
    spec = ProgramSpec("count", tuple(assemble(text, syntax="llvm")), prog_type=ProgType.XDP)
    prog = backend.load(spec)
    assert not prog.checked and prog.test_run(data=FRAME).retval == 2
    assert m[1] == (1).to_bytes(8, "little")
