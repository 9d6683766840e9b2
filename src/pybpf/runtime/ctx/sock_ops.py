"""The sock_ops context (``struct bpf_sock_ops``) over a modelled TCP socket.

Mirrors ``sock_ops_convert_ctx_access()`` (net/core/filter.c): ``op`` and ``args[]`` come
from the callback, ``reply``/``replylong[]`` and ``sk_txhash`` are what the program may
write, the connection fields read the socket: ``remote_ip4``/``local_ip4`` in network byte
order, ``remote_port`` as the network-order port shifted left by 16 (little-endian
kernels), ``local_port`` in host order, ``bpf_sock_ops_cb_flags`` the callbacks enabled.
The socket's option state is a :class:`~pybpf.runtime.helpers.sock_state.SockState`; the
setsockopt/getsockopt helpers act on it, so a test can assert what a program configured.

The kernel has no BPF_PROG_TEST_RUN for sock_ops: :func:`run_sock_ops` runs one callback.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.runtime.ctx.base import ContextRegion
from pybpf.runtime.helpers.sock_state import SockState
from pybpf.runtime.memory import Memory


class SockOpsOp(IntEnum):
    """``BPF_SOCK_OPS_*`` operations (include/uapi/linux/bpf.h)."""

    VOID = 0
    TIMEOUT_INIT = 1
    RWND_INIT = 2
    TCP_CONNECT_CB = 3
    ACTIVE_ESTABLISHED_CB = 4
    PASSIVE_ESTABLISHED_CB = 5
    NEEDS_ECN = 6
    BASE_RTT = 7
    RTO_CB = 8
    RETRANS_CB = 9
    STATE_CB = 10
    TCP_LISTEN_CB = 11
    RTT_CB = 12
    PARSE_HDR_OPT_CB = 13
    HDR_OPT_LEN_CB = 14
    WRITE_HDR_OPT_CB = 15


@dataclass(slots=True)
class Endpoint:
    """One end of the connection: address and port (host order)."""

    address: str
    port: int


#: Fields read from the modelled socket when it has an attribute of that name.
_SOCK_FIELDS = ("snd_cwnd", "srtt_us", "rtt_min", "snd_ssthresh", "rcv_nxt", "snd_nxt",
                "snd_una", "mss_cache", "ecn_flags", "rate_delivered", "rate_interval_us",
                "packets_out", "retrans_out", "total_retrans", "segs_in", "data_segs_in",
                "segs_out", "data_segs_out", "lost_out", "sacked_out", "bytes_received",
                "bytes_acked", "state")


class SockOpsContext:
    """``struct bpf_sock_ops`` for one callback ``op`` with ``args`` on socket ``sock``."""

    def __init__(self, memory: Memory, op: int, *, args: tuple[int, ...] = (),
                 sock: SockState | None = None, local: Endpoint | None = None,
                 remote: Endpoint | None = None) -> None:
        self.sock = sock if sock is not None else SockState()
        self.op = int(op)
        self.local = local or Endpoint("10.0.0.1", 40000)
        self.remote = remote or Endpoint("10.0.0.2", 80)
        sock_ref = self.sock
        getters: dict[str, Any] = {
            "bpf_sock_ops_cb_flags": lambda: sock_ref.sock_ops_cb_flags,
            "is_fullsock": lambda: int(sock_ref.fullsock),
            "family": lambda: sock_ref.family,
        }
        for name in _SOCK_FIELDS:
            if hasattr(sock_ref, name):
                getters[name] = (lambda n=name: int(getattr(sock_ref, n)) & 0xFFFFFFFFFFFFFFFF)
        self.region = ContextRegion(memory, CTX_STRUCTS["bpf_sock_ops"], getters=getters)
        region = self.region
        region.set("op", self.op)
        for i, value in enumerate(tuple(args)[:4]):
            region.set(f"args[{i}]", value)
        self._set_addresses()

    def _set_addresses(self) -> None:
        region = self.region
        local, remote = ipaddress.ip_address(self.local.address), ipaddress.ip_address(self.remote.address)
        if local.version == 4 and remote.version == 4:
            region.set("local_ip4", int.from_bytes(local.packed, "little"))
            region.set("remote_ip4", int.from_bytes(remote.packed, "little"))
        else:
            for prefix, addr in (("local_ip6", local), ("remote_ip6", remote)):
                packed = (addr if addr.version == 6 else ipaddress.IPv6Address(f"::ffff:{addr}")).packed
                for i in range(4):
                    region.set(f"{prefix}[{i}]", int.from_bytes(packed[4 * i : 4 * i + 4], "little"))
        region.set("local_port", self.local.port)
        region.set("remote_port", int.from_bytes(self.remote.port.to_bytes(2, "big"), "little") << 16)

    @property
    def address(self) -> int:
        return self.region.address

    @property
    def reply(self) -> int:
        """``reply`` as the kernel reads it back (a signed 32-bit value)."""
        value = self.region.get("reply") & 0xFFFFFFFF
        return value - (1 << 32) if value & 0x80000000 else value

    @property
    def replylong(self) -> tuple[int, int, int, int]:
        return tuple(self.region.get(f"replylong[{i}]") for i in range(4))  # type: ignore[return-value]

    def release(self) -> None:
        self.region.release()
