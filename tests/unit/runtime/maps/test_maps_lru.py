"""LRU hash maps: eviction as the kernel's bpf_lru_list.c does it, compared with Linux 6.18.

Differential method: the test process is pinned to CPU 0, so every kernel update uses CPU 0's
local (common LRU) or own (``BPF_F_NO_COMMON_LRU``) list, and pybpf's Python-side operations run
on ``syscall_cpu`` 0 too. Program lookups (which set the reference bit; syscall lookups do not)
are made in the kernel by running a tiny XDP program with BPF_PROG_TEST_RUN, and in pybpf by
``lookup_elem()``. After every step the SET OF SURVIVING KEYS and each step's result/errno are
compared; the get_next_key order is compared too (same buckets, same head insertion).
"""

from __future__ import annotations

import errno
import random
import struct

import pytest
from maps_kernel_support import NCPUS, ProgramLookup, needs_kernel, pair, pinned_to_cpu

from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, create_map
from pybpf.runtime.maps.flags import MapFlag as F
from pybpf.runtime.memory import Memory

u32 = struct.Struct("<I").pack


def make(n: int, flags: int = 0, t: int = T.LRU_HASH, ncpus: int = 1):
    mem = Memory()
    return mem, create_map(MapSpec("lru", t, 4, 4, n, flags), mem, ncpus=ncpus)


def survivors(m) -> set[int]:  # type: ignore[no-untyped-def]
    return {int.from_bytes(k, "little") for k in m}


def test_evicts_least_recently_used_when_full() -> None:
    _, m = make(4, F.NO_COMMON_LRU)
    for i in range(4):
        m[i] = i
    # reference 0 and 1 from a "program", then insert two more
    m.lookup_elem(u32(0))
    m.lookup_elem(u32(1))
    m[10] = 10
    m[11] = 11
    assert survivors(m) == {0, 1, 10, 11}
    assert len(m) == 4


def test_never_full_and_flags() -> None:
    _, m = make(2)
    for i in range(10):
        assert m.update_elem(u32(i), u32(i), BPF_ANY) == 0
    assert len(m) == 2
    assert m.update_elem(u32(50), u32(0), BPF_EXIST) == -errno.ENOENT
    assert m.update_elem(u32(9), u32(0), 4) == -errno.EINVAL  # BPF_F_LOCK > BPF_EXIST
    key = m.keys()[0]
    assert m.delete_elem(key) == 0 and m.delete_elem(key) == -errno.ENOENT


@pytest.mark.parametrize(("flags", "ret", "left"), [
    (F.NO_COMMON_LRU, 0, {4}),
    (0, -errno.EEXIST, {2, 3, 4}),
])
def test_noexist_update_takes_a_node_first(flags: int, ret: int, left: set[int]) -> None:
    """6.18 takes a free node (evicting) BEFORE checking the flags (observed with bpf()).

    With per-CPU lists the eviction may even remove the key being updated, which then
    succeeds as an insertion; with the common list it evicts another key and fails.
    """
    _, m = make(4, flags, ncpus=2)
    for i in range(1, 5):
        m[i] = i
    assert m.update_elem(u32(4), u32(0), BPF_NOEXIST) == ret
    assert survivors(m) == left


def test_python_lookup_does_not_reference() -> None:
    _, a = make(4, F.NO_COMMON_LRU)
    _, b = make(4, F.NO_COMMON_LRU)
    for m in (a, b):
        for i in range(4):
            m[i] = i
    a.lookup_elem(u32(0))
    b.lookup(0)
    for m in (a, b):
        m[20] = 0
        m[21] = 0
    assert 0 in survivors(a) and 0 not in survivors(b)


def test_percpu_lists_split_entries_between_cpus() -> None:
    _, m = make(4, F.NO_COMMON_LRU, ncpus=2)
    for i in range(6):
        assert m.update_elem(u32(i), u32(i), BPF_ANY, cpu=0) == 0
    assert len(m) == 2  # CPU 0 owns half of the nodes
    for i in range(6, 9):
        assert m.update_elem(u32(i), u32(i), BPF_ANY, cpu=1) == 0
    # each shrink of a per-CPU list frees up to PERCPU_FREE_TARGET (4) unreferenced nodes
    assert survivors(m) == {4, 5, 8}


def test_lru_percpu_values() -> None:
    _, m = make(4, t=T.LRU_PERCPU_HASH, ncpus=2)
    assert m.update_elem(u32(1), u32(5), BPF_ANY, cpu=1) == 0
    assert m[1] == [bytes(4), u32(5)]
    m[1] = [1, 2]
    assert m[1] == [u32(1), u32(2)]


# -- differential ---------------------------------------------------------------------------------
CONFIGS = [
    (T.LRU_HASH, F.NO_COMMON_LRU),
    (T.LRU_HASH, 0),
    (T.LRU_PERCPU_HASH, F.NO_COMMON_LRU),
    (T.LRU_PERCPU_HASH, 0),
]


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize(("t", "flags"), CONFIGS, ids=["lru/percpu-lists", "lru/common",
                                                      "lru_percpu/percpu-lists",
                                                      "lru_percpu/common"])
@pytest.mark.parametrize("n", [4, 8, 17, 64])
@pytest.mark.parametrize("seed", range(3))
def test_differential_lru_survivors(t: int, flags: int, n: int, seed: int) -> None:
    rng = random.Random(seed * 1000 + n)
    pool = list(range(3 * n + 4))
    vbuf = 8 * NCPUS if t == T.LRU_PERCPU_HASH else 4
    spec = MapSpec("lru", t, 4, 4, n, flags | F.ZERO_SEED)
    with pinned_to_cpu(0), pair(spec) as (ours, theirs):
        prog_lookup = ProgramLookup(theirs)
        try:
            for step in range(250):
                key = rng.choice(pool)
                kind = rng.choices(["update", "plookup", "lookup", "delete"], [6, 3, 1, 1])[0]
                if kind == "update":
                    flags_ = rng.choice([BPF_ANY, BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST])
                    value = rng.randbytes(vbuf)
                    got = ours.update(u32(key), value, flags_)
                    want = theirs.update(u32(key), value, flags_)
                elif kind == "plookup":
                    got = ours.m.lookup_elem(u32(key)) != 0
                    prog_lookup(key)
                    want = got  # the program's result is not observable; only its ref bit
                elif kind == "lookup":
                    got, want = ours.lookup(u32(key)), theirs.lookup(u32(key))
                else:
                    got, want = ours.delete(u32(key)), theirs.delete(u32(key))
                assert got == want, (step, kind, key)
                assert set(ours.all_keys()) == set(theirs.all_keys()), (step, kind, key)
            assert ours.all_keys() == theirs.all_keys()
        finally:
            prog_lookup.close()
