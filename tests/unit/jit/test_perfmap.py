"""The perf symbol map (pybpf.jit.perfmap): with PYBPF_PERF_MAP=1 every linked object's
functions are named in /tmp/perf-<pid>.map, at the addresses the JIT runs them from."""

from __future__ import annotations

from typing import Any

import pytest

from pybpf.asm import assemble
from pybpf.jit import JIT, perfmap
from pybpf.jit.abi import function_symbol
from pybpf.program.spec import ProgramSpec

TEXT = """
    r1 = 3
    call f
    exit
f:
    r0 = r1
    r0 += 1
    exit
"""


def _entries() -> dict[str, tuple[int, int]]:
    path = perfmap.map_path()
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        start, size, name = line.split(" ", 2)
        out[name] = (int(start, 16), int(size, 16))
    return out


def test_programs_are_named_at_their_addresses(monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setenv(perfmap.ENV, "1")
    prog = JIT(cache_dir=tmp_path, checked=True).load(
        ProgramSpec("perf_probe", tuple(assemble(TEXT, syntax="llvm"))))
    assert prog.run_mem(b"").retval == 4
    entries = _entries()
    for start in (0, 3):
        name = f"bpf:perf_probe:{function_symbol(start).removeprefix('bpf_')}"
        assert name in entries, sorted(entries)[:10]
        addr, size = entries[name]
        assert addr == prog.code.address(function_symbol(start))
        assert size > 0


def test_off_by_default(monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.delenv(perfmap.ENV, raising=False)
    assert not perfmap.enabled()
    before = _entries()
    JIT(cache_dir=tmp_path, checked=True).load(
        ProgramSpec("perf_silent", tuple(assemble("r0 = 1\nexit\n", syntax="llvm"))))
    assert not any("perf_silent" in name for name in set(_entries()) - set(before))


def test_symbols_of_a_malformed_object_are_none() -> None:
    assert list(perfmap.symbols(b"not an ELF object")) == []


def test_an_unwritable_map_warns_and_the_program_runs(monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setenv(perfmap.ENV, "1")
    monkeypatch.setattr(perfmap, "map_path", lambda pid=None: tmp_path / "missing" / "p.map")
    with pytest.warns(RuntimeWarning, match="cannot write the perf map"):
        prog = JIT(cache_dir=tmp_path, checked=True).load(
            ProgramSpec("perf_nowhere", tuple(assemble(TEXT, syntax="llvm"))))
    assert prog.run_mem(b"").retval == 4
