"""State pruning: is the current state covered by one already proven safe?

Mirrors ``is_state_visited()``, ``states_equal()``, ``func_states_equal()``, ``regsafe()``,
``stacksafe()``, ``refsafe()``, ``check_ids()`` and ``check_scalar_ids()`` of
kernel/bpf/verifier.c (Linux 6.18), including the infinite-loop check against states still
being explored and the heuristics that decide when to save a checkpoint.

Precision tracking is not modelled yet: every scalar is compared as if it were precise, so
pruning is never wrong but sometimes rarer than the kernel's (more instructions processed).
Registers are compared only where live (static liveness, :mod:`pybpf.verifier.liveness`).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import Enum

from pybpf.platform.helper_types import RegType, base_type
from pybpf.verifier.bounds import range_within
from pybpf.verifier.env import BPF_COMPLEXITY_LIMIT_STATES, Env
from pybpf.verifier.log import format_func_state
from pybpf.verifier.regstate import BPF_ADD_CONST, RegState
from pybpf.verifier.state import BPF_REG_SIZE, FuncState, SlotType, StackSlot, VerifierState
from pybpf.verifier.tnum import tnum_in

__all__ = ["Exact", "StateList", "is_state_visited", "states_equal"]


class Exact(Enum):
    """``enum exact_level``."""

    NOT_EXACT = 0
    EXACT = 1
    RANGE_WITHIN = 2


@dataclass(slots=True)
class StateList:
    """``struct bpf_verifier_state_list``: a saved checkpoint and its statistics."""

    state: VerifierState
    hit_cnt: int = 0
    miss_cnt: int = 0


class IdMap:
    """``struct bpf_idmap``: ids of the old state paired with ids of the current one."""

    __slots__ = ("pairs", "cur_used", "tmp_id_gen")

    def __init__(self, tmp_id_gen: int) -> None:
        self.pairs: dict[int, int] = {}
        self.cur_used: set[int] = set()
        self.tmp_id_gen = tmp_id_gen

    def check_ids(self, old_id: int, cur_id: int) -> bool:
        if bool(old_id) != bool(cur_id):
            return False
        if not old_id:
            return True
        seen = self.pairs.get(old_id)
        if seen is not None:
            return seen == cur_id
        if cur_id in self.cur_used:
            return False
        self.pairs[old_id] = cur_id
        self.cur_used.add(cur_id)
        return True

    def check_scalar_ids(self, old_id: int, cur_id: int) -> bool:
        if not old_id:
            return True
        if not cur_id:
            self.tmp_id_gen += 1
            cur_id = self.tmp_id_gen
        return self.check_ids(old_id, cur_id)


def _head_equal(a: RegState, b: RegState, with_bounds: bool) -> bool:
    """``memcmp()`` of the fields before ``var_off`` (or before ``id`` with bounds)."""
    if (a.type, a.off, a.range, a.map_ptr, a.map_uid, a.mem_size, a.btf_name, a.subprogno) != \
            (b.type, b.off, b.range, b.map_ptr, b.map_uid, b.mem_size, b.btf_name, b.subprogno):
        return False
    return not with_bounds or a.bounds_tuple() == b.bounds_tuple()


def _regs_exact(old: RegState, cur: RegState, idmap: IdMap) -> bool:
    return (_head_equal(old, cur, True) and idmap.check_ids(old.id, cur.id)
            and idmap.check_ids(old.ref_obj_id, cur.ref_obj_id))  # fmt: skip


def regsafe(old: RegState, cur: RegState, idmap: IdMap, exact: Exact) -> bool:
    """``regsafe()``: every value ``cur`` may hold is one ``old`` was proven safe with."""
    if exact == Exact.EXACT:
        return _regs_exact(old, cur, idmap)
    if old.type == RegType.NOT_INIT:
        if exact == Exact.NOT_EXACT or cur.type == RegType.NOT_INIT:
            return True
    if old.type != cur.type:
        return False
    base = base_type(old.type)
    if base == RegType.SCALAR_VALUE:
        # all scalars are treated as precise (no precision tracking yet)
        if (old.id & BPF_ADD_CONST) != (cur.id & BPF_ADD_CONST):
            return False
        if old.id & BPF_ADD_CONST and old.off != cur.off:
            return False
        return (idmap.check_scalar_ids(old.id, cur.id) and range_within(old, cur)
                and tnum_in(old.var_off, cur.var_off))  # fmt: skip
    if base in (RegType.PTR_TO_MAP_KEY, RegType.PTR_TO_MAP_VALUE, RegType.PTR_TO_MEM,
                RegType.PTR_TO_BUF, RegType.PTR_TO_TP_BUFFER):
        return (_head_equal(old, cur, False) and range_within(old, cur)
                and tnum_in(old.var_off, cur.var_off) and idmap.check_ids(old.id, cur.id)
                and idmap.check_ids(old.ref_obj_id, cur.ref_obj_id))  # fmt: skip
    if base in (RegType.PTR_TO_PACKET_META, RegType.PTR_TO_PACKET):
        if old.range > cur.range or old.off != cur.off:
            return False
        if not idmap.check_ids(old.id, cur.id):
            return False
        return range_within(old, cur) and tnum_in(old.var_off, cur.var_off)
    if base == RegType.PTR_TO_STACK:
        return _regs_exact(old, cur, idmap) and old.frameno == cur.frameno
    if base == RegType.PTR_TO_ARENA:
        return True
    return _regs_exact(old, cur, idmap)


def _scalar_reg_for_stack(env: Env, slot: StackSlot) -> RegState | None:
    """``scalar_reg_for_stack()``: a 64-bit scalar spill, or all-MISC bytes as unknown."""
    if all(t == SlotType.SPILL for t in slot.slot_type) and \
            slot.spilled_ptr.type == RegType.SCALAR_VALUE:
        return slot.spilled_ptr
    if all(t == SlotType.MISC or (t == SlotType.INVALID and env.allow_uninit_stack)
           for t in slot.slot_type):
        reg = RegState()
        from pybpf.verifier.regstate import mark_reg_unknown
        mark_reg_unknown(reg)
        return reg
    return None


def stacksafe(env: Env, old: FuncState, cur: FuncState, idmap: IdMap, exact: Exact) -> bool:
    """``stacksafe()``."""
    old_size, cur_size = old.allocated_stack, cur.allocated_stack
    i = 0
    while i < old_size:
        spi, b = divmod(i, BPF_REG_SIZE)
        old_slot = old.stack[spi]
        old_t = old_slot.slot_type[b]
        if exact == Exact.EXACT:
            cur_t = cur.stack[spi].slot_type[b] if i < cur_size else SlotType.INVALID
            if i >= cur_size or old_t != cur_t:
                return False
        if old_t == SlotType.INVALID or (env.allow_uninit_stack and old_t == SlotType.MISC):
            i += 1
            continue
        if i >= cur_size:
            return False
        cur_slot = cur.stack[spi]
        old_reg = _scalar_reg_for_stack(env, old_slot)
        cur_reg = _scalar_reg_for_stack(env, cur_slot)
        if old_reg is not None and cur_reg is not None:
            if not regsafe(old_reg, cur_reg, idmap, exact):
                return False
            i = (spi + 1) * BPF_REG_SIZE
            continue
        cur_t = cur_slot.slot_type[b]
        if old_t == SlotType.MISC and cur_t == SlotType.ZERO:
            i += 1
            continue
        if old_t != cur_t:
            return False
        if b != BPF_REG_SIZE - 1:
            i += 1
            continue
        last = old_slot.slot_type[BPF_REG_SIZE - 1]
        if last == SlotType.SPILL:
            if not regsafe(old_slot.spilled_ptr, cur_slot.spilled_ptr, idmap, exact):
                return False
        elif last not in (SlotType.MISC, SlotType.ZERO, SlotType.INVALID):
            return False
        i += 1
    return True


def _refsafe(old: VerifierState, cur: VerifierState, idmap: IdMap) -> bool:
    if len(old.refs) != len(cur.refs):
        return False
    if (old.active_locks, old.active_preempt_locks, old.active_rcu_lock) != \
            (cur.active_locks, cur.active_preempt_locks, cur.active_rcu_lock):
        return False
    if not idmap.check_ids(old.active_lock_id, cur.active_lock_id) or \
            old.active_lock_ptr is not cur.active_lock_ptr:
        return False
    for a, b in zip(old.refs, cur.refs, strict=True):
        if not idmap.check_ids(a.id, b.id) or a.type != b.type:
            return False
    return True


def states_equal(env: Env, old: VerifierState, cur: VerifierState, exact: Exact) -> bool:
    """``states_equal()``."""
    if old.curframe != cur.curframe:
        return False
    idmap = IdMap(env.id_gen)
    if old.speculative and not cur.speculative:
        return False
    if old.in_sleepable != cur.in_sleepable:
        return False
    if not _refsafe(old, cur, idmap):
        return False
    for i in range(old.curframe + 1):
        insn_idx = old.insn_idx if i == old.curframe else old.frame[i + 1].callsite
        fo, fc = old.frame[i], cur.frame[i]
        if fo.callsite != fc.callsite:
            return False
        if fo.callback_depth > fc.callback_depth:
            return False
        live = env.aux[insn_idx].live_regs_before
        for r in range(11):
            if (live >> r) & 1 and not regsafe(fo.regs[r], fc.regs[r], idmap, exact):
                return False
        if not stacksafe(env, fo, fc, idmap, exact):
            return False
    return True


def _states_maybe_looping(old: VerifierState, cur: VerifierState) -> bool:
    if old.curframe != cur.curframe:
        return False
    fo, fc = old.cur, cur.cur
    return all(_head_equal(a, b, True) and a.id == b.id and a.ref_obj_id == b.ref_obj_id
               for a, b in zip(fo.regs, fc.regs, strict=True))  # fmt: skip


def is_state_visited(env: Env, insn_idx: int) -> bool:
    """Prune if an explored state at ``insn_idx`` covers the current one; else maybe save it.

    Returns True to prune. Raises :class:`~pybpf.verifier.env.Reject` on an infinite loop.
    """
    cur = env.cur_state
    assert cur is not None
    aux = env.aux[insn_idx]
    force_new_state = aux.force_checkpoint
    add_new_state = force_new_state
    if env.jmps_processed - env.prev_jmps_processed >= 2 and \
            env.insn_processed - env.prev_insn_processed >= 8:
        add_new_state = True
    head = env.explored.setdefault(insn_idx, [])
    states_cnt = 0
    for sl in list(head):
        states_cnt += 1
        if sl.state.branches:
            if _states_maybe_looping(sl.state, cur) and \
                    states_equal(env, sl.state, cur, Exact.EXACT) and \
                    sl.state.may_goto_depth == cur.may_goto_depth and \
                    sl.state.callback_unroll_depth == cur.callback_unroll_depth:
                env.verbose(f"infinite loop detected at insn {insn_idx}\n")
                env.verbose("cur state:" + format_func_state(cur, cur.cur) + "\n")
                env.verbose("old state:" + format_func_state(sl.state, sl.state.cur) + "\n")
                env.error_pc = insn_idx
                from pybpf.verifier.env import Reject
                raise Reject(errno.EINVAL)
            if not force_new_state and env.jmps_processed - env.prev_jmps_processed < 20 \
                    and env.insn_processed - env.prev_insn_processed < 100:
                add_new_state = False
        elif states_equal(env, sl.state, cur, Exact.NOT_EXACT):
            sl.hit_cnt += 1
            return True
        if add_new_state:
            sl.miss_cnt += 1
        n = 64 if aux.force_checkpoint and sl.state.branches > 0 else 3
        if sl.miss_cnt > sl.hit_cnt * n + n:
            head.remove(sl)
    env.max_states_per_insn = max(env.max_states_per_insn, states_cnt)
    if not env.bpf_capable and states_cnt > BPF_COMPLEXITY_LIMIT_STATES:
        return False
    if not add_new_state:
        return False
    env.total_states += 1
    env.prev_jmps_processed = env.jmps_processed
    env.prev_insn_processed = env.insn_processed
    new = cur.copy()
    new.insn_idx = insn_idx
    new.branches = 1
    cur.parent = new
    cur.dfs_depth = new.dfs_depth + 1
    head.insert(0, StateList(new))
    env.peak_states = max(env.peak_states, sum(len(v) for v in env.explored.values()))
    return False
