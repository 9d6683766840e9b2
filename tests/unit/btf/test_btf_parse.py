"""Malformed BTF named precisely; both byte orders; loops bounded; the encoder round-trips."""

from __future__ import annotations

import struct

import pytest
from btf_testdata import section

from pybpf.btf import (
    Btf,
    BtfKind,
    Const,
    Int,
    IntEncoding,
    Member,
    Ptr,
    Struct,
    Typedef,
)
from pybpf.btf.write import encode, from_types
from pybpf.errors import BTFError

INT = Int(1, "int", 4, IntEncoding.SIGNED, 32)


def blob(types_words: list[int], strings: bytes = b"\0int\0foo\0") -> bytes:
    types = struct.pack(f"<{len(types_words)}I", *types_words)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + types + strings


INT_WORDS = [1, (1 << 24), 4, (1 << 24) | 32]  # int, signed, 32 bits


def test_missing_member_type_names_type_and_member() -> None:
    words = INT_WORDS + [5, (4 << 24) | 2, 8, 0, 1, 0, 0, 900, 32]  # struct foo {?; ?}
    with pytest.raises(BTFError, match=r"^BTF type 2 \(struct foo\): member 1 refers to "
                                       r"missing type 900$"):
        Btf.from_bytes(blob(words))


@pytest.mark.parametrize("words,match", [
    (INT_WORDS + [0, (2 << 24) | 1, 1], r"BTF type 2 \(ptr\): vlen 1 must be 0"),
    (INT_WORDS + [0, (20 << 24), 0], r"BTF type 2: unknown kind 20"),
    (INT_WORDS + [0, 0, 0], r"BTF type 2: unknown kind 0"),
    ([1, (1 << 24), 3, 32], r"BTF type 1 \(int int\): invalid int size 3"),
    ([1, (1 << 24), 4, 33], r"BTF type 1 \(int int\): 33 bits at bit offset 0 do not fit"),
    ([1, (1 << 24), 4, (8 << 24) | 32], r"unsupported int encoding 0x8"),
    ([99, (2 << 24), 0], r"BTF type 1 \(ptr\): name offset 99 is outside the string section"),
    (INT_WORDS + [5, (4 << 24) | 3, 8, 0, 1],
     r"BTF type 2 \(struct foo\): type section ends inside its 3 trailing record"),
    (INT_WORDS + [0, (2 << 24) | (1 << 20), 1], r"unused bits of info"),
    (INT_WORDS + [5, (6 << 24) | 1, 3, 1, 0], r"BTF type 2 \(enum foo\): invalid enum size 3"),
    (INT_WORDS + [5, (12 << 24) | 3, 1], r"BTF type 2 \(func foo\): unknown linkage 3"),
    (INT_WORDS + [0, 1 << 24], r"BTF type 2: truncated type record"),
])
def test_malformed_types(words: list[int], match: str) -> None:
    with pytest.raises(BTFError, match=match):
        Btf.from_bytes(blob(words))


def test_string_section_rules() -> None:
    with pytest.raises(BTFError, match="not NUL-terminated"):
        Btf.from_bytes(blob(INT_WORDS, b"\0int"))
    with pytest.raises(BTFError, match="does not start with an empty string"):
        Btf.from_bytes(blob(INT_WORDS, b"xint\0"))
    bad_utf8 = Btf.from_bytes(blob(INT_WORDS, b"\0\xff\xfe\0"))
    with pytest.raises(BTFError, match=r"BTF type 1 \(int\): name .*not valid UTF-8"):
        bad_utf8[1]


def test_header_section_bounds() -> None:
    good = blob(INT_WORDS)
    hdr = bytearray(good)
    struct.pack_into("<I", hdr, 12, 1000)  # type_len past the end
    with pytest.raises(BTFError, match="type section .* is past the end"):
        Btf.from_bytes(bytes(hdr))
    hdr = bytearray(good)
    struct.pack_into("<I", hdr, 16, 4)  # str_off overlaps types
    with pytest.raises(BTFError, match="overlap"):
        Btf.from_bytes(bytes(hdr))


def test_big_endian_blob() -> None:
    """A byte-swapped copy of a clang object's BTF decodes to the same types."""
    little = section("types", ".BTF")
    hdr = struct.unpack_from("<HBBIIIII", little)
    type_len, str_len = hdr[5], hdr[7]
    words = struct.unpack_from(f"<{type_len // 4}I", little, 24)
    big = (struct.pack(">HBBIIIII", *hdr) + struct.pack(f">{len(words)}I", *words)
           + little[24 + type_len : 24 + type_len + str_len])
    assert Btf.from_bytes(big).types == Btf.from_bytes(little).types
    assert Btf.from_bytes(big).header.byte_order == "big"


def test_loops_are_bounded() -> None:
    loop = from_types([INT, Typedef(2, "a", 3), Typedef(3, "b", 2),
                       Ptr(4, "", 4), Struct(5, "self", 4, (Member("me", 5, 0),))])
    with pytest.raises(BTFError, match="too long or loops"):
        loop.resolve(2)
    with pytest.raises(BTFError):
        loop.size_of(2)
    with pytest.raises(BTFError, match="too deep"):
        loop.type_str(4)
    with pytest.raises(BTFError, match="too deep"):
        loop.format_value(5, b"\0" * 4)
    assert loop.size_of(4) == 8  # a pointer to itself has a size


def test_encode_round_trip_and_deterministic() -> None:
    btf = Btf.from_bytes(section("types", ".BTF"))
    again = Btf.from_bytes(encode(btf.types[1:]))
    assert again.types == btf.types
    assert encode(again.types[1:]) == encode(btf.types[1:])


def test_encode_split_btf() -> None:
    base = from_types([INT])
    split = from_types([Const(2, "", 1), Ptr(3, "", 2), Typedef(4, "cint_p", 3)], base=base)
    assert split.start_id == 2 and split.type_str(4) == "cint_p"
    assert split.type_str(3) == "const int *"
    assert split.find("int", BtfKind.INT) == 1 and split.find("cint_p") == 4
