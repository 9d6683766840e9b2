"""The helper-facing map operations as LLVM IR: lookup, update, delete.

Mirrors ``htab_map_lookup_elem()``, ``htab_map_update_elem()``,
``__htab_percpu_map_update_elem()``, ``htab_map_delete_elem()``,
``htab_lru_map_update_elem()``, ``__htab_lru_percpu_map_update_elem()`` and
``htab_lru_map_delete_elem()`` of kernel/bpf/hashtab.c, ``array_map_lookup_elem()`` and
``array_map_update_elem()`` of kernel/bpf/arraymap.c, the LPM trie's lookup
(:mod:`pybpf.native.lpm_ir`; its updates and deletes are Python's) and the maps of maps'
(``array_of_map_lookup_elem()``, ``htab_of_map_lookup_elem()``), as pybpf models them (the docstrings of
:mod:`pybpf.runtime.maps.hash`, :mod:`~pybpf.runtime.maps.lru` and
:mod:`~pybpf.runtime.maps.array` state the semantics; this is their only implementation), on
the table of :mod:`pybpf.native.htab_ir` and the LRU lists of :mod:`pybpf.native.lru_ir`.
Each returns a value address or 0, 0 or ``-errno``, or :data:`~pybpf.native.layout.NOT_NATIVE`
for what only Python does (a per-CPU access, or an LRU update, on a CPU out of range, which
raises). Python (:class:`~pybpf.runtime.maps.native_table.NativeTable`,
:class:`~pybpf.runtime.maps.lru.LruHashMap`) and compiled programs (:mod:`pybpf.jit.lower_maps`)
call these same functions.
"""

from __future__ import annotations

import errno

from pybpf.jit.irtext import ModuleText
from pybpf.native.htab_ir import (
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_NOEXIST,
    field,
    field64,
    hash_key,
    record_ptr,
)
from pybpf.native.irkit import Builder
from pybpf.native.layout import ALL_CPUS, NOT_NATIVE, REC_VADDR, MapKind

__all__ = ["EXPORTS", "add"]

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_map_lookup": ("i64", ("ptr", "ptr", "i64")),
    "pb_map_update": ("i64", ("ptr", "ptr", "ptr", "i64", "i64")),
    "pb_map_delete": ("i64", ("ptr", "ptr")),
    "pb_lru_map_update": ("i64", ("ptr", "ptr", "ptr", "i64", "i64", "i64")),
}


def _lookup(mod: ModuleText) -> None:
    """bpf_map_lookup_elem() for arrays, hashes, LPM tries and maps of maps: value address
    (an inner map's address), 0, or NOT_NATIVE."""
    b = Builder(mod, "pb_map_lookup", "i64", [("ptr", "m"), ("ptr", "key"), ("i64", "cpu")])
    kind = field(b, "%m", "kind")
    elem = field64(b, "%m", "elem_size")
    is_array = b.op(f"icmp ule i32 {kind}, {MapKind.PERCPU_ARRAY}")
    with b.if_(b.op(f"and i1 {is_array}, {b.op(f'icmp ne i32 {kind}, 0')}")):
        index = b.zext(b.fn.load("i32", "%key", align=1))
        b.return_if(b.op(f"icmp uge i64 {index}, {field64(b, '%m', 'max_entries')}"), 0)
        stride = field(b, "%m", "stride", "i64")
        addr = b.op(f"add i64 {field(b, '%m', 'values', 'i64')}, "
                    f"{b.op(f'mul i64 {index}, {stride}')}")
        with b.if_(b.op(f"icmp eq i32 {kind}, {MapKind.PERCPU_ARRAY}")):
            b.ret(b.op(f"add i64 {addr}, {b.op(f'mul i64 %cpu, {elem}')}"))
        b.ret(addr)
    b.return_if(b.op(f"icmp eq i32 {kind}, 0"), NOT_NATIVE)
    with b.if_(b.op(f"icmp uge i32 {kind}, {MapKind.LPM_TRIE}")):  # one test on the hash path
        _lookup_lpm_or_inner(b, kind)
    percpu = b.op(f"or i1 {b.op(f'icmp eq i32 {kind}, {MapKind.PERCPU_HASH}')}, "
                  f"{b.op(f'icmp eq i32 {kind}, {MapKind.LRU_PERCPU_HASH}')}")
    bad_cpu = b.op(f"icmp uge i64 %cpu, {field64(b, '%m', 'ncpus')}")
    b.return_if(b.op(f"and i1 {percpu}, {bad_cpu}"), NOT_NATIVE)
    idx = b.call("i64", "pb_find", [("ptr", "%m"), ("ptr", "%key"),
                                    ("i32", hash_key(b, "%m", "%key"))])
    b.return_if(b.op(f"icmp slt i64 {idx}, 0"), 0)
    lru = b.op(f"icmp uge i32 {kind}, {MapKind.LRU_HASH}")
    with b.if_(lru):  # bpf_lru_node_set_ref(): write only when not yet set
        ref = b.op(f"getelementptr i8, ptr {field(b, '%m', 'refs', 'ptr')}, i64 {idx}")
        with b.if_(b.op(f"icmp eq i8 {b.ld('i8', ref)}, 0")):
            b.st("i8", 1, ref)
    vaddr = b.ld("i64", record_ptr(b, "%m", idx), REC_VADDR)
    offset = b.op(f"select i1 {percpu}, i64 {b.op(f'mul i64 %cpu, {elem}')}, i64 0")
    b.ret(b.op(f"add i64 {vaddr}, {offset}"))


