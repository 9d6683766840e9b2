"""The checks made before path exploration: sub-programs, encodings, the control-flow graph.

Mirrors, in kernel/bpf/verifier.c (Linux 6.18), ``add_subprog_and_kfunc()``,
``check_subprogs()``, ``resolve_pseudo_ldimm64()`` (the encoding and map checks of each
``lddw``, the opcode table, the reserved fields of ``BPF_LDX``) and ``check_cfg()`` (the
iterative depth-first search that finds unreachable instructions, jumps out of range or into
the middle of an ``lddw``, back-edges for unprivileged loads, and marks the prune points).
They run in the kernel's order, so the first error reported is the kernel's.

Helper calls that call back into the program are marked as the kernel marks them: a
synchronous one (``bpf_loop``...) is a forced checkpoint the callback returns to, an
asynchronous one (``bpf_timer_set_callback``) a prune point; callbacks' stack depth is
counted by :func:`check_max_stack_depth`.

Not modelled: kfunc calls past their BTF id check, exception callbacks, BTF func/line info
validation (the linkage of a callback: "callback function not static").
"""

from __future__ import annotations

import errno

from pybpf.isa import OP_LDDW, CallSrc, InsnClass, JumpOp, Mode, PseudoSrc
from pybpf.platform.enums import MapType
from pybpf.btf.types import BtfKind
from pybpf.verifier.env import Env, Subprog
from pybpf.verifier.map_btf import check_map_prog_compatibility

__all__ = [
    "BPF_MAX_VAR_OFF",
    "VALID_OPCODES",
    "add_subprogs",
    "check_abnormal_return",
    "check_cfg",
    "check_max_stack_depth",
    "check_subprogs",
    "resolve_pseudo_ldimm64",
    "run_cfg_checks",
]

BPF_MAX_SUBPROGS = 256
MAX_CALL_FRAMES = 8
BPF_MAX_VAR_OFF = 1 << 29

# bpf_opcode_in_insntable() of Linux 6.18, measured on the kernel (LDX is checked apart).
VALID_OPCODES = frozenset(int(c, 16) for c in """
04 05 06 07 0c 0f 14 15 16 17 18 1c 1d 1e 1f 20 24 25 26 27 28 2c 2d 2e 2f 30 34 35 36 37 3c 3d
3e 3f 40 44 45 46 47 48 4c 4d 4e 4f 50 54 55 56 57 5c 5d 5e 5f 61 62 63 64 65 66 67 69 6a 6b 6c
6d 6e 6f 71 72 73 74 75 76 77 79 7a 7b 7c 7d 7e 7f 81 84 85 87 89 91 94 95 97 9c 9f a4 a5 a6 a7
ac ad ae af b4 b5 b6 b7 bc bd be bf c3 c4 c5 c6 c7 cb cc cd ce cf d3 d4 d5 d6 d7 db dc dd de e5
""".split())

_DISCOVERED, _EXPLORED, _FALLTHROUGH, _BRANCH = 0x10, 0x20, 1, 2

#: ``is_sync_callback_calling_function()``: bpf_for_each_map_elem, bpf_find_vma, bpf_loop,
#: bpf_user_ringbuf_drain.
SYNC_CALLBACK_HELPERS = frozenset((164, 180, 181, 209))
#: ``is_async_callback_calling_function()``: bpf_timer_set_callback.
ASYNC_CALLBACK_HELPERS = frozenset((170,))


def _is_pseudo_call(code: int, src: int) -> bool:
    return code == InsnClass.JMP | JumpOp.CALL and src == CallSrc.PSEUDO_CALL


def _is_pseudo_func(code: int, src: int) -> bool:
    return code == OP_LDDW and src == PseudoSrc.FUNC


def _add_kfunc_call(env: Env, func_id: int, offset: int) -> None:
    """``add_kfunc_call()``: the checks of a kfunc call that need only the kernel's BTF.

    The kernel's kfunc sets (which kfunc each program type may call, their argument rules)
    are not modelled: a call to a real kernel function is refused as unsupported.
    """
    license_ = env.spec.license if env.spec is not None else "GPL"
    from pybpf.verifier.transfer.call import gpl_compatible

    if not gpl_compatible(license_):
        env.reject("cannot call kernel function from non-GPL compatible program")
    if offset:  # a module's BTF, by fd in fd_array
        env.reject("pybpf does not verify calls to kernel functions in modules (kfuncs)",
                   errno.EOPNOTSUPP)  # fmt: skip
    from pybpf.errors import PybpfError

    vmlinux = env.btf_vmlinux()
    if vmlinux is None:
        env.reject("pybpf needs the kernel's BTF (/sys/kernel/btf/vmlinux) to check a call to "
                   "a kernel function", errno.EOPNOTSUPP)  # fmt: skip
    try:
        func = vmlinux[func_id] if func_id > 0 else None
    except PybpfError:
        func = None
    if func is None or func.kind != BtfKind.FUNC:
        env.reject(f"kernel btf_id {func_id & 0xFFFFFFFF} is not a function")
    env.reject(f"pybpf does not verify calls to kernel functions (kfunc {func.name})",
               errno.EOPNOTSUPP)  # fmt: skip


