"""The socket buffer's geometry helpers as LLVM IR, on an skb context's native half
(:class:`~pybpf.native.layout.SkbNative`): ``bpf_skb_change_tail()``,
``bpf_skb_change_head()``, ``bpf_skb_vlan_push()`` and ``bpf_skb_vlan_pop()``.

Mirror the Python helpers of :mod:`pybpf.runtime.helpers.skb` (net/core/filter.c and
net/core/skbuff.c of Linux 6.18 on a linear skb) step for step, inside the packet buffer the
context pins: they move ``data``/``end`` (buffer offsets) and the computed context fields
(``values``: ``len``, ``data``, ``data_end``, ``data_meta``) there, set the packet region's
direct sizes in the JIT's host-address table, as mapping the packet afresh would, and
change the ``sk_buff`` state kept there (header offsets, ``mac_len``, ``ip_summed``/
``csum``, the GSO type) and the ``__sk_buff`` fields in the context's buffer (``protocol``,
``vlan_*``, ``gso_size``/``gso_segs``). :class:`~pybpf.runtime.ctx.skb.SkbContext` adopts
the new geometry before Python next looks at the packet
(:meth:`~pybpf.runtime.ctx.skb.SkbContext.adopt_native`).

Where the Python helper would reallocate the buffer (``pskb_expand_head()``: more head- or
tailroom than the buffer has), they return :data:`~pybpf.native.layout.NOT_NATIVE` before
changing anything, and the caller runs the Python helper instead.
"""

from __future__ import annotations

import errno

from pybpf.jit.abi import ROW_OFFSETS, ROW_SIZE
from pybpf.jit.irtext import ModuleText
from pybpf.native.irkit import Builder
from pybpf.native.layout import (
    NOT_NATIVE,
    SKB_HEADER_UNSET,
    CtxNativeHeader,
    SkbNative,
    field_offsets,
)
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.skb_flags import (
    CHECKSUM_COMPLETE,
    CHECKSUM_NONE,
    ENOTSUPP,
    ETH_ALEN,
    ETH_HLEN,
    ETH_P_802_2,
    ETH_P_802_3,
    ETH_P_802_3_MIN,
    ETH_P_8021AD,
    ETH_P_8021Q,
    SKB_MAX_ALLOC,
    VLAN_HLEN,
)
from pybpf.runtime.ctx.skb import NATIVE_SLOTS
from pybpf.runtime.memory import FIRST_REGION_ID, REGION_START

__all__ = ["EXPORTS", "Skb", "add"]

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_skb_change_tail": ("i64", ("ptr", "i64", "i64", "ptr", "i64")),
    "pb_skb_change_head": ("i64", ("ptr", "i64", "i64", "ptr", "i64")),
    "pb_skb_vlan_push": ("i64", ("ptr", "i64", "i64", "ptr", "i64")),
    "pb_skb_vlan_pop": ("i64", ("ptr", "ptr", "i64")),
}
S = field_offsets(SkbNative)
H = field_offsets(CtxNativeHeader)
SKB = CTX_STRUCTS["__sk_buff"]
M32 = 0xFFFFFFFF
INT_MAX = 0x7FFFFFFF
#: The VLAN protocols as ``skb->protocol``/``vlan_proto`` hold them (big-endian, read as
#: little-endian u16).
VLAN_PROTOS = tuple(((p & 0xFF) << 8) | (p >> 8) for p in (ETH_P_8021Q, ETH_P_8021AD))
#: The parameters every function here takes last: the JIT's host-address table.
TABLE = [("ptr", "table"), ("i64", "ntable")]


