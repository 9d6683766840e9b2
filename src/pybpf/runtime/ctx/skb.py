"""The socket-buffer context (``struct __sk_buff``) of socket filters, tc and cgroup_skb.

Mirrors ``bpf_convert_ctx_access()`` (net/core/filter.c) and the skb that
``bpf_prog_test_run_skb()`` (net/bpf/test_run.c) builds, as measured on Linux 6.18:
the frame arrives on the loopback device (``ifindex`` 1, ``ingress_ifindex`` 0),
``eth_type_trans()`` sets ``protocol`` (the big-endian EtherType, read as a little-endian
u32) and ``pkt_type`` (lo's broadcast address is all zeroes, so ff:ff:ff:ff:ff:ff is
PACKET_MULTICAST, as KERNEL-NOTES records), socket filters see the
packet from the network header (``len`` excludes the 14-byte Ethernet header) while tc
programs see it from the MAC header. Plain fields (``mark``, ``priority``, ``cb[]``,
``tc_index``, ``hash``...) live in the context buffer; ``len`` and the packet pointers are
computed from the packet. The packet region starts at ``skb->head``: ``data`` is
``NET_SKB_PAD`` (64) bytes in for tc, 78 for socket filters, whose Ethernet header sits in
the headroom before it (``eth_type_trans()`` pulled it), as in the kernel.

The computed fields and the buffer's place are also kept in a native structure
(:class:`~pybpf.native.layout.SkbNative`) the context region points at, updated after every
change of the packet's geometry, so compiled code reads ``len``/``data``/``data_end``/
``data_meta`` and the plain fields without Python, and the native packet helpers
(:mod:`pybpf.native.skb_ir`) find the packet; it also holds the ``sk_buff`` state helpers
read and change (:class:`~pybpf.runtime.helpers.skb_meta.SkbMeta`: checksum and hash state,
header offsets...). The native geometry helpers (:mod:`pybpf.native.skb_geo_ir`) move
the packet inside its buffer there; :meth:`SkbContext.adopt_native` brings the packet up
to date before Python looks at it again.
"""

from __future__ import annotations

import ctypes

from pybpf.native.layout import SKB_HEADER_UNSET, NativeKind, SkbNative
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.runtime.ctx.base import PACKET_POINTERS, ContextRegion, NativeRedirect
from pybpf.runtime.memory import Memory
from pybpf.runtime.packet import PacketBuffer

SKB_STRUCT = CTX_STRUCTS["__sk_buff"]
NET_SKB_PAD = 64
NET_IP_ALIGN = 0  # x86_64
ETH_HLEN = 14
SKB_TAILROOM = 320  # skb_shared_info
PAGE_SIZE = 4096
#: Largest frame bpf_test_init() accepts for skb programs: PAGE_SIZE - headroom - tailroom
#: (3712 bytes on x86_64, measured on 6.18).
SKB_MAX_TEST_FRAME = PAGE_SIZE - (NET_SKB_PAD + NET_IP_ALIGN) - SKB_TAILROOM

PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3

#: Size of the kernel object each ``__sk_buff`` field is rewritten to load
#: (``bpf_convert_ctx_access()``): narrow loads shift only below this size.
SKB_TARGET_SIZES = {
    "pkt_type": 1, "queue_mapping": 2, "protocol": 2, "vlan_present": 1, "vlan_tci": 2,
    "vlan_proto": 2, "tc_index": 2, "tc_classid": 2, "gso_segs": 2, "gso_size": 2,
    "tstamp_type": 1,
}

#: ``SkbNative.values`` slot (context offset / 4) of each computed field.
NATIVE_SLOTS = {"len": 0, "data": 19, "data_end": 20, "data_meta": 35}

#: __sk_buff fields ``bpf_prog_test_run_skb()`` accepts in ctx_in (convert___skb_to_skb()).
CTX_IN_FIELDS = ("mark", "priority", "ingress_ifindex", "ifindex", "cb[0]", "cb[1]", "cb[2]",
                 "cb[3]", "cb[4]", "tstamp", "wire_len", "gso_segs", "gso_size", "hwtstamp")


def reset_headers(native: SkbNative, mac_header: int) -> None:
    """The ``sk_buff`` state ``bpf_prog_test_run_skb()`` leaves, in ``native``, the MAC header
    at buffer offset ``mac_header``: ``eth_type_trans()`` put the network header 14 bytes
    later; no transport header, ``mac_len`` 0, no encapsulation, GSO type or checksum
    level (:class:`pybpf.runtime.helpers.skb_meta.SkbMeta` reads them)."""
    native.mac_header = mac_header
    native.network_header = mac_header + ETH_HLEN
    native.transport_header = SKB_HEADER_UNSET
    native.mac_len = native.csum_level = native.encapsulation = native.gso_type = 0