def add_subprogs(env: Env) -> None:
    """``add_subprog_and_kfunc()``: function entries are 0 and every bpf-to-bpf call target."""
    n = len(env.prog)
    starts = {0}
    for pc, s in enumerate(env.prog.slots):
        pseudo = _is_pseudo_call(s.code, s.src) or _is_pseudo_func(s.code, s.src)
        kfunc = s.code == InsnClass.JMP | JumpOp.CALL and s.src == CallSrc.KFUNC_CALL
        if not (pseudo or kfunc):
            continue
        env.insn_idx = pc
        if not env.bpf_capable:
            env.reject("loading/calling other bpf or kernel functions are allowed for CAP_BPF "
                       "and CAP_SYS_ADMIN", errno.EPERM)  # fmt: skip
        if kfunc:
            _add_kfunc_call(env, s.imm, s.off)
        target = pc + s.imm + 1
        if not 0 <= target < n:
            env.reject("call to invalid destination")
        if target not in starts and len(starts) >= BPF_MAX_SUBPROGS:
            env.reject("too many subprograms", errno.E2BIG)
        starts.add(target)
    env.subprogs = [Subprog(start) for start in sorted(starts)]
    if env.log.level >= 2:
        for i, sp in enumerate(env.subprogs):
            env.log(f"func#{i} @{sp.start}\n")


def check_subprogs(env: Env) -> None:
    """``check_subprogs()``: jumps stay in their function, which ends in exit or a jump."""
    ends = [sp.start for sp in env.subprogs[1:]] + [len(env.prog)]
    cur = 0
    start, end = env.subprogs[0].start, ends[0]
    for i, s in enumerate(env.prog.slots):
        code = s.code
        cls = code & 0x07
        if code == InsnClass.JMP | JumpOp.CALL and s.src == 0 and s.imm == 12:  # tail_call
            env.subprogs[cur].has_tail_call = True
        if cls == InsnClass.LD and code & 0xE0 in (Mode.ABS, Mode.IND):
            env.subprogs[cur].has_ld_abs = True
        if cls in (InsnClass.JMP, InsnClass.JMP32) and code & 0xF0 not in (JumpOp.EXIT,
                                                                          JumpOp.CALL):
            off = i + (s.imm if code == InsnClass.JMP32 | JumpOp.JA else s.off) + 1
            if off < start or off >= end:
                env.insn_idx = i
                env.reject(f"jump out of range from insn {i} to {off}")
        if i == end - 1:
            env.insn_idx = i
            if code not in (InsnClass.JMP | JumpOp.EXIT, InsnClass.JMP32 | JumpOp.JA,
                            InsnClass.JMP | JumpOp.JA):
                env.reject("last insn is not an exit or jmp")
            start = end
            cur += 1
            if cur < len(env.subprogs):
                end = ends[cur]


def _map_for(env: Env, pc: int, fd: int):  # type: ignore[no-untyped-def]
    """The map an ``lddw`` at ``pc`` refers to: by the spec's map references, else by fd."""
    if env.spec is not None:
        for ref in env.spec.map_references:
            if ref.pc == pc:
                return env.maps.get(ref.map_name)
    return env.maps.get(fd)  # type: ignore[call-overload]


