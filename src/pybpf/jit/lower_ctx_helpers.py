"""Helpers on the run's context and its packet, in native code: ``bpf_xdp_adjust_head``/
``meta``/``tail``, ``bpf_xdp_load_bytes``/``store_bytes``, ``bpf_skb_load_bytes``/
``store_bytes``, ``bpf_l3/l4_csum_replace``, ``bpf_csum_update``, ``bpf_skb_pull_data``,
``bpf_skb_change_tail``/``change_head``/``change_proto``, ``bpf_skb_vlan_push``/``pop``,
``bpf_skb_adjust_room``, ``bpf_redirect``, ``bpf_redirect_peer``/``neigh``, ``bpf_redirect_map``.

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
  the buffer, as ``pskb_expand_head()`` does);
* ``bpf_redirect(ifindex, flags)`` records its target in the native half of the run's
  context (``env->ctx_native``, an XDP or skb context; the context reads it back as its
  ``redirect``), or is Python's for any other context; ``bpf_redirect_map()`` likewise on
  a redirect map (devmap, cpumap, xskmap, hash devmap: their ``RedirectMapNative``, found in
  the row of ``r1``; a hash devmap's entry by binary search of its sorted keys), and
  ``bpf_redirect_peer()``/``bpf_redirect_neigh()`` on a context's native half.
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.jit.abi import ROW_OFFSETS
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import TBAA_PROGRAM, TBAA_TABLE
from pybpf.jit.lower_mem import translate
from pybpf.jit.native_call import native_or_python, row_of
from pybpf.jit.slow_paths import CTX_OFFSETS, is_context_kind
from pybpf.native.layout import (
    NOT_NATIVE,
    NativeKind,
    RedirectKind,
    RedirectMapNative,
    field_offsets,
)
from pybpf.native.xdp_ir import XdpAdjust
from pybpf.runtime.helpers.redirect import (
    REDIR_NEIGH_SIZE,
    TC_ACT_REDIRECT,
    TC_ACT_SHOT,
    XDP_ABORTED,
    XDP_REDIRECT,
)
from pybpf.runtime.maps.redirect import BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS

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
RMAP = field_offsets(RedirectMapNative)
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
REDIRECT = 23
REDIRECT_MAP = 51
REDIRECT_NEIGH = 152
REDIRECT_PEER = 155
#: The helpers lowered here.
CONTEXT_HELPERS = frozenset({*XDP_ADJUST, *XDP_BYTES, *SKB_HELPERS, *SKB_GEOMETRY, REDIRECT,
                             REDIRECT_MAP, REDIRECT_NEIGH, REDIRECT_PEER})


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
    if helper == REDIRECT:
        return _redirect(f, regs, python)
    if helper == REDIRECT_MAP:
        return _redirect_map(f, regs, python)
    if helper in (REDIRECT_PEER, REDIRECT_NEIGH):
        return _redirect_tc(f, helper, regs, python)
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


def _record_redirect(f: Frame, refused: str, word: str) -> None:
    """The run's redirect target becomes ``word`` (``CTX_HEADER.redirect`` of the context's
    native half) unless the helper ``refused``."""
    fn = f.fn
    half = fn.op(f"inttoptr i64 {f.load_env('ctx_native')} to ptr")
    slot = fn.gep(half, CTX_OFFSETS["redirect"])
    old = fn.load("i64", slot, tbaa=TBAA_TABLE)
    fn.store("i64", fn.op(f"select i1 {refused}, i64 {old}, i64 {word}"), slot, tbaa=TBAA_TABLE)


def _redirect(f: Frame, regs: list[str], python: Callable[[], str]) -> str:
    """``bpf_redirect(ifindex, flags)`` on the run's context (``env->ctx_native``): XDP's
    ``bpf_xdp_redirect()`` (any flag: ``XDP_ABORTED``, else ``XDP_REDIRECT``) or tc's (flags
    other than ``BPF_F_INGRESS``: ``TC_ACT_SHOT``, else ``TC_ACT_REDIRECT``), recording the
    target in the half's ``redirect`` word as :mod:`pybpf.runtime.helpers.redirect` does;
    Python's where the run has no such context."""
    fn = f.fn
    kind = f.load_env("ctx_kind")
    is_xdp = fn.op(f"icmp eq i64 {kind}, {int(NativeKind.XDP_MD)}")

    def native() -> tuple[str, str | None]:
        flags, ifindex = regs[1], fn.op(f"and i64 {regs[0]}, 4294967295")
        any_flag = fn.op(f"icmp ne i64 {flags}, 0")
        other = fn.op(f"icmp ne i64 {fn.op(f'and i64 {flags}, -2')}, 0")  # not BPF_F_INGRESS
        bad = fn.op(f"select i1 {is_xdp}, i1 {any_flag}, i1 {other}")
        ingress_flag = fn.op(f"icmp ne i64 {fn.op(f'and i64 {flags}, 1')}, 0")
        ingress = fn.op(f"and i1 {fn.op(f'xor i1 {is_xdp}, true')}, {ingress_flag}")
        target = fn.op(f"select i1 {ingress}, i64 {int(RedirectKind.INGRESS) << 32}, "
                       f"i64 {int(RedirectKind.IFINDEX) << 32}")
        _record_redirect(f, bad, fn.op(f"or i64 {target}, {ifindex}"))
        done = fn.op(f"select i1 {is_xdp}, i64 {XDP_REDIRECT}, i64 {TC_ACT_REDIRECT}")
        failed = fn.op(f"select i1 {is_xdp}, i64 {XDP_ABORTED}, i64 {TC_ACT_SHOT}")
        return fn.op(f"select i1 {bad}, i64 {failed}, i64 {done}"), None

    return native_or_python(f, is_context_kind(fn, kind, "i64"), native, python)


