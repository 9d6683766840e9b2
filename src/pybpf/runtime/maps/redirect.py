"""Redirect maps: ``DEVMAP``, ``DEVMAP_HASH``, ``CPUMAP`` and ``XSKMAP``.

They hold where ``bpf_redirect_map()`` sends a packet; :meth:`redirect_target` is what that
helper asks for (None: the lookup failed and the helper returns the action in its flags).
Entries are kept as data — ``DevEntry(ifindex, prog_fd)``, ``CpuEntry(cpu, qsize, prog_fd)``,
or for an xskmap the socket object the caller stored — and a program lookup returns the
address of a read-only copy of the value (``struct bpf_devmap_val`` / ``bpf_cpumap_val``: the
value and the program id, here the prog fd given or 0).

Mirrors kernel/bpf/devmap.c (dev_map_update_elem(): flags above ``BPF_EXIST`` → EINVAL, index
out of range → E2BIG, ``BPF_NOEXIST`` → EEXIST, ifindex 0 clears the entry and may not come
with a program; dev_map_delete_elem(): out of range → EINVAL, else 0; the hash variant keys
devices by any u32 in ``key & (n_buckets - 1)`` buckets, head first, E2BIG when full and
ifindex 0 → EINVAL), kernel/bpf/cpumap.c (qsize above 16384 → EOVERFLOW, a CPU that is not
possible → ENODEV, qsize 0 clears) and kernel/bpf/xskmap.c (EEXIST/ENOENT by flags, syscall
lookup → EOPNOTSUPP). Devmaps are created with ``BPF_F_RDONLY_PROG`` added, as the kernel does.

Not modelled: device existence (any ifindex > 0 is accepted unless :attr:`DevMap.ifindex_valid`
says otherwise — the kernel answers EINVAL for unknown devices), entry programs (the fd is
stored, not run), AF_XDP sockets (any object stands for one).
"""

from __future__ import annotations

import ctypes
import errno
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pybpf.native.layout import NativeKind, RedirectKind, RedirectMapNative
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.flags import MapFlag, UpdateFlag
from pybpf.runtime.maps.header import map_header_region
from pybpf.runtime.maps.htab import HashTable
from pybpf.runtime.maps.slab import Slab
from pybpf.runtime.maps.sorted_slots import SortedSlots
from pybpf.runtime.maps.status import map_error
from pybpf.runtime.memory import Memory, RegionKind

__all__ = ["CpuEntry", "CpuMap", "DevEntry", "DevMap", "DevMapHash", "XskMap"]

_CPUMAP_MAX_QSIZE = 16384
#: bpf_redirect_map() flags (include/uapi/linux/bpf.h).
BPF_F_BROADCAST = 1 << 3
BPF_F_EXCLUDE_INGRESS = 1 << 4
_VAL = struct.Struct("<Ii")


@dataclass(frozen=True, slots=True)
class DevEntry:
    """A devmap entry: the egress device and the optional program (fd) run before it."""

    ifindex: int
    prog_fd: int = 0


@dataclass(frozen=True, slots=True)
class CpuEntry:
    """A cpumap entry: the target CPU, its queue size and the optional program (fd)."""

    cpu: int
    qsize: int
    prog_fd: int = 0


def _index(key: bytes) -> int:
    return int.from_bytes(key[:4], "little")


def _array_next_key(key: bytes | None, max_entries: int) -> bytes | None:
    """array_map_get_next_key() (devmap, cpumap and xskmap use the same walk)."""
    index = _index(key) if key is not None else 0xFFFFFFFF
    if index >= max_entries:
        return (0).to_bytes(4, "little")
    if index == max_entries - 1:
        return None
    return (index + 1).to_bytes(4, "little")


