"""Helpers on the run's context and its packet, in native code: ``bpf_xdp_adjust_head``/
``meta``/``tail``, ``bpf_xdp_load_bytes``/``store_bytes``, ``bpf_skb_load_bytes``/
``store_bytes``, ``bpf_l3/l4_csum_replace``, ``bpf_csum_update``, ``bpf_skb_pull_data``,
``bpf_skb_change_tail``/``change_head``/``change_proto``, ``bpf_skb_vlan_push``/``pop``,
``bpf_skb_adjust_room``; and, through :mod:`pybpf.jit.lower_redirect`, the redirects.

Each is done natively only where its semantics allow, and otherwise falls back to the Python
helper (:func:`pybpf.jit.native_call.native_or_python`), so results never differ:

* ``bpf_xdp_adjust_head``/``meta``/``tail(ctx, delta)`` call the native library's
  (:mod:`pybpf.native.xdp_ir`) when the context's row points at an XDP context's native half
  (``NativeKind.XDP_MD``); the context adopts the new geometry before Python next looks
  (:meth:`pybpf.runtime.ctx.xdp.XdpContext.adopt_native`);
* ``bpf_xdp_load_bytes``/``store_bytes(ctx, offset, buf, len)`` copy between the XDP
  packet and the program's buffer natively when the buffer is directly writable/readable
  for its whole length (``bpf_xdp_pointer()``'s checks; a linear buffer has no frags);
* the skb packet helpers call the native library's (:mod:`pybpf.native.skb_ir`) when the
  context's row points at a socket buffer's native half (``NativeKind.SKB``) and, for
  ``bpf_skb_load_bytes``/``store_bytes``, the program's buffer is directly writable/readable
  for its whole length (else Python, which faults as the interpreter does); they change the
  packet bytes and the checksum/hash state in place, never the packet's geometry;
* ``bpf_skb_change_tail``/``change_head``/``vlan_push``/``vlan_pop``/``adjust_room``/
  ``change_proto`` call the native library's (:mod:`pybpf.native.skb_geo_ir`,
  :mod:`pybpf.native.skb_room_ir`) on a socket buffer's native half, which moves
  the packet inside its buffer (the context adopts the new geometry before Python next
  looks, :meth:`pybpf.runtime.ctx.skb.SkbContext.adopt_native`), or answers ``NOT_NATIVE``
  where the buffer lacks the head- or tailroom: then the Python helper runs (it reallocates
  the buffer, as ``pskb_expand_head()`` does).
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.jit.abi import ROW_OFFSETS
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import TBAA_TABLE
from pybpf.jit.lower_mem import translate
from pybpf.jit.lower_redirect import REDIRECT_HELPERS, lower_redirect, standard_redirect_helpers
from pybpf.jit.native_call import native_or_python, row_of
from pybpf.native.layout import NOT_NATIVE, NativeKind
from pybpf.native.xdp_ir import XdpAdjust

__all__ = ["CONTEXT_HELPERS", "lower_context_helper", "standard_context_helpers"]

XDP_ADJUST_HEAD = 44
XDP_ADJUST_META = 54
XDP_ADJUST_TAIL = 65
#: The XDP geometry helpers and their ``op`` of ``pb_xdp_adjust``.
XDP_ADJUST = {XDP_ADJUST_HEAD: XdpAdjust.HEAD, XDP_ADJUST_META: XdpAdjust.META,
              XDP_ADJUST_TAIL: XdpAdjust.TAIL}
XDP_LOAD_BYTES = 189
XDP_STORE_BYTES = 190
XDP_BYTES = frozenset({XDP_LOAD_BYTES, XDP_STORE_BYTES})
SKB_STORE_BYTES = 9
L3_CSUM_REPLACE = 10
L4_CSUM_REPLACE = 11
SKB_LOAD_BYTES = 26
SKB_PULL_DATA = 39
CSUM_UPDATE = 40
#: The skb packet helpers and their function in the env block (pybpf.native.skb_ir).
SKB_HELPERS = {SKB_LOAD_BYTES: "skb_load_bytes", SKB_STORE_BYTES: "skb_store_bytes",
               L3_CSUM_REPLACE: "skb_csum_replace", L4_CSUM_REPLACE: "skb_csum_replace",
               CSUM_UPDATE: "skb_csum_update", SKB_PULL_DATA: "skb_pull_data"}
VLAN_PUSH = 18
VLAN_POP = 19
CHANGE_TAIL = 38
CHANGE_HEAD = 43
CHANGE_PROTO = 31
ADJUST_ROOM = 50
#: The skb geometry helpers, their function in the env block (pybpf.native.skb_geo_ir,
#: pybpf.native.skb_room_ir) and how many arguments after the context it takes.
SKB_GEOMETRY = {CHANGE_TAIL: ("skb_change_tail", 2), CHANGE_HEAD: ("skb_change_head", 2),
                VLAN_PUSH: ("skb_vlan_push", 2), VLAN_POP: ("skb_vlan_pop", 0),
                ADJUST_ROOM: ("skb_adjust_room", 3), CHANGE_PROTO: ("skb_change_proto", 2)}
#: The helpers lowered here (the redirects by :mod:`pybpf.jit.lower_redirect`).
CONTEXT_HELPERS = frozenset({*XDP_ADJUST, *XDP_BYTES, *SKB_HELPERS, *SKB_GEOMETRY,
                             *REDIRECT_HELPERS})


def lower_context_helper(f: Frame, helper: int, regs: list[str],
                         python: Callable[[], str]) -> str:
    """r0 of ``helper`` (one of :data:`CONTEXT_HELPERS`) called with ``regs``; ``python``
    emits the call of the Python helper and returns its r0."""
    if helper in XDP_ADJUST:
        return _xdp_adjust(f, helper, regs, python)
    if helper in XDP_BYTES:
        return _xdp_bytes(f, helper, regs, python)
    if helper in SKB_HELPERS:
        return _skb(f, helper, regs, python)
    if helper in SKB_GEOMETRY:
        return _skb_geometry(f, helper, regs, python)
    if helper in REDIRECT_HELPERS:
        return lower_redirect(f, helper, regs, python)
    raise ValueError(f"helper {helper} is not a context helper")


def _xdp_adjust(f: Frame, helper: int, regs: list[str], python: Callable[[], str]) -> str:
    """``bpf_xdp_adjust_head``/``meta``/``tail(ctx, delta)`` on the context's native half,
    found in the row of ``r1``."""
    fn = f.fn
    ok, row = row_of(f, regs[0], NativeKind.XDP_MD)

    def native() -> tuple[str, str | None]:
        xdp = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)
        target = fn.load("ptr", f.env_ptr("xdp_adjust"), tbaa=TBAA_TABLE)
        return fn.call("i64", target, [("ptr", xdp), ("i64", str(int(XDP_ADJUST[helper]))),
                                       ("i64", regs[1]), ("ptr", f.table),
                                       ("i64", f.ntable)]), None

    return native_or_python(f, ok, native, python)


def _program_buffer(f: Frame, regs: list[str], *, writes: bool) -> tuple[str, str, str]:
    """``(usable, host pointer, length)`` of the program's buffer of a load/store-bytes
    helper (``r3``, ``r4`` bytes): usable when directly writable (the helper fills it) or
    readable for its whole length."""
    size = f.fn.op(f"and i64 {regs[3]}, 4294967295")
    usable, buf = translate(f, regs[2], size, "store_size" if writes else "load_size",
                            checked=True)
    return usable, buf, size


def _xdp_bytes(f: Frame, helper: int, regs: list[str], python: Callable[[], str]) -> str:
    """``bpf_xdp_load_bytes``/``store_bytes(ctx, offset, buf, len)`` on the context's native
    half (the row of ``r1``) when the program's buffer is directly writable (load) or
    readable (store) for its ``len`` bytes."""
    fn = f.fn
    ok, row = row_of(f, regs[0], NativeKind.XDP_MD)
    usable, buf, size = _program_buffer(f, regs, writes=helper == XDP_LOAD_BYTES)
    ok = fn.op(f"and i1 {ok}, {usable}")

    def native() -> tuple[str, str | None]:
        xdp = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)
        target = fn.load("ptr", f.env_ptr("xdp_bytes"), tbaa=TBAA_TABLE)
        store = "1" if helper == XDP_STORE_BYTES else "0"
        value = fn.call("i64", target, [("ptr", xdp), ("i64", regs[1]), ("ptr", buf),
                                        ("i64", size), ("i64", store)])
        return value, fn.op(f"icmp eq i64 {value}, {NOT_NATIVE}")

    return native_or_python(f, ok, native, python)


def _skb(f: Frame, helper: int, regs: list[str], python: Callable[[], str]) -> str:
    """The skb packet helpers on the context's native half, found in the row of ``r1``; the
    program's buffer of ``bpf_skb_load_bytes``/``store_bytes`` (``r3``, ``r4`` bytes) must
    be directly writable/readable, else the helper is Python's (which faults as the
    interpreter does)."""
    fn = f.fn
    ok, row = row_of(f, regs[0], NativeKind.SKB)
    args: list[tuple[str, str]] = [("i64", regs[1])]
    if helper in (SKB_LOAD_BYTES, SKB_STORE_BYTES):
        usable, buf, size = _program_buffer(f, regs, writes=helper == SKB_LOAD_BYTES)
        ok = fn.op(f"and i1 {ok}, {usable}")
        args += [("ptr", buf), ("i64", size)]
        if helper == SKB_STORE_BYTES:
            args.append(("i64", regs[4]))
    elif helper in (L3_CSUM_REPLACE, L4_CSUM_REPLACE):
        args += [("i64", regs[2]), ("i64", regs[3]), ("i64", regs[4]),
                 ("i64", "1" if helper == L4_CSUM_REPLACE else "0")]

    def native() -> tuple[str, str | None]:
        skb = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)
        target = fn.load("ptr", f.env_ptr(SKB_HELPERS[helper]), tbaa=TBAA_TABLE)
        return fn.call("i64", target, [("ptr", skb), *args]), None

    return native_or_python(f, ok, native, python)


def _skb_geometry(f: Frame, helper: int, regs: list[str], python: Callable[[], str]) -> str:
    """The skb geometry helpers (:data:`SKB_GEOMETRY`) on the context's native half, found in the row of ``r1``; Python's where the native function answers
    ``NOT_NATIVE`` (the buffer lacks the room: Python reallocates it)."""
    fn = f.fn
    ok, row = row_of(f, regs[0], NativeKind.SKB)
    name, nargs = SKB_GEOMETRY[helper]

    def native() -> tuple[str, str | None]:
        skb = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)
        target = fn.load("ptr", f.env_ptr(name), tbaa=TBAA_TABLE)
        args = [("ptr", skb), *(("i64", r) for r in regs[1 : 1 + nargs]), ("ptr", f.table),
                ("i64", f.ntable)]
        value = fn.call("i64", target, args)
        return value, fn.op(f"icmp eq i64 {value}, {NOT_NATIVE}")

    return native_or_python(f, ok, native, python)


def standard_context_helpers() -> dict[int, object]:
    """pybpf's own implementations of the helpers lowered here (by id)."""
    from pybpf.runtime.helpers import csum, skb, skb_room, xdp

    return {XDP_ADJUST_HEAD: xdp.bpf_xdp_adjust_head, XDP_ADJUST_META: xdp.bpf_xdp_adjust_meta,
            XDP_ADJUST_TAIL: xdp.bpf_xdp_adjust_tail,
            XDP_LOAD_BYTES: xdp.bpf_xdp_load_bytes, XDP_STORE_BYTES: xdp.bpf_xdp_store_bytes,
            SKB_LOAD_BYTES: skb.bpf_skb_load_bytes, SKB_STORE_BYTES: skb.bpf_skb_store_bytes,
            L3_CSUM_REPLACE: csum.bpf_l3_csum_replace, L4_CSUM_REPLACE: csum.bpf_l4_csum_replace,
            CSUM_UPDATE: csum.bpf_csum_update, SKB_PULL_DATA: skb.bpf_skb_pull_data,
            CHANGE_TAIL: skb.bpf_skb_change_tail, CHANGE_HEAD: skb.bpf_skb_change_head,
            VLAN_PUSH: skb.bpf_skb_vlan_push, VLAN_POP: skb.bpf_skb_vlan_pop,
            CHANGE_PROTO: skb.bpf_skb_change_proto, ADJUST_ROOM: skb_room.bpf_skb_adjust_room,
            **standard_redirect_helpers()}
