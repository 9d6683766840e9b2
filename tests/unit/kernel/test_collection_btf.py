"""pybpf.kernel.collection loads objects as libbpf does: with their BTF (BPF_BTF_LOAD), maps
with BTF key/value types, programs with func and line info; and without, when asked.

Checked against the live kernel's BPF_OBJ_GET_INFO_BY_FD (skips where bpf() is unusable).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pybpf.elf import load_collection
from pybpf.kernel.collection import KernelCollection, LoadableBtf, prog_btf_info
from pybpf.kernel.sys import bpf_available, btf_load, obj_get_info_by_fd
from pybpf.kernel.sys.attr import BpfMapInfo, BpfProgInfo

ROOT = Path(__file__).resolve().parents[3]
GLOBAL_FUNCS = ROOT / "tests" / "verifier_corpus" / "c" / "global_funcs.o"
SPIN_LOCKS = ROOT / "tests" / "verifier_corpus" / "c" / "spin_locks.o"

_AVAILABLE, _REASON = bpf_available()
pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(not _AVAILABLE, reason=f"bpf() unusable: {_REASON}"),
]


def _only(path: Path, *names: str):  # type: ignore[no-untyped-def]
    coll = load_collection(path)
    return dataclasses.replace(coll, programs={n: coll.programs[n] for n in names})


def _prog_info(fd: object) -> BpfProgInfo:
    raw = BpfProgInfo()
    obj_get_info_by_fd(fd, raw)  # type: ignore[arg-type]
    return raw


def _map_info(fd: object) -> BpfMapInfo:
    raw = BpfMapInfo()
    obj_get_info_by_fd(fd, raw)  # type: ignore[arg-type]
    return raw


def test_line_info_strings_are_in_the_loaded_btf() -> None:
    coll = load_collection(GLOBAL_FUNCS)
    loadable = LoadableBtf.from_collection(coll)
    prog = coll.programs["chain"]
    info = prog_btf_info(prog, loadable)
    assert len(info.func_info) == 8 * len(prog.func_info) == 8 * 3
    assert len(info.line_info) == 16 * len(prog.line_info)
    for li in prog.line_info:
        off = loadable.strings[li.text]
        assert loadable.data.find(li.text.encode() + b"\0") >= 0 and off > 0
    btf_load(loadable.data).close()


def test_program_loaded_with_func_and_line_info() -> None:
    with KernelCollection(_only(GLOBAL_FUNCS, "chain")) as kc:
        assert kc.btf is not None
        info = _prog_info(kc.programs["chain"])
        assert info.btf_id > 0
        assert info.nr_func_info == 3
        assert info.nr_line_info == len(kc.spec.programs["chain"].line_info)


def test_map_with_spin_lock_gets_btf() -> None:
    with KernelCollection(_only(SPIN_LOCKS, "spin_ok")) as kc:
        minfo = _map_info(kc.maps["counters"])
        assert minfo.btf_id > 0 and minfo.btf_value_type_id > 0


def test_without_btf() -> None:
    with KernelCollection(_only(GLOBAL_FUNCS, "scalar_args"), btf=False) as kc:
        assert kc.btf is None
        info = _prog_info(kc.programs["scalar_args"])
        assert info.btf_id == 0 and info.nr_func_info == 0
