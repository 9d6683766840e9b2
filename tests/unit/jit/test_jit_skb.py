"""The socket-buffer context's native half (pybpf.runtime.ctx.skb, pybpf.native.layout.SkbNative):
compiled tc and socket-filter code reads ``len``/``data``/``data_end``/``data_meta`` and the
plain fields, and stores the plain fields, without Python, with the interpreter's results."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_jit_helpers import spy_on

from pybpf.asm import assemble
from pybpf.interp import Interpreter
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType
from pybpf.program.spec import ProgramSpec
from pybpf.runtime.helpers import default_helpers

SKB = CTX_STRUCTS["__sk_buff"]


def python_ops(monkeypatch: Any) -> list[int]:
    """Runtime operations (:class:`~pybpf.jit.abi.RuntimeOp`) the JIT hands to Python from
    now on."""
    return spy_on(monkeypatch, "_dispatch")


def ctx_in(**fields: int) -> bytes:
    out = bytearray(SKB.size)
    for name, value in fields.items():
        fld = SKB.field(name)
        out[fld.offset : fld.end] = value.to_bytes(fld.size, "little")
    return bytes(out)


def frame(payload: bytes) -> bytes:
    return bytes.fromhex("ffffffffffff0200000000010800") + payload


#: Reads len/data/data_end/mark/priority/cb[0], sums the packet's bytes (at most 64, through
#: direct packet access), stores into mark, cb[1] and priority: r0 mixes all of them.
TC_PROGRAM = """
    r6 = r1
    r2 = *(u32 *)(r6 + 76)
    r3 = *(u32 *)(r6 + 80)
    r4 = *(u32 *)(r6 + 0)
    r5 = *(u32 *)(r6 + 8)
    r7 = *(u32 *)(r6 + 32)
    r8 = *(u32 *)(r6 + 48)
    r0 = r4
    r0 += r5
    r0 += r7
    r0 += r8
    r9 = 64
loop:
    r1 = r2
    r1 += 1
    if r1 > r3 goto out
    r1 = *(u8 *)(r2 + 0)
    r0 += r1
    r2 += 1
    r9 += -1
    if r9 != 0 goto loop
out:
    *(u32 *)(r6 + 8) = r0
    *(u32 *)(r6 + 52) = r4
    r1 = 7
    *(u32 *)(r6 + 32) = r1
    r1 = *(u32 *)(r6 + 8)
    r0 += r1
    exit
"""


def both(jit: Callable, text: str, runs: Sequence[tuple[bytes, bytes]],
         prog_type: ProgType = ProgType.SCHED_CLS) -> list[Any]:
    """Every ``(frame, ctx_in)`` through ``text`` on the interpreter and the (verified) JIT;
    r0, packet and ctx_out must agree. Returns the JIT's results."""
    outcomes = []
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), budget=None)):
        prog = backend.load(ProgramSpec("t", tuple(assemble(text, syntax="llvm")),
                                        prog_type=prog_type))
        results = [prog.test_run(data=data, ctx=ctx) for data, ctx in runs]
        outcomes.append([(r.retval, r.data_out, r.ctx_out) for r in results])
    assert outcomes[1] == outcomes[0]
    return outcomes[1]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=20, max_size=90),
                          st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                          st.integers(0, 2**32 - 1)), min_size=1, max_size=4))
def test_context_fields_match_the_interpreter(jit: Callable, runs: list[Any]) -> None:
    both(jit, TC_PROGRAM, [(frame(payload), ctx_in(mark=mark, priority=prio, **{"cb[0]": cb}))
                           for payload, mark, prio, cb in runs])


def test_context_fields_stay_native(jit: Callable, monkeypatch: Any) -> None:
    """Loads and stores of len, data, data_end and plain fields never call Python."""
    prog = jit(helpers=default_helpers(), budget=None).load(
        ProgramSpec("t", tuple(assemble(TC_PROGRAM, syntax="llvm")),
                    prog_type=ProgType.SCHED_CLS))
    assert not prog.checked
    seen = python_ops(monkeypatch)
    result = prog.test_run(data=frame(bytes(range(40))), ctx=ctx_in(mark=5))
    assert seen == []
    assert result.retval > sum(range(40))


@pytest.mark.parametrize("prog_type", [ProgType.SCHED_CLS, ProgType.SCHED_ACT,
                                       ProgType.CGROUP_SKB])
