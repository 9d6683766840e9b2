"""The kernel / LLVM syntax, as llvm-objdump prints it and people write it in inline asm."""

from __future__ import annotations

import pytest

from pybpf.asm import assemble
from pybpf.isa import Instruction

I = Instruction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("r0 = 0", I(0xB7)),
        ("w1 += 3", I(0x04, 1, 0, 0, 3)),
        ("r1 = r2", I(0xBF, 1, 2)),
        ("w1 = w2", I(0xBC, 1, 2)),
        ("r0 = -r0", I(0x87, 0)),
        ("w3 = -w3", I(0x84, 3)),
        ("r1 = (s8)r2", I(0xBF, 1, 2, 8)),
        ("w1 = (s16)w2", I(0xBC, 1, 2, 16)),
        ("r1 = (s32)r2", I(0xBF, 1, 2, 32)),
        ("r0 = *(u32 *)(r1 + 4)", I(0x61, 0, 1, 4)),
        ("w0 = *(u32 *)(r1 + 0x4)", I(0x61, 0, 1, 4)),
        ("r0 = *(s16 *)(r1 - 2)", I(0x89, 0, 1, -2)),
        ("r0 = *(u64 *)(r10 -8)", I(0x79, 0, 10, -8)),
        ("*(u64 *)(r10 - 8) = r1", I(0x7B, 10, 1, -8)),
        ("*(u8 *)(r10 - 1) = w1", I(0x73, 10, 1, -1)),
        ("*(u32 *)(r10 - 4) = 7", I(0x62, 10, 0, -4, 7)),
        ("if r1 s> 2 goto +3", I(0x65, 1, 0, 3, 2)),
        ("if w1 == w2 goto -1", I(0x1E, 1, 2, -1)),
        ("if r1 & 0x4 goto +0x0", I(0x45, 1, 0, 0, 4)),
        ("if r1 s<= -0x1 goto +0x2", I(0xD5, 1, 0, 2, -1)),
        ("goto +2", I(0x05, 0, 0, 2)),
        ("goto -0x2 <xdp_parse+0x130>", I(0x05, 0, 0, -2)),
        ("if w3 s> 0x2 goto +0x1 <inline_asm+0x98>", I(0x66, 3, 0, 1, 2)),
        ("gotol +70000", I(0x06, 0, 0, 0, 70000)),
        ("may_goto +3", I(0xE5, 0, 0, 3)),
        ("r1 = 0x1122334455667788 ll", Instruction.wide(1, 0x1122334455667788)),
        ("r1 = -0x1 ll", Instruction.wide(1, -1)),
        ("r1 = 0 ll", Instruction.wide(1, 0)),
        ("ld_pseudo r1, 0x2, 0x7", Instruction.wide(1, 7, 2)),
        ("r1 = be16 r1", I(0xDC, 1, 0, 0, 16)),
        ("r1 = le32 r1", I(0xD4, 1, 0, 0, 32)),
        ("r1 = bswap64 r1", I(0xD7, 1, 0, 0, 64)),
        ("lock *(u64 *)(r1 + 0) += r2", I(0xDB, 1, 2, 0, 0x00)),
        ("lock *(u32 *)(r1 + 0x0) ^= w2", I(0xC3, 1, 2, 0, 0xA0)),
        ("r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)", I(0xDB, 1, 2, 0, 0x01)),
        ("w0 = atomic_fetch_xor((u32 *)(r1 + 4), w0)", I(0xC3, 1, 0, 4, 0xA1)),
        ("r2 = xchg_64(r1 + 0, r2)", I(0xDB, 1, 2, 0, 0xE1)),
        ("w2 = xchg32_32(r1 + 0, w2)", I(0xC3, 1, 2, 0, 0xE1)),
        ("r0 = cmpxchg_64(r1 + 0, r0, r2)", I(0xDB, 1, 2, 0, 0xF1)),
        ("w0 = cmpxchg32_32(r1 + 0, w0, w2)", I(0xC3, 1, 2, 0, 0xF1)),
        ("r0 = load_acquire((u64 *)(r1 + 0x8))", I(0xDB, 0, 1, 8, 0x100)),
        ("w0 = load_acquire((u8 *)(r1 + 0x0))", I(0xD3, 0, 1, 0, 0x100)),
        ("store_release((u16 *)(r1 + 0x0), w2)", I(0xCB, 1, 2, 0, 0x110)),
        ("r0 = *(u8 *)skb[12]", I(0x30, 0, 0, 0, 12)),
        ("r0 = *(u16 *)skb[r1]", I(0x48, 0, 1, 0, 0)),
        ("r0 = *(u16 *)skb[r1 + 4]", I(0x48, 0, 1, 0, 4)),
        ("r1 = addr_space_cast(r2, 0x0, 0x1)", I(0xBF, 1, 2, 1, 1)),
        ("call 1", I(0x85, 0, 0, 0, 1)),
        ("call 0x7", I(0x85, 0, 0, 0, 7)),
        ("call bpf_map_lookup_elem", I(0x85, 0, 0, 0, 1)),
        ("call -1", I(0x85, 0, 1, 0, -1)),
        ("call -0x1", I(0x85, 0, 1, 0, -1)),
        ("call +3", I(0x85, 0, 1, 0, 3)),
        ("callx r2", I(0x8D, 2)),
        ("exit", I(0x95)),
        ("r1 /= r2", I(0x3F, 1, 2)),
        ("r1 s/= r2", I(0x3F, 1, 2, 1)),
        ("r1 %= 3", I(0x97, 1, 0, 0, 3)),
        ("r1 s%= r2", I(0x9F, 1, 2, 1)),
        ("r1 s>>= 3", I(0xC7, 1, 0, 0, 3)),
        ("w1 <<= w2", I(0x6C, 1, 2)),
        ("r1 >>= 0x3f", I(0x77, 1, 0, 0, 63)),
        ("r1 |= -0x80000000", I(0x47, 1, 0, 0, -(1 << 31))),
        ("w1 &= 0xffffffff", I(0x54, 1, 0, 0, -1)),
    ],
)
def test_statements(text: str, expected: Instruction) -> None:
    assert assemble(text, syntax="llvm") == (expected,)
    if not text.startswith("call"):  # a lone "call N" reads the same in both syntaxes
        assert assemble(text) == (expected,)


def test_labels_and_calls_to_local_functions() -> None:
    program = assemble(
        """
        r1 = 0
        loop:                       # a label of its own
            r1 += 1
            if r1 < 10 goto loop
        call func
        gotol done
        func: r0 = r1
              exit
        done: exit
        """,
    )
    assert program[2] == I(0xA5, 1, 0, -2, 10)
    assert program[3] == I(0x85, 0, 1, 0, 1)  # pc 3 -> func at pc 5
    assert program[4] == I(0x06, 0, 0, 0, 2)  # pc 4 -> done at pc 7


def test_both_syntaxes_in_one_text() -> None:
    program = assemble(
        """
        mov %r0, 0
        r0 += 1
        jeq %r0, 1, out
        if r0 == 2 goto out
        call -1                     ; ambiguous: follows the majority (uBPF here: helper -1)
        out: exit
        """
    )
    assert program[0] == I(0xB7, 0, 0, 0, 0)
    assert program[1] == I(0x07, 0, 0, 0, 1)
    assert program[2].off == 2 and program[3].off == 1
    assert program[4] == I(0x85, 0, 0, 0, -1)
    llvm_majority = assemble("r0 = 0\nr0 += 1\ncall -1\nexit")
    assert llvm_majority[2] == I(0x85, 0, 1, 0, -1)
