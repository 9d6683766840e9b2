"""``bstr_printf()``: rendering a format from the binary arguments BPF's printf helpers prepared.

Mirrors lib/vsprintf.c (Linux 6.18) as far as BPF formats reach it: ``format_decode()``
(flags ``- + space # 0``, a field width, the ``hh h l ll z t j L`` qualifiers), ``number()``
for ``%d %i %u %x %X %o``, ``string()``/``widen_string()`` for ``%s`` (padded with spaces),
the ``%c`` case, and ``pointer()`` for ``%p %pK %px %ps %pS``. The arguments are read back
from the binary buffer with ``get_arg()``'s alignment (4 bytes for ints, longs and
pointers, none for chars). Strings the BPF side pre-formatted (``%pI4``/``%pi6``...,
``%pks``/``%pus``, ``%pB``) are copied raw, without width, and — a kernel quirk kept here —
only while the output has not reached the buffer's end; after that they are neither
counted nor consumed, shifting later arguments.

Not modelled: symbol lookup (``%ps``/``%pS`` print ``0x<address>``, what the kernel prints
for an address that is no symbol) and the boot-time key of pointer hashing: ``%p`` (and
``%pK`` under ``kptr_restrict`` 0) print a keyed hash of the address in the kernel's form
(the low 32 bits, as 16 zero-padded hex digits), stable for one key but never the kernel's.
"""

from __future__ import annotations

import hashlib
from enum import IntFlag

__all__ = ["Spec", "SpecFlag", "bstr_printf", "hashed_pointer", "ip_string", "number", "string"]

MAX_ERRNO = 4095
U64 = (1 << 64) - 1


class SpecFlag(IntFlag):
    """``printf_spec.flags`` of lib/vsprintf.c."""

    ZEROPAD = 1
    SIGN = 2
    PLUS = 4
    SPACE = 8
    LEFT = 16
    SMALL = 32
    SPECIAL = 64


_FLAG_CHARS = {ord("-"): SpecFlag.LEFT, ord("+"): SpecFlag.PLUS, ord(" "): SpecFlag.SPACE,
               ord("#"): SpecFlag.SPECIAL, ord("0"): SpecFlag.ZEROPAD}


NO_FLAGS = SpecFlag(0)


class Spec:
    """``struct printf_spec``: flags and field width (-1 when none was given)."""

    __slots__ = ("flags", "width")

    def __init__(self, flags: SpecFlag = NO_FLAGS, width: int = -1) -> None:
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
    prefix = b""
    if flags & SpecFlag.SPECIAL and base != 10:
        if base == 16:
            prefix = b"0x" if flags & SpecFlag.SMALL else b"0X"
        elif num:
            prefix = b"0"
        width -= len(prefix)
    if base == 16:
        digits = format(num, "x" if flags & SpecFlag.SMALL else "X").encode()
    elif base == 8:
        digits = format(num, "o").encode()
    else:
        digits = str(num).encode()
    width -= len(digits)
    out = bytearray()
    if not flags & (SpecFlag.ZEROPAD | SpecFlag.LEFT) and width > 0:
        out += b" " * width
        width = 0
    out += sign + prefix
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


def ip_string(kind: str, raw: bytes) -> bytes:
    """``%pI4`` 1.2.3.4, ``%pi4`` 001.002.003.004, ``%pI6`` with colons, ``%pi6`` without."""
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
    s.flags &= ~(SpecFlag.SIGN | SpecFlag.PLUS | SpecFlag.SPACE | SpecFlag.SPECIAL)
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
    if kind in ("s", "S"):
        return string(b"0x%x" % value, spec)
    return _default_pointer(value, spec, key)


class _Args:
    """``get_arg()`` over the binary argument buffer."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def get(self, size: int) -> int:
        if size > 1:
            self.pos = (self.pos + 3) & ~3
        value = int.from_bytes(self.buf[self.pos : self.pos + size].ljust(size, b"\0"), "little")
        self.pos += size
        return value

    def text(self) -> bytes:
        end = self.buf.find(b"\0", self.pos)
        end = len(self.buf) if end < 0 else end
        return self.buf[self.pos : end]


_QUALIFIER_SIZE = {"hh": 1, "h": 2, "l": 8, "ll": 8, "z": 8, "t": 8, "j": 8, "L": 8}


def _is_alnum(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def bstr_printf(fmt: bytes, bin_args: bytes, size: int, *, key: bytes,
                kptr_restrict: int = 0) -> bytes:
    """Everything ``bstr_printf(buf, size, fmt, bin_args)`` generates; the caller keeps the
    first ``size - 1`` bytes (the return value is the length of what is returned here)."""
    out = bytearray()
    args = _Args(bin_args)
    n = len(fmt)
    i = 0
    while i < n:
        c = fmt[i]
        if c != 0x25:  # '%'
            out.append(c)
            i += 1
            continue
        i += 1
        spec = Spec()
        while i < n and fmt[i] in _FLAG_CHARS:
            spec.flags |= _FLAG_CHARS[fmt[i]]
            i += 1
        if i < n and 0x30 <= fmt[i] <= 0x39:
            start = i
            while i < n and 0x30 <= fmt[i] <= 0x39:
                i += 1
            spec.width = int(fmt[start:i])
        qualifier = ""
        if i < n and chr(fmt[i]) in "hlLzZtj":
            qualifier = chr(fmt[i])
            i += 1
            if i < n and qualifier in "hl" and chr(fmt[i]) == qualifier:
                qualifier += qualifier
                i += 1
        conv = chr(fmt[i]) if i < n else "\0"
        i += 1
        if conv == "%":
            out.append(0x25)
        elif conv == "c":
            out += string(bytes([args.get(1)]), spec)
        elif conv == "s":
            text = args.text()
            args.pos += len(text) + 1
            out += string(text, spec)
        elif conv == "p":
            kind = fmt[i] if i < n else 0
            if not _is_alnum(kind) or chr(kind) in "SsxKe":
                letter = chr(kind) if _is_alnum(kind) else ""
                out += pointer(letter, args.get(8), spec, key=key, kptr_restrict=kptr_restrict)
            elif len(out) < size:  # pre-formatted by the BPF side
                text = args.text()
                out += text
                args.pos += len(text) + 1
            while i < n and _is_alnum(fmt[i]):
                i += 1
        elif conv in "diuxXo":
            width = _QUALIFIER_SIZE.get(qualifier, 4)
            value = args.get(width)
            if conv in "di":
                spec.flags |= SpecFlag.SIGN
                if value >> (8 * width - 1):
                    value -= 1 << (8 * width)
            if conv == "x":
                spec.flags |= SpecFlag.SMALL
            out += number(value, {"x": 16, "X": 16, "o": 8}.get(conv, 10), spec)
        else:  # FORMAT_TYPE_INVALID: the rest cannot be parsed safely
            break
    return bytes(out)
