"""Differential: our CO-RE relocation against libbpf's own, instruction for instruction.

libbpf (libbpf.so.1 through ctypes) opens core.o, relocates it against the running kernel's
BTF or against core_target.o (``btf_custom_path``) and tries to load it; the programs are
not meant to pass the verifier, but libbpf relocates before loading and keeps the relocated
instructions (``bpf_program__insns()``). Skips without libbpf or without bpf() access (libbpf
probes the kernel before relocating).
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest
from btf_testdata import DATA, load, section
from elftools.elf.elffile import ELFFile

from pybpf.btf import Btf
from pybpf.btf.core import apply_core_relocations
from pybpf.isa import Instruction, decode

pytestmark = pytest.mark.kernel


class OpenOpts(ctypes.Structure):
    """``struct bpf_object_open_opts`` of libbpf 1.x (libbpf.h)."""

    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("object_name", ctypes.c_char_p),
        ("relaxed_maps", ctypes.c_bool),
        ("pin_root_path", ctypes.c_char_p),
        ("_removed_attach_prog_fd", ctypes.c_uint32),
        ("kconfig", ctypes.c_char_p),
        ("btf_custom_path", ctypes.c_char_p),
        ("kernel_log_buf", ctypes.c_char_p),
        ("kernel_log_size", ctypes.c_size_t),
        ("kernel_log_level", ctypes.c_uint32),
    ]


_PRINT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_QUIET = _PRINT(lambda level, fmt, args: 0)


@pytest.fixture(scope="module")
def libbpf() -> ctypes.CDLL:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:
        pytest.skip(f"libbpf is not installed: {e}")
    sigs = {
        "bpf_object__open_file": (ctypes.c_void_p, [ctypes.c_char_p, ctypes.POINTER(OpenOpts)]),
        "bpf_object__load": (ctypes.c_int, [ctypes.c_void_p]),
        "bpf_object__close": (None, [ctypes.c_void_p]),
        "bpf_object__next_program": (ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_void_p]),
        "bpf_program__section_name": (ctypes.c_char_p, [ctypes.c_void_p]),
        "bpf_program__insns": (ctypes.c_void_p, [ctypes.c_void_p]),
        "bpf_program__insn_cnt": (ctypes.c_size_t, [ctypes.c_void_p]),
        "libbpf_set_print": (ctypes.c_void_p, [_PRINT]),
    }
    for fn, (res, args) in sigs.items():
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    lib.libbpf_set_print(_QUIET)
    return lib


def libbpf_relocated(lib: ctypes.CDLL, target: str | None) -> dict[str, tuple[Instruction, ...]]:
    opts = OpenOpts(sz=ctypes.sizeof(OpenOpts),
                    btf_custom_path=target.encode() if target else None)
    obj = lib.bpf_object__open_file(str(DATA / "core.o").encode(), ctypes.byref(opts))
    if not obj:
        pytest.skip("libbpf cannot open core.o")
    try:
        lib.bpf_object__load(obj)  # relocates, then fails in the verifier: expected
        out = {}
        prog = None
        while True:
            prog = lib.bpf_object__next_program(obj, prog)
            if not prog:
                break
            n = lib.bpf_program__insn_cnt(prog)
            raw = ctypes.string_at(lib.bpf_program__insns(prog), n * 8)
            out[lib.bpf_program__section_name(prog).decode()] = decode(raw, strict=False)
        return out
    finally:
        lib.bpf_object__close(obj)


def ours(target: Btf) -> dict[str, tuple[Instruction, ...]]:
    local, ext = load("core")
    out = {}
    with open(DATA / "core.o", "rb") as f:
        elf = ELFFile(f)
        for sec, relos in ext.core_relos.items():
            insns = decode(elf.get_section_by_name(sec).data(), strict=False)
            out[sec] = apply_core_relocations(insns, relos, local, target, prog_name=sec)
    return out


def _compare(theirs: dict[str, tuple[Instruction, ...]],
             mine: dict[str, tuple[Instruction, ...]]) -> None:
    original = {}
    with open(DATA / "core.o", "rb") as f:
        elf = ELFFile(f)
        for sec in mine:
            original[sec] = decode(elf.get_section_by_name(sec).data(), strict=False)
    if all(theirs.get(sec) == original[sec] for sec in mine):
        pytest.skip("libbpf did not relocate (no bpf() access for its kernel probes?)")
    assert set(theirs) == set(mine)
    for sec in sorted(mine):
        assert mine[sec] == theirs[sec], sec


def test_same_as_libbpf_against_vmlinux(libbpf: ctypes.CDLL, vmlinux: Btf) -> None:
    _compare(libbpf_relocated(libbpf, None), ours(vmlinux))


def test_same_as_libbpf_against_core_target(libbpf: ctypes.CDLL) -> None:
    target = Btf.from_bytes(section("core_target", ".BTF"))
    _compare(libbpf_relocated(libbpf, str(DATA / "core_target.o")), ours(target))