def resolve_pseudo_ldimm64(env: Env) -> None:
    """``resolve_pseudo_ldimm64()``: per-instruction encoding checks and map lookups."""
    slots = env.prog.slots
    n = len(slots)
    i = 0
    while i < n:
        s = slots[i]
        cls = s.code & 0x07
        if cls == InsnClass.LDX and (s.code & 0xE0 not in (Mode.MEM, Mode.MEMSX) or s.imm):
            env.insn_idx = i
            env.reject("BPF_LDX uses reserved fields")
        if s.code == OP_LDDW:
            if i == n - 1 or slots[i + 1].code or slots[i + 1].dst or slots[i + 1].src \
                    or slots[i + 1].off:
                env.insn_idx = i
                env.reject("invalid bpf_ld_imm64 insn")
            if s.src in (0, PseudoSrc.FUNC):
                i += 2
                continue
            if s.src == PseudoSrc.BTF_ID:
                env.insn_idx = i
                env.reject("pybpf does not verify BPF_PSEUDO_BTF_ID loads (ksyms)",
                           errno.EOPNOTSUPP)  # fmt: skip
            if not (s.src in (PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE)
                    or (s.src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX) and not slots[i + 1].imm)):
                env.insn_idx = i
                env.reject("unrecognized bpf_ld_imm64 insn")
            if s.src in (PseudoSrc.MAP_IDX, PseudoSrc.MAP_IDX_VALUE):
                env.insn_idx = i
                env.reject("fd_idx without fd_array is invalid", errno.EPROTO)
            m = _map_for(env, i, s.imm)
            if m is None:
                env.insn_idx = i
                env.reject(f"fd {s.imm} is not pointing to valid bpf_map", errno.EBADF)
            aux = env.aux[i]
            aux.map = m
            env.insn_idx = i
            check_map_prog_compatibility(env, m)  # map values with BTF (spin locks)
            if s.src == PseudoSrc.MAP_VALUE:
                off = slots[i + 1].imm & 0xFFFFFFFF
                if off >= BPF_MAX_VAR_OFF:
                    env.insn_idx = i
                    env.reject(f"direct value offset of {off} is not allowed")
                if m.map_type != MapType.ARRAY:
                    env.insn_idx = i
                    env.reject("no direct value access support for this map type")
                if m.max_entries != 1 or off >= m.value_size:
                    env.insn_idx = i
                    env.reject(f"invalid access to map value pointer, value_size="
                               f"{m.value_size} off={off}", errno.EINVAL)  # fmt: skip
                aux.map_off = off
            i += 2
            continue
        if cls != InsnClass.LDX and s.code not in VALID_OPCODES:
            env.insn_idx = i
            env.reject(f"unknown opcode {s.code:02x}")
        i += 1


def _push_insn(env: Env, state: list[int], stack: list[int], t: int, w: int, e: int) -> int:
    """``push_insn()``: 0 done, 1 keep exploring (raises on errors)."""
    if e == _FALLTHROUGH and state[t] >= _DISCOVERED | _FALLTHROUGH:
        return 0
    if e == _BRANCH and state[t] >= _DISCOVERED | _BRANCH:
        return 0
    env.insn_idx = t
    if w < 0 or w >= len(env.prog):
        env.reject(f"jump out of range from insn {t} to {w}")
    if e == _BRANCH:
        env.aux[w].prune_point = True
        env.aux[w].jmp_point = True
    if state[w] == 0:
        state[t] = _DISCOVERED | e
        state[w] = _DISCOVERED
        stack.append(w)
        return 1
    if state[w] & 0xF0 == _DISCOVERED:
        if env.bpf_capable:
            return 0
        env.reject(f"back-edge from insn {t} to {w}")
    if state[w] == _EXPLORED:
        state[t] = _DISCOVERED | e
    return 0


def _visit_insn(env: Env, state: list[int], stack: list[int], t: int) -> int:
    """``visit_insn()``."""
    s = env.prog.slots[t]
    code, cls, op = s.code, s.code & 0x07, s.code & 0xF0
    size = 2 if code == OP_LDDW else 1
    if _is_pseudo_func(code, s.src):
        ret = _push_insn(env, state, stack, t, t + size, _FALLTHROUGH)
        if ret:
            return ret
        env.aux[t + size].prune_point = env.aux[t + size].jmp_point = True
        env.aux[t].prune_point = True
        return _push_insn(env, state, stack, t, t + s.imm + 1, _BRANCH)
    if cls not in (InsnClass.JMP, InsnClass.JMP32):
        return _push_insn(env, state, stack, t, t + size, _FALLTHROUGH)
    if op == JumpOp.EXIT:
        return 0
    if op == JumpOp.CALL:
        if s.src == CallSrc.HELPER and s.imm in ASYNC_CALLBACK_HELPERS:
            # prune before the call, else each visit pushes another async callback state
            env.aux[t].prune_point = True
        if s.src == CallSrc.HELPER and s.imm in SYNC_CALLBACK_HELPERS:
            # the callback is verified as a loop returning to this call: checkpoint here
            aux = env.aux[t]
            aux.calls_callback = aux.force_checkpoint = True
            aux.prune_point = aux.jmp_point = True
        ret = _push_insn(env, state, stack, t, t + 1, _FALLTHROUGH)
        if ret:
            return ret
        if t + 1 < len(env.prog):
            env.aux[t + 1].prune_point = env.aux[t + 1].jmp_point = True
        if s.src == CallSrc.PSEUDO_CALL:
            env.aux[t].prune_point = True
            return _push_insn(env, state, stack, t, t + s.imm + 1, _BRANCH)
        return 0
    if op == JumpOp.JA:
        if code & 0x08:
            env.reject("BPF_JA uses reserved fields")
        off = s.off if cls == InsnClass.JMP else s.imm
        ret = _push_insn(env, state, stack, t, t + off + 1, _FALLTHROUGH)
        if ret:
            return ret
        w = t + off + 1
        env.aux[w].prune_point = env.aux[w].jmp_point = True
        return ret
    env.aux[t].prune_point = True
    if code == InsnClass.JMP | JumpOp.JCOND:
        env.aux[t].force_checkpoint = True
    ret = _push_insn(env, state, stack, t, t + 1, _FALLTHROUGH)
    if ret:
        return ret
    return _push_insn(env, state, stack, t, t + s.off + 1, _BRANCH)


