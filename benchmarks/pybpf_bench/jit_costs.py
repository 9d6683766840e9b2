"""What the JIT costs besides running: compiling, reloading from the cache, and replaying a
capture through ``run_batch``.

For each benchmark object (wall-clock time, one process, a fresh cache directory each):

* ``light`` and ``O3``: the compile alone on each tier (``checked=True``: bounds-checked
  code, so no verifier is involved) — ``JITProgram.compile_ns``;
* ``first load``: what a user waits for with the default settings — the verifier (the JIT
  runs verified code without bounds checks) and the compile; a program of more than
  ``LIGHT_ABOVE`` instructions is compiled on the light tier (and at O3 in the background);
* ``cached reload``: a default load in a new backend on the same cache directory (the O3
  object code and the verifier's verdict come from disk), the median of ``RELOADS``;

the compiles also per 1,000 instructions. Then the firewall's capture (all its frames)
through ``JITProgram.run_batch``: packets per second on one core (CPU time of the thread),
the median of several rounds — given the capture as a ``PacketBatch`` built once (as a
replay reads a pcap into one), and given a list of ``bytes`` (the batch built from it in
Python on every call).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .programs import Benchmark

BATCH_ROUNDS = 7
#: Cached reloads timed per program (one is at the mercy of a single scheduling hiccup).
RELOADS = 5


@dataclass(frozen=True, slots=True)
class CompileCost:
    """Load times of one program (milliseconds, wall clock)."""

    name: str
    instructions: int
    first_ms: float
    light_ms: float
    o3_ms: float
    cached_ms: float
    tier: str
    #: Whether the reload's code came from the cache (it should).
    reload_hit: bool = True

    def per_kinsn(self, ms: float) -> float:
        return ms * 1000.0 / max(self.instructions, 1)


@dataclass(frozen=True, slots=True)
class BatchCost:
    """``run_batch`` over a capture: frames and the median packets per second."""

    name: str
    frames: int
    packets_per_s: float
    samples: tuple[float, ...]
    #: The same with a list of frames, converted on every call.
    list_packets_per_s: float = 0.0


def _load(bench: Benchmark, cache_dir: Path, wait: bool = False, **jit_options: Any) -> Any:
    from pybpf.elf import load_collection
    from pybpf.jit import JIT
    from pybpf.loader import runtime_helpers
    from pybpf.runtime.collection import Collection

    spec = load_collection(bench.obj)
    jit = JIT(helpers=runtime_helpers(), cache_dir=cache_dir, **jit_options)
    obj = Collection(spec, jit)
    for entry in bench.preload:
        obj.maps[entry.map_name][entry.key] = entry.value
    prog = obj.program(bench.function)
    first = (prog.compile_ns, prog.tier)
    if wait:
        prog.upgrade(wait=True)  # the background O3 compile (and its cache entry) done
    return prog, first


def warm_up() -> None:
    """One small compile, so that LLVM's one-time initialisation is not charged to the
    first program measured."""
    from pybpf.asm import assemble
    from pybpf.jit import JIT

    with tempfile.TemporaryDirectory(prefix="pybpf-bench-cache-") as tmp:
        JIT(cache_dir=tmp).load(assemble("r0 = 1\nexit\n", syntax="llvm"))


def compile_cost(bench: Benchmark) -> CompileCost:
    """The load times of ``bench`` (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="pybpf-bench-cache-") as tmp:
        prog, (first_ns, tier) = _load(bench, Path(tmp) / "default", wait=True)
        reloads = [_load(bench, Path(tmp) / "default")[0] for _ in range(RELOADS)]
        again = sorted(reloads, key=lambda p: p.compile_ns)[RELOADS // 2]
        light, _ = _load(bench, Path(tmp) / "light", checked=True, light_above=0, upgrade=False)
        o3, _ = _load(bench, Path(tmp) / "o3", checked=True, light_above=None)
    return CompileCost(bench.name, len(prog.spec.instructions), first_ns / 1e6,
                       light.compile_ns / 1e6, o3.compile_ns / 1e6, again.compile_ns / 1e6, tier,
                       all(p.cached for p in reloads))


def batch_cost(bench: Benchmark, rounds: int = BATCH_ROUNDS) -> BatchCost:
    """Packets per second of ``run_batch`` over all of ``bench``'s frames."""
    from pybpf.runtime.batch import PacketBatch

    frames = list(bench.frames())
    batch = PacketBatch.from_frames(frames)
    with tempfile.TemporaryDirectory(prefix="pybpf-bench-cache-") as tmp:
        prog, _ = _load(bench, Path(tmp), wait=True)
        prog.run_batch(batch)  # warm: first-call set-up, page faults
        samples, from_list = [], []
        for _ in range(rounds):  # interleaved
            for given, out in ((batch, samples), (frames, from_list)):
                start = time.thread_time_ns()
                prog.run_batch(given)
                out.append(len(frames) * 1e9 / max(time.thread_time_ns() - start, 1))
    return BatchCost(bench.name, len(frames), statistics.median(samples), tuple(samples),
                     statistics.median(from_list))


def to_json(costs: list[CompileCost], batch: BatchCost | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "compile": [{
            "name": c.name, "instructions": c.instructions, "tier": c.tier,
            "light_ms": c.light_ms, "o3_ms": c.o3_ms, "first_load_ms": c.first_ms,
            "cached_reload_ms": c.cached_ms, "cached_reload_hit": c.reload_hit,
            "light_ms_per_1k_insns": c.per_kinsn(c.light_ms),
            "o3_ms_per_1k_insns": c.per_kinsn(c.o3_ms),
        } for c in costs],
    }
    if batch is not None:
        out["run_batch"] = {"name": batch.name, "frames": batch.frames,
                            "packets_per_s": batch.packets_per_s,
                            "samples_packets_per_s": list(batch.samples),
                            "from_list_packets_per_s": batch.list_packets_per_s}
    return out


def cost_table(costs: list[CompileCost], batch: BatchCost | None) -> Any:
    """The costs as a rich table (the batch figure in its caption)."""
    from rich.table import Table

    t = Table(title="JIT load costs — wall-clock ms per load (and per 1,000 instructions)",
              caption=(f"run_batch: {batch.name}, {batch.frames} frames: "
                       f"{batch.packets_per_s / 1e6:.2f} M packets/s on one core as a "
                       f"PacketBatch ({batch.list_packets_per_s / 1e6:.2f} M from a list of "
                       f"bytes; median of {len(batch.samples)})") if batch else None)
    t.add_column("program")
    t.add_column("insns", justify="right")
    t.add_column("light compile", justify="right")
    t.add_column("O3 compile", justify="right")
    t.add_column("first load: verify + tier", justify="right")
    t.add_column("cached reload", justify="right")
    for c in costs:
        t.add_row(c.name, str(c.instructions),
                  f"{c.light_ms:.1f} ({c.per_kinsn(c.light_ms):.0f}/1k)",
                  f"{c.o3_ms:.1f} ({c.per_kinsn(c.o3_ms):.0f}/1k)",
                  f"{c.first_ms:.1f} ({c.tier})",
                  f"{c.cached_ms:.2f}" if c.reload_hit else f"{c.cached_ms:.2f} (miss!)")
    return t
