"""One runner per backend: it loads a benchmark, runs each input frame once on a fresh
load (:meth:`Runner.outcome`, for the agreement check) and times repeated runs
(:meth:`Runner.time`). The native runner lives in :mod:`.native`.

Timing counts CPU time, not wall-clock time, so that the time the OS gives other
processes on a busy machine is not charged to a backend. The kernel's BPF_PROG_TEST_RUN
already works that way: it runs with bottom halves (so preemption) disabled and stops its
clock when it yields, and it reports the mean per run of its ``repeat`` loop. For pybpf's
backends the runner reads the thread's CPU clock around ``test_run(repeat=N)`` calls (so the
per-call context set-up, some 30-50 µs, is included and amortised over N, which the
calibration makes large); the native driver reads ``CLOCK_THREAD_CPUTIME_ID``. For a
multi-frame benchmark (the firewall) the time is the mean over the timed frames.

The native (gcc) driver and the JIT are sampled alike: each timing sample runs in a fresh
process (the JIT's loads its compiled code from the on-disk cache), so each sample draws
its own memory placement of code and data — on a VM that alone moves a run by up to
1.7x — and the median is over independent draws on both sides. The interpreter and the
kernel are sampled in the benchmark's own process (the kernel's code and maps live in the
kernel either way).
"""

from __future__ import annotations

import errno
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .programs import Benchmark

BACKENDS = ("interp", "jit", "kernel", "native")


class BenchError(Exception):
    """A benchmark could not be built, loaded or run; ``str()`` is one line."""


class Unavailable(BenchError):
    """A backend cannot run on this machine (the column is skipped with this reason)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run per frame on a fresh load gave: per frame the return value (u32) and
    the packet after the run; ``maps`` holds the contents of the benchmark's
    ``check_maps`` (``None`` where the backend cannot show them)."""

    retvals: tuple[int, ...]
    packets: tuple[bytes, ...]
    maps: Mapping[str, Mapping[bytes, bytes]] | None = None


@dataclass(frozen=True, slots=True)
class Timing:
    """Mean time per run over ``repeat`` runs (per frame); pybpf's interpreter and JIT
    also count the instructions of a run."""

    ns_per_run: float
    instructions: float | None = None


class Runner(Protocol):
    """A benchmark loaded on one backend."""

    def outcome(self) -> Outcome: ...

    def time(self, repeat: int) -> Timing: ...

    def close(self) -> None: ...


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):  # per-CPU values
        return b"".join(_as_bytes(v) for v in value)
    raise BenchError(f"cannot compare map value {value!r}")


class PybpfRunner:
    """The interpreter or the JIT, through ``pybpf.load(..., backend=...)``."""

    def __init__(self, bench: Benchmark, frames: Sequence[bytes], timed: Sequence[bytes],
                 backend: str) -> None:
        import pybpf
        from pybpf.errors import PybpfError

        self.bench = bench
        self.frames = tuple(frames)
        self.timed = tuple(timed)
        try:
            self.obj = pybpf.load(bench.obj, backend=backend)
            for entry in bench.preload:
                self.obj.maps[entry.map_name][entry.key] = entry.value
            self.program = self.obj.program(bench.function)
        except PybpfError as exc:
            raise BenchError(f"{bench.name} on {backend}: {exc}") from exc

    def outcome(self) -> Outcome:
        results = [self.program.test_run(data=frame) for frame in self.frames]
        maps = {name: {bytes(k): _as_bytes(v) for k, v in self.obj.maps[name].items()}
                for name in self.bench.check_maps}
        return Outcome(tuple(r.retval for r in results), tuple(r.data_out for r in results),
                       maps)

    def time(self, repeat: int) -> Timing:
        start = time.thread_time_ns()
        results = [self.program.test_run(data=frame, repeat=repeat) for frame in self.timed]
        spent = time.thread_time_ns() - start
        return Timing(spent / (repeat * len(self.timed)),
                      statistics.fmean(r.instructions for r in results))

    def close(self) -> None:
        pass


