"""One compiled eBPF function under construction: its IR text, registers and exits.

A :class:`Frame` owns what every instruction's lowering needs: the function's
:class:`~pybpf.jit.irtext.FunctionText`, the ``%env``/``%a1..%a5``/``%depth`` parameters
(:mod:`pybpf.jit.abi`), one ``alloca`` per register (promoted to SSA values by LLVM's
SROA), the local instruction budget, the host address of this call frame's stack and its
virtual frame pointer, and the shared exit that reports running out of budget.

Mirrors the prologue the interpreter generates for ``F<pc>`` (:mod:`pybpf.interp.codegen`):
the frame's 512-byte stack is zeroed, r0 and r6..r9 start at 0, r10 is the frame pointer, the
budget is read from the shared state and written back before every call and at ``exit``.

The stack is the frame's region in the execution state (:attr:`ExecState.stacks`, so pointers
to it work everywhere), except in functions whose frame pointer never escapes (r10 is only
ever the base of loads and stores with constant offsets; see
:func:`pybpf.jit.provenance.frame_escapes`): there nothing but those accesses can reach the
frame, and it becomes a private ``alloca`` that LLVM promotes to registers, as a C compiler
does with spills. Its address is still the frame's virtual address, so out-of-frame offsets
fault exactly as in the interpreter. In verified code whose frame does escape, the part below
the lowest offset the verifier saw reached through anything but ``r10 + k`` (other stack
pointers, stack pointers passed to calls: :attr:`pybpf.verifier.api.VerificationResult.
stack_exposed`, :func:`pybpf.jit.provenance.private_bound`) is such a private ``alloca``
too, and only the rest of the execution state's frame is zeroed. (Not modelled: a program
that forges a pointer to such a frame from a constant reaches the execution state's copy,
not the private one.)

Calls into Python go through the module's :class:`RuntimeStubs`, cold out-of-line functions
(loads and stores that are not direct through :class:`pybpf.jit.slow_paths.SlowPaths`),
so hot code carries only a direct call with the arguments it needs; a callback that raised
never returns to it (the stub unwinds with ``longjmp``, see :mod:`pybpf.jit.abi`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pybpf.jit.abi import ENV_OFFSETS, ROW_OFFSETS, ROW_SIZE, Fault, NativeEnv, RuntimeOp
from pybpf.jit.irtext import TBAA_TABLE, UNLIKELY, FunctionText, ModuleText, i64
from pybpf.jit.provenance import UNKNOWN, Facts, Shadow, Shadows
from pybpf.runtime.execstate import BPF_MAX_LOOPS, MAX_BPF_STACK
from pybpf.runtime.memory import FIRST_REGION_ID, REGION_START, region_base

if TYPE_CHECKING:
    from pybpf.jit.slow_paths import SlowPaths

#: Parameters of every compiled eBPF function: ``u64 F(env, r1..r5, depth)``. ``env`` is
#: always a whole :class:`~pybpf.jit.abi.NativeEnv`: LLVM may load its fields anywhere (and
#: so hoist loads of fields no program store can change out of loops).
PROGRAM_PARAMS = [(f"ptr nonnull align 8 dereferenceable({ctypes.sizeof(NativeEnv)})", "env"),
                  ("i64", "a1"), ("i64", "a2"), ("i64", "a3"), ("i64", "a4"),
                  ("i64", "a5"), ("i64", "depth")]
#: The IR function type of a compiled eBPF function (for indirect calls).
PROGRAM_FN_TYPE = "i64 (ptr, i64, i64, i64, i64, i64, i64)"
MEMSET = "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)"
T = TypeVar("T")


class RuntimeStubs:
    """The module's cold, out-of-line calls of ``env->rt``, one per argument count:
    ``bpf_rt<k>(env, depth, op | pc << 8, a1..ak)``. Call sites in hot code pass only the
    arguments they use, which keeps the generated code (and LLVM's time) small. When the
    callback raised (``env->status`` set) the stub ``longjmp``s to ``env->jmp``."""

    def __init__(self, module: ModuleText) -> None:
        self.module = module
        self._stubs: set[int] = set()

    def get(self, arity: int) -> str:
        if arity not in self._stubs:
            self._stubs.add(arity)
            self.module.declare("longjmp", "declare void @longjmp(ptr, i32) noreturn")
            self.module.add(self._build(arity))
        return f"@bpf_rt{arity}"

    @staticmethod
    def _build(arity: int) -> FunctionText:
        params = [("ptr", "env"), ("i64", "depth"), ("i64", "code")]
        params += [("i64", f"x{i}") for i in range(1, arity + 1)]
        fn = FunctionText(f"bpf_rt{arity}", "i64", params, linkage="internal",
                          attrs="noinline cold")
        fn.start("entry")
        slot = fn.gep("%env", ENV_OFFSETS["rt"])
        target = fn.load("ptr", slot, tbaa=TBAA_TABLE)
        op = fn.op("and i64 %code, 255")
        pc = fn.op("lshr i64 %code, 8")
        args = [("ptr", "%env"), ("i64", op), ("i64", pc), ("i64", "%depth")]
        args += [("i64", f"%x{i}") for i in range(1, arity + 1)]
        args += [("i64", "0")] * (6 - arity)
        result = fn.call("i64", target, args)
        status = fn.load("i64", fn.gep("%env", ENV_OFFSETS["status"]), tbaa=TBAA_TABLE)
        fn.cbr(fn.op(f"icmp ne i64 {status}, 0"), "raised", "done", UNLIKELY)
        fn.start("raised")
        jmp = fn.load("ptr", fn.gep("%env", ENV_OFFSETS["jmp"]), tbaa=TBAA_TABLE)
        fn.emit(f"call void @longjmp(ptr {jmp}, i32 1) noreturn")
        fn.unreachable()
        fn.start("done")
        fn.ret(result)
        return fn


class Frame:
    """Builder state of one function; see the module docstring."""

    def __init__(self, fn: FunctionText, module: ModuleText, stubs: RuntimeStubs,
                 slow: SlowPaths, *, count_budget: bool, uses_may_goto: bool,
                 private_stack: bool = False, compact: bool = False,
                 direct: frozenset[int] | None = None, private_below: int = 0,
                 packet: bool = False) -> None:
        self.fn = fn
        #: Fewer blocks rather than the best code (see :mod:`pybpf.jit.lower_mem`).
        self.compact = compact
        self.module = module
        self.stubs = stubs
        self.slow = slow
        self.env = "%env"
        self.depth = "%depth"
        fn.start("entry")
        for i in range(10):
            fn.emit(f"%r{i} = alloca i64")
        args = ["0", "%a1", "%a2", "%a3", "%a4", "%a5", "0", "0", "0", "0"]
        for i, value in enumerate(args):
            fn.emit(f"store i64 {value}, ptr %r{i}")
        self.budget: str | None = None
        if count_budget:
            fn.emit("%budget = alloca i64")
            self.budget = "%budget"
        self.may_goto: str | None = None
        if uses_may_goto:
            fn.emit("%may_goto = alloca i64")
            fn.emit(f"store i64 {BPF_MAX_LOOPS}, ptr %may_goto")
            self.may_goto = "%may_goto"
        #: The packet's host offset (``env->pkt_base``) as a local, promoted to an SSA
        #: value, when the function makes packet accesses at host addresses.
        self.packet: str | None = None
        if packet:
            fn.emit("%pkt_base = alloca ptr")
            self.packet = "%pkt_base"
        self.reload_after_call()
        self.table = fn.load("ptr", fn.gep(self.env, ENV_OFFSETS["regions"]), tbaa=TBAA_TABLE)
        self.ntable = self.load_env("nregions")
        if private_stack:
            fn.emit(f"%stack = alloca [{MAX_BPF_STACK} x i8], align 8")
            self.stack = "%stack"
        else:
            self.stack = fn.load("ptr", self.env_ptr("stack_host", self.depth), tbaa=TBAA_TABLE)
        self.fp = self.load_env("frame_pointer", self.depth)
        module.declare("llvm.memset.p0.i64", MEMSET)
        # the frame is zeroed, but for its private part: nothing reaches the shared stack
        # there (a verified program's accesses through other pointers and by helpers are all
        # above it)
        shared = 0 if private_stack else max(0, private_below)
        fn.emit(f"call void @llvm.memset.p0.i64(ptr {fn.gep(self.stack, shared)}, i8 0, "
                f"i64 {MAX_BPF_STACK - shared}, i1 false)")
        #: The frame's private part (bytes ``[0, private_end)`` of the frame, accessed only
        #: through ``r10 + k``) when the rest escapes: an ``alloca`` of its own.
        self.private: str | None = None
        self.private_end = 0
        if not private_stack and private_below > 0:
            fn.emit(f"%private = alloca [{MAX_BPF_STACK} x i8], align 8")
            fn.emit(f"call void @llvm.memset.p0.i64(ptr %private, i8 0, i64 {private_below}, "
                    "i1 false)")
            self.private, self.private_end = "%private", private_below
        self.scratch = fn.gep(self.env, ENV_OFFSETS["scratch"])
        #: Registers' region shadows (verified code, :mod:`pybpf.jit.provenance`), or None.
        self.shadows: Shadows | None = None
        #: What is known of the registers before the instruction being lowered.
        self.facts = Facts.entry()
        if direct is not None:  # verified code: shadows of the registers and spill slots
            start = fn.op(f"sub i64 {MAX_BPF_STACK}, {self.fp}")
            self.shadows = Shadows(fn, fn.gep(self.stack, start), direct, self.constant_shadow)
        self._constants: dict[int, Shadow] = {}
        self._exhausted: list[tuple[str, str]] = []
        self.begin_block()

    def frame_slot(self, slot: int, n: int) -> str:
        """The host pointer of ``n`` bytes at ``slot`` (offset in the frame, from its
        start) of an ``r10 + k`` access."""
        if self.private is not None and slot + n <= self.private_end:
            return self.fn.gep(self.private, slot)
        return self.fn.gep(self.stack, slot)

    def finish_entry(self, first: str) -> None:
        """End the prologue with a jump to the first block."""
        self._entry_end = len(self.fn.lines)
        self.fn.br(first)

    def constant_shadow(self, value: int) -> Shadow:
        """The shadow of the constant ``value`` (an ``lddw`` of a map or global data
        address), looked up once per call in the prologue: the regions such constants point
        into (maps) stay mapped while the program runs. A constant that is no address gets
        a shadow that means nothing (it is never dereferenced). Its load flag is its own:
        read-only data (``.rodata``, frozen maps: ``const`` tables and configuration) is
        loaded in place; the store flag requires both."""
        w = (value - REGION_START) & 0xFFFFFFFFFFFFFFFF
        index = (w >> 32) - FIRST_REGION_ID
        if not 0 <= index < (1 << 32):
            return UNKNOWN
        found = self._constants.get(index)
        if found is None:
            found = self._constants[index] = self.in_entry(lambda: self._row_shadow(index))
        return found

    def _row_shadow(self, index: int) -> Shadow:
        """(host - start of region ``index``, directly loadable, directly storable) from
        the table."""
        fn = self.fn
        inside = fn.op(f"icmp ult i64 {index}, {self.ntable}")
        row = fn.op(f"getelementptr [{ROW_SIZE} x i8], ptr {self.table}, "
                    f"i64 {fn.op(f'select i1 {inside}, i64 {index}, i64 0')}")
        host = fn.load("ptr", fn.gep(row, ROW_OFFSETS["host"]), tbaa=TBAA_TABLE)
        flags = []
        for name in ("load_size", "store_size"):
            size = fn.load("i32", fn.gep(row, ROW_OFFSETS[name]), tbaa=TBAA_TABLE)
            flags.append(fn.op(f"icmp ne i32 {size}, 0"))
        loads = fn.op(f"and i1 {inside}, {flags[0]}")
        return (fn.gep(host, i64(-region_base(index + FIRST_REGION_ID))), loads,
                fn.op(f"and i1 {loads}, {flags[1]}"))

    def in_entry(self, emit: Callable[[], T]) -> T:
        """Run ``emit`` with its IR going to the end of the prologue (values computed once
        per call, dominating every block); returns what it returns."""
        fn = self.fn
        saved, fn.lines = fn.lines, []
        try:
            result = emit()
        finally:
            added, fn.lines = fn.lines, saved
        saved[self._entry_end:self._entry_end] = added
        self._entry_end += len(added)
        return result

    def finish(self) -> None:
        """Emit the out-of-budget exit (if any block can run out)."""
        if self._exhausted:
            fn = self.fn
            fn.start("out_of_budget")
            pc = fn.phi("i64", self._exhausted)
            self.runtime(RuntimeOp.FAULT, pc, Fault.OUT_OF_BUDGET)
            fn.unreachable()

    # -- env access ------------------------------------------------------------------------
    def env_ptr(self, field: str, index: str | None = None) -> str:
        ptr = self.fn.gep(self.env, ENV_OFFSETS[field])
        if index is not None:
            ptr = self.fn.op(f"getelementptr i64, ptr {ptr}, i64 {index}")
        return ptr

    def load_env(self, field: str, index: str | None = None) -> str:
        return self.fn.load("i64", self.env_ptr(field, index), tbaa=TBAA_TABLE)

    # -- registers -------------------------------------------------------------------------
    # Within one eBPF basic block registers are SSA values (every LLVM block the lowering
    # adds inside it is dominated by the values defined before); they go to their
    # ``alloca`` only when control leaves the block (:meth:`flush`), which keeps the IR
    # (and LLVM's work) small.
    def begin_block(self) -> None:
        """A new eBPF basic block: registers come from their allocas again."""
        self._cache: dict[int, str] = {}
        self._dirty: set[int] = set()
        if self.shadows is not None:
            self.shadows.begin_block()

    def get(self, reg: int) -> str:
        if reg == 10:
            return self.fp
        value = self._cache.get(reg)
        if value is None:
            value = self._cache[reg] = self.fn.load("i64", f"%r{reg}")
        return value

    def set(self, reg: int, value: str) -> None:
        self._cache[reg] = value
        self._dirty.add(reg)

    def flush(self) -> None:
        """Store the registers this block changed (before control leaves it)."""
        for reg in sorted(self._dirty):
            self.fn.store("i64", self._cache[reg], f"%r{reg}")
        self._dirty.clear()
        if self.shadows is not None:
            self.shadows.flush()

    # -- budget ----------------------------------------------------------------------------
    def sync_budget(self) -> None:
        """Write the local budget back to ``env->budget`` (before calls and exit)."""
        if self.budget is not None:
            value = self.fn.load("i64", self.budget)
            self.fn.store("i64", value, self.env_ptr("budget"), tbaa=TBAA_TABLE)

    def reload_after_call(self) -> None:
        """Read what a call may have changed from ``env`` (on entry and after calls): the
        budget, and the packet's host offset (:mod:`pybpf.jit.lower_packet`)."""
        if self.budget is not None:
            self.fn.store("i64", self.load_env("budget"), self.budget)
        if self.packet is not None:
            value = self.fn.load("ptr", self.env_ptr("pkt_base"), tbaa=TBAA_TABLE)
            self.fn.store("ptr", value, self.packet)

    # -- calls into Python -------------------------------------------------------------------
    def runtime(self, op: RuntimeOp, pc: int | str, *args: str | int) -> str:
        """Call ``rt(env, op, pc, depth, args...)`` through the module's cold stub (which
        does not return if the callback raised)."""
        fn = self.fn
        values = [a if isinstance(a, str) else i64(a) for a in args]
        if isinstance(pc, str):
            code = fn.op(f"or i64 {fn.op(f'shl i64 {pc}, 8')}, {int(op)}")
        else:
            code = i64(int(op) | pc << 8)
        stub = self.stubs.get(len(values))
        call_args = [("ptr", self.env), ("i64", self.depth), ("i64", code)]
        call_args += [("i64", v) for v in values]
        return fn.call("i64", stub, call_args)

    def charge(self, count: int, pc: int, *, tested: bool = True) -> None:
        """Take ``count`` instructions from the budget; leave through the function's one
        out-of-budget exit (reporting ``pc``) when it runs out (unless not ``tested``: the
        fast copy of verified code, see :mod:`pybpf.jit.budget`)."""
        if self.budget is None:
            return
        fn = self.fn
        left = fn.op(f"sub i64 {fn.load('i64', self.budget)}, {count}")
        fn.store("i64", left, self.budget)
        if not tested:
            return
        body = fn.new_block("go")
        fn.cbr(fn.op(f"icmp slt i64 {left}, 0"), "out_of_budget", body, UNLIKELY)
        self._exhausted.append((i64(pc), fn.block))
        fn.start(body)

    def fault(self, pc: int, *args: str | int) -> None:
        """Report a fault (``rt`` raises it; the stub unwinds)."""
        self.runtime(RuntimeOp.FAULT, pc, *args)
        self.fn.unreachable()


