"""Linking one program: append the ``.text`` functions it uses, fix calls, resolve references.

Mirrors ``bpf_object__relocate_calls()``, ``bpf_object__reloc_code()``,
``bpf_object__append_subprog_code()``, ``bpf_object__relocate_data()`` and
``reloc_prog_func_and_line_info()``/``adjust_prog_btf_ext_info()`` of libbpf:

* the program's instructions come first; the first time a call (``src`` BPF_PSEUDO_CALL) or a
  callback address (``lddw`` with ``src`` BPF_PSEUDO_FUNC) reaches a ``.text`` function, that
  function is appended at the end and linked at once (depth first), so the order of appended
  functions is libbpf's; the ``imm`` of every call and callback ``lddw`` is then
  ``callee start - (instruction pc) - 1``;
* map references become ``lddw src=1 imm=0`` (BPF_PSEUDO_MAP_FD) and globals
  ``lddw src=2 imm=0 next_imm=offset`` (BPF_PSEUDO_MAP_VALUE, the offset being the symbol's
  plus the addend clang left in ``imm``), each recorded as a :class:`MapReference`;
* ``.kconfig`` externs are values of the ``.kconfig`` map; kfunc calls get ``src`` 2
  (BPF_PSEUDO_KFUNC_CALL) and typed ``__ksym`` variables ``src`` 3 (BPF_PSEUDO_BTF_ID), with
  ``imm`` 0 for a backend to fill in (recorded as the program's ``extern_references``);
* func info, line info and CO-RE relocation records of every placed function are re-based to
  the linked program's pcs (CO-RE records keep their byte ``insn_off``, now ``pc * 8``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pybpf.btf import Btf, BtfExt
from pybpf.elf.externs import ExternKind
from pybpf.elf.functions import Function, FunctionTable
from pybpf.elf.relocs import Reloc, RelocKind
from pybpf.errors import BTFError, ELFLoadError
from pybpf.isa import INSN_SIZE, OP_CALL, OP_LDDW, CallSrc, Instruction, PseudoSrc
from pybpf.program.spec import ExternReference, FuncInfo, LineInfo, MapReference

__all__ = ["LinkedProgram", "link_program"]

Key = tuple[int, int]  # (section index, function offset)


@dataclass(slots=True)
class LinkedProgram:
    """The result of linking: instructions and everything that refers to their pcs."""

    instructions: list[Instruction] = field(default_factory=list)
    map_references: list[MapReference] = field(default_factory=list)
    func_info: list[FuncInfo] = field(default_factory=list)
    line_info: list[LineInfo] = field(default_factory=list)
    core_relocations: list[object] = field(default_factory=list)
    externs: list[ExternReference] = field(default_factory=list)
    #: the functions placed, in order, with their first pc
    layout: list[tuple[str, int]] = field(default_factory=list)


def _key(func: Function) -> Key:
    return (func.section_index, func.offset)


class _Linker:
    def __init__(
        self,
        functions: FunctionTable,
        relocs: dict[Key, dict[int, Reloc]],
        text_index: int | None,
        kconfig_map: str,
    ) -> None:
        self.functions = functions
        self.relocs = relocs
        self.text_index = text_index
        self.kconfig_map = kconfig_map
        self.placed: dict[Key, int] = {}
        self.order: list[Function] = []
        self.total = 0
        self.patched: dict[tuple[Key, int], Instruction] = {}

    def place(self, func: Function) -> int:
        base = self.total
        self.placed[_key(func)] = base
        self.order.append(func)
        self.total += func.slot_count
        return base

    def reloc_code(self, main: Function, func: Function, base: int) -> None:
        """``bpf_object__reloc_code()`` for ``func`` placed at ``base``."""
        relocs = self.relocs.get(_key(func), {})
        for insn, slot in zip(func.insns, func.slots):
            relo = relocs.get(slot)
            is_call = (
                insn.code == OP_CALL
                and insn.src == CallSrc.PSEUDO_CALL
                and insn.dst == 0
                and insn.off == 0
            )
            is_func_addr = insn.code == OP_LDDW and (
                insn.src == PseudoSrc.FUNC
                or (relo is not None and relo.kind == RelocKind.SUBPROG_ADDR)
            )
            if not is_call and not is_func_addr:
                continue
            if relo is not None and relo.kind == RelocKind.EXTERN_CALL:
                continue
            where = f"program '{main.name}': {func.name}+{slot}"
            if relo is not None and relo.kind not in (RelocKind.CALL, RelocKind.SUBPROG_ADDR):
                raise ELFLoadError(
                    f"{where}: unexpected {relo.kind.value} relocation {relo.index} on a call"
                )
            if relo is not None and relo.kind == RelocKind.CALL:
                target = relo.sym_off // INSN_SIZE + insn.imm + 1
            elif relo is not None:
                target, rem = divmod(relo.sym_off + insn.imm, INSN_SIZE)
                if rem:
                    raise ELFLoadError(f"{where}: callback address is not instruction-aligned")
            elif is_func_addr:
                raise ELFLoadError(f"{where}: missing subprog address relocation")
            else:
                if not func.is_subprog:
                    raise ELFLoadError(
                        f"{where}: call without relocation from outside .text (imm {insn.imm})"
                    )
                target = func.insn_offset + slot + insn.imm + 1
            if self.text_index is None:
                raise ELFLoadError(f"{where}: no .text section found yet sub-program call exists")
            callee = self.functions.find(self.text_index, target)
            if callee is None or callee.insn_offset != target:
                raise ELFLoadError(
                    f"{where}: call target .text+{target * INSN_SIZE:#x} is not "
                    f"the start of a .text function"
                )
            callee_base = self.placed.get(_key(callee))
            if callee_base is None:
                callee_base = self.place(callee)
                self.reloc_code(main, callee, callee_base)
            imm = callee_base - (base + slot) - 1
            new = (
                replace(insn, imm=imm, src=int(PseudoSrc.FUNC))
                if is_func_addr
                else replace(insn, imm=imm)
            )
            self.patched[(_key(func), slot)] = new


def _apply_data(
    relo: Reloc, insn: Instruction, pc: int, out: LinkedProgram, kconfig_map: str
) -> Instruction:
    """``bpf_object__relocate_data()`` for one relocation at linked ``pc``."""
    match relo.kind:
        case RelocKind.MAP:
            out.map_references.append(MapReference(pc, relo.map_name))
            return replace(insn, src=int(PseudoSrc.MAP_FD), imm=0, next_imm=0)
        case RelocKind.DATA:
            offset = insn.imm + relo.sym_off
            if not -(1 << 31) <= offset < (1 << 31):
                raise ELFLoadError(
                    f"relocation {relo.index} against '{relo.symbol}': offset "
                    f"{offset} does not fit in 32 bits"
                )
            out.map_references.append(MapReference(pc, relo.map_name, True, offset))
            return replace(insn, src=int(PseudoSrc.MAP_VALUE), imm=0, next_imm=offset)
        case RelocKind.EXTERN_LD64:
            ext = relo.extern
            assert ext is not None
            if ext.kind == ExternKind.KCFG:
                out.map_references.append(MapReference(pc, kconfig_map, True, ext.offset))
                return replace(insn, src=int(PseudoSrc.MAP_VALUE), imm=0, next_imm=ext.offset)
            out.externs.append(ExternReference(pc, ext.name, "ksym"))
            src = int(PseudoSrc.BTF_ID if ext.type_id else PseudoSrc.IMM64)
            return replace(insn, src=src, imm=0, next_imm=0)
        case RelocKind.EXTERN_CALL:
            ext = relo.extern
            assert ext is not None
            out.externs.append(ExternReference(pc, ext.name, "kfunc"))
            return replace(insn, src=int(CallSrc.KFUNC_CALL), imm=0, off=0)
        case RelocKind.SUBPROG_ADDR | RelocKind.CALL:
            return insn


def _ext_records(btf: Btf, ext: BtfExt, func: Function, base: int, out: LinkedProgram) -> None:
    """``adjust_prog_btf_ext_info()``: records of ``func``'s range, re-based to ``base``."""
    lo, hi = func.insn_offset, func.insn_offset + func.slot_count

    def rebase(insn_off: int) -> int | None:
        if insn_off % INSN_SIZE:
            raise ELFLoadError(
                f"section '{func.section}': .BTF.ext record at byte {insn_off} "
                f"is not instruction-aligned"
            )
        slot = insn_off // INSN_SIZE
        return slot - lo + base if lo <= slot < hi else None

    for rec in ext.func_info.get(func.section, ()):
        pc = rebase(rec.insn_off)
        if pc is not None:
            out.func_info.append(FuncInfo(pc, rec.type_id, btf.name_of(rec.type_id)))
    for line in ext.line_info.get(func.section, ()):
        pc = rebase(line.insn_off)
        if pc is not None:
            out.line_info.append(
                LineInfo(pc, line.file_name, line.line, line.column, line.line_text)
            )
    for core in ext.core_relos.get(func.section, ()):
        pc = rebase(core.insn_off)
        if pc is not None:
            out.core_relocations.append(replace(core, insn_off=pc * INSN_SIZE))


def link_program(
    main: Function,
    functions: FunctionTable,
    relocs: dict[Key, dict[int, Reloc]],
    *,
    text_index: int | None,
    kconfig_map: str = "",
    btf: Btf | None = None,
    ext: BtfExt | None = None,
) -> LinkedProgram:
    """Link entry point ``main`` with the ``.text`` functions it reaches."""
    linker = _Linker(functions, relocs, text_index, kconfig_map)
    linker.reloc_code(main, main, linker.place(main))
    out = LinkedProgram()
    for func in linker.order:
        base = linker.placed[_key(func)]
        out.layout.append((func.name, base))
        func_relocs = relocs.get(_key(func), {})
        for insn, slot in zip(func.insns, func.slots):
            insn = linker.patched.get((_key(func), slot), insn)
            relo = func_relocs.get(slot)
            if relo is not None:
                insn = _apply_data(relo, insn, base + slot, out, kconfig_map)
            out.instructions.append(insn)
        if btf is not None and ext is not None:
            try:
                _ext_records(btf, ext, func, base, out)
            except BTFError as e:
                raise ELFLoadError(f"program '{main.name}': .BTF.ext: {e}") from e
    return out
