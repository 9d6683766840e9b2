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

Lookups, updates and deletes are native (:mod:`pybpf.native.mapops_ir` over the table of
:mod:`pybpf.native.htab_ir` and the lists of :mod:`pybpf.native.lru_ir`): this class calls
the same functions compiled programs call.
"""

from __future__ import annotations

from pybpf.native.layout import ALL_CPUS
from pybpf.runtime.maps.flags import MapFlag
from pybpf.runtime.maps.hash import HashMap
from pybpf.runtime.maps.lru_list import Lru
from pybpf.runtime.maps.validate import lru_max_entries

__all__ = ["LruHashMap"]


class LruHashMap(HashMap):
    """An LRU hash map (or LRU per-CPU hash map)."""

    def _setup(self) -> None:
        self.common_lru = not self.flags & MapFlag.NO_COMMON_LRU
        self.max_entries = lru_max_entries(self.max_entries, self.flags, self.ncpus)
        self.table = self._new_table(self.max_entries)
        self.table.carve(self.max_entries)
        self.lru = Lru(self.table, percpu=not self.common_lru, ncpus=self.ncpus)

    # -- helper-facing ---------------------------------------------------------------------------
    def _update(self, key: bytes, value: bytes, flags: int, cpu: int | None) -> int:
        """htab_lru_map_update_elem() / __htab_lru_percpu_map_update_elem() on ``cpu``'s
        lists (None: the syscall, on :attr:`syscall_cpu`, writing every CPU's value of a
        per-CPU map)."""
        lru_cpu = self.check_cpu(self.syscall_cpu if cpu is None else cpu)
        return self.table.lru_update(key, value, flags, ALL_CPUS if cpu is None else cpu,
                                     lru_cpu)

    def synchronize_rcu(self) -> None:
        """LRU nodes are reused immediately, as in the kernel: nothing to release."""
