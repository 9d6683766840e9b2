"""pybpf.kernel.sys pieces that need no kernel: structure layouts, names, log summaries.

Offsets are those of ``union bpf_attr`` / ``struct bpf_prog_info`` / ``struct bpf_map_info``
in the BTF of Linux 6.18 (``/sys/kernel/btf/vmlinux``).
"""

from __future__ import annotations

import ctypes

import pytest

from pybpf.errors import NotSupportedError
from pybpf.kernel.sys.attr import (
    BpfMapCreateAttr,
    BpfMapElemAttr,
    BpfMapInfo,
    BpfObjInfoAttr,
    BpfProgInfo,
    BpfProgLoadAttr,
    BpfProgTestRunAttr,
    encode_obj_name,
)
from pybpf.kernel.sys.constants import BpfCmd, MapType, ProgType
from pybpf.kernel.sys.syscall import errno_name, syscall_number
from pybpf.kernel.sys.verifier_log import summary_line

LAYOUTS: dict[type[ctypes.Structure], tuple[int, dict[str, int]]] = {
    BpfMapCreateAttr: (
        96,
        {
            "map_type": 0,
            "key_size": 4,
            "value_size": 8,
            "max_entries": 12,
            "map_flags": 16,
            "inner_map_fd": 20,
            "numa_node": 24,
            "map_name": 28,
            "map_ifindex": 44,
            "btf_fd": 48,
            "btf_key_type_id": 52,
            "btf_value_type_id": 56,
            "btf_vmlinux_value_type_id": 60,
            "map_extra": 64,
            "value_type_btf_obj_fd": 72,
            "map_token_fd": 76,
            "excl_prog_hash": 80,
            "excl_prog_hash_size": 88,
        },
    ),
    BpfMapElemAttr: (32, {"map_fd": 0, "key": 8, "value": 16, "next_key": 16, "flags": 24}),
    BpfProgLoadAttr: (
        168,
        {
            "prog_type": 0,
            "insn_cnt": 4,
            "insns": 8,
            "license": 16,
            "log_level": 24,
            "log_size": 28,
            "log_buf": 32,
            "kern_version": 40,
            "prog_flags": 44,
            "prog_name": 48,
            "prog_ifindex": 64,
            "expected_attach_type": 68,
            "prog_btf_fd": 72,
            "func_info_rec_size": 76,
            "func_info": 80,
            "func_info_cnt": 88,
            "line_info_rec_size": 92,
            "line_info": 96,
            "line_info_cnt": 104,
            "attach_btf_id": 108,
            "attach_prog_fd": 112,
            "core_relo_cnt": 116,
            "fd_array": 120,
            "core_relos": 128,
            "core_relo_rec_size": 136,
            "log_true_size": 140,
            "prog_token_fd": 144,
            "fd_array_cnt": 148,
            "signature": 152,
            "signature_size": 160,
            "keyring_id": 164,
        },
    ),
    BpfProgTestRunAttr: (
        80,
        {
            "prog_fd": 0,
            "retval": 4,
            "data_size_in": 8,
            "data_size_out": 12,
            "data_in": 16,
            "data_out": 24,
            "repeat": 32,
            "duration": 36,
            "ctx_size_in": 40,
            "ctx_size_out": 44,
            "ctx_in": 48,
            "ctx_out": 56,
            "flags": 64,
            "cpu": 68,
            "batch_size": 72,
        },
    ),
    BpfObjInfoAttr: (16, {"bpf_fd": 0, "info_len": 4, "info": 8}),
    BpfProgInfo: (
        232,
        {
            "type": 0,
            "id": 4,
            "tag": 8,
            "jited_prog_len": 16,
            "xlated_prog_len": 20,
            "name": 64,
            "gpl_compatible": 84,
            "btf_id": 128,
            "run_time_ns": 192,
            "verified_insns": 216,
            "attach_btf_id": 224,
        },
    ),
    BpfMapInfo: (
        104,
        {
            "type": 0,
            "id": 4,
            "key_size": 8,
            "value_size": 12,
            "max_entries": 16,
            "map_flags": 20,
            "name": 24,
            "btf_id": 64,
            "map_extra": 80,
            "hash_size": 96,
        },
    ),
}


@pytest.mark.parametrize("cls", list(LAYOUTS), ids=lambda c: c.__name__)
def test_layout_matches_uapi(cls: type[ctypes.Structure]) -> None:
    size, offsets = LAYOUTS[cls]
    assert ctypes.sizeof(cls) == size
    for name, offset in offsets.items():
        assert getattr(cls, name).offset == offset, name


def test_attach_btf_obj_fd_aliases_attach_prog_fd() -> None:
    attr = BpfProgLoadAttr()
    attr.attach_btf_obj_fd = 9
    assert attr.attach_prog_fd == 9


def test_enums_follow_uapi() -> None:
    assert (int(BpfCmd.PROG_LOAD), int(BpfCmd.PROG_TEST_RUN)) == (5, 10)
    assert BpfCmd.PROG_LOAD.uapi_name == "BPF_PROG_LOAD"
    assert (int(ProgType.XDP), int(ProgType.NETFILTER)) == (6, 32)
    assert [int(t) for t in ProgType] == list(range(33))
    assert (int(MapType.ARRAY), int(MapType.ARENA)) == (2, 33)
    assert [int(t) for t in MapType] == list(range(34))


def test_syscall_numbers() -> None:
    assert syscall_number("x86_64") == 321
    assert syscall_number("aarch64") == 280
    with pytest.raises(NotSupportedError):
        syscall_number("riscv64")


def test_errno_name() -> None:
    assert errno_name(13) == "EACCES"
    assert errno_name(4242) == "errno 4242"


def test_obj_name() -> None:
    assert encode_obj_name("xdp_prog.1") == b"xdp_prog.1"
    with pytest.raises(ValueError):
        encode_obj_name("a" * 16)


def test_summary_line_skips_statistics() -> None:
    log = (
        "0: R1=ctx() R10=fp0\n0: (95) exit\nR0 !read_ok\n"
        "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0\n\n"
    )
    assert summary_line(log) == "R0 !read_ok"
    assert summary_line("") == ""
