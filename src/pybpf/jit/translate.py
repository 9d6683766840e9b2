"""eBPF program -> one LLVM IR module: a function per eBPF sub-program, a block per basic block.

Mirrors the interpreter's translation (:mod:`pybpf.interp.codegen`) construct by construct,
so both backends run the same semantics: the same basic blocks (:func:`~pybpf.program.cfg.
split_functions`), the instruction budget charged per block at its start (``len(block)``
logical instructions, ``lddw`` counting once; only when the program is compiled with
``count_budget``; verified code tests it only where :mod:`pybpf.jit.budget` says), ``may_goto`` with ``BPF_MAX_LOOPS`` per call frame, bpf-to-bpf calls as
direct LLVM calls with a call-depth check (8 frames), ``callx`` (direct to this program's
functions, through Python otherwise), ``bpf_loop`` with a callback of this program as a
native loop (:mod:`pybpf.jit.lower_loop`), helpers and tail calls through ``rt`` (:mod:`pybpf.jit.
abi`), and the same load-time errors (:class:`~pybpf.errors.NotSupportedError` for helpers
the runtime lacks, kfuncs, arenas and unrelocated ``lddw``) and run-time faults (writes to
r10, falling off a function, call depth, budget).

The module only refers to ``env`` and constants: no host address is baked into the code,
which is what makes it cacheable on disk (:mod:`pybpf.jit.cache`). It is written as IR text
(:mod:`pybpf.jit.irtext`), which LLVM parses faster than llvmlite formats an object graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pybpf.errors import JITError, NotSupportedError
from pybpf.interp.machine import code_address
from pybpf.isa import (
    OP_LDDW,
    SIZE_BYTES,
    ALUOp,
    CallSrc,
    InsnClass,
    Instruction,
    JumpOp,
    Mode,
    PseudoSrc,
    Size,
    Source,
)
from pybpf.jit import (
    lower_alu,
    lower_context,
    lower_direct,
    lower_helpers,
    lower_loop,
    lower_maps,
    lower_mem,
    lower_packet,
    provenance,
)
from pybpf.jit.abi import Fault, RuntimeOp, TailCall, function_symbol
from pybpf.jit.budget import BudgetPlan
from pybpf.jit.frame import PROGRAM_PARAMS, Frame, RuntimeStubs
from pybpf.jit.irtext import LIKELY, TBAA_TABLE, UNLIKELY, FunctionText, ModuleText, i64
from pybpf.jit.slow_paths import SlowPaths
from pybpf.program.cfg import BasicBlock, Function, is_pseudo_func, jump_target
from pybpf.runtime.execstate import MAX_BPF_STACK, MAX_CALL_FRAMES

BPF_FUNC_TAIL_CALL = 12


@dataclass(frozen=True, slots=True)
class Options:
    """What changes the generated code (all of it is part of the compile-cache key)."""

    checked: bool = True
    count_budget: bool = True
    #: Load number of the program in its runtime: ``lddw`` BPF_PSEUDO_FUNC values embed it.
    number: int = 0
    helpers: frozenset[int] = frozenset()
    #: Helpers (ids) the runtime implements with pybpf's own Python functions, which native
    #: code may therefore do itself (:mod:`pybpf.jit.lower_maps`, :mod:`.lower_helpers`).
    native_maps: frozenset[int] = frozenset()
    #: The maps the program names with ``lddw``, by address (their layout is baked in).
    maps: tuple[lower_maps.MapInfo, ...] = ()
    #: Compact code (fewer blocks, for the light compile tier of large programs).
    compact: bool = False
    #: Verified code: per function (start pc), the lowest frame offset anything but its own
    #: ``r10 + k`` accesses may reach (the verifier's). Below it the frame is private to the
    #: function (:class:`~pybpf.jit.frame.Frame`). None, or a function absent: not known
    #: (nothing is private).
    stack_exposed: tuple[tuple[int, int], ...] | None = None
    #: Verified code: the pcs of packet context loads, packet accesses and packet compares
    #: (:mod:`pybpf.jit.lower_packet`).
    packet: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] = ((), (), ())
    #: Verified code: the pcs of the loads and stores through the context pointer
    #: (:mod:`pybpf.jit.lower_context`).
    context_accesses: tuple[int, ...] = ()


def _helper_name(helper_id: int) -> str:
    try:
        from pybpf.platform.helper_ids import helper_name

        return helper_name(helper_id)
    except (ImportError, KeyError, ValueError):
        return "unknown helper"


def uses_function_pointers(insns: Sequence[Instruction]) -> bool:
    """True when the program takes function addresses (``lddw`` BPF_PSEUDO_FUNC)."""
    return any(is_pseudo_func(insn) for insn in insns if insn.code == OP_LDDW)


def translate(functions: Sequence[Function], options: Options, *, name: str = "bpf",
              function_pointers: bool = False) -> ModuleText:
    """The IR module of a program split into ``functions`` (entry first)."""
    module = ModuleText(name)
    stubs = RuntimeStubs(module)
    slow = SlowPaths(module, stubs)
    symbols = {fn.start: function_symbol(fn.start) for fn in functions}
    for fn in functions:
        _FunctionLowering(fn, module, symbols, stubs, slow, options, function_pointers).lower()
    return module


class _FunctionLowering:
    """Emits the body of one function (see the module docstring)."""

    def __init__(self, fn: Function, module: ModuleText, symbols: dict[int, str],
                 stubs: RuntimeStubs, slow: SlowPaths, options: Options,
                 function_pointers: bool) -> None:
        self.fn = fn
        self.module = module
        self.symbols = symbols
        self.opt = options
        self.function_pointers = function_pointers
        uses_may_goto = any(insn.code == (InsnClass.JMP | JumpOp.JCOND)
                            for block in fn.blocks for _, insn in block.insns)
        self.text = module.add(FunctionText(symbols[fn.start], "i64", PROGRAM_PARAMS))
        self.maps = {m.address: m for m in options.maps}
        self.known: dict[int, lower_maps.Known] = {}
        direct = not options.checked and not options.compact
        escapes = provenance.frame_escapes(fn)
        self.slots = provenance.spill_slots(fn) if direct else frozenset()
        self.escapes = escapes
        bound = -MAX_BPF_STACK
        if direct and escapes and options.stack_exposed is not None:
            bound = provenance.private_bound(fn, dict(options.stack_exposed).get(fn.start))
        #: Spill slots something other than ``r10 + k`` may reach (the rest are private).
        self.exposed = frozenset(s for s in self.slots if s - provenance.SLOT0 + 8 > bound)
        #: Packet context loads, accesses and compares (direct addressing only).
        loads, accesses, compares = options.packet if direct else ((), (), ())
        self.pkt_loads = frozenset(loads)
        self.pkt_accesses = frozenset(accesses)
        self.pkt_compares = frozenset(compares)
        #: Loads and stores through the context pointer (:mod:`.lower_context`).
        self.ctx_accesses = frozenset(options.context_accesses if direct else ())
        at_host = self.pkt_accesses | self.pkt_compares
        self.f = Frame(self.text, module, stubs, slow, count_budget=options.count_budget,
                       uses_may_goto=uses_may_goto, private_stack=not escapes,
                       compact=options.compact, direct=self.slots if direct else None,
                       private_below=MAX_BPF_STACK + bound,
                       packet=any(pc in at_host for block in fn.blocks for pc, _ in block.insns))
        #: Inline array lookups: call pc -> the values their r0 points into (or NULL).
        self.lookups = lower_maps.inline_lookups(
            fn, self.maps, options.native_maps & options.helpers) if direct else {}
        #: What is known of locations at each block start (direct addressing only).
        self.facts_at = provenance.block_facts(fn, self.slots, escapes, self.lookups,
                                               self.exposed, self.pkt_accesses) if direct else {}
        #: Verified code with a budget: a fast and a precise copy (:mod:`pybpf.jit.budget`).
        self.plan = BudgetPlan.of(fn) if direct and options.count_budget else None
        self.fast = False
        self.block_start = fn.start
        self.tests: list[tuple[str, int]] = []

    def label(self, start: int) -> str:
        """The label of block ``start`` in the copy being written (see :mod:`.budget`)."""
        return f"pf{start}" if self.fast else f"pc{start}"

    def target(self, start: int) -> str:
        """Where a jump of the block being written to block ``start`` goes: in the fast
        copy, through a budget test when the edge has one."""
        if not self.fast:
            return f"pc{start}"
        assert self.plan is not None
        if not self.plan.tested(self.block_start, start):
            return f"pf{start}"
        label = self.text.new_block(f"budget{start}_")
        self.tests.append((label, start))
        return label

    def lower(self) -> None:
        f = self.f
        fn = self.text
        if self.plan is None:
            f.finish_entry(self.label(self.fn.start))
        else:
            entry = fn.new_block("lookahead")
            f.finish_entry(entry)
            self.budget_test(entry, self.fn.start)
        for fast in ((True, False) if self.plan is not None else (False,)):
            self.fast = fast
            for block in self.fn.blocks:
                self.block_start = block.start
                fn.start(self.label(block.start))
                self._block(block)
                for label, start in self.tests:
                    self.budget_test(label, start)
                self.tests.clear()
        f.finish()

    def budget_test(self, label: str, start: int) -> None:
        """Block ``label``: on to the fast copy of block ``start`` when the budget covers
        its look-ahead, else to its precise copy."""
        assert self.plan is not None and self.f.budget is not None
        fn = self.text
        fn.start(label)
        left = fn.load("i64", self.f.budget)
        enough = fn.op(f"icmp sge i64 {left}, {self.plan.lookahead[start]}")
        fn.cbr(enough, f"pf{start}", f"pc{start}", LIKELY)

    # -- structure ---------------------------------------------------------------------------
    def _block(self, block: BasicBlock) -> None:
        f = self.f
        fn = self.text
        f.begin_block()
        f.charge(len(block.insns), block.start, tested=not self.fast)
        self.known = {}
        f.facts = self._facts(block.start)
        for pc, insn in block.insns:
            if fn.terminated:  # a fault ended the block: the rest is unreachable,
                fn.start(fn.new_block("dead"))  # but still translated
            self._insn(pc, insn)
            lower_maps.track(self.known, insn)
            if f.shadows is not None:
                f.facts.step(insn, f.shadows, self.lookups.get(pc),
                             packet=pc in self.pkt_accesses)
                if (insn.code & 0x07) == InsnClass.ALU64 and insn.op in (ALUOp.ADD, ALUOp.SUB) \
                        and insn.dst in f.facts.sure:  # pointer arithmetic on a pointer
                    lower_direct.pointer_facts(f, f.get(insn.dst))
        if fn.terminated:
            return
        last_pc, last = block.insns[-1]
        nxt = last_pc + last.slots
        if nxt >= self.fn.end:
            f.fault(last_pc, Fault.FELL_OFF)
        else:
            f.flush()
            fn.br(self.target(nxt))

    def _reg(self, pc: int, reg: int) -> int:
        if reg > 10:
            raise JITError(f"pc {pc}: register r{reg} does not exist")
        return reg

    # -- instructions --------------------------------------------------------------------------
    def _insn(self, pc: int, insn: Instruction) -> None:
        f = self.f
        cls = insn.code & 0x07
        dst = self._reg(pc, insn.dst)
        if dst == 10 and cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LDX, InsnClass.LD):
            f.fault(pc, Fault.FRAME_POINTER_WRITE)
            return
        checked = self.opt.checked
        match cls:
            case InsnClass.ALU64 | InsnClass.ALU:
                src = f.get(self._reg(pc, insn.src)) if insn.source == Source.X else None
                f.set(dst, lower_alu.alu(self.text, self.module, insn, f.get(dst), src))
            case InsnClass.JMP | InsnClass.JMP32:
                self._jump(pc, insn)
            case InsnClass.LDX:
                n = SIZE_BYTES[Size(insn.size)]
                signed = insn.mode == Mode.MEMSX
                src_reg = self._reg(pc, insn.src)
                if pc in self.pkt_accesses:
                    f.set(dst, lower_packet.load(f, src_reg, insn.off, n, signed))
                elif pc in self.ctx_accesses and not signed:
                    f.set(dst, lower_context.load(
                        f, src_reg, insn.off, n,
                        lambda addr: lower_mem.slow_load(f, addr, n, False, pc)))
                else:
                    f.set(dst, lower_mem.load(f, src_reg, insn.off, n, signed, pc,
                                              checked=checked))
                if pc in self.pkt_loads:
                    lower_packet.set_delta(f, pc, f.get(dst))
            case InsnClass.ST:
                n = SIZE_BYTES[Size(insn.size)]
                if pc in self.pkt_accesses:
                    lower_packet.store(f, dst, insn.off, n, i64(insn.imm))
                elif pc in self.ctx_accesses:
                    self._context_store(pc, dst, insn.off, n, i64(insn.imm))
                else:
                    lower_mem.store(f, dst, insn.off, n, i64(insn.imm), pc, checked=checked)
            case InsnClass.STX:
                n = SIZE_BYTES[Size(insn.size)]
                src_reg = self._reg(pc, insn.src)
                if insn.mode == Mode.ATOMIC:
                    lower_mem.atomic(f, insn, n, pc, checked=checked)
                elif pc in self.pkt_accesses:
                    lower_packet.store(f, dst, insn.off, n, f.get(src_reg))
                elif pc in self.ctx_accesses:
                    self._context_store(pc, dst, insn.off, n, f.get(src_reg))
                else:
                    lower_mem.store(f, dst, insn.off, n, f.get(src_reg), pc, checked=checked)
            case InsnClass.LD:
                self._ld(pc, insn)
            case _:  # pragma: no cover - the class is three bits
                raise AssertionError(cls)

    def _context_store(self, pc: int, base: int, off: int, n: int, value: str) -> None:
        f = self.f
        lower_context.store(f, base, off, n, value,
                            lambda addr: lower_mem.slow_store(f, addr, n, value, pc))

    def _facts(self, start: int) -> provenance.Facts:
        """The facts at the start of block ``start`` (all unknown where never reached)."""
        found = self.facts_at.get(start)
        if found is None:
            every = frozenset({*range(10), *self.slots})
            found = (every, every, frozenset())
        return provenance.Facts.thawed(self.slots, self.escapes, found, self.exposed)

    def _ld(self, pc: int, insn: Instruction) -> None:
        f = self.f
        if insn.is_wide:
            if insn.src == PseudoSrc.IMM64:
                f.set(insn.dst, i64(insn.imm64))
            elif insn.src == PseudoSrc.FUNC:
                f.set(insn.dst, i64(code_address(self.opt.number, pc + insn.imm + 1)))
            else:
                raise NotSupportedError(
                    f"pc {pc}: lddw with pseudo source {PseudoSrc(insn.src).name} must be "
                    "relocated by the loader before it can run"
                )
            return
        n = SIZE_BYTES[Size(insn.size)]
        if insn.mode == Mode.ABS:
            offset = i64(insn.imm)
        else:
            offset = self.text.op(f"add i64 {f.get(self._reg(pc, insn.src))}, {i64(insn.imm)}")
        f.set(0, lower_packet.ld_abs(f, pc, offset, n))

    # -- jumps -----------------------------------------------------------------------------------
    def _jump(self, pc: int, insn: Instruction) -> None:
        f = self.f
        fn = self.text
        op = insn.op
        if op == JumpOp.EXIT:
            f.sync_budget()
            fn.ret(f.get(0))
            return
        if op == JumpOp.CALL:
            self._call(pc, insn)
            return
        target = jump_target(pc, insn)
        assert target is not None
        if op == JumpOp.JA:
            f.flush()
            fn.br(self.target(target))
            return
        nxt = self.target(pc + 1)
        if op == JumpOp.JCOND:  # may_goto: fall through while the frame's counter lasts
            assert f.may_goto is not None
            left = fn.load("i64", f.may_goto)
            more = fn.op(f"icmp ne i64 {left}, 0")
            f.flush()
            go = fn.new_block("may_go")
            fn.cbr(more, go, self.target(target), LIKELY)
            fn.start(go)
            fn.store("i64", fn.op(f"sub i64 {left}, 1"), f.may_goto)
            fn.br(nxt)
            return
        src = f.get(self._reg(pc, insn.src)) if insn.source == Source.X else None
        if pc in self.pkt_compares and src is not None:
            cond = lower_packet.compare(f, insn, f.get(insn.dst), src)
        else:
            cond = lower_alu.condition(fn, insn, f.get(insn.dst), src)
        f.flush()
        fn.cbr(cond, self.target(target), nxt)

    # -- calls -----------------------------------------------------------------------------------
    def _args(self) -> list[str]:
        return [self.f.get(r) for r in range(1, 6)]

    def _call(self, pc: int, insn: Instruction) -> None:
        f = self.f
        if insn.source == Source.X:
            self._callx(pc, insn)
            return
        if insn.src == CallSrc.PSEUDO_CALL:
            target = pc + insn.imm + 1
            f.set(0, self._local_call(pc, self.symbols[target]))
            return
        if insn.src == CallSrc.KFUNC_CALL:
            raise NotSupportedError(
                f"pc {pc}: kfunc calls (BTF id {insn.imm}) are not supported by the JIT")
        if insn.imm == BPF_FUNC_TAIL_CALL and BPF_FUNC_TAIL_CALL not in self.opt.helpers:
            self._tail_call(pc)
            return
        if insn.imm not in self.opt.helpers:
            raise NotSupportedError(
                f"pc {pc}: helper #{insn.imm} ({_helper_name(insn.imm)}) is not implemented "
                "by this runtime"
            )
        helper = insn.imm
        if helper == lower_loop.BPF_LOOP and helper in self.opt.native_maps \
                and self.function_pointers:
            regs = self._args()
            callees = [(code_address(self.opt.number, start), symbol)
                       for start, symbol in self.symbols.items()]
            f.set(0, lower_loop.lower_bpf_loop(f, pc, regs, callees,
                                               lambda: self._python_helper(pc, helper, regs)))
            return
        if helper in self.opt.native_maps and helper in lower_maps.MAP_HELPERS:
            f.set(0, lower_maps.lower_map_call(f, pc, helper, self.known, self.maps))
            return
        if helper in self.opt.native_maps and helper in lower_helpers.NATIVE:
            regs = self._args()  # before the branch to the Python fallback
            f.set(0, lower_helpers.lower_helper(f, helper, regs,
                                                lambda: self._python_helper(pc, helper, regs)))
            return
        f.set(0, self._python_helper(pc, helper))

    def _python_helper(self, pc: int, helper: int, regs: list[str] | None = None) -> str:
        """r0 of helper ``helper`` called in Python through ``rt``."""
        f = self.f
        f.sync_budget()
        r0 = f.runtime(RuntimeOp.HELPER, pc, helper, *(regs if regs is not None else self._args()))
        f.reload_after_call()
        return r0

    def _local_call(self, pc: int, callee: str, regs: list[str] | None = None) -> str:
        """A call to a function of this program in the next frame (depth checked); ``regs``
        are r1..r5 when read before a branch."""
        f = self.f
        fn = self.text
        regs = regs if regs is not None else self._args()
        too_deep = fn.new_block("too_deep")
        go = fn.new_block("call")
        fn.cbr(fn.op(f"icmp uge i64 {f.depth}, {MAX_CALL_FRAMES - 1}"), too_deep, go, UNLIKELY)
        fn.start(too_deep)
        f.fault(pc, Fault.TOO_DEEP)
        fn.start(go)
        f.sync_budget()
        args = [("ptr", f.env), *[("i64", a) for a in regs],
                ("i64", fn.op(f"add i64 {f.depth}, 1"))]
        r0 = fn.call("i64", f"@{callee}", args)
        f.reload_after_call()
        return r0

    def _callx(self, pc: int, insn: Instruction) -> None:
        f = self.f
        fn = self.text
        target = f.get(self._reg(pc, insn.dst))
        if not self.function_pointers:
            f.sync_budget()
            f.set(0, f.runtime(RuntimeOp.CALLX, pc, target, *self._args()))
            f.reload_after_call()
            return
        regs = self._args()  # before the switch: the cases must not load registers
        done = fn.new_block("callx_done")
        other = fn.new_block("callx_other")
        cases = [(i64(code_address(self.opt.number, start)), fn.new_block(f"callx_{start}_"))
                 for start in self.symbols]
        fn.switch("i64", target, other, cases)
        results: list[tuple[str, str]] = []
        for (_, label), symbol in zip(cases, self.symbols.values(), strict=True):
            fn.start(label)
            results.append((self._local_call(pc, symbol, regs), fn.block))
            fn.br(done)
        fn.start(other)
        f.sync_budget()
        results.append((f.runtime(RuntimeOp.CALLX, pc, target, *regs), fn.block))
        f.reload_after_call()
        fn.br(done)
        fn.start(done)
        f.set(0, fn.phi("i64", results))

    def _tail_call(self, pc: int) -> None:
        """``bpf_tail_call(ctx, prog_array, index)``: on success never returns here."""
        f = self.f
        fn = self.text
        r1, r2, r3 = f.get(1), f.get(2), f.get(3)
        f.sync_budget()
        how = f.runtime(RuntimeOp.TAIL_CALL, pc, r1, r2, r3)
        native = fn.new_block("tail_native")
        foreign = fn.new_block("tail_done")
        cont = fn.new_block("tail_fall_through")
        fn.switch("i64", how, cont, [(str(int(TailCall.NATIVE)), native),
                                     (str(int(TailCall.DONE)), foreign)])
        fn.start(native)
        target = fn.load("ptr", f.env_ptr("tail_fn"), tbaa=TBAA_TABLE)
        args = [("ptr", f.env), ("i64", r1), *[("i64", "0")] * 4, ("i64", f.depth)]
        fn.ret(fn.op(f"tail call i64 {target}({', '.join(f'{t} {v}' for t, v in args)})"))
        fn.start(foreign)
        fn.ret(f.load_env("tail_r0"))
        fn.start(cont)