def _lookup_lpm_or_inner(b: Builder, kind: str) -> None:
    """The LPM trie's lookup (:mod:`pybpf.native.lpm_ir`), or a map of maps' inner map
    pointer (``array_of_map_lookup_elem()``, ``htab_of_map_lookup_elem()``)."""
    with b.if_(b.op(f"icmp eq i32 {kind}, {MapKind.LPM_TRIE}")):
        b.ret(b.call("i64", "pb_lpm_lookup", [("ptr", "%m"), ("ptr", "%key")]))
    index = b.var("i64", -1)
    with b.if_else(b.op(f"icmp eq i32 {kind}, {MapKind.ARRAY_OF_MAPS}")) as (array, hashed):
        with array:
            at = b.zext(b.fn.load("i32", "%key", align=1))
            inside = b.op(f"icmp ult i64 {at}, {field64(b, '%m', 'max_entries')}")
            index.set(b.op(f"select i1 {inside}, i64 {at}, i64 -1"))
        with hashed:
            index.set(_sorted_slot(b, "%m", "%key"))
    slot = index.get()
    b.return_if(b.op(f"icmp slt i64 {slot}, 0"), 0)
    b.ret(b.ld("i64", field(b, "%m", "values_host", "ptr"), b.op(f"shl i64 {slot}, 3")))


def _sorted_slot(b: Builder, m: str, key: str) -> str:
    """The slot of ``key`` among a hash map of maps' ``count`` sorted keys, or -1 (a binary
    search, ``memcmp()`` order)."""
    size = field64(b, m, "key_size")
    keys = field(b, m, "recs", "ptr")
    lo = b.var("i64", 0)
    hi = b.var("i64", field64(b, m, "count"))
    found = b.var("i64", -1)
    b.module.declare("memcmp", "declare i32 @memcmp(ptr, ptr, i64)")
    with b.loop() as lp:
        low, high = lo.get(), hi.get()
        b.break_if(b.op(f"icmp uge i64 {low}, {high}"), lp)
        mid = b.op(f"lshr i64 {b.op(f'add i64 {low}, {high}')}, 1")
        there = b.ptr(keys, b.op(f"mul i64 {mid}, {size}"))
        order = b.call("i32", "memcmp", [("ptr", there), ("ptr", key), ("i64", size)])
        found.set(mid)
        b.break_if(b.op(f"icmp eq i32 {order}, 0"), lp)
        found.set(-1)
        below = b.op(f"icmp slt i32 {order}, 0")
        lo.set(b.op(f"select i1 {below}, i64 {b.op(f'add i64 {mid}, 1')}, i64 {low}"))
        hi.set(b.op(f"select i1 {below}, i64 {high}, i64 {mid}"))
    return found.get()


def _write_value(b: Builder, m: str, slot: str, value: str, cpu: str, percpu: str) -> None:
    """pcpu_copy_value(): the whole buffer for ALL_CPUS, else one CPU's value (or the value)."""
    all_cpus = b.op(f"and i1 {percpu}, {b.op(f'icmp eq i64 {cpu}, -1')}")
    with b.if_else(all_cpus) as (everything, one):
        with everything:
            b.memcpy(slot, value, field64(b, m, "slot_size"))
        with one:
            elem = field64(b, m, "elem_size")
            offset = b.op(f"select i1 {percpu}, i64 {b.op(f'mul i64 {cpu}, {elem}')}, i64 0")
            b.memcpy(b.ptr(slot, offset), value, field64(b, m, "value_size"))


