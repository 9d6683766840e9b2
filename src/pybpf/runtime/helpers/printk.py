"""Printf-like helpers: bpf_trace_printk(), bpf_trace_vprintk(), bpf_snprintf().

Mirrors ``bpf_bprintf_prepare()`` (kernel/bpf/helpers.c), which validates the format and
copies the arguments into a 512-byte binary buffer, and ``bstr_printf()`` (lib/vsprintf.c),
which renders them into a 1024-byte buffer (``MAX_BPRINTF_BUF``):

* the format must be NUL-terminated within its size and hold only printable ASCII or
  whitespace; ``%%`` is a literal ``%``;
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


class _Prepared:
    """The binary argument buffer's accounting and the rendered output so far."""

    def __init__(self, state: ExecState, args: list[int]) -> None:
        self.state = state
        self.args = args
        self.used = 0
        self.out = bytearray()

    def take(self, size: int, align: bool = True) -> None:
        if align:
            self.used = (self.used + 3) & ~3
        if MAX_BPRINTF_BIN_ARGS - self.used < size:
            raise _Invalid(-errno.ENOSPC)
        self.used += size

    def string(self, addr: int, kind: str) -> bytes:
        """``bpf_trace_copy_string()``: the string, or empty when it cannot be read."""
        room = MAX_BPRINTF_BIN_ARGS - self.used
        if room <= 0:
            raise _Invalid(-errno.ENOSPC)
        data = read_kernel_string(self.state, addr, room) if kind != "u" else -errno.EFAULT
        if isinstance(data, int):
            self.used += 1
            return b""
        self.used += len(data)
        return data[:-1]


def bprintf(state: ExecState, fmt: bytes, args: list[int]) -> bytes | int:
    """Format ``fmt`` (up to its NUL) with ``args``: the full output, or ``-errno``."""
    end = fmt.find(b"\0")
    if end < 0:
        return -errno.EINVAL
    text = fmt[: end + 1]  # keep the NUL: the kernel peeks at fmt[i + 1] and beyond
    prep = _Prepared(state, args)
    try:
        _walk(prep, text, end)
    except _Invalid as bad:
        return bad.err
    return bytes(prep.out)


def _walk(prep: _Prepared, fmt: bytes, size: int) -> None:
    out = prep.out
    num_spec = 0
    i = 0
    while i < size:
        c = fmt[i]
        if c >= 0x80 or not (0x20 <= c < 0x7F or c in _SPACE):
            raise _Invalid(-errno.EINVAL)
        if c != ord("%"):
            out.append(c)
            i += 1
            continue
        if fmt[i + 1] == ord("%"):
            out.append(c)
            i += 2
            continue
        if num_spec >= len(prep.args):
            raise _Invalid(-errno.EINVAL)
        i, piece = _conversion(prep, fmt, i + 1, prep.args[num_spec])
        out += piece
        num_spec += 1


def _conversion(prep: _Prepared, fmt: bytes, i: int, arg: int) -> tuple[int, bytes]:
    """One conversion starting after its ``%``: (index after it, rendered text)."""
    spec = vs.Spec()
    while fmt[i] in _FLAGS:
        spec.flags |= _FLAGS[fmt[i]]
        i += 1
    if ord("1") <= fmt[i] <= ord("9"):
        start = i
        while ord("0") <= fmt[i] <= ord("9"):
            i += 1
        spec.width = int(fmt[start:i])
    c = chr(fmt[i])
    nxt = fmt[i + 1] if i + 1 < len(fmt) else 0
    if c == "p":
        return _pointer(prep, fmt, i, arg, spec)
    if c == "s":
        if not _ends_word(nxt):
            raise _Invalid(-errno.EINVAL)
        return i + 1, vs.string(prep.string(arg, "s"), spec)
    if c == "c":
        prep.take(1, align=False)
        return i + 1, vs.char(arg, spec)
    size = 4
    for _ in range(2):
        if fmt[i] == ord("l"):
            size = 8
            i += 1
    conv = chr(fmt[i])
    if conv not in "iduxX":
        raise _Invalid(-errno.EINVAL)
    prep.take(size)
    value = arg & ((1 << (8 * size)) - 1)
    if conv in "di":
        spec.flags |= vs.SpecFlag.SIGN
        if value >> (8 * size - 1):
            value -= 1 << (8 * size)
    if conv == "x":
        spec.flags |= vs.SpecFlag.SMALL
    return i + 1, vs.number(value, 16 if conv in "xX" else 10, spec)


