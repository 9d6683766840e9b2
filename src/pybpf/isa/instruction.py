"""The eBPF instruction as a small immutable value, and its exact byte encoding.

An :class:`Instruction` is one *logical* instruction: the wide ``lddw`` (BPF_LD | BPF_IMM |
BPF_DW) is a single value that occupies two 8-byte slots, with the second slot's ``imm`` kept
in :attr:`Instruction.next_imm`. Program counters always count slots, as the kernel does, so
a jump offset or a verifier-log pc means the same thing here as there.

Encoding is little-endian (the x86_64/arm64 host order of the kernel pybpf is checked against):
``struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pybpf.errors import DecodeError
from pybpf.isa.opcodes import OP_LDDW, InsnClass

INSN_SIZE = 8
_SLOT = struct.Struct("<BBhi")


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _s16(value: int) -> int:
    value &= 0xFFFF
    return value - (1 << 16) if value & 0x8000 else value


_CLASSES: tuple[InsnClass, ...] = tuple(InsnClass(c) for c in range(8))
"""``InsnClass`` by value, without the enum lookup (hot in the verifier and interpreter)."""


@dataclass(frozen=True, slots=True)
class Instruction:
    """One eBPF instruction: ``code``, ``dst``, ``src`` registers, ``off`` (s16), ``imm`` (s32).

    ``next_imm`` is the ``imm`` of the second slot of a wide ``lddw`` instruction (0 otherwise).
    Field values are normalised: ``off`` and ``imm`` are signed, registers are 0..15.
    """

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    next_imm: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 0xFF:
            raise ValueError(f"opcode {self.code:#x} does not fit in 8 bits")
        if not 0 <= self.dst <= 15 or not 0 <= self.src <= 15:
            raise ValueError(f"register out of range: dst={self.dst} src={self.src}")
        if not -(1 << 15) <= self.off < (1 << 15):
            raise ValueError(f"offset {self.off} does not fit in 16 signed bits")
        if not -(1 << 31) <= self.imm < (1 << 31):
            raise ValueError(f"immediate {self.imm} does not fit in 32 signed bits")
        if not -(1 << 31) <= self.next_imm < (1 << 31):
            raise ValueError(f"immediate {self.next_imm} does not fit in 32 signed bits")

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def wide(cls, dst: int, value: int, src: int = 0) -> Instruction:
        """A ``lddw dst, value`` with the 64-bit ``value`` split over the two slots."""
        value &= 0xFFFFFFFFFFFFFFFF
        return cls(OP_LDDW, dst, src, 0, _s32(value), _s32(value >> 32))

    # -- fields --------------------------------------------------------------------------------
    @property
    def cls(self) -> InsnClass:
        """BPF_CLASS(code)."""
        return _CLASSES[self.code & 0x07]

    @property
    def op(self) -> int:
        """BPF_OP(code) for ALU/JMP classes."""
        return self.code & 0xF0

    @property
    def source(self) -> int:
        """BPF_SRC(code): 0 (K, immediate) or 8 (X, register)."""
        return self.code & 0x08

    @property
    def size(self) -> int:
        """BPF_SIZE(code) for load/store classes."""
        return self.code & 0x18

    @property
    def mode(self) -> int:
        """BPF_MODE(code) for load/store classes."""
        return self.code & 0xE0

    @property
    def is_wide(self) -> bool:
        """True for the 16-byte ``lddw``."""
        return self.code == OP_LDDW

    @property
    def slots(self) -> int:
        """Number of 8-byte slots the instruction occupies (2 for ``lddw``)."""
        return 2 if self.code == OP_LDDW else 1

    @property
    def imm64(self) -> int:
        """The unsigned 64-bit immediate of ``lddw`` (``imm`` alone, sign-extended, otherwise)."""
        if self.code == OP_LDDW:
            return ((self.next_imm & 0xFFFFFFFF) << 32) | (self.imm & 0xFFFFFFFF)
        return self.imm & 0xFFFFFFFFFFFFFFFF

    @property
    def uimm(self) -> int:
        """``imm`` as an unsigned 32-bit value."""
        return self.imm & 0xFFFFFFFF

    # -- bytes ---------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Exact encoding: 8 bytes, or 16 for ``lddw``."""
        first = _SLOT.pack(self.code, (self.src << 4) | self.dst, self.off, self.imm)
        if self.code == OP_LDDW:
            return first + _SLOT.pack(0, 0, 0, self.next_imm)
        return first

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> Instruction:
        """Decode the instruction at byte ``offset`` (reads 16 bytes for ``lddw``).

        Only the structure is checked here (enough bytes, a well-formed second ``lddw`` slot);
        :func:`pybpf.isa.validity.check` tells whether the opcode and fields are valid.
        """
        if offset < 0 or offset + INSN_SIZE > len(data):
            raise DecodeError(
                f"byte offset {offset}: truncated instruction "
                f"({max(0, len(data) - offset)} of {INSN_SIZE} bytes)"
            )
        code, regs, off, imm = _SLOT.unpack_from(data, offset)
        next_imm = 0
        if code == OP_LDDW:
            if offset + 2 * INSN_SIZE > len(data):
                raise DecodeError(
                    f"byte offset {offset}: lddw is missing its second 8-byte slot",
                    pc=offset // INSN_SIZE,
                )
            code2, regs2, off2, next_imm = _SLOT.unpack_from(data, offset + INSN_SIZE)
            if code2 or regs2 or off2:
                raise DecodeError(
                    f"byte offset {offset + INSN_SIZE}: second slot of lddw must have zero "
                    f"opcode, registers and offset (got code={code2:#04x} regs={regs2:#04x} "
                    f"off={off2})",
                    pc=offset // INSN_SIZE + 1,
                )
        return cls(code, regs & 0x0F, regs >> 4, off, imm, next_imm)


