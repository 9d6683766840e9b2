"""``BPF_MAP_TYPE_HASH`` and ``BPF_MAP_TYPE_PERCPU_HASH``.

Mirrors kernel/bpf/hashtab.c: htab_map_update_elem() (flags above ``BPF_EXIST`` → EINVAL,
``BPF_F_LOCK`` without a spin lock → EINVAL, check_flags(): ``BPF_NOEXIST`` on an existing key
→ EEXIST, ``BPF_EXIST`` on a missing one → ENOENT, a new key when ``max_entries`` elements exist
→ E2BIG, preallocated or not), htab_map_delete_elem() (ENOENT), the per-CPU variants
(__htab_percpu_map_update_elem(): in-place update; a new element gets the value on the current
CPU and zeros on the others when a program inserts it, every CPU's value from the syscall).
Iteration order: see :mod:`.htab`.

Value memory: each element's value is a slot of a :class:`~.slab.Slab`. Updating an existing
key of a (non per-CPU) hash map links a NEW element at the head of its bucket and retires the
old one, as the kernel does, so the value address changes; a pointer a program got earlier
keeps the old value until the end of the run (``synchronize_rcu()``). Per-CPU values are
updated in place. Not modelled: ``BPF_F_NO_PREALLOC`` memory behaviour (same semantics either
way), ``bpf_spin_lock``/timers/kptrs in values.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.codec import round_up, split_percpu
from pybpf.runtime.maps.flags import MapFlag, UpdateFlag
from pybpf.runtime.maps.htab import HashTable
from pybpf.runtime.maps.slab import Slab
from pybpf.runtime.memory import Memory

__all__ = ["HashElem", "HashMap", "check_flags"]


@dataclass(slots=True, eq=False)
class HashElem:
    """A linked element: key, hash and the address of its value slot (CPU 0's copy)."""

    key: bytes
    hash: int
    addr: int


def check_flags(exists: bool, flags: int) -> int:
    """check_flags() of hashtab.c: 0, -EEXIST or -ENOENT."""
    plain = flags & ~int(UpdateFlag.F_LOCK)
    if exists and plain == UpdateFlag.NOEXIST:
        return -errno.EEXIST
    if not exists and plain == UpdateFlag.EXIST:
        return -errno.ENOENT
    return 0


class HashMap(MapBase):
    """A hash map (or per-CPU hash map) with kernel bucket order and errnos."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.percpu = self.map_type in (MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH)
        self.elem_size = round_up(self.value_size, 8)
        self.prealloc = not self.flags & MapFlag.NO_PREALLOC
        self._setup()
        self._publish()

    def _slot_size(self) -> int:
        return self.elem_size * (self.ncpus if self.percpu else 1)

    def _writable(self) -> bool:
        return not (self.spec.read_only or self.flags & MapFlag.RDONLY_PROG)

    def _setup(self) -> None:
        self.table: HashTable[Any] = HashTable(self.max_entries)
        self.slab = Slab(self.memory, f"map '{self.name}'", self._slot_size(),
                         2 * self.max_entries + self.ncpus, writable=self._writable())

    # -- value slots ------------------------------------------------------------------------------
    def _read(self, addr: int) -> Any:
        raw = self.slab.read(addr, self._slot_size())
        if self.percpu:
            return split_percpu(raw, self.value_size, self.ncpus)
        return raw[: self.value_size]

    def _write_cpu(self, addr: int, value: bytes, cpu: int) -> None:
        self.slab.write(addr + cpu * self.elem_size, value[: self.value_size])

    def _write_all(self, addr: int, value: bytes) -> None:
        """pcpu_copy_value(onallcpus=true): the whole syscall buffer."""
        self.slab.write(addr, value[: self._slot_size()])

    def _init_value(self, addr: int, value: bytes, cpu: int | None) -> None:
        """pcpu_init_value(): one CPU's value and zeros elsewhere, or every CPU's value."""
        if cpu is None:
            self._write_all(addr, value)
        else:
            self.slab.write(addr, bytes(self._slot_size()))
            self._write_cpu(addr, value, cpu)

    # -- helper-facing ------------------------------------------------------------------------------
    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        """htab_map_lookup_elem() / htab_percpu_map_lookup_elem()."""
        elem = self.table.find(key)
        if elem is None:
            return 0
        addr: int = elem.addr
        return addr + (self.check_cpu(cpu) * self.elem_size if self.percpu else 0)

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """htab_map_update_elem() / htab_percpu_map_update_elem() from a program."""
        return self._update(key, value, flags, self.check_cpu(cpu))

    def _update(self, key: bytes, value: bytes, flags: int, cpu: int | None) -> int:
        if self.percpu:
            if flags > UpdateFlag.EXIST:
                return -errno.EINVAL
        else:
            if (flags & ~int(UpdateFlag.F_LOCK)) > UpdateFlag.EXIST:
                return -errno.EINVAL
            if flags & UpdateFlag.F_LOCK:
                return -errno.EINVAL  # no bpf_spin_lock in the value
        old = self.table.find(key)
        ret = check_flags(old is not None, flags)
        if ret:
            return ret
        if old is not None and self.percpu:
            if cpu is None:
                self._write_all(old.addr, value)
            else:
                self._write_cpu(old.addr, value, cpu)
            return 0
        if old is None and len(self.table) >= self.max_entries:
            return -errno.E2BIG
        new = HashElem(key, self.table.hash(key), self.slab.alloc())
        if self.percpu:
            self._init_value(new.addr, value, cpu)
        else:
            self.slab.write(new.addr, value[: self.value_size])
        if old is None:
            self.table.add_head(new)
        else:
            self.table.replace(old, new)
            self.slab.free(old.addr)
        return 0

    def delete_elem(self, key: bytes) -> int:
        """htab_map_delete_elem()."""
        elem = self.table.find(key)
        if elem is None:
            return -errno.ENOENT
        self.table.unlink(elem)
        self.slab.free(elem.addr)
        return 0

    def get_next_key(self, key: bytes | None) -> bytes | None:
        """htab_map_get_next_key()."""
        return self.table.get_next_key(key)

    def synchronize_rcu(self) -> None:
        self.slab.synchronize()

    def close(self) -> None:
        self.slab.close()
        super().close()

    # -- Python-facing ----------------------------------------------------------------------------
    def _sys_lookup(self, key: bytes) -> Any:
        elem = self.table.find(key)
        return None if elem is None else self._read(elem.addr)

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        """map_update_elem() of syscall.c: per-CPU maps take every CPU's value."""
        return self._update(key, value, flags, None if self.percpu else self.syscall_cpu)

    def keys(self) -> list[bytes]:
        self._check_read("get_next_key")
        return [e.key for e in self.table.elements()]

    def items(self) -> list[tuple[bytes, Any]]:
        self._check_read("lookup")
        return [(e.key, self._read(e.addr)) for e in self.table.elements()]

    def __len__(self) -> int:
        return len(self.table)
