"""State pruning: is the current state covered by one already proven safe?

Mirrors ``is_state_visited()``, ``states_equal()``, ``func_states_equal()``, ``regsafe()``,
``stacksafe()``, ``refsafe()``, ``check_ids()`` and ``check_scalar_ids()`` of
kernel/bpf/verifier.c (Linux 6.18), including the infinite-loop check against states still
being explored and the heuristics that decide when to save a checkpoint.

An old state's imprecise scalars match any scalar (precision: :mod:`pybpf.verifier.precision`);
registers are compared only where live (static liveness, :mod:`pybpf.verifier.liveness`).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import Enum

from pybpf.platform.helper_types import RegType, base_type
from pybpf.verifier.bounds import range_within
from pybpf.verifier.env import BPF_COMPLEXITY_LIMIT_STATES, Env, Reject
from pybpf.verifier.log import format_func_state
from pybpf.verifier.precision import (
    mark_all_scalars_imprecise,
    propagate_precision,
    push_jmp_history,
)
from pybpf.verifier.scc import add_scc_backedge, incomplete_read_marks, maybe_enter_scc
from pybpf.verifier.regstate import BPF_ADD_CONST, RegState, mark_reg_not_init, mark_reg_unknown
from pybpf.verifier.scc import (
    add_scc_backedge,
    frame_insn_idx,
    incomplete_read_marks,
    maybe_enter_scc,
)
from pybpf.verifier.stack_liveness import StackLiveness
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
    #: Evicted from its list but still referenced (``env->free_list``).
    in_free_list: bool = False


def update_peak_states(env: Env) -> None:
    """``update_peak_states()``: saved states alive (listed, evicted-but-referenced, and
    loop back-edges) at their maximum."""
    cur = env.explored_states_size + env.free_list_size + env.num_backedges
    if cur > env.peak_states:
        env.peak_states = cur


def maybe_free_verifier_state(env: Env, sl: StateList) -> None:
    """``maybe_free_verifier_state()``: an evicted state nothing refers to any more."""
    if not sl.in_free_list or sl.state.branches != 0 or incomplete_read_marks(env, sl.state):
        return
    sl.in_free_list = False
    env.free_list_size -= 1


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
        """``check_scalar_ids()``: an unlinked old scalar matches anything; linked ones must
        map consistently, by compound id and (for ``BPF_ADD_CONST``) by base id too."""
        if not old_id:
            return True
        if not cur_id:
            self.tmp_id_gen += 1
            cur_id = self.tmp_id_gen
        if not self.check_ids(old_id, cur_id):
            return False
        if old_id & BPF_ADD_CONST:
            return self.check_ids(old_id & ~BPF_ADD_CONST, cur_id & ~BPF_ADD_CONST)
        return True


def _head_equal(a: RegState, b: RegState, with_bounds: bool) -> bool:
    """``memcmp()`` of the fields before ``var_off`` (or before ``id`` with bounds)."""
    if (a.type, a.off, a.range, a.map_ptr, a.map_uid, a.mem_size, a.btf_id, a.subprogno) != \
            (b.type, b.off, b.range, b.map_ptr, b.map_uid, b.mem_size, b.btf_id, b.subprogno):
        return False
    return not with_bounds or a.bounds_tuple() == b.bounds_tuple()


def _regs_exact(old: RegState, cur: RegState, idmap: IdMap) -> bool:
    return (_head_equal(old, cur, True) and idmap.check_ids(old.id, cur.id)
            and idmap.check_ids(old.ref_obj_id, cur.ref_obj_id))  # fmt: skip


_NOT_INIT = int(RegType.NOT_INIT)
_SCALAR = int(RegType.SCALAR_VALUE)
_RANGE_PTRS = frozenset(int(t) for t in (RegType.PTR_TO_MAP_KEY, RegType.PTR_TO_MAP_VALUE,
                                         RegType.PTR_TO_MEM, RegType.PTR_TO_BUF,
                                         RegType.PTR_TO_TP_BUFFER))  # fmt: skip
_PKT_PTRS = frozenset((int(RegType.PTR_TO_PACKET_META), int(RegType.PTR_TO_PACKET)))
_STACK_PTR = int(RegType.PTR_TO_STACK)
_ARENA_PTR = int(RegType.PTR_TO_ARENA)
_INVALID, _SPILL, _MISC, _ZERO = (int(SlotType.INVALID), int(SlotType.SPILL),
                                  int(SlotType.MISC), int(SlotType.ZERO))  # fmt: skip


def regsafe(old: RegState, cur: RegState, idmap: IdMap, exact: Exact,
            alu_limits: bool = False) -> bool:
    """``regsafe()``: every value ``cur`` may hold is one ``old`` was proven safe with.

    ``alu_limits`` is ``env->explore_alu_limits``: scalars must then be identical."""
    if exact is Exact.EXACT:
        return _regs_exact(old, cur, idmap)
    otype = old.type
    if otype == _NOT_INIT:
        if exact is Exact.NOT_EXACT or cur.type == _NOT_INIT:
            return True
    if otype != cur.type:
        return False
    if otype == _SCALAR:
        if alu_limits:
            return _head_equal(old, cur, True) and idmap.check_scalar_ids(old.id, cur.id)
        if not old.precise and exact is Exact.NOT_EXACT:
            return True
        oid = old.id
        if oid and (oid & BPF_ADD_CONST) != (cur.id & BPF_ADD_CONST):
            return False
        if oid & BPF_ADD_CONST and old.off != cur.off:
            return False
        return (idmap.check_scalar_ids(oid, cur.id) and range_within(old, cur)
                and tnum_in(old.var_off, cur.var_off))  # fmt: skip
    base = otype & 0xFF
    if base in _RANGE_PTRS:
        return (_head_equal(old, cur, False) and range_within(old, cur)
                and tnum_in(old.var_off, cur.var_off) and idmap.check_ids(old.id, cur.id)
                and idmap.check_ids(old.ref_obj_id, cur.ref_obj_id))  # fmt: skip
    if base in _PKT_PTRS:
        if old.range > cur.range or old.off != cur.off:
            return False
        if not idmap.check_ids(old.id, cur.id):
            return False
        return range_within(old, cur) and tnum_in(old.var_off, cur.var_off)
    if base == _STACK_PTR:
        return _regs_exact(old, cur, idmap) and old.frameno == cur.frameno
    if base == _ARENA_PTR:
        return True
    return _regs_exact(old, cur, idmap)


def _scalar_reg_for_stack(env: Env, slot: StackSlot) -> RegState | None:
    """``scalar_reg_for_stack()``: a 64-bit scalar spill, or all-MISC bytes as unknown."""
    types = slot.slot_type
    if types.count(_SPILL) == BPF_REG_SIZE and slot.spilled_ptr.type == _SCALAR:
        return slot.spilled_ptr
    misc = types.count(_MISC)
    if misc == BPF_REG_SIZE or (env.allow_uninit_stack and
                                misc + types.count(_INVALID) == BPF_REG_SIZE):
        return env.unbound_reg
    return None


def stacksafe(env: Env, old: FuncState, cur: FuncState, idmap: IdMap, exact: Exact) -> bool:
    """``stacksafe()``: the explored stack is at least as conservative as the current one.

    Walked slot by slot; within a slot, byte by byte as the kernel does (a 64-bit scalar
    spill or all-MISC bytes compare as one register).
    """
    cur_stack = cur.stack
    n_cur = len(cur_stack)
    uninit = env.allow_uninit_stack
    is_exact = exact is Exact.EXACT
    for spi, old_slot in enumerate(old.stack):
        ot = old_slot.slot_type
        if spi >= n_cur:
            for t in ot:
                if is_exact or not (t == _INVALID or (uninit and t == _MISC)):
                    return False
            continue
        cur_slot = cur_stack[spi]
        ct = cur_slot.slot_type
        if ot == ct:
            # same byte types: the byte walk below reduces to this
            if ot[BPF_REG_SIZE - 1] == _SPILL:
                if not regsafe(old_slot.spilled_ptr, cur_slot.spilled_ptr, idmap, exact,
                               env.explore_alu_limits):
                    return False
            elif not all(t == _INVALID or t == _MISC or t == _ZERO for t in ot):
                return False
            continue
        if is_exact:
            return False
        for b in range(BPF_REG_SIZE):
            t = ot[b]
            if t == _INVALID or (uninit and t == _MISC):
                continue
            if b == 0:
                old_reg = _scalar_reg_for_stack(env, old_slot)
                if old_reg is not None:
                    cur_reg = _scalar_reg_for_stack(env, cur_slot)
                    if cur_reg is not None:
                        if not regsafe(old_reg, cur_reg, idmap, exact, env.explore_alu_limits):
                            return False
                        break
            c = ct[b]
            if t == _MISC and c == _ZERO:
                continue
            if t != c:
                return False
            if b != BPF_REG_SIZE - 1:
                continue
            last = ot[BPF_REG_SIZE - 1]
            if last == _SPILL:
                if not regsafe(old_slot.spilled_ptr, cur_slot.spilled_ptr, idmap, exact,
                               env.explore_alu_limits):
                    return False
            elif last not in (_MISC, _ZERO, _INVALID):
                return False
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
        oregs, cregs = fo.regs, fc.regs
        alu_limits = env.explore_alu_limits
        not_exact = exact is Exact.NOT_EXACT and not alu_limits
        for r in env.aux[insn_idx].live_list:
            o = oregs[r]
            if not_exact:  # regsafe()'s two commonest answers, inline
                otype = o.type
                if otype == _NOT_INIT or (otype == _SCALAR and not o.precise and
                                          cregs[r].type == _SCALAR):
                    continue
            if not regsafe(o, cregs[r], idmap, exact, alu_limits):
                return False
        if not stacksafe(env, fo, fc, idmap, exact):
            return False
    return True


def _maybe_widen_reg(env: Env, old: RegState, cur: RegState, idmap: IdMap) -> None:
    if old.type != RegType.SCALAR_VALUE or old.type != cur.type:
        return
    if old.precise or cur.precise or _regs_exact(old, cur, idmap):
        return
    mark_reg_unknown(cur, not env.bpf_capable)


def widen_imprecise_scalars(env: Env, old: VerifierState, cur: VerifierState) -> None:
    """``widen_imprecise_scalars()``: scalars nothing relied on exactly, and that changed
    since ``old`` (an earlier iteration of a loop), become unknown in ``cur``, so that the
    loop's states converge."""
    idmap = IdMap(env.id_gen)
    for fr in range(old.curframe, -1, -1):
        fold, fcur = old.frame[fr], cur.frame[fr]
        for i in range(11):
            _maybe_widen_reg(env, fold.regs[i], fcur.regs[i], idmap)
        for i, slot in enumerate(fold.stack):
            if i >= len(fcur.stack) or not slot.is_spilled_reg() or \
                    not fcur.stack[i].is_spilled_reg():
                continue
            _maybe_widen_reg(env, slot.spilled_ptr, fcur.stack[i].spilled_ptr, idmap)


