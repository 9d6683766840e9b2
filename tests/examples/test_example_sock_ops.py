"""examples/sock_ops: the callbacks the TCP stack makes, and what the program configures."""

from __future__ import annotations

import struct

import pytest
from example_support import example

import pybpf
from pybpf.runtime.ctx.sock_ops import Endpoint, SockOpsOp
from pybpf.runtime.helpers.sock_state import SockState
from pybpf.runtime.test_run import run_sock_ops

DC_PEER = Endpoint("10.3.2.1", 443)
INTERNET_PEER = Endpoint("93.184.216.34", 443)


@pytest.fixture
def prog():  # type: ignore[no-untyped-def]
    return pybpf.load(example("sock_ops/tcp_tuning.o")).program("sockops")


def test_syn_rto_and_initial_receive_window_in_the_data_centre(prog) -> None:  # type: ignore[no-untyped-def]
    assert run_sock_ops(prog, SockOpsOp.TIMEOUT_INIT, remote=DC_PEER).reply == 10
    assert run_sock_ops(prog, SockOpsOp.RWND_INIT, remote=DC_PEER).reply == 40
    assert run_sock_ops(prog, SockOpsOp.NEEDS_ECN, remote=DC_PEER).reply == 1


def test_established_sets_dctcp_initial_cwnd_and_callbacks(prog) -> None:  # type: ignore[no-untyped-def]
    sock = SockState(available_congestion=("reno", "cubic", "dctcp"), snd_cwnd=4)
    result = run_sock_ops(prog, SockOpsOp.ACTIVE_ESTABLISHED_CB, sock=sock, remote=DC_PEER)
    assert result.retval == 1
    assert sock.congestion == "dctcp"
    assert sock.snd_cwnd == 10  # TCP_BPF_IW (no data sent yet)
    rto, retrans, state = 1 << 0, 1 << 1, 1 << 2
    assert sock.sock_ops_cb_flags == rto | retrans | state
    assert result.reply == 0  # every requested callback flag is supported


def test_unknown_congestion_control_is_refused_and_left_unchanged(prog) -> None:  # type: ignore[no-untyped-def]
    sock = SockState(available_congestion=("reno", "cubic"))
    run_sock_ops(prog, SockOpsOp.PASSIVE_ESTABLISHED_CB, sock=sock, remote=DC_PEER)
    assert sock.congestion == "cubic"


def test_outside_the_data_centre_nothing_changes(prog) -> None:  # type: ignore[no-untyped-def]
    sock = SockState(available_congestion=("reno", "cubic", "dctcp"), snd_cwnd=4)
    for op in (SockOpsOp.TIMEOUT_INIT, SockOpsOp.RWND_INIT, SockOpsOp.ACTIVE_ESTABLISHED_CB):
        assert run_sock_ops(prog, op, sock=sock, remote=INTERNET_PEER).reply == -1
    assert sock.congestion == "cubic" and sock.sock_ops_cb_flags == 0 and sock.snd_cwnd == 4


def test_events_are_counted_per_op(prog) -> None:  # type: ignore[no-untyped-def]
    obj = pybpf.load(example("sock_ops/tcp_tuning.o"))
    p = obj.program("sockops")
    for op in (SockOpsOp.TIMEOUT_INIT, SockOpsOp.TIMEOUT_INIT, SockOpsOp.RTO_CB):
        run_sock_ops(p, op, remote=DC_PEER)
    counts = {op: struct.unpack("<Q", obj.maps["events"][op])[0] for op in range(16)}
    assert counts[SockOpsOp.TIMEOUT_INIT] == 2 and counts[SockOpsOp.RTO_CB] == 1
    assert sum(counts.values()) == 3
