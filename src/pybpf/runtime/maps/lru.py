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

Lookups (and the reference bit they set) are native (:mod:`pybpf.native.htab_ir`), shared
with compiled programs; updates and deletes move nodes between the lists of
:mod:`.lru_list`, which stay in Python: native code hands them to Python
(``NOT_NATIVE``), and the lists link and unlink the elements of the shared table.
"""

from __future__ import annotations

import errno

from pybpf.runtime.maps.flags import MapFlag, UpdateFlag
from pybpf.runtime.maps.hash import HashMap, check_flags
from pybpf.runtime.maps.lru_list import Lru, LruNode
from pybpf.runtime.maps.validate import lru_max_entries

__all__ = ["LruHashMap"]


class LruHashMap(HashMap):
    """An LRU hash map (or LRU per-CPU hash map)."""

    def _setup(self) -> None:
        self.common_lru = not self.flags & MapFlag.NO_COMMON_LRU
        self.max_entries = lru_max_entries(self.max_entries, self.flags, self.ncpus)
        self.table = self._new_table(self.max_entries)
        self.table.carve(self.max_entries)
        self.nodes = [LruNode(i, self.table.refs) for i in range(self.max_entries)]
        self.lru = Lru(list(self.nodes), percpu=not self.common_lru, ncpus=self.ncpus,
                       del_from_htab=self._delete_node)

    def _delete_node(self, node: LruNode) -> bool:
        """htab_lru_map_delete_node(): unlink an eviction victim if it is still linked."""
        return self.table.unlink(node.index)

    def _pop(self, key: bytes, hash_: int, cpu: int) -> LruNode | None:
        """prealloc_lru_pop()."""
        node = self.lru.pop_free(hash_, cpu)
        if node is not None:
            node.key = key
        return node

    def _write_cpu(self, node: LruNode, value: bytes, cpu: int) -> None:
        self.table.write_slot(node.index, value[: self.value_size], cpu * self.elem_size)

    def _write_all(self, node: LruNode, value: bytes) -> None:
        """pcpu_copy_value(onallcpus=true): the whole syscall buffer."""
        self.table.write_slot(node.index, value[: self._slot_size()])

    def _init_value(self, node: LruNode, value: bytes, cpu: int | None) -> None:
        """pcpu_init_value(): one CPU's value and zeros elsewhere, or every CPU's value."""
        if cpu is None:
            self._write_all(node, value)
        else:
            self.table.write_slot(node.index, bytes(self._slot_size()))
            self._write_cpu(node, value, cpu)

    # -- helper-facing ---------------------------------------------------------------------------
    def _update(self, key: bytes, value: bytes, flags: int, cpu: int | None) -> int:
        """htab_lru_map_update_elem() / __htab_lru_percpu_map_update_elem()."""
        if flags > UpdateFlag.EXIST:
            return -errno.EINVAL
        lru_cpu = self.syscall_cpu if cpu is None else cpu
        hash_ = self.table.hash(key)
        if not self.percpu:
            node = self._pop(key, hash_, lru_cpu)
            if node is None:
                return -errno.ENOMEM
            self.table.write_slot(node.index, value[: self.value_size])
            old = self.table.find(key)
            ret = check_flags(old >= 0, flags)
            if ret:
                self.lru.push_free(node)
                return ret
            if old < 0:
                self.table.link(node.index, key, hash_)
            else:
                self.lru.set_ref(node)
                self.table.replace(old, node.index, key, hash_)
                self.lru.push_free(self.nodes[old])
            return 0
        new = None
        if flags != UpdateFlag.EXIST:
            new = self._pop(key, hash_, lru_cpu)
            if new is None:
                return -errno.ENOMEM
        old = self.table.find(key)
        ret = check_flags(old >= 0, flags)
        if not ret:
            if old >= 0:
                node = self.nodes[old]
                self.lru.set_ref(node)
                if cpu is None:
                    self._write_all(node, value)
                else:
                    self._write_cpu(node, value, cpu)
            else:
                assert new is not None
                self._init_value(new, value, cpu)
                self.table.link(new.index, key, hash_)
                new = None
        if new is not None:
            self.lru.push_free(new)
        return ret

    def delete_elem(self, key: bytes) -> int:
        """htab_lru_map_delete_elem()."""
        index = self.table.find(key)
        if index < 0:
            return -errno.ENOENT
        self.table.unlink(index)
        self.lru.push_free(self.nodes[index])
        return 0

    def synchronize_rcu(self) -> None:
        """LRU nodes are reused immediately, as in the kernel: nothing to release."""
