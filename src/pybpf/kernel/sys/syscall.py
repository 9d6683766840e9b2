"""The raw bpf(2) system call through ctypes, with errno captured.

Owns the choice of syscall number per architecture and the translation of a failed call into
:class:`pybpf.errors.KernelError`. Nothing else here knows what a command means.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
import os
import platform
import sys

from pybpf.errors import KernelError, NotSupportedError

from .constants import BpfCmd

__all__ = ["bpf", "errno_name", "kernel_error", "syscall_number"]

_SYSCALL_NUMBERS: dict[str, int] = {
    "x86_64": 321,  # arch/x86/entry/syscalls/syscall_64.tbl
    "aarch64": 280,  # include/uapi/asm-generic/unistd.h
    "arm64": 280,
}


def syscall_number(machine: str | None = None) -> int:
    """Return ``__NR_bpf`` for ``machine`` (default: this host's ``platform.machine()``).

    Raises :class:`NotSupportedError` on anything but Linux on x86_64 or aarch64.
    """
    if machine is None:
        if not sys.platform.startswith("linux"):
            raise NotSupportedError(f"bpf() needs Linux, this is {sys.platform}")
        machine = platform.machine()
    try:
        return _SYSCALL_NUMBERS[machine]
    except KeyError:
        raise NotSupportedError(f"bpf() syscall number unknown for machine {machine!r}") from None


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library (symbols of the running process), loaded once, with errno capture."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def errno_name(err: int) -> str:
    """``13`` → ``"EACCES"`` (or ``"errno 4242"`` for an unknown number)."""
    return _errno.errorcode.get(err, f"errno {err}")


def kernel_error(cmd: BpfCmd, err: int, *, detail: str = "", log: str = "") -> KernelError:
    """Build the one-line :class:`KernelError` for a failed ``cmd``.

    The message reads ``BPF_PROG_LOAD failed: Permission denied (EACCES)[: detail]``.
    """
    message = f"{cmd.uapi_name} failed: {os.strerror(err)} ({errno_name(err)})"
    if detail:
        message += f": {detail}"
    return KernelError(message, errno=err, log=log)


def bpf(cmd: BpfCmd, attr: ctypes.Structure) -> int:
    """Call ``bpf(cmd, &attr, sizeof(attr))`` and return its non-negative result.

    Retries on ``EINTR``. Raises :class:`KernelError` (with ``.errno``) when the kernel
    refuses, and :class:`NotSupportedError` where there is no bpf() syscall to call.
    """
    nr = syscall_number()
    libc = _libc()
    while True:
        ctypes.set_errno(0)
        ret = libc.syscall(
            ctypes.c_long(nr),
            ctypes.c_int(int(cmd)),
            ctypes.c_void_p(ctypes.addressof(attr)),
            ctypes.c_uint(ctypes.sizeof(attr)),
        )
        if ret >= 0:
            return int(ret)
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            raise kernel_error(cmd, err)
