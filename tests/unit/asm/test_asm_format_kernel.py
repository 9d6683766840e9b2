"""The "kernel" syntax: the text of print_bpf_insn() in kernel/bpf/disasm.c."""

from __future__ import annotations

import pytest

from pybpf.asm import disassemble, format_insn
from pybpf.isa import Instruction

I = Instruction

CASES = [
    (I(0xB7, 0, 0, 0, 2), "(b7) r0 = 2"),
    (I(0xB4, 1, 0, 0, -1), "(b4) w1 = -1"),
    (I(0xBF, 6, 1), "(bf) r6 = r1"),
    (I(0x07, 10, 0, 0, -8), "(07) r10 += -8"),
    (I(0x61, 2, 1, 4), "(61) r2 = *(u32 *)(r1 +4)"),
    (I(0x79, 0, 10, -16), "(79) r0 = *(u64 *)(r10 -16)"),
    (I(0x81, 0, 1, 0), "(81) r0 = *(s32 *)(r1 +0)"),
    (I(0x91, 3, 1, 2), "(91) r3 = *(s8 *)(r1 +2)"),
    (I(0x7B, 10, 1, -8), "(7b) *(u64 *)(r10 -8) = r1"),
    (I(0x62, 10, 0, -4, 7), "(62) *(u32 *)(r10 -4) = 7"),
    (I(0x85, 0, 0, 0, 1), "(85) call bpf_map_lookup_elem#1"),
    (I(0x85, 0, 0, 0, 211), "(85) call bpf_cgrp_storage_delete#211"),
    (I(0x85, 0, 0, 0, 999), "(85) call unknown#999"),
    (I(0x85, 0, 1, 0, 5), "(85) call pc+5"),
    (I(0x85, 0, 1, 0, -3), "(85) call pc-3"),
    (I(0x85, 0, 2, 0, 1234), "(85) call kernel-function#1234"),
    (I(0x8D, 2), "(8d) call bpf_unspec#0"),
    (I(0x15, 0, 0, 3, 0), "(15) if r0 == 0x0 goto pc+3"),
    (I(0x16, 1, 0, 3, -1), "(16) if w1 == 0xffffffff goto pc+3"),
    (I(0x5D, 1, 2, -5), "(5d) if r1 != r2 goto pc-5"),
    (I(0xCE, 1, 2, 0), "(ce) if w1 s< w2 goto pc+0"),
    (I(0x05, 0, 0, -1), "(05) goto pc-1"),
    (I(0x06, 0, 0, 0, 70000), "(06) gotol pc+70000"),
    (I(0xE5, 0, 0, 2), "(e5) may_goto pc+2"),
    (I(0x95), "(95) exit"),
    (Instruction.wide(1, 0x1122334455667788), "(18) r1 = 0x1122334455667788"),
    (Instruction.wide(1, 5, 1), "(18) r1 = 0x5"),
    (I(0xC3, 1, 2, 0, 0x00), "(c3) lock *(u32 *)(r1 +0) += r2"),
    (I(0xDB, 1, 2, 8, 0x40), "(db) lock *(u64 *)(r1 +8) |= r2"),
    (I(0xDB, 1, 2, 0, 0x01), "(db) r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)"),
    (I(0xC3, 1, 2, 0, 0xA1), "(c3) r2 = atomic_fetch_xor((u32 *)(r1 +0), r2)"),
    (I(0xC3, 1, 2, 8, 0xF1), "(c3) r0 = atomic_cmpxchg((u32 *)(r1 +8), r0, r2)"),
    (I(0xDB, 10, 3, -16, 0xE1), "(db) r3 = atomic64_xchg((u64 *)(r10 -16), r3)"),
    (I(0xDB, 0, 1, 0, 0x100), "(db) r0 = load_acquire((u64 *)(r1 +0))"),
    (I(0xD3, 1, 2, 0, 0x110), "(d3) store_release((u8 *)(r1 +0), r2)"),
    (I(0xDC, 1, 0, 0, 16), "(dc) r1 = be16 r1"),
    (I(0xD4, 1, 0, 0, 32), "(d4) r1 = le32 r1"),
    (I(0xD7, 1, 0, 0, 64), "(d7) r1 = bswap64 r1"),
    (I(0x87, 0), "(87) r0 = -r0"),
    (I(0x84, 0), "(84) w0 = -w0"),
    (I(0xBF, 1, 2, 8), "(bf) r1 = (s8)r2"),
    (I(0xBC, 1, 2, 16), "(bc) w1 = (s16)w2"),
    (I(0xBF, 1, 2, 32), "(bf) r1 = (s32)r2"),
    (I(0x3F, 1, 2, 1), "(3f) r1 s/= r2"),
    (I(0x97, 1, 0, 1, 3), "(97) r1 s%= 3"),
    (I(0xC7, 1, 0, 0, 3), "(c7) r1 s>>= 3"),
    (I(0xBF, 1, 2, 1, 1), "(bf) r1 = addr_space_cast(r2, 0, 1)"),
    (I(0x30, 0, 0, 0, 12), "(30) r0 = *(u8 *)skb[12]"),
    (I(0x48, 0, 1, 0, 4), "(48) r0 = *(u16 *)skb[r1 + 4]"),
    # Encodings the kernel rejects print what print_bpf_insn() prints for them.
    (I(0x00), "BUG_ld_00"),
    (I(0xC2), "(c2) nospec"),
    (I(0xE1, 1, 2), "BUG_ldx_e1"),
]


@pytest.mark.parametrize(("insn", "text"), CASES, ids=[t for _, t in CASES])
def test_kernel_text(insn: Instruction, text: str) -> None:
    assert format_insn(insn, syntax="kernel") == text


def test_verifier_log_prefixes_the_pc() -> None:
    program = [I(0xB7, 0, 0, 0, 2), Instruction.wide(1, 7), I(0x95)]
    assert disassemble(program, syntax="kernel", with_pc=True) == [
        "0: (b7) r0 = 2",
        "1: (18) r1 = 0x7",
        "3: (95) exit",
    ]
    assert format_insn(program[0], syntax="kernel", pc=12) == "12: (b7) r0 = 2"


def test_unknown_syntax_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown syntax"):
        format_insn(I(0x95), syntax="intel")
