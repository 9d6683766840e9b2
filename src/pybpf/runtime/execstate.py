"""The state one loaded program runs against: memory, stacks, helpers, budget, hooks.

Helpers are plain callables ``helper(state, r1, r2, r3, r4, r5) -> int`` registered by id in
a table the caller passes in (no global registry). They read and write program memory
through :attr:`ExecState.memory` and may stop the program with :class:`ProgramExit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pybpf.errors import ExecutionFault
from pybpf.runtime.memory import Memory, RegionKind

if TYPE_CHECKING:  # helper models (pybpf.runtime.helpers imports this module)
    from pybpf.runtime.helpers.env import HelperEnv
    from pybpf.runtime.helpers.random import Prandom
    from pybpf.runtime.helpers.task import Task
    from pybpf.runtime.helpers.time import Clock

MAX_BPF_STACK = 512  # include/linux/filter.h
MAX_CALL_FRAMES = 8  # include/linux/bpf_verifier.h
MAX_TAIL_CALL_CNT = 33  # include/linux/bpf.h
BPF_MAX_LOOPS = 8 * 1024 * 1024  # may_goto budget per frame (include/linux/bpf.h)
DEFAULT_BUDGET = 100_000_000


class Helper(Protocol):
    """A helper implementation: ``(state, r1..r5) -> r0``."""

    def __call__(self, state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int, /) -> int: ...


#: Compiled entry of a function: ``(r1..r5, depth) -> r0``.
Entry = Callable[[int, int, int, int, int, int], int]


class ProgramExit(Exception):
    """Raised by a helper or a legacy packet load to end the program with ``value`` in r0."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value


@dataclass(slots=True, eq=False)
class ExecState:
    """Per-program execution state, reused across runs (reset by :meth:`begin`)."""

    memory: Memory
    helpers: dict[int, Helper] = field(default_factory=dict)
    budget: int = DEFAULT_BUDGET
    pc: int = 0
    tail_calls: int = 0
    stacks: list[bytearray] = field(default_factory=list)
    frame_pointers: list[int] = field(default_factory=list)
    #: Resolves ``bpf_tail_call(ctx, map, index)`` to the target's entry, or None.
    tail_call_resolver: Callable[[ExecState, int, int], Entry | None] | None = None
    #: Resolves a code address (``lddw`` BPF_PSEUDO_FUNC value) to a compiled function.
    functions: dict[int, Entry] = field(default_factory=dict)
    #: Returns the packet bytes for LD_ABS/LD_IND given the context pointer (r6).
    packet_of_ctx: Callable[[int], bytes | bytearray] | None = None
    trace: list[str] = field(default_factory=list)
    #: The context object of the current run (XDP/skb/sock_ops...), for helpers.
    context: object | None = None
    #: The CPU the program runs on (bpf_get_smp_processor_id, per-CPU maps).
    cpu: int = 0
    # -- what helpers model of the kernel around the program (pybpf.runtime.helpers) --------
    # ``None`` means "the default, installed by the first helper that needs it": the host's
    # clocks, a randomly seeded PRNG, the calling process as the current task. Set your own
    # for deterministic runs (``state.clock = ManualClock(5_000)``).
    #: Clock of bpf_ktime_get_ns() and friends.
    clock: Clock | None = None
    #: The per-CPU ``rnd_state`` of bpf_get_prandom_u32().
    prandom: Prandom | None = None
    #: ``current``: the task the program runs in (pid, uid, comm...).
    task: Task | None = None
    #: Everything else helpers read and write: network namespace, perf counters, skb state.
    env: HelperEnv | None = None
    #: Call depth of the function calling a helper, when the caller records it (helpers
    #: that call back into the program, such as bpf_loop(), run the callback one deeper).
    call_depth: int | None = None
    #: Maps whose freed values may be reused once a run ends (an RCU grace period).
    rcu_maps: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.stacks:
            for depth in range(MAX_CALL_FRAMES):
                buf = bytearray(MAX_BPF_STACK)
                region = self.memory.map(buf, RegionKind.STACK, f"stack of frame {depth}")
                self.stacks.append(buf)
                self.frame_pointers.append(region.base + MAX_BPF_STACK)

    def begin(self, budget: int) -> None:
        """Reset the per-run state before a run."""
        self.budget = budget
        self.tail_calls = 0

    def end(self) -> None:
        """After a run: a grace period passes, freed map values may be reused."""
        for m in self.rcu_maps:
            m.synchronize_rcu()

    # -- faults raised from generated code -----------------------------------------------------
    def out_of_budget(self, pc: int) -> None:
        raise ExecutionFault("instruction budget exhausted (runaway program?)", pc=pc)

    def too_deep(self, pc: int) -> None:
        raise ExecutionFault(
            f"call exceeds the maximum of {MAX_CALL_FRAMES} call frames", pc=pc
        )

    def fell_off(self, pc: int) -> None:
        raise ExecutionFault("execution fell off the end of the function without exit", pc=pc)

    # -- control transfers --------------------------------------------------------------------
    def callx(self, target: int, r1: int, r2: int, r3: int, r4: int, r5: int, depth: int) -> int:
        """``callx``: a code address from ``lddw`` BPF_PSEUDO_FUNC, or a helper id."""
        fn = self.functions.get(target)
        if fn is not None:
            if depth + 1 >= MAX_CALL_FRAMES:
                self.too_deep(self.pc)
            return fn(r1, r2, r3, r4, r5, depth + 1)
        helper = self.helpers.get(target)
        if helper is not None:
            return helper(self, r1, r2, r3, r4, r5) & 0xFFFFFFFFFFFFFFFF
        raise ExecutionFault(f"callx to {target:#x}, which is neither a function nor a helper", pc=self.pc)

    def tail_call(self, ctx: int, prog_array: int, index: int) -> Entry | None:
        """``bpf_tail_call()``: the target's entry, or None when the call falls through."""
        if self.tail_call_resolver is None or self.tail_calls >= MAX_TAIL_CALL_CNT:
            return None
        target = self.tail_call_resolver(self, prog_array, index & 0xFFFFFFFF)
        if target is not None:
            self.tail_calls += 1
        return target

    def ld_abs(self, ctx: int, offset: int, size: int) -> int:
        """Legacy ``LD_ABS``/``LD_IND``: big-endian packet load; out of bounds ends with 0."""
        if self.packet_of_ctx is None:
            raise ExecutionFault(
                "LD_ABS/LD_IND need a socket-buffer context (not available for this program)",
                pc=self.pc,
            )
        data = self.packet_of_ctx(ctx)
        offset = ((offset & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
        if offset < 0 or offset + size > len(data):
            raise ProgramExit(0)
        return int.from_bytes(data[offset : offset + size], "big")
