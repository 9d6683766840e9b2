"""examples/tracing: execve tracepoint counting per process and streaming ring buffer events."""

from __future__ import annotations

import struct

from example_support import example

import pybpf
from pybpf.runtime.helpers.task import Task

EVENT = struct.Struct("<IIQ16s64s")


def record(filename_ptr: int) -> bytes:
    """The sys_enter_execve tracepoint record: common header, nr 59, filename, argv, envp."""
    return struct.pack("<QiIQQQ", 0, 59, 0, filename_ptr, 0, 0)


def test_counts_and_events() -> None:
    obj = pybpf.load(example("tracing/exec_trace.o"))
    prog = obj.program("trace_execve")
    memory = prog.memory
    paths = {}
    for path in (b"/usr/bin/ls", b"/usr/bin/cat"):
        paths[path] = memory.map_user(path + b"\0", "user string").base
    runs = [(Task(pid=100, tgid=100, comm=b"bash"), b"/usr/bin/ls"),
            (Task(pid=101, tgid=100, comm=b"bash"), b"/usr/bin/cat"),
            (Task(pid=200, tgid=200, comm=b"make"), b"/usr/bin/ls")]
    for task, path in runs:
        prog.state.task = task
        assert prog.test_run(ctx=record(paths[path])).retval == 0

    counts = {struct.unpack("<I", k)[0]: struct.unpack("<Q", v)[0]
              for k, v in obj.maps["exec_count"].items()}
    assert counts == {100: 2, 200: 1}

    events = [EVENT.unpack(r) for r in obj.maps["events"].consume()]
    assert [(pid, tgid, count) for pid, tgid, count, _, _ in events] == [(100, 100, 1), (101, 100, 2), (200, 200, 1)]
    assert [comm.rstrip(b"\0") for *_, comm, _ in events] == [b"bash", b"bash", b"make"]
    assert [name.rstrip(b"\0") for *_, name in events] == [b"/usr/bin/ls", b"/usr/bin/cat", b"/usr/bin/ls"]


def test_unreadable_filename_gives_an_empty_string_not_a_crash() -> None:
    obj = pybpf.load(example("tracing/exec_trace.o"))
    prog = obj.program("trace_execve")
    prog.state.task = Task(pid=7, tgid=7, comm=b"x")
    assert prog.test_run(ctx=record(0xDEAD0000)).retval == 0
    (event,) = [EVENT.unpack(r) for r in obj.maps["events"].consume()]
    assert event[4] == bytes(64)
