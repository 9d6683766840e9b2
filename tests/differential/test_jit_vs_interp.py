"""Differential test: random programs give the same r0, instruction count, memory, map
contents and faults on the interpreter (the reference) and on the JIT (checked mode), on
both of its compile tiers (O3, and the light tier large programs start on).

Programs extend :mod:`tests.differential.gen_alu`'s straight-line ALU/JMP programs with
loads, stores and atomics on the stack (through r10 and through a copied pointer) and on an
input buffer (r9 keeps its address; offsets are occasionally out of bounds, so both backends
must fault identically), helper calls, map operations (lookups — reading and writing the
value found —, updates with every flag, deletes, on a hash, an LRU hash and an array, whose
contents are compared after every program) and bpf-to-bpf calls into a sub-program that works
on its own stack frame. A fixed tail folds every register into r0.

Set PYBPF_DIFF_EXAMPLES for a longer run (e.g. 5000).
"""

from __future__ import annotations

import dataclasses
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.errors import PybpfError
from pybpf.interp import Interpreter
from pybpf.isa import Instruction, pcs
from pybpf.jit import JIT
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map

from .gen_alu import IMM, U64, alu_insn

EXAMPLES = int(os.environ.get("PYBPF_DIFF_EXAMPLES", "40"))
BUFFER_SIZE = 64
HELPER_ID = 99
SIZES = [(0x18, 8), (0x00, 4), (0x08, 2), (0x10, 1)]  # BPF_DW, W, H, B
EXIT = Instruction(0x95)
CALL_PLACEHOLDER = "call"


