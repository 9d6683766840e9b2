"""Which encodings are valid eBPF instructions.

The table follows RFC 9669 plus the Linux extensions the kernel accepts today (sdiv/smod,
movsx, ALU64 bswap, gotol, may_goto, kfunc calls, load-acquire/store-release, arena
address-space casts) and ``callx`` (RFC 9669 era ``BPF_JMP | BPF_CALL | BPF_X`` with the
target in ``dst``; accepted by userspace runtimes, rejected by the Linux verifier).

:func:`check` mirrors the *reserved field* checks of ``do_check()`` / ``check_alu_op()`` in
``kernel/bpf/verifier.c`` structurally; the verifier itself reports them with the kernel's
wording. This module has no kernel messages.
"""

from __future__ import annotations

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import (
    MAX_REGISTER,
    OP_LDDW,
    ALUOp,
    AtomicOp,
    CallSrc,
    InsnClass,
    JumpOp,
    Mode,
    PseudoSrc,
    Size,
    Source,
)

_ALU_OPS = frozenset(int(o) for o in ALUOp)
_JMP_OPS = frozenset(int(o) for o in JumpOp)
_COND_OPS = frozenset(
    int(o) for o in JumpOp if o not in (JumpOp.JA, JumpOp.CALL, JumpOp.EXIT, JumpOp.JCOND)
)
_ATOMIC_OPS = frozenset(int(o) for o in AtomicOp)
_PSEUDO_SRCS = frozenset(int(s) for s in PseudoSrc)


def _regs(insn: Instruction, dst: bool = True, src: bool = True) -> str | None:
    if dst and insn.dst > MAX_REGISTER:
        return f"invalid destination register r{insn.dst}"
    if src and insn.src > MAX_REGISTER:
        return f"invalid source register r{insn.src}"
    return None


def _check_alu(insn: Instruction) -> str | None:
    op = insn.op
    is64 = insn.cls == InsnClass.ALU64
    name = "alu64" if is64 else "alu32"
    if op not in _ALU_OPS:
        return f"unknown {name} operation {op:#04x} (opcode {insn.code:#04x})"
    if op == ALUOp.END:
        if is64 and insn.source != Source.K:
            return f"bswap (opcode {insn.code:#04x}) must use BPF_TO_LE encoding in ALU64"
        if insn.imm not in (16, 32, 64):
            return f"byte swap width must be 16, 32 or 64 (got {insn.imm})"
        if insn.src or insn.off:
            return "byte swap uses reserved fields (src/off must be 0)"
        return _regs(insn, src=False)
    if op == ALUOp.NEG:
        if insn.source != Source.K or insn.src or insn.off or insn.imm:
            return "neg uses reserved fields (src/off/imm must be 0)"
        return _regs(insn, src=False)
    allowed_off: tuple[int, ...] = (0,)
    if op in (ALUOp.DIV, ALUOp.MOD):
        allowed_off = (0, 1)
    elif op == ALUOp.MOV and insn.source == Source.X:
        allowed_off = (0, 8, 16, 32, 1) if is64 else (0, 8, 16)
    if insn.off not in allowed_off:
        return f"{name} {ALUOp(op).name.lower()} has invalid offset {insn.off}"
    if insn.source == Source.K:
        if insn.src:
            return f"{name} with immediate operand uses reserved src register r{insn.src}"
        return _regs(insn, src=False)
    if insn.imm and not (op == ALUOp.MOV and insn.off == 1):
        return f"{name} with register operand uses reserved imm {insn.imm}"
    return _regs(insn)


