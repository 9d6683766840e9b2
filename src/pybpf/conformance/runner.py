"""Run bpf_conformance cases on a backend and compare r0 with the expected result.

Conventions of the suite: r1 points at the ``-- mem`` bytes and r2 holds their length (both
0 without memory); helper 5 is uBPF's ``unwind`` (returns its argument; a zero return ends
the program with r0 = 0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pybpf.conformance.datafile import ConformanceCase, load_case
from pybpf.errors import PybpfError
from pybpf.program.spec import ProgramSpec
from pybpf.runtime.execstate import ExecState, Helper, ProgramExit

UNWIND_HELPER_ID = 5
#: Backends the suite runs on (``pybpf conformance --backend``).
BACKENDS = ("interp", "jit")
#: Instruction budget per case (the suite's longest loops stay far below it).
CASE_BUDGET = 10_000_000


def _unwind(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    if r1 == 0:
        raise ProgramExit(0)
    return r1


def conformance_helpers() -> dict[int, Helper]:
    """The helper table bpf_conformance programs expect."""
    return {UNWIND_HELPER_ID: _unwind}


class _Loaded(Protocol):
    def run_mem(self, data: bytes | bytearray | None = None) -> object: ...


#: Builds a loaded program from a spec, with the conformance helpers.
Loader = Callable[[ProgramSpec], _Loaded]


def backend_loader(backend: str, **options: object) -> Loader:
    """``load`` of a fresh ``backend`` with the conformance helpers and budget.

    ``options`` go to the backend's constructor (e.g. ``cache_dir`` for the JIT).
    """
    if backend == "interp":
        from pybpf.interp import Interpreter

        return Interpreter(helpers=conformance_helpers(), budget=CASE_BUDGET, **options).load  # type: ignore[arg-type]
    if backend == "jit":
        from pybpf.jit import JIT

        return JIT(helpers=conformance_helpers(), budget=CASE_BUDGET, **options).load  # type: ignore[arg-type]
    raise PybpfError(f"unknown backend '{backend}' (have: {', '.join(BACKENDS)})")


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """Result of one case: ``passed`` and a one-line ``detail``."""

    name: str
    passed: bool
    detail: str
    retval: int | None = None


def run_case(case: ConformanceCase, loader: Loader) -> CaseOutcome:
    """Assemble, load and run one case; compare r0 (as unsigned 64-bit) with the expectation."""
    from pybpf.asm import assemble

    try:
        insns = assemble(case.asm, syntax="ubpf")
        program = loader(ProgramSpec.from_instructions(insns, name=case.name))
        result = program.run_mem(case.mem)
    except PybpfError as exc:
        if case.error is not None:
            return CaseOutcome(case.name, True, f"error as expected: {exc}")
        return CaseOutcome(case.name, False, f"{type(exc).__name__}: {exc}")
    retval = getattr(result, "retval")
    if case.error is not None:
        return CaseOutcome(case.name, False, f"expected error '{case.error}', got r0={retval:#x}", retval)
    if case.result is None:
        return CaseOutcome(case.name, False, "case has no expected result", retval)
    expected = case.result & 0xFFFFFFFFFFFFFFFF
    if retval == expected:
        return CaseOutcome(case.name, True, f"r0={retval:#x}", retval)
    return CaseOutcome(case.name, False, f"r0={retval:#x}, expected {expected:#x}", retval)


def case_files(directory: Path) -> list[Path]:
    """The ``.data`` files of a suite directory, sorted by name."""
    if not directory.is_dir():
        raise PybpfError(f"{directory}: not a directory")
    return sorted(directory.glob("*.data"))


def run_suite(paths: Iterable[Path], loader: Loader) -> Iterator[CaseOutcome]:
    """Run every case file; a file that cannot be parsed is a failed case, never a crash."""
    for path in paths:
        try:
            case = load_case(path)
        except PybpfError as exc:
            yield CaseOutcome(path.stem, False, str(exc))
            continue
        yield run_case(case, loader)
