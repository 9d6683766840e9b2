"""The native LRU lists and LRU map operations against the pure-Python reference model.

:mod:`lru_reference` is the Python model of kernel/bpf/bpf_lru_list.c pybpf used before the
lists became native (checked against Linux 6.18 by test_maps_lru.py's differential test);
:class:`ReferenceLruMap` is the LRU map update/delete/lookup pybpf ran on it, over the
pure-Python bucket table of :mod:`pybpf.runtime.maps.htab`. Random sequences of program-side
operations (through the Python helper entry and through a JIT-compiled program) and
syscall-side ones, on several CPUs, both LRU flavours and LRU_PERCPU_HASH, with few entries
so that eviction is constant, must give the same results, and after every step the same
keys in the same order, the same record per key, the same value bytes, and the same lists
node for node (order, types, CPUs, reference bits, counts, rotation cursor, steal order).
"""

from __future__ import annotations

import errno
import functools
import random
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from lru_reference import Lru as RefLru
from lru_reference import LruNode
from maps_kernel_support import OurMap

from pybpf.asm import assemble
from pybpf.jit import JIT
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import BPF_EXIST, create_map
from pybpf.runtime.maps.codec import round_up
from pybpf.runtime.maps.flags import MapFlag as F
from pybpf.runtime.maps.hash import check_flags
from pybpf.runtime.maps.htab import HashTable
from pybpf.runtime.maps.lru_list import ListSnapshot, LocalSnapshot, LruSnapshot
from pybpf.runtime.maps.validate import lru_max_entries

M64 = (1 << 64) - 1


class ReferenceLruMap:
    """htab_lru_map_update_elem(), __htab_lru_percpu_map_update_elem(),
    htab_lru_map_delete_elem() and the lookups, as pybpf's Python LruHashMap ran them on the
    reference lists (a value slot per node, reused with the node)."""

    def __init__(self, t: int, max_entries: int, flags: int, ncpus: int, value_size: int) -> None:
        self.percpu = t == T.LRU_PERCPU_HASH
        n = lru_max_entries(max_entries, flags, ncpus)
        self.value_size = value_size
        self.elem_size = round_up(value_size, 8)
        self.slot_size = self.elem_size * (ncpus if self.percpu else 1)
        self.table: HashTable[LruNode] = HashTable(n)
        self.refs = bytearray(n)
        self.nodes = [LruNode(i, self.refs) for i in range(n)]
        self.lru = RefLru(list(self.nodes), percpu=bool(flags & F.NO_COMMON_LRU), ncpus=ncpus,
                          del_from_htab=self.table.unlink)
        self.slots = [bytearray(self.slot_size) for _ in range(n)]

    def _pop(self, key: bytes, hash_: int, cpu: int) -> LruNode | None:
        node = self.lru.pop_free(hash_, cpu)
        if node is not None:
            node.key = key
        return node

    def _write(self, node: LruNode, value: bytes, cpu: int | None) -> None:
        slot = self.slots[node.index]
        if cpu is None:
            slot[:] = value[: self.slot_size]
        else:
            start = cpu * self.elem_size
            slot[start : start + self.value_size] = value[: self.value_size]

    def update(self, key: bytes, value: bytes, flags: int, cpu: int | None, lru_cpu: int) -> int:
        """``cpu`` None: the syscall (every CPU's value of a per-CPU map) on ``lru_cpu``."""
        if flags > BPF_EXIST:
            return -errno.EINVAL
        hash_ = self.table.hash(key)
        if not self.percpu:
            node = self._pop(key, hash_, lru_cpu)
            if node is None:
                return -errno.ENOMEM
            self.slots[node.index][: self.value_size] = value[: self.value_size]
            old = self.table.find(key)
            ret = check_flags(old is not None, flags)
            if ret:
                self.lru.push_free(node)
                return ret
            if old is None:
                self.table.add_head(node)
            else:
                self.lru.set_ref(node)
                self.table.replace(old, node)
                self.lru.push_free(old)
            return 0
        new = None
        if flags != BPF_EXIST:
            new = self._pop(key, hash_, lru_cpu)
            if new is None:
                return -errno.ENOMEM
        old = self.table.find(key)
        ret = check_flags(old is not None, flags)
        if not ret:
            if old is not None:
                self.lru.set_ref(old)
                self._write(old, value, cpu)
            else:
                assert new is not None
                if cpu is not None:
                    self.slots[new.index][:] = bytes(self.slot_size)
                self._write(new, value, cpu)
                self.table.add_head(new)
                new = None
        if new is not None:
            self.lru.push_free(new)
        return ret

    def delete(self, key: bytes) -> int:
        node = self.table.find(key)
        if node is None:
            return -errno.ENOENT
        self.table.unlink(node)
        self.lru.push_free(node)
        return 0

    def lookup(self, key: bytes, *, program: bool) -> int | None:
        """The record of ``key`` (a program lookup sets its reference bit), or None."""
        node = self.table.find(key)
        if node is None:
            return None
        if program:
            self.lru.set_ref(node)
        return node.index

    def snapshot(self) -> LruSnapshot:
        lru = self.lru
        lists = lru.percpu_lru if lru.percpu else [lru.common]

        def members(head: Any) -> tuple[int, ...]:
            return tuple(node.index for node in head.forward())

        def cursor(lst: Any) -> int:
            at = lst.next_inactive_rotation
            if isinstance(at, LruNode):
                return at.index
            return -1 - next(t for t, head in enumerate(lst.lists) if head is at)

        return LruSnapshot(
            tuple(ListSnapshot(members(lst.lists[0]), members(lst.lists[1]),
                               members(lst.lists[2]), (lst.counts[0], lst.counts[1]), cursor(lst))
                  for lst in lists),
            tuple(LocalSnapshot(members(loc.free), members(loc.pending), loc.next_steal)
                  for loc in ([] if lru.percpu else lru.local)),
            tuple(node.type for node in self.nodes), tuple(node.cpu for node in self.nodes),
            tuple(self.refs))


