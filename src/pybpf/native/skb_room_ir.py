"""``bpf_skb_adjust_room()`` and ``bpf_skb_change_proto()`` as LLVM IR, on an skb context's
native half (:class:`~pybpf.native.layout.SkbNative`).

Mirror the Python helpers of :mod:`pybpf.runtime.helpers.skb_room` and
:mod:`pybpf.runtime.helpers.skb` (``bpf_skb_adjust_room()``, ``bpf_skb_net_grow()``,
``bpf_skb_net_shrink()``, ``bpf_skb_change_proto()`` of net/core/filter.c, Linux 6.18) step
for step, with every flag they handle: room made after the MAC or network header
(``bpf_skb_net_hdr_push()``: the headers before it move down, the room is zeroed) or removed
there (``bpf_skb_net_hdr_pop()``, with ``__skb_postpull_rcsum()``), the encapsulation state,
header offsets, GSO type bits, ``skb->protocol`` and checksum state as the Python helpers set
them. Geometry moves as in :mod:`pybpf.native.skb_geo_ir` (whose :class:`Skb` view they
use); where the buffer lacks the headroom (``skb_cow_head()`` would reallocate) or the
offsets are ones only the Python helper handles (a negative or out-of-buffer header
offset), they answer :data:`~pybpf.native.layout.NOT_NATIVE` before changing anything.
"""

from __future__ import annotations

import errno

from pybpf.jit.irtext import ModuleText
from pybpf.native.irkit import Builder
from pybpf.native.layout import NOT_NATIVE, SkbNative, field_offsets
from pybpf.native.skb_geo_ir import TABLE, Skb
from pybpf.platform.skb_flags import (
    ADJ_ROOM_MASK,
    BPF_ADJ_ROOM_ENCAP_L2_MASK,
    BPF_ADJ_ROOM_ENCAP_L2_SHIFT,
    BPF_ADJ_ROOM_MAC,
    BPF_ADJ_ROOM_NET,
    CHECKSUM_COMPLETE,
    CHECKSUM_NONE,
    CHECKSUM_UNNECESSARY,
    DECAP_L3_MASK,
    ENCAP_L3_MASK,
    ENOTSUPP,
    ETH_HLEN,
    ETH_P_IP,
    ETH_P_IPV6,
    IPV4_HLEN,
    IPV6_HLEN,
    SKB_GSO_DODGY,
    SKB_GSO_GRE,
    SKB_GSO_IPXIP4,
    SKB_GSO_IPXIP6,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKB_GSO_UDP_L4,
    SKB_GSO_UDP_TUNNEL,
    SKB_MAX_ALLOC,
    AdjRoomFlag,
)

__all__ = ["EXPORTS", "add"]

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_skb_adjust_room": ("i64", ("ptr", "i64", "i64", "i64", "ptr", "i64")),
    "pb_skb_change_proto": ("i64", ("ptr", "i64", "i64", "ptr", "i64")),
}
S = field_offsets(SkbNative)
F = AdjRoomFlag
M32 = 0xFFFFFFFF
PROTO_LEN_DIFF = IPV6_HLEN - IPV4_HLEN


def _has(b: Builder, value: str, bits: int) -> str:
    return b.op(f"icmp ne i64 {b.op(f'and i64 {value}, {bits}')}, 0")


def _not(b: Builder, cond: str) -> str:
    return b.op(f"xor i1 {cond}, true")


def _protocol(skb: Skb) -> str:
    """``ntohs(skb->protocol)``, as i64."""
    b = skb.b
    raw = b.op(f"trunc i64 {skb.field('protocol')} to i16")
    return b.zext(b.op(f"call i16 @llvm.bswap.i16(i16 {raw})"), "i16")


def _set_protocol(skb: Skb, proto: int) -> None:
    """``skb->protocol = htons(proto)``."""
    skb.set_field("protocol", ((proto & 0xFF) << 8) | (proto >> 8))


def _push_refused(skb: Skb, off: str, length: str) -> str:
    """``i1``: ``bpf_skb_net_hdr_push(off, length)`` is not native — the headroom is
    short of ``length`` (``skb_cow_head()`` reallocates) or the ``off`` bytes moved are
    not all in the buffer."""
    b = skb.b
    short = b.op(f"icmp ugt i64 {length}, {skb.data}")
    negative = b.op(f"icmp slt i64 {off}, 0")
    past = b.op(f"icmp ugt i64 {b.op(f'add i64 {skb.data}, {off}')}, {skb.size}")
    return b.op(f"or i1 {short}, {b.op(f'or i1 {negative}, {past}')}")


