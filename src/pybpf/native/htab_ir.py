"""The native hash table as LLVM IR: hashing, buckets, iteration, value slots.

Mirrors kernel/bpf/hashtab.c and kernel/bpf/arraymap.c as pybpf models them (the Python
docstrings of :mod:`pybpf.runtime.maps.hash`, :mod:`~pybpf.runtime.maps.lru` and
:mod:`~pybpf.runtime.maps.array` state the semantics; this is their only implementation):

* ``pb_jhash`` — ``jhash()`` of include/linux/jhash.h (lookup3), ``htab_maphash_key()``;
* ``pb_htab_find`` / ``pb_htab_link`` / ``pb_htab_unlink`` / ``pb_htab_replace`` — the
  bucket lists (``lookup_elem_raw()``, ``hlist_nulls_add_head_rcu()``,
  ``hlist_nulls_del_rcu()``): new elements at the head of their bucket;
* ``pb_htab_next`` / ``pb_htab_walk`` — ``htab_map_get_next_key()`` order: the rest of the
  key's bucket, then the following non-empty buckets; a missing key restarts at bucket 0;
* ``pb_slab_*`` — value slots with grace-period reuse: a freed slot waits in the pending
  ring until ``pb_htab_sync`` (the end of a program run, an RCU grace period); only when no
  free or never-used slot is left is the oldest pending slot reused early;
* the helper-facing operations built on them are in :mod:`pybpf.native.mapops_ir`.

Nothing here knows a host address: every pointer comes from the map's
:class:`~pybpf.native.layout.NativeMap`, so the compiled library is cacheable.
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.jit.irtext import ModuleText
from pybpf.native.irkit import Builder
from pybpf.native.layout import (
    REC_HASH,
    REC_KEY,
    REC_LINKED,
    REC_NEXT,
    REC_VADDR,
    NativeMap,
    field_offsets,
)

__all__ = ["EXPORTS", "M", "build", "field", "field64", "hash_key", "record_ptr"]

M = field_offsets(NativeMap)
JHASH_INITVAL = 0xDEADBEEF
BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK = 1, 2, 4

#: Exported functions and their C signatures (return type, argument types).
EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_jhash": ("i32", ("ptr", "i64", "i32")),
    "pb_htab_find": ("i64", ("ptr", "ptr")),
    "pb_htab_link": ("void", ("ptr", "i64", "ptr", "i32")),
    "pb_htab_unlink": ("i64", ("ptr", "i64")),
    "pb_htab_replace": ("void", ("ptr", "i64", "i64", "ptr", "i32")),
    "pb_htab_next": ("i64", ("ptr", "ptr")),
    "pb_htab_walk": ("i64", ("ptr", "ptr", "i64")),
    "pb_htab_sync": ("void", ("ptr",)),
    "pb_slab_carve": ("void", ("ptr", "i64")),
}


def field(b: Builder, m: str, name: str, ty: str = "i32") -> str:
    return b.ld(ty, m, M[name])


def field64(b: Builder, m: str, name: str) -> str:
    """A u32 field of the map descriptor, zero-extended to i64."""
    return b.zext(field(b, m, name))


def record_ptr(b: Builder, m: str, idx: str) -> str:
    """Pointer to record ``idx`` (an i64)."""
    recs = field(b, m, "recs", "ptr")
    return b.ptr(recs, b.op(f"mul i64 {idx}, {field64(b, m, 'rec_size')}"))


def _rol(b: Builder, x: str, k: int) -> str:
    return b.op(f"call i32 @llvm.fshl.i32(i32 {x}, i32 {x}, i32 {k})")


def _mix(b: Builder, a: str, bb: str, c: str) -> tuple[str, str, str]:
    """__jhash_mix(a, b, c)."""
    for x, y, z, k in (("a", "c", "b", 4), ("b", "a", "c", 6), ("c", "b", "a", 8),
                       ("a", "c", "b", 16), ("b", "a", "c", 19), ("c", "b", "a", 4)):
        regs = {"a": a, "b": bb, "c": c}
        vx = b.op(f"sub i32 {regs[x]}, {regs[y]}")
        vx = b.op(f"xor i32 {vx}, {_rol(b, regs[y], k)}")
        vy = b.op(f"add i32 {regs[y]}, {regs[z]}")
        regs[x], regs[y] = vx, vy
        a, bb, c = regs["a"], regs["b"], regs["c"]
    return a, bb, c


def _final(b: Builder, a: str, bb: str, c: str) -> str:
    """__jhash_final(a, b, c); returns c."""
    regs = {"a": a, "b": bb, "c": c}
    for x, y, k in (("c", "b", 14), ("a", "c", 11), ("b", "a", 25), ("c", "b", 16),
                    ("a", "c", 4), ("b", "a", 14), ("c", "b", 24)):
        v = b.op(f"xor i32 {regs[x]}, {regs[y]}")
        regs[x] = b.op(f"sub i32 {v}, {_rol(b, regs[y], k)}")
    return regs["c"]


#: Key sizes whose jhash() is unrolled for their size where maps hash keys (ports, IPv4,
#: u64, IPv6 addresses); the others go through ``pb_jhash``'s loop.
_INLINE_HASH = (4, 2, 8, 16)


def _tail_word(b: Builder, key: str, offset: int, size: int) -> str:
    """The ``size`` (1-4) bytes at ``key + offset`` as lookup3's tail adds them: little
    endian, zero-padded."""
    if size == 4:
        return b.fn.load("i32", b.ptr(key, offset), align=1)
    if size == 3:
        low = b.op(f"zext i16 {b.fn.load('i16', b.ptr(key, offset), align=1)} to i32")
        high = b.op(f"zext i8 {b.fn.load('i8', b.ptr(key, offset + 2), align=1)} to i32")
        return b.op(f"or i32 {low}, {b.op(f'shl i32 {high}, 16')}")
    ty = "i16" if size == 2 else "i8"
    return b.op(f"zext {ty} {b.fn.load(ty, b.ptr(key, offset), align=1)} to i32")


def _jhash_const(b: Builder, key: str, size: int, init: str) -> str:
    """jhash() of a key of constant ``size`` bytes: lookup3's loop unrolled, its tail's
    switch resolved."""
    start = b.op(f"add i32 {(JHASH_INITVAL + size) % (1 << 32) - (1 << 32)}, {init}")
    a = bb = c = start
    offset, left = 0, size
    while left > 12:
        a = b.op(f"add i32 {a}, {_tail_word(b, key, offset, 4)}")
        bb = b.op(f"add i32 {bb}, {_tail_word(b, key, offset + 4, 4)}")
        c = b.op(f"add i32 {c}, {_tail_word(b, key, offset + 8, 4)}")
        a, bb, c = _mix(b, a, bb, c)
        offset, left = offset + 12, left - 12
    if left == 0:
        return c
    words = [a, bb, c]
    for i in range((left + 3) // 4):
        width = min(4, left - 4 * i)
        words[i] = b.op(f"add i32 {words[i]}, {_tail_word(b, key, offset + 4 * i, width)}")
    return _final(b, *words)


def _jhash(mod: ModuleText) -> None:
    """u32 jhash(const void *key, u32 length, u32 initval)."""
    mod.declare("llvm.fshl.i32", "declare i32 @llvm.fshl.i32(i32, i32, i32)")
    b = Builder(mod, "pb_jhash", "i32", [("ptr", "key"), ("i64", "len"), ("i32", "init")])
    len32 = b.op("trunc i64 %len to i32")
    start = b.op(f"add i32 {b.op(f'add i32 {JHASH_INITVAL - (1 << 32)}, {len32}')}, %init")
    for size in (4, 8):  # the common sizes unrolled (same arithmetic as the loop)
        with b.if_(b.op(f"icmp eq i64 %len, {size}")):
            b.ret(_jhash_const(b, "%key", size, "%init"), "i32")
    va, vb, vc = b.var("i32", start), b.var("i32", start), b.var("i32", start)
    k, n = b.var("ptr", "%key"), b.var("i64", "%len")
    with b.loop() as lp:
        b.break_if(b.op(f"icmp ule i64 {n.get()}, 12"), lp)
        p = k.get()
        a = b.op(f"add i32 {va.get()}, {b.fn.load('i32', p, align=1)}")
        bb = b.op(f"add i32 {vb.get()}, {b.fn.load('i32', b.ptr(p, 4), align=1)}")
        c = b.op(f"add i32 {vc.get()}, {b.fn.load('i32', b.ptr(p, 8), align=1)}")
        a, bb, c = _mix(b, a, bb, c)
        va.set(a)
        vb.set(bb)
        vc.set(c)
        n.set(b.op(f"sub i64 {n.get()}, 12"))
        k.set(b.ptr(p, 12))
    rest = n.get()
    b.return_if(b.op(f"icmp eq i64 {rest}, 0"), vc.get(), "i32")
    tail = b.op("alloca [12 x i8], align 4")
    b.memset0(tail, 12)
    for size in range(1, 13):  # a copy of constant size each: no call of libc's memcpy
        with b.if_(b.op(f"icmp eq i64 {rest}, {size}")):
            b.memcpy(tail, k.get(), size)
    a = b.op(f"add i32 {va.get()}, {b.ld('i32', tail)}")
    bb = b.op(f"add i32 {vb.get()}, {b.ld('i32', tail, 4)}")
    c = b.op(f"add i32 {vc.get()}, {b.ld('i32', tail, 8)}")
    b.ret(_final(b, a, bb, c), "i32")


#: Key sizes compared with one integer comparison (ports, IPv4, u64, IPv6 addresses).
_WORD_KEYS = (4, 8, 2, 16)


def _by_key_size(b: Builder, m: str, ty: str, sizes: tuple[int, ...],
                sized: Callable[[int], str], other: Callable[[str], str]) -> str:
    """A ``ty`` value computed for the map's key size: ``sized(n)`` with the size a constant
    for each of ``sizes`` (tested in order), ``other(size)`` for any other size."""
    size = field64(b, m, "key_size")
    result = b.var(ty)

    def test(rest: tuple[int, ...]) -> None:
        if not rest:
            result.set(other(size))
            return
        with b.if_else(b.op(f"icmp eq i64 {size}, {rest[0]}")) as (this, later):
            with this:
                result.set(sized(rest[0]))
            with later:
                test(rest[1:])

    test(sizes)
    return result.get()


def _key_equal(b: Builder, m: str, rec_key: str, key: str) -> str:
    """i1: the record's key equals ``key`` (one comparison for the sizes of
    :data:`_WORD_KEYS`, ``memcmp`` otherwise)."""
    def word(n: int) -> str:
        ty = f"i{8 * n}"
        return b.op(f"icmp eq {ty} {b.fn.load(ty, rec_key, align=1)}, "
                    f"{b.fn.load(ty, key, align=1)}")

    return _by_key_size(b, m, "i1", _WORD_KEYS, word,
                       lambda size: b.memcmp_eq(rec_key, key, size))


def _find(mod: ModuleText) -> None:
    """lookup_elem_raw(): record index of ``key`` (hash given), or -1."""
    b = Builder(mod, "pb_find", "i64", [("ptr", "m"), ("ptr", "key"), ("i32", "hash")],
                linkage="internal")
    buckets = field(b, "%m", "buckets", "ptr")
    bucket = b.zext(b.op(f"and i32 %hash, {field(b, '%m', 'mask')}"))
    cur = b.var("i32", b.ld("i32", b.op(f"getelementptr i32, ptr {buckets}, i64 {bucket}")))
    with b.loop():
        link = cur.get()
        b.return_if(b.op(f"icmp eq i32 {link}, 0"), -1)
        idx = b.zext(b.op(f"sub i32 {link}, 1"))
        rec = record_ptr(b, "%m", idx)
        with b.if_(b.op(f"icmp eq i32 {b.ld('i32', rec, REC_HASH)}, %hash")):
            b.return_if(_key_equal(b, "%m", b.ptr(rec, REC_KEY), "%key"), idx)
        cur.set(b.ld("i32", rec, REC_NEXT))
    b.ret(-1)
    # exported: the hash computed here
    e = Builder(mod, "pb_htab_find", "i64", [("ptr", "m"), ("ptr", "key")])
    e.ret(e.call("i64", "pb_find", [("ptr", "%m"), ("ptr", "%key"), ("i32", hash_key(e, "%m", "%key"))]))


def hash_key(b: Builder, m: str, key: str) -> str:
    """``htab_map_hash()``: jhash(key, key_size, 0), unrolled for the sizes of
    :data:`_INLINE_HASH`."""
    return _by_key_size(b, m, "i32", _INLINE_HASH, lambda n: _jhash_const(b, key, n, "0"),
                       lambda size: b.call("i32", "pb_jhash", [("ptr", key), ("i64", size),
                                                               ("i32", "0")]))


def _bucket_slot(b: Builder, m: str, bucket: str) -> str:
    return b.op(f"getelementptr i32, ptr {field(b, m, 'buckets', 'ptr')}, i64 {bucket}")


def _occupancy(mod: ModuleText) -> None:
    """Set / clear a bucket's bits in the two occupancy bitmaps; find the next non-empty
    bucket at or after ``from`` (-1 when there is none)."""
    b = Builder(mod, "pb_occ_set", "void", [("ptr", "m"), ("i64", "bucket")], linkage="internal")
    word = b.op("lshr i64 %bucket, 6")
    p1 = b.op(f"getelementptr i64, ptr {field(b, '%m', 'occupied', 'ptr')}, i64 {word}")
    b.st("i64", b.op(f"or i64 {b.ld('i64', p1)}, {b.op('shl i64 1, ' + b.op('and i64 %bucket, 63'))}"), p1)
    p2 = b.op(f"getelementptr i64, ptr {field(b, '%m', 'occupied2', 'ptr')}, i64 "
              f"{b.op(f'lshr i64 {word}, 6')}")
    b.st("i64", b.op(f"or i64 {b.ld('i64', p2)}, {b.op('shl i64 1, ' + b.op(f'and i64 {word}, 63'))}"), p2)
    b.ret()

    b = Builder(mod, "pb_occ_clear", "void", [("ptr", "m"), ("i64", "bucket")],
                linkage="internal")
    word = b.op("lshr i64 %bucket, 6")
    p1 = b.op(f"getelementptr i64, ptr {field(b, '%m', 'occupied', 'ptr')}, i64 {word}")
    bit = b.op("shl i64 1, " + b.op("and i64 %bucket, 63"))
    left = b.op(f"and i64 {b.ld('i64', p1)}, {b.op(f'xor i64 {bit}, -1')}")
    b.st("i64", left, p1)
    with b.if_(b.op(f"icmp eq i64 {left}, 0")):
        p2 = b.op(f"getelementptr i64, ptr {field(b, '%m', 'occupied2', 'ptr')}, i64 "
                  f"{b.op(f'lshr i64 {word}, 6')}")
        bit2 = b.op("shl i64 1, " + b.op(f"and i64 {word}, 63"))
        b.st("i64", b.op(f"and i64 {b.ld('i64', p2)}, {b.op(f'xor i64 {bit2}, -1')}"), p2)
    b.ret()

    mod.declare("llvm.cttz.i64", "declare i64 @llvm.cttz.i64(i64, i1)")
    b = Builder(mod, "pb_next_bucket", "i64", [("ptr", "m"), ("i64", "from")],
                linkage="internal")
    nb = b.op(f"add i64 {field64(b, '%m', 'mask')}, 1")
    b.return_if(b.op(f"icmp uge i64 %from, {nb}"), -1)
    occ = field(b, "%m", "occupied", "ptr")
    occ2 = field(b, "%m", "occupied2", "ptr")
    word = b.op("lshr i64 %from, 6")
    bits = b.op(f"and i64 {b.ld('i64', b.op(f'getelementptr i64, ptr {occ}, i64 {word}'))}, "
                f"{b.op('shl i64 -1, ' + b.op('and i64 %from, 63'))}")
    with b.if_(b.op(f"icmp ne i64 {bits}, 0")):
        tz = b.op(f"call i64 @llvm.cttz.i64(i64 {bits}, i1 true)")
        b.ret(b.op(f"add i64 {b.op(f'shl i64 {word}, 6')}, {tz}"))
    nwords = b.op(f"lshr i64 {b.op(f'add i64 {nb}, 63')}, 6")
    w = b.var("i64", b.op(f"add i64 {word}, 1"))
    with b.loop() as lp:
        cur = w.get()
        b.break_if(b.op(f"icmp uge i64 {cur}, {nwords}"), lp)
        w2 = b.op(f"lshr i64 {cur}, 6")
        bits2 = b.op(f"and i64 {b.ld('i64', b.op(f'getelementptr i64, ptr {occ2}, i64 {w2}'))}, "
                     f"{b.op('shl i64 -1, ' + b.op(f'and i64 {cur}, 63'))}")
        with b.if_(b.op(f"icmp ne i64 {bits2}, 0")):
            found = b.op(f"add i64 {b.op(f'shl i64 {w2}, 6')}, "
                         f"{b.op(f'call i64 @llvm.cttz.i64(i64 {bits2}, i1 true)')}")
            word_bits = b.ld("i64", b.op(f"getelementptr i64, ptr {occ}, i64 {found}"))
            tz = b.op(f"call i64 @llvm.cttz.i64(i64 {word_bits}, i1 true)")
            b.ret(b.op(f"add i64 {b.op(f'shl i64 {found}, 6')}, {tz}"))
        w.set(b.op(f"shl i64 {b.op(f'add i64 {w2}, 1')}, 6"))
    b.ret(-1)


def _link(mod: ModuleText) -> None:
    """hlist_nulls_add_head_rcu(): record ``idx`` with ``key``/``hash`` at its bucket's head."""
    b = Builder(mod, "pb_htab_link", "void",
                [("ptr", "m"), ("i64", "idx"), ("ptr", "key"), ("i32", "hash")])
    rec = record_ptr(b, "%m", "%idx")
    b.memcpy(b.ptr(rec, REC_KEY), "%key", field64(b, "%m", "key_size"))
    b.st("i32", "%hash", rec, REC_HASH)
    b.st("i32", 1, rec, REC_LINKED)
    bucket = b.zext(b.op(f"and i32 %hash, {field(b, '%m', 'mask')}"))
    slot = _bucket_slot(b, "%m", bucket)
    head = b.ld("i32", slot)
    b.st("i32", head, rec, REC_NEXT)
    b.st("i32", b.op("add i32 " + b.op("trunc i64 %idx to i32") + ", 1"), slot)
    with b.if_(b.op(f"icmp eq i32 {head}, 0")):
        b.call("void", "pb_occ_set", [("ptr", "%m"), ("i64", bucket)])
    count = b.ptr("%m", M["count"])
    b.st("i32", b.op(f"add i32 {b.ld('i32', count)}, 1"), count)
    b.ret()


