"""Verifier state: frames, stack slots and acquired references.

Mirrors ``struct bpf_stack_state``, ``struct bpf_func_state``, ``struct bpf_reference_state``
and ``struct bpf_verifier_state`` (include/linux/bpf_verifier.h, Linux 6.18) with the helpers
that create and copy them (``init_func_state()``, ``copy_verifier_state()``,
``grow_stack_state()``). State *equivalence* for pruning lives in :mod:`pybpf.verifier.prune`.

The stack of a frame is a list of 8-byte slots; slot ``spi`` covers ``fp-8*(spi+1)`` up to
``fp-8*spi-1``. ``slot_type[i]`` describes the byte at ``fp - 8*spi - i - 1`` (index 0 is the
highest address), as in the kernel. A slot holding a spilled register keeps a copy of it in
``spilled_ptr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from pybpf.platform.helper_types import RegType
from pybpf.verifier.regstate import RegState, mark_reg_known_zero, mark_reg_not_init

__all__ = [
    "BPF_REG_SIZE",
    "FuncState",
    "MAX_BPF_STACK",
    "MAX_CALL_FRAMES",
    "RefState",
    "RefType",
    "SLOT_TYPE_CHARS",
    "SlotType",
    "StackSlot",
    "VerifierState",
    "new_func_state",
]

BPF_REG_SIZE = 8
MAX_BPF_STACK = 512
MAX_CALL_FRAMES = 8
MAX_BPF_REG = 11
BPF_REG_FP = 10


class SlotType(IntEnum):
    """``enum bpf_stack_slot_type``."""

    INVALID = 0  # nothing was stored in this stack slot
    SPILL = 1  # register spilled into stack
    MISC = 2  # BPF program wrote some data into this slot
    ZERO = 3  # BPF program wrote constant zero
    DYNPTR = 4
    ITER = 5
    IRQ_FLAG = 6


SLOT_TYPE_CHARS = "?rm0dif"
"""``slot_type_char[]``: how the log prints each :class:`SlotType`."""


@dataclass(slots=True)
class StackSlot:
    """``struct bpf_stack_state``: eight byte types and the spilled register, if any."""

    spilled_ptr: RegState
    slot_type: list[int]

    @classmethod
    def empty(cls) -> StackSlot:
        reg = RegState()
        mark_reg_not_init(reg)
        return cls(reg, [SlotType.INVALID] * BPF_REG_SIZE)

    def copy(self) -> StackSlot:
        return StackSlot(self.spilled_ptr.copy(), list(self.slot_type))

    def is_spilled_reg(self) -> bool:
        """``is_spilled_reg()``: the last byte (lowest address) is a spill."""
        return self.slot_type[BPF_REG_SIZE - 1] == SlotType.SPILL

    def is_spilled_scalar_reg(self) -> bool:
        return self.is_spilled_reg() and self.spilled_ptr.type == RegType.SCALAR_VALUE


class RefType(IntEnum):
    """``enum ref_state_type`` (only the kinds modelled here)."""

    PTR = 1
    IRQ = 2
    LOCK = 4
    RES_LOCK = 8


@dataclass(slots=True)
class RefState:
    """``struct bpf_reference_state``: an acquired object, released or leaked by exit."""

    id: int
    insn_idx: int
    type: RefType = RefType.PTR


@dataclass(slots=True)
class FuncState:
    """``struct bpf_func_state``: one call frame."""

    regs: list[RegState]
    frameno: int
    subprogno: int
    callsite: int
    stack: list[StackSlot] = field(default_factory=list)
    in_callback_fn: bool = False
    in_async_callback_fn: bool = False
    callback_depth: int = 0
    #: ``callback_ret_range``: what R0 must be in at the callback's exit.
    callback_ret_range: tuple[int, int] = (0, 0)

    @property
    def allocated_stack(self) -> int:
        return len(self.stack) * BPF_REG_SIZE

    def copy(self) -> FuncState:
        return FuncState(
            [r.copy() for r in self.regs], self.frameno, self.subprogno, self.callsite,
            [s.copy() for s in self.stack], self.in_callback_fn, self.in_async_callback_fn,
            self.callback_depth, self.callback_ret_range,
        )  # fmt: skip

    def grow_stack(self, size: int) -> None:
        """``grow_stack_state()``: make at least ``size`` bytes of stack addressable."""
        slots = (size + BPF_REG_SIZE - 1) // BPF_REG_SIZE
        while len(self.stack) < slots:
            self.stack.append(StackSlot.empty())


def new_func_state(frameno: int, subprogno: int, callsite: int,
                   precise_unknown: bool = False) -> FuncState:
    """``init_func_state()``: all registers NOT_INIT except the frame pointer R10."""
    regs = []
    for _ in range(MAX_BPF_REG):
        reg = RegState()
        mark_reg_not_init(reg, precise_unknown)
        regs.append(reg)
    fp = regs[BPF_REG_FP]
    mark_reg_known_zero(fp)
    fp.type = RegType.PTR_TO_STACK
    fp.frameno = frameno
    return FuncState(regs, frameno, subprogno, callsite)


@dataclass(slots=True)
class VerifierState:
    """``struct bpf_verifier_state``: the frames of the current call chain and more.

    ``parent`` and ``branches`` serve path exploration (``update_branch_counts()``): a state
    saved as a checkpoint counts the paths still being explored below it.
    """

    frame: list[FuncState]
    curframe: int = 0
    refs: list[RefState] = field(default_factory=list)
    active_locks: int = 0
    active_lock_id: int = 0
    active_lock_ptr: object | None = None
    active_rcu_lock: bool = False
    active_preempt_locks: int = 0
    speculative: bool = False
    in_sleepable: bool = False
    may_goto_depth: int = 0
    callback_unroll_depth: int = 0
    insn_idx: int = 0
    branches: int = 1
    parent: VerifierState | None = None
    dfs_depth: int = 0
    #: Where this state's part of the path starts (its last checkpoint) and the instruction
    #: before the one it is at; the jump history between (see :mod:`.precision`).
    first_insn_idx: int = 0
    last_insn_idx: int = -1
    jmp_history: list = field(default_factory=list)  # type: ignore[type-arg]
    #: Set once its dead registers were cleared (``clean_verifier_state()``).
    cleaned: bool = False
    #: Cache of :func:`pybpf.verifier.scc.compute_scc_callchain` for finished checkpoints
    #: (not copied).
    scc_cc: object = None
    scc_cc_set: bool = False
    #: The explored-states entry of a saved checkpoint (not copied).
    slist: object = None

    def copy(self) -> VerifierState:
        """``copy_verifier_state()`` (``parent``/``branches`` are set by the caller)."""
        return VerifierState(
            [f.copy() for f in self.frame[: self.curframe + 1]], self.curframe,
            [RefState(r.id, r.insn_idx, r.type) for r in self.refs], self.active_locks,
            self.active_lock_id, self.active_lock_ptr, self.active_rcu_lock,
            self.active_preempt_locks, self.speculative, self.in_sleepable,
            self.may_goto_depth, self.callback_unroll_depth, self.insn_idx, self.branches,
            self.parent, self.dfs_depth, self.first_insn_idx, self.last_insn_idx,
            list(self.jmp_history), self.cleaned,
        )  # fmt: skip

    @property
    def cur(self) -> FuncState:
        return self.frame[self.curframe]

    @property
    def regs(self) -> list[RegState]:
        return self.frame[self.curframe].regs

    def all_regs(self):  # type: ignore[no-untyped-def]
        """``bpf_for_each_reg_in_vstate()``: (frame, register) for every register and spill."""
        for func in self.frame[: self.curframe + 1]:
            for reg in func.regs:
                yield func, reg
            for slot in func.stack:
                if slot.is_spilled_reg():
                    yield func, slot.spilled_ptr
