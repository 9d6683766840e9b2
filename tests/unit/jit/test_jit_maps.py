"""Map helpers in native code (inline array lookups, the native library for hashes) against
the interpreter: the same r0 (value addresses included: both backends lay memory out the
same way), the same memory, the same map contents afterwards, the same errnos and faults.

Each program works on a map created the same way on both backends; ``{m}`` in its text is
the map pointer. The input buffer (r1) carries keys and values."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest
from test_jit_helpers import python_calls

from pybpf.asm import assemble
from pybpf.errors import PybpfError
from pybpf.interp import Interpreter
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, create_map
from pybpf.runtime.maps.flags import MapFlag

NCPUS = 2
ALL_TYPES = [T.ARRAY, T.PERCPU_ARRAY, T.HASH, T.PERCPU_HASH, T.LRU_HASH, T.LRU_PERCPU_HASH]
HASHES = [T.HASH, T.PERCPU_HASH, T.LRU_HASH, T.LRU_PERCPU_HASH]


def contents(m: Any) -> list[tuple[bytes, Any]]:
    return sorted(m.items())


def outcome(backend: Any, spec: MapSpec, text: str, mem: bytes, *, cpu: int = 0,
            fill: Callable[[Any], None] | None = None, runs: int = 1) -> tuple[Any, ...]:
    m = create_map(spec, backend.memory, ncpus=NCPUS)
    if fill is not None:
        fill(m)
    backend.state.cpu = cpu
    prog = backend.load(assemble(text.replace("{m}", str(m.address)), syntax="llvm"))
    results: list[Any] = []
    for _ in range(runs):
        try:
            r = prog.run_mem(mem)
            results.append(("ok", r.retval, r.instructions, r.memory))
        except PybpfError as exc:
            results.append(("error", type(exc).__name__, str(exc), getattr(exc, "pc", None)))
    return tuple(results), contents(m), list(m.keys())


def same(jit: Callable[..., Any], spec: MapSpec, text: str, mem: bytes = bytes(64),
         **kw: Any) -> tuple[Any, ...]:
    expected = outcome(Interpreter(helpers=default_helpers()), spec, text, mem, **kw)
    got = outcome(jit(helpers=default_helpers()), spec, text, mem, **kw)
    assert got == expected
    return got


def spec_of(t: int, n: int = 4, key_size: int = 4, value_size: int = 8) -> MapSpec:
    return MapSpec("m", t, key_size, value_size, n)


LOOKUP_AND_BUMP = """
    r6 = r1
    r2 = r1
    r1 = {m} ll
    call 1
    if r0 == 0 goto miss
    r1 = *(u64 *)(r0 + 0)
    r1 += 7
    *(u64 *)(r0 + 0) = r1
    *(u64 *)(r6 + 8) = r0
    exit
miss:
    r0 = 12345
    exit
"""


@pytest.mark.parametrize("t", ALL_TYPES)
@pytest.mark.parametrize("index", [0, 3, 4, 0xFFFFFFFF])
def test_lookup_hit_miss_and_write_through_the_pointer(jit: Callable, t: int, index: int) -> None:
    def fill(m: Any) -> None:
        if t in HASHES:
            m[0] = 10
            m[3] = 13

    mem = struct.pack("<I", index).ljust(64, b"\0")
    same(jit, spec_of(t), LOOKUP_AND_BUMP, mem, fill=fill, runs=2)
    same(jit, spec_of(t), LOOKUP_AND_BUMP, mem, fill=fill, cpu=1)


UPDATE = """
    r6 = r1
    r2 = r1
    r3 = r1
    r3 += 8
    r4 = *(u64 *)(r6 + 16)
    r1 = {m} ll
    call 2
    exit
"""


@pytest.mark.parametrize("t", ALL_TYPES)
@pytest.mark.parametrize("flags", [BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3, 4])
@pytest.mark.parametrize("index", [1, 2, 9])
def test_update_flags_and_errnos(jit: Callable, t: int, flags: int, index: int) -> None:
    def fill(m: Any) -> None:
        if t in HASHES:
            m[1] = 11

    mem = struct.pack("<IIQQ", index, 0, 0x1122334455667788, flags).ljust(64, b"\0")
    same(jit, spec_of(t), UPDATE, mem, fill=fill)
    same(jit, spec_of(t), UPDATE, mem, fill=fill, cpu=1)


@pytest.mark.parametrize("t", HASHES)
def test_full_map_and_replacing_when_full(jit: Callable, t: int) -> None:
    def fill(m: Any) -> None:
        for i in range(4):
            m[i] = i

    for index in (7, 2):
        mem = struct.pack("<IIQQ", index, 0, 99, BPF_ANY).ljust(64, b"\0")
        outcome_ = same(jit, spec_of(t), UPDATE, mem, fill=fill)
        if t in (T.HASH, T.PERCPU_HASH):  # LRU maps evict instead of failing
            assert outcome_[0][0][1] == (-7 & (2**64 - 1) if index == 7 else 0)


DELETE = """
    r2 = r1
    r1 = {m} ll
    call 3
    exit
