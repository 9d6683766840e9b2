"""Callback-calling helpers: a program pybpf's verifier accepts runs as verified.

The verdicts and logs themselves are checked against the kernel by the corpus (topic
``callbacks``); here a verified bpf_loop / bpf_for_each_map_elem program is also run on
the interpreter, whose callbacks (pybpf.runtime.helpers.callbacks) must do what the
verifier assumed.
"""

from __future__ import annotations

from pybpf.asm import assemble
from pybpf.btf import Btf, write
from pybpf.btf.types import Func, FuncLinkage, FuncProto, Int, IntEncoding
from pybpf.interp import Interpreter
from pybpf.isa import OP_LDDW, PseudoSrc, pcs
from pybpf.platform.enums import MapType, ProgType
from pybpf.program import ProgramSpec
from pybpf.program.spec import FuncInfo, MapSpec
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map
from pybpf.verifier import verify

LOOP = """
    *(u64 *)(r10 - 8) = 0
    r1 = 10
    r2 = body ll
    r3 = r10
    r3 += -8
    r4 = 0
    call bpf_loop
    r1 = *(u64 *)(r10 - 8)
    r1 <<= 32
    r0 |= r1
    exit
body:
    r3 = *(u64 *)(r2 + 0)
    r3 += r1
    *(u64 *)(r2 + 0) = r3
    r0 = 0
    if r1 != 6 goto +1
    r0 = 1
    exit
"""


def _spec(text: str, prog_type: ProgType) -> ProgramSpec:
    """The program with BTF func info (the kernel takes a callback's address only then):
    ``int main(void)`` global, an ``int cbN(void)`` static one per callback."""
    insns = tuple(assemble(text, syntax="llvm"))
    cb_pcs = tuple(sorted({pc + i.imm + 1 for pc, i in zip(pcs(insns), insns, strict=True)
                           if i.code == OP_LDDW and i.src == PseudoSrc.FUNC}))
    types = [Int(1, "int", 4, IntEncoding.SIGNED, 32), FuncProto(2, "", 1, ()),
             Func(3, "main", 2, FuncLinkage.GLOBAL)]
    types += [Func(4 + i, f"cb{i}", 2, FuncLinkage.STATIC) for i in range(len(cb_pcs))]
    infos = (FuncInfo(0, 3, "main"),) + tuple(
        FuncInfo(pc, 4 + i, f"cb{i}") for i, pc in enumerate(cb_pcs))
    return ProgramSpec("t", insns, prog_type=int(prog_type),
                       func_info=infos, btf=Btf.from_bytes(write.encode(types)))


def test_verified_bpf_loop_runs_on_the_interpreter() -> None:
    spec = _spec(LOOP, ProgType.XDP)
    result = verify(spec)
    assert result.accepted, result.error
    assert result.processed_insns == 35  # as Linux 6.18 counts it (same level-2 log too)
    interp = Interpreter(helpers=default_helpers())
    prog = interp.load(spec)
    r0 = prog.run().retval
    # indices 0..6 summed, the callback stopped the loop at index 6 (7 iterations)
    assert r0 == (0 + 1 + 2 + 3 + 4 + 5 + 6) << 32 | 7


def test_bpf_loop_needs_func_info() -> None:
    spec = ProgramSpec("t", tuple(assemble(LOOP, syntax="llvm")), prog_type=int(ProgType.XDP))
    result = verify(spec)
    assert not result.accepted
    assert result.error == "missing btf func_info"


EACH = """
    *(u64 *)(r10 - 8) = 0
    ld_pseudo r1, 1, 0
    r2 = body ll
    r3 = r10
    r3 += -8
    r4 = 0
    call bpf_for_each_map_elem
    r1 = *(u64 *)(r10 - 8)
    r1 <<= 32
    r0 |= r1
    exit
body:
    r0 = *(u64 *)(r3 + 0)
    r1 = *(u64 *)(r4 + 0)
    r1 += r0
    *(u64 *)(r4 + 0) = r1
    r0 = 0
    exit
"""


def test_verified_for_each_map_elem_runs_on_the_interpreter() -> None:
    from pybpf.program.spec import MapReference

    spec = _spec(EACH, ProgType.XDP)
    mspec = MapSpec("m", MapType.ARRAY, 4, 8, 3)
    import dataclasses

    spec = dataclasses.replace(spec, map_references=(MapReference(1, "m", False, 0),))
    result = verify(spec, maps={"m": mspec})
    assert result.accepted, result.error
    interp = Interpreter(helpers=default_helpers())
    m = create_map(mspec, interp.memory, ncpus=2)
    for i, v in enumerate((10, 20, 30)):
        m.update(i, v.to_bytes(8, "little"))
    insns = list(spec.instructions)
    insns[1] = type(insns[1]).wide(1, m.address, 0)  # the map's address, as the loader does
    prog = interp.load(dataclasses.replace(spec, instructions=tuple(insns),
                                           map_references=()))
    assert prog.run().retval == 60 << 32 | 3
