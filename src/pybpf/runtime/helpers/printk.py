"""Printf-like helpers: bpf_trace_printk(), bpf_trace_vprintk(), bpf_snprintf().

Mirrors ``bpf_bprintf_prepare()`` (kernel/bpf/helpers.c), which validates the format and
copies the arguments into a 512-byte binary buffer, and ``bstr_printf()`` (lib/vsprintf.c),
which renders them into a 1024-byte buffer (``MAX_BPRINTF_BUF``):

* the format must be NUL-terminated within its size and hold no ASCII control character
  but whitespace (bytes from 0x80 up pass, as UTF-8 does on 6.18); ``%%`` is a literal ``%``;
* a conversion is ``%`` [flags ``0 + - space``] [width] then one of ``d i u x X`` (after
  ``l`` or ``ll``), ``c``, ``s``, ``pks``/``pus`` (kernel/user string), ``p`` followed by
  NUL, space, punctuation, ``K``, ``x``, ``s``, ``S`` (pointer), ``pB``, or ``pi4 pI4 pi6
  pI6``; anything else, a precision, more conversions than arguments (3 for
  bpf_trace_printk(), ``data_len / 8`` up to 12 for the others), or a string conversion
  followed by a letter or digit is ``-EINVAL``; running out of the 512-byte argument buffer
  is ``-ENOSPC``;
* strings are read with ``strncpy_from_kernel_nofault()`` (an unreadable string prints as
  empty), IP addresses with ``copy_from_kernel_nofault()`` (unreadable: zeros);
* the return value is the length of the whole output, even past the 1023 bytes kept.

bpf_trace_printk() and bpf_trace_vprintk() append the message (what the
``bpf_trace_printk`` trace event records, up to its first NUL) to ``state.trace`` and return
its length; bpf_snprintf() writes at most ``str_size`` bytes including a NUL and returns
the length plus one. See :mod:`.vsprintf` for what is not modelled of ``%p``.
"""

from __future__ import annotations

import errno

from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers import vsprintf as vs
from pybpf.runtime.helpers.abi import read_cstring, u32
from pybpf.runtime.helpers.env import env_of
from pybpf.runtime.helpers.probe import read_kernel, read_kernel_string

__all__ = ["bpf_snprintf", "bpf_trace_printk", "bpf_trace_vprintk", "bprintf"]

MAX_BPRINTF_BIN_ARGS = 512
MAX_BPRINTF_BUF = 1024
MAX_BPRINTF_VARARGS = 12
MAX_TRACE_PRINTK_VARARGS = 3
#: How far bpf_snprintf() looks for the NUL of its format (the verifier checked it exists).
MAX_CONST_STR = 1 << 16

_PUNCT = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_SPACE = frozenset(b" \t\n\v\f\r")
_FLAGS = {ord("0"): vs.SpecFlag.ZEROPAD, ord("+"): vs.SpecFlag.PLUS,
          ord("-"): vs.SpecFlag.LEFT, ord(" "): vs.SpecFlag.SPACE}


class _Invalid(Exception):
    """An error of ``bpf_bprintf_prepare()`` (carries the negative errno)."""

    def __init__(self, err: int) -> None:
        super().__init__(err)
        self.err = err


def _ends_word(c: int) -> bool:
    """NUL, space or punctuation: what may follow ``%s`` and a plain ``%p``."""
    return c == 0 or c in _SPACE or c in _PUNCT


