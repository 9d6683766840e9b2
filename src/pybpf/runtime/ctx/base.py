"""A context structure mapped into program memory, with computed and stored fields.

The kernel never lets programs read a context structure as plain memory: the verifier
rewrites each access (``convert_ctx_access`` callbacks such as ``bpf_convert_ctx_access()``
and ``xdp_convert_ctx_access()`` in net/core/filter.c) into loads from the real kernel
objects. A :class:`ContextRegion` does the same at run time: loads of *computed* fields
(``data``, ``len``, ``protocol``...) call a getter, the rest read a backing buffer (``cb[]``,
``mark``...), and stores go to a setter or to the buffer. Narrow loads read the addressed
bytes of the field's little-endian value, as the kernel's narrow-load rewrite does.

Which accesses are *allowed* is the verifier's business (``pybpf.platform``); at run time an
access outside every field reads 0 and a store to a read-only computed field faults.

A context may have a *native half* (a ctypes structure starting with
:data:`~pybpf.native.layout.CTX_HEADER`) for compiled code: the region fills in which
4-byte fields are plain (stored, read back as written) and where its buffer is; the
context class keeps the computed values it mirrors there (``answered``).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from pybpf.errors import ExecutionFault
from pybpf.native.layout import CTX_SLOTS, decode_redirect, encode_redirect
from pybpf.platform.ctx_fields import CtxField, CtxStruct
from pybpf.runtime.memory import Memory, Region, RegionKind

#: The packet pointers of ``xdp_md`` and ``__sk_buff``.
PACKET_POINTERS = frozenset({"data", "data_end", "data_meta"})

Getter = Callable[[], int]
Setter = Callable[[int], None]


class NativeRedirect:
    """The ``redirect`` attribute of a context with a native half: where a redirect helper
    sent the packet (``("ifindex", 3)``...), kept in the half's ``redirect`` word, so native
    and Python helpers record it in one place."""

    def __get__(self, ctx: object, owner: type | None = None) -> tuple[str, int] | None:
        return decode_redirect(ctx.native.redirect)  # type: ignore[attr-defined]

    def __set__(self, ctx: object, target: tuple[str, int] | None) -> None:
        ctx.native.redirect = encode_redirect(target)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class LayoutIndex:
    """What a context region looks up in its layout, computed once per layout: byte offset
    -> the first-declared field covering it, name -> field, the pointer fields."""

    by_offset: dict[int, CtxField]
    by_name: dict[str, CtxField]
    pointers: frozenset[str]


#: id(layout) -> (layout, its index); layouts are module constants, so ids stay valid (the
#: layout is kept here too). A frozen layout's value hash walks all its fields, which a
#: context created per run cannot afford.
_INDEXES: dict[int, tuple[CtxStruct, LayoutIndex]] = {}


def layout_index(layout: CtxStruct) -> LayoutIndex:
    """The :class:`LayoutIndex` of ``layout``."""
    found = _INDEXES.get(id(layout))
    if found is not None and found[0] is layout:
        return found[1]
    by_offset: dict[int, CtxField] = {}
    for fld in layout.fields:
        for off in range(fld.offset, fld.end):
            by_offset.setdefault(off, fld)
    by_name: dict[str, CtxField] = {}
    for fld in layout.fields:
        by_name.setdefault(fld.name, fld)
    index = LayoutIndex(by_offset, by_name,
                        frozenset(f.name for f in layout.fields if f.kind == "ptr"))
    _INDEXES[id(layout)] = (layout, index)
    return index


@cache
def _plain_slots(layout_id: int, computed: frozenset[str],
                 targets: frozenset[tuple[str, int]]) -> tuple[int, int, int]:
    """:meth:`ContextRegion.plain_slots` for a layout (by id, see :data:`_INDEXES`), the
    names of its computed fields (getters and setters) and its target sizes."""
    layout, index = _INDEXES[layout_id]
    target_of = dict(targets)
    masks = {4: 0, 2: 0, 1: 0}
    for fld in layout.fields:
        slot, rem = divmod(fld.offset, 4)
        target = target_of.get(fld.name, fld.size)
        if (rem or fld.size != 4 or slot >= CTX_SLOTS or target not in masks
                or fld.name in computed or index.by_offset.get(fld.offset) is not fld):
            continue
        masks[target] |= 1 << slot
    return masks[4] | masks[2] | masks[1], masks[2], masks[1]


class ContextRegion:
    """The context of one run: ``layout`` fields, ``getters``/``setters`` for computed ones."""

    def __init__(
        self,
        memory: Memory,
        layout: CtxStruct,
        *,
        getters: dict[str, Getter] | None = None,
        setters: dict[str, Setter] | None = None,
        initial: bytes = b"",
        target_sizes: dict[str, int] | None = None,
        pointer_fields: frozenset[str] = frozenset(),
        native: ctypes.Structure | None = None,
        native_kind: int = 0,
    ) -> None:
        self.memory = memory
        self.layout = layout
        self.getters = dict(getters or {})
        self.setters = dict(setters or {})
        self.target_sizes = dict(target_sizes or {})
        #: Fields declared ``__u32`` in the UAPI whose loads the kernel rewrites into 64-bit
        #: pointer loads (``data``, ``data_end``, ``data_meta``), plus real pointer fields.
        self._index = layout_index(layout)
        self.pointer_fields = pointer_fields | self._index.pointers
        self.buf = bytearray(layout.size)
        self.buf[: len(initial)] = initial[: layout.size]
        self._by_offset = self._index.by_offset
        #: Pins the buffer for the native half (a context buffer never changes size).
        self._pin: ctypes.Array[ctypes.c_char] | None = None
        if native is not None:
            self._pin = (ctypes.c_char * len(self.buf)).from_buffer(self.buf)
            native.plain, native.low16, native.low8 = self.plain_slots()  # type: ignore[attr-defined]
            native.fields = ctypes.addressof(self._pin)  # type: ignore[attr-defined]
        self.region: Region = memory.map(
            self.buf, RegionKind.CONTEXT, layout.name, on_load=self._load, on_store=self._store,
            native=ctypes.addressof(native) if native is not None else 0,
            native_kind=native_kind,
        )

    def plain_slots(self) -> tuple[int, int, int]:
        """``(plain, low16, low8)`` of :data:`~pybpf.native.layout.CTX_HEADER`: bit ``i`` of
        ``plain`` — the field at offset ``4 * i`` is a 4-byte stored field (no getter or
        setter), whose 4-byte loads and stores are buffer accesses as :meth:`_load` and
        :meth:`_store` make them, of which ``low16``/``low8`` say the load keeps 16/8 bits
        (the kernel's target size)."""
        return _plain_slots(id(self.layout), frozenset(self.getters) | frozenset(self.setters),
                            frozenset(self.target_sizes.items()))

    @property
    def address(self) -> int:
        return self.region.base

    def release(self) -> None:
        self.memory.unmap(self.region)

    # -- field access from Python ------------------------------------------------------------
    def _field(self, name: str) -> CtxField:
        fld = self._index.by_name.get(name)
        return fld if fld is not None else self.layout.field(name)  # raises KeyError

    def get(self, name: str) -> int:
        """Current value of field ``name`` as the program would read it (full width)."""
        fld = self._field(name)
        getter = self.getters.get(name)
        if getter is not None:
            return getter()
        return int.from_bytes(self.buf[fld.offset : fld.end], "little")

    def set(self, name: str, value: int) -> None:
        """Store into the backing buffer (used to build and read back ``ctx_in``/``ctx_out``)."""
        fld = self._field(name)
        self.buf[fld.offset : fld.end] = (value & ((1 << (8 * fld.size)) - 1)).to_bytes(fld.size, "little")

    def snapshot(self) -> bytes:
        """The structure as ``ctx_out`` would carry it: computed fields filled in."""
        out = bytearray(self.buf)
        for name, getter in self.getters.items():
            fld = self._field(name)
            if name in self.pointer_fields:
                continue
            out[fld.offset : fld.end] = (getter() & ((1 << (8 * fld.size)) - 1)).to_bytes(fld.size, "little")
        return bytes(out)

    # -- hooks called by Memory --------------------------------------------------------------
    def _load(self, off: int, size: int) -> int:
        """Mirrors the narrow-load rewrite of ``convert_ctx_accesses()``: the field is read
        at its kernel *target size*; only a load narrower than that is shifted and masked."""
        fld = self._by_offset.get(off)
        if fld is None:
            return 0
        getter = self.getters.get(fld.name)
        if getter is not None:
            value = getter()
            if fld.name in self.pointer_fields:
                return value  # pointer fields yield the whole 64-bit pointer
        else:
            value = int.from_bytes(self.buf[fld.offset : fld.end], "little")
        target = self.target_sizes.get(fld.name, fld.size)
        value &= (1 << (8 * target)) - 1
        if size >= target:
            return value
        shift = 8 * (off - fld.offset)
        return (value >> shift) & ((1 << (8 * size)) - 1)

    def _store(self, off: int, size: int, value: int) -> None:
        fld = self._by_offset.get(off)
        if fld is not None and fld.name in self.setters:
            self.setters[fld.name](value & ((1 << (8 * min(size, fld.size))) - 1))
            return
        if fld is not None and fld.name in self.getters:
            raise ExecutionFault(
                f"write to read-only context field {self.layout.name}.{fld.name}",
                address=self.region.base + off,
            )
        self.buf[off : off + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
