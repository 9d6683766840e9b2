"""Maps: BTF-defined (.maps), legacy (maps), global data sections, map-in-map and prog arrays."""

from __future__ import annotations

import struct

from elf_testdata import at, load

from pybpf.btf import BtfKind, DataSec, Struct
from pybpf.elf import internal_map_name, kernel_map_name
from pybpf.isa import OP_LDDW, PseudoSrc
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapReference

BPF_F_NO_PREALLOC = 1
BPF_F_RDONLY_PROG = 0x80
BPF_F_MMAPABLE = 0x400


def test_btf_maps() -> None:
    coll = load("xdp_maps")
    counters = coll.maps["counters"]
    assert counters.map_type == MapType.HASH
    assert (counters.key_size, counters.value_size, counters.max_entries) == (4, 16, 1024)
    assert counters.flags == BPF_F_NO_PREALLOC
    assert counters.section == ".maps"
    btf = coll.btf
    assert btf is not None
    assert btf.name_of(counters.key_type) == "__u32"
    value = btf[counters.value_type]
    assert isinstance(value, Struct) and value.name == "value"
    stats = coll.maps["stats"]
    assert stats.map_type == MapType.ARRAY
    assert (stats.key_size, stats.value_size, stats.max_entries) == (4, 8, 4)
    assert stats.pinning == 1  # LIBBPF_PIN_BY_NAME
    assert (stats.key_type, stats.value_type) == (0, 0)  # sizes given, not types


def test_global_data_maps() -> None:
    coll = load("xdp_maps")
    data = coll.maps["xdp_maps.data"]
    assert data.map_type == MapType.ARRAY and data.key_size == 4 and data.max_entries == 1
    assert data.data == struct.pack("<iiQ", 7, 0, 99)  # data_var (int, padded), second_data
    assert data.value_size == len(data.data) == 16
    assert not data.read_only and data.flags == BPF_F_MMAPABLE
    rodata = coll.maps["xdp_maps.rodata"]
    assert rodata.data == struct.pack("<I", 0x1234)
    assert rodata.read_only and rodata.flags == BPF_F_RDONLY_PROG | BPF_F_MMAPABLE
    bss = coll.maps["xdp_maps.bss"]
    assert bss.data == bytes(8) and bss.section == ".bss"
    custom = coll.maps[".data.x"]  # custom sections keep their section name
    assert custom.data == struct.pack("<I", 42) and custom.section == ".data.x"
    btf = coll.btf
    assert btf is not None
    for spec in (data, rodata, bss, custom):
        datasec = btf[spec.value_type]
        assert isinstance(datasec, DataSec) and datasec.name == spec.section
    assert list(coll.maps) == [
        "counters",
        "stats",
        "xdp_maps.data",
        "xdp_maps.rodata",
        ".data.x",
        "xdp_maps.bss",
    ]


def test_map_references_and_lddw_encoding() -> None:
    prog = load("xdp_maps").programs["xdp_count"]
    refs = {r.pc: r for r in prog.map_references}
    assert refs[5] == MapReference(5, "counters")
    assert refs[24] == MapReference(24, "stats")
    assert refs[28] == MapReference(28, "xdp_maps.rodata", True, 0)
    assert refs[34] == MapReference(34, "xdp_maps.data", True, 8)  # second_data at offset 8
    assert refs[39] == MapReference(39, "xdp_maps.data", True, 0)
    assert refs[42] == MapReference(42, ".data.x", True, 0)
    assert refs[48] == MapReference(48, "xdp_maps.bss", True, 0)
    for ref in prog.map_references:
        insn = at(prog, ref.pc)
        assert insn.code == OP_LDDW and insn.imm == 0
        if ref.value:
            assert insn.src == PseudoSrc.MAP_VALUE and insn.next_imm == ref.offset
        else:
            assert insn.src == PseudoSrc.MAP_FD and insn.next_imm == 0


def test_mcpu_v3_object_loads_the_same_maps() -> None:
    assert load("xdp_maps.v3").maps == load("xdp_maps").maps


