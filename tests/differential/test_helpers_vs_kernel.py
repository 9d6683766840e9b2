"""Differential tests: helpers in the interpreter vs the same helpers in the live kernel.

Every test loads one program into the kernel (BPF_PROG_LOAD) and into the interpreter with
:func:`pybpf.runtime.helpers.default_helpers`, runs both with BPF_PROG_TEST_RUN semantics on
the same input and requires the same return value, the same packet (``data_out``), the same
context out (syscall programs write their results there) and the same map contents. Maps
are created on both sides from one :class:`MapSpec`: in the kernel with ``map_create`` (the
program's ``lddw`` gets the fd, ``src_reg`` 1 or 2), in the interpreter with ``create_map``
(the ``lddw`` gets the map's address).

Program text is LLVM assembly with two extensions resolved per side: ``rN = %name`` loads a
map pointer and ``rN = &name`` the address of the first value of an array map. The
``RESULTS`` prologue points r9 at a results array (``SAVE k`` stores r0 at slot ``k``).

Skips cleanly where bpf() is not usable. Kernel facts were measured on Linux 6.18.
"""

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

# -- maps ------------------------------------------------------------------------------------


MAP_OPS = """
    *(u32 *)(r10 - 8) = 3
    *(u64 *)(r10 - 16) = 0x1122
    r1 = %m
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    SAVE 0
    r1 = %m
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = 1
    call bpf_map_update_elem
    SAVE 1
    *(u32 *)(r10 - 8) = 4
    r1 = %m
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = 2
    call bpf_map_update_elem
    SAVE 2
    r1 = %m
    r2 = r10
    r2 += -8
    call bpf_map_lookup_elem
    if r0 == 0 goto null3
    r0 = 1
null3:
    SAVE 3
    *(u32 *)(r10 - 8) = 3
    r1 = %m
    r2 = r10
    r2 += -8
    call bpf_map_lookup_elem
    if r0 == 0 goto miss
    r0 = *(u64 *)(r0 + 0)
miss:
    SAVE 4
    r1 = %m
    r2 = r10
    r2 += -8
    call bpf_map_delete_elem
    SAVE 5
    r1 = %m
    r2 = r10
    r2 += -8
    call bpf_map_delete_elem
    SAVE 6
    *(u32 *)(r10 - 8) = 100
    r1 = %m
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = 4
    call bpf_map_update_elem
    SAVE 7
    r1 = %m
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    SAVE 8
"""


@pytest.mark.parametrize("map_type", [MapType.ARRAY, MapType.HASH], ids=["array", "hash"])
def test_map_lookup_update_delete(pair: Any, map_type: int) -> None:
    maps = results(9) | {"m": MapSpec("m", map_type, 4, 8, 8)}
    p = pair(XDP, with_results(MAP_OPS), maps)
    k = p.check(UDP4)
    codes = slots(k, 9)
    # spot-check the kernel's answers the comparison relies on
    if map_type == MapType.ARRAY:
        assert codes[1] == -errno.EEXIST and codes[5] == -errno.EINVAL and codes[8] == -errno.E2BIG
    else:
        assert codes[1] == -errno.EEXIST and codes[2] == -errno.ENOENT
        assert codes[5] == 0 and codes[6] == -errno.ENOENT


def test_hash_map_full(pair: Any) -> None:
    body = "".join(f"""
    *(u32 *)(r10 - 8) = {k}
    *(u64 *)(r10 - 16) = {k * 7}
    r1 = %m
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    SAVE {k}
""" for k in range(6))
    p = pair(XDP, with_results(body), results(6) | {"m": MapSpec("m", MapType.HASH, 4, 8, 4)})
    assert slots(p.check(UDP4), 6)[4:] == [-errno.E2BIG] * 2


def test_queue_push_pop_peek(pair: Any) -> None:
    body = """
    *(u64 *)(r10 - 16) = 0x55
    r1 = %q
    r2 = r10
    r2 += -16
    r3 = 0
    call bpf_map_push_elem
    SAVE 0
    r1 = %q
    r2 = r10
    r2 += -16
    r3 = 0
    call bpf_map_push_elem
    SAVE 1
    r1 = %q
    r2 = r10
    r2 += -16
    r3 = 2
    call bpf_map_push_elem
    SAVE 2
    r1 = %q
    r2 = r10
    r2 += -16
    r3 = 1
    call bpf_map_push_elem
    SAVE 3
    *(u64 *)(r10 - 24) = -1
    r1 = %q
    r2 = r10
    r2 += -24
    call bpf_map_peek_elem
    SAVE 4
    r0 = *(u64 *)(r10 - 24)
    SAVE 5
    r1 = %q
    r2 = r10
    r2 += -24
    call bpf_map_pop_elem
    r1 = %q
    r2 = r10
    r2 += -24
    call bpf_map_pop_elem
    r1 = %q
    r2 = r10
    r2 += -24
    call bpf_map_pop_elem
    SAVE 6
    r0 = *(u64 *)(r10 - 24)
    SAVE 7
"""
    maps = results(8) | {"q": MapSpec("q", MapType.QUEUE, 0, 8, 2)}
    k = Pair.check(pair(XDP, with_results(body), maps), UDP4)
    assert slots(k, 8)[6:] == [-errno.ENOENT, 0]  # an empty pop zeroes the value


# -- XDP geometry ------------------------------------------------------------------------------


def xdp_call(helper: str, delta: int, *, then_read: bool = False) -> str:
    read = """
    if r0 != 0 goto out
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r0 = r3
    r0 -= r2
    r4 = r2
    r4 += 1
    if r4 > r3 goto out
    r0 = *(u8 *)(r2 + 0)
    r0 += 0x1000
""" if then_read else ""
    return f"""
    r6 = r1
    r2 = {delta}
    call bpf_{helper}
{read}
out:
    exit
"""


