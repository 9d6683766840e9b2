"""Queue and stack maps: push/pop/peek errnos and order, compared with the kernel."""

from __future__ import annotations

import errno
import random
import struct

import pytest
from maps_kernel_support import needs_kernel, pair

from pybpf.errors import KernelError
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, create_map
from pybpf.runtime.memory import Memory

u32 = struct.Struct("<I").pack


def make(t: int, n: int = 2):
    return create_map(MapSpec("q", t, 0, 4, n), Memory())


@pytest.mark.parametrize(("t", "order"), [(T.QUEUE, [2, 3]), (T.STACK, [3, 2])])
def test_push_full_overwrite_and_order(t: int, order: list[int]) -> None:
    m = make(t)
    assert m.pop_elem() is None and m.peek_elem() is None
    assert m.push_elem(u32(1), BPF_ANY) == 0
    assert m.push_elem(u32(2), BPF_ANY) == 0
    assert m.push_elem(u32(3), BPF_ANY) == -errno.E2BIG
    assert m.push_elem(u32(3), BPF_NOEXIST) == -errno.EINVAL
    assert m.push_elem(u32(3), 4) == -errno.EINVAL
    assert m.push_elem(u32(3), BPF_EXIST) == 0  # drops the oldest (1), queue or stack
    assert [int.from_bytes(v, "little") for v in m] == order
    assert len(m) == 2
    assert m.peek_elem() == u32(order[0])
    assert [m.pop_elem(), m.pop_elem(), m.pop_elem()] == [u32(order[0]), u32(order[1]), None]


def test_python_api_and_keyless_errors() -> None:
    m = make(T.QUEUE, 3)
    m.push(7)
    m.push(b"\x08\0\0\0")
    assert m.peek() == u32(7)
    assert m.values() == [u32(7), u32(8)]
    assert m.pop() == u32(7)
    with pytest.raises(KernelError) as info:
        m.push(1, BPF_NOEXIST)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError):
        m.get_next_key(None)
    assert m.update_elem(b"", u32(1), 0) == -errno.EINVAL
    assert m.delete_elem(b"") == -errno.EINVAL
    m.clear()
    assert len(m) == 0


@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("t", [T.QUEUE, T.STACK])
@pytest.mark.parametrize("seed", range(4))
def test_differential_queue_stack(t: int, seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([1, 2, 5])
    with pair(MapSpec("q", t, 0, 4, n)) as (ours, theirs):
        for step in range(200):
            kind = rng.choices(["push", "pop", "peek", "delete"], [4, 2, 2, 1])[0]
            if kind == "push":
                flags = rng.choice([BPF_ANY, BPF_ANY, BPF_EXIST, BPF_NOEXIST, 3, 4])
                v = rng.randbytes(4)
                got, want = ours.push(v, flags), theirs.push(v, flags)
            elif kind == "pop":
                got, want = ours.pop(), theirs.pop()
            elif kind == "peek":
                got, want = ours.peek(), theirs.peek()
            else:
                got, want = ours.m.delete_elem(b""), theirs.delete(None)
            assert got == want, (step, kind)
