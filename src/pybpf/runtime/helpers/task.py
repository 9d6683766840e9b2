"""The current task: pid/tgid, uid/gid, comm, task pointer, cgroup, CPU; signals to it.

Mirrors kernel/bpf/helpers.c (``bpf_get_current_pid_tgid()`` returns ``tgid << 32 | pid``,
``bpf_get_current_uid_gid()`` ``gid << 32 | uid`` of the real credentials in the initial user
namespace, ``bpf_get_current_comm()`` is ``strscpy_pad()`` of ``task->comm``,
``bpf_get_current_cgroup_id()`` the default-hierarchy cgroup's kernfs id) and
kernel/trace/bpf_trace.c (``bpf_get_current_task()``, ``bpf_send_signal()``).

:class:`Task` models ``current``. The default (:meth:`Task.from_host`, installed by
:func:`task_of`) is the calling thread of the Python process, so a program sees what it
would see under ``BPF_PROG_TEST_RUN`` from that thread. ``address`` stands for the
``task_struct`` pointer: a kernel-looking address with nothing mapped behind it.
Signals are recorded in :attr:`Task.signals`, never delivered.
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass, field

from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import s32, u32

__all__ = [
    "Task",
    "bpf_get_current_ancestor_cgroup_id",
    "bpf_get_current_cgroup_id",
    "bpf_get_current_comm",
    "bpf_get_current_pid_tgid",
    "bpf_get_current_task",
    "bpf_get_current_uid_gid",
    "bpf_get_numa_node_id",
    "bpf_get_smp_processor_id",
    "bpf_send_signal",
    "bpf_send_signal_thread",
    "task_of",
]

TASK_COMM_LEN = 16
#: Where the modelled ``task_struct`` "lives" (a vmalloc-range address, outside every region).
DEFAULT_TASK_ADDRESS = 0xFFFFC90000A00000
_NSIG = 64


def _thread_comm() -> bytes:
    for path in (f"/proc/self/task/{threading.get_native_id()}/comm", "/proc/self/comm"):
        try:
            with open(path, "rb") as f:
                return f.read().rstrip(b"\n")[: TASK_COMM_LEN - 1]
        except OSError:
            continue
    return b"python3"


def _cgroup2_ancestry() -> tuple[int, ...]:
    """Kernfs ids of the calling process's cgroup v2 and its ancestors, root first."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            path = next((ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")), None)
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            root = next(ln.split()[4] for ln in f if ln.partition(" - ")[2].startswith("cgroup2 "))
    except (OSError, StopIteration):
        return ()
    if path is None:
        return ()
    ids = []
    parts = [p for p in path.split("/") if p]
    for depth in range(len(parts) + 1):
        try:
            ids.append(os.stat(os.path.join(root, *parts[:depth])).st_ino)
        except OSError:
            return tuple(ids)
    return tuple(ids)


@dataclass(slots=True)
class Task:
    """``current``: identity, credentials, cgroup and the signals programs sent it."""

    pid: int
    tgid: int
    uid: int = 0
    gid: int = 0
    comm: bytes = b""
    address: int = DEFAULT_TASK_ADDRESS
    #: NUMA node of the CPU the task runs on (bpf_get_numa_node_id()).
    numa_node: int = 0
    #: Kernfs ids of its cgroup v2 and the ancestors, root (level 0) first.
    cgroup_ancestry: tuple[int, ...] = ()
    #: ``task_cls_state(current)->classid`` (net_cls cgroup v1), for get_cgroup_classid().
    classid: int = 0
    kthread: bool = False
    exiting: bool = False
    #: Signals sent by bpf_send_signal() (``"tgid"``) or bpf_send_signal_thread() (``"pid"``).
    signals: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def from_host(cls) -> Task:
        """The calling thread of this process, as the kernel would see it."""
        return cls(
            pid=threading.get_native_id(),
            tgid=os.getpid(),
            uid=os.getuid(),
            gid=os.getgid(),
            comm=_thread_comm(),
            cgroup_ancestry=_cgroup2_ancestry(),
        )

    @property
    def cgroup_id(self) -> int:
        return self.cgroup_ancestry[-1] if self.cgroup_ancestry else 0


def task_of(state: ExecState) -> Task:
    """``state.task``, installing :meth:`Task.from_host` on first use."""
    task = state.task
    if task is None:
        task = state.task = Task.from_host()
    return task


def bpf_get_smp_processor_id(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                             r5: int) -> int:
    """bpf_get_smp_processor_id(): the CPU of the run (``state.cpu``)."""
    return state.cpu


def bpf_get_numa_node_id(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_numa_node_id(): ``numa_node_id()``."""
    return task_of(state).numa_node


def bpf_get_current_pid_tgid(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                             r5: int) -> int:
    """bpf_get_current_pid_tgid(): ``(u64)tgid << 32 | pid``."""
    task = task_of(state)
    return (u32(task.tgid) << 32) | u32(task.pid)


def bpf_get_current_uid_gid(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                            r5: int) -> int:
    """bpf_get_current_uid_gid(): ``(u64)gid << 32 | uid``."""
    task = task_of(state)
    return (u32(task.gid) << 32) | u32(task.uid)


def bpf_get_current_comm(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_current_comm(buf, size): ``strscpy_pad(buf, task->comm, size)``; returns 0."""
    size = u32(r2)
    comm = task_of(state).comm[: TASK_COMM_LEN - 1]
    text = comm[: size - 1] if size else b""
    state.memory.write_bytes(r1, text + bytes(size - len(text)), state.pc)
    return 0


def bpf_get_current_task(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_current_task() / bpf_get_current_task_btf(): the ``task_struct`` pointer."""
    return task_of(state).address


def bpf_get_current_cgroup_id(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                              r5: int) -> int:
    """bpf_get_current_cgroup_id(): ``cgroup_id(task_dfl_cgroup(current))``."""
    return task_of(state).cgroup_id


def bpf_get_current_ancestor_cgroup_id(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                                       r5: int) -> int:
    """bpf_get_current_ancestor_cgroup_id(level): the ancestor at ``level`` (root is 0), or 0."""
    level = s32(r1)
    ancestry = task_of(state).cgroup_ancestry
    return ancestry[level] if 0 <= level < len(ancestry) else 0


def _send_signal(state: ExecState, sig: int, scope: str) -> int:
    """``bpf_send_signal_common()`` from a preemptible context (test runs)."""
    task = task_of(state)
    if task.kthread or task.exiting:
        return -errno.EPERM
    if task.tgid == 1:  # is_global_init()
        return -errno.EPERM
    if not 0 <= sig <= _NSIG:  # group_send_sig_info() -> check_kill_permission(): valid_signal()
        return -errno.EINVAL
    task.signals.append((sig, scope))
    return 0


def bpf_send_signal(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_send_signal(sig): to the whole thread group of ``current`` (recorded)."""
    return _send_signal(state, u32(r1), "tgid")


def bpf_send_signal_thread(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                           r5: int) -> int:
    """bpf_send_signal_thread(sig): to the current thread only (recorded)."""
    return _send_signal(state, u32(r1), "pid")
