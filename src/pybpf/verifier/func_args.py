"""The argument types of a function loaded with BTF func info.

Mirrors ``btf_prepare_func_args()`` of kernel/bpf/btf.c (Linux 6.18): a function's argument
types from its BTF prototype — a pointer to the program's context
(``btf_is_prog_ctx_type()``), a scalar, or (global functions) a pointer to memory of the
pointee's size (``btf_resolve_size()``) that may be NULL (``__arg_nonnull``: may not) —
and the main program's check in ``do_check_common()`` (its BTF is reliable only when it
takes exactly the context).

Modelled tags: ``arg:nonnull`` and ``arg:nullable`` (which only combines with
``arg:trusted``). Refused (``EOPNOTSUPP``, "pybpf does not verify ..."): the ``arg:ctx``,
``arg:trusted``, ``arg:untrusted`` and ``arg:arena`` tags and ``struct bpf_dynptr *``
arguments.
"""

from __future__ import annotations

import errno

from pybpf.btf import Btf, BtfKind, DeclTag, FuncProto, Ptr
from pybpf.platform.enums import ProgType
from pybpf.verifier.env import Env
from pybpf.verifier.func_info import (
    KIND_STR,
    MODIFIERS,
    ArgKind,
    SubprogArg,
    btf_info,
    is_any_enum,
    is_int,
    skip_modifiers,
)

__all__ = ["MAX_BPF_FUNC_REG_ARGS", "btf_prepare_func_args", "prepare_main_args"]

MAX_BPF_FUNC_REG_ARGS = 5
MAX_RESOLVE_DEPTH = 32


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
        if kind in MODIFIERS:
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
            if t.kind not in MODIFIERS:
                break
            t = vmlinux[t.type]  # type: ignore[union-attr]
        return tuple(names)
    return ()


def _is_prog_ctx_type(env: Env, btf: Btf, ptr: Ptr) -> bool:
    """``btf_is_prog_ctx_type()``: ``ptr`` points to the program type's context."""
    t = btf[ptr.type]
    if env.prog_type == ProgType.KPROBE:
        while t.kind in MODIFIERS and t.kind != BtfKind.TYPEDEF:
            t = btf[t.type]  # type: ignore[union-attr]
        if t.kind == BtfKind.TYPEDEF and t.name == "bpf_user_pt_regs_t":
            return True
    while t.kind in MODIFIERS:
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


def btf_prepare_func_args(env: Env, subprog: int) -> int:
    """``btf_prepare_func_args()``: the argument types of ``subprog`` from its prototype
    (cached); 0, or the errno the kernel returns (its messages logged)."""
    info = btf_info(env)
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
    _, ret = skip_modifiers(btf, proto.ret)
    if not is_int(ret) and not is_any_enum(ret):
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
        _, t = skip_modifiers(btf, param.type)
        if isinstance(t, Ptr):
            if _is_prog_ctx_type(env, btf, t):
                if tags:
                    env.verbose(f"arg#{i} has invalid combination of tags\n")
                    return errno.EINVAL
                args.append(SubprogArg(ArgKind.PTR_TO_CTX))
                continue
            _, pointee = skip_modifiers(btf, t.type)
            if pointee.kind in (BtfKind.STRUCT, BtfKind.FWD) and pointee.name == "bpf_dynptr":
                env.reject(f"pybpf does not verify struct bpf_dynptr arguments ({tname}() "
                           f"arg#{i})", errno.EOPNOTSUPP)  # fmt: skip
            if is_global:
                if "nullable" in tags:  # only meaningful with arg:trusted
                    env.verbose(f"arg#{i} has invalid combination of tags\n")
                    return errno.EINVAL
                pid, pointee = skip_modifiers(btf, t.type)
                size = _resolve_size(btf, pid)
                if size is None:
                    env.verbose(f"arg#{i} reference type('{KIND_STR.get(int(pointee.kind))} "
                                f"{pointee.name}') size cannot be determined: -22\n")
                    return errno.EINVAL
                args.append(SubprogArg(ArgKind.PTR_TO_MEM, "nonnull" not in tags, size))
                continue
        if tags:
            env.verbose(f"arg#{i} has pointer tag, but is not a pointer type\n")
            return errno.EINVAL
        if is_int(t) or is_any_enum(t):
            args.append(SubprogArg(ArgKind.ANYTHING))
            continue
        if not is_global:
            return errno.EINVAL
        env.verbose(f"Arg#{i} type {KIND_STR.get(int(t.kind))} in {tname}() is not "
                    "supported yet.\n")  # fmt: skip
        return errno.EINVAL
    aux.args = tuple(args)
    return 0


def prepare_main_args(env: Env) -> None:
    """``do_check_common()`` for the main program with func info: its BTF is reliable only
    when it takes exactly the context."""
    info = btf_info(env)
    if info is None or not info.funcs:
        return
    err = btf_prepare_func_args(env, 0)
    args = info.funcs[0].args
    if err or args is None or len(args) != 1 or args[0].kind != ArgKind.PTR_TO_CTX:
        info.funcs[0].unreliable = True
