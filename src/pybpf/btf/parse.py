"""Bytes -> BTF types: the header, the type section and the string section.

Mirrors the structural checks of ``btf_parse_hdr()``, ``btf_parse_str_sec()`` and
``btf_check_all_metas()`` in kernel/bpf/btf.c (and libbpf's ``btf_parse_type_sec()``): a
malformed blob raises :class:`~pybpf.errors.BTFError` naming the type and the field. Both byte
orders are accepted (the magic tells which), as in libbpf.

Parsing is two-step so the ~6 MB vmlinux BTF loads fast: :func:`scan` validates every record
(lengths, kinds, encodings, string offsets, type references) in one pass over the u32 words and
records where each type starts; :func:`decode_type` turns one record into its frozen value when
it is first asked for.

Not modelled: the kernel's name-validity rules (C identifiers, section names) and its full
``btf_resolve()`` pass (size resolution and loop detection happen on demand in
:class:`~pybpf.btf.Btf`, which bounds every walk).
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from pybpf.btf.strings import StringTable
from pybpf.btf.types import (
    VOID,
    Array,
    BtfKind,
    BtfType,
    Const,
    DataSec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarLinkage,
    VarSecinfo,
    Volatile,
    type_refs,
)
from pybpf.errors import BTFError

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
HEADER = struct.Struct("<HBBIIIII")
HEADER_SIZE = HEADER.size  # 24
MAX_TYPE_ID = (1 << 31) - 1  # BTF_MAX_TYPE
_KIND_NAMES = {k: k.name.lower() for k in BtfKind}
_INT_SIZES = frozenset({1, 2, 4, 8, 16})
_FLOAT_SIZES = frozenset({2, 4, 8, 12, 16})


@dataclass(frozen=True, slots=True)
class BtfHeader:
    """``struct btf_header``; ``type_off``/``str_off`` count from the end of the header."""

    magic: int
    version: int
    flags: int
    hdr_len: int
    type_off: int
    type_len: int
    str_off: int
    str_len: int
    byte_order: str  # "little" or "big"


def parse_header(data: bytes) -> BtfHeader:
    """Decode and check ``struct btf_header`` (mirrors ``btf_parse_hdr()``)."""
    if len(data) < HEADER_SIZE:
        raise BTFError(f"BTF is {len(data)} bytes, shorter than its {HEADER_SIZE}-byte header")
    magic = struct.unpack_from("<H", data)[0]
    if magic == BTF_MAGIC:
        order, fmt = "little", "<"
    elif magic == 0x9FEB:
        order, fmt = "big", ">"
    else:
        raise BTFError(f"BTF magic is {magic:#06x}, expected {BTF_MAGIC:#06x}")
    _, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        fmt + "HBBIIIII", data)
    hdr = BtfHeader(BTF_MAGIC, version, flags, hdr_len, type_off, type_len, str_off, str_len,
                    order)
    if hdr.version != BTF_VERSION:
        raise BTFError(f"BTF version {hdr.version} is not supported (expected {BTF_VERSION})")
    if hdr.flags:
        raise BTFError(f"BTF header flags {hdr.flags:#x} are not supported")
    if hdr.hdr_len < HEADER_SIZE or hdr.hdr_len > len(data):
        raise BTFError(f"BTF header length {hdr.hdr_len} is invalid for {len(data)} bytes")
    if any(data[HEADER_SIZE : hdr.hdr_len]):
        raise BTFError("BTF header has unsupported non-zero fields past its known 24 bytes")
    body = len(data) - hdr.hdr_len
    if hdr.type_off % 4:
        raise BTFError(f"BTF type section offset {hdr.type_off} is not 4-byte aligned")
    if hdr.type_len % 4:
        raise BTFError(f"BTF type section length {hdr.type_len} is not a multiple of 4")
    if hdr.type_off + hdr.type_len > body:
        raise BTFError(
            f"BTF type section [{hdr.type_off}, {hdr.type_off + hdr.type_len}) is past the "
            f"end of the data ({body} bytes after the header)"
        )
    if hdr.str_off + hdr.str_len > body:
        raise BTFError(
            f"BTF string section [{hdr.str_off}, {hdr.str_off + hdr.str_len}) is past the "
            f"end of the data ({body} bytes after the header)"
        )
    if hdr.str_off < hdr.type_off + hdr.type_len and hdr.type_off < hdr.str_off + hdr.str_len:
        raise BTFError("BTF type and string sections overlap")
    return hdr


@dataclass(frozen=True, slots=True)
class RawBtf:
    """A checked blob: its header, strings, type-section words and each type's word index."""

    header: BtfHeader
    strings: StringTable
    words: array[int]
    offsets: array[int]
    start_id: int


