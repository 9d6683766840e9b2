"""CO-RE type compatibility: when a local type may stand for a target type.

Mirrors libbpf's tools/lib/bpf/relo_core.c: ``bpf_core_essential_name_len()`` (flavors),
``btf_kind_core_compat()``, ``bpf_core_fields_are_compat()`` (field relocations),
``__bpf_core_types_are_compat()`` (TYPE_EXISTS/TYPE_SIZE/TYPE_ID_TARGET) and
``__bpf_core_types_match()`` with ``bpf_core_enums_match()``/``bpf_core_composites_match()``
(TYPE_MATCHES). Results are booleans; libbpf's negative error codes become :class:`BTFError`.
"""

from __future__ import annotations

from pybpf.btf.btf import Btf
from pybpf.btf.types import (
    Array,
    BtfKind,
    BtfType,
    Enum,
    Enum64,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Ptr,
    Struct,
    Union,
)
from pybpf.errors import BTFError

#: libbpf's recursion budget for the compatibility and match walks.
MAX_DEPTH = 32
_ENUMS = (BtfKind.ENUM, BtfKind.ENUM64)
_COMPOSITES = (BtfKind.STRUCT, BtfKind.UNION)


def essential_name_len(name: str) -> int:
    """``bpf_core_essential_name_len()``: length of ``name`` without its ``___flavor``.

    The flavor separator is the last ``X___Y`` where X and Y are not underscores.
    """
    n = len(name)
    for i in range(n - 5, -1, -1):
        if name[i] != "_" and name[i + 1 : i + 4] == "___" and name[i + 4] != "_":
            return i + 1
    return n


def essential_name(name: str) -> str:
    """``name`` without its flavor suffix: ``task_struct___v2`` -> ``task_struct``."""
    return name[: essential_name_len(name)]


def kind_core_compat(a: BtfType, b: BtfType) -> bool:
    """``btf_kind_core_compat()``: same kind, or ENUM vs ENUM64."""
    return a.kind == b.kind or (a.kind in _ENUMS and b.kind in _ENUMS)


def _names_match_flavorless(a: str, b: str) -> bool:
    la, lb = essential_name_len(a), essential_name_len(b)
    return la == lb and a[:la] == b[:lb]


def fields_are_compat(local: Btf, local_id: int, targ: Btf, targ_id: int) -> bool:
    """``bpf_core_fields_are_compat()``: may a local field's type relocate to the target's?"""
    for _ in range(MAX_DEPTH):
        local_id, lt = local.skip_mods_and_typedefs(local_id)
        targ_id, tt = targ.skip_mods_and_typedefs(targ_id)
        if lt.kind in _COMPOSITES and tt.kind in _COMPOSITES:
            return True
        if not kind_core_compat(lt, tt):
            return False
        if lt.kind in (BtfKind.PTR, BtfKind.FLOAT):
            return True
        match lt:
            case Fwd() | Enum() | Enum64():
                ln = essential_name_len(lt.name)
                tn = essential_name_len(tt.name)
                return ln == 0 or tn == 0 or (ln == tn and lt.name[:ln] == tt.name[:tn])
            case Int():
                assert isinstance(tt, Int)
                return lt.offset == 0 and tt.offset == 0
            case Array():
                assert isinstance(tt, Array)
                local_id, targ_id = lt.type, tt.type
                continue
            case _:
                return False
    raise BTFError(f"CO-RE: field types [{local_id}] and [{targ_id}] nest too deeply")


def types_are_compat(local: Btf, local_id: int, targ: Btf, targ_id: int,
                     level: int = MAX_DEPTH) -> bool:
    """``__bpf_core_types_are_compat()``: the caller made sure the names match."""
    if not kind_core_compat(local[local_id], targ[targ_id]):
        return False
    depth = MAX_DEPTH
    while True:
        depth -= 1
        if depth < 0:
            raise BTFError(f"CO-RE: types [{local_id}] and [{targ_id}] nest too deeply")
        local_id, lt = local.skip_mods_and_typedefs(local_id)
        targ_id, tt = targ.skip_mods_and_typedefs(targ_id)
        if not kind_core_compat(lt, tt):
            return False
        match lt:
            case _ if lt.kind in (BtfKind.UNKN, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM,
                                  BtfKind.FWD, BtfKind.ENUM64):
                return True
            case Int():
                assert isinstance(tt, Int)
                return lt.offset == 0 and tt.offset == 0
            case Ptr():
                assert isinstance(tt, Ptr)
                local_id, targ_id = lt.type, tt.type
            case Array():
                assert isinstance(tt, Array)
                local_id, targ_id = lt.type, tt.type
            case FuncProto():
                assert isinstance(tt, FuncProto)
                if len(lt.params) != len(tt.params):
                    return False
                for lp, tp in zip(lt.params, tt.params, strict=True):
                    if level <= 0:
                        raise BTFError("CO-RE: function prototypes nest too deeply")
                    if not types_are_compat(local, local.resolve(lp.type), targ,
                                            targ.resolve(tp.type), level - 1):
                        return False
                local_id, targ_id = lt.ret, tt.ret
            case _:
                return False


