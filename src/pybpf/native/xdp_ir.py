"""The XDP buffer's geometry helpers as LLVM IR: ``bpf_xdp_adjust_head()``,
``bpf_xdp_adjust_meta()`` and ``bpf_xdp_adjust_tail()``.

Mirror the helpers of :mod:`pybpf.runtime.helpers.xdp` (net/core/filter.c of Linux 6.18 as
pybpf models it: 256 bytes of headroom of which ``struct xdp_frame`` takes the first 40, a
frame that ends ``skb_shared_info`` before 4096 bytes, at least an Ethernet header of
packet, metadata a multiple of 4 up to 255 bytes) on an XDP context's native half
(:class:`~pybpf.native.layout.XdpMdNative`): ``pb_xdp_adjust(xdp, op, delta, table,
ntable)`` moves ``data_meta``/``data``/``data_end`` there (the metadata moves with
``data``; a grown tail is zeroed) and sets the packet region's direct sizes in the JIT's
host-address table, as mapping the packet afresh would; 0, ``-EINVAL`` or ``-EACCES``.
:class:`~pybpf.runtime.ctx.xdp.XdpContext` adopts the new geometry before Python next
looks at the packet (:meth:`~pybpf.runtime.ctx.xdp.XdpContext.adopt_native`).
"""

from __future__ import annotations

import errno
from enum import IntEnum

from pybpf.jit.abi import ROW_OFFSETS, ROW_SIZE
from pybpf.jit.irtext import ModuleText
from pybpf.native.irkit import Builder
from pybpf.native.layout import NOT_NATIVE, XdpMdNative, field_offsets
from pybpf.runtime.ctx.xdp import (
    ETH_HLEN,
    SKB_SHARED_INFO,
    XDP_FRAME_SIZE,
    XDP_FRAME_STRUCT,
    XDP_METADATA_MAX,
)
from pybpf.runtime.memory import FIRST_REGION_ID, REGION_START

__all__ = ["EXPORTS", "XdpAdjust", "add"]

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_xdp_adjust": ("i64", ("ptr", "i64", "i64", "ptr", "i64")),
    "pb_xdp_bytes": ("i64", ("ptr", "i64", "ptr", "i64", "i64")),
}
X = field_offsets(XdpMdNative)
FRAME_END = XDP_FRAME_SIZE - SKB_SHARED_INFO


class XdpAdjust(IntEnum):
    """``op`` of ``pb_xdp_adjust``."""

    HEAD = 0
    META = 1
    TAIL = 2


