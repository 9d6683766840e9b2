"""Instructions -> uBPF / bpf_conformance syntax text.

The exact inverse of :mod:`pybpf.asm.ubpf_parse`: ``assemble(format_ubpf(i), syntax="ubpf")``
gives back ``(i,)`` for every valid instruction. Immediates and offsets are signed decimal
(``mov %r0, -1``), the ``lddw`` value hexadecimal, branch targets relative (``+3``, ``-1``).
Invalid encodings print as ``<invalid 0xNN: reason>``, which does not assemble.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import (
    FETCH,
    ALUOp,
    AtomicOp,
    CallSrc,
    InsnClass,
    JumpOp,
    Mode,
    PseudoSrc,
    Size,
    Source,
)
from pybpf.isa.validity import check

SIZE_SUFFIX: Mapping[int, str] = MappingProxyType(
    {Size.B: "b", Size.H: "h", Size.W: "w", Size.DW: "dw"}
)
ALU_NAMES: Mapping[tuple[int, int], str] = MappingProxyType({
    (ALUOp.ADD, 0): "add", (ALUOp.SUB, 0): "sub", (ALUOp.MUL, 0): "mul",
    (ALUOp.DIV, 0): "div", (ALUOp.DIV, 1): "sdiv", (ALUOp.OR, 0): "or",
    (ALUOp.AND, 0): "and", (ALUOp.LSH, 0): "lsh", (ALUOp.RSH, 0): "rsh",
    (ALUOp.MOD, 0): "mod", (ALUOp.MOD, 1): "smod", (ALUOp.XOR, 0): "xor",
    (ALUOp.MOV, 0): "mov", (ALUOp.ARSH, 0): "arsh",
})  # fmt: skip
JUMP_NAMES: Mapping[int, str] = MappingProxyType({
    JumpOp.JEQ: "jeq", JumpOp.JGT: "jgt", JumpOp.JGE: "jge", JumpOp.JSET: "jset",
    JumpOp.JNE: "jne", JumpOp.JSGT: "jsgt", JumpOp.JSGE: "jsge", JumpOp.JLT: "jlt",
    JumpOp.JLE: "jle", JumpOp.JSLT: "jslt", JumpOp.JSLE: "jsle",
})  # fmt: skip
ATOMIC_NAMES: Mapping[int, str] = MappingProxyType(
    {
        AtomicOp.ADD: "add",
        AtomicOp.OR: "or",
        AtomicOp.AND: "and",
        AtomicOp.XOR: "xor",
    }
)


def _mem(reg: int, off: int) -> str:
    return f"[%r{reg}{off:+d}]" if off else f"[%r{reg}]"


def _alu(insn: Instruction) -> str:
    is32 = insn.cls == InsnClass.ALU
    suffix = "32" if is32 else ""
    dst = f"%r{insn.dst}"
    match insn.op:
        case ALUOp.END:
            if not is32:
                return f"bswap{insn.imm} {dst}"
            return f"{'be' if insn.source == Source.TO_BE else 'le'}{insn.imm} {dst}"
        case ALUOp.NEG:
            return f"neg{suffix} {dst}"
        case ALUOp.MOV if insn.source == Source.X and insn.off == 1:
            return f"addr_space_cast {dst}, %r{insn.src}, {insn.uimm >> 16}, {insn.imm & 0xFFFF}"
        case ALUOp.MOV if insn.source == Source.X and insn.off:
            return f"movsx{insn.off}{32 if is32 else 64} {dst}, %r{insn.src}"
    name = ALU_NAMES[(insn.op, insn.off)] + suffix
    if insn.source == Source.X:
        return f"{name} {dst}, %r{insn.src}"
    return f"{name} {dst}, {insn.imm}"


def _jump(insn: Instruction) -> str:
    is32 = insn.cls == InsnClass.JMP32
    match insn.op:
        case JumpOp.JA:
            return f"ja32 {insn.imm:+d}" if is32 else f"ja {insn.off:+d}"
        case JumpOp.JCOND:
            return f"may_goto {insn.off:+d}"
        case JumpOp.EXIT:
            return "exit"
        case JumpOp.CALL:
            if insn.source == Source.X:
                return f"call %r{insn.dst}"
            if insn.src == CallSrc.PSEUDO_CALL:
                return f"call local {insn.imm:+d}"
            if insn.src == CallSrc.KFUNC_CALL:
                return f"call runtime {insn.imm}" + (f", {insn.off}" if insn.off else "")
            return f"call {insn.imm}"
    name = JUMP_NAMES[insn.op] + ("32" if is32 else "")
    operand = f"%r{insn.src}" if insn.source == Source.X else str(insn.imm)
    return f"{name} %r{insn.dst}, {operand}, {insn.off:+d}"


def _load(insn: Instruction) -> str:
    suffix = SIZE_SUFFIX[insn.size]
    match insn.mode:
        case Mode.IMM:
            text = f"lddw %r{insn.dst}, {insn.imm64:#x}"
            return text + (f", {PseudoSrc(insn.src).name.lower()}" if insn.src else "")
        case Mode.ABS:
            return f"ldabs{suffix} {insn.imm}"
    return f"ldind{suffix} %r{insn.src}, {insn.imm}"


def _memory(insn: Instruction) -> str:
    suffix = SIZE_SUFFIX[insn.size]
    match insn.cls, insn.mode:
        case InsnClass.LDX, Mode.MEMSX:
            return f"ldxs{suffix} %r{insn.dst}, {_mem(insn.src, insn.off)}"
        case InsnClass.LDX, _:
            return f"ldx{suffix} %r{insn.dst}, {_mem(insn.src, insn.off)}"
        case InsnClass.ST, _:
            return f"st{suffix} {_mem(insn.dst, insn.off)}, {insn.imm}"
        case InsnClass.STX, Mode.MEM:
            return f"stx{suffix} {_mem(insn.dst, insn.off)}, %r{insn.src}"
    return _atomic(insn, suffix)


def _atomic(insn: Instruction, suffix: str) -> str:
    mem, src = _mem(insn.dst, insn.off), f"%r{insn.src}"
    match insn.imm:
        case AtomicOp.LOAD_ACQ:
            return f"ldacq{suffix} %r{insn.dst}, {_mem(insn.src, insn.off)}"
        case AtomicOp.STORE_REL:
            return f"strel{suffix} {mem}, {src}"
        case AtomicOp.XCHG | AtomicOp.CMPXCHG:
            name = "xchg" if insn.imm == AtomicOp.XCHG else "cmpxchg"
        case _:
            fetch = "fetch " if insn.imm & FETCH else ""
            name = fetch + ATOMIC_NAMES[AtomicOp(insn.imm & ~FETCH)]
    width = "32" if insn.size == Size.W else ""
    return f"lock {name}{width} {mem}, {src}"


def format_ubpf(insn: Instruction) -> str:
    """``insn`` in the uBPF / conformance syntax."""
    reason = check(insn)
    if reason is not None:
        return f"<invalid {insn.code:#04x}: {reason}>"
    match insn.cls:
        case InsnClass.ALU | InsnClass.ALU64:
            return _alu(insn)
        case InsnClass.JMP | InsnClass.JMP32:
            return _jump(insn)
        case InsnClass.LD:
            return _load(insn)
    return _memory(insn)
