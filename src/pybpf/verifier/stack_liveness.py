"""Which stack slots may still be read: the kernel's call-chain sensitive stack liveness.

Mirrors kernel/bpf/liveness.c (Linux 6.18). While paths are explored, every instruction
records, per call chain ("function instance") and per frame, the 8-byte stack slots it may
read (a union over all visits) and the slots it certainly writes whole (an intersection).
A textbook backward data-flow over the sub-program's instructions then gives the slots live
before each instruction::

    live_after(i)  = U live_before(s) for s in successors(i)
    live_before(i) = (live_after(i) - must_write(i)) | may_read(i)

and what a callee certainly writes or may read of its callers' stacks is carried to the call
instruction of the caller's instance. Saved states forget dead slots
(:func:`pybpf.verifier.prune.clean_live_states`), so states that differ only there prune.
The data-flow is recomputed lazily (:meth:`StackLiveness.update`) after each path ends and
after each return from a sub-program, as the kernel does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pybpf.verifier.env import Env
from pybpf.verifier.insn_graph import insn_successors
from pybpf.verifier.precision import fmt_stack_mask
from pybpf.verifier.state import MAX_CALL_FRAMES, VerifierState

__all__ = ["StackLiveness"]

ALL = (1 << 64) - 1


@dataclass(slots=True)
class _Masks:
    """``struct per_frame_masks`` of one instruction."""

    may_read: int = 0
    must_write: int = 0
    must_write_acc: int = 0
    live_before: int = 0


@dataclass(slots=True)
class _Instance:
    """``struct func_instance``: the marks of one sub-program for one call chain."""

    callsites: tuple[int, ...]  # call instructions of the outer frames, then the entry
    sp_starts: tuple[int, ...]
    start: int
    insn_cnt: int
    frames: list[list[_Masks] | None] = field(default_factory=lambda: [None] * MAX_CALL_FRAMES)
    must_write_set: list[bool] = field(default_factory=list)
    updated: bool = False
    must_write_dropped: bool = False

    @property
    def curframe(self) -> int:
        return len(self.callsites) - 1

    def masks(self, frame: int, insn_idx: int) -> _Masks | None:
        arr = self.frames[frame]
        return None if arr is None else arr[insn_idx - self.start]

    def alloc(self, frame: int, insn_idx: int) -> _Masks:
        arr = self.frames[frame]
        if arr is None:
            arr = self.frames[frame] = [_Masks() for _ in range(self.insn_cnt)]
        return arr[insn_idx - self.start]

    def fmt(self) -> str:
        """``fmt_callchain()``: ``(callsite,...,entry)``."""
        return "(" + ",".join(str(c) for c in self.callsites) + ")"


class StackLiveness:
    """``struct bpf_liveness``: all function instances of one verification."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.instances: dict[tuple[int, ...], _Instance] = {}
        self.cur_instance: _Instance | None = None
        self.write_masks_acc = [0] * MAX_CALL_FRAMES
        self.write_insn_idx = 0
        self._query: list[_Instance] = []
        self._query_insn = 0

    # -- instances ---------------------------------------------------------------------------
    def _subprog_bounds(self, start: int) -> tuple[int, int]:
        subprogs = self.env.subprogs
        for i, sp in enumerate(subprogs):
            if sp.start == start:
                end = subprogs[i + 1].start if i + 1 < len(subprogs) else len(self.env.prog)
                return i, end
        raise KeyError(start)

    def _lookup(self, callsites: tuple[int, ...], sp_starts: tuple[int, ...]) -> _Instance:
        inst = self.instances.get(callsites)
        if inst is None:
            start = sp_starts[-1]
            _, end = self._subprog_bounds(start)
            inst = _Instance(callsites, sp_starts, start, end - start)
            inst.must_write_set = [False] * inst.insn_cnt
            self.instances[callsites] = inst
        return inst

    def lookup(self, st: VerifierState, frameno: int) -> _Instance:
        """``lookup_instance()``: the instance of frame ``frameno`` of ``st``."""
        subprogs = self.env.subprogs
        sp_starts = tuple(subprogs[st.frame[i].subprogno].start for i in range(frameno + 1))
        callsites = tuple(st.frame[i + 1].callsite for i in range(frameno)) + \
            (sp_starts[frameno],)
        return self._lookup(callsites, sp_starts)

    def reset_callchain(self) -> None:
        """``bpf_reset_live_stack_callchain()``: the current state's frames changed."""
        self.cur_instance = None

    def _ensure_cur(self) -> _Instance:
        if self.cur_instance is None:
            st = self.env.cur_state
            assert st is not None
            self.cur_instance = self.lookup(st, st.curframe)
        return self.cur_instance

    # -- marks -------------------------------------------------------------------------------
    @staticmethod
    def _mark_read(inst: _Instance, frame: int, insn_idx: int, mask: int) -> None:
        m = inst.alloc(frame, insn_idx)
        new = m.may_read | mask
        if new != m.may_read and (new | m.live_before) != m.live_before:
            inst.updated = True
        m.may_read = new

    def mark_read(self, frame: int, insn_idx: int, mask: int) -> None:
        """``bpf_mark_stack_read()``: the instruction may read these slots of ``frame``."""
        self._mark_read(self._ensure_cur(), frame, insn_idx, mask)

    def reset_write_marks(self, insn_idx: int) -> None:
        """``bpf_reset_stack_write_marks()``: start collecting the writes of an instruction."""
        inst = self._ensure_cur()
        self._reset_writes(inst, insn_idx)

    def _reset_writes(self, inst: _Instance, insn_idx: int) -> None:
        self.write_insn_idx = insn_idx
        for i in range(inst.curframe + 1):
            self.write_masks_acc[i] = 0

    def mark_write(self, frame: int, mask: int) -> None:
        """``bpf_mark_stack_write()``: the instruction writes these slots of ``frame`` whole."""
        self.write_masks_acc[frame] |= mask

    def commit_write_marks(self) -> None:
        """``bpf_commit_stack_write_marks()``."""
        self._commit(self.cur_instance)

    def _commit(self, inst: _Instance | None) -> None:
        if inst is None:
            return
        idx = self.write_insn_idx - inst.start
        for frame in range(inst.curframe + 1):
            mask = self.write_masks_acc[frame]
            if mask == 0 and not inst.must_write_set[idx]:
                continue
            m = inst.alloc(frame, self.write_insn_idx)
            old = m.must_write
            if inst.must_write_set[idx]:
                mask &= old
            if old != mask:
                m.must_write = mask
                inst.updated = True
            if old & ~mask:
                inst.must_write_dropped = True
        inst.must_write_set[idx] = True
        self.write_insn_idx = 0

    # -- data-flow ---------------------------------------------------------------------------
    def _update_insn(self, inst: _Instance, frame: int, insn_idx: int) -> bool:
        succ = insn_successors(self.env, insn_idx)
        if not succ:
            return False
        m = inst.masks(frame, insn_idx)
        assert m is not None
        new_after = 0
        acc = ALL
        for s in succ:
            sm = inst.masks(frame, s)
            assert sm is not None
            new_after |= sm.live_before
            acc &= sm.must_write_acc
        acc |= m.must_write
        new_before = (new_after & ~m.must_write) | m.may_read
        changed = new_before != m.live_before or acc != m.must_write_acc
        env = self.env
        if env.log.level & 2 and (m.may_read or m.must_write or insn_idx == inst.start
                                  or env.aux[insn_idx].prune_point):
            self._log_change(inst, "live", frame, insn_idx, m.live_before, new_before)
            self._log_change(inst, "written", frame, insn_idx, m.must_write_acc, acc)
        m.live_before = new_before
        m.must_write_acc = acc
        return changed

    def _log_change(self, inst: _Instance, pfx: str, frame: int, insn_idx: int, old: int,
                    new: int) -> None:
        changed = old ^ new
        if not changed:
            return
        ones, zeros = new & changed, ~new & changed & ALL
        text = f"{inst.fmt()} frame {frame} insn {insn_idx} "
        if ones:
            text += f"+{pfx} {fmt_stack_mask(ones)} "
        if zeros:
            text += f"-{pfx} {fmt_stack_mask(zeros)}"
        self.env.log(text + "\n")

    def _update_instance(self, inst: _Instance) -> None:
        """``update_instance()``: recompute ``live_before`` to a fixed point."""
        if inst.must_write_dropped:
            for arr in inst.frames:
                if arr is not None:
                    for m in arr:
                        m.must_write_acc = 0
        env = self.env
        sp_index, _ = self._subprog_bounds(inst.start)
        po_start = env.subprogs[sp_index].postorder_start
        po_end = env.subprogs[sp_index + 1].postorder_start \
            if sp_index + 1 < len(env.subprogs) else env.postorder_end
        order = env.postorder[po_start:po_end]
        cnt = 0
        while True:
            cnt += 1
            changed = False
            for frame in range(inst.curframe + 1):
                if inst.frames[frame] is None:
                    continue
                for pc in order:
                    changed |= self._update_insn(inst, frame, pc)
            if not changed:
                break
        if env.log.level & 2:
            env.log(f"{inst.fmt()} live stack update done in {cnt} iterations\n")
        if inst.curframe > 0:
            self._propagate_to_outer(inst)

    def _propagate_to_outer(self, inst: _Instance) -> None:
        """``propagate_to_outer_instance()``: the callee's reads and writes of the callers'
        stacks become those of the call instruction."""
        outer = self._lookup(inst.callsites[:-2] + (inst.sp_starts[-2],), inst.sp_starts[:-1])
        callsite = inst.callsites[-2]
        self._reset_writes(outer, callsite)
        for frame in range(inst.curframe):
            m = inst.masks(frame, inst.start)
            if m is None:
                continue
            self.mark_write(frame, m.must_write_acc)
            self._mark_read(outer, frame, callsite, m.live_before)
        self._commit(outer)

    def update(self) -> None:
        """``bpf_update_live_stack()``: bring every frame of the current state up to date."""
        self.reset_callchain()
        st = self.env.cur_state
        assert st is not None
        for frame in range(st.curframe, -1, -1):
            inst = self.lookup(st, frame)
            if inst.updated:
                self._update_instance(inst)
                inst.updated = False
                inst.must_write_dropped = False

    # -- queries -----------------------------------------------------------------------------
    def query_init(self, st: VerifierState) -> None:
        """``bpf_live_stack_query_init()``: answer :meth:`slot_alive` for ``st``."""
        self._query = [self.lookup(st, f) for f in range(st.curframe + 1)]
        self._query_insn = st.insn_idx

    def slot_alive(self, frameno: int, spi: int) -> bool:
        """``bpf_stack_slot_alive()``: may slot ``spi`` of frame ``frameno`` still be read?"""
        cur = self._query[-1]
        if _live_before(cur, self._query_insn, frameno, spi):
            return True
        for i in range(frameno, len(self._query) - 1):
            callsite = cur.callsites[i]
            if _live_before(self._query[i], callsite + 1, frameno, spi):
                return True
        return False


def _live_before(inst: _Instance, insn_idx: int, frameno: int, spi: int) -> bool:
    m = inst.masks(frameno, insn_idx)
    return m is not None and bool(m.live_before >> spi & 1)