def _redirect_tc(f: Frame, helper: int, regs: list[str], python: Callable[[], str]) -> str:
    """``bpf_redirect_peer(ifindex, flags)`` (any flag: ``TC_ACT_SHOT``) and
    ``bpf_redirect_neigh(ifindex, params, plen, flags)`` (``plen`` short of a
    ``struct bpf_redir_neigh``, or any flag: ``TC_ACT_SHOT``), else ``TC_ACT_REDIRECT`` with
    the target recorded in the run's context's native half, as
    :mod:`pybpf.runtime.helpers.redirect` records it; Python's where the run has no such
    context."""
    fn = f.fn
    kind = f.load_env("ctx_kind")

    def native() -> tuple[str, str | None]:
        if helper == REDIRECT_PEER:
            bad = fn.op(f"icmp ne i64 {regs[1]}, 0")
            target = RedirectKind.PEER
        else:
            plen = fn.op(f"trunc i64 {regs[2]} to i32")
            short = fn.op(f"and i1 {fn.op(f'icmp ne i32 {plen}, 0')}, "
                          f"{fn.op(f'icmp slt i32 {plen}, {REDIR_NEIGH_SIZE}')}")
            bad = fn.op(f"or i1 {short}, {fn.op(f'icmp ne i64 {regs[3]}, 0')}")
            target = RedirectKind.NEIGH
        ifindex = fn.op(f"and i64 {regs[0]}, 4294967295")
        _record_redirect(f, bad, fn.op(f"or i64 {int(target) << 32}, {ifindex}"))
        return fn.op(f"select i1 {bad}, i64 {TC_ACT_SHOT}, i64 {TC_ACT_REDIRECT}"), None

    return native_or_python(f, is_context_kind(fn, kind, "i64"), native, python)


