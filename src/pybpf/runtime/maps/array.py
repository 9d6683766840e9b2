"""``BPF_MAP_TYPE_ARRAY`` and ``BPF_MAP_TYPE_PERCPU_ARRAY``.

Mirrors kernel/bpf/arraymap.c: all ``max_entries`` elements exist from creation, zeroed;
``elem_size`` is ``round_up(value_size, 8)`` and the values are contiguous in ONE region, so a
lookup of index ``i`` returns ``base + i * elem_size`` (array_map_lookup_elem()). Per-CPU arrays
keep one ``elem_size`` slot per possible CPU for each index, laid out index-major
(``base + (i * ncpus + cpu) * elem_size``), which is exactly the syscall buffer of index ``i``.

Errnos as the kernel's: update with flags above ``BPF_EXIST`` → EINVAL, index out of range →
E2BIG, ``BPF_NOEXIST`` → EEXIST (every element exists), delete → EINVAL; get_next_key walks
indices in order, an out-of-range (or absent) key restarts at 0, the last index gives ENOENT.

``BPF_F_RDONLY_PROG`` or a read-only spec (``.rodata``) maps the values read-only, so a program
store faults. ``direct_value_addr()`` mirrors array_map_direct_value_addr() for
BPF_PSEUDO_MAP_VALUE relocations. Not modelled: ``BPF_F_MMAPABLE`` page alignment.

Native code (:mod:`pybpf.native`, the JIT) sees the same values through the map's
:class:`~pybpf.native.layout.NativeMap` (base address, stride, element size), which pins the
value buffer.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Any

from pybpf.native.layout import MapKind, NativeMap
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.codec import round_up, split_percpu
from pybpf.runtime.maps.flags import MapFlag, UpdateFlag
from pybpf.runtime.maps.status import ENOTSUPP, map_error
from pybpf.runtime.memory import Memory, RegionKind

__all__ = ["ArrayMap"]


class ArrayMap(MapBase):
    """An array (or per-CPU array) map whose values live in one mapped region."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.percpu = self.map_type == MapType.PERCPU_ARRAY
        self.elem_size = round_up(self.value_size, 8)
        self._copies = ncpus if self.percpu else 1
        self._stride = self.elem_size * self._copies
        self.buf = bytearray(self.max_entries * self._stride)
        writable = not (spec.read_only or self.flags & MapFlag.RDONLY_PROG)
        self.region = memory.map(self.buf, RegionKind.MAP_VALUE, f"map '{self.name}' values",
                                 writable=writable)
        self._regions.append(self.region)
        self._pin = (ctypes.c_char * len(self.buf)).from_buffer(self.buf) if self.buf else None
        self.native = NativeMap(
            kind=MapKind.PERCPU_ARRAY if self.percpu else MapKind.ARRAY, key_size=4,
            value_size=self.value_size, max_entries=self.max_entries, elem_size=self.elem_size,
            ncpus=ncpus, slot_size=self._stride, values=self.region.base,
            values_host=ctypes.addressof(self._pin) if self._pin is not None else 0,
            stride=self._stride)
        self._publish()

    @property
    def base(self) -> int:
        """Address of element 0 (of CPU 0 for per-CPU arrays)."""
        return self.region.base

    def _index(self, key: bytes) -> int:
        return int.from_bytes(key[:4], "little")

    def value_address(self, index: int, cpu: int = 0) -> int:
        """Address of element ``index`` (for ``cpu``), without bounds checks."""
        return self.region.base + index * self._stride + cpu * self.elem_size

    def direct_value_addr(self, offset: int) -> int:
        """array_map_direct_value_addr(): the address of byte ``offset`` of element 0.

        Only single-element arrays (``.data``/``.rodata``/``.bss``) qualify, as in the kernel.
        """
        if self.max_entries != 1 or self.percpu:
            raise map_error(self.name, "direct value access needs a single-element array",
                            ENOTSUPP)
        if offset >= self.value_size:
            raise map_error(self.name, f"offset {offset} beyond value_size {self.value_size}",
                            errno.EINVAL)
        return self.region.base + offset

    # -- helper-facing --------------------------------------------------------------------------
    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        """array_map_lookup_elem() / percpu_array_map_lookup_elem()."""
        index = self._index(key)
        if index >= self.max_entries:
            return 0
        return self.value_address(index, cpu if self.percpu else 0)

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """array_map_update_elem() from a program: the current CPU's copy only."""
        index = self._index(key)
        if (flags & ~int(UpdateFlag.F_LOCK)) > UpdateFlag.EXIST:
            return -errno.EINVAL
        if index >= self.max_entries:
            return -errno.E2BIG
        if flags & UpdateFlag.NOEXIST:
            return -errno.EEXIST
        if flags & UpdateFlag.F_LOCK:
            return -errno.EINVAL  # no bpf_spin_lock in the value
        off = index * self._stride + (cpu * self.elem_size if self.percpu else 0)
        self.buf[off : off + self.value_size] = value[: self.value_size]
        return 0

    def delete_elem(self, key: bytes) -> int:
        """array_map_delete_elem(): arrays cannot delete."""
        return -errno.EINVAL

    def get_next_key(self, key: bytes | None) -> bytes | None:
        """array_map_get_next_key()."""
        index = self._index(key) if key is not None else 0xFFFFFFFF
        if index >= self.max_entries:
            return (0).to_bytes(4, "little")
        if index == self.max_entries - 1:
            return None
        return (index + 1).to_bytes(4, "little")

    # -- Python-facing ----------------------------------------------------------------------------
    def _sys_lookup(self, key: bytes) -> Any:
        index = self._index(key)
        if index >= self.max_entries:
            return None
        raw = bytes(self.buf[index * self._stride : (index + 1) * self._stride])
        if self.percpu:
            return split_percpu(raw, self.value_size, self.ncpus)
        return raw[: self.value_size]

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        """bpf_percpu_array_update() / array_map_update_elem() from the syscall."""
        if not self.percpu:
            return self.update_elem(key, value, flags)
        index = self._index(key)
        if flags > UpdateFlag.EXIST:
            return -errno.EINVAL
        if index >= self.max_entries:
            return -errno.E2BIG
        if flags == UpdateFlag.NOEXIST:
            return -errno.EEXIST
        self.buf[index * self._stride : (index + 1) * self._stride] = value
        return 0

    def keys(self) -> list[bytes]:
        self._check_read("get_next_key")
        return [i.to_bytes(4, "little") for i in range(self.max_entries)]

    def __len__(self) -> int:
        return self.max_entries

    def clear(self) -> None:
        """Zero every value (array elements cannot be deleted)."""
        self._check_write("update")
        self.buf[:] = bytes(len(self.buf))