def parse(
    data: bytes, *, start_id: int = 1, base_strings: StringTable | None = None
) -> RawBtf:
    """Check a whole blob: header, strings and the types numbered from ``start_id``.

    ``start_id``/``base_strings`` describe the base of split BTF (``btf__parse_split()``): the
    blob's first type gets id ``start_id`` and its string offsets continue the base's.
    Type references are checked against ``[0, start_id + number of types)``.
    """
    data = bytes(data)
    hdr = parse_header(data)
    s0 = hdr.hdr_len + hdr.str_off
    if base_strings is None and hdr.str_len == 0:
        raise BTFError("BTF string section is empty (it must hold at least the empty string)")
    strings = StringTable(data[s0 : s0 + hdr.str_len], base_strings)
    t0 = hdr.hdr_len + hdr.type_off
    words = array("I")
    words.frombytes(data[t0 : t0 + hdr.type_len])
    if (hdr.byte_order == "big") != (sys.byteorder == "big"):
        words.byteswap()
    offsets = scan(words, start_id, strings)
    return RawBtf(hdr, strings, words, offsets, start_id)


def _where(tid: int, kind: int, name: str) -> str:
    kname = _KIND_NAMES.get(kind, f"kind {kind}")  # type: ignore[call-overload]
    return f"BTF type {tid} ({kname} {name})" if name else f"BTF type {tid} ({kname})"


def _name_for_error(strings: StringTable, off: int) -> str:
    try:
        return strings.get(off)
    except BTFError:
        return ""


_REF_KINDS = frozenset({2, 8, 9, 10, 11, 12, 18})
_FUNC_LINKAGE = tuple(FuncLinkage)
_VAR_LINKAGE = tuple(VarLinkage)
#: kind -> (words per trailing record, whether vlen counts them, columns holding string offsets,
#: columns holding type ids)
_LAYOUT: dict[int, tuple[int, bool, tuple[int, ...], tuple[int, ...]]] = {
    1: (1, False, (), ()),  # INT: u32 encoding
    3: (3, False, (), (0, 1)),  # ARRAY: type, index_type, nelems
    4: (3, True, (0,), (1,)),  # STRUCT: btf_member name_off, type, offset
    5: (3, True, (0,), (1,)),  # UNION
    6: (2, True, (0,), ()),  # ENUM: btf_enum name_off, val
    13: (2, True, (0,), (1,)),  # FUNC_PROTO: btf_param name_off, type
    14: (1, False, (), ()),  # VAR: linkage
    15: (3, True, (), (0,)),  # DATASEC: btf_var_secinfo type, offset, size
    17: (1, False, (), ()),  # DECL_TAG: component_idx
    19: (3, True, (0,), ()),  # ENUM64: name_off, val_lo32, val_hi32
}
_VLEN_ZERO = frozenset({1, 2, 3, 7, 8, 9, 10, 11, 14, 16, 17, 18})
_SIZE_KINDS = frozenset({1, 4, 5, 6, 15, 16, 19})  # size_type is a size, not a type id


