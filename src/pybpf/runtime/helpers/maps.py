"""Map helpers: lookup, update, delete, push, pop, peek, per-CPU lookup.

Mirrors kernel/bpf/helpers.c: each helper reads its key/value arguments from program memory
(``key_size``/``value_size`` bytes, as the verifier sized them) and dispatches to the map's
``map_ops`` — here the helper-facing methods of :mod:`pybpf.runtime.maps`, which return
addresses or ``-errno`` exactly as the kernel's map implementations do. ``bpf_map_pop_elem()``
and ``bpf_map_peek_elem()`` zero the destination when the map is empty, as
``__queue_map_get()``/``__stack_map_get()`` do.

A map argument that is not a map pointer is a fault (the verifier would have refused it).
Maps a helper changes are registered in ``state.rcu_maps``, so values they free become
reusable when the run ends (an RCU grace period).
"""

from __future__ import annotations

import errno

from pybpf.errors import ExecutionFault
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import u32
from pybpf.runtime.maps import resolve_map
from pybpf.runtime.maps.base import Map

__all__ = [
    "bpf_map_delete_elem",
    "bpf_map_lookup_elem",
    "bpf_map_lookup_percpu_elem",
    "bpf_map_peek_elem",
    "bpf_map_pop_elem",
    "bpf_map_push_elem",
    "bpf_map_update_elem",
    "map_arg",
]


def map_arg(state: ExecState, addr: int, helper: str) -> Map:
    """The map a program passes as ``struct bpf_map *`` (``ARG_CONST_MAP_PTR``)."""
    m = resolve_map(state.memory, addr)
    if m is None:
        raise ExecutionFault(f"{helper}(): {addr & (2**64 - 1):#x} is not a map pointer",
                             pc=state.pc, address=addr)
    return m


def _changed(state: ExecState, m: Map) -> Map:
    if not any(x is m for x in state.rcu_maps):
        state.rcu_maps.append(m)
    return m


def bpf_map_lookup_elem(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_lookup_elem(map, key): the value's address, or NULL."""
    m = map_arg(state, r1, "bpf_map_lookup_elem")
    key = state.memory.read_bytes(r2, m.key_size, state.pc)
    return m.lookup_elem(key, state.cpu)


def bpf_map_update_elem(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_update_elem(map, key, value, flags): 0 or ``-errno``."""
    m = _changed(state, map_arg(state, r1, "bpf_map_update_elem"))
    key = state.memory.read_bytes(r2, m.key_size, state.pc)
    value = state.memory.read_bytes(r3, m.value_size, state.pc)
    return m.update_elem(key, value, r4, state.cpu)


def bpf_map_delete_elem(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_delete_elem(map, key): 0 or ``-errno``."""
    m = _changed(state, map_arg(state, r1, "bpf_map_delete_elem"))
    key = state.memory.read_bytes(r2, m.key_size, state.pc)
    return m.delete_elem(key)


def bpf_map_push_elem(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_push_elem(map, value, flags): 0 or ``-errno`` (queue, stack, bloom filter)."""
    m = map_arg(state, r1, "bpf_map_push_elem")
    value = state.memory.read_bytes(r2, m.value_size, state.pc)
    return m.push_elem(value, r3)


def _take(state: ExecState, r1: int, r2: int, helper: str, pop: bool) -> int:
    m = map_arg(state, r1, helper)
    value = m.pop_elem() if pop else m.peek_elem()
    if value is None:
        state.memory.write_bytes(r2, bytes(m.value_size), state.pc)
        return -errno.ENOENT
    state.memory.write_bytes(r2, bytes(value[: m.value_size]).ljust(m.value_size, b"\0"),
                             state.pc)
    return 0


def bpf_map_pop_elem(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_pop_elem(map, value): 0, or ``-ENOENT`` with ``value`` zeroed."""
    return _take(state, r1, r2, "bpf_map_pop_elem", pop=True)


def bpf_map_peek_elem(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_map_peek_elem(map, value): 0, or ``-ENOENT`` with ``value`` zeroed."""
    return _take(state, r1, r2, "bpf_map_peek_elem", pop=False)


def bpf_map_lookup_percpu_elem(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                               r5: int) -> int:
    """bpf_map_lookup_percpu_elem(map, key, cpu): NULL for a CPU past ``nr_cpu_ids``."""
    m = map_arg(state, r1, "bpf_map_lookup_percpu_elem")
    cpu = u32(r3)
    if cpu >= m.ncpus:
        return 0
    key = state.memory.read_bytes(r2, m.key_size, state.pc)
    return m.lookup_elem(key, cpu)
