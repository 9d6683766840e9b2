"""The kernel state around a program that helpers read and write, beyond clock, PRNG and task.

One :class:`HelperEnv` per :class:`~pybpf.runtime.execstate.ExecState` (``state.env``),
installed with defaults by :func:`env_of` on first use. It holds what the kernel keeps
outside the program and its maps:

* the network namespace: its cookie (``net->net_cookie``; by default that of the calling
  process's namespace, as a test run sees it) and the devices that exist in it
  (``dev_get_by_index_rcu()``; by default only ``lo``, ifindex 1);
* the socket cookie generator (``gen_cookie_next(&sock_cookie)``);
* values of perf counters read through perf event arrays (bpf_perf_event_read());
* ring buffer records reserved and not yet committed (to find a record's map on submit);
* per-context state of the objects behind a context (an skb's checksum state, hash flags,
  header offsets), kept for as long as the context object lives;
* the key that stands for the boot-time random keys (flow hashing, ``%p`` hashing): random
  per environment, so such values are stable within a run but never equal the kernel's.

Not modelled: devices' properties (only their existence), several network namespaces.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from pybpf.runtime.execstate import ExecState

__all__ = ["HelperEnv", "PerfCounter", "env_of"]

#: ``net_cookie`` of ``init_net`` (the first namespace created at boot).
INIT_NET_COOKIE = 1
LOOPBACK_IFINDEX = 1
SO_NETNS_COOKIE = 71


def host_net_cookie() -> int:
    """The cookie of this process's network namespace (``SO_NETNS_COOKIE``), else 1."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            return int.from_bytes(sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8),
                                  "little")
    except OSError:
        return INIT_NET_COOKIE


@dataclass(slots=True)
class PerfCounter:
    """What perf_event_read_local() reports for one perf event: value, times enabled/running."""

    counter: int = 0
    enabled: int = 0
    running: int = 0


@dataclass(slots=True, eq=False)
class HelperEnv:
    """Kernel state helpers share (see the module docstring)."""

    #: The network namespace's cookie: by default the calling process's namespace.
    net_cookie: int = field(default_factory=host_net_cookie)
    ifindexes: set[int] = field(default_factory=lambda: {LOOPBACK_IFINDEX})
    next_socket_cookie: int = 4097
    #: ``(id(perf event object)) -> (event, counter)``; see :meth:`set_perf_counter`.
    perf_counters: dict[int, tuple[object, PerfCounter]] = field(default_factory=dict)
    #: Context object -> helper-side state of the kernel object behind it.
    context_state: WeakKeyDictionary[Any, Any] = field(default_factory=WeakKeyDictionary)
    #: Stands for the kernel's boot-time random keys (``hashrnd``, ``ptr_key``).
    secret: bytes = field(default_factory=lambda: os.urandom(16))
    #: ``kernel.kptr_restrict``: how ``%pK`` prints (0 hashes like ``%p``, else zeros).
    kptr_restrict: int = 0

    def device_exists(self, ifindex: int) -> bool:
        """``dev_get_by_index_rcu(net, ifindex) != NULL``."""
        return ifindex in self.ifindexes

    def new_socket_cookie(self) -> int:
        """``__sock_gen_cookie()`` for a socket that has none yet."""
        cookie = self.next_socket_cookie
        self.next_socket_cookie += 1
        return cookie

    def set_perf_counter(self, event: object, counter: int, enabled: int = 0,
                         running: int = 0) -> None:
        """Set what reading perf event ``event`` (a map's PerfEventBuffer) returns."""
        self.perf_counters[id(event)] = (event, PerfCounter(counter, enabled, running))

    def perf_counter(self, event: object) -> PerfCounter:
        entry = self.perf_counters.get(id(event))
        return entry[1] if entry is not None and entry[0] is event else PerfCounter()


def env_of(state: ExecState) -> HelperEnv:
    """``state.env``, installing the default environment on first use."""
    env = state.env
    if env is None:
        env = state.env = HelperEnv()
    return env
