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
with ``NOT_NATIVE`` (a per-CPU access, or an LRU update, on a CPU out of range). After
a native update or delete the map is registered once with the execution state for its end-
of-run grace period (``RuntimeOp.RCU_MAP``), as the Python helper registers it.

The translator tracks, within a basic block, registers holding an ``lddw`` constant or
``r10 + k`` (:class:`Known`): a known map pointer selects the inline array lookup, a known
stack key is addressed without a table lookup. In verified code the inline lookup with a
key in the frame is the address arithmetic alone (the verifier proved r1 the map, whose
layout the compiled code bakes in), and its result gets the shadow of the map's values
(:mod:`pybpf.jit.provenance`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pybpf.isa import ALUOp, InsnClass, Instruction, JumpOp, Mode, PseudoSrc, Source
from pybpf.jit.abi import ENV_OFFSETS, ROW_OFFSETS, RuntimeOp
from pybpf.jit.frame import Frame, RuntimeStubs
from pybpf.jit.irtext import LIKELY, TBAA_TABLE, UNLIKELY, FunctionText, i64
from pybpf.jit.lower_mem import env_table, row_in, row_index, translate, translate_in
from pybpf.native.layout import NOT_NATIVE, MapKind, NativeKind, NativeMap, field_offsets
from pybpf.program.cfg import Function
from pybpf.runtime.execstate import MAX_BPF_STACK
from pybpf.runtime.memory import REGION_START

__all__ = ["DELETE", "LOOKUP", "MAP_HELPERS", "UPDATE", "Known", "MapInfo", "inline_lookup",
           "inline_lookups", "lower_map_call", "map_info", "track"]

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


def _key_hint(f: Frame, known: dict[int, Known], size: int | None) -> str:
    """Host address of the key when r2 is known to be ``r10 + k`` with the key inside the
    frame (no table lookup needed), else ``null``."""
    k = known.get(2)
    if (k is not None and k[0] == "fp" and size is not None
            and -MAX_BPF_STACK <= k[1] and k[1] + size <= 0):
        return f.fn.gep(f.stack, MAX_BPF_STACK + k[1])
    return "null"


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


def inline_lookup(helper: int, known: dict[int, Known],
                  maps: dict[int, MapInfo]) -> MapInfo | None:
    """The array map whose lookup at this call is inline address arithmetic, if any (its
    result is NULL or a pointer into the map's values: :mod:`pybpf.jit.provenance`)."""
    k1 = known.get(1)
    constant = k1[1] & 0xFFFFFFFFFFFFFFFF if k1 is not None and k1[0] == "const" else None
    info = maps.get(constant) if constant is not None else None
    if helper == LOOKUP and info is not None and info.kind in (MapKind.ARRAY,
                                                               MapKind.PERCPU_ARRAY):
        return info
    return None


def track(known: dict[int, Known], insn: Instruction) -> None:
    """Update the registers ``known`` within a block across ``insn``."""
    cls = insn.code & 0x07
    dst = insn.dst
    if cls == InsnClass.ALU64 and insn.op == ALUOp.MOV:
        if insn.source == Source.K:
            known[dst] = ("const", insn.imm)
        elif insn.off == 0 and insn.src == 10:
            known[dst] = ("fp", 0)
        elif insn.off == 0 and insn.src in known:
            known[dst] = known[insn.src]
        else:
            known.pop(dst, None)
    elif cls == InsnClass.ALU64 and insn.op == ALUOp.ADD and insn.source == Source.K:
        if dst in known:
            kind, value = known[dst]
            known[dst] = (kind, value + insn.imm)
    elif cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LDX):
        known.pop(dst, None)
    elif cls == InsnClass.LD:
        if insn.is_wide and insn.src == PseudoSrc.IMM64:
            known[dst] = ("const", insn.imm64)
        else:
            known.pop(dst, None)
            known.pop(0, None)
    elif cls == InsnClass.STX and insn.mode == Mode.ATOMIC:
        known.pop(insn.src, None)
        known.pop(0, None)
    elif cls in (InsnClass.JMP, InsnClass.JMP32) and insn.op == JumpOp.CALL:
        for reg in range(6):
            known.pop(reg, None)