def scan(words: array[int], start_id: int, strings: StringTable) -> array[int]:
    """Validate every type record; return the word index where each one starts.

    Mirrors the per-kind ``check_meta`` callbacks of kernel/bpf/btf.c (``btf_check_all_metas()``)
    for what pybpf relies on; the error names the type id, kind and name.
    """
    offsets = array("I")
    push = offsets.append
    slen = len(strings)
    layout = _LAYOUT
    size_kinds = _SIZE_KINDS
    vlen_zero = _VLEN_ZERO
    n = len(words)
    i = 0
    tid = start_id
    max_ref = 0
    while i < n:
        if i + 3 > n:
            raise BTFError(f"BTF type {tid}: truncated type record at byte {i * 4}")
        info = words[i + 1]
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        if words[i] >= slen:
            raise BTFError(
                f"{_where(tid, kind, '')}: name offset {words[i]} is outside the string "
                f"section (size {slen})"
            )
        if info & 0x60FF0000:
            raise BTFError(f"{_where(tid, kind, '')}: unused bits of info {info:#x} are set")
        if kind == 0 or kind > 19:
            raise BTFError(f"BTF type {tid}: unknown kind {kind} (info {info:#010x})")
        push(i)
        st = words[i + 2]
        if kind not in size_kinds and st > max_ref:
            max_ref = st
        i += 3
        lay = layout.get(kind)
        if lay is not None:
            step, counted, str_cols, ref_cols = lay
            end = i + step * (vlen if counted else 1)
            if end > n:
                name = _name_for_error(strings, words[offsets[-1]])
                raise BTFError(
                    f"{_where(tid, kind, name)}: type section ends inside its "
                    f"{vlen if counted else 1} trailing record(s)"
                )
            if end > i:
                for col in ref_cols:
                    m = max(words[i + col : end : step])
                    if m > max_ref:  # noqa: PLR1730 - the hot loop: no max() call
                        max_ref = m
                for col in str_cols:
                    if max(words[i + col : end : step]) >= slen:
                        _bad_string(words, offsets[-1], tid, strings)
            if kind == 1 or kind == 6 or kind == 19:
                _check_sized(words, offsets[-1], tid, kind, strings)
            if kind == 14 and words[i] > 2:
                name = _name_for_error(strings, words[offsets[-1]])
                raise BTFError(f"{_where(tid, kind, name)}: unknown linkage {words[i]}")
            if kind == 17 and words[i] != 0xFFFFFFFF and words[i] & 0x80000000:
                name = _name_for_error(strings, words[offsets[-1]])
                raise BTFError(f"{_where(tid, kind, name)}: invalid component_idx")
            i = end
        elif kind == 16:
            _check_sized(words, offsets[-1], tid, kind, strings)
        if vlen and kind in vlen_zero:
            name = _name_for_error(strings, words[offsets[-1]])
            raise BTFError(f"{_where(tid, kind, name)}: vlen {vlen} must be 0")
        if kind == 12 and vlen > 2:
            name = _name_for_error(strings, words[offsets[-1]])
            raise BTFError(f"{_where(tid, kind, name)}: unknown linkage {vlen}")
        tid += 1
        if tid > MAX_TYPE_ID:
            raise BTFError(f"BTF has more than {MAX_TYPE_ID} types")
    if max_ref >= tid:
        _report_missing_ref(words, offsets, start_id, strings, tid)
    return offsets


def _check_sized(words: array[int], at: int, tid: int, kind: int, strings: StringTable) -> None:
    """Sizes and encodings of INT, ENUM/ENUM64 and FLOAT (``btf_int_check_meta()`` etc.)."""
    size = words[at + 2]
    name = ""
    if kind == 1:
        word = words[at + 3]
        enc = (word >> 24) & 0x0F
        off = (word >> 16) & 0xFF
        bits = word & 0xFF
        problem = ""
        if word & 0xF000FF00:
            problem = f"unused bits of the int encoding {word:#x} are set"
        elif size not in _INT_SIZES:
            problem = f"invalid int size {size}"
        elif bits > 128 or off + bits > size * 8:
            problem = f"{bits} bits at bit offset {off} do not fit in {size} bytes"
        elif enc not in (0, 1, 2, 4):
            problem = f"unsupported int encoding {enc:#x}"
        if problem:
            name = _name_for_error(strings, words[at])
            raise BTFError(f"{_where(tid, kind, name)}: {problem}")
    elif kind in (6, 19) and size not in (1, 2, 4, 8):
        name = _name_for_error(strings, words[at])
        raise BTFError(f"{_where(tid, kind, name)}: invalid enum size {size}")
    elif kind == 16 and size not in _FLOAT_SIZES:
        name = _name_for_error(strings, words[at])
        raise BTFError(f"{_where(tid, kind, name)}: invalid float size {size}")


def _bad_string(words: array[int], at: int, tid: int, strings: StringTable) -> None:
    info = words[at + 1]
    kind = (info >> 24) & 0x1F
    step = _LAYOUT[kind][0]
    name = _name_for_error(strings, words[at])
    for k in range(info & 0xFFFF):
        off = words[at + 3 + k * step]
        if off >= len(strings):
            what = {4: "member", 5: "member", 13: "parameter"}.get(kind, "enumerator")
            raise BTFError(
                f"{_where(tid, kind, name)}: {what} {k} name offset {off} is outside the "
                f"string section (size {len(strings)})"
            )
    raise AssertionError("unreachable")  # pragma: no cover


