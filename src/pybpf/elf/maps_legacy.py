"""Legacy map definitions: ``struct bpf_map_def`` records in the ``maps`` section.

Mirrors ``bpf_object__init_user_maps()`` of libbpf before 1.0 (libbpf 1.x refuses the section;
cilium/ebpf and iproute2-era loaders still read it): every symbol of the section names one map;
all records have the same size, ``section size / number of symbols``. A record is

    u32 type, key_size, value_size, max_entries, map_flags;   // struct bpf_map_def (20 bytes)
    u32 inner_map_idx, numa_node;                               // samples/bpf bpf_load.c

A shorter record leaves the missing fields 0 (libbpf copies what is there); ``inner_map_idx``
(the index, in section order, of the map whose definition is the inner map of a map-in-map) and
``numa_node`` are read when present; any byte after them must be zero ("unrecognized, non-zero
options"). Legacy maps carry no BTF.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from pybpf.elf.reader import ELFObject, Section, SymbolType
from pybpf.errors import ELFLoadError
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec

__all__ = ["LEGACY_MAPS_SECTION", "MapLocation", "as_map_type", "load_legacy_maps"]

LEGACY_MAPS_SECTION = "maps"
_FIELDS = (
    "type",
    "key_size",
    "value_size",
    "max_entries",
    "map_flags",
    "inner_map_idx",
    "numa_node",
)
_MAP_IN_MAP = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)


def as_map_type(value: int) -> int:
    """``value`` as a :class:`MapType` when it names one (unknown types stay plain ints)."""
    try:
        return MapType(value)
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class MapLocation:
    """Where a map's definition lives: relocations against (section, offset) resolve to it."""

    name: str
    section_index: int
    offset: int
    size: int
    #: byte offset of the ``values`` member in a BTF map definition (-1: none)
    values_offset: int = -1


def load_legacy_maps(obj: ELFObject, sec: Section) -> list[tuple[MapSpec, MapLocation]]:
    """The maps defined in legacy section ``sec``, in offset order."""
    data = obj.data(sec)
    symbols = sorted(
        (s for s in obj.symbols if s.shndx == sec.index and s.type != SymbolType.SECTION),
        key=lambda s: (s.value, s.index),
    )
    if not symbols:
        if data:
            raise ELFLoadError(f"section '{sec.name}': map definitions without symbols")
        return []
    if len(data) % len(symbols):
        raise ELFLoadError(
            f"section '{sec.name}': unable to determine map definition size: "
            f"{len(symbols)} maps in {len(data)} bytes"
        )
    def_size = len(data) // len(symbols)
    found: list[tuple[MapSpec, MapLocation, int]] = []
    for sym in symbols:
        where = f"section '{sec.name}': map '{sym.name}'"
        if not sym.name:
            raise ELFLoadError(f"section '{sec.name}': map at offset {sym.value} has no name")
        if sym.value + def_size > len(data):
            raise ELFLoadError(f"{where}: definition at offset {sym.value} is past the section end")
        record = data[sym.value : sym.value + def_size]
        known = min(def_size, 4 * len(_FIELDS))
        padded = record[:known] + bytes(4 * len(_FIELDS) - known)
        fields = dict(zip(_FIELDS, struct.unpack("<7I", padded)))
        if any(record[known:]):
            raise ELFLoadError(f"{where}: definition has unrecognized, non-zero options")
        spec = MapSpec(
            name=sym.name,
            map_type=as_map_type(fields["type"]),
            key_size=fields["key_size"],
            value_size=fields["value_size"],
            max_entries=fields["max_entries"],
            flags=fields["map_flags"],
            numa_node=fields["numa_node"],
            section=sec.name,
        )
        found.append(
            (spec, MapLocation(sym.name, sec.index, sym.value, def_size), fields["inner_map_idx"])
        )
    names = [spec.name for spec, _, _ in found]
    if len(set(names)) != len(names):
        raise ELFLoadError(f"section '{sec.name}': duplicate map names")
    out = []
    for spec, loc, inner_idx in found:
        if spec.map_type in _MAP_IN_MAP:
            if not 0 <= inner_idx < len(found) or found[inner_idx][0] is spec:
                raise ELFLoadError(
                    f"section '{sec.name}': map '{spec.name}': inner_map_idx {inner_idx} "
                    f"does not name another map of the section"
                )
            inner = found[inner_idx][0]
            spec = replace(spec, inner_map=replace(inner, name=f"{spec.name}.inner"))
        out.append((spec, loc))
    return out
