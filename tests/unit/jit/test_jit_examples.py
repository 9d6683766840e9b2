"""The example objects (examples/*/) give the same results on the JIT as on the interpreter:
the same test_run results (retval, r0, data_out, ctx_out, instruction count, redirect, trace)
frame after frame, and the same map contents afterwards."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from pybpf.elf import load_collection
from pybpf.interp import Interpreter
from pybpf.jit import JIT
from pybpf.runtime.collection import Collection
from pybpf.runtime.ctx.sock_ops import Endpoint, SockOpsOp
from pybpf.runtime.execstate import DEFAULT_BUDGET
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.helpers.sock_state import SockState
from pybpf.runtime.helpers.task import Task
from pybpf.runtime.helpers.time import ManualClock
from pybpf.runtime.maps.ringbuf import RingBuf
from pybpf.runtime.test_run import run_sock_ops

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def both(path: str, tmp_path: Path) -> tuple[Collection, Collection]:
    spec = load_collection(EXAMPLES / path)
    interp = Collection(spec, Interpreter(helpers=default_helpers()))
    jit = Collection(load_collection(EXAMPLES / path),  # a budget: instruction counts compare
                     JIT(helpers=default_helpers(), cache_dir=tmp_path, budget=DEFAULT_BUDGET))
    return interp, jit


def maps_of(obj: Collection) -> dict[str, Any]:
    """Every map's contents (ring buffers, which have no keys, are consumed instead)."""
    out: dict[str, Any] = {}
    for name, m in obj.maps.items():
        out[name] = list(m.consume()) if isinstance(m, RingBuf) else sorted(m.items())
    return out


def same_runs(a: Collection, b: Collection, prog: str, inputs: list[dict[str, Any]],
              before: Callable[[Any], None] | None = None) -> None:
    pa, pb = a.program(prog), b.program(prog)
    assert pb.__class__.__name__ == "JITProgram"
    for prepared in (pa, pb):
        if before is not None:
            before(prepared)
    for kwargs in inputs:
        ra, rb = pa.test_run(**kwargs), pb.test_run(**kwargs)
        assert (rb.retval, rb.r0, rb.data_out, rb.ctx_out) == (ra.retval, ra.r0, ra.data_out, ra.ctx_out)
        assert (rb.instructions, rb.redirect, rb.trace) == (ra.instructions, ra.redirect, ra.trace)
    assert maps_of(b) == maps_of(a)


def _manual_clock(prog: Any) -> None:
    prog.state.clock = ManualClock(now_ns=5_000_000_000)


def eth() -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


FIREWALL_FRAMES = [
    eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=443),
    eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=23),
    eth() / IP(src="10.0.0.3", dst="10.0.0.2") / UDP(dport=53) / (b"x" * 20),
    eth() / IP(src="203.0.113.66", dst="10.0.0.2") / TCP(dport=80),
    eth() / IP(src="10.0.0.4", dst="10.0.0.2") / ICMP(),
    eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(dport=80),
    eth() / IPv6(src="2001:db8::7", dst="2001:db8::2") / UDP(dport=80),
    Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(),
    eth() / IP(src="10.0.0.1", dst="10.0.0.2", ihl=4),
]


def test_xdp_firewall(tmp_path: Path) -> None:
    a, b = both("xdp_firewall/xdp_firewall.o", tmp_path)
    for obj in (a, b):
        obj.maps["blocked_v4"][bytes([203, 0, 113, 66])] = b"\x01"
        obj.maps["blocked_ports"][struct.pack("<H", 23)] = b"\x01"
    frames = [bytes(f) for f in FIREWALL_FRAMES]
    frames.append(frames[0][:40])  # a cut TCP header
    same_runs(a, b, "xdp_firewall", [{"data": f} for f in frames * 2])


def test_l2_switch(tmp_path: Path) -> None:
    a, b = both("l2_switch/l2_switch.o", tmp_path)
    for obj in (a, b):
        for port in (2, 3, 4):
            obj.maps["ports"][port] = port
    macs = ["02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"]
    runs = []
    for src, dst, port in [(0, 1, 2), (1, 0, 3), (2, 0, 2), (0, 2, 4), (2, 0, 3)]:
        frame = bytes(Ether(src=macs[src], dst=macs[dst], type=0x88B5)) + bytes(50)
        runs.append({"data": frame, "ctx": struct.pack("<6I", 0, len(frame), 0, port, 0, 0)})
    same_runs(a, b, "l2_switch", runs, before=_manual_clock)


def test_token_bucket(tmp_path: Path) -> None:
    a, b = both("rate_limiter/token_bucket.o", tmp_path)
    head = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000, dport=9)
    frame = bytes(head / (b"x" * (100 - len(head))))
    same_runs(a, b, "token_bucket", [{"data": frame}] * 35, before=_manual_clock)


def test_dns_socket_filter(tmp_path: Path) -> None:
    a, b = both("socket_filter/dns_filter.o", tmp_path)
    ether = Ether(dst="00:00:00:00:00:00", src="02:00:00:00:00:01")
    frames = [
        ether / IP(src="10.0.0.1", dst="10.0.0.53") / UDP(sport=40000, dport=53) / (b"q" * 30),
        ether / IP(src="10.0.0.53", dst="10.0.0.1") / UDP(sport=53, dport=40000) / (b"a" * 300),
        ether / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=40001, dport=123) / (b"t" * 48),
        ether / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=53),
        ether / IPv6() / UDP(dport=53),
    ]
    same_runs(a, b, "dns_filter", [{"data": bytes(f)} for f in frames])


def test_exec_trace(tmp_path: Path) -> None:
    a, b = both("tracing/exec_trace.o", tmp_path)
    results = []
    for obj in (a, b):
        prog = obj.program("trace_execve")
        path = prog.memory.map_user(b"/usr/bin/ls\0", "user string").base
        out = []
        for pid, filename in [(100, path), (101, path), (200, 0xDEAD0000)]:
            prog.state.task = Task(pid=pid, tgid=100, comm=b"bash")
            record = struct.pack("<QiIQQQ", 0, 59, 0, filename, 0, 0)
            r = prog.test_run(ctx=record)
            out.append((r.retval, r.instructions, r.ctx_out))
        results.append((out, maps_of(obj)))
    assert results[1] == results[0]


@pytest.mark.parametrize("op", [SockOpsOp.TIMEOUT_INIT, SockOpsOp.RWND_INIT, SockOpsOp.NEEDS_ECN,
                                SockOpsOp.ACTIVE_ESTABLISHED_CB])
@pytest.mark.parametrize("peer", [Endpoint("10.3.2.1", 443), Endpoint("93.184.216.34", 443)])
def test_tcp_tuning(tmp_path: Path, op: SockOpsOp, peer: Endpoint) -> None:
    a, b = both("sock_ops/tcp_tuning.o", tmp_path)
    outcomes = []
    for obj in (a, b):
        sock = SockState(available_congestion=("reno", "cubic", "dctcp"), snd_cwnd=4)
        r = run_sock_ops(obj.program("tcp_tuning"), op, sock=sock, remote=peer)
        outcomes.append((r.retval, r.reply, r.replylong, r.instructions, r.trace,
                         sock.congestion, sock.snd_cwnd, sock.sock_ops_cb_flags))
    assert outcomes[1] == outcomes[0]
