"""``pybpf run``: run a program on a backend and print r0."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pybpf.cli.program_input import read_program
from pybpf.errors import PybpfError


def _parse_hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text.replace(",", " "))
    except ValueError:
        raise PybpfError(f"--mem-hex: not hex bytes: {text!r}") from None


@click.command("run")
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mem", "mem_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="File whose bytes r1 points at (r2 = their length).")
@click.option("--mem-hex", help='Input memory as hex bytes, e.g. "00 01 02".')
@click.option("--backend", type=click.Choice(["interp"]), default="interp", show_default=True)
@click.option("--budget", type=int, default=100_000_000, show_default=True,
              help="Stop after this many instructions.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def run_cmd(program: Path, mem_file: Path | None, mem_hex: str | None, backend: str,
            budget: int, as_json: bool) -> None:
    """Run PROGRAM (assembly or raw bytecode) as the raw `mem` program type; print r0 in hex."""
    from pybpf.interp import Interpreter

    insns = read_program(program)
    mem: bytes | None = None
    if mem_file is not None:
        mem = mem_file.read_bytes()
    elif mem_hex is not None:
        mem = _parse_hex(mem_hex)
    loaded = Interpreter(budget=budget).load(insns)
    result = loaded.run_mem(mem)
    if as_json:
        click.echo(json.dumps({
            "retval": result.retval,
            "retval_hex": f"{result.retval:#x}",
            "instructions": result.instructions,
            "duration_ns": result.duration_ns,
            "memory": result.memory.hex() if result.memory is not None else None,
        }))
        return
    click.echo(f"r0 = {result.retval:#x} ({result.retval_s64})")
    click.echo(f"{result.instructions} instructions in {result.duration_ns / 1e6:.3f} ms")
