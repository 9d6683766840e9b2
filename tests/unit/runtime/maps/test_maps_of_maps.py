"""Array and hash of maps: inner map objects, map pointers for programs, kernel comparisons."""

from __future__ import annotations

import ctypes
import errno
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from maps_kernel_support import NCPUS, kernel_create, needs_kernel

from pybpf.errors import KernelError, PybpfError
from pybpf.kernel.sys import map_info
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_NOEXIST,
    create_map,
    create_maps,
    resolve_map,
)
from pybpf.runtime.maps.flags import MapFlag as F
from pybpf.runtime.memory import Memory

u32 = struct.Struct("<I").pack
INNER = MapSpec("inner", T.ARRAY, 4, 8, 4)


def test_program_lookup_returns_inner_map_pointer() -> None:
    mem = Memory()
    outer = create_map(MapSpec("outer", T.ARRAY_OF_MAPS, 4, 4, 2, inner_map=INNER), mem)
    inner = create_map(INNER, mem)
    inner[1] = 42
    outer[0] = inner
    ptr = outer.lookup_elem(u32(0))
    assert ptr == inner.address and outer.lookup_elem(u32(1)) == 0
    found = resolve_map(mem, ptr)
    assert found is inner
    assert mem.load(found.lookup_elem(u32(1)), 8) == 42
    # the map pointer reads like struct bpf_map (map_type, key_size, value_size, max_entries)
    assert [mem.load(ptr + off, 4) for off in (64, 68, 72, 76)] == [T.ARRAY, 4, 8, 4]
    assert resolve_map(mem, ptr + 8) is None and resolve_map(mem, 0) is None
    assert outer[0] is inner and outer.keys() == [u32(0)]


def test_inner_map_must_match_template() -> None:
    mem = Memory()
    outer = create_map(MapSpec("outer", T.ARRAY_OF_MAPS, 4, 4, 2, inner_map=INNER), mem)
    for bad in (MapSpec("b", T.ARRAY, 4, 4, 4), MapSpec("b", T.ARRAY, 4, 8, 5),
                MapSpec("b", T.HASH, 4, 8, 4), MapSpec("b", T.ARRAY, 4, 8, 4, F.RDONLY_PROG)):
        with pytest.raises(KernelError) as info:
            outer[0] = create_map(bad, mem)
        assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError) as info:
        outer[0] = create_map(INNER, Memory())
    assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError) as info:
        outer[0] = 5
    assert info.value.errno == errno.EBADF
    # BPF_F_INNER_MAP templates accept any max_entries
    loose = create_map(MapSpec("o", T.ARRAY_OF_MAPS, 4, 4, 2,
                               inner_map=MapSpec("i", T.ARRAY, 4, 8, 4, F.INNER_MAP)), mem)
    loose[0] = create_map(MapSpec("b", T.ARRAY, 4, 8, 99, F.INNER_MAP), mem)


def test_array_of_maps_errnos() -> None:
    mem = Memory()
    outer = create_map(MapSpec("outer", T.ARRAY_OF_MAPS, 4, 4, 2, inner_map=INNER), mem)
    inner = create_map(INNER, mem)
    with pytest.raises(KernelError) as info:
        outer.update(0, inner, BPF_NOEXIST)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError) as info:
        outer[2] = inner
    assert info.value.errno == errno.E2BIG
    assert outer.delete_elem(u32(0)) == -errno.ENOENT
    assert outer.delete_elem(u32(5)) == -errno.E2BIG


def test_hash_of_maps() -> None:
    mem = Memory()
    outer = create_map(MapSpec("outer", T.HASH_OF_MAPS, 4, 4, 1, inner_map=INNER), mem)
    a, b = create_map(INNER, mem), create_map(INNER, mem)
    outer[7] = a
    assert outer.lookup_elem(u32(7)) == a.address
    with pytest.raises(KernelError) as info:
        outer[8] = b
    assert info.value.errno == errno.E2BIG
    outer.update(7, b, BPF_EXIST)
    assert outer[7] is b
    with pytest.raises(KernelError) as info:
        outer.update(9, b, BPF_EXIST)
    assert info.value.errno == errno.ENOENT