# -- programs: the map pointer, flags, key and value come in the program's memory ------------
_LOAD = "r6 = r1\nr1 = *(u64 *)(r6 + 0)\nr2 = r6\nr2 += 16\n"
PROGRAMS = {
    "update": _LOAD + "r3 = r6\nr3 += 32\nr4 = *(u64 *)(r6 + 8)\ncall 2\nexit",
    "delete": _LOAD + "call 3\nexit",
    "lookup": _LOAD + "call 1\nexit",
}


@functools.cache
def jit_backend() -> tuple[JIT, dict[str, Any]]:
    """One JIT and its three programs for the whole module (maps are made in its memory)."""
    jit = JIT(helpers=default_helpers(), cache=False)
    progs = {name: jit.load(assemble(text, syntax="llvm")) for name, text in PROGRAMS.items()}
    return jit, progs


def signed(r0: int) -> int:
    return r0 - (1 << 64) if r0 >> 63 else r0


class Pair:
    """A native LRU map (in the module JIT's memory) and its reference, driven together."""

    def __init__(self, t: int, max_entries: int, flags: int, ncpus: int, value_size: int) -> None:
        self.jit, self.progs = jit_backend()
        self.ncpus = ncpus
        self.percpu = t == T.LRU_PERCPU_HASH
        self.m = create_map(MapSpec("lru", t, 4, value_size, max_entries, flags),
                            self.jit.memory, ncpus=ncpus)
        self.ref = ReferenceLruMap(t, max_entries, flags, ncpus, value_size)
        self.value_size = value_size
        self.buf = self.ref.slot_size if self.percpu else value_size

    def close(self) -> None:
        self.jit.state.rcu_maps.clear()
        self.m.close()

    def _run(self, name: str, key: bytes, value: bytes, flags: int, cpu: int) -> int:
        self.jit.state.cpu = cpu
        mem = (struct.pack("<QQ", self.m.address, flags) + key.ljust(16, b"\0")
               + value.ljust(96, b"\0"))
        return self.progs[name].run_mem(mem).retval

    def _address(self, index: int | None, cpu: int) -> int:
        if index is None:
            return 0
        return self.m.table.vaddr_of(index) + (cpu * self.ref.elem_size if self.percpu else 0)

    def update(self, via: str, key: bytes, value: bytes, flags: int, cpu: int) -> None:
        if via == "syscall":
            self.m.syscall_cpu = cpu
            got = OurMap(self.m).update(key, value, flags)
            want = self.ref.update(key, value, flags, None, cpu)
        else:
            value = value[: self.value_size]
            if via == "python":
                got = self.m.update_elem(key, value, flags, cpu)
            else:
                got = signed(self._run("update", key, value, flags, cpu))
            want = self.ref.update(key, value, flags, cpu, cpu)
        assert got == want, (via, key, flags, cpu)

    def delete(self, via: str, key: bytes, cpu: int) -> None:
        if via == "syscall":
            got = OurMap(self.m).delete(key)
        elif via == "python":
            got = self.m.delete_elem(key)
        else:
            got = signed(self._run("delete", key, b"", 0, cpu))
        assert got == self.ref.delete(key), (via, key)

    def lookup(self, via: str, key: bytes, cpu: int) -> None:
        if via == "syscall":
            present = not isinstance(OurMap(self.m).lookup(key), int)
            assert present == (self.ref.lookup(key, program=False) is not None)
            return
        if via == "python":
            got = self.m.lookup_elem(key, cpu)
        else:
            got = self._run("lookup", key, b"", 0, cpu)
        assert got == self._address(self.ref.lookup(key, program=True), cpu), (via, key)

    def check(self) -> None:
        """Same keys in the same order, same records and values, same lists."""
        keys = [node.key for node in self.ref.table.elements()]
        assert self.m.keys() == keys
        for node in self.ref.table.elements():
            assert self.m.table.find(node.key) == node.index
        for index, slot in enumerate(self.ref.slots):
            assert self.m.table.read_slot(index) == bytes(slot), index
        assert self.m.lru.snapshot() == self.ref.snapshot()


