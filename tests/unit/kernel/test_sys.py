"""pybpf.kernel.sys against the live kernel (skips with the reason where bpf() is unusable).

Expected verifier messages were observed on Linux 6.18.
"""

from __future__ import annotations

import errno
import os
import struct

import pytest

from pybpf.errors import KernelError
from pybpf.kernel.sys import (
    MapType,
    ProgType,
    bpf_available,
    map_create,
    map_delete,
    map_get_next_key,
    map_info,
    map_lookup,
    map_update,
    possible_cpus,
    prog_info,
    prog_load,
    prog_test_run,
    testrun,
)

_AVAILABLE, _REASON = bpf_available()
pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(not _AVAILABLE, reason=f"bpf() unusable: {_REASON}"),
]

# Instruction encoding, by hand (independent of pybpf.isa).
MOV64_IMM = 0x07 | 0x00 | 0xB0  # BPF_ALU64 | BPF_K | BPF_MOV
MOV64_REG = 0x07 | 0x08 | 0xB0  # BPF_ALU64 | BPF_X | BPF_MOV
ADD64_IMM = 0x07 | 0x00 | 0x00  # BPF_ALU64 | BPF_K | BPF_ADD
STW_IMM = 0x02 | 0x00 | 0x60  # BPF_ST | BPF_W | BPF_MEM
LDXDW = 0x01 | 0x18 | 0x60  # BPF_LDX | BPF_DW | BPF_MEM
STXDW = 0x03 | 0x18 | 0x60  # BPF_STX | BPF_DW | BPF_MEM
JEQ_IMM = 0x05 | 0x00 | 0x10  # BPF_JMP | BPF_K | BPF_JEQ
LD_IMM64 = 0x00 | 0x18 | 0x00  # BPF_LD | BPF_DW | BPF_IMM
CALL = 0x05 | 0x80
EXIT = 0x05 | 0x90
PSEUDO_MAP_FD = 1
FUNC_MAP_LOOKUP_ELEM = 1
FUNC_XDP_ADJUST_TAIL = 65
XDP_PASS = 2
BPF_NOEXIST = 1


