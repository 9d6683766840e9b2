"""Entry point of the ``pybpf`` command: the group, and the error policy.

Every error a user can cause is printed as one readable line with a non-zero exit code;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import click

from pybpf import __version__
from pybpf.cli.cmd_asm import asm_cmd, disasm_cmd
from pybpf.cli.cmd_conformance import conformance_cmd
from pybpf.cli.cmd_maps import maps_cmd
from pybpf.cli.cmd_run import run_cmd
from pybpf.cli.cmd_verify import verify_cmd
from pybpf.errors import PybpfError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pybpf")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """pybpf: eBPF in Python — assemble, disassemble, run and check eBPF programs.

    \b
    Examples:
      pybpf asm prog.s -o prog.bin          assemble (uBPF or LLVM syntax)
      pybpf disasm prog.bin --syntax kernel print like the verifier log
      pybpf run prog.s --mem-hex "01 02"    run on the interpreter, print r0
      pybpf run fw.o -s xdp --pcap in.pcap  replay a capture, count verdicts
      pybpf maps fw.o                       the object's maps and initial contents
      pybpf verify fw.o                     the verifier's verdict, explained
      pybpf conformance tests/              run the bpf_conformance suite
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


cli.add_command(asm_cmd)
cli.add_command(disasm_cmd)
cli.add_command(run_cmd)
cli.add_command(conformance_cmd)
cli.add_command(maps_cmd)
cli.add_command(verify_cmd)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; convert pybpf errors into one line on stderr and exit code 1."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="pybpf", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except PybpfError as exc:
        if debug:
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        return 1
    except (OSError, RecursionError, MemoryError) as exc:
        if debug:
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
