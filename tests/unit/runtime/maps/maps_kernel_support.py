"""Run the same map operations on a pybpf map and on a real kernel map, errno for errno.

Both adapters expose one operation style: ``update(key, value, flags) -> 0 | -errno``,
``lookup(key) -> bytes | -errno`` (``-ENOENT`` when absent), ``delete(key) -> 0 | -errno``,
``next_key(key | None) -> bytes | -errno``, ``push``/``pop``/``peek`` for queues. The kernel side
talks bpf(2) through pybpf.kernel.sys's attribute structures directly so that keyless maps get
a NULL key, as the kernel requires for queues and stacks.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from collections.abc import Iterator

import pytest

from pybpf.errors import KernelError
from pybpf.kernel.sys import BpfCmd, bpf_available, map_create, possible_cpus
from pybpf.kernel.sys.attr import BpfMapElemAttr
from pybpf.kernel.sys.syscall import bpf
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import create_map
from pybpf.runtime.maps.base import MapBase
from pybpf.runtime.memory import Memory

AVAILABLE, REASON = bpf_available()
needs_kernel = pytest.mark.skipif(not AVAILABLE, reason=f"bpf() unusable: {REASON}")
NCPUS = possible_cpus() if AVAILABLE else (os.cpu_count() or 1)

_PERCPU = {5, 6, 10}


def kernel_create(spec: MapSpec) -> tuple[int, KernelMap | None]:
    """Create ``spec`` in the kernel: ``(0, map)`` or ``(errno, None)``."""
    inner = None
    try:
        if spec.inner_map is not None:
            err, inner = kernel_create(spec.inner_map)
            if inner is None:
                return err, None
        fd = map_create(spec.map_type, spec.key_size, spec.value_size, spec.max_entries,
                        spec.flags, inner_map_fd=inner.fd.fileno() if inner else 0,
                        numa_node=spec.numa_node, map_extra=spec.map_extra)
    except KernelError as exc:
        return exc.errno, None
    finally:
        if inner is not None:
            inner.close()
    return 0, KernelMap(fd, spec)


def ours_create(spec: MapSpec, memory: Memory | None = None) -> tuple[int, MapBase | None]:
    try:
        return 0, create_map(spec, memory or Memory(), ncpus=NCPUS)
    except KernelError as exc:
        return exc.errno, None


class KernelMap:
    """A kernel map driven with raw ``BPF_MAP_*_ELEM`` commands."""

    def __init__(self, fd, spec: MapSpec) -> None:  # type: ignore[no-untyped-def]
        self.fd = fd
        self.spec = spec
        slot = (spec.value_size + 7) // 8 * 8
        self.value_buf = slot * NCPUS if spec.map_type in _PERCPU else spec.value_size

    def close(self) -> None:
        self.fd.close()

    def _op(self, cmd: BpfCmd, key: bytes | None, value: bytes | None = None, out: int = 0,
            flags: int = 0, next_key: bool = False) -> tuple[int, bytes]:
        kb = ctypes.create_string_buffer(key, max(len(key), 1)) if key is not None else None
        if value is not None:
            vb = ctypes.create_string_buffer(value, max(len(value), 1))
        else:
            vb = ctypes.create_string_buffer(max(out, 1))
        attr = BpfMapElemAttr(map_fd=self.fd.fileno(),
                              key=ctypes.addressof(kb) if kb is not None else 0, flags=flags)
        if next_key:
            attr.next_key = ctypes.addressof(vb)
        elif cmd != BpfCmd.MAP_DELETE_ELEM:  # CHECK_ATTR: fields past ``key`` must be zero
            attr.value = ctypes.addressof(vb)
        try:
            bpf(cmd, attr)
        except KernelError as exc:
            return -exc.errno, b""
        return 0, vb.raw[:out]

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        return self._op(BpfCmd.MAP_UPDATE_ELEM, key, value, flags=flags)[0]

    def lookup(self, key: bytes) -> bytes | list[bytes] | int:
        """The value; per-CPU maps: one ``value_size`` slice per CPU (padding dropped)."""
        ret, data = self._op(BpfCmd.MAP_LOOKUP_ELEM, key, out=self.value_buf)
        if ret:
            return ret
        if self.spec.map_type in _PERCPU:
            slot = (self.spec.value_size + 7) // 8 * 8
            return [data[c * slot : c * slot + self.spec.value_size] for c in range(NCPUS)]
        return data

    def delete(self, key: bytes) -> int:
        return self._op(BpfCmd.MAP_DELETE_ELEM, key)[0]

    def next_key(self, key: bytes | None) -> bytes | int:
        ret, data = self._op(BpfCmd.MAP_GET_NEXT_KEY, key, out=self.spec.key_size, next_key=True)
        return ret or data

    def push(self, value: bytes, flags: int = 0) -> int:
        return self._op(BpfCmd.MAP_UPDATE_ELEM, None, value, flags=flags)[0]

    def peek(self) -> bytes | int:
        ret, data = self._op(BpfCmd.MAP_LOOKUP_ELEM, None, out=self.spec.value_size)
        return ret or data

    def pop(self) -> bytes | int:
        ret, data = self._op(BpfCmd.MAP_LOOKUP_AND_DELETE_ELEM, None, out=self.spec.value_size)
        return ret or data

    def all_keys(self) -> list[bytes]:
        keys, key = [], None
        while True:
            nxt = self.next_key(key)
            if isinstance(nxt, int):
                return keys
            keys.append(nxt)
            key = nxt


class OurMap:
    """The same operations through the Python API of a pybpf map (errors become -errno)."""

    def __init__(self, m: MapBase) -> None:
        self.m = m

    @staticmethod
    def _call(fn, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(*args)
        except KernelError as exc:
            return -exc.errno

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        ret = self._call(self.m.update, key, value, flags)
        return 0 if ret is None else ret

    def lookup(self, key: bytes) -> bytes | list[bytes] | int:
        ret = self._call(self.m.lookup, key)
        return -errno.ENOENT if ret is None else ret

    def delete(self, key: bytes) -> int:
        ret = self._call(self.m.delete, key)
        if ret is True:
            return 0
        return -errno.ENOENT if ret is False else ret

    def next_key(self, key: bytes | None) -> bytes | int:
        ret = self._call(self.m.get_next_key, key)
        return -errno.ENOENT if ret is None else ret

    def push(self, value: bytes, flags: int = 0) -> int:
        ret = self._call(self.m.push, value, flags)
        return 0 if ret is None else ret

    def peek(self) -> bytes | int:
        ret = self._call(self.m.peek)
        return -errno.ENOENT if ret is None else ret

    def pop(self) -> bytes | int:
        ret = self._call(self.m.pop)
        return -errno.ENOENT if ret is None else ret

    def all_keys(self) -> list[bytes]:
        keys, key = [], None
        while True:
            nxt = self.next_key(key)
            if isinstance(nxt, int):
                return keys
            keys.append(nxt)
            key = nxt


@contextlib.contextmanager
def pair(spec: MapSpec) -> Iterator[tuple[OurMap, KernelMap]]:
    """The same map in pybpf and in the kernel (both must accept ``spec``)."""
    err, theirs = kernel_create(spec)
    assert theirs is not None, f"kernel refused {spec}: errno {err}"
    _, ours = ours_create(spec)
    assert ours is not None
    try:
        yield OurMap(ours), theirs
    finally:
        theirs.close()
        ours.close()


@contextlib.contextmanager
def pinned_to_cpu(cpu: int = 0) -> Iterator[None]:
    """Run on one CPU, so the kernel's per-CPU LRU lists are those of ``cpu``."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    import struct

    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


