"""CO-RE relocation of core.o against the running kernel's BTF and against core_target.o.

Expected values come from the target BTF's own layout (member offsets that
test_btf_vmlinux checks against bpftool) or from the C layout of core_target.c, and the
relocated programs are run in the reference interpreter on memory laid out like the target.
"""

from __future__ import annotations

import struct

import pytest
from btf_testdata import DATA, load, section
from elftools.elf.elffile import ELFFile

from pybpf.btf import Btf, BtfExt, BtfKind, Member, Struct, Union
from pybpf.btf.core import POISON_HELPER, apply_core_relocations
from pybpf.interp import Interpreter
from pybpf.isa import OP_CALL, Instruction, Size, decode


def find_member(btf: Btf, type_id: int, name: str) -> tuple[int, Member]:
    """(bit offset, member) of ``name`` in a struct, searching anonymous members."""
    t = btf[btf.resolve(type_id)]
    assert isinstance(t, Struct | Union)
    for m in t.members:
        if m.name == name:
            return m.bit_offset, m
        if not m.name:
            try:
                off, found = find_member(btf, m.type, name)
            except LookupError:
                continue
            return m.bit_offset + off, found
    raise LookupError(name)


def member_bit_offset(btf: Btf, type_id: int, name: str) -> tuple[int, int]:
    off, m = find_member(btf, type_id, name)
    return off, m.type


def byte_offset(btf: Btf, struct_name: str, *path: str) -> int:
    tid = btf.find(struct_name, BtfKind.STRUCT)
    total = 0
    for name in path:
        off, tid = member_bit_offset(btf, tid, name)
        total += off
    return total // 8


@pytest.fixture(scope="module")
def core() -> tuple[Btf, BtfExt]:
    return load("core")


@pytest.fixture(scope="module")
def target() -> Btf:
    return Btf.from_bytes(section("core_target", ".BTF"))


def insns_of(sec: str) -> tuple[Instruction, ...]:
    with open(DATA / "core.o", "rb") as f:
        return decode(ELFFile(f).get_section_by_name(sec).data())


def relocate(core: tuple[Btf, BtfExt], sec: str, target: Btf) -> tuple[Instruction, ...]:
    local, ext = core
    return apply_core_relocations(insns_of(sec), ext.core_relos[sec], local, target,
                                  prog_name=sec)


def is_poison(insn: Instruction) -> bool:
    return insn.code == OP_CALL and insn.imm == POISON_HELPER and insn.src == 0


def _poison_called(*args: int) -> int:
    raise AssertionError("a poisoned instruction was executed")


def run(insns: tuple[Instruction, ...], mem: bytes) -> int:
    """Run in the reference interpreter; reaching a poisoned call fails the test."""
    interp = Interpreter(helpers={POISON_HELPER: _poison_called})
    return interp.load(insns).run_mem(mem).retval


# -- against the running kernel ------------------------------------------------------------

