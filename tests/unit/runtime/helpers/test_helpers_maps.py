"""Map helpers and the callbacks over maps (bpf_for_each_map_elem, bpf_loop)."""

from __future__ import annotations

import errno

import pytest
from helpers_support import interpreter, load, make_map, run

from pybpf.errors import ExecutionFault
from pybpf.platform.enums import MapType

U64 = 2**64 - 1

UPDATE = """
    *(u32 *)(r10 - 4) = {key}
    *(u64 *)(r10 - 16) = {value}
    r1 = %m
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = {flags}
    call bpf_map_update_elem
"""
LOOKUP = """
    *(u32 *)(r10 - 4) = {key}
    r1 = %m
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
"""
DELETE = """
    *(u32 *)(r10 - 4) = {key}
    r1 = %m
    r2 = r10
    r2 += -4
    call bpf_map_delete_elem
"""


def test_hash_update_lookup_delete_and_errnos() -> None:
    interp = interpreter()
    m = make_map(interp, MapType.HASH, 4, 8, 2)
    maps = {"m": m}

    def call(text: str) -> int:
        _, prog = load(text + "exit", maps=maps, interp=interp)
        r0 = prog.run().retval
        return r0 - (1 << 64) if r0 >> 63 else r0

    assert call(UPDATE.format(key=1, value=11, flags=0)) == 0
    assert call(UPDATE.format(key=1, value=12, flags=1)) == -errno.EEXIST
    assert call(UPDATE.format(key=2, value=22, flags=2)) == -errno.ENOENT
    assert call(UPDATE.format(key=2, value=22, flags=1)) == 0
    assert call(UPDATE.format(key=3, value=33, flags=0)) == -errno.E2BIG
    assert call(LOOKUP.format(key=1) + "if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\n") == 11
    assert call(LOOKUP.format(key=9)) == 0
    assert call(DELETE.format(key=1)) == 0
    assert call(DELETE.format(key=1)) == -errno.ENOENT
    assert m.lookup(2) == (22).to_bytes(8, "little")
    assert any(x is m for x in interp.state.rcu_maps)  # freed values recycle after runs


def test_array_lookup_points_into_the_map() -> None:
    interp = interpreter()
    m = make_map(interp, MapType.ARRAY, 4, 8, 4)
    text = LOOKUP.format(key=2) + """
    if r0 == 0 goto out
    r1 = 77
    *(u64 *)(r0 + 0) = r1
    r0 = 1
out:
    exit
"""
    assert run(text, maps={"m": m}, interp=interp) == 1
    assert m.lookup(2) == (77).to_bytes(8, "little")
    assert run(DELETE.format(key=2) + "exit", maps={"m": m}, interp=interp) == -errno.EINVAL


@pytest.mark.parametrize("map_type", [MapType.QUEUE, MapType.STACK])
def test_push_pop_peek(map_type: int) -> None:
    interp = interpreter()
    m = make_map(interp, map_type, 0, 8, 2)
    push = """
    *(u64 *)(r10 - 8) = {v}
    r1 = %m
    r2 = r10
    r2 += -8
    r3 = {flags}
    call bpf_map_push_elem
    exit
    """
    take = """
    *(u64 *)(r10 - 8) = -1
    r1 = %m
    r2 = r10
    r2 += -8
    call bpf_map_{op}_elem
    if r0 != 0 goto out
    r0 = *(u64 *)(r10 - 8)
    exit
out:
    r0 = *(u64 *)(r10 - 8)
    r0 += 1000
    exit
    """
    maps = {"m": m}
    assert [run(push.format(v=v, flags=0), maps=maps, interp=interp) for v in (1, 2, 3)] == [
        0, 0, -errno.E2BIG]
    assert run(push.format(v=3, flags=2), maps=maps, interp=interp) == 0  # drops the oldest
    first = 3 if map_type == MapType.STACK else 2
    assert run(take.format(op="peek"), maps=maps, interp=interp) == first
    assert run(take.format(op="pop"), maps=maps, interp=interp) == first
    run(take.format(op="pop"), maps=maps, interp=interp)
    # an empty map zeroes the destination: 0 + 1000 marks the error path
    assert run(take.format(op="pop"), maps=maps, interp=interp) == 1000


