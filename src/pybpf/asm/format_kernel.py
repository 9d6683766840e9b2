"""Instructions -> the kernel verifier log's text.

Mirrors ``print_bpf_insn()`` in ``kernel/bpf/disasm.c`` (Linux 6.15, with load-acquire and
store-release) as it prints without callbacks: ``(b7) r0 = 2``, ``(61) r2 = *(u32 *)(r1 +4)``,
``(85) call bpf_map_lookup_elem#1``, ``(15) if r0 == 0x0 goto pc+3``, ``(95) exit``.
``lddw`` prints its whole 64-bit value, map pointers included (as with ``allow_ptr_leaks``);
the verifier's own callbacks, which print ``map[id:...]`` or a kfunc's name, are not modelled.
Invalid encodings print what the kernel's function prints for them (``BUG_...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pybpf.asm.tables import (
    ALU_SYMBOLS,
    ATOMIC_ALU_NAMES,
    ATOMIC_SYMBOLS,
    JUMP_SYMBOLS,
    LDST_TYPES,
    LDSX_TYPES,
)
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import (
    FETCH,
    OP_EXIT,
    OP_GOTOL,
    OP_JA,
    OP_MAY_GOTO,
    ALUOp,
    AtomicOp,
    CallSrc,
    InsnClass,
    JumpOp,
    Mode,
    Size,
    Source,
)
from pybpf.platform.helper_ids import MAX_ID, helper_name

_CLASS_NAMES = MappingProxyType({
    InsnClass.LD: "ld", InsnClass.LDX: "ldx", InsnClass.ST: "st", InsnClass.STX: "stx",
    InsnClass.ALU: "alu", InsnClass.JMP: "jmp", InsnClass.JMP32: "jmp32",
    InsnClass.ALU64: "alu64",
})  # fmt: skip
_BPF_NOSPEC = 0xC0  # BPF_ST | BPF_NOSPEC: kernel-internal, not UAPI
# bpf_jmp_string[]: the comparison symbols plus the words the kernel keeps for the other ops
_JMP_STRINGS: Mapping[int, str] = MappingProxyType(
    {
        **JUMP_SYMBOLS,
        JumpOp.JA: "jmp",
        JumpOp.CALL: "call",
        JumpOp.EXIT: "exit",
    }
)


def _mem(reg: int, off: int) -> str:
    """``(r1 +4)`` / ``(r10 -8)``: the kernel's ``(r%d %+d)``."""
    return f"(r{reg} {off:+d})"


def _func_name(insn: Instruction) -> str:
    """Mirrors ``__func_get_name()`` without callbacks."""
    if not insn.src and 0 <= insn.imm < MAX_ID:
        return helper_name(insn.imm)
    if insn.src == CallSrc.PSEUDO_CALL:
        return f"{insn.imm:+d}"
    if insn.src == CallSrc.KFUNC_CALL:
        return "kernel-function"
    return "unknown"


def _alu(insn: Instruction) -> str:
    r = "w" if insn.cls == InsnClass.ALU else "r"
    op = insn.op
    if op == ALUOp.END:
        if insn.cls == InsnClass.ALU64:
            return f"r{insn.dst} = bswap{insn.imm} r{insn.dst}"
        endian = "be" if insn.source == Source.TO_BE else "le"
        return f"r{insn.dst} = {endian}{insn.imm} r{insn.dst}"
    if op == ALUOp.NEG:
        return f"{r}{insn.dst} = -{r}{insn.dst}"
    if insn.code == InsnClass.ALU64 | ALUOp.MOV | Source.X and insn.off == 1:
        spaces = f"{insn.uimm >> 16}, {insn.imm & 0xFFFF}"
        return f"r{insn.dst} = addr_space_cast(r{insn.src}, {spaces})"
    signed = 1 if op in (ALUOp.DIV, ALUOp.MOD) and insn.off == 1 else 0
    symbol = ALU_SYMBOLS.get((op, signed), "(null)")
    if insn.source == Source.X:
        movsx = f"(s{insn.off})" if op == ALUOp.MOV and insn.off in (8, 16, 32) else ""
        return f"{r}{insn.dst} {symbol} {movsx}{r}{insn.src}"
    return f"{r}{insn.dst} {symbol} {insn.imm}"


