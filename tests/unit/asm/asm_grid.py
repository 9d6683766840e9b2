"""The instruction grid and LLVM tool list shared by the assembler tests.

A plain module (not conftest) so test modules can import it by a name no other directory uses.
"""

from __future__ import annotations

import shutil

from pybpf.isa import OP_LDDW, Instruction, check

# The C objects are committed, so the tests need the binutils, not clang (tests/data/c/build.sh).
LLVM_TOOLS = ("llvm-mc-19", "llvm-objdump-19", "llvm-objcopy-19")

# Field values that reach every decoding branch: movsx/sdiv offsets, atomic operations,
# byte-swap widths, address spaces, and the extremes of each field.
OFFSETS = (0, 1, 8, 16, 32, -2, 5, -(1 << 15), (1 << 15) - 1)
IMMEDIATES = (
    0, 1, -1, 16, 32, 64, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1, 0x100, 0x110,
    0x10001, (1 << 31) - 1, -(1 << 31),
)  # fmt: skip
REGISTERS = (0, 10)


def instruction_grid() -> list[Instruction]:
    """Every valid encoding over the field values above (about 20,000 instructions)."""
    out: dict[Instruction, None] = {}
    for code in range(256):
        upper = (0, 7, -1) if code == OP_LDDW else (0,)
        for src in (0, 1, 2, 3, 4, 5, 6, 10):
            for off in OFFSETS:
                for imm in IMMEDIATES:
                    for dst in REGISTERS:
                        for next_imm in upper:
                            insn = Instruction(code, dst, src, off, imm, next_imm)
                            if check(insn) is None:
                                out[insn] = None
    return list(out)


def missing_llvm_tools() -> list[str]:
    return [tool for tool in LLVM_TOOLS if shutil.which(tool) is None]