def _same_callsites(a: VerifierState, b: VerifierState) -> bool:
    if a.curframe != b.curframe:
        return False
    fa, fb = a.frame, b.frame
    for i in range(a.curframe + 1):
        if fa[i].callsite != fb[i].callsite:
            return False
    return True


def clean_verifier_state(env: Env, st: VerifierState) -> None:
    """``clean_verifier_state()``: forget the registers and stack slots ``st`` will never read
    again, so that it matches more states."""
    liveness = env.liveness
    assert isinstance(liveness, StackLiveness)
    liveness.query_init(st)
    st.cleaned = True
    for i, func in enumerate(st.frame[: st.curframe + 1]):
        live = env.aux[frame_insn_idx(st, i)].live_regs_before
        for r in range(10):
            if not live >> r & 1:
                mark_reg_not_init(func.regs[r], not env.bpf_capable)
        for spi, slot in enumerate(func.stack):
            if not liveness.slot_alive(i, spi):
                mark_reg_not_init(slot.spilled_ptr, not env.bpf_capable)
                slot.slot_type[:] = [SlotType.INVALID] * BPF_REG_SIZE


def clean_live_states(env: Env, insn: int, cur: VerifierState) -> None:
    """``clean_live_states()``: clean the finished checkpoints at ``insn`` (once each)."""
    for sl in env.explored_state(insn):
        st = sl.state
        if st.cleaned or st.branches or st.insn_idx != insn or not _same_callsites(st, cur):
            continue
        if incomplete_read_marks(env, st):
            continue
        clean_verifier_state(env, st)


