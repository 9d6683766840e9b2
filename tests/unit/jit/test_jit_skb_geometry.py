"""The native skb geometry helpers (pybpf.native.skb_geo_ir: bpf_skb_change_tail,
bpf_skb_change_head, bpf_skb_vlan_push, bpf_skb_vlan_pop) against the Python ones (the
kernel's, as the helpers-vs-kernel differential tests check them): the same return values,
packet bytes, geometry, context fields and ``sk_buff`` state, with the Python helper run
wherever the native one answers NOT_NATIVE (and only where the Python one reallocates the
buffer); compiled tc programs calling them without Python; run_batch frame by frame."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_jit_batch import both as batch_both
from test_jit_helpers import python_calls
from test_jit_skb import both, python_ops

from pybpf.asm import assemble
from pybpf.interp import Interpreter
from pybpf.native.layout import NOT_NATIVE, SKB_HEADER_UNSET
from pybpf.native.library import library
from pybpf.platform.enums import ProgType
from pybpf.program.spec import ProgramSpec
from pybpf.runtime.ctx.skb import NATIVE_SLOTS, SkbContext, reset_headers
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers import default_helpers, skb_room
from pybpf.runtime.helpers import skb as py_skb
from pybpf.runtime.memory import Memory

#: helper id -> (Python helper, native function, arguments after the context)
HELPERS: dict[int, tuple[Callable[..., int], str, int]] = {
    38: (py_skb.bpf_skb_change_tail, "pb_skb_change_tail", 2),
    43: (py_skb.bpf_skb_change_head, "pb_skb_change_head", 2),
    18: (py_skb.bpf_skb_vlan_push, "pb_skb_vlan_push", 2),
    19: (py_skb.bpf_skb_vlan_pop, "pb_skb_vlan_pop", 0),
    50: (skb_room.bpf_skb_adjust_room, "pb_skb_adjust_room", 3),
    31: (py_skb.bpf_skb_change_proto, "pb_skb_change_proto", 2),
}
MAC = bytes.fromhex("020000000002020000000001")
ETHERTYPES = [b"\x08\x00", b"\x86\xdd", b"\x81\x00", b"\x88\xa8", b"\x12\x34", b"\x00\x40"]


@st.composite
def frames(draw: Any) -> bytes:
    """An Ethernet frame: IPv4, IPv6, 802.1Q/802.1ad-tagged (one or two tags) or other."""
    tags = b""
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        tpid = draw(st.sampled_from([b"\x81\x00", b"\x88\xa8"]))
        tags += tpid + draw(st.binary(min_size=2, max_size=2))
    inner = draw(st.sampled_from(ETHERTYPES + [b"\x08\x00", b"\x86\xdd"] * 3))
    llc = draw(st.sampled_from([b"", b"\xff\xff", b"\xaa\xaa"]))
    payload = draw(st.binary(min_size=0, max_size=90))
    return MAC + tags + inner + llc + payload


@st.composite
def skb_states(draw: Any) -> dict[str, Any]:
    """What a context starts from: its buffer's head- and tailroom (filled with junk), the
    checksum, GSO and VLAN state, header offsets."""
    return {
        "headroom": draw(st.one_of(st.integers(0, 8), st.integers(9, 80))),
        # at least the 100 bytes the furthest header offset here (60 + an IPv6 header)
        # reaches: test_run leaves 320, and the Python helpers move headers past the
        # packet's end inside the buffer only
        "tailroom": draw(st.one_of(st.integers(100, 140), st.just(320))),
        "junk": draw(st.integers(0, 255)),
        "ip_summed": draw(st.integers(0, 3)),
        "csum_level": draw(st.integers(0, 3)),
        "csum": draw(st.integers(0, 2**32 - 1)),
        "gso_size": draw(st.sampled_from([0, 0, 1400])),
        "gso_segs": draw(st.integers(0, 5)),
        "gso_type": draw(st.one_of(st.sampled_from([0, 0x1, 0x10, 0x10000, 0x10001, 0x5]),
                                   st.integers(0, 2**17 - 1))),
        "encapsulation": draw(st.booleans()),
        "transport": draw(st.one_of(st.none(), st.integers(0, 80))),
        "network": draw(st.one_of(st.just(14), st.integers(0, 60))),
        "vlan": draw(st.one_of(st.none(), st.tuples(st.sampled_from([0x81, 0xA888, 0x1234]),
                                                    st.integers(0, 0xFFFF)))),
    }


def _context(memory: Memory, frame: bytes, s: dict[str, Any]) -> SkbContext:
    ctx = SkbContext(memory, frame, l2=True)
    pkt = ctx.packet
    head, tail = s["headroom"], s["tailroom"]
    junk = bytes([s["junk"]])
    buf = bytearray(junk * head + frame + junk * tail)
    pkt.replace_buffer(buf, head, head, head + len(frame))
    native = ctx.native
    reset_headers(native, head)
    native.network_header = head + s["network"]
    if s["transport"] is not None:
        native.transport_header = head + s["transport"]
    native.ip_summed, native.csum = s["ip_summed"], s["csum"]
    native.csum_level = s["csum_level"]
    native.encapsulation, native.gso_type = s["encapsulation"], s["gso_type"]
    native.sw_hash = native.l4_hash = 1
    region = ctx.region
    region.set("gso_size", s["gso_size"])
    region.set("gso_segs", s["gso_segs"])
    region.set("hash", 0x1234)
    if s["vlan"] is not None:
        region.set("vlan_present", 1)
        region.set("vlan_proto", s["vlan"][0])
        region.set("vlan_tci", s["vlan"][1])
    return ctx


def _state(ctx: SkbContext) -> ExecState:
    state = ExecState(memory=ctx.packet.memory, helpers=default_helpers())
    state.context = ctx
    return state


def _view(ctx: SkbContext) -> tuple[Any, ...]:
    """Everything a geometry helper may change, as Python sees it (after adopting)."""
    ctx.adopt_native()
    pkt, n = ctx.packet, ctx.native
    base = pkt.address_of(0)
    values = tuple(n.values[slot] - (0 if name == "len" else base)
                   for name, slot in sorted(NATIVE_SLOTS.items()))
    assert values == (pkt.data, pkt.end, pkt.data, len(pkt))  # data, data_end, meta, len
    assert (n.data, n.end, n.size) == (pkt.data, pkt.end, len(pkt.buf))
    state = tuple(getattr(n, name) for name in (
        "mac_header", "network_header", "transport_header", "mac_len", "csum_level",
        "encapsulation", "gso_type", "ip_summed", "csum", "sw_hash", "l4_hash"))
    return (pkt.data, pkt.end, pkt.bytes(), bytes(pkt.buf[: pkt.data]), state,
            bytes(ctx.region.buf))


#: An argument of change_tail/change_head: this many bytes past what the buffer's tail-
#: or headroom takes without reallocating (resolved against the context, see :func:`_arg`).
FIT = st.tuples(st.just("fit"), st.integers(-2, 2))


def _arg(ctx: SkbContext, helper: int, arg: Any) -> int:
    if not isinstance(arg, tuple):
        return int(arg)
    pkt = ctx.packet
    room = pkt.tailroom + len(pkt) if helper == 38 else pkt.data
    return max(0, room + arg[1])


#: Flag bits of bpf_skb_adjust_room (BPF_F_ADJ_ROOM_*, an inner L2 length) and beyond.
ADJ_FLAGS = st.one_of(
    st.builds(lambda bits, l2: bits | l2 << 56, st.integers(0, 0x1FF),
              st.sampled_from([0, 0, 14, 20, 2])),
    st.sampled_from([0, 0x20, 0x2, 0x4, 0xA, 0x12, 0x14, 0x80, 0x100, 0x180, 0x41 | 14 << 56]),
    st.integers(0, 2**64 - 1))


#: bpf_skb_adjust_room flags that mean something: none, keeping the checksum state,
#: FIXED_GSO, each encapsulation (L3 v4/v6, with GRE or UDP, with an inner Ethernet header
#: of 14 bytes) and decapsulation.
ROOM_FLAGS = [0, 0, 0x20, 0x1, 0x2, 0x4, 0xA, 0x12, 0x14, 0xC, 0x2 | 0x40 | 14 << 56,
              0x14 | 0x40 | 14 << 56, 0x80, 0x100, 0xA1, 0x121]


@st.composite
def calls(draw: Any) -> tuple[int, tuple[Any, ...]]:
    """A geometry helper and its arguments after the context."""
    helper = draw(st.sampled_from(sorted(HELPERS)))
    if helper in (38, 43) and draw(st.integers(0, 3)) == 0:
        return helper, (draw(FIT), draw(st.sampled_from([0, 0, 0, 1])))
    flags = draw(st.one_of(st.just(0), st.just(0), st.integers(0, 2**64 - 1)))
    if helper == 38:
        arg = draw(st.one_of(st.integers(0, 200), st.integers(0, 2**64 - 1),
                             st.sampled_from([16064, 16065, 2**32 - 1, 2**32 + 5])))
    elif helper == 43:
        # with gso_size set nothing bounds the room: the Python helper would allocate up
        # to 2 GiB for a room just below 2**31, so larger ones are all negative (int)s
        arg = draw(st.one_of(st.integers(0, 90), st.integers(0, 2**64 - 1).map(
            lambda v: v | 0x80000000), st.sampled_from([2**31, 2**32 - 1, 16064, 16100])))
    elif helper == 50:  # mostly arguments that get past the first checks
        odd = draw(st.integers(0, 9)) == 0
        diff = draw(st.one_of(st.sampled_from([-4095, -4096, 4095, 4096]),
                              st.integers(0, 2**64 - 1)) if odd else st.integers(-70, 70))
        mode = draw(st.integers(0, 2**64 - 1) if odd else st.sampled_from([0, 1]))
        flags = draw(ADJ_FLAGS if odd else st.sampled_from(ROOM_FLAGS))
        return helper, (diff & 2**64 - 1, mode, flags)
    elif helper == 31:
        odd = draw(st.integers(0, 4)) == 0
        arg = draw(st.integers(0, 2**64 - 1) if odd else st.sampled_from([0xDD86, 0x0008]))
        flags = draw(st.sampled_from([0, 0, 0, 1]))
    else:
        arg = draw(st.one_of(st.sampled_from([0x81, 0xA888, 0x8100]),
                             st.integers(0, 2**64 - 1)))
        flags = draw(st.one_of(st.integers(0, 0xFFFF), st.integers(0, 2**64 - 1)))
    return helper, (arg, flags)[: HELPERS[helper][2]]


def _native(ctx: SkbContext, helper: int, *args: int) -> int:
    _py, name, nargs = HELPERS[helper]
    return library().fn[name](ctypes.addressof(ctx.native), *args[:nargs], None, 0)


def _python(state: ExecState, ctx: SkbContext, helper: int, *args: int) -> int:
    regs = (*args, 0, 0, 0, 0)[:4]
    return HELPERS[helper][0](state, ctx.address, *regs)


@settings(max_examples=600, deadline=None)
@given(frame=frames(), s=skb_states(), ops=st.lists(calls(), min_size=1, max_size=5))
def test_native_geometry_helpers_match_python(frame: bytes, s: dict[str, Any],
                                              ops: list[tuple[int, tuple[Any, ...]]]) -> None:
    memory = Memory()
    py_ctx, native_ctx = _context(memory, frame, s), _context(memory, frame, s)
    py_state, native_state = _state(py_ctx), _state(native_ctx)
    assert _view(py_ctx) == _view(native_ctx)
    for helper, symbolic in ops:
        args = symbolic
        if symbolic and isinstance(symbolic[0], tuple):
            args = (_arg(py_ctx, helper, symbolic[0]), *symbolic[1:])
        size = len(py_ctx.packet.buf)
        expected = _python(py_state, py_ctx, helper, *args)
        got = _native(native_ctx, helper, *args)
        reallocated = len(py_ctx.packet.buf) != size
        assert (got == NOT_NATIVE) == reallocated  # native exactly where no realloc
        if got == NOT_NATIVE:  # what the JIT does: the Python helper
            got = _python(native_state, native_ctx, helper, *args)
        assert got == expected
        assert _view(native_ctx) == _view(py_ctx)


def _compare(frame: bytes, s: dict[str, Any], helper: int, *args: int) -> int:
    """One call on twin contexts, native (Python where NOT_NATIVE) against Python."""
    memory = Memory()
    py_ctx, native_ctx = _context(memory, frame, s), _context(memory, frame, s)
    expected = _python(_state(py_ctx), py_ctx, helper, *args)
    got = _native(native_ctx, helper, *args)
    if got == NOT_NATIVE:
        got = _python(_state(native_ctx), native_ctx, helper, *args)
    assert got == expected, (helper, args, s)
    assert _view(native_ctx) == _view(py_ctx), (helper, args, s)
    return got


IP_FRAMES = [MAC + b"\x08\x00" + bytes([0x45]) + bytes(range(1, 60)),
             MAC + b"\x86\xdd" + bytes([0x60]) + bytes(range(1, 90))]
GSO_STATES = [(0, 0), (1400, 0x1), (1400, 0x10), (1400, 0x10000), (1400, 0x5)]


def _base_state(**changes: Any) -> dict[str, Any]:
    s = {"headroom": 64, "tailroom": 320, "junk": 0x5A, "ip_summed": 1, "csum": 0x12345678,
         "csum_level": 1,
         "gso_size": 0, "gso_segs": 3, "gso_type": 0, "encapsulation": False,
         "transport": None, "network": 14, "vlan": None}
    s.update(changes)
    return s


def test_adjust_room_every_flag_matches_python() -> None:
    """Every meaningful flag combination, both modes, growing and shrinking, over GSO,
    checksum and transport-header states: the native bpf_skb_adjust_room is Python's."""
    outcomes: set[int] = set()
    for frame in IP_FRAMES:
        for (gso_size, gso_type) in GSO_STATES:
            for ip_summed, transport, encap in ((1, None, False), (2, 34, False),
                                                (0, 14, True)):
                s = _base_state(gso_size=gso_size, gso_type=gso_type, ip_summed=ip_summed,
                                transport=transport, encapsulation=encap)
                for flags in ROOM_FLAGS:
                    for mode in (0, 1):
                        for diff in (-40, -20, -8, 0, 8, 20, 36):
                            outcomes.add(_compare(frame, s, 50, diff & 2**64 - 1, mode, flags))
    assert {0, -22, -524, -114} <= outcomes


