"""Programs verified with their BTF func info (global functions on their own) and map BTF
(spin locks): pybpf.verifier.func_info and pybpf.verifier.map_btf.

The objects are the verifier corpus's (tests/verifier_corpus/c/global_funcs.o and
spin_locks.o), whose verdicts are recorded from Linux 6.18 in cases/global_funcs.toml; these
tests pin the log lines and the BTF-less contrast that the corpus does not show.
"""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path

import pytest

from pybpf.elf import load_collection
from pybpf.program.spec import FuncInfo
from pybpf.verifier import verify

C_DIR = Path(__file__).resolve().parents[2] / "verifier_corpus" / "c"
GLOBAL_FUNCS = load_collection(C_DIR / "global_funcs.o")
SPIN_LOCKS = load_collection(C_DIR / "spin_locks.o")


def _verify(coll, name: str, *, btf: bool = True, **kw):  # type: ignore[no-untyped-def]
    prog = coll.programs[name]
    if not btf:
        prog = dataclasses.replace(prog, func_info=(), line_info=(), btf=None)
    maps = {r.map_name: coll.maps[r.map_name] for r in prog.map_references}
    return verify(prog, maps=maps, **kw)


def test_global_function_verified_on_its_own_log() -> None:
    result = _verify(GLOBAL_FUNCS, "chain", log_level=1)
    assert result.accepted
    # the log of each accepted pass is reset, as the kernel's is: only the verdicts remain
    assert result.log.splitlines()[:1] == [
        "Func#2 ('gf_leaf') is safe for any args that match its prototype"]


def test_global_function_log_level2_order() -> None:
    log = _verify(GLOBAL_FUNCS, "chain", log_level=2).log
    assert "Func#1 ('gf_middle') is global and assumed valid." in log
    first = log.index("Validating gf_middle() func#1...")
    second = log.index("Validating gf_leaf() func#2...")
    assert first < log.index("Func#1 ('gf_middle') is safe") < second


def test_caller_passes_invalid_args() -> None:
    result = _verify(GLOBAL_FUNCS, "ctx_arg_wrong")
    assert not result.accepted and result.errno == errno.EINVAL
    assert result.messages[-2:] == ("arg#0 expects pointer to ctx",
                                   "Caller passes invalid args into func#1 ('gf_ctx_queue')")


@pytest.mark.parametrize(("name", "with_btf", "without_btf"), [
    ("deref_maybe_null", False, True),  # with BTF the argument may be NULL
    ("result_unknown", False, True),  # with BTF the result is an unknown scalar
    ("mem_arg_too_small", False, False),  # without BTF: the callee writes past v
])
def test_btf_changes_the_verdict(name: str, with_btf: bool, without_btf: bool) -> None:
    assert _verify(GLOBAL_FUNCS, name).accepted is with_btf
    assert _verify(GLOBAL_FUNCS, name, btf=False).accepted is without_btf


def test_func_info_must_match_subprograms() -> None:
    prog = GLOBAL_FUNCS.programs["chain"]
    bad = dataclasses.replace(prog, func_info=prog.func_info[:2])
    result = verify(bad)
    assert result.error == "number of funcs in func_info doesn't match number of subprogs"
    moved = dataclasses.replace(prog, func_info=(prog.func_info[0],
                                                 FuncInfo(prog.func_info[1].pc + 1,
                                                          prog.func_info[1].type_id),
                                                 prog.func_info[2]))
    assert verify(moved).error == ("func_info BTF section doesn't match subprog layout in BPF "
                                   "program")


def test_func_info_without_btf_is_refused() -> None:
    prog = dataclasses.replace(GLOBAL_FUNCS.programs["chain"], btf=None)
    result = verify(prog)
    assert result.errno == errno.EOPNOTSUPP and "pybpf does not verify" in (result.error or "")


def test_spin_lock_needs_map_btf() -> None:
    assert _verify(SPIN_LOCKS, "spin_ok").accepted
    result = _verify(SPIN_LOCKS, "spin_ok", btf=False)
    assert result.error == "map 'counters' has to have BTF in order to use bpf_spin_lock"


def test_spin_lock_log_shows_no_refs_for_id_zero() -> None:
    log = _verify(SPIN_LOCKS, "spin_global_var", log_level=2).log
    assert "call bpf_spin_lock#93" in log and "refs=" not in log
