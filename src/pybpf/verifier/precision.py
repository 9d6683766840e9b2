"""Precision tracking: which scalars must be compared exactly when pruning.

Mirrors the kernel's precision backtracking (kernel/bpf/verifier.c, Linux 6.18):
``push_jmp_history()``, ``get_prev_insn_idx()``, ``backtrack_insn()``,
``bt_sync_linked_regs()``, ``__mark_chain_precision()``, ``mark_all_scalars_precise()``,
``mark_all_scalars_imprecise()`` and ``propagate_precision()``.

All scalars start imprecise (privileged loads). When the verifier relies on a scalar's exact
value or range — pointer arithmetic, a branch whose outcome it decided, a helper size, a
constant map key, the program's return value — it asks for that register to be precise:
the instructions of the current path are walked backwards through the state's jump history,
following the register to the registers and stack slots it was computed from, and every
checkpoint (parent state) on the way gets those registers/slots marked ``precise``. When
pruning, an old state's imprecise scalar matches any scalar (:func:`~pybpf.verifier.prune.regsafe`).

The jump history (``VerifierState.jmp_history``) records, since the state's last checkpoint,
every non-linear step (jumps, calls, returns), the stack slot of each register spill/fill,
stack-pointer operands of conditional jumps and the scalars linked by id that a conditional
jump refined.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pybpf.isa import ALUOp, AtomicOp, InsnClass, JumpOp, Mode, Source
from pybpf.platform.helper_types import RegType
from pybpf.verifier.state import BPF_REG_SIZE, MAX_CALL_FRAMES, VerifierState

if TYPE_CHECKING:
    from pybpf.verifier.env import Env

__all__ = [
    "Backtrack",
    "HistEntry",
    "INSN_F_DST_REG_STACK",
    "INSN_F_SRC_REG_STACK",
    "INSN_F_STACK_ACCESS",
    "LinkedReg",
    "mark_all_scalars_imprecise",
    "mark_all_scalars_precise",
    "mark_chain_precision",
    "mark_chain_precision_batch",
    "propagate_precision",
    "push_jmp_history",
]

INSN_F_STACK_ACCESS = 1 << 3
"""The instruction spilled to or filled from the stack slot ``spi`` of frame ``frame``."""
INSN_F_DST_REG_STACK = 1 << 4
"""The conditional jump's dst register was a stack pointer (not a scalar to backtrack)."""
INSN_F_SRC_REG_STACK = 1 << 5
"""The conditional jump's src register was a stack pointer."""

BPF_REG_FP = 10
BPF_FETCH = 0x01
BPF_REGMASK_ARGS = 0b111110  # r1-r5


@dataclass(frozen=True, slots=True)
class LinkedReg:
    """``struct linked_reg``: a scalar (register or spilled slot) sharing an id."""

    frameno: int
    is_reg: bool
    index: int  # register number or stack slot


@dataclass(frozen=True, slots=True)
class HistEntry:
    """``struct bpf_jmp_history_entry``: how the path reached ``idx`` (from ``prev_idx``)."""

    idx: int
    prev_idx: int
    flags: int = 0
    spi: int = 0
    frame: int = 0
    linked_regs: tuple[LinkedReg, ...] = ()


def push_jmp_history(env: Env, cur: VerifierState, flags: int = 0, spi: int = 0,
                     frame: int = 0, linked_regs: tuple[LinkedReg, ...] = ()) -> None:
    """``push_jmp_history()``: record the current instruction (merging flags if it already is)."""
    hist = cur.jmp_history
    if env.cur_hist_ent and hist and hist[-1].idx == env.insn_idx:
        last = hist[-1]
        hist[-1] = HistEntry(last.idx, last.prev_idx, last.flags | flags,
                             spi if flags else last.spi, frame if flags else last.frame,
                             linked_regs or last.linked_regs)  # fmt: skip
        return
    hist.append(HistEntry(env.insn_idx, env.prev_insn_idx, flags, spi, frame, linked_regs))
    env.cur_hist_ent = True


_ENOENT = -2


