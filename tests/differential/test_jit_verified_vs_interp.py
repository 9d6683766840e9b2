"""Differential test of verified code: random XDP programs the verifier accepts give the
same return value, packet, map contents (and, with a budget requested, instruction count) on
the interpreter and on the JIT, which compiles them without bounds checks and addresses
memory through each pointer's region shadow (pybpf.jit.provenance) and the packet at host
addresses (pybpf.jit.lower_packet).

Programs work on three objects (64 bytes of packet after a bounds check, a 64-byte array
map value, a 64-byte stack buffer) through pointers that are copied, moved by constants and
by bounded scalars (in either operand order), spilled and filled, made NULL on one path and
tested, passed to a sub-program, reloaded by a second map lookup, and pointing into
the packet on one path and elsewhere on another at one access; around them scalar
ALU operations, loads, stores and atomics, and forward branches over part of the work.

Where ``bpf()`` is usable, every program pybpf's verifier accepts is also loaded into the
live kernel and run with ``BPF_PROG_TEST_RUN``: the kernel's verifier must accept it too, and
its return value, packet and map contents must be the interpreter's.

Set PYBPF_DIFF_EXAMPLES for a longer run (e.g. 2000).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pybpf.asm import assemble
from pybpf.errors import KernelError, VerifierError
from pybpf.interp import Interpreter
from pybpf.isa import OP_LDDW, Instruction, PseudoSrc, encode
from pybpf.jit import JIT
from pybpf.kernel.sys import bpf_available
from pybpf.platform.enums import MapType, ProgType
from pybpf.program.spec import MapSpec, ProgramSpec
from pybpf.runtime.execstate import DEFAULT_BUDGET
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map

EXAMPLES = int(os.environ.get("PYBPF_DIFF_EXAMPLES", "40"))
KERNEL_OK, KERNEL_REASON = bpf_available()
MAP_PLACEHOLDER = 0x7EADBEEF  # the {m0} of a program loaded into the kernel
SIZE = 64
BASES = {"pkt": 6, "map": 8, "stack": 9}  # r7 holds data_end
TEMPS = (1, 2, 3, 4, 5)
SLOTS = tuple(range(-120, -64, 8))  # spill slots below the 64-byte buffer at r10 - 64
SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}

Ptr = tuple[str, int, int]  # (object, lowest offset, highest offset)


def at(base: str, off: int) -> str:
    """``base + off`` as the assembler writes a memory operand."""
    return f"{base} + {off}" if off >= 0 else f"{base} - {-off}"


@dataclass
class Gen:
    """The program being written and what the generator knows of each temp and slot."""

    draw: st.DrawFn
    lines: list[str] = field(default_factory=list)
    regs: dict[int, Ptr | str | None] = field(default_factory=dict)
    slots: dict[int, Ptr | str | None] = field(default_factory=dict)
    labels: int = 0

    def label(self) -> str:
        self.labels += 1
        return f"l{self.labels}"

    def pointers(self) -> list[tuple[str, Ptr]]:
        found = [(f"r{reg}", (obj, 0, 0)) for obj, reg in BASES.items()]
        found += [(f"r{r}", v) for r, v in self.regs.items() if isinstance(v, tuple)]
        return found

    def scalars(self) -> list[int]:
        return [r for r, v in self.regs.items() if v == "s"]

    def temp(self) -> int:
        return self.draw(st.sampled_from(TEMPS))

    def access(self, ptr: Ptr, n: int) -> int | None:
        """An offset at which ``n`` bytes through ``ptr`` are inside its object (aligned
        for the stack), or None."""
        obj, lo, hi = ptr
        first, last = -lo, SIZE - n - hi
        if first > last:
            return None
        off = self.draw(st.integers(first, last))
        if obj == "stack":
            off -= (lo + off) % n
            if lo != hi or off < first:
                return None
        return off

    # -- operations ----------------------------------------------------------------------
    def op(self) -> None:
        kind = self.draw(st.sampled_from(
            ["load", "load", "store", "store", "copy", "move", "move_var", "spill", "fill",
             "alu", "alu", "atomic", "null", "branch", "relookup", "mixed"]))
        getattr(self, f"_{kind}")()

    def _load(self) -> None:
        name, ptr = self.draw(st.sampled_from(self.pointers()))
        n = self.draw(st.sampled_from(list(SIZES)))
        off = self.access(ptr, n)
        if off is not None:
            dst = self.temp()
            self.lines.append(f"r{dst} = *({SIZES[n]} *)({at(name, off)})")
            self.regs[dst] = "s"

    def _store(self) -> None:
        name, ptr = self.draw(st.sampled_from(self.pointers()))
        n = self.draw(st.sampled_from(list(SIZES)))
        off = self.access(ptr, n)
        if off is None:
            return
        scalars = self.scalars()
        if scalars and self.draw(st.booleans()):
            self.lines.append(f"*({SIZES[n]} *)({at(name, off)}) = r{self.draw(st.sampled_from(scalars))}")
        else:
            self.lines.append(f"*({SIZES[n]} *)({at(name, off)}) = {self.draw(st.integers(-99, 99))}")

    def _copy(self) -> None:
        name, ptr = self.draw(st.sampled_from(self.pointers()))
        dst = self.temp()
        if f"r{dst}" != name:
            self.lines.append(f"r{dst} = {name}")
            self.regs[dst] = ptr

    def _move(self) -> None:
        temps = [(r, v) for r, v in self.regs.items() if isinstance(v, tuple)]
        if temps:
            reg, (obj, lo, hi) = self.draw(st.sampled_from(temps))
            k = self.draw(st.integers(-lo, SIZE - 8 - hi))
            self.lines.append(f"r{reg} += {k}")
            self.regs[reg] = (obj, lo + k, hi + k)

    def _move_var(self) -> None:
        """ptr + (scalar & 7) in either order; a packet pointer is checked against data_end
        again (a variable offset leaves it without a known range)."""
        name, (obj, lo, hi) = self.draw(st.sampled_from(self.pointers()))
        if obj == "stack" or hi + 8 + 8 > SIZE:
            return
        a, b = self.draw(st.sampled_from([(x, y) for x in TEMPS for y in TEMPS if x != y]))
        if f"r{a}" == name or f"r{b}" == name:
            return
        self.lines.append(f"r{b} = {self.draw(st.integers(0, 999))}")
        self.lines.append(f"r{b} &= 7")
        if self.draw(st.booleans()):
            self.lines += [f"r{a} = {name}", f"r{a} += r{b}"]
            dst = a
            self.regs[b] = "s"
        else:  # r{a} is not written: it keeps what it held (a pointer leaked into memory
            self.lines.append(f"r{b} += {name}")  # would make the outputs address-dependent)
            dst = b
        if obj == "pkt":
            check = a if dst == b else b
            self.lines += [f"r{check} = r{dst}", f"r{check} += 8", f"if r{check} > r7 goto out"]
            self.regs[check] = None
            self.regs[dst] = ("pkt", hi + 8, hi + 8)  # only [0, 8) is known in range
        else:
            self.regs[dst] = (obj, lo, hi + 7)

    def _spill(self) -> None:
        slot = self.draw(st.sampled_from(SLOTS))
        candidates = [r for r, v in self.regs.items() if v is not None]
        if candidates:
            reg = self.draw(st.sampled_from(candidates))
            self.lines.append(f"*(u64 *)({at('r10', slot)}) = r{reg}")
            self.slots[slot] = self.regs[reg]

    def _fill(self) -> None:
        filled = [s for s, v in self.slots.items() if v is not None]
        if filled:
            slot = self.draw(st.sampled_from(filled))
            dst = self.temp()
            self.lines.append(f"r{dst} = *(u64 *)({at('r10', slot)})")
            self.regs[dst] = self.slots[slot]

    def _alu(self) -> None:
        dst = self.temp()
        op = self.draw(st.sampled_from(["+=", "-=", "*=", "^=", "|=", "&=", "<<=", ">>="]))
        wide = self.draw(st.booleans())
        r = "r" if wide else "w"
        if self.regs.get(dst) != "s":
            self.lines.append(f"{r}{dst} = {self.draw(st.integers(-9999, 9999))}")
        scalars = [s for s in self.scalars() if s != dst]
        if scalars and self.draw(st.booleans()) and op not in ("<<=", ">>="):
            self.lines.append(f"{r}{dst} {op} {r}{self.draw(st.sampled_from(scalars))}")
        else:
            imm = self.draw(st.integers(0, 31)) if op in ("<<=", ">>=") else \
                self.draw(st.integers(-999, 999))
            self.lines.append(f"{r}{dst} {op} {imm}")
        self.regs[dst] = "s"

    def _atomic(self) -> None:
        name, ptr = self.draw(st.sampled_from(self.pointers()))
        if ptr[0] == "pkt":
            return
        n = self.draw(st.sampled_from([4, 8]))
        off = self.access(ptr, n)
        scalars = self.scalars()
        if off is None or not scalars or (ptr[1] + off) % n:
            return
        self.lines.append(f"lock *({SIZES[n]} *)({at(name, off)}) += r{self.draw(st.sampled_from(scalars))}")

    def _null(self) -> None:
        """rT = cond ? ptr : 0; if rT != 0: access through it."""
        name, ptr = self.draw(st.sampled_from(self.pointers()))
        dst, test = self.temp(), self.temp()
        if dst == test or f"r{dst}" == name or self.regs.get(test) != "s":
            return
        skip, done = self.label(), self.label()
        n = self.draw(st.sampled_from(list(SIZES)))
        off = self.access(ptr, n)
        if off is None:
            return
        self.lines += [f"r{dst} = 0", f"if r{test} > {self.draw(st.integers(-50, 50))} goto {skip}",
                       f"r{dst} = {name}", f"{skip}:", f"if r{dst} == 0 goto {done}",
                       f"*({SIZES[n]} *)({at(f'r{dst}', off)}) = r{test}", f"{done}:"]
        self.regs[dst] = None

    def _mixed(self) -> None:
        """rT points into the packet on one path and into the map value or the stack buffer
        on the other, and one load or store goes through it (an access the verifier sees
        with two pointer types, which the JIT must not translate as a packet access)."""
        scalars = self.scalars()
        dst = self.temp()
        if not scalars or dst in scalars:
            return
        other = self.draw(st.sampled_from(["map", "stack"]))
        n = self.draw(st.sampled_from(list(SIZES)))
        off = self.draw(st.integers(0, SIZE // n - 1)) * n
        label = self.label()
        self.lines += [f"r{dst} = r{BASES['pkt']}",
                       f"if r{self.draw(st.sampled_from(scalars))} & "
                       f"{self.draw(st.integers(1, 255))} goto {label}",
                       f"r{dst} = r{BASES[other]}", f"{label}:"]
        if self.draw(st.booleans()):
            load = self.temp()
            self.lines.append(f"r{load} = *({SIZES[n]} *)({at(f'r{dst}', off)})")
            self.regs[load] = "s"
        else:
            value = self.draw(st.sampled_from(scalars))
            self.lines.append(f"*({SIZES[n]} *)({at(f'r{dst}', off)}) = r{value}")
        if self.regs.get(dst) != "s":
            self.regs[dst] = None

    def _branch(self) -> None:
        """Jump over a few loads and stores (which change no temp's kind)."""
        scalars = self.scalars()
        if not scalars:
            return
        label = self.label()
        self.lines.append(f"if r{self.draw(st.sampled_from(scalars))} & "
                          f"{self.draw(st.integers(1, 255))} goto {label}")
        before = dict(self.regs)
        for _ in range(self.draw(st.integers(1, 3))):
            self.draw(st.sampled_from([self._store, self._load, self._atomic]))()
        self.lines.append(f"{label}:")
        self.regs = {r: v if before.get(r) == v else None for r, v in self.regs.items()}

    def _relookup(self) -> None:
        """Another lookup of the array map (clobbers r1..r5) into a temp."""
        key = self.draw(st.integers(0, 1))
        dst = self.temp()
        self.lines += [f"*(u32 *)(r10 - 4) = {key}", "r2 = r10", "r2 += -4", "r1 = {m0} ll",
                       "call 1", "if r0 == 0 goto out", f"r{dst} = r0"]
        self.regs = {r: None for r in TEMPS}
        self.regs[dst] = ("map", 0, 0)

    def call_sub(self) -> None:
        self.lines += ["r1 = r6", "r2 = r9", "r3 = r8", "call sub", "r0 &= 255", "*(u8 *)(r6 + 5) = r0"]
        self.regs = {r: None for r in TEMPS}


SUB = """
sub:
    r0 = *(u8 *)(r1 + 3)
    r4 = *(u64 *)(r2 + 16)
    r0 += r4
    *(u64 *)(r10 - 8) = r1
    r5 = r3
    r5 += 8
    r4 = *(u32 *)(r5 + 4)
    r0 ^= r4
    *(u32 *)(r5 + 0) = r0
    r1 = *(u64 *)(r10 - 8)
    *(u16 *)(r1 + 10) = r0
    r2 += 32
    *(u64 *)(r2 + 8) = r0
    exit
"""

PROLOGUE = """
    r6 = *(u32 *)(r1 + 0)
    r7 = *(u32 *)(r1 + 4)
    r2 = r6
    r2 += 64
    if r2 > r7 goto out
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    r1 = {m0} ll
    call 1
    if r0 == 0 goto out
    r8 = r0
    r9 = r10
    r9 += -64
    *(u64 *)(r9 + 0) = 1
    *(u64 *)(r9 + 8) = 2
    *(u64 *)(r9 + 16) = 3
    *(u64 *)(r9 + 24) = 4
    *(u64 *)(r9 + 32) = 5
    *(u64 *)(r9 + 40) = 6
    *(u64 *)(r9 + 48) = 7
    *(u64 *)(r9 + 56) = 8
"""

EPILOGUE = """
    r0 = *(u64 *)(r9 + 0)
    r1 = *(u64 *)(r9 + 24)
    r0 ^= r1
    r1 = *(u64 *)(r9 + 56)
    r0 += r1
    r1 = *(u32 *)(r8 + 12)
    r0 ^= r1
    exit
out:
    r0 = 77
    exit
"""


@st.composite
def program(draw: st.DrawFn) -> str:
    gen = Gen(draw)
    for _ in range(draw(st.integers(1, 24))):
        if draw(st.integers(0, 15)) == 0:
            gen.call_sub()
        else:
            gen.op()
    fold = [f"r0 ^= r{r}" for r in gen.scalars()]
    return "\n".join([PROLOGUE, *gen.lines, *fold, EPILOGUE, SUB])


INTERP = Interpreter(helpers=default_helpers())
AUTO = JIT(helpers=default_helpers(), cache=False)
COUNTED = JIT(helpers=default_helpers(), cache=False, budget=DEFAULT_BUDGET)
MAP_SPEC = MapSpec("values", MapType.ARRAY, 4, SIZE, 2)
MAPS = {id(b): create_map(MAP_SPEC, b.memory, ncpus=2) for b in (INTERP, AUTO, COUNTED)}


def outcome(backend: object, text: str, frames: list[bytes]) -> tuple[object, ...]:
    m = MAPS[id(backend)]
    m.clear() if hasattr(m, "clear") else None
    for key in (0, 1):
        m[key.to_bytes(4, "little")] = bytes(range(key, key + SIZE))
    spec = ProgramSpec("t", tuple(assemble(text.replace("{m0}", str(m.address)), syntax="llvm")),
                       prog_type=ProgType.XDP)
    prog = backend.load(spec)  # type: ignore[attr-defined]
    results = [prog.test_run(data=f) for f in frames]
    return ([(r.retval, r.data_out, r.instructions) for r in results], sorted(m.items()),
            getattr(prog, "checked", False))


def kernel_outcome(text: str, frames: list[bytes]) -> tuple[object, ...]:
    """The program in the live kernel: the same array map (created with ``BPF_MAP_CREATE``,
    referenced by fd), ``BPF_PROG_TEST_RUN`` on each frame; the kernel's verifier refusing
    it is a test failure (pybpf accepted it)."""
    from pybpf.kernel.sys import map_create, map_lookup, map_update, prog_load, prog_test_run

    with map_create(MapType.ARRAY, 4, SIZE, 2) as fd:
        for key in (0, 1):
            map_update(fd, key.to_bytes(4, "little"), bytes(range(key, key + SIZE)))
        insns = [Instruction(OP_LDDW, i.dst, PseudoSrc.MAP_FD, 0, fd.fd, 0)
                 if i.code == OP_LDDW and i.imm == MAP_PLACEHOLDER else i
                 for i in assemble(text.replace("{m0}", str(MAP_PLACEHOLDER)), syntax="llvm")]
        try:
            prog = prog_load(ProgType.XDP, encode(insns), log_level=1)
        except KernelError as exc:
            raise AssertionError(f"pybpf accepted, the kernel rejected: {exc}\n{text}") from exc
        with prog:
            runs = [prog_test_run(prog, data=f) for f in frames]
        contents = sorted((k.to_bytes(4, "little"), map_lookup(fd, k.to_bytes(4, "little")))
                          for k in (0, 1))
    return [(r.retval, r.data_out) for r in runs], contents


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(program(), st.binary(min_size=SIZE, max_size=SIZE + 40))
def test_verified_programs_match_the_interpreter(text: str, data: bytes) -> None:
    frames = [data, data[:40]]
    try:
        expected = outcome(INTERP, text, frames)
        counted = outcome(COUNTED, text, frames)
    except VerifierError:
        assume(False)
        return
    assert counted == (*expected[:2], False), text
    auto = outcome(AUTO, text, frames)
    assert auto[0] == [(r, d, 0) for r, d, _ in expected[0]] and auto[1:] == counted[1:], text
    if KERNEL_OK:
        runs, contents = kernel_outcome(text, frames)
        assert runs == [(r & 0xFFFFFFFF, d) for r, d, _ in expected[0]], text
        assert contents == [(k, bytes(v)) for k, v in expected[1]], text
