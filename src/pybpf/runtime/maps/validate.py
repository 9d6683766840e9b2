"""Map creation checks, as ``BPF_MAP_CREATE`` makes them.

Mirrors map_create() in kernel/bpf/syscall.c (``map_extra``, ``BPF_F_RDONLY``/``WRONLY``, NUMA
node) and the ``map_alloc_check``/``map_alloc`` checks of each type: array_map_alloc_check() and
fd_array_map_alloc_check() (kernel/bpf/arraymap.c), htab_map_alloc_check()/htab_map_alloc() and
fd_htab_map_alloc_check() (hashtab.c), trie_alloc() (lpm_trie.c),
queue_stack_map_alloc_check() (queue_stack_maps.c), ringbuf_map_alloc() (ringbuf.c),
dev_map_alloc() (devmap.c), cpu_map_alloc() (cpumap.c), xsk_map_alloc() (xskmap.c) and
bpf_map_meta_alloc() (map_in_map.c). Each failure is a :class:`~pybpf.errors.KernelError`
stating the rule and the kernel's errno, e.g. ``map 'x': lpm_trie requires BPF_F_NO_PREALLOC
(EINVAL)``. Every rule here was checked against Linux 6.18.

Machine facts of the reference kernel: one NUMA node (0), ``KMALLOC_MAX_SIZE`` 4 MiB,
``NR_CPUS`` 256, 4 KiB pages. Not modelled: privilege checks (pybpf runs as if CAP_BPF,
CAP_NET_ADMIN and CAP_SYS_ADMIN were held), map names (not restricted), allocation failures
(ENOMEM) beyond the 4 GiB limit of a memory region.
"""

from __future__ import annotations

import errno

from pybpf.errors import NotSupportedError
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.codec import round_up
from pybpf.runtime.maps.flags import BPF_F_ACCESS_MASK, MapFlag
from pybpf.runtime.maps.status import ENOTSUPP, map_error

__all__ = ["KMALLOC_MAX_SIZE", "NR_CPUS", "PAGE_SIZE", "SUPPORTED", "check_spec",
           "lru_max_entries"]

PAGE_SIZE = 4096
KMALLOC_MAX_SIZE = 1 << 22
PCPU_MIN_UNIT_SIZE = 32 << 10
NR_CPUS = 256
_HTAB_ELEM_SIZE = 48  # sizeof(struct htab_elem)
_LPM_NODE_SIZE = 24  # sizeof(struct lpm_trie_node)
_BUCKET_SIZE = 16  # sizeof(struct bucket)

_ARRAY_MASK = (MapFlag.NUMA_NODE | MapFlag.MMAPABLE | BPF_F_ACCESS_MASK
               | MapFlag.PRESERVE_ELEMS | MapFlag.INNER_MAP)
_HTAB_MASK = (MapFlag.NO_PREALLOC | MapFlag.NO_COMMON_LRU | MapFlag.NUMA_NODE
              | BPF_F_ACCESS_MASK | MapFlag.ZERO_SEED)
_LPM_MASK = MapFlag.NO_PREALLOC | MapFlag.NUMA_NODE | BPF_F_ACCESS_MASK
_QUEUE_MASK = MapFlag.NUMA_NODE | BPF_F_ACCESS_MASK
_DEV_MASK = MapFlag.NUMA_NODE | MapFlag.RDONLY | MapFlag.WRONLY

_ARRAYS = {MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
           MapType.ARRAY_OF_MAPS}
_FD_ARRAYS = {MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY, MapType.ARRAY_OF_MAPS}
_HASHES = {MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH,
           MapType.HASH_OF_MAPS}
_PERCPU = {MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH}
_LRU = {MapType.LRU_HASH, MapType.LRU_PERCPU_HASH}
_OF_MAPS = {MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS}

#: The map types the pybpf runtime implements.
SUPPORTED = frozenset(_ARRAYS | _HASHES | {
    MapType.LPM_TRIE, MapType.QUEUE, MapType.STACK, MapType.RINGBUF, MapType.DEVMAP,
    MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP})


