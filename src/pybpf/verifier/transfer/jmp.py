"""Conditional jumps: which way they go, and what each side learns.

Mirrors ``check_cond_jmp_op()``, ``is_branch_taken()``, ``is_pkt_ptr_branch_taken()``,
``reg_not_null()``, ``mark_ptr_or_null_regs()``, ``try_match_pkt_pointers()``,
``find_good_pkt_pointers()``, ``mark_pkt_end()``, ``collect_linked_regs()`` and
``sync_linked_regs()`` of kernel/bpf/verifier.c (Linux 6.18). Scalar refinement is
:mod:`pybpf.verifier.branch`.

A branch decided by the operands' values makes them precise (``mark_chain_precision()``);
stack-pointer operands and linked scalars go into the jump history for backtracking.

Not modelled: the speculative paths pushed for unprivileged programs when a branch's outcome
is known.
"""

from __future__ import annotations

import errno

from pybpf.isa import InsnClass, Instruction, JumpOp, Source
from pybpf.platform.helper_types import RegType, TypeFlag, base_type
from pybpf.verifier.bounds import mark_reg_known, reg_bounds_sync, s64, zext_32_to_64
from pybpf.verifier.branch import flip_opcode, is_scalar_branch_taken, reg_set_min_max
from pybpf.verifier.env import Env
from pybpf.verifier.log import format_func_state
from pybpf.verifier.map_btf import may_point_to_spin_lock
from pybpf.verifier.packet_facts import note_compare
from pybpf.verifier.prune import widen_imprecise_scalars
from pybpf.verifier.scc import frame_insn_idx
from pybpf.verifier.precision import (
    INSN_F_DST_REG_STACK,
    INSN_F_SRC_REG_STACK,
    LinkedReg,
    mark_chain_precision,
    push_jmp_history,
)
from pybpf.verifier.regstate import (
    AT_PKT_END,
    BEYOND_PKT_END,
    BPF_ADD_CONST,
    BPF_ADD_CONST32,
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
LINKED_REGS_MAX = 6


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


def _mark_ptr_or_null_regs(env: Env, vstate: VerifierState, regno: int, is_null: bool) -> None:
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
        if not (reg.type == RegType.PTR_TO_MAP_VALUE and may_point_to_spin_lock(env, reg)):
            reg.id = 0


def _linked(env: Env, vstate: VerifierState, ident: int, out: list[RegState]) -> None:
    """``collect_linked_regs()``: append the scalars sharing ``ident``'s base id — live
    registers (live before each frame's instruction) and spilled slots — to ``out``.

    Past ``LINKED_REGS_MAX`` entries a scalar is unlinked instead (its id cleared)."""
    ident &= ~BPF_ADD_CONST
    for i in range(vstate.curframe, -1, -1):
        func = vstate.frame[i]
        live = env.aux[frame_insn_idx(vstate, i)].live_regs_before
        for j, reg in enumerate(func.regs[:10]):
            if live >> j & 1:
                _collect(out, reg, ident)
        for slot in func.stack:
            if slot.is_spilled_reg():
                _collect(out, slot.spilled_ptr, ident)


def _collect(out: list[RegState], reg: RegState, ident: int) -> None:
    if reg.type != RegType.SCALAR_VALUE or (reg.id & ~BPF_ADD_CONST) != ident:
        return
    if len(out) < LINKED_REGS_MAX:
        out.append(reg)
    else:
        reg.id = 0


def _linked_positions(vstate: VerifierState, regs: list[RegState]) -> tuple[LinkedReg, ...]:
    """``linked_regs_pack()``: where each linked scalar lives (frame, register or slot)."""
    where: dict[int, LinkedReg] = {}
    for fi, func in enumerate(vstate.frame[: vstate.curframe + 1]):
        for ri, reg in enumerate(func.regs):
            where[id(reg)] = LinkedReg(fi, True, ri)
        for si, slot in enumerate(func.stack):
            where[id(slot.spilled_ptr)] = LinkedReg(fi, False, si)
    return tuple(where[id(r)] for r in regs)


def _sync_linked_regs(known: RegState, regs: list[RegState]) -> None:
    """``sync_linked_regs()``: what a branch learned about ``known`` holds for every scalar
    linked to it, shifted by the constants between them (``off``). Links made through
    32-bit and 64-bit arithmetic do not mix."""
    for reg in regs:
        if reg.type != RegType.SCALAR_VALUE or reg is known:
            continue
        if (reg.id & ~BPF_ADD_CONST) != (known.id & ~BPF_ADD_CONST):
            continue
        if (reg.id ^ known.id) & BPF_ADD_CONST == BPF_ADD_CONST:
            continue
        saved_subreg_def = reg.subreg_def
        if (not reg.id & BPF_ADD_CONST and not known.id & BPF_ADD_CONST) or reg.off == known.off:
            reg.assign(known)
            reg.subreg_def = saved_subreg_def
            continue
        saved_off, saved_id = reg.off, reg.id
        delta = RegState(type=RegType.SCALAR_VALUE)
        mark_reg_known(delta, s64(_s32(reg.off) - _s32(known.off)))
        reg.assign(known)
        reg.off, reg.id, reg.subreg_def = saved_off, saved_id, saved_subreg_def
        _add(reg, delta, 32)
        _add(reg, delta, 64)
        reg.var_off = tnum_add(reg.var_off, delta.var_off)
        if (reg.id | known.id) & BPF_ADD_CONST32:
            zext_32_to_64(reg)
        reg_bounds_sync(reg)


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
    """The ``BPF_JCOND`` part of ``check_cond_jmp_op()``: the jump is taken now, the
    fall-through (one more iteration) is explored later with ``may_goto_depth`` + 1 and
    the scalars that changed since the previous iteration widened."""
    if insn.code != InsnClass.JMP | JumpOp.JCOND or insn.src or insn.dst or insn.imm:
        env.reject(f"invalid may_goto imm {insn.imm}")
    idx = env.insn_idx
    cur = env.cur_state
    assert cur is not None
    prev = _find_prev_entry(env, cur.parent, idx)
    queued = push_stack(env, idx + 1, idx, False)
    queued.may_goto_depth += 1
    if prev is not None:
        widen_imprecise_scalars(env, prev, queued)
    env.insn_idx += insn.off


def _sanitize_speculative_path(env: Env, insn: Instruction, next_idx: int,
                               curr_idx: int) -> None:
    """``sanitize_speculative_path()``: a CPU may mispredict a branch the verifier decided;
    unprivileged programs are also checked on that path, knowing nothing of the operands."""
    branch = push_stack(env, next_idx, curr_idx, True)
    regs = branch.regs
    mark_unknown(env, regs[insn.dst])
    if insn.source == Source.X:
        mark_unknown(env, regs[insn.src])


def _find_prev_entry(env: Env, cur: VerifierState | None, insn_idx: int) -> VerifierState | None:
    """``find_prev_entry()``: the checkpoint at ``insn_idx`` of an earlier iteration of the
    loop ``cur`` is in (one on the current path, less deep)."""
    if cur is None:
        return None
    for sl in env.explored_state(insn_idx):
        st = sl.state
        if st.insn_idx == insn_idx and st.branches and st.dfs_depth < cur.dfs_depth and \
                st.curframe == cur.curframe and all(
                    st.frame[i].callsite == cur.frame[i].callsite
                    for i in range(st.curframe + 1)):
            return st
    return None


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
        return
    check_reg_arg(env, insn.dst, RegArg.SRC_OP)
    dst = regs[insn.dst]
    insn_flags = 0
    if insn.source == Source.X:
        if insn.imm:
            env.reject("BPF_JMP/JMP32 uses reserved fields")
        check_reg_arg(env, insn.src, RegArg.SRC_OP)
        src = regs[insn.src]
        if not (_is_pkt_any(dst) and _is_pkt_any(src)) and is_pointer_value(env, insn.src):
            env.reject(f"R{insn.src} pointer comparison prohibited", errno.EACCES)
        if src.type == RegType.PTR_TO_STACK:
            insn_flags |= INSN_F_SRC_REG_STACK
    else:
        if insn.src:
            env.reject("BPF_JMP/JMP32 uses reserved fields")
        src = RegState(type=RegType.SCALAR_VALUE)
        mark_reg_known(src, insn.imm)
    if dst.type == RegType.PTR_TO_STACK:
        insn_flags |= INSN_F_DST_REG_STACK
    if insn_flags:
        push_jmp_history(env, this, insn_flags)
    jmp32 = insn.cls == InsnClass.JMP32
    note_compare(env, op, jmp32, dst.type, src.type if insn.source == Source.X else None)
    pred = is_branch_taken(dst, src, op, jmp32)
    if pred >= 0:
        # the verifier relies on the operands' values to drop a branch: they must be precise
        if not dst.is_pointer():
            mark_chain_precision(env, insn.dst)
        if insn.source == Source.X and not src.is_pointer():
            mark_chain_precision(env, insn.src)
    if pred == 1:
        if not env.bypass_spec_v1:  # the fall-through, under speculative execution
            _sanitize_speculative_path(env, insn, env.insn_idx + 1, env.insn_idx)
        _print_state(env)
        env.insn_idx += insn.off
        return
    if pred == 0:
        if not env.bypass_spec_v1:  # the jump, under speculative execution
            _sanitize_speculative_path(env, insn, env.insn_idx + insn.off + 1, env.insn_idx)
        _print_state(env)
        return
    linked: list[RegState] = []
    if insn.source == Source.X and src.type == RegType.SCALAR_VALUE and src.id:
        _linked(env, this, src.id, linked)
    if dst.type == RegType.SCALAR_VALUE and dst.id:
        _linked(env, this, dst.id, linked)
    if len(linked) > 1:
        # both branches share this history entry: precision of one linked scalar is
        # precision of all (bt_sync_linked_regs())
        push_jmp_history(env, this, linked_regs=_linked_positions(this, linked))
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
        _mark_ptr_or_null_regs(env, this, insn.dst, op == JumpOp.JNE)
        _mark_ptr_or_null_regs(env, other, insn.dst, op == JumpOp.JEQ)
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
