"""``python benchmarks/run.py``: the command line of the benchmark suite."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import jit_costs, report
from .backends import BACKENDS
from .measure import measure_all, steps
from .programs import BENCHMARKS, Benchmark, select

DEFAULT_JSON = Path(__file__).resolve().parents[1] / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = ", ".join(b.name for b in BENCHMARKS)
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Time pybpf's interpreter and JIT against the live kernel and native "
                    "code on the same eBPF programs, after checking they all agree.",
        epilog=f"programs: {names}")
    p.add_argument("--repeat", type=int, default=None, metavar="N",
                   help="timed samples per backend; the median is reported (default 9, "
                        "--quick 3)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run only these programs (repeat the option or separate by commas)")
    p.add_argument("--backends", default=",".join(BACKENDS),
                   help=f"comma-separated subset of {','.join(BACKENDS)} (default: all)")
    p.add_argument("--quick", action="store_true",
                   help="3 samples of about 0.05 s each instead of 9 of 0.25 s")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                   help="write the results here (default benchmarks/results/latest.json); "
                        "the PNG chart goes next to it")
    p.add_argument("--no-costs", action="store_true",
                   help="skip the JIT's load costs (compile, cached reload) and run_batch rate")
    return p.parse_args(argv)


def measure_jit_costs(console: Console, benches: tuple[Benchmark, ...]) -> dict[str, Any]:
    """Compile and reload times of every benchmark, run_batch rate of the packet one."""
    with console.status("JIT load costs"):
        jit_costs.warm_up()
        costs = [jit_costs.compile_cost(b) for b in benches]
        packet = [b for b in benches if b.group == "packet"]
        batch = jit_costs.batch_cost(packet[0]) if packet else None
    console.print(jit_costs.cost_table(costs, batch))
    return jit_costs.to_json(costs, batch)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 150)
    try:
        benches = select([n for item in args.only or [] for n in item.split(",") if n])
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        unknown = [b for b in backends if b not in BACKENDS]
        if unknown or not backends:
            raise ValueError(f"unknown backend {', '.join(unknown) or '(none given)'} "
                             f"(have: {', '.join(BACKENDS)})")
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    samples = args.repeat if args.repeat is not None else (3 if args.quick else 9)
    if samples < 1:
        console.print("[red]error:[/] --repeat needs at least 1 sample")
        return 2
    target_s = 0.05 if args.quick else 0.25
    info = report.machine()
    with Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("starting", total=len(benches) * steps(backends, samples))
        results = measure_all(
            benches, backends, samples, target_s,
            tick=lambda what: progress.update(task, advance=1, description=what),
            done=lambda unused: progress.update(task, advance=unused))
    report.print_report(console, results, backends, info, samples)
    settings = {"samples": samples, "target_seconds_per_sample": target_s,
                "backends": backends, "quick": args.quick}
    document = report.to_json(results, backends, info, settings)
    if "jit" in backends and not args.no_costs:
        document["jit_costs"] = measure_jit_costs(console, benches)
    report.write_json(document, args.json)
    console.print(f"wrote {args.json}")
    png = args.json.with_suffix(".png")
    why_not = report.write_png(results, backends, info, png)
    console.print(f"[yellow]{why_not}[/]" if why_not else f"wrote {png}")
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
