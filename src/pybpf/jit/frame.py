"""One compiled eBPF function under construction: its LLVM function, registers and exits.

A :class:`Frame` owns what every instruction's lowering needs: the ``IRBuilder``, the
``env``/``r1..r5``/``depth`` arguments (:mod:`pybpf.jit.abi`), one ``alloca`` per register
(promoted to SSA values by LLVM's ``mem2reg``), the local instruction budget, the host
address of this call frame's stack and its virtual frame pointer, and the shared *unwind*
block that returns at once when a callback has set ``env->status``.

Mirrors the prologue the interpreter generates for ``F<pc>`` (:mod:`pybpf.interp.codegen`):
the frame's 512-byte stack is zeroed, r0 and r6..r9 start at 0, r10 is the frame pointer, the
budget is read from the shared state and written back before every call and at ``exit``.

The stack is the frame's region in the execution state (:attr:`ExecState.stacks`, so pointers
to it work everywhere), except in functions whose frame pointer never escapes (r10 is only
ever the base of loads and stores with constant offsets; see
:func:`pybpf.jit.translate.frame_escapes`): there nothing but those accesses can reach the
frame, and it becomes a private ``alloca`` that LLVM promotes to registers, as a C compiler
does with spills. Its address is still the frame's virtual address, so out-of-frame offsets
fault exactly as in the interpreter. (Not modelled: a program that forges a pointer to such a
frame from a constant reaches the execution state's copy, not the private one.)

Calls into Python go through the module's :class:`RuntimeStubs`, cold out-of-line functions,
so hot code carries only a direct call with the arguments it needs.
"""

from __future__ import annotations

from llvmlite import ir  # type: ignore[import-untyped]

from pybpf.jit.abi import ENV_FIELDS, Fault, NativeEnv, RuntimeOp
from pybpf.jit.lower_alu import I8, I32, I64, const64
from pybpf.runtime.execstate import BPF_MAX_LOOPS, MAX_BPF_STACK

PTR = ir.PointerType()
#: ``u64 F(env, r1..r5, depth)``.
PROGRAM_FN_TYPE = ir.FunctionType(I64, [PTR, I64, I64, I64, I64, I64, I64])
#: ``u64 rt(env, op, pc, depth, a1..a6)``.
RUNTIME_FN_TYPE = ir.FunctionType(I64, [PTR, *([I64] * 9)])


def _env_type() -> ir.LiteralStructType:
    """The IR type of :class:`~pybpf.jit.abi.NativeEnv` (all 64-bit fields and arrays)."""
    members: list[ir.Type] = []
    for field in NativeEnv._fields_:
        length = getattr(field[1], "_length_", None)
        members.append(ir.ArrayType(I64, length) if length else I64)
    return ir.LiteralStructType(members)


ENV_TYPE = _env_type()


class RuntimeStubs:
    """The module's cold, out-of-line calls of ``env->rt``, one per argument count:
    ``bpf_rt<k>(env, depth, op | pc << 8, a1..ak)``. Call sites in hot code pass only the
    arguments they use, which keeps the generated code (and LLVM's time) small."""

    def __init__(self, module: ir.Module) -> None:
        self.module = module
        self._stubs: dict[int, ir.Function] = {}

    def get(self, arity: int) -> ir.Function:
        stub = self._stubs.get(arity)
        if stub is None:
            stub = self._stubs[arity] = self._build(arity)
        return stub

    def _build(self, arity: int) -> ir.Function:
        ftype = ir.FunctionType(I64, [PTR, I64, I64, *([I64] * arity)])
        stub = ir.Function(self.module, ftype, f"bpf_rt{arity}")
        stub.linkage = "internal"
        stub.attributes.add("noinline")
        stub.attributes.add("cold")
        b = ir.IRBuilder(stub.append_basic_block())
        env, depth, code, *args = stub.args
        slot = b.gep(env, [ir.Constant(I32, 0), ir.Constant(I32, ENV_FIELDS["rt"])],
                     inbounds=True, source_etype=ENV_TYPE)
        fn = b.inttoptr(b.load(slot, typ=I64), RUNTIME_FN_TYPE.as_pointer())
        op = b.and_(code, const64(0xFF))
        pc = b.lshr(code, const64(8))
        padding = [const64(0)] * (6 - arity)
        b.ret(b.call(fn, [env, op, pc, depth, *args, *padding]))
        return stub


#: ``struct RegionEntry { u64 host; u32 load_size; u32 store_size; }``.
REGION_ENTRY = ir.LiteralStructType([I64, I32, I32])
ENTRY_HOST, ENTRY_LOAD_SIZE, ENTRY_STORE_SIZE = 0, 1, 2


