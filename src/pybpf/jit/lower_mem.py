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
  the same :class:`~pybpf.errors.ExecutionFault` (with pc and address) as the interpreter
  (through the module's out-of-line ``bpf_load_slow``/``bpf_store_slow``, which first
  answer a context's computed and plain fields from its native half).

The translation is branch-free (:func:`translate`): the row index is clamped. In *compact*
code (large programs, :mod:`pybpf.jit.compiler` tiers) an access that is not direct is made
to ``env->scratch`` and followed by one conditional branch to its cold slow path, which keeps
both the code and LLVM's compile time small; otherwise the direct access sits in its own
block behind the branch, which LLVM optimises better.

In verified code an access through a register other than r10 uses the register's region
shadow instead (:mod:`pybpf.jit.provenance`, :mod:`pybpf.jit.lower_direct`): one addition,
the table only for the first access through a pointer.

Atomics take the direct path only for naturally aligned addresses (x86 would split a
misaligned locked operation); misaligned ones are done by Python, as in the interpreter.
Values are little-endian on both sides (the host is x86-64), so no byte swapping happens.
"""

from __future__ import annotations

from pybpf.errors import JITError
from pybpf.isa import AtomicOp, Instruction
from pybpf.jit import lower_direct
from pybpf.jit.abi import ENV_OFFSETS, ROW_OFFSETS, ROW_SIZE, RuntimeOp
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import LIKELY, TBAA_PROGRAM, TBAA_TABLE, FunctionText, i64
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


def region_offset(fn: FunctionText, addr: str) -> str:
    """The offset of ``addr`` in its region (the low 32 bits of its window offset)."""
    return fn.op(f"and i64 {fn.op(f'sub i64 {addr}, {REGION_START}')}, 4294967295")


def row_index(f: Frame, addr: str) -> tuple[str, str]:
    """``(inside, row)``: whether the region id of ``addr`` has a row in the table, and the
    row's pointer (row 0 when it has none, so the pointer is always safe to read)."""
    return row_in(f.fn, f.table, f.ntable, addr)


def row_in(fn: FunctionText, table: str, ntable: str, addr: str) -> tuple[str, str]:
    """:func:`row_index` with the table and its size given."""
    w = fn.op(f"sub i64 {addr}, {REGION_START}")
    index = fn.op(f"sub i64 {fn.op(f'lshr i64 {w}, 32')}, {FIRST_REGION_ID}")
    inside = fn.op(f"icmp ult i64 {index}, {ntable}")
    safe = fn.op(f"select i1 {inside}, i64 {index}, i64 0")
    return inside, fn.op(f"getelementptr [{ROW_SIZE} x i8], ptr {table}, i64 {safe}")


def translate(f: Frame, addr: str, n: int | str, size_field: str, *, checked: bool,
              aligned: bool = False, slow: str | None = None) -> tuple[str, str]:
    """``(ok, ptr)``: whether ``n`` bytes at ``addr`` are directly accessible (``size_field``
    of the row), and the host pointer to use — ``env->scratch`` when they are not, so the
    access itself is always harmless and the slow path only has to be taken on ``!ok``.

    With ``slow`` (non-compact code) a region id outside the table branches there first and
    the pointer is only valid when ``ok``: one more branch, a shorter dependency chain."""
    return translate_in(f.fn, f.table, f.ntable, f.scratch, addr, n, size_field,
                        checked=checked, aligned=aligned, slow=slow)


def translate_in(fn: FunctionText, table: str, ntable: str, scratch: str, addr: str,
                 n: int | str, size_field: str, *, checked: bool,
                 aligned: bool = False, slow: str | None = None) -> tuple[str, str]:
    """:func:`translate` with the table, its size and the scratch slot given."""
    if slow is None:
        inside, row = row_in(fn, table, ntable, addr)
    else:
        w = fn.op(f"sub i64 {addr}, {REGION_START}")
        index = fn.op(f"sub i64 {fn.op(f'lshr i64 {w}, 32')}, {FIRST_REGION_ID}")
        cont = fn.new_block("row")
        fn.cbr(fn.op(f"icmp ult i64 {index}, {ntable}"), cont, slow, LIKELY)
        fn.start(cont)
        inside = "true"
        row = fn.op(f"getelementptr [{ROW_SIZE} x i8], ptr {table}, i64 {index}")
    size_ptr = fn.gep(row, ROW_OFFSETS[size_field])
    size = fn.op(f"zext i32 {fn.load('i32', size_ptr, tbaa=TBAA_TABLE)} to i64")
    offset = region_offset(fn, addr)
    if checked:
        fits = fn.op(f"icmp ule i64 {fn.op(f'add i64 {offset}, {n}')}, {size}")
    else:
        fits = fn.op(f"icmp ne i64 {size}, 0")
    ok = fits if inside == "true" else fn.op(f"and i1 {inside}, {fits}")
    if aligned and isinstance(n, int) and n > 1:
        low = fn.op(f"and i64 {offset}, {n - 1}")
        ok = fn.op(f"and i1 {ok}, {fn.op(f'icmp eq i64 {low}, 0')}")
    host = fn.load("ptr", fn.gep(row, ROW_OFFSETS["host"]), tbaa=TBAA_TABLE)
    ptr = fn.gep(host, offset)
    if slow is None:
        ptr = fn.op(f"select i1 {ok}, ptr {ptr}, ptr {scratch}")
    return ok, ptr


def extend(f: Frame, raw: str, n: int, signed: bool) -> str:
    """An ``n``-byte value (``iN``) widened to the register's 64 bits."""
    if n == 8:
        return raw
    return f.fn.op(f"{'sext' if signed else 'zext'} i{8 * n} {raw} to i64")


def _code(op: RuntimeOp, pc: int) -> str:
    return i64(int(op) | pc << 8)


def env_table(fn: FunctionText) -> tuple[str, str, str]:
    """The region table, its size and the scratch slot, read from ``%env``."""
    table = fn.load("ptr", fn.gep("%env", ENV_OFFSETS["regions"]), tbaa=TBAA_TABLE)
    ntable = fn.load("i64", fn.gep("%env", ENV_OFFSETS["nregions"]), tbaa=TBAA_TABLE)
    return table, ntable, fn.gep("%env", ENV_OFFSETS["scratch"])


def _load_accessor(f: Frame, n: int, signed: bool, checked: bool) -> str:
    """``bpf_ld<n>(env, depth, code, addr)``: a whole load out of line (compact code: one
    call per access instead of the inline translation; the light tier runs no inliner)."""
    name = f"bpf_ld{n}{'s' if signed else 'u'}{'c' if checked else 'v'}"
    slow_load = f.slow.load()

    def build() -> FunctionText:
        fn = FunctionText(name, "i64", [("ptr", "env"), ("i64", "depth"), ("i64", "code"),
                                        ("i64", "addr")], linkage="internal")
        fn.start("entry")
        table, ntable, scratch = env_table(fn)
        ok, ptr = translate_in(fn, table, ntable, scratch, "%addr", n, "load_size",
                               checked=checked)
        raw = fn.load(f"i{8 * n}", ptr, align=1, tbaa=TBAA_PROGRAM)
        value = raw if n == 8 else fn.op(f"{'sext' if signed else 'zext'} i{8 * n} {raw} to i64")
        fn.cbr(ok, "done", "slow", LIKELY)
        fn.start("done")
        fn.ret(value)
        fn.start("slow")
        other = fn.call("i64", slow_load, [("ptr", "%env"), ("i64", "%depth"), ("i64", "%code"),
                                           ("i64", "%addr"), ("i64", str(n))])
        if signed and n < 8:
            sign = i64(1 << (8 * n - 1))
            other = fn.op(f"sub i64 {fn.op(f'xor i64 {other}, {sign}')}, {sign}")
        fn.ret(other)
        return fn

    return f.module.once(name, build)


def _store_accessor(f: Frame, n: int, checked: bool) -> str:
    """``bpf_st<n>(env, depth, code, addr, value)``: a whole store out of line (compact)."""
    name = f"bpf_st{n}{'c' if checked else 'v'}"
    slow_store = f.slow.store()

    def build() -> FunctionText:
        fn = FunctionText(name, "void", [("ptr", "env"), ("i64", "depth"), ("i64", "code"),
                                         ("i64", "addr"), ("i64", "value")], linkage="internal")
        fn.start("entry")
        table, ntable, scratch = env_table(fn)
        ok, ptr = translate_in(fn, table, ntable, scratch, "%addr", n, "store_size",
                               checked=checked)
        narrow = "%value" if n == 8 else fn.op(f"trunc i64 %value to i{8 * n}")
        fn.store(f"i{8 * n}", narrow, ptr, align=1, tbaa=TBAA_PROGRAM)
        fn.cbr(ok, "done", "slow", LIKELY)
        fn.start("done")
        fn.emit("ret void")
        fn.terminated = True
        fn.start("slow")
        fn.call("void", slow_store, [("ptr", "%env"), ("i64", "%depth"), ("i64", "%code"),
                                     ("i64", "%addr"), ("i64", str(n)), ("i64", "%value")])
        fn.emit("ret void")
        fn.terminated = True
        return fn

    return f.module.once(name, build)


def slow_load(f: Frame, addr: str, n: int, signed: bool, pc: int) -> str:
    """The slow path of a load (``bpf_load_slow``). Its value is used as ``Memory.load``
    returns it, exactly as the interpreter does: a context hook may answer a narrow load
    with a wider value (``data`` of xdp_md is a u32 field the kernel rewrites into a pointer
    load)."""
    fn = f.fn
    value = fn.call("i64", f.slow.load(), [("ptr", f.env), ("i64", f.depth),
                                           ("i64", _code(RuntimeOp.LOAD, pc)),
                                           ("i64", addr), ("i64", str(n))])
    if signed and n < 8:
        sign = i64(1 << (8 * n - 1))
        value = fn.op(f"sub i64 {fn.op(f'xor i64 {value}, {sign}')}, {sign}")
    return value


def slow_store(f: Frame, addr: str, n: int, value: str, pc: int) -> None:
    """The slow path of a store (``bpf_store_slow``: a plain context field natively, else
    ``Memory.store``)."""
    f.fn.call("void", f.slow.store(), [("ptr", f.env), ("i64", f.depth),
                                       ("i64", _code(RuntimeOp.STORE, pc)), ("i64", addr),
                                       ("i64", str(n)), ("i64", value)])


def load(f: Frame, base: int, off: int, n: int, signed: bool, pc: int, *, checked: bool) -> str:
    """``*(u<n> *)(r<base> + off)`` (sign-extended for ``ldxs``) as a 64-bit value."""
    fn = f.fn
    ty = f"i{8 * n}"
    slot = _stack_slot(base, off, n)
    if slot is not None:
        raw = fn.load(ty, f.frame_slot(slot, n), align=1, tbaa=TBAA_PROGRAM)
        return extend(f, raw, n, signed)
    addr = address(f, base, off)
    if f.shadows is not None and base != 10:
        def out_of_line() -> str:  # bpf_load_slow also loads from directly loadable regions
            return slow_load(f, addr, n, signed, pc)

        return lower_direct.access(
            f, base, addr, n, "load_size",
            lambda ptr: extend(f, fn.load(ty, ptr, align=1, tbaa=TBAA_PROGRAM), n, signed),
            out_of_line, out_of_line)
    if f.compact:
        return fn.call("i64", _load_accessor(f, n, signed, checked),
                       [("ptr", f.env), ("i64", f.depth), ("i64", _code(RuntimeOp.LOAD, pc)),
                        ("i64", addr)])
    slow, join = fn.new_block("slow"), fn.new_block("loaded")
    ok, ptr = translate(f, addr, n, "load_size", checked=checked,
                        slow=None if f.compact else slow)
    if not f.compact:
        fast = fn.new_block("direct")
        fn.cbr(ok, fast, slow, LIKELY)
        fn.start(fast)
    fast_value = extend(f, fn.load(ty, ptr, align=1, tbaa=TBAA_PROGRAM), n, signed)
    fast_end = fn.block
    if f.compact:
        fn.cbr(ok, join, slow, LIKELY)
    else:
        fn.br(join)
    fn.start(slow)
    slow_value = slow_load(f, addr, n, signed, pc)
    fn.br(join)
    fn.start(join)
    return fn.phi("i64", [(fast_value, fast_end), (slow_value, slow)])


def store(f: Frame, base: int, off: int, n: int, value: str, pc: int, *, checked: bool) -> None:
    """``*(u<n> *)(r<base> + off) = value`` (the low ``n`` bytes of the 64-bit ``value``)."""
    fn = f.fn
    ty = f"i{8 * n}"
    narrow = value if n == 8 else fn.op(f"trunc i64 {value} to {ty}")
    slot = _stack_slot(base, off, n)
    if slot is not None:
        fn.store(ty, narrow, f.frame_slot(slot, n), align=1, tbaa=TBAA_PROGRAM)
        return
    addr = address(f, base, off)
    if f.shadows is not None and base != 10:
        def direct(ptr: str) -> str:
            fn.store(ty, narrow, ptr, align=1, tbaa=TBAA_PROGRAM)
            return ""

        def python() -> str:
            slow_store(f, addr, n, value, pc)
            return ""

        def generic() -> str:
            fn.call("void", _store_accessor(f, n, False),
                    [("ptr", f.env), ("i64", f.depth), ("i64", _code(RuntimeOp.STORE, pc)),
                     ("i64", addr), ("i64", value)])
            return ""

        lower_direct.access(f, base, addr, n, "store_size", direct, python, generic)
        return
    if f.compact:
        fn.call("void", _store_accessor(f, n, checked),
                [("ptr", f.env), ("i64", f.depth), ("i64", _code(RuntimeOp.STORE, pc)),
                 ("i64", addr), ("i64", value)])
        return
    slow, join = fn.new_block("slow"), fn.new_block("stored")
    ok, ptr = translate(f, addr, n, "store_size", checked=checked,
                        slow=None if f.compact else slow)
    if not f.compact:
        fast = fn.new_block("direct")
        fn.cbr(ok, fast, slow, LIKELY)
        fn.start(fast)
    fn.store(ty, narrow, ptr, align=1, tbaa=TBAA_PROGRAM)
    if f.compact:
        fn.cbr(ok, join, slow, LIKELY)
    else:
        fn.br(join)
    fn.start(slow)
    slow_store(f, addr, n, value, pc)
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
    addr = address(f, d, insn.off)
    src = f.get(s)
    r0 = f.get(0)
    if f.shadows is not None and d != 10:
        result = lower_direct.access(
            f, d, addr, n, "store_size", lambda ptr: _rmw(fn, imm, ptr, src, r0, n),
            lambda: f.runtime(RuntimeOp.ATOMIC, pc, addr, n, imm, src, r0),
            lambda: _atomic_table(f, imm, addr, n, src, r0, pc), aligned=True)
    else:
        result = _atomic_table(f, imm, addr, n, src, r0, pc, checked=checked)
    if imm == AtomicOp.CMPXCHG:
        f.set(0, result)
    elif imm == AtomicOp.XCHG or imm & 0x01:
        f.set(s, result)


def _atomic_table(f: Frame, imm: int, addr: str, n: int, src: str, r0: str, pc: int, *,
                  checked: bool = False) -> str:
    """An atomic operation through the region table: its old value."""
    fn = f.fn
    slow, join = fn.new_block("slow"), fn.new_block("atomic_done")
    ok, ptr = translate(f, addr, n, "store_size", checked=checked, aligned=True,
                        slow=None if f.compact else slow)
    if not f.compact:
        fast = fn.new_block("direct")
        fn.cbr(ok, fast, slow, LIKELY)
        fn.start(fast)
    fast_old = _rmw(fn, imm, ptr, src, r0, n)
    fast_end = fn.block
    if f.compact:
        fn.cbr(ok, join, slow, LIKELY)
    else:
        fn.br(join)
    fn.start(slow)
    slow_old = f.runtime(RuntimeOp.ATOMIC, pc, addr, n, imm, src, r0)
    fn.br(join)
    fn.start(join)
    return fn.phi("i64", [(fast_old, fast_end), (slow_old, slow)])


def _rmw(fn: FunctionText, imm: int, ptr: str, src: str, r0: str, n: int) -> str:
    """The atomic read-modify-write ``imm`` at host pointer ``ptr``: the old value (i64)."""
    ty = f"i{8 * n}"
    src_n = src if n == 8 else fn.op(f"trunc i64 {src} to {ty}")
    if imm == AtomicOp.CMPXCHG:
        expected = r0 if n == 8 else fn.op(f"trunc i64 {r0} to {ty}")
        pair = fn.op(f"cmpxchg ptr {ptr}, {ty} {expected}, {ty} {src_n} seq_cst seq_cst")
        old = fn.op(f"extractvalue {{ {ty}, i1 }} {pair}, 0")
    elif imm == AtomicOp.XCHG:
        old = fn.op(f"atomicrmw xchg ptr {ptr}, {ty} {src_n} seq_cst")
    else:
        old = fn.op(f"atomicrmw {_RMW[AtomicOp(imm & ~0x01)]} ptr {ptr}, {ty} {src_n} seq_cst")
    return old if n == 8 else fn.op(f"zext {ty} {old} to i64")
