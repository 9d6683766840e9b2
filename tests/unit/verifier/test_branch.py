"""pybpf.verifier.branch: branch prediction and refinement are sound."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.isa import JumpOp
from pybpf.verifier.bounds import Bounds, mark_reg_known, s32, s64
from pybpf.verifier.branch import (
    JSET_FALSE,
    flip_opcode,
    is_scalar_branch_taken,
    reg_set_min_max,
    rev_opcode,
)

from .strategies import bounds_and_member

OPS = [JumpOp.JEQ, JumpOp.JNE, JumpOp.JGT, JumpOp.JGE, JumpOp.JLT, JumpOp.JLE, JumpOp.JSGT,
       JumpOp.JSGE, JumpOp.JSLT, JumpOp.JSLE, JumpOp.JSET]  # fmt: skip


def holds(op: int, x: int, y: int, jmp32: bool) -> bool:
    if jmp32:
        x, y = x & 0xFFFFFFFF, y & 0xFFFFFFFF
        sx, sy = s32(x), s32(y)
    else:
        sx, sy = s64(x), s64(y)
    return {
        JumpOp.JEQ: x == y, JumpOp.JNE: x != y, JumpOp.JGT: x > y, JumpOp.JGE: x >= y,
        JumpOp.JLT: x < y, JumpOp.JLE: x <= y, JumpOp.JSGT: sx > sy, JumpOp.JSGE: sx >= sy,
        JumpOp.JSLT: sx < sy, JumpOp.JSLE: sx <= sy, JumpOp.JSET: bool(x & y),
        JSET_FALSE: not (x & y),
    }[op]  # type: ignore[index]


@given(bounds_and_member(), bounds_and_member(), st.sampled_from(OPS), st.booleans(),
       st.booleans())
@settings(max_examples=1500)
def test_prediction_and_refinement_are_sound(a: tuple[Bounds, int], b: tuple[Bounds, int],
                                              op: int, jmp32: bool, const: bool) -> None:
    (r1, x), (r2, y) = a, b
    if const:
        mark_reg_known(r2, y)
    taken = holds(op, x, y, jmp32)
    pred = is_scalar_branch_taken(r1, r2, op, jmp32)
    assert pred == -1 or pred == int(taken)
    if pred != -1:
        return
    t1, t2, f1, f2 = (copy.copy(r) for r in (r1, r2, r1, r2))
    reg_set_min_max(t1, t2, f1, f2, op, jmp32)
    if taken:
        assert t1.contains(x) and t2.contains(y)
    else:
        assert f1.contains(x) and f2.contains(y)


def test_opcode_tables() -> None:
    assert flip_opcode(JumpOp.JGT) == JumpOp.JLT and flip_opcode(JumpOp.JSGE) == JumpOp.JSLE
    assert rev_opcode(JumpOp.JSET) == JSET_FALSE and rev_opcode(JSET_FALSE) == JumpOp.JSET
    assert rev_opcode(JumpOp.JLE) == JumpOp.JGT