def _swallow_alnum(fmt: bytes, i: int) -> int:
    """``bstr_printf()`` skips every letter and digit after a ``%p`` conversion."""
    while i < len(fmt) and chr(fmt[i]).isascii() and chr(fmt[i]).isalnum():
        i += 1
    return i


def _pointer(prep: _Prepared, fmt: bytes, i: int, arg: int, spec: vs.Spec) -> tuple[int, bytes]:
    """The ``%p...`` conversions; ``i`` is at the ``p``."""
    n1 = chr(fmt[i + 1]) if i + 1 < len(fmt) else "\0"
    n2 = fmt[i + 2] if i + 2 < len(fmt) else 0
    if n1 in "ku" and n2 == ord("s"):
        nxt = fmt[i + 3] if i + 3 < len(fmt) else 0
        if not _ends_word(nxt):
            raise _Invalid(-errno.EINVAL)
        return i + 3, vs.string(prep.string(arg, n1), spec)
    env = env_of(prep.state)
    if _ends_word(ord(n1)) or n1 in "KxsS":
        prep.take(8)
        kind = "" if _ends_word(ord(n1)) else n1
        rendered = vs.pointer(kind, arg, spec, key=env.secret, kptr_restrict=env.kptr_restrict)
        return (_swallow_alnum(fmt, i + 1) if kind else i + 1), rendered
    if n1 == "B":
        text = b"0x%x" % (arg & ((1 << 64) - 1))
        prep.used += len(text) + 1  # snprintf() into the buffer, unchecked
        return _swallow_alnum(fmt, i + 1), vs.string(text, spec)
    if n1 not in "iI" or n2 not in (ord("4"), ord("6")):
        raise _Invalid(-errno.EINVAL)
    width = 4 if n2 == ord("4") else 16
    if MAX_BPRINTF_BIN_ARGS - prep.used < width:
        raise _Invalid(-errno.ENOSPC)
    raw = read_kernel(prep.state, arg, width)
    text = vs.ip_string(n1 + chr(n2), raw if isinstance(raw, bytes) else bytes(width))
    prep.used += len(text) + 1
    return _swallow_alnum(fmt, i + 1), vs.string(text, spec)


def _emit(state: ExecState, output: bytes) -> int:
    """``trace_bpf_trace_printk(buf)``: the event records the buffer up to its NUL."""
    kept = output[: MAX_BPRINTF_BUF - 1]
    state.trace.append(kept.split(b"\0", 1)[0].decode("latin-1"))
    return len(output)


def bpf_trace_printk(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_trace_printk(fmt, fmt_size, arg1, arg2, arg3): bytes formatted, or ``-errno``."""
    fmt = state.memory.read_bytes(r1, u32(r2), state.pc)
    result = bprintf(state, fmt, [r3, r4, r5][:MAX_TRACE_PRINTK_VARARGS])
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
    result = bprintf(state, fmt, args)
    return result if isinstance(result, int) else _emit(state, result)


def bpf_snprintf(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_snprintf(str, str_size, fmt, args, data_len): output length + 1, or ``-errno``."""
    args = _varargs(state, r4, u32(r5))
    if args is None:
        return -errno.EINVAL
    fmt = read_cstring(state, r3, MAX_CONST_STR)
    if fmt is None:
        return -errno.EINVAL
    result = bprintf(state, fmt + b"\0", args)
    if isinstance(result, int):
        return result
    size = u32(r2)
    if size:
        kept = result[: size - 1]
        state.memory.write_bytes(r1, kept + b"\0", state.pc)
    return len(result) + 1
