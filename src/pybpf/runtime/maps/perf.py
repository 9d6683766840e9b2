"""``BPF_MAP_TYPE_PERF_EVENT_ARRAY``: per-CPU output channels for ``bpf_perf_event_output()``.

In the kernel each index holds a perf event (opened by user space for one CPU) whose ring
buffer receives ``PERF_RECORD_SAMPLE`` raw records. Here each index may hold a
:class:`PerfEventBuffer` — opened with :meth:`PerfEventArray.open` for a CPU (by default the
index, as libbpf's perf buffer opens index ``i`` for CPU ``i``) — whose :attr:`records` is a
Python list the outputs are appended to, in order.

Mirrors __bpf_perf_event_output()/bpf_perf_event_output() of kernel/trace/bpf_trace.c: flags
outside ``BPF_F_INDEX_MASK`` → EINVAL, index ``BPF_F_CURRENT_CPU`` means the current CPU, an
index past ``max_entries`` → E2BIG, no event at the index → ENOENT, an event opened for another
CPU → EOPNOTSUPP. skb/xdp programs' ``BPF_F_CTXLEN_MASK`` bits are the helper's business: it
passes the packet bytes as ``ctx_data``, appended to the record. Python-side the map behaves as
the syscall does: lookup is ENOTSUPP, delete of an empty index ENOENT, out of range E2BIG.

Not modelled: lost-sample accounting, ``BPF_F_PRESERVE_ELEMS`` (entries never go away here).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.flags import BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK
from pybpf.runtime.maps.status import ENOTSUPP, map_error
from pybpf.runtime.memory import Memory

__all__ = ["PerfEventArray", "PerfEventBuffer"]


@dataclass(slots=True, eq=False)
class PerfEventBuffer:
    """An opened perf event: the CPU it counts on and the raw samples received so far."""

    cpu: int
    records: list[bytes] = field(default_factory=list)


class PerfEventArray(MapBase):
    """A perf event array whose events are Python-visible record lists."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.events: list[PerfEventBuffer | None] = [None] * self.max_entries
        self._publish()

    def open(self, index: int, cpu: int | None = None) -> PerfEventBuffer:
        """Install a new event at ``index`` counting on ``cpu`` (default: ``index``)."""
        if not 0 <= index < self.max_entries:
            raise map_error(self.name, f"index {index} out of range", errno.E2BIG)
        event = PerfEventBuffer(index if cpu is None else cpu)
        self.events[index] = event
        return event

    def open_all(self) -> list[PerfEventBuffer]:
        """One event per possible CPU at indices ``0..ncpus-1`` (libbpf's perf_buffer)."""
        return [self.open(i) for i in range(min(self.ncpus, self.max_entries))]

    def records(self, index: int) -> list[bytes]:
        """The records output at ``index`` (empty if nothing is open there)."""
        event = self.events[index] if 0 <= index < self.max_entries else None
        return [] if event is None else event.records

    # -- helper-facing ---------------------------------------------------------------------------
    def output(self, data: bytes, flags: int = BPF_F_CURRENT_CPU, *, cpu: int = 0,
               ctx_data: bytes = b"") -> int:
        """bpf_perf_event_output(): append ``data + ctx_data`` as one record; 0 or -errno."""
        if flags & ~BPF_F_INDEX_MASK:
            return -errno.EINVAL
        index = flags & BPF_F_INDEX_MASK
        if index == BPF_F_CURRENT_CPU:
            index = cpu
        if index >= self.max_entries:
            return -errno.E2BIG
        event = self.events[index]
        if event is None:
            return -errno.ENOENT
        if event.cpu != cpu:
            return -errno.EOPNOTSUPP
        event.records.append(bytes(data) + bytes(ctx_data))
        return 0

    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        return 0

    def delete_elem(self, key: bytes) -> int:
        """fd_array_map_delete_elem()."""
        index = int.from_bytes(key[:4], "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        if self.events[index] is None:
            return -errno.ENOENT
        self.events[index] = None
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
    def _sys_lookup(self, key: bytes) -> Any:
        raise map_error(self.name, "lookup is not supported on perf_event_array", ENOTSUPP)

    def _coerce(self, value: Any) -> Any:
        if not isinstance(value, PerfEventBuffer):
            raise map_error(self.name, "values are PerfEventBuffer objects (use open())",
                            errno.EINVAL)
        return value

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        if flags:
            return -errno.EINVAL
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        self.events[index] = value
        return 0

    def keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i, e in enumerate(self.events) if e is not None]

    def items(self) -> list[tuple[bytes, Any]]:
        return [(i.to_bytes(4, "little"), e) for i, e in enumerate(self.events) if e is not None]

    def lookup(self, key: Any, default: Any = None) -> Any:
        """The :class:`PerfEventBuffer` at ``key`` (a Python convenience; the syscall refuses)."""
        index = int.from_bytes(self.key_bytes(key), "little")
        event = self.events[index] if index < self.max_entries else None
        return default if event is None else event

    def __len__(self) -> int:
        return sum(e is not None for e in self.events)
