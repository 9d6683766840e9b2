"""Plain data types for context-structure layouts (filled by the generated ``ctx_layouts``).

Owns only the shape of a layout: a structure's size and its leaf fields. The access rules
(which offsets and sizes a program type may load or store) live in :mod:`pybpf.platform.ctx_access`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CtxField", "CtxStruct"]


@dataclass(frozen=True, slots=True)
class CtxField:
    """One leaf field: ``name`` (``"cb[2]"``, ``"args[0]"``), byte ``offset`` and ``size``.

    ``kind`` is ``"int"``, ``"ptr"`` (a pointer, or a ``__bpf_md_ptr`` slot) or ``"enum"``.
    """

    name: str
    offset: int
    size: int
    kind: str

    @property
    def end(self) -> int:
        """One past the last byte (the kernel's ``offsetofend``)."""
        return self.offset + self.size


@dataclass(frozen=True, slots=True)
class CtxStruct:
    """A context structure: ``name`` (``"__sk_buff"``), ``size`` in bytes and its fields."""

    name: str
    size: int
    fields: tuple[CtxField, ...]

    def field(self, name: str) -> CtxField:
        """The field called ``name``; raises ``KeyError``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"struct {self.name} has no field {name!r}")

    def offsetof(self, name: str) -> int:
        """The kernel's ``offsetof(struct, name)``."""
        return self.field(name).offset

    def offsetofend(self, name: str) -> int:
        """The kernel's ``offsetofend(struct, name)``."""
        return self.field(name).end

    def fields_at(self, offset: int) -> tuple[CtxField, ...]:
        """Every field covering byte ``offset`` (several where unions overlap)."""
        return tuple(f for f in self.fields if f.offset <= offset < f.end)

    def field_at(self, offset: int) -> CtxField | None:
        """The first-declared field covering byte ``offset``, or None (padding/outside)."""
        for f in self.fields:
            if f.offset <= offset < f.end:
                return f
        return None
