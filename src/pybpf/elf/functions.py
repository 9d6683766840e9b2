"""Functions of executable sections: one per ``STT_FUNC`` symbol, decoded into instructions.

Mirrors ``bpf_object__add_programs()`` and ``bpf_object__init_prog()`` of libbpf: every
function symbol of an executable ``SHT_PROGBITS`` section is a piece of code of ``st_size``
bytes at ``st_value``. Functions of ``.text`` are sub-programs (static or global) that programs
call; functions of any other executable section are entry points (programs) and must be global
("program 'x' is static and not supported"). Functions are kept sorted by (section, offset),
as ``cmp_progs()`` sorts them, so an instruction is found by binary search
(``find_prog_by_sec_insn()``).

Instructions are decoded without the validity check (``decode(strict=False)``): an invalid
opcode is the verifier's to report, with the kernel's words.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from pybpf.elf.reader import ELFObject, Section, SectionType, SymbolBind, SymbolType
from pybpf.errors import DecodeError, ELFLoadError
from pybpf.isa import INSN_SIZE, Instruction, decode, pcs

__all__ = ["TEXT", "Function", "FunctionTable"]

TEXT = ".text"


@dataclass(frozen=True, slots=True)
class Function:
    """A function: ``insns`` from byte ``offset`` of section ``section`` (``sec_insn_off * 8``)."""

    name: str
    section: str
    section_index: int
    offset: int
    insns: tuple[Instruction, ...]
    #: slot of each instruction, relative to the function start
    slots: tuple[int, ...]
    is_global: bool
    hidden: bool

    @property
    def insn_offset(self) -> int:
        """``sec_insn_off``: the first slot within the section."""
        return self.offset // INSN_SIZE

    @property
    def slot_count(self) -> int:
        """``sec_insn_cnt``."""
        return self.slots[-1] + self.insns[-1].slots if self.insns else 0

    @property
    def is_subprog(self) -> bool:
        """``prog_is_subprog()``: a function of ``.text``."""
        return self.section == TEXT

    def contains(self, section_index: int, slot: int) -> bool:
        """``prog_contains_insn()`` for a slot of the section."""
        return (
            section_index == self.section_index
            and self.insn_offset <= slot < self.insn_offset + self.slot_count
        )

    def index_of(self, slot: int) -> int | None:
        """Index in :attr:`insns` of the instruction at function-relative ``slot`` (or None)."""
        i = bisect.bisect_left(self.slots, slot)
        return i if i < len(self.slots) and self.slots[i] == slot else None


class FunctionTable:
    """Every function of the object, sorted by (section index, offset)."""

    def __init__(self, functions: list[Function]) -> None:
        self.functions = tuple(sorted(functions, key=lambda f: (f.section_index, f.offset)))
        self._keys = [(f.section_index, f.insn_offset) for f in self.functions]

    @classmethod
    def from_object(cls, obj: ELFObject) -> FunctionTable:
        functions: list[Function] = []
        for sec in obj.sections:
            if sec.type != SectionType.PROGBITS or not sec.executable or sec.size == 0:
                continue
            functions.extend(_section_functions(obj, sec))
        return cls(functions)

    def find(self, section_index: int, slot: int) -> Function | None:
        """The function containing section slot ``slot`` (``find_prog_by_sec_insn()``)."""
        i = bisect.bisect_right(self._keys, (section_index, slot)) - 1
        if i < 0:
            return None
        func = self.functions[i]
        return func if func.contains(section_index, slot) else None

    def in_section(self, section_index: int) -> list[Function]:
        return [f for f in self.functions if f.section_index == section_index]


def _section_functions(obj: ELFObject, sec: Section) -> list[Function]:
    data = obj.data(sec)
    out: list[Function] = []
    for sym in obj.symbols:
        if sym.shndx != sec.index or sym.type != SymbolType.FUNC:
            continue
        where = f"section '{sec.name}': program '{sym.name}'"
        if not sym.name:
            raise ELFLoadError(f"section '{sec.name}': function at offset {sym.value} has no name")
        if sym.size == 0 or sym.size % INSN_SIZE or sym.value % INSN_SIZE:
            raise ELFLoadError(
                f"{where}: corrupted program, offset {sym.value}, size {sym.size} "
                f"(not a non-empty multiple of {INSN_SIZE} bytes)"
            )
        if sym.value + sym.size > len(data):
            raise ELFLoadError(f"{where}: program at offset {sym.value} crosses section boundary")
        if sec.name != TEXT and sym.bind == SymbolBind.LOCAL:
            raise ELFLoadError(f"{where}: program is static and not supported")
        try:
            insns = decode(data[sym.value : sym.value + sym.size], strict=False)
        except DecodeError as e:
            raise ELFLoadError(f"{where}: {e}") from e
        out.append(
            Function(
                sym.name,
                sec.name,
                sec.index,
                sym.value,
                insns,
                tuple(pcs(insns)),
                sym.bind != SymbolBind.LOCAL,
                sym.is_hidden,
            )
        )
    out.sort(key=lambda f: f.offset)
    for prev, nxt in itertools.pairwise(out):
        if prev.offset + prev.slot_count * INSN_SIZE > nxt.offset:
            raise ELFLoadError(
                f"section '{sec.name}': programs '{prev.name}' and '{nxt.name}' overlap"
            )
    return out