"""

#: 64 new keys into an 8-entry LRU map (evicting), with BPF_NOEXIST on every odd key and a
#: delete of every fourth key just inserted; then a delete of a missing key (ENOENT) and an
#: update of that same missing key with BPF_EXIST (ENOENT). r0: 64 + 2 * -ENOENT, or the
#: first unexpected errno.
LRU_CHURN = """
    r6 = 0
loop:
    *(u32 *)(r10 - 8) = r6
    *(u64 *)(r10 - 16) = r6
    r1 = {m} ll
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = r6
    r4 &= 1
    call 2
    if r0 != 0 goto out
    r7 = r6
    r7 &= 3
    if r7 != 3 goto next
    r1 = {m} ll
    r2 = r10
    r2 += -8
    call 3
    if r0 != 0 goto out
next:
    r6 += 1
    if r6 < 64 goto loop
    *(u32 *)(r10 - 8) = r6
    r1 = {m} ll
    r2 = r10
    r2 += -8
    call 3
    r6 += r0
    r1 = {m} ll
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r4 = 2
    call 2
    r0 += r6
out:
    exit
"""


@pytest.mark.parametrize(("t", "flags"), [(T.LRU_HASH, 0), (T.LRU_HASH, MapFlag.NO_COMMON_LRU),
                                          (T.LRU_PERCPU_HASH, 0),
                                          (T.LRU_PERCPU_HASH, MapFlag.NO_COMMON_LRU)])
@pytest.mark.parametrize("cpu", [0, 1])
def test_lru_updates_and_deletes_make_no_python_call(jit: Callable, monkeypatch: Any, t: int,
                                                     flags: int, cpu: int) -> None:
    seen = python_calls(monkeypatch)
    got = same(jit, MapSpec("m", t, 4, 8, 8, flags), LRU_CHURN, cpu=cpu, runs=2)
    assert seen == []
    assert [run[1] for run in got[0]] == [64 - 4, 64 - 4]  # -ENOENT twice, nothing else
    # what pybpf's Python lists left: a per-CPU list (4 nodes here) shrinks by
    # PERCPU_FREE_TARGET (4) nodes at once
    survivors = sorted(struct.unpack("<I", key)[0] for key in got[2])
    assert survivors == ([] if flags else [56, 57, 58, 60, 61, 62])


@pytest.mark.parametrize("t", ALL_TYPES)
@pytest.mark.parametrize("index", [1, 2])
def test_delete_present_missing_and_array(jit: Callable, t: int, index: int) -> None:
    def fill(m: Any) -> None:
        if t in HASHES:
            m[1] = 11
            m[5] = 15

    same(jit, spec_of(t), DELETE, struct.pack("<I", index).ljust(64, b"\0"), fill=fill, runs=2)


REPLACE_KEEPS_OLD_VALUE = """
    r6 = r1
    r2 = r1
    r1 = {m} ll
    call 1
    r7 = r0
    r2 = r6
    r3 = r6
    r3 += 8
    r4 = 0
    r1 = {m} ll
    call 2
    r2 = r6
    r1 = {m} ll
    call 1
    *(u64 *)(r6 + 16) = r0
    r0 = *(u64 *)(r7 + 0)
    exit