def _redirect_slot(f: Frame, field: Callable[..., str], key: str) -> tuple[str, str]:
    """``(inside, slot)``: whether redirect map ``key`` (i64) has a slot, and which (0 when
    not): the key itself below ``max_entries`` for an indexed map, the binary search of the
    sorted keys of a hash devmap (``hashed``)."""
    fn = f.fn
    hashed = fn.op(f"icmp ne i64 {field('hashed', 'i32')}, 0")
    indexed, search, head, probe, step, merge = (
        fn.new_block(name) for name in ("rmap_indexed", "rmap_search", "rmap_head",
                                        "rmap_probe", "rmap_step", "rmap_slot"))
    fn.cbr(hashed, search, indexed)
    fn.start(indexed)
    in_range = fn.op(f"icmp ult i64 {key}, {field('max_entries', 'i32')}")
    fn.br(merge)
    fn.start(search)
    keys = fn.op(f"inttoptr i64 {field('keys')} to ptr")
    count = field("count", "i32")
    fn.br(head)
    fn.start(head)
    lo_next, hi_next = "%" + fn.fresh("rmap_lo"), "%" + fn.fresh("rmap_hi")
    lo = fn.phi("i64", [("0", search), (lo_next, step)])
    hi = fn.phi("i64", [(count, search), (hi_next, step)])
    fn.cbr(fn.op(f"icmp ult i64 {lo}, {hi}"), probe, merge)
    fn.start(probe)
    mid = fn.op(f"lshr i64 {fn.op(f'add i64 {lo}, {hi}')}, 1")
    word = fn.load("i32", fn.gep(keys, fn.op(f"shl i64 {mid}, 2")), align=4, tbaa=TBAA_PROGRAM)
    there = fn.op(f"zext i32 {word} to i64")
    fn.cbr(fn.op(f"icmp eq i64 {there}, {key}"), merge, step)
    fn.start(step)
    below = fn.op(f"icmp ult i64 {there}, {key}")
    fn.emit(f"{lo_next} = select i1 {below}, i64 {fn.op(f'add i64 {mid}, 1')}, i64 {lo}")
    fn.emit(f"{hi_next} = select i1 {below}, i64 {hi}, i64 {mid}")
    fn.br(head)
    fn.start(merge)
    inside = fn.phi("i1", [(in_range, indexed), ("false", head), ("true", probe)])
    slot = fn.phi("i64", [(key, indexed), ("0", head), (mid, probe)])
    return inside, fn.op(f"select i1 {inside}, i64 {slot}, i64 0")


