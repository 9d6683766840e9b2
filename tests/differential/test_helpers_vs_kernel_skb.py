"""Helper differential tests (part 2): checksums, skb geometry, vlan, redirects, output,
printk and the rest — see test_helpers_vs_kernel.py for the harness description."""
from __future__ import annotations

import ctypes
import errno
import os
import re
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether

from pybpf.asm import assemble
from pybpf.errors import KernelError
from pybpf.interp import Interpreter
from pybpf.isa import encode
from pybpf.kernel.sys import (
    BpfCmd,
    bpf_available,
    map_create,
    map_lookup,
    map_update,
    possible_cpus,
    prog_load,
    prog_test_run,
)
from pybpf.kernel.sys.attr import BpfMapElemAttr, BpfProgTestRunAttr
from pybpf.kernel.sys.syscall import bpf
from pybpf.kernel.sys.testrun import TestRunResult
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import MapType, ProgType
from pybpf.program import ProgramSpec
from pybpf.program.spec import MapSpec
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map


from .helpers_harness import *  # noqa: F403 - the shared harness, fixtures included
from .helpers_harness import AVAILABLE, REASON  # noqa: F401

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(not AVAILABLE, reason=f"bpf() not usable: {REASON}")]

# -- checksums -----------------------------------------------------------------------------

CSUM_PARAMS = 54  # where the parameters sit in CSUM_FRAME
CSUM_FRAME = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="1.2.3.4", dst="5.6.7.8") / UDP(sport=7, dport=9)
                   / bytes(64 + 128))


def csum_replace_program(helper: str) -> str:
    return f"""
    r6 = r1
    r1 = r6
    r2 = {CSUM_PARAMS}
    r3 = r10
    r3 += -32
    r4 = 32
    call bpf_skb_load_bytes
    r1 = r6
    r2 = *(u32 *)(r10 - 32)
    r3 = *(u64 *)(r10 - 24)
    r4 = *(u64 *)(r10 - 16)
    r5 = *(u64 *)(r10 - 8)
    call bpf_{helper}
    exit
"""


@pytest.fixture(scope="module")
def csum_pairs() -> Iterator[dict[str, Pair]]:
    """One loaded program per checksum helper, shared by the hypothesis examples."""
    pairs = {name: Pair(TC, text) for name, text in (
        ("l3_csum_replace", csum_replace_program("l3_csum_replace")),
        ("l4_csum_replace", csum_replace_program("l4_csum_replace")),
        ("csum_diff", CSUM_DIFF))}
    yield pairs
    for p in pairs.values():
        p.close()


def _csum_frame(offset: int, old: int, new: int, flags: int, check: int) -> bytes:
    frame = bytearray(CSUM_FRAME)
    frame[CSUM_PARAMS : CSUM_PARAMS + 32] = struct.pack("<IIQQQ", offset, 0, old, new, flags)
    frame[40:42] = check.to_bytes(2, "little")  # the UDP checksum field
    return bytes(frame)


SIZES = st.sampled_from([0, 2, 4, 1, 3, 8, 15])
FIELDS = st.sampled_from([24, 40, 0, 2, 54, 86, len(CSUM_FRAME) - 2, len(CSUM_FRAME) - 1,
                          len(CSUM_FRAME), 25, 0xFFFE, 0x10000, 0xFFFFFFFE])
U64S = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 0xFFFF, 0xFFFF0000,
                                                               0xFFFFFFFF, 2**64 - 1]))
CHECKS = st.one_of(st.integers(0, 0xFFFF), st.sampled_from([0, 0xFFFF, 1, 0xFFFE]))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(offset=FIELDS, old=U64S, new=U64S, size=SIZES, check=CHECKS,
       extra=st.sampled_from([0, 0, 0x10, 0x20, 0x30, 0x40, 0x60, 0x80, 0x100]))
def test_l3_csum_replace_bit_for_bit(csum_pairs: dict[str, Pair], offset: int, old: int,
                                     new: int, size: int, check: int, extra: int) -> None:
    p = csum_pairs["l3_csum_replace"]
    if size == 0 and extra == 0 and old & 1:
        old = 0  # size 0 needs from == 0 to do anything: cover both
    p.check(_csum_frame(offset, old, new, size | extra, check))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(offset=FIELDS, old=U64S, new=U64S, size=SIZES, check=CHECKS,
       extra=st.sampled_from([0, 0x10, 0x20, 0x30, 0x40, 0x60, 0x70, 0x80, 0x90, 0xB0, 0x100]))