def test_lookup_percpu_elem() -> None:
    interp = interpreter()
    m = make_map(interp, MapType.PERCPU_ARRAY, 4, 8, 1)
    m.update(0, [(5).to_bytes(8, "little"), (6).to_bytes(8, "little")])
    text = """
    *(u32 *)(r10 - 4) = 0
    r1 = %m
    r2 = r10
    r2 += -4
    r3 = {cpu}
    call bpf_map_lookup_percpu_elem
    if r0 == 0 goto out
    r0 = *(u64 *)(r0 + 0)
out:
    exit
    """
    assert [run(text.format(cpu=c), maps={"m": m}, interp=interp) for c in (0, 1, 2)] == [5, 6, 0]


def test_map_argument_must_be_a_map() -> None:
    with pytest.raises(ExecutionFault, match="not a map pointer"):
        run("r1 = r10\nr2 = r10\ncall bpf_map_lookup_elem\nexit")


FOR_EACH = """
    r1 = %m
    r2 = func callback
    r3 = r10
    r3 += -8
    *(u64 *)(r10 - 8) = 0
    r4 = {flags}
    call bpf_for_each_map_elem
    r1 = *(u64 *)(r10 - 8)
    r1 <<= 32
    r0 |= r1
    exit
callback:
    r0 = *(u32 *)(r2 + 0)
    r5 = *(u64 *)(r3 + 0)
    r6 = *(u64 *)(r4 + 0)
    r6 += r5
    *(u64 *)(r4 + 0) = r6
    r0 = 0
    if r5 != {stop} goto +1
    r0 = 1
    exit
"""


def test_for_each_map_elem_array_and_hash() -> None:
    interp = interpreter()
    arr = make_map(interp, MapType.ARRAY, 4, 8, 3)
    for i, v in enumerate((10, 20, 30)):
        arr.update(i, v.to_bytes(8, "little"))
    r = run(FOR_EACH.format(flags=0, stop=-1), maps={"m": arr}, interp=interp)
    assert r == 60 << 32 | 3
    r = run(FOR_EACH.format(flags=0, stop=20), maps={"m": arr}, interp=interp)
    assert r == 30 << 32 | 2  # the element that stopped the walk counts
    assert run(FOR_EACH.format(flags=1, stop=0), maps={"m": arr}, interp=interp) == -errno.EINVAL
    h = make_map(interp, MapType.HASH, 4, 8, 8, name="h")
    for k in (5, 6):
        h.update(k, (k * 100).to_bytes(8, "little"))
    assert run(FOR_EACH.format(flags=0, stop=-1), maps={"m": h}, interp=interp) == 1100 << 32 | 2


LOOP = """
    *(u64 *)(r10 - 8) = 0
    r1 = {n}
    r2 = func body
    r3 = r10
    r3 += -8
    r4 = {flags}
    call bpf_loop
    r1 = *(u64 *)(r10 - 8)
    r1 <<= 32
    r0 |= r1
    exit
body:
    r3 = *(u64 *)(r2 + 0)
    r3 += r1
    *(u64 *)(r2 + 0) = r3
    r0 = 0
    if r1 != {stop} goto +1
    r0 = 1
    exit
"""


def test_loop_runs_the_callback_and_stops_early() -> None:
    assert run(LOOP.format(n=5, flags=0, stop=-1)) == (0 + 1 + 2 + 3 + 4) << 32 | 5
    assert run(LOOP.format(n=5, flags=0, stop=2)) == 3 << 32 | 3
    assert run(LOOP.format(n=0, flags=0, stop=-1)) == 0
    assert run(LOOP.format(n=5, flags=1, stop=-1)) == -errno.EINVAL
    assert run(LOOP.format(n=8 * 1024 * 1024 + 1, flags=0, stop=-1)) == -errno.E2BIG


def test_loop_callback_gets_its_own_frame() -> None:
    # the caller's stack survives the callbacks, which use the next frame's stack
    text = """
    *(u64 *)(r10 - 8) = 42
    r1 = 3
    r2 = func body
    r3 = 0
    r4 = 0
    call bpf_loop
    r0 = *(u64 *)(r10 - 8)
    exit
body:
    *(u64 *)(r10 - 8) = 7
    r0 = 0
    exit
"""
    assert run(text) == 42
