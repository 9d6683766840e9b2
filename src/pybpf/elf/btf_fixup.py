"""The object's BTF as libbpf hands it to the kernel: DATASECs and externs fixed up.

Mirrors ``bpf_object_fixup_btf()`` (through :func:`pybpf.btf.fixup.fixup_datasecs`, fed with
the ELF section sizes and global symbols) and the BTF edits of
``bpf_object__collect_externs()`` of libbpf:

* ``.kconfig``: the DATASEC gets the size of the ``.kconfig`` map and each VAR its offset
  there; the VARs become ``BTF_VAR_GLOBAL_ALLOCATED`` (the kernel refuses extern VARs);
* ``.ksyms``: every entry becomes a 4-byte slot; a VAR becomes a global ``int``, a FUNC
  (kfunc) becomes ``BTF_FUNC_GLOBAL`` and its slot points at an added ``dummy_ksym`` VAR,
  whose name also fills the prototype's unnamed parameters.

Type ids are unchanged (``dummy_ksym`` is appended), so map key/value types, func info and
CO-RE records keep referring to the right types.
"""

from __future__ import annotations

from dataclasses import replace

from pybpf.btf import (
    Btf,
    BtfType,
    DataSec,
    Func,
    FuncLinkage,
    FuncProto,
    Int,
    Param,
    Var,
    VarLinkage,
)
from pybpf.btf.fixup import VarSymbol, fixup_datasecs
from pybpf.btf.write import from_types
from pybpf.elf.externs import Extern, ExternKind
from pybpf.elf.reader import ELFObject, SymbolBind, SymbolType
from pybpf.errors import BTFError, ELFLoadError

__all__ = ["fixup_object_btf"]

KCONFIG_SEC = ".kconfig"
KSYMS_SEC = ".ksyms"
DUMMY_KSYM = "dummy_ksym"


def _global_symbols(obj: ELFObject) -> dict[str, VarSymbol]:
    """``find_elf_var_sym()`` for every name: the first global/weak object symbol."""
    out: dict[str, VarSymbol] = {}
    for sym in obj.symbols:
        if sym.type == SymbolType.OBJECT and sym.bind in (SymbolBind.GLOBAL, SymbolBind.WEAK):
            out.setdefault(sym.name, VarSymbol(sym.value, sym.is_hidden))
    return out


def _int_type(types: list[BtfType]) -> int:
    """``find_int_btf_id()``: the first 32-bit INT."""
    for t in types:
        if isinstance(t, Int) and t.bits == 32:
            return t.id
    return 0


def _externs(btf: Btf, externs: tuple[Extern, ...]) -> Btf:
    types: list[BtfType] = list(btf.types[btf.start_id :])
    first = btf.start_id
    by_name = {e.name: e for e in externs}

    def put(t: BtfType) -> None:
        types[t.id - first] = t

    for pos, t in enumerate(list(types)):
        if not isinstance(t, DataSec) or t.name not in (KCONFIG_SEC, KSYMS_SEC):
            continue
        secinfos = list(t.vars)
        if t.name == KCONFIG_SEC:
            size = 0
            for k, vsi in enumerate(secinfos):
                var = types[vsi.type - first]
                ext = by_name.get(var.name)
                if not isinstance(var, Var) or ext is None or ext.kind != ExternKind.KCFG:
                    raise ELFLoadError(f"failed to find extern definition for BTF var '{var.name}'")
                put(replace(var, linkage=VarLinkage.GLOBAL_ALLOCATED))
                secinfos[k] = replace(vsi, offset=ext.offset, size=ext.size)
                size = max(size, ext.offset + ext.size)
        else:
            int_id = _int_type(types)
            dummy_id = 0
            for k, vsi in enumerate(secinfos):
                entry = types[vsi.type - first]
                if by_name.get(entry.name) is None:
                    raise ELFLoadError(
                        f"failed to find extern definition for BTF "
                        f"{entry.kind.name.lower()} '{entry.name}'"
                    )
                if isinstance(entry, Func):
                    if not dummy_id:
                        dummy_id = first + len(types)
                        types.append(Var(dummy_id, DUMMY_KSYM, int_id, VarLinkage.GLOBAL_ALLOCATED))
                    proto = types[entry.type - first] if entry.type >= first else None
                    if isinstance(proto, FuncProto):
                        params = tuple(
                            Param(DUMMY_KSYM, p.type) if p.type and not p.name else p
                            for p in proto.params
                        )
                        put(replace(proto, params=params))
                    put(replace(entry, linkage=FuncLinkage.GLOBAL))
                    secinfos[k] = replace(vsi, type=dummy_id, offset=4 * k, size=4)
                elif isinstance(entry, Var):
                    put(replace(entry, linkage=VarLinkage.GLOBAL_ALLOCATED, type=int_id))
                    secinfos[k] = replace(vsi, offset=4 * k, size=4)
            size = 4 * len(secinfos)
        types[pos] = replace(t, size=size, vars=tuple(secinfos))
    return from_types(types, base=btf.base)


def fixup_object_btf(obj: ELFObject, btf: Btf, externs: tuple[Extern, ...]) -> Btf:
    """``btf`` fixed up for ``obj`` (``btf`` itself when nothing needs fixing)."""
    sizes = {sec.name: sec.size for sec in obj.sections if sec.index}
    try:
        fixed = _externs(btf, externs) if externs else btf  # collect_externs() comes first
        fixed = fixup_datasecs(fixed, sizes, _global_symbols(obj))
    except BTFError as e:
        raise ELFLoadError(f"section '.BTF': {e}") from e
    return fixed
