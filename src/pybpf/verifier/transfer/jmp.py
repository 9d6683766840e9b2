"""Conditional jumps: which way they go, and what each side learns.

Mirrors ``check_cond_jmp_op()``, ``is_branch_taken()``, ``is_pkt_ptr_branch_taken()``,
``reg_not_null()``, ``mark_ptr_or_null_regs()``, ``try_match_pkt_pointers()``,
``find_good_pkt_pointers()``, ``mark_pkt_end()``, ``collect_linked_regs()`` and
``sync_linked_regs()`` of kernel/bpf/verifier.c (Linux 6.18). Scalar refinement is
:mod:`pybpf.verifier.branch`.

Not modelled: the speculative paths pushed for unprivileged programs when a branch's outcome
is known, precision marking (``mark_chain_precision()``).
"""

from __future__ import annotations

import errno

from pybpf.isa import InsnClass, Instruction, JumpOp, Source
from pybpf.platform.helper_types import RegType, TypeFlag, base_type
from pybpf.verifier.bounds import mark_reg_known, s64
from pybpf.verifier.branch import flip_opcode, is_scalar_branch_taken, reg_set_min_max
from pybpf.verifier.env import Env
from pybpf.verifier.log import format_func_state
from pybpf.verifier.regstate import (
    AT_PKT_END,
    BEYOND_PKT_END,
    BPF_ADD_CONST,
    RegState,
    type_is_pkt_pointer,
    type_may_be_null,
)
from pybpf.verifier.scalar_alu import _add
from pybpf.verifier.state import VerifierState
from pybpf.verifier.tnum import tnum_add, tnum_equals_const, tnum_is_const, tnum_subreg
from pybpf.verifier.transfer.common import (
    RegArg,
    check_reg_arg,
    cur_regs,
    is_pointer_value,
    mark_unknown,
    sanity_check,
)
from pybpf.verifier.worklist import push_stack

__all__ = ["check_cond_jmp_op", "is_branch_taken", "reg_not_null"]

MAX_PACKET_OFF = 0xFFFF


def reg_not_null(reg: RegState) -> bool:
    """``reg_not_null()``: pointer types that are never NULL."""
    if type_may_be_null(reg.type):
        return False
    base = base_type(reg.type)
    return base in (RegType.PTR_TO_SOCKET, RegType.PTR_TO_TCP_SOCK, RegType.PTR_TO_MAP_VALUE,
                    RegType.PTR_TO_MAP_KEY, RegType.PTR_TO_SOCK_COMMON,
                    RegType.CONST_PTR_TO_MAP) or (
        base == RegType.PTR_TO_MEM and not reg.type & TypeFlag.PTR_UNTRUSTED)


def _is_pkt_any(reg: RegState) -> bool:
    return type_is_pkt_pointer(reg.type) or reg.type == RegType.PTR_TO_PACKET_END


def _is_pkt_ptr_branch_taken(dst: RegState, src: RegState, op: int) -> int:
    if src.type == RegType.PTR_TO_PACKET_END:
        pkt = dst
    elif dst.type == RegType.PTR_TO_PACKET_END:
        pkt = src
        op = flip_opcode(op)
    else:
        return -1
    if pkt.range >= 0:
        return -1
    if op in (JumpOp.JLE, JumpOp.JGT):
        if pkt.range == BEYOND_PKT_END:
            return 1 if op == JumpOp.JGT else 0
    elif op in (JumpOp.JLT, JumpOp.JGE):
        if pkt.range in (BEYOND_PKT_END, AT_PKT_END):
            return 1 if op == JumpOp.JGE else 0
    return -1


def _is_const(reg: RegState, jmp32: bool) -> bool:
    if reg.type != RegType.SCALAR_VALUE:
        return False
    return (reg.var_off.mask & 0xFFFFFFFF) == 0 if jmp32 else tnum_is_const(reg.var_off)


def is_branch_taken(reg1: RegState, reg2: RegState, op: int, jmp32: bool) -> int:
    """``is_branch_taken()``: 1 always, 0 never, -1 unknown."""
    if _is_pkt_any(reg1) and _is_pkt_any(reg2) and not jmp32:
        return _is_pkt_ptr_branch_taken(reg1, reg2, op)
    if reg1.is_pointer() or reg2.is_pointer():
        if not _is_const(reg2, jmp32):
            op = flip_opcode(op)
            reg1, reg2 = reg2, reg1
        if not _is_const(reg2, jmp32):
            return -1
        if not reg_not_null(reg1):
            return -1
        val = reg2.var_off.value & (0xFFFFFFFF if jmp32 else (1 << 64) - 1)
        if val != 0:
            return -1
        if op == JumpOp.JEQ:
            return 0
        if op == JumpOp.JNE:
            return 1
        return -1
    return is_scalar_branch_taken(reg1, reg2, op, jmp32)


