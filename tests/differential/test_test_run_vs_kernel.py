"""Differential test: test_run on the interpreter vs BPF_PROG_TEST_RUN in the live kernel.

Context fields (read with every width the kernel accepts), direct packet reads and writes
(XDP, tc: socket filters have no direct packet access),
LD_ABS/LD_IND (including past the end), ctx_in/ctx_out, for XDP, socket filters and tc,
over a set of real frames built with scapy. Skips where bpf() is not usable.
"""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from pybpf.asm import assemble
from pybpf.errors import KernelError
from pybpf.interp import Interpreter
from pybpf.isa import encode
from pybpf.kernel.sys import bpf_available, prog_load, prog_test_run
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType
from pybpf.program import ProgramSpec

AVAILABLE, REASON = bpf_available()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not AVAILABLE, reason=f"bpf() not usable: {REASON}")]

FRAMES = {
    "tcp4-bcast": bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01") / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80, flags="S")),
    "udp4-host": bytes(Ether(dst="00:00:00:00:00:00", src="02:00:00:00:00:01") / IP(src="192.168.1.1", dst="192.168.1.2", ttl=3) / UDP(sport=53, dport=5353) / (b"x" * 40)),
    "icmp4-other": bytes(Ether(dst="02:00:00:00:00:09", src="02:00:00:00:00:01") / IP(dst="8.8.8.8") / ICMP()),
    "tcp6-mcast": bytes(Ether(dst="33:33:00:00:00:01", src="02:00:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1") / TCP(dport=443)),
    "arp": bytes(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst="10.0.0.9")) + bytes(18),
}

SKB_FIELDS = [f for f in CTX_STRUCTS["__sk_buff"].fields if f.kind == "int"]
XDP_FIELDS = [f for f in CTX_STRUCTS["xdp_md"].fields]
SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


def both(prog_type: int, text: str, data: bytes, ctx: bytes | None = None):  # type: ignore[no-untyped-def]
    insns = assemble(text)
    try:
        with prog_load(prog_type, encode(insns)) as prog:
            kernel = prog_test_run(prog.fd, data=data, ctx=ctx)
    except KernelError as exc:
        return None, exc
    ours = Interpreter().load(ProgramSpec("t", insns, prog_type=prog_type)).test_run(data=data, ctx=ctx)
    return kernel, ours


def field_programs(fields):  # type: ignore[no-untyped-def]
    for fld in fields:
        for size in (1, 2, 4, 8):
            if size > fld.size and not (size == 8 and fld.size == 8):
                continue
            for shift in range(0, fld.size, size):
                yield fld.name, size, shift, f"r0 = *({SIZES[size]} *)(r1 + {fld.offset + shift})\nexit"


@pytest.mark.parametrize("prog_type", [ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.XDP],
                         ids=lambda t: ProgType(t).name)
def test_context_fields_read_the_same(prog_type: int) -> None:
    fields = XDP_FIELDS if prog_type == ProgType.XDP else SKB_FIELDS
    compared = 0
    for name, size, shift, text in field_programs(fields):
        for frame_name, frame in FRAMES.items():
            kernel, ours = both(prog_type, text, frame)
            if kernel is None:
                break  # the verifier rejects this access for this type: nothing to compare
            if name in ("data", "data_end", "data_meta"):
                continue  # pointers differ by design; compared through packet reads below
            assert ours.retval == kernel.retval, f"{name} size {size}+{shift} on {frame_name}"
            compared += 1
    assert compared >= 2 * len(FRAMES)


PACKET_READER = """
    r2 = *(u32 *)(r1 + {data})
    r3 = *(u32 *)(r1 + {end})
    r0 = r3
    r0 -= r2
    r4 = r2
    r4 += 24
    if r4 > r3 goto out
    r0 = *(u64 *)(r2 + 16)
    r5 = *(u8 *)(r2 + 12)
    r0 ^= r5
    r0 <<= 8
    r5 = *(u16 *)(r2 + 6)
    r0 += r5
out:
    exit
"""

PACKET_WRITER = """
    r2 = *(u32 *)(r1 + {data})
    r3 = *(u32 *)(r1 + {end})
    r4 = r2
    r4 += 20
    if r4 > r3 goto out
    r5 = 0xabcd
    *(u16 *)(r2 + 2) = r5
    *(u32 *)(r2 + 8) = 0x11223344
    r5 = *(u8 *)(r2 + 19)
    r5 += 1
    *(u8 *)(r2 + 19) = r5
out:
    r0 = 1
    exit
"""


@pytest.mark.parametrize("prog_type", [ProgType.SCHED_CLS, ProgType.XDP],
                         ids=lambda t: ProgType(t).name)
