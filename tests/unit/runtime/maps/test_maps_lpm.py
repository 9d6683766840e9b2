"""LPM trie maps: longest-prefix match, errnos, post-order iteration, compared with the kernel."""

from __future__ import annotations

import errno
import random
import struct

import pytest
from maps_kernel_support import needs_kernel, pair

from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, create_map
from pybpf.runtime.maps.flags import MapFlag as F
from pybpf.runtime.memory import Memory


def K(prefixlen: int, *data: int) -> bytes:
    return struct.pack("<I", prefixlen) + bytes(data)


def make(n: int = 16, key_size: int = 8):
    mem = Memory()
    return mem, create_map(MapSpec("lpm", T.LPM_TRIE, key_size, 4, n, F.NO_PREALLOC), mem)


def test_longest_prefix_match_and_kernel_doc_order() -> None:
    mem, m = make()
    m[K(16, 192, 168, 0, 0)] = 1
    m[K(24, 192, 168, 0, 0)] = 2
    m[K(24, 192, 168, 128, 0)] = 3
    m[K(24, 192, 168, 1, 0)] = 5
    assert m[K(32, 192, 168, 1, 7)] == struct.pack("<I", 5)
    assert m[K(32, 192, 168, 200, 1)] == struct.pack("<I", 1)
    assert m.lookup(K(32, 10, 0, 0, 1)) is None
    assert m.lookup(K(33, 192, 168, 1, 7)) is None  # prefixlen above 32
    addr = m.lookup_elem(K(32, 192, 168, 0, 9))
    assert mem.load(addr, 4) == 2
    # the order of the comment at the top of kernel/bpf/lpm_trie.c
    assert m.keys() == [K(24, 192, 168, 0, 0), K(24, 192, 168, 1, 0),
                        K(24, 192, 168, 128, 0), K(16, 192, 168, 0, 0)]
    assert len(m) == 4


def test_errnos() -> None:
    _, m = make(n=2)
    assert m.update_elem(K(8, 10, 0, 0, 0), b"aaaa", BPF_EXIST) == -errno.ENOENT
    assert m.update_elem(K(8, 10, 0, 0, 0), b"aaaa", BPF_NOEXIST) == 0
    assert m.update_elem(K(8, 10, 0, 0, 0), b"aaaa", BPF_NOEXIST) == -errno.EEXIST
    assert m.update_elem(K(8, 10, 0, 0, 0), b"bbbb", BPF_EXIST) == 0
    assert m.update_elem(K(16, 10, 1, 0, 0), b"cccc", BPF_ANY) == 0
    assert m.update_elem(K(24, 10, 1, 1, 0), b"dddd", BPF_ANY) == -errno.ENOSPC
    assert m.update_elem(K(16, 10, 1, 0, 0), b"eeee", BPF_ANY) == 0  # replacing when full
    assert m.update_elem(K(33, 10, 1, 0, 0), b"eeee", BPF_ANY) == -errno.EINVAL
    assert m.update_elem(K(8, 10, 1, 0, 0), b"eeee", 4) == -errno.EINVAL
    assert m.delete_elem(K(12, 10, 0, 0, 0)) == -errno.ENOENT
    assert m.delete_elem(K(33, 10, 0, 0, 0)) == -errno.EINVAL
    assert m.delete_elem(K(8, 10, 0, 0, 0)) == 0
    assert len(m) == 1


def test_intermediate_nodes_are_not_entries() -> None:
    _, m = make()
    m[K(24, 10, 0, 0, 0)] = 1
    m[K(24, 10, 0, 1, 0)] = 2  # creates an intermediate /23
    assert m.lookup(K(23, 10, 0, 0, 0)) is None
    assert m.delete_elem(K(23, 10, 0, 0, 0)) == -errno.ENOENT
    assert m.update_elem(K(23, 10, 0, 0, 0), b"xxxx", BPF_EXIST) == -errno.ENOENT
    m[K(23, 10, 0, 0, 0)] = 3  # turns the intermediate node into an entry
    assert len(m) == 3
    del m[K(24, 10, 0, 0, 0)]
    del m[K(23, 10, 0, 0, 0)]
    assert m.keys() == [K(24, 10, 0, 1, 0)]


def test_get_next_key_of_missing_key_restarts() -> None:
    _, m = make()
    m[K(8, 1, 0, 0, 0)] = 1
    m[K(8, 2, 0, 0, 0)] = 1
    assert m.get_next_key(K(8, 3, 0, 0, 0)) == m.get_next_key(None)
    assert m.get_next_key(K(40, 3, 0, 0, 0)) == m.get_next_key(None)
    last = m.keys()[-1]
    assert m.get_next_key(last) is None


# -- differential ---------------------------------------------------------------------------------
@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("key_size", [5, 6, 8])
@pytest.mark.parametrize("seed", range(6))
def test_differential_lpm(key_size: int, seed: int) -> None:
    rng = random.Random(seed * 31 + key_size)
    bits = 8 * (key_size - 4)
    n = rng.choice([3, 8, 30])
    # few distinct data values so that prefixes nest and collide
    datas = [rng.randbytes(key_size - 4) for _ in range(4)]

    def key() -> bytes:
        return struct.pack("<I", rng.choice([*range(bits + 1), bits + 1])) + rng.choice(datas)

    with pair(MapSpec("lpm", T.LPM_TRIE, key_size, 4, n, F.NO_PREALLOC)) as (ours, theirs):
        for step in range(300):
            k = key()
            kind = rng.choices(["update", "lookup", "delete", "next"], [5, 3, 2, 1])[0]
            if kind == "update":
                flags = rng.choice([BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3])
                v = rng.randbytes(4)
                got, want = ours.update(k, v, flags), theirs.update(k, v, flags)
            elif kind == "lookup":
                got, want = ours.lookup(k), theirs.lookup(k)
            elif kind == "delete":
                got, want = ours.delete(k), theirs.delete(k)
            else:
                arg = rng.choice([None, k])
                got, want = ours.next_key(arg), theirs.next_key(arg)
            assert got == want, (step, kind, k.hex())
            assert ours.all_keys() == theirs.all_keys(), step