def _update(mod: ModuleText) -> None:
    """bpf_map_update_elem(): array_map_update_elem(), htab_map_update_elem() and the
    per-CPU variants (``cpu`` = ALL_CPUS: the syscall's whole per-CPU buffer)."""
    b = Builder(mod, "pb_map_update", "i64",
                [("ptr", "m"), ("ptr", "key"), ("ptr", "value"), ("i64", "flags"), ("i64", "cpu")])
    kind = field(b, "%m", "kind")
    b.return_if(b.op(f"icmp uge i32 {kind}, {MapKind.LPM_TRIE}"), NOT_NATIVE)
    plain = b.op(f"and i64 %flags, {~BPF_F_LOCK}")
    with b.if_(b.op(f"icmp eq i32 {kind}, {MapKind.ARRAY}")):
        _array_update(b, plain, percpu=False)
    with b.if_(b.op(f"icmp eq i32 {kind}, {MapKind.PERCPU_ARRAY}")):
        _array_update(b, plain, percpu=True)
    lru = b.op(f"icmp uge i32 {kind}, {MapKind.LRU_HASH}")
    with b.if_(lru):  # a program's update: the lists of the CPU it runs on
        b.return_if(b.op(f"icmp uge i64 %cpu, {field64(b, '%m', 'ncpus')}"), NOT_NATIVE)
        b.ret(b.call("i64", "pb_lru_map_update", [("ptr", "%m"), ("ptr", "%key"),
                                                  ("ptr", "%value"), ("i64", "%flags"),
                                                  ("i64", "%cpu"), ("i64", "%cpu")]))
    hash_kind = b.op(f"icmp eq i32 {kind}, {MapKind.HASH}")
    percpu = b.op(f"icmp eq i32 {kind}, {MapKind.PERCPU_HASH}")
    b.return_if(b.op(f"xor i1 {b.op(f'or i1 {hash_kind}, {percpu}')}, true"), NOT_NATIVE)
    with b.if_else(percpu) as (pc, plain_hash):
        with pc:
            b.return_if(b.op(f"icmp ugt i64 %flags, {BPF_EXIST}"), -errno.EINVAL)
            ncpus = field64(b, "%m", "ncpus")
            bad = b.op(f"icmp uge i64 %cpu, {ncpus}")
            b.return_if(b.op(f"and i1 {b.op('icmp ne i64 %cpu, -1')}, {bad}"), NOT_NATIVE)
        with plain_hash:
            b.return_if(b.op(f"icmp ugt i64 {plain}, {BPF_EXIST}"), -errno.EINVAL)
            b.return_if(b.op(f"icmp ne i64 {b.op(f'and i64 %flags, {BPF_F_LOCK}')}, 0"),
                        -errno.EINVAL)
    h = hash_key(b, "%m", "%key")
    old = b.call("i64", "pb_find", [("ptr", "%m"), ("ptr", "%key"), ("i32", h)])
    exists = b.op(f"icmp sge i64 {old}, 0")
    b.return_if(b.op(f"and i1 {exists}, {b.op(f'icmp eq i64 {plain}, {BPF_NOEXIST}')}"),
                -errno.EEXIST)
    missing = b.op(f"xor i1 {exists}, true")
    b.return_if(b.op(f"and i1 {missing}, {b.op(f'icmp eq i64 {plain}, {BPF_EXIST}')}"),
                -errno.ENOENT)
    values = field(b, "%m", "values_host", "ptr")
    size = field64(b, "%m", "slot_size")
    with b.if_(b.op(f"and i1 {exists}, {percpu}")):  # per-CPU values are updated in place
        _write_value(b, "%m", b.ptr(values, b.op(f"mul i64 {old}, {size}")), "%value", "%cpu",
                     percpu)
        b.ret(0)
    full = b.op(f"icmp uge i32 {field(b, '%m', 'count')}, {field(b, '%m', 'max_entries')}")
    b.return_if(b.op(f"and i1 {missing}, {full}"), -errno.E2BIG)
    new = b.call("i64", "pb_slab_alloc", [("ptr", "%m")])
    _write_value(b, "%m", b.ptr(values, b.op(f"mul i64 {new}, {size}")), "%value", "%cpu", percpu)
    with b.if_else(missing) as (insert, replace):
        with insert:
            b.call("void", "pb_htab_link", [("ptr", "%m"), ("i64", new), ("ptr", "%key"),
                                            ("i32", h)])
        with replace:
            b.call("void", "pb_htab_replace", [("ptr", "%m"), ("i64", old), ("i64", new),
                                               ("ptr", "%key"), ("i32", h)])
            b.call("void", "pb_slab_free", [("ptr", "%m"), ("i64", old)])
    b.ret(0)


