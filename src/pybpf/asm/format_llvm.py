"""Instructions -> the text ``llvm-objdump-19 -d`` prints (the LLVM BPF InstPrinter).

With ``alu32=True`` (the default) the text is that of ``llvm-objdump-19 -d --mattr=+alu32``
(equivalently ``--mcpu=v3``/``v4``), which shows 8/16/32-bit loads, stores and atomics on
``w`` registers; with ``alu32=False`` that of plain ``llvm-objdump-19 -d``. Immediates and
offsets are hexadecimal as objdump prints them (``r1 += -0x8``, ``goto +0x3``); the
``<symbol+offset>`` annotation objdump appends to branches is not part of the instruction.

Where llvm-objdump-19 loses information, this printer keeps it and says so:

* ``ld_ind`` with a non-zero ``imm``: objdump prints ``skb[r1]``; we print ``skb[r1 + 0x4]``.
* ``lddw`` with a pseudo ``src_reg`` and a non-zero upper half: objdump prints
  ``ld_pseudo r1, 0x2, IMM`` with the lower 32 bits only; we print the whole 64-bit value.
* 32-bit atomics other than ``lock ... +=`` in plain (non-alu32) mode: objdump-19 prints
  ``<unknown>`` or a plain ``lock +=``; we print the alu32 text.
* load-acquire / store-release (llvm-19 prints ``<unknown>``): we print LLVM 20's
  ``w0 = load_acquire((u8 *)(r1 + 0x0))`` and ``store_release((u64 *)(r1 + 0x0), r2)``.

Invalid encodings print ``<unknown>``, like objdump.
"""

from __future__ import annotations

from pybpf.asm.tables import (
    ALU_SYMBOLS,
    ATOMIC_ALU_NAMES,
    ATOMIC_SYMBOLS,
    JUMP_SYMBOLS,
    LDST_TYPES,
    LDSX_TYPES,
)
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import (
    FETCH,
    ALUOp,
    AtomicOp,
    InsnClass,
    JumpOp,
    Mode,
    Size,
    Source,
)
from pybpf.isa.validity import check


def hex_imm(value: int) -> str:
    """objdump's immediate: ``0x1f`` or ``-0x8``."""
    return f"-{-value:#x}" if value < 0 else f"{value:#x}"


def _rel(value: int) -> str:
    return hex_imm(value) if value < 0 else f"+{value:#x}"


def _addr(reg: int, off: int) -> str:
    return f"r{reg} - {-off:#x}" if off < 0 else f"r{reg} + {off:#x}"


def _alu(insn: Instruction) -> str:
    r = "w" if insn.cls == InsnClass.ALU else "r"
    dst = f"{r}{insn.dst}"
    match insn.op:
        case ALUOp.END:
            if insn.cls == InsnClass.ALU64:
                return f"r{insn.dst} = bswap{insn.imm} r{insn.dst}"
            endian = "be" if insn.source == Source.TO_BE else "le"
            return f"r{insn.dst} = {endian}{insn.imm} r{insn.dst}"
        case ALUOp.NEG:
            return f"{dst} = -{dst}"
        case ALUOp.MOV if insn.source == Source.X and insn.off == 1:
            spaces = f"{hex_imm(insn.uimm >> 16)}, {hex_imm(insn.imm & 0xFFFF)}"
            return f"{dst} = addr_space_cast(r{insn.src}, {spaces})"
        case ALUOp.MOV if insn.source == Source.X and insn.off:
            return f"{dst} = (s{insn.off}){r}{insn.src}"
    signed = insn.off if insn.op in (ALUOp.DIV, ALUOp.MOD) else 0
    symbol = ALU_SYMBOLS[(ALUOp(insn.op), signed)]
    if insn.source == Source.X:
        return f"{dst} {symbol} {r}{insn.src}"
    return f"{dst} {symbol} {hex_imm(insn.imm)}"


