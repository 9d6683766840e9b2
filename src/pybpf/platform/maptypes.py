"""Map-type facts the verifier and the runtimes share.

Mirrors, in kernel/bpf/verifier.c:

* check_map_func_compatibility() — the two-way check between a map passed as
  ``ARG_CONST_MAP_PTR`` and the helper (``cannot pass map_type %d into func %s#%d``): some map
  types only go to their own helpers (a ring buffer only to ``bpf_ringbuf_*``, a prog array only
  to ``bpf_tail_call``), some helpers only take their own map types (``bpf_redirect_map`` takes
  dev/cpu/xsk maps) — :func:`map_func_compatible`; may_update_sockmap() decides
  ``map_update_elem`` / ``map_delete_elem`` on sockmap/sockhash by program type;
* mark_ptr_or_null_reg() — what a checked ``bpf_map_lookup_elem()`` result becomes: a map value,
  the inner map of a map-in-map, a socket for sockmap/sockhash, an XDP socket for xskmap
  (:attr:`MapTypeInfo.lookup_reg_type`);
* can_elide_value_nullness() — array lookups with a constant in-range key need no NULL check;

and in kernel/bpf/syscall.c map_check_btf(): which map types may hold a ``bpf_spin_lock``, a
``bpf_timer`` / ``bpf_wq``, kptrs in their values; and each map type's ``map_btf_id`` (the
``BTF_ID_LIST_SINGLE(..., struct, X)`` its ``bpf_map_ops`` point at): the kernel struct a
program reads through a map pointer, check_ptr_to_map_access() (:attr:`MapTypeInfo.btf_struct`).

Not modelled: map-specific key/value size rules at creation, ``BPF_F_RDONLY_PROG`` /
``BPF_F_WRONLY_PROG``, map-in-map inner-map compatibility.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from pybpf.platform.attach import AttachType
from pybpf.platform.enums import MapType as M
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_ids import HelperId as H
from pybpf.platform.helper_ids import helper_name
from pybpf.platform.helper_types import RegType

__all__ = [
    "HELPER_MAP_TYPES",
    "MAP_TYPES",
    "NO_BTF_MAP_TYPES",
    "MapTypeInfo",
    "incompatible_message",
    "map_func_compatible",
    "map_type_info",
    "may_update_sockmap",
]

_RINGBUF_HELPERS = frozenset({
    H.RINGBUF_OUTPUT, H.RINGBUF_RESERVE, H.RINGBUF_QUERY, H.RINGBUF_RESERVE_DYNPTR,
    H.RINGBUF_SUBMIT_DYNPTR, H.RINGBUF_DISCARD_DYNPTR,
})
_PERF_HELPERS = frozenset({
    H.PERF_EVENT_READ, H.PERF_EVENT_OUTPUT, H.SKB_OUTPUT, H.PERF_EVENT_READ_VALUE, H.XDP_OUTPUT,
})


@dataclass(frozen=True, slots=True)
class MapTypeInfo:
    """What programs may do with maps of one type.

    ``helpers`` is the map-side allow-list of check_map_func_compatibility() (None: the map
    side allows any helper; the helper side may still refuse). ``lookup_reg_type`` is the
    register type of a ``bpf_map_lookup_elem()`` result after its NULL check (None: lookups
    are refused); before the check it is that type ``| PTR_MAYBE_NULL`` (the log's
    ``map_value_or_null``). ``update_by_prog_type`` marks sockmap/sockhash, whose
    update/delete depend on may_update_sockmap().
    """

    map_type: M
    helpers: frozenset[H] | None
    lookup_reg_type: int | None
    per_cpu: bool = False
    const_key_non_null: bool = False
    spin_lock: bool = False
    timer: bool = False
    kptr: bool = False
    map_in_map: bool = False
    update_by_prog_type: bool = False
    btf_struct: str = ""

    def allows(self, helper: H) -> bool:
        """The map side of the compatibility check for ``helper``."""
        if self.helpers is None:
            return True
        return helper in self.helpers

    @property
    def program_lookup(self) -> bool:
        """``bpf_map_lookup_elem()`` on this map type passes the compatibility check."""
        return map_func_compatible(self.map_type, H.MAP_LOOKUP_ELEM)

    @property
    def program_update(self) -> bool:
        """``bpf_map_update_elem()`` passes for some program type."""
        return self.update_by_prog_type or map_func_compatible(self.map_type, H.MAP_UPDATE_ELEM)

    @property
    def program_delete(self) -> bool:
        """``bpf_map_delete_elem()`` passes for some program type."""
        return self.update_by_prog_type or map_func_compatible(self.map_type, H.MAP_DELETE_ELEM)


_VAL = RegType.PTR_TO_MAP_VALUE

# map_btf_id of each map type's bpf_map_ops (Linux 6.18): kernel/bpf/arraymap.c, hashtab.c,
# stackmap.c, lpm_trie.c, devmap.c, cpumap.c, queue_stack_maps.c, ringbuf.c, bloom_filter.c,
# local_storage.c, bpf_local_storage.c, bpf_struct_ops.c, arena.c, reuseport_array.c,
# net/core/sock_map.c, net/xdp/xskmap.c. Checked on 6.18 by reading through a map of each
# type that can be created without BTF (the errors name the struct).
_BTF_STRUCTS = {
    **dict.fromkeys((M.ARRAY, M.PERCPU_ARRAY, M.PROG_ARRAY, M.PERF_EVENT_ARRAY, M.CGROUP_ARRAY,
                     M.ARRAY_OF_MAPS), "bpf_array"),
    **dict.fromkeys((M.HASH, M.PERCPU_HASH, M.LRU_HASH, M.LRU_PERCPU_HASH, M.HASH_OF_MAPS),
                    "bpf_htab"),
    M.STACK_TRACE: "bpf_stack_map", M.LPM_TRIE: "lpm_trie",
    M.DEVMAP: "bpf_dtab", M.DEVMAP_HASH: "bpf_dtab", M.SOCKMAP: "bpf_stab",
    M.SOCKHASH: "bpf_shtab", M.CPUMAP: "bpf_cpu_map", M.XSKMAP: "xsk_map",
    M.CGROUP_STORAGE: "bpf_cgroup_storage_map", M.PERCPU_CGROUP_STORAGE: "bpf_cgroup_storage_map",
    M.REUSEPORT_SOCKARRAY: "reuseport_array", M.QUEUE: "bpf_queue_stack",
    M.STACK: "bpf_queue_stack", M.RINGBUF: "bpf_ringbuf_map", M.USER_RINGBUF: "bpf_ringbuf_map",
    M.BLOOM_FILTER: "bpf_bloom_filter", M.STRUCT_OPS: "bpf_struct_ops_map",
    **dict.fromkeys((M.SK_STORAGE, M.INODE_STORAGE, M.TASK_STORAGE, M.CGRP_STORAGE),
                    "bpf_local_storage_map"),
    M.ARENA: "bpf_arena",
}  # fmt: skip


def _info(map_type: M, helpers, lookup=_VAL, **kw) -> MapTypeInfo:
    return MapTypeInfo(map_type, None if helpers is None else frozenset(helpers), lookup,
                       btf_struct=_BTF_STRUCTS.get(map_type, ""), **kw)  # fmt: skip


MAP_TYPES = MappingProxyType({
    i.map_type: i
    for i in (
        _info(M.HASH, None, spin_lock=True, timer=True, kptr=True),
        _info(M.ARRAY, None, const_key_non_null=True, spin_lock=True, timer=True, kptr=True),
        _info(M.PROG_ARRAY, {H.TAIL_CALL}, None),
        _info(M.PERF_EVENT_ARRAY, _PERF_HELPERS, None),
        _info(M.PERCPU_HASH, None, per_cpu=True, kptr=True),
        _info(M.PERCPU_ARRAY, None, per_cpu=True, const_key_non_null=True, kptr=True),
        _info(M.STACK_TRACE, {H.GET_STACKID}, None),
        _info(M.CGROUP_ARRAY, {H.SKB_UNDER_CGROUP, H.CURRENT_TASK_UNDER_CGROUP}, None),
        _info(M.LRU_HASH, None, timer=True, kptr=True),
        _info(M.LRU_PERCPU_HASH, None, per_cpu=True, kptr=True),
        _info(M.LPM_TRIE, None),
        _info(M.ARRAY_OF_MAPS, {H.MAP_LOOKUP_ELEM}, RegType.CONST_PTR_TO_MAP, map_in_map=True),
        _info(M.HASH_OF_MAPS, {H.MAP_LOOKUP_ELEM}, RegType.CONST_PTR_TO_MAP, map_in_map=True),
        _info(M.DEVMAP, {H.REDIRECT_MAP, H.MAP_LOOKUP_ELEM}),
        _info(M.SOCKMAP, {H.SK_REDIRECT_MAP, H.SOCK_MAP_UPDATE, H.MSG_REDIRECT_MAP,
                          H.SK_SELECT_REUSEPORT, H.MAP_LOOKUP_ELEM},
              RegType.PTR_TO_SOCKET, update_by_prog_type=True),
        _info(M.CPUMAP, {H.REDIRECT_MAP}, None),
        _info(M.XSKMAP, {H.REDIRECT_MAP, H.MAP_LOOKUP_ELEM}, RegType.PTR_TO_XDP_SOCK),
        _info(M.SOCKHASH, {H.SK_REDIRECT_HASH, H.SOCK_HASH_UPDATE, H.MSG_REDIRECT_HASH,
                           H.SK_SELECT_REUSEPORT, H.MAP_LOOKUP_ELEM},
              RegType.PTR_TO_SOCKET, update_by_prog_type=True),
        _info(M.CGROUP_STORAGE, {H.GET_LOCAL_STORAGE}, None, spin_lock=True),
        _info(M.REUSEPORT_SOCKARRAY, {H.SK_SELECT_REUSEPORT}, None),
        _info(M.PERCPU_CGROUP_STORAGE, {H.GET_LOCAL_STORAGE}, None, per_cpu=True),
        _info(M.QUEUE, {H.MAP_PEEK_ELEM, H.MAP_POP_ELEM, H.MAP_PUSH_ELEM}, None),
        _info(M.STACK, {H.MAP_PEEK_ELEM, H.MAP_POP_ELEM, H.MAP_PUSH_ELEM}, None),
        _info(M.SK_STORAGE, {H.SK_STORAGE_GET, H.SK_STORAGE_DELETE, H.KPTR_XCHG}, None,
              spin_lock=True, kptr=True),
        _info(M.DEVMAP_HASH, {H.REDIRECT_MAP, H.MAP_LOOKUP_ELEM}),
        _info(M.STRUCT_OPS, None),
        _info(M.RINGBUF, _RINGBUF_HELPERS, None),
        _info(M.INODE_STORAGE, {H.INODE_STORAGE_GET, H.INODE_STORAGE_DELETE, H.KPTR_XCHG}, None,
              spin_lock=True, kptr=True),
        _info(M.TASK_STORAGE, {H.TASK_STORAGE_GET, H.TASK_STORAGE_DELETE, H.KPTR_XCHG}, None,
              spin_lock=True, kptr=True),
        _info(M.BLOOM_FILTER, {H.MAP_PEEK_ELEM, H.MAP_PUSH_ELEM}, None),
        _info(M.USER_RINGBUF, {H.USER_RINGBUF_DRAIN}, None),
        _info(M.CGRP_STORAGE, {H.CGRP_STORAGE_GET, H.CGRP_STORAGE_DELETE, H.KPTR_XCHG}, None,
              spin_lock=True, kptr=True),
        # The map side allows any helper, but an arena has key_size = value_size = 0, so a
        # lookup's key argument is refused ("invalid zero-sized read").
        _info(M.ARENA, None, None),
    )
})
"""Every map type except ``UNSPEC``."""

HELPER_MAP_TYPES = MappingProxyType({
    # The helper side of check_map_func_compatibility(): helper → the map types it accepts.
    H.TAIL_CALL: frozenset({M.PROG_ARRAY}),
    **{h: frozenset({M.PERF_EVENT_ARRAY}) for h in _PERF_HELPERS},
    **{h: frozenset({M.RINGBUF}) for h in _RINGBUF_HELPERS},
    H.USER_RINGBUF_DRAIN: frozenset({M.USER_RINGBUF}),
    H.GET_STACKID: frozenset({M.STACK_TRACE}),
    H.CURRENT_TASK_UNDER_CGROUP: frozenset({M.CGROUP_ARRAY}),
    H.SKB_UNDER_CGROUP: frozenset({M.CGROUP_ARRAY}),
    H.REDIRECT_MAP: frozenset({M.DEVMAP, M.DEVMAP_HASH, M.CPUMAP, M.XSKMAP}),
    H.SK_REDIRECT_MAP: frozenset({M.SOCKMAP}),
    H.MSG_REDIRECT_MAP: frozenset({M.SOCKMAP}),
    H.SOCK_MAP_UPDATE: frozenset({M.SOCKMAP}),
    H.SK_REDIRECT_HASH: frozenset({M.SOCKHASH}),
    H.MSG_REDIRECT_HASH: frozenset({M.SOCKHASH}),
    H.SOCK_HASH_UPDATE: frozenset({M.SOCKHASH}),
    H.GET_LOCAL_STORAGE: frozenset({M.CGROUP_STORAGE, M.PERCPU_CGROUP_STORAGE}),
    H.SK_SELECT_REUSEPORT: frozenset({M.REUSEPORT_SOCKARRAY, M.SOCKMAP, M.SOCKHASH}),
    H.MAP_POP_ELEM: frozenset({M.QUEUE, M.STACK}),
    H.MAP_PEEK_ELEM: frozenset({M.QUEUE, M.STACK, M.BLOOM_FILTER}),
    H.MAP_PUSH_ELEM: frozenset({M.QUEUE, M.STACK, M.BLOOM_FILTER}),
    H.MAP_LOOKUP_PERCPU_ELEM: frozenset({M.PERCPU_ARRAY, M.PERCPU_HASH, M.LRU_PERCPU_HASH}),
    H.SK_STORAGE_GET: frozenset({M.SK_STORAGE}),
    H.SK_STORAGE_DELETE: frozenset({M.SK_STORAGE}),
    H.INODE_STORAGE_GET: frozenset({M.INODE_STORAGE}),
    H.INODE_STORAGE_DELETE: frozenset({M.INODE_STORAGE}),
    H.TASK_STORAGE_GET: frozenset({M.TASK_STORAGE}),
    H.TASK_STORAGE_DELETE: frozenset({M.TASK_STORAGE}),
    H.CGRP_STORAGE_GET: frozenset({M.CGRP_STORAGE}),
    H.CGRP_STORAGE_DELETE: frozenset({M.CGRP_STORAGE}),
})
"""Helpers that only take certain map types (others take any map the map side allows)."""

_SOCKMAP_UPDATE_TYPES = frozenset({
    ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.XDP,
    ProgType.SK_REUSEPORT, ProgType.FLOW_DISSECTOR, ProgType.SK_LOOKUP,
})


def map_type_info(map_type: M) -> MapTypeInfo:
    """The :class:`MapTypeInfo` of ``map_type``."""
    return MAP_TYPES[M(map_type)]


def may_update_sockmap(
    helper: H, prog_type: ProgType, attach_type: AttachType | None = None
) -> bool:
    """may_update_sockmap(): sockmap/sockhash update (delete) from ``prog_type`` programs."""
    if helper not in (H.MAP_UPDATE_ELEM, H.MAP_DELETE_ELEM):
        return False
    if prog_type is ProgType.TRACING:
        return attach_type is AttachType.TRACE_ITER
    if prog_type is ProgType.SOCK_OPS:
        return helper is H.MAP_DELETE_ELEM
    return prog_type in _SOCKMAP_UPDATE_TYPES


def map_func_compatible(
    map_type: M,
    helper: H,
    prog_type: ProgType | None = None,
    attach_type: AttachType | None = None,
) -> bool:
    """check_map_func_compatibility(): may a ``map_type`` map be passed to ``helper``?

    ``prog_type`` matters only for sockmap/sockhash updates and deletes
    (may_update_sockmap()); without it only the map-side list applies and they are refused.
    """
    info = MAP_TYPES[M(map_type)]
    if not info.allows(helper) and not (
        info.update_by_prog_type and prog_type is not None
        and may_update_sockmap(helper, prog_type, attach_type)
    ):
        return False
    allowed = HELPER_MAP_TYPES.get(helper)
    return allowed is None or info.map_type in allowed


def incompatible_message(map_type: M, helper: H) -> str:
    """The verifier's refusal (tail calls are refused earlier, by record_func_map())."""
    if helper is H.TAIL_CALL:
        return "expected prog array map for tail call"
    return f"cannot pass map_type {int(map_type)} into func {helper_name(helper)}#{int(helper)}"


#: Map types libbpf's ``bpf_object__create_map()`` creates without key/value BTF (even for
#: an object with BTF): the kernel loader does the same, and pybpf's verifier then sees
#: these maps without BTF.
NO_BTF_MAP_TYPES: frozenset[int] = frozenset(int(t) for t in (
    M.PERF_EVENT_ARRAY, M.CGROUP_ARRAY, M.STACK_TRACE, M.ARRAY_OF_MAPS, M.HASH_OF_MAPS,
    M.DEVMAP, M.DEVMAP_HASH, M.CPUMAP, M.XSKMAP, M.SOCKMAP, M.SOCKHASH, M.QUEUE, M.STACK,
    M.ARENA,
))  # fmt: skip
