"""run_batch and test_run(repeat) on the JIT (native loops) against the interpreter (one
test_run per frame): the same r0, instruction counts, output frames, redirects, traces,
refused frames and map contents — including frames that need Python (helpers that change
the packet, redirects, printk), frames test_run refuses or splits, faults and tail calls."""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from pybpf.asm import assemble
from pybpf.elf import load_collection
from pybpf.errors import PybpfError
from pybpf.interp import Interpreter
from pybpf.platform.enums import MapType as T
from pybpf.platform.enums import ProgType
from pybpf.program.spec import MapSpec, ProgramSpec
from pybpf.runtime.batch import BatchResult, PacketBatch
from pybpf.runtime.collection import Collection
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map
from pybpf.runtime.pcap import read_pcap

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
FRAME = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
              IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=53) / (b"x" * 30))


def summary(result: BatchResult) -> tuple[Any, ...]:
    n = len(result)
    return (list(result.r0), list(result.instructions), [result.data_out(i) for i in range(n)],
            result.redirects, result.traces, {i: str(e) for i, e in result.errors.items()})


def both(text: str, frames: list[bytes], jit: Callable[..., Any], *,
         maps: tuple[MapSpec, ...] = (), checked: bool | None = None,
         prog_type: ProgType = ProgType.XDP) -> tuple[Any, Any]:
    """Run ``frames`` through the program ``text`` (XDP unless told) on both backends
    (``{mN}`` is map N);
    assert equal results and maps; return the JIT's result and maps. Programs that name
    maps by address cannot be verified: they run with ``checked=True``."""
    outcomes = []
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), checked=checked)):
        made = [create_map(spec, backend.memory, ncpus=2) for spec in maps]
        source = text
        for i, m in enumerate(made):
            source = source.replace(f"{{m{i}}}", str(m.address))
        prog = backend.load(ProgramSpec("t", tuple(assemble(source, syntax="llvm")),
                                        prog_type=prog_type))
        try:
            outcome: Any = summary(prog.run_batch(frames))
        except PybpfError as exc:
            outcome = ("error", type(exc).__name__, str(exc), getattr(exc, "pc", None))
        outcomes.append((outcome, [sorted(m.items()) for m in made]))
    assert outcomes[1] == outcomes[0]
    return outcomes[1]


COUNT = """
    r6 = r1
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    r1 = {m0} ll
    call 1
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r0 = r3
    r0 -= r2
    r0 &= 3
out:
    exit
"""


def test_counting_program_over_many_frames(jit: Callable) -> None:
    frames = [FRAME[: 14 + i] for i in range(0, 200, 3)]
    _, maps = both(COUNT, frames, jit, maps=(MapSpec("c", T.ARRAY, 4, 8, 1),), checked=True)
    assert maps[0] == [(bytes(4), struct.pack("<Q", len(frames)))]


def test_refused_and_fragmented_frames(jit: Callable) -> None:
    frames = [FRAME, FRAME[:13], b"", FRAME + bytes(3600), FRAME[:14]]
    result, _ = both(COUNT, frames, jit, maps=(MapSpec("c", T.ARRAY, 4, 8, 1),), checked=True)
    assert sorted(result[5]) == [1, 2]


SWAP_MACS = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 14
    r0 = 1
    if r4 > r3 goto out
    r4 = *(u32 *)(r2 + 0)
    r5 = *(u32 *)(r2 + 6)
    *(u32 *)(r2 + 0) = r5
    *(u32 *)(r2 + 6) = r4
    r0 = 3
out:
    exit
"""


def test_frames_written_in_place(jit: Callable) -> None:
    result, _ = both(SWAP_MACS, [FRAME, FRAME[:20], FRAME[:14]], jit)
    assert result[2][0][:4] == FRAME[6:10]


HELPERS = """
    r6 = r1
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r3 -= r2
    if r3 > 60 goto head
    if r3 > 40 goto redirect
    r0 = 2
    exit
head:
    r1 = r6
    r2 = 8
    call 44
    r0 = 2
    exit
redirect:
    r1 = 7
    r2 = 0
    call 23
    exit
