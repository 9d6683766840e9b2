"""pybpf's verifier against the kernel's on the largest clang-compiled programs of the corpus.

Run by hand (not part of the test suite):  make bench-verifier   or
    .venv/bin/python benchmarks/verifier_speed.py [-k PATTERN] [--all] [--kernel-repeat 3]
                                                  [--json out.json]

Each program is a C case of tests/verifier_corpus/cases/c_programs.toml, built as the corpus
builds it (the committed object, CO-RE applied, no BTF func/line info). pybpf verifies it
once (``log_level`` 0, wall time); where ``bpf()`` is allowed the kernel loads it
``--kernel-repeat`` times with ``log_level`` 4 (BPF_LOG_STATS) and the table shows the
kernel's own ``processed N insns`` and the median ``verification time N usec``. Both
verdicts are shown: a program one side rejects (at the 1,000,000-instruction limit, say)
still measures how fast each side walks instructions.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "verifier_corpus"))

# tests/verifier_corpus/corpus.py: the cases, how they are built, how the kernel loads them
import corpus  # type: ignore[import-not-found]

from pybpf.kernel.sys import bpf_available
from pybpf.verifier import verify

#: The largest C programs of the corpus (case names in c_programs.toml), by the kernel's
#: processed instructions.
DEFAULT_CASES = (
    "sort_stats_size_stats", "tcp_options_tcp_syn_options", "tcp_options_tcp_syn_options_buffered",
    "data_loops_arrays_v3_bubble", "dns_labels_dns_block", "data_loops_arrays_v3_loops",
    "nat44_snat", "xdp_parser_xdp_parse", "example_xdp_firewall_xdp_firewall",
)  # fmt: skip
_PROCESSED = re.compile(r"processed (\d+) insns")
_VTIME = re.compile(r"verification time (\d+) usec")


def kernel_measure(case: corpus.Case, repeat: int) -> dict[str, Any]:
    """Load the case ``repeat`` times with BPF_LOG_STATS: verdict, processed insns, the
    median of the kernel's verification time."""
    times, processed, err, error = [], None, 0, ""
    with corpus.kernel_job(case) as (job, _fds):
        for _ in range(repeat):
            err, log = corpus.load_job(job, log_level=4)
            found = _PROCESSED.findall(log)
            processed = int(found[-1]) if found else None
            vtime = _VTIME.findall(log)
            if vtime:
                times.append(int(vtime[-1]))
            error = corpus.error_line(log) if err else ""
    return {
        "kernel_verdict": "reject" if err else "accept", "kernel_error": error,
        "kernel_insns": processed,
        "kernel_ms": statistics.median(times) / 1e3 if times else None,
    }  # fmt: skip


def pybpf_measure(case: corpus.Case) -> dict[str, Any]:
    built = corpus.build(case)
    start = time.perf_counter()
    result = verify(built.program, privileged=case.privileged, maps=built.maps)
    seconds = time.perf_counter() - start
    return {
        "pybpf_verdict": "accept" if result.accepted else "reject",
        "pybpf_error": result.error or "", "pybpf_insns": result.processed_insns,
        "pybpf_s": seconds, "pybpf_insns_per_s": result.processed_insns / seconds,
        "insns": len(built.program.instructions),
    }  # fmt: skip


def select(cases: list[corpus.Case], patterns: list[str], every: bool) -> list[corpus.Case]:
    c_cases = [c for c in cases if c.topic == "c_programs"]
    if patterns:
        return [c for c in c_cases if any(fnmatch.fnmatch(c.name, p) for p in patterns)]
    if every:
        return c_cases
    by_name = {c.name: c for c in c_cases}
    return [by_name[name] for name in DEFAULT_CASES if name in by_name]


def _fmt(value: Any, spec: str = ",") -> str:
    return "-" if value is None else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", "--case", action="append", default=[],
                        help="case names of c_programs.toml to measure (globs; repeatable)")
    parser.add_argument("--all", action="store_true", help="every C case of the corpus")
    parser.add_argument("--kernel-repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    cases = select(corpus.load_cases(), args.case, args.all)
    if not cases:
        print("no case matches", file=sys.stderr)
        return 2
    kernel_ok, reason = bpf_available()
    console = Console(stderr=True)
    rows = []
    for case in cases:
        console.print(f"[dim]verifying {case.name}...[/]")
        row: dict[str, Any] = {"program": case.name, **pybpf_measure(case)}
        if kernel_ok:
            row.update(kernel_measure(case, args.kernel_repeat))
        rows.append(row)
    title = (f"pybpf verifier vs Linux {platform.release()} — CPython "
             f"{platform.python_version()}, {platform.machine()}")
    if not kernel_ok:
        title += f" (no kernel: {reason})"
    table = Table(title=title)
    for col in ("program", "insns", "kernel verdict", "kernel processed", "kernel ms",
                "pybpf verdict", "pybpf processed", "pybpf s", "pybpf insns/s", "vs kernel"):
        table.add_column(col, justify="left" if col == "program" or "verdict" in col else "right",
                         no_wrap=col == "program")
    for r in rows:
        table.add_row(
            r["program"], _fmt(r["insns"]), r.get("kernel_verdict", "-"),
            _fmt(r.get("kernel_insns")), _fmt(r.get("kernel_ms"), ".2f"), r["pybpf_verdict"],
            _fmt(r["pybpf_insns"]), f"{r['pybpf_s']:.2f}", f"{r['pybpf_insns_per_s']:,.0f}",
            f"{r['pybpf_s'] * 1e3 / r['kernel_ms']:,.0f}x slower" if r.get("kernel_ms") else "-",
        )
    out = Console()
    if not out.is_terminal:  # piped or captured: keep rows on one line
        out = Console(width=max(out.width, 200))
    out.print(table)
    if args.json:
        args.json.write_text(json.dumps({"python": platform.python_version(),
                                         "kernel": platform.release(), "results": rows},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
