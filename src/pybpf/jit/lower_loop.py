"""``bpf_loop(nr_loops, callback_fn, callback_ctx, flags)`` as a native loop.

The kernel's verifier turns a ``bpf_loop`` call whose callback it knows into a plain loop
around a direct call of the callback (``inline_bpf_loop()`` in kernel/bpf/verifier.c); the
JIT does the same for any callback that is a function of the program being compiled: after
``bpf_loop()``'s own checks (kernel/bpf/bpf_iter.c, as :func:`pybpf.runtime.helpers.callbacks.
bpf_loop` has them: ``flags`` must be 0 (``-EINVAL``), at most ``BPF_MAX_LOOPS`` iterations
(``-E2BIG``), the callback runs in the next call frame, which must exist — checked once,
before the first iteration, even for none), the compiled callback is called with the index
and the context until it returns non-zero (the result is then the index plus one) or the
count runs out (the result is the count). A callback address that names no function of the
program goes to the Python helper, which faults as the interpreter does.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence

from pybpf.jit.abi import Fault
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import UNLIKELY, i64
from pybpf.runtime.execstate import MAX_CALL_FRAMES
from pybpf.runtime.helpers.callbacks import BPF_MAX_LOOPS

__all__ = ["BPF_LOOP", "lower_bpf_loop"]

BPF_LOOP = 181


def lower_bpf_loop(f: Frame, pc: int, regs: list[str], callees: Sequence[tuple[int, str]],
                   python: Callable[[], str]) -> str:
    """r0 of ``bpf_loop`` at ``pc`` with ``regs`` (r1..r5, read before any branch);
    ``callees`` are the program's functions (code address, symbol); ``python`` emits the
    Python helper's call and returns its r0."""
    fn = f.fn
    results: list[tuple[str, str]] = []
    done = fn.new_block("bpf_loop_done")
    count = fn.op(f"and i64 {regs[0]}, 4294967295")
    limit = fn.new_block("bpf_loop_limit")
    fn.cbr(fn.op(f"icmp ne i64 {regs[3]}, 0"), done, limit, UNLIKELY)
    results.append((i64(-errno.EINVAL), fn.block))
    fn.start(limit)
    dispatch = fn.new_block("bpf_loop_callback")
    fn.cbr(fn.op(f"icmp ugt i64 {count}, {BPF_MAX_LOOPS}"), done, dispatch, UNLIKELY)
    results.append((i64(-errno.E2BIG), limit))
    fn.start(dispatch)
    other = fn.new_block("bpf_loop_python")
    cases = [(i64(address), fn.new_block("bpf_loop_with")) for address, _ in callees]
    fn.switch("i64", regs[1], other, cases)
    for (_, label), (_, symbol) in zip(cases, callees, strict=True):
        fn.start(label)
        results.append((_loop(f, pc, symbol, count, regs[2]), fn.block))
        fn.br(done)
    fn.start(other)
    results.append((python(), fn.block))
    fn.br(done)
    fn.start(done)
    return fn.phi("i64", results)


def _loop(f: Frame, pc: int, symbol: str, count: str, ctx: str) -> str:
    """The iterations of one callback; returns bpf_loop's result."""
    fn = f.fn
    too_deep, go = fn.new_block("too_deep"), fn.new_block("bpf_loop_enter")
    fn.cbr(fn.op(f"icmp uge i64 {f.depth}, {MAX_CALL_FRAMES - 1}"), too_deep, go, UNLIKELY)
    fn.start(too_deep)
    f.fault(pc, Fault.TOO_DEEP)
    fn.start(go)
    f.sync_budget()  # the callees keep env's budget current between iterations
    depth = fn.op(f"add i64 {f.depth}, 1")
    head, body, step = (fn.new_block("bpf_loop_head"), fn.new_block("bpf_loop_body"),
                        fn.new_block("bpf_loop_step"))
    finished, stopped, after = (fn.new_block("bpf_loop_finished"),
                                fn.new_block("bpf_loop_stopped"), fn.new_block("bpf_loop_end"))
    fn.br(head)
    fn.start(head)
    following = "%" + fn.fresh("bpf_loop_next")
    index = fn.phi("i64", [("0", go), (following, step)])
    fn.cbr(fn.op(f"icmp ult i64 {index}, {count}"), body, finished)
    fn.start(body)
    r0 = fn.call("i64", f"@{symbol}", [("ptr", f.env), ("i64", index), ("i64", ctx),
                                        ("i64", "0"), ("i64", "0"), ("i64", "0"),
                                        ("i64", depth)])
    fn.cbr(fn.op(f"icmp ne i64 {r0}, 0"), stopped, step)
    fn.start(step)
    fn.emit(f"{following} = add i64 {index}, 1")
    fn.br(head)
    fn.start(stopped)
    ran = fn.op(f"add i64 {index}, 1")
    fn.br(after)
    fn.start(finished)
    fn.br(after)
    fn.start(after)
    result = fn.phi("i64", [(ran, stopped), (count, finished)])
    f.reload_after_call()
    return result
