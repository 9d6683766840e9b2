"""Encode/decode of instructions: exact round trips and clear errors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.errors import DecodeError
from pybpf.isa import OP_LDDW, Instruction, check, decode, encode, pcs


def raw(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


slots = st.builds(
    Instruction,
    code=st.integers(0, 255).filter(lambda c: c != OP_LDDW),
    dst=st.integers(0, 15),
    src=st.integers(0, 15),
    off=st.integers(-(1 << 15), (1 << 15) - 1),
    imm=st.integers(-(1 << 31), (1 << 31) - 1),
)


@given(slots)
def test_any_slot_round_trips_through_bytes(insn: Instruction) -> None:
    data = insn.to_bytes()
    assert len(data) == 8
    assert Instruction.from_bytes(data) == insn


@given(st.integers(0, 10), st.integers(0, (1 << 64) - 1), st.sampled_from([0, 1, 2, 3, 4, 5, 6]))
def test_lddw_round_trips_with_its_64_bit_immediate(dst: int, value: int, src: int) -> None:
    insn = Instruction.wide(dst, value, src)
    assert insn.imm64 == value
    data = insn.to_bytes()
    assert len(data) == 16 and data[8:12] == b"\0\0\0\0"
    assert decode(data) == (insn,)


def test_field_layout_matches_struct_bpf_insn() -> None:
    # r3 = *(u32 *)(r7 - 4): code 0x61, dst 3, src 7, off -4
    insn = Instruction(0x61, dst=3, src=7, off=-4)
    assert insn.to_bytes() == bytes([0x61, 0x73, 0xFC, 0xFF, 0, 0, 0, 0])


def test_pcs_count_lddw_as_two_slots() -> None:
    prog = decode(raw(0xB7, 0, imm=1) + Instruction.wide(1, 5).to_bytes() + raw(0x95))
    assert pcs(prog) == [0, 1, 3]
    assert encode(prog) == raw(0xB7, 0, imm=1) + Instruction.wide(1, 5).to_bytes() + raw(0x95)


def test_truncated_program_names_the_offset() -> None:
    with pytest.raises(DecodeError, match=r"byte offset 8: .*not a multiple of 8"):
        decode(raw(0xB7) + b"\x95\0\0")


def test_lddw_without_second_slot() -> None:
    with pytest.raises(DecodeError, match="byte offset 8: lddw is missing its second"):
        decode(raw(0xB7) + raw(OP_LDDW, 1))


def test_lddw_with_bad_second_slot() -> None:
    with pytest.raises(DecodeError, match="byte offset 16: second slot of lddw"):
        decode(raw(0xB7) + raw(OP_LDDW, 1) + raw(0x07, 1))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (raw(0xFF), "unknown"),  # class ALU64, op 0xf0
        (raw(0xB7, 11), "invalid destination register r11"),
        (raw(0x0F, 1, 12), "invalid source register r12"),
        (raw(0x07, 1, 1, imm=1), "reserved src"),
        (raw(0xD4, 1, imm=17), "byte swap width"),
        (raw(0x3F, 1, 2, off=2), "invalid offset 2"),
        (raw(0x95, imm=1), "exit uses reserved"),
        (raw(0xDB, 1, 2, imm=0x99), "unknown atomic operation"),
        (raw(0x38, 1), "unknown load opcode"),
        (raw(0x86), "call is not valid in the jmp32 class"),
    ],
)
def test_invalid_encodings_are_decode_errors(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason) as info:
        decode(raw(0xB7) + data)
    assert "byte offset 8" in str(info.value)
    assert info.value.pc == 1


def test_non_strict_decode_keeps_raw_fields_for_the_verifier() -> None:
    (insn,) = decode(raw(0xB7, 11), strict=False)
    assert insn.dst == 11 and check(insn) is not None


@pytest.mark.parametrize(
    "insn",
    [
        Instruction(0xBF, 1, 2, off=8),  # movsx r1, (s8)r2
        Instruction(0xBC, 1, 2, off=16),  # movsx w1, (s16)w2
        Instruction(0x3F, 1, 2, off=1),  # sdiv
        Instruction(0x97, 1, 0, off=1, imm=3),  # smod imm
        Instruction(0xD7, 1, imm=64),  # bswap64
        Instruction(0x06, imm=-5),  # gotol
        Instruction(0xE5, off=3),  # may_goto
        Instruction(0x85, src=2, imm=1234, off=1),  # kfunc call from module BTF
        Instruction(0x8D, dst=2),  # callx
        Instruction(0x91, 1, 2, off=-1),  # ldxsb
        Instruction(0xDB, 1, 2, imm=0xF1),  # cmpxchg64
        Instruction(0xC3, 1, 2, imm=0xE1),  # xchg32
        Instruction(0x20, imm=12),  # ld_abs w
        Instruction(0x48, src=3, imm=2),  # ld_ind h
    ],
)
def test_linux_extensions_are_valid(insn: Instruction) -> None:
    assert check(insn) is None, check(insn)
