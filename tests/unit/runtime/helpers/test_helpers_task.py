"""The current task: pid/tgid, uid/gid, comm, cgroup, CPU and signals."""

from __future__ import annotations

import errno
import os
import threading

from helpers_support import load, run

from pybpf.runtime.helpers import Task

COMM = """
    r6 = r1
    *(u64 *)(r10 - 16) = -1
    *(u64 *)(r10 - 8) = -1
    r1 = r10
    r1 += -16
    r2 = {size}
    call bpf_get_current_comm
    r7 = r0
    r0 = *(u64 *)(r10 - 16)
    exit
"""


def test_default_task_is_the_calling_thread() -> None:
    pid_tgid = run("call bpf_get_current_pid_tgid\nexit")
    assert pid_tgid == os.getpid() << 32 | threading.get_native_id()
    assert run("call bpf_get_current_uid_gid\nexit") == os.getgid() << 32 | os.getuid()


def test_modelled_task() -> None:
    interp, prog = load("call bpf_get_current_pid_tgid\nexit")
    interp.state.task = Task(pid=7, tgid=5, uid=1000, gid=100, comm=b"worker",
                             cgroup_ancestry=(1, 50, 99))
    assert prog.run().retval == 5 << 32 | 7
    _, cg = load("call bpf_get_current_cgroup_id\nexit", interp=interp)
    assert cg.run().retval == 99
    _, anc = load("call bpf_get_current_ancestor_cgroup_id\nexit", interp=interp)
    assert [anc.run(level).retval for level in (0, 1, 2, 3)] == [1, 50, 99, 0]
    _, task = load("call bpf_get_current_task\nexit", interp=interp)
    assert task.run().retval == interp.state.task.address


def test_comm_is_strscpy_padded() -> None:
    interp, prog = load(COMM.format(size=16))
    interp.state.task = Task(pid=1, tgid=1, comm=b"abcdef")
    assert prog.run().retval == int.from_bytes(b"abcdef\0\0", "little")
    interp, prog = load(COMM.format(size=4))
    interp.state.task = Task(pid=1, tgid=1, comm=b"abcdef")
    # three characters and the NUL; the rest of the stack is untouched
    assert prog.run().retval == int.from_bytes(b"abc\0" + b"\xff" * 4, "little")


def test_smp_processor_and_numa_node() -> None:
    interp, prog = load("call bpf_get_smp_processor_id\nexit")
    interp.state.cpu = 3
    assert prog.run().retval == 3
    interp, prog = load("call bpf_get_numa_node_id\nexit")
    interp.state.task = Task(pid=1, tgid=1, numa_node=2)
    assert prog.run().retval == 2


def test_send_signal_is_recorded_not_delivered() -> None:
    interp, prog = load("call bpf_send_signal\nexit")
    task = interp.state.task = Task(pid=10, tgid=10)
    assert prog.run(10).retval == 0
    assert prog.run(65).retval == (-errno.EINVAL) & (2**64 - 1)
    _, thread = load("call bpf_send_signal_thread\nexit", interp=interp)
    assert thread.run(0).retval == 0
    assert task.signals == [(10, "tgid"), (0, "pid")]
    interp.state.task = Task(pid=1, tgid=1)  # init cannot be signalled
    assert prog.run(9).retval == (-errno.EPERM) & (2**64 - 1)
