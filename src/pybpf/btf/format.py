"""Values by BTF type: bytes -> C-like text or JSON-able Python values.

Follows what ``bpftool map dump`` prints with BTF (tools/bpf/bpftool/btf_dumper.c:
``btf_dumper_type()``, ``btf_dumper_bitfield()``, ``is_str_array()``), in the C-initialiser
syntax of libbpf's ``btf_dump__dump_type_data()``:

* integers signed or unsigned by their encoding, ``_Bool`` as ``true``/``false``, 128-bit
  integers in hex; a 1-byte ``char``-encoded integer as ``'c'`` when printable;
* arrays of 1-byte ``char`` (named so, or CHAR-encoded; typedefs to char do not count) as a
  string when the bytes up to a NUL are printable, as bpftool's ``is_str_array()`` decides;
* enums by enumerator name (the number when no enumerator has the value);
* structs and unions as ``{.field = value, ...}`` (every member of a union; an anonymous
  member's value without ``.name =``), arrays as ``[a, b]``, pointers in hex;
* bitfields of kind_flag structs and the older INT-encoded bitfields;
* a DATASEC (``.data``/``.bss`` maps) as ``{.var = value, ...}``.

Values are read little-endian (the byte order of every target pybpf runs on).
Not modelled: big-endian data, FUNC/FUNC_PROTO/FWD/void values (they have no bytes).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from pybpf.btf.types import (
    Array,
    Const,
    DataSec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Int,
    IntEncoding,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    Volatile,
)
from pybpf.errors import BTFError

if TYPE_CHECKING:
    from pybpf.btf.btf import Btf

_MAX_DEPTH = 64
_FLOAT_FORMATS = {2: "<e", 4: "<f", 8: "<d"}


class _Walker:
    """One walk over ``data``; ``text`` picks C-like text or Python values."""

    def __init__(self, btf: Btf, data: bytes, text: bool) -> None:
        self.btf = btf
        self.data = bytes(data)
        self.text = text

    # -- raw reads ------------------------------------------------------------------------
    def _need(self, off: int, size: int, what: int) -> None:
        if off < 0 or off + size > len(self.data):
            raise BTFError(
                f"value of BTF type {what} ({self.btf.describe(what)}) needs bytes "
                f"[{off}, {off + size}) but the data has {len(self.data)}"
            )

    def _uint(self, off: int, size: int, what: int) -> int:
        self._need(off, size, what)
        return int.from_bytes(self.data[off : off + size], "little")

    def _bits(self, off: int, bit_off: int, nbits: int, signed: bool, what: int) -> int:
        start = off + bit_off // 8
        nbytes = (bit_off % 8 + nbits + 7) // 8
        raw = self._uint(start, nbytes, what) >> (bit_off % 8)
        val = raw & ((1 << nbits) - 1)
        if signed and nbits and val >> (nbits - 1):
            val -= 1 << nbits
        return val

    # -- values ---------------------------------------------------------------------------
    def value(self, tid: int, off: int, depth: int = 0) -> object:
        if depth > _MAX_DEPTH:
            raise BTFError(f"BTF type {tid}: value nesting is too deep (a type loop?)")
        t = self.btf[tid]
        match t:
            case Int():
                if t.bits != t.size * 8 or t.offset:
                    return self._int(t, self._bits(off, t.offset, t.bits, t.signed, tid))
                self._need(off, t.size, tid)
                v = int.from_bytes(self.data[off : off + t.size], "little", signed=t.signed)
                return self._int(t, v)
            case Ptr():
                v = self._uint(off, self.btf.pointer_size, tid)
                return f"{v:#x}" if self.text else v
            case Enum() | Enum64():
                v = int.from_bytes(self._raw(off, t.size, tid), "little", signed=t.signed)
                return self._enum(t, v)
            case Float():
                return self._float(t, off)
            case Typedef() | Const() | Volatile() | Restrict() | TypeTag() | Var() | DeclTag():
                return self.value(t.type, off, depth + 1)
            case Array():
                return self._array(t, off, depth)
            case Struct() | Union():
                return self._composite(t, off, depth)
            case DataSec():
                return self._datasec(t, off, depth)
        raise BTFError(f"BTF type {tid} ({self.btf.describe(tid)}) has no value to format")

    def _raw(self, off: int, size: int, what: int) -> bytes:
        self._need(off, size, what)
        return self.data[off : off + size]

    def _int(self, t: Int, v: int) -> object:
        if t.encoding & IntEncoding.BOOL:
            return ("true" if v else "false") if self.text else bool(v)
        if not self.text:
            return v
        if t.size > 8:
            return f"{v & ((1 << (t.size * 8)) - 1):#x}"
        if t.size == 1 and t.encoding & IntEncoding.CHAR and 0x20 <= (v & 0xFF) < 0x7F:
            return repr(chr(v & 0xFF))
        return str(v)

    def _enum(self, t: Enum | Enum64, v: int) -> object:
        for name, val in t.values:
            if val == v or (val & ((1 << (t.size * 8)) - 1)) == (v & ((1 << (t.size * 8)) - 1)):
                return name
        return str(v) if self.text else v

    def _float(self, t: Float, off: int) -> object:
        raw = self._raw(off, t.size, t.id)
        fmt = _FLOAT_FORMATS.get(t.size)
        if fmt is None:  # long double: no portable decoding
            v = int.from_bytes(raw, "little")
            return f"{v:#x}" if self.text else v
        f = struct.unpack(fmt, raw)[0]
        return repr(f) if self.text else f

    def _is_char(self, elem: int) -> bool:
        btf = self.btf
        tid = elem
        for _ in range(8):  # qualifiers, but not typedefs (bpftool's rule)
            t = btf[tid]
            if isinstance(t, Const | Volatile | Restrict | TypeTag):
                tid = t.type
                continue
            return isinstance(t, Int) and t.size == 1 and (
                t.name == "char" or bool(t.encoding & IntEncoding.CHAR))
        return False

    def _array(self, t: Array, off: int, depth: int) -> object:
        esize = self.btf.size_of(t.type)
        if esize == 0 or t.nelems == 0:
            return "[]" if self.text else []
        self._need(off, esize * t.nelems, t.id)
        if esize == 1 and self._is_char(t.type):
            raw = self.data[off : off + t.nelems]
            text = _as_string(raw)
            if text is not None:
                return _quote(text) if self.text else text
        items = [self.value(t.type, off + k * esize, depth + 1) for k in range(t.nelems)]
        return "[" + ", ".join(map(str, items)) + "]" if self.text else items

    def _composite(self, t: Struct | Union, off: int, depth: int) -> object:
        self._need(off, t.size, t.id)
        parts: list[str] = []
        fields: dict[str, object] = {}
        for m in t.members:
            v = self._member(t, m.type, m.bit_offset, m.bitfield_size, off, depth)
            if self.text:
                parts.append(f".{m.name} = {v}" if m.name else str(v))
            elif m.name:
                fields[m.name] = v
            elif isinstance(v, dict):
                fields.update(v)  # anonymous struct/union: its fields belong to the parent
            else:
                fields[f"<anon{len(fields)}>"] = v
        return "{" + ", ".join(parts) + "}" if self.text else fields

    def _member(self, t: Struct | Union, mtype: int, bit_off: int, bf_size: int, off: int,
                depth: int) -> object:
        btf = self.btf
        if bf_size:
            rt = btf[btf.resolve(mtype)]
            signed = isinstance(rt, Int) and rt.signed or (
                isinstance(rt, Enum | Enum64) and rt.signed)
            v = self._bits(off, bit_off, bf_size, signed, t.id)
            if isinstance(rt, Enum | Enum64):
                return self._enum(rt, v)
            if isinstance(rt, Int):
                return self._int(rt, v)
            return str(v) if self.text else v
        if bit_off % 8:
            rt = btf[btf.resolve(mtype)]
            if isinstance(rt, Int):  # kind_flag=0 bitfield: bits/offset live in the INT
                v = self._bits(off, bit_off + rt.offset, rt.bits, rt.signed, t.id)
                return self._int(rt, v)
            raise BTFError(f"BTF type {t.id} ({btf.describe(t.id)}): member at bit offset "
                           f"{bit_off} is not byte-aligned")
        return self.value(mtype, off + bit_off // 8, depth + 1)

    def _datasec(self, t: DataSec, off: int, depth: int) -> object:
        parts: list[str] = []
        fields: dict[str, object] = {}
        for v in t.vars:
            name = self.btf.name_of(v.type)
            val = self.value(v.type, off + v.offset, depth + 1)
            if self.text:
                parts.append(f".{name} = {val}")
            else:
                fields[name] = val
        return "{" + ", ".join(parts) + "}" if self.text else fields


def _as_string(raw: bytes) -> str | None:
    """bpftool's ``is_str_array()``: NUL-terminated, printable up to the NUL."""
    end = raw.find(b"\0")
    if end < 0:
        return None
    body = raw[:end]
    if not all(0x20 <= b < 0x7F for b in body):
        return None
    return body.decode("ascii")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value_size(btf: Btf, type_id: int) -> int:
    t = btf[type_id]
    if isinstance(t, DataSec) and t.size == 0:  # clang leaves it to the loader
        return max((v.offset + v.size for v in t.vars), default=0)
    return btf.size_of(type_id)


def _check_len(btf: Btf, type_id: int, data: bytes) -> None:
    size = _value_size(btf, type_id)
    if len(data) < size:
        raise BTFError(f"value of BTF type {type_id} ({btf.describe(type_id)}) is {size} "
                       f"bytes, got {len(data)}")


def format_value(btf: Btf, type_id: int, data: bytes) -> str:
    """``data`` read as ``type_id``, as C-initialiser-like text (see the module docstring)."""
    _check_len(btf, type_id, data)
    return str(_Walker(btf, data, True).value(type_id, 0))


def to_python(btf: Btf, type_id: int, data: bytes) -> object:
    """``data`` read as ``type_id`` as dict/list/int/bool/float/str (JSON-able).

    Structs and unions become dicts (an anonymous member's fields merge into the parent),
    arrays lists, printable char arrays str, enums their enumerator name, pointers int.
    """
    _check_len(btf, type_id, data)
    return _Walker(btf, data, False).value(type_id, 0)