def test_l4_csum_replace_bit_for_bit(csum_pairs: dict[str, Pair], offset: int, old: int,
                                     new: int, size: int, check: int, extra: int) -> None:
    p = csum_pairs["l4_csum_replace"]
    if size == 0 and old & 1:
        old = 0
    p.check(_csum_frame(offset, old, new, size | extra, check))


CSUM_DIFF = """
    r6 = r1
    r1 = r6
    r2 = 54
    r3 = r10
    r3 += -192
    r4 = 192
    call bpf_skb_load_bytes
    r2 = *(u32 *)(r10 - 192)
    r2 &= 63
    r4 = *(u32 *)(r10 - 188)
    r4 &= 63
    r5 = *(u64 *)(r10 - 184)
    r1 = r10
    r1 += -128
    r3 = r10
    r3 += -64
    call bpf_csum_diff
    exit
"""


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(from_size=st.integers(0, 63), to_size=st.integers(0, 63), seed=U64S,
       blob=st.binary(min_size=128, max_size=128))
def test_csum_diff_bit_for_bit(csum_pairs: dict[str, Pair], from_size: int, to_size: int,
                               seed: int, blob: bytes) -> None:
    frame = bytearray(CSUM_FRAME)
    frame[54 : 54 + 16] = struct.pack("<IIQ", from_size, to_size, seed)
    frame[54 + 64 : 54 + 192] = blob
    csum_pairs["csum_diff"].check(bytes(frame))


def test_csum_update_and_level(pair: Any) -> None:
    text = with_results("""
    r1 = r6
    r2 = 0x1234
    call bpf_csum_update
    SAVE 0
    r1 = r6
    r2 = 0
    call bpf_csum_level
    SAVE 1
    r1 = r6
    r2 = 1
    call bpf_csum_level
    SAVE 2
    r1 = r6
    r2 = 0
    call bpf_csum_level
    SAVE 3
    r1 = r6
    r2 = 3
    call bpf_csum_level
    SAVE 4
    r1 = r6
    r2 = 9
    call bpf_csum_level
    SAVE 5
""")
    k = pair(TC, text, results(6)).check(UDP4)
    assert slots(k, 6)[0] == -524


# -- skb geometry ---------------------------------------------------------------------------


def geometry_program(calls: list[str]) -> str:
    body = ""
    for i, call in enumerate(calls):
        body += f"    r1 = r6\n{call}\n    SAVE {3 * i}\n"
        body += f"    r0 = *(u32 *)(r6 + {SKB.offsetof('len')})\n    SAVE {3 * i + 1}\n"
        body += f"    r0 = *(u32 *)(r6 + {SKB.offsetof('protocol')})\n    SAVE {3 * i + 2}\n"
    return with_results(body)


def helper_call(name: str, *args: int) -> str:
    regs = "".join(f"    r{i + 2} = {a:#x} ll\n" for i, a in enumerate(args))
    return f"{regs}    call bpf_{name}"


def check_geometry(pair: Any, calls: list[str], frame: bytes, prog_type: int = TC) -> Outcome:
    """Kernel, interpreter and JIT (native geometry helpers) agree."""
    p = pair(prog_type, geometry_program(calls), results(3 * len(calls)), jit=True)
    return p.check(frame, what="\n".join(calls))


@pytest.mark.parametrize("frame", list(FRAMES), ids=list(FRAMES))
def test_skb_change_tail(pair: Any, frame: str) -> None:
    data = FRAMES[frame]
    for new_len in (len(data), len(data) + 100, len(data) - 10, 14, 13, 15, 0, 16064, 16065,
                    0xFFFFFFFF):
        for flags in (0, 1):
            check_geometry(pair, [helper_call("skb_change_tail", new_len, flags)], data)
    check_geometry(pair, [helper_call("skb_change_tail", 200, 0),
                          helper_call("skb_change_tail", 20, 0)], data)
    # a tail cut and grown again: the bytes it gets back are zeroed
    check_geometry(pair, [helper_call("skb_change_tail", 40, 0),
                          helper_call("skb_change_tail", 200, 0)], data)


