"""Direct addressing for verified code: each register's region base, kept beside it.

A program the verifier accepted only dereferences pointers, each inside the object it points
into (``check_mem_access()`` in kernel/bpf/verifier.c), and pointer arithmetic keeps a
pointer in its object (``adjust_ptr_min_max_vals()``). So once one access through a pointer
has found its region in the host-address table (:mod:`pybpf.jit.regions`), every later
access through that pointer, or through a pointer derived from it by adding scalars, is in
the same region: its host address is ``base + address`` with ``base = host - region_start``,
one addition the x86 addressing modes do for free, instead of a table lookup per access.

Every *location* (r0..r9, and the 8-byte stack slots the function spills registers to)
carries a *shadow* (:data:`Shadow`: ``base`` and whether the region may be loaded from and
whether it may be stored to directly) with one invariant: *if the location holds a pointer and
one of the shadow's flags is set, the shadow describes that pointer's region* (a scalar's
shadow means nothing).
:class:`Facts` follows the verifier's pointer rules to keep it, instruction by instruction:

* ``r10`` and ``mov rX, r10``: the call frame's stack, directly addressable;
* ``mov64`` and spills and fills of 8 bytes at ``r10 + k``: the source's shadow; ``+=``/``-=``
  a constant and ``-=`` a register: unchanged (``ptr - ptr`` is a scalar, ``scalar - ptr``
  is rejected);
* ``rD += rS``: the shadow of whichever may be a pointer when the other is a scalar for sure
  (``maybe``, a forward data-flow analysis: ``ptr + ptr`` is rejected), else none;
* every other ALU result is a scalar (32-bit ALU, other operations on pointers, sign
  extension are all rejected or give scalars), and so are narrow loads from the stack and
  any partial overwrite of a spilled pointer (``check_stack_write_fixed_off()``): the
  shadow becomes ``undef``, which lets LLVM merge it away where a scalar (a NULL) and a
  pointer meet;
* ``lddw`` constants (map and global data addresses) get the shadow of their region, found
  once per call;
* a value loaded from memory, a helper's or a callee's ``r0`` and the function's
  arguments have no shadow yet (``unborn``): the first access through one looks
  its region up in the table and gives the shadow to every location of its *class* (the
  locations known, within the block, to hold that pointer or one derived from it). That is
  a *birth* (:mod:`pybpf.jit.lower_direct`); the address of an access is inside its region,
  which is why births happen at accesses and not where pointers are made.

When the frame escapes (a pointer to it exists besides r10), a store through any other
pointer may write a spill slot: an 8-byte store of what may be a pointer (or an atomic) and
any call make the slots forgotten; any other store can only leave a scalar in a slot, so the
slots keep their shadows (a scalar's shadow means nothing) and only stop being pointers for
sure.

Not modelled: code that is not verified (``checked`` code translates every address).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from pybpf.isa import (
    SIZE_BYTES,
    ALUOp,
    AtomicOp,
    InsnClass,
    Instruction,
    JumpOp,
    Mode,
    PseudoSrc,
    Size,
    Source,
)
from pybpf.jit.irtext import FunctionText
from pybpf.program.cfg import Function, jump_target
from pybpf.runtime.execstate import MAX_BPF_STACK

__all__ = ["FLAG", "Facts", "Shadow", "Shadows", "block_facts", "frame_escapes",
           "private_bound", "spill_slots",
           "successors"]

#: A shadow: (base ``ptr``, whether the region may be loaded from directly, whether it may
#: be loaded from and stored to directly; ``i1`` each) as IR operands. Births from the table
#: give both flags one value (a pointer is then tested once, and LLVM threads every later
#: test); constant addresses have a load flag of their own, so read-only data (``.rodata``,
#: frozen maps) is loaded in place.
Shadow = tuple[str, str, str]
UNDEF: Shadow = ("undef", "undef", "undef")
UNKNOWN: Shadow = ("undef", "false", "false")
#: Index in a :data:`Shadow` of the flag an access tests, by the region table's size field.
FLAG = {"load_size": 1, "store_size": 2}
#: Location of the spill slot at ``r10 + off``: ``SLOT0 + off`` (registers are 0..9).
SLOT0 = 1024
FRAME = 10
#: What :func:`block_facts` keeps of :class:`Facts` at a block start: maybe, unborn, sure.
State = tuple[frozenset[int], frozenset[int], frozenset[int]]


def successors(fn: Function, index: int) -> list[int]:
    """Start slots of the blocks control can reach from block ``index`` of ``fn``."""
    block = fn.blocks[index]
    pc, last = block.insns[-1]
    cls = last.code & 0x07
    nxt = pc + last.slots
    out: list[int] = []
    if cls in (InsnClass.JMP, InsnClass.JMP32) and last.op != JumpOp.CALL:
        if last.op == JumpOp.EXIT:
            return out
        target = jump_target(pc, last)
        if target is not None:
            out.append(target)
        if last.op == JumpOp.JA:
            return out
    if nxt < fn.end:
        out.append(nxt)
    return out


def _spill(insn: Instruction) -> int | None:
    """The slot location an 8-byte load or store at ``r10 + k`` (aligned) addresses."""
    cls = insn.code & 0x07
    base = insn.src if cls == InsnClass.LDX else insn.dst
    if (cls in (InsnClass.LDX, InsnClass.STX) and insn.mode == Mode.MEM and base == FRAME
            and insn.size == Size.DW and insn.off % 8 == 0
            and -MAX_BPF_STACK <= insn.off < 0):
        return SLOT0 + insn.off
    return None


def spill_slots(fn: Function) -> frozenset[int]:
    """The slots ``fn`` spills registers to (8-byte stores of a register at ``r10 + k``)."""
    return frozenset(slot for block in fn.blocks for _, insn in block.insns
                     if (insn.code & 0x07) == InsnClass.STX and (slot := _spill(insn)) is not None)


def frame_escapes(fn: Function) -> bool:
    """True when a pointer to the frame may exist besides r10 itself: r10 is the source of
    an ALU operation (``r1 = r10``, ``r1 += r10``), is stored to memory, or is the base of an
    atomic operation (atomics address memory through the region table)."""
    for block in fn.blocks:
        for _, insn in block.insns:
            cls = insn.code & 0x07
            if cls in (InsnClass.ALU, InsnClass.ALU64) and insn.source == Source.X \
                    and insn.src == FRAME:
                return True
            if cls == InsnClass.STX and (insn.src == FRAME or
                                         (insn.mode == Mode.ATOMIC and insn.dst == FRAME)):
                return True
    return False


def private_bound(fn: Function, exposed: int | None) -> int:
    """The ``r10``-relative offset below which the frame of ``fn`` is private: ``exposed``
    (the lowest offset anything but ``fn``'s own ``r10 + k`` accesses may reach, from the
    verifier; None: unknown, nothing is private), lowered so that no ``r10 + k`` access
    straddles it and no atomic operation at ``r10 + k`` (made through the region table)
    lies below it."""
    if exposed is None:
        return -MAX_BPF_STACK
    accesses = []
    for block in fn.blocks:
        for _, insn in block.insns:
            cls = insn.code & 0x07
            base = insn.src if cls == InsnClass.LDX else insn.dst
            if cls in (InsnClass.LDX, InsnClass.ST, InsnClass.STX) and base == FRAME:
                atomic = cls == InsnClass.STX and insn.mode == Mode.ATOMIC
                accesses.append((insn.off, SIZE_BYTES[Size(insn.size)], atomic))
    bound = min(exposed, 0)
    changed = True
    while changed:
        changed = False
        for off, n, atomic in accesses:
            if off < bound and (atomic or off + n > bound):
                bound, changed = off, True
    return max(bound, -MAX_BPF_STACK)


@dataclass(slots=True)
class Facts:
    """What is known of the locations at one point of a function: ``maybe`` may hold a
    pointer (the others are scalars for sure); ``unborn`` may have no shadow yet (all the
    others have one, whose flag says whether their region is directly accessible);
    ``sure`` hold pointers for sure (an access went through the value, or through the one it
    was derived from by pointer arithmetic); ``classes`` groups locations known to point
    into one region and ``copies`` locations known to hold the same value (block-local)."""

    slots: frozenset[int]
    escapes: bool
    maybe: set[int]
    unborn: set[int]
    sure: set[int] = field(default_factory=set)
    classes: dict[int, int] = field(default_factory=dict)
    copies: dict[int, int] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: The slots something other than ``r10 + k`` may reach when the frame escapes (None:
    #: all; the others are in the function's private part of the frame).
    exposed: frozenset[int] | None = None

    @classmethod
    def entry(cls, slots: frozenset[int] = frozenset(), escapes: bool = False,
              exposed: frozenset[int] | None = None) -> Facts:
        args = {1, 2, 3, 4, 5}
        return cls(slots, escapes, set(args), set(args), exposed=exposed)

    @classmethod
    def thawed(cls, slots: frozenset[int], escapes: bool, state: State,
               exposed: frozenset[int] | None = None) -> Facts:
        return cls(slots, escapes, set(state[0]), set(state[1]), set(state[2]),
                   exposed=exposed)

    def frozen(self) -> State:
        return frozenset(self.maybe), frozenset(self.unborn), frozenset(self.sure)

    def may_point(self, loc: int) -> bool:
        return loc == FRAME or loc in self.maybe

    def members(self, loc: int) -> list[int]:
        """The locations of ``loc``'s class (which a birth through ``loc`` gives a shadow)."""
        key = self.classes.get(loc)
        if key is None:
            return [loc]
        return [other for other, k in self.classes.items() if k == key]

    # -- updates (each applied to the IR shadows too when ``shadows`` is given) -------------
    def _copy(self, dst: int, src: int, shadows: Shadows | None, *, exact: bool = True) -> None:
        """``dst`` now points where ``src`` does (holds its value when ``exact``)."""
        if src == FRAME:
            self.maybe.add(dst)
            self.unborn.discard(dst)
            self.sure.add(dst)
            self.classes[dst] = 0
        else:
            for locs in (self.maybe, self.unborn, self.sure):
                if src in locs:
                    locs.add(dst)
                else:
                    locs.discard(dst)
            self.classes[dst] = self.classes.setdefault(src, next(self.ids))
        if exact and src != FRAME:
            self.copies[dst] = self.copies.setdefault(src, next(self.ids))
        else:
            self.copies.pop(dst, None)
        if shadows is not None:
            shadows.set(dst, shadows.get(src))

    def _moved(self, loc: int, *, keeps_pointer: bool) -> None:
        """``loc`` changed by pointer arithmetic (``keeps_pointer``: with a scalar)."""
        self.copies.pop(loc, None)
        if not keeps_pointer:
            self.sure.discard(loc)

    def _scalar(self, loc: int, shadows: Shadows | None) -> None:
        self.maybe.discard(loc)
        self.unborn.discard(loc)
        self.sure.discard(loc)
        self.classes.pop(loc, None)
        self.copies.pop(loc, None)
        if shadows is not None:
            shadows.set(loc, UNDEF)

    def _unknown(self, loc: int, shadows: Shadows | None) -> None:
        self.maybe.add(loc)
        self.unborn.add(loc)
        self.sure.discard(loc)
        self.classes.pop(loc, None)
        self.copies.pop(loc, None)
        if shadows is not None:
            shadows.set(loc, UNKNOWN)

    def constant(self, loc: int, shadow: Shadow | None, shadows: Shadows | None) -> None:
        """``loc`` holds an address of a known region (or NULL): ``shadow`` is its shadow."""
        self._unknown(loc, None)
        self.unborn.discard(loc)
        if shadows is not None and shadow is not None:
            shadows.set(loc, shadow)

    def _born(self, loc: int) -> None:
        """An access went through ``loc``: its class has a shadow, its copies are pointers."""
        self.unborn.difference_update(self.members(loc))
        if loc != FRAME:
            key = self.copies.get(loc)
            self.sure.update([loc] if key is None else
                             [other for other, k in self.copies.items() if k == key])

    def _overwritten_slots(self) -> None:
        """A store through a pointer that may reach the frame and cannot spill a pointer
        (narrower than 8 bytes, an immediate or a scalar for sure): a slot may now hold a
        scalar (``check_stack_write_fixed_off()``/``_var_off()`` make a partly or wholly
        overwritten spill ``STACK_MISC``, and refuse a narrow spill of a pointer), never
        another pointer, so the slots keep their shadows but are no longer pointers for
        sure."""
        for slot in self.slots if self.exposed is None else self.exposed:
            self.sure.discard(slot)
            self.copies.pop(slot, None)

    def _forget_slots(self, shadows: Shadows | None) -> None:
        for slot in self.slots if self.exposed is None else self.exposed:
            self._unknown(slot, shadows)

    def step(self, insn: Instruction, shadows: Shadows | None = None,
             r0_region: int | None = None, *, packet: bool = False) -> None:
        """The facts after ``insn`` (the births of its access already made, see
        :mod:`pybpf.jit.lower_direct`; ``packet``: a packet access, made without the
        shadow (:mod:`pybpf.jit.lower_packet`), which gives no birth).

        Mirrors which results the verifier lets be pointers (``check_alu_op()``,
        ``adjust_reg_min_max_vals()``): only 64-bit ``mov``, ``+=`` and ``-=`` carry one."""
        cls = insn.code & 0x07
        dst = insn.dst
        if cls == InsnClass.ALU64 and insn.op in (ALUOp.MOV, ALUOp.ADD, ALUOp.SUB):
            if insn.op == ALUOp.MOV:
                if insn.source == Source.X and insn.off == 0:
                    self._copy(dst, insn.src, shadows)
                else:
                    self._scalar(dst, shadows)
            elif insn.source == Source.K:
                self._moved(dst, keeps_pointer=True)
            elif insn.op == ALUOp.SUB:
                self._moved(dst, keeps_pointer=not self.may_point(insn.src))
            elif self.may_point(insn.src) and self.may_point(dst):
                self._unknown(dst, shadows)
            elif self.may_point(insn.src):
                self._copy(dst, insn.src, shadows, exact=False)
            else:
                self._moved(dst, keeps_pointer=True)
        elif cls in (InsnClass.ALU, InsnClass.ALU64):
            self._scalar(dst, shadows)
        elif cls == InsnClass.LDX:
            if not packet:
                self._born(insn.src)
            slot = _spill(insn)
            if slot is not None and slot in self.slots:
                self._copy(dst, slot, shadows)
            elif insn.src == FRAME and SIZE_BYTES[Size(insn.size)] < 8:
                self._scalar(dst, shadows)  # a narrow fill is a scalar
            else:
                self._unknown(dst, shadows)
        elif cls == InsnClass.STX and insn.mode == Mode.ATOMIC and insn.imm == AtomicOp.LOAD_ACQ:
            self._born(insn.src)
            self._unknown(dst, shadows)
        elif cls in (InsnClass.ST, InsnClass.STX):
            if not packet:
                self._born(dst)
            self._store(insn, shadows)
        elif cls == InsnClass.LD:
            if insn.is_wide and insn.src == PseudoSrc.IMM64:  # born: see Shadows.constant
                self.constant(dst, None if shadows is None else shadows.constant(insn.imm64),
                              shadows)
            elif insn.is_wide:
                self._unknown(dst, shadows)
            else:  # LD_ABS/LD_IND: r0 is data, r1..r5 are clobbered
                for reg in range(6):
                    self._scalar(reg, shadows)
        elif cls in (InsnClass.JMP, InsnClass.JMP32) and insn.op == JumpOp.CALL:
            for reg in range(1, 6):
                self._scalar(reg, shadows)
            if r0_region is None:
                self._unknown(0, shadows)
            else:  # an inline array lookup: NULL or a pointer into the map's values
                self.constant(0, None if shadows is None else shadows.constant(r0_region),
                              shadows)
            if self.escapes:
                self._forget_slots(shadows)

    def _store(self, insn: Instruction, shadows: Shadows | None) -> None:
        """ST and STX: spills, overwritten slots, atomic results."""
        dst = insn.dst
        atomic = insn.mode == Mode.ATOMIC
        if dst != FRAME:
            if self.escapes:
                if atomic or (insn.code & 0x07 == InsnClass.STX and insn.size == Size.DW
                              and self.may_point(insn.src)):
                    self._forget_slots(shadows)
                else:  # may overwrite a slot, but only with a scalar
                    self._overwritten_slots()
        elif not atomic and (slot := _spill(insn)) is not None and slot in self.slots \
                and (insn.code & 0x07) == InsnClass.STX:
            self._copy(slot, insn.src, shadows)
        else:
            n = SIZE_BYTES[Size(insn.size)]
            for slot in self.slots:
                if slot - SLOT0 < insn.off + n and insn.off < slot - SLOT0 + 8:
                    if atomic:
                        self._unknown(slot, shadows)
                    else:
                        self._scalar(slot, shadows)
        if atomic:
            if insn.imm == AtomicOp.CMPXCHG:
                self._unknown(0, shadows)
            elif insn.imm & 0x01:  # FETCH variants and XCHG
                self._unknown(insn.src, shadows)


