"""The kernel's ``vsprintf`` conversions that BPF's printf-like helpers can reach.

Mirrors lib/vsprintf.c (Linux 6.18): ``number()`` for ``%d %i %u %x %X`` with the ``l``/``ll``
qualifiers and the ``- + space 0`` flags and a field width (no precision: BPF refuses it),
``string()``/``widen_string()`` for strings (padded with spaces, ``0`` ignored), the ``%c``
case of ``bstr_printf()``, ``ip4_string()``/``ip6_string()`` for ``%pI4 %pi4 %pI6 %pi6``, and
``pointer()`` for ``%p %pK %px %ps %pS %pB``.

Not modelled: symbol lookup (``%ps``/``%pS``/``%pB`` print ``0x<address>``, what the kernel
prints for an address that is no symbol) and the boot-time key of pointer hashing: ``%p``
(and ``%pK`` under ``kptr_restrict`` 0) print a keyed hash of the address in the kernel's
form (the low 32 bits, 16 zero-padded hex digits), stable for one key but never the
kernel's value.
"""

from __future__ import annotations

import hashlib
from enum import IntFlag

__all__ = ["Spec", "SpecFlag", "char", "hashed_pointer", "ip_string", "number", "pointer", "string"]

MAX_ERRNO = 4095
U64 = (1 << 64) - 1


class SpecFlag(IntFlag):
    """``printf_spec.flags`` of lib/vsprintf.c (the ones BPF formats can set)."""

    ZEROPAD = 1
    SIGN = 2
    PLUS = 4
    SPACE = 8
    LEFT = 16
    SMALL = 32


class Spec:
    """``struct printf_spec``: flags and field width (-1 when none was given)."""

    __slots__ = ("flags", "width")

    def __init__(self, flags: SpecFlag = SpecFlag(0), width: int = -1) -> None:
        self.flags = flags
        self.width = width


def number(num: int, base: int, spec: Spec) -> bytes:
    """``number()``: ``num`` as an unsigned 64-bit value, signed if ``SIGN`` is set."""
    flags = spec.flags
    width = spec.width
    if flags & SpecFlag.LEFT:
        flags &= ~SpecFlag.ZEROPAD
    num &= U64
    sign = b""
    if flags & SpecFlag.SIGN:
        if num >> 63:
            sign, num = b"-", (1 << 64) - num
        elif flags & SpecFlag.PLUS:
            sign = b"+"
        elif flags & SpecFlag.SPACE:
            sign = b" "
        width -= len(sign)
    if base == 16:
        digits = format(num, "x" if flags & SpecFlag.SMALL else "X").encode()
    else:
        digits = str(num).encode()
    width -= len(digits)
    out = bytearray()
    if not flags & (SpecFlag.ZEROPAD | SpecFlag.LEFT) and width > 0:
        out += b" " * width
        width = 0
    out += sign
    if not flags & SpecFlag.LEFT and width > 0:
        out += (b"0" if flags & SpecFlag.ZEROPAD else b" ") * width
        width = 0
    out += digits
    if width > 0:
        out += b" " * width
    return bytes(out)


def string(text: bytes, spec: Spec) -> bytes:
    """``string_nocheck()`` + ``widen_string()``: spaces to the field width."""
    pad = spec.width - len(text)
    if pad <= 0:
        return text
    if spec.flags & SpecFlag.LEFT:
        return text + b" " * pad
    return b" " * pad + text


def char(value: int, spec: Spec) -> bytes:
    """The ``FORMAT_TYPE_CHAR`` case of ``bstr_printf()``."""
    pad = max(spec.width - 1, 0)
    c = bytes([value & 0xFF])
    return c + b" " * pad if spec.flags & SpecFlag.LEFT else b" " * pad + c


def ip_string(kind: str, raw: bytes) -> bytes:
    """``%pI4`` ``1.2.3.4``, ``%pi4`` ``001.002.003.004``, ``%pI6`` with colons, ``%pi6`` without."""
    if kind == "I4":
        return ".".join(str(b) for b in raw[:4]).encode()
    if kind == "i4":
        return ".".join(f"{b:03d}" for b in raw[:4]).encode()
    groups = [raw[i : i + 2].hex() for i in range(0, 16, 2)]
    return (":" if kind == "I6" else "").join(groups).encode()


def pointer_string(value: int, spec: Spec) -> bytes:
    """``pointer_string()``: hex, zero-padded to 16 digits unless a width was given."""
    s = Spec(spec.flags | SpecFlag.SMALL, spec.width)
    if s.width == -1:
        s.width = 16
        s.flags |= SpecFlag.ZEROPAD
    s.flags &= ~(SpecFlag.SIGN | SpecFlag.PLUS | SpecFlag.SPACE)
    return number(value, 16, s)


def hashed_pointer(value: int, key: bytes) -> int:
    """Stands for ``__ptr_to_hashval()``: a keyed hash of the address, low 32 bits."""
    digest = hashlib.blake2b(value.to_bytes(8, "little"), key=key, digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0xFFFFFFFF


def _default_pointer(value: int, spec: Spec, key: bytes) -> bytes:
    """``default_pointer()``/``ptr_to_id()``: NULL and error pointers print as they are."""
    if value == 0 or value >= (1 << 64) - MAX_ERRNO:
        return pointer_string(value, spec)
    return pointer_string(hashed_pointer(value, key), spec)


def pointer(kind: str, value: int, spec: Spec, *, key: bytes, kptr_restrict: int = 0) -> bytes:
    """``pointer()`` for the extension letter ``kind`` (``""`` for a plain ``%p``)."""
    value &= U64
    if kind == "x":
        return pointer_string(value, spec)
    if kind == "K":
        if kptr_restrict == 0:
            return _default_pointer(value, spec, key)
        return pointer_string(0, spec)
    if kind in ("s", "S", "B"):
        return string(b"0x%x" % value, spec)
    return _default_pointer(value, spec, key)