"""


def test_frames_that_need_python_helpers(jit: Callable) -> None:
    frames = [FRAME[:30], FRAME, FRAME[:50], FRAME[:30], FRAME, FRAME[:50], FRAME[:14]]
    result, _ = both(HELPERS, frames, jit)
    assert result[3] and len(result[2][1]) == len(FRAME) - 8


def test_a_fault_raises_the_interpreters_error(jit: Callable) -> None:
    text = """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r3 -= r2
        r0 = 2
        if r3 < 40 goto out
        r0 = *(u8 *)(r2 + 100)
    out:
        exit
    """
    outcome, _ = both(text, [FRAME[:20], FRAME[:30], FRAME[:60]], jit, checked=True)
    assert outcome[0] == "error" and "outside packet region" in outcome[2]


def test_tail_call_limit_resets_for_every_frame(jit: Callable) -> None:
    outcomes = []
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), checked=True)):
        counter = create_map(MapSpec("c", T.ARRAY, 4, 8, 1), backend.memory, ncpus=2)
        progs = create_map(MapSpec("p", T.ARRAY, 4, 4, 1), backend.memory, ncpus=2)
        text = f"""
            r6 = r1
            *(u32 *)(r10 - 4) = 0
            r2 = r10
            r2 += -4
            r1 = {counter.address} ll
            call 1
            if r0 == 0 goto out
            r1 = 1
            lock *(u64 *)(r0 + 0) += r1
            r1 = r6
            r2 = {progs.address} ll
            r3 = 0
            call 12
        out:
            r0 = 2
            exit
        """
        prog = backend.load(ProgramSpec("t", tuple(assemble(text, syntax="llvm")),
                                        prog_type=ProgType.XDP))
        backend.state.tail_call_resolver = lambda s, m, i, prog=prog: prog.entry
        outcomes.append((summary(prog.run_batch([FRAME] * 5)), counter.items()))
    assert outcomes[1] == outcomes[0]
    assert outcomes[0][1] == [(bytes(4), struct.pack("<Q", 5 * 34))]


def test_examples_over_the_shipped_capture(jit: Callable, tmp_path: Path) -> None:
    frames = [f for _, f in read_pcap(EXAMPLES / "xdp_firewall" / "traffic.pcap")]
    outcomes = []
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), cache_dir=tmp_path)):
        obj = Collection(load_collection(EXAMPLES / "xdp_firewall" / "xdp_firewall.o"), backend)
        obj.maps["blocked_v4"][bytes([203, 0, 113, 66])] = b"\x01"
        obj.maps["blocked_ports"][struct.pack("<H", 23)] = b"\x01"
        prog = obj.program("xdp_firewall")
        results = [summary(prog.run_batch(PacketBatch.from_frames(frames))) for _ in range(2)]
        outcomes.append((results, {n: sorted(m.items()) for n, m in obj.maps.items()}))
    assert outcomes[1] == outcomes[0]


def test_test_run_repeat_is_looped_natively_with_the_same_results(jit: Callable) -> None:
    outcomes = []
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), checked=True)):
        counter = create_map(MapSpec("c", T.HASH, 4, 8, 4), backend.memory, ncpus=2)
        text = COUNT.replace("{m0}", str(counter.address))
        update = f"""
            *(u32 *)(r10 - 4) = 0
            *(u64 *)(r10 - 16) = 0
            r2 = r10
            r2 += -4
            r3 = r10
            r3 += -16
            r4 = 0
            r1 = {counter.address} ll
            call 2
        """
        prog = backend.load(ProgramSpec("t", tuple(assemble(update + text, syntax="llvm")),
                                        prog_type=ProgType.XDP))
        r = prog.test_run(data=FRAME, repeat=50)
        outcomes.append(((r.retval, r.r0, r.instructions, r.data_out), counter.items()))
    assert outcomes[1] == outcomes[0]


def test_other_program_types_use_the_plain_loop(jit: Callable) -> None:
    prog = jit(helpers=default_helpers()).load(
        ProgramSpec("t", tuple(assemble("r0 = 1\nexit", syntax="llvm")),
                    prog_type=ProgType.SYSCALL))
    result = prog.run_batch([FRAME, FRAME[:10]])
    assert result.retvals == [1, 1] and not result.errors


@pytest.mark.parametrize("count", [0, 1])
def test_empty_and_single_batches(jit: Callable, count: int) -> None:
    both(SWAP_MACS, [FRAME] * count, jit)


@given(st.lists(st.binary(max_size=300), max_size=50))
def test_batch_from_a_list_is_packed_as_from_frames(frames: list[bytes]) -> None:
    """run_batch given a list packs it with natively summed offsets: the same batch as
    PacketBatch.from_frames."""
    from pybpf.jit.batch import _packed

    assert _packed(frames) == PacketBatch.from_frames(frames)


# -- skb programs: the native skb loop (pb_skb_batch) ----------------------------------------

#: Reads len, data/data_end, protocol, pkt_type and mark, counts the frame's bytes past the
#: Ethernet header directly, stores into cb[0] and mark, loads a byte with LD_ABS, rewrites a
#: byte with bpf_skb_store_bytes and fixes it with bpf_l3_csum_replace: all native.
SKB_PROGRAM = """
    r6 = r1
    r7 = *(u32 *)(r6 + 0)
    r1 = *(u32 *)(r6 + 16)
    r7 += r1
    r1 = *(u32 *)(r6 + 4)
    r7 += r1
    r2 = *(u32 *)(r6 + 76)
    r3 = *(u32 *)(r6 + 80)
    r2 += 14
    if r2 > r3 goto skip
    r1 = *(u8 *)(r2 - 1)
    r7 += r1
