"""Verified code addresses memory directly through each pointer's region shadow
(pybpf.jit.provenance): packet, stack and map value pointers copied, offset, spilled and
filled, passed to a sub-program, NULL on one path; results, packets, maps and instruction
counts stay the interpreter's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pybpf.asm import assemble
from pybpf.interp import Interpreter
from pybpf.platform.enums import MapType, ProgType
from pybpf.program.cfg import split_functions
from pybpf.program.spec import MapSpec, ProgramSpec
from pybpf.runtime.execstate import DEFAULT_BUDGET
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map

FRAME = bytes(range(7, 7 + 96))
FRAMES = [FRAME, FRAME[:40], FRAME[:70], bytes(64)]


def both(text: str, jit: Callable, frames: Sequence[bytes] = FRAMES,
         maps: Sequence[MapSpec] = (), budget: Any = DEFAULT_BUDGET) -> list[Any]:
    """Every frame through XDP program ``text`` on the interpreter and on the JIT (which must
    have verified it); the outcomes (and map contents) must agree. Returns them."""
    outcomes = []
    for backend in (Interpreter(helpers=default_helpers()),
                    jit(helpers=default_helpers(), budget=budget)):
        made = [create_map(spec, backend.memory, ncpus=2) for spec in maps]
        source = text
        for i, m in enumerate(made):
            source = source.replace(f"{{m{i}}}", str(m.address))
        prog = backend.load(ProgramSpec("t", tuple(assemble(source, syntax="llvm")),
                                        prog_type=ProgType.XDP))
        assert not getattr(prog, "checked", False)
        results = [prog.test_run(data=f) for f in frames]
        outcomes.append(([(r.retval, r.data_out, r.instructions) for r in results],
                         [sorted(m.items()) for m in made]))
    if budget is None or budget == "auto":  # verified code counts nothing by default
        assert all(n == 0 for _, _, n in outcomes[1][0])
        outcomes[1] = ([(r, d, n2) for (r, d, _), (_, _, n2) in
                        zip(outcomes[1][0], outcomes[0][0], strict=True)], outcomes[1][1])
    assert outcomes[1] == outcomes[0]
    return outcomes[1][0]


PACKET = """
    r6 = *(u32 *)(r1 + 0)
    r7 = *(u32 *)(r1 + 4)
    r2 = r6
    r2 += 64
    r0 = 0
    if r2 > r7 goto out
    *(u64 *)(r10 - 8) = r6
    *(u64 *)(r10 - 16) = r7
    r3 = *(u8 *)(r6 + 0)
    r3 &= 31
    r4 = r3
    r4 += r6
    r2 = r4
    r2 += 3
    if r2 > r7 goto out
    r5 = *(u8 *)(r4 + 1)
    r8 = *(u64 *)(r10 - 8)
    r8 += 2
    r9 = *(u16 *)(r8 + 0)
    *(u8 *)(r4 + 2) = r9
    *(u32 *)(r10 - 8) = r5
    r1 = *(u64 *)(r10 - 16)
    r1 -= r8
    r0 = r5
    r0 += r9
    r0 += r1
out:
    exit
"""


@pytest.mark.parametrize("budget", [DEFAULT_BUDGET, "auto"])
def test_packet_pointers_copied_offset_spilled_and_filled(jit: Callable, budget: Any) -> None:
    results = both(PACKET, jit, budget=budget)
    assert results[1][0] == 0 and results[0][0] != 0


STACK = """
    r2 = r10
    r2 += -16
    r3 = 7
    *(u64 *)(r2 + 0) = r3
    *(u32 *)(r2 + 8) = r3
    r4 = *(u64 *)(r10 - 16)
    r5 = *(u32 *)(r10 - 8)
    r0 = r4
    r0 += r5
    *(u64 *)(r10 - 24) = r2
    r6 = *(u64 *)(r10 - 24)
    r7 = *(u64 *)(r6 + 0)
    r0 += r7
    r6 += 4
    r3 = 5
    *(u32 *)(r6 + 0) = r3
    r7 = *(u64 *)(r10 - 16)
    r0 += r7
    lock *(u64 *)(r6 + 4) += r3
    r7 = *(u32 *)(r10 - 8)
    r0 += r7
    exit