def _get_prev_insn_idx(st: VerifierState, i: int, history: list[int]) -> int:
    """``get_prev_insn_idx()``: the instruction executed before ``i`` in ``st``'s part of the
    path, or ``_ENOENT`` at the state's first instruction (``history[0]`` entries remain)."""
    cnt = history[0]
    hist = st.jmp_history
    if i == st.first_insn_idx:
        if cnt == 0:
            return _ENOENT
        if cnt == 1 and hist[0].idx == i:
            return _ENOENT
    if cnt and hist[cnt - 1].idx == i:
        history[0] = cnt - 1
        return hist[cnt - 1].prev_idx
    return i - 1


def _get_jmp_hist_entry(st: VerifierState, hist_end: int, insn_idx: int) -> HistEntry | None:
    if hist_end > 0 and st.jmp_history[hist_end - 1].idx == insn_idx:
        return st.jmp_history[hist_end - 1]
    return None


class _NotSupported(Exception):
    """``-ENOTSUPP`` from ``backtrack_insn()``: fall back to marking everything precise."""


@dataclass(slots=True)
class Backtrack:
    """``struct backtrack_state``: registers and stack slots still to be traced, per frame."""

    frame: int = 0
    reg_masks: list[int] = field(default_factory=lambda: [0] * MAX_CALL_FRAMES)
    stack_masks: list[int] = field(default_factory=lambda: [0] * MAX_CALL_FRAMES)

    def reset(self) -> None:
        """``bt_reset()`` (in place: callers may hold the mask lists)."""
        self.frame = 0
        self.reg_masks[:] = [0] * MAX_CALL_FRAMES
        self.stack_masks[:] = [0] * MAX_CALL_FRAMES

    def empty(self) -> bool:
        return not any(self.reg_masks[: self.frame + 1]) and \
            not any(self.stack_masks[: self.frame + 1])

    # registers of the current frame
    def set_reg(self, reg: int) -> None:
        self.reg_masks[self.frame] |= 1 << reg

    def clear_reg(self, reg: int) -> None:
        self.reg_masks[self.frame] &= ~(1 << reg)

    def is_reg_set(self, reg: int) -> bool:
        return bool(self.reg_masks[self.frame] >> reg & 1)

    @property
    def reg_mask(self) -> int:
        return self.reg_masks[self.frame]

    @property
    def stack_mask(self) -> int:
        return self.stack_masks[self.frame]

    # any frame
    def set_frame_reg(self, frame: int, reg: int) -> None:
        self.reg_masks[frame] |= 1 << reg

    def set_frame_slot(self, frame: int, spi: int) -> None:
        self.stack_masks[frame] |= 1 << spi

    def clear_frame_slot(self, frame: int, spi: int) -> None:
        self.stack_masks[frame] &= ~(1 << spi)

    def is_frame_slot_set(self, frame: int, spi: int) -> bool:
        return bool(self.stack_masks[frame] >> spi & 1)

    def is_frame_reg_set(self, frame: int, reg: int) -> bool:
        return bool(self.reg_masks[frame] >> reg & 1)

    def subprog_enter(self, env: Env) -> None:
        if self.frame == MAX_CALL_FRAMES - 1:
            _bug(env, f"subprog enter from frame {self.frame}")
        self.frame += 1

    def subprog_exit(self, env: Env) -> None:
        if self.frame == 0:
            _bug(env, "subprog exit from frame 0")
        self.frame -= 1


def _bug(env: Env, text: str) -> None:
    """``verifier_bug()``: an internal inconsistency, reported like the kernel (EFAULT)."""
    env.reject(f"verifier bug: {text}", errno.EFAULT)


def fmt_reg_mask(mask: int) -> str:
    """``fmt_reg_mask()``: ``r0,r2,r4`` for 0x15."""
    return ",".join(f"r{i}" for i in range(32) if mask >> i & 1)


def fmt_stack_mask(mask: int) -> str:
    """``fmt_stack_mask()``: ``-8,-24`` for 0b101."""
    return ",".join(str(-(i + 1) * BPF_REG_SIZE) for i in range(64) if mask >> i & 1)


