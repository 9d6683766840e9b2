"""The socket buffer's packet helpers as LLVM IR, on an skb context's native half
(:class:`~pybpf.native.layout.SkbNative`): ``bpf_skb_load_bytes()``,
``bpf_skb_store_bytes()``, ``bpf_l3_csum_replace()``/``bpf_l4_csum_replace()``,
``bpf_csum_update()`` and ``bpf_skb_pull_data()``.

Mirror the Python helpers of :mod:`pybpf.runtime.helpers.skb` and
:mod:`pybpf.runtime.helpers.csum` (net/core/filter.c and include/net/checksum.h of Linux
6.18 on a linear skb) step for step, on the packet buffer the context pins (``host``, the
buffer offsets ``data``/``end``) and the checksum and hash state kept there (``ip_summed``,
``csum``, ``sw_hash``, ``l4_hash``; the hash value is the context's ``hash`` field, in its
buffer ``fields``). Buffers of the program (``to``/``from``) arrive as host pointers the
caller translated (:mod:`pybpf.jit.lower_helpers`), so these never fault. None of them
moves the packet, so Python's view needs no update afterwards.
"""

from __future__ import annotations

import errno

from pybpf.jit.irtext import ModuleText
from pybpf.native.helpers_ir import csum_add
from pybpf.native.irkit import Builder, Var
from pybpf.native.layout import CtxNativeHeader, SkbNative, field_offsets
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.skb_flags import (
    BPF_F_HDR_FIELD_MASK,
    BPF_F_INVALIDATE_HASH,
    BPF_F_IPV6,
    BPF_F_MARK_ENFORCE,
    BPF_F_MARK_MANGLED_0,
    BPF_F_PSEUDO_HDR,
    BPF_F_RECOMPUTE_CSUM,
    CHECKSUM_COMPLETE,
    CHECKSUM_PARTIAL,
    CSUM_MANGLED_0,
    ENOTSUPP,
)

__all__ = ["EXPORTS", "add"]

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_skb_load_bytes": ("i64", ("ptr", "i64", "ptr", "i64")),
    "pb_skb_store_bytes": ("i64", ("ptr", "i64", "ptr", "i64", "i64")),
    "pb_skb_csum_replace": ("i64", ("ptr", "i64", "i64", "i64", "i64", "i64")),
    "pb_skb_csum_update": ("i64", ("ptr", "i64")),
    "pb_skb_pull_data": ("i64", ("ptr", "i64")),
}
S = field_offsets(SkbNative)
H = field_offsets(CtxNativeHeader)
HASH = CTX_STRUCTS["__sk_buff"].offsetof("hash")
M32 = 0xFFFFFFFF
INT_MAX = 0x7FFFFFFF
L4_FLAGS = (BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK
            | BPF_F_IPV6)


class _Packet:
    """The linear packet of ``%skb``: its host pointer at ``data`` and its length."""

    def __init__(self, b: Builder) -> None:
        host = b.op(f"inttoptr i64 {b.ld('i64', '%skb', S['host'])} to ptr")
        data = b.ld("i64", "%skb", S["data"])
        self.start = b.ptr(host, data)
        self.len = b.op(f"sub i64 {b.ld('i64', '%skb', S['end'])}, {data}")


def _has(b: Builder, value: str, bits: int) -> str:
    """``i1``: ``value & bits`` is not 0."""
    return b.op(f"icmp ne i64 {b.op(f'and i64 {value}, {bits}')}, 0")


def _u32(b: Builder, value: str) -> str:
    return b.op(f"and i64 {value}, {M32}")


def _not32(b: Builder, value: str) -> str:
    return b.op(f"xor i64 {value}, {M32}")


def _csum_sub(b: Builder, csum: str, addend: str) -> str:
    """``csum_sub()``: ``csum_add(csum, ~addend)``."""
    return csum_add(b, csum, _not32(b, _u32(b, addend)))


def _fold(b: Builder, csum: str) -> str:
    """``csum_fold()``: 32 bits folded to 16 with end-around carry, complemented."""
    high, low = b.op(f"lshr i64 {csum}, 16"), b.op(f"shl i64 {csum}, 16")
    rotated = b.op(f"and i64 {b.op(f'or i64 {high}, {low}')}, {M32}")
    folded = b.op(f"and i64 {b.op(f'add i64 {csum}, {rotated}')}, {M32}")
    return b.op(f"xor i64 {b.op(f'lshr i64 {folded}, 16')}, 65535")