@pytest.mark.parametrize("frame", list(FRAMES), ids=list(FRAMES))
def test_packet_reads_and_writes(prog_type: int, frame: str) -> None:
    layout = CTX_STRUCTS["xdp_md" if prog_type == ProgType.XDP else "__sk_buff"]
    offs = {"data": layout.offsetof("data"), "end": layout.offsetof("data_end")}
    kernel, ours = both(prog_type, PACKET_READER.format(**offs), FRAMES[frame])
    assert kernel is not None, ours
    assert (ours.retval, ours.data_out) == (kernel.retval, kernel.data_out)
    kernel, ours = both(prog_type, PACKET_WRITER.format(**offs), FRAMES[frame])
    assert kernel is not None, ours
    assert (ours.retval, ours.data_out) == (kernel.retval, kernel.data_out)


@pytest.mark.parametrize("prog_type", [ProgType.SOCKET_FILTER, ProgType.SCHED_CLS],
                         ids=lambda t: ProgType(t).name)
@pytest.mark.parametrize("offset", [0, 1, 9, 12, 22, 33, 60, 62, 64, 100, 2000])
def test_ld_abs_and_ld_ind(prog_type: int, offset: int) -> None:
    text = f"""
        r6 = r1
        r0 = *(u8 *)skb[{offset}]
        r7 = r0
        r0 = *(u16 *)skb[{offset}]
        r7 <<= 16
        r7 |= r0
        r8 = 2
        r0 = *(u32 *)skb[r8 + {offset}]
        r0 ^= r7
        exit
    """
    for frame in FRAMES.values():
        kernel, ours = both(prog_type, text, frame)
        assert kernel is not None, ours
        assert ours.retval == kernel.retval


def test_tc_ctx_in_and_out() -> None:
    layout = CTX_STRUCTS["__sk_buff"]
    ctx = bytearray(layout.size)
    for name, value in (("mark", 7), ("priority", 3), ("cb[2]", 0xDEAD)):
        off = layout.offsetof(name)
        ctx[off : off + 4] = value.to_bytes(4, "little")
    text = f"""
        r2 = *(u32 *)(r1 + {layout.offsetof("mark")})
        r2 += 100
        *(u32 *)(r1 + {layout.offsetof("mark")}) = r2
        r3 = *(u32 *)(r1 + {layout.offsetof("cb[2]")})
        *(u32 *)(r1 + {layout.offsetof("cb[0]")}) = r3
        *(u32 *)(r1 + {layout.offsetof("priority")}) = 9
        r0 = *(u32 *)(r1 + {layout.offsetof("len")})
        exit
    """
    kernel, ours = both(ProgType.SCHED_CLS, text, FRAMES["udp4-host"], bytes(ctx))
    assert kernel is not None, ours
    assert ours.retval == kernel.retval
    assert ours.ctx_out == kernel.ctx_out


def test_xdp_ctx_with_metadata() -> None:
    meta = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    frame = FRAMES["tcp4-bcast"]
    ctx = (8).to_bytes(4, "little") + len(meta + frame).to_bytes(4, "little") + bytes(16)
    text = """
        r2 = *(u32 *)(r1 + 8)
        r3 = *(u32 *)(r1 + 0)
        r4 = r2
        r4 += 8
        if r4 > r3 goto out
        r0 = *(u64 *)(r2 + 0)
        r5 = *(u32 *)(r1 + 12)
        r0 += r5
        exit
    out:
        r0 = 0
        exit
    """
    kernel, ours = both(ProgType.XDP, text, meta + frame, ctx)
    assert kernel is not None, ours
    assert (ours.retval, ours.data_out, ours.ctx_out) == (kernel.retval, kernel.data_out, kernel.ctx_out)


@pytest.mark.parametrize("prog_type", [ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.XDP],
                         ids=lambda t: ProgType(t).name)
def test_frame_size_limits(prog_type: int) -> None:
    """The largest frame a test run takes, and the first one refused, match the kernel's."""
    from pybpf.errors import TestRunError

    insns = assemble("r0 = 0\nexit")
    ours = Interpreter().load(ProgramSpec("t", insns, prog_type=prog_type))
    with prog_load(prog_type, encode(insns)) as prog:
        for size in (13, 14, 33, 34, 3519, 3520, 3521, 3712, 3713, 5000, 65536):
            frame = bytes(12) + b"\x08\x00" + b"\x45" + bytes(max(0, size - 15))
            frame = frame[:size]
            try:
                prog_test_run(prog.fd, data=frame)
                kernel_ok = True
            except KernelError:
                kernel_ok = False
            try:
                ours.test_run(data=frame)
                ours_ok = True
            except TestRunError:
                ours_ok = False
            assert ours_ok == kernel_ok, size


def test_long_xdp_frames_keep_a_linear_part_and_fragments() -> None:
    text = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr0 = r3\nr0 -= r2\nexit"
    for size in (3520, 3521, 9000):
        frame = bytes(range(256)) * (size // 256) + bytes(size % 256)
        kernel, ours = both(ProgType.XDP, text, frame)
        assert kernel is not None, ours
        assert (ours.retval, ours.data_out) == (kernel.retval, kernel.data_out)
