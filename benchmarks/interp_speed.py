"""Interpreter and JIT speed on compute programs, side by side.

Run by hand (not part of the test suite):  make bench   or
    .venv/bin/python benchmarks/interp_speed.py [--repeat 5] [--json out.json]

Each program in benchmarks/programs/*.s (uBPF syntax) runs ``repeat`` times on each backend
after one warm-up run (the JIT's compile is not timed; its compile time is shown apart);
the table shows the median time per run, the interpreter's instructions per second and
the JIT's speed-up over it.

``--native`` measures the JIT's native paths instead: the cost of one map operation (a
program looping over 100,000 of them), ``run_batch`` over examples/xdp_firewall/traffic.pcap
against a loop of ``test_run`` calls, and the compile time of a generated 1,000-instruction
program (cold on the light tier, cold at O3, cached reload). CPU times of the calling
thread, so other processes on the machine disturb them less.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pybpf.asm import assemble
from pybpf.interp import Interpreter
from pybpf.jit import JIT

HERE = Path(__file__).parent

#: Input memory per program (deterministic).
INPUTS: dict[str, bytes] = {
    "checksum": bytes(range(256)) * 16,
    "bubble_sort": b"".join(struct.pack("<I", 1000 - i) for i in range(160)),
    "int_log2": b"".join(struct.pack("<Q", (0x9E3779B97F4A7C15 * (i + 1)) & (2**64 - 1)) for i in range(512)),
}


def _median_ns(program: object, data: bytes | None, repeat: int) -> tuple[float, object]:
    program.run_mem(data)  # type: ignore[attr-defined]  # warm-up
    runs = [program.run_mem(data) for _ in range(repeat)]  # type: ignore[attr-defined]
    return statistics.median(r.duration_ns for r in runs), runs[0]


def measure(name: str, text: str, repeat: int, cache_dir: Path) -> dict[str, object]:
    insns = assemble(text, syntax="ubpf")
    data = INPUTS.get(name)
    interp_ns, first = _median_ns(Interpreter().load(insns), data, repeat)
    jit = JIT(cache_dir=cache_dir, cache=False).load(insns)
    jit_ns, jit_first = _median_ns(jit, data, repeat * 20)
    assert jit_first.retval == first.retval, name  # type: ignore[attr-defined]
    count = first.instructions  # type: ignore[attr-defined]
    return {
        "program": name,
        "retval": first.retval,  # type: ignore[attr-defined]
        "instructions": count,
        "interp_ms": interp_ns / 1e6,
        "insns_per_sec": count / (interp_ns / 1e9),
        "jit_ms": jit_ns / 1e6,
        "jit_compile_ms": jit.compile_ns / 1e6,
        "speedup": interp_ns / jit_ns,
    }


MAP_OPS = 100_000
#: One map operation per iteration; key = counter & 1023 at r10-8, value at r10-16.
MAP_LOOP = """
    r6 = 0
    *(u64 *)(r10 - 16) = r6
    r9 = 0
loop:
    r7 = r6
    r7 &= 1023
    *(u32 *)(r10 - 8) = r7
    r1 = {map} ll
    r2 = r10
    r2 += -8
{op}
    r6 += 1
    if r6 < {n} goto loop
    r0 = r9
    exit