def test_change_proto_matches_python() -> None:
    outcomes: set[int] = set()
    for frame in IP_FRAMES + [IP_FRAMES[1][:30]]:
        for (gso_size, gso_type) in GSO_STATES:
            for headroom, transport in ((64, None), (64, 14), (19, None), (20, 34)):
                s = _base_state(gso_size=gso_size, gso_type=gso_type, headroom=headroom,
                                transport=transport, ip_summed=2)
                for proto in (0xDD86, 0x0008, 0x0081):
                    for flags in (0, 1):
                        outcomes.add(_compare(frame, s, 31, proto, flags))
    assert {0, -22, -524, -12} <= outcomes


def test_no_room_falls_back_and_errors_change_nothing() -> None:
    """Growing past the tailroom or pushing past the headroom is NOT_NATIVE with nothing
    changed; an error leaves everything as it was."""
    memory = Memory()
    frame = MAC + b"\x08\x00" + bytes(40)
    ctx = SkbContext(memory, frame, l2=True)
    before = _view(ctx)
    assert _native(ctx, 38, len(frame) + 321, 0) == NOT_NATIVE
    assert _native(ctx, 43, 65, 0) == NOT_NATIVE
    assert _native(ctx, 38, len(frame), 1) == -22  # flags
    assert _native(ctx, 38, 13, 0) == -22  # below the network header
    assert _native(ctx, 43, 2**31, 0) == -22  # (int)head_room < 0
    assert _view(ctx) == before
    assert _native(ctx, 38, len(frame) + 320, 0) == 0  # all of the tailroom
    assert _native(ctx, 43, 64, 0) == 0  # all of the headroom
    ctx.adopt_native()
    assert len(ctx.packet) == len(frame) + 384
    assert ctx.packet.bytes() == bytes(64) + frame + bytes(320)