def _unlink(mod: ModuleText) -> None:
    """hlist_nulls_del_rcu(): 1 if record ``idx`` was linked (and now is not), else 0."""
    b = Builder(mod, "pb_htab_unlink", "i64", [("ptr", "m"), ("i64", "idx")])
    rec = record_ptr(b, "%m", "%idx")
    b.return_if(b.op(f"icmp eq i32 {b.ld('i32', rec, REC_LINKED)}, 0"), 0)
    bucket = b.zext(b.op(f"and i32 {b.ld('i32', rec, REC_HASH)}, {field(b, '%m', 'mask')}"))
    head = _bucket_slot(b, "%m", bucket)
    want = b.op("add i32 " + b.op("trunc i64 %idx to i32") + ", 1")
    link = b.var("ptr", head)
    with b.loop():
        at = link.get()
        cur = b.ld("i32", at)
        b.return_if(b.op(f"icmp eq i32 {cur}, 0"), 0)
        with b.if_(b.op(f"icmp eq i32 {cur}, {want}")):
            b.st("i32", b.ld("i32", rec, REC_NEXT), at)
            b.st("i32", 0, rec, REC_LINKED)
            b.st("i32", 0, rec, REC_NEXT)
            count = b.ptr("%m", M["count"])
            b.st("i32", b.op(f"sub i32 {b.ld('i32', count)}, 1"), count)
            with b.if_(b.op(f"icmp eq i32 {b.ld('i32', head)}, 0")):
                b.call("void", "pb_occ_clear", [("ptr", "%m"), ("i64", bucket)])
            b.ret(1)
        link.set(b.ptr(record_ptr(b, "%m", b.zext(b.op(f"sub i32 {cur}, 1"))), REC_NEXT))
    b.ret(0)

    b = Builder(mod, "pb_htab_replace", "void",
                [("ptr", "m"), ("i64", "old"), ("i64", "new"), ("ptr", "key"), ("i32", "hash")])
    b.call("void", "pb_htab_link", [("ptr", "%m"), ("i64", "%new"), ("ptr", "%key"),
                                    ("i32", "%hash")])
    b.call("i64", "pb_htab_unlink", [("ptr", "%m"), ("i64", "%old")])
    b.ret()