@pytest.mark.parametrize("frame", list(FRAMES), ids=list(FRAMES))
def test_skb_change_head(pair: Any, frame: str) -> None:
    data = FRAMES[frame]
    for room in (0, 14, 100, 1000, 16064 - len(data), 16065 - len(data), 0x7FFFFFFF,
                 0x80000000, 0xFFFFFFFF):
        for flags in (0, 2):
            check_geometry(pair, [helper_call("skb_change_head", room, flags)], data)
    check_geometry(pair, [helper_call("skb_change_head", 14, 0),
                          helper_call("skb_change_tail", 30, 0)], data)


@pytest.mark.parametrize("frame", list(FRAMES), ids=list(FRAMES))
def test_skb_change_proto_and_type(pair: Any, frame: str) -> None:
    data = FRAMES[frame]
    for proto in (0x0008, 0xDD86, 0x0608, 0):
        for flags in (0, 1):
            check_geometry(pair, [helper_call("skb_change_proto", proto, flags)], data)
    check_geometry(pair, [helper_call("skb_change_proto", 0xDD86, 0),
                          helper_call("skb_change_proto", 0x0008, 0)], data)
    for pkt_type in (0, 1, 2, 3, 4, 7):
        text = f"""
        r6 = r1
        r2 = {pkt_type}
        call bpf_skb_change_type
        r0 <<= 8
        r1 = *(u32 *)(r6 + {SKB.offsetof('pkt_type')})
        r0 |= r1
        exit
        """
        pair(TC, text).check(data)


ROOM_FLAGS = [0, 1, 2, 4, 6, 2 | 8, 2 | 16, 2 | 8 | 16, 4 | 16, 32, 64, 2 | 64, 2 | 64 | (14 << 56),
              2 | 64 | (8 << 56), 2 | (20 << 56), 128, 256, 384, 128 | 1 | 32, 1 << 9]


@pytest.mark.parametrize("frame", list(FRAMES), ids=list(FRAMES))
@pytest.mark.parametrize("mode", [0, 1, 2])
def test_skb_adjust_room(pair: Any, frame: str, mode: int) -> None:
    data = FRAMES[frame]
    for len_diff in (8, 20, 40, -4, -8, -20, 0, 0xFFF, 0x1000, -0x1000):
        for flags in ROOM_FLAGS:
            check_geometry(pair, [helper_call("skb_adjust_room", len_diff & 0xFFFFFFFF, mode,
                                              flags)], data)


def test_skb_adjust_room_encap_then_change_tail(pair: Any) -> None:
    calls = [helper_call("skb_adjust_room", 20, 1, 2), helper_call("skb_change_tail", 80, 0),
             helper_call("skb_adjust_room", 20, 1, 2), helper_call("skb_adjust_room", -20, 1, 0)]
    k = check_geometry(pair, calls, UDP4)
    assert slots(k, 12)[3] == -524  # KERNEL-NOTES: ENOTSUPP after an encapsulating adjust


VLAN_READ = "".join(
    f"    r0 = *(u32 *)(r6 + {SKB.offsetof(f)})\n    SAVE {{slot{i}}}\n"
    for i, f in enumerate(("vlan_present", "vlan_tci", "vlan_proto", "protocol", "len")))


def vlan_program(calls: list[str]) -> str:
    body = ""
    for i, call in enumerate(calls):
        body += f"    r1 = r6\n{call}\n    SAVE {6 * i}\n"
        body += VLAN_READ.format(**{f"slot{j}": 6 * i + 1 + j for j in range(5)})
    return with_results(body)


@pytest.mark.parametrize("frame", ["udp4", "vlan", "qinq"])
def test_skb_vlan_push_pop(pair: Any, frame: str) -> None:
    data = {"udp4": UDP4, "vlan": VLAN, "qinq": QINQ}[frame]
    push_q = helper_call("skb_vlan_push", 0x0081, 0x1005)
    push_ad = helper_call("skb_vlan_push", 0xA888, 0xE00F)
    push_bad = helper_call("skb_vlan_push", 0x1234, 0x0FFFF7)
    pop = "    call bpf_skb_vlan_pop"
    for calls in ([push_q], [push_ad], [push_bad], [pop], [pop, pop], [pop, pop, pop],
                  [push_q, push_ad], [push_q, push_ad, push_q], [push_q, pop],
                  [push_q, push_ad, pop], [push_q, push_ad, pop, pop], [pop, push_q, push_q]):
        p = pair(TC, vlan_program(calls), results(6 * len(calls)), jit=True)
        p.check(data, what=" / ".join(c.split()[-1] for c in calls))


