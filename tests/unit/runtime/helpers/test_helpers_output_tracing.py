"""Perf event output and reads, ring buffers, tracing helpers."""

from __future__ import annotations

import errno
import struct

import pytest
from helpers_support import UDP4, interpreter, load, make_map, run

from pybpf.errors import ExecutionFault
from pybpf.platform.enums import MapType, ProgType
from pybpf.runtime.helpers import TraceCall
from pybpf.runtime.helpers.env import env_of
from pybpf.runtime.memory import RegionKind

OUTPUT = """
    r6 = r1
    r1 = 0x1122334455667788 ll
    *(u64 *)(r10 - 8) = r1
    r1 = r6
    r2 = %pe
    r3 = {flags:#x} ll
    r4 = r10
    r4 += -8
    r5 = 8
    call bpf_perf_event_output
    exit
"""


def test_perf_event_output_records_with_ctx_bytes() -> None:
    interp = interpreter()
    pe = make_map(interp, MapType.PERF_EVENT_ARRAY, 4, 4, 2, name="pe")
    pe.open(0, cpu=0)
    _, prog = load(OUTPUT.format(flags=0xFFFFFFFF | 6 << 32), ProgType.XDP, maps={"pe": pe},
                   interp=interp)
    assert prog.test_run(data=UDP4).retval == 0
    assert pe.records(0) == [struct.pack("<Q", 0x1122334455667788) + UDP4[:6]]
    for flags, err in ((1, -errno.ENOENT), (5, -errno.E2BIG), (1 << 52, -errno.EINVAL),
                       (0xFFFFFFFF | 4000 << 32, -errno.EFAULT)):
        _, p = load(OUTPUT.format(flags=flags), ProgType.XDP, maps={"pe": pe}, interp=interp)
        assert p.test_run(data=UDP4).retval == err & 0xFFFFFFFF
    interp.state.cpu = 1  # the event at index 0 counts on CPU 0
    _, p = load(OUTPUT.format(flags=0), ProgType.XDP, maps={"pe": pe}, interp=interp)
    assert p.test_run(data=UDP4).retval == -errno.EOPNOTSUPP & 0xFFFFFFFF


def test_perf_event_read_value() -> None:
    interp = interpreter()
    pe = make_map(interp, MapType.PERF_EVENT_ARRAY, 4, 4, 2, name="pe")
    event = pe.open(0, cpu=0)
    env_of(interp.state).set_perf_counter(event, 1234, 10, 9)
    text = """
    r1 = %pe
    r2 = {flags:#x} ll
    r3 = r10
    r3 += -24
    r4 = {size}
    call bpf_perf_event_read_value
    r6 = *(u64 *)(r10 - 24)
    r7 = *(u64 *)(r10 - 16)
    r8 = *(u64 *)(r10 - 8)
    r6 += r7
    r6 += r8
    r0 <<= 32
    r0 |= r6
    exit
    """
    got = run(text.format(flags=0xFFFFFFFF, size=24), maps={"pe": pe}, interp=interp)
    assert got == 1234 + 10 + 9
    got = run(text.format(flags=1, size=24), maps={"pe": pe}, interp=interp) & (2**64 - 1)
    assert got >> 32 == -errno.ENOENT & 0xFFFFFFFF and got & 0xFFFFFFFF == 0
    got = run(text.format(flags=0, size=16), maps={"pe": pe}, interp=interp) & (2**64 - 1)
    assert got >> 32 == -errno.EINVAL & 0xFFFFFFFF
    read = "r1 = %pe\nr2 = 0\ncall bpf_perf_event_read\nexit"
    assert run(read, maps={"pe": pe}, interp=interp) == 1234


def test_ringbuf_reserve_fills_the_ring_in_place() -> None:
    interp = interpreter()
    rb = make_map(interp, MapType.RINGBUF, 0, 0, 4096, name="rb")
    text = """
    r1 = %rb
    r2 = 8
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto out
    r1 = 0x6162636465666768 ll
    *(u64 *)(r0 + 0) = r1
    r1 = r0
    r2 = 0
    call bpf_ringbuf_{commit}
    r1 = %rb
    r2 = 3
    call bpf_ringbuf_query
out:
    exit
    """
    assert run(text.format(commit="submit"), maps={"rb": rb}, interp=interp) == 16
    assert run(text.format(commit="discard"), maps={"rb": rb}, interp=interp) == 32
    assert rb.consume() == [struct.pack("<Q", 0x6162636465666768)]
    with pytest.raises(ExecutionFault, match="not a reserved"):
        run("r1 = r10\nr2 = 0\ncall bpf_ringbuf_submit\nexit", maps={"rb": rb}, interp=interp)


def test_func_args_from_a_tracing_context() -> None:
    interp = interpreter()
    args = bytearray(struct.pack("<4Q", 11, 22, 33, 99))  # three arguments, then the return
    region = interp.memory.map(args, RegionKind.CONTEXT, "trampoline ctx")
    interp.state.context = TraceCall(func_ip=0xFFFFFFFF81000000, nr_args=3)
    text = """
    r6 = r1
    r1 = r6
    r2 = {n}
    r3 = r10
    r3 += -8
    *(u64 *)(r10 - 8) = -1
    call bpf_get_func_arg
    r7 = *(u32 *)(r10 - 8)
    r0 <<= 32
    r0 |= r7
    exit
    """
    assert run(text.format(n=1), region.base, interp=interp) == 22
    got = run(text.format(n=3), region.base, interp=interp) & (2**64 - 1)
    assert got == (-errno.EINVAL & 0xFFFFFFFF) << 32 | 0xFFFFFFFF  # value untouched
    ret = """
    r2 = r10
    r2 += -8
    call bpf_get_func_ret
    r0 = *(u64 *)(r10 - 8)
    exit
    """
    assert run(ret, region.base, interp=interp) == 99
    assert run("call bpf_get_func_arg_cnt\nexit", region.base, interp=interp) == 3
    assert run("call bpf_get_func_ip\nexit", region.base, interp=interp) == -0x7F000000


def test_stacks_are_not_available() -> None:
    text = """
    *(u64 *)(r10 - 16) = -1
    *(u64 *)(r10 - 8) = -1
    r2 = r10
    r2 += -16
    r3 = {size}
    r4 = {flags}
    call bpf_get_stack
    r1 = *(u64 *)(r10 - 16)
    r0 ^= r1
    exit
    """
    assert run(text.format(size=16, flags=0)) == -errno.EFAULT
    assert run(text.format(size=12, flags=0)) == -errno.EINVAL  # not a multiple of 8
    assert run(text.format(size=16, flags=1 << 11)) == -errno.EINVAL  # build id needs user
    assert run("r3 = 0\ncall bpf_get_stackid\nexit") == -errno.EFAULT
    assert run("r3 = 0x10000\ncall bpf_get_stackid\nexit") == -errno.EINVAL
