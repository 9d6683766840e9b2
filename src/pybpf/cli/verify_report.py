"""The outcome of verifying one program, for ``pybpf verify``: as data (``--json``), as
text (one block per program) and as a rich table (several programs).

A :class:`Report` joins the verifier's :class:`~pybpf.verifier.VerificationResult` with what
the command knows around it: the failing instruction's text in the kernel log's style, its C
source line from BTF line info, and the plain-English explanation of the message
(:mod:`pybpf.verifier.explain`).
"""

from __future__ import annotations

import errno as _errno
from dataclasses import dataclass
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from pybpf.cli.verify_input import Target
from pybpf.verifier import VerificationResult
from pybpf.verifier.env import BPF_COMPLEXITY_LIMIT_INSNS
from pybpf.verifier.explain import Explanation, explain

#: Kernel-internal errno values (include/linux/errno.h) that reach user space.
_KERNEL_ERRNOS = {524: "ENOTSUPP"}


def errno_name(err: int) -> str:
    return _errno.errorcode.get(err) or _KERNEL_ERRNOS.get(err, str(err))


@dataclass(frozen=True, slots=True)
class Report:
    """One verified program: the verdict and everything printed about it."""

    target: Target
    result: VerificationResult
    seconds: float
    privileged: bool
    insn_text: str | None = None
    source: str | None = None
    explanation: Explanation | None = None

    @classmethod
    def build(cls, target: Target, result: VerificationResult, seconds: float,
              privileged: bool) -> Report:
        why = None
        insn_text = source = None
        if not result.accepted:
            why = explain(result.error, result.messages, errno=result.errno,
                          privileged=privileged)
            located = why.at_insn if why is not None else bool(result.error)
            if located and result.pc is not None:
                insn_text = _insn_text(target, result.pc)
                line = target.line_at(result.pc)
                if line is not None and line.text.strip():
                    source = f"{line.file.rsplit('/', 1)[-1]}:{line.line}: {line.text.strip()}"
        return cls(target, result, seconds, privileged, insn_text, source, why)

    @property
    def verdict(self) -> str:
        return "accepted" if self.result.accepted else "rejected"

    def stats_line(self) -> str:
        """The kernel's statistics trailer (``processed N insns (limit ...) ...``)."""
        r = self.result
        return (f"processed {r.processed_insns} insns (limit {BPF_COMPLEXITY_LIMIT_INSNS}) "
                f"max_states_per_insn "
                f"{r.max_states_per_insn} total_states {r.total_states} peak_states "
                f"{r.peak_states}")

    def to_json(self) -> dict[str, Any]:
        r, t = self.result, self.target
        out: dict[str, Any] = {
            "program": t.name, "section": t.section, "prog_type": t.prog_type.name.lower(),
            "privileged": self.privileged, "verdict": self.verdict, "accepted": r.accepted,
            "processed_insns": r.processed_insns, "max_states_per_insn": r.max_states_per_insn,
            "total_states": r.total_states, "peak_states": r.peak_states,
            "seconds": round(self.seconds, 6),
        }  # fmt: skip
        if not r.accepted:
            why = self.explanation
            out.update({
                "errno": r.errno, "errno_name": errno_name(r.errno), "error": r.error or "",
                "messages": list(r.messages), "pc": r.pc if self.insn_text else None,
                "insn": self.insn_text, "source": self.source,
                "family": why.family if why else None,
                "explanation": why.explanation if why else None,
                "hint": why.hint if why else None,
            })  # fmt: skip
        if r.log:
            out["log"] = r.log
        return out

    def echo(self) -> None:
        """The text block of this program (click, so that long messages never wrap)."""
        r, t = self.result, self.target
        where = f"section {t.section}, " if t.section else ""
        head = f"{t.name} ({where}{t.prog_type.name.lower()})"
        if r.accepted:
            click.echo(f"{head}: " + click.style("accepted", fg="green", bold=True))
        else:
            click.echo(f"{head}: " + click.style("REJECTED", fg="red", bold=True)
                       + f" ({errno_name(r.errno)})")
        click.echo(f"  {self.stats_line()}, verified in {self.seconds * 1e3:.1f} ms")
        if r.accepted:
            return
        if self.insn_text:
            click.echo(f"  at insn {self.insn_text}")
        if self.source:
            click.echo(f"  source: {self.source}")
        lines = r.messages or ((r.error,) if r.error else ())
        if lines:
            for i, line in enumerate(lines):
                click.echo(("  kernel: " if i == 0 else "          ")
                           + click.style(line, fg="red"))
        else:
            click.echo(f"  kernel: refused before verification, errno {errno_name(r.errno)} "
                       "(no log)")
        if self.explanation is not None:
            click.echo(f"  why: {self.explanation.explanation}")
            click.echo(f"  fix: {self.explanation.hint}")


def _insn_text(target: Target, pc: int) -> str | None:
    """``pc: (code) text`` as the kernel's log prints the instruction at slot ``pc``."""
    from pybpf.asm import format_insn
    from pybpf.isa import pcs

    spec = target.spec
    for slot, insn in zip(pcs(spec.instructions), spec.instructions, strict=True):
        if slot == pc:
            text = format_insn(insn, syntax="kernel", pc=pc)
            ref = next((m for m in spec.map_references if m.pc == pc), None)
            if ref is not None:
                text += f"  ; map {ref.map_name}" + (f"+{ref.offset}" if ref.value else "")
            return text
    return None


def summary_table(reports: list[Report], title: str) -> Table:
    """One row per program: verdict, processed instructions, states, time, message."""
    table = Table(title=title)
    for col in ("program", "section", "type", "verdict"):
        table.add_column(col, no_wrap=True)
    for col in ("insns", "states", "ms"):
        table.add_column(col, justify="right", no_wrap=True)
    rejected = any(not rep.result.accepted for rep in reports)
    if rejected:
        table.add_column("error", ratio=1, overflow="fold")
    for rep in reports:
        r = rep.result
        verdict = Text("accepted", style="green") if r.accepted else Text("rejected", style="red")
        error = "" if r.accepted else (r.error or f"({errno_name(r.errno)}, no log)")
        cells: list[Text | str] = [
            Text(rep.target.name), Text(rep.target.section),
            Text(rep.target.prog_type.name.lower()), verdict, str(r.processed_insns),
            str(r.total_states), f"{rep.seconds * 1e3:.1f}",
        ]  # fmt: skip
        table.add_row(*cells, *([Text(error)] if rejected else []))
    return table