# -- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("prog_type", [XDP, TC], ids=["xdp", "tc"])
def test_redirect_return_codes(pair: Any, prog_type: int) -> None:
    for ifindex in (1, 7, 0xFFFFFFFF):
        for flags in (0, 1, 2, 1 << 16, 1 << 40):
            text = f"r1 = {ifindex:#x} ll\nr2 = {flags:#x} ll\ncall bpf_redirect\nexit"
            pair(prog_type, text).check(UDP4, what=f"redirect({ifindex}, {flags:#x})")


def test_redirect_map_on_devmaps(pair: Any) -> None:
    maps = {"dev": MapSpec("dev", MapType.DEVMAP, 4, 4, 4)}
    for key in (0, 1, 3, 4, 100):
        for flags in (0, 1, 2, 3, 4, 8, 8 | 16, 16, 8 | 2, 32, 1 << 33):
            text = f"""
            r1 = %dev
            r2 = {key}
            r3 = {flags:#x} ll
            call bpf_redirect_map
            exit
            """
            p = pair(XDP, text, maps)
            map_update(p.kmaps["dev"], (1).to_bytes(4, "little"), (1).to_bytes(4, "little"))
            p.omaps["dev"].update(1, (1).to_bytes(4, "little"))
            p.check(UDP4, what=f"redirect_map(key {key}, flags {flags:#x})")


def test_clone_redirect(pair: Any) -> None:
    gso = bytearray(SKB.size)
    gso[SKB.offsetof("gso_size") : SKB.offsetof("gso_size") + 4] = (100).to_bytes(4, "little")
    for ifindex, flags in ((1, 0), (1, 1), (999_999, 0), (1, 2), (0, 0)):
        text = f"r6 = r1\nr2 = {ifindex}\nr3 = {flags}\ncall bpf_clone_redirect\nexit"
        p = pair(TC, text)
        p.check(UDP4, what=f"clone_redirect({ifindex}, {flags})")
        p.check(UDP4, ctx=bytes(gso), what=f"GSO clone_redirect({ifindex}, {flags})")


# -- printing ------------------------------------------------------------------------------


def stack_bytes(data: bytes, at: int) -> str:
    """Store ``data`` (padded to 8) on the stack at ``r10 - at``."""
    data = data + bytes(-len(data) % 8)
    return "".join(
        f"    r1 = {int.from_bytes(data[i:i + 8], 'little'):#x} ll\n"
        f"    *(u64 *)(r10 - {at - i}) = r1\n" for i in range(0, len(data), 8))


@dataclass(frozen=True)
class Ptr:
    """A printf argument that points at ``data`` on the stack."""

    data: bytes


def printf_args(args: list[int | Ptr], base: int = 400) -> tuple[str, list[str]]:
    """Code that places pointed-to data on the stack, and each argument's register setup."""
    code, values = "", []
    at = base
    for arg in args:
        if isinstance(arg, Ptr):
            code += stack_bytes(arg.data, at)
            values.append(f"r10\n    {{reg}} += -{at}")
            at -= (len(arg.data) + 7) // 8 * 8 + 8
        else:
            values.append(f"{arg & (2**64 - 1):#x} ll")
    return code, values


