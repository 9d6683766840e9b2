"""``BPF_MAP_TYPE_HASH`` and ``BPF_MAP_TYPE_PERCPU_HASH``.

Mirrors kernel/bpf/hashtab.c: htab_map_update_elem() (flags above ``BPF_EXIST`` → EINVAL,
``BPF_F_LOCK`` without a spin lock → EINVAL, check_flags(): ``BPF_NOEXIST`` on an existing key
→ EEXIST, ``BPF_EXIST`` on a missing one → ENOENT, a new key when ``max_entries`` elements exist
→ E2BIG, preallocated or not), htab_map_delete_elem() (ENOENT), the per-CPU variants
(__htab_percpu_map_update_elem(): in-place update; a new element gets the value on the current
CPU and zeros on the others when a program inserts it, every CPU's value from the syscall).
Iteration order: see :mod:`.htab`.

Value memory: each element's value is a slot of the map's :class:`~.native_table.NativeTable`,
whose index, slots and operations native code shares (the JIT runs the same functions; see
:mod:`pybpf.native.htab_ir`). Updating an existing key of a (non per-CPU) hash map links a NEW
element at the head of its bucket and retires the old one, as the kernel does, so the value
address changes; a pointer a program got earlier keeps the old value until the end of the
run (``synchronize_rcu()``): freed slots are reused only after it, unless the map has used
all of its ``2 * max_entries + ncpus`` slots. Per-CPU values are updated in place. Not
modelled: ``BPF_F_NO_PREALLOC`` memory behaviour (same semantics either way),
``bpf_spin_lock``/timers/kptrs in values.
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.native.layout import ALL_CPUS, NOT_NATIVE, MapKind
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.codec import round_up, split_percpu
from pybpf.runtime.maps.flags import MapFlag, UpdateFlag
from pybpf.runtime.maps.native_table import NativeTable
from pybpf.runtime.memory import Memory

__all__ = ["HashMap", "check_flags"]

_KINDS = {MapType.HASH: MapKind.HASH, MapType.PERCPU_HASH: MapKind.PERCPU_HASH,
          MapType.LRU_HASH: MapKind.LRU_HASH, MapType.LRU_PERCPU_HASH: MapKind.LRU_PERCPU_HASH}


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
        self.native = self.table.desc
        self._publish()

    def _slot_size(self) -> int:
        return self.elem_size * (self.ncpus if self.percpu else 1)

    def _writable(self) -> bool:
        return not (self.spec.read_only or self.flags & MapFlag.RDONLY_PROG)

    def _new_table(self, limit: int) -> NativeTable:
        return NativeTable(self.memory, f"map '{self.name}'", _KINDS[self.map_type],
                           key_size=self.key_size, value_size=self.value_size,
                           max_entries=self.max_entries, ncpus=self.ncpus, percpu=self.percpu,
                           limit=limit, writable=self._writable())

    def _setup(self) -> None:
        self.table = self._new_table(2 * self.max_entries + self.ncpus)

    # -- value slots ------------------------------------------------------------------------------
    def _read(self, index: int) -> Any:
        raw = self.table.read_slot(index)
        if self.percpu:
            return split_percpu(raw, self.value_size, self.ncpus)
        return raw[: self.value_size]

    # -- helper-facing ------------------------------------------------------------------------------
    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        """htab_map_lookup_elem() / htab_percpu_map_lookup_elem() (and the LRU variants,
        which also mark the element referenced)."""
        addr = self.table.lookup(key, cpu)
        if addr != NOT_NATIVE:
            return addr
        index = self.table.find(key)  # a per-CPU lookup with a CPU out of range
        if index < 0:
            return 0
        if self.map_type in (MapType.LRU_HASH, MapType.LRU_PERCPU_HASH):
            self.table.refs[index] = 1
        return self.table.vaddr_of(index) + self.check_cpu(cpu) * self.elem_size

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """htab_map_update_elem() / htab_percpu_map_update_elem() from a program."""
        return self._update(key, value, flags, self.check_cpu(cpu))

    def _update(self, key: bytes, value: bytes, flags: int, cpu: int | None) -> int:
        return self.table.update(key, value, flags, ALL_CPUS if cpu is None else cpu)

    def delete_elem(self, key: bytes) -> int:
        """htab_map_delete_elem()."""
        return self.table.delete(key)

    def get_next_key(self, key: bytes | None) -> bytes | None:
        """htab_map_get_next_key()."""
        index = self.table.next_index(key)
        return None if index < 0 else self.table.key_of(index)

    def synchronize_rcu(self) -> None:
        self.table.sync()

    def close(self) -> None:
        self.table.close()
        super().close()

    # -- Python-facing ----------------------------------------------------------------------------
    def _sys_lookup(self, key: bytes) -> Any:
        index = self.table.find(key)
        return None if index < 0 else self._read(index)

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        """map_update_elem() of syscall.c: per-CPU maps take every CPU's value."""
        return self._update(key, value, flags, None if self.percpu else self.syscall_cpu)

    def keys(self) -> list[bytes]:
        self._check_read("get_next_key")
        return [self.table.key_of(i) for i in self.table.indices()]

    def items(self) -> list[tuple[bytes, Any]]:
        self._check_read("lookup")
        return [(self.table.key_of(i), self._read(i)) for i in self.table.indices()]

    def __len__(self) -> int:
        return len(self.table)
