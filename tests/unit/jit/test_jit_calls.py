"""Control transfers on the JIT: helpers (and their exceptions), ProgramExit, bpf-to-bpf
calls, the call-depth limit, callx, helper callbacks into compiled code, tail calls between
compiled programs and into interpreter programs, LD_ABS."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

from pybpf.errors import ExecutionFault, NotSupportedError, PybpfError
from pybpf.interp import Interpreter
from pybpf.isa import Instruction as I
from pybpf.jit.runtime import NativeEntry
from pybpf.runtime.execstate import ProgramExit
from pybpf.runtime.helpers import default_helpers

EXIT = I(0x95)
Same = Callable[..., tuple]


def test_helpers_receive_registers_state_and_pc(jit: Callable) -> None:
    seen = []

    def helper(state, r1, r2, r3, r4, r5):  # type: ignore[no-untyped-def]
        seen.append((state.pc, r1, r2, r3, r4, r5))
        return r1 + r5 - 100  # negative results wrap to u64

    prog = [I(0xB7, i, imm=i * 10) for i in range(1, 6)] + [I(0x85, imm=99), EXIT]
    result = jit(helpers={99: helper}).load(prog).run()
    assert result.retval == (60 - 100) & ((1 << 64) - 1)
    assert seen == [(5, 10, 20, 30, 40, 50)]


def test_unknown_helper_and_kfunc_are_errors_at_load(jit: Callable) -> None:
    with pytest.raises(NotSupportedError, match=r"pc 0: helper #1 \(bpf_map_lookup_elem\)"):
        jit().load([I(0x85, imm=1), EXIT])
    with pytest.raises(NotSupportedError, match="kfunc"):
        jit().load([I(0x85, src=2, imm=1), EXIT])
    with pytest.raises(NotSupportedError, match="relocated"):
        jit().load([I(0x18, 1, 1, 0, 3), EXIT])


class HelperBroke(PybpfError):
    pass


def test_helper_exceptions_and_program_exit_surface_unchanged(jit: Callable) -> None:
    def boom(state, *regs):  # type: ignore[no-untyped-def]
        raise HelperBroke("helper failed")

    def stop(state, r1, *regs):  # type: ignore[no-untyped-def]
        raise ProgramExit(r1 + 1)

    def fault(state, r1, *regs):  # type: ignore[no-untyped-def]
        state.memory.load(r1, 8, state.pc)
        return 0

    backend = jit(helpers={1: boom, 2: stop, 3: fault})
    with pytest.raises(HelperBroke, match="helper failed"):
        backend.load([I(0x85, imm=1), EXIT]).run()
    assert backend.load([I(0xB7, 1, imm=41), I(0x85, imm=2), I(0xB7, 0, imm=0), EXIT]).run().retval == 42
    with pytest.raises(ExecutionFault, match="null pointer") as info:
        backend.load([I(0xB7, 1, imm=0), I(0xB7, 0, imm=0), I(0x85, imm=3), EXIT]).run()
    assert info.value.pc == 2
    # the runtime is usable after every kind of unwinding
    assert backend.load([I(0xB7, 0, imm=7), EXIT]).run().retval == 7


def test_bpf_to_bpf_calls_keep_callee_saved_registers_and_own_stacks(same: Same) -> None:
    prog = [
        I(0xB7, 6, imm=7),
        I(0x7A, 10, off=-8, imm=100),
        I(0xB7, 1, imm=5),
        I(0x85, src=1, imm=4),  # call pc 8
        I(0x79, 1, 10, off=-8),
        I(0x0F, 0, 1),
        I(0x0F, 0, 6),
        EXIT,
        I(0xBF, 0, 1),  # pc 8
        I(0x27, 0, imm=2),
        I(0xB7, 6, imm=0),
        I(0x7A, 10, off=-8, imm=0),
        EXIT,
    ]
    assert same(prog)[1] == 117


def test_callee_reads_callers_stack_through_a_pointer(same: Same) -> None:
    prog = [
        I(0x7A, 10, off=-8, imm=1234),
        I(0xBF, 1, 10),
        I(0x07, 1, imm=-8),
        I(0x85, src=1, imm=1),  # call pc 5
        EXIT,
        I(0x79, 0, 1),  # pc 5: r0 = *(u64 *)r1 (the caller's frame)
        I(0x7A, 1, imm=99),  # and write it
        EXIT,
    ]
    assert same(prog)[1] == 1234


def test_call_depth_limit_is_eight_frames(same: Same) -> None:
    outcome = same([I(0x85, src=1, imm=-1), EXIT])
    assert outcome[1] == "ExecutionFault" and "8 call frames" in outcome[2]


def test_callx_through_a_function_pointer_and_to_a_helper_id(same: Same) -> None:
    prog = [I(0x18, 2, 4, 0, 4), I(0xB7, 1, imm=21), I(0x8D, 2), EXIT,
            I(0xBF, 0, 1), I(0x27, 0, imm=2), EXIT]
    assert same(prog)[1] == 42

    def double(state, r1, *regs):  # type: ignore[no-untyped-def]
        return 2 * r1

    assert same([I(0xB7, 2, imm=77), I(0xB7, 1, imm=4), I(0x8D, 2), EXIT], helpers={77: double})[1] == 8
    outcome = same([I(0xB7, 2, imm=78), I(0x8D, 2), EXIT])
    assert outcome[1] == "ExecutionFault" and "neither a function nor a helper" in outcome[2]


def test_bpf_loop_runs_a_compiled_callback(same: Same) -> None:
    prog = [
        I(0x7A, 10, off=-8, imm=0),  # sum = 0
        I(0xB7, 1, imm=10),  # nr_loops
        I(0x18, 2, 4, 0, 10),  # callback at pc 2 + 10 + 1 = 13
        I(0xBF, 3, 10), I(0x07, 3, imm=-8),  # ctx = &sum
        I(0xB7, 4, imm=0),
        I(0x85, imm=181),  # bpf_loop
        I(0x79, 1, 10, off=-8),
        I(0x27, 0, imm=1000),
        I(0x0F, 0, 1),
        EXIT,
        I(0xB7, 0, imm=0),  # padding, pc 12
        I(0x79, 3, 2),  # pc 13: callback(index, ctx): *ctx += index
        I(0x0F, 3, 1),
        I(0x7B, 2, 3),
        I(0xB7, 0, imm=0),
        EXIT,
    ]
    assert same(prog, helpers=default_helpers())[1] == 10 * 1000 + 45


def _loop_program(count: int, flags: int = 0, stop_at: int = -1, callback_pc: int = 13,
                  high: int = 0) -> list[I]:
    """bpf_loop(count, callback, &sum, flags) + 1000 * sum; the callback adds the index to
    sum and stops (returns 1) at index ``stop_at``."""
    return [
        I(0x7A, 10, off=-8, imm=0),  # sum = 0
        I(0x18, 1, 0, 0, count, next_imm=high),  # nr_loops (the helper takes the low 32 bits)
        I(0x18, 2, 4, 0, callback_pc - 4),  # pc 3: the callback at pc 3 + imm + 1
        I(0xBF, 3, 10), I(0x07, 3, imm=-8),  # ctx = &sum
        I(0xB7, 4, imm=flags),
        I(0x85, imm=181),  # bpf_loop
        I(0x79, 1, 10, off=-8),
        I(0x27, 1, imm=1000),
        I(0x0F, 0, 1),
        EXIT,
        I(0x79, 3, 2),  # pc 13: callback(index, ctx): *ctx += index; return index == stop_at
        I(0x0F, 3, 1),
        I(0x7B, 2, 3),
        I(0xB7, 0, imm=0),
        I(0x55, 1, off=1, imm=stop_at),
        I(0xB7, 0, imm=1),
        EXIT,
    ]


@pytest.mark.parametrize(("count", "flags", "stop_at", "high"), [
    (10, 0, -1, 0), (0, 0, -1, 0), (1, 0, 0, 0), (100, 0, 5, 0), (3, 0, -1, 1),
    (5, 1, -1, 0), (8 * 1024 * 1024 + 1, 0, -1, 0), (8 * 1024 * 1024, 0, 2, 0)])
def test_bpf_loop_is_a_native_loop_with_the_helpers_results(
        same: Same, monkeypatch: pytest.MonkeyPatch, count: int, flags: int, stop_at: int,
        high: int) -> None:
    from test_jit_helpers import python_calls

    seen = python_calls(monkeypatch)  # the JIT's calls of Python helpers (not the interpreter's)
    outcome = same(_loop_program(count, flags, stop_at, callback_pc=13, high=high),
                   helpers=default_helpers())
    assert seen == []
    ran = count if stop_at < 0 else min(count, stop_at + 1)
    if flags:
        assert outcome[1] == -errno.EINVAL & (2**64 - 1)
    elif count > 8 * 1024 * 1024:
        assert outcome[1] == -errno.E2BIG & (2**64 - 1)
    else:
        assert outcome[1] == ran + 1000 * sum(range(ran))


def test_bpf_loop_with_no_function_or_too_deep_faults_as_in_the_interpreter(
        same: Same) -> None:
    prog = _loop_program(3, callback_pc=13)
    prog[2] = I(0xB7, 2, imm=12345)  # r2 = 12345 (no function), and a padding slot
    prog.insert(3, I(0xB7, 0, imm=0))
    outcome = same(prog, helpers=default_helpers())
    assert outcome[1] == "ExecutionFault" and "not the address of a BPF function" in outcome[2]
    # a callback calling bpf_loop with itself until the frames run out
    deep = [
        I(0xB7, 1, imm=1), I(0x18, 2, 4, 0, -2),  # the callback is pc 0 itself
        I(0xB7, 3, imm=0), I(0xB7, 4, imm=0), I(0x85, imm=181), EXIT,
    ]
    outcome = same(deep, helpers=default_helpers())
    assert outcome[1] == "ExecutionFault" and "8 call frames" in outcome[2]
    # in the deepest frame even bpf_loop(0, ...) fails: its callback's frame is checked first
    deepest = [
        I(0xB7, 1, imm=6), I(0x85, src=1, imm=1), EXIT,  # f(6): frames 1..7
        I(0x15, 1, off=3, imm=0), I(0x17, 1, imm=1), I(0x85, src=1, imm=-3), EXIT,  # pc 3: f
        I(0xB7, 1, imm=0), I(0x18, 2, 4, 0, 5),  # bpf_loop(0, g) with g at pc 14
        I(0xB7, 3, imm=0), I(0xB7, 4, imm=0), I(0x85, imm=181), EXIT,
        I(0xB7, 0, imm=0), EXIT,  # pc 14: g
    ]
    outcome = same(deepest, helpers=default_helpers())
    assert outcome[1] == "ExecutionFault" and "8 call frames" in outcome[2]


def _tail_target() -> list[I]:
    return [
        I(0x79, 2, 1), I(0x07, 2, imm=1), I(0x7B, 1, 2),  # (*(u64 *)r1)++
        I(0xB7, 2, imm=0), I(0xB7, 3, imm=0), I(0x85, imm=12),  # tail-call itself
        I(0x79, 0, 1), EXIT,  # fell through: the counter
    ]


ENTRY = [I(0xB7, 2, imm=0), I(0xB7, 3, imm=7), I(0x85, imm=12), I(0xB7, 0, imm=99), EXIT]


def test_tail_calls_between_compiled_programs_stop_after_33(jit: Callable) -> None:
    backend = jit()
    target = backend.load(_tail_target())
    main = backend.load(ENTRY)
    calls = []

    def resolve(state, prog_array, index):  # type: ignore[no-untyped-def]
        calls.append(index)
        return target.entry if index in (0, 7) else None

    backend.state.tail_call_resolver = resolve
    result = main.run_mem(bytes(8))
    assert isinstance(target.entry, NativeEntry)
    assert calls[0] == 7 and len(calls) == 33
    assert result.retval == 33
    assert result.instructions == interpreter_count()
    assert jit().load(ENTRY).run().retval == 99  # no resolver: falls through


def interpreter_count() -> int:
    """The interpreter's instruction count for the same tail-call chain."""
    interp = Interpreter()
    target = interp.load(_tail_target())
    main = interp.load(ENTRY)
    interp.state.tail_call_resolver = lambda s, m, i: target.entry if i in (0, 7) else None
    return main.run_mem(bytes(8)).instructions