def block_facts(fn: Function, slots: frozenset[int], escapes: bool,
                lookups: dict[int, int],
                exposed: frozenset[int] | None = None,
                packet: frozenset[int] = frozenset()) -> dict[int, State]:
    """``maybe``, ``unborn`` and ``sure`` at the start of each block of ``fn`` (``lookups``:
    the calls whose r0 points into a known region, see :meth:`Facts.step`; ``packet``: the
    packet accesses; the fixed point of :meth:`Facts.step`: unions of ``maybe`` and ``unborn``, intersections of
    ``sure`` where paths meet; blocks control never reaches are absent)."""
    index = {block.start: i for i, block in enumerate(fn.blocks)}
    states = {fn.start: Facts.entry(slots, escapes, exposed).frozen()}
    work = [fn.start]
    while work:
        start = work.pop()
        facts = Facts.thawed(slots, escapes, states[start], exposed)
        for pc, insn in fn.blocks[index[start]].insns:
            facts.step(insn, None, lookups.get(pc), packet=pc in packet)
        out = facts.frozen()
        for succ in successors(fn, index[start]):
            old = states.get(succ)
            new = out if old is None else (old[0] | out[0], old[1] | out[1], old[2] & out[2])
            if new != old:
                states[succ] = new
                work.append(succ)
    return states


