"""``BPF_MAP_TYPE_ARRAY_OF_MAPS`` and ``BPF_MAP_TYPE_HASH_OF_MAPS``.

Values are inner map objects (the kernel takes inner map fds). Every inner map must match the
template ``spec.inner_map`` as bpf_map_meta_equal() requires (type, key and value size, flags;
``max_entries`` too for arrays unless the template has ``BPF_F_INNER_MAP``) — else EINVAL, as
bpf_map_fd_get_ptr() answers — and must live in the same :class:`~pybpf.runtime.memory.Memory`.

A program's lookup returns the inner map's pointer (its :attr:`~.base.MapBase.address`, which
:func:`~.header.resolve_map` turns back into the map for the next helper call), as
array_of_map_lookup_elem()/htab_of_map_lookup_elem() return the ``struct bpf_map *`` (what
compiled programs read natively is kept alongside: :func:`_native`). The
array variant follows the fd-array rules (update flags other than ``BPF_ANY`` → EINVAL, index
out of range → E2BIG, empty delete → ENOENT); the hash variant the hash-map rules (check_flags(),
E2BIG when full) with in-place replacement of an existing key. Python-side lookups return the
inner map object (the syscall returns its id).
"""

from __future__ import annotations

import ctypes
import errno
from dataclasses import dataclass
from typing import Any

from pybpf.native.layout import MapKind, NativeMap
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.flags import MapFlag, UpdateFlag
from pybpf.runtime.maps.hash import check_flags
from pybpf.runtime.maps.htab import HashTable
from pybpf.runtime.maps.sorted_slots import SortedSlots
from pybpf.runtime.maps.status import map_error
from pybpf.runtime.memory import Memory

__all__ = ["ArrayOfMaps", "HashOfMaps", "inner_map_matches"]

_ARRAY_TYPES = (MapType.ARRAY, MapType.PERCPU_ARRAY)  # array_map_meta_equal()


def _template_flags(spec: MapSpec) -> int:
    """The flags a map created from ``spec`` ends up with (devmaps add BPF_F_RDONLY_PROG)."""
    if MapType(spec.map_type) in (MapType.DEVMAP, MapType.DEVMAP_HASH):
        return spec.flags | MapFlag.RDONLY_PROG
    return spec.flags


def inner_map_matches(template: MapSpec, inner: MapBase) -> bool:
    """bpf_map_meta_equal() (array_map_meta_equal() for array templates)."""
    if (inner.map_type != template.map_type or inner.key_size != template.key_size
            or inner.value_size != template.value_size
            or inner.flags != _template_flags(template)):
        return False
    if MapType(template.map_type) in _ARRAY_TYPES and not template.flags & MapFlag.INNER_MAP:
        return inner.max_entries == template.max_entries
    return True


def _native(m: MapBase, kind: MapKind, values: int, keys: int = 0) -> NativeMap:
    """What native ``bpf_map_lookup_elem()`` reads of a map of maps: an inner map address per
    slot at ``values`` (0: none) and, for a hash, the slots' keys at ``keys`` (ascending
    bytewise, a :class:`~.sorted_slots.SortedSlots`). Programs cannot update maps of maps:
    only the map writes them."""
    return NativeMap(kind=kind, key_size=m.key_size, value_size=m.value_size,
                     max_entries=m.max_entries, values_host=values, recs=keys)


class _OfMaps(MapBase):
    """What both maps of maps share: the template check."""

    def _check_inner(self, value: Any) -> Any:
        template = self.spec.inner_map
        assert template is not None
        if not isinstance(value, MapBase):
            raise map_error(self.name, f"values are map objects, not {type(value).__name__}",
                            errno.EBADF)
        if value.memory is not self.memory:
            raise map_error(self.name, f"inner map '{value.name}' lives in another Memory",
                            errno.EINVAL)
        if not inner_map_matches(template, value):
            raise map_error(self.name, f"inner map '{value.name}' does not match the inner "
                            "map template (type, key/value size, flags, array max_entries)",
                            errno.EINVAL)
        return value

    def _coerce(self, value: Any) -> Any:
        return value