skip:
    *(u32 *)(r6 + 48) = r7
    r0 = *(u8 *)skb[0]
    r7 += r0
    *(u32 *)(r10 - 4) = r7
    r1 = r6
    r2 = 1
    r3 = r10
    r3 += -4
    r4 = 1
    r5 = 0
    call 9
    r1 = r6
    r2 = 10
    r3 = 0x1234
    r4 = 0x4321
    r5 = 2
    call 10
    r0 += r7
    r0 &= 3
    exit
"""


def _skb_frames() -> list[bytes]:
    frames = [FRAME[: 34 + i] for i in range(0, 40, 3)]
    frames += [FRAME[:20], FRAME[:13], b"", FRAME + bytes(4000), FRAME + bytes(3600)]
    frames.append(bytes.fromhex("ffffffffffff02000000000186dd") + bytes(60))  # IPv6, multicast
    frames.append(bytes.fromhex("000000000000020000000001" "86dd") + bytes(30))  # too short
    frames.append(bytes.fromhex("000000000000020000000001" "1234") + bytes(6))  # lo's address
    return frames


@pytest.mark.parametrize("prog_type", [ProgType.SCHED_CLS, ProgType.SOCKET_FILTER,
                                       ProgType.SCHED_ACT])
def test_skb_batch_matches_the_interpreter(jit: Callable, prog_type: ProgType) -> None:
    text = SKB_PROGRAM
    if prog_type == ProgType.SOCKET_FILTER:  # no packet pointers, no store_bytes
        text = text.replace("    r2 = *(u32 *)(r6 + 76)\n    r3 = *(u32 *)(r6 + 80)\n", "    r2 = 0\n    r3 = 0\n")
        text = text.replace("call 9", "r0 = 0").replace("call 10", "r0 = 0")
    result, _ = both(text, _skb_frames(), jit, prog_type=prog_type)
    assert sorted(result[5]) == [14, 15, 16, 17, 20]  # refused: too short, too long


def test_skb_batch_stays_native(jit: Callable, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of frames the loop takes makes no call into Python at all."""
    from test_jit_skb import python_ops

    prog = jit(helpers=default_helpers(), budget=None).load(
        ProgramSpec("t", tuple(assemble(SKB_PROGRAM.replace("r1 = *(u32 *)(r6 + 16)",
                                                            "r1 = 0")
                                        .replace("r1 = *(u32 *)(r6 + 4)", "r1 = 0"),
                                        syntax="llvm")),
                    prog_type=ProgType.SCHED_CLS))
    ops = python_ops(monkeypatch)
    frames = [FRAME[: 34 + i] for i in range(50)]
    result = prog.run_batch(frames)
    assert ops == [] and not result.errors
    for i, frame in enumerate(frames):  # what one test_run per frame gives
        single = prog.test_run(data=frame)
        assert (result.r0[i], result.data_out(i)) == (single.r0, single.data_out)
        assert single.data_out != frame  # bpf_skb_store_bytes and the csum fix wrote


SKB_PYTHON = """
    r6 = r1
    r2 = *(u32 *)(r6 + 0)
    if r2 > 40 goto grow
    r1 = r6
    r2 = 1
    r3 = 0
    call 23
    exit
grow:
    r1 = r6
    r2 += 20
    r3 = 0
    call 38
    r0 = *(u32 *)(r6 + 0)
    exit
"""