def test_computed_fields_after_python_changes_the_packet(jit: Callable,
                                                         prog_type: ProgType) -> None:
    """A helper run in Python that moves the packet (bpf_skb_change_tail grows it past the
    buffer's tailroom: Python reallocates it) leaves the native half in step: len and
    data_end read after it are the new ones."""
    text = """
        r6 = r1
        r2 = 700
        r3 = 0
        call 38
        r0 = *(u32 *)(r6 + 0)
        r1 = *(u32 *)(r6 + 76)
        r2 = *(u32 *)(r6 + 80)
        r2 -= r1
        r0 <<= 16
        r0 |= r2
        *(u32 *)(r6 + 56) = r0
        r0 = 1
        exit
    """
    if prog_type == ProgType.CGROUP_SKB:  # bpf_skb_change_tail is tc's
        text = text.replace("call 38", "r0 = 0")
    out = both(jit, text, [(frame(bytes(50)), b""), (frame(bytes(300)), b"")],
               prog_type=prog_type)
    cb2 = SKB.field("cb[2]")
    seen = [int.from_bytes(ctx[cb2.offset : cb2.end], "little") for _, _, ctx in out]
    assert all(v >> 16 == v & 0xFFFF for v in seen)
    if prog_type != ProgType.CGROUP_SKB:
        assert seen[0] & 0xFFFF == 700


def test_plain_slots_cover_exactly_the_stored_fields() -> None:
    """4-byte stored fields are plain, those the kernel reads narrower with their target
    size (protocol: 16 bits, pkt_type: 8); computed and 8-byte fields are not."""
    from pybpf.runtime.ctx.skb import SKB_TARGET_SIZES, SkbContext
    from pybpf.runtime.memory import Memory

    ctx = SkbContext(Memory(), frame(bytes(20)), l2=True)
    native = ctx.native

    def named(mask: int) -> set[str]:
        return {fld.name for fld in SKB.fields
                if fld.offset % 4 == 0 and mask >> (fld.offset // 4) & 1}

    plain = named(native.plain)
    assert {"mark", "priority", "cb[0]", "cb[4]", "hash", "ifindex", "protocol",
            "pkt_type", "tc_index"} <= plain
    assert not plain & {"len", "data", "data_end", "data_meta", "tstamp", "flow_keys", "sk",
                        "tstamp_type"}
    assert named(native.low16) == {n for n, size in SKB_TARGET_SIZES.items() if size == 2}
    assert named(native.low8) == {n for n, size in SKB_TARGET_SIZES.items()
                                  if size == 1 and SKB.field(n).size == 4}
    assert named(native.answered) == {"len", "data", "data_end", "data_meta"}
    ctx.release()


FOUR_BYTE_FIELDS = [f.name for f in SKB.fields if f.size == 4 and f.offset % 4 == 0
                    and f.name not in ("len", "data", "data_end", "data_meta")]


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(FOUR_BYTE_FIELDS), value=st.integers(0, 2**32 - 1),
       checked=st.booleans())
def test_every_4_byte_field_reads_back_as_in_python(jit: Callable, field: str, value: int,
                                                    checked: bool) -> None:
    """A value in any 4-byte field of the context reads back (full, 16 or 8 bits) on the
    JIT as the interpreter reads it: through the slow path in checked code, inline
    (pybpf.jit.lower_context) in verified code, where the verifier allows the read."""
    from pybpf.errors import VerifierError

    off = SKB.offsetof(field)
    text = f"""
        r0 = *(u32 *)(r1 + {off})
        exit
    """
    runs = [(frame(bytes(30)), b"")]
    spec = ProgramSpec("t", tuple(assemble(text, syntax="llvm")), prog_type=ProgType.SCHED_CLS)
    if not checked:
        from pybpf.verifier import verify

        if not verify(spec).accepted:  # not a field tc may read: the JIT refuses it too
            with pytest.raises(VerifierError):
                jit(helpers=default_helpers(), checked=False).load(spec)
            return
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), checked=checked)):
        from pybpf.runtime.ctx.skb import SkbContext

        prog = backend.load(spec)
        ctx = SkbContext(prog.state.memory, runs[0][0], l2=True)
        ctx.region.buf[off : off + 4] = value.to_bytes(4, "little")
        prog.state.context = ctx
        try:
            got = prog.run(ctx.address).retval
        finally:
            prog.state.context = None
            ctx.release()
        if isinstance(backend, Interpreter):
            expected = got
    assert got == expected


# -- the native skb helpers (pybpf.native.skb_ir) against the Python ones -------------------

CHECKSUM_STATES = st.integers(0, 3)  # CHECKSUM_NONE .. CHECKSUM_PARTIAL
U64 = st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 70), st.just(2**32 - 1))


