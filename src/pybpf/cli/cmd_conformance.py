"""``pybpf conformance DIR``: run the bpf_conformance suite on a backend."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pybpf.conformance import run_suite
from pybpf.conformance.runner import BACKENDS, backend_loader, case_files


@click.command("conformance")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--backend", type=click.Choice(list(BACKENDS)), default="interp", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Only print failures and the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
def conformance_cmd(directory: Path, backend: str, quiet: bool, as_json: bool) -> None:
    """Run every bpf_conformance `.data` file in DIRECTORY; one line each, then a summary.

    Exit code 0 when all pass, 1 otherwise.
    """
    outcomes = []
    for outcome in run_suite(case_files(directory), backend_loader(backend)):
        outcomes.append(outcome)
        if as_json or (quiet and outcome.passed):
            continue
        mark = click.style("PASS", fg="green") if outcome.passed else click.style("FAIL", fg="red")
        click.echo(f"{mark} {outcome.name}: {outcome.detail}")
    passed = sum(o.passed for o in outcomes)
    failed = len(outcomes) - passed
    if as_json:
        click.echo(json.dumps({
            "backend": backend, "passed": passed, "failed": failed,
            "cases": [{"name": o.name, "passed": o.passed, "detail": o.detail} for o in outcomes],
        }, indent=2))
    else:
        click.echo(f"{passed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(1)
