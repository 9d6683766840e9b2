"""Loops during exploration: SCC visits and the back-edges found inside them.

Mirrors ``compute_scc_callchain()``, ``maybe_enter_scc()``, ``maybe_exit_scc()``,
``add_scc_backedge()``, ``incomplete_read_marks()`` and ``propagate_backedges()`` of
kernel/bpf/verifier.c (Linux 6.18).

A checkpoint inside a loop (an instruction with a non-zero ``scc``, see
:mod:`pybpf.verifier.insn_graph`) opens a *visit* of that loop for its call chain. While
paths starting inside the visit are still being explored, precision marks of the states in
it are incomplete: such states prune only with ``RANGE_WITHIN`` comparison, and each prune
records a *back-edge* (a copy of the pruned state and the state it matched). When the visit's
entry state has no branches left, the precision needed by the matched states is propagated
through all back-edges until nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pybpf.verifier.env import Env
from pybpf.verifier.precision import mark_all_scalars_precise, propagate_precision
from pybpf.verifier.state import VerifierState

__all__ = [
    "SccVisit",
    "add_scc_backedge",
    "frame_insn_idx",
    "incomplete_read_marks",
    "maybe_enter_scc",
    "maybe_exit_scc",
]

MAX_BACKEDGE_ITERS = 64

CallChain = tuple[tuple[int, ...], int]
"""The call sites leading to the loop's frame, and the loop's id."""


@dataclass(slots=True)
class SccVisit:
    """``struct bpf_scc_visit``."""

    callchain: CallChain
    entry_state: VerifierState | None = None
    #: (copy of the pruned state, the state it matched), newest first
    backedges: list[tuple[VerifierState, VerifierState]] = field(default_factory=list)


def frame_insn_idx(st: VerifierState, frame: int) -> int:
    """``frame_insn_idx()``: where frame ``frame`` of ``st`` is (its callee's call site)."""
    return st.insn_idx if frame == st.curframe else st.frame[frame + 1].callsite


def compute_scc_callchain(env: Env, st: VerifierState) -> CallChain | None:
    """``compute_scc_callchain()``: the call chain of the outermost frame inside a loop.

    Saved states never change their frames, so theirs is computed once (``scc_cc``)."""
    if st.scc_cc_set:
        return st.scc_cc  # type: ignore[return-value]
    cc = _compute_scc_callchain(env, st)
    if st.branches == 0:  # a finished checkpoint: frames and position are final
        st.scc_cc, st.scc_cc_set = cc, True
    return cc


def _compute_scc_callchain(env: Env, st: VerifierState) -> CallChain | None:
    callsites = []
    for i in range(st.curframe + 1):
        insn_idx = frame_insn_idx(st, i)
        scc = env.aux[insn_idx].scc
        if scc:
            return tuple(callsites), scc
        if i == st.curframe:
            return None
        callsites.append(insn_idx)
    return None


def format_callchain(callchain: CallChain) -> str:
    """``format_callchain()``: ``(callsite,...,scc)``."""
    callsites, scc = callchain
    text = "("
    for c in callsites:
        if not c:
            break
        text += f"{c},"
    return text + f"{scc})"


def maybe_enter_scc(env: Env, st: VerifierState) -> None:
    """A checkpoint inside a loop opens (or joins) the visit of its call chain."""
    cc = compute_scc_callchain(env, st)
    if cc is None:
        return
    visit = env.scc_visits.get(cc)
    if visit is None:
        visit = env.scc_visits[cc] = SccVisit(cc)
    if visit.entry_state is None:
        visit.entry_state = st
        if env.log.level & 2:
            env.log(f"SCC enter {format_callchain(cc)}\n")


def maybe_exit_scc(env: Env, st: VerifierState) -> None:
    """``st`` has no branches left: if it opened its loop's visit, close it."""
    cc = compute_scc_callchain(env, st)
    if cc is None:
        return
    visit = env.scc_visits.get(cc)
    if visit is None:
        if not st.speculative:
            env.reject(f"verifier bug: scc exit: no visit info for call chain "
                       f"{format_callchain(cc)}", 14)  # fmt: skip
        return
    if visit.entry_state is not st:
        return
    if env.log.level & 2:
        env.log(f"SCC exit {format_callchain(cc)}\n")
    visit.entry_state = None
    env.num_backedges -= len(visit.backedges)
    _propagate_backedges(env, visit)


def add_scc_backedge(env: Env, st: VerifierState, backedge: VerifierState) -> None:
    """Record that ``backedge`` (a copy of the current state) was pruned by ``st``."""
    cc = compute_scc_callchain(env, st)
    visit = env.scc_visits.get(cc) if cc is not None else None
    if cc is None or visit is None:
        env.reject(f"verifier bug: add backedge: no SCC in verification path, insn_idx "
                   f"{st.insn_idx}", 14)  # fmt: skip
    if env.log.level & 2:
        env.log(f"SCC backedge {format_callchain(cc)}\n")
    visit.backedges.insert(0, (backedge, st))
    env.num_backedges += 1
    cur = env.explored_states_size + env.free_list_size + env.num_backedges
    env.peak_states = max(env.peak_states, cur)  # update_peak_states()


def incomplete_read_marks(env: Env, st: VerifierState) -> bool:
    """``st`` is in a loop visit whose paths are not all explored yet."""
    cc = compute_scc_callchain(env, st)
    if cc is None:
        return False
    visit = env.scc_visits.get(cc)
    return visit is not None and bool(visit.backedges)


def _propagate_backedges(env: Env, visit: SccVisit) -> None:
    """``propagate_backedges()``: precision through every back-edge, to a fixed point."""
    i = 0
    while True:
        i += 1
        if i > MAX_BACKEDGE_ITERS + 1:
            if env.log.level & 2:
                env.log("propagate_backedges: too many iterations\n")
            for backedge, _ in visit.backedges:
                mark_all_scalars_precise(env, backedge)
            break
        changed = False
        for backedge, equal_state in visit.backedges:
            changed |= propagate_precision(env, equal_state, backedge)
        if not changed:
            break
    visit.backedges.clear()
