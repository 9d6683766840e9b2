"""The "llvm" syntax is llvm-objdump-19's text; the LLVM-syntax assembler agrees with llvm-mc-19.

Three checks, each skipped (with the reason) when the Debian llvm-19 tools (llvm-mc-19,
llvm-objdump-19, llvm-objcopy-19) are missing:

* every encoding of the instruction grid, written to an object with ``.quad`` directives and
  disassembled by ``llvm-objdump-19 -d`` (with and without ``--mattr=+alu32``);
* every instruction of every executable section of the C programs in ``tests/data/c`` (built
  at ``-mcpu=v1``..``v4`` by ``tests/data/c/build.sh``): section bytes from
  ``llvm-objcopy-19 -O binary --only-section``, decoded with :func:`pybpf.isa.decode`;
* ``llvm-mc-19`` assembles our LLVM text to the same bytes as :func:`pybpf.asm.assemble`, and
  :func:`pybpf.asm.assemble` reads objdump's text of the C programs back to their bytes.

Lines are compared after collapsing whitespace and dropping objdump's address column and the
``<symbol+offset>`` annotation it appends to branches. Where llvm-objdump-19 itself loses
information (:func:`objdump_lossy`) the instruction is excluded with the reason.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest

from pybpf.asm import assemble, disassemble, format_insn
from pybpf.isa import OP_CALL, OP_LDDW, AtomicOp, Instruction, Mode, decode

DATA = Path(__file__).resolve().parents[2] / "data" / "c"
OBJECTS = sorted(DATA.glob("*.o"))
_LINE = re.compile(r"^\s*(\d+):\s+(.*?)\s*$")
_SYMBOL = re.compile(r"\s+<[^<>\s]+>$")


def objdump_lossy(insn: Instruction, alu32: bool) -> str | None:
    """Why llvm-objdump-19's text for ``insn`` drops information we print, or None."""
    if insn.code == OP_LDDW and insn.src and insn.next_imm:
        return "objdump's ld_pseudo shows only the low 32 bits of the 64-bit value"
    if insn.code & 0x07 == 0 and insn.mode == Mode.IND and insn.imm:
        return "objdump prints ld_ind as skb[rN], without its immediate"
    if insn.code & 0xE7 == 0xC3 and insn.imm in (AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL):
        return "llvm-19 has no load-acquire / store-release (prints <unknown> or lock +=)"
    if not alu32 and insn.code == 0xC3 and insn.imm != AtomicOp.ADD:
        return "without alu32, llvm-objdump-19 decodes every 32-bit atomic as lock +="
    return None


def _run(*args: str | Path) -> str:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True).stdout


def objdump(obj: Path, section: str, alu32: bool) -> list[tuple[int, str]]:
    """(pc, text) of every instruction llvm-objdump-19 prints for ``section``."""
    flags = ["--mattr=+alu32"] if alu32 else []
    out = _run("llvm-objdump-19", "-d", "--no-show-raw-insn", *flags, f"--section={section}", obj)
    lines = []
    for line in out.splitlines():
        match = _LINE.match(line)
        if match:
            text = " ".join(_SYMBOL.sub("", match.group(2)).split())
            lines.append((int(match.group(1)), text))
    return lines


def text_sections(obj: Path) -> list[str]:
    """Names of the non-empty executable sections of ``obj``."""
    names = []
    for line in _run("llvm-objdump-19", "-h", obj).splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit() and "TEXT" in fields[4:] and int(fields[2], 16):
            names.append(fields[1])
    return names


def section_bytes(obj: Path, section: str, tmp: Path) -> bytes:
    out = tmp / "section.bin"
    _run("llvm-objcopy-19", "-O", "binary", f"--only-section={section}", obj, out)
    return out.read_bytes()


