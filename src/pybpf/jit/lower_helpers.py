"""Helpers in native code: ``bpf_ktime_get_ns`` (and its ``boot``, ``coarse`` and ``tai``
siblings), ``bpf_get_prandom_u32``, ``bpf_get_smp_processor_id``, ``bpf_csum_diff``,
``bpf_ringbuf_reserve``/``submit``/``discard``, ``bpf_spin_lock``/``unlock`` here; the
helpers on the run's context and its packet (XDP and skb packet helpers) in
:mod:`pybpf.jit.lower_ctx_helpers`, the redirects in :mod:`pybpf.jit.lower_redirect`.

Each is done natively only where its semantics allow, and otherwise falls back to the Python
helper (the same call the JIT makes for every other helper; see
:mod:`pybpf.jit.native_call`), so results never differ:

* ``bpf_ktime_get_ns()`` (``_boot_ns``, ``_coarse_ns``, ``_tai_ns``) reads ``CLOCK_MONOTONIC``
  (``_BOOTTIME``, ``_MONOTONIC_COARSE``, ``_TAI``) natively when the execution state's clock
  is a :class:`~pybpf.runtime.helpers.time.HostClock` (``env->clock``, set from
  ``ExecState.clock`` before each run), the clock that one reads; any other clock
  (``ManualClock``, a clock of one's own, none installed yet) is asked through Python;
* ``bpf_get_prandom_u32()`` steps the state's :class:`~pybpf.runtime.helpers.random.Prandom`
  in place (``env->prandom``; the same native step Python uses), or Python installs one;
* ``bpf_get_smp_processor_id()`` is ``env->cpu`` (``ExecState.cpu``);
* ``bpf_csum_diff(from, from_size, to, to_size, seed)`` runs natively when both buffers are
  directly readable (a zero size needs no buffer), else in Python, which faults as the
  interpreter does;
* ``bpf_ringbuf_reserve(map, size, flags)`` calls the native library's reserve when the map
  pointer's region-table row points at a ring buffer (``NativeKind.RINGBUF``), and
  ``bpf_ringbuf_submit``/``discard(data, flags)`` its commit when the record's row does and
  the commit succeeds; anything else (another map, a pointer that is no reserved record) is
  Python's, which raises as the interpreter does;
* ``bpf_spin_lock``/``bpf_spin_unlock(lock)`` take and release the lock word natively when it
  is directly writable and free (held); a held lock (a deadlock: it would spin forever), a
  lock that is not held, or memory that is not directly writable is Python's, which faults
  as the interpreter does.

Only helper ids the runtime implements with pybpf's own functions are lowered (a custom
helper table is always called).
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.jit.abi import ROW_OFFSETS, ClockMode
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import TBAA_TABLE
from pybpf.jit.lower_ctx_helpers import (
    CONTEXT_HELPERS,
    lower_context_helper,
    standard_context_helpers,
)
from pybpf.jit.lower_mem import translate
from pybpf.jit.native_call import native_or_python, row_of
from pybpf.native.layout import NativeKind

__all__ = ["CSUM_DIFF", "GET_PRANDOM_U32", "GET_SMP_PROCESSOR_ID", "KTIME", "KTIME_GET_NS", "NATIVE",
           "SPIN_LOCK", "SPIN_UNLOCK", "lower_helper", "standard_helpers"]

KTIME_GET_NS = 5
KTIME_GET_BOOT_NS = 125
KTIME_GET_COARSE_NS = 160
KTIME_GET_TAI_NS = 208
#: The clock helpers and the host clock (``clock_gettime()`` id) each reads.
KTIME = {KTIME_GET_NS: 1, KTIME_GET_BOOT_NS: 7, KTIME_GET_COARSE_NS: 6, KTIME_GET_TAI_NS: 11}
GET_PRANDOM_U32 = 7
GET_SMP_PROCESSOR_ID = 8
CSUM_DIFF = 28
RINGBUF_RESERVE = 131
RINGBUF_SUBMIT = 132
RINGBUF_DISCARD = 133
RINGBUF = frozenset({RINGBUF_RESERVE, RINGBUF_SUBMIT, RINGBUF_DISCARD})
SPIN_LOCK = 93
SPIN_UNLOCK = 94
NATIVE = frozenset({*KTIME, GET_PRANDOM_U32, GET_SMP_PROCESSOR_ID, CSUM_DIFF, *RINGBUF,
                    SPIN_LOCK, SPIN_UNLOCK, *CONTEXT_HELPERS})


def lower_helper(f: Frame, helper: int, regs: list[str], python: Callable[[], str]) -> str:
    """r0 of ``helper`` (one of :data:`NATIVE`) called with ``regs`` (r1..r5, read before
    any branch); ``python`` emits the call of the Python helper and returns its r0."""
    fn = f.fn
    if helper == GET_SMP_PROCESSOR_ID:
        return f.load_env("cpu")
    if helper in RINGBUF:
        return _ringbuf(f, helper, regs, python)
    if helper in (SPIN_LOCK, SPIN_UNLOCK):
        return _spin_lock(f, helper == SPIN_LOCK, regs, python)
    if helper in CONTEXT_HELPERS:
        return lower_context_helper(f, helper, regs, python)
    args: list[tuple[str, str]] = []
    if helper in KTIME:
        ok = fn.op(f"icmp eq i64 {f.load_env('clock')}, {int(ClockMode.HOST)}")
        args = [("i32", str(KTIME[helper]))]
        field = "ktime"
    elif helper == GET_PRANDOM_U32:
        state = f.load_env("prandom")
        ok = fn.op(f"icmp ne i64 {state}, 0")
        args = [("ptr", fn.op(f"inttoptr i64 {state} to ptr"))]
        field = "prandom_u32"
    elif helper == CSUM_DIFF:
        ok = "true"
        for ptr_reg, size_reg in ((regs[0], regs[1]), (regs[2], regs[3])):
            size = fn.op(f"and i64 {size_reg}, 4294967295")
            readable, ptr = translate(f, ptr_reg, size, "load_size", checked=True)
            empty = fn.op(f"icmp eq i64 {size}, 0")
            part = fn.op(f"or i1 {readable}, {empty}")
            ok = part if ok == "true" else fn.op(f"and i1 {ok}, {part}")
            args += [("ptr", ptr), ("i64", size)]
        args.append(("i64", regs[4]))
        field = "csum_diff"
    else:
        raise ValueError(f"helper {helper} has no native lowering")

    def native() -> tuple[str, str | None]:
        target = fn.load("ptr", f.env_ptr(field), tbaa=TBAA_TABLE)
        return fn.call("i64", target, args), None

    return native_or_python(f, ok, native, python)


def _spin_lock(f: Frame, take: bool, regs: list[str], python: Callable[[], str]) -> str:
    """``bpf_spin_lock``/``bpf_spin_unlock`` on the lock word at ``r1`` (see the module
    docstring): the word changes only when the native path succeeds."""
    fn = f.fn
    writable, word = translate(f, regs[0], 4, "store_size", checked=True)

    def native() -> tuple[str, str | None]:
        held = fn.load("i32", word, align=1)
        free = fn.op(f"icmp eq i32 {held}, 0")
        failed = free if not take else fn.op(f"xor i1 {free}, true")
        fn.store("i32", fn.op(f"select i1 {failed}, i32 {held}, i32 {1 if take else 0}"), word,
                 align=1)
        return "0", failed

    return native_or_python(f, writable, native, python)


def _ringbuf(f: Frame, helper: int, regs: list[str], python: Callable[[], str]) -> str:
    """``bpf_ringbuf_reserve``/``submit``/``discard`` through the ring buffer's descriptor,
    found in the row of ``r1`` (the map, or the record); a failed commit is Python's."""
    fn = f.fn
    ok, row = row_of(f, regs[0], NativeKind.RINGBUF)

    def native() -> tuple[str, str | None]:
        desc = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)
        if helper == RINGBUF_RESERVE:
            target = fn.load("ptr", f.env_ptr("ringbuf_reserve"), tbaa=TBAA_TABLE)
            return fn.call("i64", target, [("ptr", desc), ("i64", regs[1]),
                                           ("i64", regs[2])]), None
        target = fn.load("ptr", f.env_ptr("ringbuf_commit"), tbaa=TBAA_TABLE)
        discard = "1" if helper == RINGBUF_DISCARD else "0"
        value = fn.call("i64", target, [("ptr", desc), ("i64", regs[0]), ("i64", discard)])
        return value, fn.op(f"icmp ne i64 {value}, 0")

    return native_or_python(f, ok, native, python)


