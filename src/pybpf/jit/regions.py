"""The host-address table: where each memory region of a :class:`~pybpf.runtime.memory.Memory`
lives in this process, for native code.

Program addresses are the interpreter's (region ``id`` starts at ``id << 32 | REGION_START``,
see :func:`pybpf.runtime.memory.split_address`); native code translates one by indexing this
table with ``id - FIRST_REGION_ID`` and, when the offset is inside the row's ``load_size`` /
``store_size``, reading or writing the region's own buffer in place. Everything else (an id
outside the table, user-space regions, read-only regions for stores, special regions with
hooks, out-of-bounds offsets) takes the checked slow path through Python, which raises the
interpreter's faults. There is one table per ``Memory``, installed as its ``host_table`` and
kept in sync by ``Memory.map``/``Memory.unmap``.

While a region is mapped, the table holds a buffer export on it (``ctypes.from_buffer``):
resizing a mapped ``bytearray`` raises ``BufferError`` instead of leaving native code a
dangling pointer. Read-only buffers (a ``memoryview`` of ``bytes``) get no direct row.

Not modelled: more than :data:`CAPACITY` simultaneously mapped kernel-space regions (the rest
works through the slow path).
"""

from __future__ import annotations

import ctypes
import mmap

from pybpf.jit.abi import RegionEntry
from pybpf.runtime.memory import FIRST_REGION_ID, Memory, Region

#: Rows of the table (32 bytes each; the mapping is lazily zero-filled by the kernel).
CAPACITY = 1 << 20


class RegionTable:
    """Rows ``id - FIRST_REGION_ID`` -> (host address, direct load size, direct store size)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._mmap = mmap.mmap(-1, capacity * ctypes.sizeof(RegionEntry))
        self.rows = (RegionEntry * capacity).from_buffer(self._mmap)
        #: Buffer exports that pin each directly mapped region's memory.
        self._pins: dict[int, ctypes.Array[ctypes.c_char]] = {}

    @property
    def address(self) -> int:
        """Host address of row 0 (``env->regions``)."""
        return ctypes.addressof(self.rows)

    @classmethod
    def of(cls, memory: Memory) -> RegionTable:
        """The table of ``memory``, created (and filled with its current regions) on first use."""
        table = memory.host_table
        if table is None:
            table = cls()
            for rid, region in memory.regions.items():
                table.mapped(rid, region)
            memory.host_table = table
        if not isinstance(table, RegionTable):
            raise TypeError(f"memory already has a host table of type {type(table).__name__}")
        return table

    # -- kept in sync by Memory ------------------------------------------------------------
    def mapped(self, rid: int, region: Region) -> None:
        """``region`` was mapped with id ``rid``."""
        index = rid - FIRST_REGION_ID
        if not 0 <= index < self.capacity:
            return
        self.unmapped(rid)
        row = self.rows[index]
        row.native = region.native
        row.kind = region.native_kind
        size = len(region.buf)
        if size == 0 or region.on_load is not None:
            return
        try:
            pin = (ctypes.c_char * size).from_buffer(region.buf)
        except (TypeError, ValueError, BufferError):
            return  # read-only or non-contiguous buffer: slow path only
        self._pins[rid] = pin
        row.host = ctypes.addressof(pin)
        row.load_size = size
        row.store_size = size if region.writable and region.on_store is None else 0

    def unmapped(self, rid: int) -> None:
        """Region ``rid`` was unmapped: its row sends every access to the slow path."""
        index = rid - FIRST_REGION_ID
        if not 0 <= index < self.capacity:
            return
        row = self.rows[index]
        row.host = 0
        row.load_size = 0
        row.store_size = 0
        row.native = 0
        row.kind = 0
        self._pins.pop(rid, None)

    def host_address(self, rid: int) -> int:
        """Host address of region ``rid``'s first byte (0 when it has no direct row)."""
        index = rid - FIRST_REGION_ID
        return int(self.rows[index].host) if 0 <= index < self.capacity else 0
