"""The instruction budget on verified code (pybpf.jit.budget): a requested budget is counted
exactly and runs out at the interpreter's block, after the interpreter's side effects,
whatever the budget; by default verified code counts nothing, checked code counts the
default budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pybpf.asm import assemble
from pybpf.errors import PybpfError
from pybpf.interp import Interpreter
from pybpf.isa import Instruction as I
from pybpf.platform.enums import MapType, ProgType
from pybpf.program.spec import MapSpec, ProgramSpec
from pybpf.runtime.execstate import DEFAULT_BUDGET
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map

FRAME = bytes(range(40))
# a may_goto loop around a diamond, a helper call (an array lookup), a store to the packet
# and a bpf-to-bpf call: every kind of tested edge (loop header, after a call)
PROGRAM = """
    r6 = *(u32 *)(r1 + 0)
    r7 = *(u32 *)(r1 + 4)
    r2 = r6
    r2 += 16
    r0 = 0
    if r2 > r7 goto out
    r8 = 0
    r9 = 0
loop:
    may_goto out
    r1 = r8
    r1 &= 1
    if r1 == 0 goto even
    r9 += 3
    r9 ^= r8
even:
    *(u32 *)(r10 - 4) = r1
    r2 = r10
    r2 += -4
    r1 = {m0} ll
    call 1
    if r0 == 0 goto skip
    r1 = *(u64 *)(r0 + 0)
    r1 += r8
    *(u64 *)(r0 + 0) = r1
skip:
    r1 = r6
    r2 = r8
    call poke
    r9 += r0
    r8 += 1
    if r8 < 5 goto loop
    r0 = r9
out:
    exit
poke:
    r2 &= 7
    r1 += r2
    r0 = *(u8 *)(r1 + 0)
    r0 += 1
    *(u8 *)(r1 + 0) = r0
    exit
"""


def load_both(jit: Callable, budget: Any) -> list[tuple[Any, Any]]:
    loaded = []
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), budget=budget)):
        m = create_map(MapSpec("a", MapType.ARRAY, 4, 8, 2), backend.memory, ncpus=2)
        text = PROGRAM.replace("{m0}", str(m.address))
        prog = backend.load(ProgramSpec("t", tuple(assemble(text, syntax="llvm")),
                                        prog_type=ProgType.XDP))
        loaded.append((prog, m))
    assert not loaded[1][0].checked
    return loaded


def outcome(prog: Any, m: Any) -> tuple[Any, ...]:
    try:
        r = prog.test_run(data=FRAME)
        got: tuple[Any, ...] = ("ok", r.retval, r.data_out, r.instructions)
    except PybpfError as exc:
        got = ("error", str(exc), getattr(exc, "pc", None))
    return (*got, sorted(m.items()))


def test_every_budget_runs_out_where_the_interpreter_does(jit: Callable) -> None:
    loaded = load_both(jit, DEFAULT_BUDGET)
    first = [outcome(prog, m) for prog, m in loaded]
    assert first[1] == first[0]
    total = first[0][3]
    assert total > 100
    faults = set()
    for budget in range(total + 2):
        results = []
        for prog, m in loaded:
            prog.budget = budget
            results.append(outcome(prog, m))
        assert results[1] == results[0], budget
        if results[0][0] == "error":
            faults.add(results[0][2])
    assert len(faults) > 10  # the budget ran out in many different blocks


def test_verified_code_counts_nothing_by_default(jit: Callable) -> None:
    (interp, mi), (native, mj) = load_both(jit, "auto")
    assert native.budget is None
    a, b = outcome(interp, mi), outcome(native, mj)
    assert b[3] == 0 and a[3] > 0
    assert (b[:3], b[4:]) == (a[:3], a[4:])


def test_checked_code_counts_the_default_budget(jit: Callable) -> None:
    prog = jit(budget="auto").load([I(0xB7, 0, imm=1), I(0x07, 0, imm=1), I(0x95)])
    assert prog.checked and prog.budget == DEFAULT_BUDGET
    assert prog.run().instructions == 3