def standard_helpers() -> dict[int, object]:
    """pybpf's own implementations of the helpers lowered natively (by id; ``bpf_loop``'s
    lowering is :mod:`pybpf.jit.lower_loop`)."""
    from pybpf.jit.lower_loop import BPF_LOOP
    from pybpf.runtime.helpers import callbacks, csum, misc, output, task, time
    from pybpf.runtime.helpers import random as prandom

    return {KTIME_GET_NS: time.bpf_ktime_get_ns, KTIME_GET_BOOT_NS: time.bpf_ktime_get_boot_ns,
            KTIME_GET_COARSE_NS: time.bpf_ktime_get_coarse_ns,
            KTIME_GET_TAI_NS: time.bpf_ktime_get_tai_ns, GET_PRANDOM_U32: prandom.bpf_get_prandom_u32,
            GET_SMP_PROCESSOR_ID: task.bpf_get_smp_processor_id, CSUM_DIFF: csum.bpf_csum_diff,
            RINGBUF_RESERVE: output.bpf_ringbuf_reserve,
            RINGBUF_SUBMIT: output.bpf_ringbuf_submit,
            RINGBUF_DISCARD: output.bpf_ringbuf_discard, BPF_LOOP: callbacks.bpf_loop,
            SPIN_LOCK: misc.bpf_spin_lock, SPIN_UNLOCK: misc.bpf_spin_unlock,
            **standard_context_helpers()}