def iter_decode(data: bytes | bytearray | memoryview) -> Iterator[tuple[int, Instruction]]:
    """Yield ``(pc, instruction)`` for every instruction of ``data`` (pc counts 8-byte slots)."""
    if len(data) % INSN_SIZE:
        raise DecodeError(
            f"byte offset {len(data) - len(data) % INSN_SIZE}: program length {len(data)} "
            f"is not a multiple of {INSN_SIZE}"
        )
    offset = 0
    while offset < len(data):
        insn = Instruction.from_bytes(data, offset)
        yield offset // INSN_SIZE, insn
        offset += insn.slots * INSN_SIZE


def decode(data: bytes | bytearray | memoryview, *, strict: bool = True) -> tuple[Instruction, ...]:
    """Decode a whole program.

    With ``strict`` (the default) every instruction must be a valid encoding
    (:func:`pybpf.isa.validity.check`); the error names the byte offset and the reason.
    The verifier decodes with ``strict=False`` so it can report bad encodings the kernel's way.
    """
    from pybpf.isa.validity import check  # local: validity imports this module

    out = []
    for pc, insn in iter_decode(data):
        if strict:
            reason = check(insn)
            if reason is not None:
                raise DecodeError(
                    f"byte offset {pc * INSN_SIZE}: {reason}",
                    pc=pc,
                )
        out.append(insn)
    return tuple(out)


def encode(insns: Iterable[Instruction]) -> bytes:
    """Encode instructions back to bytes (exact inverse of :func:`decode`)."""
    pack = _SLOT.pack
    return b"".join([pack(i.code, (i.src << 4) | i.dst, i.off, i.imm) if i.code != OP_LDDW
                     else i.to_bytes() for i in insns])


def pcs(insns: Sequence[Instruction]) -> list[int]:
    """The slot pc of each instruction of ``insns``."""
    out = []
    pc = 0
    for insn in insns:
        out.append(pc)
        pc += insn.slots
    return out


def slot_count(insns: Iterable[Instruction]) -> int:
    """Total number of 8-byte slots (the kernel's ``insn_cnt``)."""
    return sum(insn.slots for insn in insns)