# -- compiled programs ---------------------------------------------------------------------

#: Grows the tail by 60 and shrinks it back (the frame's length), pushes 8 zero bytes at the
#: head, pushes two VLAN tags (the second moves the first into the packet) and pops one; r0
#: sums the results, the final len and the packet pointers' distance.
GEOMETRY_PROGRAM = """
    r6 = r1
    r7 = *(u32 *)(r6 + 0)
    r2 = r7
    r2 += 60
    r3 = 0
    call 38
    r8 = r0
    r1 = r6
    r2 = r7
    r3 = 0
    call 38
    r8 += r0
    r1 = r6
    r2 = 8
    r3 = 0
    call 43
    r8 += r0
    r1 = r6
    r2 = 0x81
    r3 = 0x123
    call 18
    r8 += r0
    r1 = r6
    r2 = 0xa888
    r3 = 0x456
    call 18
    r8 += r0
    r1 = r6
    call 19
    r8 += r0
    r1 = *(u32 *)(r6 + 76)
    r2 = *(u32 *)(r6 + 80)
    r2 -= r1
    r0 = *(u32 *)(r6 + 0)
    r0 <<= 16
    r0 += r2
    r0 += r8
    r1 = *(u32 *)(r6 + 20)
    *(u32 *)(r6 + 48) = r1
    r1 = *(u32 *)(r6 + 16)
    *(u32 *)(r6 + 52) = r1
    exit
"""


