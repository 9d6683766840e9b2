"""A map's entries kept sorted by key in plain buffers, for compiled code to binary-search.

Maps that programs can only read (hash devmaps, hash of maps) keep, next to the kernel's own
structure of their entries, a copy native code can search without a hash function: ``count``
keys (``key_size`` bytes each, at :attr:`SortedSlots.keys_address`) in ascending ``order``
and an 8-byte value per slot (at :attr:`SortedSlots.values_address`), written whenever the
map changes (only the map's Python side writes such maps).
"""

from __future__ import annotations

import ctypes
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

__all__ = ["SortedSlots"]


class SortedSlots:
    """Sorted key slots and their values (see the module docstring)."""

    def __init__(self, key_size: int, max_entries: int,
                 order: Callable[[bytes], Any] = bytes) -> None:
        n = max(max_entries, 1)
        self.key_size = key_size
        self._order = order
        self._sorted: list[Any] = []
        self._keys = (ctypes.c_char * (key_size * n))()
        self._values = (ctypes.c_uint64 * n)()
        self.keys_address = ctypes.addressof(self._keys)
        self.values_address = ctypes.addressof(self._values)

    def __len__(self) -> int:
        return len(self._sorted)

    def set(self, key: bytes, value: int | None) -> None:
        """``key`` now has ``value`` (None: it was deleted)."""
        key = bytes(key)
        rank, size, n = self._order(key), self.key_size, len(self._sorted)
        at = bisect_left(self._sorted, rank)
        here = at < n and self._sorted[at] == rank
        keys, values = self._keys, self._values
        if value is None:
            if here:
                self._sorted.pop(at)
                keys[size * at : size * (n - 1)] = keys[size * (at + 1) : size * n]
                values[at : n - 1] = values[at + 1 : n]
            return
        if not here:
            self._sorted.insert(at, rank)
            keys[size * (at + 1) : size * (n + 1)] = keys[size * at : size * n]
            values[at + 1 : n + 1] = values[at : n]
            keys[size * at : size * (at + 1)] = key
        values[at] = value
