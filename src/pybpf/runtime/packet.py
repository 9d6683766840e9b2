"""A packet in a linear buffer with head- and tailroom, as programs see it.

Mirrors the linear data of ``struct xdp_buff`` (``data_hard_start``, ``data_meta``,
``data``, ``data_end``) and of an ``sk_buff`` (``head``, ``data``, ``tail``). The buffer is
mapped from its start (``data_hard_start``, ``head``) to ``data_end``, so the packet
pointers sit where the kernel's do relative to their page: XDP ``data`` is the region's
base plus the 256 bytes of ``XDP_PACKET_HEADROOM`` (plus any ``bpf_xdp_adjust_head``
movement), ``data_meta`` grows down into the headroom, skb ``data`` follows ``NET_SKB_PAD``.
Their low 32 bits are never zero, as no kernel packet pointer's are (clang tests pointers
with 32-bit compares). The tailroom is not mapped: an access past ``data_end`` faults.
The headroom is, as in the kernel, where the verifier alone keeps programs out of it.
Every change of geometry (``bpf_xdp_adjust_head`` and friends) maps the packet afresh over
its new extent, under the same region id (the freed id is the next one taken): as in the
kernel, where the buffer does not move, an address taken before the change still names the
same buffer byte if it is still mapped; only the verifier stops programs from using it.
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.runtime.memory import Memory, Region, RegionKind


class PacketBuffer:
    """Packet bytes ``buf[data:end]`` with metadata ``buf[meta:data]``."""

    def __init__(
        self, memory: Memory, data: bytes, *, headroom: int, tailroom: int, name: str = "packet",
        metadata: int = 0,
    ) -> None:
        """``data`` goes after ``headroom`` bytes; its first ``metadata`` bytes are metadata."""
        self.memory = memory
        self.name = name
        self.buf = bytearray(headroom + len(data) + tailroom)
        self.buf[headroom : headroom + len(data)] = data
        self.meta = headroom
        self.data = headroom + metadata
        self.end = headroom + len(data)
        self.region: Region | None = None
        #: Called after every change of geometry (the XDP context keeps its native half
        #: in sync with it).
        self.listener: Callable[[], None] | None = None
        self._map()

    # -- geometry --------------------------------------------------------------------------
    @property
    def headroom(self) -> int:
        return self.meta

    @property
    def tailroom(self) -> int:
        return len(self.buf) - self.end

    def __len__(self) -> int:
        return self.end - self.data

    def bytes(self) -> bytes:
        """The packet from ``data`` to ``data_end``."""
        return bytes(self.buf[self.data : self.end])

    def metadata(self) -> bytes:
        return bytes(self.buf[self.meta : self.data])

    def set_layout(self, meta: int, data: int, end: int) -> None:
        """Move the markers (buffer offsets) and map the packet afresh."""
        if not 0 <= meta <= data <= end <= len(self.buf):
            raise ValueError(f"bad packet layout meta={meta} data={data} end={end}")
        self.meta, self.data, self.end = meta, data, end
        self._map()

    def replace_buffer(self, buf: bytearray, meta: int, data: int, end: int) -> None:
        """Use a new (e.g. larger) buffer, as ``pskb_expand_head()`` does."""
        self.buf = buf
        self.set_layout(meta, data, end)

    def refit(self, meta: int, data: int, end: int) -> None:
        """Move the markers for a new frame in the same buffer, keeping the packet's region
        (and so its address): a reused buffer between runs, not a change within a run."""
        if not 0 <= meta <= data <= end <= len(self.buf) or self.region is None:
            raise ValueError(f"bad packet layout meta={meta} data={data} end={end}")
        self.meta, self.data, self.end = meta, data, end
        self.memory.remap(self.region, memoryview(self.buf)[:end])
        if self.listener is not None:
            self.listener()

    def _map(self) -> None:
        if self.region is not None:
            self.memory.unmap(self.region)
        view = memoryview(self.buf)[: self.end]
        self.region = self.memory.map(view, RegionKind.PACKET, self.name)
        if self.listener is not None:
            self.listener()

    def release(self) -> None:
        if self.region is not None:
            self.memory.unmap(self.region)
            self.region = None

    # -- pointers programs hold ------------------------------------------------------------
    def address_of(self, offset: int) -> int:
        """Program address of buffer offset ``offset`` (the mapped region starts at offset 0)."""
        assert self.region is not None
        return self.region.base + offset

    def offset_of(self, address: int) -> int | None:
        """Buffer offset of a program address between the buffer's start and ``data_end``,
        else None."""
        if self.region is None:
            return None
        rel = (address & 0xFFFFFFFFFFFFFFFF) - self.region.base
        if 0 <= rel <= self.end:
            return rel
        return None

    @property
    def data_ptr(self) -> int:
        return self.address_of(self.data)

    @property
    def data_end_ptr(self) -> int:
        return self.address_of(self.end)

    @property
    def data_meta_ptr(self) -> int:
        return self.address_of(self.meta)
