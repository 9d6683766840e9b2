"""Loads, stores and atomics as LLVM IR: a direct access when the host-address table
allows it, the interpreter's checked slow path otherwise.

Mirrors ``FunctionTranslator.load()/store()/atomic()`` of :mod:`pybpf.interp.codegen`:

* an access through r10 with a constant offset inside the 512-byte frame goes straight to
  the frame's stack (no check needed: the offset is known);
* any other address ``a`` is split into region id ``a >> 32`` and offset ``a & 0xffffffff``;
  when the id has a row in the table (:mod:`pybpf.jit.regions`) and ``offset + size`` fits
  the row's direct size (``checked=True``; with ``checked=False`` only a non-zero size is
  required, for programs a verifier has already accepted), native code touches the bytes in
  place; otherwise it calls ``rt(LOAD/STORE/ATOMIC)``, i.e. ``Memory.load``/``store`` and the
  atomic helpers of :class:`~pybpf.runtime.memory.Memory`, which run context hooks and raise
  the same :class:`~pybpf.errors.ExecutionFault` (with pc and address) as the interpreter.

Atomics take the direct path only for naturally aligned addresses (x86 would split a
misaligned locked operation); misaligned ones are done by Python, as in the interpreter.
Values are little-endian on both sides (the host is x86-64), so no byte swapping happens.
"""

from __future__ import annotations

from llvmlite import ir  # type: ignore[import-untyped]

from pybpf.errors import JITError
from pybpf.isa import AtomicOp, Instruction
from pybpf.jit.abi import RuntimeOp
from pybpf.jit.frame import (
    ENTRY_HOST,
    ENTRY_LOAD_SIZE,
    ENTRY_STORE_SIZE,
    PTR,
    REGION_ENTRY,
    Frame,
)
from pybpf.jit.lower_alu import I32, I64, INT_TYPES, const64
from pybpf.runtime.execstate import MAX_BPF_STACK
from pybpf.runtime.memory import FIRST_REGION_ID

#: Branch weights of "the direct path is taken" (the slow path is for faults and hooks).
LIKELY = [1 << 20, 1]
#: LLVM ``atomicrmw`` operation of each AtomicOp without the FETCH bit.
_RMW = {AtomicOp.ADD: "add", AtomicOp.OR: "or", AtomicOp.AND: "and", AtomicOp.XOR: "xor"}


def _stack_slot(base: int, off: int, n: int) -> int | None:
    """Offset in the frame's stack buffer of a constant r10-relative access, else None."""
    if base == 10 and 0 <= MAX_BPF_STACK + off <= MAX_BPF_STACK - n:
        return MAX_BPF_STACK + off
    return None


def _address(f: Frame, base: int, off: int) -> ir.Value:
    value = f.get(base)
    return f.b.add(value, const64(off)) if off else value


def _direct(f: Frame, addr: ir.Value, n: int, size_field: int, *, checked: bool,
            aligned: bool = False) -> tuple[ir.Value, ir.Block]:
    """Emit the table lookup; return the host pointer (valid in the current block, the fast
    path) and the slow-path block that receives control when the access is not direct."""
    b = f.b
    slow = f.func.append_basic_block("slow")
    lookup = f.func.append_basic_block("lookup")
    index = b.sub(b.lshr(addr, const64(32)), const64(FIRST_REGION_ID))
    b.cbranch(b.icmp_unsigned("<", index, f.ntable), lookup, slow).set_weights(LIKELY)
    b.position_at_end(lookup)
    row = b.gep(f.table, [index], source_etype=REGION_ENTRY)
    size_ptr = b.gep(row, [ir.Constant(I32, 0), ir.Constant(I32, size_field)],
                     inbounds=True, source_etype=REGION_ENTRY)
    size = b.zext(b.load(size_ptr, typ=I32), I64)
    offset = b.and_(addr, const64(0xFFFFFFFF))
    if checked:
        ok = b.icmp_unsigned("<=", b.add(offset, const64(n)), size)
    else:
        ok = b.icmp_unsigned("!=", size, const64(0))
    if aligned and n > 1:
        misaligned = b.and_(offset, const64(n - 1))
        ok = b.and_(ok, b.icmp_unsigned("==", misaligned, const64(0)))
    fast = f.func.append_basic_block("direct")
    b.cbranch(ok, fast, slow).set_weights(LIKELY)
    b.position_at_end(fast)
    host_ptr = b.gep(row, [ir.Constant(I32, 0), ir.Constant(I32, ENTRY_HOST)],
                     inbounds=True, source_etype=REGION_ENTRY)
    host = b.load(host_ptr, typ=I64)
    return b.inttoptr(b.add(host, offset), PTR), slow


def _extend(f: Frame, raw: ir.Value, n: int, signed: bool) -> ir.Value:
    """An ``n``-byte value (``iN``) widened to the register's 64 bits."""
    if n == 8:
        return raw
    return f.b.sext(raw, I64) if signed else f.b.zext(raw, I64)


