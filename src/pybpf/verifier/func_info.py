"""Programs loaded with BTF: func info, line info and global functions.

A program whose spec carries ``func_info`` (and its ``btf``) is verified as the kernel
verifies a ``BPF_PROG_LOAD`` with ``prog_btf_fd``, ``func_info`` and ``line_info`` (what
libbpf passes). Mirrors, in kernel/bpf/verifier.c and kernel/bpf/btf.c (Linux 6.18):

* ``check_btf_func_early()`` (record order, FUNC types) before the sub-programs are known,
  ``check_btf_func()`` (one record per sub-program, at its start; ``LD_ABS`` and tail calls
  only in sub-programs returning ``int``) and ``check_btf_line()`` after;
* ``btf_prepare_func_args()``: a function's argument types from its BTF prototype: pointer
  to the program's context (``btf_is_prog_ctx_type()``), scalar, or (global functions) a
  pointer to memory of the pointee's size that may be NULL (``__arg_nonnull``: may not);
* ``btf_check_subprog_call()`` / ``btf_check_func_arg_match()``: a call's arguments match
  those types (``check_mem_reg()`` for memory); static functions whose BTF does not match
  become "unreliable", silently;
* the global-function branch of ``check_func_call()``: the callee is not entered, R0 is an
  unknown scalar, the callee is marked called; and ``do_check_subprogs()`` /
  ``do_check_common()``: after the main program, every called global function is verified
  on its own, from registers set up from its argument types, until no new one is called;
* the sub-program case of ``check_return_code()``.

Modelled tags: ``arg:nonnull`` and ``arg:nullable`` (which only combines with
``arg:trusted``). Refused (``EOPNOTSUPP``, "pybpf does not verify ..."): the ``arg:ctx``,
``arg:trusted``, ``arg:untrusted`` and ``arg:arena`` tags, ``struct bpf_dynptr *``
arguments, and calls to global functions that may sleep. Not modelled: ``BPF_PROG_TYPE_EXT`` and exception
callbacks.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from pybpf.btf import Btf, BtfKind, BtfType, DeclTag, Func, FuncLinkage, FuncProto, Ptr
from pybpf.isa import InsnClass, JumpOp
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_ids import HelperId
from pybpf.platform.helper_types import RegType, TypeFlag
from pybpf.platform.helpers import changes_pkt_data
from pybpf.verifier.env import Env, Reject
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

__all__ = [
    "BtfInfo",
    "check_btf_info",
    "check_btf_info_early",
    "check_subprog_call",
    "check_subprog_return",
    "do_check_subprogs",
    "prepare_main_args",
]

MAX_BPF_FUNC_REG_ARGS = 5
MAX_RESOLVE_DEPTH = 32
_LOG_LEVEL = LOG_LEVEL1 | LOG_LEVEL2
#: Helpers whose prototype says ``might_sleep`` (bpf_copy_from_user() and friends).
_MIGHT_SLEEP = frozenset((HelperId.COPY_FROM_USER, HelperId.COPY_FROM_USER_TASK,
                          HelperId.IMA_INODE_HASH, HelperId.IMA_FILE_HASH))  # fmt: skip
#: ``btf_kind_str[]``: how the kernel's messages name BTF kinds.
_KIND_STR = {
    0: "UNKNOWN", 1: "INT", 2: "PTR", 3: "ARRAY", 4: "STRUCT", 5: "UNION", 6: "ENUM",
    7: "FWD", 8: "TYPEDEF", 9: "VOLATILE", 10: "CONST", 11: "RESTRICT", 12: "FUNC",
    13: "FUNC_PROTO", 14: "VAR", 15: "DATASEC", 16: "FLOAT", 17: "DECL_TAG", 18: "TYPE_TAG",
    19: "ENUM64",
}  # fmt: skip
_MODIFIERS = frozenset((BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT,
                        BtfKind.TYPE_TAG))  # fmt: skip


class ArgKind(Enum):
    """The ``arg_type`` of a ``struct bpf_subprog_arg_info`` (the ones modelled)."""

    ANYTHING = "ARG_ANYTHING"
    PTR_TO_CTX = "ARG_PTR_TO_CTX"
    PTR_TO_MEM = "ARG_PTR_TO_MEM"


@dataclass(frozen=True, slots=True)
class SubprogArg:
    """``struct bpf_subprog_arg_info``."""

    kind: ArgKind
    maybe_null: bool = False
    mem_size: int = 0


@dataclass(slots=True)
class FuncAux:
    """``struct bpf_func_info_aux`` plus the argument cache of ``bpf_subprog_info``."""

    type_id: int
    name: str
    linkage: int = 0
    unreliable: bool = False
    called: bool = False
    verified: bool = False
    args: tuple[SubprogArg, ...] | None = None  # args_cached
    changes_pkt_data: bool = False
    might_sleep: bool = False

    @property
    def is_global(self) -> bool:
        return self.linkage == FuncLinkage.GLOBAL


@dataclass(slots=True)
class BtfInfo:
    """What ``prog->aux`` holds of a program loaded with BTF."""

    btf: Btf
    funcs: list[FuncAux] = field(default_factory=list)


# -- BTF helpers ------------------------------------------------------------------------------
def _skip_modifiers(btf: Btf, type_id: int) -> tuple[int, BtfType]:
    """``btf_type_skip_modifiers()``."""
    t = btf[type_id]
    while t.kind in _MODIFIERS:
        type_id = t.type  # type: ignore[union-attr]
        t = btf[type_id]
    return type_id, t


def _is_int(t: object) -> bool:
    return getattr(t, "kind", None) == BtfKind.INT


def _is_any_enum(t: object) -> bool:
    return getattr(t, "kind", None) in (BtfKind.ENUM, BtfKind.ENUM64)


def _resolve_size(btf: Btf, type_id: int) -> int | None:
    """``btf_resolve_size()``: the size of a type (arrays multiplied out), None when it has
    none (void, functions, forward declarations)."""
    nelems = 1
    t = btf[type_id]
    for _ in range(MAX_RESOLVE_DEPTH):
        kind = t.kind
        if kind in (BtfKind.INT, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.FLOAT,
                    BtfKind.ENUM64):
            size = t.size  # type: ignore[union-attr]
            break
        if kind == BtfKind.PTR:
            size = 8
            break
        if kind in _MODIFIERS:
            t = btf[t.type]  # type: ignore[union-attr]
            continue
        if kind == BtfKind.ARRAY:
            n = t.nelems  # type: ignore[union-attr]
            if nelems and n > 0xFFFFFFFF // nelems:
                return None
            nelems *= n
            t = btf[t.type]  # type: ignore[union-attr]
            continue
        return None
    else:
        return None
    if nelems and size > 0xFFFFFFFF // nelems:
        return None
    return size * nelems if nelems else size


def _ctx_type_names(env: Env) -> tuple[str, ...]:
    """The names the program type's context may have in a BTF prototype
    (``find_canonical_prog_ctx_type()`` in ``struct bpf_ctx_convert`` of vmlinux BTF, and
    what its typedefs resolve to)."""
    vmlinux = env.btf_vmlinux()
    if vmlinux is None:
        env.reject("pybpf does not verify BTF func info without the kernel's BTF",
                   errno.EOPNOTSUPP)  # fmt: skip
    conv = vmlinux.find("bpf_ctx_convert", BtfKind.STRUCT)
    if conv is None:
        return ()
    want = f"BPF_PROG_TYPE_{ProgType(env.prog_type).name}_prog"
    for m in vmlinux[conv].members:  # type: ignore[union-attr]
        if m.name != want:
            continue
        names = []
        t = vmlinux[m.type]
        while True:
            names.append(t.name)
            if t.kind not in _MODIFIERS:
                break
            t = vmlinux[t.type]  # type: ignore[union-attr]
        return tuple(names)
    return ()


def _is_prog_ctx_type(env: Env, btf: Btf, ptr: Ptr) -> bool:
    """``btf_is_prog_ctx_type()``: ``ptr`` points to the program type's context."""
    t = btf[ptr.type]
    if env.prog_type == ProgType.KPROBE:
        while t.kind in _MODIFIERS and t.kind != BtfKind.TYPEDEF:
            t = btf[t.type]  # type: ignore[union-attr]
        if t.kind == BtfKind.TYPEDEF and t.name == "bpf_user_pt_regs_t":
            return True
    while t.kind in _MODIFIERS:
        t = btf[t.type]  # type: ignore[union-attr]
    if t.kind not in (BtfKind.STRUCT, BtfKind.UNION):
        return False
    tname = t.name
    names = _ctx_type_names(env)
    if not names or not names[0]:
        return False  # program types without a named context need arg:ctx
    if (names[0], tname) in (("__sk_buff", "sk_buff"), ("xdp_md", "xdp_buff")):
        return True
    # a typedef context (bpf_user_pt_regs_t) matches what it resolves to
    return tname == names[0] or (len(names) > 1 and tname in names[1:] and
                                 tname == names[-1])  # fmt: skip


