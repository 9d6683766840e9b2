"""The answers the benchmark programs must give, computed in plain Python from the same
input bytes — written from each C file's specification, not from its code, so that a
backend bug and a program bug both show up as a disagreement.

Each function takes the input frames and returns an :class:`Expected`: per frame the
program's return value (as the kernel's u32) and the packet after the run.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from .inputs import SLOT

M32 = 0xFFFFFFFF
XDP_DROP, XDP_PASS = 1, 2


@dataclass(frozen=True, slots=True)
class Expected:
    """Per frame: the return value and the packet after the run."""

    retvals: tuple[int, ...]
    packets: tuple[bytes, ...]


def _header(data: bytes) -> tuple[int, int]:
    n, rounds = struct.unpack_from("<II", data)
    return n, rounds


def _one(retval: int, packet: bytes) -> Expected:
    return Expected((retval & M32,), (packet,))


def int_log2(frames: Sequence[bytes]) -> Expected:
    (data,) = frames
    n, rounds = _header(data)
    values = struct.unpack_from(f"<{n}Q", data, 8)
    total = sum(max((v >> r).bit_length() - 1, 0) for r in range(rounds) for v in values)
    return _one(total, data)


def memcpy(frames: Sequence[bytes]) -> Expected:
    (data,) = frames
    n, rounds = _header(data)
    src = data[8 : 8 + n]
    return _one(n * rounds, data[:8] + src + src)


def primes(frames: Sequence[bytes]) -> Expected:
    (data,) = frames
    n, rounds = _header(data)
    sieve = bytearray([1]) * max(n, 2)
    sieve[0:2] = b"\0\0"
    for p in range(2, int(n**0.5) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytes(len(sieve[p * p :: p]))
    return _one(sum(sieve[:n]) * rounds, data)


def _c_strcmp(a: bytes, b: bytes) -> int:
    for x, y in zip(a, b, strict=True):
        if x != y:
            return x - y
        if x == 0:
            return 0
    return 0


def strcmp(frames: Sequence[bytes]) -> Expected:
    (data,) = frames
    n, rounds = _header(data)
    acc = 0
    for _ in range(rounds):
        for i in range(n):
            at = 8 + i * 2 * SLOT
            cmp = _c_strcmp(data[at : at + SLOT], data[at + SLOT : at + 2 * SLOT])
            acc = (acc * 31 + (cmp & M32)) & M32
    return _one(acc, data)


def vm(frames: Sequence[bytes]) -> Expected:
    """What inputs.VM_PROGRAM computes, written directly."""
    (data,) = frames
    _, iterations = _header(data)
    acc = 0
    for i in range(1, iterations + 1):
        acc = (acc * 31 + ((i >> 3) ^ i)) & M32
    return _one(acc, data)


def _mix(h: int, v: int) -> int:
    return ((h ^ v) * 0x01000193) & M32


def _parse_l4(h: int, frame: bytes, proto: int, off: int) -> int:
    if proto in (6, 17):
        size = 20 if proto == 6 else 8
        if off + size > len(frame):
            return _mix(h, 0xBAD)
        sport, dport = struct.unpack_from(">HH", frame, off)
        h = _mix(h, sport << 16 | dport)
        last = frame[off + 13] if proto == 6 else struct.unpack_from(">H", frame, off + 4)[0]
        return _mix(h, last)
    return _mix(h, proto)


def _parse_frame(h: int, frame: bytes) -> int:
    if len(frame) < 14:
        return _mix(h, 0xBAD)
    (ethertype,) = struct.unpack_from(">H", frame, 12)
    off = 14
    if ethertype == 0x8100:
        if off + 4 > len(frame):
            return _mix(h, 0xBAD)
        (ethertype,) = struct.unpack_from(">H", frame, off + 2)
        off += 4
    if ethertype == 0x0800:
        if off + 20 > len(frame) or frame[off] & 0x0F < 5:
            return _mix(h, 0xBAD)
        saddr, daddr = struct.unpack_from("<II", frame, off + 12)  # as loaded: raw words
        h = _mix(_mix(h, saddr), daddr)
        return _parse_l4(h, frame, frame[off + 9], off + (frame[off] & 0x0F) * 4)
    if ethertype == 0x86DD:
        if off + 40 > len(frame):
            return _mix(h, 0xBAD)
        h = _mix(h, struct.unpack_from("<I", frame, off + 8 + 12)[0])
        return _parse_l4(h, frame, frame[off + 6], off + 40)
    return _mix(h, ethertype)


def parse(frames: Sequence[bytes]) -> Expected:
    (data,) = frames
    n, rounds = _header(data)
    records = []
    off = 8
    for _ in range(n):
        (length,) = struct.unpack_from("<H", data, off)
        records.append(data[off + 2 : off + 2 + length])
        off += 2 + length
    h = 0x811C9DC5
    for _ in range(rounds):
        for frame in records:
            h = _parse_frame(h, frame)
    return _one(h, data)


def sort(frames: Sequence[bytes]) -> Expected:
    (data,) = frames
    n, _ = _header(data)
    out = sorted(struct.unpack_from(f"<{n}I", data, 8))
    checksum = sum(v * (i + 1) for i, v in enumerate(out))
    return _one(checksum, data[: 8 + 4 * n] + struct.pack(f"<{n}I", *out))


def sha256(frames: Sequence[bytes]) -> Expected:
    (data,) = frames
    n, _ = _header(data)
    padded = data[8 : 8 + 64 * n]
    length = struct.unpack(">Q", padded[-8:])[0] // 8
    digest = hashlib.sha256(padded[:length]).digest()
    return _one(struct.unpack(">I", digest[:4])[0], data[: 8 + 64 * n] + digest)


def array_map_counts(data: bytes) -> list[int]:
    """The histogram array_map leaves in its map: counts[k] for k in 0..63."""
    n, _ = _header(data)
    counts = [0] * 64
    for key in data[8 : 8 + n]:
        counts[key & 63] += 1
    return counts


def array_map(frames: Sequence[bytes]) -> Expected:
    (data,) = frames
    counts = array_map_counts(data)
    return _one(sum(k * c for k, c in enumerate(counts)), data)


def hash_map(frames: Sequence[bytes]) -> Expected:
    (data,) = frames
    n, rounds = _header(data)
    keys = struct.unpack_from(f"<{n}I", data, 8)
    half = n // 2
    table = {key: i for i, key in enumerate(keys[:half])}  # the last store wins
    found = sum(table.get(k, 65536) for k in keys[half:])
    return _one(found * rounds, data)


#: The block lists the firewall benchmark preloads (also used by the reference).
FIREWALL_BLOCKED_V4 = ("203.0.113.66",)
FIREWALL_BLOCKED_V6 = ("2001:db8::7",)
FIREWALL_BLOCKED_PORTS = (23, 3389)


def _firewall_ports(frame: bytes, proto: int, off: int) -> int:
    """1 blocked, 0 not, -1 malformed (examples/xdp_firewall/xdp_firewall.c's rules)."""
    if proto not in (6, 17):
        return 0
    if off + (20 if proto == 6 else 8) > len(frame):
        return -1
    return int(struct.unpack_from(">H", frame, off + 2)[0] in FIREWALL_BLOCKED_PORTS)


def firewall_verdict(frame: bytes) -> int:
    """XDP_PASS or XDP_DROP for one frame."""
    if len(frame) < 14:
        return XDP_DROP
    (ethertype,) = struct.unpack_from(">H", frame, 12)
    if ethertype == 0x0800:
        if len(frame) < 34 or frame[14] & 0x0F < 5:
            return XDP_DROP
        if socket.inet_ntoa(frame[26:30]) in FIREWALL_BLOCKED_V4:
            return XDP_DROP
        blocked = _firewall_ports(frame, frame[23], 14 + (frame[14] & 0x0F) * 4)
    elif ethertype == 0x86DD:
        if len(frame) < 54:
            return XDP_DROP
        if socket.inet_ntop(socket.AF_INET6, frame[22:38]) in FIREWALL_BLOCKED_V6:
            return XDP_DROP
        blocked = _firewall_ports(frame, frame[20], 54)
    else:
        return XDP_PASS
    return XDP_PASS if blocked == 0 else XDP_DROP


def xdp_firewall(frames: Sequence[bytes]) -> Expected:
    return Expected(tuple(firewall_verdict(f) for f in frames), tuple(frames))