def test_skb_batch_with_python_helpers(jit: Callable) -> None:
    """Runs that call into Python (bpf_redirect) or move the packet (bpf_skb_change_tail
    growing it, natively) are finished by Python: redirects and changed frames as test_run
    reports them."""
    frames = [FRAME[: 34 + i] for i in range(0, 30, 2)]
    result, _ = both(SKB_PYTHON, frames, jit, prog_type=ProgType.SCHED_CLS)
    assert result[3] and any(len(out) != len(f) for out, f in zip(result[2], frames,
                                                                  strict=True))


#: bpf_redirect(ifindex = frame byte 20, flags = frame byte 21): the target and the action
#: depend on the frame.
REDIRECT = """
    r2 = *(u32 *)(r1 + {data})
    r3 = *(u32 *)(r1 + {data_end})
    r4 = r2
    r4 += 22
    r0 = 0
    if r4 > r3 goto out
    r1 = *(u8 *)(r2 + 20)
    r2 = *(u8 *)(r2 + 21)
    call 23
out:
    exit
"""


@pytest.mark.parametrize("prog_type", [ProgType.XDP, ProgType.SCHED_CLS])
def test_bpf_redirect_natively(jit: Callable, prog_type: ProgType,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """bpf_redirect() records its target natively (XDP: any flag aborts; tc: only
    BPF_F_INGRESS is allowed and names the ingress side), in test_run and run_batch alike,
    with the interpreter's results and no call into Python."""
    from test_jit_helpers import python_calls

    data, end = (0, 4) if prog_type == ProgType.XDP else (76, 80)
    text = REDIRECT.format(data=data, data_end=end)
    frames = [FRAME[:20] + bytes([ifindex, flags]) + FRAME[22:]
              for ifindex, flags in ((3, 0), (7, 1), (9, 2), (4, 0), (200, 0), (5, 3))]
    frames.append(FRAME[:21])  # too short: no redirect
    seen = python_calls(monkeypatch)
    result, _ = both(text, frames, jit, prog_type=prog_type)
    assert seen == []
    redirects = result[3]
    if prog_type == ProgType.XDP:
        assert redirects == {0: ("ifindex", 3), 3: ("ifindex", 4), 4: ("ifindex", 200)}
        assert [r & 0xFF for r in result[0]] == [4, 0, 0, 4, 4, 0, 0]
    else:
        assert redirects == {0: ("ifindex", 3), 1: ("ingress", 7), 3: ("ifindex", 4),
                             4: ("ifindex", 200)}
        assert [r & 0xFF for r in result[0]] == [7, 7, 2, 7, 7, 2, 0]
    prog = jit(helpers=default_helpers()).load(
        ProgramSpec("t", tuple(assemble(text, syntax="llvm")), prog_type=prog_type))
    assert prog.test_run(data=frames[0]).redirect == ("ifindex", 3)
    assert prog.test_run(data=frames[2]).redirect is None


#: bpf_redirect_peer(ifindex = byte 20, flags = byte 22 & 1) or bpf_redirect_neigh(ifindex =
#: byte 20, params = 32 zero bytes on the stack, plen = byte 21 & 31, flags = byte 22 & 1).
REDIRECT_TC = """
    r2 = *(u32 *)(r1 + 76)
    r3 = *(u32 *)(r1 + 80)
    r4 = r2
    r4 += 23
    r0 = 0
    if r4 > r3 goto out
    r1 = *(u8 *)(r2 + 20)
    r5 = *(u8 *)(r2 + 22)
    r5 &= 1
    r3 = *(u8 *)(r2 + 21)
    r3 &= 31
    r4 = 0
    *(u64 *)(r10 - 32) = r4
    *(u64 *)(r10 - 24) = r4
    *(u64 *)(r10 - 16) = r4
    *(u64 *)(r10 - 8) = r4
    r4 = r5
    {args}
    call {helper}
out:
    exit
"""


@pytest.mark.parametrize("helper", [152, 155])
def test_bpf_redirect_peer_and_neigh_natively(jit: Callable, helper: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """bpf_redirect_peer()/bpf_redirect_neigh() record their target natively (any flag, or a
    too short struct bpf_redir_neigh, shoots the packet), in test_run and run_batch alike,
    with the interpreter's results and no call into Python."""
    from test_jit_helpers import python_calls

    args = "r2 = r10\n    r2 += -32" if helper == 152 else "r2 = r5"  # neigh: params; peer: flags
    text = REDIRECT_TC.format(args=args, helper=helper)
    frames = [FRAME[:20] + bytes([ifindex, plen, flag]) + FRAME[23:]
              for ifindex, plen, flag in ((3, 0, 0), (7, 19, 0), (9, 20, 0), (4, 1, 0),
                                          (5, 200, 0), (6, 0, 1), (8, 30, 1))]
    frames.append(FRAME[:22])  # too short: no call
    seen = python_calls(monkeypatch)
    result, _ = both(text, frames, jit, prog_type=ProgType.SCHED_CLS)
    assert seen == []
    kind = "neigh" if helper == 152 else "peer"
    if helper == 152:  # plen (200 & 31 = 8) 0 or >= 20, and no flag
        assert result[3] == {0: (kind, 3), 2: (kind, 9)}
    else:  # no flag
        assert result[3] == {i: (kind, f[20]) for i, f in enumerate(frames[:5])}
    assert [r & 0xFF for r in result[0]] == [7 if i in result[3] else 2
                                             for i in range(7)] + [0]


@pytest.mark.parametrize("prog_type", [ProgType.XDP, ProgType.SCHED_CLS])
def test_context_stores_do_not_reach_the_next_frame(jit: Callable, prog_type: ProgType) -> None:
    """A checked program storing into a plain context field (natively, no Python call) sees
    every frame's fresh context, as one test_run per frame does."""
    off = 12 if prog_type == ProgType.XDP else 8  # ingress_ifindex / mark
    text = f"""
        r0 = *(u32 *)(r1 + {off})
        r2 = 77
        *(u32 *)(r1 + {off}) = r2
        exit
    """
    result, _ = both(text, [FRAME] * 4, jit, checked=True, prog_type=prog_type)
    assert len(set(result[0])) == 1 and result[0][0] != 77


@pytest.mark.parametrize("prog_type", [ProgType.XDP, ProgType.SCHED_CLS])
def test_batches_reuse_the_context_of_the_last_one(jit: Callable, prog_type: ProgType) -> None:
    """A batch that ended natively parks its context for the next batch of the program:
    later batches (and test_runs in between, and batches after one Python had to finish)
    give what the first did."""
    data, end = (0, 4) if prog_type == ProgType.XDP else (76, 80)
    text = REDIRECT.format(data=data, data_end=end)
    frames = [FRAME[:20] + bytes([i, i % 3]) + FRAME[22:] for i in range(12)]
    prog = jit(helpers=default_helpers()).load(
        ProgramSpec("t", tuple(assemble(text, syntax="llvm")), prog_type=prog_type))
    first = summary(prog.run_batch(frames))
    parked = prog.batch_frames
    assert parked is not None and prog.state.context is None
    again = summary(prog.run_batch(frames[::-1]))
    assert prog.batch_frames is parked
    single = prog.test_run(data=frames[4])
    assert summary(prog.run_batch(frames)) == first
    assert (single.r0, single.redirect) == (first[0][4], first[3].get(4))
    assert again[0] == first[0][::-1]
    printk = SKB_PYTHON if prog_type == ProgType.SCHED_CLS else None
    if printk is not None:  # a batch Python finishes does not park its context
        other = jit(helpers=default_helpers()).load(
            ProgramSpec("t", tuple(assemble(printk, syntax="llvm")), prog_type=prog_type))
        other.run_batch([FRAME[:60]])
        assert other.batch_frames is None


REDIRECT_MAP = """
    r6 = r1
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r4 = r2
    r4 += 22
    r0 = 0
    if r4 > r3 goto out
    r7 = *(u8 *)(r2 + 20)
    r3 = *(u8 *)(r2 + 21)
    r2 = r7
    r1 = {m0} ll
    call 51
out:
    exit
"""


@pytest.mark.parametrize("map_type", [T.DEVMAP, T.CPUMAP, T.XSKMAP, T.DEVMAP_HASH])
def test_bpf_redirect_map_natively(jit: Callable, map_type: int,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """bpf_redirect_map() on devmaps, cpumaps, xskmaps and hash devmaps natively: entries,
    missing keys (the flags' action), keys past the end, BPF_F_BROADCAST/EXCLUDE_INGRESS
    (devmaps only) and refused flags — the interpreter's verdicts and targets, no call into
    Python."""
    from test_jit_helpers import python_calls

    keys = (0, 1, 2, 3, 5, 9, 200)
    flag_sets = (0, 1, 2, 3, 8, 8 | 16, 16, 32, 4)
    frames = [FRAME[:20] + bytes([k, fl]) + FRAME[22:] for k in keys for fl in flag_sets]
    outcomes = []
    seen: list[int] = []
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), checked=True)):
        m = create_map(MapSpec("m", map_type, 4, 4 if map_type == T.XSKMAP else 8, 8),
                       backend.memory, ncpus=4)
        for index in ((200, 3, 1, 9) if map_type == T.DEVMAP_HASH else (1, 3)):
            if map_type in (T.DEVMAP, T.DEVMAP_HASH):
                m[index] = struct.pack("<Ii", 10 + index, 0)
            elif map_type == T.CPUMAP:
                m[index] = struct.pack("<Ii", 64, 0)
            else:
                m[index] = object()
        if map_type == T.DEVMAP_HASH:
            del m[9]  # the sorted slots close the gap
        prog = backend.load(ProgramSpec("t", tuple(assemble(
            REDIRECT_MAP.replace("{m0}", str(m.address)), syntax="llvm")),
            prog_type=ProgType.XDP))
        if not isinstance(backend, Interpreter):
            seen = python_calls(monkeypatch)
        batch = summary(prog.run_batch(frames))
        singles = [(r.retval, r.redirect) for r in (prog.test_run(data=f) for f in frames[:20])]
        outcomes.append((batch, singles))
    assert outcomes[1] == outcomes[0]
    assert seen == []
    redirects = outcomes[1][0][3]
    assert redirects and all(kind in ("ifindex", "cpu", "xsk", "broadcast")
                             for kind, _ in redirects.values())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.integers(1, 9)), max_size=40))
