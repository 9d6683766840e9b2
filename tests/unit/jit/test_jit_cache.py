"""The on-disk compile cache: a reload skips LLVM entirely; anything that changes the code
changes the key; a broken cache is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf.verifier
from pybpf.isa import Instruction as I
from pybpf.jit import JIT
from pybpf.jit import tiering as jit_tiering
from pybpf.platform.enums import ProgType
from pybpf.program.spec import ProgramSpec

PROG = [I(0xB7, 0, imm=20), I(0x07, 0, imm=22), I(0x95)]


def test_a_cached_reload_skips_code_generation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = JIT(cache_dir=tmp_path).load(PROG)
    assert not first.cached and first.run().retval == 42
    assert len(list(tmp_path.glob("*.o"))) == 1

    def no_llvm(*args: object, **kw: object) -> bytes:
        raise AssertionError("compiled although cached")

    monkeypatch.setattr(jit_tiering, "compile_module", no_llvm)
    monkeypatch.setattr(jit_tiering, "translate", no_llvm)
    again = JIT(cache_dir=tmp_path).load(PROG)
    assert again.cached and again.run().retval == 42


@pytest.mark.parametrize("options", [{"budget": None}, {"helpers": {1: lambda *a: 0}}])
def test_options_that_change_the_code_change_the_key(tmp_path: Path, options: dict) -> None:
    JIT(cache_dir=tmp_path).load(PROG)
    other = JIT(cache_dir=tmp_path, **options).load(PROG)
    assert not other.cached
    assert len(list(tmp_path.glob("*.o"))) == 2


def test_verified_and_bounds_checked_code_are_different_entries(tmp_path: Path) -> None:
    xdp = ProgramSpec("x", tuple(PROG), prog_type=ProgType.XDP)
    assert not JIT(cache_dir=tmp_path).load(xdp).cached  # verified: no bounds checks
    assert not JIT(cache_dir=tmp_path, checked=True).load(xdp).cached
    assert JIT(cache_dir=tmp_path).load(xdp).cached
    assert len(list(tmp_path.glob("*.o"))) == 2


def test_a_cached_verified_program_is_not_verified_again(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    xdp = ProgramSpec("x", tuple(PROG), prog_type=ProgType.XDP)
    JIT(cache_dir=tmp_path).load(xdp)

    def no_verifier(*args: object, **kw: object) -> None:
        raise AssertionError("verified although cached")

    monkeypatch.setattr(pybpf.verifier, "verify", no_verifier)
    again = JIT(cache_dir=tmp_path).load(xdp)
    assert again.cached and not again.checked and again.run().retval == 42


def test_different_relocated_addresses_are_different_entries(tmp_path: Path) -> None:
    JIT(cache_dir=tmp_path).load([I.wide(0, 0xFFFF888100000000), I(0x95)])
    assert not JIT(cache_dir=tmp_path).load([I.wide(0, 0xFFFF888200000000), I(0x95)]).cached


def test_a_corrupt_entry_is_recompiled(tmp_path: Path) -> None:
    JIT(cache_dir=tmp_path).load(PROG)
    (entry,) = tmp_path.glob("*.o")
    entry.write_bytes(b"garbage")
    program = JIT(cache_dir=tmp_path).load(PROG)
    assert not program.cached and program.run().retval == 42


def test_cache_can_be_disabled_and_an_unwritable_directory_is_ignored(tmp_path: Path) -> None:
    assert JIT(cache=False, cache_dir=tmp_path).load(PROG).run().retval == 42
    assert not list(tmp_path.glob("*.o"))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert JIT(cache_dir=blocker / "sub").load(PROG).run().retval == 42


def test_function_addresses_are_part_of_the_key(tmp_path: Path) -> None:
    """``lddw`` BPF_PSEUDO_FUNC embeds the program's load number in the code address."""
    prog = [I(0x18, 2, 4, 0, 4), I(0xB7, 1, imm=21), I(0x8D, 2), I(0x95),
            I(0xBF, 0, 1), I(0x27, 0, imm=2), I(0x95)]
    backend = JIT(cache_dir=tmp_path)
    assert backend.load(prog).run().retval == 42
    second = backend.load(prog)  # load number 1: other addresses
    assert not second.cached and second.run().retval == 42
    assert JIT(cache_dir=tmp_path).load(prog).cached
