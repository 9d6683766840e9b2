"""``BPF_BTF_LOAD``: hand a raw BTF blob to the kernel and get a BTF fd back.

Mirrors libbpf's ``bpf_btf_load()``: the blob is loaded without a log first; a refused load
is retried once with ``log_level = 1`` so that the error carries the kernel's BTF log.
Also the encoders of the ``bpf_func_info`` / ``bpf_line_info`` records BPF_PROG_LOAD takes
with ``prog_btf_fd`` (include/uapi/linux/bpf.h).
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Iterable

from pybpf.errors import KernelError

from .attr import BpfBtfLoadAttr
from .constants import BpfCmd
from .fd import OwnedFd
from .syscall import bpf, kernel_error
from .verifier_log import decode_log, summary_line

__all__ = [
    "FUNC_INFO_REC_SIZE",
    "LINE_INFO_REC_SIZE",
    "BtfFd",
    "btf_load",
    "encode_func_info",
    "encode_line_info",
]

FUNC_INFO_REC_SIZE = 8
"""``sizeof(struct bpf_func_info)``: insn_off, type_id."""
LINE_INFO_REC_SIZE = 16
"""``sizeof(struct bpf_line_info)``: insn_off, file_name_off, line_off, line_col."""

class BtfFd(OwnedFd):
    """A BTF object loaded into the kernel."""

    __slots__ = ()


def btf_load(data: bytes, *, log_size: int = 1 << 20) -> BtfFd:
    """Load a raw BTF blob: ``BPF_BTF_LOAD``. Raises :class:`KernelError` with the BTF log."""
    blob = ctypes.create_string_buffer(bytes(data), len(data))
    attr = BpfBtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data))
    try:
        return BtfFd(bpf(BpfCmd.BTF_LOAD, attr))
    except KernelError as exc:
        first = exc
    buf = ctypes.create_string_buffer(log_size)
    attr = BpfBtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data),
                          btf_log_buf=ctypes.addressof(buf), btf_log_size=log_size,
                          btf_log_level=1)  # fmt: skip
    try:
        return BtfFd(bpf(BpfCmd.BTF_LOAD, attr))  # transient failure: keep it
    except KernelError:
        log = decode_log(buf)
    raise kernel_error(BpfCmd.BTF_LOAD, first.errno, detail=summary_line(log), log=log)


def encode_func_info(records: Iterable[tuple[int, int]]) -> bytes:
    """``struct bpf_func_info`` records from ``(insn_off, type_id)`` pairs."""
    return b"".join(struct.pack("<II", off, tid) for off, tid in records)


def encode_line_info(records: Iterable[tuple[int, int, int, int]]) -> bytes:
    """``struct bpf_line_info`` records from ``(insn_off, file_name_off, line_off,
    line_col)``; ``line_col`` is ``line << 10 | column`` as the UAPI packs it."""
    return b"".join(struct.pack("<IIII", *rec) for rec in records)