def pkt_type_of(frame: bytes, dev_addr: bytes = bytes(6), dev_broadcast: bytes = bytes(6)) -> int:
    """``eth_type_trans()``: the packet type from the destination MAC (defaults: lo)."""
    dst = frame[:6]
    if dst[0] & 1:
        return PACKET_BROADCAST if dst == dev_broadcast else PACKET_MULTICAST
    return PACKET_HOST if dst == dev_addr else PACKET_OTHERHOST


class SkbContext:
    """``struct __sk_buff`` for one packet. ``l2`` says whether data starts at the MAC header."""

    #: Where TC_ACT_REDIRECT sends the packet (set by bpf_redirect...).
    redirect = NativeRedirect()
    #: What the region-table row of the context points at (its native half).
    NATIVE_KIND = NativeKind.SKB

    def __init__(self, memory: Memory, frame: bytes, *, l2: bool, ctx_in: bytes = b"") -> None:
        self.l2 = l2
        start = 0 if l2 else ETH_HLEN
        self.mac_header = bytes(frame[:ETH_HLEN])
        payload = frame[start:]
        self.packet = PacketBuffer(
            memory, payload, headroom=NET_SKB_PAD + NET_IP_ALIGN + start,
            tailroom=SKB_TAILROOM, name="skb data",
        )
        pkt = self.packet
        if not l2:
            pkt.buf[pkt.data - ETH_HLEN : pkt.data] = self.mac_header
        self.native = SkbNative()
        self.native.answered = sum(1 << slot for slot in NATIVE_SLOTS.values())
        #: Pins the packet buffer (``skb->head``) for native code; a new buffer
        #: (``pskb_expand_head()``) is pinned afresh.
        self._pin: ctypes.Array[ctypes.c_char] | None = None
        self._pinned: bytearray | None = None
        self.region = ContextRegion(
            memory,
            CTX_STRUCTS["__sk_buff"],
            getters={
                "len": lambda: len(pkt),
                "data": lambda: pkt.data_ptr,
                "data_end": lambda: pkt.data_end_ptr,
                "data_meta": lambda: pkt.data_meta_ptr,
            },
            pointer_fields=PACKET_POINTERS,
            initial=ctx_in,
            target_sizes=SKB_TARGET_SIZES,
            native=self.native,
            native_kind=self.NATIVE_KIND,
        )
        pkt.listener = self._sync_native
        self._sync_native()
        reset_headers(self.native, pkt.data - (0 if l2 else ETH_HLEN))
        region = self.region
        region.set("pkt_type", pkt_type_of(frame))
        region.set("protocol", int.from_bytes(frame[12:14], "little"))
        region.set("ifindex", 1)
        self.frame_len = len(frame)

    def _sync_native(self) -> None:
        pkt = self.packet
        native = self.native
        if self._pinned is not pkt.buf:
            self._pin = (ctypes.c_char * len(pkt.buf)).from_buffer(pkt.buf)
            self._pinned = pkt.buf
            native.host = ctypes.addressof(self._pin)
        values = native.values
        values[NATIVE_SLOTS["len"]] = len(pkt)
        values[NATIVE_SLOTS["data"]] = pkt.data_ptr
        values[NATIVE_SLOTS["data_end"]] = pkt.data_end_ptr
        values[NATIVE_SLOTS["data_meta"]] = pkt.data_meta_ptr
        native.base = pkt.address_of(0)
        native.data = pkt.data
        native.end = pkt.end
        native.size = len(pkt.buf)

    def adopt_native(self) -> None:
        """Take the geometry native code gave the packet (``bpf_skb_change_tail()``... done
        by :mod:`pybpf.native.skb_geo_ir` in the same buffer), mapping the packet afresh, if
        it differs."""
        native, pkt = self.native, self.packet
        if pkt.region is None or self._pinned is not pkt.buf:
            return
        data, end = native.data, native.end
        if (data, end) != (pkt.data, pkt.end):
            pkt.set_layout(data, data, end)

    @property
    def address(self) -> int:
        return self.region.address

    def data_out(self) -> bytes:
        """The packet as test_run returns it: socket filters get a zeroed MAC header back."""
        if self.l2:
            return self.packet.bytes()
        return bytes(ETH_HLEN) + self.packet.bytes()

    def ctx_out(self) -> bytes:
        """``convert_skb_to___skb()``: the fields test_run copies back."""
        out = bytearray(CTX_STRUCTS["__sk_buff"].size)
        layout = self.region.layout
        snap = self.region.snapshot()
        for name in CTX_IN_FIELDS:
            fld = layout.field(name)
            out[fld.offset : fld.end] = snap[fld.offset : fld.end]
        wire = layout.field("wire_len")
        if int.from_bytes(out[wire.offset : wire.end], "little") == 0:
            out[wire.offset : wire.end] = self.frame_len.to_bytes(4, "little")
        return bytes(out)

    def release(self) -> None:
        self.packet.release()
        self.region.release()