def _trans_same(skb: Skb) -> str:
    b = skb.b
    return b.op(f"icmp eq i64 {skb.header('transport_header')}, {skb.header('network_header')}")


def _shift_headers(skb: Skb, delta: str, trans_same: str) -> None:
    """The MAC and network headers move by ``delta``; the transport header follows the
    network header where it was there."""
    b = skb.b
    skb.set_header("mac_header", b.op(f"add i64 {skb.header('mac_header')}, {delta}"))
    network = b.op(f"add i64 {skb.header('network_header')}, {delta}")
    skb.set_header("network_header", network)
    with b.if_(trans_same):
        skb.set_header("transport_header", network)


def _net_hdr_push(skb: Skb, off: str, length: str) -> str:
    """``bpf_skb_net_hdr_push()`` (after :func:`_push_refused`): ``length`` zero bytes at
    ``off`` from ``data``; the new ``data``."""
    b = skb.b
    trans_same = _trans_same(skb)
    data = b.op(f"sub i64 {skb.data}, {length}")
    at = b.ptr(skb.host, data)
    b.fn.emit(f"call void @llvm.memmove.p0.p0.i64(ptr {at}, ptr {b.ptr(at, length)}, "
              f"i64 {off}, i1 false)")
    b.memset0(b.ptr(at, off), length)
    skb.move(data, skb.end)
    _shift_headers(skb, b.op(f"sub i64 0, {length}"), trans_same)
    return data


def _net_hdr_pop(skb: Skb, off: str, length: str) -> None:
    """``bpf_skb_net_hdr_pop()``: ``-ENOMEM`` returned for a range past the packet, else
    ``length`` bytes at ``off`` from ``data`` removed."""
    b = skb.b
    b.return_if(b.op(f"icmp ugt i64 {b.op(f'add i64 {off}, {length}')}, {skb.len}"),
                -errno.ENOMEM)
    trans_same = _trans_same(skb)
    at = b.ptr(skb.host, skb.data)
    with b.if_(b.op(f"icmp eq i32 {b.ld('i32', '%skb', S['ip_summed'])}, {CHECKSUM_COMPLETE}")):
        csum = b.zext(b.ld("i32", "%skb", S["csum"]))  # __skb_postpull_rcsum()
        part = b.call("i64", "pb_csum_partial", [("ptr", b.ptr(at, off)), ("i64", length),
                                                 ("i64", b.op(f"xor i64 {csum}, {M32}"))])
        b.st("i32", b.op(f"trunc i64 {b.op(f'xor i64 {part}, {M32}')} to i32"), "%skb",
             S["csum"])
    b.fn.emit(f"call void @llvm.memmove.p0.p0.i64(ptr {b.ptr(at, length)}, ptr {at}, "
              f"i64 {off}, i1 false)")
    skb.move(b.op(f"add i64 {skb.data}, {length}"), skb.end)
    _shift_headers(skb, length, trans_same)


def _gso_not_tcp(skb: Skb, flags: str) -> str:
    """``i1``: a GSO skb that is not TCP may change size only as UDP with ``FIXED_GSO``."""
    b = skb.b
    gso = b.op(f"icmp ne i64 {skb.field('gso_size')}, 0")
    gso_type = skb.header("gso_type")
    tcp = _has(b, gso_type, SKB_GSO_TCPV4 | SKB_GSO_TCPV6)
    udp_fixed = b.op(f"and i1 {_has(b, gso_type, SKB_GSO_UDP_L4)}, {_has(b, flags, F.FIXED_GSO)}")
    return b.op(f"and i1 {gso}, {b.op(f'and i1 {_not(b, tcp)}, {_not(b, udp_fixed)}')}")


def _gso_mark(skb: Skb, bits: str | int) -> None:
    """A GSO skb gets ``bits`` in its GSO type and its segments recounted."""
    b = skb.b
    with b.if_(b.op(f"icmp ne i64 {skb.field('gso_size')}, 0")):
        skb.set_header("gso_type", b.op(f"or i64 {skb.header('gso_type')}, {bits}"))
        skb.set_field("gso_segs", 0)


