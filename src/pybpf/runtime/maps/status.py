"""Errno values and the error a map operation raises on the Python side.

Helper-facing operations return ``-errno`` as the kernel's helpers do; Python-facing ones raise
:class:`pybpf.errors.KernelError` carrying the same ``errno`` — the exception
:mod:`pybpf.kernel.sys` raises for real kernel maps, so code handles both backends alike.
"""

from __future__ import annotations

import errno as _errno
import os

from pybpf.errors import KernelError

__all__ = ["ENOTSUPP", "errno_name", "map_error", "raise_for"]

#: The kernel-internal ``ENOTSUPP`` (include/linux/errno.h), seen by user space as 524.
ENOTSUPP = 524


def errno_name(err: int) -> str:
    """``22`` → ``"EINVAL"``; 524 → ``"ENOTSUPP"``."""
    if err == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(err, f"errno {err}")


def map_error(map_name: str, message: str, err: int) -> KernelError:
    """``map 'x': <message> (EINVAL)`` as a :class:`KernelError` with ``errno`` set."""
    return KernelError(f"map '{map_name}': {message} ({errno_name(err)})", errno=err)


def raise_for(map_name: str, operation: str, ret: int) -> None:
    """Raise for a negative helper-style return ``ret`` of ``operation``; do nothing otherwise."""
    if ret >= 0:
        return
    err = -ret
    reason = "operation not supported" if err == ENOTSUPP else os.strerror(err)
    raise map_error(map_name, f"{operation}: {reason}", err)
