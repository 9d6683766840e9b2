"""The benchmark registry: each program's object, entry function, input and reference.

Groups: ``compute`` programs use no helpers (the geometric mean is taken over them),
``maps`` programs spend their time in map helpers, ``packet`` is the XDP firewall example
over a capture (one run per frame).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from . import inputs, reference
from .reference import Expected

Group = Literal["compute", "maps", "packet"]
BENCH_C = inputs.ROOT / "benchmarks" / "c"
FIREWALL = inputs.ROOT / "examples" / "xdp_firewall"


@dataclass(frozen=True, slots=True)
class MapEntry:
    """One key/value a benchmark stores in a map before it runs."""

    map_name: str
    key: bytes
    value: bytes


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One program of the suite. ``check_maps`` names maps whose contents after one run on
    a fresh load must agree across the backends that can show them (not the native one).
    ``timed_frames`` > 0 times only that many frames, evenly spaced (all are checked)."""

    name: str
    group: Group
    what: str
    source: Path
    obj: Path
    function: str
    make_input: Callable[[bool], tuple[bytes, ...]]
    reference: Callable[[Sequence[bytes]], Expected]
    preload: tuple[MapEntry, ...] = ()
    check_maps: tuple[str, ...] = ()
    timed_frames: int = 0

    def frames(self, small: bool = False) -> tuple[bytes, ...]:
        """The input packets (``small`` for tests)."""
        return self.make_input(small)

    def timing_frames(self, frames: Sequence[bytes]) -> tuple[bytes, ...]:
        """The frames timed: all, or ``timed_frames`` of them evenly spaced."""
        count = self.timed_frames
        if not count or count >= len(frames):
            return tuple(frames)
        return tuple(frames[i * len(frames) // count] for i in range(count))


def _bench(name: str, group: Group, what: str, function: str | None = None,
           check_maps: tuple[str, ...] = ()) -> Benchmark:
    return Benchmark(name, group, what, BENCH_C / f"{name}.c", BENCH_C / f"{name}.o",
                     function or name, getattr(inputs, name), getattr(reference, name),
                     check_maps=check_maps)


def _firewall_preload() -> tuple[MapEntry, ...]:
    one = b"\x01"
    return (
        *(MapEntry("blocked_v4", socket.inet_aton(a), one) for a in reference.FIREWALL_BLOCKED_V4),
        *(MapEntry("blocked_v6", socket.inet_pton(socket.AF_INET6, a), one)
          for a in reference.FIREWALL_BLOCKED_V6),
        *(MapEntry("blocked_ports", struct.pack("<H", p), one)
          for p in reference.FIREWALL_BLOCKED_PORTS),
    )


#: The firewall is checked on all 2,000 frames of the capture but timed on 64 of them: the
#: kernel's BPF_PROG_TEST_RUN with repeat > 1 installs the program in the XDP dispatcher for
#: the call and removes it after (bpf_prog_test_run_xdp()), which costs about 25 ms per
#: call on the 2-core VM, outside the measured time but not outside the wall clock.
FIREWALL_TIMED_FRAMES = 64

BENCHMARKS: tuple[Benchmark, ...] = (
    _bench("int_log2", "compute", "floor(log2) of 432 u64, 8 rounds"),
    _bench("memcpy", "compute", "1,728 bytes in 64-byte blocks, 64 rounds", "bench_memcpy"),
    _bench("primes", "compute", "primes below 2,500 by trial division"),
    _bench("strcmp", "compute", "54 string pairs, 4 rounds", "bench_strcmp"),
    _bench("vm", "compute", "switch-dispatch bytecode VM, 1,000 loop iterations"),
    _bench("parse", "compute", "Ethernet/VLAN/IPv4/IPv6/TCP/UDP headers of 52 frames, 16 rounds"),
    _bench("sort", "compute", "insertion sort of 192 u32 in place"),
    _bench("sha256", "compute", "SHA-256 of 1,000 bytes (16 blocks), 2 rounds"),
    _bench("array_map", "maps", "3,400 array-map lookups + increments", check_maps=("counts",)),
    _bench("hash_map", "maps", "430 hash-map updates + 430 lookups, 2 rounds"),
    Benchmark("xdp_firewall", "packet", "examples/xdp_firewall over traffic.pcap, per frame",
              FIREWALL / "xdp_firewall.c", FIREWALL / "xdp_firewall.o", "xdp_firewall",
              inputs.xdp_firewall, reference.xdp_firewall, preload=_firewall_preload(),
              timed_frames=FIREWALL_TIMED_FRAMES),
)


def select(names: Sequence[str] | None) -> tuple[Benchmark, ...]:
    """The benchmarks named (all when ``names`` is empty); an unknown name is an error."""
    if not names:
        return BENCHMARKS
    known = {b.name: b for b in BENCHMARKS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)} "
                         f"(have: {', '.join(known)})")
    return tuple(known[n] for n in names)
