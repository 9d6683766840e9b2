"""The LRU of LRU hash maps as LLVM IR: pop a free node (evicting), push one back.

Mirrors the ``struct bpf_lru`` half of kernel/bpf/bpf_lru_list.c (Linux 6.18), over the lists
of :mod:`pybpf.native.lru_list_ir`, in its two flavours:

* common LRU (default): one global list plus per-CPU local free and pending lists; a CPU
  refills its local free list ``target_free`` nodes at a time
  (``clamp(nr_elems / ncpus / 2, 1, LOCAL_FREE_TARGET)``), shrinking the global inactive
  list when it must, and steals from the local lists of every CPU round-robin when all is
  empty;
* per-CPU LRU (``BPF_F_NO_COMMON_LRU``): each CPU owns ``nr_elems / ncpus`` nodes and evicts
  only among them (``PERCPU_FREE_TARGET`` at a time).

Exported: ``pb_lru_init`` (bpf_lru_init() and bpf_lru_populate()), ``pb_lru_pop_free``
(bpf_lru_pop_free()), ``pb_lru_push_free`` (bpf_lru_push_free()). The LRU map operations built
on them are in :mod:`pybpf.native.mapops_ir`; Python reaches the lists through
:class:`pybpf.runtime.maps.lru_list.Lru`.

Not modelled: locking, ``raw_res_spin_lock`` failures, NMI context.
"""

from __future__ import annotations

from pybpf.jit.irtext import ModuleText
from pybpf.native import lru_list_ir
from pybpf.native.htab_ir import record_ptr
from pybpf.native.irkit import Builder
from pybpf.native.layout import REC_HASH
from pybpf.native.lru_list_ir import (
    ACTIVE,
    FREE,
    INACTIVE,
    LOC,
    LOCAL_FREE,
    LOCAL_PENDING,
    LRU,
    LST,
    NONE,
    LruFields,
    call_move,
    call_move_to_free,
    deleted,
    lru_function,
)

__all__ = ["EXPORTS", "add"]

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_lru_init": ("void", ("ptr",)),
    "pb_lru_pop_free": ("i64", ("ptr", "i32", "i64")),
    "pb_lru_push_free": ("void", ("ptr", "i64")),
}

LOCAL_FREE_TARGET = 128
LOCAL_NR_SCANS = LOCAL_FREE_TARGET
PERCPU_FREE_TARGET = 4
PERCPU_NR_SCANS = PERCPU_FREE_TARGET


def _local_flush(mod: ModuleText) -> None:
    """__local_list_flush(): the pending list, from its tail, into the global list."""
    b, lru = lru_function(mod, "pb_lru_local_flush", "void", [("ptr", "loc")])
    common = lru.list_of("0")
    pending = b.ld("i32", "%loc", LOC["pending"])
    cur = b.var("i32", lru.pv(pending))
    with b.loop() as lp:
        node = cur.get()
        b.break_if(b.op(f"icmp eq i32 {node}, {pending}"), lp)
        prev = lru.pv(node)
        tgt = b.op(f"select i1 {lru.ref(node)}, i32 {ACTIVE}, i32 {INACTIVE}")
        b.call("void", "pb_lru_move_in", [("ptr", "%m"), ("ptr", common), ("i32", node),
                                          ("i32", tgt)])
        cur.set(prev)
    b.ret()


def _pop_free_to_local(mod: ModuleText) -> None:
    """bpf_lru_list_pop_free_to_local(): flush, rotate, then up to target_free nodes from the
    global free list (shrinking the inactive list for the rest) onto the local one."""
    b, lru = lru_function(mod, "pb_lru_pop_free_to_local", "void", [("ptr", "loc")])
    common = lru.list_of("0")
    b.call("void", "pb_lru_local_flush", [("ptr", "%m"), ("ptr", "%loc")])
    b.call("void", "pb_lru_rotate", [("ptr", "%m"), ("ptr", common)])
    free = lru.head(common, FREE)
    local_free = b.ld("i32", "%loc", LOC["free"])
    target = lru.u32("target_free")
    cur = b.var("i32", lru.nx(free))
    nfree = b.var("i32", 0)
    with b.loop() as lp:
        node = cur.get()
        b.break_if(b.op(f"icmp eq i32 {node}, {free}"), lp)
        nxt = lru.nx(node)
        call_move_to_free(b, common, node, local_free, LOCAL_FREE)
        n = b.op(f"add i32 {nfree.get()}, 1")
        nfree.set(n)
        b.break_if(b.op(f"icmp eq i32 {n}, {target}"), lp)
        cur.set(nxt)
    got = nfree.get()
    with b.if_(b.op(f"icmp ult i32 {got}, {target}")):
        b.call("i32", "pb_lru_shrink", [("ptr", "%m"), ("ptr", common),
                                        ("i32", b.op(f"sub i32 {target}, {got}")),
                                        ("i32", local_free), ("i32", LOCAL_FREE)])
    b.ret()


