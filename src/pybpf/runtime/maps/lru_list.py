"""The LRU lists behind LRU hash maps, in memory native code shares.

The lists of kernel/bpf/bpf_lru_list.c (Linux 6.18) — active/inactive/free lists with a
reference bit, the inactive-rotation cursor, the common LRU with per-CPU local free and
pending lists and stealing, or one list per CPU (``BPF_F_NO_COMMON_LRU``) — live in a
:class:`~pybpf.native.layout.LruNative` the map's :class:`~pybpf.native.layout.NativeMap`
points at (``lru``), and every operation on them is native (:mod:`pybpf.native.lru_ir`):
the LRU map updates and deletes of :mod:`pybpf.native.mapops_ir` take and give back nodes
there, for Python and compiled programs alike.

:class:`Lru` owns that memory, has it initialised (bpf_lru_init(), bpf_lru_populate()),
calls ``bpf_lru_pop_free()``/``bpf_lru_push_free()`` for whoever needs them directly, and
reads the lists back (:meth:`Lru.snapshot`) for tests and debugging.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from pybpf.native.layout import LruList, LruListNative, LruLocalNative, LruNative
from pybpf.runtime.maps.native_table import Buffer, NativeTable

__all__ = ["ListSnapshot", "LocalSnapshot", "Lru", "LruSnapshot"]


@dataclass(frozen=True, slots=True)
class ListSnapshot:
    """A ``struct bpf_lru_list``: node indices of each list from head to tail, the counts,
    and the inactive-rotation cursor (a node index, or ``-1 - t`` for the head of this
    list's list ``t``: -2 for the inactive head, where it starts)."""

    active: tuple[int, ...]
    inactive: tuple[int, ...]
    free: tuple[int, ...]
    counts: tuple[int, int]
    next_inactive_rotation: int


@dataclass(frozen=True, slots=True)
class LocalSnapshot:
    """A CPU's ``struct bpf_lru_locallist`` (common LRU)."""

    free: tuple[int, ...]
    pending: tuple[int, ...]
    next_steal: int


@dataclass(frozen=True, slots=True)
class LruSnapshot:
    """Everything the lists hold: per node its list type, CPU and reference bit."""

    lists: tuple[ListSnapshot, ...]
    locals: tuple[LocalSnapshot, ...]
    types: tuple[int, ...]
    cpus: tuple[int, ...]
    refs: tuple[int, ...]


class Lru:
    """``struct bpf_lru`` of an LRU hash map whose elements are the records of ``table``
    (node ``i`` is record ``i``; see :mod:`pybpf.native.layout`)."""

    def __init__(self, table: NativeTable, *, percpu: bool, ncpus: int) -> None:
        self.table = table
        self.percpu = percpu
        self.ncpus = ncpus
        self.nr_nodes = table.limit
        nr_lists = ncpus if percpu else 1
        nr_locals = 0 if percpu else ncpus
        self.nr_links = self.nr_nodes + 3 * nr_lists + 2 * nr_locals
        self._next = Buffer(4 * self.nr_links)
        self._prev = Buffer(4 * self.nr_links)
        self._type = Buffer(self.nr_nodes)
        self._cpu = Buffer(4 * self.nr_nodes)
        self._lists = (LruListNative * nr_lists)()
        self._locals = (LruLocalNative * max(nr_locals, 1))()
        self.desc = LruNative(
            percpu=int(percpu), ncpus=ncpus, nr_nodes=self.nr_nodes,
            next=self._next.address, prev=self._prev.address, type=self._type.address,
            cpu=self._cpu.address, lists=ctypes.addressof(self._lists),
            locals=ctypes.addressof(self._locals))
        table.desc.lru = ctypes.addressof(self.desc)
        self._fn = table.lib.fn
        self._fn["pb_lru_init"](table.address)

    def pop_free(self, hash_: int, cpu: int) -> int:
        """bpf_lru_pop_free(): a node for a new element on ``cpu`` (< ncpus), evicting the
        least recently used element if needed; -1 when there is none (ENOMEM)."""
        return int(self._fn["pb_lru_pop_free"](self.table.address, hash_, cpu))

    def push_free(self, node: int) -> None:
        """bpf_lru_push_free(): give back a node that no longer holds a linked element."""
        self._fn["pb_lru_push_free"](self.table.address, node)

    # -- inspection ---------------------------------------------------------------------------
    def snapshot(self) -> LruSnapshot:
        """The lists as they are now (read from native memory)."""
        n = self.nr_nodes
        nxt = (ctypes.c_uint32 * self.nr_links).from_address(self._next.address)

        def members(head: int) -> tuple[int, ...]:
            out = []
            cur = nxt[head]
            while cur != head:
                out.append(int(cur))
                cur = nxt[cur]
            return tuple(out)

        lists = []
        for lst in self._lists:
            cursor = int(lst.next_inactive_rotation)
            lists.append(ListSnapshot(
                members(lst.lists + LruList.ACTIVE), members(lst.lists + LruList.INACTIVE),
                members(lst.lists + LruList.FREE), (int(lst.counts[0]), int(lst.counts[1])),
                cursor if cursor < n else -1 - (cursor - lst.lists)))
        local_lists = tuple(LocalSnapshot(members(loc.free), members(loc.pending),
                                          int(loc.next_steal))
                            for loc in (self._locals if not self.percpu else ()))
        types = (ctypes.c_uint8 * n).from_address(self._type.address)
        cpus = (ctypes.c_uint32 * n).from_address(self._cpu.address)
        return LruSnapshot(tuple(lists), local_lists, tuple(types), tuple(cpus),
                           tuple(self.table.refs[:n]))
