"""Helpers that call back into the program: bpf_loop() and bpf_for_each_map_elem().

Mirrors kernel/bpf/bpf_iter.c (``bpf_loop()``: ``flags`` must be 0 (``-EINVAL``), at most
``BPF_MAX_LOOPS`` (8M) iterations (``-E2BIG``); the callback gets the index and the context
and returns 0 to continue or 1 to stop; the result is the number of iterations run) and the
maps' ``map_for_each_callback`` (``bpf_for_each_array_elem()``, ``bpf_for_each_hash_elem()``:
``flags`` must be 0; the callback gets ``(map, &key, &value, ctx)`` for every element, in the
map's own order, and the result is the number of elements visited, the one that stopped
the walk included).

The callback is a BPF function: its address (``lddw`` ``BPF_PSEUDO_FUNC``) names a compiled
function in ``state.functions``, run in the next call frame. The helper learns the caller's
frame from ``state.call_depth``, which backends set before every helper call. Keys are handed to the callback in a small read-only
region mapped for the duration of the call.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable

from pybpf.errors import ExecutionFault
from pybpf.runtime.execstate import MAX_CALL_FRAMES, Entry, ExecState
from pybpf.runtime.helpers.abi import u32
from pybpf.runtime.helpers.maps import map_arg
from pybpf.runtime.maps import ArrayMap
from pybpf.runtime.maps.base import Map
from pybpf.runtime.memory import RegionKind

__all__ = ["BPF_MAX_LOOPS", "bpf_for_each_map_elem", "bpf_loop", "caller_depth"]

BPF_MAX_LOOPS = 8 * 1024 * 1024


def caller_depth(state: ExecState) -> int:
    """The call frame of the program function calling the helper (backends record it in
    ``state.call_depth`` before every helper call; 0 when none did)."""
    return state.call_depth or 0


def _callback(state: ExecState, addr: int, helper: str) -> tuple[Entry, int]:
    fn = state.functions.get(addr & ((1 << 64) - 1))
    if fn is None:
        raise ExecutionFault(f"{helper}(): {addr:#x} is not the address of a BPF function",
                             pc=state.pc, address=addr)
    depth = caller_depth(state) + 1
    if depth >= MAX_CALL_FRAMES:
        state.too_deep(state.pc)
    return fn, depth


def bpf_loop(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_loop(nr_loops, callback_fn, callback_ctx, flags): iterations run, or ``-errno``."""
    nr_loops = u32(r1)
    if r4:
        return -errno.EINVAL
    if nr_loops > BPF_MAX_LOOPS:
        return -errno.E2BIG
    fn, depth = _callback(state, r2, "bpf_loop")
    pc = state.pc
    for i in range(nr_loops):
        ret = fn(i, r3, 0, 0, 0, depth)
        state.pc = pc
        if ret:
            return i + 1
    return nr_loops


def bpf_for_each_map_elem(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags): elements visited."""
    m = map_arg(state, r1, "bpf_for_each_map_elem")
    if r4:
        return -errno.EINVAL
    fn, depth = _callback(state, r2, "bpf_for_each_map_elem")
    pc = state.pc
    key_buf = bytearray(m.key_size)
    key_region = state.memory.map(key_buf, RegionKind.MAP_KEY, f"for_each key of '{m.name}'",
                                  writable=False)
    visited = 0
    try:
        keys: Iterable[bytes]
        if isinstance(m, ArrayMap):
            keys = (i.to_bytes(4, "little") for i in range(m.max_entries))
        else:
            keys = _hash_keys(m)
        for key in keys:
            value = m.lookup_elem(key, state.cpu)
            if not value:
                continue
            key_buf[:] = key
            visited += 1
            ret = fn(r1, key_region.base, value, r3, 0, depth)
            state.pc = pc
            if ret:
                break
    finally:
        state.memory.unmap(key_region)
    return visited


def _hash_keys(m: Map) -> list[bytes]:
    """The keys present, in ``get_next_key`` order, collected before the walk."""
    keys: list[bytes] = []
    seen: set[bytes] = set()
    key = m.get_next_key(None)
    while key is not None and key not in seen:
        seen.add(key)
        keys.append(key)
        key = m.get_next_key(key)
    return keys