class Skb:
    """The skb of ``%skb`` as a function sees it on entry: buffer offsets of ``data`` and the
    tail, the buffer's host address and size, its context fields."""

    def __init__(self, b: Builder) -> None:
        self.b = b
        self.data = b.ld("i64", "%skb", S["data"])
        self.end = b.ld("i64", "%skb", S["end"])
        self.len = b.op(f"sub i64 {self.end}, {self.data}")
        self.host = b.op(f"inttoptr i64 {b.ld('i64', '%skb', S['host'])} to ptr")
        self.size = b.ld("i64", "%skb", S["size"])
        self.fields = b.op(f"inttoptr i64 {b.ld('i64', '%skb', H['fields'])} to ptr")

    def field(self, name: str) -> str:
        """The ``__sk_buff`` field ``name`` (a u32 in the context's buffer), as i64."""
        return self.b.zext(self.b.ld("i32", self.fields, SKB.offsetof(name)))

    def set_field(self, name: str, value: str | int) -> None:
        b = self.b
        if isinstance(value, str):
            value = b.op(f"trunc i64 {value} to i32")
        b.st("i32", value, self.fields, SKB.offsetof(name))

    def header(self, name: str) -> str:
        """``SkbNative.<name>`` (a u32), as i64."""
        return self.b.zext(self.b.ld("i32", "%skb", S[name]))

    def set_header(self, name: str, value: str | int) -> None:
        b = self.b
        if isinstance(value, str):
            value = b.op(f"trunc i64 {value} to i32")
        b.st("i32", value, "%skb", S[name])

    def move(self, data: str, end: str) -> None:
        """The packet now runs from buffer offset ``data`` to ``end``: the native half's
        geometry and computed fields, and the packet region's direct sizes (it runs from
        the buffer's start to ``end``)."""
        b = self.b
        b.st("i64", data, "%skb", S["data"])
        b.st("i64", end, "%skb", S["end"])
        base = b.ld("i64", "%skb", S["base"])
        start, stop = b.op(f"add i64 {base}, {data}"), b.op(f"add i64 {base}, {end}")
        for name, value in (("len", b.op(f"sub i64 {end}, {data}")), ("data", start),
                            ("data_end", stop), ("data_meta", start)):
            b.st("i64", value, "%skb", S["values"] + 8 * NATIVE_SLOTS[name])
        window = b.op(f"sub i64 {base}, {REGION_START}")
        index = b.op(f"sub i64 {b.op(f'lshr i64 {window}, 32')}, {FIRST_REGION_ID}")
        with b.if_(b.op(f"icmp ult i64 {index}, %ntable")):
            row = b.op(f"getelementptr [{ROW_SIZE} x i8], ptr %table, i64 {index}")
            size = b.op(f"trunc i64 {end} to i32")
            b.st("i32", size, row, ROW_OFFSETS["load_size"])
            b.st("i32", size, row, ROW_OFFSETS["store_size"])


def _memmove(b: Builder, dst: str, src: str, n: int) -> None:
    b.fn.emit(f"call void @llvm.memmove.p0.p0.i64(ptr {dst}, ptr {src}, i64 {n}, i1 false)")


def _bswap16(b: Builder, value: str) -> str:
    """The i16 ``value`` byte-swapped, as i64."""
    return b.zext(b.op(f"call i16 @llvm.bswap.i16(i16 {value})"), "i16")


