"""Small helpers: bpf_spin_lock/unlock, bpf_strncmp, bpf_strtol/bpf_strtoul.

Mirrors kernel/bpf/helpers.c and lib/string.c, lib/kstrtox.c (Linux 6.18):

* ``bpf_spin_lock(lock)``/``bpf_spin_unlock(lock)``: the lock is the u32 in the map value
  (``struct bpf_spin_lock``), 1 while held and 0 when free, as the queued spinlock leaves it.
  There is one CPU, so taking a held lock would never return: that is a fault here, and so
  is releasing a free lock (the verifier makes both impossible in a valid program).
* ``bpf_strncmp(s1, s1_sz, s2)``: ``strncmp(s1, s2, s1_sz)`` — -1, 0 or 1.
* ``bpf_strtol(buf, buf_len, flags, res)``/``bpf_strtoul()``: leading whitespace, an
  optional ``-``, then digits in base 8, 10, 16 or auto-detected (0: ``0x`` hex, ``0``
  octal); ``*res`` is zeroed first; the result is the number of characters consumed,
  ``-EINVAL`` for bad flags or no digits, ``-ERANGE`` on overflow (``strtoul`` also refuses
  a minus sign with ``-EINVAL``). At most 63 characters after the sign are looked at.
"""

from __future__ import annotations

import errno

from pybpf.errors import ExecutionFault
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import u32

__all__ = [
    "bpf_spin_lock",
    "bpf_spin_unlock",
    "bpf_strncmp",
    "bpf_strtol",
    "bpf_strtoul",
    "strtoull",
]

BPF_STRTOX_BASE_MASK = 0x1F
#: lib/ctype.c's isspace(): the C whitespace plus Latin-1's non-breaking space.
_SPACE = frozenset(b" \t\n\v\f\r\xa0")
U64 = (1 << 64) - 1


def bpf_spin_lock(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_spin_lock(lock): take the lock (a fault if it is held: it would spin forever)."""
    if state.memory.load(r1, 4, state.pc):
        raise ExecutionFault("bpf_spin_lock(): the lock is already held (deadlock)",
                             pc=state.pc, address=r1)
    state.memory.store(r1, 4, 1, state.pc)
    return 0


def bpf_spin_unlock(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_spin_unlock(lock): release the lock (a fault if it is not held)."""
    if not state.memory.load(r1, 4, state.pc):
        raise ExecutionFault("bpf_spin_unlock(): the lock is not held", pc=state.pc, address=r1)
    state.memory.store(r1, 4, 0, state.pc)
    return 0


def bpf_strncmp(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_strncmp(s1, s1_sz, s2): ``strncmp(s1, s2, s1_sz)``."""
    size = u32(r2)
    s1 = state.memory.read_bytes(r1, size, state.pc)
    for i in range(size):
        c1 = s1[i]
        c2 = state.memory.load(r3 + i, 1, state.pc)
        if c1 != c2:
            return -1 if c1 < c2 else 1
        if not c1:
            break
    return 0


def _parse(text: bytes, base: int) -> tuple[int, int, int, bool]:
    """``_parse_integer_fixup_radix()`` + ``_parse_integer()``:
    (value, digits parsed, end index including a ``0x`` prefix, overflow)."""
    i = 0
    if base == 0:
        if text[:1] == b"0":
            if text[1:2].lower() == b"x" and text[2:3] and chr(text[2]) in "0123456789abcdefABCDEF":
                base = 16
            else:
                base = 8
        else:
            base = 10
    if base == 16 and text[:1] == b"0" and text[1:2].lower() == b"x":
        i = 2
    start = i
    res = 0
    overflow = False
    while i < len(text):
        c = text[i]
        lc = c | 0x20
        if 0x30 <= c <= 0x39:
            val = c - 0x30
        elif 0x61 <= lc <= 0x66:
            val = lc - 0x61 + 10
        else:
            break
        if val >= base:
            break
        if res & (U64 << 60) & U64 and res > (U64 - val) // base:
            overflow = True
        res = (res * base + val) & U64
        i += 1
    return res, i - start, i, overflow


def strtoull(buf: bytes, flags: int) -> tuple[int, int, bool]:
    """``__bpf_strtoull()``: (consumed or ``-errno``, value, negative)."""
    base = flags & BPF_STRTOX_BASE_MASK
    if not buf or base not in (0, 8, 10, 16) or flags & ~BPF_STRTOX_BASE_MASK:
        return -errno.EINVAL, 0, False
    pos = 0
    while pos < len(buf) and buf[pos] in _SPACE:
        pos += 1
    negative = pos < len(buf) and buf[pos] == ord("-")
    if negative:
        pos += 1
    if pos == len(buf):
        return -errno.EINVAL, 0, negative
    text = buf[pos : pos + 63].split(b"\0", 1)[0]
    value, digits, end, overflow = _parse(text, base)
    if overflow:
        return -errno.ERANGE, 0, negative
    if digits == 0:
        return -errno.EINVAL, 0, negative
    return pos + end, value, negative


def bpf_strtol(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_strtol(buf, buf_len, flags, res): characters consumed, or ``-errno``."""
    buf = state.memory.read_bytes(r1, u32(r2), state.pc)
    state.memory.store(r4, 8, 0, state.pc)
    consumed, value, negative = strtoull(buf, r3)
    if consumed < 0:
        return consumed
    if negative:
        if 0 < (-value & U64) < (1 << 63):
            return -errno.ERANGE
        result = -value & U64
    else:
        if value >= 1 << 63:
            return -errno.ERANGE
        result = value
    state.memory.store(r4, 8, result, state.pc)
    return consumed


def bpf_strtoul(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_strtoul(buf, buf_len, flags, res): characters consumed, or ``-errno``."""
    buf = state.memory.read_bytes(r1, u32(r2), state.pc)
    state.memory.store(r4, 8, 0, state.pc)
    consumed, value, negative = strtoull(buf, r3)
    if consumed < 0:
        return consumed
    if negative:
        return -errno.EINVAL
    state.memory.store(r4, 8, value, state.pc)
    return consumed
