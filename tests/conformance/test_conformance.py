"""The bpf_conformance suite (vendored in tests/data/conformance, MIT) on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.conformance import conformance_helpers, run_case
from pybpf.conformance.datafile import load_case
from pybpf.interp import Interpreter

SUITE = Path(__file__).parent.parent / "data" / "conformance" / "tests"
CASES = sorted(SUITE.glob("*.data"))


def test_suite_is_complete() -> None:
    assert len(CASES) == 313


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_on_interpreter(path: Path) -> None:
    interp = Interpreter(helpers=conformance_helpers(), budget=10_000_000)
    outcome = run_case(load_case(path), interp.load)
    assert outcome.passed, outcome.detail
