"""Write traffic.pcap: a deterministic mix of frames for the firewall example and the demo.

    python examples/xdp_firewall/make_pcap.py   (needs scapy)
"""

from __future__ import annotations

import random
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.utils import wrpcap

OUT = Path(__file__).with_name("traffic.pcap")


def frames(count: int = 2000, seed: int = 7) -> list[object]:
    rng = random.Random(seed)
    hosts = [f"10.1.{rng.randrange(0, 4)}.{rng.randrange(1, 250)}" for _ in range(40)]
    attackers = ["203.0.113.66", "198.51.100.23"]
    out = []
    for i in range(count):
        eth = Ether(src=f"02:00:00:00:{i % 200:02x}:01", dst="02:00:00:00:00:fe")
        kind = rng.random()
        src = rng.choice(attackers) if rng.random() < 0.1 else rng.choice(hosts)
        if kind < 0.45:
            pkt = eth / IP(src=src, dst="10.9.0.1") / TCP(sport=rng.randrange(1024, 65535),
                          dport=rng.choice([22, 80, 443, 443, 443, 8080, 23, 3389]), flags="S")
        elif kind < 0.70:
            pkt = eth / IP(src=src, dst="10.9.0.53") / UDP(sport=rng.randrange(1024, 65535),
                          dport=rng.choice([53, 53, 123, 161, 1900])) / (b"q" * rng.randrange(0, 60))
        elif kind < 0.80:
            pkt = eth / IP(src=src, dst="10.9.0.1") / ICMP()
        elif kind < 0.93:
            pkt = eth / IPv6(src=f"2001:db8::{rng.randrange(1, 50):x}", dst="2001:db8::1") / TCP(
                dport=rng.choice([80, 443, 23]))
        elif kind < 0.99:
            pkt = Ether(src="02:00:00:00:00:07", dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.9.0.1")
        else:
            pkt = eth / IP(src=src, dst="10.9.0.1", ihl=4)  # malformed header length
        pkt.time = 1_700_000_000 + i / 1000
        out.append(pkt)
    return out


if __name__ == "__main__":
    wrpcap(str(OUT), frames())
    print(f"wrote {OUT}")