def _is_may_goto(env: Env, insn_idx: int) -> bool:
    return env.prog.slots[insn_idx].code == 0x05 | 0xE0  # BPF_JMP | BPF_JCOND


def _states_maybe_looping(old: VerifierState, cur: VerifierState) -> bool:
    if old.curframe != cur.curframe:
        return False
    for a, b in zip(old.cur.regs, cur.cur.regs, strict=True):
        # memcmp() up to frameno: cheap fields first, they differ most often
        if a.type != b.type or a.var_off != b.var_off or a.id != b.id or \
                a.ref_obj_id != b.ref_obj_id or not _head_equal(a, b, True):
            return False
    return True


def is_state_visited(env: Env, insn_idx: int) -> bool:
    """Prune if an explored state at ``insn_idx`` covers the current one; else maybe save it.

    Returns True to prune. Raises :class:`~pybpf.verifier.env.Reject` on an infinite loop.
    """
    cur = env.cur_state
    assert cur is not None
    aux = env.aux[insn_idx]
    # a long jump history since the last checkpoint also forces one
    force_new_state = env.options.test_state_freq or aux.force_checkpoint or \
        len(cur.jmp_history) > 40
    add_new_state = force_new_state
    if env.jmps_processed - env.prev_jmps_processed >= 2 and \
            env.insn_processed - env.prev_insn_processed >= 8:
        add_new_state = True
    clean_live_states(env, insn_idx, cur)
    head = env.explored_state(insn_idx)
    states_cnt = 0
    for sl in list(head):
        states_cnt += 1
        old = sl.state
        if old.insn_idx != insn_idx:
            continue
        loop = False
        hit = False
        if old.branches:
            if _is_may_goto(env, insn_idx) and old.may_goto_depth != cur.may_goto_depth and \
                    states_equal(env, old, cur, Exact.RANGE_WITHIN):
                # another may_goto iteration reaching an old state: the loop converged
                loop = hit = True
            elif aux.calls_callback:
                # another visit of a callback reaching an old state: the iterations converged
                if states_equal(env, old, cur, Exact.RANGE_WITHIN):
                    loop = hit = True
                elif not force_new_state and \
                        env.jmps_processed - env.prev_jmps_processed < 20 and \
                        env.insn_processed - env.prev_insn_processed < 100:
                    add_new_state = False
            elif _states_maybe_looping(old, cur) and \
                    states_equal(env, old, cur, Exact.EXACT) and \
                    old.may_goto_depth == cur.may_goto_depth and \
                    old.callback_unroll_depth == cur.callback_unroll_depth:
                env.verbose(f"infinite loop detected at insn {insn_idx}\n")
                env.verbose("cur state:" + format_func_state(cur, cur.cur) + "\n")
                env.verbose("old state:" + format_func_state(old, old.cur) + "\n")
                env.error_pc = insn_idx
                raise Reject(errno.EINVAL)
            elif not force_new_state and env.jmps_processed - env.prev_jmps_processed < 20 \
                    and env.insn_processed - env.prev_insn_processed < 100:
                add_new_state = False
        else:
            # inside a loop still being explored, precision marks are not final yet
            loop = incomplete_read_marks(env, old)
            hit = states_equal(env, old, cur, Exact.RANGE_WITHIN if loop else Exact.NOT_EXACT)
        if hit:
            sl.hit_cnt += 1
            # what the old state needed precise, the current path needs precise too
            if env.aux[env.insn_idx].jmp_point:
                push_jmp_history(env, cur)
            propagate_precision(env, old, cur)
            if loop:
                backedge = cur.copy()
                backedge.insn_idx = insn_idx
                add_scc_backedge(env, old, backedge)
            return True
        if add_new_state:
            sl.miss_cnt += 1
        n = 64 if aux.force_checkpoint and sl.state.branches > 0 else 3
        if sl.miss_cnt > sl.hit_cnt * n + n:
            head.remove(sl)
            sl.in_free_list = True
            env.free_list_size += 1
            env.explored_states_size -= 1
            maybe_free_verifier_state(env, sl)
    env.max_states_per_insn = max(env.max_states_per_insn, states_cnt)
    if not env.bpf_capable and states_cnt > BPF_COMPLEXITY_LIMIT_STATES:
        return False
    if not add_new_state:
        return False
    env.total_states += 1
    env.explored_states_size += 1
    update_peak_states(env)
    env.prev_jmps_processed = env.jmps_processed
    env.prev_insn_processed = env.insn_processed
    if env.bpf_capable:  # forget inherited precision marks (see precision.py)
        mark_all_scalars_imprecise(cur)
    new = cur.copy()
    new.insn_idx = insn_idx
    new.branches = 1
    maybe_enter_scc(env, new)
    cur.parent = new
    cur.first_insn_idx = insn_idx
    cur.dfs_depth = new.dfs_depth + 1
    cur.jmp_history = []
    sl_new = StateList(new)
    new.slist = sl_new
    head.insert(0, sl_new)
    return False
