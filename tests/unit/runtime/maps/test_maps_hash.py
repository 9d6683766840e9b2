"""Hash and per-CPU hash maps: errnos, bucket order, value lifetime, and kernel comparisons.

pybpf hashes with seed 0, so its iteration order is the kernel's for maps created with
``BPF_F_ZERO_SEED``; the differential tests create the kernel maps with that flag and compare
the complete get_next_key order after every step.
"""

from __future__ import annotations

import errno
import random
import struct

import pytest
from maps_kernel_support import NCPUS, needs_kernel, pair

from pybpf.errors import KernelError
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, create_map
from pybpf.runtime.maps.flags import MapFlag as F
from pybpf.runtime.maps.jhash import jhash
from pybpf.runtime.memory import Memory

u32 = struct.Struct("<I").pack
u64 = struct.Struct("<Q").pack


def make(t: int = T.HASH, n: int = 4, flags: int = 0, ncpus: int = 2, key_size: int = 4,
         value_size: int = 8):
    mem = Memory()
    return mem, create_map(MapSpec("h", t, key_size, value_size, n, flags), mem, ncpus=ncpus)


def test_jhash_known_values() -> None:
    # Buckets observed on Linux 6.18 for u32 keys 0..7 in an 8-bucket BPF_F_ZERO_SEED map.
    assert [jhash(u32(i)) & 7 for i in range(8)] == [0, 3, 2, 7, 1, 6, 6, 2]
    assert jhash(b"") == 0xDEADBEEF
    assert jhash(b"abcdefghijklmnopq") != jhash(b"abcdefghijklmnopr")


def test_iteration_order_is_bucket_order_head_first() -> None:
    _, m = make(n=8)
    for i in range(8):
        m[i] = i
    # observed with bpf() on a BPF_F_ZERO_SEED map: buckets ascending, newest first in a bucket
    assert [int.from_bytes(k, "little") for k in m] == [0, 4, 7, 2, 1, 6, 5, 3]
    assert m.get_next_key(u32(999)) == u32(0)  # a missing key restarts at the first
    assert m.get_next_key(u32(3)) is None


def test_errnos() -> None:
    _, m = make(n=2)
    assert m.update_elem(u32(1), u64(1), BPF_EXIST) == -errno.ENOENT
    assert m.update_elem(u32(1), u64(1), BPF_NOEXIST) == 0
    assert m.update_elem(u32(1), u64(1), BPF_NOEXIST) == -errno.EEXIST
    assert m.update_elem(u32(2), u64(2), BPF_ANY) == 0
    assert m.update_elem(u32(3), u64(3), BPF_ANY) == -errno.E2BIG
    assert m.update_elem(u32(1), u64(9), BPF_ANY) == 0  # replacing works when full
    assert m.update_elem(u32(1), u64(9), 3) == -errno.EINVAL
    assert m.update_elem(u32(1), u64(9), BPF_F_LOCK) == -errno.EINVAL
    assert m.delete_elem(u32(7)) == -errno.ENOENT
    assert m.delete_elem(u32(1)) == 0
    assert m.lookup_elem(u32(1)) == 0


def test_python_api() -> None:
    _, m = make()
    m[1] = 10
    m.update(2, 20, BPF_NOEXIST)
    assert m[1] == u64(10) and 2 in m and len(m) == 2
    assert dict(m.items()) == {u32(1): u64(10), u32(2): u64(20)}
    assert m.delete(2) is True and m.delete(2) is False
    with pytest.raises(KeyError):
        del m[2]
    with pytest.raises(KernelError) as info:
        m.update(5, 1, BPF_EXIST)
    assert info.value.errno == errno.ENOENT
    with pytest.raises(KernelError) as info:
        m.update(5, 1, BPF_F_LOCK)
    assert info.value.errno == errno.EINVAL
    m.clear()
    assert len(m) == 0 and m.keys() == []


