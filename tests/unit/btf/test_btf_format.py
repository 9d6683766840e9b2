"""Pretty-printing values by BTF type, checked against the C initialisers of values.c."""

from __future__ import annotations

import json
import struct

import pytest
from btf_testdata import DATA, load, section
from elftools.elf.elffile import ELFFile

from pybpf.btf import Btf, BtfKind
from pybpf.errors import BTFError


@pytest.fixture(scope="module")
def btf() -> Btf:
    return load("values")[0]


def _symbol(name: str) -> tuple[int, int]:
    with open(DATA / "values.o", "rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)[0]
        return sym["st_value"], sym["st_size"]


@pytest.fixture(scope="module")
def rec_bytes() -> bytes:
    off, size = _symbol("rec")
    return section("values", ".data")[off : off + size]


def test_to_python_matches_initialiser(btf: Btf, rec_bytes: bytes) -> None:
    v = btf.to_python(btf.find("record", BtfKind.STRUCT), rec_bytes)
    assert isinstance(v, dict)
    assert v["id"] == 0xDEADBEEF
    assert v["name"] == "eth0"
    assert v["raw"] == [1, 2, 3, 4]  # not NUL-terminated: not a string
    # unsigned char and the __u8 typedef are numbers, as bpftool's is_str_array() decides
    assert v["tag"] == [97, 98, 0] and v["bytes"] == [97, 98, 0]
    assert v["pts"] == [{"x": -1, "y": 2}, {"x": 300, "y": -400}]
    assert v["proto"] == "PROTO_UDP" and v["w"] == "WIDE_A"
    assert v["b"] == {"low": 9, "neg": -7, "flag": 1, "p": "PROTO_TCP",
                      "wide": 0xABCDEF123, "tail": 0x5A}
    # anonymous union and struct members merge into the parent
    assert v["as_u32"] == 0x00020001 and v["as_u16"] == [1, 2]
    assert v["big"] == -5 and v["ratio"] == 0.5
    assert v["ptr"] == 0 and v["ok"] is True
    assert v["letter"] == ord("Z") and v["sc"] == -2
    assert v["u128"] == (1 << 100) | 7
    assert v["f"] == -1.25
    json.dumps(v)  # JSON-able


def test_format_value_text(btf: Btf, rec_bytes: bytes) -> None:
    text = btf.format_value(btf.find("record", BtfKind.STRUCT), rec_bytes)
    assert text.startswith("{.id = 3735928559, .name = \"eth0\", .raw = [1, 2, 3, 4], ")
    assert ".pts = [{.x = -1, .y = 2}, {.x = 300, .y = -400}]" in text
    assert ".proto = PROTO_UDP, .w = WIDE_A" in text
    assert ".b = {.low = 9, .neg = -7, .flag = 1, .p = PROTO_TCP, .wide = 46118400291, " \
           ".tail = 90}" in text
    assert "{.as_u32 = 131073, .as_u16 = [1, 2]}" in text  # anonymous union, no name
    assert ".ptr = 0x0, .ok = true" in text
    assert ".u128 = 0x10000000000000000000000007" in text
    assert text.endswith(".f = -1.25}")


def test_scalars(btf: Btf) -> None:
    int_id = btf.find("int", BtfKind.INT)
    assert btf.format_value(int_id, struct.pack("<i", -42)) == "-42"
    assert btf.to_python(int_id, struct.pack("<i", -42)) == -42
    uint = btf.find("unsigned int", BtfKind.INT)
    assert btf.to_python(uint, b"\xff\xff\xff\xff") == 0xFFFFFFFF
    proto = btf.find("proto", BtfKind.ENUM)
    assert btf.format_value(proto, struct.pack("<i", -1)) == "PROTO_NEG"
    assert btf.format_value(proto, struct.pack("<i", 99)) == "99"
    off, _ = _symbol("other")
    other = section("values", ".data")[off : off + 4]
    assert btf.to_python(int_id, other) == -42


def test_bitfield_bits_in_place(btf: Btf) -> None:
    """Every bitfield read back from a buffer we pack ourselves."""
    bits = btf.find("bits", BtfKind.STRUCT)
    word = 0
    word |= 5 << 0  # low:4
    word |= (-3 & 0x1F) << 4  # neg:5 (signed)
    word |= 0 << 9  # flag:1
    word |= 17 << 10  # p:8 = PROTO_UDP
    word |= 0x876543210 << 18  # wide:36
    word |= 0xA5 << 56  # tail
    v = btf.to_python(bits, word.to_bytes(8, "little"))
    assert v == {"low": 5, "neg": -3, "flag": 0, "p": "PROTO_UDP", "wide": 0x876543210,
                 "tail": 0xA5}


def test_datasec_uses_var_offsets(btf: Btf) -> None:
    """clang leaves DATASEC offsets 0; a fixed-up DATASEC formats each var at its offset."""
    from dataclasses import replace

    from pybpf.btf.write import encode

    data = section("values", ".data")
    ds_id = btf.find(".data", BtfKind.DATASEC)
    ds = btf[ds_id]
    fixed = replace(ds, size=len(data), vars=tuple(
        replace(v, offset=_symbol(btf.name_of(v.type))[0]) for v in ds.vars))
    types = list(btf.types)
    types[ds_id] = fixed
    fixed_btf = Btf.from_bytes(encode(types[1:]))
    got = fixed_btf.to_python(ds_id, data)
    assert got["other"] == -42 and got["rec"]["name"] == "eth0"


def test_short_data_is_an_error(btf: Btf) -> None:
    rec = btf.find("record", BtfKind.STRUCT)
    with pytest.raises(BTFError, match="is 128 bytes, got 3"):
        btf.format_value(rec, b"abc")
    func = btf.find("prog", BtfKind.FUNC)
    with pytest.raises(BTFError):
        btf.to_python(func, b"\0" * 16)


def test_fixup_datasecs_from_elf_symbols(btf: Btf) -> None:
    """libbpf's btf_fixup_datasec(): sizes and offsets from the ELF, then .data formats."""
    from pybpf.btf import DataSec
    from pybpf.btf.fixup import VarSymbol, fixup_datasecs

    with open(DATA / "values.o", "rb") as f:
        elf = ELFFile(f)
        sizes = {s.name: s["sh_size"] for s in elf.iter_sections()}
        symbols = {
            s.name: VarSymbol(s["st_value"], s["st_other"]["visibility"] in
                              ("STV_HIDDEN", "STV_INTERNAL"))
            for s in elf.get_section_by_name(".symtab").iter_symbols()
            if s["st_info"]["type"] == "STT_OBJECT"
        }
    fixed = fixup_datasecs(btf, sizes, symbols)
    ds = fixed[fixed.find(".data", BtfKind.DATASEC)]
    assert isinstance(ds, DataSec) and ds.size == sizes[".data"]
    got_vars = [(fixed.name_of(v.type), v.offset) for v in ds.vars]
    assert got_vars == sorted(((n, symbols[n].offset) for n in ("rec", "other", "kv")),
                              key=lambda nv: nv[1])
    got = fixed.to_python(ds.id, section("values", ".data"))
    assert got["other"] == -42 and got["rec"]["id"] == 0xDEADBEEF
    assert fixup_datasecs(fixed, sizes, symbols) is fixed  # idempotent
    with pytest.raises(BTFError, match="failed to find ELF symbol for VAR 'rec'"):
        fixup_datasecs(btf, sizes, {})
    with pytest.raises(BTFError, match="sec '.data': failed to determine its size"):
        fixup_datasecs(btf, {}, symbols)
