"""Bob Jenkins' lookup3 hash as the kernel computes it, for hash-map bucket selection.

Mirrors ``jhash()``/``jhash2()`` of include/linux/jhash.h (``JHASH_INITVAL`` 0xdeadbeef) and
``htab_map_hash()`` of kernel/bpf/hashtab.c. On a little-endian host ``jhash2()`` over 32-bit
words equals ``jhash()`` over the same bytes, so one function serves both.
"""

from __future__ import annotations

__all__ = ["JHASH_INITVAL", "jhash"]

JHASH_INITVAL = 0xDEADBEEF
_M = 0xFFFFFFFF


def _rol(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def jhash(key: bytes, initval: int = 0) -> int:
    """``jhash(key, len(key), initval)``: a 32-bit hash of ``key``."""
    length = len(key)
    a = b = c = (JHASH_INITVAL + length + initval) & _M
    k = 0
    while length > 12:
        a = (a + int.from_bytes(key[k : k + 4], "little")) & _M
        b = (b + int.from_bytes(key[k + 4 : k + 8], "little")) & _M
        c = (c + int.from_bytes(key[k + 8 : k + 12], "little")) & _M
        # __jhash_mix(a, b, c)
        a = (a - c) & _M; a ^= _rol(c, 4); c = (c + b) & _M
        b = (b - a) & _M; b ^= _rol(a, 6); a = (a + c) & _M
        c = (c - b) & _M; c ^= _rol(b, 8); b = (b + a) & _M
        a = (a - c) & _M; a ^= _rol(c, 16); c = (c + b) & _M
        b = (b - a) & _M; b ^= _rol(a, 19); a = (a + c) & _M
        c = (c - b) & _M; c ^= _rol(b, 4); b = (b + a) & _M
        length -= 12
        k += 12
    if length == 0:
        return c
    tail = key[k:] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & _M
    b = (b + int.from_bytes(tail[4:8], "little")) & _M
    c = (c + int.from_bytes(tail[8:12], "little")) & _M
    # __jhash_final(a, b, c)
    c ^= b; c = (c - _rol(b, 14)) & _M
    a ^= c; a = (a - _rol(c, 11)) & _M
    b ^= a; b = (b - _rol(a, 25)) & _M
    c ^= b; c = (c - _rol(b, 16)) & _M
    a ^= c; a = (a - _rol(c, 4)) & _M
    b ^= a; b = (b - _rol(a, 14)) & _M
    c ^= b; c = (c - _rol(b, 24)) & _M
    return c
