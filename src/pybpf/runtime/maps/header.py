"""The address a program holds for a map, and finding the map again from that address.

In the kernel a map pointer (``lddw rX, map`` after BPF_PSEUDO_MAP_FD, or the result of a
lookup in an array/hash of maps) is the address of its ``struct bpf_map``. Here every map maps a
small read-only region whose base is that address; the region reads as the ``struct bpf_map``
fields a program may load through BTF (``map_type``, ``key_size``, ``value_size``,
``max_entries``, ``map_extra``, ``map_flags``, ``numa_node``), at their Linux 6.18 x86_64 offsets.
The region's load hook is a :class:`MapHeader` that remembers the map, so
:func:`resolve_map` turns an address back into the map object without any registry: the
association lives in the :class:`~pybpf.runtime.memory.Memory` both share.

Not modelled: the other ``struct bpf_map`` fields (they read as zero), ``id`` (zero).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from pybpf.native.layout import NativeKind
from pybpf.runtime.memory import Memory, Region, RegionKind

if TYPE_CHECKING:
    from pybpf.runtime.maps.base import Map

__all__ = ["HEADER_SIZE", "MapHeader", "map_header_region", "resolve_map"]

#: Bytes of the header region (``struct bpf_map`` is 296 bytes; programs only read the start).
HEADER_SIZE = 128

# Offsets in struct bpf_map (BTF of Linux 6.18, x86_64).
_MAP_TYPE = 64
_KEY_SIZE = 68
_VALUE_SIZE = 72
_MAX_ENTRIES = 76
_MAP_EXTRA = 80
_MAP_FLAGS = 88
_NUMA_NODE = 104


class MapHeader:
    """Load hook of a map's header region: ``(offset, size) -> value`` over a fixed snapshot."""

    __slots__ = ("buf", "map")

    def __init__(self, owner: Map, buf: bytes) -> None:
        self.map = owner
        self.buf = buf

    def __call__(self, offset: int, size: int) -> int:
        return int.from_bytes(self.buf[offset : offset + size], "little")


def map_header_region(owner: Map, memory: Memory, native: int = 0,
                      native_kind: int = NativeKind.MAP) -> Region:
    """Map the header region of ``owner`` (its ``map_type``, sizes and flags must be set);
    ``native`` is the address of its native descriptor, if it has one: a
    :class:`~pybpf.native.layout.NativeMap`, or what ``native_kind`` says."""
    buf = bytearray(HEADER_SIZE)
    struct.pack_into("<IIII", buf, _MAP_TYPE, int(owner.map_type), owner.key_size,
                     owner.value_size, owner.max_entries)
    struct.pack_into("<Q", buf, _MAP_EXTRA, owner.spec.map_extra)
    struct.pack_into("<I", buf, _MAP_FLAGS, owner.flags)
    struct.pack_into("<i", buf, _NUMA_NODE, -1)
    hook = MapHeader(owner, bytes(buf))
    return memory.map(buf, RegionKind.MEM, f"struct bpf_map '{owner.name}'", writable=False,
                      on_load=hook, native=native, native_kind=native_kind if native else 0)


def resolve_map(memory: Memory, address: int) -> Map | None:
    """The map whose pointer is ``address`` in ``memory``, or ``None``.

    Helpers call this with the map argument (``r1`` of ``bpf_map_lookup_elem()``...).
    """
    region = memory.region_at(address)
    if region is None or region.base != address & 0xFFFFFFFFFFFFFFFF:
        return None
    hook = region.on_load
    return hook.map if isinstance(hook, MapHeader) else None
