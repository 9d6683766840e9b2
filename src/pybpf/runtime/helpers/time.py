"""Clocks: bpf_ktime_get_ns() and friends, bpf_jiffies64().

Mirrors kernel/bpf/helpers.c: ``bpf_ktime_get_ns()`` is ``ktime_get_mono_fast_ns()``
(CLOCK_MONOTONIC), ``bpf_ktime_get_boot_ns()`` CLOCK_BOOTTIME, ``bpf_ktime_get_coarse_ns()``
``ktime_get_coarse_ns()`` (CLOCK_MONOTONIC_COARSE, which advances once per tick),
``bpf_ktime_get_tai_ns()`` CLOCK_TAI and ``bpf_jiffies64()`` ``get_jiffies_64()``.

Two clocks model them: :class:`HostClock` (the default) reads the host's clocks, so a
program sees the same values it would in the kernel of the machine it runs on;
:class:`ManualClock` is deterministic — it stands still unless set, advanced, or given a
``step_ns`` by which every read advances it. Jiffies count ticks of ``hz`` per second from
``INITIAL_JIFFIES`` (``-300 * HZ`` as a 32-bit value, so that jiffies wrap 5 minutes after
boot) at monotonic time 0.
"""

from __future__ import annotations

import functools
import time as _time
from dataclasses import dataclass
from typing import Protocol

from pybpf.runtime.execstate import ExecState

__all__ = [
    "Clock",
    "HostClock",
    "ManualClock",
    "bpf_jiffies64",
    "bpf_ktime_get_boot_ns",
    "bpf_ktime_get_coarse_ns",
    "bpf_ktime_get_ns",
    "bpf_ktime_get_tai_ns",
    "clock_of",
    "initial_jiffies",
]

NSEC_PER_SEC = 1_000_000_000
#: CONFIG_HZ of the reference kernel (Linux 6.18 as configured on the test host).
DEFAULT_HZ = 250
#: TAI - UTC since 2017.
TAI_UTC_OFFSET_NS = 37 * NSEC_PER_SEC


def initial_jiffies(hz: int) -> int:
    """``INITIAL_JIFFIES``: ``(unsigned long)(unsigned int)(-300 * HZ)``."""
    return (-300 * hz) & 0xFFFFFFFF


class Clock(Protocol):
    """What the time helpers read."""

    def monotonic_ns(self) -> int: ...
    def boottime_ns(self) -> int: ...
    def coarse_ns(self) -> int: ...
    def tai_ns(self) -> int: ...
    def jiffies64(self) -> int: ...


@functools.cache
def _host_jiffies_lag(hz: int) -> int:
    """How many ticks the host's jiffies trail ``INITIAL_JIFFIES + monotonic * HZ`` (ticks
    start a little after monotonic time does), from /proc/timer_list (root only); 0 if
    it cannot be read. Read once per process: the file's ``now`` and ``jiffies`` are not
    sampled at one instant, so two readings may differ by a tick, and every clock of the
    process must count the same jiffies."""
    try:
        with open("/proc/timer_list", encoding="ascii") as f:
            now = jiffies = None
            for line in f:
                if now is None and line.startswith("now at "):
                    now = int(line.split()[2])
                elif line.startswith("jiffies: "):
                    jiffies = int(line.split()[1])
                    break
    except (OSError, ValueError, IndexError):
        return 0
    if now is None or jiffies is None:
        return 0
    return initial_jiffies(hz) + now * hz // NSEC_PER_SEC - jiffies


@dataclass(slots=True)
class HostClock:
    """The host's clocks (CLOCK_MONOTONIC, _BOOTTIME, _MONOTONIC_COARSE, _TAI); jiffies are
    derived from CLOCK_MONOTONIC at ``hz``, corrected by the lag /proc/timer_list shows."""

    hz: int = DEFAULT_HZ
    jiffies_lag: int | None = None

    def monotonic_ns(self) -> int:
        return _time.clock_gettime_ns(_time.CLOCK_MONOTONIC)

    def boottime_ns(self) -> int:
        return _time.clock_gettime_ns(_time.CLOCK_BOOTTIME)

    def coarse_ns(self) -> int:
        return _time.clock_gettime_ns(getattr(_time, "CLOCK_MONOTONIC_COARSE", 6))

    def tai_ns(self) -> int:
        return _time.clock_gettime_ns(getattr(_time, "CLOCK_TAI", 11))

    def jiffies64(self) -> int:
        if self.jiffies_lag is None:
            self.jiffies_lag = _host_jiffies_lag(self.hz)
        ticks = self.monotonic_ns() * self.hz // NSEC_PER_SEC
        return initial_jiffies(self.hz) + ticks - self.jiffies_lag


@dataclass(slots=True)
class ManualClock:
    """A deterministic clock at ``now_ns`` of monotonic time.

    Boot time is monotonic time plus ``suspended_ns``; TAI is monotonic time plus
    ``realtime_offset_ns`` (UTC at monotonic 0) plus 37 s; the coarse clock and jiffies
    advance in ticks of ``1/hz`` s. Every read advances the clock by ``step_ns``.
    """

    now_ns: int = 0
    step_ns: int = 0
    suspended_ns: int = 0
    realtime_offset_ns: int = 1_700_000_000 * NSEC_PER_SEC
    hz: int = DEFAULT_HZ

    def set(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def advance(self, delta_ns: int) -> None:
        self.now_ns += delta_ns

    def _read(self) -> int:
        now = self.now_ns
        self.now_ns += self.step_ns
        return now

    def monotonic_ns(self) -> int:
        return self._read()

    def boottime_ns(self) -> int:
        return self._read() + self.suspended_ns

    def coarse_ns(self) -> int:
        tick = NSEC_PER_SEC // self.hz
        return self._read() // tick * tick

    def tai_ns(self) -> int:
        return self._read() + self.realtime_offset_ns + TAI_UTC_OFFSET_NS

    def jiffies64(self) -> int:
        return initial_jiffies(self.hz) + self._read() * self.hz // NSEC_PER_SEC


def clock_of(state: ExecState) -> Clock:
    """``state.clock``, installing a :class:`HostClock` on first use."""
    clock = state.clock
    if clock is None:
        clock = state.clock = HostClock()
    return clock


def bpf_ktime_get_ns(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ktime_get_ns(): ``ktime_get_mono_fast_ns()``."""
    return clock_of(state).monotonic_ns()


def bpf_ktime_get_boot_ns(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ktime_get_boot_ns(): ``ktime_get_boot_fast_ns()``."""
    return clock_of(state).boottime_ns()


def bpf_ktime_get_coarse_ns(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                            r5: int) -> int:
    """bpf_ktime_get_coarse_ns(): ``ktime_get_coarse_ns()``."""
    return clock_of(state).coarse_ns()


def bpf_ktime_get_tai_ns(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_ktime_get_tai_ns(): ``ktime_get_tai_fast_ns()``."""
    return clock_of(state).tai_ns()


def bpf_jiffies64(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_jiffies64(): ``get_jiffies_64()``."""
    return clock_of(state).jiffies64()
