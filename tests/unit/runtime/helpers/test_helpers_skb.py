"""Socket-buffer data and geometry helpers on test-run skbs."""

from __future__ import annotations

import errno

import pytest
from helpers_support import TCP4, TCP6, UDP4, load
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType

TC, SOCK = ProgType.SCHED_CLS, ProgType.SOCKET_FILTER
SKB = CTX_STRUCTS["__sk_buff"]
ENOTSUPP = 524


def u32(v: int) -> int:
    return v & 0xFFFFFFFF


def call(helper: str, *args: int, prog_type: int = TC, data: bytes = UDP4,
         tail: str = "") -> tuple[int, bytes]:
    regs = "".join(f"    r{i + 2} = {a & (2**64 - 1):#x} ll\n" for i, a in enumerate(args))
    text = f"    r6 = r1\n{regs}    call bpf_{helper}\n{tail}    exit\n"
    _, prog = load(text, prog_type)
    res = prog.test_run(data=data)
    return res.retval, res.data_out


LOAD = """
    r6 = r1
    r1 = -1
    *(u64 *)(r10 - 8) = r1
    r1 = r6
    r2 = {offset}
    r3 = r10
    r3 += -8
    r4 = {length}
    r5 = {start}
    call bpf_skb_load_bytes{suffix}
    r1 = *(u64 *)(r10 - 8)
    *(u64 *)(r10 - 16) = r1
    exit
"""


def load_bytes(offset: int, length: int, start: int | None = None,
               prog_type: int = TC) -> tuple[int, bytes]:
    suffix = "" if start is None else "_relative"
    interp, prog = load(LOAD.format(offset=offset, length=length, start=start or 0,
                                    suffix=suffix), prog_type)
    retval = prog.test_run(data=UDP4).retval
    return retval, bytes(interp.state.stacks[0][512 - 8 : 512 - 8 + length])


def test_load_bytes_and_the_end() -> None:
    assert load_bytes(0, 8) == (0, UDP4[:8])
    assert load_bytes(len(UDP4) - 8, 8) == (0, UDP4[-8:])
    assert load_bytes(len(UDP4) - 7, 8) == (u32(-errno.EFAULT), bytes(8))  # zeroed
    assert load_bytes(0x80000000, 4) == (u32(-errno.EFAULT), bytes(4))
    # socket filters see the packet from the network header
    assert load_bytes(0, 8, prog_type=SOCK) == (0, UDP4[14:22])


def test_load_bytes_relative() -> None:
    assert load_bytes(0, 8, start=0, prog_type=SOCK) == (0, UDP4[:8])  # MAC header in headroom
    assert load_bytes(0, 8, start=1, prog_type=SOCK) == (0, UDP4[14:22])
    assert load_bytes(0, 8, start=1) == (0, UDP4[14:22])
    assert load_bytes(len(UDP4) - 14 - 7, 8, start=1) == (u32(-errno.EFAULT), bytes(8))
    assert load_bytes(0, 8, start=2) == (u32(-errno.EFAULT), bytes(8))
    assert load_bytes(0x10000, 4, start=0) == (u32(-errno.EFAULT), bytes(4))


STORE = """
    r6 = r1
    r1 = 0x4847464544434241 ll
    *(u64 *)(r10 - 8) = r1
    r1 = r6
    r2 = 0x12345678
    call bpf_set_hash
    r1 = r6
    r2 = {offset}
    r3 = r10
    r3 += -8
    r4 = 8
    r5 = {flags}
    call bpf_skb_store_bytes
    r0 <<= 32
    r0 >>= 32
    r7 = *(u32 *)(r6 + {hash})
    r7 <<= 32
    r0 |= r7
    exit
"""


