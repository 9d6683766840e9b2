"""Helpers done natively (bpf_ktime_get_ns on the host clock, bpf_get_prandom_u32,
bpf_get_smp_processor_id, bpf_csum_diff, the ring buffer's reserve/submit/discard) against
the interpreter, and their fall-backs to the Python helper (other clocks, no PRNG state yet,
unreadable buffers, records that are not reserved, custom helpers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.asm import assemble
from pybpf.errors import PybpfError
from pybpf.interp import Interpreter
from pybpf.jit import runtime as jit_runtime
from pybpf.runtime.helpers import HostClock, ManualClock, Prandom, default_helpers


def load(backend: Any, text: str) -> Any:
    return backend.load(assemble(text, syntax="llvm"))


def spy_on(monkeypatch: Any, method: str) -> list[int]:
    """The second argument of every ``NativeRuntime.<method>`` call from now on (the helper
    id of ``_helper``, the operation of ``_dispatch``)."""
    seen: list[int] = []
    original = getattr(jit_runtime.NativeRuntime, method)

    def spy(self: Any, first: int, second: int, *rest: int) -> int:
        seen.append(second)
        return original(self, first, second, *rest)

    monkeypatch.setattr(jit_runtime.NativeRuntime, method, spy)
    return seen


def python_calls(monkeypatch: Any) -> list[int]:
    """Helper ids the JIT hands to Python from now on."""
    return spy_on(monkeypatch, "_helper")


def test_ktime_reads_the_host_clock_natively(jit: Callable, monkeypatch: Any) -> None:
    backend = jit(helpers=default_helpers())
    prog = load(backend, "call 5\nexit")
    backend.state.clock = HostClock()
    seen = python_calls(monkeypatch)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    value = prog.run().retval
    assert before <= value <= time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert seen == []


@pytest.mark.parametrize(("helper", "clock"), [(125, time.CLOCK_BOOTTIME),
                                               (160, 6),  # CLOCK_MONOTONIC_COARSE
                                               (208, time.CLOCK_TAI)])
def test_the_other_host_clocks_are_read_natively(jit: Callable, monkeypatch: Any, helper: int,
                                                 clock: int) -> None:
    backend = jit(helpers=default_helpers())
    prog = load(backend, f"call {helper}\nexit")
    backend.state.clock = HostClock()
    seen = python_calls(monkeypatch)
    before = time.clock_gettime_ns(clock)
    value = prog.run().retval
    assert before <= value <= time.clock_gettime_ns(clock)
    assert seen == []


def test_other_clocks_are_asked_through_python(jit: Callable) -> None:
    results = []
    for backend in (Interpreter(helpers=default_helpers()), jit(helpers=default_helpers())):
        backend.state.clock = ManualClock(now_ns=5_000, step_ns=7)
        prog = load(backend, "call 5\nr6 = r0\ncall 5\nr0 -= r6\nr0 <<= 32\nr0 += r6\nexit")
        results.append([prog.run().retval for _ in range(3)])
        prog = load(backend, "call 125\nr6 = r0\ncall 208\nr0 -= r6\nexit")
        results.append([prog.run().retval for _ in range(2)])
    assert results[2:] == results[:2]
    assert results[0] == [(7 << 32) + 5_000 + 14 * i for i in range(3)]


def test_no_clock_installs_the_host_clock_as_python_does(jit: Callable) -> None:
    backend = jit(helpers=default_helpers())
    prog = load(backend, "call 5\nexit")
    assert backend.state.clock is None
    prog.run()
    assert isinstance(backend.state.clock, HostClock)


def test_prandom_steps_the_states_generator(jit: Callable, monkeypatch: Any) -> None:
    text = "call 7\nr6 = r0\ncall 7\nr0 <<= 32\nr0 |= r6\nexit"
    results = []
    for backend in (Interpreter(helpers=default_helpers()), jit(helpers=default_helpers())):
        backend.state.prandom = Prandom.seeded(1234)
        prog = load(backend, text)
        results.append(([prog.run().retval for _ in range(4)], backend.state.prandom))
    assert results[1] == results[0]
    seen = python_calls(monkeypatch)
    backend = jit(helpers=default_helpers())
    prog = load(backend, text)
    prog.run()  # no state yet: Python installs one
    assert isinstance(backend.state.prandom, Prandom) and seen
    seen.clear()
    prog.run()
    assert seen == []


def test_smp_processor_id_is_the_states_cpu(jit: Callable) -> None:
    backend = jit(helpers=default_helpers())
    prog = load(backend, "call 8\nexit")
    backend.state.cpu = 1
    assert prog.run().retval == 1


CSUM = """
    r6 = r1
    r3 = r1
    r3 += {to}
    r2 = {from_size}
    r4 = {to_size}
    r5 = {seed} ll
    r1 = r6
    r1 += {frm}
    call 28
    exit
