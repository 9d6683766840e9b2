"""ALU, ALU64 and conditional-jump semantics as LLVM IR.

The same rules as the reference interpreter (:mod:`pybpf.interp.codegen`, RFC 9669
section 4, ``___bpf_prog_run()`` in kernel/bpf/core.c), expressed without undefined
behaviour in LLVM: registers are ``i64``; 32-bit operations work on ``i32`` and are
zero-extended; shift amounts are masked to the operand width; division by zero gives 0 and
modulo by zero leaves the dividend (zero-extended for 32-bit); ``INT_MIN / -1`` wraps to
``INT_MIN`` and ``INT_MIN % -1`` is 0 (LLVM's ``sdiv``/``srem`` would trap or be undefined, so
the divisor is made safe with a ``select`` first); ``movsx`` sign-extends 8/16/32 bits; byte
swaps use ``llvm.bswap``.

Every function here takes the builder and operand values and returns the new ``i64``
destination value; it never emits control flow.
"""

from __future__ import annotations

from llvmlite import ir  # type: ignore[import-untyped]

from pybpf.errors import JITError, NotSupportedError
from pybpf.isa import ALUOp, InsnClass, Instruction, JumpOp, Source

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I16 = ir.IntType(16)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
INT_TYPES = {8: I8, 16: I16, 32: I32, 64: I64}


def const64(value: int) -> ir.Constant:
    return ir.Constant(I64, value & 0xFFFFFFFFFFFFFFFF)


def const32(value: int) -> ir.Constant:
    return ir.Constant(I32, value & 0xFFFFFFFF)


def imm_operand(insn: Instruction, wide: bool) -> ir.Constant:
    """The immediate as the operation sees it: sign-extended for 64-bit, 32 bits otherwise."""
    return const64(insn.imm) if wide else const32(insn.imm)


def _bswap(b: ir.IRBuilder, value: ir.Value, width: int) -> ir.Value:
    """The low ``width`` bits of ``value`` byte-swapped, zero-extended to 64 bits."""
    if width not in (16, 32, 64):
        raise JITError(f"byte swap of width {width} (must be 16, 32 or 64)")
    ty = INT_TYPES[width]
    narrow = value if width == 64 else b.trunc(value, ty)
    fn = b.module.declare_intrinsic("llvm.bswap", [ty])
    swapped = b.call(fn, [narrow])
    return swapped if width == 64 else b.zext(swapped, I64)


def alu(b: ir.IRBuilder, insn: Instruction, dst: ir.Value, src: ir.Value | None) -> ir.Value:
    """The new value of ``dst`` after ``insn`` (``src`` is the source register, if any).

    Mirrors ``FunctionTranslator.alu()`` of the interpreter.
    """
    wide = (insn.code & 0x07) == InsnClass.ALU64
    op = insn.op
    if op == ALUOp.END:
        width = insn.imm
        if wide or insn.source == Source.TO_BE:  # the host is little-endian
            return _bswap(b, dst, width)
        if width == 64:
            return dst
        if width not in (16, 32):
            raise JITError(f"byte swap of width {width} (must be 16, 32 or 64)")
        return b.zext(b.trunc(dst, INT_TYPES[width]), I64)
    if op == ALUOp.MOV:
        return _mov(b, insn, src, wide)
    if op == ALUOp.NEG:
        if wide:
            return b.neg(dst)
        return b.zext(b.neg(b.trunc(dst, I32)), I64)
    if insn.source == Source.X:
        assert src is not None
        rhs = src if wide else b.trunc(src, I32)
    else:
        rhs = imm_operand(insn, wide)
    lhs = dst if wide else b.trunc(dst, I32)
    result = _binop(b, insn, lhs, rhs, wide)
    return result if wide else b.zext(result, I64)


def _mov(b: ir.IRBuilder, insn: Instruction, src: ir.Value | None, wide: bool) -> ir.Value:
    if insn.source == Source.K:
        return const64(insn.imm) if wide else const64(insn.imm & 0xFFFFFFFF)
    assert src is not None
    if insn.off == 1 and wide:
        raise NotSupportedError(
            "addr_space_cast needs a BPF arena, which the JIT does not model"
        )
    if insn.off in (8, 16, 32):
        extended = b.sext(b.trunc(src, INT_TYPES[insn.off]), I64)
        return extended if wide else b.zext(b.trunc(extended, I32), I64)
    return src if wide else b.zext(b.trunc(src, I32), I64)


