"""Value tracking against the live kernel: the state the verifier prints after an ALU op.

Random programs load a context byte (or half word, word), shape it (shift, mask, or, add —
32 or 64 bit), then apply one ALU operation — every operator, 32- and 64-bit, immediate or
register operand, sign-extending moves included — and the level-2 log line of that
instruction (``N: (op) ... ; R0=scalar(smin=...,var_off=(...))``) must be the kernel's,
character for character: tnum, signed/unsigned 64- and 32-bit bounds, linked-scalar ids.

``PYBPF_VALUES_EXAMPLES`` sets how many programs run (default 120). Skips where bpf() is not
available.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "verifier_corpus"))
import corpus  # noqa: E402

pytestmark = pytest.mark.kernel

try:
    from pybpf.kernel.sys import bpf_available
except ImportError as exc:  # pragma: no cover
    pytest.skip(f"pybpf.kernel.sys cannot be imported: {exc}", allow_module_level=True)
_OK, _WHY = bpf_available()
if not _OK:
    pytest.skip(f"bpf() is not available: {_WHY}", allow_module_level=True)

EXAMPLES = int(os.environ.get("PYBPF_VALUES_EXAMPLES", "120"))
_OPS = ("+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=", "<<=", ">>=", "s>>=")
_SHAPES = ("r0 += {small}", "r0 &= {mask:#x}", "r0 |= {mask:#x}", "r0 -= {big}", "w0 += {s32}",
           "r0 <<= {sh}", "r0 s>>= 3", "w0 ^= {mask:#x}", "r0 *= {small_pos}")


def _program(rng: random.Random) -> tuple[str, str]:
    """(assembly, the op under test) — the op is always instruction 3."""
    load = rng.choice(("u8", "u16", "u32"))
    shape = rng.choice(_SHAPES).format(
        small=rng.randrange(-300, 300), mask=rng.randrange(0, 1 << rng.choice((8, 16, 31))),
        big=rng.randrange(0, 1 << 31), s32=rng.randrange(-(1 << 31), 1 << 31),
        sh=rng.choice((4, 24, 40)), small_pos=rng.randrange(1, 500))
    width = rng.choice(("r", "w"))
    kind = rng.random()
    if kind < 0.2:
        op = rng.choice(("r5 = (s8)r0", "r5 = (s16)r0", "r5 = (s32)r0", "w5 = (s8)w0",
                         "w5 = (s16)w0"))
        konst = "r4 = 0"
    else:
        alu = rng.choice(_OPS)
        if alu in ("<<=", ">>=", "s>>="):
            k = rng.randrange(0, 32 if width == "w" else 64)
        else:
            k = rng.choice((rng.randrange(1, 1 << 10), rng.randrange(1, 1 << 31),
                            -rng.randrange(1, 1 << 20)))
        konst = f"r4 = {k}"
        op = f"{width}0 {alu} {width}4" if rng.random() < 0.5 else f"{width}0 {alu} {k}"
    return "\n".join((f"r0 = *({load} *)(r1 + 0)", shape, konst, op, "r0 = 0", "exit")), op


def _line(log: str, pc: int) -> str:
    for line in log.splitlines():
        if line.startswith(f"{pc}: ("):
            return line
    return f"(no line for insn {pc})"


@pytest.mark.parametrize("seed", range(EXAMPLES))
def test_alu_state_matches_kernel(seed: int) -> None:
    from pybpf.asm import assemble
    from pybpf.platform.enums import ProgType
    from pybpf.program.spec import ProgramSpec
    from pybpf.verifier import verify

    asm, op = _program(random.Random(seed))
    case = corpus.Case("values", f"seed{seed}", "SOCKET_FILTER", True, "GPL", "", (), (),
                       asm=asm)
    with corpus.kernel_job(case) as (job, _):
        _, klog = corpus.load_job(job, 2)
    spec = ProgramSpec("values", tuple(assemble(asm, syntax="llvm")), license="GPL",
                       prog_type=int(ProgType.SOCKET_FILTER))
    ours = verify(spec, log_level=2).log
    assert _line(ours, 3) == _line(klog, 3), f"after `{op}` in:\n{asm}"
