"""The modelled socket behind sock_ops (and other socket) programs: :class:`SockState`.

A plain record of the ``struct sock``/``tcp_sock``/``inet_connection_sock`` fields that
``bpf_setsockopt()``/``bpf_getsockopt()`` reach (:mod:`.sockops`), with the defaults of a
freshly established TCP socket in ``init_net`` on Linux 6.18 (HZ 250, the default sysctls:
``tcp_wmem[1]`` 16384, ``tcp_rmem[1]`` 131072, ``wmem_max``/``rmem_max`` 212992, keepalive
7200 s / 75 s / 9 probes, ``tcp_syn_retries`` 6). Times the kernel keeps in jiffies are kept
in jiffies here too, so conversions round exactly as the kernel's do.

A sock_ops context object exposes its socket as ``context.sock`` and the current operation
as the ``op`` field of its context region (or an ``op`` attribute).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SavedSyn", "SockState"]

AF_INET = 2
AF_INET6 = 10
IPPROTO_TCP = 6
TCP_ESTABLISHED = 1
DEFAULT_HZ = 250


@dataclass(slots=True)
class SavedSyn:
    """``struct saved_syn``: the SYN's headers kept by ``TCP_SAVE_SYN``."""

    mac_hdrlen: int
    network_hdrlen: int
    tcp_hdrlen: int
    data: bytes


@dataclass(slots=True, eq=False)
class SockState:
    """A TCP socket's option state (see the module docstring)."""

    family: int = AF_INET
    protocol: int = IPPROTO_TCP
    fullsock: bool = True
    state: int = TCP_ESTABLISHED
    hz: int = DEFAULT_HZ
    cookie: int = 0
    # -- SOL_SOCKET ----------------------------------------------------------------------
    reuse: int = 0
    reuseport: int = 0
    keepalive: bool = False
    sndbuf: int = 16384
    rcvbuf: int = 131072
    wmem_max: int = 212992
    rmem_max: int = 212992
    priority: int = 0
    rcvlowat: int = 1
    mark: int = 0
    max_pacing_rate: int = (1 << 64) - 1
    bound_dev_if: int = 0
    txrehash: int = 1
    bpf_cb_flags: int = 0
    #: Devices by name for SO_BINDTODEVICE, and which ifindexes exist.
    devices: dict[str, int] = field(default_factory=lambda: {"lo": 1})
    # -- SOL_IP / SOL_IPV6 ---------------------------------------------------------------
    tos: int = 0
    tclass: int = 0
    autoflowlabel: bool = True
    # -- SOL_TCP -------------------------------------------------------------------------
    congestion: str = "cubic"
    available_congestion: tuple[str, ...] = ("reno", "cubic")
    chg_cc_inprogress: bool = False
    nodelay: bool = False
    user_mss: int = 0
    mss_cache: int = 536
    keepidle: int = 0  # seconds; 0: the sysctl default
    keepintvl: int = 0
    keepcnt: int = 0
    syn_retries: int = 0
    window_clamp: int = 65535
    thin_lto: int = 0
    user_timeout: int = 0
    notsent_lowat: int = 0
    save_syn: int = 0
    saved_syn: SavedSyn | None = None
    rto_max_ms: int = 120_000
    snd_cwnd: int = 10
    snd_cwnd_clamp: int = 0xFFFFFFFF
    snd_ssthresh: int = 0x7FFFFFFF
    data_segs_out: int = 0
    syn_data: int = 0
    rto_min: int = -1  # jiffies; -1: TCP_RTO_MIN (HZ / 5)
    delack_max: int = -1  # jiffies; -1: TCP_DELACK_MAX (HZ / 5)
    sock_ops_cb_flags: int = 0

    def __post_init__(self) -> None:
        if self.rto_min < 0:
            self.rto_min = self.hz // 5
        if self.delack_max < 0:
            self.delack_max = self.hz // 5

    def usecs_to_jiffies(self, usecs: int) -> int:
        """``usecs_to_jiffies()`` (rounds up) for an ``unsigned int``."""
        per = 1_000_000 // self.hz
        return ((usecs & 0xFFFFFFFF) + per - 1) // per

    def jiffies_to_usecs(self, jiffies: int) -> int:
        return jiffies * (1_000_000 // self.hz)