def inline_lookups(fn: Function, maps: dict[int, MapInfo],
                   native: frozenset[int]) -> dict[int, int]:
    """The calls of ``fn`` that are inline array lookups (``native``: the map helpers done
    natively): call pc -> program address of the map's values."""
    found: dict[int, int] = {}
    if LOOKUP not in native:
        return found
    for block in fn.blocks:
        known: dict[int, Known] = {}
        for pc, insn in block.insns:
            if insn.code == (InsnClass.JMP | JumpOp.CALL) and insn.src == 0 \
                    and insn.imm == LOOKUP:
                info = inline_lookup(LOOKUP, known, maps)
                if info is not None:
                    found[pc] = info.values
            track(known, insn)
    return found


def lower_map_call(f: Frame, pc: int, helper: int, known: dict[int, Known],
                   maps: dict[int, MapInfo]) -> str:
    """r0 of map helper ``helper`` at ``pc`` (see the module docstring)."""
    fn = f.fn
    k1 = known.get(1)
    constant = k1[1] & 0xFFFFFFFFFFFFFFFF if k1 is not None and k1[0] == "const" else None
    info = maps.get(constant) if constant is not None else None
    hint = _key_hint(f, known, info.key_size if info is not None else None)
    regs = [f.get(r) for r in range(1, 6)]  # before any branch
    if inline_lookup(helper, known, maps) is None or info is None:
        return _call_op(f, pc, helper, hint, regs)
    if f.shadows is not None and hint != "null":
        # verified code: r1 is the map its lddw names (the verifier's CONST_PTR_TO_MAP, and
        # the map lives while the program runs), the key is in the frame
        return _array_lookup(f, info, hint)
    # the inline array lookup: the map must still be a map, the key directly readable
    inside, row = row_index(f, regs[0])
    kind = fn.load("i32", fn.gep(row, ROW_OFFSETS["kind"]), tbaa=TBAA_TABLE)
    alive = fn.op(f"and i1 {inside}, {fn.op(f'icmp eq i32 {kind}, {int(NativeKind.MAP)}')}")
    if hint != "null":
        key_ok, key = "true", hint
    else:
        key_ok, key = translate(f, regs[1], info.key_size, "load_size", checked=True)
    value = _array_lookup(f, info, key)
    start = fn.block
    slow, done = fn.new_block("map_slow"), fn.new_block("map_done")
    ok = alive if key_ok == "true" else fn.op(f"and i1 {alive}, {key_ok}")
    fn.cbr(ok, done, slow, LIKELY)
    fn.start(slow)
    other = _call_op(f, pc, helper, hint, regs)
    slow_end = fn.block
    fn.br(done)
    fn.start(done)
    return fn.phi("i64", [(value, start), (other, slow_end)])


def _call_op(f: Frame, pc: int, helper: int, hint: str, regs: list[str]) -> str:
    """A call of the module's out-of-line operation with ``regs`` (r1..r5); the budget is
    synced around it: it may fall back to the Python helper."""
    fn = f.fn
    op = f.module.once(f"bpf_map_op{helper}", lambda: _build_op(f.stubs, helper))
    f.sync_budget()
    code = i64(int(RuntimeOp.HELPER) | pc << 8)
    r0 = fn.call("i64", op, [("ptr", f.env), ("i64", f.depth), ("i64", code),
                             *[("i64", r) for r in regs], ("ptr", hint)])
    f.reload_after_call()
    return r0


