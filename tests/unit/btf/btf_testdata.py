"""Helpers for the BTF tests: the committed clang-19 objects of tests/data/btf."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from pybpf.btf import Btf, BtfExt

DATA = Path(__file__).resolve().parents[2] / "data" / "btf"


def section(obj: str, name: str) -> bytes:
    """Raw bytes of ELF section ``name`` of tests/data/btf/``obj``.o."""
    with open(DATA / f"{obj}.o", "rb") as f:
        sec = ELFFile(f).get_section_by_name(name)
        assert sec is not None, f"{obj}.o has no {name} section"
        return bytes(sec.data())


def load(obj: str) -> tuple[Btf, BtfExt]:
    btf = Btf.from_bytes(section(obj, ".BTF"))
    return btf, BtfExt.from_bytes(section(obj, ".BTF.ext"), btf)


def source_lines(obj: str) -> list[str]:
    return (DATA / f"{obj}.c").read_text().splitlines()


def bpftool() -> str:
    path = shutil.which("bpftool")
    if path is None:
        pytest.skip("bpftool is not installed")
    return path


def bpftool_raw(btf: Btf, first: int = 1) -> str:
    """Our types rendered in the text of ``bpftool btf dump file F format raw`` (v7.x)."""
    from pybpf.btf import types as T

    def q(name: str) -> str:
        return f"'{name or '(anon)'}'"

    linkage = {0: "static", 1: "global", 2: "extern"}
    out = []
    for tid in range(first, len(btf)):
        t = btf[tid]
        head = f"[{tid}] {t.kind.name} {q(t.name)}"
        match t:
            case T.Int():
                enc = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}[int(t.encoding)]
                out.append(f"{head} size={t.size} bits_offset={t.offset} nr_bits={t.bits} "
                           f"encoding={enc}")
            case T.Ptr() | T.Const() | T.Volatile() | T.Restrict() | T.Typedef() | T.TypeTag():
                out.append(f"{head} type_id={t.type}")
            case T.Array():
                out.append(f"{head} type_id={t.type} index_type_id={t.index_type} "
                           f"nr_elems={t.nelems}")
            case T.Struct() | T.Union():
                out.append(f"{head} size={t.size} vlen={len(t.members)}")
                for m in t.members:
                    bf = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
                    out.append(f"\t{q(m.name)} type_id={m.type} bits_offset={m.bit_offset}{bf}")
            case T.Enum() | T.Enum64():
                sign = "SIGNED" if t.signed else "UNSIGNED"
                out.append(f"{head} encoding={sign} size={t.size} vlen={len(t.values)}")
                suffix = ("LL" if t.signed else "ULL") if isinstance(t, T.Enum64) else ""
                for v in t.values:
                    out.append(f"\t{q(v.name)} val={v.value}{suffix}")
            case T.Fwd():
                out.append(f"{head} fwd_kind={'union' if t.is_union else 'struct'}")
            case T.Func():
                out.append(f"{head} type_id={t.type} linkage={linkage[t.linkage]}")
            case T.FuncProto():
                out.append(f"{head} ret_type_id={t.ret} vlen={len(t.params)}")
                for p in t.params:
                    out.append(f"\t{q(p.name)} type_id={p.type}")
            case T.Var():
                out.append(f"{head} type_id={t.type}, linkage={linkage[t.linkage]}")
            case T.DataSec():
                out.append(f"{head} size={t.size} vlen={len(t.vars)}")
                for v in t.vars:
                    out.append(f"\ttype_id={v.type} offset={v.offset} size={v.size} "
                               f"(VAR {q(btf[v.type].name)})")
            case T.Float():
                out.append(f"{head} size={t.size}")
            case T.DeclTag():
                out.append(f"{head} type_id={t.type} component_idx={t.component_idx}")
    return "\n".join(out) + "\n"


def bpftool_dump(path: str) -> str:
    """``bpftool btf dump file PATH format raw`` (skips the test when bpftool is missing)."""
    import subprocess

    res = subprocess.run([bpftool(), "btf", "dump", "file", path, "format", "raw"],
                         capture_output=True, text=True, check=True)
    return res.stdout