def _iteration(mod: ModuleText) -> None:
    """htab_map_get_next_key() (record index, -1 for ENOENT) and the whole order at once."""
    b = Builder(mod, "pb_htab_next", "i64", [("ptr", "m"), ("ptr", "key")])
    after = b.var("i64", 0)
    with b.if_(b.op("icmp ne ptr %key, null")):
        h = hash_key(b, "%m", "%key")
        idx = b.call("i64", "pb_find", [("ptr", "%m"), ("ptr", "%key"), ("i32", h)])
        with b.if_(b.op(f"icmp sge i64 {idx}, 0")):
            rec = record_ptr(b, "%m", idx)
            nxt = b.ld("i32", rec, REC_NEXT)
            b.return_if(b.op(f"icmp ne i32 {nxt}, 0"), b.zext(b.op(f"sub i32 {nxt}, 1")))
            bucket = b.zext(b.op(f"and i32 {h}, {field(b, '%m', 'mask')}"))
            after.set(b.op(f"add i64 {bucket}, 1"))
    found = b.call("i64", "pb_next_bucket", [("ptr", "%m"), ("i64", after.get())])
    b.return_if(b.op(f"icmp slt i64 {found}, 0"), -1)
    head = b.ld("i32", _bucket_slot(b, "%m", found))
    b.ret(b.zext(b.op(f"sub i32 {head}, 1")))

    b = Builder(mod, "pb_htab_walk", "i64", [("ptr", "m"), ("ptr", "out"), ("i64", "max")])
    n = b.var("i64", 0)
    walk = b.var("i64", b.call("i64", "pb_next_bucket", [("ptr", "%m"), ("i64", "0")]))
    with b.loop() as lp:
        cur_bucket = walk.get()
        b.break_if(b.op(f"icmp slt i64 {cur_bucket}, 0"), lp)
        cur = b.var("i32", b.ld("i32", _bucket_slot(b, "%m", cur_bucket)))
        with b.loop() as inner:
            link = cur.get()
            b.break_if(b.op(f"icmp eq i32 {link}, 0"), inner)
            count = n.get()
            with b.if_(b.op(f"icmp ult i64 {count}, %max")):
                b.st("i32", b.op(f"sub i32 {link}, 1"),
                     b.op(f"getelementptr i32, ptr %out, i64 {count}"))
            n.set(b.op(f"add i64 {count}, 1"))
            cur.set(b.ld("i32", record_ptr(b, "%m", b.zext(b.op(f"sub i32 {link}, 1"))), REC_NEXT))
        walk.set(b.call("i64", "pb_next_bucket", [("ptr", "%m"),
                                                    ("i64", b.op(f"add i64 {cur_bucket}, 1"))]))
    b.ret(n.get())