def _decl_tags(btf: Btf, func_id: int, arg: int) -> list[str]:
    """``btf_find_next_decl_tag(..., "arg:")``: the ``arg:`` tags of argument ``arg``."""
    out = []
    for t in btf:
        if isinstance(t, DeclTag) and t.type == func_id and t.component_idx == arg \
                and t.name.startswith("arg:"):
            out.append(t.name[4:])
    return out


# -- checks before exploration ----------------------------------------------------------------
def _info(env: Env) -> BtfInfo | None:
    return env.btf_info  # type: ignore[return-value]


def check_btf_info_early(env: Env) -> None:
    """``check_btf_info_early()`` / ``check_btf_func_early()``: the func info records are in
    order, start at 0 and name FUNC types with a FUNC_PROTO."""
    spec = env.spec
    if spec is None:
        return
    btf = spec.btf
    if not (spec.func_info or spec.line_info):
        if isinstance(btf, Btf):  # maps with BTF, no func info
            env.btf_info = BtfInfo(btf)
        return
    if not isinstance(btf, Btf):
        env.reject("pybpf does not verify func/line info without the program's BTF "
                   "(ProgramSpec.btf)", errno.EOPNOTSUPP)  # fmt: skip
    info = BtfInfo(btf)
    env.btf_info = info
    prev = 0
    for i, rec in enumerate(spec.func_info):
        if i == 0 and rec.pc:
            env.reject(f"nonzero insn_off {rec.pc} for the first func info record",
                       newline=False)  # fmt: skip
        if i and rec.pc <= prev:
            env.reject(f"same or smaller insn offset ({rec.pc}) than previous func info "
                       f"record ({prev})", newline=False)  # fmt: skip
        try:
            t = btf[rec.type_id]
        except Exception:  # noqa: BLE001 - an id out of range
            t = None
        if not isinstance(t, Func):
            env.reject(f"invalid type id {rec.type_id} in func info", newline=False)
        if not isinstance(btf[t.type], FuncProto):
            raise Reject(errno.EINVAL)
        info.funcs.append(FuncAux(rec.type_id, t.name, int(t.linkage)))
        prev = rec.pc