def _redirect_map(f: Frame, regs: list[str], python: Callable[[], str]) -> str:
    """``bpf_redirect_map(map, key, flags)`` (``__bpf_xdp_redirect_map()``) on a redirect
    map's :class:`~pybpf.native.layout.RedirectMapNative` (found in the row of ``r1``),
    recording the target in the run's context's native half: flags beyond the action and
    the map's own → ``XDP_ABORTED``; no entry at ``key`` (and no ``BPF_F_BROADCAST``) → no
    target and the action in the flags; else ``XDP_REDIRECT`` to the entry's device, the
    CPU or socket ``key``, or every device. Runs without such a context are Python's."""
    fn = f.fn
    has_ctx = is_context_kind(fn, f.load_env("ctx_kind"), "i64")
    is_map, row = row_of(f, regs[0], NativeKind.REDIRECT_MAP)

    def native() -> tuple[str, str | None]:
        desc = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)

        def field(name: str, ty: str = "i64") -> str:
            value = fn.load(ty, fn.gep(desc, RMAP[name]), tbaa=TBAA_TABLE)
            return value if ty == "i64" else fn.op(f"zext {ty} {value} to i64")

        flags, key = regs[2], fn.op(f"and i64 {regs[1]}, 4294967295")
        mask = field("flag_mask")
        refused = fn.op(f"xor i64 {fn.op(f'or i64 {mask}, 3')}, -1")
        bad = fn.op(f"icmp ne i64 {fn.op(f'and i64 {flags}, {refused}')}, 0")
        inside, safe = _redirect_slot(f, field, key)
        present_at = fn.op(f"inttoptr i64 {field('present')} to ptr")
        vals = fn.op(f"inttoptr i64 {field('vals')} to ptr")
        # an empty map has no arrays: the loads below happen only inside
        found = fn.new_block("rmap_found")
        join = fn.new_block("rmap_join")
        start = fn.block
        fn.cbr(inside, found, join)
        fn.start(found)
        flag = fn.load("i8", fn.gep(present_at, safe), tbaa=TBAA_PROGRAM)
        ifindex = fn.load("i32", fn.gep(vals, fn.op(f"shl i64 {safe}, 3")), align=4,
                          tbaa=TBAA_PROGRAM)
        fn.br(join)
        fn.start(join)
        present = fn.phi("i8", [("0", start), (flag, found)])
        value = fn.phi("i32", [("0", start), (ifindex, found)])
        has_entry = fn.op(f"icmp ne i8 {present}, 0")
        broadcast = fn.op(f"icmp ne i64 {fn.op(f'and i64 {flags}, {BPF_F_BROADCAST}')}, 0")
        exclude = fn.op(f"lshr i64 {fn.op(f'and i64 {flags}, {BPF_F_EXCLUDE_INGRESS}')}, 4")
        target = field("target", "i32")
        is_device = fn.op(f"icmp eq i64 {target}, {int(RedirectKind.IFINDEX)}")
        index = fn.op(f"select i1 {is_device}, i64 {fn.op(f'zext i32 {value} to i64')}, "
                      f"i64 {key}")
        entry_word = fn.op(f"or i64 {fn.op(f'shl i64 {target}, 32')}, {index}")
        word = fn.op(f"select i1 {broadcast}, i64 {int(RedirectKind.BROADCAST) << 32 | 0}, "
                     f"i64 {entry_word}")
        word = fn.op(f"or i64 {word}, {fn.op(f'select i1 {broadcast}, i64 {exclude}, i64 0')}")
        redirects = fn.op(f"or i1 {has_entry}, {broadcast}")
        word = fn.op(f"select i1 {redirects}, i64 {word}, i64 0")
        _record_redirect(f, bad, word)
        action = fn.op(f"select i1 {redirects}, i64 {XDP_REDIRECT}, "
                       f"i64 {fn.op(f'and i64 {flags}, 3')}")
        return fn.op(f"select i1 {bad}, i64 {XDP_ABORTED}, i64 {action}"), None

    return native_or_python(f, fn.op(f"and i1 {has_ctx}, {is_map}"), native, python)


def standard_context_helpers() -> dict[int, object]:
    """pybpf's own implementations of the helpers lowered here (by id)."""
    from pybpf.runtime.helpers import csum, redirect, skb, skb_room, xdp

    return {XDP_ADJUST_HEAD: xdp.bpf_xdp_adjust_head, XDP_ADJUST_META: xdp.bpf_xdp_adjust_meta,
            XDP_ADJUST_TAIL: xdp.bpf_xdp_adjust_tail,
            XDP_LOAD_BYTES: xdp.bpf_xdp_load_bytes, XDP_STORE_BYTES: xdp.bpf_xdp_store_bytes,
            SKB_LOAD_BYTES: skb.bpf_skb_load_bytes, SKB_STORE_BYTES: skb.bpf_skb_store_bytes,
            L3_CSUM_REPLACE: csum.bpf_l3_csum_replace, L4_CSUM_REPLACE: csum.bpf_l4_csum_replace,
            CSUM_UPDATE: csum.bpf_csum_update, SKB_PULL_DATA: skb.bpf_skb_pull_data,
            REDIRECT: redirect.bpf_redirect, REDIRECT_MAP: redirect.bpf_redirect_map,
            REDIRECT_PEER: redirect.bpf_redirect_peer,
            REDIRECT_NEIGH: redirect.bpf_redirect_neigh,
            CHANGE_TAIL: skb.bpf_skb_change_tail, CHANGE_HEAD: skb.bpf_skb_change_head,
            VLAN_PUSH: skb.bpf_skb_vlan_push, VLAN_POP: skb.bpf_skb_vlan_pop,
            CHANGE_PROTO: skb.bpf_skb_change_proto, ADJUST_ROOM: skb_room.bpf_skb_adjust_room}
