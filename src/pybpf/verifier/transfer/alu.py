"""ALU and ALU64 instructions: scalars, pointer arithmetic, moves.

Mirrors ``check_alu_op()``, ``adjust_reg_min_max_vals()``, ``adjust_ptr_min_max_vals()``,
``sanitize_ptr_alu()``, ``check_reg_sane_offset_scalar()`` and ``check_reg_sane_offset_ptr()``
of kernel/bpf/verifier.c (Linux 6.18).
Scalar results come from :mod:`pybpf.verifier.scalar_alu`. For unprivileged loads pointer
arithmetic with a register is bounds-checked, must mask the same way on every path, and its
masked outcome (offset 0) is explored as a speculative path.
"""

from __future__ import annotations

import errno

from pybpf.isa import ALUOp, InsnClass, Instruction, Source
from pybpf.platform.helper_types import RegType, TypeFlag, base_type
from pybpf.verifier.precision import mark_chain_precision
from pybpf.verifier.bounds import (
    S64_MAX,
    S64_MIN,
    U64_MAX,
    Bounds,
    coerce_reg_to_size_sx,
    coerce_subreg_to_size_sx,
    is_reg_const,
    mark_reg32_unbounded,
    mark_reg_known,
    reg_bounds_sync,
    reg_const_value,
    s32,
    s64,
    zext_32_to_64,
)
from pybpf.verifier.env import Env
from pybpf.verifier.worklist import push_stack
from pybpf.verifier.regstate import (
    BPF_ADD_CONST,
    BPF_ADD_CONST32,
    BPF_ADD_CONST64,
    DEF_NOT_SUBREG,
    RegState,
    reg_type_str,
    type_is_pkt_pointer,
)
from pybpf.verifier.scalar_alu import adjust_scalar_min_max_vals, scalar_byte_swap
from pybpf.verifier.tnum import tnum_add, tnum_is_const, tnum_sub
from pybpf.verifier.transfer.common import (
    ALU_STRINGS,
    RegArg,
    assign_scalar_id_before_mov,
    check_reg_arg,
    cur_regs,
    is_pointer_value,
    mark_unknown,
    sanity_check,
)

__all__ = ["check_alu_op"]

BPF_MAX_VAR_OFF = 1 << 29
MAX_BPF_STACK = 512


def _reserved(env: Env, what: str) -> None:
    env.reject(f"{what} uses reserved fields")


def check_reg_sane_offset(env: Env, reg: Bounds, off: int, ptr_type: int) -> None:
    """``check_reg_sane_offset_scalar()``: the scalar added to a pointer stays well inside
    32 bits."""
    known = tnum_is_const(reg.var_off)
    val = reg.var_off.value - (1 << 64) if reg.var_off.value >> 63 else reg.var_off.value
    if known and (val >= BPF_MAX_VAR_OFF or val <= -BPF_MAX_VAR_OFF):
        env.reject(f"math between {reg_type_str(ptr_type)} pointer and {val} is not allowed")
    if off >= BPF_MAX_VAR_OFF or off <= -BPF_MAX_VAR_OFF:
        env.reject(f"{reg_type_str(ptr_type)} pointer offset {off} is not allowed")
    if reg.smin_value == S64_MIN:
        env.reject(f"math between {reg_type_str(ptr_type)} pointer and register with "
                   "unbounded min value is not allowed")  # fmt: skip
    if reg.smin_value >= BPF_MAX_VAR_OFF or reg.smin_value <= -BPF_MAX_VAR_OFF:
        env.reject(f"value {reg.smin_value} makes {reg_type_str(ptr_type)} pointer be out "
                   "of bounds")  # fmt: skip


def check_reg_sane_offset_ptr(env: Env, reg: Bounds, off: int, ptr_type: int) -> None:
    """``check_reg_sane_offset_ptr()``: the pointer, before and after the arithmetic, stays
    well inside 32 bits of its object (6.18 reports its offset, not "value ... out of
    bounds", measured)."""
    known = tnum_is_const(reg.var_off)
    val = reg.var_off.value - (1 << 64) if reg.var_off.value >> 63 else reg.var_off.value
    if known and (val >= BPF_MAX_VAR_OFF or val <= -BPF_MAX_VAR_OFF):
        env.reject(f"{reg_type_str(ptr_type)} pointer offset {val} is not allowed")
    if off >= BPF_MAX_VAR_OFF or off <= -BPF_MAX_VAR_OFF:
        env.reject(f"{reg_type_str(ptr_type)} pointer offset {off} is not allowed")
    if reg.smin_value >= BPF_MAX_VAR_OFF or reg.smin_value <= -BPF_MAX_VAR_OFF:
        env.reject(f"{reg_type_str(ptr_type)} pointer offset {reg.smin_value} is not allowed")