class _Slots(MapBase):
    """An indexed redirect map with a read-only 8-byte value slot per index, and what
    native ``bpf_redirect_map()`` reads of it (:class:`RedirectMapNative`: which indexes
    hold an entry and their values, :mod:`pybpf.jit.lower_helpers`)."""

    #: The target an entry names, and the flags besides the action ``bpf_redirect_map()``
    #: takes for this map type.
    TARGET = RedirectKind.NONE
    FLAG_MASK = 0

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.entries: list[Any] = [None] * self.max_entries
        self.vals = bytearray(8 * self.max_entries)
        self.present = bytearray(self.max_entries)
        self.region = memory.map(self.vals, RegionKind.MAP_VALUE, f"map '{self.name}' values",
                                 writable=False)
        self._regions.append(self.region)
        self._pins = [(ctypes.c_char * max(1, len(b))).from_buffer(b) if b else None
                      for b in (self.present, self.vals)]
        self.redirect_native = RedirectMapNative(
            target=self.TARGET, max_entries=self.max_entries, flag_mask=self.FLAG_MASK,
            present=ctypes.addressof(self._pins[0]) if self._pins[0] is not None else 0,
            vals=ctypes.addressof(self._pins[1]) if self._pins[1] is not None else 0)

    def _publish(self) -> None:
        self._header = map_header_region(self, self.memory,
                                         ctypes.addressof(self.redirect_native),
                                         NativeKind.REDIRECT_MAP)

    def _store(self, index: int, entry: Any, first: int, second: int) -> None:
        self.entries[index] = entry
        self.present[index] = entry is not None
        _VAL.pack_into(self.vals, 8 * index, first, second)

    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        index = _index(key)
        if index >= self.max_entries or self.entries[index] is None:
            return 0
        return self.region.base + 8 * index

    def get_next_key(self, key: bytes | None) -> bytes | None:
        return _array_next_key(key, self.max_entries)

    def delete_elem(self, key: bytes) -> int:
        """dev_map_delete_elem() / cpu_map_delete_elem() / xsk_map_delete_elem()."""
        index = _index(key)
        if index >= self.max_entries:
            return -errno.EINVAL
        self._store(index, None, 0, 0)
        return 0

    def redirect_target(self, key: int) -> Any:
        """The entry ``bpf_redirect_map()`` redirects to, or None."""
        return self.entries[key] if 0 <= key < self.max_entries else None

    def _sys_lookup(self, key: bytes) -> Any:
        index = _index(key)
        if index >= self.max_entries or self.entries[index] is None:
            return None
        return bytes(self.vals[8 * index : 8 * index + self.value_size])

    def keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i, e in enumerate(self.entries) if e is not None]

    def __len__(self) -> int:
        return sum(e is not None for e in self.entries)


class DevMap(_Slots):
    """``BPF_MAP_TYPE_DEVMAP``: egress devices by index."""

    TARGET = RedirectKind.IFINDEX
    FLAG_MASK = BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.flags |= MapFlag.RDONLY_PROG
        #: Whether an ifindex names a device (the kernel's dev_get_by_index()); all by default.
        self.ifindex_valid: Callable[[int], bool] = lambda ifindex: True
        self._publish()

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """__dev_map_update_elem()."""
        if flags > UpdateFlag.EXIST:
            return -errno.EINVAL
        index = _index(key)
        if index >= self.max_entries:
            return -errno.E2BIG
        if flags == UpdateFlag.NOEXIST:
            return -errno.EEXIST
        ifindex, prog_fd = _VAL.unpack((value[: self.value_size] + b"\xff" * 8)[:8])
        if self.value_size == 4:
            prog_fd = -1
        if ifindex == 0:
            if prog_fd > 0:
                return -errno.EINVAL
            self._store(index, None, 0, 0)
            return 0
        if not self.ifindex_valid(ifindex):
            return -errno.EINVAL
        prog = max(prog_fd, 0)
        self._store(index, DevEntry(ifindex, prog), ifindex, prog)
        return 0

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self.update_elem(key, value, flags)


class CpuMap(_Slots):
    """``BPF_MAP_TYPE_CPUMAP``: target CPUs by index (the index is the CPU)."""

    TARGET = RedirectKind.CPU

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self._publish()

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """cpu_map_update_elem()."""
        qsize, prog_fd = _VAL.unpack((value[: self.value_size] + bytes(8))[:8])
        if flags > UpdateFlag.EXIST:
            return -errno.EINVAL
        index = _index(key)
        if index >= self.max_entries:
            return -errno.E2BIG
        if flags == UpdateFlag.NOEXIST:
            return -errno.EEXIST
        if qsize > _CPUMAP_MAX_QSIZE:
            return -errno.EOVERFLOW
        if index >= self.ncpus:
            return -errno.ENODEV
        if qsize == 0:
            self._store(index, None, 0, 0)
            return 0
        prog = max(prog_fd, 0) if self.value_size == 8 else 0
        self._store(index, CpuEntry(index, qsize, prog), qsize, prog)
        return 0

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self.update_elem(key, value, flags)


class XskMap(_Slots):
    """``BPF_MAP_TYPE_XSKMAP``: AF_XDP sockets by index (any object stands for a socket)."""

    TARGET = RedirectKind.XSK

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self._publish()

    def _coerce(self, value: Any) -> Any:
        if value is None or isinstance(value, (int, bytes, bytearray)):
            raise map_error(self.name, "values are socket objects (the kernel takes an "
                            "AF_XDP socket fd)", errno.EBADF)
        return value

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        """xsk_map_update_elem()."""
        if flags > UpdateFlag.EXIST:
            return -errno.EINVAL
        index = _index(key)
        if index >= self.max_entries:
            return -errno.E2BIG
        old = self.entries[index]
        if old is value:
            return 0
        if old is not None and flags == UpdateFlag.NOEXIST:
            return -errno.EEXIST
        if old is None and flags == UpdateFlag.EXIST:
            return -errno.ENOENT
        self._store(index, value, 0, 0)
        return 0

    def _sys_lookup(self, key: bytes) -> Any:
        raise map_error(self.name, "lookup is not supported on xskmap", errno.EOPNOTSUPP)

    def lookup(self, key: Any, default: Any = None) -> Any:
        """The socket object at ``key`` (a Python convenience; the syscall refuses)."""
        index = _index(self.key_bytes(key))
        entry = self.entries[index] if index < self.max_entries else None
        return default if entry is None else entry

    def items(self) -> list[tuple[bytes, Any]]:
        return [(i.to_bytes(4, "little"), e) for i, e in enumerate(self.entries) if e is not None]