"""
MAP_BODIES = {
    "lookup": "    call 1\n    if r0 == 0 goto +2\n    r1 = *(u64 *)(r0 + 0)\n    r9 += r1",
    "update": "    r3 = r10\n    r3 += -16\n    r4 = 0\n    call 2",
}


def _cpu_ns(fn: Any) -> float:
    start = time.thread_time_ns()
    fn()
    return time.thread_time_ns() - start


def map_costs(repeat: int) -> list[tuple[str, float]]:
    """ns per map operation on the JIT (lookups read the value found)."""
    from pybpf.platform.enums import MapType
    from pybpf.program.spec import MapSpec
    from pybpf.runtime.helpers import default_helpers
    from pybpf.runtime.maps import create_map

    rows = []
    for kind in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.HASH, MapType.LRU_HASH):
        for op, body in MAP_BODIES.items():
            jit = JIT(helpers=default_helpers(), budget=None, cache=False)
            m = create_map(MapSpec("m", kind, 4, 8, 1024), jit.memory, ncpus=2)
            if kind in (MapType.HASH, MapType.LRU_HASH):
                for i in range(1024):
                    m[i] = i
            jit.state.rcu_maps.append(m)
            text = MAP_LOOP.format(map=m.address, op=body, n=MAP_OPS)
            prog = jit.load(assemble(text, syntax="llvm"))
            prog.run()
            best = min(_cpu_ns(prog.run) for _ in range(repeat))
            rows.append((f"{kind.name.lower()} {op}", best / MAP_OPS))
    return rows


def batch_rates(repeat: int) -> list[tuple[str, float]]:
    """Frames per second through examples/xdp_firewall over its capture (x50)."""
    import socket

    import pybpf
    from pybpf.runtime.batch import PacketBatch
    from pybpf.runtime.pcap import read_pcap

    root = HERE.parent / "examples" / "xdp_firewall"
    frames = [f for _, f in read_pcap(root / "traffic.pcap")]
    rows = []
    for backend in ("interp", "jit"):
        obj = pybpf.load(root / "xdp_firewall.o", backend=backend)
        obj.maps["blocked_v4"][socket.inet_aton("203.0.113.66")] = b"\x01"
        prog = obj.program("xdp")
        def loop(prog: Any = prog, sample: list[bytes] = frames[:500]) -> None:
            for frame in sample:
                prog.test_run(data=frame)

        if backend == "interp":
            best = min(_cpu_ns(loop) for _ in range(max(1, repeat // 2)))
            rows.append(("interpreter, test_run per frame", 500 / best * 1e9))
            continue
        loop(sample=frames)  # the same warm-up (LRU filled) as the batches get
        best = min(_cpu_ns(loop) for _ in range(repeat))
        rows.append(("JIT, test_run per frame", 500 / best * 1e9))
        batch = PacketBatch.from_frames(frames * 50)
        prog.run_batch(batch)
        best = min(_cpu_ns(lambda prog=prog, batch=batch: prog.run_batch(batch))
                   for _ in range(repeat))
        rows.append(("JIT, run_batch (100,000 frames)", len(batch) / best * 1e9))
    return rows


def generated_program(rules: int = 26) -> str:
    """A parsing-style program of about 1,000 instructions: per rule a bounds-checked packet
    load, arithmetic, a stack spill and a conditional branch around more arithmetic."""
    lines = ["r6 = r1", "r7 = *(u32 *)(r6 + 4)", "r8 = *(u32 *)(r6 + 0)", "r9 = 0"]
    for i in range(rules):
        lines += ["r2 = r8", f"r2 += {14 + 4 * i + 4}", "if r2 > r7 goto out",
                  f"r3 = *(u32 *)(r8 + {14 + 4 * i})", "r4 = r3", f"r4 ^= {i}",
                  "r9 *= 31", "r9 += r4", f"*(u64 *)(r10 - {8 + 8 * (i % 8)}) = r9",
                  "r5 = r3", "r5 &= 255", f"if r5 != {i} goto skip{i}",
                  "r5 = r3", "r5 >>= 8", "r9 ^= r5", "r9 += 0x1234", "r5 <<= 3", "r9 -= r5",
                  f"r1 = *(u64 *)(r10 - {8 + 8 * ((i + 3) % 8)})", "r9 += r1",
                  f"skip{i}:", "r5 = r3", "r5 >>= 16", "r5 &= 63", f"if r5 != {i} goto next{i}",
                  "r9 *= 7", "r9 += 1", "r1 = r9", "r1 >>= 13", "r9 ^= r1",
                  "r1 = r9", "r1 <<= 7", "r9 += r1", "r1 = r9", "r1 >>= 3", "r9 ^= r1",
                  f"next{i}:", "r9 += r3", "r1 = r9", "r1 &= 0xffff"]
    lines += ["r0 = r9", "r0 &= 1", "r0 += 1", "exit", "out:", "r0 = 0", "exit"]
    return "\n".join(lines)


def compile_times(repeat: int) -> list[tuple[str, float]]:
    """ms: load of the generated program (runnable), cold light/O3, cached reload."""
    import tempfile

    from pybpf.platform.enums import ProgType
    from pybpf.program.spec import ProgramSpec

    spec = ProgramSpec("generated", tuple(assemble(generated_program(), syntax="llvm")),
                       prog_type=ProgType.XDP)
    rows = [("instructions", float(len(spec.instructions)))]
    JIT(cache=False, light_above=None).load(spec)  # warm: LLVM, the native library
    for label, options in (("cold, light tier: runnable (wall)", {}),
                           ("cold, O3 at once, with verification (wall)", {"light_above": None})):
        times = []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                jit = JIT(cache_dir=tmp, **options)
                start = time.perf_counter_ns()
                prog = jit.load(spec)
                times.append((time.perf_counter_ns() - start) / 1e6)
                prog.upgrade(wait=True)  # before the next sample
        rows.append((label, min(times)))
    with tempfile.TemporaryDirectory() as tmp:
        first = JIT(cache_dir=tmp).load(spec)
        first.upgrade(wait=True)
        times = [_cpu_ns(lambda: JIT(cache_dir=tmp).load(spec)) / 1e6 for _ in range(repeat)]
        rows.append(("cached reload (O3)", min(times)))
    return rows


def native_report(repeat: int) -> dict[str, object]:
    console = Console()
    results: dict[str, object] = {}
    for title, unit, fmt, rows in (
            ("JIT map operations", "ns/op", "{:.1f}", map_costs(repeat)),
            ("xdp_firewall over traffic.pcap", "frames/s", "{:,.0f}", batch_rates(repeat)),
            ("compile, generated program", "ms", "{:.1f}", compile_times(repeat))):
        table = Table(title=title)
        table.add_column("what")
        table.add_column(unit, justify="right")
        for name, value in rows:
            table.add_row(name, fmt.format(value))
        console.print(table)
        results[title] = dict(rows)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--native", action="store_true",
                        help="measure the JIT's native paths (maps, batches, compile time)")
    args = parser.parse_args()
    if args.native:
        results = native_report(args.repeat)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(p.stem, p.read_text(), args.repeat, Path(tmp))
                for p in sorted((HERE / "programs").glob("*.s"))]
    table = Table(title=f"pybpf interpreter and JIT — CPython {platform.python_version()}, "
                  f"{platform.machine()}")
    for col in ("program", "instructions", "interp ms/run", "interp M insns/s", "JIT ms/run",
                "JIT speed-up", "JIT compile ms"):
        table.add_column(col, justify="left" if col == "program" else "right")
    for r in rows:
        table.add_row(str(r["program"]), f"{r['instructions']:,}", f"{r['interp_ms']:.2f}",
                      f"{r['insns_per_sec'] / 1e6:.1f}", f"{r['jit_ms']:.4f}",
                      f"{r['speedup']:.0f}x", f"{r['jit_compile_ms']:.0f}")
    gmean = statistics.geometric_mean(float(r["insns_per_sec"]) for r in rows)  # type: ignore[arg-type]
    gspeed = statistics.geometric_mean(float(r["speedup"]) for r in rows)  # type: ignore[arg-type]
    table.add_row("geometric mean", "", "", f"{gmean / 1e6:.1f}", "", f"{gspeed:.0f}x", "",
                  style="bold")
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps({"python": platform.python_version(), "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