def _sanitize_check_bounds(env: Env, regno: int, dst: RegState) -> None:
    """``sanitize_check_bounds()``: unprivileged pointers must stay in bounds."""
    if env.bypass_spec_v1:
        return
    if dst.type == RegType.PTR_TO_STACK:
        off = dst.off + (dst.var_off.value - (1 << 64) if dst.var_off.value >> 63
                         else dst.var_off.value)  # fmt: skip
        if not tnum_is_const(dst.var_off):
            env.reject(f"R{regno} variable stack access prohibited for !root, "
                       f"var_off={dst.var_off} off={off}", errno.EACCES)  # fmt: skip
        if off >= 0 or off < -MAX_BPF_STACK:
            env.reject(f"R{regno} stack pointer arithmetic goes out of range, prohibited for "
                       f"!root; off={off}", errno.EACCES)  # fmt: skip
    elif dst.type == RegType.PTR_TO_MAP_VALUE:
        assert dst.map_ptr is not None
        size = dst.map_ptr.value_size
        if (dst.smin_value + dst.off < 0 or dst.umax_value + dst.off + 1 > size
                or not tnum_is_const(dst.var_off) and dst.smin_value < 0):  # fmt: skip
            env.reject(f"R{regno} pointer arithmetic of map value goes out of range, "
                       "prohibited for !root", errno.EACCES)  # fmt: skip