def _sync_linked_regs(bt: Backtrack, hist: HistEntry | None) -> None:
    """``bt_sync_linked_regs()``: one linked scalar precise makes all of them precise."""
    if hist is None or not hist.linked_regs:
        return
    for e in hist.linked_regs:
        if (e.is_reg and bt.is_frame_reg_set(e.frameno, e.index)) or \
                (not e.is_reg and bt.is_frame_slot_set(e.frameno, e.index)):
            break
    else:
        return
    for e in hist.linked_regs:
        if e.is_reg:
            bt.set_frame_reg(e.frameno, e.index)
        else:
            bt.set_frame_slot(e.frameno, e.index)


def _is_pseudo_call(code: int, src: int) -> bool:
    return code == InsnClass.JMP | JumpOp.CALL and src == 1


_ALU, _ALU64, _LDX, _ST, _STX, _JMP, _JMP32, _LD = 0x04, 0x07, 0x01, 0x02, 0x03, 0x05, 0x06, 0x00
_OP_END, _OP_NEG, _OP_MOV = 0xD0, 0x80, 0xB0
_OP_JA, _OP_CALL, _OP_EXIT = 0x00, 0x80, 0x90
_SRC_X = 0x08
_MODE_ATOMIC, _MODE_ABS, _MODE_IND = 0xC0, 0x20, 0x40