def insn(opcode: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", opcode, (src << 4) | dst, off, imm)


def ret(value: int) -> bytes:
    return insn(MOV64_IMM, 0, imm=value) + insn(EXIT)


def ipv4_frame(size: int = 64) -> bytes:
    """An Ethernet frame carrying an IPv4-looking header (version 4, IHL 5), zero-padded."""
    eth = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + b"\x08\x00"
    ip = bytes([0x45, 0]) + struct.pack(">H", size - 14) + bytes(16)
    frame = eth + ip
    return frame + bytes(range(size - len(frame)))


# --- BPF_PROG_LOAD + BPF_PROG_TEST_RUN ------------------------------------------------------


def test_socket_filter_returns_42() -> None:
    with prog_load(ProgType.SOCKET_FILTER, ret(42)) as prog:
        result = prog_test_run(prog, data=ipv4_frame(64))
    assert result.retval == 42
    assert result.ctx_out is None
    # Socket filters see the packet from L3: the Ethernet header comes back zeroed.
    assert len(result.data_out) == 64
    assert result.data_out[:14] == bytes(14)
    assert result.data_out[14:] == ipv4_frame(64)[14:]


def test_skb_program_refuses_short_ipv4_frame() -> None:
    with prog_load(ProgType.SOCKET_FILTER, ret(1)) as prog:
        with pytest.raises(KernelError) as info:
            prog_test_run(prog, data=ipv4_frame(64)[:33])
        assert info.value.errno == errno.EINVAL
        assert prog_test_run(prog, data=ipv4_frame(34)).retval == 1


def test_xdp_pass_returns_data_unchanged() -> None:
    frame = ipv4_frame(64)
    with prog_load(ProgType.XDP, ret(XDP_PASS)) as prog:
        result = prog_test_run(prog, data=frame, repeat=10)
    assert result.retval == XDP_PASS
    assert result.data_out == frame
    assert result.duration_ns >= 0


def test_xdp_ctx_out_has_xdp_md_size() -> None:
    with prog_load(ProgType.XDP, ret(XDP_PASS)) as prog:
        result = prog_test_run(prog, data=ipv4_frame(), ctx=bytes(24))
    assert result.ctx_out is not None and len(result.ctx_out) == 24


def test_data_out_grows_on_enospc(monkeypatch: pytest.MonkeyPatch) -> None:
    # bpf_xdp_adjust_tail(ctx, 16); return XDP_PASS: the packet comes back 16 bytes longer.
    program = insn(MOV64_IMM, 2, imm=16) + insn(CALL, imm=FUNC_XDP_ADJUST_TAIL) + ret(XDP_PASS)
    monkeypatch.setattr(testrun, "MIN_DATA_OUT", 0)
    monkeypatch.setattr(testrun, "DATA_OUT_HEADROOM", 0)
    frame = ipv4_frame(64)
    with prog_load(ProgType.XDP, program) as prog:
        result = prog_test_run(prog, data=frame)
        assert result.data_out == frame + bytes(16)
        with pytest.raises(KernelError) as info:
            prog_test_run(prog, data=frame, data_size_out=64)
        assert info.value.errno == errno.ENOSPC


def test_rejected_program_raises_with_log() -> None:
    with pytest.raises(KernelError) as info:
        prog_load(ProgType.SOCKET_FILTER, insn(EXIT))
    err = info.value
    assert err.errno == errno.EACCES
    assert "R0 !read_ok" in err.log
    assert "processed 1 insns" in err.log
    message = str(err)
    assert "\n" not in message
    assert message.startswith("BPF_PROG_LOAD failed: Permission denied (EACCES)")
    assert message.endswith("R0 !read_ok")


def test_structural_rejection_is_einval() -> None:
    jump_back_to_self = insn(0x05, off=-1) + insn(EXIT)  # BPF_JA -1: unreachable exit
    with pytest.raises(KernelError) as info:
        prog_load(ProgType.SOCKET_FILTER, jump_back_to_self)
    assert info.value.errno == errno.EINVAL
    assert "unreachable insn 1" in info.value.log


def test_log_returned_on_success_when_asked() -> None:
    with prog_load(ProgType.SOCKET_FILTER, ret(0)) as quiet:
        assert quiet.log == ""
    with prog_load(ProgType.SOCKET_FILTER, ret(0), log_level=2) as loud:
        assert "(b7) r0 = 0" in loud.log
        assert "processed 2 insns" in loud.log


def test_small_log_buffer_grows_to_log_true_size() -> None:
    with prog_load(ProgType.SOCKET_FILTER, ret(0), log_level=2, log_size=128) as prog:
        assert "processed 2 insns" in prog.log
        assert len(prog.log) > 128


def test_prog_name_and_info() -> None:
    with prog_load(ProgType.XDP, ret(XDP_PASS), prog_name="pybpf_test") as prog:
        info = prog_info(prog)
        assert info.type == ProgType.XDP
        assert info.name == "pybpf_test"
        assert info.xlated_prog_len == 16
        assert info.gpl_compatible
        assert len(info.tag) == 8
    with pytest.raises(ValueError):
        prog_load(ProgType.XDP, ret(XDP_PASS), prog_name="x" * 16)


def test_misaligned_instruction_stream() -> None:
    with pytest.raises(ValueError):
        prog_load(ProgType.SOCKET_FILTER, ret(0)[:-1])


def test_fd_closed_by_context_manager() -> None:
    with prog_load(ProgType.SOCKET_FILTER, ret(0)) as prog:
        fd = prog.fd
        os.fstat(fd)
    assert prog.closed
    with pytest.raises(OSError):
        os.fstat(fd)
    prog.close()  # idempotent


# --- maps -------------------------------------------------------------------------------


def test_array_map_round_trip() -> None:
    with map_create(MapType.ARRAY, 4, 8, 4, name="arr") as m:
        key1 = struct.pack("<I", 1)
        assert map_lookup(m, key1, 8) == bytes(8)  # arrays are preallocated, zeroed
        map_update(m, key1, struct.pack("<Q", 0x1122334455667788))
        assert map_lookup(m.fd, key1, 8) == struct.pack("<Q", 0x1122334455667788)
        assert map_lookup(m, struct.pack("<I", 4)) is None  # out of range: ENOENT
        assert map_get_next_key(m, None, 4) == struct.pack("<I", 0)
        assert map_get_next_key(m, key1) == struct.pack("<I", 2)
        assert map_get_next_key(m, struct.pack("<I", 3)) is None
        with pytest.raises(KernelError) as info:
            map_delete(m, key1)  # array elements cannot be deleted
        assert info.value.errno == errno.EINVAL
        meta = map_info(m)
        assert (meta.type, meta.key_size, meta.value_size, meta.max_entries) == (2, 4, 8, 4)
        assert meta.name == "arr"


def test_hash_map_round_trip() -> None:
    with map_create(MapType.HASH, 8, 4, 16) as m:
        key = struct.pack("<Q", 7)
        assert map_lookup(m, key) is None
        assert map_get_next_key(m, None) is None
        map_update(m, key, struct.pack("<I", 99))
        assert map_lookup(m, key) == struct.pack("<I", 99)
        with pytest.raises(KernelError) as info:
            map_update(m, key, struct.pack("<I", 1), BPF_NOEXIST)
        assert info.value.errno == errno.EEXIST
        assert map_get_next_key(m, None) == key
        assert map_get_next_key(m, key) is None
        assert map_delete(m, key) is True
        assert map_delete(m, key) is False
        assert map_lookup(m, key) is None


def test_map_sizes_checked_for_map_fd() -> None:
    with map_create(MapType.HASH, 8, 4, 16) as m:
        with pytest.raises(ValueError):
            map_update(m, bytes(4), bytes(4))
        with pytest.raises(ValueError):
            map_update(m, bytes(8), bytes(3))


def test_percpu_array_value_spans_all_cpus() -> None:
    with map_create(MapType.PERCPU_ARRAY, 4, 4, 1) as m:
        assert m.value_buffer_size == 8 * possible_cpus()
        values = b"".join(struct.pack("<Q", cpu + 1) for cpu in range(possible_cpus()))
        map_update(m, bytes(4), values)
        assert map_lookup(m, bytes(4)) == values


def test_invalid_map_is_refused() -> None:
    with pytest.raises(KernelError) as info:
        map_create(MapType.ARRAY, 4, 0, 1)  # zero value_size
    assert info.value.errno == errno.EINVAL
    assert str(info.value).startswith("BPF_MAP_CREATE failed: Invalid argument (EINVAL)")


def test_program_updates_map_during_test_run() -> None:
    """A socket filter that stores 7 into array[0]: map fds reach programs through ld_imm64."""
    with map_create(MapType.ARRAY, 4, 8, 1) as m:
        program = (
            insn(STW_IMM, 10, off=-4, imm=0)  # *(u32 *)(r10 - 4) = 0
            + insn(MOV64_REG, 2, 10)  # r2 = r10
            + insn(ADD64_IMM, 2, imm=-4)  # r2 += -4
            + insn(LD_IMM64, 1, PSEUDO_MAP_FD, imm=m.fd)  # r1 = map
            + insn(0)
            + insn(CALL, imm=FUNC_MAP_LOOKUP_ELEM)
            + insn(JEQ_IMM, 0, off=2, imm=0)  # if r0 == 0 goto +2
            + insn(MOV64_IMM, 1, imm=7)
            + insn(STXDW, 0, 1, off=0)  # *(u64 *)(r0 + 0) = r1
            + ret(0)
        )
        with prog_load(ProgType.SOCKET_FILTER, program) as prog:
            assert prog_test_run(prog, data=ipv4_frame()).retval == 0
        assert map_lookup(m, bytes(4)) == struct.pack("<Q", 7)
