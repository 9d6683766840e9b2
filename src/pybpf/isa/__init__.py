"""The eBPF instruction set: opcode names, the immutable :class:`Instruction`, bytes <-> values.

No behaviour lives here: semantics belong to the interpreter, the verifier and the JIT.
"""

from pybpf.isa.instruction import (
    INSN_SIZE,
    Instruction,
    decode,
    encode,
    iter_decode,
    pcs,
    slot_count,
)
from pybpf.isa.opcodes import (
    OP_CALL,
    OP_CALLX,
    OP_EXIT,
    OP_GOTOL,
    OP_JA,
    OP_LDDW,
    OP_MAY_GOTO,
    SIZE_BYTES,
    ALUOp,
    AtomicOp,
    CallSrc,
    InsnClass,
    JumpOp,
    Mode,
    PseudoSrc,
    Register,
    Size,
    Source,
)
from pybpf.isa.validity import check, is_valid

__all__ = [
    "INSN_SIZE",
    "OP_CALL",
    "OP_CALLX",
    "OP_EXIT",
    "OP_GOTOL",
    "OP_JA",
    "OP_LDDW",
    "OP_MAY_GOTO",
    "SIZE_BYTES",
    "ALUOp",
    "AtomicOp",
    "CallSrc",
    "InsnClass",
    "Instruction",
    "JumpOp",
    "Mode",
    "PseudoSrc",
    "Register",
    "Size",
    "Source",
    "check",
    "decode",
    "encode",
    "is_valid",
    "iter_decode",
    "pcs",
    "slot_count",
]