def _change_tail(mod: ModuleText) -> None:
    """``bpf_skb_change_tail(skb, new_len, flags)``: ``__bpf_skb_min_len()``'s bound, then
    ``__skb_grow()`` (zeroed bytes) within the tailroom or ``__skb_trim()``;
    ``CHECKSUM_COMPLETE`` becomes ``CHECKSUM_NONE``, ``skb_gso_reset()``."""
    b = Builder(mod, "pb_skb_change_tail", "i64", [("ptr", "skb"), ("i64", "new_len"),
                                                   ("i64", "flags"), *TABLE])
    skb = Skb(b)
    new_len = b.op("and i64 %new_len, 4294967295")
    bad = b.op(f"or i1 {b.op('icmp ne i64 %flags, 0')}, "
               f"{b.op(f'icmp ugt i64 {new_len}, {SKB_MAX_ALLOC}')}")
    b.return_if(bad, -errno.EINVAL)
    min_len = b.var("i64", 0)
    net = b.op(f"sub i64 {skb.header('network_header')}, {skb.data}")
    with b.if_(b.op(f"icmp sgt i64 {net}, 0")):
        min_len.set(net)
    transport = skb.header("transport_header")
    trans = b.op(f"sub i64 {transport}, {skb.data}")
    is_set = b.op(f"icmp ne i64 {transport}, {SKB_HEADER_UNSET}")
    with b.if_(b.op(f"and i1 {is_set}, {b.op(f'icmp sgt i64 {trans}, 0')}")):
        min_len.set(trans)
    b.return_if(b.op(f"icmp ult i64 {new_len}, {min_len.get()}"), -errno.EINVAL)
    b.return_if(b.op(f"icmp ne i8 {b.ld('i8', '%skb', S['encapsulation'])}, 0"), -ENOTSUPP)
    b.return_if(b.op(f"icmp eq i64 {new_len}, {skb.len}"), 0)
    grow = b.op(f"sub i64 {new_len}, {skb.len}")
    tailroom = b.op(f"sub i64 {skb.size}, {skb.end}")
    b.return_if(b.op(f"icmp sgt i64 {grow}, {tailroom}"), NOT_NATIVE)  # pskb_expand_head()
    ip_summed = b.ld("i32", "%skb", S["ip_summed"])
    with b.if_(b.op(f"icmp eq i32 {ip_summed}, {CHECKSUM_COMPLETE}")):
        b.st("i32", CHECKSUM_NONE, "%skb", S["ip_summed"])
    with b.if_(b.op(f"icmp sgt i64 {grow}, 0")):
        b.memset0(b.ptr(skb.host, skb.end), grow)
    skb.move(skb.data, b.op(f"add i64 {skb.data}, {new_len}"))
    with b.if_(b.op(f"icmp ne i64 {skb.field('gso_size')}, 0")):
        skb.set_field("gso_size", 0)
        skb.set_field("gso_segs", 0)
        skb.set_header("gso_type", 0)
    b.ret(0)


def _change_head(mod: ModuleText) -> None:
    """``bpf_skb_change_head(skb, head_room, flags)``: ``head_room`` zero bytes pushed
    within the headroom, the MAC header reset to ``data``, ``mac_len`` recomputed."""
    b = Builder(mod, "pb_skb_change_head", "i64", [("ptr", "skb"), ("i64", "room"),
                                                   ("i64", "flags"), *TABLE])
    skb = Skb(b)
    room = b.op("and i64 %room, 4294967295")
    new_len = b.op(f"and i64 {b.op(f'add i64 {skb.len}, {room}')}, {M32}")
    no_gso = b.op(f"icmp eq i64 {skb.field('gso_size')}, 0")
    too_long = b.op(f"and i1 {no_gso}, {b.op(f'icmp ugt i64 {new_len}, {SKB_MAX_ALLOC}')}")
    wrapped = b.op(f"icmp ult i64 {new_len}, {skb.len}")
    negative = b.op(f"icmp ugt i64 {room}, {INT_MAX}")  # (int)head_room < 0
    bad = b.op(f"or i1 {b.op('icmp ne i64 %flags, 0')}, {negative}")
    bad = b.op(f"or i1 {bad}, {b.op(f'or i1 {too_long}, {wrapped}')}")
    b.return_if(bad, -errno.EINVAL)
    b.return_if(b.op(f"icmp ugt i64 {room}, {skb.data}"), NOT_NATIVE)  # pskb_expand_head()
    data = b.op(f"sub i64 {skb.data}, {room}")
    b.memset0(b.ptr(skb.host, data), room)
    skb.move(data, skb.end)
    skb.set_header("mac_header", data)
    skb.set_header("mac_len", b.op(f"sub i64 {skb.header('network_header')}, {data}"))
    b.ret(0)


def _is_vlan(b: Builder, raw: str) -> str:
    """``i1``: the raw (big-endian) protocol ``raw`` is 802.1Q or 802.1ad."""
    first, second = (b.op(f"icmp eq i64 {raw}, {p}") for p in VLAN_PROTOS)
    return b.op(f"or i1 {first}, {second}")