def test_create_maps_resolves_content_refs() -> None:
    specs = {
        "inner_a": INNER,
        "outer": MapSpec("outer", T.ARRAY_OF_MAPS, 4, 4, 2, inner_map=INNER,
                         content_refs=((1, "inner_a"),)),
    }
    maps = create_maps(specs, Memory(), ncpus=2)
    assert maps["outer"][1] is maps["inner_a"]


# -- differential ---------------------------------------------------------------------------------
@needs_kernel
@pytest.mark.kernel
@pytest.mark.parametrize("t", [T.ARRAY_OF_MAPS, T.HASH_OF_MAPS])
@pytest.mark.parametrize("seed", range(3))
def test_differential_maps_of_maps(t: int, seed: int) -> None:
    rng = random.Random(seed)
    inner_specs = [INNER, INNER, MapSpec("big", T.ARRAY, 4, 8, 5), MapSpec("h", T.HASH, 4, 8, 4)]
    mem = Memory()
    kernel_inner = [kernel_create(s)[1] for s in inner_specs]
    ids = {map_info(k.fd).id: i for i, k in enumerate(kernel_inner)}  # type: ignore[union-attr]
    our_inner = [create_map(s, mem, ncpus=NCPUS) for s in inner_specs]
    spec = MapSpec("outer", t, 4, 4, 3, F.ZERO_SEED if t == T.HASH_OF_MAPS else 0,
                   inner_map=INNER)
    _, theirs = kernel_create(spec)
    ours = create_map(spec, mem, ncpus=NCPUS)
    assert theirs is not None
    try:
        for step in range(150):
            key = u32(rng.choice([0, 1, 2, 3, 9]))
            kind = rng.choices(["update", "lookup", "delete", "next"], [4, 2, 2, 1])[0]
            if kind == "update":
                i = rng.randrange(len(inner_specs))
                flags = rng.choice([BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3])
                fd = kernel_inner[i].fd.fileno()  # type: ignore[union-attr]
                want = theirs.update(key, u32(fd), flags)
                try:
                    ours.update(key, our_inner[i], flags)
                    got = 0
                except KernelError as exc:
                    got = -exc.errno
            elif kind == "lookup":
                raw = theirs.lookup(key)
                want = raw if isinstance(raw, int) else ids[int.from_bytes(raw, "little")]
                found = ours.lookup(key)
                got = -errno.ENOENT if found is None else our_inner.index(found)
            elif kind == "delete":
                want = theirs.delete(key)
                got = ours.delete_elem(key)
            else:
                arg = rng.choice([None, key])
                raw_next = theirs.next_key(arg)
                want = raw_next
                got = ours.get_next_key(arg)
                got = -errno.ENOENT if got is None else got
            assert got == want, (step, kind, key.hex())
    finally:
        theirs.close()
        for k in kernel_inner:
            k.close()  # type: ignore[union-attr]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12), st.integers(1, 8),
       st.lists(st.tuples(st.booleans(), st.integers(0, 11), st.integers(0, 2)), max_size=40))
def test_native_slots_follow_the_contents(key_size: int, max_entries: int,
                                          ops: list[tuple[bool, int, int]]) -> None:
    """What native lookups read of a map of maps (an inner map address per slot; a hash's
    slots sorted by key) after random updates and deletes is the map's contents, and the
    native lookup of every key is the Python one."""
    from pybpf.native.library import library

    memory = Memory()
    template = MapSpec("inner", T.ARRAY, 4, 4, 2)
    inners = [create_map(template, memory, ncpus=1) for _ in range(3)]
    lookup = library().fn["pb_map_lookup"]
    for outer_type in (T.ARRAY_OF_MAPS, T.HASH_OF_MAPS):
        size = 4 if outer_type == T.ARRAY_OF_MAPS else key_size
        outer = create_map(MapSpec("outer", outer_type, size, 4, max_entries,
                                   inner_map=template), memory, ncpus=1)
        keys = [bytes([k]) * size if size != 4 else struct.pack("<I", k) for k in range(12)]
        for update, k, which in ops:
            try:
                if update:
                    outer.update(keys[k], inners[which])
                else:
                    outer.delete(keys[k])
            except PybpfError:
                pass
            for key in keys:
                native = lookup(ctypes.addressof(outer.native), key, 0)
                assert native == outer.lookup_elem(key), (outer_type, key)
