"""Instructions -> text in one of three syntaxes.

``"llvm"`` is what ``llvm-objdump-19 -d`` prints (:mod:`pybpf.asm.format_llvm`), ``"ubpf"``
the conformance suite's syntax, which :func:`pybpf.asm.assemble` reads back
(:mod:`pybpf.asm.format_ubpf`), and ``"kernel"`` the verifier log's ``print_bpf_insn()``
text (:mod:`pybpf.asm.format_kernel`).
"""

from __future__ import annotations

from collections.abc import Iterable

from pybpf.asm.format_kernel import format_kernel
from pybpf.asm.format_llvm import format_llvm
from pybpf.asm.format_ubpf import format_ubpf
from pybpf.isa.instruction import Instruction

SYNTAXES = ("llvm", "ubpf", "kernel")


def format_insn(
    insn: Instruction, *, syntax: str = "llvm", pc: int | None = None, alu32: bool = True
) -> str:
    """One instruction as text; with ``pc``, prefixed ``"pc: "`` as the verifier log does.

    ``alu32`` only affects the ``"llvm"`` syntax: True matches
    ``llvm-objdump-19 -d --mattr=+alu32``, False plain ``llvm-objdump-19 -d``.
    """
    match syntax:
        case "llvm":
            text = format_llvm(insn, alu32=alu32)
        case "ubpf":
            text = format_ubpf(insn)
        case "kernel":
            text = format_kernel(insn)
        case _:
            raise ValueError(f"unknown syntax {syntax!r} (expected one of {', '.join(SYNTAXES)})")
    return text if pc is None else f"{pc}: {text}"


def disassemble(
    insns: Iterable[Instruction],
    *,
    syntax: str = "llvm",
    with_pc: bool = False,
    alu32: bool = True,
) -> list[str]:
    """One line per instruction (``lddw`` is one line; pcs count 8-byte slots)."""
    lines = []
    pc = 0
    for insn in insns:
        lines.append(format_insn(insn, syntax=syntax, pc=pc if with_pc else None, alu32=alu32))
        pc += insn.slots
    return lines
