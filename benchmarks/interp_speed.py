"""Interpreter speed: eBPF instructions per second on compute programs.

Run by hand (not part of the test suite):  make bench   or
    .venv/bin/python benchmarks/interp_speed.py [--repeat 5] [--json out.json]

Each program in benchmarks/programs/*.s (uBPF syntax) runs ``repeat`` times after one warm-up
run; the table shows the median time per run and instructions per second.
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

HERE = Path(__file__).parent

#: Input memory per program (deterministic).
INPUTS: dict[str, bytes] = {
    "checksum": bytes(range(256)) * 16,
    "bubble_sort": b"".join(struct.pack("<I", 1000 - i) for i in range(160)),
    "int_log2": b"".join(struct.pack("<Q", (0x9E3779B97F4A7C15 * (i + 1)) & (2**64 - 1)) for i in range(512)),
}


def measure(name: str, text: str, repeat: int) -> dict[str, object]:
    program = Interpreter().load(assemble(text, syntax="ubpf"))
    data = INPUTS.get(name)
    program.run_mem(data)  # warm-up
    runs = [program.run_mem(data) for _ in range(repeat)]
    median_ns = statistics.median(r.duration_ns for r in runs)
    insns = runs[0].instructions
    return {
        "program": name,
        "retval": runs[0].retval,
        "instructions": insns,
        "median_ms": median_ns / 1e6,
        "insns_per_sec": insns / (median_ns / 1e9),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rows = [measure(p.stem, p.read_text(), args.repeat) for p in sorted((HERE / "programs").glob("*.s"))]
    table = Table(title=f"pybpf interpreter — CPython {platform.python_version()}, {platform.machine()}")
    for col in ("program", "instructions", "median ms/run", "M insns/s"):
        table.add_column(col, justify="left" if col == "program" else "right")
    for r in rows:
        table.add_row(str(r["program"]), f"{r['instructions']:,}", f"{r['median_ms']:.2f}",
                      f"{r['insns_per_sec'] / 1e6:.1f}")
    gmean = statistics.geometric_mean(float(r["insns_per_sec"]) for r in rows)  # type: ignore[arg-type]
    table.add_row("geometric mean", "", "", f"{gmean / 1e6:.1f}", style="bold")
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps({"python": platform.python_version(), "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