def _replace4(b: Builder, check: str, old: str, new: str) -> str:
    """``csum_replace4()``."""
    return _fold(b, csum_add(b, _csum_sub(b, _not32(b, check), old), _u32(b, new)))


def _replace_by_diff(b: Builder, check: str, diff: str) -> str:
    """``csum_replace_by_diff()``."""
    return _fold(b, csum_add(b, _u32(b, diff), _not32(b, check)))


def _csum16_add(b: Builder, csum: str, addend: str) -> str:
    res = b.op(f"and i64 {b.op(f'add i64 {csum}, {addend}')}, 65535")
    carry = b.zext(b.op(f"icmp ult i64 {res}, {addend}"), "i1")
    return b.op(f"and i64 {b.op(f'add i64 {res}, {carry}')}, 65535")


def _replace2(b: Builder, check: str, old: str, new: str) -> str:
    """``csum_replace2()``."""
    inner = _csum16_add(b, b.op(f"xor i64 {check}, 65535"),
                        b.op(f"xor i64 {b.op(f'and i64 {old}, 65535')}, 65535"))
    total = _csum16_add(b, inner, b.op(f"and i64 {new}, 65535"))
    return b.op(f"xor i64 {total}, 65535")


def _load_bytes(mod: ModuleText) -> None:
    """``bpf_skb_load_bytes(skb, offset, to, len)``."""
    mod.declare("llvm.memmove.p0.p0.i64",
                "declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)")
    b = Builder(mod, "pb_skb_load_bytes", "i64", [("ptr", "skb"), ("i64", "offset"),
                                                  ("ptr", "to"), ("i64", "len")])
    pkt = _Packet(b)
    off, n = _u32(b, "%offset"), _u32(b, "%len")
    past = b.op(f"icmp ugt i64 {b.op(f'add i64 {off}, {n}')}, {pkt.len}")
    with b.if_(b.op(f"or i1 {b.op(f'icmp ugt i64 {off}, {INT_MAX}')}, {past}")):
        b.memset0("%to", n)
        b.ret(-errno.EFAULT)
    b.fn.emit(f"call void @llvm.memmove.p0.p0.i64(ptr %to, ptr {b.ptr(pkt.start, off)}, "
              f"i64 {n}, i1 false)")
    b.ret(0)


def _store_bytes(mod: ModuleText) -> None:
    """``bpf_skb_store_bytes(skb, offset, from, len, flags)`` with ``__skb_postpull_rcsum()``
    and ``__skb_postpush_rcsum()`` for ``CHECKSUM_COMPLETE``, ``skb_clear_hash()``."""
    b = Builder(mod, "pb_skb_store_bytes", "i64", [("ptr", "skb"), ("i64", "offset"),
                                                   ("ptr", "from"), ("i64", "len"),
                                                   ("i64", "flags")])
    known = BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH
    b.return_if(b.op(f"icmp ne i64 {b.op(f'and i64 %flags, {~known}')}, 0"), -errno.EINVAL)
    pkt = _Packet(b)
    off, n = _u32(b, "%offset"), _u32(b, "%len")
    past = b.op(f"icmp ugt i64 {b.op(f'add i64 {off}, {n}')}, {pkt.len}")
    b.return_if(b.op(f"or i1 {b.op(f'icmp ugt i64 {off}, {INT_MAX}')}, {past}"),
                -errno.EFAULT)
    at = b.ptr(pkt.start, off)
    complete = b.op(f"icmp eq i32 {b.ld('i32', '%skb', S['ip_summed'])}, {CHECKSUM_COMPLETE}")
    recompute = b.op(f"and i1 {complete}, {_has(b, '%flags', BPF_F_RECOMPUTE_CSUM)}")
    with b.if_(recompute):
        csum = b.zext(b.ld("i32", "%skb", S["csum"]))
        part = b.call("i64", "pb_csum_partial", [("ptr", at), ("i64", n),
                                                 ("i64", _not32(b, csum))])
        b.st("i32", b.op(f"trunc i64 {_not32(b, part)} to i32"), "%skb", S["csum"])
    b.fn.emit(f"call void @llvm.memmove.p0.p0.i64(ptr {at}, ptr %from, i64 {n}, i1 false)")
    with b.if_(recompute):
        csum = b.zext(b.ld("i32", "%skb", S["csum"]))
        added = b.var("i64", b.call("i64", "pb_csum_partial", [("ptr", at), ("i64", n),
                                                               ("i64", 0)]))
        with b.if_(b.op(f"icmp ne i64 {b.op(f'and i64 {off}, 1')}, 0")):  # csum_block_add()
            a = added.get()
            rotated = b.op(f"or i64 {b.op(f'lshr i64 {a}, 8')}, {b.op(f'shl i64 {a}, 24')}")
            added.set(b.op(f"and i64 {rotated}, {M32}"))
        b.st("i32", b.op(f"trunc i64 {csum_add(b, csum, added.get())} to i32"), "%skb",
             S["csum"])
    with b.if_(_has(b, "%flags", BPF_F_INVALIDATE_HASH)):
        fields = b.op(f"inttoptr i64 {b.ld('i64', '%skb', H['fields'])} to ptr")
        b.st("i32", 0, fields, HASH)
        b.st("i8", 0, "%skb", S["sw_hash"])
        b.st("i8", 0, "%skb", S["l4_hash"])
    b.ret(0)


