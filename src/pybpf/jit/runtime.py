"""The Python side of native execution: the ``rt`` callback, entries, exceptions.

One :class:`NativeRuntime` per JIT backend (as one :class:`~pybpf.runtime.execstate.ExecState`
per interpreter): it owns the :class:`~pybpf.jit.abi.NativeEnv` block, the ctypes trampoline
native code calls for everything it does not do itself (:class:`~pybpf.jit.abi.RuntimeOp`),
and the exception a callback raised while native frames were live.

Exceptions never cross native frames. Inside ``rt`` any exception (an ``ExecutionFault`` from
``Memory.load``, a ``ProgramExit`` from a helper or ``LD_ABS``, a helper's own error) is stored
and ``env->status`` set; native code unwinds (``longjmp`` to the entry trampoline
``pb_enter``); the Python caller of the native function (:class:`NativeEntry`) re-raises it. Callbacks can nest (``bpf_loop`` runs a compiled callback
from a helper called by compiled code): every Python -> native boundary re-raises, every
native -> Python boundary stores, so an exception travels exactly as in the interpreter.

The budget lives in ``env->budget`` while native code runs and in ``ExecState.budget`` while
Python runs; each boundary copies it across.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from pybpf.errors import ExecutionFault, JITError
from pybpf.interp.ops import ATOMIC_RMW
from pybpf.isa import AtomicOp
from pybpf.jit.abi import ClockMode, Fault, NativeEnv, RuntimeFn, RuntimeOp, Status, TailCall
from pybpf.jit.regions import RegionTable
from pybpf.native.layout import NativeKind
from pybpf.native.library import library
from pybpf.runtime.execstate import MAX_CALL_FRAMES, ExecState
from pybpf.runtime.helpers.random import Prandom
from pybpf.runtime.helpers.time import HostClock
from pybpf.runtime.maps.header import resolve_map

M64 = 0xFFFFFFFFFFFFFFFF


class NativeEntry:
    """A compiled function as an interpreter-style entry: ``(r1..r5, depth) -> r0``.

    This is what ``ExecState.functions`` (``callx``, ``bpf_loop`` callbacks) and prog arrays
    (``JITProgram.entry``) hold, so Python helpers and interpreter programs can call
    compiled code; a tail call from compiled code to an entry of the same runtime jumps
    natively without entering Python.
    """

    __slots__ = ("__weakref__", "_enter", "address", "code", "runtime")

    def __init__(self, runtime: NativeRuntime, address: int, code: object) -> None:
        self.runtime = runtime
        self.address = address
        #: The linked code the address points into, kept alive as long as the entry is
        #: reachable (from ``ExecState.functions``, a prog array...).
        self.code = code
        self._enter = library().fn["pb_enter"]

    def __call__(self, r1: int, r2: int, r3: int, r4: int, r5: int, depth: int) -> int:
        rt = self.runtime
        env = rt.env
        env.budget = rt.state.budget
        if depth == 0:
            rt.sync_state()
        try:
            r0 = self._enter(rt.env_address, self.address, r1 & M64, r2 & M64, r3 & M64,
                             r4 & M64, r5 & M64, depth)
        finally:
            rt.state.budget = env.budget
        if env.status:
            rt.reraise()
        return int(r0)


class NativeRuntime:
    """The env block, the ``rt`` trampoline and the pending exception of one JIT backend."""

    def __init__(self, state: ExecState) -> None:
        self.state = state
        self.memory = state.memory
        self.table = RegionTable.of(state.memory)
        self.env = NativeEnv()
        self.env_address = ctypes.addressof(self.env)
        self.pending: BaseException | None = None
        #: Called before every callback into Python (a native batch loop brings the Python
        #: view of its reused context up to date).
        self.before_python: Callable[[], None] | None = None
        self._tail_seq = 0
        self._stack_pins = []
        for depth, (buf, fp) in enumerate(zip(state.stacks, state.frame_pointers, strict=True)):
            pin = (ctypes.c_char * len(buf)).from_buffer(buf)
            self._stack_pins.append(pin)
            self.env.stack_host[depth] = ctypes.addressof(pin)
            self.env.frame_pointer[depth] = fp
        if len(state.stacks) != MAX_CALL_FRAMES:
            raise JITError(f"execution state has {len(state.stacks)} stack frames, "
                           f"expected {MAX_CALL_FRAMES}")
        self.env.regions = self.table.address
        self.env.nregions = self.table.capacity
        self.env.rcu_token = id(self)
        lib = library()
        self.env.map_lookup = lib.addresses["pb_map_lookup"]
        self.env.map_update = lib.addresses["pb_map_update"]
        self.env.map_delete = lib.addresses["pb_map_delete"]
        self.env.ktime = lib.addresses["pb_ktime"]
        self.env.prandom_u32 = lib.addresses["pb_prandom_u32"]
        self.env.csum_diff = lib.addresses["pb_csum_diff"]
        self.env.ringbuf_reserve = lib.addresses["pb_ringbuf_reserve"]
        self.env.ringbuf_commit = lib.addresses["pb_ringbuf_commit"]
        self.env.xdp_adjust = lib.addresses["pb_xdp_adjust"]
        self.env.xdp_bytes = lib.addresses["pb_xdp_bytes"]
        for name in ("load_bytes", "store_bytes", "csum_replace", "csum_update", "pull_data",
                     "change_tail", "change_head", "vlan_push", "vlan_pop", "adjust_room",
                     "change_proto"):
            setattr(self.env, f"skb_{name}", lib.addresses[f"pb_skb_{name}"])
        self._ops: dict[int, Callable[..., int]] = {
            RuntimeOp.HELPER: self._helper,
            RuntimeOp.LOAD: self._load,
            RuntimeOp.STORE: self._store,
            RuntimeOp.ATOMIC: self._atomic,
            RuntimeOp.LD_ABS: self._ld_abs,
            RuntimeOp.TAIL_CALL: self._tail_call,
            RuntimeOp.CALLX: self._callx,
            RuntimeOp.FAULT: self._fault,
            RuntimeOp.RCU_MAP: self._rcu_map,
        }
        self._trampoline = RuntimeFn(self._dispatch)
        self.env.rt = ctypes.cast(self._trampoline, ctypes.c_void_p).value or 0

    def sync_state(self) -> None:
        """Copy what native code reads of the execution state into the env block: the CPU,
        whether the clock is the host's, where the PRNG state is, the context's native half
        (see :mod:`pybpf.jit.lower_helpers`)."""
        state, env = self.state, self.env
        env.cpu = state.cpu
        env.clock = ClockMode.HOST if type(state.clock) is HostClock else ClockMode.PYTHON
        rnd = state.prandom
        env.prandom = rnd.address if isinstance(rnd, Prandom) else 0
        ctx = state.context
        kind = getattr(ctx, "NATIVE_KIND", NativeKind.NONE)
        env.ctx_kind = kind
        env.ctx_native = ctypes.addressof(ctx.native) if kind else 0  # type: ignore[union-attr]

    def adopt_native(self) -> None:
        """The context takes what native helpers changed (the packet's geometry, see
        :meth:`pybpf.runtime.ctx.xdp.XdpContext.adopt_native`,
        :meth:`pybpf.runtime.ctx.skb.SkbContext.adopt_native`) before Python looks at it."""
        adopt = getattr(self.state.context, "adopt_native", None)
        if adopt is not None:
            adopt()

    # -- exceptions ------------------------------------------------------------------------
    def reset(self) -> None:
        """Before a run: nothing pending."""
        self.pending = None
        self.env.status = Status.RUNNING

    def reraise(self) -> None:
        """Raise (and clear) the exception a callback stored."""
        exc = self.pending
        self.pending = None
        self.env.status = Status.RUNNING
        if exc is None:
            raise JITError("native code unwound without a pending exception")
        raise exc

    # -- the trampoline --------------------------------------------------------------------
    def _dispatch(self, _env: int, op: int, pc: int, depth: int,
                  a1: int, a2: int, a3: int, a4: int, a5: int, a6: int) -> int:
        state = self.state
        env = self.env
        state.budget = env.budget
        state.pc = pc
        if op != RuntimeOp.LOAD:
            env.py_calls += 1
        try:
            if self.before_python is not None:
                self.before_python()
            self.adopt_native()
            result = self._ops[op](depth, a1, a2, a3, a4, a5, a6)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the Python caller
            self.pending = exc
            env.status = Status.RAISED
            return 0
        env.budget = state.budget
        return result & M64

    def _helper(self, depth: int, helper_id: int, r1: int, r2: int, r3: int, r4: int,
                r5: int) -> int:
        state = self.state
        outer = state.call_depth
        state.call_depth = depth
        try:
            return state.helpers[helper_id](state, r1, r2, r3, r4, r5)
        finally:
            state.call_depth = outer

    def _load(self, _depth: int, addr: int, size: int, *_: int) -> int:
        return self.memory.load(addr, size, self.state.pc)

    def _store(self, _depth: int, addr: int, size: int, value: int, *_: int) -> int:
        self.memory.store(addr, size, value, self.state.pc)
        return 0

    def _atomic(self, _depth: int, addr: int, size: int, imm: int, value: int, r0: int,
                _a6: int) -> int:
        mem, pc = self.memory, self.state.pc
        if imm == AtomicOp.XCHG:
            return mem.atomic_xchg(addr, size, value, pc)
        if imm == AtomicOp.CMPXCHG:
            return mem.atomic_cmpxchg(addr, size, r0, value, pc)
        return mem.atomic_rmw(addr, size, ATOMIC_RMW[imm & ~0x01], value, pc)

    def _ld_abs(self, _depth: int, ctx: int, offset: int, size: int, *_: int) -> int:
        return self.state.ld_abs(ctx, offset, size)

    def _tail_call(self, depth: int, r1: int, r2: int, r3: int, *_: int) -> int:
        if self._tail_seq != self.env.run_seq:  # a native loop started a new run
            self._tail_seq = self.env.run_seq
            self.state.tail_calls = 0
        target = self.state.tail_call(r1, r2, r3)
        if target is None:
            return TailCall.FALL_THROUGH
        if isinstance(target, NativeEntry) and target.runtime is self:
            self.env.tail_fn = target.address
            return TailCall.NATIVE
        self.env.tail_r0 = target(r1, 0, 0, 0, 0, depth) & M64
        return TailCall.DONE

    def _callx(self, depth: int, target: int, r1: int, r2: int, r3: int, r4: int,
               r5: int) -> int:
        return self.state.callx(target, r1, r2, r3, r4, r5, depth)

    def _rcu_map(self, _depth: int, map_ptr: int, *_: int) -> int:
        """Native code updated or deleted in a map: its freed values become reusable when
        this state's runs end (as ``bpf_map_update_elem()`` registers it in Python)."""
        m = resolve_map(self.memory, map_ptr)
        if m is not None:
            if not any(x is m for x in self.state.rcu_maps):
                self.state.rcu_maps.append(m)
            desc = getattr(m, "native", None)
            if desc is not None:
                desc.rcu_owner = self.env.rcu_token
        return 0

    def _fault(self, depth: int, code: int, *_: int) -> int:
        state = self.state
        pc = state.pc
        match code:
            case Fault.FRAME_POINTER_WRITE:
                raise ExecutionFault("frame pointer r10 is read only", pc=pc)
            case Fault.TOO_DEEP:
                state.too_deep(pc)
            case Fault.FELL_OFF:
                state.fell_off(pc)
            case Fault.OUT_OF_BUDGET:
                state.out_of_budget(pc)
            case Fault.PACKET_UNMAPPED:
                raise ExecutionFault("the packet's region has no row in the JIT's host-address "
                                     "table (too many regions mapped at once)", pc=pc)
        raise JITError(f"pc {pc}: unknown fault code {code} from native code (depth {depth})")