def _add_pending(mod: ModuleText) -> None:
    """__local_list_add_pending()."""
    b, lru = lru_function(mod, "pb_lru_add_pending", "void",
                 [("ptr", "loc"), ("i32", "cpu"), ("i32", "node"), ("i32", "hash")])
    b.st("i32", "%hash", record_ptr(b, "%m", b.zext("%node")), REC_HASH)
    lru.set_cpu("%node", "%cpu")
    lru.set_type("%node", LOCAL_PENDING)
    lru.set_ref("%node", 0)
    lru.list_add("%node", b.ld("i32", "%loc", LOC["pending"]))
    b.ret()


def _local_pop_free(mod: ModuleText) -> None:
    """__local_list_pop_free(): the first node of the local free list, or none."""
    b, lru = lru_function(mod, "pb_lru_local_pop_free", "i32", [("ptr", "loc")])
    free = b.ld("i32", "%loc", LOC["free"])
    node = lru.nx(free)
    b.return_if(b.op(f"icmp eq i32 {node}, {free}"), NONE, "i32")
    lru.list_del(node)
    b.ret(node, "i32")


def _local_pop_pending(mod: ModuleText) -> None:
    """__local_list_pop_pending(): from the tail (the oldest), an unreferenced node that leaves
    the table; failing that, any node that does."""
    b, lru = lru_function(mod, "pb_lru_local_pop_pending", "i32", [("ptr", "loc")])
    pending = b.ld("i32", "%loc", LOC["pending"])
    for force in (False, True):
        cur = b.var("i32", lru.pv(pending))
        with b.loop() as lp:
            node = cur.get()
            b.break_if(b.op(f"icmp eq i32 {node}, {pending}"), lp)
            candidate = "true" if force else b.op(f"xor i1 {lru.ref(node)}, true")
            with b.if_(candidate), b.if_(deleted(b, node)):
                lru.list_del(node)
                b.ret(node, "i32")
            cur.set(lru.pv(node))
    b.ret(NONE, "i32")


def _node_result(b: Builder, node: str) -> str:
    """An i32 node (or NONE) as the i64 result (-1 for none)."""
    return b.op(f"select i1 {b.op(f'icmp eq i32 {node}, {NONE}')}, i64 -1, i64 {b.zext(node)}")


def _common_pop_free(mod: ModuleText) -> None:
    """bpf_common_lru_pop_free(): the CPU's local free list, refilled from the global list when
    empty; failing that, steal from the local lists of every CPU round-robin, starting at
    next_steal."""
    b, lru = lru_function(mod, "pb_lru_common_pop_free", "i64", [("i32", "hash"), ("i32", "cpu")])
    loc = lru.local_of("%cpu")
    node = b.var("i32", b.call("i32", "pb_lru_local_pop_free", [("ptr", "%m"), ("ptr", loc)]))
    with b.if_(b.op(f"icmp eq i32 {node.get()}, {NONE}")):
        b.call("void", "pb_lru_pop_free_to_local", [("ptr", "%m"), ("ptr", loc)])
        node.set(b.call("i32", "pb_lru_local_pop_free", [("ptr", "%m"), ("ptr", loc)]))
    got = node.get()
    with b.if_(b.op(f"icmp ne i32 {got}, {NONE}")):
        b.call("void", "pb_lru_add_pending", [("ptr", "%m"), ("ptr", loc), ("i32", "%cpu"),
                                              ("i32", got), ("i32", "%hash")])
        b.ret(b.zext(got))
    ncpus = lru.u32("ncpus")
    first = b.ld("i32", loc, LOC["next_steal"])
    steal = b.var("i32", first)
    with b.loop() as lp:
        s = steal.get()
        victim = lru.local_of(s)
        stolen = b.var("i32", b.call("i32", "pb_lru_local_pop_free",
                                     [("ptr", "%m"), ("ptr", victim)]))
        with b.if_(b.op(f"icmp eq i32 {stolen.get()}, {NONE}")):
            stolen.set(b.call("i32", "pb_lru_local_pop_pending", [("ptr", "%m"),
                                                                  ("ptr", victim)]))
        s1 = b.op(f"add i32 {s}, 1")
        s2 = b.op(f"select i1 {b.op(f'icmp uge i32 {s1}, {ncpus}')}, i32 0, i32 {s1}")
        steal.set(s2)
        got = stolen.get()
        node.set(got)
        b.break_if(b.op(f"or i1 {b.op(f'icmp ne i32 {got}, {NONE}')}, "
                        f"{b.op(f'icmp eq i32 {s2}, {first}')}"), lp)
    b.st("i32", steal.get(), loc, LOC["next_steal"])
    got = node.get()
    b.return_if(b.op(f"icmp eq i32 {got}, {NONE}"), -1)
    b.call("void", "pb_lru_add_pending", [("ptr", "%m"), ("ptr", loc), ("i32", "%cpu"),
                                          ("i32", got), ("i32", "%hash")])
    b.ret(b.zext(got))


