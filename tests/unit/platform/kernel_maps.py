"""Creating maps of every type in the live kernel, for the map-type tests (imported by name).

Builds the small raw BTF some map types need (local storage maps want a BTF-described value;
``bpf_spin_lock`` / ``bpf_timer`` fields are found through BTF) and issues ``BPF_BTF_LOAD`` /
``BPF_MAP_CREATE`` itself, since :func:`pybpf.kernel.sys.map_create` takes no BTF.
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass

from pybpf.errors import KernelError
from pybpf.kernel.sys import BpfCmd, bpf
from pybpf.kernel.sys.attr import BpfMapCreateAttr
from pybpf.platform.enums import MapType as M

BPF_MAP_CREATE = 0
BPF_BTF_LOAD = 18
BPF_F_NO_PREALLOC = 1
BPF_F_MMAPABLE = 1 << 10


class _BtfLoadAttr(ctypes.Structure):
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


class BtfBuilder:
    """A raw BTF blob: ints, structs with plain members. Type ids start at 1."""

    def __init__(self) -> None:
        self._types: list[bytes] = []
        self._strings = bytearray(b"\0")

    def _str(self, s: str) -> int:
        off = len(self._strings)
        self._strings += s.encode() + b"\0"
        return off

    def int_(self, name: str, size: int, signed: bool = False) -> int:
        info = 1 << 24
        enc = (1 if signed else 0) << 24 | (size * 8)
        self._types.append(struct.pack("<IIII", self._str(name), info, size, enc))
        return len(self._types)

    def struct(self, name: str, size: int, members: list[tuple[str, int, int]]) -> int:
        info = 4 << 24 | len(members)
        data = struct.pack("<III", self._str(name), info, size)
        for m_name, m_type, byte_off in members:
            data += struct.pack("<III", self._str(m_name), m_type, byte_off * 8)
        self._types.append(data)
        return len(self._types)

    def blob(self) -> bytes:
        types = b"".join(self._types)
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                          len(self._strings))
        return hdr + types + bytes(self._strings)


def btf_load(blob: bytes) -> int:
    buf = ctypes.create_string_buffer(blob, len(blob))
    log = ctypes.create_string_buffer(1 << 16)
    attr = _BtfLoadAttr(btf=ctypes.addressof(buf), btf_size=len(blob),
                        btf_log_buf=ctypes.addressof(log), btf_log_size=1 << 16,
                        btf_log_level=1)
    try:
        return bpf(BpfCmd.BTF_LOAD, attr)
    except KernelError as exc:
        raise KernelError(f"BTF_LOAD: {log.value.decode(errors='replace')}", errno=exc.errno) \
            from exc


@dataclass(frozen=True)
class Btf:
    """The test BTF: ``int`` key, a plain value, a value with a lock, a value with a timer."""

    fd: int
    int_id: int
    plain_value: int  # struct { int x; int y; } (8 bytes)
    lock_value: int  # struct { struct bpf_spin_lock l; int x; } (8 bytes)
    timer_value: int  # struct { struct bpf_timer t; } (16 bytes)


def make_btf() -> Btf:
    b = BtfBuilder()
    i = b.int_("int", 4, signed=True)
    u64 = b.int_("long long unsigned int", 8)
    plain = b.struct("plain", 8, [("x", i, 0), ("y", i, 4)])
    lock = b.struct("bpf_spin_lock", 4, [("val", i, 0)])
    lv = b.struct("with_lock", 8, [("l", lock, 0), ("x", i, 4)])
    timer = b.struct("bpf_timer", 16, [("a", u64, 0), ("b", u64, 8)])
    tv = b.struct("with_timer", 16, [("t", timer, 0)])
    return Btf(btf_load(b.blob()), i, plain, lv, tv)


def map_create_btf(map_type: int, key_size: int, value_size: int, max_entries: int, *,
                   flags: int = 0, btf: Btf | None = None, key_id: int = 0,
                   value_id: int = 0, inner_map_fd: int = 0, map_extra: int = 0) -> int:
    attr = BpfMapCreateAttr(
        map_type=map_type, key_size=key_size, value_size=value_size,
        max_entries=max_entries, map_flags=flags, inner_map_fd=inner_map_fd,
        btf_fd=btf.fd if btf else 0, btf_key_type_id=key_id, btf_value_type_id=value_id,
        map_extra=map_extra,
    )
    return bpf(BpfCmd.MAP_CREATE, attr)


def create_any(map_type: M, btf: Btf, inner_fd: int) -> int | None:
    """A small map of ``map_type`` (None: this harness cannot create one)."""
    std = {"key_size": 4, "value_size": 8, "max_entries": 4}
    params: dict[M, dict] = {
        M.HASH: std, M.ARRAY: std, M.PERCPU_HASH: std, M.PERCPU_ARRAY: std,
        M.LRU_HASH: std, M.LRU_PERCPU_HASH: std,
        M.PROG_ARRAY: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.PERF_EVENT_ARRAY: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.STACK_TRACE: {"key_size": 4, "value_size": 8 * 8, "max_entries": 4},
        M.CGROUP_ARRAY: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.LPM_TRIE: {"key_size": 8, "value_size": 8, "max_entries": 4, "flags": BPF_F_NO_PREALLOC},
        M.ARRAY_OF_MAPS: {"key_size": 4, "value_size": 4, "max_entries": 4, "inner_map_fd": inner_fd},
        M.HASH_OF_MAPS: {"key_size": 4, "value_size": 4, "max_entries": 4, "inner_map_fd": inner_fd},
        M.DEVMAP: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.DEVMAP_HASH: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.SOCKMAP: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.SOCKHASH: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.CPUMAP: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.XSKMAP: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.CGROUP_STORAGE: {"key_size": 8, "value_size": 8, "max_entries": 0},
        M.PERCPU_CGROUP_STORAGE: {"key_size": 8, "value_size": 8, "max_entries": 0},
        M.REUSEPORT_SOCKARRAY: {"key_size": 4, "value_size": 4, "max_entries": 4},
        M.QUEUE: {"key_size": 0, "value_size": 8, "max_entries": 4},
        M.STACK: {"key_size": 0, "value_size": 8, "max_entries": 4},
        M.RINGBUF: {"key_size": 0, "value_size": 0, "max_entries": 4096},
        M.USER_RINGBUF: {"key_size": 0, "value_size": 0, "max_entries": 4096},
        M.BLOOM_FILTER: {"key_size": 0, "value_size": 8, "max_entries": 4},
    }
    storage = (M.SK_STORAGE, M.INODE_STORAGE, M.TASK_STORAGE, M.CGRP_STORAGE)
    try:
        if map_type in params:
            return map_create_btf(map_type, **params[map_type])
        if map_type in storage:
            return map_create_btf(map_type, 4, 8, 0, flags=BPF_F_NO_PREALLOC, btf=btf,
                                  key_id=btf.int_id, value_id=btf.plain_value)
        if map_type is M.ARENA:
            # programs need the arena's user address: give one (4 GiB-aligned)
            return map_create_btf(map_type, 0, 0, 1, flags=BPF_F_MMAPABLE, map_extra=1 << 40)
    except KernelError:
        return None
    return None


def close(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        os.close(fd)
