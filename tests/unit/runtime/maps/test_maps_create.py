"""create_map() validation: every rule with the kernel's errno, checked against Linux 6.18.

Each case states the errno BPF_MAP_CREATE answered on the reference kernel (0: created). The
differential test creates the same spec in the live kernel and compares.
"""

from __future__ import annotations

import errno

import pytest
from maps_kernel_support import NCPUS, kernel_create, needs_kernel, ours_create

from pybpf.errors import KernelError, NotSupportedError
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import create_map
from pybpf.runtime.maps.flags import MapFlag as F
from pybpf.runtime.maps.status import ENOTSUPP
from pybpf.runtime.memory import Memory

EINVAL, E2BIG = errno.EINVAL, errno.E2BIG
ARRAY4 = MapSpec("inner", T.ARRAY, 4, 4, 4)


def S(t: int, k: int, v: int, n: int, flags: int = 0, **kw: object) -> MapSpec:
    return MapSpec("m", t, k, v, n, flags, **kw)  # type: ignore[arg-type]


CASES: list[tuple[str, MapSpec, int]] = [
    # arrays
    ("array ok", S(T.ARRAY, 4, 8, 4), 0),
    ("array key 8", S(T.ARRAY, 8, 8, 4), EINVAL),
    ("array key 0", S(T.ARRAY, 0, 8, 4), EINVAL),
    ("array value 0", S(T.ARRAY, 4, 0, 4), EINVAL),
    ("array max 0", S(T.ARRAY, 4, 8, 0), EINVAL),
    ("array value 2**31", S(T.ARRAY, 4, 1 << 31, 1), E2BIG),
    ("array no_prealloc", S(T.ARRAY, 4, 8, 4, F.NO_PREALLOC), EINVAL),
    ("array zero_seed", S(T.ARRAY, 4, 8, 4, F.ZERO_SEED), EINVAL),
    ("array mmapable", S(T.ARRAY, 4, 8, 4, F.MMAPABLE), 0),
    ("array inner_map", S(T.ARRAY, 4, 8, 4, F.INNER_MAP), 0),
    ("array preserve_elems", S(T.ARRAY, 4, 8, 4, F.PRESERVE_ELEMS), EINVAL),
    ("array rdonly_prog", S(T.ARRAY, 4, 8, 4, F.RDONLY_PROG), 0),
    ("array rdonly_prog|wronly_prog", S(T.ARRAY, 4, 8, 4, F.RDONLY_PROG | F.WRONLY_PROG), EINVAL),
    ("array rdonly|wronly", S(T.ARRAY, 4, 8, 4, F.RDONLY | F.WRONLY), EINVAL),
    ("array numa node 0", S(T.ARRAY, 4, 8, 4, F.NUMA_NODE, numa_node=0), 0),
    ("array numa node 1", S(T.ARRAY, 4, 8, 4, F.NUMA_NODE, numa_node=1), EINVAL),
    ("array numa_node without flag", S(T.ARRAY, 4, 8, 4, numa_node=5), 0),
    ("array map_extra", S(T.ARRAY, 4, 8, 4, map_extra=1), EINVAL),
    ("array unknown flag bit 20", S(T.ARRAY, 4, 8, 4, 1 << 20), EINVAL),
    ("percpu_array ok", S(T.PERCPU_ARRAY, 4, 8, 4), 0),
    ("percpu_array numa", S(T.PERCPU_ARRAY, 4, 8, 4, F.NUMA_NODE, numa_node=0), EINVAL),
    ("percpu_array mmapable", S(T.PERCPU_ARRAY, 4, 8, 4, F.MMAPABLE), EINVAL),
    ("percpu_array value 32768", S(T.PERCPU_ARRAY, 4, 32768, 1), 0),
    ("percpu_array value 32769", S(T.PERCPU_ARRAY, 4, 32769, 1), E2BIG),
    ("prog_array value 8", S(T.PROG_ARRAY, 4, 8, 4), EINVAL),
    ("prog_array rdonly_prog", S(T.PROG_ARRAY, 4, 4, 4, F.RDONLY_PROG), EINVAL),
    ("prog_array rdonly", S(T.PROG_ARRAY, 4, 4, 4, F.RDONLY), 0),
    ("perf value 8", S(T.PERF_EVENT_ARRAY, 4, 8, 4), EINVAL),
    ("perf preserve_elems", S(T.PERF_EVENT_ARRAY, 4, 4, 4, F.PRESERVE_ELEMS), 0),
    # hashes
    ("hash ok", S(T.HASH, 4, 8, 4), 0),
    ("hash key 0", S(T.HASH, 0, 8, 4), EINVAL),
    ("hash value 0", S(T.HASH, 4, 0, 4), EINVAL),
    ("hash no_prealloc|zero_seed", S(T.HASH, 4, 8, 4, F.NO_PREALLOC | F.ZERO_SEED), 0),
    ("hash no_common_lru", S(T.HASH, 4, 8, 4, F.NO_COMMON_LRU), EINVAL),
    ("hash mmapable", S(T.HASH, 4, 8, 4, F.MMAPABLE), EINVAL),
    ("hash key+value at limit", S(T.HASH, (1 << 22) - 49 - 8, 8, 1), 0),
    ("hash key+value over limit", S(T.HASH, (1 << 22) - 48 - 8, 8, 1), E2BIG),
    ("hash max_entries 2**31+1", S(T.HASH, 4, 8, (1 << 31) + 1), E2BIG),
    ("hash max_entries 2**31 no_prealloc", S(T.HASH, 4, 8, 1 << 31, F.NO_PREALLOC), E2BIG),
    ("percpu_hash numa", S(T.PERCPU_HASH, 4, 8, 4, F.NUMA_NODE, numa_node=0), EINVAL),
    ("percpu_hash value 32769", S(T.PERCPU_HASH, 4, 32769, 1), E2BIG),
    ("lru no_prealloc", S(T.LRU_HASH, 4, 8, 4, F.NO_PREALLOC), ENOTSUPP),
    ("lru no_common_lru", S(T.LRU_HASH, 4, 8, 4, F.NO_COMMON_LRU), 0),
    ("lru no_common_lru numa", S(T.LRU_HASH, 4, 8, 4, F.NO_COMMON_LRU | F.NUMA_NODE), EINVAL),
    ("lru numa", S(T.LRU_HASH, 4, 8, 4, F.NUMA_NODE), 0),
    ("lru_percpu numa", S(T.LRU_PERCPU_HASH, 4, 8, 4, F.NUMA_NODE), EINVAL),
    ("lru key 0", S(T.LRU_HASH, 0, 8, 4), EINVAL),
    # lpm
    ("lpm ok", S(T.LPM_TRIE, 8, 8, 4, F.NO_PREALLOC), 0),
    ("lpm without no_prealloc", S(T.LPM_TRIE, 8, 8, 4), EINVAL),
    ("lpm key 4", S(T.LPM_TRIE, 4, 8, 4, F.NO_PREALLOC), EINVAL),
    ("lpm key 5", S(T.LPM_TRIE, 5, 8, 4, F.NO_PREALLOC), 0),
    ("lpm key 260", S(T.LPM_TRIE, 260, 8, 4, F.NO_PREALLOC), 0),
    ("lpm key 261", S(T.LPM_TRIE, 261, 8, 4, F.NO_PREALLOC), EINVAL),
    ("lpm value 0", S(T.LPM_TRIE, 8, 0, 4, F.NO_PREALLOC), EINVAL),
    ("lpm value max", S(T.LPM_TRIE, 8, (1 << 22) - 280, 1, F.NO_PREALLOC), 0),
    ("lpm value max+1", S(T.LPM_TRIE, 8, (1 << 22) - 279, 1, F.NO_PREALLOC), EINVAL),
    ("lpm zero_seed", S(T.LPM_TRIE, 8, 8, 4, F.NO_PREALLOC | F.ZERO_SEED), EINVAL),
    ("lpm max 0", S(T.LPM_TRIE, 8, 8, 0, F.NO_PREALLOC), EINVAL),
    # queue, stack
    ("queue ok", S(T.QUEUE, 0, 8, 4), 0),
    ("queue key 4", S(T.QUEUE, 4, 8, 4), EINVAL),
    ("queue value 0", S(T.QUEUE, 0, 0, 4), EINVAL),
    ("queue value 4M", S(T.QUEUE, 0, 1 << 22, 1), 0),
    ("queue value 4M+1", S(T.QUEUE, 0, (1 << 22) + 1, 1), E2BIG),
    ("stack no_prealloc", S(T.STACK, 0, 8, 4, F.NO_PREALLOC), EINVAL),
    ("stack rdonly_prog", S(T.STACK, 0, 8, 4, F.RDONLY_PROG), 0),
    # ringbuf
    ("ringbuf 4096", S(T.RINGBUF, 0, 0, 4096), 0),
    ("ringbuf 8192", S(T.RINGBUF, 0, 0, 8192), 0),
    ("ringbuf 2048", S(T.RINGBUF, 0, 0, 2048), EINVAL),
    ("ringbuf 12288", S(T.RINGBUF, 0, 0, 12288), EINVAL),
    ("ringbuf 0", S(T.RINGBUF, 0, 0, 0), EINVAL),
    ("ringbuf key 4", S(T.RINGBUF, 4, 0, 4096), EINVAL),
    ("ringbuf value 4", S(T.RINGBUF, 0, 4, 4096), EINVAL),
    ("ringbuf rdonly", S(T.RINGBUF, 0, 0, 4096, F.RDONLY), EINVAL),
    ("ringbuf numa", S(T.RINGBUF, 0, 0, 4096, F.NUMA_NODE), 0),
    # redirect maps
    ("devmap v4", S(T.DEVMAP, 4, 4, 4), 0),
    ("devmap v8", S(T.DEVMAP, 4, 8, 4), 0),
    ("devmap v6", S(T.DEVMAP, 4, 6, 4), EINVAL),
    ("devmap k8", S(T.DEVMAP, 8, 4, 4), EINVAL),
    ("devmap rdonly_prog", S(T.DEVMAP, 4, 4, 4, F.RDONLY_PROG), EINVAL),
    ("devmap_hash v8", S(T.DEVMAP_HASH, 4, 8, 4), 0),
    ("devmap_hash k8", S(T.DEVMAP_HASH, 8, 4, 4), EINVAL),
    ("cpumap v8", S(T.CPUMAP, 4, 8, 2), 0),
    ("cpumap v12", S(T.CPUMAP, 4, 12, 2), EINVAL),
    ("cpumap max 256", S(T.CPUMAP, 4, 4, 256), 0),
    ("cpumap max 257", S(T.CPUMAP, 4, 4, 257), E2BIG),
    ("cpumap rdonly", S(T.CPUMAP, 4, 4, 2, F.RDONLY), EINVAL),
    ("xskmap ok", S(T.XSKMAP, 4, 4, 4), 0),
    ("xskmap v8", S(T.XSKMAP, 4, 8, 4), EINVAL),
    ("xskmap rdonly", S(T.XSKMAP, 4, 4, 4, F.RDONLY), 0),
    # maps of maps
    ("array_of_maps ok", S(T.ARRAY_OF_MAPS, 4, 4, 4, inner_map=ARRAY4), 0),
    ("array_of_maps no inner", S(T.ARRAY_OF_MAPS, 4, 4, 4), EINVAL),
    ("array_of_maps v8", S(T.ARRAY_OF_MAPS, 4, 8, 4, inner_map=ARRAY4), EINVAL),
    ("array_of_maps no_prealloc", S(T.ARRAY_OF_MAPS, 4, 4, 4, F.NO_PREALLOC, inner_map=ARRAY4),
     EINVAL),
    ("array_of_maps rdonly_prog", S(T.ARRAY_OF_MAPS, 4, 4, 4, F.RDONLY_PROG, inner_map=ARRAY4),
     EINVAL),
    ("hash_of_maps ok", S(T.HASH_OF_MAPS, 8, 4, 4, inner_map=ARRAY4), 0),
    ("hash_of_maps rdonly_prog", S(T.HASH_OF_MAPS, 4, 4, 4, F.RDONLY_PROG, inner_map=ARRAY4), 0),
    ("hash_of_maps v8", S(T.HASH_OF_MAPS, 4, 8, 4, inner_map=ARRAY4), EINVAL),
    ("hash_of_maps inner_map flag", S(T.HASH_OF_MAPS, 4, 4, 4, F.INNER_MAP, inner_map=ARRAY4),
     EINVAL),
    ("inner prog_array", S(T.ARRAY_OF_MAPS, 4, 4, 4, inner_map=S(T.PROG_ARRAY, 4, 4, 4)),
     ENOTSUPP),
    ("inner lpm", S(T.HASH_OF_MAPS, 4, 4, 4,
                    inner_map=S(T.LPM_TRIE, 8, 4, 4, F.NO_PREALLOC)), 0),
    ("inner array_of_maps", S(T.ARRAY_OF_MAPS, 4, 4, 4,
                              inner_map=S(T.ARRAY_OF_MAPS, 4, 4, 4, inner_map=ARRAY4)), EINVAL),
    ("unknown type 999", S(999, 4, 4, 4), EINVAL),
]


