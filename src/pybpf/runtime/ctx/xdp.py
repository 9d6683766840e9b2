"""The XDP context (``struct xdp_md``) over a :class:`~pybpf.runtime.packet.PacketBuffer`.

Mirrors ``xdp_convert_ctx_access()`` (net/core/filter.c): ``data``, ``data_end`` and
``data_meta`` read as 64-bit packet pointers, ``ingress_ifindex``/``rx_queue_index`` come
from the receive queue, ``egress_ifindex`` from the transmit queue (0 outside devmap progs).
Geometry of ``bpf_prog_test_run_xdp()`` on Linux 6.18 (measured): 256 bytes of headroom of
which the first 40 (``struct xdp_frame``) are unusable, a 4096-byte frame with 320 bytes of
tailroom (``skb_shared_info``), so at most 3520 bytes of linear packet. Longer frames are
accepted (with or without BPF_F_XDP_HAS_FRAGS): the rest becomes fragments, which programs
reach only through helpers (``bpf_xdp_load_bytes``...) and which ``data_out`` returns.
The packet region starts at ``data_hard_start``, so ``data`` is its base plus 256
(e.g. ``0xffff888900001100``), ``data_meta`` below it.

The packet pointers are also kept in a native structure
(:class:`~pybpf.native.layout.XdpMdNative`) the context region points at, updated after
every change of the packet's geometry, so compiled code reads ``data``/``data_end``/
``data_meta`` without calling Python (as the kernel's rewritten loads read ``xdp_buff``),
and native code may move them (:mod:`pybpf.native.xdp_ir`): :meth:`XdpContext.adopt_native`
brings the packet up to date before Python looks at it again.
"""

from __future__ import annotations

import ctypes

from pybpf.native.layout import NativeKind, XdpMdNative
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.runtime.ctx.base import PACKET_POINTERS, ContextRegion, NativeRedirect
from pybpf.runtime.memory import Memory
from pybpf.runtime.packet import PacketBuffer

XDP_PACKET_HEADROOM = 256
XDP_FRAME_SIZE = 4096
XDP_FRAME_STRUCT = 40  # sizeof(struct xdp_frame): adjust_head may not reach into it
SKB_SHARED_INFO = 320  # SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86_64
XDP_MAX_LINEAR = XDP_FRAME_SIZE - XDP_PACKET_HEADROOM - SKB_SHARED_INFO
XDP_METADATA_MAX = 255  # xdp_metalen_invalid() on 6.18 (was 32 before)
ETH_HLEN = 14


class XdpContext:
    """``struct xdp_md`` for one frame; ``packet`` is the frame's linear buffer."""

    #: Where XDP_REDIRECT sends the frame (set by bpf_redirect/bpf_redirect_map).
    redirect = NativeRedirect()
    #: What the region-table row of the context points at (its native half).
    NATIVE_KIND = NativeKind.XDP_MD

    def __init__(
        self,
        memory: Memory,
        data: bytes,
        *,
        metadata: bytes = b"",
        ingress_ifindex: int = 1,
        rx_queue_index: int = 0,
        egress_ifindex: int = 0,
    ) -> None:
        #: Bytes past the linear part (the frame's fragments).
        self.frags = bytearray(data[XDP_MAX_LINEAR:])
        data = data[:XDP_MAX_LINEAR]
        self.packet = PacketBuffer(
            memory,
            metadata + data,
            headroom=XDP_PACKET_HEADROOM - len(metadata),
            tailroom=XDP_FRAME_SIZE - XDP_PACKET_HEADROOM - len(data),
            name="xdp packet",
            metadata=len(metadata),
        )
        pkt = self.packet
        self.native = XdpMdNative()
        self.native.answered = 0b111  # data, data_end, data_meta
        #: Pins the buffer (it never moves: XDP geometry changes stay inside it) for the
        #: native geometry helpers.
        self._pin = (ctypes.c_char * len(pkt.buf)).from_buffer(pkt.buf)
        self.native.host = ctypes.addressof(self._pin)
        self.region = ContextRegion(
            memory,
            CTX_STRUCTS["xdp_md"],
            getters={
                "data": lambda: pkt.data_ptr,
                "data_end": lambda: pkt.data_end_ptr,
                "data_meta": lambda: pkt.data_meta_ptr,
            },
            pointer_fields=PACKET_POINTERS,
            native=self.native,
            native_kind=self.NATIVE_KIND,
        )
        pkt.listener = self._sync_native
        self._sync_native()
        self.region.set("ingress_ifindex", ingress_ifindex)
        self.region.set("rx_queue_index", rx_queue_index)
        self.region.set("egress_ifindex", egress_ifindex)

    def _sync_native(self) -> None:
        pkt = self.packet
        native = self.native
        native.data = pkt.data_ptr
        native.data_end = pkt.data_end_ptr
        native.data_meta = pkt.data_meta_ptr
        native.base = pkt.address_of(0)

    def adopt_native(self) -> None:
        """Take the geometry native code gave the packet (``bpf_xdp_adjust_head()``... done
        by :mod:`pybpf.native.xdp_ir`), mapping the packet afresh, if it differs."""
        native, pkt = self.native, self.packet
        if pkt.region is None:
            return
        base = pkt.region.base
        meta, data, end = (native.data_meta - base, native.data - base,
                           native.data_end - base)
        if (meta, data, end) != (pkt.meta, pkt.data, pkt.end):
            pkt.set_layout(meta, data, end)

    @property
    def address(self) -> int:
        return self.region.address

    @property
    def frame_end(self) -> int:
        """Buffer offset past which the packet cannot grow (tailroom reserved)."""
        return XDP_FRAME_SIZE - SKB_SHARED_INFO

    def ctx_out(self) -> bytes:
        """``xdp_convert_buff_to_md()``: data/data_end relative to data_meta."""
        pkt = self.packet
        out = bytearray(self.region.snapshot())
        layout = self.region.layout
        for name, value in (("data", pkt.data - pkt.meta), ("data_end", pkt.end - pkt.meta),
                            ("data_meta", 0)):
            off = layout.offsetof(name)
            out[off : off + 4] = value.to_bytes(4, "little")
        return bytes(out)

    def release(self) -> None:
        self.packet.release()
        self.region.release()