#: bpf_skb_adjust_room: 8 bytes after the MAC header, an IPv4-in-IPv4 (or 4-in-6) GRE
#: encapsulation's room after it (24 bytes), the 8 bytes removed after the network header;
#: bpf_skb_change_proto to IPv6 and back (both fail on other frames); r0 sums the results.
ROOM_PROGRAM = """
    r6 = r1
    r2 = 8
    r3 = 1
    r4 = 0
    call 50
    r7 = r0
    r1 = r6
    r2 = 24
    r3 = 1
    r4 = 0xa
    call 50
    r7 += r0
    r1 = r6
    r2 = -8
    r3 = 0
    r4 = 0
    call 50
    r7 += r0
    r1 = r6
    r2 = 0xdd86
    r3 = 0
    call 31
    r7 += r0
    r1 = r6
    r2 = 0x0008
    r3 = 0
    call 31
    r7 += r0
    r0 = *(u32 *)(r6 + 0)
    r0 <<= 16
    r0 += r7
    r1 = *(u32 *)(r6 + 16)
    *(u32 *)(r6 + 48) = r1
    exit
"""


def test_adjust_room_and_change_proto_in_a_tc_program(jit: Callable, monkeypatch: Any) -> None:
    seen = python_calls(monkeypatch)
    runs = [(IP_FRAMES[0], b""), (IP_FRAMES[1], b""), (IP_FRAMES[0][:34], b""),
            (MAC + b"\x12\x34" + bytes(40), b"")]
    out = both(jit, ROOM_PROGRAM, runs)
    assert seen == []
    assert len(out[0][1]) == len(IP_FRAMES[0]) + 24  # 8 + 24 - 8, then 20 made and removed
    assert out[0][0] == (len(IP_FRAMES[0]) + 24) << 16  # every call succeeded