def _roundup_pow_of_two(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def lru_max_entries(max_entries: int, flags: int, ncpus: int) -> int:
    """``max_entries`` as htab_map_alloc() adjusts it for ``BPF_F_NO_COMMON_LRU``.

    Each CPU's LRU list gets the same number of elements: round up to a multiple of the
    number of possible CPUs (down if that overflows u32).
    """
    if not flags & MapFlag.NO_COMMON_LRU:
        return max_entries
    up = -(-max_entries // ncpus) * ncpus
    return up if up <= 0xFFFFFFFF else max_entries // ncpus * ncpus


class _Checker:
    """The checks for one spec; :meth:`fail` raises the error naming the map."""

    def __init__(self, spec: MapSpec, ncpus: int) -> None:
        self.spec = spec
        self.ncpus = ncpus
        self.flags = MapFlag(spec.flags & 0xFFFFFFFF)
        self.type = MapType(spec.map_type)
        self.tname = self.type.name.lower()

    def fail(self, rule: str, err: int = errno.EINVAL) -> None:
        raise map_error(self.spec.name, rule, err)

    def mask(self, allowed: int) -> None:
        bad = self.spec.flags & ~int(allowed)
        if bad:
            names = "|".join(f"BPF_F_{f.name}" for f in MapFlag if f & bad) or hex(bad)
            self.fail(f"{self.tname} does not accept map flags {names}")

    def access_ok(self) -> None:
        """bpf_map_flags_access_ok(): not both BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG."""
        both = MapFlag.RDONLY_PROG | MapFlag.WRONLY_PROG
        if self.flags & both == both:
            self.fail("BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG are exclusive")

    def sizes(self, key: int | None, value: int | None) -> None:
        s = self.spec
        if s.max_entries == 0:
            self.fail(f"{self.tname} needs max_entries > 0")
        if key is not None and s.key_size != key:
            self.fail(f"{self.tname} needs key_size {key}, not {s.key_size}")
        if value is not None and s.value_size != value:
            self.fail(f"{self.tname} needs value_size {value}, not {s.value_size}")

    def numa_node(self) -> int:
        """bpf_map_attr_numa_node(): the node, or -1 (NUMA_NO_NODE)."""
        return self.spec.numa_node if self.flags & MapFlag.NUMA_NODE else -1

    # -- per type -----------------------------------------------------------------------------
    def array(self) -> None:
        s, t = self.spec, self.type
        if t in _FD_ARRAYS:
            if s.value_size != 4:
                self.fail(f"{self.tname} needs value_size 4 (a file descriptor), not {s.value_size}")
            if self.flags & (MapFlag.RDONLY_PROG | MapFlag.WRONLY_PROG):
                self.fail(f"{self.tname} does not accept BPF_F_RDONLY_PROG/BPF_F_WRONLY_PROG")
        self.sizes(4, None)
        if s.value_size == 0:
            self.fail(f"{self.tname} needs value_size > 0")
        self.mask(_ARRAY_MASK)
        self.access_ok()
        if t == MapType.PERCPU_ARRAY and self.numa_node() != -1:
            self.fail("percpu_array does not accept a NUMA node")
        if t != MapType.ARRAY and self.flags & (MapFlag.MMAPABLE | MapFlag.INNER_MAP):
            self.fail("only array maps accept BPF_F_MMAPABLE and BPF_F_INNER_MAP")
        if t != MapType.PERF_EVENT_ARRAY and self.flags & MapFlag.PRESERVE_ELEMS:
            self.fail("only perf_event_array maps accept BPF_F_PRESERVE_ELEMS")
        if s.value_size > 0x7FFFFFFF:
            self.fail("value_size larger than INT_MAX", errno.E2BIG)
        if t == MapType.PERCPU_ARRAY and round_up(s.value_size, 8) > PCPU_MIN_UNIT_SIZE:
            self.fail(f"per-CPU value_size above {PCPU_MIN_UNIT_SIZE}", errno.E2BIG)

    def hash(self) -> None:
        s, t = self.spec, self.type
        lru = t in _LRU
        percpu = t in _PERCPU
        if t == MapType.HASH_OF_MAPS and s.value_size != 4:
            self.fail(f"hash_of_maps needs value_size 4 (a file descriptor), not {s.value_size}")
        self.mask(_HTAB_MASK)
        self.access_ok()
        if not lru and self.flags & MapFlag.NO_COMMON_LRU:
            self.fail(f"BPF_F_NO_COMMON_LRU is only for LRU maps, not {self.tname}")
        if lru and self.flags & MapFlag.NO_PREALLOC:
            self.fail(f"{self.tname} cannot be BPF_F_NO_PREALLOC", ENOTSUPP)
        if self.numa_node() != -1 and (percpu or self.flags & MapFlag.NO_COMMON_LRU):
            self.fail(f"{self.tname} does not accept a NUMA node with per-CPU values or lists")
        if s.max_entries == 0 or s.key_size == 0 or s.value_size == 0:
            self.fail(f"{self.tname} needs max_entries, key_size and value_size > 0")
        if s.key_size + s.value_size >= KMALLOC_MAX_SIZE - _HTAB_ELEM_SIZE:
            self.fail("key_size + value_size too large for an element", errno.E2BIG)
        if percpu and round_up(s.value_size, 8) > PCPU_MIN_UNIT_SIZE:
            self.fail(f"per-CPU value_size above {PCPU_MIN_UNIT_SIZE}", errno.E2BIG)
        entries = lru_max_entries(s.max_entries, s.flags, self.ncpus) if lru else s.max_entries
        if entries > 1 << 31 or _roundup_pow_of_two(entries) > 0xFFFFFFFF // _BUCKET_SIZE:
            self.fail("max_entries too large for the bucket array", errno.E2BIG)

    def lpm(self) -> None:
        s = self.spec
        if s.max_entries == 0:
            self.fail("lpm_trie needs max_entries > 0")
        if not self.flags & MapFlag.NO_PREALLOC:
            self.fail("lpm_trie requires BPF_F_NO_PREALLOC")
        self.mask(_LPM_MASK)
        self.access_ok()
        if not 5 <= s.key_size <= 260:
            self.fail(f"lpm_trie needs key_size 5..260 (u32 prefixlen + 1..256 data bytes), "
                      f"not {s.key_size}")
        if not 1 <= s.value_size <= KMALLOC_MAX_SIZE - 256 - _LPM_NODE_SIZE:
            self.fail(f"lpm_trie value_size {s.value_size} out of range")

    def queue(self) -> None:
        s = self.spec
        if s.max_entries == 0 or s.key_size != 0 or s.value_size == 0:
            self.fail(f"{self.tname} needs key_size 0 and max_entries, value_size > 0")
        self.mask(_QUEUE_MASK)
        self.access_ok()
        if s.value_size > KMALLOC_MAX_SIZE:
            self.fail("value_size above KMALLOC_MAX_SIZE", errno.E2BIG)

    def ringbuf(self) -> None:
        s = self.spec
        self.mask(MapFlag.NUMA_NODE)
        if s.key_size or s.value_size:
            self.fail("ringbuf needs key_size 0 and value_size 0")
        n = s.max_entries
        if n == 0 or n & (n - 1) or n % PAGE_SIZE:
            self.fail(f"ringbuf max_entries (data size) must be a power of 2 and a multiple of "
                      f"the page size {PAGE_SIZE}, not {n}")

    def devmap(self) -> None:
        s = self.spec
        if s.max_entries == 0 or s.key_size != 4 or s.value_size not in (4, 8):
            self.fail(f"{self.tname} needs key_size 4, value_size 4 (ifindex) or 8 (ifindex, "
                      "prog fd) and max_entries > 0")
        self.mask(_DEV_MASK)

    def cpumap(self) -> None:
        s = self.spec
        if s.max_entries == 0 or s.key_size != 4 or s.value_size not in (4, 8):
            self.fail("cpumap needs key_size 4, value_size 4 (qsize) or 8 (qsize, prog fd) "
                      "and max_entries > 0")
        self.mask(MapFlag.NUMA_NODE)
        if s.max_entries > NR_CPUS:
            self.fail(f"cpumap max_entries above NR_CPUS ({NR_CPUS})", errno.E2BIG)

    def xskmap(self) -> None:
        s = self.spec
        if s.max_entries == 0 or s.key_size != 4 or s.value_size != 4:
            self.fail("xskmap needs key_size 4, value_size 4 (socket fd) and max_entries > 0")
        self.mask(MapFlag.NUMA_NODE | MapFlag.RDONLY | MapFlag.WRONLY)

    def inner(self) -> None:
        inner = self.spec.inner_map
        if inner is None:
            self.fail(f"{self.tname} needs an inner map (inner_map_fd)")
            return
        check_spec(inner, ncpus=self.ncpus)
        itype = MapType(inner.map_type)
        if itype in _OF_MAPS:
            self.fail("maps of maps cannot nest (inner map is itself a map of maps)")
        if itype == MapType.PROG_ARRAY:
            self.fail("prog_array cannot be an inner map", ENOTSUPP)


def check_spec(spec: MapSpec, *, ncpus: int) -> None:
    """Refuse ``spec`` as ``BPF_MAP_CREATE`` would; raise NotSupportedError for types pybpf lacks."""
    try:
        mtype = MapType(spec.map_type)
    except ValueError:
        raise map_error(spec.name, f"unknown map type {spec.map_type}", errno.EINVAL) from None
    if mtype == MapType.UNSPEC:
        raise map_error(spec.name, "map type 0 (BPF_MAP_TYPE_UNSPEC)", errno.EINVAL)
    if mtype not in SUPPORTED:
        raise NotSupportedError(f"map '{spec.name}': {mtype.name.lower()} maps "
                                f"(BPF_MAP_TYPE_{mtype.name}) are not supported by the runtime")
    c = _Checker(spec, ncpus)
    if spec.map_extra and mtype not in (MapType.BLOOM_FILTER, MapType.ARENA):
        c.fail("map_extra is only for bloom_filter and arena maps")
    if c.flags & MapFlag.RDONLY and c.flags & MapFlag.WRONLY:
        c.fail("BPF_F_RDONLY and BPF_F_WRONLY are exclusive")
    if c.flags & MapFlag.NUMA_NODE and spec.numa_node != 0:
        c.fail(f"NUMA node {spec.numa_node} is not online (only node 0 is)")
    if mtype in _ARRAYS:
        c.array()
    elif mtype in _HASHES:
        c.hash()
    elif mtype == MapType.LPM_TRIE:
        c.lpm()
    elif mtype in (MapType.QUEUE, MapType.STACK):
        c.queue()
    elif mtype == MapType.RINGBUF:
        c.ringbuf()
    elif mtype in (MapType.DEVMAP, MapType.DEVMAP_HASH):
        c.devmap()
    elif mtype == MapType.CPUMAP:
        c.cpumap()
    elif mtype == MapType.XSKMAP:
        c.xskmap()
    if mtype in _OF_MAPS:
        c.inner()