def _percpu_pop_free(mod: ModuleText) -> None:
    """bpf_percpu_lru_pop_free(): rotate the CPU's list, shrink it if its free list is empty,
    take the first free node onto the inactive list."""
    b, lru = lru_function(mod, "pb_lru_percpu_pop_free", "i64", [("i32", "hash"), ("i32", "cpu")])
    lst = lru.list_of("%cpu")
    b.call("void", "pb_lru_rotate", [("ptr", "%m"), ("ptr", lst)])
    free = lru.head(lst, FREE)
    with b.if_(lru.empty(free)):
        b.call("i32", "pb_lru_shrink", [("ptr", "%m"), ("ptr", lst), ("i32", PERCPU_FREE_TARGET),
                                        ("i32", free), ("i32", FREE)])
    node = lru.nx(free)
    b.return_if(b.op(f"icmp eq i32 {node}, {free}"), -1)
    b.st("i32", "%hash", record_ptr(b, "%m", b.zext(node)), REC_HASH)
    lru.set_ref(node, 0)
    call_move(b, lst, node, INACTIVE)
    b.ret(_node_result(b, node))


def _pop_free(mod: ModuleText) -> None:
    """bpf_lru_pop_free(): a node for a new element on ``cpu``, evicting if needed (-1: none).
    The element's hash goes into its record, as the kernel writes it at ``hash_offset``."""
    b = Builder(mod, "pb_lru_pop_free", "i64", [("ptr", "m"), ("i32", "hash"), ("i64", "cpu")])
    lru = LruFields(b)
    cpu = b.op("trunc i64 %cpu to i32")
    args: list[tuple[str, str | int]] = [("ptr", "%m"), ("i32", "%hash"), ("i32", cpu)]
    with b.if_(b.op(f"icmp ne i32 {lru.u32('percpu')}, 0")):
        b.ret(b.call("i64", "pb_lru_percpu_pop_free", args))
    b.ret(b.call("i64", "pb_lru_common_pop_free", args))


def _push_free(mod: ModuleText) -> None:
    """bpf_lru_push_free() (bpf_percpu_lru_push_free(), bpf_common_lru_push_free()): a node
    that no longer holds an element goes back to a free list: its CPU's list (per-CPU LRU),
    its CPU's local free list (a node still pending), else the global free list."""
    b = Builder(mod, "pb_lru_push_free", "void", [("ptr", "m"), ("i64", "idx")])
    lru = LruFields(b)
    node = b.op("trunc i64 %idx to i32")
    cpu = lru.cpu(node)
    with b.if_(b.op(f"icmp ne i32 {lru.u32('percpu')}, 0")):
        call_move(b, lru.list_of(cpu), node, FREE)
        b.ret()
    with b.if_(b.op(f"icmp eq i32 {lru.type(node)}, {LOCAL_PENDING}")):
        lru.set_type(node, LOCAL_FREE)
        lru.set_ref(node, 0)
        lru.list_move(node, b.ld("i32", lru.local_of(cpu), LOC["free"]))
        b.ret()
    call_move(b, lru.list_of("0"), node, FREE)
    b.ret()


