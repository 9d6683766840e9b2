"""The host-address table follows Memory's map/unmap; special regions stay on the slow path;
maps and contexts are shared with Python and the interpreter without copies."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import pytest

from pybpf.interp import Interpreter
from pybpf.isa import Instruction as I
from pybpf.jit.regions import RegionTable
from pybpf.runtime.memory import FIRST_REGION_ID, Memory, RegionKind

EXIT = I(0x95)


def row(table: RegionTable, rid: int) -> tuple[int, int, int]:
    entry = table.rows[rid - FIRST_REGION_ID]
    return entry.host, entry.load_size, entry.store_size


def test_rows_follow_map_and_unmap() -> None:
    memory = Memory()
    before = memory.map(bytearray(16), RegionKind.MEM, "before")
    table = RegionTable.of(memory)
    assert RegionTable.of(memory) is table
    rid = before.base >> 32
    host, load_size, store_size = row(table, rid)
    assert host and (load_size, store_size) == (16, 16)
    ctypes.memmove(host, b"\x2a", 1)  # the row points at the region's own buffer
    assert before.buf[0] == 0x2A
    after = memory.map(bytearray(8), RegionKind.RODATA, "ro", writable=False)
    assert row(table, after.base >> 32)[1:] == (8, 0)
    hooked = memory.map(bytearray(8), RegionKind.CONTEXT, "ctx", on_load=lambda o, s: 7)
    assert row(table, hooked.base >> 32) == (0, 0, 0)
    memory.unmap(before)
    assert row(table, rid) == (0, 0, 0)


def test_a_mapped_buffer_cannot_be_resized_under_native_code() -> None:
    memory = Memory()
    RegionTable.of(memory)
    buf = bytearray(8)
    region = memory.map(buf, RegionKind.MEM)
    with pytest.raises(BufferError):
        buf.extend(b"more")
    buf[:] = bytes(8)  # same-size writes are fine
    memory.unmap(region)
    buf.extend(b"more")  # released on unmap


def test_read_only_buffers_use_the_slow_path(jit: Callable) -> None:
    backend = jit()
    region = backend.memory.map(memoryview(b"\x05\x00\x00\x00"), RegionKind.RODATA, "bytes",
                                writable=False)
    assert row(backend.runtime.table, region.base >> 32) == (0, 0, 0)
    program = backend.load([I.wide(1, region.base), I(0x61, 0, 1), EXIT])
    assert program.run().retval == 5


def test_shared_memory_with_the_interpreter_and_python(jit: Callable) -> None:
    backend = jit()
    interp = Interpreter(memory=backend.memory)
    buf = bytearray(8)
    region = backend.memory.map(buf, RegionKind.MAP_VALUE, "value")
    bump = [I.wide(1, region.base), I(0x79, 0, 1), I(0x07, 0, imm=1), I(0x7B, 1, 0), EXIT]
    native, reference = backend.load(bump), interp.load(bump)
    assert [native.run().retval, reference.run().retval, native.run().retval] == [1, 2, 3]
    buf[0] = 100  # a write from Python is seen by native code
    assert native.run().retval == 101 and buf[0] == 101


def test_context_hooks_run_on_native_loads_and_stores(jit: Callable) -> None:
    backend = jit()
    stored = []
    ctx = backend.memory.map(bytearray(16), RegionKind.CONTEXT, "ctx",
                             on_load=lambda off, size: 0x1000 + off,
                             on_store=lambda off, size, value: stored.append((off, size, value)))
    prog = [I(0x61, 0, 1, off=4), I(0x63, 1, 0, off=8), EXIT]
    assert backend.load(prog).run(ctx.base).retval == 0x1004
    assert stored == [(8, 4, 0x1004)]
