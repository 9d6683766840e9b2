"""The index and value slots of a hash-like map, in memory that native code shares.

A :class:`NativeTable` owns a :class:`~pybpf.native.layout.NativeMap` and the buffers it
points at (buckets, occupancy bitmaps, element records, LRU reference bits, the two slot
rings, the value slots) and maps the value slots into program memory. Every operation on
them is a function of the native library (:mod:`pybpf.native.htab_ir`), called here through
ctypes and by JIT code directly, so Python, the interpreter and compiled programs work on the
same table: semantics live in one place.

Buffers are anonymous ``MAP_NORESERVE`` mappings sized for the map's limits: the kernel
hands out zeroed pages only when they are touched, so a map with ``2**27`` entries costs
nothing until it fills (and its value slots are never "carved" in chunks). Value slots are
mapped as regions of at most 4 GiB (``windows``); a slot never straddles two.

Not modelled: releasing the memory of deleted elements before the map is closed.
"""

from __future__ import annotations

import ctypes
import mmap
from typing import Any

from pybpf.native.layout import (
    ALL_CPUS,
    NOT_NATIVE,
    REC_HEADER,
    REC_KEY,
    REC_VADDR,
    MapKind,
    NativeMap,
)
from pybpf.native.library import NativeLibrary, library
from pybpf.runtime.maps.codec import round_up
from pybpf.runtime.maps.htab import roundup_pow_of_two
from pybpf.runtime.memory import WINDOW_MASK, Memory, Region, RegionKind

__all__ = ["ALL_CPUS", "NOT_NATIVE", "Buffer", "NativeTable"]

_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)


class Buffer:
    """An anonymous, lazily backed mapping and its host address."""

    __slots__ = ("address", "map", "pin", "size")

    def __init__(self, size: int) -> None:
        self.size = max(size, 8)
        self.map = mmap.mmap(-1, self.size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _NORESERVE)
        self.pin = (ctypes.c_char * self.size).from_buffer(self.map)
        self.address = ctypes.addressof(self.pin)


