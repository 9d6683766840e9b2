"""The structures native map code and Python share: the map descriptor and element records.

A map that has native operations owns one :class:`NativeMap` (a ctypes structure, so its
address is stable while the map lives). Its header region's row in the JIT's region table
points at it (:class:`NativeKind.MAP`), which is how compiled code goes from the map pointer
a program holds (``struct bpf_map *``) to the descriptor.

Hash-like maps index their elements with *records*, one per value slot (slot ``i``'s record
is record ``i``)::

    struct record {            // rec_size = 24 + round_up(key_size, 8) bytes
        u32 next;              // record index + 1 of the next element in the bucket, 0: end
        u32 hash;              // htab_map_hash() of the key
        u64 vaddr;             // program address of the value slot (CPU 0's copy)
        u32 linked;            // 1 while the element is in its bucket
        u32 reserved;
        u8  key[];             // key_size bytes
    };

Buckets hold ``record index + 1`` of their head (0: empty), as ``hlist_nulls_head`` does a
pointer; two occupancy bitmaps (one bit per bucket, one bit per 64 buckets) let iteration skip
empty buckets. Value slots live in ``values_host`` (slot ``i`` at ``i * slot_size``), mapped
into program memory as one or more regions (``windows``: the program address of each
window's first slot, ``per_window`` slots each).

The free list and the grace-period list of the value-slot allocator are rings of record
indices (:mod:`pybpf.native.htab_ir`, ``slab_*``).

LRU hash maps add the lists of kernel/bpf/bpf_lru_list.c (:class:`LruNative`, reached from
``NativeMap.lru``; operated on by :mod:`pybpf.native.lru_ir`). Node ``i`` is record ``i``;
each ``struct list_head`` is a pair ``next[x]``/``prev[x]`` of *link indices*: ``0..N-1``
are the nodes, and the sentinel heads follow them — the three lists (active, inactive,
free) of each ``struct bpf_lru_list``, then the free and pending lists of each CPU's
``struct bpf_lru_locallist`` (common LRU only)::

    link index:  0 .. N-1 | N + 3*l + t (list l, type t) | N + 3*nr_lists + 2*c (+1)
                 nodes    | bpf_lru_list heads            | local free (pending) of CPU c

A node's reference bit is ``NativeMap.refs[i]`` (what a lookup sets).
"""

from __future__ import annotations

import ctypes
from enum import IntEnum

__all__ = [
    "ALL_CPUS",
    "CONTEXT_KINDS",
    "CTX_HEADER",
    "CTX_SLOTS",
    "CTX_VALUES",
    "NOT_NATIVE",
    "REC_HASH",
    "REC_HEADER",
    "REC_KEY",
    "REC_LINKED",
    "REC_NEXT",
    "REC_VADDR",
    "SKB_HEADER_UNSET",
    "BatchStatus",
    "CtxNativeHeader",
    "FrameBatch",
    "LruList",
    "LruListNative",
    "LruLocalNative",
    "LruNative",
    "MapKind",
    "NativeKind",
    "NativeMap",
    "RedirectKind",
    "RedirectMapNative",
    "RepeatRun",
    "RingbufNative",
    "SkbNative",
    "XdpMdNative",
    "decode_redirect",
    "encode_redirect",
    "field_offsets",
]

# struct record
REC_NEXT = 0
REC_HASH = 4
REC_VADDR = 8
REC_LINKED = 16
REC_KEY = 24
REC_HEADER = REC_KEY

#: ``cpu`` argument of an update that writes every CPU's value (the syscall path of per-CPU
#: maps: the value buffer holds ``round_up(value_size, 8)`` bytes per CPU).
ALL_CPUS = 0xFFFFFFFFFFFFFFFF
#: Returned by a native map operation the map cannot do natively (Python must do it).
NOT_NATIVE = 0x7FFFFFFFFFFFFFFF
#: ``SkbNative.transport_header`` of an skb whose transport header is not set (the kernel's
#: ``(u16)~0U`` of ``skb_transport_header_was_set()``, widened).
SKB_HEADER_UNSET = 0xFFFFFFFF


class NativeKind(IntEnum):
    """What a region-table row's ``native`` pointer points at."""

    NONE = 0
    MAP = 1  # a NativeMap (the row of a map's header region)
    XDP_MD = 2  # the native half of an XDP context (pybpf.runtime.ctx.xdp)
    RINGBUF = 3  # a RingbufNative (the rows of a ring buffer's header and data regions)
    SKB = 4  # the native half of a socket-buffer context (pybpf.runtime.ctx.skb)
    REDIRECT_MAP = 5  # a RedirectMapNative (the header row of a devmap, cpumap or xskmap)


