"""Typed memory regions with bounds- and permission-checked loads and stores.

A program sees 64-bit addresses. Each region (a frame's stack, the context, a packet, a map
value, caller memory) lives in its own 4 GiB window: the high 32 bits of an address name the
region, the low 32 bits are the offset into it. Addresses look like the kernel's direct-map
pointers (``0xffff8880...``) and never overlap, so a pointer that walks off one region can
never land in another.

The interpreter's generated code reads :attr:`Memory.readable` and :attr:`Memory.writable`
(region id -> ``bytearray``) directly for its fast path and falls back to :meth:`Memory.load`
/ :meth:`Memory.store`, which handle special regions and raise the faults.

Not modelled: page granularity, concurrent access from several CPUs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from pybpf.errors import ExecutionFault

#: Region id of the first region; ``id << 32`` is its base address (0xffff888000000000).
FIRST_REGION_ID = 0xFFFF8880
#: First region id of user memory (addresses like 0x0000555500000000, below TASK_SIZE_MAX).
FIRST_USER_REGION_ID = 0x5555
WINDOW_BITS = 32
WINDOW_MASK = (1 << WINDOW_BITS) - 1
U64_MASK = (1 << 64) - 1

_UNPACK = {
    1: struct.Struct("<B").unpack_from,
    2: struct.Struct("<H").unpack_from,
    4: struct.Struct("<I").unpack_from,
    8: struct.Struct("<Q").unpack_from,
}
_PACK = {
    1: struct.Struct("<B").pack_into,
    2: struct.Struct("<H").pack_into,
    4: struct.Struct("<I").pack_into,
    8: struct.Struct("<Q").pack_into,
}


class RegionKind(Enum):
    """What a region holds; used in messages and by later permission rules."""

    STACK = "stack"
    CONTEXT = "ctx"
    PACKET = "packet"
    MAP_VALUE = "map_value"
    MAP_KEY = "map_key"
    MEM = "mem"
    RODATA = "rodata"
    HELPER_MEM = "helper_mem"
    #: Memory of the current task's user space (read by bpf_probe_read_user and friends).
    USER = "user"


#: A load hook of a special region: (offset, size) -> value. Used for context rewriting.
LoadHook = Callable[[int, int], int]
StoreHook = Callable[[int, int, int], None]


@dataclass(slots=True, eq=False)
class Region:
    """A mapped region. ``buf`` is the backing store; hooks make a region special."""

    kind: RegionKind
    name: str
    buf: bytearray | memoryview
    base: int
    writable: bool = True
    on_load: LoadHook | None = None
    on_store: StoreHook | None = None
    #: Host address of a native object standing behind the region (a map's descriptor, the
    #: native half of a context), for native code; ``native_kind`` says what it is
    #: (:class:`pybpf.native.layout.NativeKind`). Neither changes how the region is accessed.
    native: int = 0
    native_kind: int = 0

    @property
    def size(self) -> int:
        return len(self.buf)

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def describe(self) -> str:
        return f"{self.kind.value} region '{self.name}' [{self.base:#x}, +{len(self.buf)})"


class HostTable(Protocol):
    """Told of every map and unmap: the JIT's host-address table (:mod:`pybpf.jit.regions`)."""

    def mapped(self, rid: int, region: Region) -> None: ...

    def unmapped(self, rid: int) -> None: ...


