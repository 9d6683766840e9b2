"""Packet accesses and compares of verified code at host addresses (pybpf.jit.lower_packet),
driven by what the verifier proved of every path (pybpf.verifier.packet_facts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_jit_direct import FRAMES, both
from test_jit_helpers import python_calls

from pybpf.asm import assemble
from pybpf.jit import JIT
from pybpf.jit.safety import cached_verdict, verdict
from pybpf.platform.enums import ProgType
from pybpf.program.spec import ProgramSpec
from pybpf.runtime.helpers import default_helpers
from pybpf.verifier import verify


def _spec(text: str) -> ProgramSpec:
    return ProgramSpec("t", tuple(assemble(text, syntax="llvm")), prog_type=ProgType.XDP)


MIXED = """
    r6 = *(u32 *)(r1 + 0)
    r7 = *(u32 *)(r1 + 4)
    r8 = *(u32 *)(r1 + 12)
    r2 = r6
    r2 += 16
    r0 = 0
    if r2 > r7 goto out
    r0 = *(u8 *)(r6 + 3)
    *(u64 *)(r10 - 16) = r0
    r3 = r6
    if r8 & 1 goto left
    r3 = r10
    r3 += -16
left:
    r0 = *(u8 *)(r3 + 0)
    if w2 > w7 goto out
    if r2 & r7 goto out
out:
    exit
"""


def test_facts_cover_every_path() -> None:
    """Context loads of data/data_end, the access through the packet only and the 64-bit
    packet compare are reported; the access through a register that is a packet pointer on
    one path and a stack pointer on the other, a 32-bit compare and ``&`` are not."""
    packet = verify(_spec(MIXED)).packet
    assert packet.loads == (0, 1)
    assert packet.accesses == (7,)
    assert packet.compares == (6,)



def test_context_accesses_are_the_loads_through_the_context() -> None:
    """The three context loads are reported (what the kernel's convert_ctx_accesses()
    rewrites), not the packet and stack accesses."""
    assert verify(_spec(MIXED)).context_accesses == (0, 1, 2)
    text = "r6 = r1\nr2 = 5\n*(u32 *)(r6 + 16) = r2\nr0 = *(u32 *)(r6 + 16)\n" \
           "*(u64 *)(r10 - 8) = r0\nexit\n"  # ingress_ifindex: readable, not writable
    assert not verify(_spec(text)).accepted
    text = "r6 = r1\nr0 = *(u32 *)(r6 + 16)\n*(u64 *)(r10 - 8) = r0\nexit\n"
    assert verify(_spec(text)).context_accesses == (1,)


def test_no_facts_without_packet_pointers() -> None:
    text = "r2 = *(u32 *)(r1 + 12)\n*(u64 *)(r10 - 8) = r2\nr0 = *(u8 *)(r10 - 8)\nexit\n"
    assert not verify(_spec(text)).packet


def test_facts_survive_the_verdict_cache(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pybpf.jit.cache import CompileCache

    cache = CompileCache(tmp_path)
    spec = _spec(MIXED)
    fresh = verdict(spec, None, cache)
    assert fresh.packet == ((0, 1), (7,), (6,))
    assert fresh.context_accesses == (0, 1, 2)
    assert cached_verdict(spec, None, cache) == fresh


HELPERS_AND_CALLS = """
    r6 = r1
    r2 = -4
    call 54
    r0 = 0
    r2 = *(u32 *)(r6 + 8)
    r3 = *(u32 *)(r6 + 0)
    r4 = r2
    r4 += 4
    if r4 > r3 goto out
    *(u32 *)(r2 + 0) = 0x11223344
    r1 = r6
    r2 = 2
    call 44
    r0 = 1
    if r0 s< 0 goto out
    r1 = *(u32 *)(r6 + 0)
    r2 = *(u32 *)(r6 + 4)
    r3 = r1
    r3 += 8
    if r3 > r2 goto out
    *(u64 *)(r10 - 8) = r1
    call sub
    r1 = *(u64 *)(r10 - 8)
    r2 = *(u32 *)(r1 + 4)
    r0 += r2
    r3 = *(u32 *)(r6 + 8)
    r4 = *(u32 *)(r6 + 0)
    r5 = r3
    r5 += 4
    if r5 > r4 goto out
    r3 = *(u32 *)(r3 + 0)
    r0 ^= r3
