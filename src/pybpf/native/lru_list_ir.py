"""One LRU list of kernel/bpf/bpf_lru_list.c as LLVM IR: node moves, rotation, shrinking.

Mirrors the ``struct bpf_lru_list`` half of bpf_lru_list.c (Linux 6.18) — the active, inactive
and free lists with a reference bit (second chance) and the inactive-rotation cursor — on the
:class:`~pybpf.native.layout.LruNative` of a map (``NativeMap.lru``, layout in
:mod:`pybpf.native.layout`): a node referenced since the last scan moves to (or back to the
head of) the active list, the others age towards the tail of the inactive list, where
shrinking looks for victims, which leave the map's table through ``pb_htab_unlink``
(htab_lru_map_delete_node()). Node for node: the kernel's choices depend on exact positions
(head insertion, tail scans, the cursor), so the lists are reproduced, not approximated.

:class:`LruFields` writes the list primitives of include/linux/list.h on link indices; the
functions here are internal to the library; :mod:`pybpf.native.lru_ir` builds the two LRU
flavours (pop and push a free node) on them.
"""

from __future__ import annotations

import ctypes

from pybpf.jit.irtext import ModuleText
from pybpf.native.htab_ir import field
from pybpf.native.irkit import Builder
from pybpf.native.layout import LruList, LruListNative, LruLocalNative, LruNative, field_offsets

__all__ = [
    "ACTIVE",
    "FREE",
    "INACTIVE",
    "LOC",
    "LOCAL_FREE",
    "LOCAL_PENDING",
    "LRU",
    "LST",
    "NONE",
    "LruFields",
    "add",
    "call_move",
    "call_move_to_free",
    "deleted",
    "lru_function",
]

NR_BPF_LRU_LIST_COUNT = 2  # active and inactive are counted

ACTIVE, INACTIVE, FREE = int(LruList.ACTIVE), int(LruList.INACTIVE), int(LruList.FREE)
LOCAL_FREE, LOCAL_PENDING = int(LruList.LOCAL_FREE), int(LruList.LOCAL_PENDING)

LRU = field_offsets(LruNative)
LST = field_offsets(LruListNative)
LOC = field_offsets(LruLocalNative)
LST_SIZE = ctypes.sizeof(LruListNative)
LOC_SIZE = ctypes.sizeof(LruLocalNative)

#: No node (an i32 link index).
NONE = -1