def _put_tag(skb: Skb, raw_proto: str | int, tci: str | int) -> None:
    """``__vlan_hwaccel_put_tag()`` (``vlan_present`` is 1 unless both are 0)."""
    b = skb.b
    skb.set_field("vlan_proto", raw_proto)
    skb.set_field("vlan_tci", tci)
    if isinstance(raw_proto, int) and isinstance(tci, int):
        skb.set_field("vlan_present", int(bool(raw_proto or tci)))
        return
    present = b.op(f"icmp ne i64 {b.op(f'or i64 {raw_proto}, {tci}')}, 0")
    skb.set_field("vlan_present", b.zext(present, "i1"))


def _vlan_push(mod: ModuleText) -> None:
    """``bpf_skb_vlan_push(skb, vlan_proto, vlan_tci)``: an accelerated tag already there
    goes into the packet first (``skb_vlan_push()``, within the headroom)."""
    b = Builder(mod, "pb_skb_vlan_push", "i64", [("ptr", "skb"), ("i64", "proto"),
                                                 ("i64", "tci"), *TABLE])
    skb = Skb(b)
    raw = b.op("and i64 %proto, 65535")
    raw = b.op(f"select i1 {_is_vlan(b, raw)}, i64 {raw}, i64 {VLAN_PROTOS[0]}")
    tci = b.op("and i64 %tci, 65535")
    with b.if_(b.op(f"icmp ne i64 {skb.field('vlan_present')}, 0")):
        mac = skb.header("mac_header")
        b.return_if(b.op(f"icmp ne i64 {skb.data}, {mac}"), -errno.EINVAL)
        b.return_if(b.op(f"icmp ult i64 {skb.data}, {VLAN_HLEN}"), NOT_NATIVE)
        old_proto = b.op(f"and i64 {skb.field('vlan_proto')}, 65535")
        old_tci = b.op(f"and i64 {skb.field('vlan_tci')}, 65535")
        data = b.op(f"sub i64 {skb.data}, {VLAN_HLEN}")
        at = b.ptr(skb.host, data)
        _memmove(b, at, b.ptr(at, VLAN_HLEN), 2 * ETH_ALEN)
        skb.set_header("mac_header", b.op(f"sub i64 {mac}, {VLAN_HLEN}"))
        b.fn.store("i16", b.op(f"trunc i64 {old_proto} to i16"), b.ptr(at, 12), align=1)
        swapped = _bswap16(b, b.op(f"trunc i64 {old_tci} to i16"))
        b.fn.store("i16", b.op(f"trunc i64 {swapped} to i16"), b.ptr(at, 14), align=1)
        skb.set_field("protocol", old_proto)
        skb.set_header("network_header",
                       b.op(f"sub i64 {skb.header('network_header')}, {VLAN_HLEN}"))
        skb.move(data, skb.end)
    _put_tag(skb, raw, tci)
    mac_len = b.op(f"sub i64 {skb.header('network_header')}, {skb.header('mac_header')}")
    skb.set_header("mac_len", mac_len)
    b.ret(0)


