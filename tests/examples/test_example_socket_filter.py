"""examples/socket_filter: DNS kept (truncated to snaplen), the rest dropped — on pybpf
and in the kernel."""

from __future__ import annotations

import struct

import pytest
from example_support import KERNEL_OK, KERNEL_REASON, example, kernel_collection
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

import pybpf
from pybpf.kernel.sys import map_lookup, prog_test_run

OBJ = "socket_filter/dns_filter.o"


def frame(l3) -> bytes:  # type: ignore[no-untyped-def]
    return bytes(Ether(dst="00:00:00:00:00:00", src="02:00:00:00:00:01") / l3)


FRAMES = {
    "dns-query": frame(IP(src="10.0.0.1", dst="10.0.0.53") / UDP(sport=40000, dport=53) / (b"q" * 30)),
    "dns-answer-big": frame(IP(src="10.0.0.53", dst="10.0.0.1") / UDP(sport=53, dport=40000) / (b"a" * 300)),
    "ntp": frame(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=40001, dport=123) / (b"t" * 48)),
    "tcp-53": frame(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=53)),
    "ipv6-dns": frame(IPv6() / UDP(dport=53)),
}


def expected(name: str) -> int:
    l3_len = len(FRAMES[name]) - 14
    return min(l3_len, 128) if name.startswith("dns") else 0


@pytest.mark.parametrize("name", list(FRAMES))
def test_keeps_only_dns(name: str) -> None:
    prog = pybpf.load(example(OBJ)).program("socket")
    assert prog.test_run(data=FRAMES[name]).retval == expected(name)


def test_counts() -> None:
    obj = pybpf.load(example(OBJ))
    for f in FRAMES.values():
        obj.program("dns_filter").test_run(data=f)
    kept, dropped = (struct.unpack("<Q", obj.maps["counts"][i])[0] for i in (0, 1))
    assert (kept, dropped) == (2, 3)


@pytest.mark.kernel
@pytest.mark.skipif(not KERNEL_OK, reason=f"bpf() not usable: {KERNEL_REASON}")
def test_same_as_the_kernel() -> None:
    ours = pybpf.load(example(OBJ))
    with kernel_collection(OBJ) as kc:
        for f in FRAMES.values():
            a = ours.program("dns_filter").test_run(data=f)
            b = prog_test_run(kc.program("dns_filter").fd, data=f)
            assert (a.retval, a.data_out) == (b.retval, b.data_out)
        for i in (0, 1):
            key = struct.pack("<I", i)
            assert ours.maps["counts"][i] == map_lookup(kc.maps["counts"], key)