def _xdp_cases(length: int) -> Iterator[tuple[str, int]]:
    headroom = 256 - 40
    tail = 3520 - length
    for d in (-headroom, -headroom - 1, -headroom + 1, -1, 0, 1, length - 14, length - 13,
              length, -(1 << 31), (1 << 31) - 1):
        yield "xdp_adjust_head", d
    for d in (tail, tail + 1, tail - 1, 1, 0, -1, 14 - length, 13 - length, -length, 4000):
        yield "xdp_adjust_tail", d
    for d in (-4, -8, -216, -220, -212, -2, -1, 4, 0, -256, -252):
        yield "xdp_adjust_meta", d


@pytest.mark.parametrize("length", [14, 60, 1500, 3520])
def test_xdp_adjust_at_and_past_every_limit(pair: Any, length: int) -> None:
    frame = bytes((i * 7 + 3) & 0xFF for i in range(length))
    compared = 0
    for helper, delta in _xdp_cases(length):
        for then_read in (False, True):
            p = pair(XDP, xdp_call(helper, delta, then_read=then_read))
            p.check(frame, what=f"{helper}({delta}) on {length} bytes")
            compared += 1
    assert compared == 2 * len(list(_xdp_cases(length)))


def test_xdp_adjust_meta_then_head_moves_metadata(pair: Any) -> None:
    text = """
    r6 = r1
    r2 = -8
    call bpf_xdp_adjust_meta
    r2 = *(u32 *)(r6 + 8)
    r3 = *(u32 *)(r6 + 0)
    r4 = r2
    r4 += 8
    if r4 > r3 goto out
    r5 = 0x0102030405060708 ll
    *(u64 *)(r2 + 0) = r5
    r1 = r6
    r2 = -100
    call bpf_xdp_adjust_head
    r1 = r6
    r2 = 6
    call bpf_xdp_adjust_head
    r1 = r6
    r2 = -4
    call bpf_xdp_adjust_meta
out:
    r0 = 2
    exit
"""
    p = pair(XDP, text)
    p.check(UDP4)
    ctx = struct.pack("<6I", 8, len(UDP4), 0, 1, 0, 0)  # the first 8 bytes are metadata
    p.check(UDP4, ctx=ctx)


def test_xdp_load_store_bytes(pair: Any) -> None:
    for offset, length in ((0, 8), (52, 8), (56, 8), (57, 8), (0x10000, 4), (10, 0x10000)):
        text = f"""
        r6 = r1
        r1 = 0x4142434445464748 ll
        *(u64 *)(r10 - 8) = r1
        r1 = r6
        r2 = {offset}
        r3 = r10
        r3 += -8
        r4 = 8
        call bpf_xdp_store_bytes
        r7 = r0
        r1 = r6
        r2 = {offset}
        r3 = r10
        r3 += -16
        r4 = {min(length, 16)}
        r4 &= 15
        r4 += 1
        call bpf_xdp_load_bytes
        r0 <<= 8
        r0 |= r7
        exit
        """
        pair(XDP, text).check(UDP4[:64], what=f"offset {offset}")


# -- skb data ------------------------------------------------------------------------------


def load_bytes_program(offset: int, length: int, start: int | None) -> str:
    call = ("bpf_skb_load_bytes" if start is None else "bpf_skb_load_bytes_relative")
    return with_results(f"""
    r1 = 0x5a5a5a5a5a5a5a5a ll
    *(u64 *)(r10 - 24) = r1
    *(u64 *)(r10 - 16) = r1
    r1 = r6
    r2 = {offset}
    r3 = r10
    r3 += -24
    r4 = {length}
    r5 = {start or 0}
    call {call}
    SAVE 0
    r0 = *(u64 *)(r10 - 24)
    SAVE 1
    r0 = *(u64 *)(r10 - 16)
    SAVE 2
""")


@pytest.mark.parametrize("prog_type", [TC, SOCK], ids=["tc", "socket_filter"])
@pytest.mark.parametrize("start", [None, 0, 1, 2], ids=["abs", "mac", "net", "bad"])
def test_skb_load_bytes_at_and_past_the_end(pair: Any, prog_type: int, start: int | None) -> None:
    frame = UDP4
    visible = len(frame) - (0 if prog_type == TC else 14)
    offsets = {0, 1, visible - 16, visible - 15, visible - 4, visible - 3, visible, visible + 14,
               0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF}
    for offset in sorted(offsets):
        for length in (1, 4, 16):
            p = pair(prog_type, load_bytes_program(offset, length, start), results(3))
            p.check(frame, what=f"offset {offset} len {length} start {start}")


@pytest.mark.parametrize("flags", [0, 1, 2, 3, 4, 1 << 40])
def test_skb_store_bytes(pair: Any, flags: int) -> None:
    for offset in (0, 14, 30, len(TCP4) - 8, len(TCP4) - 7, 0x7FFFFFFF, 0x80000000):
        text = f"""
        r6 = r1
        r1 = 0x0102030405060708 ll
        *(u64 *)(r10 - 8) = r1
        r1 = r6
        r2 = {offset}
        r3 = r10
        r3 += -8
        r4 = 8
        r5 = {flags} ll
        call bpf_skb_store_bytes
        r7 = r0
        r0 = *(u32 *)(r6 + {SKB.offsetof("hash")})
        r0 <<= 32
        r0 |= r7
        exit
        """
        pair(TC, text).check(TCP4, what=f"offset {offset} flags {flags}")
