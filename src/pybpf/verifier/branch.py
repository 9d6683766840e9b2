"""Conditional branches on scalars: which way they can go and what each side learns.

Mirrors ``is_scalar_branch_taken()``, ``flip_opcode()``, ``rev_opcode()``,
``regs_refine_cond_op()`` and ``reg_set_min_max()`` of kernel/bpf/verifier.c (Linux 6.18),
on :class:`~pybpf.verifier.bounds.Bounds`. Pointer comparisons (NULL checks, packet ranges)
are handled by :mod:`pybpf.verifier.transfer.jmp`, which uses this module for scalars.

``BPF_JSET | BPF_X`` (:data:`JSET_FALSE`) stands for the *false* side of ``JSET``, as in the
kernel.
"""

from __future__ import annotations

from pybpf.isa import JumpOp, Source
from pybpf.verifier.bounds import (
    U32_MAX,
    U64_MAX,
    Bounds,
    is_reg_const,
    mark_reg_unbounded,
    reg_bounds_sanity_check,
    reg_bounds_sync,
    reg_const_value,
    s32,
    s64,
)
from pybpf.verifier.tnum import (
    tnum_and,
    tnum_const,
    tnum_intersect,
    tnum_overlap,
    tnum_is_const,
    tnum_or,
    tnum_subreg,
    tnum_with_subreg,
)

__all__ = [
    "JSET_FALSE",
    "flip_opcode",
    "is_scalar_branch_taken",
    "reg_set_min_max",
    "regs_refine_cond_op",
    "rev_opcode",
]

JSET_FALSE = JumpOp.JSET | Source.X

_FLIP = {
    JumpOp.JEQ: JumpOp.JEQ, JumpOp.JNE: JumpOp.JNE, JumpOp.JSET: JumpOp.JSET,
    JumpOp.JGE: JumpOp.JLE, JumpOp.JGT: JumpOp.JLT, JumpOp.JLE: JumpOp.JGE,
    JumpOp.JLT: JumpOp.JGT, JumpOp.JSGE: JumpOp.JSLE, JumpOp.JSGT: JumpOp.JSLT,
    JumpOp.JSLE: JumpOp.JSGE, JumpOp.JSLT: JumpOp.JSGT,
}  # fmt: skip
_REV = {
    JumpOp.JEQ: JumpOp.JNE, JumpOp.JNE: JumpOp.JEQ, JumpOp.JSET: JSET_FALSE,
    JSET_FALSE: JumpOp.JSET, JumpOp.JGE: JumpOp.JLT, JumpOp.JGT: JumpOp.JLE,
    JumpOp.JLE: JumpOp.JGT, JumpOp.JLT: JumpOp.JGE, JumpOp.JSGE: JumpOp.JSLT,
    JumpOp.JSGT: JumpOp.JSLE, JumpOp.JSLE: JumpOp.JSGT, JumpOp.JSLT: JumpOp.JSGE,
}  # fmt: skip


def flip_opcode(op: int) -> int:
    """``flip_opcode()``: the op for ``b <op> a`` equivalent to ``a <op'> b``."""
    return _FLIP.get(op, 0)  # type: ignore[call-overload]


def rev_opcode(op: int) -> int:
    """``rev_opcode()``: the op of the false branch."""
    return _REV.get(op, 0)  # type: ignore[call-overload]


def _view(r: Bounds, jmp32: bool) -> tuple[int, int, int, int]:
    if jmp32:
        return r.u32_min_value, r.u32_max_value, r.s32_min_value, r.s32_max_value
    return r.umin_value, r.umax_value, r.smin_value, r.smax_value