def _grow(skb: Skb, off: str, length: str, flags: str, proto: str) -> None:
    """``bpf_skb_net_grow()``: returns its error, or goes on after success."""
    b = skb.b
    inner_mac_len = b.op(f"and i64 {b.op(f'lshr i64 {flags}, {BPF_ADJ_ROOM_ENCAP_L2_SHIFT}')}, "
                         f"{BPF_ADJ_ROOM_ENCAP_L2_MASK}")
    encap = _has(b, flags, ENCAP_L3_MASK)
    b.return_if(_gso_not_tcp(skb, flags), -ENOTSUPP)
    with b.if_(encap):
        both_l3 = b.op(f"and i1 {_has(b, flags, F.ENCAP_L3_IPV4)}, "
                       f"{_has(b, flags, F.ENCAP_L3_IPV6)}")
        both_l4 = b.op(f"and i1 {_has(b, flags, F.ENCAP_L4_GRE)}, "
                       f"{_has(b, flags, F.ENCAP_L4_UDP)}")
        short_l2 = b.op(f"and i1 {_has(b, flags, F.ENCAP_L2_ETH)}, "
                        f"{b.op(f'icmp ult i64 {inner_mac_len}, {ETH_HLEN}')}")
        b.return_if(b.op(f"or i1 {both_l3}, {b.op(f'or i1 {both_l4}, {short_l2}')}"),
                    -errno.EINVAL)
        b.return_if(b.op(f"icmp ne i8 {b.ld('i8', '%skb', S['encapsulation'])}, 0"),
                    -errno.EALREADY)
        b.return_if(b.op(f"icmp ugt i64 {inner_mac_len}, {length}"), -errno.EINVAL)
    mac_len = b.op(f"sub i64 {skb.header('network_header')}, {skb.header('mac_header')}")
    b.return_if(_push_refused(skb, off, length), NOT_NATIVE)
    data = _net_hdr_push(skb, off, length)
    gso_bits = b.var("i64", SKB_GSO_DODGY)
    with b.if_(encap):
        b.st("i8", 1, "%skb", S["encapsulation"])
        inner = b.op(f"add i64 {data}, {mac_len}")
        skb.set_header("network_header", inner)
        tunnel = "0"  # the last flag of these that is set decides
        for flag, gso in ((F.ENCAP_L3_IPV4, SKB_GSO_IPXIP4), (F.ENCAP_L3_IPV6, SKB_GSO_IPXIP6),
                          (F.ENCAP_L4_GRE, SKB_GSO_GRE), (F.ENCAP_L4_UDP, SKB_GSO_UDP_TUNNEL)):
            tunnel = b.op(f"select i1 {_has(b, flags, flag)}, i64 {gso}, i64 {tunnel}")
        gso_bits.set(b.op(f"or i64 {SKB_GSO_DODGY}, {tunnel}"))
        with b.if_(_has(b, flags, F.ENCAP_L4_GRE | F.ENCAP_L4_UDP)):
            nh_len = b.op(f"select i1 {_has(b, flags, F.ENCAP_L3_IPV6)}, i64 {IPV6_HLEN}, "
                          f"i64 {IPV4_HLEN}")
            skb.set_header("transport_header", b.op(f"add i64 {inner}, {nh_len}"))
        _switch_l3(skb, proto, _has(b, flags, F.ENCAP_L3_IPV6), _has(b, flags, F.ENCAP_L3_IPV4))
    _gso_mark(skb, gso_bits.get())


def _switch_l3(skb: Skb, proto: str, to_ipv6: str, to_ipv4: str) -> None:
    """``skb->protocol`` becomes IPv6 for an IPv4 packet when ``to_ipv6``, IPv4 for an IPv6
    one when ``to_ipv4`` (what ``bpf_skb_net_grow()`` and ``bpf_skb_net_shrink()`` do with
    their L3 encapsulation and decapsulation flags)."""
    b = skb.b
    is_ip = b.op(f"icmp eq i64 {proto}, {ETH_P_IP}")
    with b.if_else(b.op(f"and i1 {is_ip}, {to_ipv6}")) as (v6, other):
        with v6:
            _set_protocol(skb, ETH_P_IPV6)
        with other:
            is_ip6 = b.op(f"icmp eq i64 {proto}, {ETH_P_IPV6}")
            with b.if_(b.op(f"and i1 {is_ip6}, {to_ipv4}")):
                _set_protocol(skb, ETH_P_IP)