def _vlan_frame(n: int) -> bytes:
    return MAC + b"\x81\x00\x00\x07\x08\x00" + bytes(range(n))


def test_a_tc_program_calls_them_without_python(jit: Callable, monkeypatch: Any) -> None:
    seen = python_calls(monkeypatch)
    runs = [(MAC + b"\x08\x00" + bytes(range(n)), b"") for n in (20, 47, 200)]
    runs += [(_vlan_frame(30), b"")]
    out = both(jit, GEOMETRY_PROGRAM, runs)
    assert seen == []  # the interpreter calls no NativeRuntime; the JIT called no Python
    assert all(len(data) == len(sent) + 8 + 4 - 4 for (_, data, _), (sent, _) in
               zip(out, runs, strict=True))
    prog = jit(helpers=default_helpers(), budget=None).load(
        ProgramSpec("t", tuple(assemble(GEOMETRY_PROGRAM, syntax="llvm")),
                    prog_type=ProgType.SCHED_CLS))
    ops = python_ops(monkeypatch)
    prog.test_run(data=runs[0][0])
    assert ops == []  # not even a context load


def test_no_room_runs_the_python_helper_with_the_same_results(jit: Callable,
                                                              monkeypatch: Any) -> None:
    """Growing the tail past the buffer's tailroom (or pushing 100 bytes at the head) calls
    the Python helper, which reallocates; the results stay the interpreter's."""
    text = GEOMETRY_PROGRAM.replace("r2 += 60", "r2 += 500").replace("r2 = 8\n", "r2 = 100\n")
    seen = python_calls(monkeypatch)
    runs = [(MAC + b"\x08\x00" + bytes(range(n)), b"") for n in (20, 100)]
    both(jit, text, runs)
    assert sorted(set(seen)) == [38, 43]