def adjust_ptr_min_max_vals(env: Env, insn: Instruction, ptr: RegState, off_reg: Bounds,
                            off_is_dst: bool) -> None:
    """``adjust_ptr_min_max_vals()``: ``ptr +/- scalar`` (the result goes to ``dst``)."""
    dst_no = insn.dst
    dst = cur_regs(env)[dst_no]
    op = insn.op
    known = tnum_is_const(off_reg.var_off)
    smin_val, smax_val = off_reg.smin_value, off_reg.smax_value
    umin_val, umax_val = off_reg.umin_value, off_reg.umax_value
    smin_ptr, smax_ptr = ptr.smin_value, ptr.smax_value
    umin_ptr, umax_ptr = ptr.umin_value, ptr.umax_value
    if (known and (smin_val != smax_val or umin_val != umax_val)) or smin_val > smax_val \
            or umin_val > umax_val:
        mark_unknown(env, dst)
        return
    if insn.cls != InsnClass.ALU64:
        if op == ALUOp.SUB and env.allow_ptr_leaks:
            mark_unknown(env, dst)
            return
        env.reject(f"R{dst_no} 32-bit pointer arithmetic prohibited", errno.EACCES)
    if ptr.type & TypeFlag.PTR_MAYBE_NULL:
        env.reject(f"R{dst_no} pointer arithmetic on {reg_type_str(ptr.type)} prohibited, "
                   "null-check it first", errno.EACCES)  # fmt: skip
    base = base_type(ptr.type)
    if base == RegType.PTR_TO_MEM and ptr.type & TypeFlag.PTR_UNTRUSTED:
        # read through probe instructions: no offset to track, any operator goes; the result
        # is the pointer as it was (``scalar += ptr`` too, measured on 6.18)
        if off_is_dst:
            dst.assign(ptr)
        return
    allowed = base in (RegType.PTR_TO_CTX, RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_MAP_KEY,
                       RegType.PTR_TO_STACK, RegType.PTR_TO_PACKET_META, RegType.PTR_TO_PACKET,
                       RegType.PTR_TO_TP_BUFFER, RegType.PTR_TO_BTF_ID, RegType.PTR_TO_MEM,
                       RegType.PTR_TO_BUF, RegType.PTR_TO_FUNC, RegType.CONST_PTR_TO_DYNPTR)
    if base == RegType.PTR_TO_FLOW_KEYS and known:
        allowed = True
    if base in (RegType.PTR_TO_FLOW_KEYS, RegType.CONST_PTR_TO_MAP) and known and \
            smin_val == 0 and op == ALUOp.ADD:
        allowed = True
    if not allowed:
        env.reject(f"R{dst_no} pointer arithmetic on {reg_type_str(ptr.type)} prohibited",
                   errno.EACCES)  # fmt: skip
    ptr_copy = ptr.copy()
    dst.type = ptr.type
    dst.id = ptr.id
    check_reg_sane_offset(env, off_reg, 0, ptr.type)
    check_reg_sane_offset_ptr(env, ptr_copy, ptr_copy.off, ptr.type)
    mark_reg32_unbounded(dst)
    # sanitize_ptr_alu(), first half: unprivileged ptr +/- register, checked and simulated
    mask_to_left = False
    alu_state = alu_limit = 0
    aux = env.aux[env.insn_idx]
    st = env.cur_state
    assert st is not None
    sanitize = (not env.bypass_spec_v1 and op in (ALUOp.ADD, ALUOp.SUB)
                and insn.source == Source.X and not aux.nospec)  # fmt: skip
    if sanitize:
        if not st.speculative:
            off_is_neg = off_reg.smin_value < 0
            if not known and (off_reg.smin_value < 0) != (off_reg.smax_value < 0):
                _sanitize_err(env, insn, "bounds", off_is_dst)
            mask_to_left = (op == ALUOp.ADD and off_is_neg) or \
                (op == ALUOp.SUB and not off_is_neg)
            reason, alu_limit = _retrieve_ptr_limit(ptr_copy, mask_to_left)
            if reason:
                _sanitize_err(env, insn, reason, off_is_dst)
            alu_state = (BPF_ALU_NEG_VALUE if off_is_neg else 0) | \
                (BPF_ALU_IMMEDIATE if known else 0) | \
                (BPF_ALU_SANITIZE_DST if off_is_dst else BPF_ALU_SANITIZE_SRC)
            if not known:
                env.explore_alu_limits = True  # prune unknown scalars only when identical
        if not known:
            # the masked (truncated to 0) offset, explored as a speculative path
            saved = None
            if off_is_dst:
                saved = dst.copy()
                dst.assign(ptr_copy)
            push_stack(env, env.insn_idx + 1, env.insn_idx, True)
            if saved is not None:
                dst.assign(saved)
    if op == ALUOp.ADD:
        if known and -(1 << 31) <= ptr_copy.off + smin_val < (1 << 31):
            dst.smin_value, dst.smax_value = smin_ptr, smax_ptr
            dst.umin_value, dst.umax_value = umin_ptr, umax_ptr
            dst.var_off = ptr_copy.var_off
            dst.off = ptr_copy.off + smin_val
            _copy_raw(dst, ptr_copy)
        else:
            smin, smax = smin_ptr + smin_val, smax_ptr + smax_val
            if not (S64_MIN <= smin <= S64_MAX and S64_MIN <= smax <= S64_MAX):
                smin, smax = S64_MIN, S64_MAX
            umin, umax = umin_ptr + umin_val, umax_ptr + umax_val
            if umin > U64_MAX or umax > U64_MAX:
                umin, umax = 0, U64_MAX
            dst.smin_value, dst.smax_value, dst.umin_value, dst.umax_value = smin, smax, umin, umax
            dst.var_off = tnum_add(ptr_copy.var_off, off_reg.var_off)
            dst.off = ptr_copy.off
            _copy_raw(dst, ptr_copy)
            if type_is_pkt_pointer(ptr_copy.type):
                dst.id = env.new_id()
                dst.range = 0
    elif op == ALUOp.SUB:
        if off_is_dst:
            env.reject(f"R{dst_no} tried to subtract pointer from scalar", errno.EACCES)
        if ptr_copy.type == RegType.PTR_TO_STACK:
            env.reject(f"R{dst_no} subtraction from stack pointer prohibited", errno.EACCES)
        if known and -(1 << 31) <= ptr_copy.off - smin_val < (1 << 31):
            dst.smin_value, dst.smax_value = smin_ptr, smax_ptr
            dst.umin_value, dst.umax_value = umin_ptr, umax_ptr
            dst.var_off = ptr_copy.var_off
            dst.id = ptr_copy.id
            dst.off = ptr_copy.off - smin_val
            _copy_raw(dst, ptr_copy)
        else:
            smin, smax = smin_ptr - smax_val, smax_ptr - smin_val
            if not (S64_MIN <= smin <= S64_MAX and S64_MIN <= smax <= S64_MAX):
                smin, smax = S64_MIN, S64_MAX
            if umin_ptr < umax_val:
                umin, umax = 0, U64_MAX
            else:
                umin, umax = umin_ptr - umax_val, umax_ptr - umin_val
            dst.smin_value, dst.smax_value, dst.umin_value, dst.umax_value = smin, smax, umin, umax
            dst.var_off = tnum_sub(ptr_copy.var_off, off_reg.var_off)
            dst.off = ptr_copy.off
            _copy_raw(dst, ptr_copy)
            if type_is_pkt_pointer(ptr_copy.type):
                dst.id = env.new_id()
                if smin_val < 0:
                    dst.range = 0
    elif op in (ALUOp.AND, ALUOp.OR, ALUOp.XOR):
        env.reject(f"R{dst_no} bitwise operator {ALU_STRINGS[op >> 4]} on pointer prohibited",
                   errno.EACCES)  # fmt: skip
    else:
        env.reject(f"R{dst_no} pointer arithmetic with {ALU_STRINGS[op >> 4]} operator "
                   "prohibited", errno.EACCES)  # fmt: skip
    check_reg_sane_offset_ptr(env, dst, dst.off, ptr_copy.type)
    reg_bounds_sync(dst)
    _sanitize_check_bounds(env, dst_no, dst)
    if sanitize and not st.speculative:  # sanitize_ptr_alu(), commit window
        reason, limit = _retrieve_ptr_limit(dst, mask_to_left)
        if reason:
            _sanitize_err(env, insn, reason, off_is_dst)
        limit = (alu_limit - limit) & 0xFFFFFFFF  # abs() of a u32 difference
        # update_alu_sanitation_state(): one masking for every path through the insn
        if aux.alu_state and (aux.alu_state != alu_state or aux.alu_limit != limit):
            _sanitize_err(env, insn, "paths", off_is_dst)
        aux.alu_state, aux.alu_limit = alu_state, limit


