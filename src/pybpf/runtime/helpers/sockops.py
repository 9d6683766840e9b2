"""bpf_setsockopt(), bpf_getsockopt() and bpf_sock_ops_cb_flags_set() on a modelled socket.

Mirrors net/core/filter.c (``bpf_sock_ops_setsockopt()``/``_getsockopt()``,
``__bpf_setsockopt()``, ``sol_socket_sockopt()``, ``sol_tcp_sockopt()``, ``sol_ip_sockopt()``,
``sol_ipv6_sockopt()``, ``bpf_sol_tcp_setsockopt()``) and the option code they call
(``sk_setsockopt()``, ``do_tcp_setsockopt()``, ``tcp_set_congestion_control()``...) of
Linux 6.18, applied to the :class:`~.sock_state.SockState` of the context (``ctx.sock``):

* only the ``op``\\ s up to ``BPF_SOCK_OPS_WRITE_HDR_OPT_CB`` may call them (``-EOPNOTSUPP``);
  a socket that is not a full socket gets ``-EINVAL``;
* ``SOL_SOCKET``: ``SO_REUSEADDR SO_SNDBUF SO_RCVBUF SO_KEEPALIVE SO_PRIORITY SO_REUSEPORT
  SO_RCVLOWAT SO_MARK SO_MAX_PACING_RATE SO_BINDTOIFINDEX SO_TXREHASH SK_BPF_CB_FLAGS``
  (an ``int``) and ``SO_BINDTODEVICE`` (a name); buffer sizes are capped at
  ``wmem_max``/``rmem_max``, doubled and raised to the minimum (4608/2304);
* ``SOL_TCP`` (TCP sockets only): ``TCP_NODELAY TCP_MAXSEG TCP_KEEPIDLE TCP_KEEPINTVL
  TCP_KEEPCNT TCP_SYNCNT TCP_WINDOW_CLAMP TCP_THIN_LINEAR_TIMEOUTS TCP_USER_TIMEOUT
  TCP_NOTSENT_LOWAT TCP_SAVE_SYN TCP_RTO_MAX_MS`` with the kernel's ranges,
  ``TCP_CONGESTION`` (an algorithm the socket knows, else ``-ENOENT``; ``cdg`` is
  ``-ENOTSUPP``), and the BPF-only ``TCP_BPF_IW TCP_BPF_SNDCWND_CLAMP TCP_BPF_DELACK_MAX
  TCP_BPF_RTO_MIN TCP_BPF_SOCK_OPS_CB_FLAGS`` (``TCP_BPF_SYN*`` to read the saved SYN);
* ``SOL_IP``: ``IP_TOS`` (IPv4 sockets); ``SOL_IPV6``: ``IPV6_TCLASS``, ``IPV6_AUTOFLOWLABEL``;
* everything else ``-EINVAL`` (a TCP option the kernel knows but BPF may not set:
  ``-ENOPROTOOPT``). A failed getsockopt zeroes the whole buffer.

Not modelled: the side effects on the connection (window updates, timers, pacing).
"""

from __future__ import annotations

import errno
import struct

from pybpf.errors import ExecutionFault
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import ENOTSUPP, s32
from pybpf.runtime.helpers.sock_state import AF_INET, AF_INET6, IPPROTO_TCP, SockState

__all__ = ["bpf_getsockopt", "bpf_setsockopt", "bpf_sock_ops_cb_flags_set", "sock_ops_of"]

