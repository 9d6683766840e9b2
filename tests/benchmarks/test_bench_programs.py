"""The benchmark programs (benchmarks/c) give the answer computed in plain Python
(benchmarks/pybpf_bench/reference.py) on a small input: on the interpreter, the JIT, the
native build where gcc exists and, where bpf() is allowed, in the kernel. Speed is measured
by ``make bench``, never asserted here."""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from pybpf_bench import inputs, reference
from pybpf_bench.backends import KernelRunner, PybpfRunner
from pybpf_bench.programs import BENCHMARKS, Benchmark, select

from pybpf.kernel.sys import bpf_available

KERNEL_OK, KERNEL_REASON = bpf_available()
BENCH_IDS = [b.name for b in BENCHMARKS]


def small(bench: Benchmark) -> tuple[tuple[bytes, ...], reference.Expected]:
    frames = bench.frames(small=True)
    return frames, bench.reference(frames)


@pytest.mark.parametrize("bench", BENCHMARKS, ids=BENCH_IDS)
def test_interp_and_jit_give_the_reference_answer(bench: Benchmark) -> None:
    frames, want = small(bench)
    outcomes = {}
    for backend in ("interp", "jit"):
        runner = PybpfRunner(bench, frames, frames[:1], backend)
        outcomes[backend] = runner.outcome()
        assert outcomes[backend].retvals == want.retvals, backend
        assert outcomes[backend].packets == want.packets, backend
    assert outcomes["interp"].maps == outcomes["jit"].maps


@pytest.mark.kernel
@pytest.mark.skipif(not KERNEL_OK, reason=KERNEL_REASON)
@pytest.mark.parametrize("bench", BENCHMARKS, ids=BENCH_IDS)
def test_kernel_accepts_and_agrees(bench: Benchmark) -> None:
    frames, want = small(bench)
    runner = KernelRunner(bench, frames, frames[:1])
    try:
        got = runner.outcome()
    finally:
        runner.close()
    assert got.retvals == want.retvals
    assert got.packets == want.packets


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found")
@pytest.mark.parametrize("bench", BENCHMARKS, ids=BENCH_IDS)
def test_native_build_agrees(bench: Benchmark, tmp_path: Path) -> None:
    from pybpf_bench.native import NativeRunner

    frames, want = small(bench)
    got = NativeRunner(bench, frames, frames[:1], tmp_path).outcome()
    assert got.retvals == want.retvals
    assert got.packets == want.packets


def test_array_map_leaves_the_histogram() -> None:
    (bench,) = select(["array_map"])
    frames, _ = small(bench)
    runner = PybpfRunner(bench, frames, frames, "interp")
    counts = runner.outcome().maps["counts"]  # type: ignore[index]
    got = [struct.unpack("<Q", counts[struct.pack("<I", k)])[0] for k in range(64)]
    assert got == reference.array_map_counts(frames[0])


def test_reference_on_known_values() -> None:
    header = inputs.header
    assert reference.primes([header(200, 2) + bytes(8)]).retvals == (2 * 46,)
    values = [0, 1, 2, 3, 1 << 63]
    data = header(5, 2) + struct.pack("<5Q", *values)
    assert reference.int_log2([data]).retvals == ((0 + 0 + 1 + 1 + 63) + (0 + 0 + 0 + 0 + 62),)
    pair = b"abc".ljust(32, b"\0") + b"abd".ljust(32, b"\0")
    assert reference.strcmp([header(1, 1) + pair]).retvals == ((ord("c") - ord("d")) & 0xFFFFFFFF,)
    assert reference.firewall_verdict(bytes(10)) == reference.XDP_DROP


def test_selection_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown benchmark nope"):
        select(["nope"])


def test_jit_costs_measure_each_load_path() -> None:
    """The JIT cost table's loads: the first default one (the 92-instruction int_log2 is
    below the light-tier threshold, so O3), the light and O3 compiles, and a reload that
    the compile cache serves."""
    from pybpf_bench import jit_costs

    from pybpf.elf import load_collection

    bench = select(["int_log2"])[0]
    cost = jit_costs.compile_cost(bench)
    assert cost.instructions == len(load_collection(bench.obj).programs["int_log2"].instructions)
    assert cost.tier == "O3" and cost.reload_hit
    assert min(cost.first_ms, cost.light_ms, cost.o3_ms, cost.cached_ms) > 0
    doc = jit_costs.to_json([cost], None)
    assert doc["compile"][0]["name"] == "int_log2" and "run_batch" not in doc
