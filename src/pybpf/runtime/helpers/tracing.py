"""Tracing helpers: function ip/arguments/return, stacks, perf counters.

Mirrors kernel/trace/bpf_trace.c and kernel/bpf/stackmap.c (Linux 6.18):

* ``bpf_get_func_ip(ctx)``, ``bpf_get_func_arg(ctx, n, &value)`` (``-EINVAL`` for ``n`` past
  the argument count, ``value`` then untouched), ``bpf_get_func_ret(ctx, &value)`` and
  ``bpf_get_func_arg_cnt(ctx)``: a trampoline context is an array of u64 arguments
  (``ctx[n]``, the return value after them) with the argument count at ``ctx[-1]`` and the
  function address at ``ctx[-2]``; here the context object provides ``nr_args`` and
  ``func_ip`` (a :class:`TraceCall`) and the arguments are read from the context memory
  the program gets, as the kernel reads them.
* ``bpf_get_stackid()``/``bpf_get_stack()``: the flags are checked as the kernel checks them
  (``-EINVAL``), then, since there is no kernel or user stack to unwind, the answer is that
  of ``get_perf_callchain()`` finding none: ``-EFAULT`` (``bpf_get_stack()`` zeroes the
  buffer first, as it does on every error).
* ``bpf_perf_event_read(map, flags)``/``bpf_perf_event_read_value(map, flags, buf, size)``:
  the event at the index (``BPF_F_CURRENT_CPU`` = the run's CPU; ``-E2BIG`` past the array,
  ``-ENOENT`` without an event, ``-EINVAL`` for an event of another CPU or bad flags) reads
  the value set with :meth:`HelperEnv.set_perf_counter` (0 by default); ``_value`` needs a
  24-byte ``struct bpf_perf_event_value`` and zeroes it on error.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

from pybpf.errors import ExecutionFault
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import u32
from pybpf.runtime.helpers.env import PerfCounter, env_of
from pybpf.runtime.helpers.maps import map_arg
from pybpf.runtime.maps import PerfEventArray
from pybpf.runtime.maps.flags import BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK

__all__ = [
    "TraceCall",
    "bpf_get_func_arg",
    "bpf_get_func_arg_cnt",
    "bpf_get_func_ip",
    "bpf_get_func_ret",
    "bpf_get_stack",
    "bpf_get_stackid",
    "bpf_perf_event_read",
    "bpf_perf_event_read_value",
]

BPF_F_SKIP_FIELD_MASK = 0xFF
BPF_F_USER_STACK = 1 << 8
BPF_F_FAST_STACK_CMP = 1 << 9
BPF_F_REUSE_STACKID = 1 << 10
BPF_F_USER_BUILD_ID = 1 << 11
BPF_STACK_BUILD_ID_SIZE = 32
PERF_EVENT_VALUE_SIZE = 24


@dataclass(slots=True)
class TraceCall:
    """What a trampoline stores next to the arguments: the traced function and their count."""

    func_ip: int
    nr_args: int


def _trace_call(state: ExecState, helper: str) -> TraceCall:
    ctx = state.context
    call = ctx if isinstance(ctx, TraceCall) else getattr(ctx, "trace_call", None)
    if not isinstance(call, TraceCall):
        raise ExecutionFault(f"{helper}() needs a tracing context (a TraceCall)", pc=state.pc)
    return call


def bpf_get_func_ip(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_func_ip(ctx): the traced function's address."""
    return _trace_call(state, "bpf_get_func_ip").func_ip


def bpf_get_func_arg(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_func_arg(ctx, n, value): 0, or ``-EINVAL`` for ``n >= nr_args``."""
    call = _trace_call(state, "bpf_get_func_arg")
    n = u32(r2)
    if n >= call.nr_args:
        return -errno.EINVAL
    state.memory.store(r3, 8, state.memory.load(r1 + 8 * n, 8, state.pc), state.pc)
    return 0


def bpf_get_func_ret(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_func_ret(ctx, value): the return value (stored after the arguments); 0."""
    call = _trace_call(state, "bpf_get_func_ret")
    state.memory.store(r2, 8, state.memory.load(r1 + 8 * call.nr_args, 8, state.pc), state.pc)
    return 0


def bpf_get_func_arg_cnt(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_func_arg_cnt(ctx): the number of arguments."""
    return _trace_call(state, "bpf_get_func_arg_cnt").nr_args


def bpf_get_stackid(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_stackid(ctx, map, flags): ``-EINVAL`` for bad flags, else ``-EFAULT``."""
    if r3 & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP
              | BPF_F_REUSE_STACKID):
        return -errno.EINVAL
    return -errno.EFAULT


def bpf_get_stack(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_stack(ctx, buf, size, flags): ``buf`` zeroed; ``-EINVAL`` or ``-EFAULT``."""
    size, flags = u32(r3), r4
    user = bool(flags & BPF_F_USER_STACK)
    build_id = bool(flags & BPF_F_USER_BUILD_ID)
    elem = BPF_STACK_BUILD_ID_SIZE if build_id else 8
    err = -errno.EFAULT
    if flags & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_USER_BUILD_ID) or (
        build_id and not user
    ) or size % elem:
        err = -errno.EINVAL
    state.memory.write_bytes(r2, bytes(size), state.pc)
    return err


def _perf_counter(state: ExecState, r1: int, flags: int, helper: str) -> PerfCounter | int:
    """``get_map_perf_counter()`` + ``perf_event_read_local()``."""
    m = map_arg(state, r1, helper)
    if not isinstance(m, PerfEventArray):
        raise ExecutionFault(f"{helper}(): map is not a perf event array", pc=state.pc)
    if flags & ~BPF_F_INDEX_MASK:
        return -errno.EINVAL
    index = flags & BPF_F_INDEX_MASK
    if index == BPF_F_CURRENT_CPU:
        index = state.cpu
    if index >= m.max_entries:
        return -errno.E2BIG
    event = m.events[index]
    if event is None:
        return -errno.ENOENT
    if event.cpu != state.cpu:
        return -errno.EINVAL
    return env_of(state).perf_counter(event)


def bpf_perf_event_read(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_perf_event_read(map, flags): the counter value, or ``-errno``."""
    got = _perf_counter(state, r1, r2, "bpf_perf_event_read")
    return got if isinstance(got, int) else got.counter


def bpf_perf_event_read_value(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                              r5: int) -> int:
    """bpf_perf_event_read_value(map, flags, buf, size): 0, or ``-errno`` with ``buf`` zeroed."""
    size = u32(r4)
    got: PerfCounter | int = -errno.EINVAL
    if size == PERF_EVENT_VALUE_SIZE:
        got = _perf_counter(state, r1, r2, "bpf_perf_event_read_value")
    if isinstance(got, int):
        state.memory.write_bytes(r3, bytes(size), state.pc)
        return got
    state.memory.write_bytes(r3, struct.pack("<QQQ", got.counter, got.enabled, got.running),
                             state.pc)
    return 0