"""


def test_a_replaced_value_keeps_its_old_contents_until_the_run_ends(jit: Callable) -> None:
    def fill(m: Any) -> None:
        m[1] = 41

    mem = struct.pack("<IIQ", 1, 0, 42).ljust(64, b"\0")
    results, items, _ = same(jit, spec_of(T.HASH), REPLACE_KEEPS_OLD_VALUE, mem, fill=fill, runs=3)
    assert [r[1] for r in results] == [41, 42, 42]
    assert items == [(struct.pack("<I", 1), struct.pack("<Q", 42))]


def test_many_updates_and_deletes_reuse_slots_like_the_interpreter(jit: Callable) -> None:
    text = """
        r6 = r1
        r8 = 0
    loop:
        *(u32 *)(r10 - 4) = r8
        *(u64 *)(r10 - 16) = r8
        r2 = r10
        r2 += -4
        r3 = r10
        r3 += -16
        r4 = 0
        r1 = {m} ll
        call 2
        r9 = r8
        r9 &= 1
        if r9 == 0 goto keep
        r2 = r10
        r2 += -4
        r1 = {m} ll
        call 3
    keep:
        r8 += 1
        if r8 < 40 goto loop
        r2 = r10
        r2 += -4
        r1 = {m} ll
        call 1
        exit
    """
    same(jit, spec_of(T.HASH, n=64), text, runs=3)
    same(jit, spec_of(T.PERCPU_HASH, n=64), text, runs=2, cpu=1)
    same(jit, spec_of(T.LRU_HASH, n=16), text, runs=2)


@pytest.mark.parametrize("key_size", [1, 2, 3, 4, 8, 12, 13, 16, 24])
def test_odd_key_sizes(jit: Callable, key_size: int) -> None:
    def fill(m: Any) -> None:
        m[bytes(range(key_size))] = 5

    for key in (bytes(range(key_size)), bytes(key_size)):
        mem = key.ljust(64, b"\0")
        same(jit, spec_of(T.HASH, key_size=key_size), LOOKUP_AND_BUMP, mem, fill=fill)
        same(jit, spec_of(T.HASH, key_size=key_size), DELETE, mem, fill=fill)


def test_unreadable_key_faults_as_in_the_interpreter(jit: Callable) -> None:
    text = """
        r2 = r1
        r2 += 62
        r1 = {m} ll
        call 1
        exit
    """
    for t in (T.ARRAY, T.HASH):
        results = same(jit, spec_of(t), text)[0]
        assert results[0][0] == "error" and results[0][1] == "ExecutionFault"


def test_not_a_map_pointer_faults_as_in_the_interpreter(jit: Callable) -> None:
    text = """
        r2 = r1
        r1 = {m} ll
        r1 += 8
        call 1
        exit
    """
    results = same(jit, spec_of(T.HASH), text)[0]
    assert results[0][0] == "error" and "not a map pointer" in results[0][2]


@pytest.mark.parametrize("outer_type", [T.ARRAY_OF_MAPS, T.HASH_OF_MAPS])
def test_map_in_map_lookups_are_native(jit: Callable, monkeypatch: Any, outer_type: int) -> None:
    """The outer lookup returns the inner map's pointer, the inner lookup uses it: natively
    both (no Python call), with the interpreter's results, for present and missing keys."""
    def run(backend: Any, key: int) -> tuple[Any, ...]:
        inner = create_map(MapSpec("inner", T.HASH, 4, 8, 4), backend.memory, ncpus=NCPUS)
        inner[3] = 33
        other = create_map(MapSpec("inner", T.HASH, 4, 8, 4), backend.memory, ncpus=NCPUS)
        other[3] = 44
        outer = create_map(MapSpec("outer", outer_type, 4, 4, 4,
                                   inner_map=MapSpec("inner", T.HASH, 4, 8, 4)),
                           backend.memory, ncpus=NCPUS)
        for k, m in ((1, inner), (2, other), (0, inner)):
            outer[k] = m
        del outer[0]
        text = f"""
            r6 = r1
            r2 = r1
            r1 = {outer.address} ll
            call 1
            if r0 == 0 goto out
            r1 = r0
            r2 = r6
            r2 += 4
            call 1
            if r0 == 0 goto out
            r0 = *(u64 *)(r0 + 0)
        out:
            exit
        """
        prog = backend.load(assemble(text, syntax="llvm"))
        return prog.run_mem(struct.pack("<II", key, 3).ljust(16, b"\0")).retval

    for key in (0, 1, 2, 3, 7):
        expected = run(Interpreter(helpers=default_helpers()), key)
        seen = python_calls(monkeypatch)
        assert run(jit(helpers=default_helpers()), key) == expected
        assert seen == []
        assert expected == {1: 33, 2: 44}.get(key, 0)


def test_custom_map_helpers_are_always_called(jit: Callable) -> None:
    calls = []

    def mine(state: Any, *regs: int) -> int:
        calls.append(regs[0])
        return 5

    backend = jit(helpers={**default_helpers(), 1: mine})
    m = create_map(spec_of(T.ARRAY), backend.memory, ncpus=NCPUS)
    prog = backend.load(assemble(f"r2 = r10\n r2 += -4\n *(u32 *)(r10 - 4) = 0\n"
                                 f"r1 = {m.address} ll\n call 1\n exit", syntax="llvm"))
    assert prog.run().retval == 5 and calls == [m.address]


def test_python_and_native_code_share_one_table(jit: Callable) -> None:
    backend = jit(helpers=default_helpers())
    m = create_map(spec_of(T.HASH, n=8), backend.memory, ncpus=NCPUS)
    prog = backend.load(assemble(UPDATE.replace("{m}", str(m.address)), syntax="llvm"))
    m[7] = 70  # filled from Python, read natively (NOEXIST fails on it)
    mem = struct.pack("<IIQQ", 7, 0, 71, BPF_NOEXIST).ljust(64, b"\0")
    assert prog.run_mem(mem).retval == -17 & (2**64 - 1)
    mem = struct.pack("<IIQQ", 8, 0, 80, BPF_NOEXIST).ljust(64, b"\0")
    assert prog.run_mem(mem).retval == 0
    assert m[8] == struct.pack("<Q", 80)  # written natively, read from Python