def check_btf_info(env: Env, check_abnormal_return: Callable[[Env], None]) -> None:
    """``check_btf_info()``: ``check_btf_func()`` then ``check_btf_line()``; without func
    info, sub-programs may not end the program early (``check_abnormal_return()``)."""
    spec = env.spec
    info = _info(env)
    if spec is None or info is None or not spec.func_info:
        check_abnormal_return(env)
        if info is None:
            return
    else:
        _check_btf_func(env, info)
    _check_btf_line(env)


def _check_btf_func(env: Env, info: BtfInfo) -> None:
    spec = env.spec
    assert spec is not None
    if len(spec.func_info) != len(env.subprogs):
        env.reject("number of funcs in func_info doesn't match number of subprogs")
    btf = info.btf
    for i, rec in enumerate(spec.func_info):
        sub = env.subprogs[i]
        if sub.start != rec.pc:
            env.reject("func_info BTF section doesn't match subprog layout in BPF program")
        proto = btf[btf[rec.type_id].type]  # type: ignore[union-attr]
        _, ret = _skip_modifiers(btf, proto.ret)  # type: ignore[union-attr]
        scalar_return = (_is_int(ret) and ret.size <= 8) or _is_any_enum(ret)  # type: ignore[union-attr]
        if i and not scalar_return and sub.has_ld_abs:
            env.reject("LD_ABS is only allowed in functions that return 'int'.")
        if i and not scalar_return and sub.has_tail_call:
            env.reject("tail_call is only allowed in functions that return 'int'.")
        sub.is_global = info.funcs[i].is_global
    _mark_effects(env, info)


