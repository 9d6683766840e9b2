"""devmap, devmap_hash, cpumap and xskmap: stored targets, errnos, and kernel comparisons.

The kernel side uses ifindex 1 (the loopback device, present in every network namespace);
pybpf's maps are told which ifindexes exist through ``ifindex_valid``.
"""

from __future__ import annotations

import errno
import random
import struct

import pytest
from maps_kernel_support import NCPUS, needs_kernel, pair

from pybpf.errors import ExecutionFault, KernelError
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, create_map
from pybpf.runtime.maps.redirect import CpuEntry, DevEntry
from pybpf.runtime.memory import Memory

u32 = struct.Struct("<I").pack


def make(t: int, value_size: int = 4, n: int = 4, ncpus: int = 2):
    mem = Memory()
    return mem, create_map(MapSpec("r", t, 4, value_size, n), mem, ncpus=ncpus)


def test_devmap_entries_and_redirect_target() -> None:
    mem, m = make(T.DEVMAP, value_size=8)
    assert m.redirect_target(1) is None and m.lookup_elem(u32(1)) == 0
    m[1] = u32(3) + u32(0)
    assert m.redirect_target(1) == DevEntry(3, 0)
    addr = m.lookup_elem(u32(1))
    assert mem.load(addr, 4) == 3
    with pytest.raises(ExecutionFault):
        mem.store(addr, 4, 9)  # read-only for programs
    assert m.update_elem(u32(1), u32(3) + u32(0), BPF_NOEXIST) == -errno.EEXIST
    assert m.update_elem(u32(4), u32(3) + u32(0), BPF_ANY) == -errno.E2BIG
    assert m.update_elem(u32(1), u32(0) + u32(5), BPF_ANY) == -errno.EINVAL  # ifindex 0 + prog
    assert m.update_elem(u32(1), u32(0) + u32(0), BPF_ANY) == 0  # ifindex 0 clears
    assert m.redirect_target(1) is None
    assert m.delete_elem(u32(1)) == 0 and m.delete_elem(u32(9)) == -errno.EINVAL
    m.ifindex_valid = lambda i: i < 10
    assert m.update_elem(u32(1), u32(99) + u32(0), BPF_ANY) == -errno.EINVAL


def test_devmap_hash_buckets_by_key() -> None:
    _, m = make(T.DEVMAP_HASH, n=2)
    m[5] = 1
    m[6] = 1
    assert m.keys() == [u32(6), u32(5)]  # bucket = key & 1, as observed with bpf()
    assert m.update_elem(u32(7), u32(1), BPF_ANY) == -errno.E2BIG
    assert m.update_elem(u32(5), u32(0), BPF_ANY) == -errno.EINVAL
    assert m.update_elem(u32(5), u32(2), BPF_NOEXIST) == -errno.EEXIST
    assert m.redirect_target(5) == DevEntry(1, 0)
    del m[5]
    assert m.delete_elem(u32(5)) == -errno.ENOENT


def test_cpumap() -> None:
    _, m = make(T.CPUMAP, n=4, ncpus=2)
    m[1] = 128
    assert m.redirect_target(1) == CpuEntry(1, 128, 0)
    assert m[1] == u32(128)
    assert m.update_elem(u32(1), u32(16385), BPF_ANY) == -errno.EOVERFLOW
    assert m.update_elem(u32(3), u32(16), BPF_ANY) == -errno.ENODEV  # CPU 3 not possible
    assert m.update_elem(u32(0), u32(16), BPF_NOEXIST) == -errno.EEXIST
    m[1] = 0  # qsize 0 deletes
    assert m.redirect_target(1) is None and 1 not in m


def test_xskmap_stores_socket_objects() -> None:
    _, m = make(T.XSKMAP)
    sock = object()
    m[2] = sock
    assert m.redirect_target(2) is sock and m.lookup(2) is sock
    assert m.update_elem(u32(2), u32(0), 0) == -errno.EINVAL  # programs cannot update
    with pytest.raises(KernelError) as info:
        m.update(2, object(), BPF_NOEXIST)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(KernelError) as info:
        m.update(3, object(), BPF_EXIST)
    assert info.value.errno == errno.ENOENT
    with pytest.raises(KernelError) as info:
        m[1] = 5  # an fd we cannot resolve
    assert info.value.errno == errno.EBADF
    assert m.delete_elem(u32(9)) == -errno.EINVAL and m.delete_elem(u32(2)) == 0


# -- differential ---------------------------------------------------------------------------------
@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize(("t", "value_size"), [(T.DEVMAP, 4), (T.DEVMAP, 8), (T.DEVMAP_HASH, 4),
                                               (T.DEVMAP_HASH, 8), (T.CPUMAP, 4)])
@pytest.mark.parametrize("seed", range(3))
def test_differential_redirect(t: int, value_size: int, seed: int) -> None:
    rng = random.Random(seed)
    n = 3 if t != T.CPUMAP else NCPUS + 1
    with pair(MapSpec("r", t, 4, value_size, n)) as (ours, theirs):
        ours.m.ifindex_valid = lambda i: i == 1  # type: ignore[attr-defined]
        keys = [u32(i) for i in (0, 1, 2, n, 7, 0x80000000)]
        for step in range(120):
            key = rng.choice(keys)
            kind = rng.choices(["update", "lookup", "delete", "next"], [5, 2, 2, 1])[0]
            if kind == "update":
                first = rng.choice([0, 1, 1, 1, 999] if t != T.CPUMAP else [0, 16, 16385])
                value = u32(first) + (u32(rng.choice([0, 0, 0xFFFFFFFF])) if value_size == 8
                                      else b"")
                flags = rng.choice([BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3])
                got, want = ours.update(key, value, flags), theirs.update(key, value, flags)
            elif kind == "lookup":
                got, want = ours.lookup(key), theirs.lookup(key)
            elif kind == "delete":
                got, want = ours.delete(key), theirs.delete(key)
            else:
                arg = rng.choice([None, key])
                got, want = ours.next_key(arg), theirs.next_key(arg)
            assert got == want, (step, kind, key.hex())
        assert ours.all_keys() == theirs.all_keys()
