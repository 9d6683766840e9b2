"""The address layout of Memory: every region starts REGION_START bytes into its 4 GiB window,
so no in-bounds address has zero low 32 bits; walking off a region faults."""

from __future__ import annotations

import struct

import pytest

from pybpf.errors import ExecutionFault
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.execstate import MAX_BPF_STACK, ExecState
from pybpf.runtime.maps import create_map
from pybpf.runtime.memory import (
    FIRST_REGION_ID,
    REGION_START,
    WINDOW_MASK,
    Memory,
    RegionKind,
    region_base,
    split_address,
)


def low32(addr: int) -> int:
    return addr & WINDOW_MASK


def test_regions_start_one_page_into_their_window() -> None:
    memory = Memory()
    region = memory.map(bytearray(16), RegionKind.MEM)
    assert region.base == region_base(FIRST_REGION_ID) == 0xFFFF888000001000
    assert split_address(region.base) == (FIRST_REGION_ID, 0)
    assert split_address(region.base + 15) == (FIRST_REGION_ID, 15)
    assert memory.region_at(region.base + 15) is region
    user = memory.map_user(b"abc")
    assert user.base == 0x0000555500001000


def test_addresses_are_deterministic() -> None:
    def bases() -> list[int]:
        memory = Memory()
        return [memory.map(bytearray(8), kind).base for kind in RegionKind]

    assert bases() == bases()


@pytest.mark.parametrize("kind", list(RegionKind))
def test_no_in_bounds_address_has_zero_low_32_bits(kind: RegionKind) -> None:
    memory = Memory()
    region = memory.map(bytearray(4096), kind)
    assert all(low32(region.base + off) for off in (0, 1, 4095))


def test_stacks_and_map_values_have_non_zero_low_32_bits() -> None:
    state = ExecState(Memory())
    for fp in state.frame_pointers:
        assert low32(fp) and low32(fp - MAX_BPF_STACK)
    for map_type in (MapType.ARRAY, MapType.HASH, MapType.PERCPU_ARRAY):
        m = create_map(MapSpec("m", map_type, 4, 8, 4), state.memory, ncpus=2)
        assert low32(m.address)
        m.update(struct.pack("<I", 0), bytes(8))
        value = m.lookup_elem(struct.pack("<I", 0))
        assert value and low32(value)


def test_the_window_below_a_region_is_unmapped() -> None:
    memory = Memory()
    region = memory.map(bytearray(8), RegionKind.MEM, "buf")
    memory.store(region.base, 8, 0x1122334455667788)
    assert memory.load(region.base, 8) == 0x1122334455667788
    for addr in (region.base - 1, region.base - REGION_START, region.base - 8):
        with pytest.raises(ExecutionFault, match=r"offset -\d+ is outside mem region 'buf'"):
            memory.load(addr, 1)
    with pytest.raises(ExecutionFault, match="offset 8 is outside mem region 'buf'"):
        memory.load(region.base + 8, 1)
    with pytest.raises(ExecutionFault, match="null pointer"):
        memory.load(0, 1)


def test_a_reused_id_gets_the_same_base() -> None:
    memory = Memory()
    first = memory.map(bytearray(8), RegionKind.MEM)
    memory.unmap(first)
    again = memory.map(bytearray(8), RegionKind.MEM)
    assert again.base == first.base
