"""The pybpf command line: real commands, real output, one-line errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
SUITE = ROOT / "tests" / "data" / "conformance" / "tests"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_conformance_command_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "conformance", str(SUITE))
    lines = out.strip().splitlines()
    assert code == 0
    assert len(lines) == 314  # one per test plus the summary
    assert lines[-1] == "313 passed, 0 failed"


def test_conformance_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.data"
    bad.write_text("-- asm\nmov %r0, 1\nexit\n-- result\n0x2\n")
    (tmp_path / "good.data").write_text("-- asm\nmov %r0, 2\nexit\n-- result\n0x2\n")
    code, out, _ = run(capsys, "conformance", str(tmp_path), "--json")
    report = json.loads(out)
    assert code == 1
    assert (report["passed"], report["failed"]) == (1, 1)
    assert report["cases"][0]["detail"] == "r0=0x1, expected 0x2"


def test_asm_then_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "p.s"
    src.write_text("r0 = *(u8 *)(r1 + 1)\nr0 += r2\nexit\n")
    binary = tmp_path / "p.bin"
    assert run(capsys, "asm", str(src), "-o", str(binary))[0] == 0
    assert len(binary.read_bytes()) == 24
    code, out, _ = run(capsys, "run", str(binary), "--mem-hex", "00 05 00", "--json")
    assert code == 0
    assert json.loads(out)["retval"] == 5 + 3


def test_disasm_kernel_style(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "p.s"
    src.write_text("mov %r0, 2\nexit\n")
    code, out, _ = run(capsys, "disasm", str(src), "--syntax", "kernel")
    assert code == 0
    assert out.splitlines() == ["0: (b7) r0 = 2", "1: (95) exit"]


def test_bad_assembly_is_one_line_with_line_and_column(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "bad.s"
    src.write_text("mov %r0, 1\nmvo %r0, 2\nexit\n")
    code, out, err = run(capsys, "asm", str(src))
    assert code == 1
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "line 2" in err


def test_fault_is_one_line_with_pc(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src = tmp_path / "oob.s"
    src.write_text("ldxdw %r0, [%r1+8]\nexit\n")
    code, _, err = run(capsys, "run", str(src), "--mem-hex", "00 01 02 03")
    assert code == 1
    assert err.startswith("error: pc 0") and "outside mem region" in err


def test_missing_file_and_truncated_bytecode(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "run", str(tmp_path / "nope.bin"))
    assert code == 1 and "cannot read" in err
    trunc = tmp_path / "t.bin"
    trunc.write_bytes(b"\xb7\x00\x00\x00\x00\x00\x00\x00\x95\x00")
    code, _, err = run(capsys, "disasm", str(trunc), "--input-format", "raw")
    assert code == 1 and "not a multiple of 8" in err and "Traceback" not in err


def test_console_script_help() -> None:
    exe = Path(sys.executable).with_name("pybpf")
    if not exe.exists():
        pytest.skip("pybpf console script not installed in this environment (run via make test)")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("asm", "disasm", "run", "conformance"):
        assert command in out