@pytest.mark.parametrize(("offset", "flags", "retval", "hash_kept"), [
    (0, 0, 0, True), (0, 1, 0, True), (0, 2, 0, False), (0, 3, 0, False),
    (0, 4, u32(-errno.EINVAL), True), (len(UDP4) - 7, 0, u32(-errno.EFAULT), True),
])
def test_store_bytes(offset: int, flags: int, retval: int, hash_kept: bool) -> None:
    _, prog = load(STORE.format(offset=offset, flags=flags, hash=SKB.offsetof("hash")), TC)
    res = prog.test_run(data=UDP4)
    assert res.retval == retval
    assert (res.r0 >> 32 == 0x12345678) == hash_kept
    if retval == 0:
        assert res.data_out == b"ABCDEFGH" + UDP4[8:]


def test_change_tail() -> None:
    assert call("skb_change_tail", len(UDP4) + 10, 0) == (0, UDP4 + bytes(10))
    assert call("skb_change_tail", 20, 0) == (0, UDP4[:20])
    assert call("skb_change_tail", 13, 0)[0] == u32(-errno.EINVAL)  # below the network header
    assert call("skb_change_tail", 16065, 0)[0] == u32(-errno.EINVAL)
    assert call("skb_change_tail", 16064, 0) == (0, UDP4 + bytes(16064 - len(UDP4)))
    assert call("skb_change_tail", 20, 1)[0] == u32(-errno.EINVAL)


def test_change_head() -> None:
    assert call("skb_change_head", 14, 0) == (0, bytes(14) + UDP4)
    assert call("skb_change_head", 16064 - len(UDP4) + 1, 0)[0] == u32(-errno.EINVAL)
    assert call("skb_change_head", 0x80000000, 0)[0] == u32(-errno.EINVAL)
    assert call("skb_change_head", 200, 0) == (0, bytes(200) + UDP4)  # beyond the headroom


def test_change_proto_between_ip_versions() -> None:
    retval, out = call("skb_change_proto", 0xDD86, 0)
    assert retval == 0 and out == UDP4[:14] + bytes(20) + UDP4[14:]
    retval, out = call("skb_change_proto", 0x0008, 0, data=TCP6)
    assert retval == 0 and out == TCP6[:14] + TCP6[34:]
    assert call("skb_change_proto", 0x0008, 0)[0] == u32(-ENOTSUPP)  # already IPv4
    assert call("skb_change_proto", 0xDD86, 1)[0] == u32(-errno.EINVAL)


def test_change_type() -> None:
    tail = f"    r0 <<= 8\n    r1 = *(u32 *)(r6 + {SKB.offsetof('pkt_type')})\n    r0 |= r1\n"
    assert call("skb_change_type", 0, tail=tail)[0] == 0  # PACKET_OTHERHOST -> PACKET_HOST
    retval = call("skb_change_type", 4, tail=tail)[0]
    assert retval == u32(-errno.EINVAL << 8 | 3)  # refused, pkt_type still PACKET_OTHERHOST


def vlan_fields(prog_data: bytes, calls: list[str]) -> tuple[int, bytes, list[int]]:
    """Run ``calls``; r0 and data_out, and vlan_present/vlan_tci/vlan_proto/protocol after."""
    body = "".join(f"    r1 = r6\n{c}\n    r7 = r0\n" for c in calls)
    reads = "".join(f"    r1 = *(u32 *)(r6 + {SKB.offsetof(f)})\n    *(u64 *)(r10 - {8 * (i + 1)}) = r1\n"
                    for i, f in enumerate(("vlan_present", "vlan_tci", "vlan_proto",
                                           "protocol")))
    interp, prog = load(f"    r6 = r1\n{body}{reads}    r0 = r7\n    exit\n", TC)
    res = prog.test_run(data=prog_data)
    stack = interp.state.stacks[0]
    fields = [int.from_bytes(stack[512 - 8 * (i + 1) : 512 - 8 * i], "little") for i in range(4)]
    return res.retval, res.data_out, fields


PUSH_Q = "    r2 = 0x0081\n    r3 = 0x1005\n    call bpf_skb_vlan_push"
PUSH_AD = "    r2 = 0xa888\n    r3 = 7\n    call bpf_skb_vlan_push"
POP = "    call bpf_skb_vlan_pop"
TAGGED = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=5)
               / IP() / UDP())


