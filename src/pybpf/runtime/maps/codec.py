"""Keys and values from Python objects to the bytes maps store, and per-CPU buffers.

Python callers may give an ``int`` (encoded little-endian in exactly the key or value size; a
negative int as two's complement), a bytes-like object of exactly that size, or a ``ctypes``
instance (a structure, array or scalar) of that size. Anything else is refused with a
:class:`~pybpf.errors.KernelError` naming the map (``EINVAL``).

Per-CPU values travel as the kernel's ``bpf()`` syscall exchanges them
(bpf_map_value_size() in kernel/bpf/syscall.c): one ``round_up(value_size, 8)``-byte slot per
possible CPU, concatenated.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Sequence
from typing import Any

from pybpf.runtime.maps.status import map_error

__all__ = ["join_percpu", "round_up", "split_percpu", "to_bytes"]


def round_up(n: int, align: int) -> int:
    """``round_up(n, align)`` of include/linux/math.h (``align`` a power of two)."""
    return (n + align - 1) & ~(align - 1)


def to_bytes(obj: Any, size: int, map_name: str, what: str) -> bytes:
    """``obj`` as exactly ``size`` bytes, or a clear error naming ``map_name`` and ``what``."""
    if isinstance(obj, bool):
        obj = int(obj)
    if isinstance(obj, int):
        if size == 0:
            raise map_error(map_name, f"{what} must be empty (the map has {what}_size 0)", errno.EINVAL)
        bits = 8 * size
        if -(1 << (bits - 1)) <= obj < (1 << bits):
            return (obj & ((1 << bits) - 1)).to_bytes(size, "little")
        raise map_error(
            map_name, f"{what} {obj} does not fit in {size} byte{'s' if size != 1 else ''}", errno.EINVAL
        )
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
    elif isinstance(obj, ctypes._SimpleCData | ctypes.Structure | ctypes.Union | ctypes.Array):
        data = ctypes.string_at(ctypes.addressof(obj), ctypes.sizeof(obj))
    else:
        raise map_error(
            map_name,
            f"{what} must be an int, bytes or a ctypes object, not {type(obj).__name__}",
            errno.EINVAL,
        )
    if len(data) != size:
        raise map_error(map_name, f"{what} is {len(data)} bytes, expected {size}", errno.EINVAL)
    return data


def split_percpu(buf: bytes, value_size: int, ncpus: int) -> list[bytes]:
    """The syscall buffer of a per-CPU value → one ``value_size``-byte value per CPU."""
    slot = round_up(value_size, 8)
    return [bytes(buf[cpu * slot : cpu * slot + value_size]) for cpu in range(ncpus)]


def join_percpu(values: Sequence[bytes], value_size: int) -> bytes:
    """One ``value_size``-byte value per CPU → the syscall buffer (each padded to 8 bytes)."""
    pad = bytes(round_up(value_size, 8) - value_size)
    return b"".join(bytes(v) + pad for v in values)
