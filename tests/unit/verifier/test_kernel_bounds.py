"""Scalar bounds against the live kernel: ALU results and branch refinement, field by field.

Random programs (see gen_scalar) are loaded at log level 2; the kernel's log shows each
operand before the operation and the result after it. pybpf computes the result from the
same operands (parsed back from the log) and must print exactly what the kernel printed.
"""

from __future__ import annotations

import random

import pytest

from pybpf.isa import ALUOp, InsnClass, Source, pcs
from pybpf.verifier import bounds as B
from pybpf.verifier.bounds import Bounds
from pybpf.verifier.logparse import parse_insn_line, parse_scalar, split_state
from pybpf.verifier.scalar_alu import adjust_scalar_min_max_vals, scalar_byte_swap

from .gen_scalar import alu_program, jmp_program
from .kernel_oracle import kernel_verdict, needs_kernel

pytestmark = needs_kernel


def states_before(log: str, pc: int) -> tuple[dict[str, str], dict[str, str], str]:
    """Latest printed state of each register before instruction ``pc`` of the first path,
    the state printed on ``pc``'s own line, and the ``from pc to T:`` state (if any)."""
    latest: dict[str, str] = {}
    own: dict[str, str] = {}
    taken = ""
    seen = False
    for line in log.splitlines():
        if line.startswith(f"from {pc} to "):
            taken = line.split(":", 1)[1]
            break
        if seen:
            continue
        parsed = parse_insn_line(line)
        if parsed is None:
            m = line.split(":", 1)
            if len(m) == 2 and m[0].isdigit() and int(m[0]) <= pc:
                latest.update(split_state(m[1]))
            continue
        if parsed.pc == pc:
            own = parsed.state
            seen = True
        else:
            latest.update(parsed.state)
    return latest, own, taken


def _bounds(text: str) -> Bounds:
    parsed = parse_scalar(text)
    assert parsed is not None, text
    return parsed.bounds


def pybpf_alu(insn, dst: Bounds, src: Bounds) -> Bounds:  # type: ignore[no-untyped-def]
    alu32 = insn.cls == InsnClass.ALU
    if insn.op == ALUOp.MOV:
        if insn.source == Source.K:
            B.mark_reg_known(dst, insn.imm & 0xFFFFFFFF if alu32 else insn.imm)
            return dst
        dst.set_bounds(src)
        if alu32:
            if insn.off:
                B.coerce_subreg_to_size_sx(dst, insn.off // 8)
            B.zext_32_to_64(dst)
            B.reg_bounds_sync(dst)
        elif insn.off:
            B.coerce_reg_to_size_sx(dst, insn.off // 8)
        return dst
    if insn.op == ALUOp.END:
        scalar_byte_swap(dst, insn.imm, not alu32, insn.source == Source.X)
        return dst
    adjust_scalar_min_max_vals(dst, src, insn.op, alu32)
    return dst


@pytest.mark.parametrize("seed", range(12))
def test_alu_results_match_kernel(seed: int) -> None:
    rng = random.Random(seed)
    mismatches = []
    compared = 0
    for _ in range(40):
        prog, pc = alu_program(rng)
        ok, log = kernel_verdict(prog)
        latest, own, _ = states_before(log, pc)
        if "R6" not in own or not ok:
            continue  # the op was not reached on the first path
        insn = prog[pcs(prog).index(pc)]
        dst = _bounds(latest["R6"])
        src = Bounds()
        if insn.source == Source.X:
            src = _bounds(latest["R7"])
        else:
            B.mark_reg_known(src, insn.imm)
        mine = pybpf_alu(insn, dst, src)
        theirs = _bounds(own["R6"])
        compared += 1
        if mine != theirs:
            mismatches.append((latest["R6"], latest.get("R7"), insn, own["R6"], mine))
    assert compared > 10
    assert not mismatches, mismatches[:3]


def _next_line_pc(log: str, pc: int) -> int | None:
    after = False
    for line in log.splitlines():
        parsed = parse_insn_line(line)
        if parsed is None:
            continue
        if parsed.pc == pc:
            after = True
        elif after:
            return parsed.pc
    return None


@pytest.mark.parametrize("seed", range(12))
def test_branches_match_kernel(seed: int) -> None:
    """is_scalar_branch_taken() and both sides of reg_set_min_max() against the kernel."""
    import copy

    from pybpf.isa import JumpOp
    from pybpf.verifier.branch import is_scalar_branch_taken, reg_set_min_max

    rng = random.Random(1000 + seed)
    mismatches = []
    compared = 0
    for _ in range(100):
        prog, pc = jmp_program(rng)
        _, log = kernel_verdict(prog)
        latest, own, taken = states_before(log, pc)
        if "R6" not in latest or not (own or taken):
            continue
        insn = prog[pcs(prog).index(pc)]
        r1 = _bounds(latest["R6"])
        r2 = Bounds()
        if insn.source == Source.X:
            r2 = _bounds(latest["R7"])
        else:
            B.mark_reg_known(r2, insn.imm)
        jmp32 = insn.cls == InsnClass.JMP32
        pred = is_scalar_branch_taken(r1, r2, insn.op, jmp32)
        kpred = -1 if taken else (0 if _next_line_pc(log, pc) == pc + 1 else 1)
        compared += 1
        if pred != kpred:
            mismatches.append(("pred", JumpOp(insn.op).name, latest["R6"], kpred, pred))
            continue
        if pred != -1:
            continue
        t1, t2, f1, f2 = (copy.copy(x) for x in (r1, r2, r1, r2))
        reg_set_min_max(t1, t2, f1, f2, insn.op, jmp32)
        tk = split_state(taken)
        checks = [(own.get("R6"), f1), (tk.get("R6"), t1)]
        if insn.source == Source.X:
            checks += [(own.get("R7"), f2), (tk.get("R7"), t2)]
        for text, mine in checks:
            if text is not None and _bounds(text) != mine:
                mismatches.append((JumpOp(insn.op).name, latest["R6"], text, mine))
    assert compared > 15
    assert not mismatches, mismatches[:3]
