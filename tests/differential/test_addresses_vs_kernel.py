"""Differential test: what programs see of the low 32 bits of their pointers.

clang tests pointers with 32-bit instructions: ``if (!h)`` on ``h = (void *)(long)ctx->data``
becomes ``if w2 == 0`` (the context field is a ``__u32``), ``(__u32)ptr`` becomes ``w3 = w2``.
So a C program's behaviour depends on those bits. In the kernel they are never all zero, and
the packet pointers sit at fixed offsets of their buffer: XDP ``data`` at
``XDP_PACKET_HEADROOM`` (0x100) of its page, ``data_meta`` below it, both moved by
``bpf_xdp_adjust_head``/``_meta``; skb ``data`` at ``NET_SKB_PAD`` (0x40) of the head.

Every case carries the kernel's answer (measured on Linux 6.18) and must give it on the
interpreter and on the JIT (verified, and checked); where bpf() works it is also run with
BPF_PROG_TEST_RUN, which must agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pybpf.asm import assemble
from pybpf.interp import Interpreter
from pybpf.isa import encode
from pybpf.jit import JIT
from pybpf.kernel.sys import bpf_available, map_create, prog_load, prog_test_run
from pybpf.platform.enums import MapType, ProgType
from pybpf.program import ProgramSpec
from pybpf.program.spec import MapSpec
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map

AVAILABLE, REASON = bpf_available()

XDP, TC = ProgType.XDP, ProgType.SCHED_CLS
FRAME = bytes(12) + b"\x08\x00" + bytes(range(50))  # 64 bytes, EtherType IPv4
VALUES = MapSpec("values", MapType.ARRAY, 4, 8, 1)

#: ``r0 = 2`` unless register ``reg``'s low 32 bits are zero (then 1): ``if (!ptr)``.
NOT_NULL32 = """
    r0 = 1
    if w{reg} == 0 goto +1
    r0 = 2
    exit
"""
#: r0 = the low 12 bits of the packet pointer in context field ``off``.
PAGE_OFFSET = """
    r2 = *(u32 *)(r1 + {off})
    w0 = w2
    w0 &= 0xfff
    exit
"""


@dataclass(frozen=True)
class Case:
    """A program, its input and the kernel's r0."""

    name: str
    prog_type: int
    text: str
    kernel: int
    data: bytes = FRAME
    ctx: bytes | None = None
    maps: tuple[MapSpec, ...] = ()


def xdp_ctx(meta_len: int) -> bytes:
    """An ``xdp_md`` ctx_in with ``meta_len`` bytes of metadata before FRAME."""
    return meta_len.to_bytes(4, "little") + (meta_len + len(FRAME)).to_bytes(4, "little") + bytes(16)


CASES = [
    # C's `if (!h)` on packet, context, stack and map value pointers: never taken in the kernel
    Case("xdp data", XDP, "r2 = *(u32 *)(r1 + 0)" + NOT_NULL32.format(reg=2), 2),
    Case("xdp data_end", XDP, "r2 = *(u32 *)(r1 + 4)" + NOT_NULL32.format(reg=2), 2),
    Case("xdp data_meta", XDP, "r2 = *(u32 *)(r1 + 8)" + NOT_NULL32.format(reg=2), 2),
    Case("tc data", TC, "r2 = *(u32 *)(r1 + 76)" + NOT_NULL32.format(reg=2), 2),
    Case("ctx", XDP, NOT_NULL32.format(reg=1), 2),
    Case("stack bottom", XDP, "r2 = r10\nr2 += -512" + NOT_NULL32.format(reg=2), 2),
    Case("map value", XDP, """
        *(u32 *)(r10 - 4) = 0
        r2 = r10
        r2 += -4
        r1 = %values
        call bpf_map_lookup_elem
        if r0 == 0 goto +5
        r2 = r0
        r0 = 1
        if w2 == 0 goto +1
        r0 = 2
        exit
        r0 = 0
        exit
    """, 2, maps=(VALUES,)),
    # where the packet pointers sit in their buffer
    Case("xdp data page offset", XDP, PAGE_OFFSET.format(off=0), 0x100),
    Case("xdp data_meta page offset, 8 bytes of metadata", XDP, PAGE_OFFSET.format(off=8), 0xF8,
         data=bytes(8) + FRAME, ctx=xdp_ctx(8)),
    Case("xdp data after adjust_head(-14)", XDP, """
        r6 = r1
        r2 = -14
        call bpf_xdp_adjust_head
        if r0 != 0 goto +3
        r2 = *(u32 *)(r6 + 0)
        w0 = w2
        w0 &= 0xfff
        exit
    """, 0xF2),
    Case("xdp data after adjust_head(+14)", XDP, """
        r6 = r1
        r2 = 14
        call bpf_xdp_adjust_head
        if r0 != 0 goto +3
        r2 = *(u32 *)(r6 + 0)
        w0 = w2
        w0 &= 0xfff
        exit
    """, 0x10E),
    Case("xdp data_meta after adjust_meta(-4)", XDP, """
        r6 = r1
        r2 = -4
        call bpf_xdp_adjust_meta
        if r0 != 0 goto +3
        r2 = *(u32 *)(r6 + 8)
        w0 = w2
        w0 &= 0xfff
        exit
    """, 0xFC),
    # NET_SKB_PAD (64) past a head that kmalloc() aligns to its power-of-two size (>= 512)
    Case("tc data head offset", TC, """
        r2 = *(u32 *)(r1 + 76)
        w0 = w2
        w0 &= 0xff
        exit
    """, 0x40),
]
IDS = [c.name for c in CASES]


def _resolve(text: str, load: Callable[[str, str], str]) -> str:
    """``rN = %name`` (a map pointer) replaced by ``load(reg, name)``."""
    return re.sub(r"\b(r\d)\s*=\s*%(\w+)", lambda m: load(m.group(1), m.group(2)), text)


def _run_pybpf(backend: Any, case: Case) -> int:
    maps = {m.name: create_map(m, backend.memory) for m in case.maps}
    text = _resolve(case.text, lambda reg, name: f"{reg} = {maps[name].address:#x} ll")
    spec = ProgramSpec("t", tuple(assemble(text)), prog_type=case.prog_type)
    return backend.load(spec).test_run(data=case.data, ctx=case.ctx).retval


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Callable[[], Any]]]:
    cache: Path = tmp_path_factory.mktemp("jit-cache")
    yield {
        "interp": lambda: Interpreter(helpers=default_helpers()),
        "jit": lambda: JIT(helpers=default_helpers(), cache_dir=cache),
        "jit checked": lambda: JIT(helpers=default_helpers(), cache_dir=cache, checked=True),
    }


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_pybpf_gives_the_kernels_answer(case: Case,
                                        backends: dict[str, Callable[[], Any]]) -> None:
    got = {name: _run_pybpf(make(), case) for name, make in backends.items()}
    assert got == {name: case.kernel for name in backends}


@pytest.mark.kernel
@pytest.mark.skipif(not AVAILABLE, reason=f"bpf() not usable: {REASON}")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_kernel_agrees(case: Case) -> None:
    kmaps = {m.name: map_create(m.map_type, m.key_size, m.value_size, m.max_entries, m.flags)
             for m in case.maps}
    try:
        text = _resolve(case.text,
                        lambda reg, name: f"ld_pseudo {reg}, 1, {kmaps[name].fileno()}")
        with prog_load(case.prog_type, encode(assemble(text))) as prog:
            got = prog_test_run(prog.fd, data=case.data, ctx=case.ctx).retval
    finally:
        for fd in kmaps.values():
            fd.close()
    assert got == case.kernel
