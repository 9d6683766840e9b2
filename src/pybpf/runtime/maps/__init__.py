"""Maps for the pybpf runtime: every map type the interpreter and JIT run against.

:func:`create_map` validates a :class:`~pybpf.program.spec.MapSpec` as ``BPF_MAP_CREATE`` does
(:mod:`.validate`) and returns a map object with two faces (see :mod:`.base`): helper-facing
operations on raw bytes and addresses, returning ``-errno`` like the kernel's helpers, and a
Pythonic mapping API raising :class:`~pybpf.errors.KernelError` with the kernel's errno.
:func:`resolve_map` turns a map pointer held by a program back into the map object.

Lifetime: hash-like maps defer the reuse of freed value memory until ``synchronize_rcu()``;
the runtime calls it on the maps a program uses after each run (see :mod:`.slab`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping

from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.array import ArrayMap
from pybpf.runtime.maps.base import Formatter, Map, MapBase
from pybpf.runtime.maps.flags import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_CURRENT_CPU,
    BPF_F_LOCK,
    BPF_NOEXIST,
    MapFlag,
    RingbufFlag,
    RingbufQuery,
    UpdateFlag,
)
from pybpf.runtime.maps.hash import HashMap
from pybpf.runtime.maps.header import resolve_map
from pybpf.runtime.maps.lpm import LpmTrie
from pybpf.runtime.maps.lru import LruHashMap
from pybpf.runtime.maps.of_maps import ArrayOfMaps, HashOfMaps
from pybpf.runtime.maps.perf import PerfEventArray, PerfEventBuffer
from pybpf.runtime.maps.progarray import ProgArray
from pybpf.runtime.maps.queue import QueueStackMap
from pybpf.runtime.maps.redirect import CpuMap, DevMap, DevMapHash, XskMap
from pybpf.runtime.maps.ringbuf import RingBuf
from pybpf.runtime.maps.status import map_error
from pybpf.runtime.maps.validate import check_spec
from pybpf.runtime.memory import Memory

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_CURRENT_CPU",
    "BPF_F_LOCK",
    "BPF_NOEXIST",
    "ArrayMap",
    "ArrayOfMaps",
    "CpuMap",
    "DevMap",
    "DevMapHash",
    "Formatter",
    "HashMap",
    "HashOfMaps",
    "LpmTrie",
    "LruHashMap",
    "Map",
    "MapBase",
    "MapFlag",
    "PerfEventArray",
    "PerfEventBuffer",
    "ProgArray",
    "QueueStackMap",
    "RingBuf",
    "RingbufFlag",
    "RingbufQuery",
    "UpdateFlag",
    "XskMap",
    "create_map",
    "create_maps",
    "default_ncpus",
    "resolve_map",
]

_CLASSES: dict[MapType, type[MapBase]] = {
    MapType.ARRAY: ArrayMap,
    MapType.PERCPU_ARRAY: ArrayMap,
    MapType.HASH: HashMap,
    MapType.PERCPU_HASH: HashMap,
    MapType.LRU_HASH: LruHashMap,
    MapType.LRU_PERCPU_HASH: LruHashMap,
    MapType.LPM_TRIE: LpmTrie,
    MapType.QUEUE: QueueStackMap,
    MapType.STACK: QueueStackMap,
    MapType.RINGBUF: RingBuf,
    MapType.PROG_ARRAY: ProgArray,
    MapType.PERF_EVENT_ARRAY: PerfEventArray,
    MapType.ARRAY_OF_MAPS: ArrayOfMaps,
    MapType.HASH_OF_MAPS: HashOfMaps,
    MapType.DEVMAP: DevMap,
    MapType.DEVMAP_HASH: DevMapHash,
    MapType.CPUMAP: CpuMap,
    MapType.XSKMAP: XskMap,
}


def default_ncpus() -> int:
    """The number of possible CPUs maps model by default (``os.cpu_count()``)."""
    return os.cpu_count() or 1


def create_map(spec: MapSpec, memory: Memory, *, ncpus: int | None = None,
               formatter: Formatter | None = None) -> MapBase:
    """Create the map ``spec`` describes, its memory mapped in ``memory``.

    Raises :class:`~pybpf.errors.KernelError` (with the kernel's errno) for a spec the kernel
    would refuse, :class:`~pybpf.errors.NotSupportedError` for a map type pybpf lacks. Initial
    ``spec.data`` (element 0 of a global-data array) and ``spec.contents`` are stored; a
    ``read_only`` spec is then frozen. ``content_refs`` need other maps: see :func:`create_maps`.
    """
    cpus = default_ncpus() if ncpus is None else ncpus
    if cpus < 1:
        raise map_error(spec.name, f"ncpus must be at least 1, not {cpus}", errno.EINVAL)
    check_spec(spec, ncpus=cpus)
    cls = _CLASSES[MapType(spec.map_type)]
    try:
        m = cls(spec, memory, ncpus=cpus, formatter=formatter)
    except (ValueError, MemoryError, OverflowError) as exc:
        raise map_error(spec.name, f"cannot allocate the map: {exc}", errno.ENOMEM) from exc
    if spec.data is not None:
        data = bytes(spec.data)
        if len(data) > spec.value_size:
            raise map_error(spec.name, f"initial data is {len(data)} bytes, value_size is "
                            f"{spec.value_size}", errno.EINVAL)
        m.update(0, data + bytes(spec.value_size - len(data)))
    for key, value in spec.contents:
        m.update(key, value)
    if spec.read_only:
        m.freeze()
    return m


def create_maps(specs: Mapping[str, MapSpec], memory: Memory, *, ncpus: int | None = None,
                ) -> dict[str, MapBase]:
    """Create every map of a collection, then fill ``content_refs`` (prog arrays excepted).

    ``content_refs`` of maps of maps name other maps of ``specs``; the inner maps are stored by
    object. Prog array references name programs, which the loader resolves (use
    :meth:`ProgArray.update` with the loaded program objects).
    """
    maps = {name: create_map(spec, memory, ncpus=ncpus) for name, spec in specs.items()}
    for name, spec in specs.items():
        if MapType(spec.map_type) == MapType.PROG_ARRAY:
            continue
        for key, ref in spec.content_refs:
            if ref not in maps:
                raise map_error(name, f"content at {key} refers to unknown map '{ref}'",
                                errno.EINVAL)
            maps[name].update(key, maps[ref])
    return maps
