"""``assemble(format_insn(i, syntax=S)) == (i,)`` for every valid encoding, S = ubpf and llvm.

The uBPF syntax (with pybpf's documented extensions) names every valid encoding. The LLVM
syntax is what llvm-objdump-19 prints, and objdump prints every call as ``call IMM`` without
its ``src_reg``; the assembler reads an explicit sign as a bpf-to-bpf call (objdump's
``call -0x1``) and an unsigned number as a helper, so the encodings below cannot come back.
"""

from __future__ import annotations

import pytest
from asm_grid import IMMEDIATES, OFFSETS
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.asm import assemble, disassemble, format_insn
from pybpf.isa import OP_CALL, CallSrc, Instruction, check


def llvm_inexpressible(insn: Instruction) -> str | None:
    """Why the LLVM syntax cannot spell ``insn`` unambiguously, or None when it can."""
    if insn.code != OP_CALL:
        return None
    if insn.src == CallSrc.KFUNC_CALL:
        return "kfunc calls print as 'call IMM' like helper calls (objdump shows no src_reg)"
    if insn.src == CallSrc.PSEUDO_CALL and insn.imm >= 0:
        return "objdump prints a forward bpf-to-bpf call as 'call 0x5', read back as helper 5"
    if insn.src == CallSrc.HELPER and insn.imm < 0:
        return "'call -0x1' is objdump's unrelocated bpf-to-bpf call, read back as src_reg=1"
    return None


def test_every_grid_encoding_round_trips_in_ubpf_syntax(grid: list[Instruction]) -> None:
    failures = []
    for insn in grid:
        text = format_insn(insn, syntax="ubpf")
        if assemble(text, syntax="ubpf") != (insn,):
            failures.append((insn, text))
    assert not failures[:10]
    assert len(grid) > 15_000


@pytest.mark.parametrize("alu32", [True, False])
def test_every_grid_encoding_round_trips_in_llvm_syntax(
    grid: list[Instruction], alu32: bool
) -> None:
    failures = []
    excluded = 0
    for insn in grid:
        if llvm_inexpressible(insn):
            excluded += 1
            continue
        text = format_insn(insn, syntax="llvm", alu32=alu32)
        if assemble(text, syntax="llvm") != (insn,):
            failures.append((insn, text))
    assert not failures[:10]
    assert excluded < 200


def test_auto_syntax_reads_both_outputs(grid: list[Instruction]) -> None:
    sample = [insn for insn in grid[::7] if not llvm_inexpressible(insn)]
    for syntax in ("ubpf", "llvm"):
        assert assemble("\n".join(disassemble(sample, syntax=syntax))) == tuple(sample)


_VALID_CODES = sorted({code for code in range(256) for insn in (
    Instruction(code, imm=i, off=o, src=s) for i in IMMEDIATES for o in (0, 1, 8) for s in (0, 1)
) if check(insn) is None})  # fmt: skip

instructions = st.builds(
    Instruction,
    code=st.sampled_from(_VALID_CODES),
    dst=st.integers(0, 10),
    src=st.one_of(st.just(0), st.integers(0, 10)),
    off=st.one_of(st.just(0), st.sampled_from(OFFSETS), st.integers(-(1 << 15), (1 << 15) - 1)),
    imm=st.one_of(st.just(0), st.sampled_from(IMMEDIATES), st.integers(-(1 << 31), (1 << 31) - 1)),
    next_imm=st.integers(-(1 << 31), (1 << 31) - 1),
).map(lambda i: i if i.is_wide else Instruction(i.code, i.dst, i.src, i.off, i.imm))
valid_instructions = instructions.filter(lambda i: check(i) is None)


@settings(max_examples=400)
@given(valid_instructions)
def test_property_ubpf_round_trip(insn: Instruction) -> None:
    assert assemble(format_insn(insn, syntax="ubpf"), syntax="ubpf") == (insn,)


@settings(max_examples=400)
@given(valid_instructions, st.booleans())
def test_property_llvm_round_trip(insn: Instruction, alu32: bool) -> None:
    if llvm_inexpressible(insn):
        return
    assert assemble(format_insn(insn, syntax="llvm", alu32=alu32), syntax="llvm") == (insn,)


def test_excluded_llvm_encodings_are_only_calls(grid: list[Instruction]) -> None:
    reasons = {llvm_inexpressible(i) for i in grid} - {None}
    assert len(reasons) == 3
    assert all(i.code == OP_CALL for i in grid if llvm_inexpressible(i))
