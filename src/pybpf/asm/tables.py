"""Operator spellings of the C-like syntaxes (LLVM's and the kernel verifier log's).

Mirrors ``bpf_alu_string[]``, ``bpf_alu_sign_string[]``, ``bpf_jmp_string[]`` and
``bpf_atomic_alu_string[]`` of ``kernel/bpf/disasm.c``; the LLVM BPF InstPrinter uses the same
symbols. Pure data: the parsers read the symbol -> opcode maps, the formatters the inverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pybpf.isa.opcodes import ALUOp, AtomicOp, JumpOp

# symbol -> (ALU op, off): ``s/=`` and ``s%=`` are the signed forms (off = 1).
ALU_SYMBOL_OPS = MappingProxyType({
    "+=": (ALUOp.ADD, 0), "-=": (ALUOp.SUB, 0), "*=": (ALUOp.MUL, 0), "/=": (ALUOp.DIV, 0),
    "s/=": (ALUOp.DIV, 1), "|=": (ALUOp.OR, 0), "&=": (ALUOp.AND, 0), "<<=": (ALUOp.LSH, 0),
    ">>=": (ALUOp.RSH, 0), "%=": (ALUOp.MOD, 0), "s%=": (ALUOp.MOD, 1), "^=": (ALUOp.XOR, 0),
    "s>>=": (ALUOp.ARSH, 0), "=": (ALUOp.MOV, 0),
})  # fmt: skip
ALU_SYMBOLS: Mapping[tuple[int, int], str] = MappingProxyType(
    {key: sym for sym, key in ALU_SYMBOL_OPS.items()}
)

JUMP_SYMBOL_OPS = MappingProxyType({
    "==": JumpOp.JEQ, ">": JumpOp.JGT, ">=": JumpOp.JGE, "&": JumpOp.JSET, "!=": JumpOp.JNE,
    "s>": JumpOp.JSGT, "s>=": JumpOp.JSGE, "<": JumpOp.JLT, "<=": JumpOp.JLE,
    "s<": JumpOp.JSLT, "s<=": JumpOp.JSLE,
})  # fmt: skip
JUMP_SYMBOLS: Mapping[int, str] = MappingProxyType({op: sym for sym, op in JUMP_SYMBOL_OPS.items()})

# ``lock *(u64 *)(r1 + 0) += r2``: symbol -> atomic imm (no fetch)
ATOMIC_SYMBOL_OPS = MappingProxyType({
    "+=": AtomicOp.ADD, "|=": AtomicOp.OR, "&=": AtomicOp.AND, "^=": AtomicOp.XOR,
})  # fmt: skip
ATOMIC_SYMBOLS: Mapping[int, str] = MappingProxyType(
    {op: sym for sym, op in ATOMIC_SYMBOL_OPS.items()}
)

# ``rN = atomic_fetch_add((u64 *)(...), rN)``: name -> atomic imm without the fetch bit
FETCH_NAMES = MappingProxyType({
    "atomic_fetch_add": AtomicOp.ADD, "atomic_fetch_or": AtomicOp.OR,
    "atomic_fetch_and": AtomicOp.AND, "atomic_fetch_xor": AtomicOp.XOR,
})  # fmt: skip
ATOMIC_ALU_NAMES: Mapping[int, str] = MappingProxyType({
    AtomicOp.ADD: "add", AtomicOp.OR: "or", AtomicOp.AND: "and", AtomicOp.XOR: "xor",
})  # fmt: skip

# Memory access width -> C type name (``bpf_ldst_string[]`` / ``bpf_ldsx_string[]``).
LDST_TYPES: Mapping[int, str] = MappingProxyType(
    {0x00: "u32", 0x08: "u16", 0x10: "u8", 0x18: "u64"}
)
LDSX_TYPES: Mapping[int, str] = MappingProxyType({0x00: "s32", 0x08: "s16", 0x10: "s8"})
