"""Typed memory regions with bounds- and permission-checked loads and stores.

A program sees 64-bit addresses. Each region (a frame's stack, the context, a packet, a map
value, caller memory) lives in its own 4 GiB window: region ``id`` starts at
``id << 32 | REGION_START`` and its byte ``off`` is at that address plus ``off``
(:func:`region_base`, :func:`split_address`). Addresses look like the kernel's direct-map
pointers (``0xffff888000001000``) and never overlap, so a pointer that walks off one region
can never land in another.

The low 32 bits of a kernel pointer are never all zero in practice (an XDP packet's ``data``
is ``page + XDP_PACKET_HEADROOM``, stack, map values and contexts sit at arbitrary offsets),
and clang relies on it: ``if (!ptr)`` on a pointer read from a 32-bit context field becomes
``if w2 == 0``. Starting every region :data:`REGION_START` bytes into its window keeps the low
32 bits of every in-bounds address non-zero, deterministically; the first page of each window
stays unmapped, a guard below every region.

The interpreter's generated code reads :attr:`Memory.readable` and :attr:`Memory.writable`
(region id -> ``bytearray``) directly for its fast path and falls back to :meth:`Memory.load`
/ :meth:`Memory.store`, which handle special regions and raise the faults. Both it and the
JIT (:mod:`pybpf.jit.regions`) split an address as :func:`split_address` does.

Not modelled: page granularity, concurrent access from several CPUs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from pybpf.errors import ExecutionFault

#: Region id of the first region (base address 0xffff888000001000, see :func:`region_base`).
FIRST_REGION_ID = 0xFFFF8880
#: First region id of user memory (addresses like 0x0000555500001000, below TASK_SIZE_MAX).
FIRST_USER_REGION_ID = 0x5555
WINDOW_BITS = 32
WINDOW_MASK = (1 << WINDOW_BITS) - 1
#: Where every region starts inside its window: one page in, so no in-bounds address has
#: its low 32 bits all zero (page-aligned, as an XDP frame's ``data_hard_start`` is).
REGION_START = 0x1000
U64_MASK = (1 << 64) - 1


def region_base(rid: int) -> int:
    """Program address of the first byte of region ``rid``."""
    return (rid << WINDOW_BITS) + REGION_START


def split_address(addr: int) -> tuple[int, int]:
    """``(region id, offset)`` of a program address (the offset may be out of bounds).

    An address below its window's :data:`REGION_START` belongs to the window below it, at an
    offset near 4 GiB: out of bounds of every region, as a walk off the start should be.
    """
    rel = (addr & U64_MASK) - REGION_START
    return rel >> WINDOW_BITS, rel & WINDOW_MASK

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
    #: The Python object the region belongs to, when helpers need it back from an address
    #: (a ring buffer's data area: ``bpf_ringbuf_submit()`` gets only the record).
    owner: object = None

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
    """All regions a running program may touch, keyed by region id (:func:`split_address`)."""

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
        owner: object = None,
    ) -> Region:
        """Map ``buf`` (used in place, not copied) as a new region and return it.

        A ``memoryview`` slice maps part of a larger buffer (a packet between its head- and
        tailroom): only the slice is addressable. ``native``/``native_kind``/``owner``: see
        :class:`Region`.
        """
        if len(buf) > WINDOW_MASK:
            raise ValueError(f"region '{name}' of {len(buf)} bytes exceeds 4 GiB")
        if kind is RegionKind.USER:
            rid = self._next_user_id
            self._next_user_id += 1
        else:
            rid = self._free_ids.pop() if self._free_ids else self._take_id()
        region = Region(kind, name or kind.value, buf, region_base(rid), writable, on_load,
                        on_store, native, native_kind, owner)
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
        rid = split_address(region.base)[0]
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
        rid = split_address(region.base)[0]
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
        return self.regions.get(split_address(addr)[0])

    # -- checked access ------------------------------------------------------------------------
    def _locate(self, addr: int, size: int, access: str, pc: int | None) -> tuple[Region, int]:
        addr &= U64_MASK
        rid, off = split_address(addr)
        region = self.regions.get(rid)
        if region is None:
            above = self.regions.get(rid + 1)
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