def _csum_replace(mod: ModuleText) -> None:
    """``bpf_l3_csum_replace()`` (``l4`` 0) and ``bpf_l4_csum_replace()`` (``l4`` 1), with
    ``inet_proto_csum_replace4()``/``_by_diff()`` for the latter."""
    b = Builder(mod, "pb_skb_csum_replace", "i64", [("ptr", "skb"), ("i64", "offset"),
                                                    ("i64", "from"), ("i64", "to"),
                                                    ("i64", "flags"), ("i64", "l4")])
    l4 = b.op("icmp ne i64 %l4, 0")
    allowed = b.op(f"select i1 {l4}, i64 {L4_FLAGS}, i64 {BPF_F_HDR_FIELD_MASK}")
    unknown = b.op(f"and i64 %flags, {b.op(f'xor i64 {allowed}, -1')}")
    b.return_if(b.op(f"icmp ne i64 {unknown}, 0"), -errno.EINVAL)
    pkt = _Packet(b)
    off = _u32(b, "%offset")
    bad = b.op(f"or i1 {b.op(f'icmp ugt i64 {off}, 65535')}, {_has(b, off, 1)}")
    past = b.op(f"icmp ugt i64 {b.op(f'add i64 {off}, 2')}, {pkt.len}")
    b.return_if(b.op(f"or i1 {bad}, {past}"), -errno.EFAULT)
    at = b.ptr(pkt.start, off)
    check = b.zext(b.fn.load("i16", at, align=1), "i16")
    size = b.op(f"and i64 %flags, {BPF_F_HDR_FIELD_MASK}")
    is_size = {n: b.op(f"icmp eq i64 {size}, {n}") for n in (0, 2, 4)}
    size_ok = b.op(f"or i1 {is_size[0]}, {b.op(f'or i1 {is_size[2]}, {is_size[4]}')}")
    # size 0 needs from == 0; sizes other than 0, 2, 4 are refused
    from_ok = b.op(f"or i1 {b.op('icmp eq i64 %from, 0')}, {b.op(f'xor i1 {is_size[0]}, true')}")
    valid = b.op(f"and i1 {size_ok}, {from_ok}")
    new = b.var("i64", check)
    with b.if_else(l4) as (on_l4, on_l3):
        with on_l3:
            b.return_if(b.op(f"xor i1 {valid}, true"), -errno.EINVAL)
            with b.if_else(b.op(f"icmp eq i64 {size}, 0")) as (diff, value):
                with diff:
                    new.set(_replace_by_diff(b, check, "%to"))
                with value, b.if_else(b.op(f"icmp eq i64 {size}, 2")) as (two, four):
                    with two:
                        new.set(_replace2(b, check, "%from", "%to"))
                    with four:
                        new.set(_replace4(b, check, "%from", "%to"))
        with on_l4:
            mmzero = _has(b, "%flags", BPF_F_MARK_MANGLED_0)
            lax = b.op(f"xor i1 {_has(b, '%flags', BPF_F_MARK_ENFORCE)}, true")
            zero = b.op(f"icmp eq i64 {check}, 0")
            leave = b.op(f"and i1 {mmzero}, {b.op(f'and i1 {lax}, {zero}')}")
            b.return_if(leave, 0)
            b.return_if(b.op(f"xor i1 {valid}, true"), -errno.EINVAL)
            _proto_replace(b, new, check, size)
            with b.if_(b.op(f"and i1 {mmzero}, {b.op(f'icmp eq i64 {new.get()}, 0')}")):
                new.set(str(CSUM_MANGLED_0))
    b.fn.store("i16", b.op(f"trunc i64 {new.get()} to i16"), at, align=1)
    b.ret(0)