SOL_IP, SOL_SOCKET, SOL_TCP, SOL_IPV6 = 0, 1, 6, 41
SO_REUSEADDR, SO_KEEPALIVE, SO_SNDBUF, SO_RCVBUF = 2, 9, 7, 8
SO_PRIORITY, SO_REUSEPORT, SO_RCVLOWAT, SO_BINDTODEVICE = 12, 15, 18, 25
SO_MARK, SO_MAX_PACING_RATE, SO_BINDTOIFINDEX, SO_TXREHASH = 36, 47, 62, 74
SK_BPF_CB_FLAGS = 1009
SK_BPF_CB_MASK = 0x1
TCP_NODELAY, TCP_MAXSEG, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_SYNCNT = 1, 2, 4, 5, 6, 7
TCP_WINDOW_CLAMP, TCP_CONGESTION, TCP_THIN_LINEAR_TIMEOUTS = 10, 13, 16
TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT, TCP_SAVE_SYN, TCP_SAVED_SYN = 18, 25, 27, 28
TCP_RTO_MAX_MS = 44
TCP_BPF_IW, TCP_BPF_SNDCWND_CLAMP, TCP_BPF_DELACK_MAX, TCP_BPF_RTO_MIN = 1001, 1002, 1003, 1004
TCP_BPF_SYN, TCP_BPF_SYN_IP, TCP_BPF_SYN_MAC, TCP_BPF_SOCK_OPS_CB_FLAGS = 1005, 1006, 1007, 1008
IP_TOS = 1
IPV6_TCLASS, IPV6_AUTOFLOWLABEL = 67, 70
BPF_SOCK_OPS_WRITE_HDR_OPT_CB = 15
BPF_SOCK_OPS_ALL_CB_FLAGS = 0x7F
TCP_CA_NAME_MAX = 16
SOCK_MIN_RCVBUF = 2048 + 256  # TCP_SKB_MIN_TRUESIZE
SOCK_MIN_SNDBUF = 2 * SOCK_MIN_RCVBUF
INT_MAX = 0x7FFFFFFF
TCP_MIN_MSS, MAX_TCP_WINDOW = 88, 32767
MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT, MAX_TCP_SYNCNT = 32767, 32767, 127, 127
TCP_RTO_MAX_SEC = 120
INET_ECN_MASK = 3
TCP_TIMEOUT_MIN = 2  # jiffies

_SOCKET_INT_OPTS = frozenset({SO_REUSEADDR, SO_SNDBUF, SO_RCVBUF, SO_KEEPALIVE, SO_PRIORITY,
                              SO_REUSEPORT, SO_RCVLOWAT, SO_MARK, SO_MAX_PACING_RATE,
                              SO_BINDTOIFINDEX, SO_TXREHASH, SK_BPF_CB_FLAGS})
_TCP_INT_OPTS = frozenset({TCP_NODELAY, TCP_MAXSEG, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT,
                           TCP_SYNCNT, TCP_WINDOW_CLAMP, TCP_THIN_LINEAR_TIMEOUTS,
                           TCP_USER_TIMEOUT, TCP_NOTSENT_LOWAT, TCP_SAVE_SYN, TCP_RTO_MAX_MS})


def sock_ops_of(state: ExecState, helper: str) -> tuple[int, SockState]:
    """The running sock_ops operation and its socket (``ctx.sock``)."""
    ctx = state.context
    sock = getattr(ctx, "sock", None)
    if not isinstance(sock, SockState):
        raise ExecutionFault(f"{helper}() needs a context with a SockState 'sock'", pc=state.pc)
    region = getattr(ctx, "region", None)
    op = region.get("op") if region is not None else getattr(ctx, "op", 0)
    return int(op), sock


# -- setsockopt -------------------------------------------------------------------------