def _backtrack_insn(env: Env, idx: int, subseq_idx: int, hist: HistEntry | None,
                    bt: Backtrack) -> None:
    """``backtrack_insn()``: move the wanted registers/slots from after ``idx`` to before it.

    Raises :class:`_NotSupported` where the kernel returns -ENOTSUPP.
    """
    slot = env.prog.slots[idx]
    code = slot.code
    if code == 0:
        return
    cls = code & 0x07
    opcode = code & 0xF0
    dreg, sreg = slot.dst, slot.src
    if env.log.level & 2:
        from pybpf.verifier.explore import insn_text

        env.log(f"mark_precise: frame{bt.frame}: regs={fmt_reg_mask(bt.reg_mask)} "
                f"stack={fmt_stack_mask(bt.stack_mask)} before {idx}: {insn_text(env, idx)}\n")
    if hist is not None and hist.linked_regs:
        _sync_linked_regs(bt, hist)
    masks = bt.reg_masks
    fr = bt.frame
    if cls == _ALU or cls == _ALU64:
        if not masks[fr] >> dreg & 1 or opcode == _OP_END or opcode == _OP_NEG:
            return
        if opcode == _OP_MOV:
            masks[fr] &= ~(1 << dreg)
            if code & _SRC_X and sreg != BPF_REG_FP:
                masks[fr] |= 1 << sreg
        elif code & _SRC_X and sreg != BPF_REG_FP:
            masks[fr] |= 1 << sreg
    elif cls == _LDX or (cls == _STX and code & 0xE0 == _MODE_ATOMIC and
                         (slot.imm == AtomicOp.LOAD_ACQ or slot.imm & BPF_FETCH)):
        load_reg = dreg
        if cls == _STX and slot.imm & BPF_FETCH:  # atomic fetch: the old value's register
            load_reg = 0 if slot.imm == AtomicOp.CMPXCHG else sreg
        if not masks[fr] >> load_reg & 1:
            return
        masks[fr] &= ~(1 << load_reg)
        if hist is None or not hist.flags & INSN_F_STACK_ACCESS:
            return
        bt.set_frame_slot(hist.frame, hist.spi)
    elif cls == _STX or cls == _ST:
        if masks[fr] >> dreg & 1:
            raise _NotSupported  # a scalar used as a store address: pointer subtraction
        if hist is None or not hist.flags & INSN_F_STACK_ACCESS:
            return
        if not bt.is_frame_slot_set(hist.frame, hist.spi):
            return
        bt.clear_frame_slot(hist.frame, hist.spi)
        if cls == _STX:
            masks[fr] |= 1 << sreg
    elif cls == _JMP or cls == _JMP32:
        if opcode == _OP_CALL and cls == _JMP and sreg == 1:  # bpf-to-bpf call
            target = idx + slot.imm + 1
            subprog = next((sp for sp in env.subprogs if sp.start == target), None)
            if subprog is not None and subprog.is_global:
                if bt.reg_mask & BPF_REGMASK_ARGS:
                    _bug(env, f"global subprog unexpected regs {bt.reg_mask:x}")
                bt.clear_reg(0)
                return
            if bt.reg_mask & ~BPF_REGMASK_ARGS:
                _bug(env, f"static subprog unexpected regs {bt.reg_mask:x}")
            if bt.stack_mask:
                _bug(env, f"static subprog leftover stack slots {bt.stack_mask:x}")
            for r in range(1, 6):
                if bt.is_reg_set(r):
                    bt.clear_reg(r)
                    bt.set_frame_reg(bt.frame - 1, r)
            bt.subprog_exit(env)
            return
        if opcode == _OP_CALL and sreg == 0 and env.aux[idx].calls_callback and \
                idx != subseq_idx - 1:
            # from the callback's first instruction back to the helper that called it:
            # R1-R5 of the callback were set by the helper, not by this frame
            if bt.reg_mask & ~BPF_REGMASK_ARGS:
                _bug(env, f"callback unexpected regs {bt.reg_mask:x}")
            if bt.stack_mask:
                raise _NotSupported
            for r in range(1, 6):
                bt.clear_reg(r)
            bt.subprog_exit(env)
            return
        if opcode == _OP_CALL:
            if sreg == 2 and slot.imm == 0:
                raise _NotSupported
            bt.clear_reg(0)
            if bt.reg_mask & BPF_REGMASK_ARGS:
                _bug(env, f"backtracking call unexpected regs {bt.reg_mask:x}")
        elif opcode == _OP_EXIT:
            # the exit of a callback, back to the helper call: the caller's R1-R5 were kept
            # across the callback (the helper set the callback's), so they may be wanted
            to_callback = subseq_idx >= 0 and env.aux[subseq_idx].calls_callback
            if not to_callback and bt.reg_mask & BPF_REGMASK_ARGS:
                _bug(env, f"backtracking exit unexpected regs {bt.reg_mask:x}")
            prev = env.prog.slots[subseq_idx - 1] if subseq_idx - 1 >= 0 else None
            r0_precise = prev is not None and _is_pseudo_call(prev.code, prev.src) and \
                bt.is_reg_set(0)
            bt.clear_reg(0)
            bt.subprog_enter(env)
            if r0_precise:
                bt.set_reg(0)
            return
        elif code & _SRC_X and opcode != _OP_JA:
            m = masks[fr]
            if not m >> dreg & 1 and not m >> sreg & 1:
                return
            if hist is None or not hist.flags & INSN_F_SRC_REG_STACK:
                masks[fr] |= 1 << sreg
            if hist is None or not hist.flags & INSN_F_DST_REG_STACK:
                masks[fr] |= 1 << dreg
    elif cls == _LD:
        if not masks[fr] >> dreg & 1:
            return
        masks[fr] &= ~(1 << dreg)
        if code & 0xE0 in (_MODE_IND, _MODE_ABS):
            raise _NotSupported
    if hist is not None and hist.linked_regs:
        _sync_linked_regs(bt, hist)


def _is_atomic_load(code: int, imm: int) -> bool:
    return code & 0x07 == InsnClass.STX and code & 0xE0 == Mode.ATOMIC and \
        imm == AtomicOp.LOAD_ACQ


def _is_atomic_fetch(code: int, imm: int) -> bool:
    return code & 0x07 == InsnClass.STX and code & 0xE0 == Mode.ATOMIC and \
        bool(imm & BPF_FETCH)


