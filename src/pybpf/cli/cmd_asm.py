"""``pybpf asm`` and ``pybpf disasm``."""

from __future__ import annotations

from pathlib import Path

import click

from pybpf.cli.program_input import read_program
from pybpf.isa import encode

SYNTAXES = click.Choice(["auto", "ubpf", "llvm"])


@click.command("asm")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write raw bytecode here (default: print hex, one instruction per line).")
@click.option("--syntax", type=SYNTAXES, default="auto", show_default=True,
              help="Assembly syntax: uBPF/conformance, LLVM/kernel, or detect.")
def asm_cmd(source: Path, output: Path | None, syntax: str) -> None:
    """Assemble SOURCE (uBPF `mov32 %r0, 1` or LLVM `w0 = 1` syntax) into bytecode."""
    insns = read_program(source, syntax=syntax, input_format="asm")
    if output is not None:
        output.write_bytes(encode(insns))
        click.echo(f"{output}: {sum(i.slots for i in insns)} instruction slots")
        return
    for insn in insns:
        click.echo(insn.to_bytes().hex(" "))


@click.command("disasm")
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--syntax", type=click.Choice(["llvm", "ubpf", "kernel"]), default="llvm",
              show_default=True, help="llvm-objdump, uBPF/conformance, or verifier-log style.")
@click.option("--input-format", type=click.Choice(["auto", "raw", "asm"]), default="auto",
              show_default=True, help="How to read PROGRAM.")
def disasm_cmd(program: Path, syntax: str, input_format: str) -> None:
    """Disassemble PROGRAM (raw bytecode or assembly) with slot pcs."""
    from pybpf.asm import format_insn
    from pybpf.isa import pcs

    insns = read_program(program, input_format=input_format)
    for pc, insn in zip(pcs(insns), insns, strict=True):
        if syntax == "kernel":  # the verifier log's own "pc: (code) text" form
            click.echo(format_insn(insn, syntax=syntax, pc=pc))
        else:
            click.echo(f"{pc:>5}:\t{format_insn(insn, syntax=syntax)}")