def test_run_batch_matches_the_interpreter(jit: Callable) -> None:
    """Frames whose geometry ends where it started stay in the native loop; the rest (and
    frames that fall back to Python) are finished by Python; frame by frame the
    interpreter's results."""
    shrink = GEOMETRY_PROGRAM.replace("r2 = r7\n    r3 = 0\n    call 38",
                                      "r2 = r7\n    r2 += -6\n    r3 = 0\n    call 38")
    frames = [MAC + b"\x08\x00" + bytes(range(20 + 7 * i)) for i in range(12)]
    frames += [_vlan_frame(40), MAC + b"\x86\xdd" + bytes(60), MAC + b"\x12\x34" + bytes(8)]
    frames += IP_FRAMES
    for text in (GEOMETRY_PROGRAM, shrink, GEOMETRY_PROGRAM.replace("r2 += 60", "r2 += 400"),
                 ROOM_PROGRAM):
        batch_both(text, frames, jit, prog_type=ProgType.SCHED_CLS)


def test_run_batch_of_a_program_that_keeps_the_geometry_stays_native(
        jit: Callable, monkeypatch: Any) -> None:
    text = """
        r6 = r1
        r7 = *(u32 *)(r6 + 0)
        r2 = r7
        r2 += 60
        r3 = 0
        call 38
        r1 = r6
        r2 = r7
        r3 = 0
        call 38
        r1 = r6
        r2 = 0x81
        r3 = 9
        call 18
        r1 = r6
        call 19
        r0 = *(u32 *)(r6 + 0)
        exit
    """
    prog = jit(helpers=default_helpers(), budget=None).load(
        ProgramSpec("t", tuple(assemble(text, syntax="llvm")), prog_type=ProgType.SCHED_CLS))
    frames = [MAC + b"\x08\x00" + bytes(range(20 + i)) for i in range(30)]
    ops = python_ops(monkeypatch)
    result = prog.run_batch(frames)
    assert ops == [] and not result.errors
    for i, frame in enumerate(frames):
        single = prog.test_run(data=frame)
        assert (result.r0[i], result.data_out(i)) == (single.r0, single.data_out)


def test_transport_header_unset_is_none() -> None:
    from pybpf.runtime.helpers.skb_meta import SkbMeta

    ctx = SkbContext(Memory(), MAC + b"\x08\x00" + bytes(30), l2=True)
    meta = SkbMeta(ctx.native)
    assert meta.transport_header is None and ctx.native.transport_header == SKB_HEADER_UNSET
    meta.transport_header = 40
    assert meta.transport_header == 40
    meta.transport_header = None
    assert ctx.native.transport_header == SKB_HEADER_UNSET


def test_repeat_accumulates_geometry_as_the_interpreter(jit: Callable) -> None:
    """test_run(repeat) runs on one skb: a packet grown (and a tag pushed) every run keeps
    growing, natively while the buffer has room, then through the Python helper, which
    reallocates it; the result is the interpreter's."""
    text = """
        r6 = r1
        r2 = *(u32 *)(r6 + 0)
        r2 += 50
        r3 = 0
        call 38
        r1 = r6
        r2 = 6
        r3 = 0
        call 43
        r0 = *(u32 *)(r6 + 0)
        exit
    """
    outcomes = []
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), budget=None)):
        prog = backend.load(ProgramSpec("t", tuple(assemble(text, syntax="llvm")),
                                        prog_type=ProgType.SCHED_CLS))
        r = prog.test_run(data=IP_FRAMES[0], repeat=20)
        outcomes.append((r.retval, r.data_out))
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][0] == len(IP_FRAMES[0]) + 20 * 56
