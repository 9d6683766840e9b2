"""Path exploration: run the abstract interpreter over every path of the program.

Mirrors ``do_check_common()``, ``do_check()``, ``do_check_insn()`` and
``process_bpf_exit_full()`` of kernel/bpf/verifier.c (Linux 6.18): starting from the entry
state (``R1`` = context, ``R10`` = frame pointer), instructions are checked one at a time;
conditional jumps push the other side on a work stack; at prune points the current state is
compared with saved ones (:mod:`pybpf.verifier.prune`); an ``exit`` of the main program
ends a path and the next pending state is popped. The 1,000,000 processed-instruction limit
and the 8192 pending-jumps limit are the kernel's. The log is written as the kernel writes
it (instruction lines, register states, ``from X to Y:`` lines at level 2, and at level 1
only the path that failed).
"""

from __future__ import annotations

import errno

from pybpf.asm import format_insn
from pybpf.isa import InsnClass, Instruction, JumpOp, Mode, PseudoSrc, Size, Source
from pybpf.platform.helper_types import RegType
from pybpf.verifier import packet_facts
from pybpf.verifier.env import BPF_COMPLEXITY_LIMIT_INSNS, Env, Reject
from pybpf.verifier.func_args import prepare_main_args
from pybpf.verifier.func_info import linfo_text
from pybpf.verifier.global_funcs import check_subprog_return
from pybpf.verifier.log import LOG_LEVEL2, format_func_state
from pybpf.verifier.precision import push_jmp_history
from pybpf.verifier.prune import is_state_visited
from pybpf.verifier.stack_liveness import StackLiveness
from pybpf.verifier.state import VerifierState, new_func_state
from pybpf.verifier.transfer import alu, call, jmp, mem
from pybpf.verifier.transfer.common import RegArg, check_reg_arg
from pybpf.verifier.transfer.stack import expose_call_args
from pybpf.verifier.worklist import pop_stack, update_branch_counts

__all__ = ["do_check_main", "insn_text"]

_EXIT = object()
#: ``error_recoverable_with_nospec()``: errors that only end a speculative path.
_RECOVERABLE_WITH_NOSPEC = frozenset((errno.EPERM, errno.EACCES, errno.EINVAL))
_RETURNED = object()  # returned from a bpf-to-bpf call: the log prints the caller's state


#: Where the log pretends the kernel keeps ``struct bpf_map`` objects and array values.
MAP_ADDR_BASE = 0xFFFF888100000000
MAP_VALUE_ADDR_BASE = 0xFFFFC90000000000


def map_kernel_address(env: Env, pc: int, value: bool) -> int:
    """The kernel address ``resolve_pseudo_ldimm64()`` puts into an ``lddw`` of a map (a
    deterministic stand-in: one page per map of the program, values 1 MiB apart)."""
    m = env.aux[pc].map
    names = list(env.maps)
    index = names.index(m.name) if m is not None and m.name in names else 0
    if value:
        off = env.aux[pc].map_off
        return MAP_VALUE_ADDR_BASE + (index << 20) + 8 + off
    return MAP_ADDR_BASE + (index << 12)


def insn_text(env: Env, pc: int) -> str:
    """``print_bpf_insn()`` as the verifier calls it: a map ``lddw`` shows the kernel address
    it was resolved to (``0x0`` for unprivileged loads, which may not see pointers)."""
    insn = env.prog.insns[pc]
    if insn.code == InsnClass.LD | Mode.IMM | Size.DW and insn.src in (PseudoSrc.MAP_FD,
                                                                       PseudoSrc.MAP_VALUE):
        addr = map_kernel_address(env, pc, insn.src == PseudoSrc.MAP_VALUE) \
            if env.allow_ptr_leaks else 0
        return f"({insn.code:02x}) r{insn.dst} = {addr:#x}"
    return format_insn(insn, syntax="kernel")


def _print_insn_state(env: Env) -> None:
    st = env.cur_state
    assert st is not None
    regs = None if env.all_scratched else sorted(env.scratched_regs)
    slots = None if env.all_scratched else sorted(env.scratched_slots)
    env.log.insn_state(env.insn_idx, format_func_state(st, st.cur, regs, slots))
    env.mark_state_clean()


