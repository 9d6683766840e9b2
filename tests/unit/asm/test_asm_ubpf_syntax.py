"""The uBPF / bpf_conformance syntax: the whole conformance suite and each mnemonic family."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from pybpf.asm import assemble, disassemble
from pybpf.isa import Instruction, encode

SUITE = Path(__file__).resolve().parents[2] / "data" / "conformance" / "tests"  # vendored, MIT
CASES = sorted(SUITE.glob("*.data"))
_SECTION = re.compile(r"^-- (.+?)\s*$")


def sections(path: Path) -> dict[str, str]:
    """The ``-- name`` sections of a conformance ``.data`` file."""
    out: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = _SECTION.match(line)
        if match:
            current = match.group(1)
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return {name: "\n".join(lines) for name, lines in out.items()}


def test_suite_is_present() -> None:
    if not CASES:
        pytest.skip(f"conformance suite not found in {SUITE}")
    assert len(CASES) == 313


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_conformance_program_assembles_and_round_trips(path: Path) -> None:
    parts = sections(path)
    program = assemble(parts["asm"])
    assert program
    assert assemble(parts["asm"], syntax="ubpf") == program
    if "raw" in parts:
        words = [int(tok, 16) for tok in parts["raw"].split()]
        assert encode(program) == b"".join(struct.pack("<Q", w) for w in words)
    for syntax in ("ubpf", "llvm"):
        text = "\n".join(disassemble(program, syntax=syntax))
        if syntax == "llvm" and any(i.code == 0x85 and i.src == 1 for i in program):
            continue  # objdump spells forward bpf-to-bpf calls like helper calls
        assert assemble(text, syntax=syntax) == program


def one(text: str) -> Instruction:
    (insn,) = assemble(text, syntax="ubpf")
    return insn


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mov %r0, 1", Instruction(0xB7, 0, 0, 0, 1)),
        ("mov32 %r1, -1", Instruction(0xB4, 1, 0, 0, -1)),
        ("mov32 %r1, 0xffffffff", Instruction(0xB4, 1, 0, 0, -1)),
        ("add64 %r1, %r2", Instruction(0x0F, 1, 2)),
        ("sdiv32 %r1, 3", Instruction(0x34, 1, 0, 1, 3)),
        ("smod %r1, %r2", Instruction(0x9F, 1, 2, 1)),
        ("arsh32 %r1, 0x1f", Instruction(0xC4, 1, 0, 0, 31)),
        ("neg %r3", Instruction(0x87, 3)),
        ("neg32 %r3", Instruction(0x84, 3)),
        ("movsx864 %r6, %r5", Instruction(0xBF, 6, 5, 8)),
        ("movsx1664 %r8, %r7", Instruction(0xBF, 8, 7, 16)),
        ("movsx3264 %r0, %r9", Instruction(0xBF, 0, 9, 32)),
        ("movsx832 %r2, %r1", Instruction(0xBC, 2, 1, 8)),
        ("movsx1632 %r4, %r3", Instruction(0xBC, 4, 3, 16)),
        ("le16 %r0", Instruction(0xD4, 0, 0, 0, 16)),
        ("be64 %r0", Instruction(0xDC, 0, 0, 0, 64)),
        ("bswap32 %r0", Instruction(0xD7, 0, 0, 0, 32)),
        ("swap64 %r0", Instruction(0xD7, 0, 0, 0, 64)),
        ("lddw %r0, 0x1122334455667788", Instruction.wide(0, 0x1122334455667788)),
        ("lddw %r1, -1", Instruction.wide(1, -1)),
        ("lddw %r1, 5, map_fd", Instruction.wide(1, 5, 1)),
        ("lddw %r1, 0x1000000005, map_value", Instruction.wide(1, 0x1000000005, 2)),
        ("ldxb %r0, [%r1+2]", Instruction(0x71, 0, 1, 2)),
        ("ldxdw %r0, [%r1]", Instruction(0x79, 0, 1, 0)),
        ("ldxh %r0, [%r10-2]", Instruction(0x69, 0, 10, -2)),
        ("ldxw %r0, [%r1+0x2]", Instruction(0x61, 0, 1, 2)),
        ("ldxsw %r0, [%r10-4]", Instruction(0x81, 0, 10, -4)),
        ("stb [%r10-1], 0xff", Instruction(0x72, 10, 0, -1, 255)),
        ("stdw [%r1+2], 0x44332211", Instruction(0x7A, 1, 0, 2, 0x44332211)),
        ("stxh [%r1 + 2], %r2", Instruction(0x6B, 1, 2, 2)),
        ("ldabsh 12", Instruction(0x28, 0, 0, 0, 12)),
        ("ldindb %r1, 4", Instruction(0x50, 0, 1, 0, 4)),
        ("lock add [%r10-8], %r1", Instruction(0xDB, 10, 1, -8, 0x00)),
        ("lock and32 [%r10-4], %r1", Instruction(0xC3, 10, 1, -4, 0x50)),
        ("lock fetch xor [%r10-8], %r3", Instruction(0xDB, 10, 3, -8, 0xA1)),
        ("lock fetch or32 [%r10-4], %r3", Instruction(0xC3, 10, 3, -4, 0x41)),
        ("lock xchg [%r10-8], %r1", Instruction(0xDB, 10, 1, -8, 0xE1)),
        ("lock cmpxchg32 [%r10-8], %r1", Instruction(0xC3, 10, 1, -8, 0xF1)),
        ("ldacqdw %r0, [%r1+8]", Instruction(0xDB, 0, 1, 8, 0x100)),
        ("strelb [%r1+0], %r2", Instruction(0xD3, 1, 2, 0, 0x110)),
        ("ja +3", Instruction(0x05, 0, 0, 3)),
        ("ja32 -1", Instruction(0x06, 0, 0, 0, -1)),
        ("jne %r1, %r2, +1", Instruction(0x5D, 1, 2, 1)),
        ("jsle32 %r1, -3, -2", Instruction(0xD6, 1, 0, -2, -3)),
        ("jset %r1, 0x80000000, +1", Instruction(0x45, 1, 0, 1, -(1 << 31))),
        ("may_goto +2", Instruction(0xE5, 0, 0, 2)),
        ("call 5", Instruction(0x85, 0, 0, 0, 5)),
        ("call bpf_map_lookup_elem", Instruction(0x85, 0, 0, 0, 1)),
        ("call ktime_get_ns", Instruction(0x85, 0, 0, 0, 5)),
        ("call %r2", Instruction(0x8D, 2)),
        ("call local +4", Instruction(0x85, 0, 1, 0, 4)),
        ("call runtime 77", Instruction(0x85, 0, 2, 0, 77)),
        ("call runtime 77, 3", Instruction(0x85, 0, 2, 3, 77)),
        ("addr_space_cast %r1, %r2, 1, 0", Instruction(0xBF, 1, 2, 1, 0x10000)),
        ("exit", Instruction(0x95)),
        ("EXIT", Instruction(0x95)),
    ],
)
def test_mnemonics(text: str, expected: Instruction) -> None:
    assert one(text) == expected


def test_labels_comments_and_blank_lines() -> None:
    program = assemble(
        """
        # a comment line
        start: mov %r0, 0      // C++ comment
        lddw %r1, 0x100000000  ; semicolon comment
        jeq %r0, 0, skip
        ja start
        skip:
        fn:
        call local fn
        ja32 start
        exit
        """,
        syntax="ubpf",
    )
    assert [i.code for i in program] == [0xB7, 0x18, 0x15, 0x05, 0x85, 0x06, 0x95]
    assert program[2].off == 1  # pc 3 -> skip at pc 5
    assert program[3].off == -5  # pc 4 -> start at pc 0
    assert program[4].imm == -1 and program[4].src == 1  # call to itself
    assert program[5].imm == -7


def test_exit_names_the_first_exit_unless_defined() -> None:
    program = assemble("jne %r0, 0, exit\nmov %r0, 1\nexit\nexit")
    assert program[0].off == 1
    program = assemble("jne %r0, 0, exit\nexit\nexit:\nexit")
    assert program[0].off == 1


def test_call_name_prefers_a_local_label() -> None:
    program = assemble("call loop\nexit\nloop:\nexit")
    assert program[0] == Instruction(0x85, 0, 1, 0, 1)
    assert assemble("call loop\nexit")[0] == Instruction(0x85, 0, 0, 0, 181)