def _check_flags(b: Builder, exists: str, flags: str) -> str:
    """check_flags() of hashtab.c (``flags`` without ``BPF_F_LOCK``): 0, -EEXIST or
    -ENOENT."""
    clash = b.op(f"and i1 {exists}, {b.op(f'icmp eq i64 {flags}, {BPF_NOEXIST}')}")
    missing = b.op(f"and i1 {b.op(f'xor i1 {exists}, true')}, "
                   f"{b.op(f'icmp eq i64 {flags}, {BPF_EXIST}')}")
    ret = b.op(f"select i1 {missing}, i64 {-errno.ENOENT}, i64 0")
    return b.op(f"select i1 {clash}, i64 {-errno.EEXIST}, i64 {ret}")


def _lru_update(mod: ModuleText) -> None:
    """htab_lru_map_update_elem() and __htab_lru_percpu_map_update_elem(): ``cpu`` selects
    the value written (ALL_CPUS: the syscall's whole per-CPU buffer), ``lru_cpu`` the CPU
    whose lists give the node (the syscall's CPU for ALL_CPUS).

    A node is taken (evicting if needed) BEFORE the flags are checked, as in 6.18; a plain
    LRU update links the new node (reference bit set when it replaces an element) and frees
    the old one, a per-CPU one updates an existing element in place and takes no node for
    ``BPF_EXIST``. The map is never full: a node shortage is ENOMEM.
    """
    b = Builder(mod, "pb_lru_map_update", "i64",
                [("ptr", "m"), ("ptr", "key"), ("ptr", "value"), ("i64", "flags"),
                 ("i64", "cpu"), ("i64", "lru_cpu")])
    b.return_if(b.op(f"icmp uge i64 %lru_cpu, {field64(b, '%m', 'ncpus')}"), NOT_NATIVE)
    b.return_if(b.op(f"icmp ugt i64 %flags, {BPF_EXIST}"), -errno.EINVAL)
    h = hash_key(b, "%m", "%key")
    values = field(b, "%m", "values_host", "ptr")
    size = field64(b, "%m", "slot_size")
    refs = field(b, "%m", "refs", "ptr")

    def slot(idx: str) -> str:
        return b.ptr(values, b.op(f"mul i64 {idx}, {size}"))

    def pop() -> str:
        return b.call("i64", "pb_lru_pop_free", [("ptr", "%m"), ("i32", h), ("i64", "%lru_cpu")])

    def push(idx: str) -> None:
        b.call("void", "pb_lru_push_free", [("ptr", "%m"), ("i64", idx)])

    def set_ref(idx: str) -> None:  # bpf_lru_node_set_ref()
        b.st("i8", 1, b.op(f"getelementptr i8, ptr {refs}, i64 {idx}"))

    def find() -> str:
        return b.call("i64", "pb_find", [("ptr", "%m"), ("ptr", "%key"), ("i32", h)])

    percpu = b.op(f"icmp eq i32 {field(b, '%m', 'kind')}, {MapKind.LRU_PERCPU_HASH}")
    with b.if_(b.op(f"xor i1 {percpu}, true")):  # htab_lru_map_update_elem()
        node = pop()
        b.return_if(b.op(f"icmp slt i64 {node}, 0"), -errno.ENOMEM)
        b.memcpy(slot(node), "%value", field64(b, "%m", "value_size"))
        old = find()
        exists = b.op(f"icmp sge i64 {old}, 0")
        ret = _check_flags(b, exists, "%flags")
        with b.if_(b.op(f"icmp ne i64 {ret}, 0")):
            push(node)
            b.ret(ret)
        with b.if_else(exists) as (replace, insert):
            with replace:
                set_ref(node)
                b.call("void", "pb_htab_replace", [("ptr", "%m"), ("i64", old), ("i64", node),
                                                   ("ptr", "%key"), ("i32", h)])
                push(old)
            with insert:
                b.call("void", "pb_htab_link", [("ptr", "%m"), ("i64", node), ("ptr", "%key"),
                                                ("i32", h)])
        b.ret(0)
    # __htab_lru_percpu_map_update_elem()
    new = b.var("i64", -1)
    with b.if_(b.op(f"icmp ne i64 %flags, {BPF_EXIST}")):
        node = pop()
        b.return_if(b.op(f"icmp slt i64 {node}, 0"), -errno.ENOMEM)
        new.set(node)
    old = find()
    exists = b.op(f"icmp sge i64 {old}, 0")
    ret = _check_flags(b, exists, "%flags")
    with b.if_(b.op(f"icmp eq i64 {ret}, 0")), b.if_else(exists) as (in_place, insert):
        with in_place:
            set_ref(old)
            _write_value(b, "%m", slot(old), "%value", "%cpu", "true")
        with insert:  # pcpu_init_value(): one CPU's value and zeros, or every CPU's
            node = new.get()
            target = slot(node)
            with b.if_else(b.op("icmp eq i64 %cpu, -1")) as (every, one):
                with every:
                    b.memcpy(target, "%value", size)
                with one:
                    b.memset0(target, size)
                    _write_value(b, "%m", target, "%value", "%cpu", "true")
            b.call("void", "pb_htab_link", [("ptr", "%m"), ("i64", node), ("ptr", "%key"),
                                            ("i32", h)])
            new.set(-1)
    left = new.get()
    with b.if_(b.op(f"icmp sge i64 {left}, 0")):
        push(left)
    b.ret(ret)