def _linfo(env: Env, pc: int, prev: list[object]) -> None:
    """``verbose_linfo()``: the C source line, once per change of line (records of the same
    file and line, other columns, are not repeated)."""
    if env.spec is None or not env.spec.line_info:
        return
    info = env.spec.line_at(pc)
    if info is None or info is prev[0]:
        return
    last = prev[0]
    if last is not None and (last.file, last.line) == (info.file, info.line):  # type: ignore[attr-defined]
        return  # the same source line again (another column)
    prev[0] = info
    env.log(linfo_text(info.file, info.line, info.text))


def _process_exit(env: Env) -> object | None:
    """``process_bpf_exit_full()``: leaks, return from a call, or the program's exit."""
    st = env.cur_state
    assert st is not None
    call.check_resource_leak(env, exception_exit=False, check_lock=not st.curframe,
                             prefix="BPF_EXIT instruction in main prog")  # fmt: skip
    if st.curframe:
        liveness = env.liveness
        assert isinstance(liveness, StackLiveness)
        liveness.update()  # prepare_func_exit() starts with bpf_update_live_stack()
        call.prepare_func_exit(env)
        return _RETURNED
    if st.frame[0].subprogno:  # a global function verified on its own
        check_subprog_return(env)
        return _EXIT
    call.check_return_code(env, 0, "R0")
    return _EXIT


def _do_check_insn(env: Env, insn: Instruction) -> object | None:
    """``do_check_insn()``: dispatch on the instruction class; advance ``env.insn_idx``."""
    cls = insn.code & 0x07
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        alu.check_alu_op(env, insn)
    elif cls == InsnClass.LDX:
        mem.check_load_mem(env, insn, is_ldsx=insn.mode == Mode.MEMSX)
    elif cls == InsnClass.STX:
        if insn.mode == Mode.ATOMIC:
            mem.check_atomic(env, insn)
            env.insn_idx += 1
            return None
        if insn.mode != Mode.MEM or insn.imm:
            env.reject("BPF_STX uses reserved fields")
        mem.check_store_reg(env, insn)
    elif cls == InsnClass.ST:
        if insn.mode != Mode.MEM or insn.src:
            env.reject("BPF_ST uses reserved fields")
        check_reg_arg(env, insn.dst, RegArg.SRC_OP)
        dst_type = env.cur_state.regs[insn.dst].type  # type: ignore[union-attr]
        mem.check_mem_access(env, insn.dst, insn.off, insn.size, write=True, value_regno=-1,
                             insn=insn)  # fmt: skip
        mem.save_aux_ptr_type(env, dst_type)
        packet_facts.note_access(env, dst_type)
    elif cls in (InsnClass.JMP, InsnClass.JMP32):
        op = insn.op
        env.jmps_processed += 1
        if op == JumpOp.CALL:
            if insn.source != Source.K or (insn.src != 2 and insn.off) or \
                    insn.src not in (0, 1, 2) or insn.dst or cls == InsnClass.JMP32:
                env.reject("BPF_CALL uses reserved fields")
            st = env.cur_state
            assert st is not None
            # bpf-to-bpf calls are allowed under a lock (global ones refused by the call)
            if st.active_locks and ((insn.src == 0 and insn.imm != 94)  # bpf_spin_unlock
                                    or insn.src == 2):
                env.reject("function calls are not allowed while holding a lock")
            expose_call_args(env)
            if insn.src == 1:
                call.check_func_call(env, insn)
                return None
            call.check_helper_call(env, insn)
            env.mark_reg_scratched(0)
        elif op == JumpOp.JA:
            if insn.source != Source.K or insn.src or insn.dst or \
                    (cls == InsnClass.JMP and insn.imm) or (cls == InsnClass.JMP32 and insn.off):
                env.reject("BPF_JA uses reserved fields")
            env.insn_idx += (insn.off if cls == InsnClass.JMP else insn.imm) + 1
            return None
        elif op == JumpOp.EXIT:
            if insn.source != Source.K or insn.imm or insn.src or insn.dst or \
                    cls == InsnClass.JMP32:
                env.reject("BPF_EXIT uses reserved fields")
            return _process_exit(env)
        else:
            jmp.check_cond_jmp_op(env, insn)
    elif cls == InsnClass.LD:
        mode = insn.mode
        if mode in (Mode.ABS, Mode.IND):
            mem.check_ld_abs(env, insn)
        elif mode == Mode.IMM:
            mem.check_ld_imm(env, insn)
            env.insn_idx += 1
        else:
            env.reject("invalid BPF_LD mode")
    env.insn_idx += 1
    return None


