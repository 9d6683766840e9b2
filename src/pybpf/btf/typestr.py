"""C spelling of BTF types: ``struct iphdr``, ``unsigned int``, ``char[16]``, ``int (*)(void *)``.

Builds C declarators inside-out, the way ``btf_dump_emit_type_decl()`` of libbpf's btf_dump.c
does: pointers prepend ``*``, arrays and function prototypes append ``[n]`` / ``(params)``, and
a pointer to an array or function gets parentheses. Anonymous structs, unions and enums are
spelled ``struct <anon>`` rather than with their whole body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf.btf.types import (
    Array,
    Const,
    DataSec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    Void,
    Volatile,
)
from pybpf.errors import BTFError

if TYPE_CHECKING:
    from pybpf.btf.btf import Btf

_MAX_DEPTH = 64


def _join(base: str, declarator: str) -> str:
    if not declarator:
        return base
    if declarator.startswith("["):
        return base + declarator
    return f"{base} {declarator}"


def _params(btf: Btf, proto: FuncProto, depth: int) -> str:
    if not proto.params:
        return "void"
    out = []
    for p in proto.params:
        if p.type == 0 and not p.name:
            out.append("...")
        else:
            out.append(_decl(btf, p.type, "", depth + 1))
    return ", ".join(out)


def _decl(btf: Btf, type_id: int, declarator: str, depth: int) -> str:
    if depth > _MAX_DEPTH:
        raise BTFError(f"BTF type {type_id}: type nesting is too deep (a loop?)")
    t = btf[type_id]
    match t:
        case Void():
            return _join("void", declarator)
        case Int() | Float() | Typedef():
            return _join(t.name or "<anon>", declarator)
        case Struct():
            return _join(f"struct {t.name or '<anon>'}", declarator)
        case Union():
            return _join(f"union {t.name or '<anon>'}", declarator)
        case Enum() | Enum64():
            return _join(f"enum {t.name or '<anon>'}", declarator)
        case Fwd():
            return _join(f"{'union' if t.is_union else 'struct'} {t.name}", declarator)
        case Ptr():
            target = btf[t.type]
            inner = "*" + declarator
            if isinstance(target, Array | FuncProto):
                inner = f"({inner})"
            return _decl(btf, t.type, inner, depth + 1)
        case Array():
            return _decl(btf, t.type, f"{declarator}[{t.nelems}]", depth + 1)
        case Const() | Volatile() | Restrict() | TypeTag():
            qual = _qualifier(t)
            if isinstance(btf[t.type], Ptr):
                # "char *const p": a qualified pointer carries the qualifier after its '*'
                inner = f"{qual} {declarator}" if declarator else qual
                return _decl(btf, t.type, inner, depth + 1)
            return f"{qual} {_decl(btf, t.type, declarator, depth + 1)}"
        case FuncProto():
            return _decl(btf, t.ret, f"{declarator}({_params(btf, t, depth)})", depth + 1)
        case Func():
            proto = btf[t.type]
            if not isinstance(proto, FuncProto):
                raise BTFError(f"BTF type {t.id} (func {t.name}): type {t.type} is not a "
                               f"func_proto")
            return _decl(btf, proto.ret, f"{t.name}({_params(btf, proto, depth)})", depth + 1)
        case Var():
            return _decl(btf, t.type, t.name, depth + 1)
        case DataSec():
            return f'SEC("{t.name}")'
        case DeclTag():
            return _decl(btf, t.type, declarator, depth + 1)
    raise AssertionError(f"unhandled BTF type {t!r}")  # pragma: no cover


def _qualifier(t: Const | Volatile | Restrict | TypeTag) -> str:
    match t:
        case Const():
            return "const"
        case Volatile():
            return "volatile"
        case Restrict():
            return "restrict"
        case TypeTag():
            return f'__attribute__((btf_type_tag("{t.name}")))'


def type_str(btf: Btf, type_id: int) -> str:
    """The C spelling of ``type_id``; a FUNC or VAR is spelled as its declaration."""
    return _decl(btf, type_id, "", 0)
