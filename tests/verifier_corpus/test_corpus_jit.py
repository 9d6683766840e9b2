"""The corpus's accepted packet programs on the JIT: verified code (packet accesses and
``data_end`` compares at host addresses, pybpf.jit.lower_packet) gives the interpreter's
return value, output packet and faults on a set of frames, for real clang-compiled and
hand-written XDP, tc and cgroup skb programs (both count a budget of instructions: a few
cases loop millions of times, and end out of budget at the same instruction on both).

``make test`` runs a quarter of the quickly verified ones; PYBPF_DIFF_EXAMPLES >= 1000
(``make test-long``) runs all of them.
"""

from __future__ import annotations

import dataclasses
import os
import random

import corpus
import pytest

from pybpf.errors import PybpfError
from pybpf.interp import Interpreter
from pybpf.jit import JIT
from pybpf.loader import runtime_helpers
from pybpf.platform.enums import ProgType
from pybpf.program.spec import CollectionSpec
from pybpf.runtime.collection import Collection
from pybpf.runtime.helpers import ManualClock, Prandom

PACKET_TYPES = ("XDP", "SCHED_CLS", "SCHED_ACT", "CGROUP_SKB")
#: Instructions per run on both backends (some cases loop 8 million times; those end out of
#: budget, at the same instruction on both).
BUDGET = 1_000_000
ALL = int(os.environ.get("PYBPF_DIFF_EXAMPLES", "0")) >= 1000
_rng = random.Random(7)
#: Frames from too short for an Ethernet header to a full-size one, random and IPv4/UDP.
FRAMES = [bytes(_rng.getrandbits(8) for _ in range(n)) for n in (14, 20, 60, 64, 100, 1500)]
FRAMES.append(bytes.fromhex("ffffffffffff0000000000010800450000340001000040110000"
                            "0a0000010a000002") + bytes(40))

CASES = [case for case in corpus.load_cases()
         if case.recorded is not None and case.recorded.verdict == "accept"
         and case.prog_type in PACKET_TYPES and case.privileged and not case.insns]
#: ``make test``: every fourth case the kernel verified in under 20,000 instructions (pybpf's
#: verifier, which the JIT runs first, takes seconds for the largest).
SELECTED = CASES if ALL else [case for case in CASES
                              if (case.recorded.processed_insns or 0) < 20_000]


def _outcome(backend: Interpreter | JIT, built: corpus.Built, prog_type: str) -> object:
    backend.state.prandom = Prandom.seeded(1234)  # the same random and time on both
    backend.state.clock = ManualClock(now_ns=10**12, step_ns=1000)
    program = built.program
    if program.prog_type in (None, ProgType.UNSPEC):
        program = dataclasses.replace(program, prog_type=ProgType[prog_type])
    try:
        coll = Collection(CollectionSpec({"p": program}, dict(built.maps)), backend)
        prog = coll.program("p")
    except PybpfError as exc:
        return ("load", type(exc).__name__, str(exc))
    out: list[object] = []
    for frame in FRAMES:
        try:
            result = prog.test_run(data=frame)
            out.append((result.retval, result.data_out))
        except PybpfError as exc:
            out.append((type(exc).__name__, str(exc)))
    return out


@pytest.mark.parametrize("case", SELECTED, ids=[case.id for case in SELECTED])
def test_accepted_packet_program_matches_the_interpreter(case: corpus.Case) -> None:
    built = corpus.build(case)
    expected = _outcome(Interpreter(helpers=runtime_helpers(), budget=BUDGET), built,
                        case.prog_type)
    got = _outcome(JIT(helpers=runtime_helpers(), cache=False, budget=BUDGET), built,
                   case.prog_type)
    assert got == expected