def is_scalar_branch_taken(reg1: Bounds, reg2: Bounds, op: int, jmp32: bool) -> int:
    """1: always taken, 0: never taken, -1: unknown."""
    t1 = tnum_subreg(reg1.var_off) if jmp32 else reg1.var_off
    t2 = tnum_subreg(reg2.var_off) if jmp32 else reg2.var_off
    umin1, umax1, smin1, smax1 = _view(reg1, jmp32)
    umin2, umax2, smin2, smax2 = _view(reg2, jmp32)
    if op in (JumpOp.JEQ, JumpOp.JNE):
        hit = 1 if op == JumpOp.JEQ else 0
        if tnum_is_const(t1) and tnum_is_const(t2):
            return hit if t1.value == t2.value else 1 - hit
        if not tnum_overlap(t1, t2):
            return 1 - hit
        if umin1 > umax2 or umax1 < umin2 or smin1 > smax2 or smax1 < smin2:
            return 1 - hit
        if not jmp32:
            if (reg1.u32_min_value > reg2.u32_max_value
                    or reg1.u32_max_value < reg2.u32_min_value
                    or reg1.s32_min_value > reg2.s32_max_value
                    or reg1.s32_max_value < reg2.s32_min_value):  # fmt: skip
                return 1 - hit
        return -1
    if op == JumpOp.JSET:
        if not is_reg_const(reg2, jmp32):
            reg1, reg2, t1, t2 = reg2, reg1, t2, t1
        if not is_reg_const(reg2, jmp32):
            return -1
        if ~t1.mask & t1.value & t2.value:
            return 1
        if not ((t1.mask | t1.value) & t2.value):
            return 0
        return -1
    if op == JumpOp.JGT:
        return 1 if umin1 > umax2 else 0 if umax1 <= umin2 else -1
    if op == JumpOp.JSGT:
        return 1 if smin1 > smax2 else 0 if smax1 <= smin2 else -1
    if op == JumpOp.JLT:
        return 1 if umax1 < umin2 else 0 if umin1 >= umax2 else -1
    if op == JumpOp.JSLT:
        return 1 if smax1 < smin2 else 0 if smin1 >= smax2 else -1
    if op == JumpOp.JGE:
        return 1 if umin1 >= umax2 else 0 if umax1 < umin2 else -1
    if op == JumpOp.JSGE:
        return 1 if smin1 >= smax2 else 0 if smax1 < smin2 else -1
    if op == JumpOp.JLE:
        return 1 if umax1 <= umin2 else 0 if umin1 > umax2 else -1
    if op == JumpOp.JSLE:
        return 1 if smax1 <= smin2 else 0 if smin1 > smax2 else -1
    return -1