"""


def test_stack_pointers_in_registers_and_spill_slots(jit: Callable) -> None:
    assert both(STACK, jit)[0][0] == (7 + 7 + 7 + ((5 << 32) | 7) + 12) & 0xFFFFFFFF



ALIASED = """
    r6 = *(u32 *)(r1 + 0)
    r7 = *(u32 *)(r1 + 4)
    r2 = r6
    r2 += 32
    r0 = 0
    if r2 > r7 goto out
    *(u64 *)(r10 - 8) = r6
    *(u64 *)(r10 - 16) = r6
    r8 = r10
    r8 += -40
    r3 = *(u8 *)(r6 + 3)
    *(u32 *)(r8 + 0) = r3
    *(u32 *)(r8 + 24) = r3
    *(u8 *)(r8 + 28) = 9
    r4 = r6
    r4 += 5
    *(u64 *)(r8 + 8) = r4
    r6 = 0
    r1 = *(u64 *)(r10 - 8)
    r0 = *(u8 *)(r1 + 1)
    r1 = *(u64 *)(r10 - 32)
    r2 = *(u8 *)(r1 + 2)
    r0 += r2
    r2 = *(u64 *)(r10 - 16)
    r0 += r2
    r2 = *(u32 *)(r8 + 0)
    r0 += r2
out:
    exit
"""


def test_stores_through_a_frame_alias(jit: Callable) -> None:
    """The frame escapes (r8 points into it): narrow stores through the alias keep the other
    slots' pointers usable and turn a partly overwritten spill into a scalar; an 8-byte
    store of a pointer through it plants a pointer the fill must find."""
    results = both(ALIASED, jit)
    assert [r for r, _, _ in results][-1] == 0  # the 64-byte frame of zeros


MAPS = """
    r6 = r1
    *(u32 *)(r10 - 4) = 1
    r2 = r10
    r2 += -4
    r1 = {m0} ll
    call 1
    r7 = r0
    if r7 == 0 goto hash
    r1 = *(u64 *)(r7 + 0)
    r1 += 5
    *(u64 *)(r7 + 0) = r1
    r8 = r7
    r8 += 8
    *(u32 *)(r8 + 4) = r1
    r2 = 3
    lock *(u64 *)(r7 + 0) += r2
hash:
    r1 = *(u32 *)(r6 + 0)
    r2 = *(u32 *)(r6 + 4)
    r3 = r1
    r3 += 8
    r0 = 0
    if r3 > r2 goto out
    r3 = *(u32 *)(r1 + 0)
    *(u32 *)(r10 - 8) = r3
    *(u64 *)(r10 - 16) = r3
    *(u64 *)(r10 - 24) = r7
    r2 = r10
    r2 += -8
    r3 = r10
    r3 += -16
    r1 = {m1} ll
    r4 = 0
    call 2
    r2 = r10
    r2 += -8
    r1 = {m1} ll
    call 1
    if r0 == 0 goto out
    r1 = *(u64 *)(r0 + 0)
    r1 += 1
    *(u64 *)(r0 + 0) = r1
    r7 = *(u64 *)(r10 - 24)
    r0 = 1
    if r7 == 0 goto out
    r0 = *(u64 *)(r7 + 0)
out:
    exit
"""


def test_map_value_pointers_null_on_one_path(jit: Callable) -> None:
    maps = (MapSpec("a", MapType.ARRAY, 4, 16, 2), MapSpec("h", MapType.HASH, 4, 8, 8))
    results = both(MAPS, jit, maps=maps)
    assert [r for r, _, _ in results] == [8, 16, 24, 32]


SUBPROGRAM = """
    r6 = *(u32 *)(r1 + 0)
    r7 = *(u32 *)(r1 + 4)
    r2 = r6
    r2 += 32
    r0 = 0
    if r2 > r7 goto out
    *(u64 *)(r10 - 8) = r6
    r1 = r6
    r2 = r10
    r2 += -8
    call sum
    r1 = *(u64 *)(r10 - 8)
    r1 = *(u8 *)(r1 + 3)
    r0 += r1
out:
    exit
sum:
    r0 = *(u32 *)(r1 + 4)
    r3 = *(u64 *)(r2 + 0)
    r4 = *(u16 *)(r3 + 8)
    r0 += r4
    *(u8 *)(r1 + 3) = r0
    r3 += 1
    *(u64 *)(r2 + 0) = r3
    exit
