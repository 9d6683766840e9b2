"""Opcode fields of the eBPF instruction set, named after the Linux UAPI.

Mirrors the constants of ``include/uapi/linux/bpf_common.h`` and ``include/uapi/linux/bpf.h``
(and RFC 9669). An 8-bit opcode is split into fields:

* ALU/ALU64/JMP/JMP32 classes: ``op (4 bits) | source (1 bit) | class (3 bits)``
* LD/LDX/ST/STX classes: ``mode (3 bits) | size (2 bits) | class (3 bits)``

This module only names things; it has no behaviour.
"""

from __future__ import annotations

from enum import IntEnum


class InsnClass(IntEnum):
    """BPF_CLASS(code): the low three bits."""

    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class Size(IntEnum):
    """BPF_SIZE(code) of load/store instructions."""

    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18

    @property
    def nbytes(self) -> int:
        return SIZE_BYTES[self]


SIZE_BYTES: dict[Size, int] = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}
BYTES_SIZE: dict[int, Size] = {v: k for k, v in SIZE_BYTES.items()}


class Mode(IntEnum):
    """BPF_MODE(code) of load/store instructions."""

    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class Source(IntEnum):
    """BPF_SRC(code): immediate (K) or register (X) operand; TO_LE/TO_BE for BPF_END."""

    K = 0x00
    X = 0x08

    TO_LE = 0x00
    TO_BE = 0x08


class ALUOp(IntEnum):
    """BPF_OP(code) for the ALU and ALU64 classes."""

    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


class JumpOp(IntEnum):
    """BPF_OP(code) for the JMP and JMP32 classes."""

    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0
    JCOND = 0xE0  # may_goto (src_reg == BPF_MAY_GOTO == 0)


class AtomicOp(IntEnum):
    """The ``imm`` field of BPF_STX | BPF_ATOMIC instructions."""

    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH_ADD = 0x01
    FETCH_OR = 0x41
    FETCH_AND = 0x51
    FETCH_XOR = 0xA1
    XCHG = 0xE1
    CMPXCHG = 0xF1
    LOAD_ACQ = 0x100
    STORE_REL = 0x110


FETCH = 0x01


class PseudoSrc(IntEnum):
    """``src_reg`` of the wide ``lddw`` instruction (BPF_LD | BPF_IMM | BPF_DW)."""

    IMM64 = 0
    MAP_FD = 1  # BPF_PSEUDO_MAP_FD
    MAP_VALUE = 2  # BPF_PSEUDO_MAP_VALUE
    BTF_ID = 3  # BPF_PSEUDO_BTF_ID
    FUNC = 4  # BPF_PSEUDO_FUNC
    MAP_IDX = 5  # BPF_PSEUDO_MAP_IDX
    MAP_IDX_VALUE = 6  # BPF_PSEUDO_MAP_IDX_VALUE


class CallSrc(IntEnum):
    """``src_reg`` of BPF_JMP | BPF_CALL."""

    HELPER = 0
    PSEUDO_CALL = 1  # bpf-to-bpf call to a local function
    KFUNC_CALL = 2  # BPF_PSEUDO_KFUNC_CALL


class Register(IntEnum):
    """The eleven eBPF registers. R10 is the read-only frame pointer."""

    R0 = 0
    R1 = 1
    R2 = 2
    R3 = 3
    R4 = 4
    R5 = 5
    R6 = 6
    R7 = 7
    R8 = 8
    R9 = 9
    R10 = 10


MAX_REGISTER = 10
FRAME_POINTER = Register.R10

# Well-known full opcodes.
OP_LDDW = InsnClass.LD | Mode.IMM | Size.DW  # 0x18
OP_CALL = InsnClass.JMP | JumpOp.CALL  # 0x85
OP_CALLX = InsnClass.JMP | JumpOp.CALL | Source.X  # 0x8d
OP_EXIT = InsnClass.JMP | JumpOp.EXIT  # 0x95
OP_JA = InsnClass.JMP | JumpOp.JA  # 0x05
OP_GOTOL = InsnClass.JMP32 | JumpOp.JA  # 0x06
OP_MAY_GOTO = InsnClass.JMP | JumpOp.JCOND  # 0xe5


def insn_class(code: int) -> InsnClass:
    """BPF_CLASS()."""
    return InsnClass(code & 0x07)


def is_alu_class(cls: int) -> bool:
    return cls in (InsnClass.ALU, InsnClass.ALU64)


def is_jmp_class(cls: int) -> bool:
    return cls in (InsnClass.JMP, InsnClass.JMP32)