def test_a_compiled_program_can_tail_call_an_interpreter_program(jit: Callable) -> None:
    backend = jit()
    interp = Interpreter(memory=backend.memory)
    target = interp.load([I(0xB7, 0, imm=5), I(0x27, 0, imm=3), EXIT])
    backend.state.tail_call_resolver = lambda s, m, i: target.entry
    assert backend.load(ENTRY).run().retval == 15


def test_ld_abs_and_ld_ind_on_a_socket_filter(jit: Callable) -> None:
    from pybpf.platform.enums import ProgType
    from pybpf.program.spec import ProgramSpec

    frame = bytes(12) + b"\x08\x00" + b"\x45\x00\x00\x32" + bytes(range(46))
    prog = [
        I(0xBF, 6, 1),
        I(0x30, imm=9),  # r0 = *(u8 *)(skb + 9)
        I(0xBF, 7, 0),
        I(0xB7, 2, imm=2),
        I(0x48, 0, 2, imm=10),  # r0 = *(u16 *)(skb + r2 + 10), big-endian
        I(0x67, 7, imm=16), I(0x0F, 0, 7),
        I(0x20, imm=1000),  # out of bounds: the program ends with 0
        EXIT,
    ]
    results = []
    for backend in (Interpreter(), jit()):
        for insns in (prog[:-2] + [EXIT], prog):
            spec = ProgramSpec.from_instructions(insns, prog_type=ProgType.SOCKET_FILTER)
            r = backend.load(spec).test_run(data=frame)
            results.append((r.retval, r.r0, r.instructions, r.data_out))
    assert results[2:] == results[:2]
    # socket filters see the packet from L3: byte 9 is 5, bytes 12..13 are 08 09
    assert results[0][0] == (5 << 16 | 0x0809) and results[1][0] == 0