def test_value_address_stays_valid_until_synchronize() -> None:
    mem, m = make(n=2)
    m[1] = 111
    addr = m.lookup_elem(u32(1))
    assert mem.load(addr, 8) == 111
    assert m.update_elem(u32(1), u64(222), BPF_ANY) == 0  # replaced: new element, new address
    assert m.lookup_elem(u32(1)) != addr
    assert mem.load(addr, 8) == 111  # the old pointer still reads the old value
    assert m.delete_elem(u32(1)) == 0
    m[2] = 333
    m[3] = 444
    assert mem.load(addr, 8) == 111  # not reused within the grace period
    m.synchronize_rcu()
    mem.store(addr, 8, 5)  # still mapped memory after the grace period


def test_percpu_hash_values() -> None:
    mem, m = make(t=T.PERCPU_HASH, ncpus=3, value_size=4)
    assert m.update_elem(u32(1), u32(7), BPF_ANY, cpu=1) == 0
    assert m[1] == [bytes(4), u32(7), bytes(4)]  # other CPUs zeroed on insert
    addr = m.lookup_elem(u32(1), cpu=2)
    assert m.update_elem(u32(1), u32(8), BPF_ANY, cpu=2) == 0
    assert m.lookup_elem(u32(1), cpu=2) == addr  # in-place
    assert mem.load(addr, 4) == 8
    m[2] = [1, 2, 3]
    assert m[2] == [u32(1), u32(2), u32(3)]
    with pytest.raises(KernelError, match="cpu 3 out of range"):
        m.lookup_elem(u32(1), cpu=3)


def test_rdonly_prog_hash_values_are_read_only_memory() -> None:
    from pybpf.errors import ExecutionFault

    mem, m = make(flags=F.RDONLY_PROG)
    m[1] = 1
    with pytest.raises(ExecutionFault):
        mem.store(m.lookup_elem(u32(1)), 8, 2)


def test_formatter_dump() -> None:
    _, m = make()
    m.formatter = lambda k, v: (str(int.from_bytes(k, "little")), str(int.from_bytes(v, "little")))
    m[3] = 30
    assert m.dump() == "3: 30"


def test_large_max_entries_is_cheap() -> None:
    _, m = make(n=1 << 27, flags=F.NO_PREALLOC)
    m[1] = 1
    assert m.keys() == [u32(1)]


# -- differential ---------------------------------------------------------------------------------
def run_sequence(ours, theirs, rng: random.Random, keys: list[bytes], vbuf: int, steps: int,
                 order: bool = True) -> None:
    for step in range(steps):
        key = rng.choice(keys)
        kind = rng.choices(["update", "lookup", "delete", "next"], [5, 2, 2, 1])[0]
        if kind == "update":
            flags = rng.choice([BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3, BPF_F_LOCK])
            value = rng.randbytes(vbuf)
            got, want = ours.update(key, value, flags), theirs.update(key, value, flags)
        elif kind == "lookup":
            got, want = ours.lookup(key), theirs.lookup(key)
        elif kind == "delete":
            got, want = ours.delete(key), theirs.delete(key)
        else:
            arg = rng.choice([None, key])
            got, want = ours.next_key(arg), theirs.next_key(arg)
        assert got == want, (step, kind, key)
        if order:
            assert ours.all_keys() == theirs.all_keys(), step


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("flags", [F.ZERO_SEED, F.ZERO_SEED | F.NO_PREALLOC])
@pytest.mark.parametrize(("t", "key_size", "value_size"),
                         [(T.HASH, 4, 8), (T.HASH, 7, 3), (T.HASH, 13, 16),
                          (T.PERCPU_HASH, 4, 4), (T.PERCPU_HASH, 6, 12)])
@pytest.mark.parametrize("seed", range(3))
def test_differential_hash(t: int, key_size: int, value_size: int, flags: int,
                           seed: int) -> None:
    rng = random.Random(seed * 7919 + key_size)
    n = rng.choice([1, 3, 8, 10])
    keys = [rng.randbytes(key_size) for _ in range(2 * n + 2)]
    vbuf = (value_size + 7) // 8 * 8 * NCPUS if t == T.PERCPU_HASH else value_size
    with pair(MapSpec("d", t, key_size, value_size, n, flags)) as (ours, theirs):
        run_sequence(ours, theirs, rng, keys, vbuf, 200)
