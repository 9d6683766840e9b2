"""Stack accesses: bounds, spills and fills, byte-granular initialisation.

Mirrors ``check_stack_access_within_bounds()``, ``check_stack_write_fixed_off()``,
``check_stack_write_var_off()``, ``check_stack_read_fixed_off()``,
``check_stack_read_var_off()``, ``mark_reg_stack_read()``, ``save_register_state()`` and
``check_stack_range_initialized()`` of kernel/bpf/verifier.c (Linux 6.18).

A spilled register keeps its full state (pointers, and scalar bounds with their id), a fill
of the same size restores it; other writes make bytes ``STACK_MISC`` (or ``STACK_ZERO`` for
known zeros). Privileged loads may read uninitialised bytes (``allow_uninit_stack``).
"""

from __future__ import annotations

import errno

from pybpf.isa import Instruction, InsnClass, Mode
from pybpf.platform.helper_types import RegType, base_type
from pybpf.verifier.precision import INSN_F_STACK_ACCESS, mark_chain_precision, push_jmp_history
from pybpf.verifier.bounds import mark_reg_known
from pybpf.verifier.env import Env
from pybpf.verifier.regstate import DEF_NOT_SUBREG, RegState
from pybpf.verifier.state import BPF_REG_FP, BPF_REG_SIZE, MAX_BPF_STACK, FuncState, SlotType
from pybpf.verifier.tnum import tnum_equals_const, tnum_is_const
from pybpf.verifier.transfer.common import assign_scalar_id_before_mov, mark_unknown

__all__ = [
    "check_stack_access_within_bounds",
    "check_stack_range_initialized",
    "check_stack_read",
    "check_stack_write",
    "expose_call_args",
    "expose_stack",
    "frame_of",
]

BPF_MAX_VAR_OFF = 1 << 29

_SPILLABLE = frozenset({
    RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_STACK, RegType.PTR_TO_CTX, RegType.PTR_TO_PACKET,
    RegType.PTR_TO_PACKET_META, RegType.PTR_TO_PACKET_END, RegType.PTR_TO_FLOW_KEYS,
    RegType.CONST_PTR_TO_MAP, RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON,
    RegType.PTR_TO_TCP_SOCK, RegType.PTR_TO_XDP_SOCK, RegType.PTR_TO_BTF_ID,
    RegType.PTR_TO_BUF, RegType.PTR_TO_MEM, RegType.PTR_TO_FUNC, RegType.PTR_TO_MAP_KEY,
    RegType.PTR_TO_ARENA,
})  # fmt: skip


def _s64(x: int) -> int:
    return x - (1 << 64) if x >> 63 else x


def frame_of(env: Env, reg: RegState) -> FuncState:
    """``func()``: the frame a stack pointer points into."""
    assert env.cur_state is not None
    return env.cur_state.frame[reg.frameno]


def expose_stack(env: Env, state: FuncState, min_off: int) -> None:
    """Frame ``state`` may be reached at ``min_off`` and above other than through its own
    ``r10 + k`` (see :attr:`Env.stack_exposed`)."""
    old = env.stack_exposed.get(state.subprogno)
    if old is None or min_off < old:
        env.stack_exposed[state.subprogno] = min_off


def expose_call_args(env: Env) -> None:
    """A call: every stack pointer among r1..r5 exposes its frame from where it points."""
    assert env.cur_state is not None
    regs = env.cur_state.regs
    for regno in range(1, 6):
        reg = regs[regno]
        if base_type(reg.type) == RegType.PTR_TO_STACK:
            var = _s64(reg.var_off.value) if tnum_is_const(reg.var_off) else reg.smin_value
            expose_stack(env, frame_of(env, reg), max(-MAX_BPF_STACK, reg.off + var))