def snprintf_program(nargs: int, args_code: str, values: list[str], size: int) -> str:
    fill = "".join(f"    {v.format(reg='r1').replace(chr(10) + '    ', chr(10) + '    ')}\n"
                   for v in [])
    store = ""
    for i, v in enumerate(values):
        store += f"    r1 = {v.format(reg='r1')}\n    *(u64 *)(r10 - {96 - 8 * i}) = r1\n"
    copy = "".join(f"    r1 = *(u64 *)(r10 - {224 - 8 * i})\n    *(u64 *)(r6 + {8 * i}) = r1\n"
                   for i in range(16))
    clear = "".join(f"    *(u64 *)(r10 - {224 - 8 * i}) = 0\n" for i in range(16))
    return f"""
    r6 = r1
{fill}{args_code}{store}{clear}
    r1 = r10
    r1 += -224
    r2 = {size}
    r3 = &fmt
    r4 = r10
    r4 += -96
    r5 = {8 * nargs}
    call bpf_snprintf
    r7 = r0
{copy}
    r0 = r7
    exit
"""


S = Ptr
IP4 = Ptr(bytes([192, 168, 1, 254]))
IP6 = Ptr(bytes.fromhex("fe800000000000000000000000000a01"))
PRINTF_CASES: list[tuple[bytes, list[int | Ptr]]] = [
    (b"hello\n", []),
    (b"%d %i %u|%d", [-5, -5, -5, 2**32 + 7]),
    (b"%x %X %x", [0xDEADBEEF, 0xABC, -1]),
    (b"%ld %lld %lu %llx %lX", [-(2**40), -1, 2**64 - 1, 2**63, 0xFEDCBA9876543210]),
    (b"%5d|%-5d|%05d|%+d|% d|%+05d|%-+6d|", [42, 42, 42, 42, 42, -42, 7]),
    (b"%08x|%-8X|%8lx|%0-8x|% x|%+u", [0xBEEF, 0xBEEF, 1, 5, 9, 3]),
    (b"%s", [S(b"hello world\0")]),
    (b"%10s|%-10s|%1s|%03s", [S(b"ab\0"), S(b"cd\0"), S(b"long string\0"), S(b"x\0")]),
    (b"%c%c%c|%5c|%-3c|", [65, 0x142, ord("z"), 66, 67]),
    (b"%%d %d %%", [1]),
    (b"%pI4 %pi4 %pI4", [IP4, IP4, S(bytes([1, 2, 3, 4]))]),
    (b"[%pI6] [%pi6]", [IP6, IP6]),
    (b"%20pI4|%-16pi4|", [IP4, IP4]),
    (b"%pks|%s|%pus|", [S(b"kernel\0"), S(b"plain\0"), S(b"user\0")]),
    (b"%px %px", [0x1234, 2**64 - 1]),
    (b"%p|%pK|%20px|", [0, 0, 0xABC]),
    (b"%ps|%pS|%pB", [0x1234, 0x5678, 0x9AB0]),
    (b"%s.%s", [8, 0]),
    (b"%d%d%d%d%d%d%d%d%d%d%d%d", list(range(12))),
    (b"%s%s%s", [S(b"a" * 60 + b"\0"), S(b"b" * 60 + b"\0"), S(b"c" * 60 + b"\0")]),
    (b"tab\there %d\n", [1]),
    (b"%lu %llu", [0, 1]),
]


@pytest.mark.parametrize("case", range(len(PRINTF_CASES)))
@pytest.mark.parametrize("size", [128, 16, 1, 0])
def test_snprintf_formats_like_the_kernel(pair: Any, case: int, size: int) -> None:
    fmt, args = PRINTF_CASES[case]
    code, values = printf_args(args)
    text = snprintf_program(len(args), code, values, size)
    p = pair(SYSCALL, text, prog_flags=BPF_F_SLEEPABLE, frozen={"fmt": fmt + b"\0"})
    k = p.check(ctx=bytes(128), what=repr(fmt))
    assert k.retval != 2**32 - errno.EINVAL


def trace_printk_program(fmt: bytes, size: int, args: list[int | Ptr]) -> str:
    code, values = printf_args(args, base=400)
    regs = "".join(f"    r{3 + i} = {v.format(reg=f'r{3 + i}')}\n" for i, v in enumerate(values))
    return f"""
{code}{stack_bytes(fmt + bytes(8), 512)}
    r1 = r10
    r1 += -512
    r2 = {size}
{regs}
    call bpf_trace_printk
    exit
"""


TRACE_INVALID = [b"%q", b"%5.2d", b"%hd", b"%d%d%d%d", b"%sx", b"%pA", b"%", b"abc\x01",
                 b"%#x", b"%*d", b"%pi5", b"%zu", b"%lld%lld%lld%lld", b"\xc3\xa9", b"%pks9"]