#: The kinds whose native half starts with a :class:`CtxNativeHeader`.
CONTEXT_KINDS = (NativeKind.XDP_MD, NativeKind.SKB)
#: 4-byte slots of a context a native half can answer (the first 256 bytes).
CTX_SLOTS = 64


class MapKind(IntEnum):
    """``NativeMap.kind``: which native operations apply."""

    NONE = 0
    ARRAY = 1
    PERCPU_ARRAY = 2
    HASH = 3
    PERCPU_HASH = 4
    LRU_HASH = 5
    LRU_PERCPU_HASH = 6
    LPM_TRIE = 7  # lookups only (pybpf.native.lpm_ir); updates and deletes are Python's
    #: Maps of maps, lookups only (programs cannot update them): ``values_host`` holds a u64
    #: inner map address per slot (0: none); an array's slot is its index, a hash's slots
    #: are ``count`` keys sorted bytewise at ``recs`` (``key_size`` bytes each).
    ARRAY_OF_MAPS = 8
    HASH_OF_MAPS = 9


#: An LPM trie's node record (``struct lpm_trie_node``, :mod:`pybpf.native.lpm_ir`): byte
#: offsets of ``child[2]`` (host addresses of the children's records, 0 for none), ``value``
#: (the program address of the node's value slot, 0 for an intermediate node),
#: ``prefixlen``, ``flags`` and the key's ``data`` bytes (``key_size - 4`` of them).
LPM_NODE = {"child": 0, "value": 16, "prefixlen": 24, "flags": 28, "data": 32}
#: ``LPM_TREE_NODE_FLAG_IM``: the node only joins two subtrees (it holds no element).
LPM_NODE_IM = 1


class NativeMap(ctypes.Structure):
    """The descriptor of a map with native operations (see the module docstring)."""

    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("key_size", ctypes.c_uint32),
        ("value_size", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint32),
        ("elem_size", ctypes.c_uint32),  # round_up(value_size, 8)
        ("ncpus", ctypes.c_uint32),
        ("slot_size", ctypes.c_uint32),  # elem_size, times ncpus for per-CPU values
        ("rec_size", ctypes.c_uint32),
        ("values", ctypes.c_uint64),  # arrays: program address of element 0
        ("values_host", ctypes.c_uint64),  # host address of element / slot 0
        ("mask", ctypes.c_uint32),  # n_buckets - 1
        ("count", ctypes.c_uint32),  # linked elements
        ("buckets", ctypes.c_uint64),  # u32[n_buckets]
        ("occupied", ctypes.c_uint64),  # u64[n_buckets / 64]: bucket non-empty
        ("occupied2", ctypes.c_uint64),  # u64[n_buckets / 4096]: occupied word non-zero
        ("recs", ctypes.c_uint64),
        ("refs", ctypes.c_uint64),  # u8[limit]: LRU reference bits
        ("free_ring", ctypes.c_uint64),  # u32[limit]
        ("pend_ring", ctypes.c_uint64),  # u32[limit]
        ("limit", ctypes.c_uint32),  # value slots (and records)
        ("fresh", ctypes.c_uint32),  # slots handed out at least once
        ("free_head", ctypes.c_uint32),
        ("free_len", ctypes.c_uint32),
        ("pend_head", ctypes.c_uint32),
        ("pend_len", ctypes.c_uint32),
        ("windows", ctypes.c_uint64),  # u64[]: program address of each window's slot 0
        ("per_window", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("rcu_owner", ctypes.c_uint64),  # token of the execution state that syncs this map
        ("stride", ctypes.c_uint64),  # arrays: bytes per index (elem_size * copies)
        ("lru", ctypes.c_uint64),  # LRU hash maps: their LruNative, else 0
        ("trie", ctypes.c_uint64),  # LPM tries: host address of the root's record, else 0
    ]


class LruList(IntEnum):
    """``enum bpf_lru_list_type``: the list a node is on (``LruNative.type``)."""

    ACTIVE = 0
    INACTIVE = 1
    FREE = 2
    LOCAL_FREE = 3
    LOCAL_PENDING = 4


class LruListNative(ctypes.Structure):
    """``struct bpf_lru_list``: the active and inactive counts (``counts[type]``, the free
    list is not counted), the inactive-rotation cursor (a link index) and the link index of
    its first head (``lists[ACTIVE]``; ``INACTIVE`` and ``FREE`` follow)."""

    _fields_ = [
        ("counts", ctypes.c_uint32 * 2),
        ("next_inactive_rotation", ctypes.c_uint32),
        ("lists", ctypes.c_uint32),
    ]