class LruFields:
    """The fields of a map's :class:`LruNative` in one function, and the list primitives of
    include/linux/list.h on link indices (i32 values)."""

    def __init__(self, b: Builder, m: str = "%m") -> None:
        self.b = b
        self.m = m
        self.lru = field(b, m, "lru", "ptr")
        self.next = b.ld("ptr", self.lru, LRU["next"])
        self.prev = b.ld("ptr", self.lru, LRU["prev"])
        self.types = b.ld("ptr", self.lru, LRU["type"])
        self.cpus = b.ld("ptr", self.lru, LRU["cpu"])
        self.refs = field(b, m, "refs", "ptr")

    def u32(self, name: str) -> str:
        return self.b.ld("i32", self.lru, LRU[name])

    def _at(self, array: str, ty: str, x: str) -> str:
        return self.b.op(f"getelementptr {ty}, ptr {array}, i64 {self.b.zext(x)}")

    # -- struct list_head ---------------------------------------------------------------------
    def nx(self, x: str) -> str:
        return self.b.ld("i32", self._at(self.next, "i32", x))

    def pv(self, x: str) -> str:
        return self.b.ld("i32", self._at(self.prev, "i32", x))

    def set_nx(self, x: str, v: str) -> None:
        self.b.st("i32", v, self._at(self.next, "i32", x))

    def set_pv(self, x: str, v: str) -> None:
        self.b.st("i32", v, self._at(self.prev, "i32", x))

    def init_head(self, x: str) -> None:
        """INIT_LIST_HEAD()."""
        self.set_nx(x, x)
        self.set_pv(x, x)

    def list_del(self, x: str) -> None:
        """list_del() (the node is left pointing at itself, not poisoned)."""
        n, p = self.nx(x), self.pv(x)
        self.set_nx(p, n)
        self.set_pv(n, p)
        self.init_head(x)

    def list_add(self, x: str, head: str) -> None:
        """list_add(): right after ``head``."""
        n = self.nx(head)
        self.set_nx(x, n)
        self.set_pv(x, head)
        self.set_pv(n, x)
        self.set_nx(head, x)

    def list_move(self, x: str, head: str) -> None:
        self.list_del(x)
        self.list_add(x, head)

    def empty(self, head: str) -> str:
        return self.b.op(f"icmp eq i32 {self.nx(head)}, {head}")

    # -- struct bpf_lru_node ------------------------------------------------------------------
    def ref(self, x: str) -> str:
        """bpf_lru_node_is_ref(): i1."""
        return self.b.op(f"icmp ne i8 {self.b.ld('i8', self._at(self.refs, 'i8', x))}, 0")

    def set_ref(self, x: str, value: int) -> None:
        self.b.st("i8", value, self._at(self.refs, "i8", x))

    def type(self, x: str) -> str:
        return self.b.op(f"zext i8 {self.b.ld('i8', self._at(self.types, 'i8', x))} to i32")

    def set_type(self, x: str, t: str | int) -> None:
        value = t if isinstance(t, int) else self.b.op(f"trunc i32 {t} to i8")
        self.b.st("i8", value, self._at(self.types, "i8", x))

    def cpu(self, x: str) -> str:
        return self.b.ld("i32", self._at(self.cpus, "i32", x))

    def set_cpu(self, x: str, cpu: str) -> None:
        self.b.st("i32", cpu, self._at(self.cpus, "i32", x))

    # -- struct bpf_lru_list / bpf_lru_locallist -------------------------------------------
    def head(self, lst: str, t: int | str) -> str:
        """Link index of ``lst->lists[t]``."""
        first = self.b.ld("i32", lst, LST["lists"])
        return self.b.op(f"add i32 {first}, {t}") if t != 0 else first

    def list_of(self, index: str) -> str:
        """``&lists[index]`` (an i32 index)."""
        base = self.b.ld("ptr", self.lru, LRU["lists"])
        return self.b.ptr(base, self.b.op(f"mul i64 {self.b.zext(index)}, {LST_SIZE}"))

    def local_of(self, cpu: str) -> str:
        """``&local_list[cpu]`` (an i32 CPU)."""
        base = self.b.ld("ptr", self.lru, LRU["locals"])
        return self.b.ptr(base, self.b.op(f"mul i64 {self.b.zext(cpu)}, {LOC_SIZE}"))

    def count_add(self, lst: str, t: str, delta: int) -> None:
        """bpf_lru_list_count_inc() / _dec(): only active and inactive are counted."""
        with self.b.if_(self.b.op(f"icmp ult i32 {t}, {NR_BPF_LRU_LIST_COUNT}")):
            counts = self.b.ptr(lst, LST["counts"])
            slot = self.b.ptr(counts, self.b.op(f"mul i64 {self.b.zext(t)}, 4"))
            self.b.st("i32", self.b.op(f"add i32 {self.b.ld('i32', slot)}, {delta}"), slot)

    def fix_rotation(self, lst: str, x: str) -> None:
        """If ``x`` is the next_inactive_rotation candidate, move the cursor to its prev."""
        cursor = self.b.ld("i32", lst, LST["next_inactive_rotation"])
        with self.b.if_(self.b.op(f"icmp eq i32 {cursor}, {x}")):
            self.b.st("i32", self.pv(cursor), lst, LST["next_inactive_rotation"])


def lru_function(mod: ModuleText, name: str, ret: str,
                 params: list[tuple[str, str]]) -> tuple[Builder, LruFields]:
    """An internal function of ``(NativeMap *m, params...)`` and its LRU fields."""
    b = Builder(mod, name, ret, [("ptr", "m"), *params], linkage="internal")
    return b, LruFields(b)


def _del_from_htab(mod: ModuleText) -> None:
    """htab_lru_map_delete_node(): unlink an eviction victim if it is still linked (i1)."""
    b = Builder(mod, "pb_lru_del_from_htab", "i1", [("ptr", "m"), ("i32", "node")],
                linkage="internal")
    gone = b.call("i64", "pb_htab_unlink", [("ptr", "%m"), ("i64", b.zext("%node"))])
    b.ret(b.op(f"icmp ne i64 {gone}, 0"), "i1")


_SHRINK_PARAMS = [("ptr", "lst"), ("i32", "target"), ("i32", "free"), ("i32", "tgt")]


def call_move(b: Builder, lst: str, node: str, tgt: str | int) -> None:
    """A call of __bpf_lru_node_move()."""
    b.call("void", "pb_lru_move", [("ptr", "%m"), ("ptr", lst), ("i32", node), ("i32", tgt)])