def mix_helper(state: object, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """A deterministic helper: r0 depends on every argument."""
    return (r1 * 3 + (r2 ^ r3) - (r4 >> 3) + r5 * 7) & 0xFFFFFFFFFFFFFFFF


HELPERS = {**default_helpers(), HELPER_ID: mix_helper}
MAP_SPECS = [MapSpec("h", MapType.HASH, 4, 8, 6), MapSpec("l", MapType.LRU_HASH, 4, 8, 4),
             MapSpec("a", MapType.ARRAY, 4, 8, 4)]
DATA_REGS = st.integers(0, 8)  # r9 holds the buffer, r10 the frame


def _retarget(insn: Instruction, draw: st.DrawFn) -> Instruction:
    """gen_alu's instruction with r9 kept out of its destination."""
    if insn.dst == 9:
        insn = dataclasses.replace(insn, dst=draw(DATA_REGS))
    return insn


@st.composite
def memory_insn(draw: st.DrawFn, *, buffer: bool = True) -> list[Instruction]:
    size_code, n = draw(st.sampled_from(SIZES))
    where = draw(st.sampled_from(["stack", "stack_ptr", "buffer"] if buffer else ["stack", "stack_ptr"]))
    if where == "buffer":
        base = 9
        off = draw(st.one_of(st.integers(0, BUFFER_SIZE - n), st.integers(-4, BUFFER_SIZE + 4)))
        prefix: list[Instruction] = []
    else:
        off = draw(st.integers(-512, -n))
        base = 10
        prefix = []
        if where == "stack_ptr":  # through a copy of the frame pointer: the table path
            shift = draw(st.integers(-64, 0))
            base = draw(DATA_REGS)
            prefix = [Instruction(0xBF, base, 10), Instruction(0x07, base, imm=shift)]
            off -= shift  # the same frame slot, addressed through the copy
    kind = draw(st.sampled_from(["ldx", "ldxs", "st", "stx", "atomic"]))
    reg = draw(DATA_REGS)
    if kind == "ldx":
        return [*prefix, Instruction(0x61 | size_code, reg, base, off=off)]
    if kind == "ldxs" and n < 8:
        return [*prefix, Instruction(0x81 | size_code, reg, base, off=off)]
    if kind == "st":
        return [*prefix, Instruction(0x62 | size_code, base, off=off, imm=draw(IMM))]
    if kind == "atomic" and n in (4, 8):
        imm = draw(st.sampled_from([0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1]))
        src = draw(DATA_REGS)
        aligned = off - off % n if draw(st.booleans()) else off
        return [*prefix, Instruction(0xC3 | size_code, base, src, off=aligned, imm=imm)]
    return [*prefix, Instruction(0x63 | size_code, base, reg, off=off)]


@st.composite
def map_op(draw: st.DrawFn) -> list[Instruction]:
    """A map helper on one of the MAP_SPECS maps, key ``rK & 7`` at r10-8 and value rV at
    r10-16; a successful lookup reads the value and adds rV to it."""
    m = MAPS[draw(st.integers(0, len(MAPS) - 1))]
    key_reg, value_reg = draw(DATA_REGS), draw(DATA_REGS)
    setup = [Instruction(0xBF, 0, key_reg), Instruction(0x57, 0, imm=7),
             Instruction(0x63, 10, 0, off=-8), Instruction(0x7B, 10, value_reg, off=-16),
             Instruction.wide(1, m), Instruction(0xBF, 2, 10), Instruction(0x07, 2, imm=-8)]
    helper = draw(st.sampled_from([1, 1, 2, 3]))
    if helper == 2:
        flags = draw(st.sampled_from([0, 0, 1, 2, 3]))
        setup += [Instruction(0xBF, 3, 10), Instruction(0x07, 3, imm=-16),
                  Instruction(0xB7, 4, imm=flags)]
    call = [Instruction(0x85, imm=helper)]
    if helper != 1:
        return setup + call
    return setup + call + [Instruction(0x15, 0, off=3), Instruction(0x79, 1, 0),
                           Instruction(0x0F, 1, value_reg), Instruction(0x7B, 0, 1)]


@st.composite
def body(draw: st.DrawFn, *, max_len: int, calls: bool, buffer: bool) -> list[object]:
    """A list of instructions, lists of instructions, forward jumps and call placeholders."""
    items: list[object] = []
    for _ in range(draw(st.integers(1, max_len))):
        choice = draw(st.integers(0, 9))
        if choice <= 3:
            items.append([_retarget(draw(alu_insn()), draw)])
        elif choice <= 6:
            items.append(draw(memory_insn(buffer=buffer)))
        elif choice == 7:
            items.append(("jmp", draw(st.sampled_from([0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70,
                                                        0xA0, 0xB0, 0xC0, 0xD0])),
                          draw(st.booleans()), draw(st.booleans()), draw(st.integers(0, 9)),
                          draw(st.integers(0, 9)), draw(IMM)))
        elif choice == 8:
            items.append(draw(map_op()) if draw(st.booleans())
                         else [Instruction(0x85, imm=HELPER_ID)])
        elif calls:
            items.append(CALL_PLACEHOLDER)
    return items


def _flatten(items: list[object]) -> list[object]:
    """Instructions with forward jumps resolved (jumps land on item boundaries)."""
    out: list[object] = []
    starts: list[int] = []
    for item in items:
        starts.append(len(out))
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    starts.append(len(out))
    resolved: list[object] = []
    for index, item in enumerate(items):
        if isinstance(item, tuple):
            _, op, is32, use_reg, dst, src, imm = item
            target_item = min(len(items), index + 1 + (abs(imm) % 4))
            off = starts[target_item] - starts[index] - 1
            cls = 0x06 if is32 else 0x05
            insn = (Instruction(cls | op | 0x08, dst, src, off=off) if use_reg
                    else Instruction(cls | op, dst, imm=imm, off=off))
            resolved.append(insn)
        elif isinstance(item, list):
            resolved.extend(item)
        else:
            resolved.append(item)
    return resolved


FOLD = [Instruction(0xAF, 0, r) if r % 2 else Instruction(0x0F, 0, r) for r in range(1, 9)]


@st.composite
def program(draw: st.DrawFn) -> list[Instruction]:
    """``main`` (saves the buffer pointer in r9, random registers, body, fold, exit) and a
    sub-program called from the body."""
    main: list[object] = [Instruction(0xBF, 9, 1)]
    main += [Instruction.wide(r, draw(U64)) for r in range(9)]
    main += _flatten(draw(body(max_len=20, calls=True, buffer=True)))
    main += [*FOLD, EXIT]
    sub = _flatten(draw(body(max_len=8, calls=False, buffer=False)))
    sub = [Instruction(0xBF, 0, 1), Instruction(0xAF, 0, 2), *sub, *FOLD[:4], EXIT]
    main_insns = [i if isinstance(i, Instruction) else Instruction(0xB7, 0) for i in main]
    sub_start = sum(i.slots for i in main_insns)
    out: list[Instruction] = []
    for pc, item in zip(pcs(main_insns), main, strict=True):
        if item == CALL_PLACEHOLDER:
            out.append(Instruction(0x85, src=1, imm=sub_start - pc - 1))
        else:
            out.append(item)  # type: ignore[arg-type]
    return out + sub  # type: ignore[operator]


def outcome(backend: object, insns: list[Instruction], data: bytes) -> tuple[object, ...]:
    maps = MAP_OBJECTS[id(backend)]
    try:
        r = backend.load(insns).run_mem(data)  # type: ignore[attr-defined]
    except PybpfError as exc:
        return ("error", type(exc).__name__, str(exc), getattr(exc, "pc", None),
                getattr(exc, "address", None), [sorted(m.items()) for m in maps])
    return ("ok", r.retval, r.instructions, r.memory, [sorted(m.items()) for m in maps])


INTERP = Interpreter(helpers=HELPERS, budget=100_000)
NATIVE = JIT(helpers=HELPERS, budget=100_000, cache=False)
LIGHT = JIT(helpers=HELPERS, budget=100_000, cache=False, light_above=0, upgrade=False)
#: The same maps on every backend (created in the same order: the same addresses).
MAP_OBJECTS = {id(b): [create_map(spec, b.memory, ncpus=2) for spec in MAP_SPECS]
               for b in (INTERP, NATIVE, LIGHT)}
MAPS = [m.address for m in MAP_OBJECTS[id(INTERP)]]
for _backend in (NATIVE, LIGHT):
    assert [m.address for m in MAP_OBJECTS[id(_backend)]] == MAPS
    _backend.state.rcu_maps.extend(MAP_OBJECTS[id(_backend)])
INTERP.state.rcu_maps.extend(MAP_OBJECTS[id(INTERP)])


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(program(), st.binary(min_size=BUFFER_SIZE, max_size=BUFFER_SIZE))
def test_random_programs_match_the_interpreter(insns: list[Instruction], data: bytes) -> None:
    expected = outcome(INTERP, insns, data)
    assert outcome(NATIVE, insns, data) == expected
    assert outcome(LIGHT, insns, data) == expected


@settings(max_examples=max(10, EXAMPLES // 4), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(alu_insn(), min_size=1, max_size=30), st.lists(U64, min_size=10, max_size=10))
def test_random_alu_sequences_match_the_interpreter(ops: list[Instruction], init: list[int]) -> None:
    insns = [Instruction.wide(r, init[r]) for r in range(10)] + ops
    insns += [Instruction(0xAF, 0, r) for r in range(1, 10)] + [EXIT]
    expected = outcome(INTERP, insns, bytes(8))
    assert outcome(NATIVE, insns, bytes(8)) == expected
    assert outcome(LIGHT, insns, bytes(8)) == expected
