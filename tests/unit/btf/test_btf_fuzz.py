"""Malformed BTF and .BTF.ext: mutated and truncated real blobs raise only BTFError."""

from __future__ import annotations

import struct

import pytest
from btf_testdata import section
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.btf import Btf, BtfExt
from pybpf.btf.core import apply_core_relocations
from pybpf.errors import BTFError
from pybpf.isa import decode

BLOBS = {name: section(name, ".BTF") for name in ("types", "values", "core", "core_target")}
EXTS = {name: section(name, ".BTF.ext") for name in ("types", "core")}


def exercise(btf: Btf) -> None:
    """Every query a user may make, on every type."""
    for tid in range(len(btf)):
        t = btf[tid]
        btf.name_of(tid)
        btf.kind_of(tid)
        for call in (btf.resolve, btf.size_of, btf.type_str):
            try:
                call(tid)
            except BTFError:
                pass
        try:
            size = btf.size_of(tid)
        except BTFError:
            continue
        if size <= 4096:
            for fill in (b"\0", b"\xff"):
                try:
                    btf.format_value(tid, fill * size)
                    btf.to_python(tid, fill * size)
                except BTFError:
                    pass
        if t.name:
            btf.find(t.name)


def mutate(blob: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(blob)
    for pos, val in edits:
        data[pos % len(data)] = val
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    return bytes(data)


edits_st = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8)
cut_st = st.none() | st.integers(0, 1 << 20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(BLOBS)), edits=edits_st, cut=cut_st)
def test_mutated_btf_raises_only_btferror(name: str, edits: list[tuple[int, int]],
                                          cut: int | None) -> None:
    data = mutate(BLOBS[name], edits, cut)
    try:
        btf = Btf.from_bytes(data)
    except BTFError:
        return
    try:
        exercise(btf)
    except BTFError:
        pass


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(BLOBS)),
       word=st.integers(0, 4096), value=st.sampled_from(
           [0, 1, 2, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x13000003, 0x84000002]))
def test_word_mutations_in_type_section(name: str, word: int, value: int) -> None:
    """Aligned u32 overwrites hit type ids, kinds, vlens and offsets exactly."""
    blob = bytearray(BLOBS[name])
    type_len = struct.unpack_from("<I", blob, 12)[0]
    pos = 24 + (word * 4) % max(type_len, 4)
    struct.pack_into("<I", blob, pos, value)
    try:
        btf = Btf.from_bytes(bytes(blob))
    except BTFError:
        return
    try:
        exercise(btf)
    except BTFError:
        pass


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(EXTS)), edits=edits_st, cut=cut_st)
def test_mutated_btf_ext_raises_only_btferror(name: str, edits: list[tuple[int, int]],
                                              cut: int | None) -> None:
    btf = Btf.from_bytes(BLOBS[name])
    try:
        BtfExt.from_bytes(mutate(EXTS[name], edits, cut), btf)
    except BTFError:
        pass


@settings(max_examples=150, deadline=None)
@given(edits=edits_st)
def test_core_on_mutated_target_raises_only_btferror(edits: list[tuple[int, int]]) -> None:
    """CO-RE against a damaged target: relocated, poisoned, or a BTFError."""
    from btf_testdata import DATA
    from elftools.elf.elffile import ELFFile

    local = Btf.from_bytes(BLOBS["core"])
    ext = BtfExt.from_bytes(EXTS["core"], local)
    try:
        target = Btf.from_bytes(mutate(BLOBS["core_target"], edits, None))
    except BTFError:
        return
    with open(DATA / "core.o", "rb") as f:
        elf = ELFFile(f)
        for sec, relos in ext.core_relos.items():
            insns = decode(elf.get_section_by_name(sec).data())
            try:
                apply_core_relocations(insns, relos, local, target)
            except BTFError:
                pass


@pytest.mark.parametrize("data,match", [
    (b"", "shorter than its 24-byte header"),
    (b"\x9f\xeb\x01\x00" + bytes(20), "header length 0"),
    (b"\x00\x00" + bytes(22), "magic"),
    (b"\x9f\xeb\x02\x00\x18" + bytes(19), "version 2"),
])
def test_header_errors(data: bytes, match: str) -> None:
    with pytest.raises(BTFError, match=match):
        Btf.from_bytes(data)