class _Prepare:
    """``bpf_bprintf_prepare()``: validation and the binary argument buffer."""

    def __init__(self, state: ExecState, fmt: bytes, args: list[int]) -> None:
        self.state = state
        self.fmt = fmt
        self.args = args
        self.bin = bytearray()

    def _at(self, i: int) -> int:
        return self.fmt[i] if i < len(self.fmt) else 0

    def _room(self) -> int:
        return MAX_BPRINTF_BIN_ARGS - len(self.bin)

    def _value(self, value: int, size: int, align: bool = True) -> None:
        if align:
            self.bin += bytes(-len(self.bin) % 4)
        if self._room() < size:
            raise _Invalid(-errno.ENOSPC)
        self.bin += (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def _string(self, addr: int, kind: str) -> None:
        """``bpf_trace_copy_string()`` into the buffer; unreadable: an empty string."""
        room = self._room()
        if room <= 0:
            raise _Invalid(-errno.ENOSPC)
        data = read_kernel_string(self.state, addr, room) if kind != "u" else -errno.EFAULT
        self.bin += data if isinstance(data, bytes) else b"\0"

    def run(self, size: int) -> None:
        fmt, at = self.fmt, self._at
        num_spec = 0
        i = 0
        while i < size:
            c = fmt[i]
            if c < 0x80 and not (0x20 <= c < 0x7F or c in _SPACE):  # bytes >= 0x80 pass
                raise _Invalid(-errno.EINVAL)
            if c != 0x25:
                i += 1
                continue
            if at(i + 1) == 0x25:
                i += 2
                continue
            if num_spec >= len(self.args):
                raise _Invalid(-errno.EINVAL)
            i = self._conversion(i + 1, self.args[num_spec]) + 1
            num_spec += 1

    def _conversion(self, i: int, arg: int) -> int:
        """One conversion after its ``%``: the index of its last character."""
        at = self._at
        while at(i) in _FLAGS:
            i += 1
        if 0x31 <= at(i) <= 0x39:
            while 0x30 <= at(i) <= 0x39:
                i += 1
        c = at(i)
        if c == ord("p"):
            return self._pointer(i, arg)
        if c == ord("s"):
            if not _ends_word(at(i + 1)):
                raise _Invalid(-errno.EINVAL)
            self._string(arg, "s")
            return i
        if c == ord("c"):
            if self._room() <= 0:
                raise _Invalid(-errno.ENOSPC)
            self.bin.append(arg & 0xFF)
            return i
        size = 4
        for _ in range(2):
            if at(i) == ord("l"):
                size = 8
                i += 1
        if chr(at(i)) not in "iduxX" or at(i) == 0:
            raise _Invalid(-errno.EINVAL)
        self._value(arg, size)
        return i

    def _pointer(self, i: int, arg: int) -> int:
        """The ``%p...`` conversions; ``i`` is at the ``p``."""
        at = self._at
        n1, n2 = at(i + 1), at(i + 2)
        if n1 in (ord("k"), ord("u")) and n2 == ord("s"):
            if not _ends_word(at(i + 3)):
                raise _Invalid(-errno.EINVAL)
            self._string(arg, chr(n1))
            return i + 2
        if _ends_word(n1) or chr(n1) in "KxsS":
            self._value(arg, 8)
            return i + 1
        if n1 == ord("B"):  # snprintf(tmp_buf, ..., "%pB", ptr): no symbol known
            self.bin += b"0x%x\0" % (arg & ((1 << 64) - 1))
            return i + 1
        if n1 not in (ord("i"), ord("I")) or n2 not in (ord("4"), ord("6")):
            raise _Invalid(-errno.EINVAL)
        width = 4 if n2 == ord("4") else 16
        if self._room() < width:
            raise _Invalid(-errno.ENOSPC)
        raw = read_kernel(self.state, arg, width)
        self.bin += vs.ip_string(chr(n1) + chr(n2), raw if isinstance(raw, bytes)
                                 else bytes(width)) + b"\0"
        return i + 2


def bprintf(state: ExecState, fmt: bytes, args: list[int], size: int) -> bytes | int:
    """Format ``fmt`` (up to its NUL) with ``args`` into a ``size``-byte buffer: everything
    ``bstr_printf()`` generates (its length is the return value), or ``-errno``."""
    end = fmt.find(b"\0")
    if end < 0:
        return -errno.EINVAL
    prep = _Prepare(state, fmt[: end + 1], args)
    try:
        prep.run(end)
    except _Invalid as bad:
        return bad.err
    env = env_of(state)
    return vs.bstr_printf(fmt[:end], bytes(prep.bin), size, key=env.secret,
                          kptr_restrict=env.kptr_restrict)


def _emit(state: ExecState, output: bytes) -> int:
    """``trace_bpf_trace_printk(buf)``: the event records the buffer up to its NUL."""
    kept = output[: MAX_BPRINTF_BUF - 1]
    state.trace.append(kept.split(b"\0", 1)[0].decode("utf-8", "backslashreplace"))
    return len(output)


def bpf_trace_printk(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_trace_printk(fmt, fmt_size, arg1, arg2, arg3): bytes formatted, or ``-errno``."""
    fmt = state.memory.read_bytes(r1, u32(r2), state.pc)
    result = bprintf(state, fmt, [r3, r4, r5][:MAX_TRACE_PRINTK_VARARGS], MAX_BPRINTF_BUF)
    return result if isinstance(result, int) else _emit(state, result)


def _varargs(state: ExecState, addr: int, data_len: int) -> list[int] | None:
    if data_len % 8 or data_len > MAX_BPRINTF_VARARGS * 8 or (data_len and not addr):
        return None
    raw = state.memory.read_bytes(addr, data_len, state.pc)
    return [int.from_bytes(raw[k : k + 8], "little") for k in range(0, data_len, 8)]


def bpf_trace_vprintk(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_trace_vprintk(fmt, fmt_size, args, data_len): like bpf_trace_printk(), 12 args."""
    args = _varargs(state, r3, u32(r4))
    if args is None:
        return -errno.EINVAL
    fmt = state.memory.read_bytes(r1, u32(r2), state.pc)
    result = bprintf(state, fmt, args, MAX_BPRINTF_BUF)
    return result if isinstance(result, int) else _emit(state, result)


def bpf_snprintf(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_snprintf(str, str_size, fmt, args, data_len): output length + 1, or ``-errno``."""
    args = _varargs(state, r4, u32(r5))
    if args is None:
        return -errno.EINVAL
    fmt = read_cstring(state, r3, MAX_CONST_STR)
    if fmt is None:
        return -errno.EINVAL
    size = u32(r2)
    result = bprintf(state, fmt + b"\0", args, size)
    if isinstance(result, int):
        return result
    if size:
        kept = result[: size - 1]
        state.memory.write_bytes(r1, kept + b"\0", state.pc)
    return len(result) + 1