def test_trace_printk_return_values(pair: Any) -> None:
    compared = 0
    cases = [(f, a) for f, a in PRINTF_CASES if len(a) <= 3]
    cases += [(f, [1, 2, 3]) for f in TRACE_INVALID]
    for fmt, args in cases:
        for size in (len(fmt) + 1, len(fmt)):
            p = pair(XDP, trace_printk_program(fmt, size, args))
            p.check(UDP4, what=repr(fmt))
            compared += 1
    assert compared > 40


def test_trace_vprintk_return_values(pair: Any) -> None:
    for fmt, args in PRINTF_CASES + [(f, [1, 2, 3]) for f in TRACE_INVALID]:
        code, values = printf_args(args, base=400)
        store = "".join(f"    r1 = {v.format(reg='r1')}\n    *(u64 *)(r10 - {96 - 8 * i}) = r1\n"
                        for i, v in enumerate(values))
        text = f"""
{code}{store}{stack_bytes(fmt + bytes(8), 512)}
    r1 = r10
    r1 += -512
    r2 = {len(fmt) + 1}
    r3 = r10
    r3 += -96
    r4 = {8 * len(args)}
    call bpf_trace_vprintk
    exit
"""
        pair(XDP, text).check(UDP4, what=repr(fmt))


# -- reading memory, the task, time -----------------------------------------------------------


def test_probe_read_kernel_and_str(pair: Any) -> None:
    for helper in ("probe_read_kernel", "probe_read_kernel_str", "probe_read_user",
                   "probe_read_user_str"):
        for addr in ("r10\n    r3 += -64", "0", "8", "0x7ffffffff000", "0x800000000000",
                     "0xffffffffff600000", "0x8000000000000000"):
            for size in (0, 5, 16, 40):
                text = f"""
    r6 = r1
{stack_bytes(b"kernel string" + bytes(3) + bytes(range(1, 40)), 64)}
{stack_bytes(bytes([0xAA]) * 48, 128)}
    r1 = r10
    r1 += -128
    r2 = {size}
    r3 = {addr} ll
    call bpf_{helper}
    r7 = r0
""".replace("r10\n    r3 += -64 ll", "r10\n    r3 += -64") + "".join(
                    f"    r1 = *(u64 *)(r10 - {128 - 8 * i})\n    *(u64 *)(r6 + {8 * i}) = r1\n"
                    for i in range(6)) + "    r0 = r7\n    exit\n"
                p = pair(SYSCALL, text, prog_flags=BPF_F_SLEEPABLE)
                p.check(ctx=bytes(48), what=f"{helper}({addr}, {size})")


def test_current_task_helpers(pair: Any) -> None:
    text = """
    r6 = r1
    call bpf_get_current_pid_tgid
    *(u64 *)(r6 + 0) = r0
    call bpf_get_current_uid_gid
    *(u64 *)(r6 + 8) = r0
    r1 = r10
    r1 += -16
    r2 = 16
    call bpf_get_current_comm
    r1 = *(u64 *)(r10 - 16)
    *(u64 *)(r6 + 16) = r1
    r1 = *(u64 *)(r10 - 8)
    *(u64 *)(r6 + 24) = r1
    r1 = r10
    r1 += -16
    r2 = 5
    call bpf_get_current_comm
    r1 = *(u64 *)(r10 - 16)
    *(u64 *)(r6 + 32) = r1
    call bpf_get_current_cgroup_id
    *(u64 *)(r6 + 40) = r0
    r1 = 0
    call bpf_get_current_ancestor_cgroup_id
    *(u64 *)(r6 + 48) = r0
    r1 = 100
    call bpf_get_current_ancestor_cgroup_id
    *(u64 *)(r6 + 56) = r0
    call bpf_get_numa_node_id
    *(u64 *)(r6 + 64) = r0
    r1 = 0
    call bpf_send_signal
    *(u64 *)(r6 + 72) = r0
    r1 = 99
    call bpf_send_signal_thread
    *(u64 *)(r6 + 80) = r0
    r0 = 0
    exit
"""
    p = pair(SYSCALL, text, prog_flags=BPF_F_SLEEPABLE)
    k = p.check(ctx=bytes(88))
    assert k.ctx_out is not None and k.ctx_out[:8] != bytes(8)


