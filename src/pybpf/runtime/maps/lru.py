"""``BPF_MAP_TYPE_LRU_HASH`` and ``BPF_MAP_TYPE_LRU_PERCPU_HASH``.

Mirrors htab_lru_map_update_elem(), __htab_lru_percpu_map_update_elem(),
htab_lru_map_delete_elem() and htab_lru_map_delete_node() of kernel/bpf/hashtab.c over the
lists of :mod:`.lru_list`. All ``max_entries`` elements are preallocated (``BPF_F_NO_PREALLOC``
is refused, ENOTSUPP); with ``BPF_F_NO_COMMON_LRU`` ``max_entries`` is rounded to a multiple of
the possible CPUs and each CPU evicts among its own share.

Kernel behaviour kept on purpose:

* an update takes a free node (evicting the least recently used element if needed) BEFORE it
  checks the flags, so a failing ``BPF_NOEXIST`` update can still evict (6.18 behaviour);
* updating an existing key links the new node with its reference bit set and frees the old
  node (non per-CPU), so the value address changes; per-CPU values are updated in place;
* a program lookup (:meth:`lookup_elem`) sets the element's reference bit, a Python lookup
  (the syscall) does not; the map is never "full" (no E2BIG), a node shortage is ENOMEM.

Python-side updates run on :attr:`syscall_cpu` (0 unless set), which matters for the per-CPU
and local lists. Value memory: one slot per node, reused as soon as the node is (as in the
kernel, which does not defer LRU reuse).
"""

from __future__ import annotations

import errno

from pybpf.runtime.maps.flags import MapFlag, UpdateFlag
from pybpf.runtime.maps.hash import HashMap, check_flags
from pybpf.runtime.maps.htab import HashTable
from pybpf.runtime.maps.lru_list import Lru, LruNode
from pybpf.runtime.maps.slab import Slab
from pybpf.runtime.maps.validate import lru_max_entries

__all__ = ["LruHashMap"]


class LruHashMap(HashMap):
    """An LRU hash map (or LRU per-CPU hash map)."""

    def _setup(self) -> None:
        self.common_lru = not self.flags & MapFlag.NO_COMMON_LRU
        self.max_entries = lru_max_entries(self.max_entries, self.flags, self.ncpus)
        self.table: HashTable[LruNode] = HashTable(self.max_entries)
        self.slab = Slab(self.memory, f"map '{self.name}'", self._slot_size(), self.max_entries,
                         writable=self._writable())
        nodes = [LruNode(self.slab.alloc()) for _ in range(self.max_entries)]
        self.lru = Lru(nodes, percpu=not self.common_lru, ncpus=self.ncpus,
                       del_from_htab=self._delete_node)

    def _delete_node(self, node: LruNode) -> bool:
        """htab_lru_map_delete_node(): unlink an eviction victim if it is still linked."""
        return self.table.unlink(node)

    def _pop(self, key: bytes, hash_: int, cpu: int) -> LruNode | None:
        """prealloc_lru_pop()."""
        node = self.lru.pop_free(hash_, cpu)
        if node is not None:
            node.key = key
        return node

    # -- helper-facing ---------------------------------------------------------------------------
    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        """htab_lru_map_lookup_elem(): also marks the element referenced."""
        node = self.table.find(key)
        if node is None:
            return 0
        self.lru.set_ref(node)
        return node.addr + (self.check_cpu(cpu) * self.elem_size if self.percpu else 0)

    def _update(self, key: bytes, value: bytes, flags: int, cpu: int | None) -> int:
        if flags > UpdateFlag.EXIST:
            return -errno.EINVAL
        lru_cpu = self.syscall_cpu if cpu is None else cpu
        hash_ = self.table.hash(key)
        if not self.percpu:
            node = self._pop(key, hash_, lru_cpu)
            if node is None:
                return -errno.ENOMEM
            self.slab.write(node.addr, value[: self.value_size])
            old = self.table.find(key)
            ret = check_flags(old is not None, flags)
            if ret:
                self.lru.push_free(node)
                return ret
            if old is None:
                self.table.add_head(node)
            else:
                self.lru.set_ref(node)
                self.table.replace(old, node)
                self.lru.push_free(old)
            return 0
        new = None
        if flags != UpdateFlag.EXIST:
            new = self._pop(key, hash_, lru_cpu)
            if new is None:
                return -errno.ENOMEM
        old = self.table.find(key)
        ret = check_flags(old is not None, flags)
        if not ret:
            if old is not None:
                self.lru.set_ref(old)
                if cpu is None:
                    self._write_all(old.addr, value)
                else:
                    self._write_cpu(old.addr, value, cpu)
            else:
                assert new is not None
                self._init_value(new.addr, value, cpu)
                self.table.add_head(new)
                new = None
        if new is not None:
            self.lru.push_free(new)
        return ret

    def delete_elem(self, key: bytes) -> int:
        """htab_lru_map_delete_elem()."""
        node = self.table.find(key)
        if node is None:
            return -errno.ENOENT
        self.table.unlink(node)
        self.lru.push_free(node)
        return 0

    def synchronize_rcu(self) -> None:
        """LRU nodes are reused immediately, as in the kernel: nothing to release."""
