"""``ProgramSpec``: one program as plain, deterministic data (no fds, no memory)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pybpf.isa import Instruction, decode, encode


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """A program's instructions and metadata.

    ``instructions`` are logical instructions (``lddw`` is one value of two slots); pcs count
    slots as in the kernel. ``section`` and ``source`` say where it came from, for messages.
    """

    name: str
    instructions: tuple[Instruction, ...]
    section: str = ""
    license: str = "GPL"
    prog_type: int | None = None
    source: str = ""
    meta: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def from_instructions(
        cls, insns: Iterable[Instruction], name: str = "prog", **kw: object
    ) -> ProgramSpec:
        return cls(name, tuple(insns), **kw)  # type: ignore[arg-type]

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "prog", **kw: object) -> ProgramSpec:
        return cls(name, decode(data), **kw)  # type: ignore[arg-type]

    def to_bytes(self) -> bytes:
        return encode(self.instructions)