def test_clocks_agree_with_the_kernel(pair: Any) -> None:
    helpers = ("ktime_get_ns", "ktime_get_boot_ns", "ktime_get_coarse_ns", "ktime_get_tai_ns",
               "jiffies64")
    body = "".join(f"    call bpf_{h}\n    SAVE {i}\n" for i, h in enumerate(helpers))
    p = pair(XDP, with_results(body), results(5))
    k = slots(p.kernel(UDP4), 5)
    o = slots(p.ours(UDP4), 5)
    slack = [50_000_000, 50_000_000, 60_000_000, 50_000_000, 25]  # ns, jiffies at HZ=250
    for name, kv, ov, tol in zip(helpers, k, o, slack, strict=True):
        assert abs(kv - ov) <= tol, f"{name}: kernel {kv}, ours {ov}"


def test_skb_identity_helpers(pair: Any) -> None:
    calls = ["get_socket_cookie", "get_socket_uid", "get_cgroup_classid", "get_route_realm",
             "get_netns_cookie", "skb_cgroup_id", "get_hash_recalc"]
    body = "".join(f"    r1 = r6\n    call bpf_{c}\n    SAVE {i}\n" for i, c in enumerate(calls))
    body += """
    r1 = r6
    r2 = 0x12345678
    call bpf_set_hash
    r1 = r6
    call bpf_get_hash_recalc
    SAVE 7
    r0 = *(u32 *)(r6 + 68)
    SAVE 8
    r1 = r6
    call bpf_set_hash_invalid
    r0 = *(u32 *)(r6 + 68)
    SAVE 9
"""
    for frame in (UDP4, TCP4, TCP6):
        p = pair(TC, with_results(body), results(10))
        k, o = p.both(frame)
        ks, os_ = slots(k, 10), slots(o, 10)
        assert ks[0] != 0 and os_[0] != 0  # a test-run skb has a socket: nonzero cookie
        assert ks[6] != 0 and os_[6] != 0  # the flow hash is never 0
        same = [1, 2, 3, 4, 5, 7, 8, 9]
        assert [ks[i] for i in same] == [os_[i] for i in same]
        assert k.data_out == o.data_out and k.retval == o.retval


def test_strtol_strtoul_strncmp(pair: Any) -> None:
    strings = [b"123", b"  -42xyz", b"0x1F", b"0X1f", b"017", b"-0", b"\t\n 99", b"abc", b"",
               b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808",
               b"-9223372036854775809", b"18446744073709551615", b"18446744073709551616",
               b"0x", b"0xg", b"-", b" ", b"+5", b"0777777777777777777777", b"ffff",
               b"0x10000000000000000", b"1" * 70]
    for s in strings:
        for flags in (0, 8, 10, 16, 2, 32):
            for helper in ("strtol", "strtoul"):
                size = max(len(s), 1)
                text = f"""
    r6 = r1
{stack_bytes(s + bytes(8), 128)}
    r1 = r10
    r1 += -128
    r2 = {size}
    r3 = {flags}
    r4 = r10
    r4 += -136
    call bpf_{helper}
    r1 = *(u64 *)(r10 - 136)
    *(u64 *)(r6 + 0) = r1
    exit
"""
                p = pair(SYSCALL, text, prog_flags=BPF_F_SLEEPABLE)
                p.check(ctx=bytes(8), what=f"{helper}({s!r}, {flags})")
    for s1, s2 in ((b"abc", b"abc"), (b"abd", b"abc"), (b"ab", b"abc"), (b"abc\0x", b"abc"),
                   (b"\xff", b"a"), (b"", b"")):
        for size in (1, 3, 5):
            text = f"""
{stack_bytes(s1 + bytes(8), 64)}
    r1 = r10
    r1 += -64
    r2 = {size}
    r3 = &str
    call bpf_strncmp
    exit
"""
            p = pair(SYSCALL, text, prog_flags=BPF_F_SLEEPABLE, frozen={"str": s2 + b"\0"})
            p.check(ctx=bytes(8), what=f"strncmp({s1!r}, {s2!r}, {size})")


# -- output --------------------------------------------------------------------------------


