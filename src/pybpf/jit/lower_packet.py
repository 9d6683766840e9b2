"""Packet loads, stores and compares of verified code at host addresses, as the kernel's JIT
makes them: one offset per packet instead of a region lookup per pointer.

The verifier says (:mod:`pybpf.verifier.packet_facts`) which context loads give a packet
pointer, which loads and stores always go through one, and which 64-bit compares always
compare two (``data + n > data_end``). A program's packet is one region of its
:class:`~pybpf.runtime.memory.Memory` (:class:`~pybpf.runtime.packet.PacketBuffer` maps
``data_meta``, ``data`` and ``data_end`` into one window), so every packet pointer ``p`` of
a run is at host address ``p + delta``, with ``delta = host - start`` of that region.

* At a packet context load the loaded pointer's row of the host-address table
  (:mod:`pybpf.jit.regions`) gives ``delta``, kept in ``env->pkt_base`` (functions this one
  calls, callbacks included, see it there) and in a local of the function (read from
  ``env`` on entry and after every call, :meth:`~pybpf.jit.frame.Frame.reload_after_call`). A helper that moves the packet
  (``bpf_xdp_adjust_head()``, ``bpf_skb_change_tail()``...) invalidates every packet
  pointer (``clear_all_pkt_pointers()``), so the program loads ``data`` again before its
  next packet access, which sets ``delta`` afresh.
* A packet access is then ``load/store (delta + p)``: no lookup and no test (the verifier
  proved it inside ``[data_meta, data_end)``). LLVM keeps ``delta`` in a register (the
  table's TBAA tag says no program store changes it).
* A packet compare compares ``delta + a`` with ``delta + b``: the same order (both lie in
  one window, nowhere near wrapping), and only host pointers stay live in a loop, as in C.

Legacy ``LD_ABS``/``LD_IND`` (socket filters' packet loads, big-endian) read the packet of an
skb context's native half (:class:`~pybpf.native.layout.SkbNative`) when ``r6`` is such a
context and the bytes lie inside the packet; otherwise (out of bounds: the program ends
with 0) Python's :meth:`~pybpf.runtime.execstate.ExecState.ld_abs` does it.

A packet whose region has no row (more than :data:`pybpf.jit.regions.CAPACITY` regions
mapped at once) makes the context load a fault naming the packet, never a wild access.
"""

from __future__ import annotations

from pybpf.isa import Instruction
from pybpf.jit import lower_alu, lower_direct
from pybpf.jit.abi import ROW_OFFSETS, ROW_SIZE, Fault, RuntimeOp
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import LIKELY, TBAA_PROGRAM, TBAA_TABLE
from pybpf.jit.lower_mem import address, extend
from pybpf.jit.native_call import native_or_python, row_of
from pybpf.native.layout import NativeKind, SkbNative, field_offsets
from pybpf.runtime.memory import FIRST_REGION_ID, REGION_START

_SKB = field_offsets(SkbNative)

__all__ = ["compare", "ld_abs", "load", "set_delta", "store"]


def set_delta(f: Frame, pc: int, pointer: str) -> None:
    """``env->pkt_base`` for the packet ``pointer`` (just loaded from the context) is in."""
    fn = f.fn
    w = fn.op(f"sub i64 {pointer}, {REGION_START}")
    index = fn.op(f"sub i64 {fn.op(f'lshr i64 {w}, 32')}, {FIRST_REGION_ID}")
    found, missing = fn.new_block("pkt_row"), fn.new_block("pkt_unmapped")
    fn.cbr(fn.op(f"icmp ult i64 {index}, {f.ntable}"), found, missing, LIKELY)
    fn.start(missing)
    f.fault(pc, Fault.PACKET_UNMAPPED)
    fn.start(found)
    row = fn.op(f"getelementptr [{ROW_SIZE} x i8], ptr {f.table}, i64 {index}")
    host = fn.load("ptr", fn.gep(row, ROW_OFFSETS["host"]), tbaa=TBAA_TABLE)
    start = fn.op(f"sub i64 {pointer}, {fn.op(f'and i64 {w}, 4294967295')}")
    delta = fn.op(f"getelementptr i8, ptr {host}, i64 {fn.op(f'sub i64 0, {start}')}")
    fn.store("ptr", delta, f.env_ptr("pkt_base"), tbaa=TBAA_TABLE)
    if f.packet is not None:
        fn.store("ptr", delta, f.packet)


