"""Instruction semantics on the JIT, each checked against the reference interpreter
(``same``: identical r0, instruction count and memory, or the identical fault)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import ExecutionFault
from pybpf.isa import Instruction as I
from pybpf.runtime.memory import split_address

M64 = (1 << 64) - 1
EXIT = I(0x95)
u64 = st.integers(0, M64)
EDGES = st.sampled_from([0, 1, 2, 31, 32, 63, 64, M64, 1 << 63, (1 << 63) - 1, 0xFFFFFFFF,
                         0x80000000, 0x7FFFFFFF, 1 << 32, M64 - 1, 0xFFFFFFFF80000000])
values = st.one_of(u64, EDGES)

Same = Callable[..., tuple]

ALU_REG_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xA0, 0xC0]


def binop_prog(code: int, a: int, b: int, off: int = 0) -> list[I]:
    return [I.wide(0, a), I.wide(1, b), I(code, 0, 1, off), EXIT]


@settings(max_examples=40, deadline=None)
@given(a=values, b=values, op=st.sampled_from(ALU_REG_OPS), wide=st.booleans())
def test_alu_register_forms(same: Same, a: int, b: int, op: int, wide: bool) -> None:
    same(binop_prog((0x07 if wide else 0x04) | 0x08 | op, a, b))


@settings(max_examples=40, deadline=None)
@given(a=values, imm=st.integers(-(1 << 31), (1 << 31) - 1) | st.sampled_from([0, -1, 1, 31, 63]),
       op=st.sampled_from(ALU_REG_OPS), wide=st.booleans())
def test_alu_immediate_forms(same: Same, a: int, imm: int, op: int, wide: bool) -> None:
    same([I.wide(0, a), I((0x07 if wide else 0x04) | op, 0, imm=imm), EXIT])


@settings(max_examples=40, deadline=None)
@given(a=values, b=values, op=st.sampled_from([0x30, 0x90]), wide=st.booleans(), reg=st.booleans())
def test_signed_division_and_modulo(same: Same, a: int, b: int, op: int, wide: bool, reg: bool) -> None:
    cls = 0x07 if wide else 0x04
    if reg:
        same(binop_prog(cls | 0x08 | op, a, b, off=1))
    else:
        imm = ((b & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
        same([I.wide(0, a), I(cls | op, 0, imm=imm, off=1), EXIT])


def test_division_edge_cases(same: Same) -> None:
    int_min = 1 << 63
    assert same(binop_prog(0x3F, int_min, M64, off=1))[1] == int_min
    assert same(binop_prog(0x9F, int_min, M64, off=1))[1] == 0
    assert same(binop_prog(0x3C, 0x80000000, 0xFFFFFFFF, off=1))[1] == 0x80000000
    assert same(binop_prog(0x9C, 0x80000000, 0xFFFFFFFF, off=1))[1] == 0
    assert same(binop_prog(0x9C, 0x1234567887654321, 0, off=1))[1] == 0x87654321
    assert same(binop_prog(0x9C, 0x1234567887654321, 0))[1] == 0x87654321
    assert same(binop_prog(0x9F, 0x1234567887654321, 0))[1] == 0x1234567887654321
    assert same(binop_prog(0x3F, 5, 0))[1] == 0
    assert same([I.wide(0, int_min), I(0x37, 0, imm=-1, off=1), EXIT])[1] == int_min
    assert same([I.wide(0, 7), I(0x97, 0, imm=-1, off=1), EXIT])[1] == 0


@pytest.mark.parametrize(("off", "wide"), [(8, True), (16, True), (32, True), (8, False), (16, False),
                                           (0, True), (0, False)])
@pytest.mark.parametrize("src", [0x80, 0x8001, 0x80000000, 0x7F, 0xFFFFFFFFFFFFFFFF, 0x123456789A])
def test_mov_and_movsx(same: Same, off: int, wide: bool, src: int) -> None:
    same([I.wide(1, src), I(0xBF if wide else 0xBC, 0, 1, off), EXIT])


@pytest.mark.parametrize(("code", "imm"), [(c, w) for c in (0xD4, 0xDC, 0xD7) for w in (16, 32, 64)])
def test_byte_swaps(same: Same, code: int, imm: int) -> None:
    same([I.wide(0, 0x1122334455667788), I(code, 0, imm=imm), EXIT])


def test_neg_and_immediate_moves(same: Same) -> None:
    same([I(0xB7, 0, imm=5), I(0x87, 0), EXIT])
    same([I(0xB7, 0, imm=5), I(0x84, 0), EXIT])
    same([I(0xB7, 0, imm=-1), EXIT])
    same([I(0xB4, 0, imm=-1), EXIT])


JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0]


@settings(max_examples=60, deadline=None)
@given(a=values, b=values, op=st.sampled_from(JMP_OPS), is32=st.booleans(), reg=st.booleans(),
       imm=st.integers(-(1 << 31), (1 << 31) - 1))
def test_conditional_jumps(same: Same, a: int, b: int, op: int, is32: bool, reg: bool, imm: int) -> None:
    cls = 0x06 if is32 else 0x05
    jump = I(cls | op | 0x08, 1, 2, off=1) if reg else I(cls | op, 1, imm=imm, off=1)
    same([I.wide(1, a), I.wide(2, b), I(0xB7, 0, imm=0), jump, EXIT, I(0xB7, 0, imm=1), EXIT])


def test_gotol_and_ja(same: Same) -> None:
    same([I(0xB7, 0, imm=1), I(0x06, imm=1), I(0xB7, 0, imm=2), EXIT])
    same([I(0xB7, 0, imm=1), I(0x05, off=1), I(0xB7, 0, imm=2), EXIT])


def test_loads_and_stores_of_every_size_on_the_stack_and_in_memory(same: Same) -> None:
    mem = bytes(range(1, 33))
    for size_code, width in ((0x18, 8), (0x00, 4), (0x08, 2), (0x10, 1)):
        # stack: store imm, store reg, load back, signed load
        same([I.wide(1, 0x8877665544332211), I(0x63 | size_code, 10, 1, off=-16),
              I(0x62 | size_code, 10, off=-8, imm=-3), I(0x61 | size_code, 0, 10, off=-16),
              I(0x61 | size_code, 2, 10, off=-8), I(0x0F, 0, 2), EXIT])
        # the input buffer through r1, in place
        same([I(0x61 | size_code, 0, 1, off=3), I(0x07, 0, imm=1), I(0x63 | size_code, 1, 0, off=8),
              I(0x62 | size_code, 1, off=16, imm=-2), EXIT], mem)
        if width < 8:
            same([I(0x81 | size_code, 0, 1, off=31 - width + 1), EXIT], bytes(range(200, 232)))


def test_memory_is_written_in_place_and_reported(same: Same) -> None:
    ok = same([I(0x61, 0, 1), I(0x07, 0, imm=1), I(0x63, 1, 0, off=4), EXIT], bytes([1, 0, 0, 0] + [0] * 4))
    assert ok == ("ok", 2, 4, bytes([1, 0, 0, 0, 2, 0, 0, 0]))


@pytest.mark.parametrize("prog", [
    [I(0xB7, 0, imm=0), I(0x61, 0, 1, off=6), EXIT],  # read past the end of mem
    [I(0x62, 1, off=-1, imm=1), EXIT],  # write before the start of mem
    [I(0xB7, 1, imm=0), I(0x79, 0, 1), EXIT],  # null pointer
    [I(0x79, 0, 10), EXIT],  # r0 = *(u64 *)(r10 + 0): past the top of the stack
    [I(0xBF, 1, 10), I(0x07, 1, imm=-520), I(0x79, 0, 1), EXIT],  # below the stack
    [I(0x79, 0, 10, off=-516), EXIT],  # constant offset below the stack
    [I.wide(1, 0xFFFF888000000000 + (500 << 32)), I(0x7A, 1, imm=1), EXIT],  # unmapped region
    [I(0xB7, 10, imm=0), EXIT],  # writes the frame pointer
    [I(0xB7, 0, imm=1)],  # falls off the end
])
def test_faults_are_the_interpreters(same: Same, prog: list[I]) -> None:
    outcome = same(prog, bytes(8))
    assert outcome[0] == "error" and outcome[1] == "ExecutionFault"


def test_fault_carries_pc_text_and_address(jit: Callable) -> None:
    loaded = jit().load([I(0xB7, 0, imm=0), I(0x61, 0, 1, off=6), EXIT])
    with pytest.raises(ExecutionFault) as info:
        loaded.run_mem(b"\0" * 8)
    fault = info.value
    assert fault.pc == 1 and fault.insn
    assert fault.address is not None and split_address(fault.address)[1] == 6
    assert "offset 6 is outside mem region" in str(fault)


def test_atomics(same: Same) -> None:
    base = [I(0x7A, 10, off=-8, imm=10), I(0xB7, 1, imm=3)]
    for imm in (0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1):
        for size in (0xDB, 0xC3):
            same([*base, I(size, 10, 1, off=-8, imm=imm), I(0x79, 0, 10, off=-8), I(0x0F, 0, 1), EXIT])
    for expected in (10, 11):
        same([*base, I(0xB7, 0, imm=expected), I(0xDB, 10, 1, off=-8, imm=0xF1),
              I(0x79, 2, 10, off=-8), I(0x27, 0, imm=1000), I(0x0F, 0, 2), EXIT])
    same([I(0x62, 10, off=-4, imm=-1), I(0xB7, 1, imm=1), I(0xC3, 10, 1, off=-4, imm=0x41), I(0xBF, 0, 1), EXIT])


def test_atomics_on_memory_misaligned_and_out_of_bounds(same: Same) -> None:
    mem = bytes(range(16))
    same([I(0xB7, 2, imm=5), I(0xDB, 1, 2, off=3, imm=0x01), I(0xBF, 0, 2), EXIT], mem)  # misaligned
    same([I(0xB7, 2, imm=5), I(0xDB, 1, 2, off=8, imm=0xE1), I(0xBF, 0, 2), EXIT], mem)
    same([I(0xB7, 2, imm=5), I(0xDB, 1, 2, off=12, imm=0x00), EXIT], mem)  # crosses the end
    for expected in (0x03020100, 0x1_03020100, 7):  # 32-bit cmpxchg compares the low half of r0
        same([I.wide(0, expected), I(0xB7, 2, imm=9), I(0xC3, 1, 2, imm=0xF1),
              I(0x61, 3, 1), I(0x27, 3, imm=1000), I(0x0F, 0, 3), EXIT], mem)


def test_load_acquire_and_store_release(same: Same) -> None:
    same([I(0x7A, 10, off=-8, imm=77), I(0xDB, 0, 10, off=-8, imm=0x100), EXIT])
    same([I(0xB7, 1, imm=5), I(0xDB, 10, 1, off=-8, imm=0x110), I(0x79, 0, 10, off=-8), EXIT])


def test_budget_stops_runaway_programs_at_the_same_pc(same: Same) -> None:
    outcome = same([I(0x05, off=-1), EXIT], budget=1000)
    assert outcome[1] == "ExecutionFault" and outcome[3] == 0 and "budget" in outcome[2]


def test_instruction_count_is_exact(same: Same) -> None:
    prog = [I(0xB7, 0, imm=0), I(0xB7, 1, imm=10), I(0x0F, 0, 1), I(0x17, 1, imm=1),
            I(0x55, 1, off=-3), EXIT]
    assert same(prog)[1:3] == (55, 2 + 10 * 3 + 1)


def test_without_a_budget_nothing_is_counted(jit: Callable) -> None:
    prog = [I(0xB7, 0, imm=0), I(0xB7, 1, imm=10), I(0x0F, 0, 1), I(0x17, 1, imm=1),
            I(0x55, 1, off=-3), EXIT]
    result = jit(budget=None).load(prog).run()
    assert (result.retval, result.instructions) == (55, 0)


def test_may_goto_bounds_a_loop_per_frame(same: Same) -> None:
    prog = [I(0xB7, 0, imm=0), I(0xE5, off=2), I(0x07, 0, imm=1), I(0x05, off=-3), EXIT]
    assert same(prog, budget=100_000_000)[1] == 8 * 1024 * 1024


def test_unchecked_mode_gives_the_same_results_for_valid_programs(jit: Callable) -> None:
    prog = [I(0x61, 0, 1), I(0x07, 0, imm=1), I(0x63, 1, 0, off=4), EXIT]
    result = jit(checked=False).load(prog).run_mem(bytes([41, 0, 0, 0, 0, 0, 0, 0]))
    assert (result.retval, result.memory) == (42, bytes([41, 0, 0, 0, 42, 0, 0, 0]))