def call_move_to_free(b: Builder, lst: str, node: str, free: str, tgt: str | int) -> None:
    """A call of __bpf_lru_node_move_to_free()."""
    b.call("void", "pb_lru_move_to_free", [("ptr", "%m"), ("ptr", lst), ("i32", node),
                                           ("i32", free), ("i32", tgt)])


def deleted(b: Builder, node: str) -> str:
    """A call of htab_lru_map_delete_node() (i1)."""
    return b.call("i1", "pb_lru_del_from_htab", [("ptr", "%m"), ("i32", node)])


def _node_move_to_free(mod: ModuleText) -> None:
    """__bpf_lru_node_move_to_free()."""
    b, lru = lru_function(mod, "pb_lru_move_to_free", "void",
                 [("ptr", "lst"), ("i32", "node"), ("i32", "free"), ("i32", "tgt")])
    lru.fix_rotation("%lst", "%node")
    lru.count_add("%lst", lru.type("%node"), -1)
    lru.set_type("%node", "%tgt")
    lru.list_move("%node", "%free")
    b.ret()


def _node_move_in(mod: ModuleText) -> None:
    """__bpf_lru_node_move_in(): from a local list into the global list."""
    b, lru = lru_function(mod, "pb_lru_move_in", "void", [("ptr", "lst"), ("i32", "node"), ("i32", "tgt")])
    lru.count_add("%lst", "%tgt", 1)
    lru.set_type("%node", "%tgt")
    lru.set_ref("%node", 0)
    lru.list_move("%node", lru.head("%lst", "%tgt"))
    b.ret()


def _node_move(mod: ModuleText) -> None:
    """__bpf_lru_node_move(): between or within the active and inactive lists, or to free."""
    b, lru = lru_function(mod, "pb_lru_move", "void", [("ptr", "lst"), ("i32", "node"), ("i32", "tgt")])
    old = lru.type("%node")
    with b.if_(b.op(f"icmp ne i32 {old}, %tgt")):
        lru.count_add("%lst", old, -1)
        lru.count_add("%lst", "%tgt", 1)
        lru.set_type("%node", "%tgt")
    lru.set_ref("%node", 0)
    lru.fix_rotation("%lst", "%node")
    lru.list_move("%node", lru.head("%lst", "%tgt"))
    b.ret()


def _rotate_active(mod: ModuleText) -> None:
    """__bpf_lru_list_rotate_active(): from the tail, referenced nodes back to the head of the
    active list, the others to the inactive list; at most nr_scans nodes."""
    b, lru = lru_function(mod, "pb_lru_rotate_active", "void", [("ptr", "lst")])
    active = lru.head("%lst", ACTIVE)
    first = lru.nx(active)
    nr_scans = lru.u32("nr_scans")
    cur = b.var("i32", lru.pv(active))
    i = b.var("i32", 0)
    with b.loop() as lp:
        node = cur.get()
        b.break_if(b.op(f"icmp eq i32 {node}, {active}"), lp)
        prev = lru.pv(node)
        tgt = b.op(f"select i1 {lru.ref(node)}, i32 {ACTIVE}, i32 {INACTIVE}")
        call_move(b, "%lst", node, tgt)
        n = b.op(f"add i32 {i.get()}, 1")
        i.set(n)
        b.break_if(b.op(f"or i1 {b.op(f'icmp eq i32 {n}, {nr_scans}')}, "
                        f"{b.op(f'icmp eq i32 {node}, {first}')}"), lp)
        cur.set(prev)
    b.ret()


def _rotate_inactive(mod: ModuleText) -> None:
    """__bpf_lru_list_rotate_inactive(): from the cursor towards the head (wrapping), move
    referenced nodes to the active list, leave the others; at most nr_scans nodes."""
    b, lru = lru_function(mod, "pb_lru_rotate_inactive", "void", [("ptr", "lst")])
    inactive = lru.head("%lst", INACTIVE)
    b.return_if(lru.empty(inactive), None)
    cursor = b.ld("i32", "%lst", LST["next_inactive_rotation"])
    after = lru.nx(cursor)
    last = b.op(f"select i1 {b.op(f'icmp eq i32 {after}, {inactive}')}, i32 "
                f"{lru.nx(after)}, i32 {after}")
    nr_scans = lru.u32("nr_scans")
    cur = b.var("i32", cursor)
    nxt = b.var("i32", inactive)
    i = b.var("i32", 0)
    with b.loop() as lp:
        b.break_if(b.op(f"icmp uge i32 {i.get()}, {nr_scans}"), lp)
        node = cur.get()
        at_head = b.op(f"icmp eq i32 {node}, {inactive}")
        with b.if_(at_head):
            cur.set(lru.pv(node))
        b.continue_if(at_head, lp)
        prev = lru.pv(node)
        nxt.set(prev)
        with b.if_(lru.ref(node)):
            call_move(b, "%lst", node, ACTIVE)
        b.break_if(b.op(f"icmp eq i32 {node}, {last}"), lp)
        cur.set(prev)
        i.set(b.op(f"add i32 {i.get()}, 1"))
    b.st("i32", nxt.get(), "%lst", LST["next_inactive_rotation"])
    b.ret()