def mark_all_scalars_precise(env: Env, st: VerifierState) -> None:
    """``mark_all_scalars_precise()``: the big hammer, for every checkpoint of the path."""
    if env.log.level & 2:
        env.log(f"mark_precise: frame{st.curframe}: falling back to forcing all scalars "
                "precise\n")  # fmt: skip
    p = st.parent
    while p is not None:
        for i, func in enumerate(p.frame[: p.curframe + 1]):
            for j, reg in enumerate(func.regs[:BPF_REG_FP]):
                if reg.type != RegType.SCALAR_VALUE or reg.precise:
                    continue
                reg.precise = True
                if env.log.level & 2:
                    env.log(f"force_precise: frame{i}: forcing r{j} to be precise\n")
            for j, s in enumerate(func.stack):
                if not s.is_spilled_reg():
                    continue
                reg = s.spilled_ptr
                if reg.type != RegType.SCALAR_VALUE or reg.precise:
                    continue
                reg.precise = True
                if env.log.level & 2:
                    env.log(f"force_precise: frame{i}: forcing fp{-(j + 1) * 8} to be "
                            "precise\n")  # fmt: skip
        p = p.parent


def mark_all_scalars_imprecise(st: VerifierState) -> None:
    """``mark_all_scalars_imprecise()``: forget inherited marks before a checkpoint."""
    for func in st.frame[: st.curframe + 1]:
        for reg in func.regs[:BPF_REG_FP]:
            if reg.type == RegType.SCALAR_VALUE:
                reg.precise = False
        for s in func.stack:
            if s.is_spilled_reg() and s.spilled_ptr.type == RegType.SCALAR_VALUE:
                s.spilled_ptr.precise = False


def _mark_chain(env: Env, starting: VerifierState, regno: int) -> bool:
    """``__mark_chain_precision()`` with ``env.bt`` already holding extra wanted slots.

    Returns whether any mark changed.
    """
    bt = env.bt
    reg_masks, stack_masks = bt.reg_masks, bt.stack_masks
    nprog = len(env.prog)
    dst_only = env.prog.backtrack_dst_only
    st = starting
    first_idx = st.first_insn_idx
    last_idx = st.insn_idx
    subseq_idx = -1
    skip_first = True
    changed = False
    level2 = bool(env.log.level & 2)
    if not env.bpf_capable:
        return False
    bt.frame = starting.curframe
    if regno >= 0:
        reg = st.frame[bt.frame].regs[regno]
        if reg.type != RegType.SCALAR_VALUE:
            _bug(env, "backtracking misuse")
        bt.set_reg(regno)
    if bt.empty():
        return False
    while True:
        history = [len(st.jmp_history)]
        if level2:
            env.log(f"mark_precise: frame{bt.frame}: last_idx {last_idx} first_idx {first_idx} "
                    f"subseq_idx {subseq_idx} \n")  # fmt: skip
        if last_idx < 0:
            f0 = st.frame[0]
            if st.curframe == 0 and f0.subprogno > 0 and f0.callsite == -1 and \
                    bt.stack_mask == 0 and bt.reg_mask & ~BPF_REGMASK_ARGS == 0:
                for i in range(32):
                    if bt.reg_mask >> i & 1:
                        r = f0.regs[i]
                        bt.clear_reg(i)
                        if r.type == RegType.SCALAR_VALUE:
                            r.precise = True
                            changed = True
                return changed
            _bug(env, f"backtracking func entry subprog {f0.subprogno} reg_mask "
                      f"{bt.reg_mask:x} stack_mask {bt.stack_mask:x}")  # fmt: skip
        # the walk back through this state's part of the path; get_jmp_hist_entry() and
        # get_prev_insn_idx() inlined, this loop is the verifier's hottest
        i = last_idx
        hist_list = st.jmp_history
        cnt = history[0]
        first = st.first_insn_idx
        while True:
            if skip_first:
                skip_first = False
            else:
                hist = hist_list[cnt - 1] if cnt and hist_list[cnt - 1].idx == i else None
                skip_reg = dst_only[i]
                # an instruction that only writes a register nobody wants changes nothing
                if level2 or skip_reg < 0 or reg_masks[bt.frame] >> skip_reg & 1 or \
                        (hist is not None and hist.linked_regs):
                    try:
                        _backtrack_insn(env, i, subseq_idx, hist, bt)
                    except _NotSupported:
                        mark_all_scalars_precise(env, starting)
                        bt.reset()
                        return changed
            f = bt.frame
            if (not (reg_masks[0] or stack_masks[0]) if f == 0 else
                    not any(reg_masks[:f + 1]) and not any(stack_masks[:f + 1])):
                return changed
            subseq_idx = i
            if i == first and (cnt == 0 or (cnt == 1 and hist_list[0].idx == i)):
                break
            if cnt and hist_list[cnt - 1].idx == i:
                cnt -= 1
                i = hist_list[cnt].prev_idx
            else:
                i -= 1
            if not 0 <= i < nprog:
                # reached insn 0 with wanted registers left: where they were set was missed
                _bug(env, f"backtracking idx {i}")
        st_parent = st.parent
        if st_parent is None:
            break
        st = st_parent
        for fr in range(bt.frame, -1, -1):
            func = st.frame[fr]
            mask = bt.reg_masks[fr]
            for r in _bits(mask):
                reg = func.regs[r]
                if reg.type != RegType.SCALAR_VALUE or reg.precise:
                    bt.reg_masks[fr] &= ~(1 << r)
                else:
                    reg.precise = True
                    changed = True
            smask = bt.stack_masks[fr]
            for s in _bits(smask):
                if s >= len(func.stack):
                    _bug(env, f"stack slot {s}, total slots {len(func.stack)}")
                slot = func.stack[s]
                if not slot.is_spilled_scalar_reg() or slot.spilled_ptr.precise:
                    bt.clear_frame_slot(fr, s)
                else:
                    slot.spilled_ptr.precise = True
                    changed = True
            if level2:
                from pybpf.verifier.log import format_func_state

                env.log(f"mark_precise: frame{fr}: parent state regs="
                        f"{fmt_reg_mask(bt.reg_masks[fr])} stack="
                        f"{fmt_stack_mask(bt.stack_masks[fr])}: "
                        + format_func_state(st, func) + "\n")
        if bt.empty():
            return changed
        subseq_idx = first_idx
        last_idx = st.last_insn_idx
        first_idx = st.first_insn_idx
    if not bt.empty():
        mark_all_scalars_precise(env, starting)
        bt.reset()
    return changed