class ProgramLookup:
    """Look keys up in a kernel map from a PROGRAM (so LRU maps set reference bits).

    One tiny XDP program per u32 key: ``*(u32 *)(r10 - 4) = key; bpf_map_lookup_elem(map,
    r10 - 4); return 0``, run once with BPF_PROG_TEST_RUN on the current CPU.
    """

    def __init__(self, kmap: KernelMap) -> None:
        self.kmap = kmap
        self.progs: dict[int, object] = {}

    def __call__(self, key: int) -> None:
        from pybpf.kernel.sys import ProgType, prog_load, prog_test_run

        prog = self.progs.get(key)
        if prog is None:
            code = b"".join([
                _insn(0x62, dst=10, off=-4, imm=key - (1 << 32) if key >= 1 << 31 else key),
                _insn(0xBF, dst=2, src=10),
                _insn(0x07, dst=2, imm=-4),
                _insn(0x18, dst=1, src=1, imm=self.kmap.fd.fileno()),
                _insn(0x00),
                _insn(0x85, imm=1),
                _insn(0xB7, dst=0, imm=2),
                _insn(0x95),
            ])
            prog = self.progs[key] = prog_load(ProgType.XDP, code)
        prog_test_run(prog, data=bytes(64))  # type: ignore[arg-type]

    def close(self) -> None:
        for prog in self.progs.values():
            prog.close()  # type: ignore[attr-defined]
