"""The shared surface: the Map protocol, key/value coercion, map pointers, lifetime, errors."""

from __future__ import annotations

import ctypes
import errno

import pytest

from pybpf.errors import ExecutionFault, KernelError, PybpfError
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import Map, create_map, default_ncpus, resolve_map
from pybpf.runtime.maps.codec import join_percpu, split_percpu, to_bytes
from pybpf.runtime.maps.flags import MapFlag as F
from pybpf.runtime.memory import Memory

ALL = [
    MapSpec("a", T.ARRAY, 4, 4, 2), MapSpec("b", T.PERCPU_ARRAY, 4, 4, 2),
    MapSpec("c", T.HASH, 4, 4, 2), MapSpec("d", T.PERCPU_HASH, 4, 4, 2),
    MapSpec("e", T.LRU_HASH, 4, 4, 2), MapSpec("f", T.LRU_PERCPU_HASH, 4, 4, 2),
    MapSpec("g", T.LPM_TRIE, 8, 4, 2, F.NO_PREALLOC), MapSpec("h", T.QUEUE, 0, 4, 2),
    MapSpec("i", T.STACK, 0, 4, 2), MapSpec("j", T.RINGBUF, 0, 0, 4096),
    MapSpec("k", T.PROG_ARRAY, 4, 4, 2), MapSpec("l", T.PERF_EVENT_ARRAY, 4, 4, 2),
    MapSpec("m", T.ARRAY_OF_MAPS, 4, 4, 2, inner_map=MapSpec("x", T.ARRAY, 4, 4, 2)),
    MapSpec("n", T.HASH_OF_MAPS, 4, 4, 2, inner_map=MapSpec("x", T.ARRAY, 4, 4, 2)),
    MapSpec("o", T.DEVMAP, 4, 4, 2), MapSpec("p", T.DEVMAP_HASH, 4, 4, 2),
    MapSpec("q", T.CPUMAP, 4, 4, 2), MapSpec("r", T.XSKMAP, 4, 4, 2),
]


@pytest.mark.parametrize("spec", ALL, ids=[T(s.map_type).name.lower() for s in ALL])
def test_every_type_is_a_map_with_a_resolvable_pointer(spec: MapSpec) -> None:
    mem = Memory()
    m = create_map(spec, mem, ncpus=2)
    assert isinstance(m, Map)
    assert resolve_map(mem, m.address) is m
    assert mem.load(m.address + 64, 4) == spec.map_type
    assert m.type_name == T(spec.map_type).name.lower()
    m.synchronize_rcu()
    regions = len(mem.regions)
    m.close()
    assert len(mem.regions) < regions
    assert resolve_map(mem, m.address) is None
    with pytest.raises(ExecutionFault):
        mem.load(m.address + 64, 4)


def test_coercion() -> None:
    assert to_bytes(1, 4, "m", "key") == b"\1\0\0\0"
    assert to_bytes(-1, 2, "m", "key") == b"\xff\xff"
    assert to_bytes(True, 1, "m", "key") == b"\1"
    assert to_bytes(bytearray(b"ab"), 2, "m", "key") == b"ab"
    assert to_bytes(ctypes.c_uint16(258), 2, "m", "value") == b"\2\1"
    assert to_bytes((ctypes.c_uint8 * 3)(1, 2, 3), 3, "m", "value") == b"\1\2\3"
    with pytest.raises(KernelError, match=r"map 'm': key 256 does not fit in 1 byte \(EINVAL\)"):
        to_bytes(256, 1, "m", "key")
    with pytest.raises(KernelError, match="must be an int, bytes or a ctypes object, not str"):
        to_bytes("x", 1, "m", "key")
    with pytest.raises(KernelError, match="value is 3 bytes, expected 4"):
        to_bytes(b"abc", 4, "m", "value")
    with pytest.raises(PybpfError):
        to_bytes(1, 0, "m", "key")


def test_percpu_buffers() -> None:
    buf = join_percpu([b"abc", b"def"], 3)
    assert buf == b"abc\0\0\0\0\0def\0\0\0\0\0"
    assert split_percpu(buf, 3, 2) == [b"abc", b"def"]


def test_percpu_python_values_accept_the_syscall_buffer() -> None:
    m = create_map(MapSpec("p", T.PERCPU_HASH, 4, 3, 2), Memory(), ncpus=2)
    m[1] = join_percpu([b"abc", b"def"], 3)
    assert m[1] == [b"abc", b"def"]


def test_default_ncpus() -> None:
    m = create_map(MapSpec("p", T.PERCPU_ARRAY, 4, 4, 1), Memory())
    assert m.ncpus == default_ncpus() and len(m[0]) == default_ncpus()


def test_freeze_and_wronly() -> None:
    m = create_map(MapSpec("a", T.HASH, 4, 4, 2), Memory())
    m[1] = 1
    m.freeze()
    for op in (lambda: m.update(1, 2), lambda: m.delete(1)):
        with pytest.raises(KernelError) as info:
            op()
        assert info.value.errno == errno.EPERM
    assert m[1] == b"\1\0\0\0"
    w = create_map(MapSpec("w", T.HASH, 4, 4, 2, F.WRONLY), Memory())
    w[1] = 1
    with pytest.raises(KernelError) as info:
        w.keys()
    assert info.value.errno == errno.EPERM


def test_dump_without_formatter_and_percpu() -> None:
    m = create_map(MapSpec("p", T.PERCPU_ARRAY, 4, 1, 1), Memory(), ncpus=2)
    m[0] = [1, 2]
    assert m.dump() == "00 00 00 00: cpu0: 01\n00 00 00 00: cpu1: 02"


def test_repr() -> None:
    m = create_map(MapSpec("z", T.HASH, 4, 8, 2), Memory())
    assert repr(m) == "<HashMap 'z' hash key_size=4 value_size=8 max_entries=2>"