def test_vmlinux_task_struct_fields(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    pid_off = byte_offset(vmlinux, "task_struct", "pid")
    assert relocate(core, "tp/pid", vmlinux)[0].off == pid_off
    comm = relocate(core, "tp/comm", vmlinux)[0]
    assert comm.off == byte_offset(vmlinux, "task_struct", "comm") + 3
    parent = relocate(core, "tp/parent", vmlinux)
    assert parent[0].off == byte_offset(vmlinux, "task_struct", "real_parent")
    assert parent[1].off == byte_offset(vmlinux, "task_struct", "tgid")
    # end to end: the relocated program reads pid out of kernel-shaped memory
    task = vmlinux[vmlinux.find("task_struct", BtfKind.STRUCT)]
    mem = bytearray(task.size)
    struct.pack_into("<i", mem, pid_off, 4242)
    assert run(relocate(core, "tp/pid", vmlinux), bytes(mem)) == 4242


def test_vmlinux_load_narrowed_for_unsigned(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    """u64 locally, u32 in the kernel: libbpf narrows the LDX from DW to W."""
    original = insns_of("tp/flags")[0]
    assert original.size == Size.DW
    insn = relocate(core, "tp/flags", vmlinux)[0]
    assert insn.off == byte_offset(vmlinux, "task_struct", "flags")
    assert insn.size == Size.W and insn.mode == original.mode and insn.cls == original.cls


def test_vmlinux_signed_narrowing_is_poisoned(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    (insn, exit_) = relocate(core, "tp/signed", vmlinux)
    assert is_poison(insn) and insn.imm == 0xBAD2310 and exit_ == insns_of("tp/signed")[1]


def test_vmlinux_missing_field_guarded(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    out = relocate(core, "tp/missing", vmlinux)
    orig = insns_of("tp/missing")
    assert orig[1].imm == 1 and out[1].imm == 0  # bpf_core_field_exists() -> 0
    assert is_poison(out[3])  # the guarded load
    assert run(out, bytes(64)) == 0xFFFFFFFF  # -1: the poisoned load is dead code


def test_vmlinux_anonymous_members(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    out = relocate(core, "tc/anon", vmlinux)
    offs = [i.off for i in out if i.cls == 1]  # LDX
    assert offs == [byte_offset(vmlinux, "sk_buff", "next"),
                    byte_offset(vmlinux, "sk_buff", "dev"),
                    byte_offset(vmlinux, "sk_buff", "len"),
                    byte_offset(vmlinux, "sk_buff", "protocol")]
    assert offs[1] > offs[0]  # dev follows next/prev inside two anonymous levels


def _bitfield(btf: Btf, struct_name: str, name: str) -> tuple[int, int]:
    off, m = find_member(btf, btf.find(struct_name, BtfKind.STRUCT), name)
    return off, m.bitfield_size


@pytest.mark.parametrize("value", [0, 1, 5, 7])
def test_vmlinux_bitfield_read(core, vmlinux: Btf, value: int) -> None:  # type: ignore[no-untyped-def]
    bit_off, bits = _bitfield(vmlinux, "sk_buff", "pkt_type")
    assert bits == 3
    mem = bytearray(vmlinux.size_of(vmlinux.find("sk_buff", BtfKind.STRUCT)))
    word = int.from_bytes(mem, "little") | (value << bit_off) | (1 << (bit_off + bits))
    mem = bytearray(word.to_bytes(len(mem), "little"))  # a neighbour bit set too
    assert run(relocate(core, "tc/bitfield", vmlinux), bytes(mem)) == value


def test_vmlinux_type_relos(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    out = relocate(core, "tp/types", vmlinux)
    orig = insns_of("tp/types")
    imms = {k: (a.imm, b.imm) for k, (a, b) in enumerate(zip(orig, out, strict=True))
            if a != b}
    task_size = vmlinux.size_of(vmlinux.find("task_struct", BtfKind.STRUCT))
    assert sorted(v for v in imms.values()) == sorted([(1, 0), (48, task_size), (1, 0)])
    # exists(task_struct)=1, exists(no_such)=0, size, matches(list_head___ok)=1, bad=0
    assert run(out, b"") == 1 + 0 + task_size + 4 + 0


def test_vmlinux_type_ids(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    local, _ = core
    out = relocate(core, "tp/ids", vmlinux)
    target_id = vmlinux.find("task_struct", BtfKind.STRUCT)
    local_id = local.find("task_struct___local", BtfKind.STRUCT)
    assert run(out, b"") == local_id * 1_000_000 + target_id


def test_vmlinux_enum_values(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    ringbuf = dict(vmlinux[vmlinux.find("bpf_map_type", BtfKind.ENUM)].values)[
        "BPF_MAP_TYPE_RINGBUF"]
    out = relocate(core, "tp/enums", vmlinux)
    wide = [i for i in out if i.is_wide]
    assert wide[1].imm64 == ringbuf
    # the ENUMVAL_VALUE of the missing enumerator is a poisoned lddw: two calls, same slots
    assert sum(i.slots for i in out) == sum(i.slots for i in insns_of("tp/enums"))
    assert sum(is_poison(i) for i in out) == 2
    assert run(out, b"") == ringbuf


# -- against core_target.o (layouts known from its C source) --------------------------------

def test_target_moved_fields(core, target: Btf) -> None:  # type: ignore[no-untyped-def]
    # struct task_struct { struct thread_info { int; long; } (16); unsigned :1, :1 (4);
    #   long state @24; char comm[8] @32; int tgid @40; int pid @44; unsigned flags @48;
    #   struct task_struct *real_parent @56; }
    assert relocate(core, "tp/pid", target)[0].off == 44
    assert relocate(core, "tp/comm", target)[0].off == 32 + 3
    flags = relocate(core, "tp/flags", target)[0]
    assert (flags.off, flags.size) == (48, Size.W)
    parent = relocate(core, "tp/parent", target)
    assert (parent[0].off, parent[1].off) == (56, 40)
    mem = bytearray(64)
    struct.pack_into("<ii", mem, 40, 7, 99)  # tgid, pid
    assert run(relocate(core, "tp/pid", target), bytes(mem)) == 99


def test_target_anonymous_layout(core, target: Btf) -> None:  # type: ignore[no-untyped-def]
    # { unsigned len; union { struct { sk_buff *next; net_device *dev; }; long rb; };
    #   struct { u16 protocol; u16 pad; }; ... }
    out = relocate(core, "tc/anon", target)
    assert [i.off for i in out if i.cls == 1] == [8, 16, 0, 24]


@pytest.mark.parametrize("value", [0, 1, 0x55, 0x7F])
def test_target_wide_bitfield(core, target: Btf, value: int) -> None:  # type: ignore[no-untyped-def]
    """pkt_type:7 at bit 237 straddles bytes: the relocated read uses a 4-byte load."""
    out = relocate(core, "tc/bitfield", target)
    assert out[0].imm == 4  # FIELD_BYTE_SIZE
    word = (value << 237) | (0x1FFF << 224) | (1 << 244)  # neighbours all ones
    mem = word.to_bytes(32, "little")
    assert run(out, mem) == value


def test_target_enum_and_types(core, target: Btf) -> None:  # type: ignore[no-untyped-def]
    assert run(relocate(core, "tp/enums", target), b"") == 99
    # task_struct is 64 bytes here; list_head matches; no pybpf_no_such_type
    assert run(relocate(core, "tp/types", target), b"") == 1 + 0 + 64 + 4 + 0
    ids = run(relocate(core, "tp/ids", target), b"")
    assert ids % 1_000_000 == target.find("task_struct", BtfKind.STRUCT)


def test_relocation_is_deterministic(core, target: Btf) -> None:  # type: ignore[no-untyped-def]
    for sec in core[1].core_relos:
        assert relocate(core, sec, target) == relocate(core, sec, target)


@pytest.mark.parametrize("value", [-16, -5, -1, 0, 15])
def test_target_signed_bitfield(core, target: Btf, value: int) -> None:  # type: ignore[no-untyped-def]
    """struct sbits { int pad:3; int val:5; }: FIELD_SIGNED=1 and an arithmetic shift."""
    out = relocate(core, "tp/sbits", target)
    word = 0b101 | ((value & 0x1F) << 3) | (0xFFFFFF << 8)  # neighbours set
    got = run(out, word.to_bytes(4, "little"))
    assert got - (1 << 64) * (got >> 63) == value


def test_vmlinux_enum64_value(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    iv1 = dict(vmlinux[vmlinux.find("blake2b_iv", BtfKind.ENUM64)].values)["BLAKE2B_IV1"]
    (lddw, _exit) = relocate(core, "tp/enum64", vmlinux)
    assert lddw.is_wide and lddw.imm64 == iv1 > 1 << 32
    assert run(relocate(core, "tp/enum64", vmlinux), b"") == iv1


def test_vmlinux_flexible_array(core, vmlinux: Btf) -> None:  # type: ignore[no-untyped-def]
    """cgroup.ancestors[] is a flexible array: index 2 is accepted past nelems 0."""
    ldx_anc, ldx_level = (i for i in relocate(core, "tp/flex", vmlinux) if i.cls == 1)
    assert ldx_anc.off == byte_offset(vmlinux, "cgroup", "ancestors") + 2 * 8
    assert ldx_level.off == byte_offset(vmlinux, "cgroup", "level")
