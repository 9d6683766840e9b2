"""Operand checks shared by the transfer functions.

Mirrors ``check_reg_arg()``, ``is_pointer_value()``, ``mark_reg_unknown()``,
``assign_scalar_id_before_mov()`` and ``reg_bounds_sanity_check()``'s reporting in
kernel/bpf/verifier.c (Linux 6.18).
"""

from __future__ import annotations

import errno
from enum import Enum

from pybpf.platform.helper_types import RegType
from pybpf.verifier.bounds import (
    invariant_violation_text,
    mark_reg_unbounded,
    reg_bounds_sanity_check,
)
from pybpf.verifier.env import Env
from pybpf.verifier.regstate import BPF_ADD_CONST, RegState, mark_reg_known, mark_reg_not_init
from pybpf.verifier.regstate import mark_reg_unknown as _mark_unknown
from pybpf.verifier.tnum import tnum_is_const

__all__ = [
    "invalid_scalar_message",
    "ALU_STRINGS",
    "RegArg",
    "assign_scalar_id_before_mov",
    "check_reg_arg",
    "cur_regs",
    "is_pointer_value",
    "mark_known",
    "mark_not_init",
    "mark_unknown",
    "sanity_check",
]

MAX_BPF_REG = 11
BPF_REG_FP = 10

ALU_STRINGS = ("+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=",
               "s>>=", "endian")  # fmt: skip
"""``bpf_alu_string[]``, indexed by ``BPF_OP(code) >> 4``."""


class RegArg(Enum):
    """``enum reg_arg_type``."""

    SRC_OP = 0  # register is used as source operand
    DST_OP = 1  # register is used as destination operand
    DST_OP_NO_MARK = 2  # same as above, check only, don't mark


def cur_regs(env: Env) -> list[RegState]:
    assert env.cur_state is not None
    return env.cur_state.regs


def mark_unknown(env: Env, reg: RegState) -> None:
    """``__mark_reg_unknown()``: unprivileged scalars start precise."""
    _mark_unknown(reg, not env.bpf_capable)


def mark_not_init(env: Env, reg: RegState) -> None:
    mark_reg_not_init(reg, not env.bpf_capable)


def mark_known(reg: RegState, imm: int) -> None:
    reg.type = RegType.SCALAR_VALUE
    mark_reg_known(reg, imm)


def check_reg_arg(env: Env, regno: int, t: RegArg) -> None:
    """``check_reg_arg()``: readable source, writable destination."""
    if regno >= MAX_BPF_REG:
        env.reject(f"R{regno} is invalid")
    env.mark_reg_scratched(regno)
    reg = cur_regs(env)[regno]
    if t == RegArg.SRC_OP:
        if reg.type == RegType.NOT_INIT:
            env.reject(f"R{regno} !read_ok", errno.EACCES)
        return
    if regno == BPF_REG_FP:
        env.reject("frame pointer is read only", errno.EACCES)
    if t == RegArg.DST_OP:
        mark_unknown(env, reg)


def is_pointer_value(env: Env, regno: int) -> bool:
    """``is_pointer_value()``: a non-scalar, when pointer leaks are not allowed."""
    if env.allow_ptr_leaks:
        return False
    return cur_regs(env)[regno].type != RegType.SCALAR_VALUE


def assign_scalar_id_before_mov(env: Env, src: RegState) -> None:
    """``assign_scalar_id_before_mov()``: link the copies of a scalar through an id."""
    if src.type != RegType.SCALAR_VALUE:
        return
    if src.id & BPF_ADD_CONST:
        src.id = 0
        src.off = 0
    if not src.id and not tnum_is_const(src.var_off):
        src.id = env.new_id()


def sanity_check(env: Env, reg: RegState, ctx: str) -> None:
    """``reg_bounds_sanity_check()``: log contradictory bounds and forget them."""
    if reg.type != RegType.SCALAR_VALUE:
        return
    reason = reg_bounds_sanity_check(reg)
    if reason:
        env.verbose(invariant_violation_text(reg, ctx, reason) + "\n")
        mark_reg_unbounded(reg)


def invalid_scalar_message(ctx: str, reg_name: str, reg: RegState, lo: int, hi: int) -> str:
    """``verbose_invalid_scalar()``: "<ctx> the register <reg> has smin=.. smax=.. should
    have been in [lo, hi]", the known bounds only (or "unknown scalar value")."""
    text = f"{ctx} the register {reg_name} has"
    known = ""
    if reg.smin_value > -(1 << 63):
        known += f" smin={reg.smin_value}"
    if reg.smax_value < (1 << 63) - 1:
        known += f" smax={reg.smax_value}"
    return f"{text}{known or ' unknown scalar value'} should have been in [{lo}, {hi}]"
