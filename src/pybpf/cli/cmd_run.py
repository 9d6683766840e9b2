"""``pybpf run``: run a program on a backend — raw bytecode/assembly, or an ELF object's
program on a packet, a context, a memory buffer or a whole pcap."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pybpf.cli.maps_view import maps_table
from pybpf.cli.program_input import ELF_MAGIC, read_program
from pybpf.errors import PybpfError


def _parse_hex(text: str, option: str) -> bytes:
    try:
        return bytes.fromhex(text.replace(",", " "))
    except ValueError:
        raise PybpfError(f"{option}: not hex bytes: {text!r}") from None


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PybpfError(f"{path}: cannot read: {exc.strerror}") from None


@click.command("run")
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-s", "--section", help="ELF: the program of this section (e.g. xdp, tc, socket).")
@click.option("-e", "--entry", help="ELF: the function to run (any function, .text ones "
              "included, as the raw `mem` type unless --section is given).")
@click.option("--mem", "mem_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Raw mem type: file whose bytes r1 points at (r2 = their length).")
@click.option("--mem-hex", help='Raw mem type: input memory as hex, e.g. "00 01 02".')
@click.option("--data", "data_file", type=click.Path(dir_okay=False, path_type=Path),
              help="test_run: packet bytes (XDP, tc, socket filter...).")
@click.option("--ctx", "ctx_file", type=click.Path(dir_okay=False, path_type=Path),
              help="test_run: context bytes (ctx_in).")
@click.option("--pcap", type=click.Path(dir_okay=False, path_type=Path),
              help="Replay every frame of this capture through the program.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="With --pcap: write the frames that pass (e.g. XDP_PASS/TX) here.")
@click.option("--repeat", type=int, default=1, show_default=True, help="test_run repeat count.")
@click.option("--backend", type=click.Choice(["interp", "jit"]), default="interp", show_default=True,
              help="Reference interpreter, or native code through LLVM (llvmlite).")
@click.option("--budget", type=int, default=100_000_000, show_default=True,
              help="Stop after this many instructions per run.")
@click.option("--perf-map", is_flag=True,
              help="JIT: name the compiled code for Linux perf in /tmp/perf-<pid>.map "
                   "(as PYBPF_PERF_MAP=1 does), so `perf record`/`perf report` show "
                   "bpf:<program>:f<pc> instead of bare addresses.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def run_cmd(program: Path, section: str | None, entry: str | None, mem_file: Path | None,
            mem_hex: str | None, data_file: Path | None, ctx_file: Path | None,
            pcap: Path | None, out: Path | None, repeat: int, backend: str, budget: int,
            perf_map: bool, as_json: bool) -> None:
    """Run PROGRAM (ELF object, assembly or raw bytecode) and print the result.

    \b
    Examples:
      pybpf run prog.s --mem-hex "01 02"              r0 of a raw program, in hex
      pybpf run fw.o --section xdp --data frame.bin   one BPF_PROG_TEST_RUN
      pybpf run fw.o -s xdp --pcap in.pcap --out out.pcap
      pybpf run lib.o --entry checksum --mem buf.bin  any function as the raw mem type
      perf record pybpf run fw.o -s xdp --pcap in.pcap --backend jit --perf-map
    """
    if perf_map:
        from pybpf.jit import perfmap

        os.environ[perfmap.ENV] = "1"  # read by every link in this process
    raw = _read(program) if program.exists() else None
    mem = _read(mem_file) if mem_file else (_parse_hex(mem_hex, "--mem-hex") if mem_hex else None)
    if raw is not None and raw.startswith(ELF_MAGIC):
        _run_object(program, section, entry, mem, _read(data_file), _read(ctx_file), pcap, out,
                    repeat, backend, as_json)
        return
    insns = read_program(program)
    if backend == "jit":
        from pybpf.jit import JIT

        loaded = JIT(budget=budget).load(insns)
    else:
        from pybpf.interp import Interpreter

        loaded = Interpreter(budget=budget).load(insns)
    result = loaded.run_mem(mem)
    _print_r0(result, as_json)


def _print_r0(result: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({
            "retval": result.retval, "retval_hex": f"{result.retval:#x}",
            "instructions": result.instructions, "duration_ns": result.duration_ns,
            "memory": result.memory.hex() if result.memory is not None else None,
        }))
        return
    click.echo(f"r0 = {result.retval:#x} ({result.retval_s64})")
    click.echo(f"{result.instructions} instructions in {result.duration_ns / 1e6:.3f} ms")


def _run_object(path: Path, section: str | None, entry: str | None, mem: bytes | None,
                data: bytes | None, ctx: bytes | None, pcap: Path | None, out: Path | None,
                repeat: int, backend: str, as_json: bool) -> None:
    import pybpf
    from pybpf.elf import load_collection
    from pybpf.runtime.verdicts import verdict_name

    spec = load_collection(path)
    extra = [entry] if entry and entry not in spec.programs else []
    obj = pybpf.load(load_collection(path, entries=extra) if extra else spec, backend=backend)
    name = entry or section
    if name is None:
        if len(obj.programs) != 1:
            raise PybpfError(f"{path}: has {len(obj.programs)} programs; choose one with "
                             f"--section or --entry ({', '.join(sorted(obj.programs))})")
        name = next(iter(obj.programs))
    prog = obj.program(name)
    prog_type = prog.spec.prog_type
    console = Console()
    if pcap is not None:
        _replay(console, obj, prog, prog_type, pcap, out, as_json)
        return
    if entry and not section or mem is not None:
        result = prog.run_mem(mem)
        _print_r0(result, as_json)
        return
    result = prog.test_run(data=data or b"", ctx=ctx, repeat=repeat)
    verdict = verdict_name(prog_type, result.retval)
    if as_json:
        click.echo(json.dumps({
            "program": prog.spec.name, "retval": result.retval, "verdict": verdict,
            "data_out": result.data_out.hex(), "ctx_out": result.ctx_out.hex() if result.ctx_out else None,
            "duration_ns": result.duration_ns, "instructions": result.instructions,
            "trace": list(result.trace), "redirect": result.redirect,
            "maps": {n: [[k.hex(), _jsonable(v)] for k, v in m.items()] for n, m in obj.maps.items()},
        }))
        return
    console.print(f"[bold]{prog.spec.name}[/] ({prog.spec.section}): retval {result.retval} "
                  f"= [bold]{verdict}[/], {result.instructions} instructions, "
                  f"{result.duration_ns / 1e3:.1f} µs/run")
    if result.redirect:
        console.print(f"redirected to {result.redirect[0]} {result.redirect[1]}")
    for line in result.trace:
        console.print(f"[dim]trace:[/] {line}")
    if result.data_out != (data or b""):
        console.print(f"data_out ({len(result.data_out)} bytes): {result.data_out.hex()}")
    console.print(maps_table(obj.maps))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return repr(value)


def _replay(console: Console, obj: Any, prog: Any, prog_type: int | None, pcap: Path,
            out: Path | None, as_json: bool) -> None:
    from pybpf.runtime.pcap import count_records
    from pybpf.runtime.replay import replay

    with Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True, disable=as_json) as progress:
        task = progress.add_task("pcap", total=count_records(pcap))
        summary = replay(prog, prog_type, pcap, out=out,
                         on_packet=lambda n: progress.update(task, completed=n))
    if as_json:
        click.echo(json.dumps({
            "packets": summary.packets, "verdicts": dict(summary.verdicts), "written": summary.written,
            "refused": summary.refused, "seconds": summary.seconds,
            "maps": {n: [[k.hex(), _jsonable(v)] for k, v in m.items()] for n, m in obj.maps.items()},
        }))
        return
    table = Table(title=f"{prog.spec.name} over {pcap.name}: {summary.packets} packets "
                  f"in {summary.seconds:.2f} s")
    table.add_column("verdict")
    table.add_column("packets", justify="right")
    table.add_column("share", justify="right")
    for verdict, count in summary.verdicts.most_common():
        table.add_row(verdict, str(count), f"{100 * count / max(1, summary.packets):.1f}%")
    console.print(table)
    for line in summary.refused[:5]:
        console.print(f"[yellow]{line}[/]")
    if out is not None:
        console.print(f"wrote {summary.written} packets to {out}")
    console.print(maps_table(obj.maps))