@pytest.mark.parametrize(("name", "spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_create_errno(name: str, spec: MapSpec, expected: int) -> None:
    err, m = ours_create(spec)
    assert err == expected, f"{name}: pybpf errno {err}, kernel (observed) {expected}"
    if m is not None:
        m.close()


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize(("name", "spec", "expected"), CASES, ids=[c[0] for c in CASES])
def test_create_matches_kernel(name: str, spec: MapSpec, expected: int) -> None:
    if spec.max_entries >= 1 << 31 and expected == 0:
        pytest.skip("allocates too much")
    err, m = kernel_create(spec)
    if m is not None:
        m.close()
    ours, mine = ours_create(spec)
    if mine is not None:
        mine.close()
    assert (ours, err) == (expected, expected)


def test_error_message_states_rule_and_errno() -> None:
    with pytest.raises(KernelError, match=r"map 'x': lpm_trie requires BPF_F_NO_PREALLOC "
                       r"\(EINVAL\)") as info:
        create_map(MapSpec("x", T.LPM_TRIE, 8, 8, 4), Memory(), ncpus=NCPUS)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError, match=r"ringbuf max_entries .* power of 2 .* \(EINVAL\)"):
        create_map(MapSpec("x", T.RINGBUF, 0, 0, 3000), Memory())
    with pytest.raises(KernelError, match=r"BPF_F_ZERO_SEED"):
        create_map(MapSpec("x", T.ARRAY, 4, 4, 4, F.ZERO_SEED), Memory())


@pytest.mark.parametrize("t", [T.STACK_TRACE, T.SOCKMAP, T.SK_STORAGE, T.BLOOM_FILTER,
                               T.USER_RINGBUF, T.ARENA, T.CGROUP_ARRAY, T.STRUCT_OPS])
def test_unsupported_type_names_it(t: T) -> None:
    with pytest.raises(NotSupportedError, match=t.name.lower()):
        create_map(MapSpec("x", t, 4, 8, 4), Memory())


def test_lru_no_common_lru_rounds_max_entries() -> None:
    m = create_map(MapSpec("x", T.LRU_HASH, 4, 4, 3, F.NO_COMMON_LRU), Memory(), ncpus=2)
    assert m.max_entries == 4
    m = create_map(MapSpec("x", T.LRU_HASH, 4, 4, 3, F.NO_COMMON_LRU), Memory(), ncpus=1)
    assert m.max_entries == 3


def test_devmap_gets_rdonly_prog() -> None:
    m = create_map(MapSpec("x", T.DEVMAP, 4, 4, 4), Memory())
    assert m.flags & F.RDONLY_PROG


def test_initial_data_and_contents_then_freeze() -> None:
    mem = Memory()
    m = create_map(MapSpec(".rodata", T.ARRAY, 4, 6, 1, F.RDONLY_PROG, data=b"abc",
                           read_only=True), mem)
    assert m[0] == b"abc\0\0\0"
    with pytest.raises(KernelError) as info:
        m[0] = b"zzzzzz"
    assert info.value.errno == errno.EPERM
    h = create_map(MapSpec("h", T.HASH, 4, 4, 4, contents=((b"\1\0\0\0", b"\2\0\0\0"),)), mem)
    assert h[1] == b"\2\0\0\0"
