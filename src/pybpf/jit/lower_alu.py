"""ALU, ALU64 and conditional-jump semantics as LLVM IR text.

The same rules as the reference interpreter (:mod:`pybpf.interp.codegen`, RFC 9669
section 4, ``___bpf_prog_run()`` in kernel/bpf/core.c), expressed without undefined
behaviour in LLVM: registers are ``i64``; 32-bit operations work on ``i32`` and are
zero-extended; shift amounts are masked to the operand width; division by zero gives 0 and
modulo by zero leaves the dividend (zero-extended for 32-bit); ``INT_MIN / -1`` wraps to
``INT_MIN`` and ``INT_MIN % -1`` is 0 (LLVM's ``sdiv``/``srem`` would trap or be undefined: a
zero divisor branches around the division, and ``-1`` divides as ``1`` negated); ``movsx`` sign-extends 8/16/32 bits; byte
swaps use ``llvm.bswap``.

Every function here takes the function being written and operand values and returns the new
``i64`` destination value; the only control flow it emits is the branch around a division by
a divisor that may be zero (it ends in a block of its own, dominated by the one it began in).
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.errors import JITError, NotSupportedError
from pybpf.isa import ALUOp, InsnClass, Instruction, JumpOp, Source
from pybpf.jit.irtext import UNLIKELY, FunctionText, ModuleText, i64, iconst


def bswap(fn: FunctionText, module: ModuleText, value: str, width: int) -> str:
    """The low ``width`` bits of ``value`` byte-swapped, zero-extended to 64 bits."""
    if width not in (16, 32, 64):
        raise JITError(f"byte swap of width {width} (must be 16, 32 or 64)")
    ty = f"i{width}"
    name = f"llvm.bswap.{ty}"
    module.declare(name, f"declare {ty} @{name}({ty})")
    narrow = value if width == 64 else fn.op(f"trunc i64 {value} to {ty}")
    swapped = fn.op(f"call {ty} @{name}({ty} {narrow})")
    return swapped if width == 64 else fn.op(f"zext {ty} {swapped} to i64")


def alu(fn: FunctionText, module: ModuleText, insn: Instruction, dst: str,
        src: str | None) -> str:
    """The new value of ``dst`` after ``insn`` (``src`` is the source register, if any).

    Mirrors ``FunctionTranslator.alu()`` of the interpreter.
    """
    wide = (insn.code & 0x07) == InsnClass.ALU64
    op = insn.op
    if op == ALUOp.END:
        width = insn.imm
        if wide or insn.source == Source.TO_BE:  # the host is little-endian
            return bswap(fn, module, dst, width)
        if width == 64:
            return dst
        if width not in (16, 32):
            raise JITError(f"byte swap of width {width} (must be 16, 32 or 64)")
        return fn.op(f"and i64 {dst}, {(1 << width) - 1}")
    if op == ALUOp.MOV:
        return _mov(fn, insn, src, wide)
    if op == ALUOp.NEG:
        if wide:
            return fn.op(f"sub i64 0, {dst}")
        narrow = fn.op(f"trunc i64 {dst} to i32")
        return fn.op(f"zext i32 {fn.op(f'sub i32 0, {narrow}')} to i64")
    ty = "i64" if wide else "i32"
    if insn.source == Source.X:
        assert src is not None
        rhs = src if wide else fn.op(f"trunc i64 {src} to i32")
    else:
        rhs = i64(insn.imm) if wide else iconst(insn.imm, 32)
    lhs = dst if wide else fn.op(f"trunc i64 {dst} to i32")
    result = _binop(fn, insn, lhs, rhs, ty, 64 if wide else 32, insn.source == Source.K)
    return result if wide else fn.op(f"zext i32 {result} to i64")


def _mov(fn: FunctionText, insn: Instruction, src: str | None, wide: bool) -> str:
    if insn.source == Source.K:
        return i64(insn.imm) if wide else i64(insn.imm & 0xFFFFFFFF)
    assert src is not None
    if insn.off == 1 and wide:
        raise NotSupportedError(
            "addr_space_cast needs a BPF arena, which the JIT does not model"
        )
    if insn.off in (8, 16, 32):
        narrow = fn.op(f"trunc i64 {src} to i{insn.off}")
        extended = fn.op(f"sext i{insn.off} {narrow} to i64")
        return extended if wide else fn.op(f"and i64 {extended}, 4294967295")
    return src if wide else fn.op(f"and i64 {src}, 4294967295")


def _binop(fn: FunctionText, insn: Instruction, lhs: str, rhs: str, ty: str, bits: int,
           constant: bool) -> str:
    op = insn.op
    simple = {ALUOp.ADD: "add", ALUOp.SUB: "sub", ALUOp.MUL: "mul", ALUOp.OR: "or",
              ALUOp.AND: "and", ALUOp.XOR: "xor"}
    name = simple.get(op)  # type: ignore[call-overload]
    if name is not None:
        return fn.op(f"{name} {ty} {lhs}, {rhs}")
    shifts = {ALUOp.LSH: "shl", ALUOp.RSH: "lshr", ALUOp.ARSH: "ashr"}
    name = shifts.get(op)  # type: ignore[call-overload]
    if name is not None:
        if constant:
            amount = str(int(rhs) & (bits - 1))
        else:
            amount = fn.op(f"and {ty} {rhs}, {bits - 1}")
        return fn.op(f"{name} {ty} {lhs}, {amount}")
    if op in (ALUOp.DIV, ALUOp.MOD):
        k = int(rhs) & ((1 << bits) - 1) if constant else None
        if insn.off == 1:
            return _signed_divmod(fn, op == ALUOp.DIV, lhs, rhs, ty, bits, k)
        return _unsigned_divmod(fn, op == ALUOp.DIV, lhs, rhs, ty, k)
    raise JITError(f"ALU operation {op:#x} has no translation")


def _unless_zero(fn: FunctionText, is_zero: str, ty: str, default: str,
                 compute: Callable[[], str]) -> str:
    """``default`` when ``is_zero``, else ``compute()`` (emitted in a block of its own that
    the zero divisor branches around). A branch, not a ``select`` of a made-safe divisor:
    the divisor is practically never zero, and the predicted branch costs one fused
    compare-and-jump where the selects cost three instructions in the divide's
    dependency chain."""
    start = fn.block
    divide = fn.new_block("divide")
    done = fn.new_block("divided")
    fn.cbr(is_zero, done, divide, UNLIKELY)
    fn.start(divide)
    value = compute()
    end = fn.block
    fn.br(done)
    fn.start(done)
    return fn.phi(ty, [(default, start), (value, end)])


def _unsigned_divmod(fn: FunctionText, is_div: bool, lhs: str, rhs: str, ty: str,
                     k: int | None) -> str:
    name = "udiv" if is_div else "urem"
    if k is not None:
        if k == 0:
            return "0" if is_div else lhs
        return fn.op(f"{name} {ty} {lhs}, {rhs}")
    is_zero = fn.op(f"icmp eq {ty} {rhs}, 0")
    return _unless_zero(fn, is_zero, ty, "0" if is_div else lhs,
                        lambda: fn.op(f"{name} {ty} {lhs}, {rhs}"))


def _signed_divmod(fn: FunctionText, is_div: bool, lhs: str, rhs: str, ty: str, bits: int,
                   k: int | None) -> str:
    if k is not None:
        if k == 0:
            return "0" if is_div else lhs
        if k == (1 << bits) - 1:
            return fn.op(f"sub {ty} 0, {lhs}") if is_div else "0"
        return fn.op(f"{'sdiv' if is_div else 'srem'} {ty} {lhs}, {rhs}")
    is_zero = fn.op(f"icmp eq {ty} {rhs}, 0")

    def compute() -> str:
        # INT_MIN / -1 would trap: -1 divides as 1 (the quotient negated, remainder 0)
        is_minus_one = fn.op(f"icmp eq {ty} {rhs}, -1")
        safe = fn.op(f"select i1 {is_minus_one}, {ty} 1, {ty} {rhs}")
        if is_div:
            neg = fn.op(f"sub {ty} 0, {lhs}")
            return fn.op(f"select i1 {is_minus_one}, {ty} {neg}, {ty} "
                         f"{fn.op(f'sdiv {ty} {lhs}, {safe}')}")
        return fn.op(f"select i1 {is_minus_one}, {ty} 0, {ty} "
                     f"{fn.op(f'srem {ty} {lhs}, {safe}')}")

    return _unless_zero(fn, is_zero, ty, "0" if is_div else lhs, compute)


_PREDICATES = {
    JumpOp.JEQ: "eq", JumpOp.JNE: "ne",
    JumpOp.JGT: "ugt", JumpOp.JGE: "uge", JumpOp.JLT: "ult", JumpOp.JLE: "ule",
    JumpOp.JSGT: "sgt", JumpOp.JSGE: "sge", JumpOp.JSLT: "slt", JumpOp.JSLE: "sle",
}


def condition(fn: FunctionText, insn: Instruction, dst: str, src: str | None) -> str:
    """The ``i1`` of a conditional jump (JMP compares 64 bits, JMP32 the low 32)."""
    is32 = (insn.code & 0x07) == InsnClass.JMP32
    ty = "i32" if is32 else "i64"
    lhs = fn.op(f"trunc i64 {dst} to i32") if is32 else dst
    if insn.source == Source.X:
        assert src is not None
        rhs = fn.op(f"trunc i64 {src} to i32") if is32 else src
    else:
        rhs = iconst(insn.imm, 32) if is32 else i64(insn.imm)
    op = insn.op
    if op == JumpOp.JSET:
        return fn.op(f"icmp ne {ty} {fn.op(f'and {ty} {lhs}, {rhs}')}, 0")
    pred = _PREDICATES.get(op)  # type: ignore[call-overload]
    if pred is None:
        raise JITError(f"jump operation {op:#x} has no translation")
    return fn.op(f"icmp {pred} {ty} {lhs}, {rhs}")