class NativeTable:
    """A hash-like map's shared index and value slots (see the module docstring)."""

    def __init__(self, memory: Memory, name: str, kind: MapKind, *, key_size: int,
                 value_size: int, max_entries: int, ncpus: int, percpu: bool, limit: int,
                 writable: bool) -> None:
        self.memory = memory
        self.lib: NativeLibrary = library()
        self._fn = self.lib.fn
        self.key_size = key_size
        self.value_size = value_size
        self.elem_size = round_up(value_size, 8)
        self.slot_size = self.elem_size * (ncpus if percpu else 1)
        self.limit = max(limit, 1)
        n_buckets = roundup_pow_of_two(max_entries)
        self.rec_size = REC_HEADER + round_up(key_size, 8)
        words = -(-n_buckets // 64)
        self._buckets = Buffer(4 * n_buckets)
        self._occupied = Buffer(8 * words)
        self._occupied2 = Buffer(8 * -(-words // 64))
        self._recs = Buffer(self.rec_size * self.limit)
        self._refs = Buffer(self.limit)
        self._free = Buffer(4 * self.limit)
        self._pending = Buffer(4 * self.limit)
        self._values = Buffer(self.slot_size * self.limit)
        self.values = memoryview(self._values.map)
        #: LRU reference bits, one byte per record (read and written by the LRU lists).
        self.refs = (ctypes.c_uint8 * self.limit).from_buffer(self._refs.map)
        per_window = max(1, WINDOW_MASK // self.slot_size)
        self.regions: list[Region] = []
        bases = []
        for first in range(0, self.limit, per_window):
            count = min(per_window, self.limit - first)
            view = self.values[first * self.slot_size : (first + count) * self.slot_size]
            region = memory.map(view, RegionKind.MAP_VALUE,
                                f"{name} values #{len(self.regions)}", writable=writable)
            self.regions.append(region)
            bases.append(region.base)
        self._windows = (ctypes.c_uint64 * len(bases))(*bases)
        self.desc = NativeMap(
            kind=kind, key_size=key_size, value_size=value_size, max_entries=max_entries,
            elem_size=self.elem_size, ncpus=ncpus, slot_size=self.slot_size,
            rec_size=self.rec_size, values_host=self._values.address, mask=n_buckets - 1,
            buckets=self._buckets.address, occupied=self._occupied.address,
            occupied2=self._occupied2.address, recs=self._recs.address,
            refs=self._refs.address, free_ring=self._free.address,
            pend_ring=self._pending.address, limit=self.limit,
            windows=ctypes.addressof(self._windows), per_window=per_window)
        self.address = ctypes.addressof(self.desc)

    # -- the table ------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.desc.count)

    def hash(self, key: bytes) -> int:
        """htab_map_hash()."""
        return int(self._fn["pb_jhash"](key, self.key_size, 0))

    def find(self, key: bytes) -> int:
        """Record index of ``key``, or -1."""
        return int(self._fn["pb_htab_find"](self.address, key))

    def link(self, index: int, key: bytes, hash_: int) -> None:
        """Record ``index`` holds ``key``; link it at the head of its bucket."""
        self._fn["pb_htab_link"](self.address, index, key, hash_)

    def unlink(self, index: int) -> bool:
        """Unlink record ``index``; False if it was not linked."""
        return bool(self._fn["pb_htab_unlink"](self.address, index))

    def replace(self, old: int, new: int, key: bytes, hash_: int) -> None:
        """Link ``new`` at the head of the bucket, then unlink ``old``."""
        self._fn["pb_htab_replace"](self.address, old, new, key, hash_)

    def next_index(self, key: bytes | None) -> int:
        """Record of the key after ``key`` (the first when None); -1 at the end."""
        return int(self._fn["pb_htab_next"](self.address, key))

    def indices(self) -> list[int]:
        """Every linked record, in iteration order."""
        count = len(self)
        out = (ctypes.c_uint32 * max(count, 1))()
        n = int(self._fn["pb_htab_walk"](self.address, out, count))
        return list(out[: min(n, count)])

    def key_of(self, index: int) -> bytes:
        return ctypes.string_at(self.desc.recs + index * self.rec_size + REC_KEY, self.key_size)

    def vaddr_of(self, index: int) -> int:
        addr = self.desc.recs + index * self.rec_size + REC_VADDR
        return int(ctypes.c_uint64.from_address(addr).value)

    # -- value slots ------------------------------------------------------------------------
    def read_slot(self, index: int, size: int | None = None, offset: int = 0) -> bytes:
        start = index * self.slot_size + offset
        return bytes(self.values[start : start + (self.slot_size if size is None else size)])

    def write_slot(self, index: int, data: bytes, offset: int = 0) -> None:
        start = index * self.slot_size + offset
        self.values[start : start + len(data)] = data

    def carve(self, count: int) -> None:
        """Hand out slots ``0..count-1`` once (their records get their addresses)."""
        self._fn["pb_slab_carve"](self.address, count)

    def sync(self) -> None:
        """End of a grace period: slots freed before now may be reused."""
        self._fn["pb_htab_sync"](self.address)

    # -- helper-facing operations -------------------------------------------------------
    def lookup(self, key: bytes, cpu: int) -> int:
        """Value address, 0, or NOT_NATIVE (see :mod:`pybpf.native.htab_ir`)."""
        return int(self._fn["pb_map_lookup"](self.address, key, cpu))

    def update(self, key: bytes, value: bytes, flags: int, cpu: int) -> int:
        return int(self._fn["pb_map_update"](self.address, key, value, flags, cpu))

    def delete(self, key: bytes) -> int:
        return int(self._fn["pb_map_delete"](self.address, key))

    def lru_update(self, key: bytes, value: bytes, flags: int, cpu: int, lru_cpu: int) -> int:
        """An LRU map's update (:mod:`pybpf.native.mapops_ir`): ``cpu`` selects the value
        written (ALL_CPUS: every CPU's), ``lru_cpu`` whose LRU lists give the node."""
        return int(self._fn["pb_lru_map_update"](self.address, key, value, flags, cpu, lru_cpu))

    def close(self) -> None:
        """Unmap the value regions (their addresses fault afterwards)."""
        for region in self.regions:
            self.memory.unmap(region)
        self.regions.clear()


def table_of(obj: Any) -> NativeTable | None:
    """The :class:`NativeTable` of a map object, if it has one."""
    table = getattr(obj, "table", None)
    return table if isinstance(table, NativeTable) else None