def _shrink(skb: Skb, off: str, length: str, flags: str) -> None:
    """``bpf_skb_net_shrink()``: returns its error, or goes on after success."""
    b = skb.b
    allowed = F.FIXED_GSO | DECAP_L3_MASK | F.NO_CSUM_RESET
    b.return_if(_has(b, flags, ~allowed & 0xFFFFFFFFFFFFFFFF), -errno.EINVAL)
    b.return_if(_gso_not_tcp(skb, flags), -ENOTSUPP)
    b.return_if(b.op(f"icmp slt i64 {off}, 0"), NOT_NATIVE)
    _net_hdr_pop(skb, off, length)
    _switch_l3(skb, _protocol(skb), _has(b, flags, F.DECAP_L3_IPV6),
               _has(b, flags, F.DECAP_L3_IPV4))
    _gso_mark(skb, SKB_GSO_DODGY)


def _adjust_room(mod: ModuleText) -> None:
    """``bpf_skb_adjust_room(skb, len_diff, mode, flags)``."""
    b = Builder(mod, "pb_skb_adjust_room", "i64", [("ptr", "skb"), ("i64", "len_diff"),
                                                   ("i64", "mode"), ("i64", "flags"), *TABLE])
    skb = Skb(b)
    flags = "%flags"
    diff = b.op(f"sext i32 {b.op('trunc i64 %len_diff to i32')} to i64")
    shrink = b.op(f"icmp slt i64 {diff}, 0")
    length = b.op(f"select i1 {shrink}, i64 {b.op(f'sub i64 0, {diff}')}, i64 {diff}")
    mode = b.op("and i64 %mode, 4294967295")
    proto = _protocol(skb)
    is_ip = b.op(f"icmp eq i64 {proto}, {ETH_P_IP}")
    is_ip6 = b.op(f"icmp eq i64 {proto}, {ETH_P_IPV6}")
    b.return_if(_has(b, flags, ~(ADJ_ROOM_MASK | F.NO_CSUM_RESET) & 0xFFFFFFFFFFFFFFFF),
                -errno.EINVAL)
    b.return_if(b.op(f"icmp ugt i64 {length}, 4095"), -errno.EFAULT)
    b.return_if(_not(b, b.op(f"or i1 {is_ip}, {is_ip6}")), -ENOTSUPP)
    base_len = b.op(f"select i1 {is_ip}, i64 {IPV4_HLEN}, i64 {IPV6_HLEN}")
    mac_off = b.op(f"sub i64 {skb.header('network_header')}, {skb.header('mac_header')}")
    is_net = b.op(f"icmp eq i64 {mode}, {BPF_ADJ_ROOM_NET}")
    b.return_if(_not(b, b.op(f"or i1 {is_net}, {b.op(f'icmp eq i64 {mode}, {BPF_ADJ_ROOM_MAC}')}")),
                -ENOTSUPP)
    off = b.op(f"select i1 {is_net}, i64 {b.op(f'add i64 {mac_off}, {base_len}')}, "
               f"i64 {mac_off}")
    len_min = b.var("i64", base_len)
    decap = b.op(f"and i64 {flags}, {DECAP_L3_MASK}")
    with b.if_(b.op(f"icmp ne i64 {decap}, 0")):
        b.return_if(_not(b, shrink), -errno.EINVAL)
        v4 = b.op(f"icmp eq i64 {decap}, {F.DECAP_L3_IPV4}")
        v6 = b.op(f"icmp eq i64 {decap}, {F.DECAP_L3_IPV6}")
        b.return_if(_not(b, b.op(f"or i1 {v4}, {v6}")), -errno.EINVAL)
        len_min.set(b.op(f"select i1 {v4}, i64 {IPV4_HLEN}, i64 {IPV6_HLEN}"))
    net = b.op(f"sub i64 {skb.header('network_header')}, {skb.data}")
    len_cur = b.op(f"sub i64 {skb.len}, {net}")
    left = b.op(f"sub i64 {len_cur}, {length}")
    too_short = b.op(f"or i1 {b.op(f'icmp sge i64 {length}, {len_cur}')}, "
                     f"{b.op(f'icmp slt i64 {left}, {len_min.get()}')}")
    no_gso = b.op(f"icmp eq i64 {skb.field('gso_size')}, 0")
    too_long = b.op(f"icmp sgt i64 {b.op(f'add i64 {skb.len}, {length}')}, {SKB_MAX_ALLOC}")
    refused = b.op(f"select i1 {shrink}, i1 {too_short}, i1 {b.op(f'and i1 {too_long}, {no_gso}')}")
    b.return_if(refused, -ENOTSUPP)
    with b.if_else(shrink) as (on_shrink, on_grow):
        with on_shrink:
            _shrink(skb, off, length, flags)
        with on_grow:
            _grow(skb, off, length, flags, proto)
    keep = _has(b, flags, F.NO_CSUM_RESET)
    unnecessary = b.op(f"icmp eq i32 {b.ld('i32', '%skb', S['ip_summed'])}, "
                       f"{CHECKSUM_UNNECESSARY}")
    with b.if_(b.op(f"and i1 {_not(b, keep)}, {unnecessary}")):
        b.st("i32", CHECKSUM_NONE, "%skb", S["ip_summed"])
        b.st("i8", 0, "%skb", S["csum_level"])
    b.ret(0)


