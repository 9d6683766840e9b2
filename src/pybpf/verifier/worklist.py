"""The stack of states still to explore.

Mirrors ``push_stack()``, ``pop_stack()`` and ``update_branch_counts()`` of
kernel/bpf/verifier.c (Linux 6.18): a branch pushes a copy of the current state; the log
position is saved so that, at log level 1, the log can forget a path that ended well; more
than 8192 pending states is the kernel's "sequence of jumps" limit.
"""

from __future__ import annotations

import errno

from pybpf.verifier.env import BPF_COMPLEXITY_LIMIT_JMP_SEQ, Env, StackElem
from pybpf.verifier.prune import maybe_free_verifier_state
from pybpf.verifier.scc import maybe_exit_scc
from pybpf.verifier.state import VerifierState

__all__ = ["pop_stack", "push_stack", "update_branch_counts"]


def push_stack(env: Env, insn_idx: int, prev_insn_idx: int, speculative: bool) -> VerifierState:
    """Save a copy of the current state to be explored from ``insn_idx`` later."""
    cur = env.cur_state
    assert cur is not None
    st = cur.copy()
    st.speculative |= speculative
    env.stack.append(StackElem(st, insn_idx, prev_insn_idx, env.log.pos))
    if len(env.stack) > BPF_COMPLEXITY_LIMIT_JMP_SEQ:
        env.reject(f"The sequence of {len(env.stack)} jumps is too complex.", errno.E2BIG)
    if st.parent is not None:
        st.parent.branches += 1
    return st


def pop_stack(env: Env, pop_log: bool) -> bool:
    """Make the most recently pushed state current; False when none is left."""
    if not env.stack:
        return False
    elem = env.stack.pop()
    env.cur_state = elem.state
    if pop_log:
        env.log.reset(elem.log_pos)
    env.insn_idx = elem.insn_idx
    env.prev_insn_idx = elem.prev_insn_idx
    return True


def update_branch_counts(env: Env, st: VerifierState | None) -> None:
    """A path ended: its checkpoints have one branch fewer left to explore; a checkpoint with
    none left may close its loop's visit (:func:`~pybpf.verifier.scc.maybe_exit_scc`)."""
    sl = None
    while st is not None:
        st.branches -= 1
        if st.branches:
            break
        maybe_exit_scc(env, st)
        parent = st.parent
        parent_sl = parent.slist if parent is not None else None
        if sl is not None:
            maybe_free_verifier_state(env, sl)  # type: ignore[arg-type]
        st, sl = parent, parent_sl