class Frame:
    """Builder state of one function; see the module docstring."""

    def __init__(self, func: ir.Function, stubs: RuntimeStubs, *, count_budget: bool,
                 uses_may_goto: bool, private_stack: bool = False) -> None:
        self.func = func
        self.stubs = stubs
        self.env, r1, r2, r3, r4, r5, self.depth = func.args
        entry = func.append_basic_block("entry")
        self.b = ir.IRBuilder(entry)
        b = self.b
        self.regs = [b.alloca(I64, name=f"r{i}") for i in range(10)]
        for i, value in enumerate([const64(0), r1, r2, r3, r4, r5, *[const64(0)] * 4]):
            b.store(value, self.regs[i])
        self.budget = b.alloca(I64, name="budget") if count_budget else None
        self.may_goto = b.alloca(I64, name="may_goto") if uses_may_goto else None
        if self.may_goto is not None:
            b.store(const64(BPF_MAX_LOOPS), self.may_goto)
        self.reload_budget()
        self.table = b.inttoptr(self.load_env("regions"), PTR, name="table")
        self.ntable = self.load_env("nregions")
        if private_stack:
            frame = b.alloca(ir.ArrayType(I8, MAX_BPF_STACK), name="stack")
            frame.align = 8
            frame.type = PTR  # an opaque pointer, as LLVM has it (llvmlite types it)
            self.stack = frame
        else:
            self.stack = b.inttoptr(self.load_env("stack_host", self.depth), PTR, name="stack")
        self.fp = self.load_env("frame_pointer", self.depth)
        memset = b.module.declare_intrinsic("llvm.memset", [PTR, I64])
        volatile = ir.Constant(ir.IntType(1), 0)
        b.call(memset, [self.stack, ir.Constant(I8, 0), const64(MAX_BPF_STACK), volatile])
        self.unwind = func.append_basic_block("unwind")
        ir.IRBuilder(self.unwind).ret(const64(0))
        self._exhausted: ir.PhiInstr | None = None

    # -- env access ------------------------------------------------------------------------
    def env_ptr(self, field: str, index: ir.Value | None = None) -> ir.Value:
        indices = [ir.Constant(I32, 0), ir.Constant(I32, ENV_FIELDS[field])]
        if index is not None:
            indices.append(index)
        return self.b.gep(self.env, indices, inbounds=True, source_etype=ENV_TYPE)

    def load_env(self, field: str, index: ir.Value | None = None) -> ir.Value:
        return self.b.load(self.env_ptr(field, index), typ=I64)

    # -- registers -------------------------------------------------------------------------
    def get(self, reg: int) -> ir.Value:
        if reg == 10:
            return self.fp
        return self.b.load(self.regs[reg], typ=I64)

    def set(self, reg: int, value: ir.Value) -> None:
        self.b.store(value, self.regs[reg])

    # -- budget ----------------------------------------------------------------------------
    def sync_budget(self) -> None:
        """Write the local budget back to ``env->budget`` (before calls and exit)."""
        if self.budget is not None:
            self.b.store(self.b.load(self.budget, typ=I64), self.env_ptr("budget"))

    def reload_budget(self) -> None:
        """Read ``env->budget`` into the local budget (on entry and after calls)."""
        if self.budget is not None:
            self.b.store(self.load_env("budget"), self.budget)

    # -- calls into Python -------------------------------------------------------------------
    def check_status(self) -> None:
        """Unwind when the callee set ``env->status``; continue in a new block otherwise."""
        b = self.b
        status = self.load_env("status")
        cont = self.func.append_basic_block()
        failed = b.icmp_unsigned("!=", status, const64(0))
        b.cbranch(failed, self.unwind, cont)
        b.position_at_end(cont)

    def runtime(self, op: RuntimeOp, pc: int | ir.Value, *args: ir.Value | int,
                check: bool = True) -> ir.Value:
        """Call ``rt(env, op, pc, depth, args...)`` (through the module's cold stub); unwind
        if it raised."""
        b = self.b
        values = [a if isinstance(a, ir.Value) else const64(a) for a in args]
        if isinstance(pc, ir.Value):
            code: ir.Value = b.or_(b.shl(pc, const64(8)), const64(op))
        else:
            code = const64(op | pc << 8)
        result = b.call(self.stubs.get(len(values)), [self.env, self.depth, code, *values])
        if check:
            self.check_status()
        return result

    def charge(self, count: int, pc: int) -> None:
        """Take ``count`` instructions from the budget; leave through the function's one
        out-of-budget exit (reporting ``pc``) when it runs out."""
        if self.budget is None:
            return
        b = self.b
        left = b.sub(b.load(self.budget, typ=I64), const64(count))
        b.store(left, self.budget)
        if self._exhausted is None:
            block = self.func.append_basic_block("out_of_budget")
            with b.goto_block(block):
                self._exhausted = b.phi(I64, name="exhausted_pc")
                self.runtime(RuntimeOp.FAULT, self._exhausted, Fault.OUT_OF_BUDGET, check=False)
                b.branch(self.unwind)
        body = self.func.append_basic_block()
        branch = b.cbranch(b.icmp_signed("<", left, const64(0)), self._exhausted.parent, body)
        branch.set_weights([1, 1 << 20])
        self._exhausted.add_incoming(const64(pc), b.block)
        b.position_at_end(body)

    def fault(self, pc: int, *args: ir.Value | int) -> None:
        """Report a fault (``rt`` stores it and sets the status) and unwind."""
        self.runtime(RuntimeOp.FAULT, pc, *args, check=False)
        self.b.branch(self.unwind)