def test_program_exit_in_a_callback_unwinds_every_frame(jit: Callable) -> None:
    def stop(state, r1, *regs):  # type: ignore[no-untyped-def]
        raise ProgramExit(r1)

    helpers = {**default_helpers(), 2: stop}
    prog = [
        I(0xB7, 1, imm=3),
        I(0x18, 2, 4, 0, 6),  # callback at pc 1 + 6 + 1 = 8
        I(0xB7, 3, imm=0), I(0xB7, 4, imm=0),
        I(0x85, imm=181),  # bpf_loop
        I(0xB7, 0, imm=1), EXIT,
        I(0x07, 1, imm=40), I(0x85, imm=2), EXIT,  # pc 8: exits the whole program with 40 + i
    ]
    assert jit(helpers=helpers).load(prog).run().retval == 40
    with pytest.raises(ExecutionFault):
        jit(helpers=helpers).load([I(0xB7, 1, imm=3), I(0x18, 2, 4, 0, 5), I(0xB7, 3, imm=0),
                                   I(0xB7, 4, imm=0), I(0x85, imm=181), EXIT,
                                   I(0x79, 0, 0), EXIT]).run()


def test_compiled_code_lives_as_long_as_an_entry_to_it(jit: Callable) -> None:
    import gc

    backend = jit()
    program = backend.load([I(0xBF, 0, 1), I(0x0F, 0, 2), EXIT])
    entry = program.entry
    del program
    gc.collect()
    assert entry(40, 2, 0, 0, 0, 0) == 42
    assert any(f is entry for f in backend.state.functions.values())


def test_a_zero_budget_stops_at_the_first_block(same: Same) -> None:
    outcome = same([I(0xB7, 0, imm=1), EXIT], budget=0)
    assert outcome[1] == "ExecutionFault" and "budget" in outcome[2]
