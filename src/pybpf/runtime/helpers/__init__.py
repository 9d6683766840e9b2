"""Userspace implementations of the kernel's BPF helpers, with the kernel's semantics.

Each helper is a function ``bpf_xxx(state, r1, r2, r3, r4, r5) -> int`` mirroring the kernel
function of that name (Linux 6.18): the same return values and errnos, the same effects on
program memory, packets and maps. :func:`default_helpers` returns the table the interpreter
uses. Modules by concept:

========================  =====================================================================
:mod:`.maps`              map lookup/update/delete, push/pop/peek, per-CPU lookup
:mod:`.callbacks`         bpf_loop, bpf_for_each_map_elem
:mod:`.time`              ktime_get_(boot_/coarse_/tai_)ns, jiffies64; :class:`.time.ManualClock`
:mod:`.random`            get_prandom_u32 (the kernel's lfsr113, seedable)
:mod:`.task`              current task and CPU: pid/tgid, uid/gid, comm, cgroup, signals
:mod:`.printk`            trace_printk, trace_vprintk, snprintf (:mod:`.vsprintf` formats)
:mod:`.output`            perf_event_output, ring buffer reserve/submit/discard/output/query
:mod:`.probe`             probe_read_kernel/user(_str), probe_read(_str), copy_from_user
:mod:`.xdp`               xdp_adjust_head/tail/meta, xdp_load/store_bytes, xdp_get_buff_len
:mod:`.redirect`          redirect, redirect_map, clone_redirect, redirect_peer/neigh
:mod:`.skb`               skb_load/store_bytes, change_tail/head/proto/type, vlan push/pop
:mod:`.skb_room`          skb_adjust_room
:mod:`.csum`              l3/l4_csum_replace, csum_diff, csum_update, csum_level
:mod:`.skb_info`          flow hash, socket cookie/uid, cgroup classid/id, realm, netns cookie
:mod:`.sockops`           setsockopt/getsockopt/sock_ops_cb_flags_set on a :class:`SockState`
:mod:`.misc`              spin_lock/unlock, strncmp, strtol/strtoul
:mod:`.tracing`           get_func_ip/arg/ret/arg_cnt, get_stack(id), perf_event_read(_value)
========================  =====================================================================

The kernel around the program is modelled on the :class:`~pybpf.runtime.execstate.ExecState`:
``state.clock``, ``state.prandom``, ``state.task`` and ``state.env`` (:class:`.env.HelperEnv`),
each installed with a default on first use.
"""

from pybpf.runtime.helpers.env import HelperEnv, PerfCounter
from pybpf.runtime.helpers.random import Prandom
from pybpf.runtime.helpers.sock_state import SavedSyn, SockState
from pybpf.runtime.helpers.table import HELPERS, default_helpers
from pybpf.runtime.helpers.task import Task
from pybpf.runtime.helpers.time import HostClock, ManualClock
from pybpf.runtime.helpers.tracing import TraceCall

__all__ = [
    "HELPERS",
    "HelperEnv",
    "HostClock",
    "ManualClock",
    "PerfCounter",
    "Prandom",
    "SavedSyn",
    "SockState",
    "Task",
    "TraceCall",
    "default_helpers",
]
