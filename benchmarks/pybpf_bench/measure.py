"""Check, calibrate, then time every backend of a benchmark, interleaved.

1. Each backend runs every input frame once on a fresh load; its return values and
   packets must equal the Python reference (:mod:`.reference`), and the contents of the
   benchmark's ``check_maps`` must agree across the backends that show them. A backend
   that disagrees is not timed and is reported as a mismatch.
2. Each backend's ``repeat`` is chosen so that one sample takes about ``target_s``.
3. Samples are taken round-robin (a different backend first each round), so machine noise
   hits all backends alike; the result is the median sample.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .backends import BenchError, Outcome, Runner, Unavailable, open_runner
from .programs import Benchmark
from .reference import Expected

Status = Literal["ok", "skipped", "mismatch", "error"]

#: Largest repeat per backend (the kernel's is a u32; the interpreter's is its patience).
MAX_REPEAT = {"interp": 10_000, "jit": 10_000_000, "kernel": 100_000_000, "native": 1_000_000_000}


@dataclass(slots=True)
class BackendResult:
    """One backend on one benchmark: ``samples_ns`` are ns per run, one per sample."""

    backend: str
    status: Status
    reason: str = ""
    repeat: int = 0
    samples_ns: list[float] = field(default_factory=list)
    instructions: float | None = None

    @property
    def ns_per_run(self) -> float | None:
        return statistics.median(self.samples_ns) if self.samples_ns else None


@dataclass(slots=True)
class BenchResult:
    """A benchmark on every backend; ``problems`` lists each disagreement or failure."""

    bench: Benchmark
    frames: int
    timed_frames: int
    backends: dict[str, BackendResult]
    problems: list[str] = field(default_factory=list)

    @property
    def instructions(self) -> float | None:
        interp = self.backends.get("interp")
        return interp.instructions if interp else None


def _short(data: bytes) -> str:
    return data[:16].hex() + ("..." if len(data) > 16 else "")


def compare(name: str, backend: str, got: Outcome, want: Expected) -> list[str]:
    """Why ``got`` differs from the reference (empty when it does not)."""
    problems = []
    for i, (retval, wanted) in enumerate(zip(got.retvals, want.retvals, strict=True)):
        if retval != wanted:
            problems.append(f"{name}: {backend} returned {retval} ({retval:#x}) for frame {i}, "
                            f"expected {wanted} ({wanted:#x})")
            break
    for i, (pkt, ref) in enumerate(zip(got.packets, want.packets, strict=True)):
        if pkt != ref:
            at = next((k for k, (a, b) in enumerate(zip(pkt, ref)) if a != b),
                      min(len(pkt), len(ref)))
            problems.append(f"{name}: {backend} left packet {i} different from byte {at} "
                            f"({len(pkt)} bytes: {_short(pkt[at:])}; expected {len(ref)}: "
                            f"{_short(ref[at:])})")
            break
    return problems


def compare_maps(name: str, outcomes: dict[str, Outcome]) -> list[str]:
    """Differences between backends in the contents of the checked maps."""
    shown = {b: o.maps for b, o in outcomes.items() if o.maps is not None}
    if len(shown) < 2:
        return []
    (first, base), *rest = shown.items()
    problems = []
    for backend, maps in rest:
        for map_name, contents in base.items():
            other = maps.get(map_name, {})
            if contents != other:
                keys = sorted(set(contents) ^ set(other)) or sorted(
                    k for k in contents if contents[k] != other.get(k))
                problems.append(f"{name}: map '{map_name}' differs between {first} and "
                                f"{backend} (first at key {keys[0].hex()})")
    return problems


def calibrate(runner: Runner, frames: int, target_ns: float, cap: int) -> int:
    """A repeat count for which one sample (all frames) takes about ``target_ns``."""
    repeat = 1
    while True:
        per_run = max(runner.time(repeat).ns_per_run, 1.0)
        spent = per_run * repeat * frames
        if spent >= target_ns / 4 or repeat >= cap:
            return max(1, min(cap, round(target_ns / (per_run * frames))))
        repeat = min(cap, repeat * max(2, round(target_ns / 4 / spent)))


def measure(bench: Benchmark, backends: Sequence[str], samples: int, target_s: float,
            workdir: Path, tick: Callable[[str], None]) -> BenchResult:
    """Check then time ``bench`` on ``backends``; ``tick`` is called once per step (see
    :func:`steps`)."""
    frames = bench.frames()
    timed_frames = bench.timing_frames(frames)
    want = bench.reference(frames)
    result = BenchResult(bench, len(frames), len(timed_frames), {})
    runners: dict[str, Runner] = {}
    outcomes: dict[str, Outcome] = {}
    try:
        for backend in backends:
            tick(f"{bench.name}: {backend} check")
            try:
                runner = open_runner(backend, bench, frames, timed_frames, workdir)
            except Unavailable as exc:
                result.backends[backend] = BackendResult(backend, "skipped", str(exc))
                continue
            except BenchError as exc:
                result.backends[backend] = BackendResult(backend, "error", str(exc))
                result.problems.append(str(exc))
                continue
            runners[backend] = runner
            try:
                outcomes[backend] = runner.outcome()
            except BenchError as exc:
                result.backends[backend] = BackendResult(backend, "error", str(exc))
                result.problems.append(str(exc))
                del runners[backend]
                continue
            problems = compare(bench.name, backend, outcomes[backend], want)
            result.backends[backend] = BackendResult(backend, "mismatch" if problems else "ok",
                                                     problems[0] if problems else "")
            result.problems.extend(problems)
        map_problems = compare_maps(bench.name, outcomes)
        result.problems.extend(map_problems)
        timed = [b for b in backends if result.backends[b].status == "ok" and not map_problems]
        target_ns = target_s * 1e9
        for backend in timed:
            tick(f"{bench.name}: {backend} calibrate")
            result.backends[backend].repeat = calibrate(runners[backend], len(timed_frames), target_ns,
                                                        MAX_REPEAT[backend])
        for s in range(samples):
            order = timed[s % len(timed):] + timed[: s % len(timed)] if timed else []
            for backend in order:
                tick(f"{bench.name}: {backend} sample {s + 1}/{samples}")
                br = result.backends[backend]
                timing = runners[backend].time(br.repeat)
                br.samples_ns.append(timing.ns_per_run)
                if timing.instructions is not None:
                    br.instructions = timing.instructions
    finally:
        for runner in runners.values():
            runner.close()
    return result


def steps(backends: Sequence[str], samples: int) -> int:
    """How many times :func:`measure` calls ``tick`` at most for one benchmark."""
    return len(backends) * (2 + samples)


def measure_all(benches: Sequence[Benchmark], backends: Sequence[str], samples: int,
                target_s: float, tick: Callable[[str], None],
                done: Callable[[int], None]) -> list[BenchResult]:
    """:func:`measure` each benchmark in a shared temporary directory (native builds).
    ``done`` gets the number of steps a benchmark did not use (skipped backends)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="pybpf-bench-") as tmp:
        for bench in benches:
            count = 0

            def counted(what: str) -> None:
                nonlocal count
                count += 1
                tick(what)

            results.append(measure(bench, backends, samples, target_s, Path(tmp), counted))
            done(steps(backends, samples) - count)
    return results