out:
    exit
sub:
    r3 = *(u8 *)(r1 + 0)
    r3 &= 15
    r1 += r3
    r4 = r1
    r4 += 2
    r0 = 5
    if r4 > r2 goto sub_out
    r0 = *(u16 *)(r1 + 0)
    *(u8 *)(r1 + 1) = r0
sub_out:
    exit
"""


def test_packet_moved_by_helpers_and_used_by_a_callee(jit: Callable[..., JIT]) -> None:
    """Metadata written through data_meta (a meta/data compare), the packet moved by
    bpf_xdp_adjust_head (data loaded again afterwards), packet pointers passed to a
    sub-program that checks and writes them: packets and results are the interpreter's,
    on frames too short for some of the checks too."""
    assert verify(_spec(HELPERS_AND_CALLS)).packet
    results = both(HELPERS_AND_CALLS, jit)
    assert {r for r, _, _ in results} != {0}


def test_mixed_access_matches_the_interpreter(jit: Callable[..., JIT]) -> None:
    both(MIXED, jit)


ADJUST = """
    r6 = r1
    r1 = r6
    r2 = {d1}
    call {h1}
    r7 = r0
    r7 &= 255
    r1 = r6
    r2 = {d2}
    call {h2}
    r0 &= 255
    r7 <<= 8
    r7 |= r0
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r5 = *(u32 *)(r6 + 8)
    r4 = r5
    r4 += 4
    if r4 > r2 goto no_meta
    *(u32 *)(r5 + 0) = 0x55667788
no_meta:
    r4 = r2
    r4 += 6
    if r4 > r3 goto out
    r1 = *(u16 *)(r2 + 4)
    r7 += r1
    *(u32 *)(r2 + 0) = 0x11223344
out:
    r3 -= r2
    r7 <<= 16
    r0 = r7
    r0 += r3
    exit
"""

HELPERS = {"head": 44, "meta": 54, "tail": 65}


@settings(max_examples=40, deadline=None)
@given(h1=st.sampled_from(sorted(HELPERS)), h2=st.sampled_from(sorted(HELPERS)),
       d1=st.sampled_from([-300, -216, -200, -16, -14, -4, -3, 0, 2, 8, 40, 60, 3500]),
       d2=st.sampled_from([-260, -24, -8, -1, 0, 4, 20, 64, 500]))
def test_xdp_adjust_natively_matches_the_interpreter(jit: Callable[..., JIT], h1: str,
                                                     h2: str, d1: int, d2: int) -> None:
    """bpf_xdp_adjust_head/meta/tail run natively: results (including -EINVAL/-EACCES),
    output packets with their metadata, run one by one and through run_batch, are the
    interpreter's; the JIT calls no Python helper for them."""
    text = ADJUST.format(h1=HELPERS[h1], h2=HELPERS[h2], d1=d1, d2=d2)
    outcomes = both(text, jit)
    backend = jit(helpers=default_helpers())
    prog = backend.load(_spec(text))
    batch = prog.run_batch(FRAMES)
    assert [(batch.retval(i), batch.data_out(i)) for i in range(len(FRAMES))] == \
        [(r & 0xFFFFFFFF, d) for r, d, _ in outcomes]


def test_xdp_adjust_calls_no_python(jit: Callable[..., JIT], monkeypatch: Any) -> None:
    seen = python_calls(monkeypatch)
    prog = jit(helpers=default_helpers()).load(
        _spec(ADJUST.format(h1=44, h2=54, d1=-16, d2=-8)))
    result = prog.test_run(data=FRAMES[0])
    assert seen == [] and result.retval >> 16 == 0
    assert len(result.data_out) == len(FRAMES[0]) + 16 + 8