def _find_good_pkt_pointers(vstate: VerifierState, dst: RegState, type_: int,
                            range_right_open: bool) -> None:
    if dst.off < 0 or (dst.off == 0 and range_right_open):
        return
    if dst.umax_value > MAX_PACKET_OFF or dst.umax_value + dst.off > MAX_PACKET_OFF:
        return
    new_range = dst.off + (1 if range_right_open else 0)
    for _, reg in vstate.all_regs():
        if reg.type == type_ and reg.id == dst.id:
            reg.range = max(reg.range, new_range)


def _mark_pkt_end(vstate: VerifierState, regno: int, range_open: bool) -> None:
    reg = vstate.regs[regno]
    if reg.type != RegType.PTR_TO_PACKET:
        return
    reg.range = BEYOND_PKT_END if range_open else AT_PKT_END


def _is_init_pkt_pointer(reg: RegState, which: int) -> bool:
    return reg.type == which and reg.id == 0 and reg.off == 0 and tnum_equals_const(reg.var_off, 0)


def _try_match_pkt_pointers(insn: Instruction, dst: RegState, src: RegState,
                            this: VerifierState, other: VerifierState) -> bool:
    if insn.source != Source.X or insn.cls == InsnClass.JMP32:
        return False
    op = insn.op
    fwd = (dst.type == RegType.PTR_TO_PACKET and src.type == RegType.PTR_TO_PACKET_END) or (
        dst.type == RegType.PTR_TO_PACKET_META
        and _is_init_pkt_pointer(src, RegType.PTR_TO_PACKET))
    rev = (dst.type == RegType.PTR_TO_PACKET_END and src.type == RegType.PTR_TO_PACKET) or (
        _is_init_pkt_pointer(dst, RegType.PTR_TO_PACKET)
        and src.type == RegType.PTR_TO_PACKET_META)
    if op == JumpOp.JGT:
        if fwd:
            _find_good_pkt_pointers(this, dst, dst.type, False)
            _mark_pkt_end(other, insn.dst, True)
        elif rev:
            _find_good_pkt_pointers(other, src, src.type, True)
            _mark_pkt_end(this, insn.src, False)
        else:
            return False
    elif op == JumpOp.JLT:
        if fwd:
            _find_good_pkt_pointers(other, dst, dst.type, True)
            _mark_pkt_end(this, insn.dst, False)
        elif rev:
            _find_good_pkt_pointers(this, src, src.type, False)
            _mark_pkt_end(other, insn.src, True)
        else:
            return False
    elif op == JumpOp.JGE:
        if fwd:
            _find_good_pkt_pointers(this, dst, dst.type, True)
            _mark_pkt_end(other, insn.dst, False)
        elif rev:
            _find_good_pkt_pointers(other, src, src.type, False)
            _mark_pkt_end(this, insn.src, True)
        else:
            return False
    elif op == JumpOp.JLE:
        if fwd:
            _find_good_pkt_pointers(other, dst, dst.type, False)
            _mark_pkt_end(this, insn.dst, True)
        elif rev:
            _find_good_pkt_pointers(this, src, src.type, True)
            _mark_pkt_end(other, insn.src, False)
        else:
            return False
    else:
        return False
    return True


def mark_ptr_not_null_reg(reg: RegState) -> None:
    """``mark_ptr_not_null_reg()``: what a non-NULL ``*_or_null`` pointer becomes."""
    if base_type(reg.type) == RegType.PTR_TO_MAP_VALUE:
        m = reg.map_ptr
        if m is not None and m.map_type == 17:  # XSKMAP
            reg.type = RegType.PTR_TO_XDP_SOCK
        elif m is not None and m.map_type in (15, 18):  # SOCKMAP, SOCKHASH
            reg.type = RegType.PTR_TO_SOCKET
        else:
            reg.type = RegType.PTR_TO_MAP_VALUE
        return
    reg.type &= ~TypeFlag.PTR_MAYBE_NULL