def _set_socket(sock: SockState, optname: int, optval: bytes) -> int:
    """``sol_socket_sockopt()`` + ``sk_setsockopt()``."""
    if optname == SO_BINDTODEVICE:
        name = optval[:15].split(b"\0", 1)[0].decode("latin-1")
        if not name:
            sock.bound_dev_if = 0
            return 0
        if name not in sock.devices:
            return -errno.ENODEV
        sock.bound_dev_if = sock.devices[name]
        return 0
    if optname not in _SOCKET_INT_OPTS or len(optval) != 4:
        return -errno.EINVAL
    val = struct.unpack("<i", optval)[0]
    uval = val & 0xFFFFFFFF
    match optname:
        case 1009:  # SK_BPF_CB_FLAGS
            if val & ~SK_BPF_CB_MASK:
                return -errno.EINVAL
            sock.bpf_cb_flags = val
        case 2:  # SO_REUSEADDR
            sock.reuse = 1 if val else 0
        case 7:  # SO_SNDBUF
            v = min(min(uval, sock.wmem_max), INT_MAX // 2)
            sock.sndbuf = max(v * 2, SOCK_MIN_SNDBUF)
        case 8:  # SO_RCVBUF
            v = min(min(uval, sock.rmem_max), INT_MAX // 2)
            sock.rcvbuf = max(v * 2, SOCK_MIN_RCVBUF)
        case 9:  # SO_KEEPALIVE
            sock.keepalive = bool(val)
        case 12:  # SO_PRIORITY (BPF has CAP_NET_ADMIN: any value)
            sock.priority = uval
        case 15:  # SO_REUSEPORT
            sock.reuseport = 1 if val else 0
        case 18:  # SO_RCVLOWAT
            sock.rcvlowat = (INT_MAX if val < 0 else val) or 1
        case 36:  # SO_MARK
            sock.mark = uval
        case 47:  # SO_MAX_PACING_RATE
            sock.max_pacing_rate = (1 << 64) - 1 if uval == 0xFFFFFFFF else uval
        case 62:  # SO_BINDTOIFINDEX
            if val < 0:
                return -errno.EINVAL
            if val and val not in sock.devices.values():
                return -errno.ENODEV
            sock.bound_dev_if = val
        case 74:  # SO_TXREHASH
            if val < -1 or val > 1:
                return -errno.EINVAL
            sock.txrehash = 1 if val == -1 else val  # SOCK_TXREHASH_DEFAULT: the sysctl (1)
    return 0


def _set_congestion(sock: SockState, optval: bytes) -> int:
    """``sol_tcp_sockopt_congestion()`` + ``tcp_set_congestion_control()``."""
    if len(optval) < 2:
        return -errno.EINVAL
    if optval[:3] == b"cdg" and (len(optval) == 3 or optval[3] == 0):  # strncmp("cdg", ...)
        return -ENOTSUPP
    if sock.chg_cc_inprogress:
        return -errno.EBUSY
    name = optval[: min(TCP_CA_NAME_MAX - 1, len(optval))].split(b"\0", 1)[0].decode("latin-1")
    if name == sock.congestion:
        return 0
    if name not in sock.available_congestion:
        return -errno.ENOENT
    sock.congestion = name
    return 0


def _set_tcp(sock: SockState, optname: int, optval: bytes) -> int:
    """``sol_tcp_sockopt()`` + ``do_tcp_setsockopt()`` / ``bpf_sol_tcp_setsockopt()``."""
    if sock.protocol != IPPROTO_TCP:
        return -errno.EINVAL
    if optname == TCP_CONGESTION:
        return _set_congestion(sock, optval)
    if optname == TCP_SAVED_SYN:
        return -errno.EINVAL if len(optval) < 1 else -errno.ENOPROTOOPT
    if len(optval) != 4:
        return -errno.EINVAL
    val = struct.unpack("<i", optval)[0]
    if optname in _TCP_INT_OPTS:
        return _set_tcp_int(sock, optname, val)
    match optname:
        case 1001:  # TCP_BPF_IW
            if val <= 0 or sock.data_segs_out > sock.syn_data:
                return -errno.EINVAL
            sock.snd_cwnd = val
        case 1002:  # TCP_BPF_SNDCWND_CLAMP
            if val <= 0:
                return -errno.EINVAL
            sock.snd_cwnd_clamp = sock.snd_ssthresh = val
        case 1003 | 1004:  # TCP_BPF_DELACK_MAX, TCP_BPF_RTO_MIN
            timeout = sock.usecs_to_jiffies(val)
            if timeout > sock.hz // 5 or timeout < TCP_TIMEOUT_MIN:
                return -errno.EINVAL
            if optname == TCP_BPF_DELACK_MAX:
                sock.delack_max = timeout
            else:
                sock.rto_min = timeout
        case 1008:  # TCP_BPF_SOCK_OPS_CB_FLAGS
            if val & ~BPF_SOCK_OPS_ALL_CB_FLAGS:
                return -errno.EINVAL
            sock.sock_ops_cb_flags = val
        case _:
            return -errno.EINVAL
    return 0


def _set_tcp_int(sock: SockState, optname: int, val: int) -> int:
    """The integer options of ``do_tcp_setsockopt()`` BPF may set."""
    match optname:
        case 1:  # TCP_NODELAY
            sock.nodelay = bool(val)
        case 2:  # TCP_MAXSEG
            if val and (val < TCP_MIN_MSS or val > MAX_TCP_WINDOW):
                return -errno.EINVAL
            sock.user_mss = val
        case 4 | 5:  # TCP_KEEPIDLE, TCP_KEEPINTVL
            if val < 1 or val > MAX_TCP_KEEPIDLE:
                return -errno.EINVAL
            if optname == TCP_KEEPIDLE:
                sock.keepidle = val
            else:
                sock.keepintvl = val
        case 6:  # TCP_KEEPCNT
            if val < 1 or val > MAX_TCP_KEEPCNT:
                return -errno.EINVAL
            sock.keepcnt = val
        case 7:  # TCP_SYNCNT
            if val < 1 or val > MAX_TCP_SYNCNT:
                return -errno.EINVAL
            sock.syn_retries = val
        case 10:  # TCP_WINDOW_CLAMP (tcp_set_window_clamp())
            if not val:
                if sock.state != 7:  # TCP_CLOSE
                    return -errno.EINVAL
                sock.window_clamp = 0
            else:
                sock.window_clamp = max(SOCK_MIN_RCVBUF // 2, val)
        case 16:  # TCP_THIN_LINEAR_TIMEOUTS
            if val < 0 or val > 1:
                return -errno.EINVAL
            sock.thin_lto = val
        case 18:  # TCP_USER_TIMEOUT
            if val < 0:
                return -errno.EINVAL
            sock.user_timeout = val
        case 25:  # TCP_NOTSENT_LOWAT
            sock.notsent_lowat = val & 0xFFFFFFFF
        case 27:  # TCP_SAVE_SYN
            if val < 0 or val > 2:
                return -errno.EINVAL
            sock.save_syn = val
        case 44:  # TCP_RTO_MAX_MS
            if val < 1000 or val > TCP_RTO_MAX_SEC * 1000:
                return -errno.EINVAL
            sock.rto_max_ms = val
    return 0


def _set_ip(sock: SockState, level: int, optname: int, optval: bytes) -> int:
    """``sol_ip_sockopt()`` / ``sol_ipv6_sockopt()``."""
    family = AF_INET if level == SOL_IP else AF_INET6
    allowed = (IP_TOS,) if level == SOL_IP else (IPV6_TCLASS, IPV6_AUTOFLOWLABEL)
    if sock.family != family or optname not in allowed or len(optval) != 4:
        return -errno.EINVAL
    val = struct.unpack("<i", optval)[0]
    if optname == IP_TOS:
        sock.tos = ((val & ~INET_ECN_MASK) | (sock.tos & INET_ECN_MASK)) & 0xFF
    elif optname == IPV6_TCLASS:
        if val < -1 or val > 0xFF:
            return -errno.EINVAL
        val = max(val, 0)
        sock.tclass = (val & ~INET_ECN_MASK) | (sock.tclass & INET_ECN_MASK)
    else:
        sock.autoflowlabel = bool(val)
    return 0


def setsockopt(sock: SockState, level: int, optname: int, optval: bytes) -> int:
    """``__bpf_setsockopt()`` on ``sock``: 0 or ``-errno``."""
    if not sock.fullsock:
        return -errno.EINVAL
    if level == SOL_SOCKET:
        return _set_socket(sock, optname, optval)
    if level in (SOL_IP, SOL_IPV6):
        return _set_ip(sock, level, optname, optval)
    if level == SOL_TCP:
        return _set_tcp(sock, optname, optval)
    return -errno.EINVAL


def bpf_setsockopt(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_setsockopt(bpf_sock, level, optname, optval, optlen): 0 or ``-errno``."""
    op, sock = sock_ops_of(state, "bpf_setsockopt")
    if op > BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
        return -errno.EOPNOTSUPP
    optlen = max(s32(r5), 0)
    optval = state.memory.read_bytes(r4, optlen, state.pc)
    return setsockopt(sock, s32(r2), s32(r3), optval)


# -- getsockopt -------------------------------------------------------------------------


def _get_int(sock: SockState, level: int, optname: int) -> int | None:
    """The value an integer option reads back, None for options that cannot be read."""
    if level == SOL_SOCKET:
        return {
            SO_REUSEADDR: sock.reuse, SO_KEEPALIVE: int(sock.keepalive), SO_SNDBUF: sock.sndbuf,
            SO_RCVBUF: sock.rcvbuf, SO_PRIORITY: sock.priority, SO_REUSEPORT: sock.reuseport,
            SO_RCVLOWAT: sock.rcvlowat, SO_MARK: sock.mark,
            SO_MAX_PACING_RATE: min(sock.max_pacing_rate, 0xFFFFFFFF),
            SO_BINDTOIFINDEX: sock.bound_dev_if, SO_TXREHASH: sock.txrehash,
            SK_BPF_CB_FLAGS: sock.bpf_cb_flags,
        }.get(optname)
    if level == SOL_IP:
        return sock.tos if optname == IP_TOS and sock.family == AF_INET else None
    if level == SOL_IPV6:
        if sock.family != AF_INET6:
            return None
        return {IPV6_TCLASS: sock.tclass, IPV6_AUTOFLOWLABEL: int(sock.autoflowlabel)}.get(optname)
    if level != SOL_TCP or sock.protocol != IPPROTO_TCP:
        return None
    return {
        TCP_NODELAY: int(sock.nodelay),
        TCP_MAXSEG: sock.user_mss if sock.user_mss and sock.state in (7, 10) else sock.mss_cache,
        TCP_KEEPIDLE: sock.keepidle or 7200, TCP_KEEPINTVL: sock.keepintvl or 75,
        TCP_KEEPCNT: sock.keepcnt or 9, TCP_SYNCNT: sock.syn_retries or 6,
        TCP_WINDOW_CLAMP: sock.window_clamp, TCP_THIN_LINEAR_TIMEOUTS: sock.thin_lto,
        TCP_USER_TIMEOUT: sock.user_timeout, TCP_NOTSENT_LOWAT: sock.notsent_lowat,
        TCP_SAVE_SYN: sock.save_syn, TCP_RTO_MAX_MS: sock.rto_max_ms,
        TCP_BPF_SOCK_OPS_CB_FLAGS: sock.sock_ops_cb_flags,
        TCP_BPF_RTO_MIN: sock.jiffies_to_usecs(sock.rto_min),
        TCP_BPF_DELACK_MAX: sock.jiffies_to_usecs(sock.delack_max),
    }.get(optname)


def getsockopt(sock: SockState, level: int, optname: int, optlen: int) -> tuple[int, bytes]:
    """``__bpf_getsockopt()``: (0 or ``-errno``, the ``optlen`` bytes of ``optval``)."""
    if not sock.fullsock:
        return -errno.EINVAL, bytes(optlen)
    if level == SOL_TCP and optname == TCP_CONGESTION and sock.protocol == IPPROTO_TCP:
        if optlen < 2:
            return -errno.EINVAL, bytes(optlen)
        name = sock.congestion.encode()[:TCP_CA_NAME_MAX].ljust(TCP_CA_NAME_MAX, b"\0")
        return 0, name[: min(optlen - 1, TCP_CA_NAME_MAX)].ljust(optlen, b"\0")
    if level == SOL_TCP and optname == TCP_SAVED_SYN and sock.protocol == IPPROTO_TCP:
        syn = sock.saved_syn
        if optlen < 1 or syn is None or optlen > len(syn.data):
            return -errno.EINVAL, bytes(optlen)
        return 0, syn.data[:optlen]
    value = _get_int(sock, level, optname)
    if value is None or optlen != 4:  # every integer option insists on sizeof(int)
        return -errno.EINVAL, bytes(optlen)
    return 0, struct.pack("<I", value & 0xFFFFFFFF)


def _get_syn(sock: SockState, optname: int, optlen: int) -> tuple[int, bytes]:
    """``bpf_sock_ops_get_syn()`` from the saved SYN (the SYN skb itself is not modelled)."""
    syn = sock.saved_syn
    if syn is None:
        return -errno.ENOENT, bytes(optlen)
    if optname == TCP_BPF_SYN:
        start, length = syn.mac_hdrlen + syn.network_hdrlen, syn.tcp_hdrlen
    elif optname == TCP_BPF_SYN_IP:
        start, length = syn.mac_hdrlen, syn.network_hdrlen + syn.tcp_hdrlen
    else:
        if not syn.mac_hdrlen:
            return -errno.ENOENT, bytes(optlen)
        start, length = 0, syn.mac_hdrlen + syn.network_hdrlen + syn.tcp_hdrlen
    ret = length
    copy = length
    if optlen < copy:
        copy, ret = optlen, -errno.ENOSPC
    return ret, syn.data[start : start + copy].ljust(optlen, b"\0")


def bpf_getsockopt(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_getsockopt(bpf_sock, level, optname, optval, optlen): 0 or ``-errno``."""
    op, sock = sock_ops_of(state, "bpf_getsockopt")
    if op > BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
        return -errno.EOPNOTSUPP
    level, optname, optlen = s32(r2), s32(r3), max(s32(r5), 0)
    if level == SOL_TCP and TCP_BPF_SYN <= optname <= TCP_BPF_SYN_MAC:
        ret, data = _get_syn(sock, optname, optlen)
    else:
        ret, data = getsockopt(sock, level, optname, optlen)
    state.memory.write_bytes(r4, data, state.pc)
    return ret


def bpf_sock_ops_cb_flags_set(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                              r5: int) -> int:
    """bpf_sock_ops_cb_flags_set(bpf_sock, argval): the flags not supported (0 if all are)."""
    op, sock = sock_ops_of(state, "bpf_sock_ops_cb_flags_set")
    argval = s32(r2)
    if op > BPF_SOCK_OPS_WRITE_HDR_OPT_CB:
        return -errno.EOPNOTSUPP
    if not sock.fullsock:
        return -errno.EINVAL
    sock.sock_ops_cb_flags = argval & BPF_SOCK_OPS_ALL_CB_FLAGS
    return argval & ~BPF_SOCK_OPS_ALL_CB_FLAGS