class ArrayOfMaps(_OfMaps):
    """An array whose values are inner maps."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.inner: list[MapBase | None] = [None] * self.max_entries
        self._addresses = (ctypes.c_uint64 * max(self.max_entries, 1))()
        self.native = _native(self, MapKind.ARRAY_OF_MAPS, ctypes.addressof(self._addresses))
        self._publish()

    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        """array_of_map_lookup_elem(): the inner map pointer, or 0."""
        index = int.from_bytes(key[:4], "little")
        inner = self.inner[index] if index < self.max_entries else None
        return 0 if inner is None else inner.address

    def delete_elem(self, key: bytes) -> int:
        """fd_array_map_delete_elem()."""
        index = int.from_bytes(key[:4], "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        if self.inner[index] is None:
            return -errno.ENOENT
        self.inner[index] = None
        self._addresses[index] = 0
        return 0

    def get_next_key(self, key: bytes | None) -> bytes | None:
        """array_map_get_next_key()."""
        index = int.from_bytes(key[:4], "little") if key is not None else 0xFFFFFFFF
        if index >= self.max_entries:
            return (0).to_bytes(4, "little")
        if index == self.max_entries - 1:
            return None
        return (index + 1).to_bytes(4, "little")

    def _sys_lookup(self, key: bytes) -> Any:
        index = int.from_bytes(key, "little")
        return self.inner[index] if index < self.max_entries else None

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        """fd_array_map_update_elem()."""
        if flags != UpdateFlag.ANY:
            return -errno.EINVAL
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        self.inner[index] = self._check_inner(value)
        self._addresses[index] = value.address
        return 0

    def keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i, m in enumerate(self.inner) if m is not None]

    def __len__(self) -> int:
        return sum(m is not None for m in self.inner)


@dataclass(slots=True, eq=False)
class _InnerElem:
    key: bytes
    hash: int
    inner: MapBase


class HashOfMaps(_OfMaps):
    """A hash map whose values are inner maps."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.table: HashTable[_InnerElem] = HashTable(self.max_entries)
        self.slots = SortedSlots(self.key_size, self.max_entries)
        self.native = _native(self, MapKind.HASH_OF_MAPS, self.slots.values_address,
                              self.slots.keys_address)
        self._publish()

    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        """htab_of_map_lookup_elem()."""
        elem = self.table.find(key)
        return 0 if elem is None else elem.inner.address

    def delete_elem(self, key: bytes) -> int:
        elem = self.table.find(key)
        if elem is None:
            return -errno.ENOENT
        self.table.unlink(elem)
        self._slot_set(key, None)
        return 0

    def get_next_key(self, key: bytes | None) -> bytes | None:
        return self.table.get_next_key(key)

    def _sys_lookup(self, key: bytes) -> Any:
        elem = self.table.find(key)
        return None if elem is None else elem.inner

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        """bpf_fd_htab_map_update_elem(): the inner map first, then htab_map_update_elem()."""
        self._check_inner(value)
        if (flags & ~int(UpdateFlag.F_LOCK)) > UpdateFlag.EXIST or flags & UpdateFlag.F_LOCK:
            return -errno.EINVAL
        old = self.table.find(key)
        ret = check_flags(old is not None, flags)
        if ret:
            return ret
        if old is not None:
            old.inner = value
            self._slot_set(key, value)
            return 0
        if len(self.table) >= self.max_entries:
            return -errno.E2BIG
        self.table.add_head(_InnerElem(key, self.table.hash(key), value))
        self._slot_set(key, value)
        return 0

    def _slot_set(self, key: bytes, inner: MapBase | None) -> None:
        self.slots.set(key, None if inner is None else inner.address)
        self.native.count = len(self.slots)

    def keys(self) -> list[bytes]:
        return [e.key for e in self.table.elements()]

    def __len__(self) -> int:
        return len(self.table)