def _binop(b: ir.IRBuilder, insn: Instruction, lhs: ir.Value, rhs: ir.Value, wide: bool) -> ir.Value:
    op = insn.op
    bits = 64 if wide else 32
    ty = INT_TYPES[bits]
    match op:
        case ALUOp.ADD:
            return b.add(lhs, rhs)
        case ALUOp.SUB:
            return b.sub(lhs, rhs)
        case ALUOp.MUL:
            return b.mul(lhs, rhs)
        case ALUOp.OR:
            return b.or_(lhs, rhs)
        case ALUOp.AND:
            return b.and_(lhs, rhs)
        case ALUOp.XOR:
            return b.xor(lhs, rhs)
        case ALUOp.LSH:
            return b.shl(lhs, _shift_amount(b, rhs, bits))
        case ALUOp.RSH:
            return b.lshr(lhs, _shift_amount(b, rhs, bits))
        case ALUOp.ARSH:
            return b.ashr(lhs, _shift_amount(b, rhs, bits))
        case ALUOp.DIV | ALUOp.MOD:
            if insn.off == 1:
                return _signed_divmod(b, op == ALUOp.DIV, lhs, rhs, ty)
            return _unsigned_divmod(b, op == ALUOp.DIV, lhs, rhs, ty)
    raise JITError(f"ALU operation {op:#x} has no translation")


def _shift_amount(b: ir.IRBuilder, amount: ir.Value, bits: int) -> ir.Value:
    if isinstance(amount, ir.Constant):
        return ir.Constant(amount.type, int(amount.constant) & (bits - 1))
    return b.and_(amount, ir.Constant(amount.type, bits - 1))


def _unsigned_divmod(b: ir.IRBuilder, is_div: bool, lhs: ir.Value, rhs: ir.Value,
                     ty: ir.IntType) -> ir.Value:
    zero = ir.Constant(ty, 0)
    if isinstance(rhs, ir.Constant):
        if int(rhs.constant) == 0:
            return zero if is_div else lhs
        return b.udiv(lhs, rhs) if is_div else b.urem(lhs, rhs)
    is_zero = b.icmp_unsigned("==", rhs, zero)
    safe = b.select(is_zero, ir.Constant(ty, 1), rhs)
    if is_div:
        return b.select(is_zero, zero, b.udiv(lhs, safe))
    return b.select(is_zero, lhs, b.urem(lhs, safe))


def _signed_divmod(b: ir.IRBuilder, is_div: bool, lhs: ir.Value, rhs: ir.Value,
                   ty: ir.IntType) -> ir.Value:
    zero = ir.Constant(ty, 0)
    minus_one = ir.Constant(ty, -1)
    if isinstance(rhs, ir.Constant):
        k = int(rhs.constant) & ((1 << ty.width) - 1)
        if k == 0:
            return zero if is_div else lhs
        if k == (1 << ty.width) - 1:
            return b.neg(lhs) if is_div else zero
        return b.sdiv(lhs, rhs) if is_div else b.srem(lhs, rhs)
    is_zero = b.icmp_unsigned("==", rhs, zero)
    is_minus_one = b.icmp_unsigned("==", rhs, minus_one)
    safe = b.select(b.or_(is_zero, is_minus_one), ir.Constant(ty, 1), rhs)
    if is_div:
        quotient = b.select(is_minus_one, b.neg(lhs), b.sdiv(lhs, safe))
        return b.select(is_zero, zero, quotient)
    remainder = b.select(is_minus_one, zero, b.srem(lhs, safe))
    return b.select(is_zero, lhs, remainder)


_PREDICATES = {
    JumpOp.JEQ: ("==", False), JumpOp.JNE: ("!=", False),
    JumpOp.JGT: (">", False), JumpOp.JGE: (">=", False),
    JumpOp.JLT: ("<", False), JumpOp.JLE: ("<=", False),
    JumpOp.JSGT: (">", True), JumpOp.JSGE: (">=", True),
    JumpOp.JSLT: ("<", True), JumpOp.JSLE: ("<=", True),
}


def condition(b: ir.IRBuilder, insn: Instruction, dst: ir.Value, src: ir.Value | None) -> ir.Value:
    """The ``i1`` of a conditional jump (JMP compares 64 bits, JMP32 the low 32)."""
    is32 = (insn.code & 0x07) == InsnClass.JMP32
    lhs = b.trunc(dst, I32) if is32 else dst
    if insn.source == Source.X:
        assert src is not None
        rhs = b.trunc(src, I32) if is32 else src
    else:
        rhs = const32(insn.imm) if is32 else const64(insn.imm)
    op = insn.op
    if op == JumpOp.JSET:
        return b.icmp_unsigned("!=", b.and_(lhs, rhs), ir.Constant(lhs.type, 0))
    entry = _PREDICATES.get(op)  # type: ignore[call-overload]
    if entry is None:
        raise JITError(f"jump operation {op:#x} has no translation")
    sym, signed = entry
    return b.icmp_signed(sym, lhs, rhs) if signed else b.icmp_unsigned(sym, lhs, rhs)
