"""The helper table: every implemented helper by id (``BPF_FUNC_*``).

:func:`default_helpers` returns a fresh ``{id: implementation}`` dict for
:class:`~pybpf.interp.machine.Interpreter` (``Interpreter(helpers=default_helpers())``). A
helper that is not in it is not implemented: loading a program that calls it raises
:class:`~pybpf.errors.NotSupportedError` naming it. ``bpf_tail_call`` is not here: the
interpreter performs tail calls itself. Which program types may call which helper is the
verifier's business (:mod:`pybpf.platform.prog_helpers`); where the kernel has several
variants of one helper id, the implementation picks the variant by the run's context.
"""

from __future__ import annotations

from types import MappingProxyType

from pybpf.platform.helper_ids import HelperId as H
from pybpf.runtime.execstate import Helper
from pybpf.runtime.helpers import (
    callbacks,
    csum,
    maps,
    misc,
    output,
    printk,
    probe,
    redirect,
    skb,
    skb_info,
    skb_room,
    sockops,
    task,
    time,
    tracing,
    xdp,
)
from pybpf.runtime.helpers import random as prandom

__all__ = ["HELPERS", "default_helpers"]

HELPERS = MappingProxyType({
    # maps
    H.MAP_LOOKUP_ELEM: maps.bpf_map_lookup_elem,
    H.MAP_UPDATE_ELEM: maps.bpf_map_update_elem,
    H.MAP_DELETE_ELEM: maps.bpf_map_delete_elem,
    H.MAP_PUSH_ELEM: maps.bpf_map_push_elem,
    H.MAP_POP_ELEM: maps.bpf_map_pop_elem,
    H.MAP_PEEK_ELEM: maps.bpf_map_peek_elem,
    H.MAP_LOOKUP_PERCPU_ELEM: maps.bpf_map_lookup_percpu_elem,
    H.FOR_EACH_MAP_ELEM: callbacks.bpf_for_each_map_elem,
    H.LOOP: callbacks.bpf_loop,
    # time and randomness
    H.KTIME_GET_NS: time.bpf_ktime_get_ns,
    H.KTIME_GET_BOOT_NS: time.bpf_ktime_get_boot_ns,
    H.KTIME_GET_COARSE_NS: time.bpf_ktime_get_coarse_ns,
    H.KTIME_GET_TAI_NS: time.bpf_ktime_get_tai_ns,
    H.JIFFIES64: time.bpf_jiffies64,
    H.GET_PRANDOM_U32: prandom.bpf_get_prandom_u32,
    # the current task and CPU
    H.GET_SMP_PROCESSOR_ID: task.bpf_get_smp_processor_id,
    H.GET_NUMA_NODE_ID: task.bpf_get_numa_node_id,
    H.GET_CURRENT_PID_TGID: task.bpf_get_current_pid_tgid,
    H.GET_CURRENT_UID_GID: task.bpf_get_current_uid_gid,
    H.GET_CURRENT_COMM: task.bpf_get_current_comm,
    H.GET_CURRENT_TASK: task.bpf_get_current_task,
    H.GET_CURRENT_TASK_BTF: task.bpf_get_current_task,
    H.GET_CURRENT_CGROUP_ID: task.bpf_get_current_cgroup_id,
    H.GET_CURRENT_ANCESTOR_CGROUP_ID: task.bpf_get_current_ancestor_cgroup_id,
    H.SEND_SIGNAL: task.bpf_send_signal,
    H.SEND_SIGNAL_THREAD: task.bpf_send_signal_thread,
    # printing and output
    H.TRACE_PRINTK: printk.bpf_trace_printk,
    H.SNPRINTF: printk.bpf_snprintf,
    H.TRACE_VPRINTK: printk.bpf_trace_vprintk,
    H.PERF_EVENT_OUTPUT: output.bpf_perf_event_output,
    H.RINGBUF_OUTPUT: output.bpf_ringbuf_output,
    H.RINGBUF_RESERVE: output.bpf_ringbuf_reserve,
    H.RINGBUF_SUBMIT: output.bpf_ringbuf_submit,
    H.RINGBUF_DISCARD: output.bpf_ringbuf_discard,
    H.RINGBUF_QUERY: output.bpf_ringbuf_query,
    # reading memory
    H.PROBE_READ: probe.bpf_probe_read,
    H.PROBE_READ_STR: probe.bpf_probe_read_str,
    H.PROBE_READ_KERNEL: probe.bpf_probe_read_kernel,
    H.PROBE_READ_KERNEL_STR: probe.bpf_probe_read_kernel_str,
    H.PROBE_READ_USER: probe.bpf_probe_read_user,
    H.PROBE_READ_USER_STR: probe.bpf_probe_read_user_str,
    H.COPY_FROM_USER: probe.bpf_copy_from_user,
    # XDP
    H.XDP_ADJUST_HEAD: xdp.bpf_xdp_adjust_head,
    H.XDP_ADJUST_TAIL: xdp.bpf_xdp_adjust_tail,
    H.XDP_ADJUST_META: xdp.bpf_xdp_adjust_meta,
    H.XDP_GET_BUFF_LEN: xdp.bpf_xdp_get_buff_len,
    H.XDP_LOAD_BYTES: xdp.bpf_xdp_load_bytes,
    H.XDP_STORE_BYTES: xdp.bpf_xdp_store_bytes,
    # redirects
    H.REDIRECT: redirect.bpf_redirect,
    H.REDIRECT_MAP: redirect.bpf_redirect_map,
    H.CLONE_REDIRECT: redirect.bpf_clone_redirect,
    H.REDIRECT_PEER: redirect.bpf_redirect_peer,
    H.REDIRECT_NEIGH: redirect.bpf_redirect_neigh,
    # socket buffers
    H.SKB_LOAD_BYTES: skb.bpf_skb_load_bytes,
    H.SKB_LOAD_BYTES_RELATIVE: skb.bpf_skb_load_bytes_relative,
    H.SKB_STORE_BYTES: skb.bpf_skb_store_bytes,
    H.SKB_PULL_DATA: skb.bpf_skb_pull_data,
    H.SKB_CHANGE_HEAD: skb.bpf_skb_change_head,
    H.SKB_CHANGE_TAIL: skb.bpf_skb_change_tail,
    H.SKB_CHANGE_PROTO: skb.bpf_skb_change_proto,
    H.SKB_CHANGE_TYPE: skb.bpf_skb_change_type,
    H.SKB_VLAN_PUSH: skb.bpf_skb_vlan_push,
    H.SKB_VLAN_POP: skb.bpf_skb_vlan_pop,
    H.SKB_ADJUST_ROOM: skb_room.bpf_skb_adjust_room,
    H.L3_CSUM_REPLACE: csum.bpf_l3_csum_replace,
    H.L4_CSUM_REPLACE: csum.bpf_l4_csum_replace,
    H.CSUM_DIFF: csum.bpf_csum_diff,
    H.CSUM_UPDATE: csum.bpf_csum_update,
    H.CSUM_LEVEL: csum.bpf_csum_level,
    H.GET_HASH_RECALC: skb_info.bpf_get_hash_recalc,
    H.SET_HASH: skb_info.bpf_set_hash,
    H.SET_HASH_INVALID: skb_info.bpf_set_hash_invalid,
    H.GET_SOCKET_COOKIE: skb_info.bpf_get_socket_cookie,
    H.GET_SOCKET_UID: skb_info.bpf_get_socket_uid,
    H.GET_CGROUP_CLASSID: skb_info.bpf_get_cgroup_classid,
    H.GET_ROUTE_REALM: skb_info.bpf_get_route_realm,
    H.GET_NETNS_COOKIE: skb_info.bpf_get_netns_cookie,
    H.SKB_CGROUP_ID: skb_info.bpf_skb_cgroup_id,
    # sockets
    H.SETSOCKOPT: sockops.bpf_setsockopt,
    H.GETSOCKOPT: sockops.bpf_getsockopt,
    H.SOCK_OPS_CB_FLAGS_SET: sockops.bpf_sock_ops_cb_flags_set,
    # miscellany
    H.SPIN_LOCK: misc.bpf_spin_lock,
    H.SPIN_UNLOCK: misc.bpf_spin_unlock,
    H.STRNCMP: misc.bpf_strncmp,
    H.STRTOL: misc.bpf_strtol,
    H.STRTOUL: misc.bpf_strtoul,
    # tracing
    H.GET_FUNC_IP: tracing.bpf_get_func_ip,
    H.GET_FUNC_ARG: tracing.bpf_get_func_arg,
    H.GET_FUNC_RET: tracing.bpf_get_func_ret,
    H.GET_FUNC_ARG_CNT: tracing.bpf_get_func_arg_cnt,
    H.PERF_EVENT_READ: tracing.bpf_perf_event_read,
    H.PERF_EVENT_READ_VALUE: tracing.bpf_perf_event_read_value,
    H.GET_STACK: tracing.bpf_get_stack,
    H.GET_STACKID: tracing.bpf_get_stackid,
})
"""Every implemented helper by id (read-only; :func:`default_helpers` gives a copy)."""


def default_helpers() -> dict[int, Helper]:
    """A fresh table of every implemented helper, keyed by helper id."""
    return {int(hid): fn for hid, fn in HELPERS.items()}
