"""Loads, stores and atomics of verified code through a register's shadow (see
:mod:`pybpf.jit.provenance`): ``base + address`` when the shadow's flag says the region is
directly accessible, else a *birth*.

The birth is the table lookup of :mod:`pybpf.jit.lower_mem` (``split_address()``: row
``(a - REGION_START) >> 32``, offset ``(a - REGION_START) & 0xffffffff``) made at the
access, whose address the verifier proved inside its region, so the row found is the
pointer's: it gives the access (direct when the row's size is not 0, as unchecked code
does, else the interpreter's slow path) and the register's new shadow, ``host - start``
with one flag for both loads and stores (set when the row allows both: a pointer is then
tested once, and LLVM threads every later test of the flag; only constant addresses get a
load flag of its own, see :meth:`~pybpf.jit.frame.Frame.constant_shadow`). A register whose
region is not directly accessible
(a context with load hooks) keeps cleared flags and every access through it takes the
slow path, as before.
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.jit.abi import ROW_OFFSETS, ROW_SIZE
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import LIKELY, TBAA_TABLE, i64
from pybpf.jit.provenance import FLAG, Shadow
from pybpf.runtime.memory import FIRST_REGION_ID, REGION_START

__all__ = ["POINTERS", "access", "pointer_facts"]

#: Where every pointer a program can dereference directly lies: its region's window (ids
#: from FIRST_REGION_ID, far below the top of the address space) give or take the offsets
#: the verifier allows around an object (``BPF_MAX_VAR_OFF``, 2**29).
POINTERS = ((FIRST_REGION_ID << 32) - (1 << 30), 0xFFFF_FFF0_0000_0000)

#: Emits the access at a host pointer; returns its value (or "" for a plain store).
Fast = Callable[[str], str]
#: Emits the slow path (the interpreter's Memory through ``rt``); returns its value or "".
Slow = Callable[[], str]


def access(f: Frame, reg: int, addr: str, n: int, size_field: str, fast: Fast, slow: Slow,
           generic: Slow, *, aligned: bool = False) -> str:
    """One access of ``n`` bytes at ``addr`` (``r<reg> + off``) through the shadow of
    ``reg``; ``size_field`` is the row's ``load_size`` or ``store_size``; ``aligned``
    requires natural alignment for the direct path (atomics). ``fast`` emits the access at
    a host pointer, ``slow`` the interpreter's slow path, ``generic`` the whole access
    through the table (where the shadow says the region is not directly accessible).
    Returns the access's value ("" when it has none); a register without a shadow gets one.
    """
    fn = f.fn
    shadows = f.shadows
    assert shadows is not None
    shadow = shadows.get(reg)
    base, flag = shadow[0], shadow[FLAG[size_field]]
    misaligned = None
    if aligned and n > 1:
        misaligned = fn.op(f"icmp ne i64 {fn.op(f'and i64 {addr}, {n - 1}')}, 0")
    if flag == "true" and misaligned is None:  # the frame: always direct
        return fast(fn.gep(base, addr))
    if reg not in f.facts.unborn:
        return _born(f, reg, base, flag, addr, misaligned, fast, generic)
    values: list[tuple[str, str]] = []
    births: list[tuple[Shadow, str]] = []
    join = fn.new_block("accessed")
    if flag != "false":
        direct, birth = fn.new_block("direct"), fn.new_block("birth")
        ok = flag if misaligned is None else fn.op(f"and i1 {flag}, "
                                                   f"{fn.op(f'xor i1 {misaligned}, true')}")
        fn.cbr(ok, direct, birth, LIKELY)
        fn.start(direct)
        pointer_facts(f, f.get(reg))
        values.append((fast(fn.gep(base, addr)), fn.block))
        births.append((shadow, fn.block))
        fn.br(join)
        fn.start(birth)
    # the birth: the row of the access's address
    w = fn.op(f"sub i64 {addr}, {REGION_START}")
    index = fn.op(f"sub i64 {fn.op(f'lshr i64 {w}, 32')}, {FIRST_REGION_ID}")
    row_block, slow_block = fn.new_block("row"), fn.new_block("slow")
    fn.cbr(fn.op(f"icmp ult i64 {index}, {f.ntable}"), row_block, slow_block, LIKELY)
    no_row = fn.block
    fn.start(row_block)
    row = fn.op(f"getelementptr [{ROW_SIZE} x i8], ptr {f.table}, i64 {index}")
    host = fn.load("ptr", fn.gep(row, ROW_OFFSETS["host"]), tbaa=TBAA_TABLE)
    sizes = {name: fn.load("i32", fn.gep(row, ROW_OFFSETS[name]), tbaa=TBAA_TABLE)
             for name in ("load_size", "store_size")}
    flags = {name: fn.op(f"icmp ne i32 {size}, 0") for name, size in sizes.items()}
    offset = fn.op(f"and i64 {w}, 4294967295")
    both = fn.op(f"and i1 {flags['load_size']}, {flags['store_size']}")
    new: Shadow = (fn.gep(host, fn.op(f"sub i64 {offset}, {addr}")), both, both)
    ok = flags[size_field]
    if misaligned is not None:
        ok = fn.op(f"and i1 {ok}, {fn.op(f'xor i1 {misaligned}, true')}")
    found = fn.new_block("found")
    fn.cbr(ok, found, slow_block, LIKELY)
    row_end = fn.block
    fn.start(found)
    pointer_facts(f, f.get(reg))
    values.append((fast(fn.gep(host, offset)), fn.block))
    births.append((new, fn.block))
    fn.br(join)
    fn.start(slow_block)
    slow_flag = fn.phi("i1", [("false", no_row), (both, row_end)])
    slow_shadow: Shadow = (fn.phi("ptr", [("undef", no_row), (new[0], row_end)]),
                           slow_flag, slow_flag)
    values.append((slow(), fn.block))
    births.append((slow_shadow, fn.block))
    fn.br(join)
    fn.start(join)
    loads = fn.phi("i1", [(s[1], b) for s, b in births])
    same = all(s[1] == s[2] for s, _ in births)
    born: Shadow = (fn.phi("ptr", [(s[0], b) for s, b in births]), loads,
                    loads if same else fn.phi("i1", [(s[2], b) for s, b in births]))
    for loc in f.facts.members(reg):
        shadows.set(loc, born)
    if not values[0][0]:
        return ""
    return fn.phi("i64", values)


def _born(f: Frame, reg: int, base: str, flag: str, addr: str, misaligned: str | None,
          fast: Fast, generic: Slow) -> str:
    """An access through a register with a shadow: direct when its flag is set (the shadow
    is left as it is, so every access through the pointer tests the same flag)."""
    fn = f.fn
    if flag == "false":
        return generic()
    ok = flag if misaligned is None else fn.op(f"and i1 {flag}, "
                                               f"{fn.op(f'xor i1 {misaligned}, true')}")
    direct, other, join = fn.new_block("direct"), fn.new_block("table"), fn.new_block("accessed")
    fn.cbr(ok, direct, other, LIKELY)
    fn.start(direct)
    pointer_facts(f, f.get(reg))
    values = [(fast(fn.gep(base, addr)), fn.block)]
    fn.br(join)
    fn.start(other)
    values.append((generic(), fn.block))
    fn.br(join)
    fn.start(join)
    return fn.phi("i64", values) if values[0][0] else ""


def pointer_facts(f: Frame, value: str) -> None:
    """Tell LLVM that ``value``, the register an access just went through directly, is a
    pointer (:data:`POINTERS`): adding a 32-bit offset to it cannot give 0, so the NULL
    tests C's ``if (!p)`` leaves after ``p = data + off`` fold away, as a C compiler folds
    them."""
    fn = f.fn
    if value.lstrip("-").isdigit():
        return
    f.module.declare("llvm.assume", "declare void @llvm.assume(i1)")
    low, high = POINTERS
    fn.emit(f"call void @llvm.assume(i1 {fn.op(f'icmp uge i64 {value}, {i64(low)}')})")
    fn.emit(f"call void @llvm.assume(i1 {fn.op(f'icmp ult i64 {value}, {i64(high)}')})")
