"""bpf_setsockopt/bpf_getsockopt/bpf_sock_ops_cb_flags_set on a modelled socket."""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

import pytest
from helpers_support import interpreter, load

from pybpf.errors import ExecutionFault
from pybpf.runtime.helpers import SavedSyn, SockState
from pybpf.runtime.helpers import sockops as so


@dataclass
class SockOpsCtx:
    """What the sock_ops context gives helpers: the operation and the socket."""

    sock: SockState
    op: int = 4  # BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB


def setopt(sock: SockState, level: int, name: int, val: bytes, op: int = 4) -> int:
    data = val + bytes(-len(val) % 8 or 8)
    stores = "".join(f"    r1 = {int.from_bytes(data[i:i + 8], 'little'):#x} ll\n"
                     f"    *(u64 *)(r10 - {64 - i}) = r1\n" for i in range(0, len(data), 8))
    text = f"""
{stores}
    r2 = {level}
    r3 = {name}
    r4 = r10
    r4 += -64
    r5 = {len(val)}
    call bpf_setsockopt
    exit
"""
    interp, prog = load(text)
    interp.state.context = SockOpsCtx(sock, op)
    r0 = prog.run().retval
    return r0 - (1 << 64) if r0 >> 63 else r0


def getopt(sock: SockState, level: int, name: int, size: int = 4) -> tuple[int, bytes]:
    text = f"""
    r1 = -1
    *(u64 *)(r10 - 32) = r1
    *(u64 *)(r10 - 24) = r1
    *(u64 *)(r10 - 16) = r1
    *(u64 *)(r10 - 8) = r1
    r2 = {level}
    r3 = {name}
    r4 = r10
    r4 += -32
    r5 = {size}
    call bpf_getsockopt
    exit
"""
    interp, prog = load(text)
    interp.state.context = SockOpsCtx(sock)
    r0 = prog.run().retval
    return (r0 - (1 << 64) if r0 >> 63 else r0), bytes(interp.state.stacks[0][480:480 + size])


def i32(v: int) -> bytes:
    return struct.pack("<i", v)


def test_congestion_control() -> None:
    sock = SockState()
    assert setopt(sock, so.SOL_TCP, so.TCP_CONGESTION, b"reno\0") == 0
    assert sock.congestion == "reno"
    assert getopt(sock, so.SOL_TCP, so.TCP_CONGESTION, 16) == (0, b"reno".ljust(16, b"\0"))
    assert getopt(sock, so.SOL_TCP, so.TCP_CONGESTION, 3) == (0, b"re\0")
    assert setopt(sock, so.SOL_TCP, so.TCP_CONGESTION, b"dctcp\0") == -errno.ENOENT
    sock.available_congestion += ("dctcp",)
    assert setopt(sock, so.SOL_TCP, so.TCP_CONGESTION, b"dctcp\0") == 0
    assert setopt(sock, so.SOL_TCP, so.TCP_CONGESTION, b"cdg\0") == -524
    assert setopt(sock, so.SOL_TCP, so.TCP_CONGESTION, b"x") == -errno.EINVAL


@pytest.mark.parametrize(("name", "val", "ret", "attr", "stored"), [
    (so.TCP_BPF_IW, 40, 0, "snd_cwnd", 40),
    (so.TCP_BPF_IW, 0, -errno.EINVAL, "snd_cwnd", 10),
    (so.TCP_BPF_SNDCWND_CLAMP, 100, 0, "snd_cwnd_clamp", 100),
    (so.TCP_BPF_RTO_MIN, 20_000, 0, "rto_min", 5),  # 20 ms = 5 jiffies at HZ 250
    (so.TCP_BPF_RTO_MIN, 300_000, -errno.EINVAL, "rto_min", 50),  # above TCP_RTO_MIN
    (so.TCP_BPF_RTO_MIN, 4_000, -errno.EINVAL, "rto_min", 50),  # below 2 jiffies
    (so.TCP_BPF_DELACK_MAX, 8_000, 0, "delack_max", 2),
    (so.TCP_BPF_SOCK_OPS_CB_FLAGS, 0x7F, 0, "sock_ops_cb_flags", 0x7F),
    (so.TCP_BPF_SOCK_OPS_CB_FLAGS, 0x80, -errno.EINVAL, "sock_ops_cb_flags", 0),
    (so.TCP_NODELAY, 1, 0, "nodelay", True),
    (so.TCP_MAXSEG, 87, -errno.EINVAL, "user_mss", 0),
    (so.TCP_MAXSEG, 1400, 0, "user_mss", 1400),
    (so.TCP_KEEPCNT, 128, -errno.EINVAL, "keepcnt", 0),
    (so.TCP_SAVE_SYN, 2, 0, "save_syn", 2),
    (so.TCP_SAVE_SYN, 3, -errno.EINVAL, "save_syn", 0),
    (so.TCP_RTO_MAX_MS, 999, -errno.EINVAL, "rto_max_ms", 120_000),
    (so.TCP_WINDOW_CLAMP, 100, 0, "window_clamp", 1152),  # raised to SOCK_MIN_RCVBUF / 2
    (9999, 1, -errno.EINVAL, "snd_cwnd", 10),
])
def test_tcp_options(name: int, val: int, ret: int, attr: str, stored: object) -> None:
    sock = SockState()
    assert setopt(sock, so.SOL_TCP, name, i32(val)) == ret
    assert getattr(sock, attr) == stored


