"""eBPF program -> one LLVM IR module: a function per eBPF sub-program, a block per basic block.

Mirrors the interpreter's translation (:mod:`pybpf.interp.codegen`) construct by construct,
so both backends run the same semantics: the same basic blocks (:func:`~pybpf.program.cfg.
split_functions`), the instruction budget charged per block at its start (``len(block)``
logical instructions, ``lddw`` counting once; only when the program is compiled with
``count_budget``), ``may_goto`` with ``BPF_MAX_LOOPS`` per call frame, bpf-to-bpf calls as
direct LLVM calls with a call-depth check (8 frames), ``callx`` (direct to this program's
functions, through Python otherwise), helpers and tail calls through ``rt`` (:mod:`pybpf.jit.
abi`), and the same load-time errors (:class:`~pybpf.errors.NotSupportedError` for helpers
the runtime lacks, kfuncs, arenas and unrelocated ``lddw``) and run-time faults (writes to
r10, falling off a function, call depth, budget).

The module only refers to ``env`` and constants: no host address is baked into the code,
which is what makes it cacheable on disk (:mod:`pybpf.jit.cache`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llvmlite import ir  # type: ignore[import-untyped]

from pybpf.errors import JITError, NotSupportedError
from pybpf.interp.machine import code_address
from pybpf.isa import (
    SIZE_BYTES,
    CallSrc,
    InsnClass,
    Instruction,
    JumpOp,
    Mode,
    PseudoSrc,
    Size,
    Source,
)
from pybpf.jit import lower_alu, lower_mem
from pybpf.jit.abi import Fault, RuntimeOp, TailCall, function_symbol
from pybpf.jit.frame import PROGRAM_FN_TYPE, Frame, RuntimeStubs
from pybpf.jit.lower_alu import I64, const64
from pybpf.program.cfg import BasicBlock, Function, is_pseudo_func, jump_target
from pybpf.runtime.execstate import MAX_CALL_FRAMES

BPF_FUNC_TAIL_CALL = 12


@dataclass(frozen=True, slots=True)
class Options:
    """What changes the generated code (all of it is part of the compile-cache key)."""

    checked: bool = True
    count_budget: bool = True
    #: Load number of the program in its runtime: ``lddw`` BPF_PSEUDO_FUNC values embed it.
    number: int = 0
    helpers: frozenset[int] = frozenset()


def _helper_name(helper_id: int) -> str:
    try:
        from pybpf.platform.helper_ids import helper_name

        return helper_name(helper_id)
    except (ImportError, KeyError, ValueError):
        return "unknown helper"


def uses_function_pointers(insns: Sequence[Instruction]) -> bool:
    """True when the program takes function addresses (``lddw`` BPF_PSEUDO_FUNC)."""
    return any(is_pseudo_func(insn) for insn in insns)


def frame_escapes(fn: Function) -> bool:
    """True when a pointer to the frame may exist besides r10 itself: r10 is the source of
    an ALU operation (``r1 = r10``, ``r1 += r10``), is stored to memory, or is the base of an
    atomic operation (atomics address memory through the region table)."""
    for block in fn.blocks:
        for _, insn in block.insns:
            cls = insn.code & 0x07
            if cls in (InsnClass.ALU, InsnClass.ALU64) and insn.source == Source.X and insn.src == 10:
                return True
            if cls == InsnClass.STX and (insn.src == 10 or
                                         (insn.mode == Mode.ATOMIC and insn.dst == 10)):
                return True
    return False


def translate(functions: Sequence[Function], options: Options, *, name: str = "bpf",
              function_pointers: bool = False) -> ir.Module:
    """The IR module of a program split into ``functions`` (entry first)."""
    module = ir.Module(name=name)
    stubs = RuntimeStubs(module)
    llvm_funcs = {}
    for fn in functions:
        func = ir.Function(module, PROGRAM_FN_TYPE, function_symbol(fn.start))
        llvm_funcs[fn.start] = func
    for fn in functions:
        _FunctionLowering(fn, llvm_funcs, stubs, options, function_pointers).lower()
    return module


class _FunctionLowering:
    """Emits the body of one function (see the module docstring)."""

    def __init__(self, fn: Function, funcs: dict[int, ir.Function], stubs: RuntimeStubs,
                 options: Options, function_pointers: bool) -> None:
        self.fn = fn
        self.funcs = funcs
        self.opt = options
        self.function_pointers = function_pointers
        uses_may_goto = any(insn.code == (InsnClass.JMP | JumpOp.JCOND)
                            for block in fn.blocks for _, insn in block.insns)
        self.f = Frame(funcs[fn.start], stubs, count_budget=options.count_budget,
                       uses_may_goto=uses_may_goto, private_stack=not frame_escapes(fn))
        self.blocks = {blk.start: self.f.func.append_basic_block(f"pc{blk.start}")
                       for blk in fn.blocks}

    def lower(self) -> None:
        f = self.f
        f.b.branch(self.blocks[self.fn.start])
        for block in self.fn.blocks:
            f.b.position_at_end(self.blocks[block.start])
            self._block(block)

    # -- structure ---------------------------------------------------------------------------
    def _block(self, block: BasicBlock) -> None:
        f = self.f
        b = f.b
        f.charge(len(block.insns), block.start)
        for pc, insn in block.insns:
            if b.block.is_terminated:  # a fault ended the block: the rest is unreachable,
                b.position_at_end(f.func.append_basic_block("dead"))  # but still translated
            self._insn(pc, insn)
        if b.block.is_terminated:
            return
        last_pc, last = block.insns[-1]
        nxt = last_pc + last.slots
        if nxt >= self.fn.end:
            f.fault(last_pc, Fault.FELL_OFF)
        else:
            b.branch(self.blocks[nxt])

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
                f.set(dst, lower_alu.alu(f.b, insn, f.get(dst), src))
            case InsnClass.JMP | InsnClass.JMP32:
                self._jump(pc, insn)
            case InsnClass.LDX:
                n = SIZE_BYTES[Size(insn.size)]
                signed = insn.mode == Mode.MEMSX
                f.set(dst, lower_mem.load(f, self._reg(pc, insn.src), insn.off, n, signed, pc,
                                          checked=checked))
            case InsnClass.ST:
                n = SIZE_BYTES[Size(insn.size)]
                lower_mem.store(f, dst, insn.off, n, const64(insn.imm), pc, checked=checked)
            case InsnClass.STX:
                n = SIZE_BYTES[Size(insn.size)]
                src_reg = self._reg(pc, insn.src)
                if insn.mode == Mode.ATOMIC:
                    lower_mem.atomic(f, insn, n, pc, checked=checked)
                else:
                    lower_mem.store(f, dst, insn.off, n, f.get(src_reg), pc, checked=checked)
            case InsnClass.LD:
                self._ld(pc, insn)
            case _:  # pragma: no cover - the class is three bits
                raise AssertionError(cls)

    def _ld(self, pc: int, insn: Instruction) -> None:
        f = self.f
        if insn.is_wide:
            if insn.src == PseudoSrc.IMM64:
                f.set(insn.dst, const64(insn.imm64))
            elif insn.src == PseudoSrc.FUNC:
                f.set(insn.dst, const64(code_address(self.opt.number, pc + insn.imm + 1)))
            else:
                raise NotSupportedError(
                    f"pc {pc}: lddw with pseudo source {PseudoSrc(insn.src).name} must be "
                    "relocated by the loader before it can run"
                )
            return
        n = SIZE_BYTES[Size(insn.size)]
        if insn.mode == Mode.ABS:
            offset: ir.Value = const64(insn.imm)
        else:
            offset = f.b.add(f.get(self._reg(pc, insn.src)), const64(insn.imm))
        f.set(0, f.runtime(RuntimeOp.LD_ABS, pc, f.get(6), offset, n))

    # -- jumps -----------------------------------------------------------------------------------
    def _jump(self, pc: int, insn: Instruction) -> None:
        f = self.f
        b = f.b
        op = insn.op
        if op == JumpOp.EXIT:
            f.sync_budget()
            b.ret(f.get(0))
            return
        if op == JumpOp.CALL:
            self._call(pc, insn)
            return
        target = jump_target(pc, insn)
        assert target is not None
        if op == JumpOp.JA:
            b.branch(self.blocks[target])
            return
        nxt = self.blocks[pc + 1]
        if op == JumpOp.JCOND:  # may_goto: fall through while the frame's counter lasts
            assert f.may_goto is not None
            left = b.load(f.may_goto, typ=I64)
            more = b.icmp_unsigned("!=", left, const64(0))
            b.store(b.select(more, b.sub(left, const64(1)), left), f.may_goto)
            b.cbranch(more, nxt, self.blocks[target])
            return
        src = f.get(self._reg(pc, insn.src)) if insn.source == Source.X else None
        b.cbranch(lower_alu.condition(b, insn, f.get(insn.dst), src), self.blocks[target], nxt)

    # -- calls -----------------------------------------------------------------------------------
    def _args(self) -> list[ir.Value]:
        return [self.f.get(r) for r in range(1, 6)]

    def _call(self, pc: int, insn: Instruction) -> None:
        f = self.f
        if insn.source == Source.X:
            self._callx(pc, insn)
            return
        if insn.src == CallSrc.PSEUDO_CALL:
            target = pc + insn.imm + 1
            f.set(0, self._local_call(pc, self.funcs[target]))
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
        f.sync_budget()
        f.set(0, f.runtime(RuntimeOp.HELPER, pc, insn.imm, *self._args()))
        f.reload_budget()

    def _local_call(self, pc: int, callee: ir.Function) -> ir.Value:
        """A call to a function of this program in the next frame (depth checked)."""
        f = self.f
        b = f.b
        too_deep = f.func.append_basic_block("too_deep")
        go = f.func.append_basic_block("call")
        b.cbranch(b.icmp_unsigned(">=", f.depth, const64(MAX_CALL_FRAMES - 1)), too_deep, go)
        b.position_at_end(too_deep)
        f.fault(pc, Fault.TOO_DEEP)
        b.position_at_end(go)
        f.sync_budget()
        r0 = b.call(callee, [f.env, *self._args(), b.add(f.depth, const64(1))])
        f.check_status()
        f.reload_budget()
        return r0

    def _callx(self, pc: int, insn: Instruction) -> None:
        f = self.f
        b = f.b
        target = f.get(self._reg(pc, insn.dst))
        if not self.function_pointers:
            f.sync_budget()
            f.set(0, f.runtime(RuntimeOp.CALLX, pc, target, *self._args()))
            f.reload_budget()
            return
        done = f.func.append_basic_block("callx_done")
        other = f.func.append_basic_block("callx_other")
        switch = b.switch(target, other)
        results: list[tuple[ir.Value, ir.Block]] = []
        for start, callee in self.funcs.items():
            case = f.func.append_basic_block(f"callx_{start}")
            switch.add_case(const64(code_address(self.opt.number, start)), case)
            b.position_at_end(case)
            results.append((self._local_call(pc, callee), b.block))
            b.branch(done)
        b.position_at_end(other)
        f.sync_budget()
        results.append((f.runtime(RuntimeOp.CALLX, pc, target, *self._args()), b.block))
        f.reload_budget()
        b.branch(done)
        b.position_at_end(done)
        phi = b.phi(I64)
        for value, block in results:
            phi.add_incoming(value, block)
        f.set(0, phi)

    def _tail_call(self, pc: int) -> None:
        """``bpf_tail_call(ctx, prog_array, index)``: on success never returns here."""
        f = self.f
        b = f.b
        r1, r2, r3 = f.get(1), f.get(2), f.get(3)
        f.sync_budget()
        how = f.runtime(RuntimeOp.TAIL_CALL, pc, r1, r2, r3)
        native = f.func.append_basic_block("tail_native")
        foreign = f.func.append_basic_block("tail_done")
        cont = f.func.append_basic_block("tail_fall_through")
        switch = b.switch(how, cont)
        switch.add_case(const64(TailCall.NATIVE), native)
        switch.add_case(const64(TailCall.DONE), foreign)
        b.position_at_end(native)
        target = b.inttoptr(f.load_env("tail_fn"), PROGRAM_FN_TYPE.as_pointer())
        zero = const64(0)
        b.ret(b.call(target, [f.env, r1, zero, zero, zero, zero, f.depth], tail=True))
        b.position_at_end(foreign)
        b.ret(f.load_env("tail_r0"))
        b.position_at_end(cont)
