"""Read a program from a file for the CLI: raw bytecode or assembly text (ELF comes later)."""

from __future__ import annotations

from pathlib import Path

from pybpf.errors import NotSupportedError, PybpfError
from pybpf.isa import Instruction, decode

ELF_MAGIC = b"\x7fELF"


def read_program(path: Path, syntax: str = "auto", input_format: str = "auto") -> tuple[Instruction, ...]:
    """Instructions from ``path``: assembly text or raw little-endian bytecode."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PybpfError(f"{path}: cannot read: {exc.strerror}") from None
    fmt = input_format
    if fmt == "auto":
        if data.startswith(ELF_MAGIC):
            fmt = "elf"
        elif _looks_like_text(data):
            fmt = "asm"
        else:
            fmt = "raw"
    if fmt == "elf":
        raise NotSupportedError(f"{path}: ELF objects are not supported yet; extract the section bytes")
    if fmt == "asm":
        from pybpf.asm import assemble

        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise PybpfError(f"{path}: assembly file is not UTF-8 text") from None
        try:
            return assemble(text, syntax=syntax)
        except PybpfError as exc:
            raise _prefixed(exc, path) from None
    try:
        return decode(data)
    except PybpfError as exc:
        raise _prefixed(exc, path) from None


def _prefixed(exc: PybpfError, path: Path) -> PybpfError:
    return PybpfError(f"{path}: {exc}")


def _looks_like_text(data: bytes) -> bool:
    if not data:
        return True
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text)