def _list_rotate(mod: ModuleText) -> None:
    """__bpf_lru_list_rotate(): the active list when the inactive one is low, then always the
    inactive list."""
    b, _ = lru_function(mod, "pb_lru_rotate", "void", [("ptr", "lst")])
    counts = LST["counts"]
    low = b.op(f"icmp ult i32 {b.ld('i32', '%lst', counts + 4 * INACTIVE)}, "
               f"{b.ld('i32', '%lst', counts + 4 * ACTIVE)}")
    with b.if_(low):
        b.call("void", "pb_lru_rotate_active", [("ptr", "%m"), ("ptr", "%lst")])
    b.call("void", "pb_lru_rotate_inactive", [("ptr", "%m"), ("ptr", "%lst")])
    b.ret()


def _shrink_inactive(mod: ModuleText) -> None:
    """__bpf_lru_list_shrink_inactive(): from the tail, referenced nodes to the active list, the
    others out of the table and onto ``free``; at most nr_scans nodes."""
    b, lru = lru_function(mod, "pb_lru_shrink_inactive", "i32", _SHRINK_PARAMS)
    inactive = lru.head("%lst", INACTIVE)
    nr_scans = lru.u32("nr_scans")
    cur = b.var("i32", lru.pv(inactive))
    i = b.var("i32", 0)
    shrunk = b.var("i32", 0)
    with b.loop() as lp:
        node = cur.get()
        b.break_if(b.op(f"icmp eq i32 {node}, {inactive}"), lp)
        prev = lru.pv(node)
        n = b.op(f"add i32 {i.get()}, 1")
        i.set(n)
        with b.if_else(lru.ref(node)) as (referenced, other):
            with referenced:
                call_move(b, "%lst", node, ACTIVE)
            with other, b.if_(deleted(b, node)):
                call_move_to_free(b, "%lst", node, "%free", "%tgt")
                s = b.op(f"add i32 {shrunk.get()}, 1")
                shrunk.set(s)
                b.break_if(b.op(f"icmp eq i32 {s}, %target"), lp)
        b.break_if(b.op(f"icmp eq i32 {n}, {nr_scans}"), lp)
        cur.set(prev)
    b.ret(shrunk.get(), "i32")


def _list_shrink(mod: ModuleText) -> None:
    """__bpf_lru_list_shrink(): honour reference bits; if that frees nothing, force one node out
    of the inactive list (the active one if it is empty) from its tail."""
    b, lru = lru_function(mod, "pb_lru_shrink", "i32", _SHRINK_PARAMS)
    args: list[tuple[str, str | int]] = [("ptr", "%m")]
    args += [(ty, f"%{name}") for ty, name in _SHRINK_PARAMS]
    shrunk_ = b.call("i32", "pb_lru_shrink_inactive", args)
    b.return_if(b.op(f"icmp ne i32 {shrunk_}, 0"), shrunk_, "i32")
    inactive = lru.head("%lst", INACTIVE)
    victims = b.op(f"select i1 {lru.empty(inactive)}, i32 {lru.head('%lst', ACTIVE)}, "
                   f"i32 {inactive}")
    cur = b.var("i32", lru.pv(victims))
    with b.loop() as lp:
        node = cur.get()
        b.break_if(b.op(f"icmp eq i32 {node}, {victims}"), lp)
        prev = lru.pv(node)
        with b.if_(deleted(b, node)):
            call_move_to_free(b, "%lst", node, "%free", "%tgt")
            b.ret(1, "i32")
        cur.set(prev)
    b.ret(0, "i32")


def add(mod: ModuleText) -> None:
    """Add the list operations to the library module (after :mod:`pybpf.native.htab_ir`)."""
    _del_from_htab(mod)
    for build in (_node_move_to_free, _node_move_in, _node_move, _rotate_active,
                  _rotate_inactive, _list_rotate, _shrink_inactive, _list_shrink):
        build(mod)
