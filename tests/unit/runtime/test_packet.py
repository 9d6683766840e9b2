"""Packet geometry as programs see it: the region starts at data_hard_start (XDP) or head
(skb), the packet pointers sit at the kernel's headroom offsets inside it, the tailroom is
not mapped, and every change of geometry maps the packet afresh."""

from __future__ import annotations

import pytest

from pybpf.errors import ExecutionFault
from pybpf.runtime.ctx.skb import ETH_HLEN, NET_SKB_PAD, SkbContext
from pybpf.runtime.ctx.xdp import XDP_PACKET_HEADROOM, XdpContext
from pybpf.runtime.memory import REGION_START, WINDOW_MASK, Memory
from pybpf.runtime.packet import PacketBuffer

FRAME = bytes(range(14, 78))


def test_xdp_data_sits_after_the_headroom() -> None:
    memory = Memory()
    xdp = XdpContext(memory, FRAME)
    pkt = xdp.packet
    assert pkt.region is not None
    base = pkt.region.base  # data_hard_start
    assert pkt.data_ptr == base + XDP_PACKET_HEADROOM
    assert pkt.data_ptr & 0xFFF == 0x100  # as the kernel's page + XDP_PACKET_HEADROOM
    assert pkt.data_meta_ptr == pkt.data_ptr
    assert pkt.data_end_ptr == pkt.data_ptr + len(FRAME)
    assert xdp.region.get("data") == pkt.data_ptr
    assert memory.read_bytes(pkt.data_ptr, len(FRAME)) == FRAME
    with pytest.raises(ExecutionFault, match="outside packet region"):
        memory.load(pkt.data_end_ptr, 1)  # the tailroom is not mapped
    assert pkt.offset_of(pkt.data_ptr) == XDP_PACKET_HEADROOM
    assert pkt.offset_of(pkt.data_end_ptr + 1) is None


def test_xdp_metadata_grows_down_into_the_headroom() -> None:
    xdp = XdpContext(Memory(), FRAME, metadata=b"\x01" * 8)
    pkt = xdp.packet
    assert pkt.data_ptr & 0xFFF == 0x100
    assert pkt.data_meta_ptr == pkt.data_ptr - 8
    assert xdp.ctx_out()[:12] == (8).to_bytes(4, "little") + (8 + len(FRAME)).to_bytes(
        4, "little") + bytes(4)


def test_a_change_of_geometry_keeps_the_buffer_in_place() -> None:
    memory = Memory()
    xdp = XdpContext(memory, FRAME)
    pkt = xdp.packet
    old = pkt.data_ptr
    pkt.set_layout(pkt.meta - 14, pkt.data - 14, pkt.end)  # bpf_xdp_adjust_head(-14)
    assert pkt.region is not None
    assert pkt.data_ptr == pkt.region.base + XDP_PACKET_HEADROOM - 14 == old - 14
    assert pkt.data_ptr & 0xFFF == 0xF2
    assert memory.load(old, 1) == FRAME[0]  # the old data pointer names the same byte
    assert xdp.native.data == pkt.data_ptr
    pkt.set_layout(pkt.meta, pkt.data, pkt.data + 14)  # bpf_xdp_adjust_tail()
    with pytest.raises(ExecutionFault, match="outside packet region"):
        memory.load(old, 1)


def test_refit_keeps_the_address() -> None:
    memory = Memory()
    pkt = PacketBuffer(memory, FRAME, headroom=256, tailroom=512)
    data = pkt.data_ptr
    pkt.refit(pkt.data, pkt.data, pkt.data + 100)
    assert pkt.data_ptr == data and pkt.data_end_ptr == data + 100


@pytest.mark.parametrize(("l2", "offset"), [(True, NET_SKB_PAD), (False, NET_SKB_PAD + ETH_HLEN)])
def test_skb_data_follows_net_skb_pad(l2: bool, offset: int) -> None:
    memory = Memory()
    frame = bytes(12) + b"\x08\x00" + bytes(range(40))
    skb = SkbContext(memory, frame, l2=l2)
    pkt = skb.packet
    assert pkt.region is not None
    assert pkt.data_ptr == pkt.region.base + offset
    assert pkt.data_ptr & WINDOW_MASK == REGION_START + offset
    if not l2:  # eth_type_trans() pulled the MAC header: it sits in the headroom
        assert memory.read_bytes(pkt.data_ptr - ETH_HLEN, ETH_HLEN) == frame[:ETH_HLEN]
        assert skb.data_out() == bytes(ETH_HLEN) + frame[ETH_HLEN:]
