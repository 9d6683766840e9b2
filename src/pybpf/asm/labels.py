"""Two-pass label resolution.

The line parsers return a :class:`Parsed` instruction whose branch target may still be a name
(:class:`JumpRef` for jumps and ``call local``, :class:`CallRef` for ``call NAME``). Once every
line is parsed, :func:`resolve` knows the pc of each label and fills the fields the way the
kernel reads them: ``target_pc - pc - 1`` in ``off`` (jumps) or ``imm`` (``gotol``, bpf-to-bpf
calls). Program counters count 8-byte slots, so ``lddw`` advances them by two.

Following bpf_conformance, the name ``exit`` also refers to the first ``exit`` instruction
when no label of that name is defined.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from pybpf.errors import AssembleError
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import OP_EXIT, CallSrc
from pybpf.platform.helper_ids import helper_by_name


class Field(Enum):
    """Which field a pc-relative target goes to."""

    OFF = "off"  # conditional jumps, ja, may_goto
    IMM = "imm"  # gotol (ja32), call local


@dataclass(frozen=True, slots=True)
class JumpRef:
    """A branch to ``label``: ``field`` becomes ``target_pc - pc - 1``."""

    label: str
    column: int
    field: Field


@dataclass(frozen=True, slots=True)
class CallRef:
    """``call NAME``: a bpf-to-bpf call when NAME is a label, else the helper called NAME."""

    name: str
    column: int


Ref = JumpRef | CallRef


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a line parser returns: the instruction and the name it still refers to."""

    insn: Instruction
    ref: Ref | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """A parsed instruction with the source line it came from."""

    parsed: Parsed
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class LabelDef:
    """``name:`` — binds ``name`` to the pc of the next instruction."""

    name: str
    line: int
    column: int
    text: str


def _bind(entries: Sequence[Item | LabelDef]) -> dict[str, int]:
    labels: dict[str, int] = {}
    where: dict[str, int] = {}
    pc = 0
    first_exit: int | None = None
    for entry in entries:
        if isinstance(entry, LabelDef):
            if entry.name in labels:
                raise AssembleError(
                    f"duplicate label '{entry.name}' (first defined on line {where[entry.name]})",
                    line=entry.line,
                    column=entry.column,
                    text=entry.text,
                )
            labels[entry.name] = pc
            where[entry.name] = entry.line
        else:
            if first_exit is None and entry.parsed.insn.code == OP_EXIT:
                first_exit = pc
            pc += entry.parsed.insn.slots
    if "exit" not in labels and first_exit is not None:
        labels["exit"] = first_exit
    return labels


def _fail(item: Item, column: int, message: str) -> AssembleError:
    return AssembleError(message, line=item.line, column=column, text=item.text)


def _resolve_one(item: Item, pc: int, labels: dict[str, int]) -> Instruction:
    insn, ref = item.parsed.insn, item.parsed.ref
    match ref:
        case None:
            return insn
        case JumpRef(label=label, column=column, field=field):
            if label not in labels:
                raise _fail(item, column, f"undefined label '{label}'")
            delta = labels[label] - pc - 1
            if field is Field.OFF:
                if not -(1 << 15) <= delta < (1 << 15):
                    raise _fail(
                        item,
                        column,
                        f"jump to '{label}' is {delta} slots away: offset out "
                        "of 16-bit range (use gotol / ja32)",
                    )
                return dataclasses.replace(insn, off=delta)
            return dataclasses.replace(insn, imm=delta)
        case CallRef(name=name, column=column):
            if name in labels:
                delta = labels[name] - pc - 1
                return dataclasses.replace(insn, src=CallSrc.PSEUDO_CALL, imm=delta)
            helper = helper_by_name(name)
            if helper is None:
                raise _fail(item, column, f"'{name}' is neither a label nor a helper name")
            return dataclasses.replace(insn, src=CallSrc.HELPER, imm=helper)
    raise AssertionError(f"unexpected reference {ref!r}")


def resolve(entries: Sequence[Item | LabelDef]) -> tuple[Instruction, ...]:
    """Bind the labels, then fill every pending branch target."""
    labels = _bind(entries)
    out: list[Instruction] = []
    pc = 0
    for entry in entries:
        if isinstance(entry, Item):
            insn = _resolve_one(entry, pc, labels)
            out.append(insn)
            pc += insn.slots
    return tuple(out)
