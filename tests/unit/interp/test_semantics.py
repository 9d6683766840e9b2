"""Instruction semantics of the reference interpreter, checked against RFC 9669 rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.errors import ExecutionFault, NotSupportedError
from pybpf.interp import Interpreter
from pybpf.isa import Instruction as I
from pybpf.runtime.memory import split_address

M64 = (1 << 64) - 1
EXIT = I(0x95)


def run(*insns: I, mem: bytes | None = None, **kw: object) -> int:
    return Interpreter(**kw).load(list(insns) + [EXIT]).run_mem(mem).retval  # type: ignore[arg-type]


def lddw(dst: int, value: int) -> I:
    return I.wide(dst, value)


u64 = st.integers(0, M64)


def s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def binop(code: int, a: int, b: int, off: int = 0) -> int:
    return run(lddw(0, a), lddw(1, b), I(code, 0, 1, off))


@given(u64, u64)
def test_alu64_add_sub_mul_wrap(a: int, b: int) -> None:
    assert binop(0x0F, a, b) == (a + b) & M64
    assert binop(0x1F, a, b) == (a - b) & M64
    assert binop(0x2F, a, b) == (a * b) & M64


@given(u64, u64)
def test_alu32_ops_zero_extend(a: int, b: int) -> None:
    assert binop(0x0C, a, b) == (a + b) & 0xFFFFFFFF
    assert binop(0x2C, a, b) == (a * b) & 0xFFFFFFFF
    assert binop(0xAC, a, b) == (a ^ b) & 0xFFFFFFFF
    assert binop(0xBC, a, b) == b & 0xFFFFFFFF  # mov32


@given(u64, u64)
def test_unsigned_div_mod_by_register(a: int, b: int) -> None:
    assert binop(0x3F, a, b) == (a // b if b else 0)
    assert binop(0x9F, a, b) == (a % b if b else a)
    a32, b32 = a & 0xFFFFFFFF, b & 0xFFFFFFFF
    assert binop(0x3C, a, b) == (a32 // b32 if b32 else 0)
    # 32-bit modulo by zero keeps the dividend but zero-extends it
    assert binop(0x9C, a, b) == (a32 % b32 if b32 else a32)


@given(u64, u64)
def test_signed_div_mod_truncate_toward_zero(a: int, b: int) -> None:
    sa, sb = s64(a), s64(b)
    q = 0 if sb == 0 else (abs(sa) // abs(sb)) * (-1 if (sa < 0) != (sb < 0) else 1)
    r = sa if sb == 0 else (abs(sa) % abs(sb)) * (-1 if sa < 0 else 1)
    assert binop(0x3F, a, b, off=1) == q & M64
    assert binop(0x9F, a, b, off=1) == r & M64


def test_signed_overflow_cases() -> None:
    int_min = 1 << 63
    assert binop(0x3F, int_min, M64, off=1) == int_min  # INT64_MIN / -1
    assert binop(0x9F, int_min, M64, off=1) == 0
    assert binop(0x3C, 0x80000000, 0xFFFFFFFF, off=1) == 0x80000000
    assert binop(0x9C, 0x80000000, 0xFFFFFFFF, off=1) == 0


@given(u64, st.integers(0, 255))
def test_shifts_mask_the_amount(a: int, n: int) -> None:
    assert binop(0x6F, a, n) == (a << (n & 63)) & M64
    assert binop(0x7F, a, n) == a >> (n & 63)
    assert binop(0xCF, a, n) == (s64(a) >> (n & 63)) & M64
    assert binop(0x6C, a, n) == ((a & 0xFFFFFFFF) << (n & 31)) & 0xFFFFFFFF
    assert binop(0xCC, a, n) == (s32(a) >> (n & 31)) & 0xFFFFFFFF


def test_immediates_sign_extend_for_alu64_not_alu32() -> None:
    assert run(I(0xB7, 0, imm=-1)) == M64
    assert run(I(0xB4, 0, imm=-1)) == 0xFFFFFFFF
    assert run(I(0xB7, 0, imm=0), I(0x47, 0, imm=-2)) == M64 - 1  # or with sign-extended imm


@pytest.mark.parametrize(
    ("off", "wide", "src", "expected"),
    [
        (8, True, 0x80, 0xFFFFFFFFFFFFFF80),
        (16, True, 0x8001, 0xFFFFFFFFFFFF8001),
        (32, True, 0x80000000, 0xFFFFFFFF80000000),
        (8, False, 0x180, 0xFFFFFF80),
        (16, False, 0x7FFF, 0x7FFF),
    ],
)
def test_movsx(off: int, wide: bool, src: int, expected: int) -> None:
    assert run(lddw(1, src), I(0xBF if wide else 0xBC, 0, 1, off)) == expected


@pytest.mark.parametrize(
    ("code", "imm", "expected"),
    [
        (0xDC, 16, 0x8877),  # be16 swaps the low 16 bits
        (0xDC, 32, 0x88776655),
        (0xDC, 64, 0x8877665544332211),
        (0xD4, 16, 0x7788),  # le16 truncates
        (0xD4, 32, 0x55667788),
        (0xD4, 64, 0x1122334455667788),
        (0xD7, 16, 0x8877),  # bswap16 (ALU64)
        (0xD7, 64, 0x8877665544332211),
    ],
)
def test_byte_swaps(code: int, imm: int, expected: int) -> None:
    assert run(lddw(0, 0x1122334455667788), I(code, 0, imm=imm)) == expected


def test_neg() -> None:
    assert run(I(0xB7, 0, imm=5), I(0x87, 0)) == (-5) & M64
    assert run(I(0xB7, 0, imm=5), I(0x84, 0)) == (-5) & 0xFFFFFFFF


@pytest.mark.parametrize(
    ("code", "a", "b", "taken"),
    [
        (0x2D, 1 << 63, 1, True),  # jgt unsigned
        (0x6D, 1 << 63, 1, False),  # jsgt signed: INT_MIN > 1 is false
        (0x2E, 0xFFFFFFFF00000002, 3, False),  # jgt32 compares low halves
        (0x6E, 0x00000000FFFFFFFF, 0, False),  # jsgt32: -1 > 0 false
        (0x4D, 0b1010, 0b0100, False),  # jset
        (0x4D, 0b1010, 0b0010, True),
        (0xCD, M64, 0, True),  # jslt: -1 < 0
        (0xBD, 5, 5, True),  # jle
    ],
)
def test_conditional_jumps(code: int, a: int, b: int, taken: bool) -> None:
    r = run(lddw(1, a), lddw(2, b), I(0xB7, 0, imm=0), I(code, 1, 2, off=1), EXIT, I(0xB7, 0, imm=1))
    assert r == int(taken)


def test_jump_immediate_sign_extends_for_jmp_but_not_jmp32() -> None:
    # jeq r1, 0x80000000 (imm -2**31): 64-bit compares with 0xffffffff80000000
    prog = [lddw(1, 0xFFFFFFFF80000000), I(0xB7, 0, imm=0), I(0x15, 1, imm=-(1 << 31), off=1), EXIT, I(0xB7, 0, imm=1)]
    assert run(*prog) == 1
    prog32 = [lddw(1, 0x80000000), I(0xB7, 0, imm=0), I(0x16, 1, imm=-(1 << 31), off=1), EXIT, I(0xB7, 0, imm=1)]
    assert run(*prog32) == 1


def test_stack_store_load_all_sizes_and_sign_extending_loads() -> None:
    prog = [
        lddw(1, 0x8877665544332211),
        I(0x7B, 10, 1, off=-8),  # *(u64 *)(r10 - 8) = r1
        I(0x91, 0, 10, off=-1),  # r0 = *(s8 *)(r10 - 1) -> 0x88 sign-extended
    ]
    assert run(*prog) == 0xFFFFFFFFFFFFFF88
    assert run(*prog[:2], I(0x69, 0, 10, off=-6)) == 0x4433  # u16
    assert run(I(0x62, 10, off=-4, imm=-1), I(0x61, 0, 10, off=-4)) == 0xFFFFFFFF  # st w


def test_memory_argument_is_read_and_written_in_place() -> None:
    loaded = Interpreter().load([I(0x61, 0, 1), I(0x07, 0, imm=1), I(0x63, 1, 0, off=4), EXIT])
    result = loaded.run_mem(bytes([1, 0, 0, 0, 0, 0, 0, 0]))
    assert result.retval == 2
    assert result.memory == bytes([1, 0, 0, 0, 2, 0, 0, 0])


def test_atomics() -> None:
    base = [I(0x7A, 10, off=-8, imm=10), I(0xB7, 1, imm=3)]
    assert run(*base, I(0xDB, 10, 1, off=-8, imm=0x00), I(0x79, 0, 10, off=-8)) == 13  # add
    assert run(*base, I(0xDB, 10, 1, off=-8, imm=0x01), I(0xBF, 0, 1)) == 10  # fetch_add -> old
    assert run(*base, I(0xDB, 10, 1, off=-8, imm=0xE1), I(0xBF, 0, 1)) == 10  # xchg -> old
    cmpxchg = [*base, I(0xB7, 0, imm=10), I(0xDB, 10, 1, off=-8, imm=0xF1), I(0x79, 0, 10, off=-8)]
    assert run(*cmpxchg) == 3
    # 32-bit fetch zero-extends the old value
    assert run(I(0x62, 10, off=-4, imm=-1), I(0xB7, 1, imm=1), I(0xC3, 10, 1, off=-4, imm=0x41), I(0xBF, 0, 1)) == 0xFFFFFFFF


def test_out_of_bounds_read_carries_pc_text_and_address() -> None:
    loaded = Interpreter().load([I(0xB7, 0, imm=0), I(0x61, 0, 1, off=6), EXIT])
    with pytest.raises(ExecutionFault) as info:
        loaded.run_mem(b"\0" * 8)
    fault = info.value
    assert fault.pc == 1
    assert fault.address is not None and split_address(fault.address)[1] == 6
    assert "offset 6 is outside mem region" in str(fault)
    assert fault.insn  # instruction text for the message


def test_null_and_stack_overflow_accesses_fault() -> None:
    with pytest.raises(ExecutionFault, match="null pointer"):
        run(I(0xB7, 1, imm=0), I(0x79, 0, 1))
    with pytest.raises(ExecutionFault, match="offset 512 is outside stack region"):
        run(I(0x79, 0, 10))  # r0 = *(u64 *)(r10 + 0): past the top of the stack
    with pytest.raises(ExecutionFault, match="offset -8 is outside stack region"):
        run(I(0xBF, 1, 10), I(0x07, 1, imm=-520), I(0x79, 0, 1))


def test_budget_stops_runaway_programs() -> None:
    loaded = Interpreter(budget=1000).load([I(0x05, off=-1), EXIT])
    with pytest.raises(ExecutionFault, match="budget exhausted") as info:
        loaded.run()
    assert info.value.pc == 0


def test_bpf_to_bpf_call_preserves_callee_saved_and_has_own_stack() -> None:
    prog = [
        I(0xB7, 6, imm=7),
        I(0x7A, 10, off=-8, imm=100),  # caller's stack slot
        I(0xB7, 1, imm=5),
        I(0x85, src=1, imm=3),  # call pc 7
        I(0x79, 1, 10, off=-8),
        I(0x0F, 0, 1),
        I(0x0F, 0, 6),
        EXIT,
        # pc 8: callee: r0 = r1 * 2; clobbers r6 and its own stack
        I(0xBF, 0, 1),
        I(0x27, 0, imm=2),
        I(0xB7, 6, imm=0),
        I(0x7A, 10, off=-8, imm=0),
        EXIT,
    ]
    # call at pc 3 with imm 4 -> target pc 8
    prog[3] = I(0x85, src=1, imm=4)
    assert Interpreter().load(prog).run().retval == 10 + 100 + 7


def test_call_depth_limit_is_eight_frames() -> None:
    recurse = [I(0x85, src=1, imm=-1), EXIT]  # calls itself forever
    with pytest.raises(ExecutionFault, match="8 call frames"):
        Interpreter().load(recurse).run()


def test_may_goto_bounds_a_loop() -> None:
    prog = [I(0xB7, 0, imm=0), I(0xE5, off=2), I(0x07, 0, imm=1), I(0x05, off=-3), EXIT]
    assert Interpreter().load(prog).run().retval == 8 * 1024 * 1024


def test_unknown_helper_is_a_clear_error_at_load() -> None:
    with pytest.raises(NotSupportedError, match=r"pc 0: helper #1 \(bpf_map_lookup_elem\)"):
        Interpreter().load([I(0x85, imm=1), EXIT])


def test_helpers_receive_registers_and_state() -> None:
    seen = []

    def helper(state, r1, r2, r3, r4, r5):  # type: ignore[no-untyped-def]
        seen.append((state.pc, r1, r2, r3, r4, r5))
        return r1 + r5

    interp = Interpreter(helpers={99: helper})
    prog = [I(0xB7, i, imm=i * 10) for i in range(1, 6)] + [I(0x85, imm=99), EXIT]
    assert interp.load(prog).run().retval == 60
    assert seen == [(5, 10, 20, 30, 40, 50)]


def test_callx_through_a_function_pointer() -> None:
    prog = [
        I.wide(2, 0, src=4),  # lddw r2, func at pc 0+imm+1 -> patched below
        I(0xB7, 1, imm=21),
        I(0x8D, 2),
        EXIT,
        I(0xBF, 0, 1),
        I(0x27, 0, imm=2),
        EXIT,
    ]
    prog[0] = I(0x18, 2, 4, 0, 4)  # target pc = 0 + 4 + 1 = 5
    assert Interpreter().load(prog).run().retval == 42


def test_writing_r10_is_rejected_when_executed() -> None:
    with pytest.raises(ExecutionFault, match="frame pointer r10 is read only"):
        run(I(0xB7, 10, imm=0))


def test_instruction_count_is_exact() -> None:
    prog = [I(0xB7, 0, imm=0), I(0xB7, 1, imm=10), I(0x0F, 0, 1), I(0x17, 1, imm=1), I(0x55, 1, off=-3), EXIT]
    result = Interpreter().load(prog).run()
    assert result.retval == 55 and result.instructions == 2 + 10 * 3 + 1


def test_tail_calls_replace_the_program_and_stop_after_33() -> None:
    """bpf_tail_call(ctx, map, index): jumps to the target and never returns; past
    MAX_TAIL_CALL_CNT (33) it falls through to the next instruction."""
    interp = Interpreter()
    # target: r0 = *(u64 *)(r1 + 0) + 1, store it back, then tail-call itself again
    target_insns = [
        I(0x79, 2, 1),  # r2 = *(u64 *)(r1 + 0)
        I(0x07, 2, imm=1),
        I(0x7B, 1, 2),  # *(u64 *)(r1 + 0) = r2
        I(0xB7, 2, imm=0),
        I(0xB7, 3, imm=0),
        I(0x85, imm=12),  # tail call (loops until the limit)
        I(0x79, 0, 1),  # fell through: return the counter
        EXIT,
    ]
    target = interp.load(target_insns)
    entry = [I(0xB7, 2, imm=0), I(0xB7, 3, imm=7), I(0x85, imm=12), I(0xB7, 0, imm=99), EXIT]
    main = interp.load(entry)
    calls = []

    def resolve(state, prog_array, index):  # type: ignore[no-untyped-def]
        calls.append(index)
        return target.entry if index in (0, 7) else None

    assert main.state is target.state
    main.state.tail_call_resolver = resolve
    result = main.run_mem(bytes(8))
    # 33 tail calls in all (main -> target, then target -> target 32 times): the target's
    # body ran 33 times; the 34th attempt fell through to the next instruction.
    assert calls[0] == 7 and len(calls) == 33
    assert result.retval == 33
    # An index with no program falls through.
    assert Interpreter().load(entry).run().retval == 99


@given(offs=st.lists(st.tuples(st.sampled_from([0x61, 0x79, 0x63, 0x7B]), st.integers(-8, 16)),
                     min_size=2, max_size=6))
def test_block_checked_once_faults_where_one_access_faults(offs: list[tuple[int, int]]) -> None:
    """Loads and stores through one register in a block are bounds-checked once for the
    block when all of them fit (pybpf.interp.codegen.fused_bases); when one does not, the
    block runs access by access and faults at the first access out of bounds."""
    insns = [I(0xBF, 2, 1)]  # r2 = r1: the accesses go through r2
    for code, off in offs:
        insns.append(I(code, 0, 2, off=off) if code in (0x61, 0x79) else
                     I(code, 2, 0, off=off))  # loads into r0, stores of r0
    mem = bytearray(range(1, 17))
    prog = Interpreter().load([*insns, EXIT])
    size = {0x61: 4, 0x79: 8, 0x63: 4, 0x7B: 8}
    bad = next((i for i, (code, off) in enumerate(offs) if off < 0 or off + size[code] > 16), None)
    if bad is None:
        prog.run_mem(mem)
        return
    with pytest.raises(ExecutionFault) as info:
        prog.run_mem(mem)
    assert info.value.pc == 1 + bad
