"""Fix up an object's BTF before loading: DATASEC sizes, variable offsets and visibility.

Mirrors ``bpf_object_fixup_btf()`` / ``btf_fixup_datasec()`` of libbpf (libbpf.c): clang
leaves every DATASEC's ``size`` and its VARs' ``offset`` at 0, and the kernel refuses such
BTF. From the ELF side (which :mod:`pybpf.elf` owns) this needs only each section's size and,
per global variable, its symbol value and whether its visibility is hidden/internal.

* ``.kconfig``/``.ksyms`` (extern-backing sections) are only sorted;
* a DATASEC of size 0 gets its ELF section's size, and then its non-static, non-extern
  VARs get their symbol's offset;
* a VAR whose symbol is STV_HIDDEN or STV_INTERNAL becomes static;
* the variables of every DATASEC end up sorted by offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from pybpf.btf.btf import Btf
from pybpf.btf.types import BtfType, DataSec, Var, VarLinkage, VarSecinfo
from pybpf.btf.write import from_types
from pybpf.errors import BTFError

KCONFIG_SEC = ".kconfig"
KSYMS_SEC = ".ksyms"


@dataclass(frozen=True, slots=True)
class VarSymbol:
    """What the fixup needs from a variable's ELF symbol: ``st_value`` and visibility."""

    offset: int
    hidden: bool = False  # STV_HIDDEN or STV_INTERNAL


def fixup_datasecs(btf: Btf, section_sizes: Mapping[str, int],
                   symbols: Mapping[str, VarSymbol]) -> Btf:
    """A copy of ``btf`` with its DATASECs fixed up (``btf`` itself when nothing changes)."""
    original: list[BtfType] = list(btf.types[btf.start_id:])
    types = list(original)
    first = btf.start_id
    for pos, t in enumerate(original):
        if isinstance(t, DataSec):
            types[pos] = _fixup_one(btf, t, types, first, section_sizes, symbols)
    if types == original:
        return btf
    return from_types(types, base=btf.base)


def _fixup_one(btf: Btf, t: DataSec, types: list[BtfType], first: int,
               section_sizes: Mapping[str, int], symbols: Mapping[str, VarSymbol]) -> DataSec:
    size = t.size
    secinfos = list(t.vars)
    if t.name not in (KCONFIG_SEC, KSYMS_SEC):
        fix_offsets = False
        if size == 0:
            size = section_sizes.get(t.name, 0)
            if not size:
                raise BTFError(f"sec '{t.name}': failed to determine its size from the ELF "
                               f"section")
            fix_offsets = True
        for k, vsi in enumerate(secinfos):
            var = btf[vsi.type]
            if not isinstance(var, Var):
                raise BTFError(f"sec '{t.name}': variable {k} is type {vsi.type} "
                               f"({btf.describe(vsi.type)}), not a var")
            if var.linkage in (VarLinkage.STATIC, VarLinkage.GLOBAL_EXTERN):
                continue
            sym = symbols.get(var.name)
            if sym is None:
                raise BTFError(f"sec '{t.name}': failed to find ELF symbol for VAR "
                               f"'{var.name}'")
            if fix_offsets:
                secinfos[k] = replace(vsi, offset=sym.offset)
            if sym.hidden and vsi.type >= first:
                types[vsi.type - first] = replace(var, linkage=VarLinkage.STATIC)
    secinfos.sort(key=_offset)
    return replace(t, size=size, vars=tuple(secinfos))


def _offset(v: VarSecinfo) -> int:
    return v.offset
