"""pybpf.btf.BtfExt: func info and line info of a clang-19 object against its C source."""

from __future__ import annotations

import re

import pytest
from btf_testdata import DATA, section, source_lines
from elftools.elf.elffile import ELFFile

from pybpf.btf import Btf, BtfExt, BtfKind, FuncInfoRec


@pytest.fixture(scope="module")
def ext(types_btf):  # type: ignore[no-untyped-def]
    return types_btf


def _section_sizes(obj: str) -> dict[str, int]:
    with open(DATA / f"{obj}.o", "rb") as f:
        return {s.name: s["sh_size"] for s in ELFFile(f).iter_sections()}


def test_func_info_sections_and_names(ext) -> None:  # type: ignore[no-untyped-def]
    btf, e = ext
    names = {sec: [btf[r.type_id].name for r in recs] for sec, recs in e.func_info.items()}
    # .text holds the two noinline functions in source order; each program section one func
    assert names == {".text": ["global_func", "helper_sum"], "xdp": ["prog_main"],
                     "tc": ["prog_second"]}
    assert e.func_info["xdp"][0] == FuncInfoRec(0, btf.find("prog_main", BtfKind.FUNC))
    sizes = _section_sizes("types")
    for sec, recs in e.func_info.items():
        for r in recs:
            assert r.insn_off % 8 == 0 and r.insn_off < sizes[sec]
    # helper_sum starts right after global_func's last line-info'd instruction
    assert e.func_info[".text"][1].insn_off > max(
        r.insn_off for r in e.line_info[".text"] if r.line >= 75)


def test_line_info_matches_source(ext) -> None:  # type: ignore[no-untyped-def]
    btf, e = ext
    src = source_lines("types")
    sizes = _section_sizes("types")
    total = 0
    for sec, recs in e.line_info.items():
        assert [r.insn_off for r in recs] == sorted(r.insn_off for r in recs)
        for r in recs:
            total += 1
            assert r.file_name.endswith("types.c")
            assert r.line_text == src[r.line - 1]
            assert r.insn_off < sizes[sec]
            if r.column:
                assert r.column <= len(src[r.line - 1]) + 1
    assert total == sum(len(v) for v in e.line_info.values())
    # every function's first line info lies in that function's body in the source
    for sec, funcs in e.func_info.items():
        for f in funcs:
            first = next(r for r in e.line_info[sec] if r.insn_off >= f.insn_off)
            name = btf[f.type_id].name
            start = next(i for i, line in enumerate(src, 1) if re.search(rf"\b{name}\(", line))
            end = next(i for i, line in enumerate(src, 1) if i > start and line == "}")
            assert start <= first.line <= end, (name, first)


def test_line_info_points_into_prog_main(ext) -> None:  # type: ignore[no-untyped-def]
    _, e = ext
    texts = [r.line_text.strip() for r in e.line_info["xdp"]]
    assert "counter += 1;" in texts
    assert "if (s->col == GREEN)" in texts
    assert texts[-1] == "}"
    assert e.core_relos == {}  # nothing in types.c asks for CO-RE


def test_reparse_is_equal() -> None:
    btf = Btf.from_bytes(section("types", ".BTF"))
    a = BtfExt.from_bytes(section("types", ".BTF.ext"), btf)
    b = BtfExt.from_bytes(section("types", ".BTF.ext"), btf)
    assert a == b


def test_line_info_agrees_with_dwarf(ext) -> None:  # type: ignore[no-untyped-def]
    """Every BTF line record is a row of the DWARF line table (pyelftools), except each
    function's first record, which carries the function's DW_AT_decl_line."""
    btf, e = ext
    with open(DATA / "types.o", "rb") as f:
        dwarf = ELFFile(f).get_dwarf_info()
        rows = set()
        decl_line = {}
        for cu in dwarf.iter_CUs():
            for entry in dwarf.line_program_for_CU(cu).get_entries():
                s = entry.state
                if s is not None and not s.end_sequence:
                    rows.add((s.address, s.line, s.column))
            for die in cu.iter_DIEs():
                if die.tag == "DW_TAG_subprogram" and "DW_AT_name" in die.attributes:
                    decl_line[die.attributes["DW_AT_name"].value.decode()] = (
                        die.attributes["DW_AT_decl_line"].value)
    for sec, recs in e.line_info.items():
        starts = {f.insn_off: btf[f.type_id].name for f in e.func_info[sec]}
        for r in recs:
            if r.insn_off in starts and r.line == decl_line[starts[r.insn_off]]:
                assert r.column == 0
                continue
            assert (r.insn_off, r.line, r.column) in rows, (sec, r)
