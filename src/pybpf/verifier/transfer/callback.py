"""Helpers that call back into the program: bpf_loop, bpf_for_each_map_elem and the rest.

Mirrors ``push_callback_call()``, ``setup_func_entry()`` (for callbacks),
``set_loop_callback_state()``, ``set_map_elem_callback_state()`` with the maps'
``map_set_for_each_callback_args()``, ``update_loop_inline_state()`` /
``loop_flag_is_zero()`` and the callback part of ``prepare_func_exit()`` of
kernel/bpf/verifier.c (Linux 6.18).

A synchronous callback is verified as a loop: the helper call pushes a state that enters
the callback (in a new frame, ``in_callback_fn``) while the current path goes on past the
call as if the callback were never called; the callback's ``exit`` returns to the *call
instruction itself*, which pushes the next iteration, until a state at the call matches
an earlier one (``is_state_visited()``'s ``calls_callback`` case) or, for bpf_loop, the
number of iterations reaches the largest value of ``R1``.

Not modelled (refused with ``EOPNOTSUPP``, saying so): asynchronous callbacks
(``bpf_timer_set_callback``: pybpf's maps have no BTF, so no ``struct bpf_timer`` can be
found in a value, and the kernel refuses the timer argument first) and ``bpf_find_vma``
(needs a trusted task pointer). ``bpf_user_ringbuf_drain``'s callback gets its dynptr
(``dynptr_ptr``), but what it may do with it (the dynptr helpers) is not modelled.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from pybpf.isa import Instruction
from pybpf.platform.enums import MapType
from pybpf.platform.helper_ids import HelperId
from pybpf.platform.helper_types import RegType
from pybpf.verifier.env import Env
from pybpf.verifier.precision import mark_chain_precision
from pybpf.verifier.regstate import RegState, mark_reg_known_zero
from pybpf.verifier.state import MAX_CALL_FRAMES, FuncState, VerifierState, new_func_state
from pybpf.verifier.tnum import tnum_equals_const
from pybpf.verifier.transfer.common import cur_regs, invalid_scalar_message, mark_not_init
from pybpf.verifier.worklist import push_stack

__all__ = ["check_callback_helper", "callback_exit"]

#: Map types with ``map_for_each_callback`` (``bpf_for_each_map_elem()`` is allowed).
FOR_EACH_MAP_TYPES = frozenset((
    MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.HASH, MapType.PERCPU_HASH,
    MapType.LRU_HASH, MapType.LRU_PERCPU_HASH,
))  # fmt: skip

SetCallee = Callable[[Env, FuncState, FuncState, object], None]


def _set_loop_callback_state(env: Env, caller: FuncState, callee: FuncState,
                             map_ptr: object) -> None:
    """``set_loop_callback_state()``: ``callback_fn(u64 index, void *callback_ctx)``."""
    callee.regs[1].type = RegType.SCALAR_VALUE
    callee.regs[2] = caller.regs[3].copy()
    for r in (3, 4, 5):
        mark_not_init(env, callee.regs[r])
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


def _set_map_elem_callback_state(env: Env, caller: FuncState, callee: FuncState,
                                 map_ptr: object) -> None:
    """``set_map_elem_callback_state()`` + ``map_set_for_each_callback_args()``:
    ``callback_fn(struct bpf_map *map, void *key, void *value, void *callback_ctx)``."""
    if map_ptr is None or map_ptr.map_type not in FOR_EACH_MAP_TYPES:  # type: ignore[attr-defined]
        env.reject("callback function not allowed for map", 524)  # ENOTSUPP
    callee.regs[1] = caller.regs[1].copy()
    key, value = callee.regs[2], callee.regs[3]
    for reg, rtype in ((key, RegType.PTR_TO_MAP_KEY), (value, RegType.PTR_TO_MAP_VALUE)):
        reg.type = rtype
        mark_reg_known_zero(reg)
        reg.map_ptr = caller.regs[1].map_ptr
    # the value pointer gets an id of its own (as a lookup's result does, for spin locks)
    value.id = env.new_id()
    callee.regs[4] = caller.regs[3].copy()
    mark_not_init(env, callee.regs[5])
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


def _set_user_ringbuf_callback_state(env: Env, caller: FuncState, callee: FuncState,
                                     map_ptr: object) -> None:
    """``set_user_ringbuf_callback_state()``: ``callback_fn(const struct bpf_dynptr *dynptr,
    void *callback_ctx)``; the dynptr (``mark_dynptr_cb_reg()``, a local one) gets an id."""
    mark_not_init(env, callee.regs[0])
    r1 = callee.regs[1]
    mark_reg_known_zero(r1)
    r1.type = RegType.CONST_PTR_TO_DYNPTR
    r1.id = env.new_id()
    callee.regs[2] = caller.regs[3].copy()
    for r in (3, 4, 5):
        mark_not_init(env, callee.regs[r])
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


def _push_callback_call(env: Env, insn_idx: int, subprog: int, set_callee: SetCallee,
                        map_ptr: object) -> None:
    """``push_callback_call()`` + ``setup_func_entry()``: queue a visit of the callback.

    The queued state enters the callback in a new frame whose call site is the helper
    call; the current state goes on past the call.
    """
    st = env.cur_state
    assert st is not None
    env.subprogs[subprog].is_cb = True
    callback_state = push_stack(env, env.subprogs[subprog].start, insn_idx, False)
    if callback_state.curframe + 1 >= MAX_CALL_FRAMES:
        env.reject(f"the call stack of {callback_state.curframe + 2} frames is too deep",
                   errno.E2BIG)  # fmt: skip
    env.mark_state_scratched()  # init_func_state()
    caller = callback_state.cur
    callee = new_func_state(callback_state.curframe + 1, subprog, insn_idx,
                            precise_unknown=not env.bpf_capable)  # fmt: skip
    set_callee(env, caller, callee, map_ptr)
    callback_state.frame[callback_state.curframe + 1:] = [callee]
    callback_state.curframe += 1
    callback_state.callback_unroll_depth += 1
    callback_state.frame[callback_state.curframe - 1].callback_depth += 1
    st.cur.callback_depth = 0


def _loop_flag_is_zero(env: Env) -> bool:
    """``loop_flag_is_zero()``: a zero ``flags`` (R4) is relied on, so it is precise."""
    reg = cur_regs(env)[4]
    null = reg.type == RegType.SCALAR_VALUE and tnum_equals_const(reg.var_off, 0)
    if null:
        mark_chain_precision(env, 4)
    return null


def _update_loop_inline_state(env: Env, subprogno: int) -> None:
    """``update_loop_inline_state()``: may this bpf_loop call be inlined (flags always 0,
    always the same callback)? Only its precision side effect is observable."""
    aux = env.aux[env.insn_idx]
    initialized, fit, cb = aux.loop_inline
    if not initialized:
        aux.loop_inline = (True, _loop_flag_is_zero(env), subprogno)
        return
    if not fit:
        return
    aux.loop_inline = (True, _loop_flag_is_zero(env) and cb == subprogno, cb)


def check_callback_helper(env: Env, insn: Instruction, subprogno: int, map_ptr: object) -> None:
    """The callback-calling cases of ``check_helper_call()``'s ``switch (func_id)``."""
    hid = insn.imm
    st = env.cur_state
    assert st is not None
    if hid == HelperId.FOR_EACH_MAP_ELEM:
        _push_callback_call(env, env.insn_idx, subprogno, _set_map_elem_callback_state,
                            map_ptr)  # fmt: skip
    elif hid == HelperId.LOOP:
        _update_loop_inline_state(env, subprogno)
        # whether the iterations are over is decided on R1: it is relied on
        mark_chain_precision(env, 1)
        if st.cur.callback_depth < cur_regs(env)[1].umax_value:
            _push_callback_call(env, env.insn_idx, subprogno, _set_loop_callback_state, None)
        else:
            st.cur.callback_depth = 0
            if env.log.level & 2:
                env.log(f"frame{st.curframe} bpf_loop iteration limit reached\n")
    elif hid == HelperId.TIMER_SET_CALLBACK:
        env.reject("pybpf does not verify asynchronous callbacks (bpf_timer_set_callback)",
                   errno.EOPNOTSUPP)  # fmt: skip
    elif hid == HelperId.FIND_VMA:
        env.reject("pybpf does not verify calls to bpf_find_vma yet", errno.EOPNOTSUPP)
    elif hid == HelperId.USER_RINGBUF_DRAIN:
        _push_callback_call(env, env.insn_idx, subprogno, _set_user_ringbuf_callback_state,
                            map_ptr)  # fmt: skip


def callback_exit(env: Env, callee: FuncState) -> None:
    """The ``in_callback_fn`` checks of ``prepare_func_exit()``: R0 is a scalar in the
    callback's return range (and relied on, so precise)."""
    r0: RegState = callee.regs[0]
    if r0.type != RegType.SCALAR_VALUE:
        env.reject("R0 not a scalar value", errno.EACCES)
    mark_chain_precision(env, 0)
    lo, hi = callee.callback_ret_range
    if lo <= r0.smin_value and r0.smax_value <= hi:
        return
    env.reject(invalid_scalar_message("At callback return", "R0", r0, lo, hi))


def widen_after_callback(env: Env, state: VerifierState, insn_idx: int) -> None:
    """The end of ``prepare_func_exit()`` for callbacks: scalars that changed since the
    previous visit of the call site (and that nothing relied on) are widened, so that
    iterations converge."""
    from pybpf.verifier.prune import widen_imprecise_scalars
    from pybpf.verifier.transfer.jmp import _find_prev_entry

    prev = _find_prev_entry(env, state, insn_idx)
    if prev is not None:
        widen_imprecise_scalars(env, prev, state)
