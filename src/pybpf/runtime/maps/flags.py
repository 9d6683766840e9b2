"""Flag constants of the map UAPI (include/uapi/linux/bpf.h), as IntFlag/IntEnum.

``MapFlag`` is ``map_flags`` of ``BPF_MAP_CREATE`` (``BPF_F_NO_PREALLOC`` → ``MapFlag.NO_PREALLOC``);
``UpdateFlag`` is the ``flags`` argument of ``bpf_map_update_elem()``; the ring buffer and perf
event constants are those of ``bpf_ringbuf_*()`` and ``bpf_perf_event_output()``. Values checked
against the BTF of Linux 6.18. The ``BPF_*`` module constants are the same values under their
UAPI names, for code that reads like C.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_ACCESS_MASK",
    "BPF_F_CTXLEN_MASK",
    "BPF_F_CURRENT_CPU",
    "BPF_F_INDEX_MASK",
    "BPF_F_INNER_MAP",
    "BPF_F_LOCK",
    "BPF_F_MMAPABLE",
    "BPF_F_NO_COMMON_LRU",
    "BPF_F_NO_PREALLOC",
    "BPF_F_NUMA_NODE",
    "BPF_F_PRESERVE_ELEMS",
    "BPF_F_RDONLY",
    "BPF_F_RDONLY_PROG",
    "BPF_F_WRONLY",
    "BPF_F_WRONLY_PROG",
    "BPF_F_ZERO_SEED",
    "BPF_NOEXIST",
    "BPF_RB_FORCE_WAKEUP",
    "BPF_RB_NO_WAKEUP",
    "BPF_RINGBUF_BUSY_BIT",
    "BPF_RINGBUF_DISCARD_BIT",
    "BPF_RINGBUF_HDR_SZ",
    "MapFlag",
    "RingbufFlag",
    "RingbufQuery",
    "UpdateFlag",
]


class MapFlag(IntFlag):
    """``map_flags`` of ``BPF_MAP_CREATE`` (the ``BPF_F_*`` creation flags)."""

    NO_PREALLOC = 1 << 0
    NO_COMMON_LRU = 1 << 1
    NUMA_NODE = 1 << 2
    RDONLY = 1 << 3
    WRONLY = 1 << 4
    STACK_BUILD_ID = 1 << 5
    ZERO_SEED = 1 << 6
    RDONLY_PROG = 1 << 7
    WRONLY_PROG = 1 << 8
    CLONE = 1 << 9
    MMAPABLE = 1 << 10
    PRESERVE_ELEMS = 1 << 11
    INNER_MAP = 1 << 12
    LINK = 1 << 13
    PATH_FD = 1 << 14
    VTYPE_BTF_OBJ_FD = 1 << 15
    TOKEN_FD = 1 << 16
    SEGV_ON_FAULT = 1 << 17
    NO_USER_CONV = 1 << 18


class UpdateFlag(IntFlag):
    """``flags`` of ``bpf_map_update_elem()`` / ``BPF_MAP_UPDATE_ELEM``."""

    ANY = 0
    NOEXIST = 1
    EXIST = 2
    F_LOCK = 4


class RingbufFlag(IntFlag):
    """Wake-up flags of ``bpf_ringbuf_submit()``/``discard()``/``output()``."""

    NO_WAKEUP = 1 << 0
    FORCE_WAKEUP = 1 << 1


class RingbufQuery(IntEnum):
    """What ``bpf_ringbuf_query()`` reports (``BPF_RB_AVAIL_DATA`` ...)."""

    AVAIL_DATA = 0
    RING_SIZE = 1
    CONS_POS = 2
    PROD_POS = 3


BPF_ANY = UpdateFlag.ANY
BPF_NOEXIST = UpdateFlag.NOEXIST
BPF_EXIST = UpdateFlag.EXIST
BPF_F_LOCK = UpdateFlag.F_LOCK

BPF_F_NO_PREALLOC = MapFlag.NO_PREALLOC
BPF_F_NO_COMMON_LRU = MapFlag.NO_COMMON_LRU
BPF_F_NUMA_NODE = MapFlag.NUMA_NODE
BPF_F_RDONLY = MapFlag.RDONLY
BPF_F_WRONLY = MapFlag.WRONLY
BPF_F_ZERO_SEED = MapFlag.ZERO_SEED
BPF_F_RDONLY_PROG = MapFlag.RDONLY_PROG
BPF_F_WRONLY_PROG = MapFlag.WRONLY_PROG
BPF_F_MMAPABLE = MapFlag.MMAPABLE
BPF_F_PRESERVE_ELEMS = MapFlag.PRESERVE_ELEMS
BPF_F_INNER_MAP = MapFlag.INNER_MAP

#: ``BPF_F_ACCESS_MASK`` of include/linux/bpf.h.
BPF_F_ACCESS_MASK = MapFlag.RDONLY | MapFlag.RDONLY_PROG | MapFlag.WRONLY | MapFlag.WRONLY_PROG

BPF_RB_NO_WAKEUP = RingbufFlag.NO_WAKEUP
BPF_RB_FORCE_WAKEUP = RingbufFlag.FORCE_WAKEUP
#: ``struct bpf_ringbuf_hdr``: ``u32 len`` (with the two bits below) then ``u32 pg_off``.
BPF_RINGBUF_HDR_SZ = 8
BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30

#: ``bpf_perf_event_output()`` flags: the low 32 bits pick the array index ...
BPF_F_INDEX_MASK = 0xFFFFFFFF
#: ... and this index means "the current CPU".
BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK
#: Bits 32..51: how many bytes of the skb/xdp context to append (skb/xdp outputs only).
BPF_F_CTXLEN_MASK = 0xFFFFF << 32
