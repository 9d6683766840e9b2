"""Parse bpf_conformance ``.data`` files.

A file is a sequence of sections introduced by ``-- NAME`` lines: ``asm`` (uBPF-syntax
assembly), ``mem`` (hex bytes, whitespace separated), ``result`` (expected r0), ``raw``
(expected encoding as 64-bit words), ``c`` (the C the assembly came from), ``error``, and
``no register offset`` (a marker for runners that cannot pass r1/r2). ``#`` lines before the
first section are comments.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pybpf.errors import PybpfError


@dataclass(frozen=True, slots=True)
class ConformanceCase:
    """One test: ``asm`` text (with ``asm_line`` the file line it starts on), input memory,
    expected ``result`` or ``error``."""

    name: str
    asm: str
    asm_line: int
    mem: bytes | None
    result: int | None
    error: str | None = None
    raw: tuple[int, ...] = ()
    no_register_offset: bool = False


def parse_case(text: str, name: str = "<case>") -> ConformanceCase:
    """Parse the text of one ``.data`` file."""
    sections: dict[str, list[str]] = {}
    starts: dict[str, int] = {}
    current: str | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("-- "):
            current = line[3:].strip()
            sections.setdefault(current, [])
            starts[current] = lineno + 1
            continue
        if current is not None:
            sections[current].append(line)
    if "asm" not in sections:
        raise PybpfError(f"{name}: no '-- asm' section")
    mem = None
    if "mem" in sections:
        hex_text = " ".join(line.split("#", 1)[0] for line in sections["mem"])
        try:
            mem = bytes(int(tok, 16) for tok in hex_text.split())
        except ValueError as exc:
            raise PybpfError(f"{name}: bad '-- mem' byte: {exc}") from None
    result = None
    if "result" in sections:
        tokens = " ".join(sections["result"]).split()
        if tokens:
            try:
                result = int(tokens[0], 0)
            except ValueError:
                raise PybpfError(f"{name}: bad '-- result' value {tokens[0]!r}") from None
    error = " ".join(line.strip() for line in sections.get("error", []) if line.strip()) or None
    raw = tuple(int(tok, 16) for line in sections.get("raw", []) for tok in line.split())
    return ConformanceCase(
        name=name,
        asm="\n".join(sections["asm"]),
        asm_line=starts["asm"],
        mem=mem,
        result=result,
        error=error,
        raw=raw,
        no_register_offset="no register offset" in sections,
    )


def load_case(path: Path) -> ConformanceCase:
    """Read and parse one ``.data`` file."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PybpfError(f"{path}: cannot read: {exc}") from None
    return parse_case(text, path.stem)
