"""Loads, stores and atomics as LLVM IR: a direct access when the host-address table
allows it, the interpreter's checked slow path otherwise.

Mirrors ``FunctionTranslator.load()/store()/atomic()`` of :mod:`pybpf.interp.codegen`:

* an access through r10 with a constant offset inside the 512-byte frame goes straight to
  the frame's stack (no check needed: the offset is known);
* any other address ``a`` is split as :func:`~pybpf.runtime.memory.split_address` does:
  with ``w = a - REGION_START``, region id ``w >> 32`` and offset ``w & 0xffffffff``;
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

from pybpf.errors import JITError
from pybpf.isa import AtomicOp, Instruction
from pybpf.jit.abi import ROW_OFFSETS, ROW_SIZE, RuntimeOp
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import LIKELY, TBAA_PROGRAM, TBAA_TABLE, i64
from pybpf.native.layout import NativeKind
from pybpf.runtime.execstate import MAX_BPF_STACK
from pybpf.runtime.memory import FIRST_REGION_ID, REGION_START

#: LLVM ``atomicrmw`` operation of each AtomicOp without the FETCH bit.
_RMW = {AtomicOp.ADD: "add", AtomicOp.OR: "or", AtomicOp.AND: "and", AtomicOp.XOR: "xor"}


def _stack_slot(base: int, off: int, n: int) -> int | None:
    """Offset in the frame's stack buffer of a constant r10-relative access, else None."""
    if base == 10 and 0 <= MAX_BPF_STACK + off <= MAX_BPF_STACK - n:
        return MAX_BPF_STACK + off
    return None


def address(f: Frame, base: int, off: int) -> str:
    value = f.get(base)
    return f.fn.op(f"add i64 {value}, {i64(off)}") if off else value


def window(f: Frame, addr: str) -> str:
    """``addr`` relative to its window's REGION_START: region id in the high 32 bits, offset
    in the low 32 (:func:`~pybpf.runtime.memory.split_address`)."""
    return f.fn.op(f"sub i64 {addr}, {REGION_START}")


def row_of(f: Frame, addr: str, slow: str) -> str:
    """The region-table row of ``addr`` (a ``ptr``), valid in the current block; jumps to
    ``slow`` when the region id is outside the table."""
    fn = f.fn
    index = fn.op(f"sub i64 {fn.op(f'lshr i64 {window(f, addr)}, 32')}, {FIRST_REGION_ID}")
    inside = fn.new_block("row")
    fn.cbr(fn.op(f"icmp ult i64 {index}, {f.ntable}"), inside, slow, LIKELY)
    fn.start(inside)
    return fn.op(f"getelementptr [{ROW_SIZE} x i8], ptr {f.table}, i64 {index}")


def direct(f: Frame, addr: str, n: int, size_field: str, slow: str, *, checked: bool,
           aligned: bool = False, miss: str | None = None) -> tuple[str, str]:
    """Emit the table lookup; return the host pointer (valid in the current block, the fast
    path) and the row; control goes to ``slow`` when the access is not direct (to ``miss``,
    if given, when the region has a row but the access does not fit it)."""
    fn = f.fn
    row = row_of(f, addr, slow)
    size_ptr = fn.gep(row, ROW_OFFSETS[size_field])
    size = fn.op(f"zext i32 {fn.load('i32', size_ptr, tbaa=TBAA_TABLE)} to i64")
    offset = fn.op(f"and i64 {window(f, addr)}, 4294967295")
    if checked:
        ok = fn.op(f"icmp ule i64 {fn.op(f'add i64 {offset}, {n}')}, {size}")
    else:
        ok = fn.op(f"icmp ne i64 {size}, 0")
    if aligned and n > 1:
        low = fn.op(f"and i64 {offset}, {n - 1}")
        ok = fn.op(f"and i1 {ok}, {fn.op(f'icmp eq i64 {low}, 0')}")
    fast = fn.new_block("direct")
    fn.cbr(ok, fast, miss or slow, LIKELY)
    fn.start(fast)
    host = fn.load("ptr", fn.gep(row, ROW_OFFSETS["host"]), tbaa=TBAA_TABLE)
    return fn.gep(host, offset), row


def _extend(f: Frame, raw: str, n: int, signed: bool) -> str:
    """An ``n``-byte value (``iN``) widened to the register's 64 bits."""
    if n == 8:
        return raw
    return f.fn.op(f"{'sext' if signed else 'zext'} i{8 * n} {raw} to i64")