class FreshJitRunner(PybpfRunner):
    """The JIT, checked in this process, timed in a fresh process per sample
    (``python -m pybpf_bench.sample``; see the module docstring)."""

    def __init__(self, bench: Benchmark, frames: Sequence[bytes], timed: Sequence[bytes]) -> None:
        super().__init__(bench, frames, timed, "jit")
        self.program.upgrade(wait=True)  # the O3 object in the cache for the samples

    def time(self, repeat: int) -> Timing:
        root = Path(__file__).resolve().parent.parent
        proc = subprocess.run([sys.executable, "-m", "pybpf_bench.sample", "jit",
                               self.bench.name, str(repeat)], cwd=root, capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"{self.bench.name}: JIT sample process exited with "
                             f"{proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
        got = json.loads(proc.stdout)
        return Timing(got["ns_per_run"], got["instructions"])


_LOAD_ATTEMPTS = 5


class KernelRunner:
    """The live kernel: maps and program loaded with BPF_MAP_CREATE/BPF_PROG_LOAD
    (:class:`pybpf.kernel.collection.KernelCollection`), run with BPF_PROG_TEST_RUN."""

    def __init__(self, bench: Benchmark, frames: Sequence[bytes], timed: Sequence[bytes]) -> None:
        from pybpf.elf import load_collection
        from pybpf.errors import KernelError, PybpfError
        from pybpf.kernel.collection import KernelCollection
        from pybpf.kernel.sys import bpf_available, map_update

        ok, reason = bpf_available()
        if not ok:
            raise Unavailable(reason)
        self.bench = bench
        self.frames = tuple(frames)
        self.timed = tuple(timed)
        try:
            spec = load_collection(bench.obj)
            for attempt in range(_LOAD_ATTEMPTS):  # BPF_PROG_LOAD may say EAGAIN under load
                try:
                    self.kc = KernelCollection(spec)
                    break
                except KernelError as exc:
                    if exc.errno != errno.EAGAIN or attempt == _LOAD_ATTEMPTS - 1:
                        raise
                    time.sleep(0.05)
            for entry in bench.preload:
                map_update(self.kc.maps[entry.map_name], entry.key, entry.value)
            self.fd = self.kc.program(bench.function)
        except PybpfError as exc:
            raise BenchError(f"{bench.name} in the kernel: {exc}") from exc

    def _dump(self, name: str) -> dict[bytes, bytes]:
        from pybpf.kernel.sys import map_get_next_key, map_lookup

        fd = self.kc.maps[name]
        out: dict[bytes, bytes] = {}
        key = map_get_next_key(fd, None)
        while key is not None:
            value = map_lookup(fd, key)
            if value is not None:
                out[key] = value
            key = map_get_next_key(fd, key)
        return out

    def outcome(self) -> Outcome:
        from pybpf.kernel.sys import prog_test_run

        results = [prog_test_run(self.fd, data=frame) for frame in self.frames]
        maps = {name: self._dump(name) for name in self.bench.check_maps}
        return Outcome(tuple(r.retval for r in results), tuple(r.data_out for r in results),
                       maps)

    def time(self, repeat: int) -> Timing:
        from pybpf.kernel.sys import prog_test_run

        durations = [prog_test_run(self.fd, data=frame, repeat=repeat).duration_ns
                     for frame in self.timed]
        return Timing(statistics.fmean(durations))

    def close(self) -> None:
        self.kc.close()


def open_runner(backend: str, bench: Benchmark, frames: Sequence[bytes],
                timed: Sequence[bytes], workdir: Any) -> Runner:
    """A runner for ``backend`` that checks on ``frames`` and times ``timed``; raises
    :class:`Unavailable` where the backend cannot run here."""
    if backend == "interp":
        return PybpfRunner(bench, frames, timed, backend)
    if backend == "jit":
        return FreshJitRunner(bench, frames, timed)
    if backend == "kernel":
        return KernelRunner(bench, frames, timed)
    if backend == "native":
        from .native import NativeRunner

        return NativeRunner(bench, frames, timed, workdir)
    raise BenchError(f"unknown backend '{backend}' (have: {', '.join(BACKENDS)})")
