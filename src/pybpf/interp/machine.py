"""The reference interpreter: compile a program's functions once, then run them.

:class:`Interpreter` is the backend (``load(spec) -> InterpProgram``); an
:class:`InterpProgram` runs with :meth:`~InterpProgram.run` (registers r1..r5 given) or
:meth:`~InterpProgram.run_mem` (the raw ``mem`` program type: r1 points at caller bytes, r2
holds their length). Faults are :class:`~pybpf.errors.ExecutionFault` carrying the pc, the
instruction text and the address.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pybpf.errors import ExecutionFault
from pybpf.interp import ops
from pybpf.interp.codegen import FunctionTranslator
from pybpf.isa import Instruction, pcs
from pybpf.program.cfg import split_functions
from pybpf.program.spec import MapSpec, ProgramSpec
from pybpf.runtime.batch import BatchResult, PacketBatch, run_batch_loop
from pybpf.runtime.execstate import (
    DEFAULT_BUDGET,
    MAX_BPF_STACK,
    Entry,
    ExecState,
    Helper,
    ProgramExit,
)
from pybpf.runtime.memory import Memory, RegionKind
from pybpf.runtime.test_run import TestRunResult, test_run

#: Code addresses handed out for ``lddw`` BPF_PSEUDO_FUNC (no region behind them):
#: ``CODE_BASE + (program number << 24) + 8 * pc``.
CODE_BASE = 0xFFFFFFFFA0000000


def code_address(prog_number: int, pc: int) -> int:
    return CODE_BASE + (prog_number << 24) + 8 * pc


@dataclass(frozen=True, slots=True)
class RunResult:
    """Outcome of one run: ``retval`` (r0, unsigned 64-bit) and instructions executed."""

    retval: int
    instructions: int
    duration_ns: int = 0
    memory: bytes | None = None

    @property
    def retval_s64(self) -> int:
        return ops.s64(self.retval)


def _namespace(state: ExecState, helpers: dict[int, Helper]) -> dict[str, Any]:
    mem = state.memory
    ns: dict[str, Any] = {
        "X": state,
        "MEM": mem,
        "RD": mem.readable,
        "WR": mem.writable,
        "STK": state.stacks,
        "FP": state.frame_pointers,
        "ZERO_STACK": bytes(MAX_BPF_STACK),
        "FAULT": ExecutionFault,
        "ATOMIC_RMW": ops.ATOMIC_RMW,
    }
    for n, fmt in ((1, "B"), (2, "H"), (4, "I"), (8, "Q")):
        ns[f"U{n}"] = struct.Struct("<" + fmt).unpack_from
        ns[f"S{n}"] = struct.Struct("<" + fmt.lower()).unpack_from
        ns[f"P{n}"] = struct.Struct("<" + fmt).pack_into
    for name in ("sdiv64", "smod64", "sdiv32", "smod32", "bswap16", "bswap32", "bswap64"):
        ns[name] = getattr(ops, name)
    for hid, fn in helpers.items():
        ns[f"H{hid}"] = fn
    return ns


class InterpProgram:
    """A program compiled for the interpreter, bound to its memory and execution state."""

    def __init__(self, spec: ProgramSpec, state: ExecState, budget: int, number: int = 0) -> None:
        self.spec = spec
        self.state = state
        self.memory = state.memory
        self.budget = budget
        self._insn_at = dict(zip(pcs(spec.instructions), spec.instructions, strict=True))
        functions = split_functions(spec.instructions)
        helpers = frozenset(state.helpers)
        def func_addr(pc: int) -> int:
            return code_address(number, pc)

        sources = [FunctionTranslator(f, helpers, func_addr).source() for f in functions]
        self.source = "\n".join(sources)
        ns = _namespace(state, state.helpers)
        code = compile(self.source, f"<pybpf program {spec.name}>", "exec")
        exec(code, ns)  # noqa: S102 - generated from decoded instructions only
        self.entry: Entry = ns["F0"]
        for f in functions:
            state.functions[code_address(number, f.start)] = ns[f"F{f.start}"]

    def run(
        self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0,
        *, budget: int | None = None,
    ) -> RunResult:
        """Run once with the given argument registers; return r0 and the instruction count."""
        limit = self.budget if budget is None else budget
        state = self.state
        state.begin(limit)
        start = time.perf_counter_ns()
        try:
            r0 = self.entry(r1, r2, r3, r4, r5, 0)
        except ProgramExit as stop:
            r0 = stop.value & 0xFFFFFFFFFFFFFFFF
        except ExecutionFault as fault:
            raise self._explain(fault) from None
        except RecursionError:
            raise ExecutionFault("Python recursion limit reached", pc=state.pc) from None
        finally:
            state.end()
        elapsed = time.perf_counter_ns() - start
        return RunResult(r0, limit - state.budget, elapsed)

    def run_mem(self, data: bytes | bytearray | None = None, *, budget: int | None = None) -> RunResult:
        """The raw ``mem`` program type: r1 = pointer to a copy of ``data``, r2 = its length.

        Without data r1 and r2 are 0. The returned result carries the memory after the run.
        """
        if data is None:
            return self.run(budget=budget)
        buf = bytearray(data)
        region = self.memory.map(buf, RegionKind.MEM, "mem")
        try:
            result = self.run(region.base, len(buf), budget=budget)
        finally:
            self.memory.unmap(region)
        return RunResult(result.retval, result.instructions, result.duration_ns, bytes(buf))

    def test_run(
        self, *, data: bytes = b"", ctx: bytes | None = None, repeat: int = 1,
        prog_type: int | None = None,
    ) -> TestRunResult:
        """``BPF_PROG_TEST_RUN`` semantics on this program (see :mod:`pybpf.runtime.test_run`)."""
        kind = self.spec.prog_type if prog_type is None else prog_type
        return test_run(self, kind, data=data, ctx=ctx, repeat=repeat)

    def run_batch(self, packets: PacketBatch | Sequence[bytes]) -> BatchResult:
        """``test_run`` on every frame (refused frames are recorded, not raised): the same
        interface as the JIT's native batch loop."""
        return run_batch_loop(self, packets)

    def _explain(self, fault: ExecutionFault) -> ExecutionFault:
        if fault.pc is not None and fault.insn is None:
            insn = self._insn_at.get(fault.pc)
            if insn is not None:
                fault.insn = format_instruction(insn)
        return fault