def test_vlan_push_sets_the_accelerated_tag() -> None:
    assert vlan_fields(UDP4, [PUSH_Q]) == (0, UDP4, [1, 0x1005, 0x0081, 0x0008])
    # the second push writes the first tag into the packet and accelerates the new one
    _retval, out, fields = vlan_fields(UDP4, [PUSH_Q, PUSH_AD])
    assert out == UDP4[:12] + bytes.fromhex("8100") + (0x1005).to_bytes(2, "big") + UDP4[12:]
    assert fields == [1, 7, 0xA888, 0x0081]
    # an unknown protocol becomes 802.1Q
    assert vlan_fields(UDP4, ["    r2 = 0x1234\n    r3 = 1\n    call bpf_skb_vlan_push"])[2][2] \
        == 0x0081


def test_vlan_pop() -> None:
    assert vlan_fields(UDP4, [PUSH_Q, POP]) == (0, UDP4, [0, 0, 0, 0x0008])
    assert vlan_fields(UDP4, [POP]) == (0, UDP4, [0, 0, 0, 0x0008])  # nothing to pop
    retval, out, fields = vlan_fields(TAGGED, [POP])
    assert (retval, out) == (0, TAGGED[:12] + TAGGED[16:])
    assert fields == [0, 0, 0, 0x0008]  # the encapsulated protocol is restored


ROOM = "    r2 = {diff}\n    r3 = {mode}\n    r4 = {flags:#x} ll\n    call bpf_skb_adjust_room\n"


def room(diff: int, mode: int, flags: int = 0, data: bytes = TCP4) -> tuple[int, bytes]:
    _, prog = load("    r6 = r1\n" + ROOM.format(diff=diff & 0xFFFFFFFF, mode=mode,
                                                 flags=flags) + "    exit\n", TC)
    res = prog.test_run(data=data)
    return res.retval, res.data_out


def test_adjust_room_net_and_mac() -> None:
    assert room(8, 0) == (0, TCP4[:34] + bytes(8) + TCP4[34:])  # after the IPv4 header
    assert room(8, 1) == (0, TCP4[:14] + bytes(8) + TCP4[14:])  # after the MAC header
    assert room(-8, 1) == (0, TCP4[:14] + TCP4[22:])
    assert room(8, 2)[0] == u32(-ENOTSUPP)
    assert room(0x1000, 1)[0] == u32(-errno.EFAULT)
    assert room(-8, 1, flags=2)[0] == u32(-errno.EINVAL)  # encapsulation flags when shrinking
    assert room(8, 1, flags=1 << 7)[0] == u32(-errno.EINVAL)  # decapsulation when growing
    assert room(-60, 1)[0] == u32(-ENOTSUPP)  # less than an IPv4 header would remain


def test_adjust_room_encapsulation() -> None:
    tail = ("    r0 <<= 32\n    r1 = *(u32 *)(r6 + {proto})\n    r0 |= r1\n"
            .format(proto=SKB.offsetof("protocol")))
    _, prog = load("    r6 = r1\n" + ROOM.format(diff=40, mode=1, flags=4) + tail + "    exit\n",
                   TC)
    res = prog.test_run(data=TCP4)
    assert res.r0 == 0xDD86  # IPv4 in IPv6: skb->protocol follows the outer header
    calls = ROOM.format(diff=20, mode=1, flags=2) + "    r1 = r6\n" + ROOM.format(
        diff=20, mode=1, flags=2)
    _, prog = load("    r6 = r1\n" + calls + "    exit\n", TC)
    assert prog.test_run(data=TCP4).retval == u32(-errno.EALREADY)
    change = "    r1 = r6\n    r2 = 60\n    r3 = 0\n    call bpf_skb_change_tail\n"
    _, prog = load("    r6 = r1\n" + ROOM.format(diff=20, mode=1, flags=2) + change
                   + "    exit\n", TC)
    assert prog.test_run(data=TCP4).retval == u32(-ENOTSUPP)