def _mark_ptr_or_null_regs(vstate: VerifierState, regno: int, is_null: bool) -> None:
    reg0 = vstate.regs[regno]
    ref_obj_id, ident = reg0.ref_obj_id, reg0.id
    if ref_obj_id and ref_obj_id == ident and is_null:
        vstate.refs = [r for r in vstate.refs if r.id != ident]
    for _, reg in vstate.all_regs():
        if not (type_may_be_null(reg.type) and reg.id == ident and ident):
            continue
        if reg.smin_value or reg.smax_value or not tnum_equals_const(reg.var_off, 0) or reg.off:
            continue
        if is_null:
            reg.type = RegType.SCALAR_VALUE
            reg.id = 0
            reg.ref_obj_id = 0
            continue
        mark_ptr_not_null_reg(reg)
        if not (reg.type == RegType.PTR_TO_MAP_VALUE and reg.map_ptr is not None
                and getattr(reg.map_ptr, "spin_lock", False)):
            reg.id = 0


def _linked(vstate: VerifierState, ident: int) -> list[RegState]:
    """``collect_linked_regs()``: scalars (in registers or spilled) sharing a base id."""
    ident &= ~BPF_ADD_CONST
    out = []
    for func in reversed(vstate.frame[: vstate.curframe + 1]):
        for reg in func.regs[:10]:
            if reg.type == RegType.SCALAR_VALUE and (reg.id & ~BPF_ADD_CONST) == ident:
                out.append(reg)
        for slot in func.stack:
            if slot.is_spilled_reg():
                reg = slot.spilled_ptr
                if reg.type == RegType.SCALAR_VALUE and (reg.id & ~BPF_ADD_CONST) == ident:
                    out.append(reg)
    return out


def _sync_linked_regs(known: RegState, regs: list[RegState]) -> None:
    """``sync_linked_regs()``: copy ``known``'s range into linked scalars (plus deltas)."""
    for reg in regs:
        if reg.type != RegType.SCALAR_VALUE or reg is known:
            continue
        if (reg.id & ~BPF_ADD_CONST) != (known.id & ~BPF_ADD_CONST):
            continue
        saved_subreg_def = reg.subreg_def
        if (not reg.id & BPF_ADD_CONST and not known.id & BPF_ADD_CONST) or reg.off == known.off:
            reg.assign(known)
            reg.subreg_def = saved_subreg_def
        else:
            saved_off = reg.off
            delta = RegState(type=RegType.SCALAR_VALUE)
            mark_reg_known(delta, s64(_s32(reg.off) - _s32(known.off)))
            reg.assign(known)
            reg.off = saved_off
            reg.subreg_def = saved_subreg_def
            _add(reg, delta, 32)
            _add(reg, delta, 64)
            reg.var_off = tnum_add(reg.var_off, delta.var_off)


def _s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >> 31 else x


def _regs_in(vstate: VerifierState, targets: list[RegState], src: VerifierState) -> list[RegState]:
    """The registers of ``vstate`` at the same places as ``targets`` are in ``src``."""
    where = {}
    for fi, func in enumerate(src.frame[: src.curframe + 1]):
        for ri, reg in enumerate(func.regs):
            where[id(reg)] = (fi, "r", ri)
        for si, slot in enumerate(func.stack):
            where[id(slot.spilled_ptr)] = (fi, "s", si)
    out = []
    for reg in targets:
        fi, kind, idx = where[id(reg)]
        func = vstate.frame[fi]
        out.append(func.regs[idx] if kind == "r" else func.stack[idx].spilled_ptr)
    return out


def _check_may_goto(env: Env, insn: Instruction) -> None:
    if insn.code != InsnClass.JMP | JumpOp.JCOND or insn.src or insn.dst or insn.imm \
            or insn.off == 0:
        env.reject(f"invalid may_goto off {insn.off} imm {insn.imm}")
    idx = env.insn_idx
    queued = push_stack(env, idx + 1, idx, False)
    queued.may_goto_depth += 1
    env.insn_idx += insn.off