def _stx(insn: Instruction) -> str:
    ctype, mem = LDST_TYPES[insn.size], _mem(insn.dst, insn.off)
    if insn.mode == Mode.MEM:
        return f"*({ctype} *){mem} = r{insn.src}"
    if insn.mode != Mode.ATOMIC:
        return f"BUG_{insn.code:02x}"
    width = "64" if insn.size == Size.DW else ""
    imm = insn.imm
    if imm in ATOMIC_SYMBOLS:
        return f"lock *({ctype} *){mem} {ATOMIC_SYMBOLS[imm]} r{insn.src}"
    if imm & FETCH and (imm & ~FETCH) in ATOMIC_ALU_NAMES:
        name = ATOMIC_ALU_NAMES[imm & ~FETCH]
        return f"r{insn.src} = atomic{width}_fetch_{name}(({ctype} *){mem}, r{insn.src})"
    match imm:
        case AtomicOp.CMPXCHG:
            return f"r0 = atomic{width}_cmpxchg(({ctype} *){mem}, r0, r{insn.src})"
        case AtomicOp.XCHG:
            return f"r{insn.src} = atomic{width}_xchg(({ctype} *){mem}, r{insn.src})"
        case AtomicOp.LOAD_ACQ:
            return f"r{insn.dst} = load_acquire(({ctype} *){_mem(insn.src, insn.off)})"
        case AtomicOp.STORE_REL:
            return f"store_release(({ctype} *){mem}, r{insn.src})"
    return f"BUG_{insn.code:02x}"


def _load(insn: Instruction) -> str:
    ctype = LDST_TYPES[insn.size]
    match insn.mode:
        case Mode.ABS:
            return f"r0 = *({ctype} *)skb[{insn.imm}]"
        case Mode.IND:
            return f"r0 = *({ctype} *)skb[r{insn.src} + {insn.imm}]"
        case Mode.IMM if insn.size == Size.DW:
            return f"r{insn.dst} = {insn.imm64:#x}"
    return f"BUG_ld_{insn.code:02x}"


def _jump(insn: Instruction) -> str:
    r = "w" if insn.cls == InsnClass.JMP32 else "r"
    if insn.op == JumpOp.CALL:
        if insn.src == CallSrc.PSEUDO_CALL:
            return f"call pc{_func_name(insn)}"
        return f"call {_func_name(insn)}#{insn.imm}"
    if insn.code == OP_JA:
        return f"goto pc{insn.off:+d}"
    if insn.code == OP_MAY_GOTO and insn.src == 0:
        return f"may_goto pc{insn.off:+d}"
    if insn.code == OP_GOTOL:
        return f"gotol pc{insn.imm:+d}"
    if insn.code == OP_EXIT:
        return "exit"
    symbol = _JMP_STRINGS.get(insn.op, "(null)")
    if insn.source == Source.X:
        return f"if {r}{insn.dst} {symbol} {r}{insn.src} goto pc{insn.off:+d}"
    return f"if {r}{insn.dst} {symbol} {insn.uimm:#x} goto pc{insn.off:+d}"


def _body(insn: Instruction) -> str:
    match insn.cls:
        case InsnClass.ALU | InsnClass.ALU64:
            return _alu(insn)
        case InsnClass.STX:
            return _stx(insn)
        case InsnClass.ST:
            if insn.mode == Mode.MEM:
                return f"*({LDST_TYPES[insn.size]} *){_mem(insn.dst, insn.off)} = {insn.imm}"
            if insn.mode == _BPF_NOSPEC:
                return "nospec"
            return f"BUG_st_{insn.code:02x}"
        case InsnClass.LDX:
            if insn.mode == Mode.MEM:
                ctype = LDST_TYPES[insn.size]
            elif insn.mode == Mode.MEMSX:
                ctype = LDSX_TYPES.get(insn.size, "(null)")
            else:
                return f"BUG_ldx_{insn.code:02x}"
            return f"r{insn.dst} = *({ctype} *){_mem(insn.src, insn.off)}"
        case InsnClass.LD:
            return _load(insn)
        case InsnClass.JMP | InsnClass.JMP32:
            return _jump(insn)
    return _CLASS_NAMES[insn.cls]


def format_kernel(insn: Instruction) -> str:
    """``insn`` as ``print_bpf_insn()`` prints it: ``(b7) r0 = 2`` (no pc prefix)."""
    body = _body(insn)
    if body.startswith("BUG_"):
        return body
    return f"({insn.code:02x}) {body}"