def _jump(insn: Instruction) -> str:
    match insn.op:
        case JumpOp.JA:
            return (
                f"gotol {_rel(insn.imm)}"
                if insn.cls == InsnClass.JMP32
                else f"goto {_rel(insn.off)}"
            )
        case JumpOp.JCOND:
            return f"may_goto {_rel(insn.off)}"
        case JumpOp.EXIT:
            return "exit"
        case JumpOp.CALL:
            return f"callx r{insn.dst}" if insn.source == Source.X else f"call {hex_imm(insn.imm)}"
    r = "w" if insn.cls == InsnClass.JMP32 else "r"
    operand = f"{r}{insn.src}" if insn.source == Source.X else hex_imm(insn.imm)
    symbol = JUMP_SYMBOLS[JumpOp(insn.op)]
    return f"if {r}{insn.dst} {symbol} {operand} goto {_rel(insn.off)}"


def _load(insn: Instruction) -> str:
    match insn.mode:
        case Mode.IMM if insn.src:
            return f"ld_pseudo r{insn.dst}, {insn.src:#x}, {insn.imm64:#x}"
        case Mode.IMM:
            value = insn.imm64 - (1 << 64) if insn.imm64 >> 63 else insn.imm64
            return f"r{insn.dst} = {hex_imm(value)} ll"
        case Mode.ABS:
            return f"r0 = *({LDST_TYPES[insn.size]} *)skb[{hex_imm(insn.imm)}]"
    index = f"r{insn.src}"
    if insn.imm:
        index += f" - {-insn.imm:#x}" if insn.imm < 0 else f" + {insn.imm:#x}"
    return f"r0 = *({LDST_TYPES[insn.size]} *)skb[{index}]"


def _memory(insn: Instruction, alu32: bool) -> str:
    size = insn.size
    v = "w" if alu32 and size != Size.DW else "r"
    ctype = LDST_TYPES[size]
    match insn.cls, insn.mode:
        case InsnClass.LDX, Mode.MEMSX:
            return f"r{insn.dst} = *({LDSX_TYPES[size]} *)({_addr(insn.src, insn.off)})"
        case InsnClass.LDX, _:
            return f"{v}{insn.dst} = *({ctype} *)({_addr(insn.src, insn.off)})"
        case InsnClass.ST, _:
            return f"*({ctype} *)({_addr(insn.dst, insn.off)}) = {hex_imm(insn.imm)}"
        case InsnClass.STX, Mode.MEM:
            return f"*({ctype} *)({_addr(insn.dst, insn.off)}) = {v}{insn.src}"
    return _atomic(insn, alu32)


def _atomic(insn: Instruction, alu32: bool) -> str:
    size, imm = insn.size, insn.imm
    ctype, addr = LDST_TYPES[size], _addr(insn.dst, insn.off)
    wide = size == Size.DW
    v = "r" if wide or not (alu32 or imm != AtomicOp.ADD) else "w"
    src = f"{v}{insn.src}"
    match imm:
        case AtomicOp.LOAD_ACQ:
            return f"{v}{insn.dst} = load_acquire(({ctype} *)({_addr(insn.src, insn.off)}))"
        case AtomicOp.STORE_REL:
            return f"store_release(({ctype} *)({addr}), {src})"
        case AtomicOp.XCHG:
            return f"{src} = {'xchg_64' if wide else 'xchg32_32'}({addr}, {src})"
        case AtomicOp.CMPXCHG:
            name = "cmpxchg_64" if wide else "cmpxchg32_32"
            return f"{v}0 = {name}({addr}, {v}0, {src})"
    op = AtomicOp(imm & ~FETCH)
    if imm & FETCH:
        return f"{src} = atomic_fetch_{ATOMIC_ALU_NAMES[op]}(({ctype} *)({addr}), {src})"
    return f"lock *({ctype} *)({addr}) {ATOMIC_SYMBOLS[op]} {src}"


def format_llvm(insn: Instruction, *, alu32: bool = True) -> str:
    """``insn`` as ``llvm-objdump-19 -d`` prints it (see the module docstring)."""
    if check(insn) is not None:
        return "<unknown>"
    match insn.cls:
        case InsnClass.ALU | InsnClass.ALU64:
            return _alu(insn)
        case InsnClass.JMP | InsnClass.JMP32:
            return _jump(insn)
        case InsnClass.LD:
            return _load(insn)
    return _memory(insn, alu32)
