"""The kernel / LLVM assembly syntax: C-like statements such as ``r1 += 3``.

Accepts what ``llvm-objdump -d`` prints (the LLVM BPF InstPrinter) and what people write in
inline asm: ``rN``/``wN`` registers (``w`` selects the ALU / JMP32 class, and 32-bit views
in loads, stores and atomics), ``*(u32 *)(r1 + 4)`` memory operands (``s8``/``s16``/``s32``
for sign-extending loads), ``if r1 s> 2 goto +3``, ``goto``/``gotol``/``may_goto``,
``r1 = 0x1122334455667788 ll``, ``r1 = be16 r1``, ``lock *(u64 *)(r1 + 0) += r2``,
``r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)``, ``r2 = xchg_64(r1 + 0, r2)``,
``r0 = cmpxchg_64(r1 + 0, r0, r2)`` (and the ``32_32`` forms), ``r0 = *(u16 *)skb[12]``,
``r0 = *(u8 *)skb[r1]``, ``ld_pseudo r1, 2, 7``, ``r1 = addr_space_cast(r2, 0, 1)``,
``r0 = load_acquire((u64 *)(r1 + 0))`` and ``store_release((u64 *)(r1 + 0), r2)``.

Calls: ``call N`` calls helper ``N``; ``call +N``/``call -N`` (an explicit sign, as objdump
prints unrelocated calls) is a bpf-to-bpf call with ``imm = N``; ``call NAME`` is a
bpf-to-bpf call when NAME is a label and a helper call when NAME is a helper name
(``bpf_map_lookup_elem`` or ``map_lookup_elem``); ``callx rN`` calls through a register.
Extension: ``r0 = *(u8 *)skb[r1 + 4]`` gives ``ld_ind`` an immediate, which objdump omits.
The ``<symbol+0x10>`` annotation objdump appends to branch targets is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pybpf.asm import operands
from pybpf.asm.labels import CallRef, Field, JumpRef, Parsed
from pybpf.asm.lexer import TokenKind, TokenStream
from pybpf.asm.tables import ALU_SYMBOL_OPS, ATOMIC_SYMBOL_OPS, FETCH_NAMES, JUMP_SYMBOL_OPS
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
    Mode,
    PseudoSrc,
    Size,
    Source,
)

# C type in a memory operand -> (size, sign-extending)
MEM_TYPES: Mapping[str, tuple[Size, bool]] = MappingProxyType({
    "u8": (Size.B, False), "u16": (Size.H, False), "u32": (Size.W, False),
    "u64": (Size.DW, False), "s8": (Size.B, True), "s16": (Size.H, True),
    "s32": (Size.W, True),
})  # fmt: skip
MOVSX_TYPES: Mapping[str, int] = MappingProxyType({"s8": 8, "s16": 16, "s32": 32})
ENDIAN_NAMES = frozenset(f"{p}{w}" for p in ("le", "be", "bswap") for w in (16, 32, 64))


def _reg(stream: TokenStream, prefixes: str = "r w") -> tuple[str, int]:
    return operands.register(stream, prefixes)


def _same_width(stream: TokenStream, prefix: str) -> int:
    token = stream.peek()
    got, reg = _reg(stream)
    if got != prefix:
        stream.fail(f"expected a {prefix} register, got '{token.text}'", token)
    return reg


def _mem_type(stream: TokenStream, *, signed_ok: bool) -> Size:
    """``(TYPE *)``; returns the size."""
    stream.expect("(")
    token = stream.expect_ident("a memory type (u8, u16, u32, u64)")
    if token.text not in MEM_TYPES or (MEM_TYPES[token.text][1] and not signed_ok):
        stream.fail(f"unknown memory type '{token.text}'", token)
    stream.expect("*")
    stream.expect(")")
    return MEM_TYPES[token.text][0]


def _address(stream: TokenStream, parens: bool = True) -> tuple[int, int]:
    """``(rN + off)`` / ``(rN - off)`` / ``(rN)`` (or the same without parentheses)."""
    if parens:
        stream.expect("(")
    reg = _reg(stream, "r")[1]
    off = 0
    if stream.at("+") or stream.at("-"):
        off = operands.signed_off16(stream, "a memory offset")
    if parens:
        stream.expect(")")
    return reg, off


def _value_reg(stream: TokenStream, size: Size) -> int:
    """The register stored or loaded: ``rN``, or ``wN`` for sizes below 64 bits."""
    token = stream.peek()
    prefix, reg = _reg(stream)
    if prefix == "w" and size == Size.DW:
        stream.fail(f"a 64-bit access needs an r register, got '{token.text}'", token)
    return reg


def _target(stream: TokenStream, field: Field) -> tuple[int, JumpRef | None]:
    """A branch target, ignoring the ``<symbol+0x10>`` annotation objdump appends to it."""
    value, ref = operands.target(stream, field)
    if stream.accept("<"):
        while not stream.at_end() and not stream.accept(">"):
            stream.next()
    return value, ref


# -- statements starting with a keyword --------------------------------------------------------
def _if(stream: TokenStream) -> Parsed:
    stream.expect("if")
    prefix, dst = _reg(stream)
    cls = InsnClass.JMP32 if prefix == "w" else InsnClass.JMP
    token = stream.next()
    if token.text not in JUMP_SYMBOL_OPS or token.kind is not TokenKind.PUNCT:
        stream.fail(f"expected a comparison operator, got {token.describe()}", token)
    op = JUMP_SYMBOL_OPS[token.text]
    if stream.peek().kind is TokenKind.IDENT:
        code, src, imm = cls | op | Source.X, _same_width(stream, prefix), 0
    else:
        code, src, imm = cls | op | Source.K, 0, operands.signed_imm32(stream)
    stream.expect("goto")
    off, ref = _target(stream, Field.OFF)
    return Parsed(Instruction(code, dst, src, off, imm), ref)


def _goto(stream: TokenStream) -> Parsed:
    word = stream.next().text
    if word == "gotol":
        imm, ref = _target(stream, Field.IMM)
        return Parsed(Instruction(OP_GOTOL, imm=imm), ref)
    off, ref = _target(stream, Field.OFF)
    return Parsed(Instruction(OP_MAY_GOTO if word == "may_goto" else OP_JA, off=off), ref)


def _call(stream: TokenStream) -> Parsed:
    if stream.next().text == "callx":
        return Parsed(Instruction(OP_CALLX, _reg(stream, "r")[1]))
    token = stream.peek()
    if token.kind is TokenKind.IDENT:
        stream.next()
        return Parsed(Instruction(OP_CALL), CallRef(token.text, token.column))
    signed = stream.at("+") or stream.at("-")
    imm = operands.signed_imm32(stream, "a helper id, +N/-N or a label")
    src = CallSrc.PSEUDO_CALL if signed else CallSrc.HELPER
    return Parsed(Instruction(OP_CALL, 0, src, 0, imm))


def _lock(stream: TokenStream) -> Parsed:
    stream.expect("lock")
    stream.expect("*")
    size = _mem_type(stream, signed_ok=False)
    dst, off = _address(stream)
    token = stream.next()
    if token.text not in ATOMIC_SYMBOL_OPS or token.kind is not TokenKind.PUNCT:
        stream.fail(f"expected +=, |=, &= or ^=, got {token.describe()}", token)
    src = _value_reg(stream, size)
    code = InsnClass.STX | Mode.ATOMIC | size
    return Parsed(Instruction(code, dst, src, off, ATOMIC_SYMBOL_OPS[token.text]))


def _store(stream: TokenStream) -> Parsed:
    stream.expect("*")
    size = _mem_type(stream, signed_ok=False)
    dst, off = _address(stream)
    stream.expect("=")
    if stream.peek().kind is TokenKind.IDENT:
        src = _value_reg(stream, size)
        return Parsed(Instruction(InsnClass.STX | Mode.MEM | size, dst, src, off))
    imm = operands.signed_imm32(stream)
    return Parsed(Instruction(InsnClass.ST | Mode.MEM | size, dst, 0, off, imm))


def _store_release(stream: TokenStream) -> Parsed:
    stream.expect("store_release")
    stream.expect("(")
    size = _mem_type(stream, signed_ok=False)
    dst, off = _address(stream)
    stream.expect(",")
    src = _value_reg(stream, size)
    stream.expect(")")
    code = InsnClass.STX | Mode.ATOMIC | size
    return Parsed(Instruction(code, dst, src, off, AtomicOp.STORE_REL))


def _ld_pseudo(stream: TokenStream) -> Parsed:
    stream.expect("ld_pseudo")
    dst = _reg(stream, "r")[1]
    stream.expect(",")
    src, token = stream.signed_number("a pseudo source")
    if not 0 <= src <= 15:
        stream.fail(f"pseudo source {src} out of range", token)
    stream.expect(",")
    value, token = stream.signed_number("a 64-bit immediate")
    return Parsed(Instruction.wide(dst, operands.imm64(value, token, stream), src))


# -- rD op= ... and rD = ... ---------------------------------------------------------------------
def _load(stream: TokenStream, prefix: str, dst: int) -> Parsed:
    stream.expect("*")
    stream.expect("(")
    token = stream.expect_ident("a memory type")
    if token.text not in MEM_TYPES:
        stream.fail(f"unknown memory type '{token.text}'", token)
    size, signed = MEM_TYPES[token.text]
    stream.expect("*")
    stream.expect(")")
    if prefix == "w" and (signed or size == Size.DW):
        stream.fail(f"a {token.text} load needs an r destination register", token)
    if stream.accept("skb"):
        return _load_skb(stream, dst, size, signed, token.column)
    src, off = _address(stream)
    mode = Mode.MEMSX if signed else Mode.MEM
    return Parsed(Instruction(InsnClass.LDX | mode | size, dst, src, off))


def _load_skb(stream: TokenStream, dst: int, size: Size, signed: bool, column: int) -> Parsed:
    if dst != 0 or signed or size == Size.DW:
        stream.fail("legacy packet loads are r0 = *(u8|u16|u32 *)skb[...]", stream.peek())
    stream.expect("[")
    if stream.peek().kind is TokenKind.IDENT:
        src = _reg(stream, "r")[1]
        imm = 0
        if stream.at("+") or stream.at("-"):
            imm = operands.signed_imm32(stream)
        stream.expect("]")
        return Parsed(Instruction(InsnClass.LD | Mode.IND | size, 0, src, 0, imm))
    imm = operands.signed_imm32(stream)
    stream.expect("]")
    return Parsed(Instruction(InsnClass.LD | Mode.ABS | size, imm=imm))


def _function(stream: TokenStream, prefix: str, dst: int) -> Parsed:
    """``rD = NAME(...)``: atomics with a result, load-acquire, address-space casts."""
    token = stream.next()
    name = token.text
    stream.expect("(")
    if name in FETCH_NAMES:
        size = _mem_type(stream, signed_ok=False)
        mem, off = _address(stream)
        stream.expect(",")
        src = _value_reg(stream, size)
        imm = FETCH_NAMES[name] | FETCH
    elif name in ("xchg_64", "xchg32_32", "cmpxchg_64", "cmpxchg32_32"):
        size = Size.DW if name.endswith("_64") else Size.W
        mem, off = _address(stream, parens=False)
        stream.expect(",")
        if name.startswith("cmpxchg"):
            if _value_reg(stream, size) != 0 or dst != 0:
                stream.fail(f"{name} compares and returns r0", token)
            stream.expect(",")
        src = _value_reg(stream, size)
        imm = AtomicOp.CMPXCHG if name.startswith("cmpxchg") else AtomicOp.XCHG
    elif name == "load_acquire":
        size = _mem_type(stream, signed_ok=False)
        mem, off = _address(stream)
        stream.expect(")")
        code = InsnClass.STX | Mode.ATOMIC | size
        return Parsed(Instruction(code, dst, mem, off, AtomicOp.LOAD_ACQ))
    elif name == "addr_space_cast":
        return _addr_space_cast(stream, prefix, dst)
    else:
        stream.fail(f"unknown function '{name}'", token)
    stream.expect(")")
    if imm != AtomicOp.CMPXCHG and src != dst:
        stream.fail(f"{name} returns into its source register r{src}", token)
    return Parsed(Instruction(InsnClass.STX | Mode.ATOMIC | size, mem, src, off, imm))


def _addr_space_cast(stream: TokenStream, prefix: str, dst: int) -> Parsed:
    src = _same_width(stream, "r")
    spaces = []
    for _ in range(2):
        stream.expect(",")
        value, token = stream.signed_number("an address space number")
        if not 0 <= value <= 0xFFFF:
            stream.fail(f"address space {value} out of 16-bit range", token)
        spaces.append(value)
    stream.expect(")")
    imm = operands.imm32((spaces[0] << 16) | spaces[1], stream.peek(), stream)
    return Parsed(Instruction(InsnClass.ALU64 | ALUOp.MOV | Source.X, dst, src, 1, imm))


def _assign(stream: TokenStream, prefix: str, dst: int) -> Parsed:
    """``rD = ...``."""
    cls = InsnClass.ALU if prefix == "w" else InsnClass.ALU64
    token = stream.peek()
    if token.text == "*" and token.kind is TokenKind.PUNCT:
        return _load(stream, prefix, dst)
    if stream.at("-") and stream.peek(1).kind is TokenKind.IDENT:
        stream.next()
        if _same_width(stream, prefix) != dst:
            stream.fail("negation must use the destination register", token)
        return Parsed(Instruction(cls | ALUOp.NEG, dst))
    if stream.accept("("):
        kind = stream.expect_ident("s8, s16 or s32")
        if kind.text not in MOVSX_TYPES or (prefix == "w" and kind.text == "s32"):
            stream.fail(f"unknown sign extension '({kind.text})'", kind)
        stream.expect(")")
        src = _same_width(stream, prefix)
        return Parsed(Instruction(cls | ALUOp.MOV | Source.X, dst, src, MOVSX_TYPES[kind.text]))
    if token.kind is TokenKind.IDENT and token.text in ENDIAN_NAMES:
        stream.next()
        if _reg(stream)[1] != dst:
            stream.fail(f"{token.text} must use the destination register", token)
        if token.text.startswith("bswap"):
            code = InsnClass.ALU64 | ALUOp.END | Source.TO_LE
        else:
            endian = Source.TO_BE if token.text.startswith("be") else Source.TO_LE
            code = InsnClass.ALU | ALUOp.END | endian
        return Parsed(Instruction(code, dst, imm=int(token.text[-2:])))
    if token.kind is TokenKind.IDENT and stream.at("(", 1):
        return _function(stream, prefix, dst)
    if token.kind is TokenKind.IDENT and stream.at("ll", 1):
        # rD = LABEL ll: the address of the function at LABEL (BPF_PSEUDO_FUNC)
        stream.next()
        stream.expect("ll")
        if prefix == "w":
            stream.fail("a 64-bit immediate load needs an r register", token)
        return Parsed(Instruction.wide(dst, 0, PseudoSrc.FUNC),
                      JumpRef(token.text, token.column, Field.IMM))
    if token.kind is TokenKind.IDENT:
        src = _same_width(stream, prefix)
        return Parsed(Instruction(cls | ALUOp.MOV | Source.X, dst, src))
    value, first = stream.signed_number("a register, a number or a memory operand")
    if stream.accept("ll"):
        if prefix == "w":
            stream.fail("a 64-bit immediate load needs an r register", first)
        return Parsed(Instruction.wide(dst, operands.imm64(value, first, stream)))
    if not -(1 << 31) <= value < (1 << 32):
        stream.fail(f"immediate {value} out of 32-bit range (add 'll' for a 64-bit load)", first)
    imm = operands.imm32(value, first, stream)
    return Parsed(Instruction(cls | ALUOp.MOV | Source.K, dst, imm=imm))


def _register_statement(stream: TokenStream) -> Parsed:
    prefix, dst = _reg(stream)
    token = stream.next()
    if token.kind is TokenKind.PUNCT and token.text == "=":
        return _assign(stream, prefix, dst)
    if token.kind is not TokenKind.PUNCT or token.text not in ALU_SYMBOL_OPS:
        stream.fail(f"expected an assignment operator, got {token.describe()}", token)
    op, off = ALU_SYMBOL_OPS[token.text]
    cls = InsnClass.ALU if prefix == "w" else InsnClass.ALU64
    if stream.peek().kind is TokenKind.IDENT:
        src = _same_width(stream, prefix)
        return Parsed(Instruction(cls | op | Source.X, dst, src, off))
    imm = operands.signed_imm32(stream)
    return Parsed(Instruction(cls | op | Source.K, dst, 0, off, imm))


def _exit(stream: TokenStream) -> Parsed:
    stream.expect("exit")
    return Parsed(Instruction(OP_EXIT))


_KEYWORDS = MappingProxyType({
    "if": _if, "goto": _goto, "gotol": _goto, "may_goto": _goto, "call": _call,
    "callx": _call, "lock": _lock, "store_release": _store_release, "ld_pseudo": _ld_pseudo,
    "exit": _exit,
})  # fmt: skip
FIRST_WORDS = frozenset(_KEYWORDS)


def is_register_name(text: str) -> bool:
    return len(text) > 1 and text[0] in "rw" and text[1:].isdigit()


def parse_line(stream: TokenStream) -> Parsed:
    """Parse one statement (labels and comment already removed)."""
    token = stream.peek()
    if token.kind is TokenKind.PUNCT and token.text == "*":
        parsed = _store(stream)
    elif token.kind is TokenKind.IDENT and token.text in _KEYWORDS:
        parsed = _KEYWORDS[token.text](stream)
    elif token.kind is TokenKind.IDENT and is_register_name(token.text):
        parsed = _register_statement(stream)
    elif token.kind is TokenKind.IDENT:
        stream.fail(f"unknown mnemonic '{token.text}'", token)
    else:
        stream.fail(f"expected an instruction, got {token.describe()}", token)
    stream.expect_end()
    return parsed