VIAS = st.sampled_from(["python", "jit", "syscall"])
FLAGS = st.sampled_from([0, 0, 0, 1, 2, 3, 4])


class LruNativeVersusReference(RuleBasedStateMachine):
    """One LRU map per run, its type, flavour, size and CPUs drawn at initialisation."""

    def __init__(self) -> None:
        super().__init__()
        self.pair: Pair | None = None

    @initialize(t=st.sampled_from([T.LRU_HASH, T.LRU_PERCPU_HASH]), common=st.booleans(),
                n=st.integers(1, 12), ncpus=st.integers(1, 4), value_size=st.integers(1, 12))
    def create(self, t: int, common: bool, n: int, ncpus: int, value_size: int) -> None:
        self.pair = Pair(t, n, 0 if common else F.NO_COMMON_LRU, ncpus, value_size)
        self.n = n

    def teardown(self) -> None:
        if self.pair is not None:
            self.pair.close()

    def _key(self, data: st.DataObject) -> bytes:
        return struct.pack("<I", data.draw(st.integers(0, 2 * self.n + 3)))

    def _cpu(self, data: st.DataObject) -> int:
        assert self.pair is not None
        return data.draw(st.integers(0, self.pair.ncpus - 1))

    @precondition(lambda self: self.pair is not None)
    @rule(via=VIAS, flags=FLAGS, data=st.data())
    def update(self, via: str, flags: int, data: st.DataObject) -> None:
        assert self.pair is not None
        value = data.draw(st.binary(min_size=self.pair.buf, max_size=self.pair.buf))
        self.pair.update(via, self._key(data), value, flags, self._cpu(data))

    @precondition(lambda self: self.pair is not None)
    @rule(via=VIAS, data=st.data())
    def delete(self, via: str, data: st.DataObject) -> None:
        assert self.pair is not None
        self.pair.delete(via, self._key(data), self._cpu(data))

    @precondition(lambda self: self.pair is not None)
    @rule(via=VIAS, data=st.data())
    def lookup(self, via: str, data: st.DataObject) -> None:
        assert self.pair is not None
        self.pair.lookup(via, self._key(data), self._cpu(data))

    @invariant()
    def same_state(self) -> None:
        if self.pair is not None:
            self.pair.check()


TestLruNativeVersusReference = LruNativeVersusReference.TestCase
TestLruNativeVersusReference.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("t", "flags"), [(T.LRU_HASH, 0), (T.LRU_HASH, F.NO_COMMON_LRU),
                                          (T.LRU_PERCPU_HASH, 0),
                                          (T.LRU_PERCPU_HASH, F.NO_COMMON_LRU)])
@pytest.mark.parametrize(("n", "ncpus"), [(300, 3), (520, 2)])
def test_large_maps_past_the_scan_limits(t: int, flags: int, n: int, ncpus: int) -> None:
    """Enough nodes for LOCAL_NR_SCANS (128) to cut scans short and for ``target_free``
    above 1; the state is compared every 50 steps and at the end."""
    rng = random.Random(n * 7 + int(flags) + t)
    pair = Pair(t, n, flags, ncpus, 8)
    try:
        pool = [struct.pack("<I", k) for k in range(2 * n)]
        for step in range(3000):
            key, cpu = rng.choice(pool), rng.randrange(ncpus)
            via = rng.choice(["python", "python", "jit", "syscall"])
            kind = rng.choices(["update", "lookup", "delete"], [6, 4, 1])[0]
            if kind == "update":
                pair.update(via, key, rng.randbytes(pair.buf), rng.choice([0, 0, 0, 1, 2]), cpu)
            elif kind == "lookup":
                pair.lookup(via, key, cpu)
            else:
                pair.delete(via, key, cpu)
            if step % 50 == 49:
                pair.check()
        pair.check()
    finally:
        pair.close()


def test_bad_cpu_still_raises_from_python() -> None:
    """An LRU update on a CPU the map does not have is refused natively (NOT_NATIVE) and
    raises in Python, as before."""
    pair = Pair(T.LRU_HASH, 4, 0, 2, 8)
    try:
        with pytest.raises(Exception, match="cpu 2 out of range"):
            pair.m.update_elem(b"\0\0\0\0", bytes(8), 0, 2)
        pair.m.syscall_cpu = 5
        with pytest.raises(Exception, match="cpu 5 out of range"):
            pair.m.update(0, bytes(8))
        assert len(pair.m) == 0
    finally:
        pair.close()
