"""The JIT backend: ``JIT(...).load(spec) -> JITProgram``, the interpreter's interface on
native code.

Loading a program splits it into functions (:func:`~pybpf.program.cfg.split_functions`),
translates it to LLVM IR (:mod:`pybpf.jit.translate`), optimises and compiles it for the host
(:mod:`pybpf.jit.compiler`) unless the compile cache (:mod:`pybpf.jit.cache`) already holds
the object, links it into the process and registers its functions in the shared
:class:`~pybpf.runtime.execstate.ExecState` (for ``callx`` and ``bpf_loop``), exactly as the
interpreter registers its generated Python functions.

Large programs are compiled in two tiers (:mod:`pybpf.jit.tiering`): quickly first, at O3
in the background, switched between runs.

Programs run on the same memory as the interpreter's (same virtual addresses, maps and
contexts shared without copies), with the same helpers (map operations natively, the others
through Python), the same faults (``ExecutionFault`` with the pc) and, when a budget is set,
the same instruction counts. The budget (``budget=N``: the interpreter's, counted per block,
reported in ``RunResult.instructions``) is counted where one is requested; ``budget=None``
compiles without it (a runaway loop then runs forever and ``RunResult.instructions`` is 0).
The default, ``"auto"``, counts :data:`~pybpf.runtime.execstate.DEFAULT_BUDGET` in
bounds-checked code and nothing in verified code, which cannot run away (its loops end
through ``may_goto`` and ``bpf_loop``'s own limits) and runs as it does in the kernel,
which has no budget.

A program with a kernel program type is verified by pybpf's verifier and compiled without
bounds checks; one the verifier rejects is refused with a :class:`~pybpf.errors.VerifierError`
unless ``checked=True``, which bounds-checks every load and store of every program instead of
verifying; programs without a type (the raw ``mem`` type) always run bounds-checked
(:mod:`pybpf.jit.safety`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pybpf.errors import ExecutionFault
from pybpf.interp.machine import RunResult, code_address, format_instruction
from pybpf.isa import OP_LDDW, Instruction, PseudoSrc, pcs
from pybpf.jit.abi import function_symbol
from pybpf.jit.cache import CachedObject, CompileCache
from pybpf.jit.compiler import FULL, LIGHT, NativeCode, load_object
from pybpf.jit.lower_helpers import standard_helpers
from pybpf.jit.lower_maps import DELETE, LOOKUP, UPDATE, MapInfo, map_info
from pybpf.jit.runtime import NativeEntry, NativeRuntime
from pybpf.jit.safety import (
    REFUSE_BY_DEFAULT,
    Verdict,
    cached_verdict,
    is_verifiable,
    unrelocated,
    verdict,
)
from pybpf.jit.tiering import CompileJob, Upgrade
from pybpf.jit.translate import Options, uses_function_pointers
from pybpf.program.spec import MapSpec, ProgramSpec
from pybpf.runtime.batch import BatchResult, PacketBatch
from pybpf.runtime.execstate import DEFAULT_BUDGET, ExecState, Helper, ProgramExit
from pybpf.runtime.maps.header import resolve_map
from pybpf.runtime.memory import Memory, RegionKind
from pybpf.runtime.test_run import TestRunResult, test_run

M64 = 0xFFFFFFFFFFFFFFFF
#: Programs with more instructions than this are loaded on the light compile tier first
#: (:mod:`pybpf.jit.tiering`); the benchmark programs stay well below it.
LIGHT_ABOVE = 512


class JITProgram:
    """A program compiled to native code, bound to its backend's memory and state."""

    def __init__(self, spec: ProgramSpec, runtime: NativeRuntime, code: NativeCode,
                 function_starts: Sequence[int], *, number: int, budget: int | None,
                 cached: bool, compile_ns: int, checked: bool = True, tier: str = "O3",
                 upgrade: Upgrade | None = None) -> None:
        self.spec = spec
        #: False when the verifier accepted the program and its code has no bounds checks.
        self.checked = checked
        #: The compile tier of the running code (:mod:`pybpf.jit.compiler`).
        self.tier = tier
        self._upgrade = upgrade
        #: The context of the last native batch, kept for the next (see
        #: :func:`pybpf.jit.batch.run_batch`).
        self.batch_frames: Any = None
        #: The native loops' RCU list, and how many maps the state had registered then
        #: (``state.rcu_maps`` only grows; :func:`pybpf.jit.batch._rcu_list`).
        self.batch_rcu: tuple[int, Any, int] | None = None
        self._retired: list[NativeCode] = []
        self.runtime = runtime
        self.state: ExecState = runtime.state
        self.memory: Memory = runtime.memory
        self.budget = budget
        self.code = code
        #: True when the object came from the compile cache (no LLVM code generation).
        self.cached = cached
        #: Time spent in translation, optimisation, code generation and linking.
        self.compile_ns = compile_ns
        self.functions = {start: NativeEntry(runtime, code.address(function_symbol(start)), code)
                          for start in function_starts}
        self.entry: NativeEntry = self.functions[function_starts[0]]
        for start, entry in self.functions.items():
            self.state.functions[code_address(number, start)] = entry
        self._insn_at: dict[int, Instruction] | None = None

    def run(
        self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0,
        *, budget: int | None = None,
    ) -> RunResult:
        """Run once with the given argument registers; return r0 and the instruction count."""
        if self._upgrade is not None:
            self.upgrade()
        if budget is not None:
            limit = budget
        else:
            limit = DEFAULT_BUDGET if self.budget is None else self.budget
        state = self.state
        state.begin(limit)
        self.runtime.reset()
        start = time.perf_counter_ns()
        try:
            r0 = self.entry(r1, r2, r3, r4, r5, 0)
        except ProgramExit as stop:
            r0 = stop.value & M64
        except ExecutionFault as fault:
            raise self._explain(fault) from None
        finally:
            self.runtime.adopt_native()
            state.end()
        elapsed = time.perf_counter_ns() - start
        counted = limit - state.budget if self.budget is not None else 0
        return RunResult(r0, counted, elapsed)

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
        """``test_run`` on every frame, the loop in native code for XDP programs (see
        :mod:`pybpf.jit.batch`); results identical to one ``test_run`` per frame."""
        from pybpf.jit.batch import run_batch

        if self._upgrade is not None:
            self.upgrade()
        return run_batch(self, packets)

    def run_repeat(self, r1: int, repeat: int) -> tuple[int, int, int]:
        """``repeat`` runs on one context (``test_run`` with ``repeat``), looped natively:
        r0 of the last run, mean instructions and nanoseconds per run."""
        from pybpf.jit.batch import run_repeat

        if self._upgrade is not None:
            self.upgrade()
        return run_repeat(self, r1, repeat)

    def upgrade(self, *, wait: bool = False) -> bool:
        """Switch to the code compiled in the background (:mod:`pybpf.jit.tiering`) if it is
        ready (with ``wait``, once it is); True if the program now runs it. A failed
        background compile leaves the program on its current code."""
        pending = self._upgrade
        if pending is None or not (pending.wait() if wait else pending.ready):
            return False
        self._upgrade = None
        if pending.result is None:
            return False
        entry, cached, checked = pending.result
        code = load_object(entry.obj, self.spec.name or "bpf")
        self._retired.append(self.code)  # frames of it may still be live (nested runs)
        self.code = code
        for start, function in self.functions.items():
            function.address = code.address(function_symbol(start))
            function.code = code
        self.checked, self.tier, self.cached = checked, "O3", cached
        return True

    def explain(self, fault: ExecutionFault) -> ExecutionFault:
        """``fault`` with the text of its instruction filled in."""
        return self._explain(fault)

    def _explain(self, fault: ExecutionFault) -> ExecutionFault:
        if fault.pc is not None and fault.insn is None:
            if self._insn_at is None:
                insns = self.spec.instructions
                self._insn_at = dict(zip(pcs(insns), insns, strict=True))
            insn = self._insn_at.get(fault.pc)
            if insn is not None:
                fault.insn = format_instruction(insn)
        return fault


