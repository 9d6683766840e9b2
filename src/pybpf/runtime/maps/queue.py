"""``BPF_MAP_TYPE_QUEUE`` (FIFO) and ``BPF_MAP_TYPE_STACK`` (LIFO).

Mirrors kernel/bpf/queue_stack_maps.c: a ring of ``max_entries + 1`` value slots;
queue_stack_map_push_elem() refuses ``BPF_NOEXIST`` and flags above ``BPF_EXIST`` (EINVAL), and
when full either fails with E2BIG or, with ``BPF_EXIST``, drops the OLDEST element to make room
(for a stack too); pop/peek of an empty map is ENOENT. There are no keys: lookup, update,
delete and get_next_key with a key are refused (EINVAL), the syscall's lookup is a peek, its
update a push, its lookup-and-delete a pop.

Python API: :meth:`push`, :meth:`pop`, :meth:`peek`, ``len()``, iteration (pop order, without
popping). Values are copied in and out (programs never get a pointer into the ring).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.flags import BPF_ANY, UpdateFlag
from pybpf.runtime.maps.status import map_error
from pybpf.runtime.memory import Memory

__all__ = ["QueueStackMap"]


class QueueStackMap(MapBase):
    """A queue or a stack of ``value_size``-byte values."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.is_stack = self.map_type == MapType.STACK
        self.size = self.max_entries + 1
        self.slots: list[bytes] = [b""] * self.size
        self.head = 0
        self.tail = 0
        self._publish()

    def _full(self) -> bool:
        head = self.head + 1
        return (0 if head >= self.size else head) == self.tail

    def _empty(self) -> bool:
        return self.head == self.tail

    # -- helper-facing ---------------------------------------------------------------------------
    def push_elem(self, value: bytes, flags: int = 0) -> int:
        """queue_stack_map_push_elem()."""
        if flags & UpdateFlag.NOEXIST or flags > UpdateFlag.EXIST:
            return -errno.EINVAL
        if self._full():
            if not flags & UpdateFlag.EXIST:
                return -errno.E2BIG
            self.tail = 0 if self.tail + 1 >= self.size else self.tail + 1
        self.slots[self.head] = bytes(value[: self.value_size])
        self.head = 0 if self.head + 1 >= self.size else self.head + 1
        return 0

    def _take(self, delete: bool) -> bytes | None:
        if self._empty():
            return None
        if self.is_stack:
            index = self.head - 1 if self.head else self.size - 1
            if delete:
                self.head = index
        else:
            index = self.tail
            if delete:
                self.tail = 0 if self.tail + 1 >= self.size else self.tail + 1
        return self.slots[index]

    def pop_elem(self) -> bytes | None:
        """queue_map_pop_elem() / stack_map_pop_elem(); None is ENOENT."""
        return self._take(True)

    def peek_elem(self) -> bytes | None:
        """queue_map_peek_elem() / stack_map_peek_elem(); None is ENOENT."""
        return self._take(False)

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        return -errno.EINVAL

    def get_next_key(self, key: bytes | None) -> bytes | None:
        raise map_error(self.name, f"get_next_key is not supported on {self.type_name}",
                        errno.EINVAL)

    # -- Python-facing -----------------------------------------------------------------------------
    def _sys_lookup(self, key: bytes) -> Any:
        return self.peek_elem()

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self.push_elem(value, flags)

    def push(self, value: Any, flags: int = BPF_ANY) -> None:
        """Push ``value`` (``BPF_EXIST`` overwrites the oldest element when full)."""
        self.update(b"", value, flags)

    def pop(self) -> bytes | None:
        """``BPF_MAP_LOOKUP_AND_DELETE_ELEM``: the next value, or None when empty."""
        self._check_write("pop")
        self._check_read("pop")
        return self.pop_elem()

    def peek(self) -> bytes | None:
        """The next value without removing it, or None when empty."""
        value: bytes | None = self.lookup(b"")
        return value

    def __len__(self) -> int:
        return (self.head - self.tail) % self.size

    def __iter__(self) -> Iterator[bytes]:
        """Values in the order :meth:`pop` would return them."""
        n = len(self)
        if self.is_stack:
            idx = [(self.head - 1 - i) % self.size for i in range(n)]
        else:
            idx = [(self.tail + i) % self.size for i in range(n)]
        return iter([self.slots[i] for i in idx])

    def keys(self) -> list[bytes]:
        raise map_error(self.name, f"{self.type_name} has no keys", errno.EINVAL)

    def values(self) -> list[Any]:
        return list(self)

    def items(self) -> list[tuple[bytes, Any]]:
        raise map_error(self.name, f"{self.type_name} has no keys", errno.EINVAL)

    def clear(self) -> None:
        """Pop everything."""
        while self.pop() is not None:
            pass

    def dump(self) -> str:
        return "\n".join(v.hex(" ") for v in self)