def regs_refine_cond_op(reg1: Bounds, reg2: Bounds, op: int, jmp32: bool) -> None:
    """Refine both operands assuming ``reg1 <op> reg2`` holds."""
    if op in (JumpOp.JGE, JumpOp.JGT, JumpOp.JSGE, JumpOp.JSGT):
        op = flip_opcode(op)
        reg1, reg2 = reg2, reg1
    if op == JumpOp.JEQ:
        if jmp32:
            reg1.u32_min_value = max(reg1.u32_min_value, reg2.u32_min_value)
            reg1.u32_max_value = min(reg1.u32_max_value, reg2.u32_max_value)
            reg1.s32_min_value = max(reg1.s32_min_value, reg2.s32_min_value)
            reg1.s32_max_value = min(reg1.s32_max_value, reg2.s32_max_value)
            reg2.u32_min_value, reg2.u32_max_value = reg1.u32_min_value, reg1.u32_max_value
            reg2.s32_min_value, reg2.s32_max_value = reg1.s32_min_value, reg1.s32_max_value
            t = tnum_intersect(tnum_subreg(reg1.var_off), tnum_subreg(reg2.var_off))
            reg1.var_off = tnum_with_subreg(reg1.var_off, t)
            reg2.var_off = tnum_with_subreg(reg2.var_off, t)
        else:
            reg1.umin_value = max(reg1.umin_value, reg2.umin_value)
            reg1.umax_value = min(reg1.umax_value, reg2.umax_value)
            reg1.smin_value = max(reg1.smin_value, reg2.smin_value)
            reg1.smax_value = min(reg1.smax_value, reg2.smax_value)
            reg2.umin_value, reg2.umax_value = reg1.umin_value, reg1.umax_value
            reg2.smin_value, reg2.smax_value = reg1.smin_value, reg1.smax_value
            reg1.var_off = tnum_intersect(reg1.var_off, reg2.var_off)
            reg2.var_off = reg1.var_off
    elif op == JumpOp.JNE:
        if not is_reg_const(reg2, jmp32):
            reg1, reg2 = reg2, reg1
        if not is_reg_const(reg2, jmp32):
            return
        val = reg_const_value(reg2, jmp32)
        # a constant at the edge of the other range shrinks it by one
        if jmp32:
            if reg1.u32_min_value == val & U32_MAX:
                reg1.u32_min_value = (reg1.u32_min_value + 1) & U32_MAX
            if reg1.u32_max_value == val & U32_MAX:
                reg1.u32_max_value = (reg1.u32_max_value - 1) & U32_MAX
            if reg1.s32_min_value == s32(val):
                reg1.s32_min_value = s32(reg1.s32_min_value + 1)
            if reg1.s32_max_value == s32(val):
                reg1.s32_max_value = s32(reg1.s32_max_value - 1)
        else:
            if reg1.umin_value == val:
                reg1.umin_value = (reg1.umin_value + 1) & U64_MAX
            if reg1.umax_value == val:
                reg1.umax_value = (reg1.umax_value - 1) & U64_MAX
            if reg1.smin_value == s64(val):
                reg1.smin_value = s64(reg1.smin_value + 1)
            if reg1.smax_value == s64(val):
                reg1.smax_value = s64(reg1.smax_value - 1)
    elif op in (JumpOp.JSET, JSET_FALSE):
        if not is_reg_const(reg2, jmp32):
            reg1, reg2 = reg2, reg1
        if not is_reg_const(reg2, jmp32):
            return
        val = reg_const_value(reg2, jmp32)
        if op == JumpOp.JSET:
            # "r & val" is true: a single-bit val means that bit is set
            if not val or val & (val - 1):
                return
            if jmp32:
                t = tnum_or(tnum_subreg(reg1.var_off), tnum_const(val))
                reg1.var_off = tnum_with_subreg(reg1.var_off, t)
            else:
                reg1.var_off = tnum_or(reg1.var_off, tnum_const(val))
        else:
            if jmp32:
                t = tnum_and(tnum_subreg(reg1.var_off), tnum_const(~val))
                reg1.var_off = tnum_with_subreg(reg1.var_off, t)
            else:
                reg1.var_off = tnum_and(reg1.var_off, tnum_const(~val))
            # The cleared bits may contradict the old ranges: forget the ranges and let
            # reg_bounds_sync() rebuild them from the tnum.
            mark_reg_unbounded(reg1)
    elif op in (JumpOp.JLE, JumpOp.JLT):
        d = 1 if op == JumpOp.JLT else 0
        if jmp32:
            reg1.u32_max_value = min(reg1.u32_max_value, (reg2.u32_max_value - d) & U32_MAX)
            reg2.u32_min_value = max((reg1.u32_min_value + d) & U32_MAX, reg2.u32_min_value)
        else:
            reg1.umax_value = min(reg1.umax_value, (reg2.umax_value - d) & U64_MAX)
            reg2.umin_value = max((reg1.umin_value + d) & U64_MAX, reg2.umin_value)
    elif op in (JumpOp.JSLE, JumpOp.JSLT):
        d = 1 if op == JumpOp.JSLT else 0
        if jmp32:
            reg1.s32_max_value = min(reg1.s32_max_value, s32(reg2.s32_max_value - d))
            reg2.s32_min_value = max(s32(reg1.s32_min_value + d), reg2.s32_min_value)
        else:
            reg1.smax_value = min(reg1.smax_value, s64(reg2.smax_value - d))
            reg2.smin_value = max(s64(reg1.smin_value + d), reg2.smin_value)


def reg_set_min_max(true1: Bounds, true2: Bounds, false1: Bounds, false2: Bounds, op: int,
                    jmp32: bool) -> list[tuple[str, Bounds, str]]:
    """Refine both branches' copies of two scalar operands.

    Returns the invariant violations found, as ``(context, register, reason)``: the kernel
    logs each (``REG INVARIANTS VIOLATION``) and resets the first one to unbounded.
    """
    regs_refine_cond_op(false1, false2, rev_opcode(op), jmp32)
    reg_bounds_sync(false1)
    reg_bounds_sync(false2)
    regs_refine_cond_op(true1, true2, op, jmp32)
    reg_bounds_sync(true1)
    reg_bounds_sync(true2)
    out = []
    for ctx, reg in (("true_reg1", true1), ("true_reg2", true2), ("false_reg1", false1),
                     ("false_reg2", false2)):
        reason = reg_bounds_sanity_check(reg)
        if reason:
            out.append((ctx, reg, reason))
    return out
