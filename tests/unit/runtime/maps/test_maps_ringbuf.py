"""Ring buffer maps: record headers, reservation limits, commit order, query."""

from __future__ import annotations

import errno
import struct

import pytest

from pybpf.errors import KernelError
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import RingbufQuery, create_map
from pybpf.runtime.maps.flags import BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT
from pybpf.runtime.maps.status import ENOTSUPP
from pybpf.runtime.memory import Memory


def make(size: int = 4096):
    mem = Memory()
    return mem, create_map(MapSpec("rb", T.RINGBUF, 0, 0, size), mem)


def test_reserve_header_and_submit() -> None:
    mem, rb = make()
    addr = rb.reserve(5)
    assert addr and (addr - 8 - rb.region.base) == 0
    length, pg_off = struct.unpack("<II", mem.read_bytes(addr - 8, 8))
    assert length == 5 | BPF_RINGBUF_BUSY_BIT and pg_off == 3
    mem.write_bytes(addr, b"hello")  # the program fills the record in place
    assert rb.consume() == []  # still reserved
    assert rb.submit(addr, 0) == 0
    assert struct.unpack("<I", mem.read_bytes(addr - 8, 4))[0] == 5
    assert rb.query(RingbufQuery.PROD_POS) == 16
    assert rb.query(RingbufQuery.AVAIL_DATA) == 16
    assert rb.consume() == [b"hello"]
    assert rb.query(RingbufQuery.CONS_POS) == 16
    assert rb.query(RingbufQuery.RING_SIZE) == 4096
    assert rb.query(RingbufQuery.AVAIL_DATA) == 0
    assert rb.query(99) == 0


def test_records_in_reservation_order_and_discard() -> None:
    mem, rb = make()
    a = rb.reserve(3)
    b = rb.reserve(4)
    c = rb.reserve(1)
    mem.write_bytes(a, b"aaa")
    mem.write_bytes(b, b"bbbb")
    mem.write_bytes(c, b"c")
    rb.submit(b)
    rb.submit(c)
    assert rb.consume() == []  # a is still busy: nothing after it is visible
    rb.discard(a)
    assert struct.unpack("<I", mem.read_bytes(a - 8, 4))[0] == 3 | BPF_RINGBUF_DISCARD_BIT
    assert rb.consume() == [b"bbbb", b"c"]


def test_reserve_limits() -> None:
    _, rb = make(4096)
    assert rb.reserve(8, flags=1) == 0
    assert rb.reserve(4096) == 0  # header + data larger than the ring
    assert rb.reserve(4096 - 8) == 0  # would leave no gap: producer at most size-1 ahead
    first = rb.reserve(4096 - 16)
    assert first
    assert rb.reserve(1) == 0  # full
    rb.submit(first)
    assert rb.reserve(1) == 0  # committed but not consumed
    assert len(rb.consume()) == 1
    assert rb.reserve(1)


def test_busy_record_holds_back_consumer_and_space() -> None:
    _, rb = make(4096)
    old = rb.reserve(8)
    for _ in range(4):
        addr = rb.reserve(1000)
        rb.submit(addr)
        rb.consume()  # stops at the busy record: the consumer cannot pass it
    assert rb.reserve(1000) == 0
    rb.submit(old)
    assert len(rb.consume()) == 5
    assert rb.reserve(1000)


def test_wraparound_record_is_contiguous() -> None:
    mem, rb = make(4096)
    for _ in range(3):
        assert rb.output(bytes(1000)) == 0
        rb.consume()
    addr = rb.reserve(1500)  # starts at 3024, wraps past 4096
    assert addr
    mem.write_bytes(addr, bytes(range(256)) * 5 + bytes(220))
    rb.submit(addr)
    assert rb.consume() == [bytes(range(256)) * 5 + bytes(220)]


def test_output_errnos() -> None:
    _, rb = make(4096)
    assert rb.output(b"x", flags=4) == -errno.EINVAL
    assert rb.output(b"x", flags=1) == 0 and rb.output(b"y", flags=2) == 0
    assert rb.output(bytes(5000)) == -errno.EAGAIN
    assert rb.consume() == [b"x", b"y"]


def test_commit_of_a_bad_pointer_is_an_error() -> None:
    _, rb = make()
    addr = rb.reserve(4)
    rb.submit(addr)
    with pytest.raises(KernelError, match="not reserved"):
        rb.submit(addr)
    with pytest.raises(KernelError, match="not a record"):
        rb.discard(12345)


def test_python_side_is_not_a_keyed_map() -> None:
    _, rb = make()
    with pytest.raises(KernelError) as info:
        rb.keys()
    assert info.value.errno == ENOTSUPP
    assert rb.update_elem(b"", b"", 0) == -ENOTSUPP