"""


PARTLY_EXPOSED = """
    r6 = *(u32 *)(r1 + 0)
    r7 = *(u32 *)(r1 + 4)
    r2 = r6
    r2 += 16
    r0 = 0
    if r2 > r7 goto out
    *(u64 *)(r10 - 48) = r6
    r3 = *(u32 *)(r6 + 0)
    *(u32 *)(r10 - 40) = r3
    *(u64 *)(r10 - 16) = r3
    *(u32 *)(r10 - 32) = r3
    r8 = r10
    r8 += -16
    r4 = *(u8 *)(r6 + 5)
    *(u32 *)(r8 + 4) = r4
    *(u64 *)(r10 - 24) = r4
    EXTRA
    r1 = *(u64 *)(r10 - 48)
    r0 = *(u8 *)(r1 + 2)
    r2 = *(u32 *)(r10 - 40)
    r0 += r2
    r2 = *(u64 *)(r10 - 16)
    r0 += r2
    r2 = *(u64 *)(r10 - 24)
    r0 += r2
    r2 = *(u32 *)(r10 - 32)
    r0 += r2
    r2 = *(u32 *)(r8 - 4)
    r0 += r2
out:
    exit
"""


@pytest.mark.parametrize("extra", ["", "lock *(u32 *)(r10 - 32) += r4",
                                   "r2 = r10\n r2 += -40\n r2 = *(u32 *)(r2 + 0)\n r0 += r2"])
def test_frame_partly_exposed(jit: Callable, extra: str) -> None:
    """The frame escapes (r8 = r10 - 16): only what the verifier saw reached through other
    pointers (here [-20, 0), lowered to -24 by a straddling access, to -32 by an atomic at
    r10, to -40 by another alias) stays in the shared frame; the rest is the function's
    private part. Spills, fills and aliased accesses keep the interpreter's results."""
    from pybpf.verifier import verify

    text = PARTLY_EXPOSED.replace("EXTRA", extra)
    spec = ProgramSpec("t", tuple(assemble(text, syntax="llvm")), prog_type=ProgType.XDP)
    low = -40 if "r2 += -40" in extra else -20
    assert verify(spec).stack_exposed == ((0, low),)
    both(text, jit)


READ_ONLY = """
    r6 = r1
    *(u32 *)(r10 - 4) = 1
    r2 = r10
    r2 += -4
    r1 = {m0} ll
    call 1
    if r0 == 0 goto out
    r1 = *(u64 *)(r0 + 8)
    r2 = *(u32 *)(r0 + 4)
    r0 = *(u8 *)(r0 + 1)
    r0 += r1
    r0 += r2
    r1 = *(u32 *)(r6 + 0)
    r2 = *(u32 *)(r6 + 4)
    r3 = r1
    r3 += 8
    if r3 > r2 goto out
    r2 = *(u32 *)(r1 + 0)
    r0 += r2
out:
    exit
"""


def test_read_only_map_values_loaded_in_place(jit: Callable) -> None:
    """Values of a read-only map (``.rodata``, BPF_F_RDONLY_PROG) are loaded directly: the
    shadow's load flag is set where its store flag is not."""
    contents = ((bytes([1, 0, 0, 0]), bytes(range(3, 19))),)
    maps = (MapSpec("ro", MapType.ARRAY, 4, 16, 2, read_only=True, contents=contents),)
    results = both(READ_ONLY, jit, maps=maps)
    assert results[0][0] == (4 + 0x1211100F0E0D0C0B + 0x0A090807 * 2) & 0xFFFFFFFF


def test_exposure_is_reported_for_every_function() -> None:
    """The verifier reports every function's exposed frame (0: nothing but its own r10 + k
    reaches it); the JIT treats a function it does not find there as wholly exposed."""
    from pybpf.verifier import verify

    spec = ProgramSpec("t", tuple(assemble(SUBPROGRAM, syntax="llvm")), prog_type=ProgType.XDP)
    starts = [fn.start for fn in split_functions(spec.instructions)]
    assert verify(spec).stack_exposed == ((starts[0], -8), (starts[1], 0))


def test_pointers_passed_to_a_sub_program(jit: Callable) -> None:
    assert len(split_functions(tuple(assemble(SUBPROGRAM, syntax="llvm")))) == 2
    both(SUBPROGRAM, jit)


LOOP = """
    r6 = *(u32 *)(r1 + 0)
    r7 = *(u32 *)(r1 + 4)
    r0 = 0
    r8 = 0
loop:
    may_goto out
    r2 = r8
    r2 &= 63
    r3 = r6
    r3 += r2
    r4 = r3
    r4 += 1
    if r4 > r7 goto out
    r5 = *(u8 *)(r3 + 0)
    r0 += r5
    r5 += 1
    *(u8 *)(r3 + 0) = r5
    r8 += 1
    if r8 < 500 goto loop
out:
    exit
"""


@pytest.mark.parametrize("budget", [DEFAULT_BUDGET, "auto", None])
def test_pointers_made_in_a_loop(jit: Callable, budget: Any) -> None:
    both(LOOP, jit, budget=budget)
