"""The instruction graph: successors, post-order and loops (strongly connected components).

Mirrors ``bpf_insn_successors()``, ``compute_postorder()`` and ``compute_scc()`` of
kernel/bpf/verifier.c and kernel/bpf/liveness.c (Linux 6.18). The graph is intraprocedural:
a call falls through to the next instruction, ``exit`` has no successor.

``compute_postorder()`` fills ``env.postorder`` (each sub-program's instructions in the order
a depth-first search finishes them, jump targets explored before fall-throughs, as the
kernel's) and ``Subprog.postorder_start``; the stack liveness analysis iterates in that order.
``compute_scc()`` numbers the loops: ``env.aux[pc].scc`` is non-zero for instructions of a
non-trivial component (a cycle), the ids in the order the kernel gives them.
"""

from __future__ import annotations

from pybpf.isa import OP_LDDW, InsnClass, JumpOp
from pybpf.verifier.env import Env

__all__ = ["compute_postorder", "compute_scc", "insn_successors"]


def insn_successors(env: Env, pc: int) -> tuple[int, ...]:
    """``bpf_insn_successors()``: where control may go after the instruction at ``pc``."""
    s = env.prog.slots[pc]
    cls, op = s.code & 0x07, s.code & 0xF0
    size = 2 if s.code == OP_LDDW else 1
    if cls not in (InsnClass.JMP, InsnClass.JMP32) or op == JumpOp.CALL:
        return (pc + size,)
    if op == JumpOp.EXIT:
        return ()
    off = s.imm if s.code == InsnClass.JMP32 | JumpOp.JA else s.off
    if op == JumpOp.JA:
        return (pc + off + 1,)
    return (pc + 1, pc + off + 1)


def compute_postorder(env: Env) -> None:
    """``compute_postorder()``: DFS post-order of every sub-program's instructions."""
    n = len(env.prog)
    discovered = [False] * n
    explored = [False] * n
    order: list[int] = []
    for sp in env.subprogs:
        sp.postorder_start = len(order)
        stack = [sp.start]
        discovered[sp.start] = True
        while stack:
            top = stack[-1]
            if explored[top]:
                order.append(top)
                stack.pop()
                continue
            for w in insn_successors(env, top):
                if 0 <= w < n and not discovered[w]:
                    stack.append(w)
                    discovered[w] = True
            explored[top] = True
    env.postorder = order
    env.postorder_end = len(order)


def compute_scc(env: Env) -> None:
    """``compute_scc()``: Tarjan's algorithm over the instruction graph (iterative).

    Instructions in a component with more than one member, or with an edge to itself, get
    the component's id in ``env.aux[pc].scc``; others get 0. Ids count from 1 in the order
    components are completed, visiting start instructions in index order.
    """
    n = len(env.prog)
    index = [0] * n  # 0: not visited yet; otherwise DFS number + 1
    low = [0] * n
    on_stack = [False] * n
    comp: list[int] = []
    counter = 1
    next_scc = 1
    starts = [pc for pc in range(n) if pc == 0 or not env.prog.is_ldimm64(pc - 1)]
    for root in starts:
        if index[root]:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        comp.append(root)
        on_stack[root] = True
        while work:
            v, i = work[-1]
            succ = [w for w in insn_successors(env, v) if 0 <= w < n]
            if i < len(succ):
                work[-1] = (v, i + 1)
                w = succ[i]
                if not index[w]:
                    index[w] = low[w] = counter
                    counter += 1
                    comp.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] != index[v]:
                continue
            members = []
            while True:
                w = comp.pop()
                on_stack[w] = False
                members.append(w)
                if w == v:
                    break
            # a callback-calling helper call is a loop by itself (the callback's iterations)
            if len(members) > 1 or v in insn_successors(env, v) or env.aux[v].calls_callback:
                for w in members:
                    env.aux[w].scc = next_scc
                next_scc += 1
    env.scc_cnt = next_scc
