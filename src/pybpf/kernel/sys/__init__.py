"""The thin bpf(2) layer: ctypes structures and one Python function per kernel command.

Pure Python over ``ctypes`` (no compiled code), Linux on x86_64 and aarch64. Every failure
the kernel reports is a :class:`pybpf.errors.KernelError` carrying ``errno`` (and, for
``BPF_PROG_LOAD``, the verifier ``log``). File descriptors are owned by :class:`ProgFd` /
:class:`MapFd` objects, closed on :meth:`~OwnedFd.close`, on leaving ``with``, or on GC.
"""

from __future__ import annotations

from .btf import BtfFd, btf_load, encode_func_info, encode_line_info
from .constants import BpfCmd, MapType, ProgType
from .fd import FdLike, OwnedFd
from .info import MapInfo, ProgInfo, map_info, obj_get_info_by_fd, prog_info
from .maps import (
    MapFd,
    map_create,
    map_delete,
    map_get_next_key,
    map_lookup,
    map_update,
    possible_cpus,
)
from .probe import bpf_available
from .prog import ProgFd, prog_load
from .syscall import bpf, syscall_number
from .testrun import TestRunResult, prog_test_run

__all__ = [
    "BpfCmd",
    "BtfFd",
    "FdLike",
    "MapFd",
    "MapInfo",
    "MapType",
    "OwnedFd",
    "ProgFd",
    "ProgInfo",
    "ProgType",
    "TestRunResult",
    "bpf",
    "bpf_available",
    "btf_load",
    "encode_func_info",
    "encode_line_info",
    "map_create",
    "map_delete",
    "map_get_next_key",
    "map_info",
    "map_lookup",
    "map_update",
    "obj_get_info_by_fd",
    "possible_cpus",
    "prog_info",
    "prog_load",
    "prog_test_run",
    "syscall_number",
]