def check_cfg(env: Env) -> None:
    """``check_cfg()``: depth-first search over the instruction graph from insn 0."""
    n = len(env.prog)
    state = [0] * n
    state[0] = _DISCOVERED
    stack = [0]
    while stack:
        t = stack[-1]
        if _visit_insn(env, state, stack, t) == 0:
            state[t] = _EXPLORED
            stack.pop()
    i = 0
    while i < n:
        env.insn_idx = i
        if state[i] != _EXPLORED:
            env.reject(f"unreachable insn {i}")
        if env.prog.is_ldimm64(i):
            if i + 1 < n and state[i + 1]:
                env.reject(f"jump into the middle of ldimm64 insn {i}")
            i += 1
        i += 1


def check_abnormal_return(env: Env) -> None:
    """``check_abnormal_return()``: without BTF, sub-programs may not end the program early."""
    for sp in env.subprogs[1:]:
        env.insn_idx = sp.start
        if sp.has_ld_abs:
            env.reject("LD_ABS is not allowed in subprogs without BTF")
        if sp.has_tail_call:
            env.reject("tail_call is not allowed in subprogs without BTF")


def _round_up_stack_depth(depth: int) -> int:
    """``round_up_stack_depth()`` with the JIT (always on here): 16-byte granularity."""
    return (depth + 15) // 16 * 16


def check_max_stack_depth(env: Env) -> None:
    """``check_max_stack_depth()``: the deepest chain of calls fits in 512 bytes of stack.

    Walks the static call graph as the kernel does after exploration, from the main
    program and from every asynchronous callback (which runs on a stack of its own), the
    roots taken from the last sub-program down. A synchronous callback (an ``lddw`` of
    ``BPF_PSEUDO_FUNC``) counts as a call; an asynchronous one does not, unless called
    directly. Recursion is caught here as a chain of more than 8 frames.
    """
    for root in range(len(env.subprogs) - 1, -1, -1):
        if root and not env.subprogs[root].is_async_cb:
            continue
        _check_max_stack_depth_subprog(env, root)


def _check_max_stack_depth_subprog(env: Env, root: int) -> None:
    """``check_max_stack_depth_subprog()``: one root's call tree (private stacks, which
    x86-64 gives some tracing programs, are not modelled)."""
    slots = env.prog.slots
    starts = [sp.start for sp in env.subprogs]
    ends = starts[1:] + [len(env.prog)]
    frame = depth = 0
    idx = root
    i = starts[root]
    ret_insn = [0] * MAX_CALL_FRAMES
    ret_prog = [0] * MAX_CALL_FRAMES
    process = True
    while True:
        if process:
            sp = env.subprogs[idx]
            if idx and sp.has_tail_call and depth >= 256:
                env.reject(f"tail_calls are not allowed when call stack of previous frames is "
                           f"{depth} bytes. Too large", errno.EACCES)  # fmt: skip
            depth += _round_up_stack_depth(sp.stack_depth)
            if depth > 512:
                env.reject(f"combined stack size of {frame + 1} calls is {depth}. Too large",
                           errno.EACCES)  # fmt: skip
            process = False
        called = False
        while i < ends[idx]:
            s = slots[i]
            if _is_pseudo_call(s.code, s.src) or _is_pseudo_func(s.code, s.src):
                nxt = i + s.imm + 1
                sidx = starts.index(nxt)
                if env.subprogs[sidx].is_async_cb and not _is_pseudo_call(s.code, s.src):
                    i += 1  # async callbacks run on their own stack
                    continue
                ret_insn[frame] = i + 1
                ret_prog[frame] = idx
                idx = sidx
                i = nxt
                frame += 1
                if frame >= MAX_CALL_FRAMES:
                    env.reject(f"the call stack of {frame} frames is too deep !", errno.E2BIG)
                called = True
                break
            i += 1
        if called:
            process = True
            continue
        if frame == 0:
            return
        depth -= _round_up_stack_depth(env.subprogs[idx].stack_depth)
        frame -= 1
        i = ret_insn[frame]
        idx = ret_prog[frame]


def run_cfg_checks(env: Env) -> None:
    """The pre-exploration passes of ``bpf_check()``, in the kernel's order."""
    from pybpf.verifier.func_info import check_btf_info, check_btf_info_early

    check_btf_info_early(env)
    add_subprogs(env)
    check_subprogs(env)
    check_btf_info(env, check_abnormal_return)
    resolve_pseudo_ldimm64(env)
    check_cfg(env)