def _grow(env: Env, state: FuncState, size: int) -> None:
    state.grow_stack(size)
    sp = env.subprogs[state.subprogno] if state.subprogno < len(env.subprogs) else None
    if sp is not None:
        sp.stack_depth = max(sp.stack_depth, (size + 7) // 8 * 8)


def check_stack_access_within_bounds(env: Env, regno: int, off: int, size: int,
                                     write: bool) -> None:
    """``check_stack_access_within_bounds()``: [off, off+size) inside this frame's stack."""
    reg = env.cur_state.regs[regno]  # type: ignore[union-attr]
    state = frame_of(env, reg)
    extra = " write to" if write else " read from"
    if tnum_is_const(reg.var_off):
        min_off = _s64(reg.var_off.value) + off
        max_off = min_off + size
    else:
        if reg.smax_value >= BPF_MAX_VAR_OFF or reg.smin_value <= -BPF_MAX_VAR_OFF:
            env.reject(f"invalid unbounded variable-offset{extra} stack R{regno}", errno.EACCES)
        min_off = reg.smin_value + off
        max_off = reg.smax_value + off + size
    min_valid = -MAX_BPF_STACK if write or env.allow_uninit_stack else -state.allocated_stack
    bad = min_off < min_valid or min_off > -1 or max_off > 0 or size < 0
    if bad:
        if tnum_is_const(reg.var_off):
            env.reject(f"invalid{extra} stack R{regno} off={off} size={size}", errno.EACCES)
        env.reject(f"invalid variable-offset{extra} stack R{regno} var_off={reg.var_off} "
                   f"off={off} size={size}", errno.EACCES)  # fmt: skip
    _grow(env, state, -min_off)
    if regno != BPF_REG_FP:
        expose_stack(env, state, min_off)


def mark_stack_read(env: Env, frameno: int, spi: int) -> None:
    """``bpf_mark_stack_read()`` for slot ``spi`` of frame ``frameno`` at this instruction."""
    if env.liveness is not None:
        env.liveness.mark_read(frameno, env.insn_idx, 1 << spi)  # type: ignore[attr-defined]


def _save_register_state(state: FuncState, spi: int, reg: RegState, size: int) -> None:
    slot = state.stack[spi]
    slot.spilled_ptr = reg.copy()
    for i in range(BPF_REG_SIZE - 1, BPF_REG_SIZE - 1 - size, -1):
        slot.slot_type[i] = SlotType.SPILL
    for i in range(BPF_REG_SIZE - size):
        if slot.slot_type[i] not in (SlotType.ZERO, SlotType.INVALID):
            slot.slot_type[i] = SlotType.MISC


def _is_special(slot_types: list[int]) -> bool:
    return slot_types[BPF_REG_SIZE - 1] in (SlotType.SPILL, SlotType.DYNPTR, SlotType.ITER,
                                            SlotType.IRQ_FLAG)  # fmt: skip


def _is_st_mem(insn: Instruction | None) -> bool:
    return insn is not None and insn.cls == InsnClass.ST and insn.mode == Mode.MEM


def _write_fixed(env: Env, state: FuncState, off: int, size: int, value_regno: int,
                 insn: Instruction | None) -> None:
    slot_i = -off - 1
    spi = slot_i // BPF_REG_SIZE
    st = state.stack[spi]
    if not env.allow_ptr_leaks and st.is_spilled_reg() and \
            st.spilled_ptr.type != RegType.SCALAR_VALUE and size != BPF_REG_SIZE:
        env.reject("attempt to corrupt spilled pointer on stack", errno.EACCES)
    cur = env.cur_state.cur  # type: ignore[union-attr]
    reg = cur.regs[value_regno] if value_regno >= 0 else None
    if not env.bypass_spec_v1:  # !bypass_spec_v4: a store that may be bypassed (SSB)
        sanitize = reg is not None and base_type(reg.type) in _SPILLABLE
        # (the kernel looks at the slot's first `size` type bytes)
        if sanitize or any(st.slot_type[i] not in (SlotType.MISC, SlotType.ZERO)
                           for i in range(size)):
            env.aux[env.insn_idx].nospec_result = True
    env.mark_stack_slot_scratched(spi)
    if size == BPF_REG_SIZE and env.liveness is not None:  # the whole slot is overwritten
        env.liveness.mark_write(state.frameno, 1 << spi)  # type: ignore[attr-defined]
    spill = True  # a register spill: recorded in the jump history for backtracking
    if reg is not None and off % BPF_REG_SIZE == 0 and reg.type == RegType.SCALAR_VALUE \
            and env.bpf_capable:
        fits = reg.umax_value.bit_length() <= 8 * size
        if fits:
            assign_scalar_id_before_mov(env, reg)
        _save_register_state(state, spi, reg, size)
        if not fits:
            state.stack[spi].spilled_ptr.id = 0
    elif reg is None and off % BPF_REG_SIZE == 0 and _is_st_mem(insn) and env.bpf_capable:
        tmp = RegState(type=RegType.SCALAR_VALUE)
        assert insn is not None
        mark_reg_known(tmp, insn.imm)
        _save_register_state(state, spi, tmp, size)
    elif reg is not None and base_type(reg.type) in _SPILLABLE:
        if size != BPF_REG_SIZE:
            env.reject("invalid size of register spill", errno.EACCES)
        if state is not cur and reg.type == RegType.PTR_TO_STACK:
            env.reject("cannot spill pointers to stack into stack frame of the caller")
        _save_register_state(state, spi, reg, size)
    else:
        st.spilled_ptr.type = RegType.NOT_INIT
        if _is_special(st.slot_type):
            for i in range(BPF_REG_SIZE):
                if st.slot_type[i] != SlotType.INVALID:
                    st.slot_type[i] = SlotType.MISC
        zero = (reg is not None and reg.type == RegType.SCALAR_VALUE
                and tnum_equals_const(reg.var_off, 0)) or (
            reg is None and _is_st_mem(insn) and insn is not None and insn.imm == 0)
        if zero and value_regno >= 0:
            # STACK_ZERO is not a spill backtracking can follow: the zero must be precise
            mark_chain_precision(env, value_regno)
        kind = SlotType.ZERO if zero else SlotType.MISC
        for i in range(size):
            st.slot_type[(slot_i - i) % BPF_REG_SIZE] = kind
        spill = False
    if spill:
        push_jmp_history(env, env.cur_state, INSN_F_STACK_ACCESS, spi,  # type: ignore[arg-type]
                         state.frameno)


def _write_var(env: Env, state: FuncState, ptr_regno: int, off: int, size: int,
               value_regno: int, insn: Instruction | None) -> None:
    """``check_stack_write_var_off()``: every byte that may be written becomes MISC/ZERO."""
    cur = env.cur_state.cur  # type: ignore[union-attr]
    ptr = cur.regs[ptr_regno]
    value = cur.regs[value_regno] if value_regno >= 0 else None
    min_off = ptr.smin_value + off
    max_off = ptr.smax_value + off + size
    writing_zero = (value is not None and value.type == RegType.SCALAR_VALUE
                    and tnum_equals_const(value.var_off, 0)) or (
        value is None and _is_st_mem(insn) and insn is not None and insn.imm == 0)
    zero_used = False
    for i in range(min_off, max_off):
        slot_i = -i - 1
        spi = slot_i // BPF_REG_SIZE
        st = state.stack[spi]
        b = slot_i % BPF_REG_SIZE
        stype = st.slot_type[b]
        env.mark_stack_slot_scratched(spi)
        if not env.allow_ptr_leaks and stype not in (SlotType.MISC, SlotType.ZERO):
            env.reject(f"spilled ptr in range of var-offset stack write; insn {env.insn_idx}, "
                       f"ptr off: {i}")  # fmt: skip
        if writing_zero and stype == SlotType.SPILL and st.is_spilled_scalar_reg() and \
                tnum_equals_const(st.spilled_ptr.var_off, 0):
            zero_used = True
            continue
        st.spilled_ptr.type = RegType.NOT_INIT
        new = SlotType.ZERO if writing_zero and stype == SlotType.ZERO else SlotType.MISC
        if stype == SlotType.INVALID and not env.allow_uninit_stack:
            env.reject(f"uninit stack in range of var-offset write prohibited for !root; insn "
                       f"{env.insn_idx}, off: {i}")  # fmt: skip
        st.slot_type[b] = new
        if new == SlotType.ZERO:
            zero_used = True
    if zero_used and value_regno >= 0:  # backtracking does not follow STACK_ZERO
        mark_chain_precision(env, value_regno)


def check_stack_write(env: Env, ptr_regno: int, off: int, size: int, value_regno: int,
                      insn: Instruction | None) -> None:
    """``check_stack_write()``."""
    reg = env.cur_state.regs[ptr_regno]  # type: ignore[union-attr]
    state = frame_of(env, reg)
    if tnum_is_const(reg.var_off):
        _write_fixed(env, state, off + _s64(reg.var_off.value), size, value_regno, insn)
    else:
        _write_var(env, state, ptr_regno, off, size, value_regno, insn)


def _mark_reg_stack_read(env: Env, ptr_state: FuncState, min_off: int, max_off: int,
                         dst_regno: int) -> None:
    zeros = 0
    for i in range(min_off, max_off):
        slot_i = -i - 1
        spi = slot_i // BPF_REG_SIZE
        env.mark_stack_slot_scratched(spi)
        if ptr_state.stack[spi].slot_type[slot_i % BPF_REG_SIZE] != SlotType.ZERO:
            break
        zeros += 1
    dst = env.cur_state.regs[dst_regno]  # type: ignore[union-attr]
    if zeros == max_off - min_off:
        _mark_const_zero(env, dst)
    else:
        mark_unknown(env, dst)


def _mark_const_zero(env: Env, reg: RegState) -> None:
    """``__mark_reg_const_zero()``."""
    mark_unknown(env, reg)
    mark_reg_known(reg, 0)
    reg.type = RegType.SCALAR_VALUE
    reg.precise = not env.bpf_capable


def _read_fixed(env: Env, reg_state: FuncState, off: int, size: int, dst_regno: int) -> None:
    slot_i = -off - 1
    spi = slot_i // BPF_REG_SIZE
    mark_stack_read(env, reg_state.frameno, spi)
    st = reg_state.stack[spi]
    stype = st.slot_type
    spilled = st.spilled_ptr
    cur = env.cur_state.cur  # type: ignore[union-attr]
    env.mark_stack_slot_scratched(spi)
    if st.is_spilled_reg():
        spill_size = 1
        i = BPF_REG_SIZE - 1
        while i > 0 and stype[i - 1] == SlotType.SPILL:
            spill_size += 1
            i -= 1
        if size != BPF_REG_SIZE or spill_size != BPF_REG_SIZE:
            if spilled.type != RegType.SCALAR_VALUE:
                env.reject("invalid size of register fill", errno.EACCES)
            if dst_regno < 0:
                return
            fill = True  # restores the spilled register: recorded for backtracking
            if size <= spill_size and off % BPF_REG_SIZE == 0:
                subreg_def = cur.regs[dst_regno].subreg_def
                if env.bpf_capable and size == 4 and spill_size == 4 and \
                        spilled.umax_value.bit_length() <= 32:
                    # the slot gets an id to link it with the register it fills
                    assign_scalar_id_before_mov(env, spilled)
                cur.regs[dst_regno].assign(spilled)
                cur.regs[dst_regno].subreg_def = subreg_def
                if spilled.umax_value.bit_length() > size * 8:
                    cur.regs[dst_regno].id = 0
            else:
                spill_cnt = zero_cnt = 0
                for i in range(size):
                    t = stype[(slot_i - i) % BPF_REG_SIZE]
                    if t == SlotType.SPILL:
                        spill_cnt += 1
                    elif t == SlotType.ZERO:
                        zero_cnt += 1
                    elif t == SlotType.MISC or (t == SlotType.INVALID and env.allow_uninit_stack):
                        continue
                    else:
                        env.reject(f"invalid read from stack off {off}+{i} size {size}",
                                   errno.EACCES)  # fmt: skip
                if spill_cnt == size and tnum_equals_const(spilled.var_off, 0):
                    _mark_const_zero(env, cur.regs[dst_regno])
                elif zero_cnt == size:
                    _mark_const_zero(env, cur.regs[dst_regno])
                    fill = False
                else:
                    mark_unknown(env, cur.regs[dst_regno])
                    fill = False
        elif dst_regno >= 0:
            # a full fill copies the spilled register, id included (0 after widening)
            cur.regs[dst_regno].assign(spilled)
            cur.regs[dst_regno].subreg_def = DEF_NOT_SUBREG
            fill = True
        else:
            if spilled.type != RegType.SCALAR_VALUE and not env.allow_ptr_leaks:
                env.reject(f"leaking pointer from stack off {off}", errno.EACCES)
            fill = True
        if fill:
            push_jmp_history(env, env.cur_state, INSN_F_STACK_ACCESS, spi,  # type: ignore[arg-type]
                             reg_state.frameno)
        return
    for i in range(size):
        t = stype[(slot_i - i) % BPF_REG_SIZE]
        if t in (SlotType.MISC, SlotType.ZERO) or (t == SlotType.INVALID and
                                                   env.allow_uninit_stack):
            continue
        env.reject(f"invalid read from stack off {off}+{i} size {size}", errno.EACCES)
    if dst_regno >= 0:
        _mark_reg_stack_read(env, reg_state, off, off + size, dst_regno)


def check_stack_read(env: Env, ptr_regno: int, off: int, size: int, dst_regno: int) -> None:
    """``check_stack_read()``."""
    reg = env.cur_state.regs[ptr_regno]  # type: ignore[union-attr]
    state = frame_of(env, reg)
    var_off = not tnum_is_const(reg.var_off)
    if dst_regno < 0 and var_off:
        env.reject(f"variable offset stack pointer cannot be passed into helper function; "
                   f"var_off={reg.var_off} off={off} size={size}", errno.EACCES)  # fmt: skip
    if not env.bypass_spec_v1 and var_off:
        env.reject(f"R{ptr_regno} variable offset stack access prohibited for !root, "
                   f"var_off={reg.var_off}", errno.EACCES)  # fmt: skip
    if not var_off:
        _read_fixed(env, state, off + _s64(reg.var_off.value), size, dst_regno)
        return
    check_stack_range_initialized(env, ptr_regno, off, size, False, write=False, raw=False)
    _mark_reg_stack_read(env, state, reg.smin_value + off, reg.smax_value + off + size,
                         dst_regno)  # fmt: skip


def check_stack_range_initialized(env: Env, regno: int, off: int, access_size: int,
                                  zero_size_allowed: bool, write: bool, raw: bool) -> None:
    """``check_stack_range_initialized()``: every byte a helper may read is initialised.

    ``write`` (``BPF_WRITE``): the helper may write anything there (clobbers spills);
    ``raw`` (``meta->raw_mode``, uninitialised memory arguments): nothing is checked.
    """
    reg = env.cur_state.regs[regno]  # type: ignore[union-attr]
    state = frame_of(env, reg)
    if access_size == 0 and not zero_size_allowed:
        env.reject("invalid zero-sized read", errno.EACCES)
    check_stack_access_within_bounds(env, regno, off, access_size, write)
    if tnum_is_const(reg.var_off):
        min_off = max_off = _s64(reg.var_off.value) + off
    else:
        if not env.bypass_spec_v1:
            env.reject(f"R{regno} variable offset stack access prohibited for !root, "
                       f"var_off={reg.var_off}", errno.EACCES)  # fmt: skip
        raw = False
        min_off = reg.smin_value + off
        max_off = reg.smax_value + off
    if raw:
        return
    for i in range(min_off, max_off + access_size):
        slot_i = -i - 1
        spi = slot_i // BPF_REG_SIZE
        if state.allocated_stack <= slot_i:
            env.reject("allocated_stack too small", errno.EFAULT)
        st = state.stack[spi]
        b = slot_i % BPF_REG_SIZE
        t = st.slot_type[b]
        if t == SlotType.MISC:
            mark_stack_read(env, state.frameno, spi)
            continue
        if t == SlotType.ZERO or (t == SlotType.INVALID and env.allow_uninit_stack):
            if write:
                st.slot_type[b] = SlotType.MISC
            mark_stack_read(env, state.frameno, spi)
            continue
        if st.is_spilled_reg() and (st.spilled_ptr.type == RegType.SCALAR_VALUE
                                    or env.allow_ptr_leaks):
            if write:
                mark_unknown(env, st.spilled_ptr)
                for j in range(BPF_REG_SIZE):
                    if st.slot_type[j] != SlotType.INVALID:
                        st.slot_type[j] = SlotType.MISC
            mark_stack_read(env, state.frameno, spi)
            continue
        if tnum_is_const(reg.var_off):
            env.reject(f"invalid read from stack R{regno} off {min_off}+{i - min_off} size "
                       f"{access_size}", errno.EACCES)  # fmt: skip
        env.reject(f"invalid read from stack R{regno} var_off {reg.var_off}+{i - min_off} "
                   f"size {access_size}", errno.EACCES)  # fmt: skip