def _names_match(local_name: str, targ_name: str) -> bool:
    """``bpf_core_names_match()``: flavor-less equality; an anonymous target needs an
    anonymous local."""
    if not targ_name:
        return not local_name
    return _names_match_flavorless(local_name, targ_name)


def _enums_match(lt: Enum | Enum64, tt: Enum | Enum64) -> bool:
    if lt.size != tt.size or len(lt.values) > len(tt.values):
        return False
    return all(any(_names_match(lv.name, tv.name) for tv in tt.values) for lv in lt.values)


def _composites_match(local: Btf, lt: Struct | Union, targ: Btf, tt: Struct | Union,
                      behind_ptr: bool, level: int) -> bool:
    if len(lt.members) > len(tt.members):
        return False
    for lm in lt.members:
        if not any(
            _names_match(lm.name, tm.name)
            and types_match(local, lm.type, targ, tm.type, behind_ptr, level - 1)
            for tm in tt.members
        ):
            return False
    return True


def types_match(local: Btf, local_id: int, targ: Btf, targ_id: int,
                behind_ptr: bool = False, level: int = MAX_DEPTH) -> bool:
    """``__bpf_core_types_match()``: the stricter TYPE_MATCHES relation (see libbpf)."""
    if level <= 0:
        raise BTFError(f"CO-RE: types [{local_id}] and [{targ_id}] nest too deeply to match")
    depth = MAX_DEPTH
    while True:
        depth -= 1
        if depth < 0:
            raise BTFError(f"CO-RE: types [{local_id}] and [{targ_id}] nest too deeply")
        local_id, lt = local.skip_mods_and_typedefs(local_id)
        targ_id, tt = targ.skip_mods_and_typedefs(targ_id)
        if not _names_match(lt.name, tt.name):
            return False
        lk, tk = lt.kind, tt.kind
        match lt:
            case _ if lk == BtfKind.UNKN:
                return lk == tk
            case Fwd():
                local_union = lt.is_union
                if behind_ptr and lk != tk:
                    return (tk == BtfKind.STRUCT and not local_union) or (
                        tk == BtfKind.UNION and local_union)
                return lk == tk and isinstance(tt, Fwd) and local_union == tt.is_union
            case Enum() | Enum64():
                return isinstance(tt, Enum | Enum64) and _enums_match(lt, tt)
            case Struct() | Union():
                if behind_ptr:
                    if lk == tk:
                        return True
                    return isinstance(tt, Fwd) and (lk == BtfKind.UNION) == tt.is_union
                if lk != tk:
                    return False
                assert isinstance(tt, Struct | Union)
                return _composites_match(local, lt, targ, tt, behind_ptr, level)
            case Int():
                if not isinstance(tt, Int):
                    return False
                ls = lt.encoding & IntEncoding.SIGNED
                ts = tt.encoding & IntEncoding.SIGNED
                return lt.size == tt.size and ls == ts
            case Ptr():
                if not isinstance(tt, Ptr):
                    return False
                behind_ptr = True
                local_id, targ_id = lt.type, tt.type
            case Array():
                if not isinstance(tt, Array) or lt.nelems != tt.nelems:
                    return False
                local_id, targ_id = lt.type, tt.type
            case FuncProto():
                if not isinstance(tt, FuncProto) or len(lt.params) != len(tt.params):
                    return False
                for lp, tp in zip(lt.params, tt.params, strict=True):
                    if not types_match(local, lp.type, targ, tp.type, behind_ptr, level - 1):
                        return False
                local_id, targ_id = lt.ret, tt.ret
            case _:
                return False
