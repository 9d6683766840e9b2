"""Ownership of the file descriptors bpf(2) returns (programs, maps, ...).

An :class:`OwnedFd` closes its descriptor once: on :meth:`close`, on leaving a ``with``
block, or when garbage-collected. :meth:`detach` hands the descriptor to the caller instead.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

__all__ = ["FdLike", "OwnedFd", "fileno"]


class OwnedFd:
    """A file descriptor owned by this object; closed with ``os.close``."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        if fd < 0:
            raise ValueError(f"invalid file descriptor {fd}")
        self._fd: int = fd

    @property
    def fd(self) -> int:
        """The descriptor number; raises ``ValueError`` once closed or detached."""
        if self._fd < 0:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        """Whether the descriptor was closed or detached."""
        return self._fd < 0

    def fileno(self) -> int:
        """Same as :attr:`fd` (the ``io`` protocol)."""
        return self.fd

    def detach(self) -> int:
        """Give up ownership: return the descriptor without closing it."""
        fd = self.fd
        self._fd = -1
        return fd

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}"
        return f"<{type(self).__name__} {state}>"


FdLike = int | OwnedFd
"""A raw descriptor number or an object owning one."""


def fileno(fd: FdLike) -> int:
    """The descriptor number behind ``fd``."""
    return fd.fd if isinstance(fd, OwnedFd) else int(fd)
