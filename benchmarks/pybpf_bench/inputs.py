"""Deterministic inputs of the benchmark programs (benchmarks/c/*.c).

Every program is an XDP program and its input is the packet: ``struct bench_header``
(u32 ``n``, u32 ``rounds``, little-endian) then a payload laid out as each C file's
comment says. Each builder takes ``small``: the full size for timing (at most 3,520 bytes,
the linear part of a kernel test-run frame), or a small one for the tests. Randomness
comes from ``random.Random`` with fixed seeds and ``getrandbits`` only, so inputs are the
same on every machine and Python version.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIREWALL_PCAP = ROOT / "examples" / "xdp_firewall" / "traffic.pcap"
SLOT = 32  # strcmp: bytes per string slot


def header(n: int, rounds: int) -> bytes:
    return struct.pack("<II", n, rounds)


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


def _below(rng: random.Random, bound: int) -> int:
    """A number in [0, bound) from getrandbits only (stable across Python versions)."""
    while True:
        value = rng.getrandbits(max(1, bound.bit_length()))
        if value < bound:
            return value


def int_log2(small: bool) -> tuple[bytes, ...]:
    n, rounds = (20, 2) if small else (432, 8)
    rng = _rng(1)
    values = [rng.getrandbits(64) >> _below(rng, 64) for _ in range(n)]
    values[0] = 0  # log2(0) counts as 0
    return (header(n, rounds) + b"".join(struct.pack("<Q", v) for v in values),)


def memcpy(small: bool) -> tuple[bytes, ...]:
    n, rounds = (100, 2) if small else (1728, 64)
    rng = _rng(2)
    src = bytes(rng.getrandbits(8) for _ in range(n))
    return (header(n, rounds) + src + bytes(n),)


def primes(small: bool) -> tuple[bytes, ...]:
    n, rounds = (200, 1) if small else (2500, 1)
    return (header(n, rounds) + bytes(8),)  # padded to the 14 bytes XDP needs


def _string(rng: random.Random, length: int) -> bytes:
    return bytes(0x61 + _below(rng, 4) for _ in range(length))  # 'a'..'d': long prefixes


def strcmp(small: bool) -> tuple[bytes, ...]:
    n, rounds = (6, 1) if small else (54, 4)
    rng = _rng(3)
    pairs = []
    for i in range(n):
        a = _string(rng, 8 + _below(rng, SLOT - 8))
        kind = i % 4
        if kind == 0:
            b = a  # equal
        elif kind == 1:
            b = a[: _below(rng, len(a))]  # a prefix: differs at its NUL
        else:
            at = _below(rng, len(a))
            b = a[:at] + bytes([0x61 + _below(rng, 4)]) + a[at + 1 :]
        pairs.append(a.ljust(SLOT, b"\0") + b.ljust(SLOT, b"\0"))
    return (header(n, rounds) + b"".join(pairs),)


#: vm.c's opcodes.
VM_OPS = {"halt": 0, "li": 1, "mov": 2, "add": 3, "sub": 4, "mul": 5, "xor": 6, "shr": 7,
          "addi": 8, "jnz": 9}

#: The bytecode the vm benchmark runs: acc = acc * 31 + ((i >> 3) ^ i) for i in 1..r1.
VM_PROGRAM: tuple[tuple[str, int, int], ...] = (
    ("li", 0, 0),     # 0: acc = 0
    ("li", 2, 1),     # 1: i = 1
    ("li", 3, 31),    # 2: k = 31
    ("li", 5, 1),     # 3: one = 1
    ("mov", 4, 2),    # 4: loop: t = i
    ("shr", 4, 3),    # 5: t >>= 3
    ("xor", 4, 2),    # 6: t ^= i
    ("mul", 0, 3),    # 7: acc *= k
    ("add", 0, 4),    # 8: acc += t
    ("addi", 2, 1),   # 9: i += 1
    ("sub", 1, 5),    # 10: r1 -= one
    ("jnz", 1, 4),    # 11: if r1 != 0 goto loop
    ("halt", 0, 0),   # 12: return acc
)


def vm_code(program: tuple[tuple[str, int, int], ...]) -> bytes:
    """Encode (op, a, b-or-imm) triples: register operands for mov/add/sub/mul/xor, a 16-bit
    immediate for the rest."""
    words = []
    for op, a, b in program:
        if op in ("mov", "add", "sub", "mul", "xor"):
            words.append(VM_OPS[op] | a << 8 | b << 16)
        else:
            words.append(VM_OPS[op] | a << 8 | (b & 0xFFFF) << 16)
    return b"".join(struct.pack("<I", w) for w in words)


def vm(small: bool) -> tuple[bytes, ...]:
    iterations = 10 if small else 1000  # the argument, passed as `rounds`
    return (header(len(VM_PROGRAM), iterations) + vm_code(VM_PROGRAM),)


def _ipv4(proto: int, payload: bytes, src: int, dst: int, options: bytes = b"") -> bytes:
    ihl = 5 + len(options) // 4
    return struct.pack(">BBHHHBBHII", 0x40 | ihl, 0, 20 + len(options) + len(payload), 0, 0,
                       64, proto, 0, src, dst) + options + payload


def _tcp(sport: int, dport: int, flags: int) -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 8192, 0, 0)


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def _ether(ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    macs = bytes.fromhex("020000000002") + bytes.fromhex("020000000001")
    if vlan is not None:
        return macs + struct.pack(">HHH", 0x8100, vlan, ethertype) + payload
    return macs + struct.pack(">H", ethertype) + payload


def _ipv6(nexthdr: int, payload: bytes, src_low: int) -> bytes:
    src = bytes.fromhex("20010db8000000000000000000000000")[:12] + struct.pack(">I", src_low)
    dst = bytes.fromhex("20010db8000000000000000000000001")
    return struct.pack(">IHBB", 0x60000000, len(payload), nexthdr, 64) + src + dst + payload


def parse_frames(count: int, seed: int = 5) -> list[bytes]:
    """A mix of frames: IPv4 TCP/UDP/ICMP (some with IP options or a VLAN tag), IPv6,
    ARP, and malformed ones (bad ihl, truncated TCP, runt)."""
    rng = _rng(seed)
    frames = []
    for i in range(count):
        src = 0x0A000000 | rng.getrandbits(16)
        dst = 0x0A090000 | rng.getrandbits(8)
        kind = i % 10
        sport, dport = 1024 + rng.getrandbits(14), (22, 53, 80, 443, 8080)[_below(rng, 5)]
        if kind in (0, 1, 2):
            frames.append(_ether(0x0800, _ipv4(6, _tcp(sport, dport, 0x02 | (kind << 4)), src, dst)))
        elif kind == 3:
            opts = b"\x01" * (4 * (1 + _below(rng, 2)))
            frames.append(_ether(0x0800, _ipv4(6, _tcp(sport, dport, 0x10), src, dst, opts)))
        elif kind == 4:
            frames.append(_ether(0x0800, _ipv4(17, _udp(sport, dport, b"q" * _below(rng, 24)),
                                               src, dst)))
        elif kind == 5:
            frames.append(_ether(0x0800, _ipv4(1, b"\x08\x00" + bytes(6), src, dst), vlan=7))
        elif kind == 6:
            nexthdr = (6, 17)[_below(rng, 2)]
            l4 = _tcp(sport, dport, 0x12) if nexthdr == 6 else _udp(sport, dport, b"v6")
            frames.append(_ether(0x86DD, _ipv6(nexthdr, l4, rng.getrandbits(32))))
        elif kind == 7:
            frames.append(_ether(0x0806, bytes(28)))
        elif kind == 8:
            frames.append(_ether(0x0800, _ipv4(17, _udp(sport, dport, b""), src, dst), vlan=9))
        else:
            bad = (_ether(0x0800, _ipv4(6, _tcp(sport, dport, 2), src, dst))[:40],  # cut TCP
                   _ether(0x0800, bytes([0x44]) + bytes(19)),  # ihl 4
                   bytes(10))[_below(rng, 3)]  # runt
            frames.append(bad)
    return frames


def parse(small: bool) -> tuple[bytes, ...]:
    frames, rounds = (parse_frames(12), 1) if small else (parse_frames(52), 16)
    records = b"".join(struct.pack("<H", len(f)) + f for f in frames)
    return (header(len(frames), rounds) + records,)


def sort(small: bool) -> tuple[bytes, ...]:
    n, rounds = (20, 2) if small else (192, 1)
    rng = _rng(6)
    values = [rng.getrandbits(32) for _ in range(n)]
    values[1:3] = [values[0], values[0]]  # duplicates
    return (header(n, rounds) + struct.pack(f"<{n}I", *values) + bytes(4 * n),)


def sha256(small: bool) -> tuple[bytes, ...]:
    """A message padded as FIPS 180-4 pads it (the program only compresses blocks)."""
    length, rounds = (100, 2) if small else (1000, 2)
    rng = _rng(11)
    message = bytes(rng.getrandbits(8) for _ in range(length))
    padded = message + b"\x80" + bytes((55 - length) % 64) + struct.pack(">Q", 8 * length)
    return (header(len(padded) // 64, rounds) + padded + bytes(32),)


def array_map(small: bool) -> tuple[bytes, ...]:
    n, rounds = (100, 2) if small else (3400, 1)
    rng = _rng(7)
    return (header(n, rounds) + bytes(rng.getrandbits(8) for _ in range(n)),)


def hash_map(small: bool) -> tuple[bytes, ...]:
    n, rounds = (40, 2) if small else (860, 2)
    rng = _rng(8)
    keys = [_below(rng, n) * 2654435761 & 0xFFFFFFFF for _ in range(n)]  # about half repeat
    return (header(n, rounds) + struct.pack(f"<{n}I", *keys),)


def xdp_firewall(small: bool) -> tuple[bytes, ...]:
    from pybpf.runtime.pcap import read_pcap

    frames = tuple(frame for _, frame in read_pcap(FIREWALL_PCAP))
    return frames[:100] if small else frames