def _init(mod: ModuleText) -> None:
    """bpf_lru_init() and bpf_lru_populate() from the fields Python set (percpu, ncpus,
    nr_nodes, the buffers): list heads, cursors, steal order, scan and free targets, then
    every node onto a free list (common: all on the global one, the last node first;
    per-CPU: nr_nodes / ncpus consecutive nodes per CPU)."""
    b = Builder(mod, "pb_lru_init", "void", [("ptr", "m")])
    lru = LruFields(b)
    percpu = b.op(f"icmp ne i32 {lru.u32('percpu')}, 0")
    ncpus = lru.u32("ncpus")
    nodes = lru.u32("nr_nodes")
    nr_lists = b.op(f"select i1 {percpu}, i32 {ncpus}, i32 1")
    b.st("i32", nr_lists, lru.lru, LRU["nr_lists"])
    b.st("i32", b.op(f"select i1 {percpu}, i32 {PERCPU_NR_SCANS}, i32 {LOCAL_NR_SCANS}"),
         lru.lru, LRU["nr_scans"])
    half = b.op(f"udiv i32 {b.op(f'udiv i32 {nodes}, {ncpus}')}, 2")
    clamped = b.op(f"select i1 {b.op(f'icmp ult i32 {half}, 1')}, i32 1, i32 {half}")
    clamped = b.op(f"select i1 {b.op(f'icmp ugt i32 {clamped}, {LOCAL_FREE_TARGET}')}, "
                   f"i32 {LOCAL_FREE_TARGET}, i32 {clamped}")
    b.st("i32", b.op(f"select i1 {percpu}, i32 0, i32 {clamped}"), lru.lru, LRU["target_free"])
    locals_at = b.op(f"add i32 {nodes}, {b.op(f'mul i32 {nr_lists}, 3')}")
    local_heads = b.op(f"select i1 {percpu}, i32 0, i32 {b.op(f'mul i32 {ncpus}, 2')}")
    links = b.op(f"add i32 {locals_at}, {local_heads}")
    x = b.var("i32", nodes)
    with b.loop() as lp:  # INIT_LIST_HEAD() of every head
        cur = x.get()
        b.break_if(b.op(f"icmp uge i32 {cur}, {links}"), lp)
        lru.init_head(cur)
        x.set(b.op(f"add i32 {cur}, 1"))
    li = b.var("i32", 0)
    with b.loop() as lp:  # bpf_lru_list_init()
        cur = li.get()
        b.break_if(b.op(f"icmp uge i32 {cur}, {nr_lists}"), lp)
        lst = lru.list_of(cur)
        first = b.op(f"add i32 {nodes}, {b.op(f'mul i32 {cur}, 3')}")
        b.st("i32", 0, lst, LST["counts"] + 4 * ACTIVE)
        b.st("i32", 0, lst, LST["counts"] + 4 * INACTIVE)
        b.st("i32", first, lst, LST["lists"])
        b.st("i32", b.op(f"add i32 {first}, {INACTIVE}"), lst, LST["next_inactive_rotation"])
        li.set(b.op(f"add i32 {cur}, 1"))
    b.return_if(b.op(f"icmp eq i32 {nodes}, 0"), None)
    with b.if_else(percpu) as (own, common):
        with own:  # bpf_percpu_lru_populate()
            per_cpu = b.op(f"udiv i32 {nodes}, {ncpus}")
            i = b.var("i32", 0)
            c = b.var("i32", 0)
            with b.loop() as cpus:
                cpu = c.get()
                b.break_if(b.op(f"icmp uge i32 {cpu}, {ncpus}"), cpus)
                free = lru.head(lru.list_of(cpu), FREE)
                with b.loop() as fill:
                    node = i.get()
                    lru.set_cpu(node, cpu)
                    lru.set_type(node, FREE)
                    lru.set_ref(node, 0)
                    lru.list_add(node, free)
                    n = b.op(f"add i32 {node}, 1")
                    i.set(n)
                    share_done = b.op(f"icmp eq i32 {b.op(f'urem i32 {n}, {per_cpu}')}, 0")
                    b.break_if(b.op(f"or i1 {b.op(f'icmp eq i32 {n}, {nodes}')}, {share_done}"),
                               fill)
                b.break_if(b.op(f"icmp eq i32 {i.get()}, {nodes}"), cpus)
                c.set(b.op(f"add i32 {cpu}, 1"))
        with common:  # bpf_common_lru_init(), bpf_common_lru_populate()
            next_cpu = b.var("i32", 0)
            with b.loop() as lp:
                cur = next_cpu.get()
                b.break_if(b.op(f"icmp uge i32 {cur}, {ncpus}"), lp)
                loc = lru.local_of(cur)
                head = b.op(f"add i32 {locals_at}, {b.op(f'mul i32 {cur}, 2')}")
                b.st("i32", head, loc, LOC["free"])
                b.st("i32", b.op(f"add i32 {head}, 1"), loc, LOC["pending"])
                b.st("i32", cur, loc, LOC["next_steal"])
                next_cpu.set(b.op(f"add i32 {cur}, 1"))
            free = lru.head(lru.list_of("0"), FREE)
            i = b.var("i32", 0)
            with b.loop() as lp:
                node = i.get()
                b.break_if(b.op(f"icmp uge i32 {node}, {nodes}"), lp)
                lru.set_cpu(node, "0")
                lru.set_type(node, FREE)
                lru.set_ref(node, 0)
                lru.list_add(node, free)
                i.set(b.op(f"add i32 {node}, 1"))
    b.ret()


def add(mod: ModuleText) -> None:
    """Add the LRU to the library module (after :func:`pybpf.native.htab_ir.build`)."""
    lru_list_ir.add(mod)
    for build in (_local_flush, _pop_free_to_local, _add_pending, _local_pop_free,
                  _local_pop_pending, _common_pop_free, _percpu_pop_free, _pop_free,
                  _push_free, _init):
        build(mod)
