"""The native calling convention: what compiled code and the Python runtime agree on.

Native code never holds a Python object. Everything it needs at run time is reached through
one :class:`NativeEnv` block whose address is the first argument of every compiled function:

* the host-address table of memory regions (:mod:`pybpf.jit.regions`), so program addresses
  stay the interpreter's virtual addresses (:func:`pybpf.runtime.memory.split_address`);
* the host addresses and virtual frame pointers of the eight 512-byte call frames (the
  :class:`~pybpf.runtime.execstate.ExecState`'s own stack regions, shared with the interpreter);
* the instruction budget, the unwind ``status`` and the tail-call hand-over slots;
* ``rt``, the one callback into Python (:mod:`pybpf.jit.runtime`), dispatched on
  :class:`RuntimeOp`: helpers, the checked slow path of loads, stores and atomics, legacy
  packet loads, tail calls, ``callx`` and the faults;
* the current CPU and the addresses of the native library's map operations
  (:mod:`pybpf.native`), which compiled code calls directly for maps with a native
  descriptor (:mod:`pybpf.jit.lower_maps`).

A compiled eBPF function has the C type ``u64 F(NativeEnv *env, u64 r1..r5, u64 depth)``,
mirroring the interpreter's ``F<pc>(r1, r2, r3, r4, r5, depth)``. The callback has the type
``u64 rt(NativeEnv *env, u64 op, u64 pc, u64 depth, u64 a1..a6)``. When a callback raised
(a fault, :class:`~pybpf.runtime.execstate.ProgramExit`, any helper error) it sets
``env->status``; the module's out-of-line stub that called ``rt`` sees it and ``longjmp``s to
the innermost entry trampoline (``pb_enter`` of :mod:`pybpf.native.batch_ir`, through which
Python and the native loops call every compiled function), which returns at once: compiled
code carries no status check at all. The Python side then re-raises the stored exception, so
faults are the interpreter's own exceptions, with the same pc.

Nothing here depends on a process: code that only uses this ABI can be cached on disk.
"""

from __future__ import annotations

import ctypes
from enum import IntEnum

from pybpf.runtime.execstate import MAX_CALL_FRAMES

#: Bumped whenever the ABI or the translation changes (part of the compile-cache key).
ABI_VERSION = 23


class RuntimeOp(IntEnum):
    """First argument of the ``rt`` callback: what native code asks Python to do."""

    HELPER = 1  # a1 = helper id, a2..a6 = r1..r5 -> r0
    LOAD = 2  # a1 = address, a2 = size -> value (zero-extended)
    STORE = 3  # a1 = address, a2 = size, a3 = value
    ATOMIC = 4  # a1 = address, a2 = size, a3 = AtomicOp imm, a4 = src value, a5 = r0 -> result
    LD_ABS = 5  # a1 = r6 (ctx), a2 = offset, a3 = size -> r0
    TAIL_CALL = 6  # a1..a3 = r1..r3 -> TailCall
    CALLX = 7  # a1 = target, a2..a6 = r1..r5 -> r0
    FAULT = 8  # a1 = Fault code; never returns normally (status is set)
    RCU_MAP = 9  # a1 = map pointer: native code changed it (register for synchronize_rcu)


class Fault(IntEnum):
    """Faults native code detects itself and reports through ``rt(FAULT, pc, ...)``."""

    FRAME_POINTER_WRITE = 1  # an ALU/LDX/LD instruction writes r10
    TOO_DEEP = 2  # a call past MAX_CALL_FRAMES
    FELL_OFF = 3  # the last block of a function does not end in exit or a jump
    OUT_OF_BUDGET = 4  # the instruction budget ran out at a block start
    PACKET_UNMAPPED = 5  # a packet context load found no row for the packet (lower_packet)


class TailCall(IntEnum):
    """Result of ``rt(TAIL_CALL)``."""

    FALL_THROUGH = 0  # no program at that index (or the 33-call limit): continue
    NATIVE = 1  # jump to ``env->tail_fn`` (a function of this runtime)
    DONE = 2  # Python ran a foreign target (e.g. an interpreter program); r0 in ``env->tail_r0``


class ClockMode(IntEnum):
    """``env->clock``: where ``bpf_ktime_get_ns()`` reads time."""

    PYTHON = 0  # call the Python helper (a ManualClock, a clock of one's own, none yet)
    HOST = 1  # a HostClock: CLOCK_MONOTONIC, read natively


class Status(IntEnum):
    """``env->status``: zero while running; anything else makes native code unwind."""

    RUNNING = 0
    RAISED = 1