def native_map_helpers(helpers: dict[int, Helper]) -> frozenset[int]:
    """The helpers (maps, clock, PRNG, CPU, checksum difference) the runtime implements with
    pybpf's own functions, which native code may therefore do itself (a custom helper is
    always called)."""
    from pybpf.runtime.helpers import maps as standard

    own: dict[int, object] = {LOOKUP: standard.bpf_map_lookup_elem,
                              UPDATE: standard.bpf_map_update_elem,
                              DELETE: standard.bpf_map_delete_elem, **standard_helpers()}
    return frozenset(h for h, fn in own.items() if helpers.get(h) is fn)


def maps_named(insns: Sequence[Instruction], memory: Memory) -> tuple[MapInfo, ...]:
    """The layout of every map with a native descriptor the program loads with ``lddw``."""
    found: dict[int, MapInfo] = {}
    for insn in insns:
        if insn.code == OP_LDDW and insn.src == PseudoSrc.IMM64:
            value = insn.imm64 & M64
            if value not in found:
                info = map_info(resolve_map(memory, value))
                if info is not None:
                    found[value] = info
    return tuple(found[k] for k in sorted(found))


class JIT:
    """The native backend: ``load(spec) -> JITProgram``.

    Like the interpreter, programs loaded by one JIT share its memory and one execution
    state (stacks, tail-call count, budget), as programs on one CPU do in the kernel.
    ``cache_dir`` is where compiled objects are kept (default ``~/.cache/pybpf/jit``);
    ``cache=False`` always compiles and never writes. ``checked``: see
    :mod:`pybpf.jit.safety`. A program of more than ``light_above`` instructions is loaded on
    the light compile tier and, unless ``upgrade=False``, compiled (and verified) at O3 in
    the background (:mod:`pybpf.jit.tiering`); a cached reload gets the O3 code at once.
    """

    name = "jit"

    def __init__(
        self,
        *,
        helpers: dict[int, Helper] | None = None,
        budget: int | Literal["auto"] | None = "auto",
        memory: Memory | None = None,
        checked: bool | None = None,
        cache_dir: Path | str | None = None,
        cache: bool = True,
        light_above: int | None = LIGHT_ABOVE,
        upgrade: bool = True,
    ) -> None:
        self.helpers = dict(helpers or {})
        self.budget = budget
        self.checked = checked
        #: Programs with more instructions start on the light tier (None: never) ...
        self.light_above = light_above
        #: ... and are compiled at O3 in the background (False: they stay on it).
        self.upgrade = upgrade
        self.memory = memory if memory is not None else Memory()
        self.state = ExecState(self.memory, helpers=self.helpers,
                               budget=budget if isinstance(budget, int) else DEFAULT_BUDGET)
        self.runtime = NativeRuntime(self.state)
        self.cache = CompileCache(cache_dir) if cache else None
        self._loaded = 0

    def load(self, spec: ProgramSpec | Sequence[Instruction], *,
             source: ProgramSpec | None = None,
             maps: Mapping[str, MapSpec] | None = None) -> JITProgram:
        """Compile ``spec`` (map references already resolved to this backend's maps).

        ``source`` is the spec before map relocation and ``maps`` the map specs its
        references name: what the verifier checks (:mod:`pybpf.jit.safety`); without them
        ``spec`` itself is verified.
        """
        if not isinstance(spec, ProgramSpec):
            spec = ProgramSpec.from_instructions(spec)
        number = self._loaded
        start = time.perf_counter_ns()
        insns = spec.instructions
        pointers = uses_function_pointers(insns)
        tiered = self.light_above is not None and len(insns) > self.light_above
        found = self._verdict(spec, source, maps,
                              wait=self.strict or not (tiered and self.upgrade))
        known = None if found is None else found.accepted
        budget = self.program_budget(verified=bool(known))
        job = CompileJob(tuple(insns), spec.name, Options(
            count_budget=budget is not None, number=number if pointers else 0,
            helpers=frozenset(self.helpers), native_maps=native_map_helpers(self.helpers),
            maps=maps_named(insns, self.memory)), function_pointers=pointers, cache=self.cache)
        upgrade = None
        tier = FULL
        full = None
        if found is not None:
            full = job.with_options(checked=False, stack_exposed=found.stack_exposed,
                                    packet=found.packet,
                                    context_accesses=found.context_accesses) \
                if known else job.with_options(checked=True)
        entry = full.cached() if full is not None and tiered else None  # O3 of an earlier load
        if entry is not None:
            cached = True
        elif tiered:  # light code now, O3 (and the verdict) in the background
            tier = LIGHT
            light = replace(job.with_options(checked=not known, compact=True), tier=LIGHT)
            entry, cached = light.run()

            def better() -> tuple[CachedObject, bool, bool]:
                final = found if found is not None else \
                    self._verdict(spec, source, maps, wait=True)
                assert final is not None
                verified = final.accepted
                result, hit = (job.with_options(checked=False, stack_exposed=final.stack_exposed,
                                                packet=final.packet,
                                                context_accesses=final.context_accesses)
                               if verified else job.with_options(checked=True)).run()
                return result, hit, not verified

            upgrade = Upgrade(better) if self.upgrade else None
        else:
            assert full is not None
            entry, cached = full.run()
        code = load_object(entry.obj, spec.name or "bpf")
        self._loaded += 1
        return JITProgram(spec, self.runtime, code, entry.function_starts, number=number,
                          budget=budget, cached=cached,
                          compile_ns=time.perf_counter_ns() - start,
                          checked=not known,
                          tier=tier.name, upgrade=upgrade)

    def program_budget(self, *, verified: bool) -> int | None:
        """The budget a program's code counts (None: not counted; see the module
        docstring)."""
        if self.budget == "auto":
            return None if verified else DEFAULT_BUDGET
        return self.budget

    def _verdict(self, spec: ProgramSpec, source: ProgramSpec | None,
                 maps: Mapping[str, MapSpec] | None, *, wait: bool) -> Verdict | None:
        """An accepting verdict when ``spec`` may be compiled without bounds checks (see
        :mod:`.safety`; it says which stack bytes are exposed); None when the verifier's
        verdict is not known yet and ``wait`` is false (it is then known only when it was
        cached, or verification is required)."""
        if self.checked is True or not is_verifiable(spec):
            return Verdict(False)
        cache = self.cache
        if source is None:
            checked_spec, maps = unrelocated(spec, self.memory)
        else:
            checked_spec = source
        if not wait and not self.strict:
            found = cached_verdict(checked_spec, maps, cache)
            if found is None:
                return None
        else:
            found = verdict(checked_spec, maps, cache)
        if found.accepted or not self.strict:
            return found
        raise found.error(spec.name)

    @property
    def strict(self) -> bool:
        """Whether a program the verifier rejects is refused at load (see :mod:`.safety`)."""
        return self.checked is False or (self.checked is None and REFUSE_BY_DEFAULT)