BPF_ALU_SANITIZE_SRC = 1 << 0
BPF_ALU_SANITIZE_DST = 1 << 1
BPF_ALU_NEG_VALUE = 1 << 2
BPF_ALU_IMMEDIATE = 1 << 4


def _retrieve_ptr_limit(ptr: RegState, mask_to_left: bool) -> tuple[str, int]:
    """``retrieve_ptr_limit()``: ("", the masking limit) when it is in range, else the
    reason."""
    if ptr.type == RegType.PTR_TO_STACK:
        limit_max = MAX_BPF_STACK + int(mask_to_left)
        limit = -(ptr.var_off.value + ptr.off) & 0xFFFFFFFF
    elif ptr.type == RegType.PTR_TO_MAP_VALUE:
        assert ptr.map_ptr is not None
        limit_max = ptr.map_ptr.value_size
        limit = ((ptr.smin_value if mask_to_left else ptr.umax_value) + ptr.off) & 0xFFFFFFFF
    else:
        return "type", 0
    return ("limit", 0) if limit >= limit_max else ("", limit)


def _sanitize_err(env: Env, insn: Instruction, reason: str, off_is_dst: bool) -> None:
    """``sanitize_err()``: the unprivileged pointer-arithmetic refusals."""
    err = "pointer arithmetic with it prohibited for !root"
    op = "add" if insn.op == ALUOp.ADD else "sub"
    if reason == "bounds":
        who = insn.dst if off_is_dst else insn.src
        env.reject(f"R{who} has unknown scalar with mixed signed bounds, {err}", errno.EACCES)
    if reason == "type":
        who = insn.src if off_is_dst else insn.dst
        env.reject(f"R{who} has pointer with unsupported alu operation, {err}", errno.EACCES)
    if reason == "paths":
        env.reject(f"R{insn.dst} tried to {op} from different maps, paths or scalars, {err}",
                   errno.EACCES)  # fmt: skip
    env.reject(f"R{insn.dst} tried to {op} beyond pointer bounds, {err}", errno.EACCES)


def _copy_raw(dst: RegState, src: RegState) -> None:
    """``dst_reg->raw = ptr_reg->raw``: the type-specific union."""
    dst.range = src.range
    dst.map_ptr = src.map_ptr
    dst.map_uid = src.map_uid
    dst.mem_size = src.mem_size
    dst.btf_name = src.btf_name
    dst.btf_id = src.btf_id
    dst.subprogno = src.subprogno
    dst.frameno = src.frameno


