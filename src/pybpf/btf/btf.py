"""The :class:`Btf` container: type lookup by id and name, resolution and sizes.

Mirrors libbpf's ``struct btf`` API (tools/lib/bpf/btf.c): ``btf__type_by_id()``,
``btf__type_cnt()``, ``btf__find_by_name_kind()``, ``btf__resolve_type()``,
``btf__resolve_size()``, ``btf__name_by_offset()``, split BTF (``btf__parse_split()``).

A :class:`Btf` is immutable: it keeps the checked blob and decodes a type the first time it is
asked for (the kernel's ~6 MB vmlinux BTF parses in a fraction of a second that way). Two
:class:`Btf` values are equal when their blobs (and bases) are equal.
"""

from __future__ import annotations

import functools
import os
from array import array
from bisect import bisect_left
from collections.abc import Iterator

from pybpf.btf.format import format_value, to_python
from pybpf.btf.parse import BtfHeader, decode_type, parse
from pybpf.btf.strings import StringTable
from pybpf.btf.types import (
    MODIFIER_KINDS,
    VOID,
    Array,
    BtfKind,
    BtfType,
    Int,
)
from pybpf.btf.typestr import type_str
from pybpf.errors import BTFError

VMLINUX_PATH = "/sys/kernel/btf/vmlinux"
#: libbpf's MAX_RESOLVE_DEPTH: the longest modifier/array chain followed.
MAX_RESOLVE_DEPTH = 32
_U32_MAX = 0xFFFFFFFF
_SIZED_KINDS = frozenset(
    {
        BtfKind.INT,
        BtfKind.STRUCT,
        BtfKind.UNION,
        BtfKind.ENUM,
        BtfKind.ENUM64,
        BtfKind.DATASEC,
        BtfKind.FLOAT,
    }
)
_SIZE_FOLLOW_KINDS = MODIFIER_KINDS | {BtfKind.VAR, BtfKind.DECL_TAG}


