"""Where verified code checks the instruction budget: at loop headers and after calls, with
a look-ahead, instead of at every block.

The interpreter charges each basic block its length when it starts and faults
(``out_of_budget``) at the first block the budget does not cover (:mod:`pybpf.interp.
codegen`). Checked code does the same test at every block (:meth:`pybpf.jit.frame.Frame.
charge`); the tests (one compare and a side exit per block) keep LLVM from merging and
if-converting blocks and cost verified programs half their speed. Verified code is
compiled twice in one function instead:

* the *fast* copy of every block subtracts its length without a test; only the edges a
  cycle or a call can make unpredictable are tested (:class:`BudgetPlan`): the edges into
  the targets of the retreating edges of a depth-first search (every cycle has one), the
  edges out of blocks that call anything (the callee spends budget), and the entry. Such
  an edge into block ``S`` tests ``budget >= lookahead[S]``, the most instructions any path
  from ``S`` can run before the next tested edge (a longest path in the acyclic rest of
  the graph), so no block of the fast copy can run out;
* when the test fails the run continues in the *precise* copy of ``S``, the checked
  translation (a test per block), which faults at exactly the interpreter's block.

Results, faults and instruction counts are therefore the interpreter's; the precise copy
runs only in the last few thousand instructions of a budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.isa import InsnClass, JumpOp
from pybpf.jit.provenance import successors
from pybpf.program.cfg import Function

__all__ = ["BudgetPlan"]


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    """The tested edges of one function and the look-ahead of each block (see the module
    docstring)."""

    headers: frozenset[int]
    calls: frozenset[int]
    lookahead: dict[int, int]

    def tested(self, source: int, target: int) -> bool:
        """Whether the edge from block ``source`` to block ``target`` tests the budget."""
        return target in self.headers or source in self.calls

    @classmethod
    def of(cls, fn: Function) -> BudgetPlan:
        index = {block.start: i for i, block in enumerate(fn.blocks)}
        succ = {block.start: successors(fn, i) for i, block in enumerate(fn.blocks)}
        calls = frozenset(
            block.start for block in fn.blocks
            if any((insn.code & 0x07) in (InsnClass.JMP, InsnClass.JMP32)
                   and insn.op == JumpOp.CALL for _, insn in block.insns))
        headers = _retreating_targets([b.start for b in fn.blocks], succ)
        plan = cls(headers, calls, {})
        # longest paths over the untested edges, in reverse topological order
        for start in _postorder([b.start for b in fn.blocks],
                                {s: [t for t in ts if not plan.tested(s, t)]
                                 for s, ts in succ.items()}):
            tail = [plan.lookahead[t] for t in succ[start] if not plan.tested(start, t)]
            plan.lookahead[start] = len(fn.blocks[index[start]].insns) + max(tail, default=0)
        return plan


def _retreating_targets(roots: list[int], succ: dict[int, list[int]]) -> frozenset[int]:
    """Targets of the edges that go back to a block on the depth-first search stack."""
    state: dict[int, int] = {}  # 1 on the stack, 2 done
    found: set[int] = set()
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                found.add(nxt)
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return frozenset(found)


def _postorder(roots: list[int], succ: dict[int, list[int]]) -> list[int]:
    """Depth-first post-order of an acyclic graph (successors before their predecessors)."""
    seen: set[int] = set()
    order: list[int] = []
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(succ[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                order.append(node)
                stack.pop()
            elif nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, iter(succ[nxt])))
    return order