def do_check(env: Env) -> None:
    """``do_check()``: explore until every path ended or one failed (raises Reject)."""
    level = env.log.level
    pop_log = not level & LOG_LEVEL2
    do_print_state = False
    prev_insn_idx = -1
    prev_linfo: list[object] = [None]
    n = len(env.prog)
    liveness = StackLiveness(env)
    env.liveness = liveness
    while True:
        st = env.cur_state
        assert st is not None
        env.prev_insn_idx = prev_insn_idx
        idx = env.insn_idx
        if idx >= n:
            env.reject(f"invalid insn idx {idx} insn_cnt {n}", errno.EFAULT)
        env.insn_processed += 1
        if env.insn_processed > BPF_COMPLEXITY_LIMIT_INSNS:
            env.reject(f"BPF program is too large. Processed {env.insn_processed} insn",
                       errno.E2BIG)  # fmt: skip
        st.insn_idx = idx
        st.last_insn_idx = prev_insn_idx
        env.cur_hist_ent = False
        env.msg_mark = len(env.messages)
        aux = env.aux[idx]
        pruned = aux.prune_point and is_state_visited(env, idx)
        if not pruned:
            if aux.jmp_point:
                push_jmp_history(env, st)
            if level & LOG_LEVEL2 and do_print_state:
                spec = " (speculative execution)" if st.speculative else ""
                env.log(f"\nfrom {env.prev_insn_idx} to {idx}{spec}:"
                        + format_func_state(st, st.cur) + "\n")  # fmt: skip
                do_print_state = False
            if level:
                if env.state_scratched():
                    _print_insn_state(env)
                _linfo(env, idx, prev_linfo)
                env.log.insn(idx, insn_text(env, idx))
            if not st.speculative:
                aux.seen = True
            prev_insn_idx = idx
            # unprivileged speculation: a path never goes past a barrier (nospec) ...
            if not (st.speculative and aux.nospec):
                liveness.reset_write_marks(idx)
                try:
                    result = _do_check_insn(env, env.prog.insns[idx])
                except Reject as exc:
                    if not (st.speculative and exc.errno in _RECOVERABLE_WITH_NOSPEC):
                        raise
                    # ... the kernel puts one before an insn unsafe only speculatively
                    liveness.commit_write_marks()
                    aux.nospec = True
                    aux.alu_state = 0
                    result = _EXIT
                else:
                    liveness.commit_write_marks()
                    if result is _RETURNED:
                        do_print_state = True
                        continue
                    # ... or after a store a CPU may bypass (nospec_result)
                    if result is not _EXIT and not (st.speculative and aux.nospec_result):
                        continue
        elif level:
            if do_print_state:
                spec = " (speculative execution)" if st.speculative else ""
                env.log(f"\nfrom {env.prev_insn_idx} to {idx}{spec}: safe\n")
            else:
                env.log(f"{idx}: safe\n")
        # process_bpf_exit
        env.mark_state_scratched()
        update_branch_counts(env, env.cur_state)
        liveness.update()
        if not pop_stack(env, pop_log):
            break
        prev_insn_idx = env.prev_insn_idx
        do_print_state = True


def do_check_main(env: Env) -> None:
    """``do_check_common()`` for the main program."""
    frame = new_func_state(0, 0, -1, precise_unknown=not env.bpf_capable)
    r1 = frame.regs[1]
    from pybpf.verifier.regstate import mark_reg_known_zero

    mark_reg_known_zero(r1)
    r1.type = RegType.PTR_TO_CTX
    env.cur_state = VerifierState([frame])
    prepare_main_args(env)
    env.insn_idx = 0
    env.mark_state_scratched()
    do_check(env)
    if not env.log.level & LOG_LEVEL2:
        env.log.reset(0)