def test_ringbuf_output_reserve_query(pair: Any) -> None:
    body = """
    *(u64 *)(r10 - 16) = 7
    r1 = %rb
    r2 = r10
    r2 += -16
    r3 = 8
    r4 = 0
    call bpf_ringbuf_output
    SAVE 0
    r1 = %rb
    r2 = r10
    r2 += -16
    r3 = 5
    r4 = 4
    call bpf_ringbuf_output
    SAVE 1
    r1 = %rb
    r2 = 8192
    r3 = 0
    call bpf_ringbuf_reserve
    r7 = 0
    if r0 == 0 goto big
    r1 = r0
    r2 = 0
    call bpf_ringbuf_discard
    r7 = 1
big:
    r0 = r7
    SAVE 2
    r1 = %rb
    r2 = 16
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto nores
    *(u64 *)(r0 + 0) = 1
    r1 = r0
    r2 = 0
    call bpf_ringbuf_submit
nores:
    r1 = %rb
    r2 = 24
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto nores2
    r1 = r0
    r2 = 0
    call bpf_ringbuf_discard
nores2:
    r1 = %rb
    r2 = 0
    call bpf_ringbuf_query
    SAVE 3
    r1 = %rb
    r2 = 1
    call bpf_ringbuf_query
    SAVE 4
    r1 = %rb
    r2 = 2
    call bpf_ringbuf_query
    SAVE 5
    r1 = %rb
    r2 = 3
    call bpf_ringbuf_query
    SAVE 6
    r1 = %rb
    r2 = 9
    call bpf_ringbuf_query
    SAVE 7
"""
    maps = results(8) | {"rb": MapSpec("rb", MapType.RINGBUF, 0, 0, 4096)}
    p = pair(XDP, with_results(body), maps)
    for _ in range(3):  # the ring fills up across runs
        p.check(UDP4)


def test_perf_event_output_without_events(pair: Any) -> None:
    for flags in (0xFFFFFFFF, 0, 3, 4, 1 << 32 | 0xFFFFFFFF, 200 << 32 | 0xFFFFFFFF, 1 << 52):
        text = f"""
        *(u64 *)(r10 - 8) = 1
        r2 = %pe
        r3 = {flags:#x} ll
        r4 = r10
        r4 += -8
        r5 = 8
        call bpf_perf_event_output
        exit
        """
        maps = {"pe": MapSpec("pe", MapType.PERF_EVENT_ARRAY, 4, 4, 4)}
        for prog_type in (XDP, TC):
            pair(prog_type, text, maps).check(UDP4, what=f"flags {flags:#x}")


def test_skb_geometry_of_gso_packets(pair: Any) -> None:
    """GSO skbs from ctx_in (a size but no GSO type): change_head skips the length limit,
    change_tail resets GSO, adjust_room refuses a non-TCP GSO packet."""
    gso = bytearray(SKB.size)
    gso[SKB.offsetof("gso_size") : SKB.offsetof("gso_size") + 4] = (1000).to_bytes(4, "little")
    gso[SKB.offsetof("gso_segs") : SKB.offsetof("gso_segs") + 4] = (3).to_bytes(4, "little")
    for calls in ([helper_call("skb_change_tail", 80, 0)],
                  [helper_call("skb_change_head", 17000, 0)],
                  [helper_call("skb_adjust_room", 8, 1, 0)],
                  [helper_call("skb_adjust_room", 8, 1, 1)],
                  [helper_call("skb_change_proto", 0xDD86, 0)]):
        body = "    r1 = r6\n" + calls[0] + "\n    SAVE 0\n" + "".join(
            f"    r0 = *(u32 *)(r6 + {SKB.offsetof(f)})\n    SAVE {i + 1}\n"
            for i, f in enumerate(("len", "gso_size", "gso_segs")))
        p = pair(TC, with_results(body), results(4))
        k, o = p.both(TCP4, ctx=bytes(gso))
        # ctx_out is left out: the kernel echoes ctx_in's gso_size (convert_skb_to___skb()
        # does not copy it back); what the program reads is compared through the results
        assert (o.retval, o.data_out, o.maps) == (k.retval, k.data_out, k.maps), calls
        AGREED["test_skb_geometry_of_gso_packets"] += 1