def test_hash_devmap_slots_follow_the_table(ops: list[tuple[bool, int, int]]) -> None:
    """What native bpf_redirect_map() reads of a hash devmap — its slots, sorted by key —
    after random updates and deletes is the map's contents."""
    from pybpf.runtime.memory import Memory

    m = create_map(MapSpec("m", T.DEVMAP_HASH, 4, 8, 8), Memory(), ncpus=1)
    for update, key, ifindex in ops:
        k = struct.pack("<I", key)
        if update:
            m.update_elem(k, struct.pack("<Ii", ifindex, 0))
        else:
            m.delete_elem(k)
        native = m.redirect_native
        n = native.count
        keys = list((ctypes.c_uint32 * max(n, 1)).from_address(native.keys)[:n])
        raw = (ctypes.c_uint64 * max(n, 1)).from_address(native.vals)[:n]
        vals = [v & 0xFFFFFFFF for v in raw]
        expected = sorted((struct.unpack("<I", kk)[0], struct.unpack("<Ii", m[kk])[0])
                          for kk in m)
        assert list(zip(keys, vals)) == expected


def test_the_rcu_list_follows_maps_registered_later(jit: Callable[..., Any]) -> None:
    """The native loops' RCU list is kept between batches, and built again when a run
    registers another map: a hash map first updated in a batch's run is in the list from
    the next batch on."""
    from pybpf.jit.batch import _rcu_list
    from pybpf.runtime.maps import create_map

    text = """
        *(u32 *)(r10 - 4) = 1
        *(u64 *)(r10 - 16) = 7
        r1 = {m0} ll
        r2 = r10
        r2 += -4
        r3 = r10
        r3 += -16
        r4 = 0
        call 2
        r1 = {m0} ll
        r2 = r10
        r2 += -4
        call 3
        r0 = 2
        exit
    """
    backend = jit(helpers=default_helpers(), checked=True)
    table = create_map(MapSpec("h", T.HASH, 4, 8, 4), backend.memory, ncpus=2)
    prog = backend.load(ProgramSpec("t", tuple(assemble(text.replace("{m0}", str(table.address)),
                                                        syntax="llvm")), prog_type=ProgType.XDP))
    assert _rcu_list(prog)[1] == 0  # nothing registered yet
    first = prog.run_batch([FRAME] * 3)
    assert _rcu_list(prog)[1] == 1  # the first update registered the map
    again = prog.run_batch([FRAME] * 50)
    assert first.retvals == [2] * 3 and again.retvals == [2] * 50
    assert len(table) == 0
