"""Value slots for map elements that come and go (hash maps, the LPM trie, devmap_hash).

A program reads and writes a map value in place through the address a lookup returned, so
each element's value lives in a slot of a mapped region. Slots are carved from chunks (one
region each, growing geometrically) that stay mapped for the map's whole life: an address a
program obtained is always valid memory.

Lifetime, RCU-like: :meth:`Slab.free` does not make a slot reusable at once. Freed slots wait
until :meth:`Slab.synchronize` (the runtime calls ``synchronize_rcu()`` on its maps after each
program run — the end of the RCU read-side section a run is in the kernel), so a value pointer
obtained during a run keeps its old contents until the run ends even if the element is deleted
or replaced meanwhile. Only when the slab is at its size ``limit`` and no clean slot is left is
the oldest waiting slot reused early, as the kernel's preallocated hash maps reuse elements
immediately.

Not modelled: NUMA placement, the kernel's element headers (keys are not stored in slots).
"""

from __future__ import annotations

from collections import deque

from pybpf.runtime.memory import Memory, Region, RegionKind, split_address

__all__ = ["Slab"]

_FIRST_CHUNK = 64


class Slab:
    """Fixed-size slots in mapped chunks, with deferred (grace-period) reuse."""

    __slots__ = ("_chunks", "_free", "_memory", "_name", "_pending", "_regions", "_total",
                 "limit", "slot_size", "writable")

    def __init__(self, memory: Memory, name: str, slot_size: int, limit: int, *,
                 writable: bool = True) -> None:
        self._memory = memory
        self._name = name
        self.slot_size = max(slot_size, 1)
        self.limit = max(limit, 1)
        self.writable = writable
        self._chunks: dict[int, bytearray] = {}
        self._regions: list[Region] = []
        self._free: deque[int] = deque()
        self._pending: deque[int] = deque()
        self._total = 0

    @property
    def capacity(self) -> int:
        """Slots carved so far."""
        return self._total

    def _grow(self) -> bool:
        room = self.limit - self._total
        if room <= 0:
            return False
        count = min(room, max(_FIRST_CHUNK, self._total))
        buf = bytearray(count * self.slot_size)
        region = self._memory.map(buf, RegionKind.MAP_VALUE,
                                  f"{self._name} values #{len(self._regions)}",
                                  writable=self.writable)
        self._regions.append(region)
        self._chunks[split_address(region.base)[0]] = buf
        self._free.extend(region.base + i * self.slot_size for i in range(count))
        self._total += count
        return True

    def alloc(self) -> int:
        """A zeroed slot's address."""
        if not self._free and not self._grow():
            if not self._pending:
                raise MemoryError(f"{self._name}: all {self.limit} value slots in use")
            self._free.append(self._pending.popleft())
        addr = self._free.popleft()
        buf, off = self.locate(addr)
        buf[off : off + self.slot_size] = bytes(self.slot_size)
        return addr

    def free(self, addr: int) -> None:
        """Give ``addr`` back; it becomes reusable after the next :meth:`synchronize`."""
        self._pending.append(addr)

    def synchronize(self) -> None:
        """End of a grace period: slots freed before now may be reused."""
        self._free.extend(self._pending)
        self._pending.clear()

    def locate(self, addr: int) -> tuple[bytearray, int]:
        """The backing buffer and offset of slot ``addr``."""
        rid, off = split_address(addr)
        return self._chunks[rid], off

    def read(self, addr: int, size: int) -> bytes:
        buf, off = self.locate(addr)
        return bytes(buf[off : off + size])

    def write(self, addr: int, data: bytes) -> None:
        buf, off = self.locate(addr)
        buf[off : off + len(data)] = data

    def close(self) -> None:
        """Unmap every chunk."""
        for region in self._regions:
            self._memory.unmap(region)
        self._regions.clear()
        self._chunks.clear()
        self._free.clear()
        self._pending.clear()
        self._total = 0
