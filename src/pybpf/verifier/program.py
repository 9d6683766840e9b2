"""The program as the verifier sees it: raw 8-byte slots indexed by pc.

The kernel verifies an array of ``struct bpf_insn`` in which ``lddw`` occupies two entries
and every check (jump targets, "last insn", the opcode table) looks at raw entries. This view
keeps the raw slots, so malformed programs (a truncated ``lddw``, a jump to its second half)
are reported the kernel's way, and offers each slot as a decoded
:class:`~pybpf.isa.Instruction` (an ``lddw`` with the next slot's ``imm``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from pybpf.isa import OP_LDDW, Instruction

__all__ = ["Program", "RawSlot"]

_SLOT = struct.Struct("<BBhi")


class RawSlot(NamedTuple):
    """One ``struct bpf_insn``."""

    code: int
    dst: int
    src: int
    off: int
    imm: int


@dataclass(frozen=True)
class Program:
    """Raw slots plus the decoded instruction starting at each slot."""

    slots: tuple[RawSlot, ...]
    insns: tuple[Instruction, ...]

    @classmethod
    def from_bytes(cls, data: bytes) -> Program:
        if len(data) % 8:
            raise ValueError(f"program length {len(data)} is not a multiple of 8")
        slots = []
        for pos in range(0, len(data), 8):
            code, regs, off, imm = _SLOT.unpack_from(data, pos)
            slots.append(RawSlot(code, regs & 0xF, regs >> 4, off, imm))
        insns = []
        for pc, s in enumerate(slots):
            next_imm = slots[pc + 1].imm if s.code == OP_LDDW and pc + 1 < len(slots) else 0
            insns.append(Instruction(s.code, s.dst, s.src, s.off, s.imm, next_imm))
        return cls(tuple(slots), tuple(insns))

    @cached_property
    def backtrack_dst_only(self) -> tuple[int, ...]:
        """Per slot: the destination register of an instruction whose only effect on
        precision backtracking is through that register (ALU/ALU64, plain LDX, LD), or -1.
        """
        out = []
        for s in self.slots:
            cls, mode = s.code & 0x07, s.code & 0xE0
            if s.code and (cls in (0x04, 0x07) or (cls == 0x01 and mode in (0x60, 0x80))
                           or cls == 0x00):
                out.append(s.dst)
            else:
                out.append(-1)
        return tuple(out)

    def __len__(self) -> int:
        return len(self.slots)

    def is_ldimm64(self, pc: int) -> bool:
        return self.slots[pc].code == OP_LDDW
