"""``BPF_MAP_TYPE_RINGBUF``: the BPF ring buffer, producer side for programs, consumer for Python.

Mirrors kernel/bpf/ringbuf.c of Linux 6.18. Records are an 8-byte ``struct bpf_ringbuf_hdr``
(``u32 len`` with ``BPF_RINGBUF_BUSY_BIT`` while reserved and ``BPF_RINGBUF_DISCARD_BIT`` when
discarded, ``u32 pg_off``) followed by the data, each taking ``round_up(len + 8, 8)`` bytes.
__bpf_ringbuf_reserve() fails (NULL) for a record longer than the ring, or when the producer
would get more than ``size - 1`` bytes ahead of the consumer or of the oldest record not yet
committed (``pending_pos``); bpf_ringbuf_reserve() with non-zero flags returns NULL;
bpf_ringbuf_output() with flags other than the wake-up flags is EINVAL and without room EAGAIN;
bpf_ringbuf_query() answers ``BPF_RB_AVAIL_DATA``/``RING_SIZE``/``CONS_POS``/``PROD_POS`` and 0
for anything else. Submit and discard never fail (the verifier guarantees a reserved pointer).

Memory: the data area is mapped ONCE at twice its size, so a record that wraps past the end is
contiguous, as the kernel's double mapping of the data pages makes it; :meth:`reserve` returns
an address inside that region which the program fills in place. ``pg_off`` is the record's page
offset from the start of ``struct bpf_ringbuf`` (data starts at page 3) as the kernel computes it.
Reserve and commit are the native library's (:mod:`pybpf.native.ringbuf_ir`), on the positions
in :class:`~pybpf.native.layout.RingbufNative`, which compiled programs call directly; the map's
header and data regions point native code at it (``NativeKind.RINGBUF``).

Python consumer: :meth:`consume` returns the committed records in order and advances the
consumer position (stopping at a record still reserved); discarded records are skipped.
Not modelled: wake-ups and epoll (the flags are accepted), user-space ``mmap``.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from typing import Any

from pybpf.native.layout import NativeKind, RingbufNative
from pybpf.native.library import library
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.codec import round_up
from pybpf.runtime.maps.flags import (
    BPF_RINGBUF_BUSY_BIT,
    BPF_RINGBUF_DISCARD_BIT,
    BPF_RINGBUF_HDR_SZ,
    RingbufFlag,
    RingbufQuery,
)
from pybpf.runtime.maps.header import map_header_region
from pybpf.runtime.maps.status import ENOTSUPP, map_error
from pybpf.runtime.memory import Memory, RegionKind

__all__ = ["RingBuf"]

U64 = 0xFFFFFFFFFFFFFFFF
_HDR = struct.Struct("<II")


class RingBuf(MapBase):
    """A ring buffer map."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.mask = self.max_entries - 1
        self.data = bytearray(2 * self.max_entries)
        #: The producer state native code shares (:mod:`pybpf.native.ringbuf_ir`).
        self.desc = RingbufNative(mask=self.mask)
        self._pin = (ctypes.c_char * len(self.data)).from_buffer(self.data)
        self.desc.data = ctypes.addressof(self._pin)
        self.region = memory.map(self.data, RegionKind.MEM, f"ringbuf '{self.name}' data",
                                 native=ctypes.addressof(self.desc),
                                 native_kind=NativeKind.RINGBUF, owner=self)
        self.desc.vaddr = self.region.base
        self._regions.append(self.region)
        self._publish()

    def _publish(self) -> None:
        self._header = map_header_region(self, self.memory, ctypes.addressof(self.desc),
                                         NativeKind.RINGBUF)

    @property
    def size(self) -> int:
        """Bytes of the data area (``max_entries``)."""
        return self.max_entries

    @property
    def consumer_pos(self) -> int:
        return int(self.desc.consumer_pos)

    @consumer_pos.setter
    def consumer_pos(self, value: int) -> None:
        self.desc.consumer_pos = value

    @property
    def producer_pos(self) -> int:
        return int(self.desc.producer_pos)

    @property
    def pending_pos(self) -> int:
        return int(self.desc.pending_pos)

    def _hdr_len(self, pos: int) -> int:
        return int(_HDR.unpack_from(self.data, pos & self.mask)[0])

    # -- helper-facing (the native library's reserve and commit) -------------------------------
    def reserve(self, size: int, flags: int = 0) -> int:
        """bpf_ringbuf_reserve(): the address to fill, or 0 (NULL)."""
        lib = library()
        return int(lib.fn["pb_ringbuf_reserve"](ctypes.addressof(self.desc), size & U64,
                                                 flags & U64))

    def _commit(self, addr: int, discard: bool) -> None:
        """bpf_ringbuf_commit()."""
        lib = library()
        if lib.fn["pb_ringbuf_commit"](ctypes.addressof(self.desc), addr & U64, int(discard)):
            off = (addr & U64) - self.region.base - BPF_RINGBUF_HDR_SZ
            if not 0 <= off < self.size:
                raise map_error(self.name, f"{addr:#x} is not a record of this ring buffer",
                                errno.EINVAL)
            raise map_error(self.name, f"record at {addr:#x} is not reserved (already "
                            "submitted or discarded)", errno.EINVAL)

    def submit(self, addr: int, flags: int = 0) -> int:
        """bpf_ringbuf_submit(): commit the record at ``addr``; returns 0."""
        self._commit(addr, False)
        return 0

    def discard(self, addr: int, flags: int = 0) -> int:
        """bpf_ringbuf_discard(): drop the record at ``addr``; returns 0."""
        self._commit(addr, True)
        return 0

    def output(self, data: bytes, flags: int = 0) -> int:
        """bpf_ringbuf_output(): copy ``data`` in as one record; 0, -EINVAL or -EAGAIN."""
        if flags & ~int(RingbufFlag.NO_WAKEUP | RingbufFlag.FORCE_WAKEUP):
            return -errno.EINVAL
        addr = self.reserve(len(data))
        if not addr:
            return -errno.EAGAIN
        off = addr - self.region.base
        self.data[off : off + len(data)] = data
        self._commit(addr, False)
        return 0

    def query(self, flags: int) -> int:
        """bpf_ringbuf_query()."""
        if flags == RingbufQuery.AVAIL_DATA:
            return self.producer_pos - self.consumer_pos
        if flags == RingbufQuery.RING_SIZE:
            return self.size
        if flags == RingbufQuery.CONS_POS:
            return self.consumer_pos
        if flags == RingbufQuery.PROD_POS:
            return self.producer_pos
        return 0

    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        return 0

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        return -ENOTSUPP

    def get_next_key(self, key: bytes | None) -> bytes | None:
        raise map_error(self.name, "get_next_key is not supported on ringbuf", ENOTSUPP)

    # -- Python consumer ----------------------------------------------------------------------------
    def consume(self, limit: int | None = None) -> list[bytes]:
        """Committed records in order (discarded ones skipped), advancing the consumer."""
        out: list[bytes] = []
        pos = self.consumer_pos
        while pos < self.producer_pos and (limit is None or len(out) < limit):
            hdr_len = self._hdr_len(pos)
            if hdr_len & BPF_RINGBUF_BUSY_BIT:
                break
            size = hdr_len & ~BPF_RINGBUF_DISCARD_BIT
            if not hdr_len & BPF_RINGBUF_DISCARD_BIT:
                start = (pos & self.mask) + BPF_RINGBUF_HDR_SZ
                out.append(bytes(self.data[start : start + size]))
            pos += round_up(size + BPF_RINGBUF_HDR_SZ, 8)
        self.consumer_pos = pos
        return out

    def _sys_lookup(self, key: bytes) -> Any:
        raise map_error(self.name, "lookup is not supported on ringbuf", ENOTSUPP)

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return -ENOTSUPP

    def __len__(self) -> int:
        """Bytes produced but not consumed (``BPF_RB_AVAIL_DATA``)."""
        return self.producer_pos - self.consumer_pos

    def keys(self) -> list[bytes]:
        raise map_error(self.name, "ringbuf has no keys", ENOTSUPP)

    def items(self) -> list[tuple[bytes, Any]]:
        raise map_error(self.name, "ringbuf has no keys", ENOTSUPP)

    def values(self) -> list[Any]:
        raise map_error(self.name, "ringbuf has no keys (use consume())", ENOTSUPP)

    def clear(self) -> None:
        """Consume everything committed."""
        self.consume()

    def dump(self) -> str:
        return f"ringbuf '{self.name}': {len(self)} bytes pending"
