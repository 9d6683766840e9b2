"""``BPF_OBJ_GET_INFO_BY_FD``: what the kernel knows about a loaded program or map.

Minimal: the fixed part of ``struct bpf_prog_info`` / ``struct bpf_map_info``; the arrays
they can point to (translated and JITed instructions, map ids, line info) are not fetched.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from .attr import BpfMapInfo, BpfObjInfoAttr, BpfProgInfo
from .constants import BpfCmd
from .fd import FdLike, fileno
from .syscall import bpf

__all__ = ["MapInfo", "ProgInfo", "map_info", "obj_get_info_by_fd", "prog_info"]


def obj_get_info_by_fd(fd: FdLike, info: ctypes.Structure) -> int:
    """Fill ``info`` (a zeroed info struct) for ``fd``: ``BPF_OBJ_GET_INFO_BY_FD``.

    Returns ``info_len``, the number of bytes the kernel wrote (it may know fewer fields).
    """
    attr = BpfObjInfoAttr(
        bpf_fd=fileno(fd), info_len=ctypes.sizeof(info), info=ctypes.addressof(info)
    )
    bpf(BpfCmd.OBJ_GET_INFO_BY_FD, attr)
    return int(attr.info_len)


@dataclass(frozen=True, slots=True)
class ProgInfo:
    """The main fields of ``struct bpf_prog_info``."""

    type: int
    id: int
    tag: bytes
    name: str
    jited_prog_len: int
    xlated_prog_len: int
    verified_insns: int
    gpl_compatible: bool


@dataclass(frozen=True, slots=True)
class MapInfo:
    """The main fields of ``struct bpf_map_info``."""

    type: int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    name: str


def prog_info(fd: FdLike) -> ProgInfo:
    """Describe the program behind ``fd``."""
    raw = BpfProgInfo()
    obj_get_info_by_fd(fd, raw)
    return ProgInfo(
        type=raw.type,
        id=raw.id,
        tag=bytes(raw.tag),
        name=raw.name.decode("ascii", errors="replace"),
        jited_prog_len=raw.jited_prog_len,
        xlated_prog_len=raw.xlated_prog_len,
        verified_insns=raw.verified_insns,
        gpl_compatible=bool(raw.gpl_compatible),
    )


def map_info(fd: FdLike) -> MapInfo:
    """Describe the map behind ``fd``."""
    raw = BpfMapInfo()
    obj_get_info_by_fd(fd, raw)
    return MapInfo(
        type=raw.type,
        id=raw.id,
        key_size=raw.key_size,
        value_size=raw.value_size,
        max_entries=raw.max_entries,
        map_flags=raw.map_flags,
        name=raw.name.decode("ascii", errors="replace"),
    )