def _adjust_reg_min_max_vals(env: Env, insn: Instruction) -> None:
    """``adjust_reg_min_max_vals()``: ALU ops other than mov, neg and byte swaps."""
    regs = cur_regs(env)
    dst = regs[insn.dst]
    alu32 = insn.cls != InsnClass.ALU64
    op = insn.op
    if dst.type == RegType.PTR_TO_ARENA:
        return
    ptr = dst if dst.type != RegType.SCALAR_VALUE else None
    if insn.source == Source.X:
        src = regs[insn.src]
        if src.type != RegType.SCALAR_VALUE:
            if dst.type != RegType.SCALAR_VALUE:
                if op == ALUOp.SUB and env.allow_ptr_leaks:
                    mark_unknown(env, dst)
                    return
                env.reject(f"R{insn.dst} pointer {ALU_STRINGS[op >> 4]} pointer prohibited",
                           errno.EACCES)  # fmt: skip
            mark_chain_precision(env, insn.dst)  # scalar += pointer
            adjust_ptr_min_max_vals(env, insn, src, dst.copy(), off_is_dst=True)
            return
        if ptr is not None:
            mark_chain_precision(env, insn.src)  # pointer += scalar
            adjust_ptr_min_max_vals(env, insn, ptr, src.copy(), off_is_dst=False)
            return
        if dst.precise:  # a precise result needs a precise operand
            mark_chain_precision(env, insn.src)
        src_bounds: RegState = src.copy()
    else:
        src_bounds = RegState(type=RegType.SCALAR_VALUE)
        mark_reg_known(src_bounds, insn.imm)
        if ptr is not None:
            adjust_ptr_min_max_vals(env, insn, ptr, src_bounds, off_is_dst=False)
            return
    if not adjust_scalar_min_max_vals(dst, src_bounds, op, alu32):
        mark_unknown(env, dst)
        return
    _link_add_const(env, dst, src_bounds, op, alu32)


def _link_add_const(env: Env, dst: RegState, src: RegState, op: int, alu32: bool) -> None:
    """``dst += const`` / ``dst -= const`` keeps ``dst`` linked to the scalars it was copied
    from, as ``id | BPF_ADD_CONST64`` (or ``BPF_ADD_CONST32`` for 32-bit ALU) with the
    constant in ``off``; any other operation unlinks it (adjust_reg_min_max_vals())."""
    if not (env.bpf_capable and op in (ALUOp.ADD, ALUOp.SUB) and dst.id
            and is_reg_const(src, alu32)):  # fmt: skip
        dst.id = 0  # otherwise sync_linked_regs() would copy stale bounds
        return
    val = reg_const_value(src, alu32)
    sval = s64(val)
    if (not alu32 and not -(1 << 31) <= sval < (1 << 31)) or \
            (alu32 and dst.id & BPF_ADD_CONST64) or (not alu32 and dst.id & BPF_ADD_CONST32):
        dst.off = dst.id = 0
        return
    off = s32(val)
    if op == ALUOp.SUB:
        if off == -(1 << 31):
            dst.off = dst.id = 0
            return
        off = -off
    if dst.id & BPF_ADD_CONST:  # rX += a; rX += b is not tracked
        dst.off = dst.id = 0
        return
    dst.id |= BPF_ADD_CONST32 if alu32 else BPF_ADD_CONST64
    dst.off = off