def format_instruction(insn: Instruction) -> str:
    """The LLVM-syntax text of ``insn`` (hex when the disassembler is unavailable)."""
    try:
        from pybpf.asm import format_insn
    except ImportError:  # pragma: no cover
        return insn.to_bytes().hex()
    try:
        return format_insn(insn, syntax="llvm")
    except Exception:  # noqa: BLE001 - a message must never fail
        return insn.to_bytes().hex()


class Interpreter:
    """The reference interpreter backend: ``load(spec) -> InterpProgram``.

    Programs loaded by one interpreter share its memory and one execution state, as programs
    on one CPU do in the kernel: a tail call from one to another keeps the stack frame, the
    33-call limit and the instruction budget of the run that started the chain.
    """

    name = "interp"

    def __init__(
        self,
        *,
        helpers: dict[int, Helper] | None = None,
        budget: int = DEFAULT_BUDGET,
        memory: Memory | None = None,
    ) -> None:
        self.helpers = dict(helpers or {})
        self.budget = budget
        self.memory = memory if memory is not None else Memory()
        self.state = ExecState(self.memory, helpers=self.helpers, budget=budget)
        self._loaded = 0

    def load(self, spec: ProgramSpec | Sequence[Instruction], *,
             source: ProgramSpec | None = None,
             maps: Mapping[str, MapSpec] | None = None) -> InterpProgram:
        """Compile ``spec`` for the interpreter. ``source`` and ``maps`` (the spec before map
        relocation and its map specs, which the JIT verifies) are accepted for a uniform
        backend interface: the interpreter checks every access and verifies nothing."""
        if not isinstance(spec, ProgramSpec):
            spec = ProgramSpec.from_instructions(spec)
        program = InterpProgram(spec, self.state, self.budget, self._loaded)
        self._loaded += 1
        return program
