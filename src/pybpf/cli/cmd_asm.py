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
@click.option("--input-format", type=click.Choice(["auto", "raw", "asm", "elf"]), default="auto",
              show_default=True, help="How to read PROGRAM.")
@click.option("-s", "--section", help="ELF: only programs of this section (or this function).")
@click.option("--no-source", is_flag=True, help="ELF: do not interleave BTF source lines.")
def disasm_cmd(program: Path, syntax: str, input_format: str, section: str | None,
               no_source: bool) -> None:
    """Disassemble PROGRAM (ELF object, raw bytecode or assembly) with slot pcs.

    For ELF objects: every program (linked with the .text functions it calls), with the C
    source lines from BTF line info interleaved, like `llvm-objdump -S`.
    """
    from pybpf.asm import format_insn
    from pybpf.isa import pcs

    if input_format == "elf" or (input_format == "auto" and _is_elf(program)):
        _disasm_object(program, syntax, section, not no_source)
        return
    insns = read_program(program, input_format=input_format)
    for pc, insn in zip(pcs(insns), insns, strict=True):
        if syntax == "kernel":  # the verifier log's own "pc: (code) text" form
            click.echo(format_insn(insn, syntax=syntax, pc=pc))
        else:
            click.echo(f"{pc:>5}:\t{format_insn(insn, syntax=syntax)}")


def _is_elf(path: Path) -> bool:
    from pybpf.cli.program_input import ELF_MAGIC

    try:
        with path.open("rb") as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


def _disasm_object(path: Path, syntax: str, section: str | None, source: bool) -> None:
    from pybpf.asm import format_insn
    from pybpf.elf import load_collection
    from pybpf.errors import PybpfError
    from pybpf.isa import pcs
    from pybpf.platform.enums import ProgType

    spec = load_collection(path)
    progs = [p for p in spec.programs.values()
             if section is None or section in (p.section, p.name)]
    if not progs:
        raise PybpfError(f"{path}: no program in section or function '{section}' "
                         f"(sections: {', '.join(sorted({p.section for p in spec.programs.values()}))})")
    for prog in progs:
        kind = ProgType(prog.prog_type).name.lower() if prog.prog_type is not None else "unknown"
        click.secho(f"{prog.section}: {prog.name} ({kind}, {len(prog.instructions)} instructions)",
                    bold=True)
        lines = {info.pc: info for info in prog.line_info} if source else {}
        maps_at = {ref.pc: ref for ref in prog.map_references}
        funcs = {fi.pc: fi.name for fi in prog.func_info if fi.pc}
        last = None
        for pc, insn in zip(pcs(prog.instructions), prog.instructions, strict=True):
            if pc in funcs:
                click.secho(f"{funcs[pc]}:", bold=True)
            info = lines.get(pc)
            if info is not None and info.text and (info.line, info.file) != last:
                click.secho(f"; {info.text.strip()}    [{info.file.rsplit('/', 1)[-1]}:{info.line}]",
                            fg="cyan")
                last = (info.line, info.file)
            if syntax == "kernel":
                text = format_insn(insn, syntax=syntax, pc=pc)
            else:
                text = f"{pc:>5}:\t{format_insn(insn, syntax=syntax)}"
            ref = maps_at.get(pc)
            if ref is not None:
                text += f"\t<map {ref.map_name}{'+' + str(ref.offset) if ref.value else ''}>"
            click.echo(text)
        click.echo()