def test_legacy_maps() -> None:
    coll = load("legacy_socket")
    assert coll.btf is None
    counts, hashed = coll.maps["sock_counts"], coll.maps["sock_hash"]
    assert (counts.map_type, counts.key_size, counts.value_size, counts.max_entries) == (
        MapType.ARRAY,
        4,
        8,
        256,
    )
    assert (
        hashed.map_type,
        hashed.key_size,
        hashed.value_size,
        hashed.max_entries,
        hashed.flags,
    ) == (MapType.HASH, 4, 4, 64, BPF_F_NO_PREALLOC)
    assert counts.section == "maps"
    prog = coll.programs["sock_filter"]
    assert [(r.pc, r.map_name, r.value) for r in prog.map_references] == [
        (6, "sock_counts", False),
        (18, "sock_hash", False),
    ]
    assert at(prog, 6).src == PseudoSrc.MAP_FD
    assert coll.kern_version == 0x060C00 == prog.kern_version
    assert prog.func_info == () and prog.line_info == ()


def test_legacy_inner_map_idx_and_numa_node() -> None:
    coll = load("legacy_inner")
    outer = coll.maps["outer"]
    assert outer.map_type == MapType.ARRAY_OF_MAPS and outer.numa_node == 1 and outer.flags == 4
    assert outer.inner_map is not None
    assert outer.inner_map.name == "outer.inner"
    assert (outer.inner_map.map_type, outer.inner_map.value_size) == (MapType.ARRAY, 8)


def test_map_in_map_and_prog_array_values() -> None:
    coll = load("prog_array")
    outer = coll.maps["outer_map"]
    assert outer.map_type == MapType.ARRAY_OF_MAPS and outer.value_size == 4
    assert outer.inner_map is not None and outer.inner_map.name == "outer_map.inner"
    assert (outer.inner_map.key_size, outer.inner_map.value_size) == (4, 4)
    assert outer.content_refs == ((0, "inner_a"), (3, "inner_b"))
    jmp = coll.maps["jmp_table"]
    assert jmp.map_type == MapType.PROG_ARRAY and (jmp.key_size, jmp.value_size) == (4, 4)
    assert jmp.content_refs == ((0, "tail0"), (2, "tail2"))
    assert set(coll.programs) == {"tail0", "tail2", "entry"}
    assert [(r.pc, r.map_name) for r in coll.programs["entry"].map_references] == [
        (5, "outer_map"),
        (16, "jmp_table"),
    ]


def test_internal_map_names_follow_libbpf() -> None:
    assert internal_map_name("xdp_maps", ".rodata") == "xdp_maps.rodata"
    assert internal_map_name("my_object_name", ".rodata") == "my_objec.rodata"
    assert internal_map_name("my_object_name", ".bss") == "my_objec.bss"
    assert internal_map_name("my_object_name", ".kconfig") == "my_obje.kconfig"
    assert internal_map_name("obj", ".rodata.abracadabra") == ".rodata.abracad"
    assert internal_map_name("a-b", ".data") == "a_b.data"
    assert kernel_map_name(".data.a_very_long_name") == ".data.a_very_lo"


def test_data_map_name_uses_object_name_option() -> None:
    from elf_testdata import path

    from pybpf.elf import load_collection

    coll = load_collection(path("xdp_maps").read_bytes(), name="another_object")
    assert "another_.rodata" in coll.maps and ".data.x" in coll.maps
    coll = load_collection(path("xdp_maps").read_bytes())
    assert ".rodata" in coll.maps and ".bss" in coll.maps


def test_btf_datasec_for_maps_exists() -> None:
    btf = load("prog_array").btf
    assert btf is not None and btf.find(".maps", BtfKind.DATASEC) is not None


def test_references_match_llvm_objdump_relocations() -> None:
    from elf_testdata import objdump_relocations

    globals_in = {
        "data_var": "xdp_maps.data",
        "second_data": "xdp_maps.data",
        "rodata_var": "xdp_maps.rodata",
        "custom_var": ".data.x",
        "bss_var": "xdp_maps.bss",
        "counters": "counters",
        "stats": "stats",
    }
    for name in ("xdp_maps", "xdp_maps.v3"):
        relocs = objdump_relocations(name)["xdp_count"]
        refs = {r.pc: r.map_name for r in load(name).programs["xdp_count"].map_references}
        assert {pc: globals_in[sym] for pc, sym in relocs.items()} == refs
