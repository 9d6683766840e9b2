"""Interpreter and JIT speed on compute programs, side by side.

Run by hand (not part of the test suite):  make bench   or
    .venv/bin/python benchmarks/interp_speed.py [--repeat 5] [--json out.json]

Each program in benchmarks/programs/*.s (uBPF syntax) runs ``repeat`` times on each backend
after one warm-up run (the JIT's compile is not timed; its compile time is shown apart);
the table shows the median time per run, the interpreter's instructions per second and
the JIT's speed-up over it.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import struct
import sys
from pathlib import Path

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
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