def _bits(mask: int) -> list[int]:
    """The indexes of the set bits of ``mask``, lowest first."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def mark_chain_precision(env: Env, regno: int) -> None:
    """``mark_chain_precision()``: the current state relies on ``regno``'s exact value."""
    env.bt.reset()
    assert env.cur_state is not None
    _mark_chain(env, env.cur_state, regno)


def mark_chain_precision_batch(env: Env, starting: VerifierState) -> bool:
    """``mark_chain_precision_batch()``: trace what the caller put into ``env.bt``."""
    return _mark_chain(env, starting, -1)


def propagate_precision(env: Env, old: VerifierState, cur: VerifierState) -> bool:
    """``propagate_precision()``: ``cur`` was pruned by ``old``: what ``old`` needed precise,
    ``cur``'s path needs precise too."""
    bt = env.bt
    bt.reset()
    level2 = bool(env.log.level & 2)
    for fr in range(old.curframe, -1, -1):
        state = old.frame[fr]
        names = []
        for i, reg in enumerate(state.regs[:BPF_REG_FP]):
            if reg.type != RegType.SCALAR_VALUE or not reg.precise:
                continue
            names.append(f"r{i}")
            bt.set_frame_reg(fr, i)
        for i, s in enumerate(state.stack):
            if not s.is_spilled_reg():
                continue
            reg = s.spilled_ptr
            if reg.type != RegType.SCALAR_VALUE or not reg.precise:
                continue
            names.append(f"fp{(-i - 1) * BPF_REG_SIZE}")
            bt.set_frame_slot(fr, i)
        if names and level2:
            env.log(f"frame {fr}: propagating {','.join(names)}\n")
    return _mark_chain(env, cur, -1)
