"""Calls of functions loaded with BTF func info, and global functions verified on their own.

Mirrors, in kernel/bpf/verifier.c and kernel/bpf/btf.c (Linux 6.18):

* ``btf_check_subprog_call()`` / ``btf_check_func_arg_match()``: a call's arguments match
  the callee's argument types (:mod:`pybpf.verifier.func_args`; ``check_mem_reg()`` for
  memory); static functions whose BTF does not match become "unreliable", silently;
* the global-function branch of ``check_func_call()``: the callee is not entered, R0 is an
  unknown scalar, the callee is marked called; and ``do_check_subprogs()`` /
  ``do_check_common()``: after the main program, every called global function is verified
  on its own, from registers set up from its argument types, until no new one is called;
* the sub-program case of ``check_return_code()``.

Refused (``EOPNOTSUPP``): calls to global functions that may sleep. Not modelled:
``BPF_PROG_TYPE_EXT`` and exception callbacks.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from pybpf.platform.helper_types import RegType, TypeFlag
from pybpf.verifier.env import Env, Reject
from pybpf.verifier.func_args import btf_prepare_func_args
from pybpf.verifier.func_info import ArgKind, btf_info
from pybpf.verifier.log import LOG_LEVEL1, LOG_LEVEL2
from pybpf.verifier.precision import mark_chain_precision
from pybpf.verifier.regstate import DEF_NOT_SUBREG, mark_reg_known_zero, reg_type_str
from pybpf.verifier.tnum import tnum_equals_const
from pybpf.verifier.transfer.common import (
    RegArg,
    check_reg_arg,
    cur_regs,
    is_pointer_value,
    mark_not_init,
    mark_unknown,
)

if TYPE_CHECKING:
    from pybpf.verifier.regstate import RegState

__all__ = ["check_subprog_call", "check_subprog_return", "do_check_subprogs"]

_LOG_LEVEL = LOG_LEVEL1 | LOG_LEVEL2


def _check_mem_reg(env: Env, reg: RegState, regno: int, mem_size: int) -> None:
    """``check_mem_reg()``: ``mem_size`` bytes at ``reg`` may be read and written (NULL
    passes; a maybe-NULL pointer is checked as if it were not NULL)."""
    from pybpf.verifier.transfer.call import check_helper_mem_access
    from pybpf.verifier.transfer.jmp import mark_ptr_not_null_reg

    if reg.type == RegType.SCALAR_VALUE and tnum_equals_const(reg.var_off, 0):
        mark_chain_precision(env, regno)  # the verdict relies on the NULL (as 6.18 does)
        return
    saved = None
    if reg.type & TypeFlag.PTR_MAYBE_NULL:
        saved = reg.copy()
        mark_ptr_not_null_reg(reg)
    try:
        check_helper_mem_access(env, regno, mem_size, False, True, None)
        check_helper_mem_access(env, regno, mem_size, True, True, None)
    finally:
        if saved is not None:
            cur_regs(env)[regno] = saved


def _check_arg_match(env: Env, subprog: int, regs: list[RegState]) -> int:
    """``btf_check_func_arg_match()``."""
    from pybpf.verifier.transfer.call import _check_func_arg_reg_off

    err = btf_prepare_func_args(env, subprog)
    if err:
        return err
    info = btf_info(env)
    assert info is not None
    args = info.funcs[subprog].args
    assert args is not None
    for i, arg in enumerate(args):
        regno = i + 1
        reg = regs[regno]
        if arg.kind == ArgKind.ANYTHING:
            if reg.type != RegType.SCALAR_VALUE:
                env.verbose(f"R{regno} is not a scalar\n")
                return errno.EINVAL
            continue
        try:
            _check_func_arg_reg_off(env, reg, regno, False)
        except Reject as exc:
            return exc.errno
        if arg.kind == ArgKind.PTR_TO_CTX:
            if reg.type != RegType.PTR_TO_CTX:
                env.verbose(f"arg#{i} expects pointer to ctx\n")
                return errno.EINVAL
            continue
        try:
            _check_mem_reg(env, reg, regno, arg.mem_size)
        except Reject:
            return errno.EINVAL
        reg = regs[regno]
        if not arg.maybe_null and (reg.type & TypeFlag.PTR_MAYBE_NULL or (
                reg.type == RegType.SCALAR_VALUE and tnum_equals_const(reg.var_off, 0))):
            env.verbose(f"arg#{i} is expected to be non-NULL\n")
            return errno.EINVAL
    return 0


def _btf_check_subprog_call(env: Env, subprog: int, regs: list[RegState]) -> int:
    """``btf_check_subprog_call()``: 0, or an errno (the function becomes unreliable)."""
    info = btf_info(env)
    if info is None or not info.funcs:
        return errno.EINVAL
    aux = info.funcs[subprog]
    if aux.unreliable:
        return errno.EINVAL
    err = _check_arg_match(env, subprog, regs)
    if err:
        aux.unreliable = True
    return err


def check_subprog_call(env: Env, subprog: int) -> bool:
    """The BTF part of ``check_func_call()``: check the arguments against the callee's BTF;
    for a global callee, do the whole call (True: the caller continues after the call)."""
    st = env.cur_state
    assert st is not None
    caller = st.cur
    err = _btf_check_subprog_call(env, subprog, caller.regs)
    if err == errno.EFAULT:
        raise Reject(err)
    info = btf_info(env)
    if info is None or not info.funcs or not info.funcs[subprog].is_global:
        return False
    aux = info.funcs[subprog]
    if st.active_locks:
        env.reject("global function calls are not allowed while holding a lock,\n"
                   "use static function instead")  # fmt: skip
    if aux.might_sleep:
        env.reject("pybpf does not verify calls to global functions that may sleep",
                   errno.EOPNOTSUPP)  # fmt: skip
    if err:
        env.reject(f"Caller passes invalid args into func#{subprog} ('{aux.name}')", err)
    if env.log.level & _LOG_LEVEL:
        env.verbose(f"Func#{subprog} ('{aux.name}') is global and assumed valid.\n")
    if aux.changes_pkt_data:
        from pybpf.verifier.transfer.call import _clear_all_pkt_pointers

        _clear_all_pkt_pointers(env)
    aux.called = True
    for r in range(6):  # clear_caller_saved_regs()
        mark_not_init(env, caller.regs[r])
        check_reg_arg(env, r, RegArg.DST_OP_NO_MARK)
    r0 = caller.regs[0]
    mark_unknown(env, r0)
    r0.subreg_def = DEF_NOT_SUBREG
    env.mark_reg_scratched(0)
    env.insn_idx += 1
    return True


def check_subprog_return(env: Env) -> None:
    """``check_return_code()`` at the exit of a global function verified on its own."""
    check_reg_arg(env, 0, RegArg.SRC_OP)
    if is_pointer_value(env, 0):
        env.reject("R0 leaks addr as return value", errno.EACCES)
    reg = cur_regs(env)[0]
    if reg.type != RegType.SCALAR_VALUE:
        env.reject(f"At subprogram exit the register R0 is not a scalar value "
                   f"({reg_type_str(reg.type)})")  # fmt: skip


def _init_args(env: Env, subprog: int) -> None:
    """The argument registers of a global function verified on its own."""
    info = btf_info(env)
    assert info is not None
    args = info.funcs[subprog].args
    assert args is not None
    regs = cur_regs(env)
    for i, arg in enumerate(args):
        reg = regs[i + 1]
        if arg.kind == ArgKind.PTR_TO_CTX:
            reg.type = RegType.PTR_TO_CTX
            mark_reg_known_zero(reg)
        elif arg.kind == ArgKind.ANYTHING:
            reg.type = RegType.SCALAR_VALUE
            mark_unknown(env, reg)
        else:
            reg.type = RegType.PTR_TO_MEM | (TypeFlag.PTR_MAYBE_NULL if arg.maybe_null else 0)
            mark_reg_known_zero(reg)
            reg.mem_size = arg.mem_size
            if arg.maybe_null:
                reg.id = env.new_id()


def _free_states(env: Env) -> None:
    """``free_states()`` between two ``do_check_common()`` passes."""
    env.cur_state = None
    env.stack.clear()
    env.explored.clear()
    env.scc_visits.clear()


def _do_check_global(env: Env, subprog: int) -> None:
    """``do_check_common()`` for a global function."""
    from pybpf.verifier.explore import do_check
    from pybpf.verifier.state import VerifierState, new_func_state

    info = btf_info(env)
    assert info is not None
    _free_states(env)
    frame = new_func_state(0, subprog, -1, precise_unknown=not env.bpf_capable)
    env.cur_state = VerifierState([frame])
    env.cur_state.first_insn_idx = env.subprogs[subprog].start
    if env.log.level & _LOG_LEVEL:
        env.verbose(f"Validating {info.funcs[subprog].name}() func#{subprog}...\n")
    err = btf_prepare_func_args(env, subprog)
    if err:
        raise Reject(err)
    _init_args(env, subprog)
    env.mark_state_scratched()
    do_check(env)
    if not env.log.level & LOG_LEVEL2:
        env.log.reset(0)


def do_check_subprogs(env: Env) -> None:
    """``do_check_subprogs()``: verify every called global function on its own, again
    until a pass verifies no new one (a global function may call others)."""
    info = btf_info(env)
    if info is None or not info.funcs:
        return
    while True:
        new = 0
        for i in range(1, len(env.subprogs)):
            aux = info.funcs[i]
            if not aux.is_global or not aux.called or aux.verified:
                continue
            env.insn_idx = env.subprogs[i].start
            _do_check_global(env, i)
            if env.log.level & _LOG_LEVEL:
                env.verbose(f"Func#{i} ('{aux.name}') is safe for any args that match its "
                            "prototype\n")  # fmt: skip
            aux.verified = True
            new += 1
        if not new:
            return