def _twin_contexts(payload: bytes, ip_summed: int, csum: int, hash_: int) -> list[Any]:
    """Two identical skb contexts (one for Python, one for native code) in one memory."""
    from pybpf.runtime.ctx.skb import SkbContext
    from pybpf.runtime.memory import Memory

    memory = Memory()
    out = []
    for _ in range(2):
        ctx = SkbContext(memory, frame(payload), l2=True)
        ctx.native.ip_summed, ctx.native.csum = ip_summed, csum
        ctx.native.sw_hash = ctx.native.l4_hash = 1
        ctx.region.set("hash", hash_)
        out.append(ctx)
    return out


def _state_of(ctx: Any) -> tuple[Any, Any]:
    from pybpf.runtime.execstate import ExecState

    state = ExecState(memory=ctx.packet.memory, helpers=default_helpers())
    state.context = ctx
    return state, ctx.packet.memory


def _skb_view(ctx: Any) -> tuple[Any, ...]:
    n = ctx.native
    return (ctx.packet.bytes(), n.ip_summed, n.csum, n.sw_hash, n.l4_hash,
            ctx.region.get("hash"))


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(min_size=40, max_size=80), ip_summed=CHECKSUM_STATES,
       csum=st.integers(0, 2**32 - 1), offset=U64, old=U64, new=U64,
       flags=st.one_of(st.integers(0, 0xFF), st.sampled_from([0, 2, 4, 0x12, 0x14, 0x30,
                                                              0x34, 0x70, 0x90, 0x100])),
       l4=st.booleans())
def test_native_csum_replace_matches_python(payload: bytes, ip_summed: int, csum: int,
                                            offset: int, old: int, new: int, flags: int,
                                            l4: bool) -> None:
    from pybpf.native.library import library
    from pybpf.runtime.helpers import csum as py_csum

    py_ctx, native_ctx = _twin_contexts(payload, ip_summed, csum, 0x1234)
    state, _ = _state_of(py_ctx)
    helper = py_csum.bpf_l4_csum_replace if l4 else py_csum.bpf_l3_csum_replace
    expected = helper(state, py_ctx.address, offset, old, new, flags)
    got = library().fn["pb_skb_csum_replace"](ctypes.addressof(native_ctx.native), offset, old,
                                             new, flags, int(l4))
    assert got == expected
    assert _skb_view(native_ctx) == _skb_view(py_ctx)


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(min_size=40, max_size=80), ip_summed=CHECKSUM_STATES,
       csum=st.integers(0, 2**32 - 1), offset=U64, data=st.binary(min_size=0, max_size=24),
       flags=st.one_of(st.integers(0, 3), st.integers(0, 2**64 - 1)), add=U64)
def test_native_store_load_update_pull_match_python(payload: bytes, ip_summed: int,
                                                    csum: int, offset: int, data: bytes,
                                                    flags: int, add: int) -> None:
    from pybpf.native.library import library
    from pybpf.runtime.helpers import csum as py_csum
    from pybpf.runtime.helpers import skb as py_skb
    from pybpf.runtime.memory import RegionKind

    lib = library().fn
    py_ctx, native_ctx = _twin_contexts(payload, ip_summed, csum, 0x5678)
    state, memory = _state_of(py_ctx)
    buf = bytearray(data.ljust(24, b"\xee"))
    region = memory.map(buf, RegionKind.STACK, "buffer")
    host = (ctypes.c_char * len(buf)).from_buffer(buf)
    n = len(data)
    native_skb = ctypes.addressof(native_ctx.native)

    expected = py_skb.bpf_skb_store_bytes(state, 0, offset, region.base, n, flags)
    assert lib["pb_skb_store_bytes"](native_skb, offset, ctypes.addressof(host), n,
                                     flags) == expected
    assert _skb_view(native_ctx) == _skb_view(py_ctx)

    expected = py_csum.bpf_csum_update(state, 0, add, 0, 0, 0)
    assert lib["pb_skb_csum_update"](native_skb, add) == expected
    assert _skb_view(native_ctx) == _skb_view(py_ctx)

    assert lib["pb_skb_pull_data"](native_skb, offset) == py_skb.bpf_skb_pull_data(
        state, 0, offset, 0, 0, 0)

    expected = py_skb.bpf_skb_load_bytes(state, 0, offset, region.base, n, 0)
    python_view = bytes(buf)
    buf[:] = bytes(len(buf))
    assert lib["pb_skb_load_bytes"](native_skb, offset, ctypes.addressof(host), n) == expected
    assert bytes(buf)[:n] == python_view[:n]
    del host
    memory.unmap(region)