LPM_SPEC = MapSpec("m", T.LPM_TRIE, 8, 8, 8, MapFlag.NO_PREALLOC)


def _lpm_key(prefixlen: int, ip: str) -> bytes:
    return struct.pack("<I", prefixlen) + bytes(int(x) for x in ip.split("."))


def _fill_lpm(m: Any) -> None:
    for n, (prefixlen, net) in enumerate([(8, "10.0.0.0"), (16, "10.1.0.0"),
                                          (24, "10.1.2.0"), (0, "0.0.0.0")]):
        m[_lpm_key(prefixlen, net)] = struct.pack("<Q", 100 + n)


@pytest.mark.parametrize(("prefixlen", "ip"), [(32, "10.1.2.3"), (32, "10.1.9.9"),
                                               (32, "10.7.7.7"), (32, "192.168.0.1"),
                                               (20, "10.1.2.3"), (33, "10.1.2.3")])
def test_lpm_lookups_are_native_and_the_interpreters(jit: Callable, monkeypatch: Any,
                                                     prefixlen: int, ip: str) -> None:
    seen = python_calls(monkeypatch)
    mem = _lpm_key(prefixlen, ip).ljust(64, b"\0")
    got = same(jit, LPM_SPEC, LOOKUP_AND_BUMP, mem, fill=_fill_lpm, runs=2)
    assert seen == []
    assert got[0][0][1] != 12345 or prefixlen == 33  # every other key matches a prefix


def test_lpm_updates_and_deletes_from_compiled_code_are_seen_by_its_lookups(
        jit: Callable) -> None:
    text = """
        r6 = r1
        r2 = r1
        r3 = r1
        r3 += 16
        r4 = 0
        r1 = {m} ll
        call 2
        r2 = r6
        r2 += 8
        r1 = {m} ll
        call 1
        if r0 == 0 goto miss
        r0 = *(u64 *)(r0 + 0)
        exit
    miss:
        r2 = r6
        r1 = {m} ll
        call 3
        r0 = 7
        exit
    """
    mem = (_lpm_key(16, "10.1.0.0") + _lpm_key(32, "10.1.200.1") + struct.pack("<Q", 55)
           ).ljust(64, b"\0")
    results, entries, _keys = same(jit, LPM_SPEC, text, mem, runs=2)
    assert [r[1] for r in results] == [55, 55] and len(entries) == 1
    mem = (_lpm_key(16, "10.1.0.0") + _lpm_key(32, "10.2.0.1") + struct.pack("<Q", 56)
           ).ljust(64, b"\0")
    results, entries, _keys = same(jit, LPM_SPEC, text, mem)
    assert results[0][1] == 7 and entries == []  # added, missed, deleted


def test_native_jhash_is_the_kernels_for_every_length() -> None:
    """The native library's jhash (one constant-size copy per tail length) gives what
    jhash() of include/linux/jhash.h gives (pybpf.runtime.maps.jhash), for lengths 0..40."""
    import ctypes
    import random

    from pybpf.native.library import library
    from pybpf.runtime.maps.jhash import jhash

    native = library().fn["pb_jhash"]
    rng = random.Random(5)
    for n in range(41):
        for _ in range(8):
            key, init = rng.randbytes(n), rng.getrandbits(32)
            buf = ctypes.create_string_buffer(key, max(n, 1))
            assert native(buf, n, init) == jhash(key, init) & 0xFFFFFFFF, n


def test_unrolled_jhash_of_every_constant_size_is_the_kernels() -> None:
    """The map helpers hash keys of the common sizes with lookup3 unrolled for the size
    (htab_ir._jhash_const); every size 1..40 gives jhash()'s value (a wrong tail word or
    a missing mix round changes it)."""
    import ctypes
    import random

    from pybpf.jit.compiler import compile_module, load_object
    from pybpf.jit.irtext import ModuleText
    from pybpf.native import htab_ir
    from pybpf.native.irkit import Builder
    from pybpf.runtime.maps.jhash import jhash

    module = ModuleText("jhash_sizes")
    module.declare("llvm.fshl.i32", "declare i32 @llvm.fshl.i32(i32, i32, i32)")
    sizes = range(1, 41)
    for n in sizes:
        b = Builder(module, f"hash{n}", "i32", [("ptr", "key"), ("i32", "init")])
        b.ret(htab_ir._jhash_const(b, "%key", n, "%init"), "i32")
    code = load_object(compile_module(module))
    prototype = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint32)
    rng = random.Random(9)
    for n in sizes:
        unrolled = prototype(code.address(f"hash{n}"))
        for _ in range(8):
            key, init = rng.randbytes(n), rng.getrandbits(32)
            assert unrolled(key, init) == jhash(key, init) & 0xFFFFFFFF, n