def _check_jmp(insn: Instruction) -> str | None:
    op = insn.op
    is32 = insn.cls == InsnClass.JMP32
    if op not in _JMP_OPS:
        return f"unknown jump operation {op:#04x} (opcode {insn.code:#04x})"
    if op == JumpOp.JA:
        if insn.source != Source.K or insn.src or insn.dst:
            return "ja uses reserved fields"
        if is32:
            return "gotol uses reserved field off" if insn.off else None
        return "ja uses reserved field imm" if insn.imm else None
    if op == JumpOp.JCOND:
        if is32 or insn.source != Source.K or insn.src != 0 or insn.dst or insn.imm:
            return f"invalid conditional pseudo-jump (opcode {insn.code:#04x})"
        return None
    if op == JumpOp.CALL:
        if is32:
            return "call is not valid in the jmp32 class"
        if insn.source == Source.X:  # callx: target address in dst
            if insn.src or insn.off or insn.imm:
                return "callx uses reserved fields (src/off/imm must be 0)"
            return _regs(insn, src=False)
        if insn.dst:
            return "call uses reserved field dst"
        if insn.src not in (CallSrc.HELPER, CallSrc.PSEUDO_CALL, CallSrc.KFUNC_CALL):
            return f"call has unknown src {insn.src}"
        if insn.off and insn.src != CallSrc.KFUNC_CALL:
            return "call uses reserved field off"
        return None
    if op == JumpOp.EXIT:
        if is32:
            return "exit is not valid in the jmp32 class"
        if insn.source or insn.src or insn.dst or insn.off or insn.imm:
            return "exit uses reserved fields"
        return None
    if insn.source == Source.K:
        if insn.src:
            return f"conditional jump with immediate uses reserved src register r{insn.src}"
        return _regs(insn, src=False)
    if insn.imm:
        return f"conditional jump with register operand uses reserved imm {insn.imm}"
    return _regs(insn)


def _check_ld(insn: Instruction) -> str | None:
    mode, size = insn.mode, insn.size
    if insn.code == OP_LDDW:
        if insn.src not in _PSEUDO_SRCS:
            return f"lddw has unknown pseudo source {insn.src}"
        if insn.off:
            return "lddw uses reserved field off"
        return _regs(insn, src=False)
    if mode in (Mode.ABS, Mode.IND) and size != Size.DW:
        if insn.dst or insn.off:
            return "legacy packet load uses reserved fields (dst/off must be 0)"
        if mode == Mode.ABS and insn.src:
            return "ld_abs uses reserved field src"
        return _regs(insn, dst=False)
    return f"unknown load opcode {insn.code:#04x} in class LD"


def _check_mem(insn: Instruction) -> str | None:
    cls, mode, size = insn.cls, insn.mode, insn.size
    if cls == InsnClass.LDX:
        if mode == Mode.MEM or (mode == Mode.MEMSX and size != Size.DW):
            return "ldx uses reserved field imm" if insn.imm else _regs(insn)
        return f"unknown load opcode {insn.code:#04x} in class LDX"
    if cls == InsnClass.ST:
        if mode != Mode.MEM:
            return f"unknown store opcode {insn.code:#04x} in class ST"
        return "st uses reserved field src" if insn.src else _regs(insn, src=False)
    # STX
    if mode == Mode.MEM:
        return "stx uses reserved field imm" if insn.imm else _regs(insn)
    if mode == Mode.ATOMIC:
        if insn.imm not in _ATOMIC_OPS:
            return f"unknown atomic operation {insn.imm:#x}"
        if insn.imm in (AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL):
            return _regs(insn)
        if size not in (Size.W, Size.DW):
            return "atomic operations are only 32 or 64 bits wide"
        return _regs(insn)
    return f"unknown store opcode {insn.code:#04x} in class STX"


def check(insn: Instruction) -> str | None:
    """Return why ``insn`` is not a valid encoding, or ``None`` when it is valid."""
    cls = insn.code & 0x07
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        return _check_alu(insn)
    if cls in (InsnClass.JMP, InsnClass.JMP32):
        return _check_jmp(insn)
    if cls == InsnClass.LD:
        return _check_ld(insn)
    return _check_mem(insn)


def is_valid(insn: Instruction) -> bool:
    """True when :func:`check` finds nothing wrong."""
    return check(insn) is None