#: bpf_skb_pull_data, bpf_skb_load_bytes of the IPv4 header to the stack, a TTL decrement
#: stored back with bpf_skb_store_bytes (recompute + invalidate hash), the IP checksum fixed
#: with bpf_l3_csum_replace, a UDP port rewritten through bpf_l4_csum_replace (pseudo
#: header, mangled 0), bpf_csum_update; r0 sums the helpers' results.
HELPERS_PROGRAM = """
    r6 = r1
    r2 = 34
    call 39
    r7 = r0
    r1 = r6
    r2 = 14
    r3 = r10
    r3 += -24
    r4 = 20
    call 26
    r7 += r0
    r8 = *(u16 *)(r10 - 16)
    r1 = *(u8 *)(r10 - 16)
    r1 += -1
    *(u8 *)(r10 - 16) = r1
    r1 = r6
    r2 = 22
    r3 = r10
    r3 += -16
    r4 = 1
    r5 = 3
    call 9
    r7 += r0
    r9 = *(u16 *)(r10 - 16)
    r1 = r6
    r2 = 24
    r3 = r8
    r4 = r9
    r5 = 2
    call 10
    r7 += r0
    r1 = r6
    r2 = 40
    r3 = 0x1111
    r4 = 0x2222
    r5 = 0x32
    call 11
    r7 += r0
    r1 = r6
    r2 = 0x12345
    call 40
    r7 += r0
    r1 = r6
    r2 = 5000
    call 39
    r0 += r7
    exit
"""


def _udp4(payload: bytes) -> bytes:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    return bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")
                 / IP(src="10.0.0.1", dst="10.0.0.2", ttl=64) / UDP(sport=0x1111, dport=53)
                 / payload)


def test_skb_helpers_match_the_interpreter_natively(jit: Callable, monkeypatch: Any) -> None:
    from test_jit_helpers import python_calls

    other = bytes.fromhex("020000000002020000000001" "88b5") + bytes(30)  # not IP
    runs = [(_udp4(bytes(range(n))), b"") for n in (0, 7, 40)] + [(other, b"")]
    seen = python_calls(monkeypatch)
    out = both(jit, HELPERS_PROGRAM, runs)
    assert seen == []  # the interpreter calls no NativeRuntime; the JIT called no Python
    for (retval, data, _), (sent, _) in zip(out, runs, strict=True):
        if sent[12:14] == b"\x08\x00":
            from scapy.layers.inet import IP

            ip = IP(data[14:])
            assert ip.ttl == 63
            assert IP(bytes(ip)).chksum == ip.chksum  # the header checksum still holds
            # the UDP checksum is the one of the datagram with source port 0x2222
            moved = IP(data[14:34] + b"\x22\x22" + data[36:])
            checksum = moved.payload.chksum
            del moved.payload.chksum
            assert IP(bytes(moved)).payload.chksum == checksum
        # every helper succeeded but bpf_csum_update (-ENOTSUPP: CHECKSUM_NONE) and the
        # second bpf_skb_pull_data (-ENOMEM)
        assert retval == -(524 + 12) & 0xFFFFFFFF  # test_run reports r0 as a u32


LD_ABS_PROGRAM = """
    r6 = r1
    r8 = *(u32 *)(r6 + 48)
    r0 = *(u8 *)skb[12]
    r7 = r0
    r0 = *(u16 *)skb[12]
    r7 += r0
    r0 = *(u32 *)skb[r8 + 0]
    r7 += r0
    r0 = *(u16 *)skb[r8 + 2]
    r0 += r7
    exit
"""


@pytest.mark.parametrize("prog_type", [ProgType.SOCKET_FILTER, ProgType.SCHED_CLS])
@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=20, max_size=60),
       index=st.one_of(st.integers(0, 80), st.integers(2**31 - 8, 2**32 - 1)))
def test_ld_abs_matches_the_interpreter(jit: Callable, prog_type: ProgType, payload: bytes,
                                        index: int) -> None:
    """Big-endian legacy loads in and out of bounds (out of bounds ends the program with
    0), with a negative or huge LD_IND offset, from the MAC header (tc) or the network
    header (socket filters)."""
    both(jit, LD_ABS_PROGRAM, [(frame(payload), ctx_in(**{"cb[0]": index}))], prog_type)


def test_ld_abs_in_bounds_stays_native(jit: Callable, monkeypatch: Any) -> None:
    prog = jit(helpers=default_helpers(), budget=None).load(
        ProgramSpec("t", tuple(assemble(LD_ABS_PROGRAM, syntax="llvm")),
                    prog_type=ProgType.SOCKET_FILTER))
    seen = python_ops(monkeypatch)
    data = frame(bytes(range(40)))
    result = prog.test_run(data=data, ctx=ctx_in(**{"cb[0]": 6}))
    assert seen == []
    net = data[14:]
    assert result.retval == (net[12] + int.from_bytes(net[12:14], "big")
                             + int.from_bytes(net[6:10], "big")
                             + int.from_bytes(net[8:10], "big")) & 0xFFFFFFFF
