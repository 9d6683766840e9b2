"""Array and per-CPU array maps: layout, errnos, and the same operations on the kernel."""

from __future__ import annotations

import ctypes
import errno
import random
import struct

import pytest
from maps_kernel_support import NCPUS, needs_kernel, pair

from pybpf.errors import ExecutionFault, KernelError
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, create_map
from pybpf.runtime.maps.flags import MapFlag as F
from pybpf.runtime.memory import Memory

u32 = struct.Struct("<I").pack


def make(value_size: int = 6, n: int = 4, t: int = T.ARRAY, flags: int = 0, ncpus: int = 2):
    mem = Memory()
    return mem, create_map(MapSpec("arr", t, 4, value_size, n, flags), mem, ncpus=ncpus)


def test_values_contiguous_in_one_region_with_8_byte_elements() -> None:
    mem, m = make(value_size=6, n=4)
    addrs = [m.lookup_elem(u32(i)) for i in range(4)]
    assert [a - addrs[0] for a in addrs] == [0, 8, 16, 24]
    assert {a >> 32 for a in addrs} == {addrs[0] >> 32}
    assert m.lookup_elem(u32(4)) == 0
    mem.store(addrs[2], 4, 0xAABBCCDD)  # a program writes in place
    assert m[2] == bytes.fromhex("ddccbbaa0000")


def test_update_errnos_from_helpers() -> None:
    _, m = make()
    assert m.update_elem(u32(0), b"x" * 6, BPF_ANY) == 0
    assert m.update_elem(u32(0), b"x" * 6, BPF_EXIST) == 0
    assert m.update_elem(u32(0), b"x" * 6, BPF_NOEXIST) == -errno.EEXIST
    assert m.update_elem(u32(4), b"x" * 6, BPF_ANY) == -errno.E2BIG
    assert m.update_elem(u32(0), b"x" * 6, 3) == -errno.EINVAL
    assert m.update_elem(u32(9), b"x" * 6, BPF_F_LOCK) == -errno.E2BIG  # index checked first
    assert m.update_elem(u32(0), b"x" * 6, BPF_F_LOCK) == -errno.EINVAL
    assert m.delete_elem(u32(0)) == -errno.EINVAL


def test_python_api() -> None:
    _, m = make()
    m[1] = 0x0102
    assert m[1] == b"\x02\x01\0\0\0\0"
    assert 3 in m and 4 not in m
    assert len(m) == 4 and len(m.keys()) == 4
    assert m.lookup(7) is None and m.lookup(7, b"?") == b"?"
    with pytest.raises(KeyError):
        m[4]
    with pytest.raises(KernelError) as info:
        del m[0]
    assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError) as info:
        m.update(0, 1, BPF_NOEXIST)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(KernelError, match=r"map 'arr': key is 3 bytes, expected 4 \(EINVAL\)"):
        m[b"abc"] = 1
    with pytest.raises(KernelError, match="value is 2 bytes, expected 6"):
        m[0] = b"ab"

    class V(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint16)]

    m[ctypes.c_uint32(2)] = V(7, 9)
    assert V.from_buffer_copy(m[2]).b == 9
    m.clear()
    assert m.values() == [bytes(6)] * 4


def test_get_next_key_order() -> None:
    _, m = make(n=3)
    assert m.get_next_key(None) == u32(0)
    assert m.get_next_key(u32(1)) == u32(2)
    assert m.get_next_key(u32(2)) is None
    assert m.get_next_key(u32(77)) == u32(0)


def test_rdonly_prog_values_fault_on_program_store() -> None:
    mem, m = make(flags=F.RDONLY_PROG)
    with pytest.raises(ExecutionFault):
        mem.store(m.lookup_elem(u32(0)), 4, 1)
    m[0] = 5  # the syscall side may still write


def test_access_flags_from_python() -> None:
    _, m = make(flags=F.RDONLY)
    with pytest.raises(KernelError) as info:
        m[0] = 1
    assert info.value.errno == errno.EPERM
    assert m.update_elem(u32(0), bytes(6), 0) == 0  # programs may write
    _, m = make(flags=F.WRONLY)
    m[0] = 1
    with pytest.raises(KernelError) as info:
        m[0]
    assert info.value.errno == errno.EPERM


def test_direct_value_addr() -> None:
    _, m = make(n=1, value_size=16)
    assert m.direct_value_addr(8) == m.base + 8
    with pytest.raises(KernelError):
        m.direct_value_addr(16)
    _, m4 = make(n=4)
    with pytest.raises(KernelError):
        m4.direct_value_addr(0)


def test_percpu_array_layout_and_values() -> None:
    mem, m = make(t=T.PERCPU_ARRAY, value_size=4, n=3, ncpus=3)
    a0, a1 = m.lookup_elem(u32(1), 0), m.lookup_elem(u32(1), 1)
    assert a1 - a0 == 8
    assert m.update_elem(u32(1), u32(7), 0, cpu=2) == 0
    assert m[1] == [bytes(4), bytes(4), u32(7)]
    m[2] = [1, 2, 3]
    assert m[2] == [u32(1), u32(2), u32(3)]
    m[0] = 9  # one value → every CPU
    assert m[0] == [u32(9)] * 3
    with pytest.raises(KernelError, match="2 entries, expected 3"):
        m[0] = [1, 2]
    mem.store(m.lookup_elem(u32(0), 1), 4, 5)
    assert m[0][1] == u32(5)


# -- differential ---------------------------------------------------------------------------------
def _ops(rng: random.Random, n: int, value_size: int, count: int) -> list[tuple]:
    ops: list[tuple] = []
    for _ in range(count):
        key = u32(rng.choice([0, 1, n - 1, n, n + 5, 0xFFFFFFFF]))
        kind = rng.choice(["update", "update", "lookup", "delete", "next"])
        if kind == "update":
            flags = rng.choice([0, 1, 2, 3, 4, 8])
            ops.append(("update", key, rng.randbytes(value_size), flags))
        elif kind == "next":
            ops.append(("next", rng.choice([None, key])))
        else:
            ops.append((kind, key))
    return ops


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("t", [T.ARRAY, T.PERCPU_ARRAY])
@pytest.mark.parametrize("seed", range(4))
def test_differential_array(t: int, seed: int) -> None:
    rng = random.Random(seed)
    n, value_size = 5, rng.choice([1, 4, 6, 8, 12])
    with pair(MapSpec("d", t, 4, value_size, n)) as (ours, theirs):
        vbuf = (value_size + 7) // 8 * 8 * NCPUS if t == T.PERCPU_ARRAY else value_size
        for op in _ops(rng, n, vbuf, 150):
            if op[0] == "update":
                value = op[2]
                assert ours.update(op[1], value, op[3]) == theirs.update(op[1], value, op[3]), op
            elif op[0] == "lookup":
                assert ours.lookup(op[1]) == theirs.lookup(op[1]), op
            elif op[0] == "delete":
                assert ours.delete(op[1]) == theirs.delete(op[1]), op
            else:
                assert ours.next_key(op[1]) == theirs.next_key(op[1]), op
        assert ours.all_keys() == theirs.all_keys()