"""


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=64, max_size=64),
       frm=st.integers(0, 70), from_size=st.sampled_from([0, 4, 8, 12, 20, 40, 3, 7]),
       to=st.integers(0, 70), to_size=st.sampled_from([0, 4, 8, 16, 28, 2, 5]),
       seed=st.sampled_from([0, 1, 0xFFFFFFFF, 0x1234567890, (1 << 64) - 1]))
def test_csum_diff_matches_the_interpreter(jit: Callable, data: bytes, frm: int,
                                           from_size: int, to: int, to_size: int,
                                           seed: int) -> None:
    text = CSUM.format(frm=frm, from_size=from_size, to=to, to_size=to_size, seed=seed)
    outcomes = []
    for backend in (Interpreter(helpers=default_helpers()), jit(helpers=default_helpers())):
        try:
            outcomes.append(("ok", load(backend, text).run_mem(data).retval))
        except PybpfError as exc:  # a buffer past the end of mem faults in both
            outcomes.append(("error", str(exc)))
    assert outcomes[1] == outcomes[0]


def test_custom_helpers_are_called(jit: Callable) -> None:
    helpers = {**default_helpers(), 5: lambda *regs: 99, 8: lambda *regs: 98}
    backend = jit(helpers=helpers)
    assert load(backend, "call 5\nr6 = r0\ncall 8\nr0 += r6\nexit").run().retval == 197


RINGBUF = """
    r1 = {rb} ll
    r2 = {size}
    r3 = {flags}
    call 131
    if r0 == 0 goto out
    r6 = r0
    *(u32 *)(r6 + 0) = {tag}
    r1 = r6
    r2 = 0
    call {commit}
    r0 = r6
    r0 &= 4095
out:
    exit
"""


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(4, 700), st.sampled_from([132, 133]),
                                st.sampled_from([0, 0, 0, 1]), st.booleans()),
                      min_size=1, max_size=30))
def test_ringbuf_reserve_and_commit_natively(jit: Callable, steps: list[Any]) -> None:
    """Reserve, fill and submit or discard records until the ring is full (NULL), with the
    consumer reading now and then: the records, positions and return values are the
    interpreter's, and the JIT calls no Python helper for them."""
    from pybpf.platform.enums import MapType
    from pybpf.program.spec import MapSpec
    from pybpf.runtime.maps import create_map

    outcomes = []
    for backend in (Interpreter(helpers=default_helpers()), jit(helpers=default_helpers())):
        rb = create_map(MapSpec("rb", MapType.RINGBUF, 0, 0, 4096), backend.memory, ncpus=1)
        runs = []
        for tag, (size, commit, flags, consume) in enumerate(steps):
            text = RINGBUF.format(rb=rb.address, size=size, flags=flags, tag=tag,
                                  commit=commit)
            runs.append(load(backend, text).run().retval)
            if consume:
                runs.append(rb.consume())
        outcomes.append((runs, rb.consumer_pos, rb.producer_pos, rb.pending_pos,
                         rb.consume()))
    assert outcomes[1] == outcomes[0]


def test_ringbuf_helpers_stay_native(jit: Callable, monkeypatch: Any) -> None:
    from pybpf.platform.enums import MapType
    from pybpf.program.spec import MapSpec
    from pybpf.runtime.maps import create_map

    backend = jit(helpers=default_helpers())
    rb = create_map(MapSpec("rb", MapType.RINGBUF, 0, 0, 4096), backend.memory, ncpus=1)
    progs = [load(backend, RINGBUF.format(rb=rb.address, size=16, flags=0, tag=7, commit=c))
             for c in (132, 133)]
    seen = python_calls(monkeypatch)
    assert all(p.run().retval for p in progs)
    assert seen == []
    assert len(rb.consume()) == 1


def test_ringbuf_commit_of_a_committed_record_faults_as_in_python(jit: Callable) -> None:
    from pybpf.platform.enums import MapType
    from pybpf.program.spec import MapSpec
    from pybpf.runtime.maps import create_map

    text = RINGBUF.replace("    r0 = r6\n", "    r1 = r6\n    r2 = 0\n    call 132\n    r0 = r6\n")
    messages = []
    for backend in (Interpreter(helpers=default_helpers()), jit(helpers=default_helpers())):
        rb = create_map(MapSpec("rb", MapType.RINGBUF, 0, 0, 4096), backend.memory, ncpus=1)
        prog = load(backend, text.format(rb=rb.address, size=8, flags=0, tag=1, commit=133))
        try:
            prog.run()
        except PybpfError as exc:
            messages.append(str(exc))
    assert len(messages) == 2 and messages[1] == messages[0]
    assert "not reserved" in messages[0]


SPIN = """
    r6 = r1
    call {first}
    r1 = r6
    call {second}
    r0 = *(u32 *)(r6 + 0)
    exit
"""


def _spin_outcome(backend: Any, first: int, second: int, mem: bytes) -> tuple[Any, ...]:
    prog = load(backend, SPIN.format(first=first, second=second))
    try:
        r = prog.run_mem(bytearray(mem))
        return ("ok", r.retval, r.memory)
    except PybpfError as exc:
        return ("error", type(exc).__name__, str(exc), getattr(exc, "pc", None))


@pytest.mark.parametrize(("first", "second"), [(93, 94), (93, 93), (94, 93), (94, 94)])
@pytest.mark.parametrize("word", [0, 1, 7])
def test_spin_lock_and_unlock_natively_or_faulting_as_in_python(
        jit: Callable, monkeypatch: Any, first: int, second: int, word: int) -> None:
    """Lock then unlock leaves the word as it found it with no Python call; a lock of a
    held lock and an unlock of a free one fault exactly as the interpreter's helpers do."""
    mem = word.to_bytes(4, "little") + bytes(12)
    expected = _spin_outcome(Interpreter(helpers=default_helpers()), first, second, mem)
    seen = python_calls(monkeypatch)
    got = _spin_outcome(jit(helpers=default_helpers()), first, second, mem)
    assert got == expected
    if expected[0] == "ok":
        assert seen == []
    else:
        assert "lock" in expected[2] and seen  # the fault is the Python helper's
