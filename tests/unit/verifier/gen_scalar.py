"""Random scalar programs for the kernel-agreement tests of bounds and branch refinement.

Each program builds a scalar in ``r6`` and one in ``r7`` from unknown inputs (context loads,
``bpf_get_prandom_u32()``), constants, masks and conditional exits, then applies one
operation; the kernel's log shows the operands before and the result after.
"""

from __future__ import annotations

import random

from pybpf.isa import ALUOp, InsnClass, Instruction, JumpOp, Mode, Size, Source

EXIT_LABEL = -1  # patched to the final "r0 = 0; exit"

ALU_OPS = [ALUOp.ADD, ALUOp.SUB, ALUOp.MUL, ALUOp.AND, ALUOp.OR, ALUOp.XOR, ALUOp.LSH,
           ALUOp.RSH, ALUOp.ARSH, ALUOp.NEG, ALUOp.DIV, ALUOp.MOD, ALUOp.MOV, ALUOp.END]  # fmt: skip
JMP_OPS = [JumpOp.JEQ, JumpOp.JNE, JumpOp.JGT, JumpOp.JGE, JumpOp.JLT, JumpOp.JLE,
           JumpOp.JSGT, JumpOp.JSGE, JumpOp.JSLT, JumpOp.JSLE, JumpOp.JSET]  # fmt: skip


def _imm(rng: random.Random) -> int:
    choice = rng.random()
    if choice < 0.3:
        return rng.randint(-16, 16)
    if choice < 0.5:
        return rng.choice([0xFF, 0xFFFF, 0x7FFFFFFF, -0x80000000, -1, 0x80, 0x100, 1000])
    if choice < 0.8:
        return rng.randint(-(1 << 12), 1 << 12)
    return rng.randint(-(1 << 31), (1 << 31) - 1)


def alu(op: int, dst: int, src: int | None, imm: int = 0, alu32: bool = False,
        off: int = 0) -> Instruction:
    cls = InsnClass.ALU if alu32 else InsnClass.ALU64
    if src is None:
        return Instruction(cls | op | Source.K, dst, 0, off, imm)
    return Instruction(cls | op | Source.X, dst, src, off, 0)


def jmp(op: int, dst: int, src: int | None, imm: int, target: int, jmp32: bool = False) -> Instruction:
    cls = InsnClass.JMP32 if jmp32 else InsnClass.JMP
    if src is None:
        return Instruction(cls | op | Source.K, dst, 0, target, imm)
    return Instruction(cls | op | Source.X, dst, src, target, 0)


def build_scalar(rng: random.Random, reg: int, steps: int) -> list[Instruction]:
    """Instructions leaving an interesting scalar in ``reg`` (jump offsets = EXIT_LABEL)."""
    out: list[Instruction] = []
    start = rng.random()
    if start < 0.4:
        out.append(Instruction(InsnClass.LDX | Mode.MEM | Size.W, reg, 9, 0, 0))  # skb->len
    elif start < 0.8:
        out += [Instruction(InsnClass.JMP | JumpOp.CALL, 0, 0, 0, 7),  # get_prandom_u32
                alu(ALUOp.MOV, reg, 0)]
        if rng.random() < 0.5:  # make it 64 bits wide
            out += [alu(ALUOp.LSH, reg, None, rng.choice([8, 16, 32, 40])),
                    Instruction(InsnClass.LDX | Mode.MEM | Size.W, 0, 9, 0, 0),
                    alu(rng.choice([ALUOp.ADD, ALUOp.OR, ALUOp.XOR]), reg, 0)]
    else:
        out.append(Instruction.wide(reg, rng.randint(0, (1 << 64) - 1)) if rng.random() < 0.3
                   else alu(ALUOp.MOV, reg, None, _imm(rng)))
    for _ in range(steps):
        r = rng.random()
        if r < 0.45:
            op = rng.choice(JMP_OPS)
            out.append(jmp(op, reg, None, _imm(rng), EXIT_LABEL, jmp32=rng.random() < 0.3))
        elif r < 0.6:
            out.append(alu(ALUOp.AND, reg, None, rng.choice([0xFF, 0xF0F, 0x7FFFFFFF, -16,
                                                               0xFFFF, _imm(rng)])))
        elif r < 0.7:
            out.append(alu(rng.choice([ALUOp.ADD, ALUOp.SUB]), reg, None, _imm(rng),
                           alu32=rng.random() < 0.3))
        elif r < 0.8:
            out.append(alu(ALUOp.OR, reg, None, _imm(rng)))
        elif r < 0.9:
            out.append(alu(ALUOp.MOV, reg, reg, alu32=True))
        else:
            out.append(alu(ALUOp.ARSH, reg, None, rng.randint(0, 63)))
    return out