def _check_mov(env: Env, insn: Instruction) -> None:
    regs = cur_regs(env)
    if insn.source == Source.X:
        if insn.cls == InsnClass.ALU:
            if insn.off not in (0, 8, 16) or insn.imm:
                _reserved(env, "BPF_MOV")
        elif insn.off == 1:  # BPF_ADDR_SPACE_CAST
            if insn.imm not in (1, 1 << 16):
                env.reject("addr_space_cast insn can only convert between address space 1 "
                           "and 0")  # fmt: skip
            env.reject("addr_space_cast insn can only be used in a program that has an "
                       "associated arena")  # fmt: skip
        elif insn.off not in (0, 8, 16, 32) or insn.imm:
            _reserved(env, "BPF_MOV")
        check_reg_arg(env, insn.src, RegArg.SRC_OP)
    elif insn.src or insn.off:
        _reserved(env, "BPF_MOV")
    check_reg_arg(env, insn.dst, RegArg.DST_OP_NO_MARK)
    dst = regs[insn.dst]
    if insn.source == Source.K:
        mark_unknown(env, dst)
        dst.type = RegType.SCALAR_VALUE
        mark_reg_known(dst, insn.imm if insn.cls == InsnClass.ALU64 else insn.imm & 0xFFFFFFFF)
        return
    src = regs[insn.src]
    if insn.cls == InsnClass.ALU64:
        if insn.off == 0:
            assign_scalar_id_before_mov(env, src)
            dst.assign(src)
            dst.subreg_def = DEF_NOT_SUBREG
            return
        if is_pointer_value(env, insn.src):
            env.reject(f"R{insn.src} sign-extension part of pointer", errno.EACCES)
        if src.type == RegType.SCALAR_VALUE:
            no_sext = src.umax_value < 1 << (insn.off - 1)
            if no_sext:
                assign_scalar_id_before_mov(env, src)
            dst.assign(src)
            if not no_sext:
                dst.id = 0
            coerce_reg_to_size_sx(dst, insn.off >> 3)
            dst.subreg_def = DEF_NOT_SUBREG
        else:
            mark_unknown(env, dst)
        return
    if is_pointer_value(env, insn.src):
        env.reject(f"R{insn.src} partial copy of pointer", errno.EACCES)
    if src.type == RegType.SCALAR_VALUE:
        if insn.off == 0:
            is_u32 = src.umax_value.bit_length() <= 32
            if is_u32:
                assign_scalar_id_before_mov(env, src)
            dst.assign(src)
            if not is_u32:
                dst.id = 0
        else:
            no_sext = src.umax_value < 1 << (insn.off - 1)
            if no_sext:
                assign_scalar_id_before_mov(env, src)
            dst.assign(src)
            if not no_sext:
                dst.id = 0
            coerce_subreg_to_size_sx(dst, insn.off >> 3)
        dst.subreg_def = env.insn_idx + 1
    else:
        mark_unknown(env, dst)
    zext_32_to_64(dst)
    reg_bounds_sync(dst)


def check_alu_op(env: Env, insn: Instruction) -> None:
    """``check_alu_op()``: validate an ALU/ALU64 instruction and apply it."""
    regs = cur_regs(env)
    op = insn.op
    if op in (ALUOp.END, ALUOp.NEG):
        if op == ALUOp.NEG:
            if insn.source != Source.K or insn.src or insn.off or insn.imm:
                _reserved(env, "BPF_NEG")
        elif insn.src or insn.off or insn.imm not in (16, 32, 64) or (
                insn.cls == InsnClass.ALU64 and insn.source != Source.K):
            _reserved(env, "BPF_END")
        check_reg_arg(env, insn.dst, RegArg.SRC_OP)
        if is_pointer_value(env, insn.dst):
            env.reject(f"R{insn.dst} pointer arithmetic prohibited", errno.EACCES)
        dst = regs[insn.dst]
        if dst.type == RegType.SCALAR_VALUE:
            check_reg_arg(env, insn.dst, RegArg.DST_OP_NO_MARK)
            if op == ALUOp.NEG:
                adjust_scalar_min_max_vals(dst, Bounds(), op, insn.cls == InsnClass.ALU)
                dst.id = 0
            elif scalar_byte_swap(dst, insn.imm, insn.cls == InsnClass.ALU64,
                                  insn.source == Source.X):
                dst.id = 0
        else:
            check_reg_arg(env, insn.dst, RegArg.DST_OP)
    elif op == ALUOp.MOV:
        _check_mov(env, insn)
    elif op > ALUOp.END:
        env.reject(f"invalid BPF_ALU opcode {op:x}")
    else:
        if insn.source == Source.X:
            if insn.imm or insn.off > 1 or (insn.off == 1 and op not in (ALUOp.MOD, ALUOp.DIV)):
                _reserved(env, "BPF_ALU")
            check_reg_arg(env, insn.src, RegArg.SRC_OP)
        elif insn.src or insn.off > 1 or (insn.off == 1 and op not in (ALUOp.MOD, ALUOp.DIV)):
            _reserved(env, "BPF_ALU")
        check_reg_arg(env, insn.dst, RegArg.SRC_OP)
        if op in (ALUOp.MOD, ALUOp.DIV) and insn.source == Source.K and insn.imm == 0:
            env.reject("div by zero")
        if op in (ALUOp.LSH, ALUOp.RSH, ALUOp.ARSH) and insn.source == Source.K:
            size = 64 if insn.cls == InsnClass.ALU64 else 32
            if insn.imm < 0 or insn.imm >= size:
                env.reject(f"invalid shift {insn.imm}")
        check_reg_arg(env, insn.dst, RegArg.DST_OP_NO_MARK)
        _adjust_reg_min_max_vals(env, insn)
    sanity_check(env, regs[insn.dst], "alu")


