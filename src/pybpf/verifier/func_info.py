"""Programs loaded with BTF: func info and line info.

A program whose spec carries ``func_info`` (and its ``btf``) is verified as the kernel
verifies a ``BPF_PROG_LOAD`` with ``prog_btf_fd``, ``func_info`` and ``line_info`` (what
libbpf passes). This module holds what ``prog->aux`` keeps of it (:class:`BtfInfo`, one
:class:`FuncAux` per sub-program) and mirrors, in kernel/bpf/verifier.c (Linux 6.18),
``check_btf_func_early()`` (record order, FUNC types) before the sub-programs are known,
``check_btf_func()`` (one record per sub-program, at its start; ``LD_ABS`` and tail calls
only in sub-programs returning ``int``) and ``check_btf_line()`` after, and what
``check_cfg()`` computes of each sub-program's effects (``changes_pkt_data``,
``might_sleep``). Argument types are :mod:`pybpf.verifier.func_args`'s, global functions
:mod:`pybpf.verifier.global_funcs`'.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from pybpf.btf import Btf, BtfKind, BtfType, Func, FuncLinkage, FuncProto
from pybpf.isa import InsnClass, JumpOp
from pybpf.platform.helper_ids import HelperId
from pybpf.platform.helpers import changes_pkt_data
from pybpf.verifier.env import Env, Reject

__all__ = [
    "KIND_STR",
    "MODIFIERS",
    "ArgKind",
    "BtfInfo",
    "FuncAux",
    "SubprogArg",
    "btf_info",
    "check_btf_info",
    "check_btf_info_early",
    "is_any_enum",
    "is_int",
    "linfo_text",
    "skip_modifiers",
]

#: Helpers whose prototype says ``might_sleep`` (bpf_copy_from_user() and friends).
_MIGHT_SLEEP = frozenset((HelperId.COPY_FROM_USER, HelperId.COPY_FROM_USER_TASK,
                          HelperId.IMA_INODE_HASH, HelperId.IMA_FILE_HASH))  # fmt: skip
#: ``btf_kind_str[]``: how the kernel's messages name BTF kinds.
KIND_STR = {
    0: "UNKNOWN", 1: "INT", 2: "PTR", 3: "ARRAY", 4: "STRUCT", 5: "UNION", 6: "ENUM",
    7: "FWD", 8: "TYPEDEF", 9: "VOLATILE", 10: "CONST", 11: "RESTRICT", 12: "FUNC",
    13: "FUNC_PROTO", 14: "VAR", 15: "DATASEC", 16: "FLOAT", 17: "DECL_TAG", 18: "TYPE_TAG",
    19: "ENUM64",
}  # fmt: skip
MODIFIERS = frozenset((BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT,
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
def skip_modifiers(btf: Btf, type_id: int) -> tuple[int, BtfType]:
    """``btf_typeskip_modifiers()``."""
    t = btf[type_id]
    while t.kind in MODIFIERS:
        type_id = t.type  # type: ignore[union-attr]
        t = btf[type_id]
    return type_id, t


def is_int(t: object) -> bool:
    return getattr(t, "kind", None) == BtfKind.INT


def is_any_enum(t: object) -> bool:
    return getattr(t, "kind", None) in (BtfKind.ENUM, BtfKind.ENUM64)


# -- checks before exploration ----------------------------------------------------------------
def btf_info(env: Env) -> BtfInfo | None:
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
    info = btf_info(env)
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
        _, ret = skip_modifiers(btf, proto.ret)  # type: ignore[union-attr]
        scalar_return = (is_int(ret) and ret.size <= 8) or is_any_enum(ret)  # type: ignore[union-attr]
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


def linfo_text(file: str, line: int, text: str) -> str:
    """``verbose_linfo()``'s line: the source line, its file's base name and number."""
    return f"; {text.lstrip()} @ {os.path.basename(file)}:{line}\n"