class Btf:
    """Parsed BTF: ``btf[type_id]`` is a frozen type value, id 0 is ``void``.

    For split BTF (module BTF on top of vmlinux), ids below :attr:`start_id` and string offsets
    below the base's string size belong to :attr:`base`; ``len(btf)`` and :attr:`types` cover
    both, like ``btf__type_cnt()``.
    """

    __slots__ = (
        "_cache",
        "_names",
        "_offsets",
        "_ptr_size",
        "_sorted_names",
        "_start",
        "_words",
        "base",
        "data",
        "header",
        "strings",
    )

    def __init__(self, data: bytes, *, base: Btf | None = None) -> None:
        start = len(base) if base is not None else 1
        raw = parse(data, start_id=start, base_strings=base.strings if base else None)
        self.data: bytes = bytes(data)
        self.base = base
        self.header: BtfHeader = raw.header
        #: The string section (``btf.strings.get(off)``; ``btf.strings.data`` is the raw bytes).
        self.strings: StringTable = raw.strings
        self._words: array[int] = raw.words
        self._offsets: array[int] = raw.offsets
        self._start = start
        self._cache: list[BtfType | None] = [None] * len(raw.offsets)
        self._names: dict[str, list[int]] | None = None
        self._sorted_names: list[str] | None = None
        self._ptr_size: int | None = None

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes, *, base: Btf | None = None) -> Btf:
        """Parse a ``.BTF`` section or a raw BTF blob (``btf__new()``/``btf__new_split()``)."""
        return cls(data, base=base)

    @classmethod
    def load_vmlinux(cls, path: str = VMLINUX_PATH) -> Btf:
        """The running kernel's BTF (``btf__load_vmlinux_btf()``).

        Parsed once per process for as long as the file stays the same (identified by its
        inode, size and modification time): verifying a program may need it several times
        (context types, kfuncs, BTF pointers), and parsing the 6 MB of vmlinux BTF and
        indexing its names costs a good part of a second."""
        try:
            st = os.stat(path)
        except OSError as e:
            raise BTFError(f"cannot read kernel BTF {path}: {e.strerror or e}") from e
        return _parsed_file(path, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))

    def to_bytes(self) -> bytes:
        """The blob this BTF was parsed from."""
        return self.data

    # -- ids ------------------------------------------------------------------------------
    @property
    def start_id(self) -> int:
        """The first type id this blob defines (1, or the base's type count for split BTF)."""
        return self._start

    def __len__(self) -> int:
        """Number of type ids, void included (``btf__type_cnt()``)."""
        return self._start + len(self._offsets)

    def __getitem__(self, type_id: int) -> BtfType:
        """``btf__type_by_id()``; an unknown id raises :class:`BTFError`."""
        idx = type_id - self._start
        if idx >= 0:
            if idx >= len(self._offsets):
                raise BTFError(f"BTF has no type {type_id} (it has {len(self)} type ids)")
            t = self._cache[idx]
            if t is None:
                t = decode_type(self._words, self._offsets[idx], type_id, self.strings)
                self._cache[idx] = t
            return t
        if type_id == 0:
            return VOID
        if self.base is not None and type_id > 0:
            return self.base[type_id]
        raise BTFError(f"BTF has no type {type_id} (it has {len(self)} type ids)")

    def __iter__(self) -> Iterator[BtfType]:
        for tid in range(len(self)):
            yield self[tid]

    @property
    def types(self) -> tuple[BtfType, ...]:
        """Every type, indexed by id (``types[0]`` is void). Decodes them all."""
        return tuple(self)

    def kind_of(self, type_id: int) -> BtfKind:
        """The kind of ``type_id`` without decoding the whole type."""
        idx = type_id - self._start
        if 0 <= idx < len(self._offsets):
            return BtfKind((self._words[self._offsets[idx] + 1] >> 24) & 0x1F)
        return self[type_id].kind

    def name_of(self, type_id: int) -> str:
        """The type's name (``""`` for anonymous types and void)."""
        idx = type_id - self._start
        if 0 <= idx < len(self._offsets):
            return self.strings.get(self._words[self._offsets[idx]], f"BTF type {type_id} name")
        return self[type_id].name

    def string_at(self, offset: int) -> str:
        """``btf__name_by_offset()``: the string at ``offset`` of the string section."""
        return self.strings.get(offset)

    # -- equality -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Btf):
            return NotImplemented
        return self.data == other.data and self.base == other.base

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        split = f", split from {len(self.base)} base ids" if self.base is not None else ""
        return f"<Btf {len(self)} type ids, {len(self.data)} bytes{split}>"

    # -- lookups --------------------------------------------------------------------------
    def _name_index(self) -> dict[str, list[int]]:
        names = self._names
        if names is None:
            names = {} if self.base is None else {k: list(v) for k, v in
                                                   self.base._name_index().items()}
            words, get = self._words, self.strings.get
            for idx, at in enumerate(self._offsets):
                off = words[at]
                if off:
                    names.setdefault(get(off), []).append(self._start + idx)
            self._names = names
        return names

    def find_all(self, name: str, kind: BtfKind | None = None) -> list[int]:
        """Every type id named ``name`` (of ``kind`` when given), in id order."""
        ids = self._name_index().get(name, [])
        if kind is None:
            return list(ids)
        return [tid for tid in ids if self.kind_of(tid) == kind]

    def find_all_prefixed(self, prefix: str) -> list[int]:
        """Every type id whose name starts with ``prefix``, in id order."""
        names = self._sorted_names
        if names is None:
            names = self._sorted_names = sorted(self._name_index())
        index = self._name_index()
        out: list[int] = []
        for k in range(bisect_left(names, prefix), len(names)):
            if not names[k].startswith(prefix):
                break
            out += index[names[k]]
        return sorted(out)

    def find(self, name: str, kind: BtfKind | None = None) -> int | None:
        """``btf__find_by_name_kind()``: the first type id named ``name`` (and of ``kind``).

        Before the name index exists (building it decodes every name: about half a second
        for vmlinux), a lookup scans for the name's string offsets instead."""
        ids = self._name_index().get(name, ()) if self._names is not None or \
            self.base is not None else self._ids_named(name)
        for tid in ids:
            if kind is None or self.kind_of(tid) == kind:
                return tid
        return None

    def _ids_named(self, name: str) -> list[int]:
        """The type ids named ``name``, found without the name index: every offset whose
        string is ``name`` (``name`` followed by a NUL, wherever it starts: a producer may
        point a name into the tail of a longer string), then the types whose ``name_off``
        is one of them."""
        if not name:
            return self._name_index().get(name, [])
        data, needle = self.strings.data, name.encode() + b"\0"
        offsets: set[int] = set()
        at = data.find(needle)
        while at >= 0:
            offsets.add(self.strings.start + at)
            at = data.find(needle, at + 1)
        if not offsets:
            return []
        words = self._words
        return [self._start + idx for idx, at in enumerate(self._offsets)
                if words[at] in offsets]

    # -- resolution -----------------------------------------------------------------------
    def resolve(self, type_id: int) -> int:
        """Skip typedef/const/volatile/restrict/type_tag (``btf__resolve_type()`` without
        following VAR); a chain longer than MAX_RESOLVE_DEPTH (a loop) raises BTFError."""
        tid = type_id
        for _ in range(MAX_RESOLVE_DEPTH + 1):
            if self.kind_of(tid) not in MODIFIER_KINDS:
                return tid
            tid = self[tid].type  # type: ignore[union-attr]
        raise BTFError(f"BTF type {type_id}: modifier chain is too long or loops")

    def skip_mods_and_typedefs(self, type_id: int) -> tuple[int, BtfType]:
        """``skip_mods_and_typedefs()`` of libbpf: ``(resolved id, resolved type)``."""
        tid = self.resolve(type_id)
        return tid, self[tid]

    @property
    def pointer_size(self) -> int:
        """Pointer size of the BTF's target, guessed from ``long`` like libbpf's
        ``determine_ptr_size()``; 8 when the BTF has no ``long``."""
        if self._ptr_size is None:
            size = 8
            for name in ("long int", "long unsigned int", "long", "unsigned long",
                         "unsigned long int", "long signed int", "signed long"):
                tid = self.find(name, BtfKind.INT)
                if tid is not None:
                    t = self[tid]
                    assert isinstance(t, Int)
                    if t.size in (4, 8):
                        size = t.size
                        break
            self._ptr_size = size
        return self._ptr_size

    def size_of(self, type_id: int) -> int:
        """Byte size of ``type_id`` (``btf__resolve_size()``): follows modifiers, VAR and
        DECL_TAG, multiplies array dimensions; void, FWD, FUNC and FUNC_PROTO have no size."""
        nelems = 1
        tid = type_id
        for _ in range(MAX_RESOLVE_DEPTH):
            kind = self.kind_of(tid)
            if kind in _SIZED_KINDS:
                size: int = self[tid].size  # type: ignore[union-attr]
                break
            if kind == BtfKind.PTR:
                size = self.pointer_size
                break
            if kind in _SIZE_FOLLOW_KINDS:
                tid = self[tid].type  # type: ignore[union-attr]
                continue
            if kind == BtfKind.ARRAY:
                arr = self[tid]
                assert isinstance(arr, Array)
                nelems *= arr.nelems
                if nelems > _U32_MAX:
                    raise BTFError(f"BTF type {type_id}: array size overflows 32 bits")
                tid = arr.type
                continue
            raise BTFError(
                f"BTF type {type_id} ({self.describe(type_id)}) has no size "
                f"({self.describe(tid)} is {kind.name.lower()})"
            )
        else:
            raise BTFError(f"BTF type {type_id}: type chain is too long or loops")
        total = nelems * size
        if total > _U32_MAX:
            raise BTFError(f"BTF type {type_id}: size {total} overflows 32 bits")
        return total

    # -- spelling -------------------------------------------------------------------------
    def describe(self, type_id: int) -> str:
        """Kind and name for messages: ``"struct foo"``, ``"int"``, ``"ptr"``, ``"void"``."""
        if type_id == 0:
            return "void"
        kind = self.kind_of(type_id)
        name = self.name_of(type_id)
        k = kind.name.lower()
        return f"{k} {name}" if name else k

    def type_str(self, type_id: int) -> str:
        """C spelling of a type: ``"struct iphdr"``, ``"unsigned int"``, ``"char[16]"``."""
        return type_str(self, type_id)

    # -- values ---------------------------------------------------------------------------
    def format_value(self, type_id: int, data: bytes) -> str:
        """C-like text of ``data`` read as ``type_id`` (see :mod:`pybpf.btf.format`)."""
        return format_value(self, type_id, data)

    def to_python(self, type_id: int, data: bytes) -> object:
        """``data`` read as ``type_id`` as JSON-able Python values (dict/list/int/str/float)."""
        return to_python(self, type_id, data)


@functools.lru_cache(maxsize=4)
def _parsed_file(path: str, identity: tuple[int, int, int, int]) -> Btf:
    """:meth:`Btf.load_vmlinux`'s cache: ``path`` parsed, for one ``identity`` of the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BTFError(f"cannot read kernel BTF {path}: {e.strerror or e}") from e
    return Btf(data)