class LruLocalNative(ctypes.Structure):
    """``struct bpf_lru_locallist`` of one CPU (common LRU): the link indices of its free
    and pending heads and the CPU it steals from next."""

    _fields_ = [
        ("free", ctypes.c_uint32),
        ("pending", ctypes.c_uint32),
        ("next_steal", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


class LruNative(ctypes.Structure):
    """``struct bpf_lru`` of an LRU hash map (see the module docstring): one
    :class:`LruListNative` (common LRU, with ``ncpus`` :class:`LruLocalNative`) or one per
    CPU (``BPF_F_NO_COMMON_LRU``), and per node its links, list type and CPU."""

    _fields_ = [
        ("percpu", ctypes.c_uint32),  # BPF_F_NO_COMMON_LRU
        ("ncpus", ctypes.c_uint32),
        ("nr_scans", ctypes.c_uint32),
        ("target_free", ctypes.c_uint32),  # common LRU: nodes a local free list takes at once
        ("nr_nodes", ctypes.c_uint32),
        ("nr_lists", ctypes.c_uint32),  # LruListNative entries: 1, or ncpus
        ("next", ctypes.c_uint64),  # u32[nr_links]: list_head.next
        ("prev", ctypes.c_uint64),  # u32[nr_links]: list_head.prev
        ("type", ctypes.c_uint64),  # u8[nr_nodes]: LruList
        ("cpu", ctypes.c_uint64),  # u32[nr_nodes]
        ("lists", ctypes.c_uint64),  # LruListNative[nr_lists]
        ("locals", ctypes.c_uint64),  # LruLocalNative[ncpus] (common LRU)
    ]


class RingbufNative(ctypes.Structure):
    """The producer state of a ``BPF_MAP_TYPE_RINGBUF`` (``struct bpf_ringbuf``'s positions)
    and where its data area lives, shared by :class:`pybpf.runtime.maps.RingBuf` and the
    native reserve/commit of :mod:`pybpf.native.ringbuf_ir`."""

    _fields_ = [
        ("consumer_pos", ctypes.c_uint64),
        ("producer_pos", ctypes.c_uint64),
        ("pending_pos", ctypes.c_uint64),
        ("mask", ctypes.c_uint64),  # data size - 1 (a power of two)
        ("data", ctypes.c_uint64),  # host address of the data area (mapped twice its size)
        ("vaddr", ctypes.c_uint64),  # its program address
    ]


#: The header every context's native half starts with: how native code answers a 4-byte
#: load at a context offset ``4 * i`` without Python (the slow path of
#: :mod:`pybpf.jit.slow_paths`): bit ``i`` of ``answered`` — the u64 ``values[i]``
#: that follows the header (a computed field: a packet pointer, ``len``); bit ``i`` of
#: ``plain`` — the u32 at offset ``4 * i`` of the context's backing buffer (``fields``), for
#: a stored field (no getter or setter), of which only the low 16 bits (bit ``i`` of
#: ``low16``) or 8 bits (``low8``) are read where the kernel's rewritten load is that narrow;
#: ``plain`` fields also take 4-byte stores there.
#: ``redirect`` is where a redirect helper sent the packet (the kernel's per-CPU
#: ``bpf_redirect_info``): :class:`RedirectKind` in the high 32 bits, the index in the low.
CTX_HEADER = [
    ("answered", ctypes.c_uint64),
    ("plain", ctypes.c_uint64),
    ("fields", ctypes.c_uint64),  # host address of the context's backing buffer
    ("low16", ctypes.c_uint64),
    ("low8", ctypes.c_uint64),
    ("redirect", ctypes.c_uint64),
]


class RedirectKind(IntEnum):
    """The kind of a recorded redirect target (``CTX_HEADER.redirect >> 32``); the names
    are those of :attr:`pybpf.runtime.test_run.TestRunResult.redirect`."""

    NONE = 0
    IFINDEX = 1
    INGRESS = 2
    CPU = 3
    XSK = 4
    PEER = 5
    NEIGH = 6
    BROADCAST = 7


def encode_redirect(target: tuple[str, int] | None) -> int:
    """``("ifindex", 3)`` -> the ``redirect`` word; None -> 0."""
    if target is None:
        return 0
    kind, index = target
    return int(RedirectKind[kind.upper()]) << 32 | (int(index) & 0xFFFFFFFF)


def decode_redirect(word: int) -> tuple[str, int] | None:
    """The ``redirect`` word -> ``("ifindex", 3)``, or None."""
    kind = word >> 32
    if kind == RedirectKind.NONE:
        return None
    return (RedirectKind(kind).name.lower(), word & 0xFFFFFFFF)


class CtxNativeHeader(ctypes.Structure):
    """:data:`CTX_HEADER` on its own (its field offsets are every context half's)."""

    _fields_ = CTX_HEADER


#: Byte offset of ``values[0]`` in every context's native half.
CTX_VALUES = ctypes.sizeof(CtxNativeHeader)


class XdpMdNative(ctypes.Structure):
    """The native half of an XDP context: what ``xdp_convert_ctx_access()`` turns loads of
    ``xdp_md->data``, ``data_end`` and ``data_meta`` into (64-bit packet pointers, ``values``
    0-2 of :data:`CTX_HEADER`), kept in sync with the packet's geometry by
    :class:`pybpf.runtime.ctx.xdp.XdpContext`. ``base``/``host`` locate the packet buffer
    (``data_hard_start``), for the native ``bpf_xdp_adjust_head/meta/tail()``
    (:mod:`pybpf.native.xdp_ir`), which move the three pointers here first (the context
    adopts them before Python looks)."""

    _fields_ = [
        *CTX_HEADER,
        ("data", ctypes.c_uint64),
        ("data_end", ctypes.c_uint64),
        ("data_meta", ctypes.c_uint64),
        ("base", ctypes.c_uint64),  # program address of the buffer's first byte
        ("host", ctypes.c_uint64),  # its host address (0: no native geometry changes)
    ]


class SkbNative(ctypes.Structure):
    """The native half of a socket-buffer context (``struct __sk_buff``): the computed fields
    ``bpf_convert_ctx_access()`` reads from the ``sk_buff`` — ``len`` (slot 0), ``data``
    (19), ``data_end`` (20), ``data_meta`` (35) — in ``values`` (see :data:`CTX_HEADER`),
    kept in sync with the packet by :class:`pybpf.runtime.ctx.skb.SkbContext`; where the
    packet buffer (``skb->head``) is (``base``: its program address, ``host``: its host
    address, ``data``/``end``: buffer offsets of ``data`` and the tail, ``size``: the
    buffer's length); and the ``sk_buff`` state helpers read and change — checksum and hash
    state, header offsets, ``mac_len``, ``encapsulation``, the GSO type
    (:class:`pybpf.runtime.helpers.skb_meta.SkbMeta` reads all of it from here) — for the
    native packet helpers of :mod:`pybpf.native.skb_ir` and the native geometry helpers of
    :mod:`pybpf.native.skb_geo_ir`, which move ``data``/``end`` (and ``values``) here
    first: the context adopts the new geometry before Python next looks
    (:meth:`pybpf.runtime.ctx.skb.SkbContext.adopt_native`)."""

    _fields_ = [
        *CTX_HEADER,
        ("values", ctypes.c_uint64 * 48),
        ("base", ctypes.c_uint64),
        ("host", ctypes.c_uint64),
        ("data", ctypes.c_uint64),
        ("end", ctypes.c_uint64),
        ("ip_summed", ctypes.c_uint32),
        ("csum", ctypes.c_uint32),
        ("sw_hash", ctypes.c_uint8),
        ("l4_hash", ctypes.c_uint8),
        ("csum_level", ctypes.c_uint8),
        ("encapsulation", ctypes.c_uint8),
        ("reserved", ctypes.c_uint8 * 4),
        # the header offsets (buffer offsets from skb->head; transport_header
        # SKB_HEADER_UNSET while not set), skb->mac_len, skb_shinfo(skb)->gso_type
        ("mac_header", ctypes.c_uint32),
        ("network_header", ctypes.c_uint32),
        ("transport_header", ctypes.c_uint32),
        ("mac_len", ctypes.c_uint32),
        ("gso_type", ctypes.c_uint32),
        ("reserved2", ctypes.c_uint32),
        ("size", ctypes.c_uint64),  # bytes of the packet buffer (its tailroom ends there)
    ]


class RedirectMapNative(ctypes.Structure):
    """What ``bpf_redirect_map()`` reads of a redirect map, kept by the map: the kind of
    target an entry names (``RedirectKind.IFINDEX``: the value's ifindex; ``CPU``/``XSK``:
    the key) and the entries. An indexed map (devmap, cpumap, xskmap:
    :class:`pybpf.runtime.maps.redirect.DevMap`...) has a slot per index: whether it holds
    an entry and its 8-byte value (a devmap's ``ifindex`` first). A hash devmap
    (:class:`~pybpf.runtime.maps.redirect.DevMapHash`, ``hashed``) has ``count`` slots, in
    the ascending order of their keys (``keys``), each holding an entry."""

    _fields_ = [
        ("target", ctypes.c_uint32),  # RedirectKind
        ("max_entries", ctypes.c_uint32),
        ("flag_mask", ctypes.c_uint64),  # the flags besides the action the map takes
        ("present", ctypes.c_uint64),  # host: u8[max_entries]
        ("vals", ctypes.c_uint64),  # host: u64[max_entries]
        ("hashed", ctypes.c_uint32),  # 1: slots by key (keys[0..count-1], ascending)
        ("count", ctypes.c_uint32),
        ("keys", ctypes.c_uint64),  # host: u32[max_entries]
    ]


class FrameBatch(ctypes.Structure):
    """What the native batch loops (:mod:`pybpf.native.batch_ir`: ``pb_xdp_batch``,
    ``pb_skb_batch``) work through: frames in, one program run each on a reused context,
    verdicts and output frames out. Filled by :mod:`pybpf.jit.batch`; ``next`` is the index
    of the next frame, in and out."""

    _fields_ = [
        ("entry", ctypes.c_uint64),  # u64 F(env, r1..r5, depth): the program
        ("env", ctypes.c_uint64),
        ("ctx", ctypes.c_uint64),  # program address of the context (r1)
        ("count", ctypes.c_uint64),
        ("next", ctypes.c_uint64),
        ("frames", ctypes.c_uint64),  # host: all frames back to back
        ("offsets", ctypes.c_uint64),  # u64[count]: where frame i starts in ``frames``
        ("lengths", ctypes.c_uint64),  # u32[count]
        ("out", ctypes.c_uint64),  # host: output frames at the same offsets
        ("r0", ctypes.c_uint64),  # u64[count]: the program's return values
        ("insns", ctypes.c_uint64),  # u64[count]: instructions run
        ("packet", ctypes.c_uint64),  # host address of the packet buffer's data start
        ("packet_vaddr", ctypes.c_uint64),  # its program address
        ("packet_row", ctypes.c_uint64),  # host address of its region-table row
        ("native", ctypes.c_uint64),  # the context's native half (XdpMdNative, SkbNative)
        ("max_len", ctypes.c_uint64),  # longest frame the loop takes
        ("budget", ctypes.c_uint64),  # instruction budget per run
        ("rcu", ctypes.c_uint64),  # NativeMap *[nrcu]: maps to sync after each run
        ("nrcu", ctypes.c_uint64),
        # the bytes of the frame before ``data`` (skb contexts: the MAC header of a socket
        # filter's packet, in the headroom), and the context buffer with what each run
        # starts from (``template``, ``ctx_size`` bytes)
        ("mac_len", ctypes.c_uint64),
        ("ctx_fields", ctypes.c_uint64),
        ("template", ctypes.c_uint64),
        ("ctx_size", ctypes.c_uint64),
        # u64[count]: each run's recorded redirect (CTX_HEADER.redirect, 0: none), and how
        # many runs recorded one
        ("redirects", ctypes.c_uint64),
        ("nredirects", ctypes.c_uint64),
    ]


class RepeatRun(ctypes.Structure):
    """What the native repeat loop works through: ``count`` runs of the program on one
    context (``BPF_PROG_TEST_RUN`` with ``repeat``); ``next`` is the next run, in and out."""

    _fields_ = [
        ("entry", ctypes.c_uint64),
        ("env", ctypes.c_uint64),
        ("ctx", ctypes.c_uint64),
        ("count", ctypes.c_uint64),
        ("next", ctypes.c_uint64),
        ("r0", ctypes.c_uint64),  # of the last run
        ("insns", ctypes.c_uint64),  # total over the runs
        ("budget", ctypes.c_uint64),
        ("rcu", ctypes.c_uint64),
        ("nrcu", ctypes.c_uint64),
    ]


class BatchStatus(IntEnum):
    """Why a native loop returned."""

    DONE = 0  # every frame (run) is done
    PYTHON = 1  # frame ``next`` did not run: Python must run it (e.g. a frame size test_run
    # handles differently)
    RAISED = 2  # run ``next`` raised (env->status is set)
    FINALIZE = 3  # run ``next`` called into Python: Python finishes it (outputs, grace period)


def field_offsets(struct: type[ctypes.Structure]) -> dict[str, int]:
    """Byte offset of every field of ``struct``."""
    return {name: getattr(struct, name).offset for name, *_ in struct._fields_}