def _proto_replace(b: Builder, new: Var, check: str, size: str) -> None:
    """``inet_proto_csum_replace4()`` (sizes 2 and 4, values widened) or
    ``inet_proto_csum_replace_by_diff()`` (size 0) into ``new``."""
    pseudo = _has(b, "%flags", BPF_F_PSEUDO_HDR)
    ipv6 = _has(b, "%flags", BPF_F_IPV6)
    ip_summed = b.ld("i32", "%skb", S["ip_summed"])
    partial = b.op(f"icmp eq i32 {ip_summed}, {CHECKSUM_PARTIAL}")
    complete = b.op(f"icmp eq i32 {ip_summed}, {CHECKSUM_COMPLETE}")
    by_diff = b.op(f"icmp eq i64 {size}, 0")
    mask = b.op(f"select i1 {b.op(f'icmp eq i64 {size}, 2')}, i64 65535, i64 {M32}")
    old_v, new_v = b.op(f"and i64 %from, {mask}"), b.op(f"and i64 %to, {mask}")
    diff = _u32(b, "%to")
    with b.if_else(partial) as (is_partial, other):
        with is_partial, b.if_(pseudo), b.if_else(by_diff) as (d, v):
            with d:
                new.set(b.op(f"xor i64 {_fold(b, csum_add(b, diff, check))}, 65535"))
            with v:
                summed = csum_add(b, _csum_sub(b, check, old_v), new_v)
                new.set(b.op(f"xor i64 {_fold(b, summed)}, 65535"))
        with other:
            skb_csum = b.zext(b.ld("i32", "%skb", S["csum"]))
            with b.if_else(by_diff) as (d, v):
                with d:
                    new.set(_replace_by_diff(b, check, diff))
                    no_v6 = b.op(f"xor i1 {ipv6}, true")
                    with b.if_(b.op(f"and i1 {complete}, {b.op(f'and i1 {pseudo}, {no_v6}')}")):
                        updated = _not32(b, _csum_sub(b, diff, skb_csum))
                        b.st("i32", b.op(f"trunc i64 {updated} to i32"), "%skb", S["csum"])
                with v:
                    new.set(_replace4(b, check, old_v, new_v))
                    with b.if_(b.op(f"and i1 {complete}, {pseudo}")):
                        updated = _not32(b, csum_add(b, _csum_sub(b, _not32(b, skb_csum),
                                                                  old_v), new_v))
                        b.st("i32", b.op(f"trunc i64 {updated} to i32"), "%skb", S["csum"])


def _csum_update(mod: ModuleText) -> None:
    """``bpf_csum_update(skb, csum)``."""
    b = Builder(mod, "pb_skb_csum_update", "i64", [("ptr", "skb"), ("i64", "csum")])
    complete = b.op(f"icmp eq i32 {b.ld('i32', '%skb', S['ip_summed'])}, {CHECKSUM_COMPLETE}")
    b.return_if(b.op(f"xor i1 {complete}, true"), -ENOTSUPP)
    updated = csum_add(b, b.zext(b.ld("i32", "%skb", S["csum"])), _u32(b, "%csum"))
    b.st("i32", b.op(f"trunc i64 {updated} to i32"), "%skb", S["csum"])
    b.ret(updated)


def _pull_data(mod: ModuleText) -> None:
    """``bpf_skb_pull_data(skb, len)``: a linear skb has all of it; ``-ENOMEM`` past it."""
    b = Builder(mod, "pb_skb_pull_data", "i64", [("ptr", "skb"), ("i64", "len")])
    pkt = _Packet(b)
    b.return_if(b.op(f"icmp ugt i64 {_u32(b, '%len')}, {pkt.len}"), -errno.ENOMEM)
    b.ret(0)


def add(mod: ModuleText) -> None:
    """Add the skb helpers to the library module (after :mod:`.helpers_ir`, whose
    ``pb_csum_partial`` they use)."""
    _load_bytes(mod)
    _store_bytes(mod)
    _csum_replace(mod)
    _csum_update(mod)
    _pull_data(mod)