def test_a_packet_without_a_table_row_faults(jit: Callable) -> None:
    """More regions mapped than the host-address table has rows: the packet's context load
    faults with a pybpf error naming the cause (never a wild access); with rows to spare the
    same program runs."""
    from pybpf.errors import ExecutionFault
    from pybpf.jit.regions import RegionTable
    from pybpf.runtime.memory import Memory, RegionKind

    text = """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 1
        r0 = 0
        if r4 > r3 goto out
        r0 = *(u8 *)(r2 + 0)
    out:
        exit
    """
    memory = Memory()
    memory.host_table = RegionTable(capacity=64)
    prog = jit(helpers=default_helpers(), memory=memory, budget=None).load(_spec(text))
    assert not prog.checked
    assert prog.test_run(data=b"\x07" + bytes(20)).retval == 7
    fillers = [memory.map(bytearray(8), RegionKind.STACK, f"filler{i}")
               for i in range(64 - len(memory.regions))]  # the packet's id is the 65th
    try:
        with pytest.raises(ExecutionFault, match="no row in the JIT's host-address table"):
            prog.test_run(data=b"\x07" + bytes(20))
    finally:
        for region in fillers:
            memory.unmap(region)
    assert prog.test_run(data=b"\x09" + bytes(20)).retval == 9



#: bpf_xdp_load_bytes into a stack buffer (pre-filled), then bpf_xdp_store_bytes of it
#: back into the packet; r0: load's result (bits 24-31), store's (16-23), the first two
#: bytes of the buffer after the load.
XDP_BYTES = """
    r9 = r1
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    r1 = 0x5a5a5a5a5a5a5a5a ll
    *(u64 *)(r10 - 16) = r1
    r1 = r9
    r2 = {load_off}
    r3 = r10
    r3 += -16
    r4 = {load_len}
    call 189
    r7 = r0
    r7 &= 255
    r7 <<= 24
    r1 = *(u16 *)(r10 - 16)
    r7 ^= r1
    r1 = r9
    r2 = {store_off}
    r3 = r10
    r3 += -16
    r4 = {store_len}
    call 190
    r0 &= 255
    r0 <<= 16
    r0 ^= r7
    exit
"""


@settings(max_examples=40, deadline=None)
@given(load_off=st.sampled_from([0, 1, 6, 20, 50, 63, 64, 65535, 65536, 2**32 - 1]),
       load_len=st.sampled_from([1, 2, 8, 16]),
       store_off=st.sampled_from([0, 3, 12, 39, 56, 60, 70, 65536]),
       store_len=st.sampled_from([1, 4, 8, 16]))
def test_xdp_load_store_bytes_natively_match_the_interpreter(
        jit: Callable[..., JIT], load_off: int, load_len: int, store_off: int,
        store_len: int) -> None:
    """bpf_xdp_load_bytes/store_bytes run natively: results (-EFAULT past 0xffff, -EINVAL
    past data_end), the bytes read and the packets written are the interpreter's, run one
    by one and through run_batch."""
    text = XDP_BYTES.format(load_off=load_off, load_len=load_len, store_off=store_off,
                            store_len=store_len)
    outcomes = both(text, jit)
    prog = jit(helpers=default_helpers()).load(_spec(text))
    batch = prog.run_batch(FRAMES)
    assert [(batch.retval(i), batch.data_out(i)) for i in range(len(FRAMES))] == \
        [(r & 0xFFFFFFFF, d) for r, d, _ in outcomes]


def test_xdp_load_store_bytes_call_no_python(jit: Callable[..., JIT],
                                            monkeypatch: Any) -> None:
    seen = python_calls(monkeypatch)
    text = XDP_BYTES.format(load_off=6, load_len=8, store_off=0, store_len=8)
    prog = jit(helpers=default_helpers()).load(_spec(text))
    result = prog.test_run(data=FRAMES[0])
    assert seen == []
    assert result.data_out[:8] == FRAMES[0][6:14]  # read at 6, written to the front
    assert result.retval >> 16 == 0  # both returned 0