def _vlan_pop_inline(mod: ModuleText) -> None:
    """``pb_skb_vlan_pop_inline(skb, table, ntable)``: ``__skb_vlan_pop()``, the packet's
    outer tag removed: its TCI, or ``-errno``."""
    b = Builder(mod, "pb_skb_vlan_pop_inline", "i64", [("ptr", "skb"), *TABLE],
                linkage="internal")
    skb = Skb(b)
    mac = skb.header("mac_header")
    b.return_if(b.op(f"icmp ne i64 {skb.data}, {mac}"), -errno.EINVAL)
    b.return_if(b.op(f"icmp ult i64 {skb.len}, {ETH_HLEN + VLAN_HLEN}"), -errno.ENOMEM)
    at = b.ptr(skb.host, skb.data)
    tag = b.ptr(at, 2 * ETH_ALEN)
    with b.if_(b.op(f"icmp eq i32 {b.ld('i32', '%skb', S['ip_summed'])}, {CHECKSUM_COMPLETE}")):
        csum = b.zext(b.ld("i32", "%skb", S["csum"]))  # __skb_postpull_rcsum()
        part = b.call("i64", "pb_csum_partial", [("ptr", tag), ("i64", VLAN_HLEN),
                                                 ("i64", b.op(f"xor i64 {csum}, {M32}"))])
        b.st("i32", b.op(f"trunc i64 {b.op(f'xor i64 {part}, {M32}')} to i32"), "%skb",
             S["csum"])
    tci = _bswap16(b, b.fn.load("i16", b.ptr(at, 14), align=1))
    encap = _bswap16(b, b.fn.load("i16", b.ptr(at, 16), align=1))
    _memmove(b, b.ptr(at, VLAN_HLEN), at, 2 * ETH_ALEN)
    # vlan_set_encap_proto(): the two bytes after the tag (in the buffer, if there) tell
    # 802.3 from 802.2
    inside = b.op(f"icmp ule i64 {b.op(f'add i64 {skb.data}, 20')}, {skb.size}")
    llc = b.var("i64", ETH_P_802_2)
    with b.if_(inside):
        raw = b.fn.load("i16", b.ptr(at, 18), align=1)
        with b.if_(b.op(f"icmp eq i16 {raw}, -1")):
            llc.set(ETH_P_802_3)
    proto = b.op(f"select i1 {b.op(f'icmp uge i64 {encap}, {ETH_P_802_3_MIN}')}, "
                 f"i64 {encap}, i64 {llc.get()}")
    skb.set_field("protocol", _bswap16(b, b.op(f"trunc i64 {proto} to i16")))
    data = b.op(f"add i64 {skb.data}, {VLAN_HLEN}")
    skb.move(data, skb.end)
    new_mac = b.op(f"add i64 {mac}, {VLAN_HLEN}")
    skb.set_header("mac_header", new_mac)
    network = b.var("i64", skb.header("network_header"))
    with b.if_(b.op(f"icmp slt i64 {b.op(f'sub i64 {network.get()}, {data}')}, {ETH_HLEN}")):
        network.set(b.op(f"add i64 {data}, {ETH_HLEN}"))
    skb.set_header("network_header", network.get())
    skb.set_header("mac_len", b.op(f"sub i64 {network.get()}, {new_mac}"))
    b.ret(tci)


def _vlan_pop(mod: ModuleText) -> None:
    """``bpf_skb_vlan_pop(skb)``: ``skb_vlan_pop()``: the accelerated tag cleared, or the
    packet's outer tag removed; a tag left in the packet becomes the accelerated one."""
    b = Builder(mod, "pb_skb_vlan_pop", "i64", [("ptr", "skb"), *TABLE])
    skb = Skb(b)
    args: list[tuple[str, str | int]] = [("ptr", "%skb"), ("ptr", "%table"), ("i64", "%ntable")]
    with b.if_else(b.op(f"icmp ne i64 {skb.field('vlan_present')}, 0")) as (present, inline):
        with present:
            _put_tag(skb, 0, 0)
        with inline:
            raw = b.op(f"and i64 {skb.field('protocol')}, 65535")
            b.return_if(b.op(f"xor i1 {_is_vlan(b, raw)}, true"), 0)
            err = b.call("i64", "pb_skb_vlan_pop_inline", args)
            b.return_if(b.op(f"icmp slt i64 {err}, 0"), err)
    raw = b.op(f"and i64 {skb.field('protocol')}, 65535")
    b.return_if(b.op(f"xor i1 {_is_vlan(b, raw)}, true"), 0)
    tci = b.call("i64", "pb_skb_vlan_pop_inline", args)
    b.return_if(b.op(f"icmp slt i64 {tci}, 0"), tci)
    _put_tag(skb, raw, tci)
    b.ret(0)


def add(mod: ModuleText) -> None:
    """Add the skb geometry helpers to the library module (after :mod:`.helpers_ir`, whose
    ``pb_csum_partial`` they use, and :mod:`.batch_ir`, which declares
    ``llvm.bswap.i16``)."""
    mod.declare("llvm.memmove.p0.p0.i64",
                "declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)")
    mod.declare("llvm.bswap.i16", "declare i16 @llvm.bswap.i16(i16)")
    _change_tail(mod)
    _change_head(mod)
    _vlan_push(mod)
    _vlan_pop_inline(mod)
    _vlan_pop(mod)
