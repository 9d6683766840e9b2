"""Prog arrays and perf event arrays: stored Python objects, tail-call targets, output records."""

from __future__ import annotations

import errno
import struct

import pytest

from pybpf.errors import KernelError
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import BPF_F_CURRENT_CPU, BPF_NOEXIST, create_map
from pybpf.runtime.maps.flags import BPF_F_CTXLEN_MASK
from pybpf.runtime.maps.perf import PerfEventBuffer
from pybpf.runtime.maps.status import ENOTSUPP
from pybpf.runtime.memory import Memory

u32 = struct.Struct("<I").pack


def test_prog_array_holds_objects_for_tail_calls() -> None:
    m = create_map(MapSpec("jmp", T.PROG_ARRAY, 4, 4, 4), Memory())
    prog = object()
    m[2] = prog
    assert m.get(2) is prog and m.get(1) is None and m.get(99) is None
    assert m[2] is prog and m.keys() == [u32(2)] and len(m) == 1
    assert m.lookup(1) is None
    assert m.lookup_elem(u32(2)) == 0  # programs cannot look prog arrays up
    with pytest.raises(KernelError) as info:
        m.update(1, prog, BPF_NOEXIST)
    assert info.value.errno == errno.EINVAL
    with pytest.raises(KernelError) as info:
        m[4] = prog
    assert info.value.errno == errno.E2BIG
    assert m.delete_elem(u32(1)) == -errno.ENOENT
    assert m.delete_elem(u32(4)) == -errno.E2BIG
    del m[2]
    assert m.get(2) is None
    assert m.get_next_key(None) == u32(0) and m.get_next_key(u32(3)) is None


def test_perf_event_output() -> None:
    m = create_map(MapSpec("events", T.PERF_EVENT_ARRAY, 4, 4, 4), Memory(), ncpus=2)
    assert m.output(b"x", BPF_F_CURRENT_CPU, cpu=0) == -errno.ENOENT
    m.open_all()
    assert m.output(b"abc", BPF_F_CURRENT_CPU, cpu=1) == 0
    assert m.output(b"def", 0, cpu=0, ctx_data=b"PKT") == 0
    assert m.records(1) == [b"abc"] and m.records(0) == [b"defPKT"]
    assert m.output(b"x", 1, cpu=0) == -errno.EOPNOTSUPP  # event of CPU 1, running on 0
    assert m.output(b"x", 7, cpu=0) == -errno.E2BIG
    assert m.output(b"x", 3, cpu=3) == -errno.ENOENT
    assert m.output(b"x", BPF_F_CTXLEN_MASK | 0, cpu=0) == -errno.EINVAL
    ev = m.open(3, cpu=0)
    assert m.output(b"y", 3, cpu=0) == 0 and ev.records == [b"y"]
    assert isinstance(m[3], PerfEventBuffer) and len(m) == 3
    with pytest.raises(KernelError) as info:
        m[2] = "not an event"
    assert info.value.errno == errno.EINVAL
    assert m.delete_elem(u32(2)) == -errno.ENOENT and m.delete_elem(u32(3)) == 0
    assert m.delete_elem(u32(9)) == -errno.E2BIG
    assert m._sys_update(u32(0), ev, 1) == -errno.EINVAL
    with pytest.raises(KernelError) as info:
        m._sys_lookup(u32(0))
    assert info.value.errno == ENOTSUPP
