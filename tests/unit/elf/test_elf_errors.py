"""Objects the loader refuses: every refusal is an ELFLoadError that says where and why."""

from __future__ import annotations

import struct

import pytest
from elf_testdata import path
from elftools.elf.elffile import ELFFile

from pybpf.elf import ELFObject, load_collection
from pybpf.errors import ELFLoadError


def raw(name: str) -> bytearray:
    return bytearray(path(name).read_bytes())


def section_header_offset(data: bytes, name: str) -> int:
    import io

    elf = ELFFile(io.BytesIO(bytes(data)))
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name == name:
            return elf.header["e_shoff"] + i * elf.header["e_shentsize"]
    raise AssertionError(name)


def refused(data: bytes | bytearray, match: str) -> ELFLoadError:
    with pytest.raises(ELFLoadError, match=match) as info:
        load_collection(bytes(data), host_config=False)
    return info.value


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_section", r"section 'frobnicate/now': program 'unknown_kind': unknown program type"),
        ("bad_map_field", r"section '\.maps': map 'weird': unknown field 'frobnication'"),
        ("bad_key", r"map 'huge': key size 1024 is larger than MAX_BPF_STACK \(512\)"),
        ("bad_static", r"section 'xdp': program 'hidden_prog': program is static"),
        ("bad_legacy", r"section 'maps': map 'odd': definition has unrecognized, non-zero"),
    ],
)
def test_refused_objects(name: str, message: str) -> None:
    with pytest.raises(ELFLoadError, match=message):
        load_collection(path(name), host_config=False)


def test_relocation_error_names_section_relocation_and_symbol() -> None:
    with pytest.raises(ELFLoadError) as info:
        load_collection(path("bad_reloc"), host_config=False)
    assert str(info.value).startswith(
        "section 'xdp': relocation 0 at offset 0x0: symbol 'stray' is not a map"
    )


def test_unknown_section_can_be_allowed() -> None:
    coll = load_collection(path("bad_section"), allow_unknown=True, host_config=False)
    prog = coll.programs["unknown_kind"]
    assert prog.prog_type is None and prog.expected_attach_type is None
    assert prog.section == "frobnicate/now"


def test_not_elf() -> None:
    refused(b"hello, world" * 10, "not an ELF object")
    refused(b"", "not an ELF object")


def test_truncated_header() -> None:
    refused(raw("xdp_maps")[:40], "truncated ELF header")


def test_truncated_file() -> None:
    refused(raw("xdp_maps")[:2000], "past the end of the file")


def test_wrong_class_endianness_machine() -> None:
    data = raw("xdp_maps")
    data[4] = 1  # ELFCLASS32
    refused(data, "not a 64-bit ELF object")
    data = raw("xdp_maps")
    data[5] = 2  # ELFDATA2MSB
    refused(data, "big-endian")
    data = raw("xdp_maps")
    struct.pack_into("<H", data, 18, 62)  # EM_X86_64
    refused(data, r"not a valid eBPF object file .*e_machine 62")
    data = raw("xdp_maps")
    struct.pack_into("<H", data, 16, 2)  # ET_EXEC
    refused(data, "not a valid eBPF object file")


def test_em_none_is_accepted_like_old_llvm() -> None:
    data = raw("tracing")
    struct.pack_into("<H", data, 18, 0)
    assert load_collection(bytes(data), host_config=False).programs


def test_section_data_out_of_file() -> None:
    data = raw("xdp_maps")
    hdr = section_header_offset(data, ".maps")
    struct.pack_into("<Q", data, hdr + 24, len(data) + 64)  # sh_offset
    refused(data, r"section '\.maps': offset .* is past the end of the file")


def test_misaligned_relocation() -> None:
    data = raw("xdp_maps")
    sec = ELFObject.from_bytes(bytes(data)).section_by_name(".relxdp")
    assert sec is not None
    struct.pack_into("<Q", data, sec.offset, 0x2B)  # r_offset of relocation 0
    refused(data, r"section 'xdp': relocation 0 at offset 0x2b: invalid offset")


def test_relocation_against_wrong_instruction() -> None:
    data = raw("xdp_maps")
    sec = ELFObject.from_bytes(bytes(data)).section_by_name(".relxdp")
    assert sec is not None
    struct.pack_into("<Q", data, sec.offset, 0x0)  # points at `r6 = r1`
    refused(
        data,
        r"relocation 0 at offset 0x0: symbol 'counters': relocation of instruction "
        r"xdp_count\+0 \(code 0xbf\)",
    )


def test_stripped_object() -> None:
    data = raw("tracing")
    hdr = section_header_offset(data, ".symtab")
    struct.pack_into("<I", data, hdr + 4, 1)  # SHT_SYMTAB -> SHT_PROGBITS
    refused(data, "no symbol table")


def test_version_section_size() -> None:
    data = raw("legacy_socket")
    hdr = section_header_offset(data, "version")
    struct.pack_into("<Q", data, hdr + 32, 3)  # sh_size
    refused(data, r"section 'version': invalid kernel version section \(3 bytes")


def test_missing_file() -> None:
    with pytest.raises(ELFLoadError, match="cannot read"):
        load_collection(path("does_not_exist"))
