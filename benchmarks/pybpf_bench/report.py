"""The results as a rich table, a JSON document and a PNG bar chart (log-scale ns per run).

Ratios are to the native build (gcc -O2), the physical limit; the interpreter's speed is
its instructions per run over its time per run. Geometric means are over the ``compute``
programs (no helpers), and over all programs.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .backends import BACKENDS
from .measure import BenchResult

LABELS = {"interp": "interp", "jit": "JIT", "kernel": "kernel", "native": "native"}


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gcc = shutil.which("gcc")
    gcc_version = ""
    if gcc:
        proc = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False)
        gcc_version = proc.stdout.splitlines()[0] if proc.stdout else ""
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "machine": platform.machine(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "gcc": gcc_version}


def ratio(result: BenchResult, backend: str) -> float | None:
    """``backend``'s time per run over the native one's."""
    mine = result.backends.get(backend)
    native = result.backends.get("native")
    if not mine or not native or mine.ns_per_run is None or not native.ns_per_run:
        return None
    return mine.ns_per_run / native.ns_per_run


def insns_per_s(result: BenchResult) -> float | None:
    interp = result.backends.get("interp")
    if not interp or interp.ns_per_run is None or not interp.instructions:
        return None
    return interp.instructions / (interp.ns_per_run / 1e9)


def geomeans(results: Sequence[BenchResult], backends: Sequence[str]) -> dict[str, Any]:
    """Geometric means of the ratios to native and of the interpreter's speed, over the
    programs where each is known."""
    def gm(values: list[float | None]) -> float | None:
        known = [v for v in values if v]
        return statistics.geometric_mean(known) if known else None

    out: dict[str, Any] = {}
    for label, subset in (("compute", [r for r in results if r.bench.group == "compute"]),
                          ("all", list(results))):
        out[label] = {
            "programs": len(subset),
            "ratio_to_native": {b: gm([ratio(r, b) for r in subset]) for b in backends},
            "interp_insns_per_s": gm([insns_per_s(r) for r in subset]),
        }
    return out


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}×" if value >= 100 else f"{value:.3g}×"


def _cell(result: BenchResult, backend: str) -> str:
    br = result.backends.get(backend)
    if br is None:
        return "-"
    if br.status == "skipped":
        return "[dim]skipped[/]"
    if br.status == "mismatch":
        return "[bold red]MISMATCH[/]"
    if br.status == "error":
        return "[bold red]error[/]"
    return fmt_ns(br.ns_per_run)


def table(results: Sequence[BenchResult], backends: Sequence[str], info: dict[str, Any],
          samples: int) -> Table:
    t = Table(title=f"pybpf backends vs the kernel and native code — ns per run, median of "
                    f"{samples} interleaved samples",
              caption=f"{info['cores']}-core {info['cpu']}, Linux {info['kernel']}, "
                      f"{info['implementation']} {info['python']}, {info['gcc']}")
    t.add_column("program")
    t.add_column("insns/run", justify="right")
    for b in backends:
        t.add_column(LABELS[b], justify="right")
    ratios = [b for b in backends if b != "native"] if "native" in backends else []
    for b in ratios:
        t.add_column(f"{LABELS[b]}÷native", justify="right")
    if "interp" in backends:
        t.add_column("interp M insns/s", justify="right")
    for r in results:
        insns = r.instructions
        row = [r.bench.name, f"{insns:,.0f}" if insns else "-"]
        row += [_cell(r, b) for b in backends]
        row += [fmt_ratio(ratio(r, b)) for b in ratios]
        if "interp" in backends:
            speed = insns_per_s(r)
            row.append(f"{speed / 1e6:.1f}" if speed else "-")
        t.add_row(*row, end_section=r is results[-1])
    for label, gm in geomeans(results, backends).items():
        row = [f"geomean ({label})", ""] + [""] * len(backends)
        row += [fmt_ratio(gm["ratio_to_native"][b]) for b in ratios]
        if "interp" in backends:
            speed = gm["interp_insns_per_s"]
            row.append(f"{speed / 1e6:.1f}" if speed else "-")
        t.add_row(*row, style="bold")
    return t


def skipped_notes(results: Sequence[BenchResult], backends: Sequence[str]) -> list[str]:
    """One line per backend skipped somewhere, with its reason."""
    notes: dict[str, str] = {}
    for r in results:
        for b in backends:
            br = r.backends.get(b)
            if br and br.status == "skipped":
                notes.setdefault(b, br.reason)
    return [f"{LABELS[b]} skipped: {reason}" for b, reason in notes.items()]


def to_json(results: Sequence[BenchResult], backends: Sequence[str], info: dict[str, Any],
            settings: dict[str, Any]) -> dict[str, Any]:
    programs = []
    for r in results:
        programs.append({
            "name": r.bench.name,
            "group": r.bench.group,
            "what": r.bench.what,
            "object": str(r.bench.obj.relative_to(r.bench.obj.parents[2])),
            "frames": r.frames,
            "timed_frames": r.timed_frames,
            "instructions_per_run": r.instructions,
            "agree": not r.problems,
            "problems": r.problems,
            "backends": {b: {"status": br.status, "reason": br.reason, "repeat": br.repeat,
                             "ns_per_run": br.ns_per_run, "samples_ns": br.samples_ns}
                         for b, br in r.backends.items()},
            "ratio_to_native": {b: ratio(r, b) for b in backends if b != "native"},
            "interp_insns_per_s": insns_per_s(r),
        })
    return {"suite": "pybpf benchmarks",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": info, "settings": settings, "programs": programs,
            "geomean": geomeans(results, backends)}


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def write_png(results: Sequence[BenchResult], backends: Sequence[str], info: dict[str, Any],
              path: Path) -> str | None:
    """Draw the chart; returns why not (matplotlib missing) or ``None`` when written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return (f"no PNG: matplotlib is not installed ({exc}); "
                "pip install -e '.\\[bench]' to get it")
    names = [r.bench.name for r in results]
    width = 0.8 / max(1, len(backends))
    fig, ax = plt.subplots(figsize=(max(8.0, 1.1 * len(names)), 5.0))
    for i, b in enumerate(backends):
        xs, ys = [], []
        for x, r in enumerate(results):
            br = r.backends.get(b)
            if br and br.ns_per_run:
                xs.append(x + (i - (len(backends) - 1) / 2) * width)
                ys.append(br.ns_per_run)
        ax.bar(xs, ys, width, label=LABELS[b])
    ax.set_yscale("log")
    ax.set_ylabel("ns per run (log scale)")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_title(f"pybpf benchmarks — {info['cores']}-core {info['cpu']}", fontsize=10)
    ax.legend()
    ax.grid(axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def print_report(console: Console, results: Sequence[BenchResult], backends: Sequence[str],
                 info: dict[str, Any], samples: int) -> None:
    console.print(table(results, backends, info, samples))
    for note in skipped_notes(results, backends):
        console.print(f"[yellow]{note}[/]")
    problems = [p for r in results for p in r.problems]
    if problems:
        console.rule("[bold red]RESULTS DISAGREE (backends vs the Python reference or each other)",
                     style="red")
        for p in problems:
            console.print(f"[bold red]✗ {p}[/]")
        console.rule(style="red")


__all__ = ["BACKENDS", "machine", "print_report", "table", "to_json", "write_json", "write_png"]
