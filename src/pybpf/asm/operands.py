"""Operand values shared by both syntaxes: registers, immediates, offsets, branch targets.

Immediates are written as the programmer thinks of them and stored as the kernel does: a
32-bit ``imm`` accepts ``-2**31 .. 2**32 - 1`` (``0xffffffff`` is ``-1``), the 64-bit ``lddw``
value accepts ``-2**63 .. 2**64 - 1``, and ``off`` is a signed 16-bit number.
"""

from __future__ import annotations

from pybpf.asm.labels import Field, JumpRef
from pybpf.asm.lexer import Token, TokenKind, TokenStream
from pybpf.isa.opcodes import MAX_REGISTER

_S16 = (-(1 << 15), (1 << 15) - 1)
_IMM32 = (-(1 << 31), (1 << 32) - 1)
_IMM64 = (-(1 << 63), (1 << 64) - 1)


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def register(stream: TokenStream, prefixes: str) -> tuple[str, int]:
    """A register written ``<prefix><n>`` (``%r1``, ``r1``, ``w1``): returns (prefix, number)."""
    token = stream.peek()
    if token.kind is not TokenKind.IDENT:
        stream.fail(f"expected a register, got {token.describe()}", token)
    text = token.text.lower()
    for prefix in sorted(prefixes.split(), key=len, reverse=True):
        digits = text[len(prefix) :]
        if text.startswith(prefix) and digits.isdigit():
            if int(digits) > MAX_REGISTER or (len(digits) > 1 and digits[0] == "0"):
                stream.fail(f"unknown register '{token.text}'", token)
            stream.next()
            return prefix, int(digits)
    if text.startswith("%"):
        stream.fail(f"unknown register '{token.text}'", token)
    stream.fail(f"expected a register, got {token.describe()}", token)


def imm32(value: int, token: Token, stream: TokenStream) -> int:
    """``value`` as the signed 32-bit ``imm`` field."""
    if not _IMM32[0] <= value <= _IMM32[1]:
        stream.fail(f"immediate {value} out of 32-bit range", token)
    return _s32(value)


def imm64(value: int, token: Token, stream: TokenStream) -> int:
    """``value`` as an unsigned 64-bit ``lddw`` immediate."""
    if not _IMM64[0] <= value <= _IMM64[1]:
        stream.fail(f"immediate {value} out of 64-bit range", token)
    return value & 0xFFFFFFFFFFFFFFFF


def off16(value: int, token: Token, stream: TokenStream) -> int:
    """``value`` as the signed 16-bit ``off`` field."""
    if not _S16[0] <= value <= _S16[1]:
        stream.fail(f"offset {value} out of 16-bit range", token)
    return value


def signed_imm32(stream: TokenStream, what: str = "an immediate") -> int:
    value, token = stream.signed_number(what)
    return imm32(value, token, stream)


def signed_off16(stream: TokenStream, what: str = "an offset") -> int:
    value, token = stream.signed_number(what)
    return off16(value, token, stream)


def target(stream: TokenStream, field: Field) -> tuple[int, JumpRef | None]:
    """A branch target: ``+N``/``-N``/``N`` slots (relative to the next pc) or a label name."""
    token = stream.peek()
    if token.kind is TokenKind.IDENT and not token.text.startswith("%"):
        stream.next()
        return 0, JumpRef(token.text, token.column, field)
    value, first = stream.signed_number("a label or a +N/-N offset")
    if field is Field.OFF:
        return off16(value, first, stream), None
    if not -(1 << 31) <= value < (1 << 31):
        stream.fail(f"offset {value} out of 32-bit range", first)
    return value, None