class Shadows:
    """The shadows of one function's locations: three ``alloca`` each (promoted to SSA
    values by LLVM), cached within a basic block like the registers themselves
    (:class:`~pybpf.jit.frame.Frame`), and the constant shadow of ``r10``."""

    def __init__(self, fn: FunctionText, stack_base: str, slots: frozenset[int],
                 constant: Callable[[int], Shadow]) -> None:
        self.fn = fn
        self.frame: Shadow = (stack_base, "true", "true")
        #: The shadow of a constant address (``lddw``), found once per call.
        self.constant = constant
        for loc in [*range(10), *sorted(slots)]:
            fn.emit(f"%sb{loc} = alloca ptr")
            fn.emit(f"%sd{loc} = alloca i1")
            fn.emit(f"%sw{loc} = alloca i1")
        for reg in range(1, 6):
            self._store(reg, UNKNOWN)
        self.begin_block()

    def begin_block(self) -> None:
        self._cache: dict[int, Shadow] = {}
        self._dirty: set[int] = set()

    def get(self, loc: int) -> Shadow:
        if loc == FRAME:
            return self.frame
        value = self._cache.get(loc)
        if value is None:
            fn = self.fn
            value = (fn.load("ptr", f"%sb{loc}"), fn.load("i1", f"%sd{loc}"),
                     fn.load("i1", f"%sw{loc}"))
            self._cache[loc] = value
        return value

    def set(self, loc: int, value: Shadow) -> None:
        if loc != FRAME:
            self._cache[loc] = value
            self._dirty.add(loc)

    def flush(self) -> None:
        for loc in sorted(self._dirty):
            self._store(loc, self._cache[loc])
        self._dirty.clear()

    def _store(self, loc: int, value: Shadow) -> None:
        base, loads, stores = value
        self.fn.store("ptr", base, f"%sb{loc}")
        self.fn.store("i1", loads, f"%sd{loc}")
        self.fn.store("i1", stores, f"%sw{loc}")