def load(f: Frame, base: int, off: int, n: int, signed: bool, pc: int, *, checked: bool) -> ir.Value:
    """``*(u<n> *)(r<base> + off)`` (sign-extended for ``ldxs``) as a 64-bit value."""
    b = f.b
    ty = INT_TYPES[8 * n]
    slot = _stack_slot(base, off, n)
    if slot is not None:
        ptr = b.gep(f.stack, [const64(slot)], inbounds=True, source_etype=ir.IntType(8))
        return _extend(f, b.load(ptr, typ=ty, align=1), n, signed)
    addr = _address(f, base, off)
    ptr, slow = _direct(f, addr, n, ENTRY_LOAD_SIZE, checked=checked)
    fast_value = _extend(f, b.load(ptr, typ=ty, align=1), n, signed)
    fast_end = b.block
    join = f.func.append_basic_block("loaded")
    b.branch(join)
    b.position_at_end(slow)
    # The slow path's value is used as Memory.load returns it, exactly as the interpreter
    # does: a context hook may answer a narrow load with a wider value (``data`` of xdp_md
    # is a u32 field the kernel rewrites into a pointer load).
    slow_value = f.runtime(RuntimeOp.LOAD, pc, addr, n)
    if signed and n < 8:
        sign = const64(1 << (8 * n - 1))
        slow_value = b.sub(b.xor(slow_value, sign), sign)
    slow_end = b.block
    b.branch(join)
    b.position_at_end(join)
    phi = b.phi(I64)
    phi.add_incoming(fast_value, fast_end)
    phi.add_incoming(slow_value, slow_end)
    return phi


def store(f: Frame, base: int, off: int, n: int, value: ir.Value, pc: int, *, checked: bool) -> None:
    """``*(u<n> *)(r<base> + off) = value`` (the low ``n`` bytes of the 64-bit ``value``)."""
    b = f.b
    ty = INT_TYPES[8 * n]
    narrow = value if n == 8 else b.trunc(value, ty)
    slot = _stack_slot(base, off, n)
    if slot is not None:
        ptr = b.gep(f.stack, [const64(slot)], inbounds=True, source_etype=ir.IntType(8))
        b.store(narrow, ptr, align=1)
        return
    addr = _address(f, base, off)
    ptr, slow = _direct(f, addr, n, ENTRY_STORE_SIZE, checked=checked)
    b.store(narrow, ptr, align=1)
    join = f.func.append_basic_block("stored")
    b.branch(join)
    b.position_at_end(slow)
    f.runtime(RuntimeOp.STORE, pc, addr, n, value)
    b.branch(join)
    b.position_at_end(join)


def atomic(f: Frame, insn: Instruction, n: int, pc: int, *, checked: bool) -> None:
    """``BPF_STX | BPF_ATOMIC``: add/or/and/xor (with and without FETCH), xchg, cmpxchg,
    load-acquire and store-release (plain accesses on one CPU, as in the interpreter)."""
    d, s, imm = insn.dst, insn.src, insn.imm
    if imm == AtomicOp.LOAD_ACQ:
        f.set(d, load(f, s, insn.off, n, False, pc, checked=checked))
        return
    if imm == AtomicOp.STORE_REL:
        store(f, d, insn.off, n, f.get(s), pc, checked=checked)
        return
    op = imm & ~0x01
    if imm not in (AtomicOp.XCHG, AtomicOp.CMPXCHG) and op not in _RMW:
        raise JITError(f"atomic operation {imm:#x} has no translation")
    b = f.b
    ty = INT_TYPES[8 * n]
    addr = _address(f, d, insn.off)
    src = f.get(s)
    r0 = f.get(0)
    ptr, slow = _direct(f, addr, n, ENTRY_STORE_SIZE, checked=checked, aligned=True)
    src_n = src if n == 8 else b.trunc(src, ty)
    if imm == AtomicOp.CMPXCHG:
        expected = r0 if n == 8 else b.trunc(r0, ty)
        pair = b.cmpxchg(ptr, expected, src_n, "seq_cst", "seq_cst")
        old = b.extract_value(pair, 0)
    elif imm == AtomicOp.XCHG:
        old = b.atomic_rmw("xchg", ptr, src_n, "seq_cst")
    else:
        old = b.atomic_rmw(_RMW[AtomicOp(op)], ptr, src_n, "seq_cst")
    fast_old = old if n == 8 else b.zext(old, I64)
    fast_end = b.block
    join = f.func.append_basic_block("atomic_done")
    b.branch(join)
    b.position_at_end(slow)
    slow_old = f.runtime(RuntimeOp.ATOMIC, pc, addr, n, imm, src, r0)
    slow_end = b.block
    b.branch(join)
    b.position_at_end(join)
    result = b.phi(I64)
    result.add_incoming(fast_old, fast_end)
    result.add_incoming(slow_old, slow_end)
    if imm == AtomicOp.CMPXCHG:
        f.set(0, result)
    elif imm == AtomicOp.XCHG or imm & 0x01:
        f.set(s, result)