def load(f: Frame, base: int, off: int, n: int, signed: bool, pc: int, *, checked: bool) -> str:
    """``*(u<n> *)(r<base> + off)`` (sign-extended for ``ldxs``) as a 64-bit value."""
    fn = f.fn
    ty = f"i{8 * n}"
    slot = _stack_slot(base, off, n)
    if slot is not None:
        raw = fn.load(ty, fn.gep(f.stack, slot), align=1, tbaa=TBAA_PROGRAM)
        return _extend(f, raw, n, signed)
    addr = address(f, base, off)
    slow = fn.new_block("slow")
    miss = fn.new_block("miss")
    ptr, row = direct(f, addr, n, "load_size", slow, checked=checked, miss=miss)
    fast_value = _extend(f, fn.load(ty, ptr, align=1, tbaa=TBAA_PROGRAM), n, signed)
    fast_end = fn.block
    join = fn.new_block("loaded")
    fn.br(join)
    # A region without direct loads may be an XDP context: its packet pointers come from
    # the native xdp_md (pybpf.native.layout.XdpMdNative), 8 bytes per 4-byte field.
    fn.start(miss)
    kind = fn.load("i32", fn.gep(row, ROW_OFFSETS["kind"]), tbaa=TBAA_TABLE)
    field = fn.op(f"and i64 {window(f, addr)}, 4294967295")
    pointer_field = fn.op(f"icmp ule i64 {field}, 8")
    aligned = fn.op(f"icmp eq i64 {fn.op(f'and i64 {field}, 3')}, 0")
    is_ctx = fn.op(f"and i1 {fn.op(f'icmp eq i32 {kind}, {int(NativeKind.XDP_MD)}')}, "
                   f"{fn.op(f'and i1 {pointer_field}, {aligned}')}")
    ctx_load = fn.new_block("xdp_md")
    fn.cbr(is_ctx, ctx_load, slow, LIKELY)
    fn.start(ctx_load)
    native = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)
    ctx_value = fn.load("i64", fn.gep(native, fn.op(f"shl i64 {field}, 1")), tbaa=TBAA_TABLE)
    adjust = fn.new_block("adjust")
    fn.br(adjust)
    fn.start(slow)
    # The slow path's value is used as Memory.load returns it, exactly as the interpreter
    # does: a context hook may answer a narrow load with a wider value (``data`` of xdp_md
    # is a u32 field the kernel rewrites into a pointer load).
    py_value = f.runtime(RuntimeOp.LOAD, pc, addr, n)
    py_end = fn.block
    fn.br(adjust)
    fn.start(adjust)
    slow_value = fn.phi("i64", [(ctx_value, ctx_load), (py_value, py_end)])
    if signed and n < 8:
        sign = i64(1 << (8 * n - 1))
        slow_value = fn.op(f"sub i64 {fn.op(f'xor i64 {slow_value}, {sign}')}, {sign}")
    slow_end = fn.block
    fn.br(join)
    fn.start(join)
    return fn.phi("i64", [(fast_value, fast_end), (slow_value, slow_end)])


def store(f: Frame, base: int, off: int, n: int, value: str, pc: int, *, checked: bool) -> None:
    """``*(u<n> *)(r<base> + off) = value`` (the low ``n`` bytes of the 64-bit ``value``)."""
    fn = f.fn
    ty = f"i{8 * n}"
    narrow = value if n == 8 else fn.op(f"trunc i64 {value} to {ty}")
    slot = _stack_slot(base, off, n)
    if slot is not None:
        fn.store(ty, narrow, fn.gep(f.stack, slot), align=1, tbaa=TBAA_PROGRAM)
        return
    addr = address(f, base, off)
    slow = fn.new_block("slow")
    ptr, _ = direct(f, addr, n, "store_size", slow, checked=checked)
    fn.store(ty, narrow, ptr, align=1, tbaa=TBAA_PROGRAM)
    join = fn.new_block("stored")
    fn.br(join)
    fn.start(slow)
    f.runtime(RuntimeOp.STORE, pc, addr, n, value)
    fn.br(join)
    fn.start(join)


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
    fn = f.fn
    ty = f"i{8 * n}"
    addr = address(f, d, insn.off)
    src = f.get(s)
    r0 = f.get(0)
    slow = fn.new_block("slow")
    ptr, _ = direct(f, addr, n, "store_size", slow, checked=checked, aligned=True)
    src_n = src if n == 8 else fn.op(f"trunc i64 {src} to {ty}")
    if imm == AtomicOp.CMPXCHG:
        expected = r0 if n == 8 else fn.op(f"trunc i64 {r0} to {ty}")
        pair = fn.op(f"cmpxchg ptr {ptr}, {ty} {expected}, {ty} {src_n} seq_cst seq_cst")
        old = fn.op(f"extractvalue {{ {ty}, i1 }} {pair}, 0")
    elif imm == AtomicOp.XCHG:
        old = fn.op(f"atomicrmw xchg ptr {ptr}, {ty} {src_n} seq_cst")
    else:
        old = fn.op(f"atomicrmw {_RMW[AtomicOp(op)]} ptr {ptr}, {ty} {src_n} seq_cst")
    fast_old = old if n == 8 else fn.op(f"zext {ty} {old} to i64")
    fast_end = fn.block
    join = fn.new_block("atomic_done")
    fn.br(join)
    fn.start(slow)
    slow_old = f.runtime(RuntimeOp.ATOMIC, pc, addr, n, imm, src, r0)
    slow_end = fn.block
    fn.br(join)
    fn.start(join)
    result = fn.phi("i64", [(fast_old, fast_end), (slow_old, slow_end)])
    if imm == AtomicOp.CMPXCHG:
        f.set(0, result)
    elif imm == AtomicOp.XCHG or imm & 0x01:
        f.set(s, result)
