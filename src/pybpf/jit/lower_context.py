"""Context loads and stores of verified code, inline: what the kernel's
``convert_ctx_accesses()`` makes of them.

The kernel rewrites every load and store through the context pointer into an access of the
real object (``xdp_md.data`` becomes a load of ``xdp_buff->data``, ``__sk_buff.mark`` one of
``sk_buff->mark``...). The verifier tells pybpf's JIT which instructions those are
(:func:`pybpf.verifier.packet_facts.context_accesses`: the context on every path, at the
instruction's constant offset), and the JIT reads and writes the context's native half
(:data:`~pybpf.native.layout.CTX_HEADER`) right there, as ``bpf_load_slow`` and
``bpf_store_slow`` (:mod:`pybpf.jit.slow_paths`) would, without their call: no spill of
live registers around it, and LLVM sees the loads of the header (one per context, the same
in every run of a loop) and can share them.

What the native half does not answer (a context without one, a field it does not hold, an
access of another size) still goes through the slow path, which ends in Python's context
hooks exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.jit.frame import Frame
from pybpf.jit.lower_mem import address, region_offset, row_index
from pybpf.jit.slow_paths import (
    answered_value,
    context_slot,
    has,
    plain_value,
    store_plain,
)

__all__ = ["load", "store"]


def load(f: Frame, base: int, off: int, n: int, slow: Callable[[str], str]) -> str:
    """``*(u<n> *)(r<base> + off)`` of the context; ``slow(addr)`` is the out-of-line load."""
    fn = f.fn
    addr = address(f, base, off)
    if n != 4:  # every field the native half holds is 4 bytes wide in the UAPI struct
        return slow(addr)
    inside, row = row_index(f, addr)
    field = region_offset(fn, addr)
    slot, answered, maybe_plain, plain, python, join = (
        fn.new_block(hint) for hint in ("ctx_slot", "ctx_answered", "ctx_maybe_plain",
                                        "ctx_plain", "ctx_python", "ctx_loaded"))
    native, bit = context_slot(fn, inside, row, field, "4", slot, python)
    fn.cbr(has(fn, native, "answered", bit), answered, maybe_plain)
    fn.start(answered)
    computed = answered_value(fn, native, field)
    fn.br(join)
    fn.start(maybe_plain)
    fn.cbr(has(fn, native, "plain", bit), plain, python)
    fn.start(plain)
    stored = plain_value(fn, native, field, bit)
    plain_end = fn.block
    fn.br(join)
    fn.start(python)
    other = slow(addr)
    python_end = fn.block
    fn.br(join)
    fn.start(join)
    return fn.phi("i64", [(computed, answered), (stored, plain_end), (other, python_end)])


def store(f: Frame, base: int, off: int, n: int, value: str,
          slow: Callable[[str], None]) -> None:
    """``*(u<n> *)(r<base> + off) = value`` into the context; ``slow(addr)`` is the
    out-of-line store."""
    fn = f.fn
    addr = address(f, base, off)
    if n != 4:
        slow(addr)
        return
    inside, row = row_index(f, addr)
    field = region_offset(fn, addr)
    slot, plain, python, join = (fn.new_block(hint) for hint in (
        "ctx_slot", "ctx_plain", "ctx_python", "ctx_stored"))
    native, bit = context_slot(fn, inside, row, field, "4", slot, python)
    fn.cbr(has(fn, native, "plain", bit), plain, python)
    fn.start(plain)
    store_plain(fn, native, field, value)
    fn.br(join)
    fn.start(python)
    slow(addr)
    fn.br(join)
    fn.start(join)