@dataclass(slots=True, eq=False)
class Memory:
    """All regions a running program may touch, keyed by region id (``address >> 32``)."""

    regions: dict[int, Region] = field(default_factory=dict)
    readable: dict[int, bytearray | memoryview] = field(default_factory=dict)
    writable: dict[int, bytearray | memoryview] = field(default_factory=dict)
    _next_id: int = FIRST_REGION_ID
    _free_ids: list[int] = field(default_factory=list)
    _next_user_id: int = FIRST_USER_REGION_ID
    #: Kept in sync on map/unmap when set (native code translates addresses through it).
    host_table: HostTable | None = None

    # -- mapping -----------------------------------------------------------------------------
    def map(
        self,
        buf: bytearray | memoryview,
        kind: RegionKind,
        name: str = "",
        *,
        writable: bool = True,
        on_load: LoadHook | None = None,
        on_store: StoreHook | None = None,
        native: int = 0,
        native_kind: int = 0,
    ) -> Region:
        """Map ``buf`` (used in place, not copied) as a new region and return it.

        A ``memoryview`` slice maps part of a larger buffer (a packet between its head- and
        tailroom): only the slice is addressable. ``native``/``native_kind``: see
        :class:`Region`.
        """
        if len(buf) > WINDOW_MASK:
            raise ValueError(f"region '{name}' of {len(buf)} bytes exceeds 4 GiB")
        if kind is RegionKind.USER:
            rid = self._next_user_id
            self._next_user_id += 1
        else:
            rid = self._free_ids.pop() if self._free_ids else self._take_id()
        region = Region(kind, name or kind.value, buf, rid << WINDOW_BITS, writable, on_load,
                        on_store, native, native_kind)
        self.regions[rid] = region
        if on_load is None:
            self.readable[rid] = buf
            if writable and on_store is None:
                self.writable[rid] = buf
        if self.host_table is not None:
            self.host_table.mapped(rid, region)
        return region

    def _take_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def unmap(self, region: Region) -> None:
        """Remove a region; later accesses to its addresses fault."""
        rid = region.base >> WINDOW_BITS
        if self.regions.get(rid) is region:
            del self.regions[rid]
            self.readable.pop(rid, None)
            self.writable.pop(rid, None)
            if self.host_table is not None:
                self.host_table.unmapped(rid)
            if region.kind is not RegionKind.USER:
                self._free_ids.append(rid)

    def remap(self, region: Region, buf: bytearray | memoryview) -> None:
        """Give mapped ``region`` a new backing buffer, keeping its id and address (a reused
        packet buffer whose frame changes size between runs)."""
        rid = region.base >> WINDOW_BITS
        if self.regions.get(rid) is not region:
            raise ValueError(f"region '{region.name}' is not mapped")
        if len(buf) > WINDOW_MASK:
            raise ValueError(f"region '{region.name}' of {len(buf)} bytes exceeds 4 GiB")
        region.buf = buf
        if region.on_load is None:
            self.readable[rid] = buf
            if region.writable and region.on_store is None:
                self.writable[rid] = buf
        if self.host_table is not None:
            self.host_table.mapped(rid, region)

    def map_user(self, data: bytes | bytearray, name: str = "user") -> Region:
        """Map bytes into the current task's user address space (a copy unless a bytearray)."""
        buf = data if isinstance(data, bytearray) else bytearray(data)
        return self.map(buf, RegionKind.USER, name)

    def region_at(self, addr: int) -> Region | None:
        """The region whose window contains ``addr`` (whether or not in bounds)."""
        return self.regions.get((addr & U64_MASK) >> WINDOW_BITS)

    # -- checked access ------------------------------------------------------------------------
    def _locate(self, addr: int, size: int, access: str, pc: int | None) -> tuple[Region, int]:
        addr &= U64_MASK
        region = self.regions.get(addr >> WINDOW_BITS)
        off = addr & WINDOW_MASK
        if region is None:
            above = self.regions.get((addr >> WINDOW_BITS) + 1)
            if above is not None:  # walked below the start of a region
                raise ExecutionFault(
                    f"invalid {access} of {size} bytes at {addr:#x}: offset "
                    f"{addr - above.base} is outside {above.describe()}",
                    pc=pc,
                    address=addr,
                )
            what = "null pointer" if addr < 4096 else "unmapped address"
            raise ExecutionFault(
                f"invalid {access} of {size} bytes at {addr:#x} ({what})", pc=pc, address=addr
            )
        if off + size > len(region.buf):
            rel = off if off < (1 << 31) else off - (1 << WINDOW_BITS)
            raise ExecutionFault(
                f"invalid {access} of {size} bytes at {addr:#x}: offset {rel} is outside "
                f"{region.describe()}",
                pc=pc,
                address=addr,
            )
        return region, off

    def load(self, addr: int, size: int, pc: int | None = None) -> int:
        """Read an unsigned little-endian integer of ``size`` bytes."""
        region, off = self._locate(addr, size, "read", pc)
        if region.on_load is not None:
            return region.on_load(off, size) & U64_MASK
        return _UNPACK[size](region.buf, off)[0]

    def store(self, addr: int, size: int, value: int, pc: int | None = None) -> None:
        """Write the low ``size`` bytes of ``value``, little-endian."""
        region, off = self._locate(addr, size, "write", pc)
        if region.on_store is not None:
            region.on_store(off, size, value & U64_MASK)
            return
        if not region.writable:
            raise ExecutionFault(
                f"invalid write of {size} bytes at {addr & U64_MASK:#x}: "
                f"{region.describe()} is read-only",
                pc=pc,
                address=addr & U64_MASK,
            )
        _PACK[size](region.buf, off, value & ((1 << (8 * size)) - 1))

    def read_bytes(self, addr: int, size: int, pc: int | None = None) -> bytes:
        """Copy ``size`` bytes out (helpers use this for key and buffer arguments)."""
        if size == 0:
            return b""
        region, off = self._locate(addr, size, "read", pc)
        if region.on_load is not None:
            return bytes(region.on_load(off + i, 1) & 0xFF for i in range(size))
        return bytes(region.buf[off : off + size])

    def write_bytes(self, addr: int, data: bytes, pc: int | None = None) -> None:
        """Copy ``data`` in (helpers use this for output buffers)."""
        if not data:
            return
        region, off = self._locate(addr, len(data), "write", pc)
        if not region.writable or region.on_store is not None:
            raise ExecutionFault(
                f"invalid write of {len(data)} bytes at {addr & U64_MASK:#x}: "
                f"{region.describe()} is read-only",
                pc=pc,
                address=addr & U64_MASK,
            )
        region.buf[off : off + len(data)] = data

    # -- atomics (single-threaded: a plain read-modify-write is atomic here) --------------------
    def atomic_rmw(
        self, addr: int, size: int, op: Callable[[int, int], int], value: int, pc: int | None = None
    ) -> int:
        """Apply ``old = *addr; *addr = op(old, value)`` and return ``old``."""
        old = self.load(addr, size, pc)
        self.store(addr, size, op(old, value), pc)
        return old

    def atomic_xchg(self, addr: int, size: int, value: int, pc: int | None = None) -> int:
        """``old = *addr; *addr = value``; return ``old``."""
        old = self.load(addr, size, pc)
        self.store(addr, size, value, pc)
        return old

    def atomic_cmpxchg(
        self, addr: int, size: int, expected: int, value: int, pc: int | None = None
    ) -> int:
        """``old = *addr; if old == expected: *addr = value``; return ``old``.

        For 32-bit operations only the low 32 bits of ``expected`` are compared.
        """
        old = self.load(addr, size, pc)
        if old == expected & ((1 << (8 * size)) - 1):
            self.store(addr, size, value, pc)
        return old
