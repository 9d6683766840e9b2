"""Hypothesis strategies for random straight-line ALU/JMP programs the kernel accepts.

Every register r0..r9 starts from a random 64-bit constant (so the verifier sees only
initialised scalars), then a random sequence of ALU/ALU64 operations (every operator,
register and immediate forms, sdiv/smod, movsx, byte swaps) and forward conditional jumps
(JMP and JMP32) runs; r10 is never touched. Shifts by an immediate stay below the operand
width, as the verifier requires.
"""

from __future__ import annotations

from hypothesis import strategies as st

from pybpf.isa import Instruction

REGS = st.integers(0, 9)
IMM = st.one_of(
    st.integers(-(1 << 31), (1 << 31) - 1),
    st.sampled_from([0, 1, -1, 2, 31, 32, 63, 64, 0x7FFFFFFF, -(1 << 31), 0xFFFF, 0x80]),
)
U64 = st.one_of(
    st.integers(0, (1 << 64) - 1),
    st.sampled_from([0, 1, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 0xFFFFFFFF, 1 << 32, 0x80000000]),
)
ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xA0, 0xB0, 0xC0]
JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0]


@st.composite
def alu_insn(draw: st.DrawFn) -> Instruction:
    wide = draw(st.booleans())
    cls = 0x07 if wide else 0x04
    kind = draw(st.sampled_from(["binop"] * 8 + ["neg", "signed", "movsx", "end"]))
    dst = draw(REGS)
    if kind == "neg":
        return Instruction(cls | 0x80, dst)
    if kind == "end":
        width = draw(st.sampled_from([16, 32, 64]))
        if wide:
            return Instruction(0xD7, dst, imm=width)  # bswap
        return Instruction(0xD4 | draw(st.sampled_from([0x00, 0x08])), dst, imm=width)
    if kind == "movsx":
        off = draw(st.sampled_from([8, 16, 32] if wide else [8, 16]))
        return Instruction(cls | 0xB8, dst, draw(REGS), off=off)
    if kind == "signed":
        op = draw(st.sampled_from([0x30, 0x90]))
        if draw(st.booleans()):
            return Instruction(cls | op | 0x08, dst, draw(REGS), off=1)
        imm = draw(IMM.filter(lambda v: v != 0))
        return Instruction(cls | op, dst, imm=imm, off=1)
    op = draw(st.sampled_from(ALU_OPS))
    if draw(st.booleans()):
        return Instruction(cls | op | 0x08, dst, draw(REGS))
    if op in (0x60, 0x70, 0xC0):
        imm = draw(st.integers(0, 63 if wide else 31))
    elif op in (0x30, 0x90):
        imm = draw(IMM.filter(lambda v: v != 0))  # the verifier rejects division by constant 0
    else:
        imm = draw(IMM)
    return Instruction(cls | op, dst, imm=imm)


@st.composite
def straight_line_program(draw: st.DrawFn, max_len: int = 24) -> list[Instruction]:
    """Initialisation, a body of ALU ops and forward jumps; ends where the tail begins."""
    insns: list[Instruction] = [Instruction.wide(r, draw(U64)) for r in range(10)]
    body_len = draw(st.integers(1, max_len))
    body: list[tuple[str, object]] = []
    for _ in range(body_len):
        if draw(st.integers(0, 5)) == 0:
            body.append(("jmp", (draw(st.sampled_from(JMP_OPS)), draw(st.booleans()),
                                  draw(st.booleans()), draw(REGS), draw(REGS), draw(IMM))))
        else:
            body.append(("alu", draw(alu_insn())))
    for index, (kind, item) in enumerate(body):
        if kind == "alu":
            insns.append(item)  # type: ignore[arg-type]
            continue
        op, is32, use_reg, dst, src, imm = item  # type: ignore[misc]
        remaining = body_len - index - 1
        off = draw(st.integers(0, remaining))
        cls = 0x06 if is32 else 0x05
        if use_reg:
            insns.append(Instruction(cls | op | 0x08, dst, src, off=off))
        else:
            insns.append(Instruction(cls | op, dst, imm=imm, off=off))
    return insns


EXIT = Instruction(0x95)
#: Tails that expose the low and the high half of r0 (test_run's retval is 32 bits).
LOW_TAIL = (EXIT,)
HIGH_TAIL = (Instruction(0x77, 0, imm=32), EXIT)
