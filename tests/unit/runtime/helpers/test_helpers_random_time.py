"""bpf_get_prandom_u32 (the kernel's lfsr113) and the clock helpers."""

from __future__ import annotations

import time

import pytest
from helpers_support import load, run

from pybpf.runtime.helpers import HostClock, ManualClock, Prandom
from pybpf.runtime.helpers.time import initial_jiffies


def _lcg_state(seed: int) -> Prandom:
    """prandom_state_test_seed() of lib/tests/random32_kunit.c, then prandom_warmup()."""
    def seeded(x: int, m: int) -> int:
        return x + m if x < m else x

    s1 = seeded(seed * 69069 & 0xFFFFFFFF, 2)
    s2 = seeded(s1 * 69069 & 0xFFFFFFFF, 8)
    s3 = seeded(s2 * 69069 & 0xFFFFFFFF, 16)
    s4 = seeded(s3 * 69069 & 0xFFFFFFFF, 128)
    state = Prandom(s1, s2, s3, s4)
    state.warmup()
    return state


@pytest.mark.parametrize(("seed", "first"), [(1, 3484351685), (2, 2623130059),
                                             (3, 3125133893), (4, 984847254)])
def test_prandom_matches_the_kernel_selftest_vectors(seed: int, first: int) -> None:
    """The prandom KUnit test: the first output after seeding and warm-up."""
    assert _lcg_state(seed).next_u32() == first


@pytest.mark.parametrize(("seed", "iteration", "result"), [
    (931557656, 959, 2975593782), (1339693295, 876, 3887776532), (1545556285, 961, 1615538833),
    (407983964, 921, 728767059),
])
def test_prandom_matches_gsl_taus113(seed: int, iteration: int, result: int) -> None:
    state = _lcg_state(seed)
    for _ in range(iteration - 1):
        state.next_u32()
    assert state.next_u32() == result


def test_seeded_states_repeat() -> None:
    a, b = Prandom.seeded(42), Prandom.seeded(42)
    assert [a.next_u32() for _ in range(5)] == [b.next_u32() for _ in range(5)]
    assert Prandom.seeded(1).s1 >= 2 and Prandom.seeded(0).s4 >= 128


def test_get_prandom_u32_uses_the_state_prandom() -> None:
    interp, prog = load("call bpf_get_prandom_u32\nexit")
    interp.state.prandom = _lcg_state(1)
    assert prog.run().retval == 3484351685
    interp.state.prandom = None
    values = {prog.run().retval for _ in range(20)}  # a random default is installed
    assert len(values) > 15 and all(v < 2**32 for v in values)
    assert isinstance(interp.state.prandom, Prandom)


TIME_PROGRAM = """
    call bpf_{helper}
    exit
"""


def test_manual_clock_drives_every_time_helper() -> None:
    clock = ManualClock(now_ns=5_123_456_789, suspended_ns=1_000, realtime_offset_ns=10**18)
    expected = {
        "ktime_get_ns": 5_123_456_789,
        "ktime_get_boot_ns": 5_123_457_789,
        "ktime_get_coarse_ns": 5_120_000_000,  # whole 4 ms ticks at HZ 250
        "ktime_get_tai_ns": 5_123_456_789 + 10**18 + 37 * 10**9,
        "jiffies64": initial_jiffies(250) + 1280,
    }
    for helper, value in expected.items():
        interp, prog = load(TIME_PROGRAM.format(helper=helper))
        interp.state.clock = clock
        assert prog.run().retval == value, helper


def test_manual_clock_steps_on_every_read() -> None:
    interp, prog = load("""
        call bpf_ktime_get_ns
        r6 = r0
        call bpf_ktime_get_ns
        r0 -= r6
        exit
    """)
    interp.state.clock = ManualClock(now_ns=100, step_ns=250)
    assert prog.run().retval == 250
    interp.state.clock.set(0)
    interp.state.clock.advance(7)
    assert interp.state.clock.now_ns == 7


def test_initial_jiffies_wraps_five_minutes_after_boot() -> None:
    assert initial_jiffies(250) == 2**32 - 300 * 250
    assert initial_jiffies(1000) == 2**32 - 300_000


def test_default_clock_is_the_hosts_monotonic_clock() -> None:
    interp, prog = load(TIME_PROGRAM.format(helper="ktime_get_ns"))
    before = time.monotonic_ns()
    value = prog.run().retval
    after = time.monotonic_ns()
    assert before <= value <= after
    assert isinstance(interp.state.clock, HostClock)
    assert run(TIME_PROGRAM.format(helper="ktime_get_boot_ns")) >= value
    first = HostClock().jiffies64()
    jiffies = run(TIME_PROGRAM.format(helper="jiffies64"))
    last = HostClock().jiffies64()
    # the host clock read before and after brackets the program's (however busy the host)
    assert first <= jiffies <= last