def _adjust(mod: ModuleText) -> None:
    mod.declare("llvm.memmove.p0.p0.i64",
                "declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)")
    b = Builder(mod, "pb_xdp_adjust", "i64", [("ptr", "xdp"), ("i64", "op"), ("i64", "delta"),
                                              ("ptr", "table"), ("i64", "ntable")])
    base = b.ld("i64", "%xdp", X["base"])
    # buffer offsets of the three pointers, and the signed 32-bit delta
    meta = b.op(f"sub i64 {b.ld('i64', '%xdp', X['data_meta'])}, {base}")
    data = b.op(f"sub i64 {b.ld('i64', '%xdp', X['data'])}, {base}")
    end = b.op(f"sub i64 {b.ld('i64', '%xdp', X['data_end'])}, {base}")
    offset = b.op(f"sext i32 {b.op('trunc i64 %delta to i32')} to i64")
    host = b.op(f"inttoptr i64 {b.ld('i64', '%xdp', X['host'])} to ptr")
    einval = -errno.EINVAL
    with b.if_(b.op(f"icmp eq i64 %op, {XdpAdjust.HEAD}")):
        metalen = b.op(f"sub i64 {data}, {meta}")
        new_data = b.op(f"add i64 {data}, {offset}")
        low = b.op(f"icmp slt i64 {new_data}, {b.op(f'add i64 {metalen}, {XDP_FRAME_STRUCT}')}")
        high = b.op(f"icmp sgt i64 {new_data}, {b.op(f'sub i64 {end}, {ETH_HLEN}')}")
        b.return_if(b.op(f"or i1 {low}, {high}"), einval)
        new_meta = b.op(f"add i64 {meta}, {offset}")
        b.fn.emit(f"call void @llvm.memmove.p0.p0.i64(ptr {b.ptr(host, new_meta)}, "
                  f"ptr {b.ptr(host, meta)}, i64 {metalen}, i1 false)")
        b.st("i64", b.op(f"add i64 {base}, {new_meta}"), "%xdp", X["data_meta"])
        b.st("i64", b.op(f"add i64 {base}, {new_data}"), "%xdp", X["data"])
        b.ret(0)
    with b.if_(b.op(f"icmp eq i64 %op, {XdpAdjust.META}")):
        new_meta = b.op(f"add i64 {meta}, {offset}")
        low = b.op(f"icmp slt i64 {new_meta}, {XDP_FRAME_STRUCT}")
        high = b.op(f"icmp sgt i64 {new_meta}, {data}")
        b.return_if(b.op(f"or i1 {low}, {high}"), einval)
        metalen = b.op(f"sub i64 {data}, {new_meta}")
        unaligned = b.op(f"icmp ne i64 {b.op(f'and i64 {metalen}, 3')}, 0")
        too_long = b.op(f"icmp ugt i64 {metalen}, {XDP_METADATA_MAX}")
        b.return_if(b.op(f"or i1 {unaligned}, {too_long}"), -errno.EACCES)
        b.st("i64", b.op(f"add i64 {base}, {new_meta}"), "%xdp", X["data_meta"])
        b.ret(0)
    new_end = b.op(f"add i64 {end}, {offset}")
    high = b.op(f"icmp sgt i64 {new_end}, {FRAME_END}")
    low = b.op(f"icmp slt i64 {new_end}, {b.op(f'add i64 {data}, {ETH_HLEN}')}")
    b.return_if(b.op(f"or i1 {low}, {high}"), einval)
    with b.if_(b.op(f"icmp sgt i64 {offset}, 0")):
        b.memset0(b.ptr(host, end), offset)
    b.st("i64", b.op(f"add i64 {base}, {new_end}"), "%xdp", X["data_end"])
    # the packet region runs from the buffer's start to data_end: its direct sizes
    window = b.op(f"sub i64 {base}, {REGION_START}")
    index = b.op(f"sub i64 {b.op(f'lshr i64 {window}, 32')}, {FIRST_REGION_ID}")
    with b.if_(b.op(f"icmp ult i64 {index}, %ntable")):
        row = b.op(f"getelementptr [{ROW_SIZE} x i8], ptr %table, i64 {index}")
        size = b.op(f"trunc i64 {new_end} to i32")
        b.st("i32", size, row, ROW_OFFSETS["load_size"])
        b.st("i32", size, row, ROW_OFFSETS["store_size"])
    b.ret(0)


def _bytes(mod: ModuleText) -> None:
    """``pb_xdp_bytes(xdp, offset, buf, len, store)``: ``bpf_xdp_load_bytes()`` (``store``
    0: packet to ``buf``) or ``bpf_xdp_store_bytes()`` (1: ``buf`` to packet) of a linear
    buffer, with ``bpf_xdp_pointer()``'s checks: 0, ``-EFAULT`` (offset or length past
    0xffff), ``-EINVAL`` (past ``data_end``); ``NOT_NATIVE`` for a context whose buffer
    native code does not know."""
    b = Builder(mod, "pb_xdp_bytes", "i64", [("ptr", "xdp"), ("i64", "offset"), ("ptr", "buf"),
                                             ("i64", "len"), ("i64", "store")])
    host = b.ld("i64", "%xdp", X["host"])
    b.return_if(b.op(f"icmp eq i64 {host}, 0"), NOT_NATIVE)
    off = b.op("and i64 %offset, 4294967295")
    n = b.op("and i64 %len, 4294967295")
    wide = b.op(f"or i1 {b.op(f'icmp ugt i64 {off}, 65535')}, {b.op(f'icmp ugt i64 {n}, 65535')}")
    b.return_if(wide, -errno.EFAULT)
    data = b.ld("i64", "%xdp", X["data"])
    size = b.op(f"sub i64 {b.ld('i64', '%xdp', X['data_end'])}, {data}")
    b.return_if(b.op(f"icmp ugt i64 {b.op(f'add i64 {off}, {n}')}, {size}"), -errno.EINVAL)
    base = b.ld("i64", "%xdp", X["base"])
    start = b.op(f"add i64 {b.op(f'sub i64 {data}, {base}')}, {off}")
    at = b.ptr(b.op(f"inttoptr i64 {host} to ptr"), start)
    with b.if_else(b.op("icmp ne i64 %store, 0")) as (store, load):
        with store:
            b.fn.emit(f"call void @llvm.memmove.p0.p0.i64(ptr {at}, ptr %buf, i64 {n}, i1 false)")
        with load:
            b.fn.emit(f"call void @llvm.memmove.p0.p0.i64(ptr %buf, ptr {at}, i64 {n}, i1 false)")
    b.ret(0)


def add(mod: ModuleText) -> None:
    """Add ``pb_xdp_adjust`` and ``pb_xdp_bytes`` to the library module."""
    _adjust(mod)
    _bytes(mod)
