"""The bpf_conformance suite (tests/data/conformance, 313 cases) on the JIT, through the same
runner as the interpreter (``pybpf conformance --backend jit``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.conformance import run_case
from pybpf.conformance.datafile import load_case
from pybpf.conformance.runner import backend_loader

SUITE = Path(__file__).resolve().parents[2] / "data" / "conformance" / "tests"
CASES = sorted(SUITE.glob("*.data"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jit-cache")


def test_suite_is_complete() -> None:
    assert len(CASES) == 313


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_on_jit(path: Path, cache_dir: Path) -> None:
    outcome = run_case(load_case(path), backend_loader("jit", cache_dir=cache_dir))
    assert outcome.passed, outcome.detail


def test_cli_runs_the_suite_on_the_jit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from click.testing import CliRunner

    from pybpf.cli.cmd_conformance import conformance_cmd

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    suite = tmp_path / "suite"
    suite.mkdir()
    for path in CASES[:5]:
        shutil.copy(path, suite)
    result = CliRunner().invoke(conformance_cmd, [str(suite), "--backend", "jit", "-q"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "5 passed, 0 failed"
    assert list((tmp_path / "xdg" / "pybpf" / "jit").glob("*.o"))
