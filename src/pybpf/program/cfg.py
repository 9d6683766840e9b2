"""Sub-program split and basic blocks.

Mirrors the structure the kernel builds in ``add_subprog_and_kfunc()`` and
``check_subprogs()`` (kernel/bpf/verifier.c): function entries are pc 0 plus the targets of
bpf-to-bpf calls (``call`` with src 1) and of ``lddw`` with ``BPF_PSEUDO_FUNC``; each function
runs from its entry to the next entry. Jumps must stay inside their function.

This module reports structural problems with :class:`pybpf.errors.DecodeError` carrying the
pc; the verifier reports the same problems with the kernel's wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pybpf.errors import DecodeError
from pybpf.isa import OP_LDDW, CallSrc, Instruction, InsnClass, JumpOp, PseudoSrc, pcs


@dataclass(frozen=True, slots=True)
class BasicBlock:
    """Instructions ``insns`` starting at slot ``start``; ``succ`` are successor block starts."""

    start: int
    insns: tuple[tuple[int, Instruction], ...]

    @property
    def end(self) -> int:
        pc, insn = self.insns[-1]
        return pc + insn.slots


@dataclass(frozen=True, slots=True)
class Function:
    """A sub-program: slots ``[start, end)`` split into basic blocks."""

    start: int
    end: int
    blocks: tuple[BasicBlock, ...]


def is_pseudo_call(insn: Instruction) -> bool:
    return insn.code == (InsnClass.JMP | JumpOp.CALL) and insn.src == CallSrc.PSEUDO_CALL


def is_pseudo_func(insn: Instruction) -> bool:
    return insn.code == OP_LDDW and insn.src == PseudoSrc.FUNC


def jump_target(pc: int, insn: Instruction) -> int | None:
    """Target slot of a jump (``ja``, ``gotol``, conditionals, ``may_goto``), else ``None``."""
    cls = insn.code & 0x07
    if cls not in (InsnClass.JMP, InsnClass.JMP32):
        return None
    op = insn.code & 0xF0
    if op in (JumpOp.CALL, JumpOp.EXIT):
        return None
    if cls == InsnClass.JMP32 and op == JumpOp.JA:
        return pc + insn.imm + 1
    return pc + insn.off + 1


def ends_block(insn: Instruction) -> bool:
    """True for instructions after which control does not simply fall through."""
    cls = insn.code & 0x07
    if cls not in (InsnClass.JMP, InsnClass.JMP32):
        return False
    return (insn.code & 0xF0) != JumpOp.CALL


def split_functions(insns: Sequence[Instruction]) -> tuple[Function, ...]:
    """Split a program into functions and basic blocks, checking every control transfer."""
    if not insns:
        raise DecodeError("program has no instructions")
    pc_of = pcs(insns)
    total = pc_of[-1] + insns[-1].slots
    starts = set(pc_of)
    entries = {0}
    for pc, insn in zip(pc_of, insns, strict=True):
        if is_pseudo_call(insn) or is_pseudo_func(insn):
            target = pc + insn.imm + 1
            if target not in starts:
                what = "call" if is_pseudo_call(insn) else "function pointer"
                raise DecodeError(
                    f"{what} target {target} is not the start of an instruction "
                    f"(program has {total} slots)",
                    pc=pc,
                )
            entries.add(target)
    bounds = sorted(entries) + [total]
    functions = []
    index = 0
    for fstart, fend in zip(bounds, bounds[1:]):
        body: list[tuple[int, Instruction]] = []
        while index < len(insns) and pc_of[index] < fend:
            body.append((pc_of[index], insns[index]))
            index += 1
        functions.append(_blocks(fstart, fend, body, starts))
    return tuple(functions)


def _blocks(
    fstart: int, fend: int, body: list[tuple[int, Instruction]], starts: set[int]
) -> Function:
    leaders = {fstart}
    for pc, insn in body:
        target = jump_target(pc, insn)
        if target is not None:
            if not fstart <= target < fend or target not in starts:
                raise DecodeError(
                    f"jump target {target} is outside its function [{fstart}, {fend}) "
                    "or inside an lddw",
                    pc=pc,
                )
            leaders.add(target)
        if ends_block(insn) and pc + insn.slots < fend:
            leaders.add(pc + insn.slots)
    blocks = []
    current: list[tuple[int, Instruction]] = []
    for pc, insn in body:
        if pc in leaders and current:
            blocks.append(BasicBlock(current[0][0], tuple(current)))
            current = []
        current.append((pc, insn))
    if current:
        blocks.append(BasicBlock(current[0][0], tuple(current)))
    return Function(fstart, fend, tuple(blocks))