def _build_op(stubs: RuntimeStubs, helper: int) -> FunctionText:
    """``bpf_map_op<helper>(env, depth, code, r1..r5, key_hint)``: the native map operation
    on the descriptor behind r1, or the Python helper (see the module docstring)."""
    fn = FunctionText(f"bpf_map_op{helper}", "i64",
                      [("ptr", "env"), ("i64", "depth"), ("i64", "code"), ("i64", "r1"),
                       ("i64", "r2"), ("i64", "r3"), ("i64", "r4"), ("i64", "r5"),
                       ("ptr", "hint")], linkage="internal")
    fn.start("entry")
    table, ntable, scratch = env_table(fn)
    inside, row = row_in(fn, table, ntable, "%r1")
    kind = fn.load("i32", fn.gep(row, ROW_OFFSETS["kind"]), tbaa=TBAA_TABLE)
    window = fn.op(f"sub i64 %r1, {REGION_START}")
    base = fn.op(f"icmp eq i64 {fn.op(f'and i64 {window}, 4294967295')}, 0")
    ok = fn.op(f"and i1 {fn.op(f'and i1 {inside}, {base}')}, "
               f"{fn.op(f'icmp eq i32 {kind}, {int(NativeKind.MAP)}')}")
    fn.cbr(ok, "map", "python", LIKELY)
    fn.start("map")
    desc = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)
    key_size = fn.op(f"zext i32 {fn.load('i32', fn.gep(desc, _M['key_size']))} to i64")
    key_ok, key = translate_in(fn, table, ntable, scratch, "%r2", key_size, "load_size",
                               checked=True)
    hinted = fn.op("icmp ne ptr %hint, null")
    key = fn.op(f"select i1 {hinted}, ptr %hint, ptr {key}")
    all_ok = fn.op(f"or i1 {hinted}, {key_ok}")
    args = [("ptr", desc), ("ptr", key)]
    if helper == UPDATE:
        value_size = fn.op(f"zext i32 {fn.load('i32', fn.gep(desc, _M['value_size']))} to i64")
        value_ok, value = translate_in(fn, table, ntable, scratch, "%r3", value_size,
                                       "load_size", checked=True)
        all_ok = fn.op(f"and i1 {all_ok}, {value_ok}")
        args += [("ptr", value), ("i64", "%r4")]
    if helper != DELETE:
        cpu = fn.load("i64", fn.gep("%env", ENV_OFFSETS["cpu"]), tbaa=TBAA_TABLE)
        args.append(("i64", cpu))
    fn.cbr(all_ok, "call", "python", LIKELY)
    fn.start("call")
    target = fn.load("ptr", fn.gep("%env", ENV_OFFSETS[_FN[helper]]), tbaa=TBAA_TABLE)
    result = fn.call("i64", target, args)
    fn.cbr(fn.op(f"icmp eq i64 {result}, {NOT_NATIVE}"), "python", "native", UNLIKELY)
    fn.start("native")
    if helper != LOOKUP:  # register the map for the end-of-run grace period, once per state
        owner = fn.load("i64", fn.gep(desc, _M["rcu_owner"]))
        token = fn.load("i64", fn.gep("%env", ENV_OFFSETS["rcu_token"]), tbaa=TBAA_TABLE)
        fn.cbr(fn.op(f"icmp ne i64 {owner}, {token}"), "rcu", "done", UNLIKELY)
        fn.start("rcu")
        code = fn.op(f"or i64 {fn.op('and i64 %code, -256')}, {int(RuntimeOp.RCU_MAP)}")
        fn.call("i64", stubs.get(1), [("ptr", "%env"), ("i64", "%depth"), ("i64", code),
                                      ("i64", "%r1")])
        fn.br("done")
        fn.start("done")
    fn.ret(result)
    fn.start("python")
    fn.ret(fn.call("i64", stubs.get(6), [("ptr", "%env"), ("i64", "%depth"), ("i64", "%code"),
                                         ("i64", str(helper)), ("i64", "%r1"), ("i64", "%r2"),
                                         ("i64", "%r3"), ("i64", "%r4"), ("i64", "%r5")]))
    return fn
