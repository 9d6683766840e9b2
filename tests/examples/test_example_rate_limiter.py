"""examples/rate_limiter: a two-colour token bucket per flow, on a deterministic clock.

(No kernel comparison: the kernel's bpf_ktime_get_ns() cannot be stopped, so token refill
between back-to-back test runs is not reproducible there.)"""

from __future__ import annotations

import struct

import pytest
from example_support import example
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import pybpf
from pybpf.runtime.helpers.time import ManualClock

TC_ACT_OK, TC_ACT_SHOT = 0, 2
RATE, BURST = 125_000, 3000  # bytes per second and burst, the object's defaults


def frame(sport: int, size: int = 100) -> bytes:
    head = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=sport, dport=9)
    return bytes(head / (b"x" * (size - len(head))))


@pytest.fixture
def limiter():  # type: ignore[no-untyped-def]
    obj = pybpf.load(example("rate_limiter/token_bucket.o"))
    prog = obj.program("tc")
    prog.state.clock = ManualClock(now_ns=5_000_000_000)
    return obj, prog


def verdicts(prog, frames: list[bytes]) -> list[int]:  # type: ignore[no-untyped-def]
    return [prog.test_run(data=f).retval for f in frames]


def test_burst_then_red(limiter) -> None:  # type: ignore[no-untyped-def]
    _, prog = limiter
    out = verdicts(prog, [frame(1000)] * 40)
    assert out == [TC_ACT_OK] * (BURST // 100) + [TC_ACT_SHOT] * 10


def test_tokens_refill_with_time(limiter) -> None:  # type: ignore[no-untyped-def]
    _, prog = limiter
    verdicts(prog, [frame(1000)] * 40)          # bucket empty
    prog.state.clock.advance(8_000_000)          # 8 ms earns 1000 bytes
    assert verdicts(prog, [frame(1000)] * 12) == [TC_ACT_OK] * 10 + [TC_ACT_SHOT] * 2
    prog.state.clock.advance(10_000_000_000)     # long idle: capped at the burst
    assert verdicts(prog, [frame(1000)] * 31).count(TC_ACT_OK) == 30


def test_flows_have_their_own_buckets_and_counters(limiter) -> None:  # type: ignore[no-untyped-def]
    obj, prog = limiter
    verdicts(prog, [frame(1000)] * 35 + [frame(2000)] * 5)
    colours = {}
    for key, value in obj.maps["buckets"].items():
        sport = struct.unpack_from("<H", key, 8)[0]
        tokens, _, green, red = struct.unpack("<QQQQ", value)
        colours[sport] = (green, red, tokens)
    assert colours[1000] == (30, 5, 0)
    assert colours[2000] == (5, 0, BURST - 500)


def test_non_ip_traffic_is_not_limited(limiter) -> None:  # type: ignore[no-untyped-def]
    _, prog = limiter
    arp = bytes(Ether(type=0x0806)) + bytes(46)
    assert verdicts(prog, [arp] * 50) == [TC_ACT_OK] * 50


@pytest.mark.kernel
@pytest.mark.skipif(not __import__("example_support").KERNEL_OK,
                    reason=f"bpf() not usable: {__import__('example_support').KERNEL_REASON}")
def test_first_packets_of_fresh_flows_match_the_kernel() -> None:
    """The part the kernel makes deterministic: a flow's first packet meets a full bucket
    (no time has passed), so it is green exactly when it fits in the burst."""
    from example_support import kernel_collection

    from pybpf.kernel.sys import prog_test_run

    obj = pybpf.load(example("rate_limiter/token_bucket.o"))
    prog = obj.program("tc")
    sizes = [60, 100, 1500, 2999, 3000, 3001, 3500, 3712]
    frames = [frame(3000 + i, size) for i, size in enumerate(sizes)]
    with kernel_collection("rate_limiter/token_bucket.o") as kc:
        fd = kc.program("tc").fd
        for f in frames:
            ours, theirs = prog.test_run(data=f), prog_test_run(fd, data=f)
            assert (ours.retval, ours.data_out) == (theirs.retval, theirs.data_out), len(f)
    assert [prog.test_run(data=f).retval for f in frames] != []  # noqa: the loop above compared