def check_cond_jmp_op(env: Env, insn: Instruction) -> None:
    """Validate a conditional jump; push the taken side and continue on the fall-through.

    Leaves ``env.insn_idx`` at the jump instruction for the fall-through side (the caller
    advances it by one) or at ``target - 1`` when only the jump is possible.
    """
    this = env.cur_state
    assert this is not None
    regs = this.regs
    op = insn.op
    if op == JumpOp.JA or op > JumpOp.JCOND:
        env.reject(f"invalid BPF_JMP/JMP32 opcode {op:x}")
    if op == JumpOp.JCOND:
        _check_may_goto(env, insn)
        env.insn_idx -= 1  # the caller adds one
        return
    check_reg_arg(env, insn.dst, RegArg.SRC_OP)
    dst = regs[insn.dst]
    if insn.source == Source.X:
        if insn.imm:
            env.reject("BPF_JMP/JMP32 uses reserved fields")
        check_reg_arg(env, insn.src, RegArg.SRC_OP)
        src = regs[insn.src]
        if not (_is_pkt_any(dst) and _is_pkt_any(src)) and is_pointer_value(env, insn.src):
            env.reject(f"R{insn.src} pointer comparison prohibited", errno.EACCES)
    else:
        if insn.src:
            env.reject("BPF_JMP/JMP32 uses reserved fields")
        src = RegState(type=RegType.SCALAR_VALUE)
        mark_reg_known(src, insn.imm)
    jmp32 = insn.cls == InsnClass.JMP32
    pred = is_branch_taken(dst, src, op, jmp32)
    if pred == 1:
        _print_state(env)
        env.insn_idx += insn.off
        return
    if pred == 0:
        _print_state(env)
        return
    linked: list[RegState] = []
    if insn.source == Source.X and src.type == RegType.SCALAR_VALUE and src.id:
        linked += _linked(this, src.id)
    if dst.type == RegType.SCALAR_VALUE and dst.id:
        linked += [r for r in _linked(this, dst.id) if r not in linked]
    other = push_stack(env, env.insn_idx + insn.off + 1, env.insn_idx, False)
    oregs = other.regs
    if insn.source == Source.X:
        violations = reg_set_min_max(oregs[insn.dst], oregs[insn.src], dst, src, op, jmp32) \
            if dst.type == RegType.SCALAR_VALUE and src.type == RegType.SCALAR_VALUE else []
    else:
        other_src = src.copy()
        violations = reg_set_min_max(oregs[insn.dst], other_src, dst, src, op, jmp32) \
            if dst.type == RegType.SCALAR_VALUE else []
    for ctx, reg, _reason in violations:
        sanity_check(env, reg, ctx)  # type: ignore[arg-type]
    other_linked = _regs_in(other, linked, this)
    if insn.source == Source.X and src.type == RegType.SCALAR_VALUE and src.id:
        _sync_linked_regs(src, linked)
        _sync_linked_regs(oregs[insn.src], other_linked)
    if dst.type == RegType.SCALAR_VALUE and dst.id:
        _sync_linked_regs(dst, linked)
        _sync_linked_regs(oregs[insn.dst], other_linked)
    if (not jmp32 and insn.source == Source.X and src.is_pointer() and dst.is_pointer()
            and type_may_be_null(src.type) != type_may_be_null(dst.type)
            and base_type(src.type) != RegType.PTR_TO_BTF_ID
            and base_type(dst.type) != RegType.PTR_TO_BTF_ID):  # fmt: skip
        eq_regs = oregs if op == JumpOp.JEQ else regs if op == JumpOp.JNE else None
        if eq_regs is not None:
            which = insn.src if type_may_be_null(src.type) else insn.dst
            mark_ptr_not_null_reg(eq_regs[which])
    if (not jmp32 and insn.source == Source.K and insn.imm == 0
            and op in (JumpOp.JEQ, JumpOp.JNE) and type_may_be_null(dst.type)):  # fmt: skip
        _mark_ptr_or_null_regs(this, insn.dst, op == JumpOp.JNE)
        _mark_ptr_or_null_regs(other, insn.dst, op == JumpOp.JEQ)
    elif not _try_match_pkt_pointers(insn, dst, regs[insn.src], this, other) and \
            is_pointer_value(env, insn.dst):
        env.reject(f"R{insn.dst} pointer comparison prohibited", errno.EACCES)
    _print_state(env)


def _print_state(env: Env) -> None:
    if env.log.level:
        st = env.cur_state
        assert st is not None
        regs = None if env.all_scratched else sorted(env.scratched_regs)
        slots = None if env.all_scratched else sorted(env.scratched_slots)
        env.log.insn_state(env.insn_idx, format_func_state(st, st.cur, regs, slots))
        env.mark_state_clean()


_ = (mark_unknown, tnum_subreg)