def compare(insns: list[Instruction], dumped: list[tuple[int, str]], alu32: bool) -> int:
    """Assert our text equals objdump's for each instruction; returns how many were compared."""
    ours = disassemble(insns, syntax="llvm", alu32=alu32)
    pcs = [int(line.split(":")[0]) for line in disassemble(insns, with_pc=True)]
    assert [pc for pc, _ in dumped] == pcs
    compared = 0
    mismatches = []
    for insn, mine, (pc, theirs) in zip(insns, ours, dumped, strict=True):
        if objdump_lossy(insn, alu32):
            continue
        compared += 1
        if mine != theirs:
            mismatches.append(f"pc {pc}: ours {mine!r} objdump {theirs!r} ({insn})")
    assert not mismatches, "\n".join(mismatches[:20])
    return compared


@pytest.mark.clang
@pytest.mark.parametrize("alu32", [True, False], ids=["alu32", "plain"])
def test_grid_matches_llvm_objdump(
    llvm_tools: None, grid: list[Instruction], alu32: bool, tmp_path: Path
) -> None:
    words = []
    for insn in grid:
        raw = insn.to_bytes()
        words += [struct.unpack_from("<Q", raw, k)[0] for k in range(0, len(raw), 8)]
    source = tmp_path / "grid.s"
    source.write_text("\t.text\n" + "".join(f"\t.quad {w:#x}\n" for w in words))
    obj = tmp_path / "grid.o"
    _run("llvm-mc-19", "-triple", "bpfel", "-filetype=obj", "-o", obj, source)
    assert decode(section_bytes(obj, ".text", tmp_path)) == tuple(grid)
    assert compare(grid, objdump(obj, ".text", alu32), alu32) > 15_000


@pytest.mark.clang
@pytest.mark.parametrize("obj", OBJECTS, ids=[o.name for o in OBJECTS])
@pytest.mark.parametrize("alu32", [True, False], ids=["alu32", "plain"])
def test_c_programs_match_llvm_objdump(
    llvm_tools: None, obj: Path, alu32: bool, tmp_path: Path
) -> None:
    sections = text_sections(obj)
    assert sections
    for section in sections:
        insns = list(decode(section_bytes(obj, section, tmp_path)))
        dumped = objdump(obj, section, alu32)
        assert compare(insns, dumped, alu32) == len(insns) or not alu32
        if alu32:  # objdump's own text assembles back, but for the src_reg calls do not show
            back = assemble("\n".join(text for _, text in dumped), syntax="llvm")
            assert [_without_call_src(i) for i in back] == [_without_call_src(i) for i in insns]


def _without_call_src(insn: Instruction) -> Instruction:
    """objdump prints helper, bpf-to-bpf and kfunc calls alike: ``call 0x3``."""
    return Instruction(insn.code, imm=insn.imm) if insn.code == OP_CALL else insn


def test_c_objects_are_committed() -> None:
    names = {o.name for o in OBJECTS}
    for source in DATA.glob("*.c"):
        for cpu in ("v1", "v2", "v3", "v4"):
            assert f"{source.stem}.{cpu}.o" in names


@pytest.mark.clang
def test_llvm_mc_assembles_our_text_to_our_encoding(
    llvm_tools: None, grid: list[Instruction], tmp_path: Path
) -> None:
    def accepted(insn: Instruction) -> bool:
        # llvm-mc-19 lacks load-acquire/store-release and our lossless spellings (ld_ind
        # immediate, 64-bit ld_pseudo), keeps gotol targets to 16 bits, and reads every
        # "call N" as a helper call.
        return not (
            objdump_lossy(insn, alu32=True)
            or (insn.code == 0x06 and not -(1 << 15) <= insn.imm < (1 << 15))
            or (insn.code == OP_CALL and (insn.src or insn.imm < 0))
        )

    chosen = [insn for insn in grid if accepted(insn)]
    text = "".join(f"\t{format_insn(insn, syntax='llvm')}\n" for insn in chosen)
    source = tmp_path / "text.s"
    source.write_text("\t.text\n" + text)
    obj = tmp_path / "text.o"
    _run("llvm-mc-19", "-triple", "bpfel", "-mattr=+alu32", "-filetype=obj", "-o", obj, source)
    theirs = decode(section_bytes(obj, ".text", tmp_path))
    assert theirs == tuple(chosen) == assemble(text, syntax="llvm")
