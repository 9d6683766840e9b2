"""Map helpers in native code: ``bpf_map_lookup_elem``, ``_update_elem``, ``_delete_elem``.

Mirrors what the kernel does for these calls at load time (``do_misc_fixups()`` in
kernel/bpf/verifier.c): an array lookup with a known map becomes inline address arithmetic
(``array_map_gen_lookup()``: bounds check on the index, ``base + index * elem_size``, per-CPU
arrays add the CPU's copy), every other map operation a direct call of the map's own
implementation instead of the helper. Here that implementation is the native library
(:mod:`pybpf.native.htab_ir`), the same code the Python API runs, reached through the map's
descriptor in the region table (:class:`~pybpf.native.layout.NativeKind`) and the function
addresses in the env block.

What native code does not do goes to the Python helper, exactly as before: a map pointer
that is not a map with a descriptor, a key or value that is not directly readable memory
(the Python helper then raises the interpreter's fault), or an operation the library answers
with ``NOT_NATIVE`` (LRU updates and deletes, a per-CPU access on a CPU out of range). After
a native update or delete the map is registered once with the execution state for its end-
of-run grace period (``RuntimeOp.RCU_MAP``), as the Python helper registers it.

The translator tracks, within a basic block, registers holding an ``lddw`` constant or
``r10 + k`` (:class:`Known`): a known map pointer selects the inline array lookup, a known
stack key is addressed without a table lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pybpf.jit.abi import ROW_OFFSETS, RuntimeOp
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import LIKELY, TBAA_TABLE, UNLIKELY, i64
from pybpf.jit.lower_mem import row_of, window
from pybpf.native.layout import NOT_NATIVE, MapKind, NativeKind, NativeMap, field_offsets
from pybpf.runtime.execstate import MAX_BPF_STACK
from pybpf.runtime.memory import split_address

__all__ = ["DELETE", "LOOKUP", "MAP_HELPERS", "UPDATE", "Known", "MapInfo", "lower_map_call",
           "map_info"]

LOOKUP, UPDATE, DELETE = 1, 2, 3
MAP_HELPERS = frozenset({LOOKUP, UPDATE, DELETE})
_FN = {LOOKUP: "map_lookup", UPDATE: "map_update", DELETE: "map_delete"}
_M = field_offsets(NativeMap)

#: A register's value known at translation time: ("const", value) or ("fp", offset).
Known = tuple[str, int]


@dataclass(frozen=True, slots=True)
class MapInfo:
    """What the translator bakes in about a map a program names with ``lddw`` (part of
    the compile-cache key: the map layout)."""

    address: int
    kind: int
    key_size: int
    value_size: int
    max_entries: int
    values: int
    stride: int
    elem_size: int


def map_info(m: Any) -> MapInfo | None:
    """The layout of map object ``m``, if it has a native descriptor."""
    desc = getattr(m, "native", None)
    if not isinstance(desc, NativeMap) or desc.kind == MapKind.NONE:
        return None
    return MapInfo(int(m.address), int(desc.kind), int(desc.key_size), int(desc.value_size),
                   int(desc.max_entries), int(desc.values), int(desc.stride),
                   int(desc.elem_size))


def _host_ptr(f: Frame, reg: int, size: int | str, known: dict[int, Known], slow: str) -> str:
    """Host address of the ``size`` bytes register ``reg`` points at; control goes to
    ``slow`` when they are not directly readable."""
    fn = f.fn
    k = known.get(reg)
    if (k is not None and k[0] == "fp" and isinstance(size, int)
            and -MAX_BPF_STACK <= k[1] and k[1] + size <= 0):
        return fn.gep(f.stack, MAX_BPF_STACK + k[1])
    addr = f.get(reg)
    row = row_of(f, addr, slow)
    size_ptr = fn.gep(row, ROW_OFFSETS["load_size"])
    limit = fn.op(f"zext i32 {fn.load('i32', size_ptr, tbaa=TBAA_TABLE)} to i64")
    offset = fn.op(f"and i64 {window(f, addr)}, 4294967295")
    end = fn.op(f"add i64 {offset}, {size}")
    ok = fn.new_block("arg_ok")
    fn.cbr(fn.op(f"icmp ule i64 {end}, {limit}"), ok, slow, LIKELY)
    fn.start(ok)
    host = fn.load("ptr", fn.gep(row, ROW_OFFSETS["host"]), tbaa=TBAA_TABLE)
    return fn.gep(host, offset)


def _descriptor(f: Frame, r1: str, constant: int | None, slow: str) -> str:
    """The NativeMap behind map pointer ``r1``, or control goes to ``slow``."""
    fn = f.fn
    if constant is not None and split_address(constant)[1]:
        fn.br(slow)
        fn.start(fn.new_block("dead"))
    row = row_of(f, r1, slow)
    kind = fn.load("i32", fn.gep(row, ROW_OFFSETS["kind"]), tbaa=TBAA_TABLE)
    ok = fn.op(f"icmp eq i32 {kind}, {int(NativeKind.MAP)}")
    if constant is None:
        base = fn.op(f"icmp eq i64 {fn.op(f'and i64 {window(f, r1)}, 4294967295')}, 0")
        ok = fn.op(f"and i1 {ok}, {base}")
    cont = fn.new_block("is_map")
    fn.cbr(ok, cont, slow, LIKELY)
    fn.start(cont)
    return fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)


def _array_lookup(f: Frame, info: MapInfo, key: str) -> str:
    """array_map_gen_lookup(): ``index < max_entries ? base + index * stride : NULL``."""
    fn = f.fn
    index = fn.op(f"zext i32 {fn.load('i32', key, align=1)} to i64")
    addr = fn.op(f"add i64 {fn.op(f'mul i64 {index}, {info.stride}')}, {i64(info.values)}")
    if info.kind == MapKind.PERCPU_ARRAY:
        cpu = f.load_env("cpu")
        addr = fn.op(f"add i64 {addr}, {fn.op(f'mul i64 {cpu}, {info.elem_size}')}")
    inside = fn.op(f"icmp ult i64 {index}, {info.max_entries}")
    return fn.op(f"select i1 {inside}, i64 {addr}, i64 0")


def lower_map_call(f: Frame, pc: int, helper: int, known: dict[int, Known],
                   maps: dict[int, MapInfo], python: Callable[[], str]) -> str:
    """r0 of map helper ``helper`` at ``pc`` (see the module docstring); ``python`` emits
    the call of the Python helper and returns its r0."""
    fn = f.fn
    slow = fn.new_block("map_py")
    done = fn.new_block("map_done")
    results: list[tuple[str, str]] = []
    r1 = f.get(1)
    k1 = known.get(1)
    constant = k1[1] & 0xFFFFFFFFFFFFFFFF if k1 is not None and k1[0] == "const" else None
    info = maps.get(constant) if constant is not None else None
    desc = _descriptor(f, r1, constant, slow)
    key_size: int | str = info.key_size if info is not None else fn.op(
        f"zext i32 {fn.load('i32', fn.gep(desc, _M['key_size']))} to i64")
    key = _host_ptr(f, 2, key_size, known, slow)
    if helper == LOOKUP and info is not None and info.kind in (MapKind.ARRAY,
                                                                MapKind.PERCPU_ARRAY):
        results.append((_array_lookup(f, info, key), fn.block))
        fn.br(done)
    else:
        args = [("ptr", desc), ("ptr", key)]
        if helper == UPDATE:
            value_size: int | str = info.value_size if info is not None else fn.op(
                f"zext i32 {fn.load('i32', fn.gep(desc, _M['value_size']))} to i64")
            args += [("ptr", _host_ptr(f, 3, value_size, known, slow)), ("i64", f.get(4))]
        if helper != DELETE:
            args.append(("i64", f.load_env("cpu")))
        target = fn.load("ptr", f.env_ptr(_FN[helper]), tbaa=TBAA_TABLE)
        result = fn.call("i64", target, args)
        native = fn.new_block("map_native")
        fn.cbr(fn.op(f"icmp eq i64 {result}, {NOT_NATIVE}"), slow, native, UNLIKELY)
        fn.start(native)
        if helper != LOOKUP:
            _register_rcu(f, pc, desc, r1)
        results.append((result, fn.block))
        fn.br(done)
    fn.start(slow)
    results.append((python(), fn.block))
    fn.br(done)
    fn.start(done)
    return fn.phi("i64", results)


def _register_rcu(f: Frame, pc: int, desc: str, r1: str) -> None:
    """Register the map for the end-of-run grace period, once per execution state."""
    fn = f.fn
    owner = fn.load("i64", fn.gep(desc, _M["rcu_owner"]))
    register = fn.new_block("rcu_register")
    cont = fn.new_block("rcu_done")
    fn.cbr(fn.op(f"icmp ne i64 {owner}, {f.load_env('rcu_token')}"), register, cont, UNLIKELY)
    fn.start(register)
    f.runtime(RuntimeOp.RCU_MAP, pc, r1)
    fn.br(cont)
    fn.start(cont)