def _gso_swap(skb: Skb, old: int, new: int) -> None:
    """``bpf_skb_proto_4_to_6()``/``_6_to_4()``'s GSO type change."""
    b = skb.b
    with b.if_(b.op(f"icmp ne i64 {skb.field('gso_size')}, 0")):
        gso_type = skb.header("gso_type")
        swapped = b.op(f"or i64 {b.op(f'and i64 {gso_type}, {~old & M32}')}, {new}")
        gso_type = b.op(f"select i1 {_has(b, gso_type, old)}, i64 {swapped}, i64 {gso_type}")
        skb.set_header("gso_type", b.op(f"or i64 {gso_type}, {SKB_GSO_DODGY}"))


def _change_proto(mod: ModuleText) -> None:
    """``bpf_skb_change_proto(skb, proto, flags)``: IPv4 <-> IPv6 (20 bytes of room after
    the MAC header made or removed), ``skb_clear_hash()``."""
    b = Builder(mod, "pb_skb_change_proto", "i64", [("ptr", "skb"), ("i64", "proto"),
                                                    ("i64", "flags"), *TABLE])
    skb = Skb(b)
    b.return_if(b.op("icmp ne i64 %flags, 0"), -errno.EINVAL)
    raw = b.op("trunc i64 %proto to i16")
    to_proto = b.zext(b.op(f"call i16 @llvm.bswap.i16(i16 {raw})"), "i16")
    from_proto = _protocol(skb)
    off = b.op(f"sub i64 {skb.header('network_header')}, {skb.header('mac_header')}")
    four_six = b.op(f"and i1 {b.op(f'icmp eq i64 {from_proto}, {ETH_P_IP}')}, "
                    f"{b.op(f'icmp eq i64 {to_proto}, {ETH_P_IPV6}')}")
    six_four = b.op(f"and i1 {b.op(f'icmp eq i64 {from_proto}, {ETH_P_IPV6}')}, "
                    f"{b.op(f'icmp eq i64 {to_proto}, {ETH_P_IP}')}")
    b.return_if(_not(b, b.op(f"or i1 {four_six}, {six_four}")), -ENOTSUPP)
    diff = str(PROTO_LEN_DIFF)
    with b.if_else(four_six) as (grow, shrink):
        with grow:
            b.return_if(_push_refused(skb, off, diff), NOT_NATIVE)
            _net_hdr_push(skb, off, diff)
            _gso_swap(skb, SKB_GSO_TCPV4, SKB_GSO_TCPV6)
        with shrink:
            b.return_if(b.op(f"icmp slt i64 {off}, 0"), NOT_NATIVE)
            _net_hdr_pop(skb, off, diff)
            _gso_swap(skb, SKB_GSO_TCPV6, SKB_GSO_TCPV4)
    skb.set_field("protocol", b.op("and i64 %proto, 65535"))
    skb.set_field("hash", 0)  # skb_clear_hash()
    b.st("i8", 0, "%skb", S["sw_hash"])
    b.st("i8", 0, "%skb", S["l4_hash"])
    b.ret(0)


def add(mod: ModuleText) -> None:
    """Add ``pb_skb_adjust_room`` and ``pb_skb_change_proto`` to the library module (after
    :mod:`.skb_geo_ir`, which declares the intrinsics they use)."""
    _adjust_room(mod)
    _change_proto(mod)
