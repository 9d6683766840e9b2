"""Shared helpers for the ELF loader tests: the committed objects and llvm-objdump's reading."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from pybpf.elf import load_collection
from pybpf.isa import Instruction, pcs
from pybpf.program.spec import CollectionSpec, ProgramSpec

DATA = Path(__file__).resolve().parents[2] / "data" / "elf"
OBJDUMP = "llvm-objdump-19"
#: kconfig values that make loads independent of the host
KCONFIG = {"CONFIG_BPF_SYSCALL": "y", "CONFIG_HZ": "250"}
KERNEL_VERSION = 0x061200


def path(name: str) -> Path:
    return DATA / f"{name}.o"


@cache
def load(name: str) -> CollectionSpec:
    """``name``.o loaded without looking at the host."""
    return load_collection(
        path(name), kconfig=KCONFIG, kernel_version=KERNEL_VERSION, host_config=False
    )


def at(prog: ProgramSpec, pc: int) -> Instruction:
    """The instruction at slot ``pc``."""
    for slot, insn in zip(pcs(prog.instructions), prog.instructions):
        if slot == pc:
            return insn
    raise AssertionError(f"no instruction starts at pc {pc}")


def source_line(name: str, text: str) -> int:
    """1-based line number of the first line of ``name``.c containing ``text``."""
    for number, line in enumerate((DATA / f"{name}.c").read_text().splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {name}.c")


@cache
def objdump_relocations(name: str) -> dict[str, dict[int, str]]:
    """``llvm-objdump -dr``: function name -> {slot within the function: relocation symbol}."""
    if shutil.which(OBJDUMP) is None:
        pytest.skip(f"{OBJDUMP} is not installed")
    out = subprocess.run(
        [OBJDUMP, "-dr", str(path(name))], check=True, capture_output=True, text=True
    ).stdout
    funcs: dict[str, dict[int, str]] = {}
    current: dict[int, str] | None = None
    start = slot = 0
    for line in out.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            current, start = funcs.setdefault(head[1], {}), -1
            continue
        rel = re.match(r"^\s*[0-9a-f]+:\s+R_BPF_\w+\s+(\S+)", line)
        if rel and current is not None:
            current[slot - start] = rel[1]
            continue
        insn = re.match(r"^\s*(\d+):\s", line)
        if insn and current is not None:
            slot = int(insn[1])
            start = slot if start < 0 else start
    return funcs


@cache
def objdump(name: str) -> dict[str, list[tuple[int, bytes]]]:
    """``llvm-objdump -d``: function name -> [(slot within the function, instruction bytes)]."""
    if shutil.which(OBJDUMP) is None:
        pytest.skip(f"{OBJDUMP} is not installed")
    out = subprocess.run(
        [OBJDUMP, "-d", str(path(name))], check=True, capture_output=True, text=True
    ).stdout
    funcs: dict[str, list[tuple[int, bytes]]] = {}
    current: list[tuple[int, bytes]] | None = None
    start = 0
    for line in out.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            current = funcs.setdefault(head[1], [])
            start = -1
            continue
        insn = re.match(r"^\s*(\d+):\s+((?:[0-9a-f]{2}[ \t])+)", line)
        if insn and current is not None:
            slot = int(insn[1])
            if start < 0:
                start = slot
            current.append((slot - start, bytes.fromhex(insn[2].replace("\t", " "))))
    return funcs
