"""``.kconfig`` externs (a read-only map) and ``__ksym`` kfunc calls."""

from __future__ import annotations

import struct

import pytest
from elf_testdata import at, path

from pybpf.elf import load_collection
from pybpf.elf.hostconfig import host_kconfig, host_kernel_version, kernel_version
from pybpf.errors import ELFLoadError
from pybpf.isa import OP_CALL, CallSrc, PseudoSrc

BPF_F_RDONLY_PROG = 0x80

# Layout (libbpf's cmp_externs: alignment descending, size ascending, then name):
# CONFIG_HZ @0, CONFIG_PYBPF_NOT_A_REAL_OPTION @4, LINUX_KERNEL_VERSION @8, CONFIG_BPF_SYSCALL @12
OFFSETS = {
    "CONFIG_HZ": 0,
    "CONFIG_PYBPF_NOT_A_REAL_OPTION": 4,
    "LINUX_KERNEL_VERSION": 8,
    "CONFIG_BPF_SYSCALL": 12,
}


def load(**kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("host_config", False)
    kw.setdefault("kernel_version", kernel_version(6, 18, 300))
    return load_collection(path("kconfig"), **kw)  # type: ignore[arg-type]


def test_kconfig_map_layout_and_values() -> None:
    coll = load(
        kconfig={
            "CONFIG_BPF_SYSCALL": "y",
            "CONFIG_HZ": "1000",
            "CONFIG_PYBPF_NOT_A_REAL_OPTION": "m",
        }
    )
    kmap = coll.maps["kconfig.kconfig"]
    assert kmap.read_only and kmap.flags & BPF_F_RDONLY_PROG and kmap.section == ".kconfig"
    assert kmap.value_size == 13 and kmap.max_entries == 1 and kmap.key_size == 4
    hz, tri, version, syscall = struct.unpack("<IIIB", kmap.data)
    assert (hz, tri, syscall) == (1000, 2, 1)  # TRI_MODULE = 2
    assert version == 0x0612FF  # patch level saturates at 255


def test_kconfig_references() -> None:
    prog = load(kconfig={"CONFIG_BPF_SYSCALL": "y"}).programs["kconf"]
    kcfg = {r.pc: r.offset for r in prog.map_references if r.map_name == "kconfig.kconfig"}
    assert kcfg == {
        1: OFFSETS["CONFIG_BPF_SYSCALL"],
        5: OFFSETS["LINUX_KERNEL_VERSION"],
        8: OFFSETS["CONFIG_HZ"],
        15: OFFSETS["CONFIG_PYBPF_NOT_A_REAL_OPTION"],
    }
    for pc, offset in kcfg.items():
        insn = at(prog, pc)
        assert insn.src == PseudoSrc.MAP_VALUE and insn.imm == 0 and insn.next_imm == offset


def test_weak_unset_externs_default_to_zero() -> None:
    data = load(kconfig="CONFIG_BPF_SYSCALL=n\n").maps["kconfig.kconfig"].data
    assert data is not None
    assert struct.unpack("<IIIB", data)[0:2] == (0, 0)
    assert data[12] == 0


def test_strong_unset_extern_is_an_error() -> None:
    with pytest.raises(ELFLoadError, match="CONFIG_BPF_SYSCALL.*value not found"):
        load()


def test_bad_values_are_errors() -> None:
    with pytest.raises(ELFLoadError, match="implies tristate or char"):
        load(kconfig={"CONFIG_BPF_SYSCALL": "m"})
    with pytest.raises(ELFLoadError, match="isn't a valid integer"):
        load(kconfig={"CONFIG_BPF_SYSCALL": "y", "CONFIG_HZ": "fast"})
    with pytest.raises(ELFLoadError, match="doesn't fit"):
        load(kconfig={"CONFIG_BPF_SYSCALL": "y", "CONFIG_HZ": str(1 << 40)})


def test_kfunc_calls_are_recorded() -> None:
    prog = load(kconfig={"CONFIG_BPF_SYSCALL": True}).programs["kconf"]
    kfuncs = [(e.pc, e.name) for e in prog.extern_references if e.kind == "kfunc"]
    assert kfuncs == [(0, "bpf_rcu_read_lock"), (23, "bpf_rcu_read_unlock")]
    for pc in (0, 23):
        insn = at(prog, pc)
        assert insn.code == OP_CALL and insn.src == CallSrc.KFUNC_CALL and insn.imm == 0


def test_host_config_is_used_when_present() -> None:
    if host_kconfig() is None:
        pytest.skip("no /boot/config-$(uname -r) or /proc/config.gz")
    found = host_kconfig()
    assert found is not None
    if "CONFIG_BPF_SYSCALL=y" not in found[1]:
        pytest.skip("host kernel has no CONFIG_BPF_SYSCALL=y")
    coll = load_collection(path("kconfig"))
    data = coll.maps["kconfig.kconfig"].data
    assert data is not None and data[12] == 1
    assert struct.unpack_from("<I", data, 8)[0] == host_kernel_version() != 0