def _report_missing_ref(
    words: array[int], offsets: array[int], start_id: int, strings: StringTable, limit: int
) -> None:
    """Slow path: name the first reference to a type id that does not exist."""
    for idx, at in enumerate(offsets):
        t = decode_type(words, at, start_id + idx, strings)
        for pos, ref in enumerate(type_refs(t)):
            if ref < limit:
                continue
            where = _where(t.id, t.kind, t.name)
            match t:
                case Struct() | Union():
                    what = f"member {pos}"
                case FuncProto():
                    what = "return type" if pos == 0 else f"parameter {pos - 1}"
                case DataSec():
                    what = f"variable {pos}"
                case Array():
                    what = "element type" if pos == 0 else "index type"
                case _:
                    what = "it"
            raise BTFError(f"{where}: {what} refers to missing type {ref}")
    raise BTFError(f"BTF refers to a type id at or above {limit}, which does not exist")


def decode_type(words: array[int], at: int, tid: int, strings: StringTable) -> BtfType:
    """Build the frozen value of the (already scanned) record at word index ``at``."""
    name_off = words[at]
    info = words[at + 1]
    st = words[at + 2]
    kind = (info >> 24) & 0x1F
    vlen = info & 0xFFFF
    kflag = bool(info >> 31)
    i = at + 3
    try:
        name = strings.get(name_off) if name_off else ""
    except BTFError as e:
        raise BTFError(f"{_where(tid, kind, '')}: name {e}") from None
    where = _where(tid, kind, name)
    S = strings.get
    try:
        if kind == 4 or kind == 5:
            members = []
            for k in range(vlen):
                j = i + 3 * k
                moff, mtype, off = words[j], words[j + 1], words[j + 2]
                mname = S(moff, f"member {k}") if moff else ""
                if kflag:
                    members.append(Member(mname, mtype, off & 0xFFFFFF, off >> 24))
                else:
                    members.append(Member(mname, mtype, off, 0))
            return (Struct if kind == 4 else Union)(tid, name, st, tuple(members), kflag)
        if kind == 13:
            params = tuple(
                Param(S(words[i + 2 * k], f"parameter {k}") if words[i + 2 * k] else "",
                      words[i + 2 * k + 1])
                for k in range(vlen)
            )
            return FuncProto(tid, name, st, params)
        if kind == 12:
            return Func(tid, name, st, _FUNC_LINKAGE[vlen])
        if kind == 2:
            return Ptr(tid, name, st)
        if kind == 8:
            return Typedef(tid, name, st)
        if kind == 10:
            return Const(tid, name, st)
        if kind == 9:
            return Volatile(tid, name, st)
        if kind == 11:
            return Restrict(tid, name, st)
        if kind == 18:
            return TypeTag(tid, name, st, kflag)
        if kind == 1:
            word = words[i]
            return Int(tid, name, st, IntEncoding((word >> 24) & 0x0F), word & 0xFF,
                       (word >> 16) & 0xFF)
        if kind == 3:
            return Array(tid, name, words[i], words[i + 1], words[i + 2])
        if kind == 6 or kind == 19:
            return _enum(words, i, tid, name, kind, vlen, st, kflag, S)
        if kind == 7:
            return Fwd(tid, name, kflag)
        if kind == 14:
            return Var(tid, name, st, _VAR_LINKAGE[words[i]])
        if kind == 15:
            secs = tuple(
                VarSecinfo(words[i + 3 * k], words[i + 3 * k + 1], words[i + 3 * k + 2])
                for k in range(vlen)
            )
            return DataSec(tid, name, st, secs)
        if kind == 16:
            return Float(tid, name, st)
        if kind == 17:
            comp = words[i]
            return DeclTag(tid, name, st, comp - (1 << 32) if comp & 0x80000000 else comp, kflag)
    except BTFError as e:
        raise BTFError(f"{where}: {e}") from None
    raise BTFError(f"{where}: unknown kind {kind}")  # scan() rejects these first


def _enum(words: array[int], i: int, tid: int, name: str, kind: int, vlen: int, size: int,
          signed: bool, S: Callable[[int, str], str]) -> BtfType:
    step = 2 if kind == 6 else 3
    values = []
    for k in range(vlen):
        j = i + step * k
        off = words[j]
        vname = S(off, f"enumerator {k}") if off else ""
        if step == 2:
            v = words[j + 1]
            if signed and v & 0x80000000:
                v -= 1 << 32
        else:
            v = words[j + 1] | (words[j + 2] << 32)
            if signed and v >> 63:
                v -= 1 << 64
        values.append(EnumValue(vname, v))
    cls = Enum if kind == 6 else Enum64
    return cls(tid, name, size, signed, tuple(values))


assert VOID.id == 0  # type id 0 is implicit: never encoded in the type section