def _ring_slot(b: Builder, m: str, ring: str, head: str, offset: str) -> str:
    """&ring[(head + offset) % limit] (both below limit)."""
    limit = field(b, m, "limit")
    pos = b.op(f"add i32 {head}, {offset}")
    wrapped = b.op(f"select i1 {b.op(f'icmp uge i32 {pos}, {limit}')}, i32 "
                   f"{b.op(f'sub i32 {pos}, {limit}')}, i32 {pos}")
    return b.op(f"getelementptr i32, ptr {field(b, m, ring, 'ptr')}, i32 {wrapped}")


def _slab(mod: ModuleText) -> None:
    """Value slots: alloc (zeroed), free (to the grace-period ring), sync, carve."""
    b = Builder(mod, "pb_slot_vaddr", "void", [("ptr", "m"), ("i64", "idx")],
                linkage="internal")
    per = field64(b, "%m", "per_window")
    window = b.op(f"udiv i64 %idx, {per}")
    within = b.op(f"urem i64 %idx, {per}")
    base = b.ld("i64", b.op(f"getelementptr i64, ptr {field(b, '%m', 'windows', 'ptr')}, "
                           f"i64 {window}"))
    slot_size = field64(b, "%m", "slot_size")
    vaddr = b.op(f"add i64 {base}, {b.op(f'mul i64 {within}, {slot_size}')}")
    b.st("i64", vaddr, record_ptr(b, "%m", "%idx"), REC_VADDR)
    b.ret()

    b = Builder(mod, "pb_slab_carve", "void", [("ptr", "m"), ("i64", "n")])
    fresh = b.ptr("%m", M["fresh"])
    i = b.var("i64", b.zext(b.ld("i32", fresh)))
    with b.loop() as lp:
        cur = i.get()
        b.break_if(b.op(f"icmp uge i64 {cur}, %n"), lp)
        b.call("void", "pb_slot_vaddr", [("ptr", "%m"), ("i64", cur)])
        i.set(b.op(f"add i64 {cur}, 1"))
    b.st("i32", b.op("trunc i64 %n to i32"), fresh)
    b.ret()

    b = Builder(mod, "pb_slab_alloc", "i64", [("ptr", "m")], linkage="internal")
    idx = b.var("i32")
    free_len = b.ld("i32", "%m", M["free_len"])
    with b.if_else(b.op(f"icmp ne i32 {free_len}, 0")) as (from_free, other):
        with from_free:
            head = b.ld("i32", "%m", M["free_head"])
            idx.set(b.ld("i32", _ring_slot(b, "%m", "free_ring", head, "0")))
            b.st("i32", _next_head(b, "%m", head), "%m", M["free_head"])
            b.st("i32", b.op(f"sub i32 {free_len}, 1"), "%m", M["free_len"])
        with other:
            fresh = b.ld("i32", "%m", M["fresh"])
            with b.if_else(b.op(f"icmp ult i32 {fresh}, {field(b, '%m', 'limit')}")) as (new, old):
                with new:
                    idx.set(fresh)
                    b.call("void", "pb_slot_vaddr", [("ptr", "%m"), ("i64", b.zext(fresh))])
                    b.st("i32", b.op(f"add i32 {fresh}, 1"), "%m", M["fresh"])
                with old:  # the oldest slot waiting for the grace period, reused early
                    head = b.ld("i32", "%m", M["pend_head"])
                    idx.set(b.ld("i32", _ring_slot(b, "%m", "pend_ring", head, "0")))
                    b.st("i32", _next_head(b, "%m", head), "%m", M["pend_head"])
                    b.st("i32", b.op(f"sub i32 {b.ld('i32', '%m', M['pend_len'])}, 1"),
                         "%m", M["pend_len"])
    got = b.zext(idx.get())
    size = field64(b, "%m", "slot_size")
    b.memset0(b.ptr(field(b, "%m", "values_host", "ptr"), b.op(f"mul i64 {got}, {size}")), size)
    b.ret(got)

    b = Builder(mod, "pb_slab_free", "void", [("ptr", "m"), ("i64", "idx")], linkage="internal")
    plen = b.ld("i32", "%m", M["pend_len"])
    slot = _ring_slot(b, "%m", "pend_ring", b.ld("i32", "%m", M["pend_head"]), plen)
    b.st("i32", b.op("trunc i64 %idx to i32"), slot)
    b.st("i32", b.op(f"add i32 {plen}, 1"), "%m", M["pend_len"])
    b.ret()

    b = Builder(mod, "pb_htab_sync", "void", [("ptr", "m")])
    with b.loop() as lp:
        plen = b.ld("i32", "%m", M["pend_len"])
        b.break_if(b.op(f"icmp eq i32 {plen}, 0"), lp)
        head = b.ld("i32", "%m", M["pend_head"])
        idx_ = b.ld("i32", _ring_slot(b, "%m", "pend_ring", head, "0"))
        b.st("i32", _next_head(b, "%m", head), "%m", M["pend_head"])
        b.st("i32", b.op(f"sub i32 {plen}, 1"), "%m", M["pend_len"])
        flen = b.ld("i32", "%m", M["free_len"])
        b.st("i32", idx_, _ring_slot(b, "%m", "free_ring", b.ld("i32", "%m", M["free_head"]), flen))
        b.st("i32", b.op(f"add i32 {flen}, 1"), "%m", M["free_len"])
    b.ret()


def _next_head(b: Builder, m: str, head: str) -> str:
    limit = field(b, m, "limit")
    nxt = b.op(f"add i32 {head}, 1")
    return b.op(f"select i1 {b.op(f'icmp uge i32 {nxt}, {limit}')}, i32 0, i32 {nxt}")


def build() -> ModuleText:
    """The library module with the hash table functions (the others add theirs)."""
    mod = ModuleText("pybpf_maplib")
    _jhash(mod)
    _find(mod)
    _occupancy(mod)
    _link(mod)
    _unlink(mod)
    _iteration(mod)
    _slab(mod)
    return mod