def _check_btf_line(env: Env) -> None:
    """``check_btf_line()``: line info strictly increasing, on instructions, one at the
    start of every sub-program."""
    spec = env.spec
    assert spec is not None
    lines = spec.line_info
    if not lines:
        return
    n = len(env.prog)
    s = 0
    prev = 0
    subs = env.subprogs
    for i, li in enumerate(lines):
        if (i and li.pc <= prev) or li.pc >= n:
            env.reject(f"Invalid line_info[{i}].insn_off:{li.pc} (prev_offset:{prev} "
                       f"prog->len:{n})")  # fmt: skip
        if not env.prog.slots[li.pc].code:
            env.reject(f"Invalid insn code at line_info[{i}].insn_off")
        if s != len(subs):
            if li.pc == subs[s].start:
                s += 1
            elif subs[s].start < li.pc:
                env.reject(f"missing bpf_line_info for func#{s}")
        prev = li.pc
    if s != len(subs):
        env.reject(f"missing bpf_line_info for {len(subs) - s} funcs starting from func#{s}")


def _mark_effects(env: Env, info: BtfInfo) -> None:
    """``changes_pkt_data`` and ``might_sleep`` of each sub-program: it calls a helper that
    has the property, or a sub-program that has it (what ``mark_subprog_changes_pkt_data()``
    and ``merge_callee_effects()`` compute during ``check_cfg()``)."""
    starts = [sp.start for sp in env.subprogs]
    ends = starts[1:] + [len(env.prog)]
    calls: list[set[int]] = [set() for _ in starts]
    for i, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
        for pc in range(lo, hi):
            s = env.prog.slots[pc]
            if s.code != InsnClass.JMP | JumpOp.CALL:
                continue
            if s.src == 0:
                if changes_pkt_data(s.imm) if _known_helper(s.imm) else False:
                    info.funcs[i].changes_pkt_data = True
                if s.imm in _MIGHT_SLEEP:
                    info.funcs[i].might_sleep = True
            elif s.src == 1 and pc + s.imm + 1 in starts:
                calls[i].add(starts.index(pc + s.imm + 1))
    changed = True
    while changed:
        changed = False
        for i, callees in enumerate(calls):
            f = info.funcs[i]
            for c in callees:
                g = info.funcs[c]
                if g.changes_pkt_data and not f.changes_pkt_data:
                    f.changes_pkt_data = changed = True
                if g.might_sleep and not f.might_sleep:
                    f.might_sleep = changed = True


def _known_helper(imm: int) -> bool:
    try:
        HelperId(imm)
    except ValueError:
        return False
    return True