def _array_update(b: Builder, plain: str, *, percpu: bool) -> None:
    """array_map_update_elem() from a program: the current CPU's copy only."""
    b.return_if(b.op(f"icmp ugt i64 {plain}, {BPF_EXIST}"), -errno.EINVAL)
    index = b.zext(b.fn.load("i32", "%key", align=1))
    b.return_if(b.op(f"icmp uge i64 {index}, {field64(b, '%m', 'max_entries')}"), -errno.E2BIG)
    b.return_if(b.op(f"icmp ne i64 {b.op(f'and i64 %flags, {BPF_NOEXIST}')}, 0"), -errno.EEXIST)
    b.return_if(b.op(f"icmp ne i64 {b.op(f'and i64 %flags, {BPF_F_LOCK}')}, 0"), -errno.EINVAL)
    offset = b.op(f"mul i64 {index}, {field(b, '%m', 'stride', 'i64')}")
    if percpu:
        elem = field64(b, "%m", "elem_size")
        offset = b.op(f"add i64 {offset}, {b.op(f'mul i64 %cpu, {elem}')}")
    b.memcpy(b.ptr(field(b, "%m", "values_host", "ptr"), offset), "%value",
             field64(b, "%m", "value_size"))
    b.ret(0)


def _delete(mod: ModuleText) -> None:
    """bpf_map_delete_elem(): htab_map_delete_elem(), htab_lru_map_delete_elem(); arrays
    cannot delete (EINVAL)."""
    b = Builder(mod, "pb_map_delete", "i64", [("ptr", "m"), ("ptr", "key")])
    kind = field(b, "%m", "kind")
    is_array = b.op(f"and i1 {b.op(f'icmp ne i32 {kind}, 0')}, "
                    f"{b.op(f'icmp ule i32 {kind}, {MapKind.PERCPU_ARRAY}')}")
    b.return_if(is_array, -errno.EINVAL)
    b.return_if(b.op(f"or i1 {b.op(f'icmp eq i32 {kind}, {MapKind.NONE}')}, "
                     f"{b.op(f'icmp uge i32 {kind}, {MapKind.LPM_TRIE}')}"), NOT_NATIVE)
    idx = b.call("i64", "pb_find", [("ptr", "%m"), ("ptr", "%key"),
                                    ("i32", hash_key(b, "%m", "%key"))])
    b.return_if(b.op(f"icmp slt i64 {idx}, 0"), -errno.ENOENT)
    b.call("i64", "pb_htab_unlink", [("ptr", "%m"), ("i64", idx)])
    with b.if_else(b.op(f"icmp uge i32 {kind}, {MapKind.LRU_HASH}")) as (lru, plain):
        with lru:  # htab_lru_map_delete_elem(): the node goes back to a free list at once
            b.call("void", "pb_lru_push_free", [("ptr", "%m"), ("i64", idx)])
        with plain:
            b.call("void", "pb_slab_free", [("ptr", "%m"), ("i64", idx)])
    b.ret(0)


def add(mod: ModuleText) -> None:
    """Add the operations to the library module (after :func:`pybpf.native.htab_ir.build`)."""
    _lookup(mod)
    _update(mod)
    _lru_update(mod)
    _delete(mod)
    assert ALL_CPUS == (1 << 64) - 1  # "-1" in the IR above
