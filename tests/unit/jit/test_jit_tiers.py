"""Compile tiers: large programs load on the light tier (compact code, fast instruction
selection) and switch to O3 code compiled — and verified — in the background; the results
never depend on the tier, and a cached reload starts on O3."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from pybpf.conformance import run_case
from pybpf.conformance.datafile import load_case
from pybpf.conformance.runner import conformance_helpers
from pybpf.elf import load_collection
from pybpf.interp import Interpreter
from pybpf.isa import Instruction as I
from pybpf.jit import JIT
from pybpf.platform.enums import ProgType
from pybpf.program.spec import ProgramSpec
from pybpf.runtime.collection import Collection
from pybpf.runtime.execstate import DEFAULT_BUDGET
from pybpf.runtime.helpers import default_helpers

SUITE = Path(__file__).resolve().parents[2] / "data" / "conformance" / "tests"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
LONG_SUM = [I(0xB7, 0, imm=0)] + [I(0x07, 0, imm=i) for i in range(600)] + [I(0x95)]


def test_the_conformance_suite_on_the_light_tier(tmp_path: Path) -> None:
    jit = JIT(helpers=conformance_helpers(), budget=1_000_000, cache_dir=tmp_path,
              light_above=0, upgrade=False)
    failed = []
    for path in sorted(SUITE.glob("*.data")):
        outcome = run_case(load_case(path), jit.load)
        if not outcome.passed:
            failed.append((path.stem, outcome.detail))
    assert not failed


def test_large_programs_start_light_and_switch_to_o3(tmp_path: Path) -> None:
    prog = JIT(cache_dir=tmp_path).load(LONG_SUM)
    assert prog.tier == "light"
    first = prog.run()
    assert prog.upgrade(wait=True) and prog.tier == "O3"
    second = prog.run()
    assert (second.retval, second.instructions) == (first.retval, first.instructions)
    assert first.retval == sum(range(600))
    again = JIT(cache_dir=tmp_path).load(LONG_SUM)  # a reload starts on O3
    assert again.tier == "O3" and again.cached and again.run().retval == first.retval


def test_small_programs_and_light_above_none_compile_o3_at_once(tmp_path: Path) -> None:
    assert JIT(cache_dir=tmp_path).load(LONG_SUM[-10:]).tier == "O3"
    assert JIT(cache_dir=tmp_path, light_above=None).load(LONG_SUM).tier == "O3"


def test_a_verified_large_program_runs_unchecked_on_both_tiers(tmp_path: Path) -> None:
    spec = ProgramSpec("x", tuple(LONG_SUM[:-1] + [I(0xB7, 0, imm=2), I(0x95)]),
                       prog_type=ProgType.XDP)
    prog = JIT(cache_dir=tmp_path).load(spec)
    assert prog.tier == "light" and not prog.checked  # verified at load
    assert prog.test_run(data=bytes(64)).retval == 2
    assert prog.upgrade(wait=True) and not prog.checked
    assert prog.test_run(data=bytes(64)).retval == 2
    again = JIT(cache_dir=tmp_path).load(spec)
    assert again.tier == "O3" and not again.checked


def test_verification_in_the_background_when_refusal_is_off(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from pybpf.jit import machine

    monkeypatch.setattr(machine, "REFUSE_BY_DEFAULT", False)
    spec = ProgramSpec("x", tuple(LONG_SUM[:-1] + [I(0xB7, 0, imm=2), I(0x95)]),
                       prog_type=ProgType.XDP)
    prog = JIT(cache_dir=tmp_path).load(spec)
    assert prog.tier == "light" and prog.checked  # no verdict yet: checked light code
    assert prog.upgrade(wait=True) and not prog.checked  # accepted: O3 without checks
    bad = ProgramSpec("bad", tuple(LONG_SUM[:-1] + [I(0x71, 0, 1, off=100), I(0x95)]),
                      prog_type=ProgType.XDP)
    rejected = JIT(cache_dir=tmp_path).load(bad)
    assert rejected.upgrade(wait=True) and rejected.checked and rejected.tier == "O3"


@pytest.mark.parametrize("upgrade", [False, True])
def test_the_firewall_on_both_tiers_matches_the_interpreter(tmp_path: Path,
                                                            upgrade: bool) -> None:
    frames = [bytes(64), bytes.fromhex("02" * 12 + "0800" + "45" + "00" * 40)]
    outcomes = []
    backends: list[Callable[[], object]] = [
        lambda: Interpreter(helpers=default_helpers()),
        lambda: JIT(helpers=default_helpers(), cache_dir=tmp_path, light_above=0,
                    upgrade=upgrade, budget=DEFAULT_BUDGET)]
    for make in backends:
        obj = Collection(load_collection(EXAMPLES / "xdp_firewall" / "xdp_firewall.o"), make())
        obj.maps["blocked_ports"][struct.pack("<H", 23)] = b"\x01"
        prog = obj.program("xdp_firewall")
        if upgrade and hasattr(prog, "upgrade"):
            prog.upgrade(wait=True)
        results = [prog.test_run(data=f) for f in frames * 3]
        outcomes.append(([(r.retval, r.data_out, r.instructions) for r in results],
                         sorted(obj.maps["per_source"].items())))
    assert outcomes[1] == outcomes[0]
