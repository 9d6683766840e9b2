"""``BPF_MAP_TYPE_PROG_ARRAY``: the jump table of ``bpf_tail_call()``.

The kernel stores ``struct bpf_prog`` pointers taken from program fds; here an entry is any
Python object the caller supplies (a loaded program of whichever backend), and
:meth:`ProgArray.get` is what a tail-call resolver asks for. Mirrors the fd-array parts of
kernel/bpf/arraymap.c: update with flags other than ``BPF_ANY`` → EINVAL, index out of range →
E2BIG (update and delete), delete of an empty index → ENOENT, get_next_key as an array,
syscall lookup of an empty index → ENOENT. Programs cannot look up or update a prog array
(the verifier forbids it): those helper entry points answer NULL / EINVAL.

Not modelled: bpf_prog_array_compatible() (program type/owner checks), ``BPF_F_PRESERVE_ELEMS``.
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.flags import UpdateFlag
from pybpf.runtime.maps.status import map_error
from pybpf.runtime.memory import Memory

__all__ = ["ProgArray"]


class ProgArray(MapBase):
    """A prog array whose entries are caller-supplied program objects."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.progs: list[Any] = [None] * self.max_entries
        self._publish()

    def get(self, index: int) -> Any:
        """The program at ``index`` for ``bpf_tail_call()``, or None (the call falls through)."""
        if 0 <= index < self.max_entries:
            return self.progs[index]
        return None

    def delete_elem(self, key: bytes) -> int:
        """fd_array_map_delete_elem()."""
        index = int.from_bytes(key[:4], "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        if self.progs[index] is None:
            return -errno.ENOENT
        self.progs[index] = None
        return 0

    def get_next_key(self, key: bytes | None) -> bytes | None:
        """array_map_get_next_key()."""
        index = int.from_bytes(key[:4], "little") if key is not None else 0xFFFFFFFF
        if index >= self.max_entries:
            return (0).to_bytes(4, "little")
        if index == self.max_entries - 1:
            return None
        return (index + 1).to_bytes(4, "little")

    # -- Python-facing -----------------------------------------------------------------------------
    def _coerce(self, value: Any) -> Any:
        if value is None:
            raise map_error(self.name, "a program object is required (use del to clear)",
                            errno.EINVAL)
        return value

    def _sys_lookup(self, key: bytes) -> Any:
        index = int.from_bytes(key, "little")
        return self.progs[index] if index < self.max_entries else None

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        """fd_array_map_update_elem()."""
        if flags != UpdateFlag.ANY:
            return -errno.EINVAL
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        self.progs[index] = value
        return 0

    def keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i, p in enumerate(self.progs) if p is not None]

    def items(self) -> list[tuple[bytes, Any]]:
        return [(i.to_bytes(4, "little"), p) for i, p in enumerate(self.progs) if p is not None]

    def __len__(self) -> int:
        return sum(p is not None for p in self.progs)