def _delta(f: Frame) -> str:
    """The packet's offset: the function's local copy (an SSA value to LLVM, which can then
    fold it into the pointers it is added to); every function with a packet access or
    compare has one."""
    assert f.packet is not None
    return f.fn.load("ptr", f.packet)


def _pointer(f: Frame, base: int, off: int) -> str:
    """The host pointer of ``r<base> + off`` (a packet pointer)."""
    lower_direct.pointer_facts(f, f.get(base))
    return f.fn.gep(_delta(f), address(f, base, off))


def load(f: Frame, base: int, off: int, n: int, signed: bool) -> str:
    """``*(u<n> *)(r<base> + off)`` from the packet."""
    raw = f.fn.load(f"i{8 * n}", _pointer(f, base, off), align=1, tbaa=TBAA_PROGRAM)
    return extend(f, raw, n, signed)


def store(f: Frame, base: int, off: int, n: int, value: str) -> None:
    """``*(u<n> *)(r<base> + off) = value`` into the packet."""
    fn = f.fn
    narrow = value if n == 8 else fn.op(f"trunc i64 {value} to i{8 * n}")
    fn.store(f"i{8 * n}", narrow, _pointer(f, base, off), align=1, tbaa=TBAA_PROGRAM)


def compare(f: Frame, insn: Instruction, dst: str, src: str) -> str:
    """The ``i1`` of a 64-bit compare of two packet pointers, made on host addresses."""
    fn = f.fn
    delta = fn.op(f"ptrtoint ptr {_delta(f)} to i64")
    return lower_alu.condition(fn, insn, fn.op(f"add i64 {delta}, {dst}"),
                               fn.op(f"add i64 {delta}, {src}"))


def ld_abs(f: Frame, pc: int, offset: str, n: int) -> str:
    """r0 of ``LD_ABS``/``LD_IND``: the ``n`` bytes at packet offset ``offset`` (a signed
    32-bit value), big-endian (``bpf_skb_load_helper_*()`` on a linear skb)."""
    fn = f.fn
    ctx = f.get(6)
    is_skb, row = row_of(f, ctx, NativeKind.SKB)

    def native() -> tuple[str, str | None]:
        skb = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)
        data = fn.load("i64", fn.gep(skb, _SKB["data"]), tbaa=TBAA_TABLE)
        end = fn.load("i64", fn.gep(skb, _SKB["end"]), tbaa=TBAA_TABLE)
        length = fn.op(f"sub i64 {end}, {data}")
        at = fn.op(f"sext i32 {fn.op(f'trunc i64 {offset} to i32')} to i64")
        past = fn.op(f"icmp sgt i64 {fn.op(f'add i64 {at}, {n}')}, {length}")
        outside = fn.op(f"or i1 {fn.op(f'icmp slt i64 {at}, 0')}, {past}")
        host = fn.load("ptr", fn.gep(skb, _SKB["host"]), tbaa=TBAA_TABLE)
        inside_at = fn.gep(host, fn.op(f"add i64 {data}, {at}"))
        # outside the packet the (harmless) load reads the native half; Python then ends
        # the program
        where = fn.op(f"select i1 {outside}, ptr {skb}, ptr {inside_at}")
        raw = fn.load(f"i{8 * n}", where, align=1, tbaa=TBAA_PROGRAM)
        if n == 1:
            return fn.op(f"zext i8 {raw} to i64"), outside
        return lower_alu.bswap(fn, f.module, extend(f, raw, n, False), 8 * n), outside

    return native_or_python(f, is_skb, native,
                            lambda: f.runtime(RuntimeOp.LD_ABS, pc, ctx, offset, n))
