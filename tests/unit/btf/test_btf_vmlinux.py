"""The running kernel's BTF (/sys/kernel/btf/vmlinux): speed, lookups, offsets vs bpftool."""

from __future__ import annotations

import re
import time

import pytest
from btf_testdata import bpftool_dump, bpftool_raw

from pybpf.btf import VMLINUX_PATH, Btf, BtfKind, Struct


def _raw_member_offset(dump: str, struct: str, member: str) -> int:
    """``bits_offset`` of ``member`` in ``struct`` from bpftool's raw dump."""
    m = re.search(rf"^\[\d+\] STRUCT '{struct}' size=\d+ vlen=\d+\n((?:\t.*\n)*)", dump, re.MULTILINE)
    assert m, struct
    line = re.search(rf"^\t'{member}' type_id=\d+ bits_offset=(\d+)", m.group(1), re.MULTILINE)
    assert line, member
    return int(line.group(1))


def test_parses_fast(vmlinux: Btf) -> None:
    start = time.perf_counter()
    btf = Btf.load_vmlinux()
    elapsed = time.perf_counter() - start
    assert len(btf) == len(vmlinux) > 10_000
    assert elapsed < 2.0, f"vmlinux BTF took {elapsed:.2f}s"


def test_task_struct_and_sk_buff(vmlinux: Btf) -> None:
    task = vmlinux[vmlinux.find("task_struct", BtfKind.STRUCT)]
    assert isinstance(task, Struct) and task.size > 1000
    names = {m.name for m in task.members}
    assert {"pid", "tgid", "comm", "flags", "real_parent"} <= names
    skb = vmlinux.find("sk_buff", BtfKind.STRUCT)
    assert skb is not None and vmlinux.type_str(skb) == "struct sk_buff"
    comm = next(m for m in task.members if m.name == "comm")
    assert vmlinux.type_str(comm.type) == "char[16]"
    pid = next(m for m in task.members if m.name == "pid")
    assert vmlinux.type_str(pid.type) == "pid_t"
    assert vmlinux[vmlinux.resolve(pid.type)].name == "int"


def test_member_offsets_match_bpftool(vmlinux: Btf) -> None:
    dump = bpftool_dump(VMLINUX_PATH)
    for struct, member in [("task_struct", "pid"), ("task_struct", "tgid"),
                           ("task_struct", "comm"), ("sk_buff", "len"),
                           ("sk_buff", "data_len"), ("iphdr", "ttl")]:
        t = vmlinux[vmlinux.find(struct, BtfKind.STRUCT)]
        m = next(m for m in t.members if m.name == member)
        assert m.bit_offset == _raw_member_offset(dump, struct, member), (struct, member)


def test_whole_raw_dump_matches_bpftool(vmlinux: Btf) -> None:
    assert bpftool_raw(vmlinux) == bpftool_dump(VMLINUX_PATH)


def test_split_btf_on_vmlinux(vmlinux: Btf) -> None:
    """A hand-built split blob: one struct whose member type and name come from the base."""
    import struct as st

    strings = b"\0my_mod_struct\0"
    base_strlen = len(vmlinux.strings)
    name_off = base_strlen + 1
    int_id = vmlinux.find("int", BtfKind.INT)
    pid_name = vmlinux.strings.data.index(b"\0pid\0") + 1
    types = st.pack("<III", name_off, (4 << 24) | 1, 4) + st.pack("<III", pid_name, int_id, 0)
    hdr = st.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    split = Btf.from_bytes(hdr + types + strings, base=vmlinux)
    new_id = len(vmlinux)
    assert split.start_id == new_id and len(split) == new_id + 1
    t = split[new_id]
    assert isinstance(t, Struct) and t.name == "my_mod_struct"
    assert t.members[0].name == "pid" and split.type_str(t.members[0].type) == "int"
    assert split.find("my_mod_struct") == new_id
    assert split.find("task_struct") == vmlinux.find("task_struct")
    assert split[1] == vmlinux[1]


@pytest.mark.parametrize("name", ["task_struct", "sk_buff", "xdp_md", "iphdr"])
def test_sizes_are_consistent(vmlinux: Btf, name: str) -> None:
    tid = vmlinux.find(name, BtfKind.STRUCT)
    t = vmlinux[tid]
    assert vmlinux.size_of(tid) == t.size
    for m in t.members:
        if not m.bitfield_size and m.name:
            assert m.bit_offset % 8 == 0
            assert m.bit_offset // 8 + vmlinux.size_of(m.type) <= t.size
