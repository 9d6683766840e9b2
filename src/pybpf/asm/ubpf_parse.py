"""The uBPF / bpf_conformance assembly syntax: ``mnemonic operand, operand, ...``.

Follows the conventions of the bpf_conformance suite's assembler and uBPF's: registers are
``%r0``..``%r10``, memory operands ``[%r1+8]``, branch targets a label or ``+N``/``-N``;
``NAME32`` is the 32-bit (ALU / JMP32) form and ``NAME`` or ``NAME64`` the 64-bit one;
``sdiv``/``smod`` set ``off = 1``; ``movsx<src><dst>`` is the sign-extending move
(``movsx832`` = ``w = (s8)w``, ``movsx3264`` = ``r = (s32)r``); ``le``/``be`` are the ALU-class
byte swaps and ``bswap``/``swap`` the ALU64 ones; ``ja32`` is ``gotol``; ``call N`` calls helper
``N``, ``call %rN`` is ``callx`` (register in ``dst``), ``call local L`` a bpf-to-bpf call and
``call runtime N`` a kfunc call; ``lock [fetch] add|or|and|xor[32]``, ``lock xchg[32]`` and
``lock cmpxchg[32]`` are the atomics.

pybpf extensions, for encodings the conformance syntax has no words for (all round-trip
through :mod:`pybpf.asm.format_ubpf`): ``lddw %r1, VALUE, PSEUDO`` with ``PSEUDO`` one of
``map_fd map_value btf_id func map_idx map_idx_value`` (or a number) for ``src_reg``;
``call runtime N, OFF`` (kfunc in module BTF ``OFF``); ``may_goto TARGET``;
``addr_space_cast %rD, %rS, DST_AS, SRC_AS``; ``ldacq{b,h,w,dw} %rD, [%rS+off]`` (load-acquire)
and ``strel{b,h,w,dw} [%rD+off], %rS`` (store-release); ``call NAME`` with a helper name;
``ldabs{b,h,w} IMM`` and ``ldind{b,h,w} %rS, IMM`` are uBPF's names for the legacy packet loads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from pybpf.asm import operands
from pybpf.asm.labels import CallRef, Field, Parsed
from pybpf.asm.lexer import Token, TokenKind, TokenStream
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import (
    FETCH,
    OP_CALL,
    OP_CALLX,
    OP_EXIT,
    OP_GOTOL,
    OP_JA,
    OP_MAY_GOTO,
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

SIZE_SUFFIX: Mapping[str, Size] = MappingProxyType(
    {"b": Size.B, "h": Size.H, "w": Size.W, "dw": Size.DW}
)
ALU_MNEMONICS: Mapping[str, tuple[ALUOp, int]] = MappingProxyType({
    "add": (ALUOp.ADD, 0), "sub": (ALUOp.SUB, 0), "mul": (ALUOp.MUL, 0),
    "div": (ALUOp.DIV, 0), "sdiv": (ALUOp.DIV, 1), "or": (ALUOp.OR, 0),
    "and": (ALUOp.AND, 0), "lsh": (ALUOp.LSH, 0), "rsh": (ALUOp.RSH, 0),
    "mod": (ALUOp.MOD, 0), "smod": (ALUOp.MOD, 1), "xor": (ALUOp.XOR, 0),
    "mov": (ALUOp.MOV, 0), "arsh": (ALUOp.ARSH, 0),
})  # fmt: skip
JUMP_MNEMONICS: Mapping[str, JumpOp] = MappingProxyType({
    "jeq": JumpOp.JEQ, "jgt": JumpOp.JGT, "jge": JumpOp.JGE, "jset": JumpOp.JSET,
    "jne": JumpOp.JNE, "jsgt": JumpOp.JSGT, "jsge": JumpOp.JSGE, "jlt": JumpOp.JLT,
    "jle": JumpOp.JLE, "jslt": JumpOp.JSLT, "jsle": JumpOp.JSLE,
})  # fmt: skip
MOVSX_MNEMONICS: Mapping[str, tuple[InsnClass, int]] = MappingProxyType({
    "movsx864": (InsnClass.ALU64, 8), "movsx1664": (InsnClass.ALU64, 16),
    "movsx3264": (InsnClass.ALU64, 32), "movsx832": (InsnClass.ALU, 8),
    "movsx1632": (InsnClass.ALU, 16),
})  # fmt: skip
ATOMIC_MNEMONICS: Mapping[str, int] = MappingProxyType({
    "add": AtomicOp.ADD, "or": AtomicOp.OR, "and": AtomicOp.AND, "xor": AtomicOp.XOR,
    "xchg": AtomicOp.XCHG, "cmpxchg": AtomicOp.CMPXCHG,
})  # fmt: skip
PSEUDO_NAMES: Mapping[str, PseudoSrc] = MappingProxyType(
    {s.name.lower(): s for s in PseudoSrc if s}
)

Handler = Callable[[TokenStream, str], Parsed]


def _reg(stream: TokenStream) -> int:
    return operands.register(stream, "%r")[1]


def _comma(stream: TokenStream) -> None:
    stream.expect(",")


def _is_reg(stream: TokenStream) -> bool:
    token = stream.peek()
    return token.kind is TokenKind.IDENT and token.text.startswith("%")


def memory(stream: TokenStream) -> tuple[int, int]:
    """``[%rN]``, ``[%rN+off]`` or ``[%rN-off]``: returns (register, offset)."""
    stream.expect("[")
    reg = _reg(stream)
    off = 0
    if stream.at("+") or stream.at("-"):
        off = operands.signed_off16(stream, "a memory offset")
    stream.expect("]")
    return reg, off


# -- ALU ---------------------------------------------------------------------------------------
def _alu_class(name: str, base: str) -> InsnClass:
    return InsnClass.ALU if name == base + "32" else InsnClass.ALU64


def _alu(stream: TokenStream, name: str) -> Parsed:
    base = name.removesuffix("32").removesuffix("64")
    op, off = ALU_MNEMONICS[base]
    cls = _alu_class(name, base)
    dst = _reg(stream)
    _comma(stream)
    if _is_reg(stream):
        return Parsed(Instruction(cls | op | Source.X, dst, _reg(stream), off))
    return Parsed(Instruction(cls | op | Source.K, dst, 0, off, operands.signed_imm32(stream)))


def _movsx(stream: TokenStream, name: str) -> Parsed:
    cls, off = MOVSX_MNEMONICS[name]
    dst = _reg(stream)
    _comma(stream)
    return Parsed(Instruction(cls | ALUOp.MOV | Source.X, dst, _reg(stream), off))


def _neg(stream: TokenStream, name: str) -> Parsed:
    return Parsed(Instruction(_alu_class(name, "neg") | ALUOp.NEG, _reg(stream)))


def _endian(stream: TokenStream, name: str) -> Parsed:
    width = int(name[-2:])
    if name.startswith(("bswap", "swap")):
        code = InsnClass.ALU64 | ALUOp.END | Source.TO_LE
    else:
        code = InsnClass.ALU | ALUOp.END | (Source.TO_BE if name[0] == "b" else Source.TO_LE)
    return Parsed(Instruction(code, _reg(stream), imm=width))


def _addr_space_cast(stream: TokenStream, name: str) -> Parsed:
    dst = _reg(stream)
    _comma(stream)
    src = _reg(stream)
    spaces = []
    for _ in range(2):
        _comma(stream)
        value, token = stream.signed_number("an address space number")
        if not 0 <= value <= 0xFFFF:
            stream.fail(f"address space {value} out of 16-bit range", token)
        spaces.append(value)
    imm = operands.imm32((spaces[0] << 16) | spaces[1], stream.peek(), stream)
    return Parsed(Instruction(InsnClass.ALU64 | ALUOp.MOV | Source.X, dst, src, 1, imm))


# -- loads and stores --------------------------------------------------------------------------
def _lddw(stream: TokenStream, name: str) -> Parsed:
    dst = _reg(stream)
    _comma(stream)
    value, token = stream.signed_number("a 64-bit immediate")
    value = operands.imm64(value, token, stream)
    src = 0
    if stream.accept(","):
        pseudo = stream.peek()
        if pseudo.kind is TokenKind.IDENT:
            if pseudo.text not in PSEUDO_NAMES:
                stream.fail(f"unknown lddw pseudo source '{pseudo.text}'", pseudo)
            src = PSEUDO_NAMES[pseudo.text]
            stream.next()
        else:
            src, token = stream.signed_number("a pseudo source")
            if not 0 <= src <= 15:
                stream.fail(f"pseudo source {src} out of range", token)
    return Parsed(Instruction.wide(dst, value, src))


def _ldx(stream: TokenStream, name: str) -> Parsed:
    signed = name.startswith("ldxs")
    size = SIZE_SUFFIX[name[4:] if signed else name[3:]]
    dst = _reg(stream)
    _comma(stream)
    src, off = memory(stream)
    mode = Mode.MEMSX if signed else Mode.MEM
    return Parsed(Instruction(InsnClass.LDX | mode | size, dst, src, off))


def _st(stream: TokenStream, name: str) -> Parsed:
    dst, off = memory(stream)
    _comma(stream)
    if name.startswith("stx"):
        code = InsnClass.STX | Mode.MEM | SIZE_SUFFIX[name[3:]]
        return Parsed(Instruction(code, dst, _reg(stream), off))
    code = InsnClass.ST | Mode.MEM | SIZE_SUFFIX[name[2:]]
    return Parsed(Instruction(code, dst, 0, off, operands.signed_imm32(stream)))


def _ld_legacy(stream: TokenStream, name: str) -> Parsed:
    size = SIZE_SUFFIX[name[5:]]
    if name.startswith("ldabs"):
        return Parsed(
            Instruction(InsnClass.LD | Mode.ABS | size, imm=operands.signed_imm32(stream))
        )
    src = _reg(stream)
    _comma(stream)
    imm = operands.signed_imm32(stream)
    return Parsed(Instruction(InsnClass.LD | Mode.IND | size, 0, src, 0, imm))


def _load_acquire(stream: TokenStream, name: str) -> Parsed:
    size = SIZE_SUFFIX[name[5:]]
    dst = _reg(stream)
    _comma(stream)
    src, off = memory(stream)
    code = InsnClass.STX | Mode.ATOMIC | size
    return Parsed(Instruction(code, dst, src, off, AtomicOp.LOAD_ACQ))


def _store_release(stream: TokenStream, name: str) -> Parsed:
    size = SIZE_SUFFIX[name[5:]]
    dst, off = memory(stream)
    _comma(stream)
    code = InsnClass.STX | Mode.ATOMIC | size
    return Parsed(Instruction(code, dst, _reg(stream), off, AtomicOp.STORE_REL))


def _lock(stream: TokenStream, name: str) -> Parsed:
    fetch = stream.accept("fetch")
    token = stream.expect_ident("an atomic operation (add, or, and, xor, xchg, cmpxchg)")
    base = token.text.removesuffix("32")
    if base not in ATOMIC_MNEMONICS:
        stream.fail(f"unknown atomic operation '{token.text}'", token)
    imm = ATOMIC_MNEMONICS[base] | (FETCH if fetch else 0)
    size = Size.W if token.text.endswith("32") else Size.DW
    dst, off = memory(stream)
    _comma(stream)
    return Parsed(Instruction(InsnClass.STX | Mode.ATOMIC | size, dst, _reg(stream), off, imm))


# -- jumps and calls ---------------------------------------------------------------------------
def _ja(stream: TokenStream, name: str) -> Parsed:
    if name == "ja32":
        imm, ref = operands.target(stream, Field.IMM)
        return Parsed(Instruction(OP_GOTOL, imm=imm), ref)
    off, ref = operands.target(stream, Field.OFF)
    return Parsed(Instruction(OP_MAY_GOTO if name == "may_goto" else OP_JA, off=off), ref)


def _jump(stream: TokenStream, name: str) -> Parsed:
    cls = InsnClass.JMP32 if name.endswith("32") else InsnClass.JMP
    op = JUMP_MNEMONICS[name.removesuffix("32")]
    dst = _reg(stream)
    _comma(stream)
    if _is_reg(stream):
        code, src, imm = cls | op | Source.X, _reg(stream), 0
    else:
        code, src, imm = cls | op | Source.K, 0, operands.signed_imm32(stream)
    _comma(stream)
    off, ref = operands.target(stream, Field.OFF)
    return Parsed(Instruction(code, dst, src, off, imm), ref)


def _call(stream: TokenStream, name: str) -> Parsed:
    token = stream.peek()
    if _is_reg(stream):
        return Parsed(Instruction(OP_CALLX, _reg(stream)))
    if stream.accept("local"):
        imm, ref = operands.target(stream, Field.IMM)
        return Parsed(Instruction(OP_CALL, 0, CallSrc.PSEUDO_CALL, 0, imm), ref)
    if stream.accept("runtime") or stream.accept("kfunc"):
        imm = operands.signed_imm32(stream, "a kfunc BTF id")
        off = operands.signed_off16(stream, "a BTF fd index") if stream.accept(",") else 0
        return Parsed(Instruction(OP_CALL, 0, CallSrc.KFUNC_CALL, off, imm))
    if token.kind is TokenKind.IDENT:
        stream.next()
        return Parsed(Instruction(OP_CALL), CallRef(token.text, token.column))
    return Parsed(Instruction(OP_CALL, imm=operands.signed_imm32(stream, "a helper id")))


def _exit(stream: TokenStream, name: str) -> Parsed:
    return Parsed(Instruction(OP_EXIT))


def _build_table() -> dict[str, Handler]:
    table: dict[str, Handler] = {}
    for base in ALU_MNEMONICS:
        for suffix in ("", "32", "64"):
            table[base + suffix] = _alu
    table.update(dict.fromkeys(MOVSX_MNEMONICS, _movsx))
    table.update(dict.fromkeys(("neg", "neg32", "neg64"), _neg))
    for width in ("16", "32", "64"):
        for prefix in ("le", "be", "bswap", "swap"):
            table[prefix + width] = _endian
    table["addr_space_cast"] = _addr_space_cast
    table["lddw"] = _lddw
    for suffix in SIZE_SUFFIX:
        table["ldx" + suffix] = _ldx
        table["st" + suffix] = _st
        table["stx" + suffix] = _st
        table["ldacq" + suffix] = _load_acquire
        table["strel" + suffix] = _store_release
        if suffix != "dw":
            table["ldxs" + suffix] = _ldx
            table["ldabs" + suffix] = _ld_legacy
            table["ldind" + suffix] = _ld_legacy
    table.update(dict.fromkeys(("ja", "ja32", "may_goto"), _ja))
    for base in JUMP_MNEMONICS:
        table[base] = table[base + "32"] = _jump
    table.update(call=_call, exit=_exit, lock=_lock)
    return table


MNEMONICS: Mapping[str, Handler] = MappingProxyType(_build_table())


def parse_line(stream: TokenStream) -> Parsed:
    """Parse one instruction (labels and comment already removed)."""
    token: Token = stream.expect_ident("a mnemonic")
    name = token.text.lower()
    handler = MNEMONICS.get(name)
    if handler is None:
        stream.fail(f"unknown mnemonic '{token.text}'", token)
    parsed = handler(stream, name)
    stream.expect_end()
    return parsed
