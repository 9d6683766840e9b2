"""Assembly errors name the line and the column (1-based) and say what was expected."""

from __future__ import annotations

import pytest

from pybpf.asm import assemble
from pybpf.errors import AssembleError


def error(text: str, syntax: str = "auto") -> AssembleError:
    with pytest.raises(AssembleError) as info:
        assemble(text, syntax=syntax)
    return info.value


@pytest.mark.parametrize(
    ("text", "syntax", "line", "column", "message"),
    [
        ("mov %r0, 1\nexit\nadd32 %r11, 1", "ubpf", 3, 7, "unknown register '%r11'"),
        ("mov %r0, 1\n\n\n\nmvo %r0, 1", "ubpf", 5, 1, "unknown mnemonic 'mvo'"),
        ("  ja nowhere", "ubpf", 1, 6, "undefined label 'nowhere'"),
        ("ja +40000", "ubpf", 1, 4, "offset 40000 out of 16-bit range"),
        ("mov %r0, 0x100000000", "ubpf", 1, 10, "immediate 4294967296 out of 32-bit range"),
        ("mov32 %r0, -0x80000001", "ubpf", 1, 12, "out of 32-bit range"),
        ("lddw %r0, 0x10000000000000000", "ubpf", 1, 11, "out of 64-bit range"),
        ("ldxw %r0, [%r1+40000]", "ubpf", 1, 15, "offset 40000 out of 16-bit range"),
        ("a:\nexit\na:\nexit", "ubpf", 3, 1, "duplicate label 'a' (first defined on line 1)"),
        ("mov %r0 1", "ubpf", 1, 9, "expected ',', got '1'"),
        ("mov %r0, 1 2", "ubpf", 1, 12, "unexpected '2' after the instruction"),
        ("ldxw %r0, %r1", "ubpf", 1, 11, "expected '[', got '%r1'"),
        ("lock inc [%r1], %r2", "ubpf", 1, 6, "unknown atomic operation 'inc'"),
        ("mov %r0, 1 @", "ubpf", 1, 12, "unexpected character '@'"),
        ("mov %r0, 0xzz", "ubpf", 1, 10, "invalid number '0xzz'"),
        ("call nothing_like_a_helper", "ubpf", 1, 6, "neither a label nor a helper name"),
        ("r11 = 1", "llvm", 1, 1, "unknown register 'r11'"),
        ("w1 += r2", "llvm", 1, 7, "expected a w register, got 'r2'"),
        ("r1 = 0x100000000", "llvm", 1, 6, "add 'll' for a 64-bit load"),
        ("w1 = 1 ll", "llvm", 1, 6, "needs an r register"),
        ("r0 = *(u128 *)(r1 + 0)", "llvm", 1, 8, "unknown memory type 'u128'"),
        ("if r1 => 2 goto +1", "llvm", 1, 7, "expected a comparison operator, got '='"),
        ("if r1 > 2 goto", "llvm", 1, 15, "expected a label or a +N/-N offset, got end of line"),
        ("r1 = be16 r2", "llvm", 1, 6, "be16 must use the destination register"),
        ("r1 = atomic_fetch_add((u64 *)(r2 + 0), r3)", "llvm", 1, 6, "returns into its source"),
        ("frobnicate r1", "llvm", 1, 1, "unknown mnemonic 'frobnicate'"),
        ("goto +0x8000", "llvm", 1, 6, "offset 32768 out of 16-bit range"),
    ],
)
def test_error_location_and_message(
    text: str, syntax: str, line: int, column: int, message: str
) -> None:
    exc = error(text, syntax)
    assert (exc.line, exc.column) == (line, column), str(exc)
    assert message in exc.message
    assert str(exc).startswith(f"line {line}, column {column}: ")
    assert exc.text == text.splitlines()[line - 1]


def test_far_label_is_out_of_range() -> None:
    text = "ja far\n" + "mov %r0, 0\n" * 40000 + "far: exit"
    exc = error(text, "ubpf")
    assert (exc.line, exc.column) == (1, 4)
    assert "out of 16-bit range" in exc.message
    assert assemble(text.replace("ja far", "ja32 far"))[0].imm == 40000


def test_unknown_syntax_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown assembly syntax"):
        assemble("exit", syntax="intel")
