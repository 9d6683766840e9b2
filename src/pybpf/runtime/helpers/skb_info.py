"""What an skb knows about its flow and owner: hash, socket cookie/uid, cgroup, realm, netns.

Mirrors net/core/filter.c (Linux 6.18):

* ``bpf_get_hash_recalc(skb)``: ``skb_get_hash()`` — the stored hash when it was set in
  software or is an L4 hash, else computed (``__skb_get_hash()``) and stored, never 0;
  ``bpf_set_hash(skb, hash)`` stores a software L4 hash; ``bpf_set_hash_invalid(skb)``
  clears it (``skb_clear_hash()``). The kernel's value is ``siphash`` of the dissected flow
  keys under a key drawn at boot; here the flow keys (addresses and, for TCP/UDP/SCTP/
  UDP-Lite, ports, ordered so both directions agree as ``__flow_hash_consistentify()``
  does) are hashed with BLAKE2b under the environment's secret: the properties hold
  (stable for a flow, nonzero, symmetric), the values never equal the kernel's.
* ``bpf_get_socket_cookie(skb)``: the owning socket's cookie (generated on first use), 0
  without a socket; ``bpf_get_socket_uid(skb)``: its owner's uid, ``overflowuid`` (65534)
  without one. A test-run skb owns a dummy socket whose uid is 0.
* ``bpf_get_cgroup_classid(skb)``: the net_cls class of the current task (test runs are in
  process context); ``bpf_skb_cgroup_id(skb)``: the cgroup v2 of the owning socket (the
  test's socket is created in the current task's cgroup); ``bpf_get_route_realm(skb)``:
  the route's realm (no route in a test run: 0); ``bpf_get_netns_cookie(ctx)``: the
  namespace cookie (see :class:`.env.HelperEnv`).
"""

from __future__ import annotations

import hashlib

from pybpf.runtime.ctx.skb import SkbContext
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.env import env_of
from pybpf.runtime.helpers.skb import ETH_P_IP, ETH_P_IPV6
from pybpf.runtime.helpers.skb_meta import SkbMeta, clear_hash, get_protocol, skb_of
from pybpf.runtime.helpers.task import task_of

__all__ = [
    "bpf_get_cgroup_classid",
    "bpf_get_hash_recalc",
    "bpf_get_netns_cookie",
    "bpf_get_route_realm",
    "bpf_get_socket_cookie",
    "bpf_get_socket_uid",
    "bpf_set_hash",
    "bpf_set_hash_invalid",
    "bpf_skb_cgroup_id",
    "flow_keys",
]

OVERFLOW_UID = 65534
_PORT_PROTOS = frozenset({6, 17, 132, 136})  # TCP, UDP, SCTP, UDP-Lite


def flow_keys(ctx: SkbContext, meta: SkbMeta) -> tuple[bytes, bool]:
    """Dissect the flow from the network header: (canonical key bytes, has L4 ports)."""
    buf, net, end = ctx.packet.buf, meta.network_header, ctx.packet.end
    proto = get_protocol(ctx)
    if proto == ETH_P_IP and net + 20 <= end:
        ihl = (buf[net] & 0x0F) * 4
        l4 = buf[net + 9]
        addrs = [bytes(buf[net + 12 : net + 16]), bytes(buf[net + 16 : net + 20])]
        frag = int.from_bytes(buf[net + 6 : net + 8], "big") & 0x3FFF
        ports_at = net + ihl if not frag else None
    elif proto == ETH_P_IPV6 and net + 40 <= end:
        l4 = buf[net + 6]
        addrs = [bytes(buf[net + 8 : net + 24]), bytes(buf[net + 24 : net + 40])]
        ports_at = net + 40
    else:
        return proto.to_bytes(2, "big"), False
    ports = [b"", b""]
    has_ports = False
    if ports_at is not None and l4 in _PORT_PROTOS and ports_at + 4 <= end:
        ports = [bytes(buf[ports_at : ports_at + 2]), bytes(buf[ports_at + 2 : ports_at + 4])]
        has_ports = True
    ends = sorted(zip(addrs, ports, strict=True))  # both directions give the same key
    key = proto.to_bytes(2, "big") + bytes([l4]) + b"".join(a + p for a, p in ends)
    return key, has_ports


def _skb_get_hash(state: ExecState, ctx: SkbContext, meta: SkbMeta) -> int:
    """``skb_get_hash()``."""
    if not meta.l4_hash and not meta.sw_hash:
        key, has_ports = flow_keys(ctx, meta)
        digest = hashlib.blake2b(key, key=env_of(state).secret, digest_size=4).digest()
        value = int.from_bytes(digest, "little") or 1
        ctx.region.set("hash", value)
        meta.sw_hash, meta.l4_hash = True, has_ports
    return ctx.region.get("hash") & 0xFFFFFFFF


def bpf_get_hash_recalc(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_hash_recalc(skb): the flow hash, computed if not set."""
    ctx, meta = skb_of(state, "bpf_get_hash_recalc")
    return _skb_get_hash(state, ctx, meta)


def bpf_set_hash(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_set_hash(skb, hash): ``__skb_set_sw_hash(skb, hash, true)``; returns 0."""
    ctx, meta = skb_of(state, "bpf_set_hash")
    ctx.region.set("hash", r2 & 0xFFFFFFFF)
    meta.sw_hash = meta.l4_hash = True
    return 0


def bpf_set_hash_invalid(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_set_hash_invalid(skb): ``skb_clear_hash()``; returns 0."""
    ctx, meta = skb_of(state, "bpf_set_hash_invalid")
    clear_hash(ctx, meta)
    return 0


def bpf_get_socket_cookie(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_socket_cookie(ctx): the skb's socket cookie (0 without a socket), or that of
    the socket behind a sock_ops/sock/sock_addr context (its ``sock`` attribute)."""
    if not isinstance(state.context, SkbContext):
        sock = getattr(state.context, "sock", None)
        if sock is None:
            return 0
        if not sock.cookie:
            sock.cookie = env_of(state).new_socket_cookie()
        return int(sock.cookie)
    _ctx, meta = skb_of(state, "bpf_get_socket_cookie")
    if not meta.has_socket:
        return 0
    if not meta.socket_cookie:
        meta.socket_cookie = env_of(state).new_socket_cookie()
    return meta.socket_cookie


def bpf_get_socket_uid(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_socket_uid(skb): the owning socket's uid, or ``overflowuid``."""
    _ctx, meta = skb_of(state, "bpf_get_socket_uid")
    return meta.socket_uid if meta.has_socket else OVERFLOW_UID


def bpf_get_cgroup_classid(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                           r5: int) -> int:
    """bpf_get_cgroup_classid(skb): ``task_get_classid()`` in process context."""
    return task_of(state).classid


def bpf_skb_cgroup_id(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_skb_cgroup_id(skb): cgroup v2 id of the owning socket, 0 without one."""
    _ctx, meta = skb_of(state, "bpf_skb_cgroup_id")
    return task_of(state).cgroup_id if meta.has_socket else 0


def bpf_get_route_realm(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_route_realm(skb): ``dst_tclassid(skb)``."""
    _ctx, meta = skb_of(state, "bpf_get_route_realm")
    return meta.route_realm


def bpf_get_netns_cookie(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_netns_cookie(ctx): the network namespace's cookie."""
    return env_of(state).net_cookie
