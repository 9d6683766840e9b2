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

A packet whose region has no row (more than :data:`pybpf.jit.regions.CAPACITY` regions
mapped at once) makes the context load a fault naming the packet, never a wild access.
"""

from __future__ import annotations

from pybpf.isa import Instruction
from pybpf.jit import lower_alu, lower_direct
from pybpf.jit.abi import ROW_OFFSETS, ROW_SIZE, Fault
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import LIKELY, TBAA_PROGRAM, TBAA_TABLE
from pybpf.jit.lower_mem import address, extend
from pybpf.runtime.memory import FIRST_REGION_ID, REGION_START

__all__ = ["compare", "load", "set_delta", "store"]


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
