"""``BPF_PROG_LOAD``: hand instructions to the kernel's verifier and get a program fd back.

Owns the verifier-log policy: the log is captured when asked (``log_level > 0``) and on every
failure (a rejected load with ``log_level == 0`` is retried once with ``log_level = 1`` and a
16 MiB buffer, as libbpf does), and a truncated log (``ENOSPC``) is retried with the size the
kernel reports in ``log_true_size``. Loads failing with ``EAGAIN`` are retried a few times.
Mirrors the kernel's bpf_prog_load() in kernel/bpf/syscall.c as seen from user space.
"""

from __future__ import annotations

import ctypes
import errno as _errno
from dataclasses import dataclass

from pybpf.errors import KernelError

from .attr import BpfProgLoadAttr, encode_obj_name
from .btf import FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE
from .constants import BpfCmd
from .fd import OwnedFd
from .syscall import bpf, kernel_error
from .verifier_log import decode_log, summary_line

__all__ = [
    "DEFAULT_LOG_SIZE",
    "EAGAIN_ATTEMPTS",
    "FUNC_INFO_REC_SIZE",
    "FAILURE_LOG_SIZE",
    "INSN_SIZE",
    "ProgFd",
    "prog_load",
]

INSN_SIZE = 8
"""Bytes per ``struct bpf_insn``."""
DEFAULT_LOG_SIZE = 1 << 20
"""Initial log buffer when a log is asked for (grown on ``ENOSPC``)."""
FAILURE_LOG_SIZE = 1 << 24
"""Log buffer of the ``log_level = 1`` retry after a failed silent load."""
EAGAIN_ATTEMPTS = 5
"""How many times a load failing with ``EAGAIN`` is tried in all."""


class ProgFd(OwnedFd):
    """A program loaded into the kernel: its fd plus what the load reported.

    ``log`` is the verifier log when one was captured (``log_level > 0``), else ``""``.
    Usable as a context manager; the fd is closed on exit.
    """

    __slots__ = ("log", "name", "prog_type")

    def __init__(self, fd: int, *, prog_type: int, log: str = "", name: str = "") -> None:
        super().__init__(fd)
        self.prog_type = prog_type
        self.log = log
        self.name = name


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The outcome of one ``BPF_PROG_LOAD`` call (after ``EAGAIN`` retries)."""

    fd: int | None
    errno: int
    log: str
    log_true_size: int


def _load_once(template: BpfProgLoadAttr, log_level: int, log_size: int) -> _Attempt:
    """Issue ``BPF_PROG_LOAD`` with ``template`` plus the given log settings."""
    attr = BpfProgLoadAttr.from_buffer_copy(template)
    buf = ctypes.create_string_buffer(log_size) if log_level else None
    if buf is not None:
        attr.log_level = log_level
        attr.log_size = log_size
        attr.log_buf = ctypes.addressof(buf)
    err = 0
    for _ in range(EAGAIN_ATTEMPTS):
        try:
            fd = bpf(BpfCmd.PROG_LOAD, attr)
        except KernelError as exc:
            err = exc.errno
            if err == _errno.EAGAIN:
                continue
            break
        return _Attempt(fd, 0, decode_log(buf) if buf is not None else "", attr.log_true_size)
    log = decode_log(buf) if buf is not None else ""
    return _Attempt(None, err, log, attr.log_true_size)


def prog_load(
    prog_type: int,
    insns: bytes,
    *,
    license: str = "GPL",
    log_level: int = 0,
    log_size: int = DEFAULT_LOG_SIZE,
    prog_flags: int = 0,
    expected_attach_type: int = 0,
    prog_name: str = "",
    kern_version: int = 0,
    prog_ifindex: int = 0,
    attach_btf_id: int = 0,
    attach_prog_fd: int = 0,
    prog_btf_fd: int = 0,
    func_info: bytes = b"",
    line_info: bytes = b"",
) -> ProgFd:
    """Load a program: ``BPF_PROG_LOAD``.

    ``insns`` is the raw instruction stream (8 bytes per ``struct bpf_insn``, little-endian
    on the supported hosts). Raises :class:`pybpf.errors.KernelError` with ``.errno`` and
    ``.log`` (the verifier log) when the kernel refuses; ``str()`` of the error is one line,
    e.g. ``BPF_PROG_LOAD failed: Permission denied (EACCES): R0 !read_ok``.

    ``prog_btf_fd`` with ``func_info``/``line_info`` (records as encoded by
    :func:`pybpf.kernel.sys.btf.encode_func_info` / ``encode_line_info``) load the program
    with BTF, as libbpf does.
    """
    if len(insns) % INSN_SIZE:
        raise ValueError(f"instruction stream of {len(insns)} bytes is not a multiple of 8")
    if log_level and log_size <= 0:
        raise ValueError("log_size must be positive when log_level is set")
    insn_buf = ctypes.create_string_buffer(bytes(insns), len(insns))
    license_buf = ctypes.create_string_buffer(license.encode("ascii"))
    if len(func_info) % FUNC_INFO_REC_SIZE:
        raise ValueError(f"func_info of {len(func_info)} bytes is not a multiple of 8")
    func_buf = ctypes.create_string_buffer(bytes(func_info), max(len(func_info), 1))
    line_buf = ctypes.create_string_buffer(bytes(line_info), max(len(line_info), 1))
    template = BpfProgLoadAttr(
        prog_type=prog_type,
        insn_cnt=len(insns) // INSN_SIZE,
        insns=ctypes.addressof(insn_buf),
        license=ctypes.addressof(license_buf),
        kern_version=kern_version,
        prog_flags=prog_flags,
        prog_name=encode_obj_name(prog_name),
        prog_ifindex=prog_ifindex,
        expected_attach_type=expected_attach_type,
        attach_btf_id=attach_btf_id,
        attach_prog_fd=attach_prog_fd,
        prog_btf_fd=prog_btf_fd,
    )
    if func_info:
        template.func_info_rec_size = FUNC_INFO_REC_SIZE
        template.func_info = ctypes.addressof(func_buf)
        template.func_info_cnt = len(func_info) // FUNC_INFO_REC_SIZE
    if line_info:
        template.line_info_rec_size = LINE_INFO_REC_SIZE
        template.line_info = ctypes.addressof(line_buf)
        template.line_info_cnt = len(line_info) // LINE_INFO_REC_SIZE
    result = _load_once(template, log_level, log_size)
    if (
        result.fd is None
        and result.errno == _errno.ENOSPC
        and log_level
        and result.log_true_size > log_size
    ):
        result = _load_once(template, log_level, result.log_true_size)
    log = result.log
    if result.fd is None and not log_level:
        retry = _load_once(template, 1, FAILURE_LOG_SIZE)
        if retry.fd is not None:  # transient failure: keep the program
            result = retry
        log = retry.log
    if result.fd is None:
        raise kernel_error(BpfCmd.PROG_LOAD, result.errno, detail=summary_line(log), log=log)
    return ProgFd(result.fd, prog_type=prog_type, log=log, name=prog_name)
