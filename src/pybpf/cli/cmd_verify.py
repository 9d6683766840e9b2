"""``pybpf verify``: run pybpf's verifier (a re-implementation of the kernel's) on the
programs of an ELF object or an assembly file and say, in the kernel's words and in plain
English, why a program would be rejected.

Exit codes: 0 every selected program is accepted, 1 at least one is rejected, 2 the input
could not be loaded or the options are wrong (one line on stderr, no traceback).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.console import Console

from pybpf.cli.verify_input import Target, load_targets
from pybpf.cli.verify_report import Report, summary_table
from pybpf.errors import PybpfError


class InputError(click.ClickException):
    """Bad input for ``pybpf verify``: printed as one ``error:`` line, exit code 2 (so that
    it is told apart from a rejection, exit code 1)."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        click.secho(f"error: {self.message}", fg="red", err=True)


def verify_target(target: Target, *, privileged: bool, log_level: int) -> Report:
    """Verify one program and build its report."""
    from pybpf.verifier import verify

    start = time.perf_counter()
    result = verify(target.spec, privileged=privileged, log_level=log_level, maps=target.maps)
    return Report.build(target, result, time.perf_counter() - start, privileged)


@click.command("verify")
@click.argument("obj", metavar="OBJ", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-s", "--section", help="ELF: only the programs of this section (e.g. xdp, tc).")
@click.option("-p", "--program", help="ELF: only the program (function) of this name.")
@click.option("-t", "--type", "type_name", metavar="PROGTYPE",
              help="Program type, overriding the section's: xdp, socket_filter, sched_cls, "
              "cgroup_skb... or a section name (tc, cgroup/connect4). Assembly: default "
              "socket_filter.")
@click.option("-l", "--log-level", type=click.IntRange(0, 2), default=0, show_default=True,
              help="Print the verifier log: 1 the instructions of each path, 2 with every "
              "register state.")
@click.option("--unprivileged", is_flag=True,
              help="Verify as a user without CAP_BPF/CAP_PERFMON (stricter rules).")
@click.option("--no-btf", "no_btf", is_flag=True,
              help="ELF: verify as if loaded without BTF (no func/line info): global "
              "functions are then verified like static ones.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
@click.pass_context
def verify_cmd(ctx: click.Context, obj: Path, section: str | None, program: str | None,
               type_name: str | None, log_level: int, unprivileged: bool, no_btf: bool,
               as_json: bool) -> None:
    """Verify the programs of OBJ as the Linux kernel's verifier would.

    OBJ is a clang-compiled ELF object (every program, or those chosen with --section or
    --program; CO-RE relocated against the running kernel) or an assembly file (either
    syntax). An object's programs are verified as libbpf loads them, with their BTF func
    and line info: global (non-static) functions are verified on their own from their BTF
    prototypes, as the kernel does. --no-btf verifies them as loaded without BTF.

    For each program: the verdict, the processed instructions and states; for a rejection
    the failing instruction, its C source line, the kernel's message word for word and what
    it means. Exit code 0 if all are accepted, 1 if any is rejected, 2 for bad input.

    \b
    Examples:
      pybpf verify examples/xdp_firewall/xdp_firewall.o
      pybpf verify mistakes.o --program missing_null_check
      pybpf verify prog.s --type xdp --log-level 2
      pybpf verify fw.o --unprivileged --json
      pybpf verify mistakes.o --program global_func_without_btf --no-btf
    """
    try:
        targets = load_targets(obj, section, program, type_name, btf=not no_btf)
    except PybpfError as exc:
        if ctx.find_root().obj and ctx.find_root().obj.get("debug"):
            raise
        raise InputError(str(exc)) from None
    privileged = not unprivileged
    reports = []
    for target in targets:
        report = verify_target(target, privileged=privileged, log_level=log_level)
        reports.append(report)
        if not as_json:
            _echo(report, log_level, detailed=len(targets) == 1 or not report.result.accepted)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in reports], indent=2))
    elif len(reports) > 1:
        rejected = sum(not r.result.accepted for r in reports)
        console = Console()
        if not console.is_terminal:  # piped: no terminal width to respect, keep rows whole
            console = Console(width=max(console.width, 140))
        console.print(summary_table(
            reports, f"{obj.name}: {len(reports) - rejected} accepted, {rejected} rejected"))
    if any(not r.result.accepted for r in reports):
        ctx.exit(1)


def _echo(report: Report, log_level: int, *, detailed: bool) -> None:
    if log_level and report.result.log:
        click.secho(f"--- verifier log of {report.target.name} (level {log_level}) ---", bold=True)
        click.echo(report.result.log.rstrip("\n"))
        click.secho("--- end of log ---", bold=True)
    if detailed or log_level:
        report.echo()
        click.echo()
