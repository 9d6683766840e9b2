"""The redirect helpers in native code: ``bpf_redirect``, ``bpf_redirect_peer``/``neigh``
and ``bpf_redirect_map``.

A redirect helper only records where the packet goes and returns the action
(:mod:`pybpf.runtime.helpers.redirect`, net/core/filter.c); natively the target is written
to the ``redirect`` word of the run's context's native half (``env->ctx_native``, an XDP or
skb context, which reads it back as its ``redirect``), and a run with no such context is
Python's (:func:`pybpf.jit.native_call.native_or_python`):

* ``bpf_redirect(ifindex, flags)``: XDP's ``bpf_xdp_redirect()`` or tc's;
* ``bpf_redirect_peer()``/``bpf_redirect_neigh()``: tc's, with their flag and
  ``struct bpf_redir_neigh`` size checks;
* ``bpf_redirect_map()`` on a redirect map (devmap, cpumap, xskmap, hash devmap: their
  ``RedirectMapNative``, found in the row of ``r1``; a hash devmap's entry by binary search
  of its sorted keys).
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.jit.abi import ROW_OFFSETS
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import TBAA_PROGRAM, TBAA_TABLE
from pybpf.jit.native_call import native_or_python, row_of
from pybpf.jit.slow_paths import CTX_OFFSETS, is_context_kind
from pybpf.native.layout import NativeKind, RedirectKind, RedirectMapNative, field_offsets
from pybpf.runtime.helpers.redirect import (
    REDIR_NEIGH_SIZE,
    TC_ACT_REDIRECT,
    TC_ACT_SHOT,
    XDP_ABORTED,
    XDP_REDIRECT,
)
from pybpf.runtime.maps.redirect import BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS

__all__ = ["REDIRECT_HELPERS", "lower_redirect", "standard_redirect_helpers"]

REDIRECT = 23
REDIRECT_MAP = 51
REDIRECT_NEIGH = 152
REDIRECT_PEER = 155
#: The helpers lowered here.
REDIRECT_HELPERS = frozenset({REDIRECT, REDIRECT_MAP, REDIRECT_NEIGH, REDIRECT_PEER})
RMAP = field_offsets(RedirectMapNative)


def lower_redirect(f: Frame, helper: int, regs: list[str], python: Callable[[], str]) -> str:
    """r0 of ``helper`` (one of :data:`REDIRECT_HELPERS`) called with ``regs``; ``python``
    emits the call of the Python helper and returns its r0."""
    if helper == REDIRECT:
        return _redirect(f, regs, python)
    if helper == REDIRECT_MAP:
        return _redirect_map(f, regs, python)
    return _redirect_tc(f, helper, regs, python)


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


def standard_redirect_helpers() -> dict[int, object]:
    """pybpf's own implementations of the helpers lowered here (by id)."""
    from pybpf.runtime.helpers import redirect

    return {REDIRECT: redirect.bpf_redirect, REDIRECT_MAP: redirect.bpf_redirect_map,
            REDIRECT_PEER: redirect.bpf_redirect_peer,
            REDIRECT_NEIGH: redirect.bpf_redirect_neigh}
