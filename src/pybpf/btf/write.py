"""BTF types -> bytes: the inverse of :mod:`pybpf.btf.parse`.

Mirrors what libbpf's ``btf__add_*()`` family and ``btf__raw_data()`` produce: a 24-byte
``struct btf_header``, the type section, then a deduplicated string section starting with the
empty string. Used to fix up a program's BTF before loading it (e.g. DATASEC sizes and
offsets, see :mod:`pybpf.btf.fixup`) and to build BTF in tests.

Not modelled: type deduplication (``btf__dedup()``); types are written exactly as given.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pybpf.btf.btf import Btf
from pybpf.btf.parse import BTF_MAGIC, BTF_VERSION, HEADER
from pybpf.btf.types import (
    Array,
    BtfType,
    Const,
    DataSec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    Void,
    Volatile,
)
from pybpf.errors import BTFError


class _Strings:
    def __init__(self, start: int) -> None:
        self.start = start
        self.buf = bytearray(b"\0") if start == 0 else bytearray()
        self.offsets: dict[str, int] = {"": 0}

    def add(self, text: str) -> int:
        off = self.offsets.get(text)
        if off is None:
            off = self.start + len(self.buf)
            self.buf += text.encode("utf-8") + b"\0"
            self.offsets[text] = off
        return off


def _info(kind: int, vlen: int = 0, kflag: bool = False) -> int:
    if not 0 <= vlen <= 0xFFFF:
        raise BTFError(f"BTF kind {kind}: {vlen} members/values exceed the 16-bit vlen")
    return (int(kflag) << 31) | (kind << 24) | vlen


def _u32(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise BTFError(f"{what} {value} does not fit in 32 bits")
    return value


def _record(t: BtfType, s: _Strings) -> list[int]:
    """The u32 words of one type record."""
    name = s.add(t.name)
    kind = int(t.kind)
    match t:
        case Int():
            enc = (int(t.encoding) << 24) | (t.offset << 16) | t.bits
            return [name, _info(kind), t.size, enc]
        case Ptr() | Typedef() | Volatile() | Const() | Restrict():
            return [name, _info(kind), t.type]
        case TypeTag():
            return [name, _info(kind, 0, t.kind_flag), t.type]
        case Func():
            return [name, _info(kind, int(t.linkage)), t.type]
        case Array():
            return [name, _info(kind), 0, t.type, t.index_type, t.nelems]
        case Struct() | Union():
            kflag = t.kind_flag or any(m.bitfield_size for m in t.members)
            words = [name, _info(kind, len(t.members), kflag), t.size]
            for m in t.members:
                if kflag:
                    if m.bit_offset > 0xFFFFFF or m.bitfield_size > 0xFF:
                        raise BTFError(f"BTF type {t.id} ({t.name}): member {m.name!r} offset "
                                       f"or bitfield size does not fit kind_flag encoding")
                    off = (m.bitfield_size << 24) | m.bit_offset
                else:
                    off = m.bit_offset
                words += [s.add(m.name), m.type, _u32(off, f"member {m.name!r} offset")]
            return words
        case Enum():
            words = [name, _info(kind, len(t.values), t.signed), t.size]
            for v in t.values:
                words += [s.add(v.name), v.value & 0xFFFFFFFF]
            return words
        case Enum64():
            words = [name, _info(kind, len(t.values), t.signed), t.size]
            for v in t.values:
                u = v.value & 0xFFFFFFFFFFFFFFFF
                words += [s.add(v.name), u & 0xFFFFFFFF, u >> 32]
            return words
        case Fwd():
            return [name, _info(kind, 0, t.is_union), 0]
        case FuncProto():
            words = [name, _info(kind, len(t.params)), t.ret]
            for p in t.params:
                words += [s.add(p.name), p.type]
            return words
        case Var():
            return [name, _info(kind), t.type, int(t.linkage)]
        case DataSec():
            words = [name, _info(kind, len(t.vars)), t.size]
            for vsi in t.vars:
                words += [vsi.type, vsi.offset, vsi.size]
            return words
        case Float():
            return [name, _info(kind), t.size]
        case DeclTag():
            return [name, _info(kind, 0, t.kind_flag), t.type, t.component_idx & 0xFFFFFFFF]
        case Void():
            raise BTFError("type id 0 (void) is implicit and cannot be written")
    raise BTFError(f"cannot encode BTF type {t!r}")  # pragma: no cover


def encode(types: Sequence[BtfType], *, base: Btf | None = None) -> bytes:
    """A raw BTF blob (little-endian) holding ``types`` in order.

    The first type gets id 1, or ``len(base)`` for split BTF; each type's own ``id`` is not
    re-checked, so callers replacing types keep them in id order.
    """
    strings = _Strings(len(base.strings) if base is not None else 0)
    words: list[int] = []
    for t in types:
        words += _record(t, strings)
    try:
        type_sec = struct.pack(f"<{len(words)}I", *words)
    except struct.error as e:
        raise BTFError(f"a BTF field does not fit in 32 bits: {e}") from None
    str_sec = bytes(strings.buf)
    hdr = HEADER.pack(BTF_MAGIC, BTF_VERSION, 0, HEADER.size, 0, len(type_sec), len(type_sec),
                      len(str_sec))
    return hdr + type_sec + str_sec


def from_types(types: Sequence[BtfType], *, base: Btf | None = None) -> Btf:
    """A :class:`Btf` holding ``types`` (``encode`` then parse, so it is fully checked)."""
    return Btf.from_bytes(encode(types, base=base), base=base)
