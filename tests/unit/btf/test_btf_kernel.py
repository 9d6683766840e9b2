"""BTF against the live kernel: it accepts our fixed-up BTF, and bpftool prints map values
the way pybpf.btf.format reads them (skips without bpf() access or bpftool)."""

from __future__ import annotations

import ctypes
import json
import os
import struct
import subprocess

import pytest
from btf_testdata import DATA, bpftool, load, section
from elftools.elf.elffile import ELFFile

from pybpf.btf import Btf, BtfKind
from pybpf.btf.fixup import VarSymbol, fixup_datasecs
from pybpf.errors import KernelError, PybpfError

pytestmark = pytest.mark.kernel


class BtfLoadAttr(ctypes.Structure):
    """The BPF_BTF_LOAD member of ``union bpf_attr`` (include/uapi/linux/bpf.h)."""

    _fields_ = [
        ("btf", ctypes.c_uint64),
        ("btf_log_buf", ctypes.c_uint64),
        ("btf_size", ctypes.c_uint32),
        ("btf_log_size", ctypes.c_uint32),
        ("btf_log_level", ctypes.c_uint32),
        ("btf_log_true_size", ctypes.c_uint32),
        ("btf_flags", ctypes.c_uint32),
        ("btf_token_fd", ctypes.c_int32),
    ]


@pytest.fixture(scope="module")
def sys_bpf():  # type: ignore[no-untyped-def]
    try:
        from pybpf.kernel.sys.probe import bpf_available
    except ImportError as e:  # pragma: no cover
        pytest.skip(f"pybpf.kernel.sys is unavailable: {e}")
    ok, why = bpf_available()
    if not ok:
        pytest.skip(why)
    from pybpf.kernel.sys import syscall

    return syscall


def btf_load(sys_bpf, data: bytes) -> tuple[int | None, str]:  # type: ignore[no-untyped-def]
    from pybpf.kernel.sys.constants import BpfCmd

    buf = ctypes.create_string_buffer(data, len(data))
    log = ctypes.create_string_buffer(1 << 16)
    attr = BtfLoadAttr(btf=ctypes.addressof(buf), btf_size=len(data),
                       btf_log_buf=ctypes.addressof(log), btf_log_size=1 << 16,
                       btf_log_level=1)
    try:
        return sys_bpf.bpf(BpfCmd.BTF_LOAD, attr), log.value.decode()
    except KernelError:
        return None, log.value.decode()


def fixed_btf(obj: str) -> Btf:
    """The object's BTF after libbpf's DATASEC fixup (sizes and offsets from the ELF)."""
    btf = Btf.from_bytes(section(obj, ".BTF"))
    with open(DATA / f"{obj}.o", "rb") as f:
        elf = ELFFile(f)
        sizes = {s.name: s["sh_size"] for s in elf.iter_sections()}
        syms = {s.name: VarSymbol(s["st_value"])
                for s in elf.get_section_by_name(".symtab").iter_symbols()
                if s["st_info"]["type"] == "STT_OBJECT"}
    return fixup_datasecs(btf, sizes, syms)


def test_kernel_accepts_fixed_btf_only(sys_bpf) -> None:  # type: ignore[no-untyped-def]
    raw, _ = load("values")
    fd, log = btf_load(sys_bpf, raw.to_bytes())
    assert fd is None and "size == 0" in log  # clang's DATASEC as is
    fixed = fixed_btf("values")
    fd, log = btf_load(sys_bpf, fixed.to_bytes())
    assert fd is not None, log
    os.close(fd)


def test_kernel_accepts_reencoded_object_btf(sys_bpf) -> None:  # type: ignore[no-untyped-def]
    from pybpf.btf.write import encode

    for obj in ("types", "values", "core", "core_target"):
        btf = fixed_btf(obj)
        fd, log = btf_load(sys_bpf, encode(btf.types[1:]))
        assert fd is not None, f"{obj}: {log}"
        os.close(fd)


def _merge_anonymous(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in pairs:
        if k == "" and isinstance(v, dict):
            out.update(v)
        else:
            out[k] = v
    return out


def test_map_value_matches_bpftool(sys_bpf) -> None:  # type: ignore[no-untyped-def]
    """A map with BTF: bpftool's btf_dumper and our to_python agree on every field."""
    from pybpf.kernel.sys.attr import BpfMapCreateAttr
    from pybpf.kernel.sys.constants import BpfCmd
    from pybpf.kernel.sys.info import map_info
    from pybpf.kernel.sys.maps import MapFd, map_update

    tool = bpftool()
    btf = fixed_btf("values")
    btf_fd, log = btf_load(sys_bpf, btf.to_bytes())
    assert btf_fd is not None, log
    kview = btf.find("kview", BtfKind.STRUCT)
    size = btf.size_of(kview)
    with open(DATA / "values.o", "rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name("kv")[0]
    value = section("values", ".data")[sym["st_value"] : sym["st_value"] + size]
    try:
        attr = BpfMapCreateAttr(map_type=2, key_size=4, value_size=size, max_entries=1,
                                btf_fd=btf_fd, btf_key_type_id=btf.find("unsigned int"),
                                btf_value_type_id=kview)
        mfd = MapFd(sys_bpf.bpf(BpfCmd.MAP_CREATE, attr), map_type=2, key_size=4,
                    value_size=size, max_entries=1)
    except PybpfError as e:
        os.close(btf_fd)
        pytest.skip(f"cannot create a map with BTF: {e}")
    try:
        map_update(mfd, struct.pack("<I", 0), value)
        map_id = map_info(mfd).id
        out = subprocess.run([tool, "map", "dump", "id", str(map_id), "-j"],
                             capture_output=True, text=True, check=True).stdout
    finally:
        mfd.close()
        os.close(btf_fd)
    theirs = json.loads(out, object_pairs_hook=_merge_anonymous)[0]["formatted"]["value"]
    ours = btf.to_python(kview, value)
    assert isinstance(ours, dict)
    bits = btf[btf.find("bits", BtfKind.STRUCT)]
    widths = {m.name: m.bitfield_size for m in bits.members}
    # bpftool prints bitfields as unsigned hex (enums too); our values are typed
    for name, v in theirs["b"].items():
        if isinstance(v, str):
            mine = ours["b"][name]
            if isinstance(mine, str):  # an enum bitfield: compare its value
                mine = dict(btf[btf.find("proto", BtfKind.ENUM)].values)[mine]
            assert int(v, 16) == mine & ((1 << widths[name]) - 1), name
        else:
            assert v == ours["b"][name], name
    # 128-bit integers: bpftool prints hex
    assert int(theirs["u128"], 16) == ours["u128"]
    assert theirs["ptr"] == ours["ptr"] == 0
    for key in ("id", "name", "tag", "pts", "proto", "w", "as_u32", "as_u16", "big", "ok"):
        assert theirs[key] == ours[key], key
    assert set(theirs) == set(ours)