class RegionEntry(ctypes.Structure):
    """One row of the host-address table: where region ``id`` lives in this process.

    ``load_size``/``store_size`` are the byte counts native code may read/write directly;
    0 sends every access to the Python slow path (unmapped ids, read-only regions for
    stores, regions with load/store hooks such as rewritten context structures).
    ``native``/``kind`` point at a native object behind the region (a map's
    :class:`~pybpf.native.layout.NativeMap` for its header region), see
    :class:`~pybpf.native.layout.NativeKind`.
    """

    _fields_ = [
        ("host", ctypes.c_uint64),
        ("load_size", ctypes.c_uint32),
        ("store_size", ctypes.c_uint32),
        ("native", ctypes.c_uint64),
        ("kind", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


class NativeEnv(ctypes.Structure):
    """The block every compiled function receives as ``env`` (see the module docstring)."""

    _fields_ = [
        ("regions", ctypes.c_uint64),  # RegionEntry *: host table, indexed by id - FIRST_REGION_ID
        ("nregions", ctypes.c_uint64),  # table capacity
        ("stack_host", ctypes.c_uint64 * MAX_CALL_FRAMES),  # host address of frame d's stack
        ("frame_pointer", ctypes.c_uint64 * MAX_CALL_FRAMES),  # r10 of frame d (virtual)
        ("budget", ctypes.c_int64),
        ("status", ctypes.c_uint64),
        ("tail_fn", ctypes.c_uint64),
        ("tail_r0", ctypes.c_uint64),
        ("rt", ctypes.c_uint64),  # RuntimeFn
        ("cpu", ctypes.c_uint64),  # the CPU the program runs on (ExecState.cpu)
        ("rcu_token", ctypes.c_uint64),  # NativeMap.rcu_owner of maps this state syncs
        # the native library (pybpf.native): u64 f(NativeMap *, ...), see htab_ir.EXPORTS
        ("map_lookup", ctypes.c_uint64),
        ("map_update", ctypes.c_uint64),
        ("map_delete", ctypes.c_uint64),
        # native loops (pybpf.native.batch_ir): callbacks into Python that may change state
        # (every op but LOAD), and the number of the run in progress
        ("py_calls", ctypes.c_uint64),
        ("run_seq", ctypes.c_uint64),
        # unwinding: the jmp_buf of the innermost entry (pybpf.native.batch_ir pb_enter)
        ("jmp", ctypes.c_uint64),
        # where a memory access that is not direct harmlessly lands before the slow path
        ("scratch", ctypes.c_uint64),
        # helpers done natively (pybpf.jit.lower_helpers, pybpf.native.helpers_ir)
        ("clock", ctypes.c_uint64),  # ClockMode of ExecState.clock
        ("prandom", ctypes.c_uint64),  # struct rnd_state * of ExecState.prandom, or 0
        ("ktime", ctypes.c_uint64),
        ("prandom_u32", ctypes.c_uint64),
        ("csum_diff", ctypes.c_uint64),
        # host address minus program address of the packet (pybpf.jit.lower_packet)
        ("pkt_base", ctypes.c_uint64),
        # the ring buffer's reserve and commit (pybpf.native.ringbuf_ir)
        ("ringbuf_reserve", ctypes.c_uint64),
        ("ringbuf_commit", ctypes.c_uint64),
        # bpf_xdp_adjust_head/meta/tail, bpf_xdp_load/store_bytes (pybpf.native.xdp_ir)
        ("xdp_adjust", ctypes.c_uint64),
        ("xdp_bytes", ctypes.c_uint64),
        # the skb packet helpers (pybpf.native.skb_ir)
        ("skb_load_bytes", ctypes.c_uint64),
        ("skb_store_bytes", ctypes.c_uint64),
        ("skb_csum_replace", ctypes.c_uint64),
        ("skb_csum_update", ctypes.c_uint64),
        ("skb_pull_data", ctypes.c_uint64),
        # the skb geometry helpers (pybpf.native.skb_geo_ir, pybpf.native.skb_room_ir)
        ("skb_change_tail", ctypes.c_uint64),
        ("skb_change_head", ctypes.c_uint64),
        ("skb_vlan_push", ctypes.c_uint64),
        ("skb_vlan_pop", ctypes.c_uint64),
        ("skb_adjust_room", ctypes.c_uint64),
        ("skb_change_proto", ctypes.c_uint64),
        # the run's context's native half and its NativeKind (0: none), for helpers that
        # take no context argument (bpf_redirect)
        ("ctx_native", ctypes.c_uint64),
        ("ctx_kind", ctypes.c_uint64),
    ]


#: Byte offsets of the fields of :class:`NativeEnv`, for the IR.
ENV_OFFSETS: dict[str, int] = {field[0]: getattr(NativeEnv, field[0]).offset
                               for field in NativeEnv._fields_}
#: Byte offsets of the fields of :class:`RegionEntry`, and its size.
ROW_OFFSETS: dict[str, int] = {field[0]: getattr(RegionEntry, field[0]).offset
                               for field in RegionEntry._fields_}
ROW_SIZE = ctypes.sizeof(RegionEntry)

#: ``u64 rt(env, op, pc, depth, a1..a6)``.
RuntimeFn = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, *([ctypes.c_uint64] * 9))
#: ``u64 F(env, r1..r5, depth)``.
ProgramFn = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, *([ctypes.c_uint64] * 6))


def function_symbol(start: int) -> str:
    """Symbol name of the compiled eBPF function starting at slot ``start``."""
    return f"bpf_f{start}"