# -- argument types -------------------------------------------------------------------------
def btf_prepare_func_args(env: Env, subprog: int) -> int:
    """``btf_prepare_func_args()``: the argument types of ``subprog`` from its prototype
    (cached); 0, or the errno the kernel returns (its messages logged)."""
    info = _info(env)
    assert info is not None
    aux = info.funcs[subprog]
    if aux.args is not None:
        return 0
    btf = info.btf
    is_global = aux.is_global
    fn = btf[aux.type_id]
    tname = fn.name
    proto = btf[fn.type]  # type: ignore[union-attr]
    assert isinstance(proto, FuncProto)
    nargs = len(proto.params)
    if nargs > MAX_BPF_FUNC_REG_ARGS:
        if not is_global:
            return errno.EINVAL
        env.verbose(f"Global function {tname}() with {nargs} > {MAX_BPF_FUNC_REG_ARGS} args. "
                    "Buggy compiler.\n")  # fmt: skip
        return errno.EINVAL
    _, ret = _skip_modifiers(btf, proto.ret)
    if not _is_int(ret) and not _is_any_enum(ret):
        if not is_global:
            return errno.EINVAL
        env.verbose(f"Global function {tname}() doesn't return scalar. Only those are "
                    "supported.\n")  # fmt: skip
        return errno.EINVAL
    args = []
    for i, param in enumerate(proto.params):
        tags = _decl_tags(btf, aux.type_id, i)
        if tags and not is_global:
            env.verbose(f"arg#{i} type tag is not supported in static functions\n")
            return errno.EOPNOTSUPP
        for tag in tags:
            if tag not in ("ctx", "trusted", "untrusted", "nonnull", "nullable", "arena"):
                env.verbose(f"arg#{i} has unsupported set of tags\n")
                return errno.EOPNOTSUPP
        for tag in tags:
            if tag not in ("nonnull", "nullable"):
                env.reject(f"pybpf does not verify global function arguments tagged "
                           f"arg:{tag} ({tname}() arg#{i})", errno.EOPNOTSUPP)  # fmt: skip
        _, t = _skip_modifiers(btf, param.type)
        if isinstance(t, Ptr):
            if _is_prog_ctx_type(env, btf, t):
                if tags:
                    env.verbose(f"arg#{i} has invalid combination of tags\n")
                    return errno.EINVAL
                args.append(SubprogArg(ArgKind.PTR_TO_CTX))
                continue
            _, pointee = _skip_modifiers(btf, t.type)
            if pointee.kind in (BtfKind.STRUCT, BtfKind.FWD) and pointee.name == "bpf_dynptr":
                env.reject(f"pybpf does not verify struct bpf_dynptr arguments ({tname}() "
                           f"arg#{i})", errno.EOPNOTSUPP)  # fmt: skip
            if is_global:
                if "nullable" in tags:  # only meaningful with arg:trusted
                    env.verbose(f"arg#{i} has invalid combination of tags\n")
                    return errno.EINVAL
                pid, pointee = _skip_modifiers(btf, t.type)
                size = _resolve_size(btf, pid)
                if size is None:
                    env.verbose(f"arg#{i} reference type('{_KIND_STR.get(int(pointee.kind))} "
                                f"{pointee.name}') size cannot be determined: -22\n")
                    return errno.EINVAL
                args.append(SubprogArg(ArgKind.PTR_TO_MEM, "nonnull" not in tags, size))
                continue
        if tags:
            env.verbose(f"arg#{i} has pointer tag, but is not a pointer type\n")
            return errno.EINVAL
        if _is_int(t) or _is_any_enum(t):
            args.append(SubprogArg(ArgKind.ANYTHING))
            continue
        if not is_global:
            return errno.EINVAL
        env.verbose(f"Arg#{i} type {_KIND_STR.get(int(t.kind))} in {tname}() is not "
                    "supported yet.\n")  # fmt: skip
        return errno.EINVAL
    aux.args = tuple(args)
    return 0


def prepare_main_args(env: Env) -> None:
    """``do_check_common()`` for the main program with func info: its BTF is reliable only
    when it takes exactly the context."""
    info = _info(env)
    if info is None or not info.funcs:
        return
    err = btf_prepare_func_args(env, 0)
    args = info.funcs[0].args
    if err or args is None or len(args) != 1 or args[0].kind != ArgKind.PTR_TO_CTX:
        info.funcs[0].unreliable = True


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
    info = _info(env)
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
    info = _info(env)
    if info is None or not info.funcs:
        return errno.EINVAL
    aux = info.funcs[subprog]
    if aux.unreliable:
        return errno.EINVAL
    err = _check_arg_match(env, subprog, regs)
    if err:
        aux.unreliable = True
    return err


# -- calls and exits --------------------------------------------------------------------------
def check_subprog_call(env: Env, subprog: int) -> bool:
    """The BTF part of ``check_func_call()``: check the arguments against the callee's BTF;
    for a global callee, do the whole call (True: the caller continues after the call)."""
    st = env.cur_state
    assert st is not None
    caller = st.cur
    err = _btf_check_subprog_call(env, subprog, caller.regs)
    if err == errno.EFAULT:
        raise Reject(err)
    info = _info(env)
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


# -- verifying global functions ---------------------------------------------------------------
def _init_args(env: Env, subprog: int) -> None:
    """The argument registers of a global function verified on its own."""
    info = _info(env)
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

    info = _info(env)
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
    info = _info(env)
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


def linfo_text(file: str, line: int, text: str) -> str:
    """``verbose_linfo()``'s line: the source line, its file's base name and number."""
    return f"; {text.lstrip()} @ {os.path.basename(file)}:{line}\n"