def finish(body: list[Instruction]) -> list[Instruction]:
    """Append ``r0 = 0; exit`` and point every EXIT_LABEL jump at it."""
    from pybpf.isa import pcs

    prog = body + [alu(ALUOp.MOV, 0, None, 0), Instruction(InsnClass.JMP | JumpOp.EXIT)]
    at = pcs(prog)
    exit_pc = at[-2]
    out = []
    for pc, insn in zip(at, prog, strict=True):
        if insn.cls in (InsnClass.JMP, InsnClass.JMP32) and insn.off == EXIT_LABEL and \
                insn.op not in (JumpOp.CALL, JumpOp.EXIT):
            insn = Instruction(insn.code, insn.dst, insn.src, exit_pc - pc - 1, insn.imm)
        out.append(insn)
    return out


def alu_program(rng: random.Random) -> tuple[list[Instruction], int]:
    """A program ending in one ALU op on r6 (with r7 or an immediate); returns (prog, op pc)."""
    from pybpf.isa import pcs

    body = [alu(ALUOp.MOV, 9, 1)] + build_scalar(rng, 6, rng.randint(0, 4)) + build_scalar(rng, 7, rng.randint(0, 4))
    op = rng.choice(ALU_OPS)
    alu32 = rng.random() < 0.35
    use_reg = rng.random() < 0.5 and op not in (ALUOp.NEG, ALUOp.END)
    off = 0
    if op == ALUOp.MOV and rng.random() < 0.5:
        off = rng.choice([8, 16, 32] if not alu32 else [8, 16])
        use_reg = True
    if use_reg:
        insn = alu(op, 6, 7, alu32=alu32, off=off)
    elif op in (ALUOp.LSH, ALUOp.RSH, ALUOp.ARSH):
        insn = alu(op, 6, None, rng.randint(0, 31 if alu32 else 63), alu32)
    elif op == ALUOp.NEG:
        insn = alu(op, 6, None, 0, alu32)
    elif op == ALUOp.END:
        width = rng.choice([16, 32, 64])
        to_be = rng.random() < 0.5 and alu32
        insn = Instruction((InsnClass.ALU if alu32 else InsnClass.ALU64) | op
                           | (Source.X if to_be else 0), 6, 0, 0, width)
    else:
        imm = _imm(rng)
        if op in (ALUOp.DIV, ALUOp.MOD) and imm == 0:
            imm = 3
        insn = alu(op, 6, None, imm, alu32)
    prog = finish(body + [insn])
    return prog, pcs(prog)[len(body)]


def jmp_program(rng: random.Random) -> tuple[list[Instruction], int]:
    """A program ending in one conditional jump on r6 (vs r7 or an immediate)."""
    from pybpf.isa import pcs

    body = [alu(ALUOp.MOV, 9, 1)] + build_scalar(rng, 6, rng.randint(0, 4)) + build_scalar(rng, 7, rng.randint(0, 4))
    op = rng.choice(JMP_OPS)
    jmp32 = rng.random() < 0.35
    if rng.random() < 0.5:
        insn = jmp(op, 6, 7, 0, 1, jmp32)
    else:
        insn = jmp(op, 6, None, _imm(rng), 1, jmp32)
    tail = [alu(ALUOp.MOV, 8, None, 1)]  # fall-through marker: r8 = 1, then exit
    prog = finish(body + [insn] + tail)
    return prog, pcs(prog)[len(body)]
