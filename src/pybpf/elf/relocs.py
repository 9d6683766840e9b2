"""Relocations of executable sections, classified as libbpf classifies them.

Mirrors ``bpf_object__collect_prog_relos()`` and ``bpf_program__record_reloc()`` of libbpf:
a relocation applies to a ``call`` or an ``lddw`` of a function and is one of

* ``CALL`` — a bpf-to-bpf call into ``.text`` (``R_BPF_64_32``, ``src`` BPF_PSEUDO_CALL);
* ``SUBPROG_ADDR`` — an ``lddw`` of a ``.text`` function's address (callbacks: ``bpf_loop``);
* ``MAP`` — an ``lddw`` of a map defined in ``.maps`` or the legacy ``maps`` section;
* ``DATA`` — an ``lddw`` of the address of a global in a ``.data``/``.rodata``/``.bss`` map;
* ``EXTERN_LD64``/``EXTERN_CALL`` — an ``lddw`` of, or a call to, an extern
  (``.kconfig`` value, ``.ksyms`` variable or kfunc).

Every error names the section, the relocation's number and offset, and its symbol. A relocation
in no function is skipped ("probably overridden weak function", as libbpf says).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from pybpf.elf.externs import Extern
from pybpf.elf.functions import Function, FunctionTable
from pybpf.elf.reader import (
    SHN_LORESERVE,
    ELFObject,
    Relocation,
    Section,
    SectionType,
    Symbol,
    SymbolBind,
    SymbolType,
)
from pybpf.errors import ELFLoadError
from pybpf.isa import INSN_SIZE, OP_CALL, OP_LDDW, CallSrc

__all__ = ["Reloc", "RelocKind", "RelocTargets", "collect_relocations"]


class RelocKind(Enum):
    """``enum reloc_type`` of libbpf (without RELO_CORE, kept with the BTF.ext records)."""

    MAP = "ld64"
    CALL = "call"
    DATA = "data"
    EXTERN_LD64 = "extern_ld64"
    EXTERN_CALL = "extern_call"
    SUBPROG_ADDR = "subprog_addr"


@dataclass(frozen=True, slots=True)
class Reloc:
    """``struct reloc_desc``: relocation ``index`` at section byte ``offset``, applying to the
    instruction at function-relative ``slot``, against symbol ``symbol``."""

    kind: RelocKind
    slot: int
    index: int
    offset: int
    symbol: str
    #: CALL/SUBPROG_ADDR/DATA: the symbol's value (byte offset in its section)
    sym_off: int = 0
    #: MAP/DATA: the map's name
    map_name: str = ""
    extern: Extern | None = None


@dataclass(slots=True)
class RelocTargets:
    """What a relocation can point at: ``.text``, maps by (section, offset), data sections."""

    text_index: int | None
    map_at: dict[tuple[int, int], str] = field(default_factory=dict)
    map_sections: set[int] = field(default_factory=set)
    data_maps: dict[int, str] = field(default_factory=dict)
    externs: dict[int, Extern] = field(default_factory=dict)


def _is_subprog_symbol(sym: Symbol, text_index: int | None) -> bool:
    """``sym_is_subprog()``: a ``.text`` section symbol or global function."""
    if text_index is None or sym.shndx != text_index:
        return False
    if sym.bind == SymbolBind.LOCAL and sym.type == SymbolType.SECTION:
        return True
    return sym.bind == SymbolBind.GLOBAL and sym.type == SymbolType.FUNC


def _record(
    obj: ELFObject, sec: Section, rel: Relocation, func: Function, slot: int, targets: RelocTargets
) -> Reloc:
    """``bpf_program__record_reloc()``."""
    sym = obj.symbol(rel.symbol)
    name = obj.symbol_name(sym)
    where = f"section '{sec.name}': relocation {rel.index} at offset {rel.offset:#x}"
    idx = func.index_of(slot)
    insn = func.insns[idx] if idx is not None else None
    if insn is None or insn.code not in (OP_CALL, OP_LDDW):
        code = insn.code if insn is not None else 0
        raise ELFLoadError(
            f"{where}: symbol '{name}': relocation of instruction "
            f"{func.name}+{slot} (code {code:#04x}), which is neither a call "
            f"nor an lddw"
        )
    base = (rel.index, rel.offset, name)
    if sym.is_extern:
        ext = targets.externs.get(sym.index)
        if ext is None:
            raise ELFLoadError(f"{where}: symbol '{name}': no extern for this symbol")
        kind = RelocKind.EXTERN_CALL if insn.code == OP_CALL else RelocKind.EXTERN_LD64
        return Reloc(kind, slot, *base, extern=ext)
    if insn.code == OP_CALL:
        if insn.src != CallSrc.PSEUDO_CALL:
            raise ELFLoadError(
                f"{where}: symbol '{name}': incorrect bpf_call opcode "
                f"(src {insn.src}, expected {CallSrc.PSEUDO_CALL})"
            )
        if targets.text_index is None or sym.shndx != targets.text_index:
            raise ELFLoadError(
                f"{where}: symbol '{name}': bad call relocation against a symbol outside .text"
            )
        if sym.value % INSN_SIZE:
            raise ELFLoadError(
                f"{where}: symbol '{name}': bad call relocation against offset {sym.value}"
            )
        return Reloc(RelocKind.CALL, slot, *base, sym_off=sym.value)
    if sym.shndx == 0 or sym.shndx >= SHN_LORESERVE:
        raise ELFLoadError(
            f"{where}: symbol '{name}': relocation against special section "
            f"{sym.shndx:#x}; forgot to initialize global var?"
        )
    if _is_subprog_symbol(sym, targets.text_index):
        if sym.value % INSN_SIZE or insn.imm % INSN_SIZE:
            raise ELFLoadError(
                f"{where}: symbol '{name}': bad subprog address relocation "
                f"at offset {sym.value}+{insn.imm}"
            )
        return Reloc(RelocKind.SUBPROG_ADDR, slot, *base, sym_off=sym.value)
    target_sec = obj.section(sym.shndx, what=f"{where}: symbol '{name}'")
    if sym.shndx in targets.map_sections:
        map_name = targets.map_at.get((sym.shndx, sym.value))
        if map_name is None:
            raise ELFLoadError(
                f"{where}: symbol '{name}': no map at offset {sym.value} of "
                f"section '{target_sec.name}'"
            )
        return Reloc(RelocKind.MAP, slot, *base, map_name=map_name)
    map_name = targets.data_maps.get(sym.shndx)
    if map_name is None:
        raise ELFLoadError(
            f"{where}: symbol '{name}' is not a map or a global variable "
            f"(it is in section '{target_sec.name}')"
        )
    if sym.value > target_sec.size:
        raise ELFLoadError(
            f"{where}: symbol '{name}' at offset {sym.value:#x} is outside "
            f"section '{target_sec.name}' ({target_sec.size:#x} bytes)"
        )
    return Reloc(RelocKind.DATA, slot, *base, sym_off=sym.value, map_name=map_name)


def collect_relocations(
    obj: ELFObject,
    functions: FunctionTable,
    targets: RelocTargets,
) -> dict[tuple[int, int], dict[int, Reloc]]:
    """Relocations of every function, keyed by (section index, function offset), then slot."""
    out: dict[tuple[int, int], dict[int, Reloc]] = {}
    for rel_sec in obj.sections:
        if rel_sec.type != SectionType.REL:
            continue
        sec = obj.section(rel_sec.info, what=f"relocation section '{rel_sec.name}'")
        if not sec.executable:
            continue  # .rel.maps is read with the maps; .rel.BTF*, .rel.debug_*, data: unused
        size = sec.size
        for rel in obj.relocations(rel_sec):
            where = f"section '{sec.name}': relocation {rel.index} at offset {rel.offset:#x}"
            sym = obj.symbol(rel.symbol) if rel.symbol < len(obj.symbols) else None
            if sym is None:
                raise ELFLoadError(f"{where}: symbol #{rel.symbol} not found")
            if len(obj.sections) <= sym.shndx < SHN_LORESERVE:
                raise ELFLoadError(
                    f"{where}: corrupted symbol #{sym.index} pointing to invalid "
                    f"section #{sym.shndx}"
                )
            if rel.offset % INSN_SIZE or rel.offset >= size:
                raise ELFLoadError(f"{where}: invalid offset (section is {size:#x} bytes)")
            func = functions.find(sec.index, rel.offset // INSN_SIZE)
            if func is None:
                continue
            slot = rel.offset // INSN_SIZE - func.insn_offset
            relocs = out.setdefault((func.section_index, func.offset), {})
            if slot in relocs:
                raise ELFLoadError(f"{where}: second relocation for instruction {func.name}+{slot}")
            relocs[slot] = _record(obj, sec, rel, func, slot, targets)
    return out
