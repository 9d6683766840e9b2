"""REFERENCE MODEL for tests: the LRU lists of LRU hash maps, node for node, in pure Python.

This is the Python model pybpf used before the lists moved to native code
(:mod:`pybpf.native.lru_ir`), kept here unchanged in behaviour as the executable reference the
native implementation is compared with (test_maps_lru_native.py); it was itself checked
against Linux 6.18 by the differential test of test_maps_lru.py. It is not part of pybpf.

Mirrors kernel/bpf/bpf_lru_list.c of Linux 6.18: active/inactive/free lists with a reference
bit (second chance), the inactive-list rotation cursor, and the two flavours:

* common LRU (default): one global list plus per-CPU local free and pending lists; a CPU
  refills its local free list with ``target_free`` nodes at a time
  (``clamp(nr_elems / ncpus / 2, 1, LOCAL_FREE_TARGET)``), shrinking the global inactive list
  when it must, and steals from other CPUs' local lists round-robin when everything is empty;
* per-CPU LRU (``BPF_F_NO_COMMON_LRU``): each CPU owns ``nr_elems / ncpus`` nodes and evicts
  only among them (``PERCPU_FREE_TARGET`` at a time).

Lists are circular doubly linked lists with a sentinel, as ``struct list_head``: the kernel's
choices depend on exact positions (head insertion, tail scans, the rotation cursor), so the
structure is reproduced rather than approximated. ``del_from_htab`` is the map's callback that
unlinks a victim from its hash table (htab_lru_map_delete_node()).

Not modelled: locking, ``raw_res_spin_lock`` failures, NMI context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ACTIVE", "FREE", "INACTIVE", "LOCAL_FREE", "LOCAL_PENDING", "Lru", "LruNode"]

# enum bpf_lru_list_type
ACTIVE, INACTIVE, FREE, LOCAL_FREE, LOCAL_PENDING = range(5)
_NR_COUNTED = 2  # NR_BPF_LRU_LIST_COUNT: active and inactive are counted

LOCAL_FREE_TARGET = 128
LOCAL_NR_SCANS = LOCAL_FREE_TARGET
PERCPU_FREE_TARGET = 4
PERCPU_NR_SCANS = PERCPU_FREE_TARGET


class ListHead:
    """``struct list_head``: a sentinel, or the link part of a node."""

    __slots__ = ("next", "prev")

    def __init__(self) -> None:
        self.next: ListHead = self
        self.prev: ListHead = self

    def empty(self) -> bool:
        return self.next is self

    def first(self) -> LruNode | None:
        node = self.next
        return None if node is self else node  # type: ignore[return-value]

    def reverse(self) -> Iterator[LruNode]:
        """list_for_each_entry_safe_reverse(): tail to head, the body may move the node."""
        cur = self.prev
        while cur is not self:
            prev = cur.prev
            yield cur  # type: ignore[misc]
            cur = prev

    def forward(self) -> Iterator[LruNode]:
        """list_for_each_entry_safe()."""
        cur = self.next
        while cur is not self:
            nxt = cur.next
            yield cur  # type: ignore[misc]
            cur = nxt


def _del(node: ListHead) -> None:
    node.prev.next = node.next
    node.next.prev = node.prev
    node.next = node.prev = node


def _add(node: ListHead, head: ListHead) -> None:
    """list_add(): right after ``head``."""
    node.next = head.next
    node.prev = head
    head.next.prev = node
    head.next = node


def _move(node: ListHead, head: ListHead) -> None:
    """list_move()."""
    _del(node)
    _add(node, head)


class LruNode(ListHead):
    """``struct bpf_lru_node`` plus the element it heads (record ``index`` of the map's
    table, its key and hash).

    The reference bit lives in ``refs[index]``, memory native code shares: a lookup from a
    compiled program sets it there (bpf_lru_node_set_ref()) and these lists read it.
    """

    __slots__ = ("cpu", "hash", "index", "key", "refs", "type")

    def __init__(self, index: int, refs: Any, cpu: int = 0) -> None:
        super().__init__()
        self.index = index
        self.refs = refs
        self.cpu = cpu
        self.type = FREE
        self.key = b""
        self.hash = 0
        refs[index] = 0

    @property
    def ref(self) -> int:
        return int(self.refs[self.index])

    @ref.setter
    def ref(self, value: int) -> None:
        self.refs[self.index] = value


class LruList:
    """``struct bpf_lru_list``."""

    __slots__ = ("counts", "lists", "next_inactive_rotation")

    def __init__(self) -> None:
        self.lists = [ListHead(), ListHead(), ListHead()]
        self.counts = [0, 0]
        self.next_inactive_rotation: ListHead = self.lists[INACTIVE]


class LocalList:
    """``struct bpf_lru_locallist``."""

    __slots__ = ("free", "next_steal", "pending")

    def __init__(self, cpu: int) -> None:
        self.free = ListHead()
        self.pending = ListHead()
        self.next_steal = cpu


class Lru:
    """``struct bpf_lru``: pop a free node (evicting if needed) and push nodes back."""

    def __init__(self, nodes: list[LruNode], *, percpu: bool, ncpus: int,
                 del_from_htab: Callable[[LruNode], bool]) -> None:
        self.percpu = percpu
        self.ncpus = ncpus
        self.del_from_htab = del_from_htab
        if percpu:
            self.percpu_lru = [LruList() for _ in range(ncpus)]
            self.nr_scans = PERCPU_NR_SCANS
            self._populate_percpu(nodes)
        else:
            self.common = LruList()
            self.local = [LocalList(cpu) for cpu in range(ncpus)]
            self.nr_scans = LOCAL_NR_SCANS
            self._populate_common(nodes)

    # -- bpf_lru_populate() -------------------------------------------------------------------
    def _populate_common(self, nodes: list[LruNode]) -> None:
        for node in nodes:
            node.type = FREE
            node.ref = 0
            _add(node, self.common.lists[FREE])
        self.target_free = min(max(len(nodes) // self.ncpus // 2, 1), LOCAL_FREE_TARGET)

    def _populate_percpu(self, nodes: list[LruNode]) -> None:
        per_cpu = len(nodes) // self.ncpus
        i = 0
        for cpu in range(self.ncpus):
            lst = self.percpu_lru[cpu]
            while True:
                node = nodes[i]
                node.cpu = cpu
                node.type = FREE
                node.ref = 0
                _add(node, lst.lists[FREE])
                i += 1
                if i == len(nodes) or i % per_cpu == 0:
                    break
            if i == len(nodes):
                break

    # -- list primitives ------------------------------------------------------------------------
    @staticmethod
    def _count_inc(lst: LruList, t: int) -> None:
        if t < _NR_COUNTED:
            lst.counts[t] += 1

    @staticmethod
    def _count_dec(lst: LruList, t: int) -> None:
        if t < _NR_COUNTED:
            lst.counts[t] -= 1

    def _move_to_free(self, lst: LruList, node: LruNode, free: ListHead, tgt: int) -> None:
        """__bpf_lru_node_move_to_free()."""
        if node is lst.next_inactive_rotation:
            lst.next_inactive_rotation = lst.next_inactive_rotation.prev
        self._count_dec(lst, node.type)
        node.type = tgt
        _move(node, free)

    def _move_in(self, lst: LruList, node: LruNode, tgt: int) -> None:
        """__bpf_lru_node_move_in(): from a local list into the global list."""
        self._count_inc(lst, tgt)
        node.type = tgt
        node.ref = 0
        _move(node, lst.lists[tgt])

    def _move_node(self, lst: LruList, node: LruNode, tgt: int) -> None:
        """__bpf_lru_node_move()."""
        if node.type != tgt:
            self._count_dec(lst, node.type)
            self._count_inc(lst, tgt)
            node.type = tgt
        node.ref = 0
        if node is lst.next_inactive_rotation:
            lst.next_inactive_rotation = lst.next_inactive_rotation.prev
        _move(node, lst.lists[tgt])

    # -- rotation and shrinking ---------------------------------------------------------------
    def _rotate_active(self, lst: LruList) -> None:
        """__bpf_lru_list_rotate_active()."""
        active = lst.lists[ACTIVE]
        first = active.next
        for i, node in enumerate(active.reverse(), 1):
            self._move_node(lst, node, ACTIVE if node.ref else INACTIVE)
            if i == self.nr_scans or node is first:
                break

    def _rotate_inactive(self, lst: LruList) -> None:
        """__bpf_lru_list_rotate_inactive()."""
        inactive = lst.lists[INACTIVE]
        if inactive.empty():
            return
        last = lst.next_inactive_rotation.next
        if last is inactive:
            last = last.next
        cur = lst.next_inactive_rotation
        nxt: ListHead = inactive
        i = 0
        while i < self.nr_scans:
            if cur is inactive:
                cur = cur.prev
                continue
            node: LruNode = cur  # type: ignore[assignment]
            nxt = cur.prev
            if node.ref:
                self._move_node(lst, node, ACTIVE)
            if cur is last:
                break
            cur = nxt
            i += 1
        lst.next_inactive_rotation = nxt

    def _shrink_inactive(self, lst: LruList, target: int, free: ListHead, tgt: int) -> int:
        """__bpf_lru_list_shrink_inactive()."""
        shrunk = 0
        for i, node in enumerate(lst.lists[INACTIVE].reverse(), 1):
            if node.ref:
                self._move_node(lst, node, ACTIVE)
            elif self.del_from_htab(node):
                self._move_to_free(lst, node, free, tgt)
                shrunk += 1
                if shrunk == target:
                    break
            if i == self.nr_scans:
                break
        return shrunk

    def _rotate(self, lst: LruList) -> None:
        """__bpf_lru_list_rotate()."""
        if lst.counts[INACTIVE] < lst.counts[ACTIVE]:
            self._rotate_active(lst)
        self._rotate_inactive(lst)

    def _shrink(self, lst: LruList, target: int, free: ListHead, tgt: int) -> int:
        """__bpf_lru_list_shrink(): honour ref bits, else force one node out."""
        shrunk = self._shrink_inactive(lst, target, free, tgt)
        if shrunk:
            return shrunk
        inactive = lst.lists[INACTIVE]
        victims = inactive if not inactive.empty() else lst.lists[ACTIVE]
        for node in victims.reverse():
            if self.del_from_htab(node):
                self._move_to_free(lst, node, free, tgt)
                return 1
        return 0

    # -- common LRU -----------------------------------------------------------------------------
    def _flush(self, loc: LocalList) -> None:
        """__local_list_flush()."""
        for node in loc.pending.reverse():
            self._move_in(self.common, node, ACTIVE if node.ref else INACTIVE)

    def _pop_free_to_local(self, loc: LocalList) -> None:
        """bpf_lru_list_pop_free_to_local()."""
        lst = self.common
        self._flush(loc)
        self._rotate(lst)
        nfree = 0
        for node in lst.lists[FREE].forward():
            self._move_to_free(lst, node, loc.free, LOCAL_FREE)
            nfree += 1
            if nfree == self.target_free:
                break
        if nfree < self.target_free:
            self._shrink(lst, self.target_free - nfree, loc.free, LOCAL_FREE)

    @staticmethod
    def _add_pending(loc: LocalList, cpu: int, node: LruNode, hash_: int) -> None:
        """__local_list_add_pending()."""
        node.hash = hash_
        node.cpu = cpu
        node.type = LOCAL_PENDING
        node.ref = 0
        _add(node, loc.pending)

    @staticmethod
    def _local_pop_free(loc: LocalList) -> LruNode | None:
        node = loc.free.first()
        if node is not None:
            _del(node)
        return node

    def _local_pop_pending(self, loc: LocalList) -> LruNode | None:
        """__local_list_pop_pending(): oldest unreferenced first, then any."""
        for force in (False, True):
            for node in loc.pending.reverse():
                if (not node.ref or force) and self.del_from_htab(node):
                    _del(node)
                    return node
        return None

    def _common_pop_free(self, hash_: int, cpu: int) -> LruNode | None:
        """bpf_common_lru_pop_free()."""
        loc = self.local[cpu]
        node = self._local_pop_free(loc)
        if node is None:
            self._pop_free_to_local(loc)
            node = self._local_pop_free(loc)
        if node is not None:
            self._add_pending(loc, cpu, node, hash_)
            return node
        first = steal = loc.next_steal
        while True:
            victim = self.local[steal]
            node = self._local_pop_free(victim) or self._local_pop_pending(victim)
            steal = (steal + 1) % self.ncpus
            if node is not None or steal == first:
                break
        loc.next_steal = steal
        if node is not None:
            self._add_pending(loc, cpu, node, hash_)
        return node

    # -- per-CPU LRU -----------------------------------------------------------------------------
    def _percpu_pop_free(self, hash_: int, cpu: int) -> LruNode | None:
        """bpf_percpu_lru_pop_free()."""
        lst = self.percpu_lru[cpu]
        self._rotate(lst)
        free = lst.lists[FREE]
        if free.empty():
            self._shrink(lst, PERCPU_FREE_TARGET, free, FREE)
        node = free.first()
        if node is not None:
            node.hash = hash_
            node.ref = 0
            self._move_node(lst, node, INACTIVE)
        return node

    # -- API --------------------------------------------------------------------------------------
    def pop_free(self, hash_: int, cpu: int) -> LruNode | None:
        """bpf_lru_pop_free(): a node for a new element, evicting one if needed (None: ENOMEM)."""
        if self.percpu:
            return self._percpu_pop_free(hash_, cpu)
        return self._common_pop_free(hash_, cpu)

    def push_free(self, node: LruNode) -> None:
        """bpf_lru_push_free(): give back a node that no longer holds an element."""
        if self.percpu:
            self._move_node(self.percpu_lru[node.cpu], node, FREE)
            return
        if node.type == LOCAL_PENDING:
            node.type = LOCAL_FREE
            node.ref = 0
            _move(node, self.local[node.cpu].free)
            return
        self._move_node(self.common, node, FREE)

    @staticmethod
    def set_ref(node: LruNode) -> None:
        """bpf_lru_node_set_ref()."""
        node.ref = 1