def test_socket_options() -> None:
    sock = SockState()
    assert setopt(sock, so.SOL_SOCKET, so.SO_SNDBUF, i32(1000)) == 0
    assert sock.sndbuf == 4608  # doubled, then raised to SOCK_MIN_SNDBUF
    assert setopt(sock, so.SOL_SOCKET, so.SO_RCVBUF, i32(10**9)) == 0
    assert sock.rcvbuf == 2 * 212992  # capped at rmem_max, doubled
    assert getopt(sock, so.SOL_SOCKET, so.SO_RCVBUF) == (0, i32(2 * 212992))
    assert setopt(sock, so.SOL_SOCKET, so.SO_MARK, i32(7)) == 0 and sock.mark == 7
    assert setopt(sock, so.SOL_SOCKET, so.SO_SNDBUF, i32(1)[:2]) == -errno.EINVAL
    assert setopt(sock, so.SOL_SOCKET, so.SO_BINDTODEVICE, b"lo\0") == 0
    assert sock.bound_dev_if == 1
    assert setopt(sock, so.SOL_SOCKET, so.SO_BINDTODEVICE, b"eth9\0") == -errno.ENODEV
    assert setopt(sock, so.SOL_SOCKET, so.SO_TXREHASH, i32(2)) == -errno.EINVAL
    assert setopt(sock, so.SOL_IP, so.IP_TOS, i32(0x10)) == 0 and sock.tos == 0x10
    assert setopt(sock, so.SOL_IPV6, so.IPV6_TCLASS, i32(1)) == -errno.EINVAL  # IPv4 socket
    assert setopt(sock, 99, 1, i32(1)) == -errno.EINVAL


def test_getsockopt_zeroes_the_buffer_on_error() -> None:
    sock = SockState()
    assert getopt(sock, so.SOL_TCP, so.TCP_BPF_IW, 8) == (-errno.EINVAL, bytes(8))
    assert getopt(sock, so.SOL_TCP, so.TCP_BPF_RTO_MIN) == (0, i32(200_000))
    assert getopt(sock, so.SOL_TCP, so.TCP_KEEPIDLE) == (0, i32(7200))


def test_saved_syn() -> None:
    sock = SockState(saved_syn=SavedSyn(14, 20, 20, bytes(range(54))))
    assert getopt(sock, so.SOL_TCP, so.TCP_BPF_SYN, 32) == (20, bytes(range(34, 54)).ljust(32,
                                                                                        b"\0"))
    assert getopt(sock, so.SOL_TCP, so.TCP_BPF_SYN_IP, 32) == (-errno.ENOSPC,
                                                                bytes(range(14, 46)))
    assert getopt(SockState(), so.SOL_TCP, so.TCP_BPF_SYN, 8) == (-errno.ENOENT, bytes(8))


def test_only_locked_callbacks_may_set_options() -> None:
    assert setopt(SockState(), so.SOL_TCP, so.TCP_NODELAY, i32(1), op=16) == -errno.EOPNOTSUPP
    assert setopt(SockState(fullsock=False), so.SOL_TCP, so.TCP_NODELAY, i32(1)) == -errno.EINVAL


def test_cb_flags_set_returns_the_unsupported_bits() -> None:
    interp, prog = load("r2 = 0x1ff\ncall bpf_sock_ops_cb_flags_set\nexit")
    sock = SockState()
    interp.state.context = SockOpsCtx(sock)
    assert prog.run().retval == 0x180
    assert sock.sock_ops_cb_flags == 0x7F


def test_sockopt_needs_a_socket_context() -> None:
    _, prog = load("call bpf_setsockopt\nexit", interp=interpreter())
    with pytest.raises(ExecutionFault, match="SockState"):
        prog.run()