@dataclass(slots=True, eq=False)
class _DevElem:
    key: bytes
    hash: int
    entry: DevEntry
    addr: int


class DevMapHash(MapBase):
    """``BPF_MAP_TYPE_DEVMAP_HASH``: egress devices keyed by any u32.

    The entries are the kernel's hash table (:class:`~.htab.HashTable`, whose bucket order
    ``get_next_key`` walks); what native ``bpf_redirect_map()`` reads of them is kept
    alongside, in :class:`RedirectMapNative`'s slots sorted by key (a
    :class:`~.sorted_slots.SortedSlots`; programs cannot update a devmap)."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.flags |= MapFlag.RDONLY_PROG
        self.table: HashTable[_DevElem] = HashTable(self.max_entries)
        self.slab = Slab(memory, f"map '{self.name}'", 8, 2 * self.max_entries + 1,
                         writable=False)
        self.ifindex_valid: Callable[[int], bool] = lambda ifindex: True
        # the entries native bpf_redirect_map() searches: ifindex and prog per key
        self.slots = SortedSlots(4, self.max_entries, order=_index)
        self._present = (ctypes.c_uint8 * max(self.max_entries, 1))(
            *([1] * max(self.max_entries, 1)))  # every slot below count holds an entry
        self.redirect_native = RedirectMapNative(
            target=RedirectKind.IFINDEX, max_entries=self.max_entries,
            flag_mask=BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS,
            present=ctypes.addressof(self._present), vals=self.slots.values_address,
            hashed=1, keys=self.slots.keys_address)
        self._publish()

    def _publish(self) -> None:
        self._header = map_header_region(self, self.memory,
                                         ctypes.addressof(self.redirect_native),
                                         NativeKind.REDIRECT_MAP)

    def _slot_set(self, key: bytes, entry: DevEntry | None) -> None:
        """The searched slots after ``key`` got ``entry`` (None: deleted)."""
        value = None if entry is None else \
            int.from_bytes(_VAL.pack(entry.ifindex, entry.prog_fd), "little")
        self.slots.set(key, value)
        self.redirect_native.count = len(self.slots)

    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        elem = self.table.find(key)
        return 0 if elem is None else elem.addr

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """__dev_map_hash_update_elem()."""
        if flags > UpdateFlag.EXIST:
            return -errno.EINVAL
        ifindex, prog_fd = _VAL.unpack((value[: self.value_size] + b"\xff" * 8)[:8])
        if self.value_size == 4:
            prog_fd = -1
        if ifindex == 0:
            return -errno.EINVAL
        old = self.table.find(key)
        if old is not None and flags & UpdateFlag.NOEXIST:
            return -errno.EEXIST
        if not self.ifindex_valid(ifindex):
            return -errno.EINVAL
        if old is None and len(self.table) >= self.max_entries:
            return -errno.E2BIG
        prog = max(prog_fd, 0)
        new = _DevElem(key, _index(key), DevEntry(ifindex, prog), self.slab.alloc())
        self.slab.write(new.addr, _VAL.pack(ifindex, prog))
        if old is None:
            self.table.add_head(new)
        else:
            self.table.unlink(old)
            self.slab.free(old.addr)
            self.table.add_head(new)
        self._slot_set(key, new.entry)
        return 0

    def delete_elem(self, key: bytes) -> int:
        elem = self.table.find(key)
        if elem is None:
            return -errno.ENOENT
        self.table.unlink(elem)
        self.slab.free(elem.addr)
        self._slot_set(key, None)
        return 0

    def get_next_key(self, key: bytes | None) -> bytes | None:
        """dev_map_hash_get_next_key(): buckets by ``key & (n_buckets - 1)``."""
        return self.table.get_next_key(key)

    def redirect_target(self, key: int) -> DevEntry | None:
        elem = self.table.find((key & 0xFFFFFFFF).to_bytes(4, "little"))
        return None if elem is None else elem.entry

    def synchronize_rcu(self) -> None:
        self.slab.synchronize()

    def close(self) -> None:
        self.slab.close()
        super().close()

    def _sys_lookup(self, key: bytes) -> Any:
        elem = self.table.find(key)
        return None if elem is None else self.slab.read(elem.addr, self.value_size)

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self.update_elem(key, value, flags)

    def keys(self) -> list[bytes]:
        return [e.key for e in self.table.elements()]

    def __len__(self) -> int:
        return len(self.table)

