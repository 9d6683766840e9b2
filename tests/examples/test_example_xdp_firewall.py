"""examples/xdp_firewall: verdicts, counters and per-source accounting, on pybpf and in the
kernel with the same block lists; and the shipped capture replayed on both."""

from __future__ import annotations

import socket
import struct
from collections import Counter

import pytest
from example_support import KERNEL_OK, KERNEL_REASON, example, kernel_collection
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

import pybpf
from pybpf.kernel.sys import map_lookup, map_update, prog_test_run
from pybpf.runtime.pcap import read_pcap

OBJ = "xdp_firewall/xdp_firewall.o"
PCAP = example("xdp_firewall/traffic.pcap")
XDP_DROP, XDP_PASS = 1, 2
BLOCKED_V4 = "203.0.113.66"
BLOCKED_V6 = "2001:db8::7"
BLOCKED_PORT = 23


def eth() -> Ether:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


FRAMES = {
    "tcp-ok": bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=443)),
    "tcp-blocked-port": bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=BLOCKED_PORT)),
    "udp-ok": bytes(eth() / IP(src="10.0.0.3", dst="10.0.0.2") / UDP(dport=53) / (b"x" * 20)),
    "blocked-src": bytes(eth() / IP(src=BLOCKED_V4, dst="10.0.0.2") / TCP(dport=80)),
    "icmp": bytes(eth() / IP(src="10.0.0.4", dst="10.0.0.2") / ICMP()),
    "v6-ok": bytes(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(dport=80)),
    "v6-blocked-src": bytes(eth() / IPv6(src=BLOCKED_V6, dst="2001:db8::2") / UDP(dport=80)),
    "v6-blocked-port": bytes(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(dport=BLOCKED_PORT)),
    "arp": bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP()),
    "bad-ihl": bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2", ihl=4)),
    "short-tcp": bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2", proto=6))[:40],
}
EXPECTED = {
    "tcp-ok": XDP_PASS, "tcp-blocked-port": XDP_DROP, "udp-ok": XDP_PASS, "blocked-src": XDP_DROP,
    "icmp": XDP_PASS, "v6-ok": XDP_PASS, "v6-blocked-src": XDP_DROP, "v6-blocked-port": XDP_DROP,
    "arp": XDP_PASS, "bad-ihl": XDP_DROP, "short-tcp": XDP_DROP,
}
BLOCKS = [
    ("blocked_v4", socket.inet_aton(BLOCKED_V4), b"\x01"),
    ("blocked_v6", socket.inet_pton(socket.AF_INET6, BLOCKED_V6), b"\x01"),
    ("blocked_ports", struct.pack("<H", BLOCKED_PORT), b"\x01"),
]


def configured():  # type: ignore[no-untyped-def]
    obj = pybpf.load(example(OBJ))
    for name, key, value in BLOCKS:
        obj.maps[name][key] = value
    return obj


def stats(obj) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    out = []
    for verdict in range(4):
        per_cpu = obj.maps["stats"][verdict]
        out.append(tuple(sum(struct.unpack("<QQ", v)[i] for v in per_cpu) for i in range(2)))
    return out


@pytest.mark.parametrize("name", list(FRAMES))
def test_verdicts(name: str) -> None:
    prog = configured().program("xdp_firewall")
    assert prog.test_run(data=FRAMES[name]).retval == EXPECTED[name]


def test_counters_and_per_source_accounting() -> None:
    obj = configured()
    prog = obj.program("xdp")
    for name in FRAMES:
        prog.test_run(data=FRAMES[name])
    passed = sum(1 for n in FRAMES if EXPECTED[n] == XDP_PASS)
    bytes_passed = sum(len(FRAMES[n]) for n in FRAMES if EXPECTED[n] == XDP_PASS)
    table = stats(obj)
    assert table[0] == (passed, bytes_passed)
    assert table[1][0] == 2 and table[2][0] == 2 and table[3][0] == 2  # src, port, malformed
    src = obj.maps["per_source"][socket.inet_aton("10.0.0.1")]
    packets, nbytes = struct.unpack("<QQ", src)
    # Every frame from 10.0.0.1 whose IPv4 header fits and is valid is counted: tcp-ok,
    # tcp-blocked-port and short-tcp (its TCP header is cut, found malformed later); not
    # bad-ihl, which fails the header check first.
    assert packets == 3
    assert nbytes == len(FRAMES["tcp-ok"]) + len(FRAMES["tcp-blocked-port"]) + len(FRAMES["short-tcp"])


def test_pcap_replay_verdicts() -> None:
    from pybpf.runtime.replay import replay

    obj = configured()
    prog = obj.program("xdp_firewall")
    summary = replay(prog, prog.spec.prog_type, PCAP)
    assert summary.packets == 2000
    assert set(summary.verdicts) == {"XDP_PASS", "XDP_DROP"}
    assert summary.verdicts["XDP_DROP"] == sum(stats(obj)[i][0] for i in (1, 2, 3))


@pytest.mark.kernel
@pytest.mark.skipif(not KERNEL_OK, reason=f"bpf() not usable: {KERNEL_REASON}")
def test_same_results_as_the_kernel_over_the_capture() -> None:
    ours = configured()
    prog = ours.program("xdp_firewall")
    with kernel_collection(OBJ) as kc:
        for name, key, value in BLOCKS:
            map_update(kc.maps[name], key, value)
        kfd = kc.program("xdp_firewall").fd
        frames = [f for _, f in read_pcap(PCAP)] + list(FRAMES.values())
        mine, theirs = Counter(), Counter()
        for frame in frames:
            a = prog.test_run(data=frame)
            b = prog_test_run(kfd, data=frame)
            assert (a.retval, a.data_out) == (b.retval, b.data_out)
            mine[a.retval] += 1
            theirs[b.retval] += 1
        assert mine == theirs
        for key in (socket.inet_aton("10.0.0.1"), socket.inet_aton(BLOCKED_V4)):
            ours_v = ours.maps["per_source"].lookup(key)
            kern_v = map_lookup(kc.maps["per_source"], key)
            assert ours_v == kern_v
