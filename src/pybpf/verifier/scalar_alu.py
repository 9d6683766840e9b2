"""ALU transfer functions on scalar bounds.

Mirrors ``adjust_scalar_min_max_vals()`` and the ``scalar_min_max_*()`` /
``scalar32_min_max_*()`` functions of kernel/bpf/verifier.c (Linux 6.18): for each operation,
the tnum and the 32- and 64-bit signed and unsigned bounds of ``dst op src`` are computed
independently, then :func:`~pybpf.verifier.bounds.reg_bounds_sync` lets them refine each other.
As in the kernel, ``div``, ``mod``, and shifts by a non-constant or out-of-range amount give a
completely unknown result.

Only bounds are handled here: register types, ids and pointer arithmetic belong to
:mod:`pybpf.verifier.transfer.alu`.
"""

from __future__ import annotations

from pybpf.isa import ALUOp
from pybpf.verifier.bounds import (
    S32_MAX,
    coerce_reg_to_size,
    S32_MIN,
    S64_MAX,
    S64_MIN,
    U32_MAX,
    U64_MAX,
    Bounds,
    mark_reg32_known,
    mark_reg32_unbounded,
    mark_reg64_unbounded,
    mark_reg_known,
    mark_reg_unbounded,
    reg_bounds_sync,
    s32,
    s64,
    update_reg32_bounds,
    update_reg_bounds,
    zext_32_to_64,
)
from pybpf.verifier.tnum import (
    TNUM_UNKNOWN,
    tnum_add,
    tnum_and,
    tnum_arshift,
    tnum_bswap16,
    tnum_bswap32,
    tnum_bswap64,
    tnum_is_const,
    tnum_lshift,
    tnum_mul,
    tnum_neg,
    tnum_or,
    tnum_rshift,
    tnum_sub,
    tnum_subreg,
    tnum_subreg_is_const,
    tnum_xor,
)

__all__ = [
    "adjust_scalar_min_max_vals",
    "is_safe_to_compute_dst_reg_range",
    "scalar_byte_swap",
    "scalar_neg",
]


def _signed_overflows(x: int, bits: int) -> bool:
    return not -(1 << (bits - 1)) <= x < (1 << (bits - 1))


# -- add / sub ----------------------------------------------------------------------------------
def _add(dst: Bounds, src: Bounds, bits: int) -> None:
    if bits == 32:
        smin, smax = dst.s32_min_value + src.s32_min_value, dst.s32_max_value + src.s32_max_value
        umin, umax = dst.u32_min_value + src.u32_min_value, dst.u32_max_value + src.u32_max_value
    else:
        smin, smax = dst.smin_value + src.smin_value, dst.smax_value + src.smax_value
        umin, umax = dst.umin_value + src.umin_value, dst.umax_value + src.umax_value
    lim = (1 << bits) - 1
    if _signed_overflows(smin, bits) or _signed_overflows(smax, bits):
        smin, smax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    # all of the additions wrap, or none of them: still a range (of the wrapped values)
    if umin <= lim < umax:
        umin, umax = 0, lim
    umin, umax = umin & lim, umax & lim
    _store(dst, bits, smin, smax, umin, umax)


def _sub(dst: Bounds, src: Bounds, bits: int) -> None:
    if bits == 32:
        smin, smax = dst.s32_min_value - src.s32_max_value, dst.s32_max_value - src.s32_min_value
        umin, umax = dst.u32_min_value - src.u32_max_value, dst.u32_max_value - src.u32_min_value
    else:
        smin, smax = dst.smin_value - src.smax_value, dst.smax_value - src.smin_value
        umin, umax = dst.umin_value - src.umax_value, dst.umax_value - src.umin_value
    lim = (1 << bits) - 1
    if _signed_overflows(smin, bits) or _signed_overflows(smax, bits):
        smin, smax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    # all of the subtractions wrap, or none of them: still a range
    if umin < 0 <= umax:
        umin, umax = 0, lim
    umin, umax = umin & lim, umax & lim
    _store(dst, bits, smin, smax, umin, umax)


def _store(dst: Bounds, bits: int, smin: int, smax: int, umin: int, umax: int) -> None:
    if bits == 32:
        dst.s32_min_value, dst.s32_max_value = smin, smax
        dst.u32_min_value, dst.u32_max_value = umin, umax
    else:
        dst.smin_value, dst.smax_value = smin, smax
        dst.umin_value, dst.umax_value = umin, umax


# -- mul ------------------------------------------------------------------------------------------
def _mul(dst: Bounds, src: Bounds, bits: int) -> None:
    """``scalar{32,}_min_max_mul()``: unsigned from the extremes, signed from four corners."""
    lim = (1 << bits) - 1
    if bits == 32:
        umin, umax = dst.u32_min_value * src.u32_min_value, dst.u32_max_value * src.u32_max_value
        corners = [a * b for a in (dst.s32_min_value, dst.s32_max_value)
                   for b in (src.s32_min_value, src.s32_max_value)]  # fmt: skip
    else:
        umin, umax = dst.umin_value * src.umin_value, dst.umax_value * src.umax_value
        corners = [a * b for a in (dst.smin_value, dst.smax_value)
                   for b in (src.smin_value, src.smax_value)]  # fmt: skip
    if umax > lim:
        umin, umax = 0, lim
    if any(_signed_overflows(c, bits) for c in corners):
        smin, smax = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        smin, smax = min(corners), max(corners)
    _store(dst, bits, smin, smax, umin, umax)


# -- bitwise --------------------------------------------------------------------------------------
def _signed_from_unsigned(dst: Bounds, bits: int) -> None:
    """Safe to copy u32/u64 into s32/s64 when the unsigned range does not cross the sign."""
    if bits == 32:
        if s32(dst.u32_min_value) <= s32(dst.u32_max_value):
            dst.s32_min_value, dst.s32_max_value = s32(dst.u32_min_value), s32(dst.u32_max_value)
        else:
            dst.s32_min_value, dst.s32_max_value = S32_MIN, S32_MAX
    else:
        if s64(dst.umin_value) <= s64(dst.umax_value):
            dst.smin_value, dst.smax_value = s64(dst.umin_value), s64(dst.umax_value)
        else:
            dst.smin_value, dst.smax_value = S64_MIN, S64_MAX


def _bitwise32(dst: Bounds, src: Bounds, op: int) -> None:
    """``scalar32_min_max_{and,or,xor}()``; ``dst.var_off`` already holds the result tnum."""
    var32 = tnum_subreg(dst.var_off)
    if tnum_subreg_is_const(src.var_off) and tnum_subreg_is_const(dst.var_off):
        mark_reg32_known(dst, var32.value)
        return
    if op == ALUOp.AND:
        dst.u32_min_value = var32.value
        dst.u32_max_value = min(dst.u32_max_value, src.u32_max_value)
    elif op == ALUOp.OR:
        dst.u32_min_value = max(dst.u32_min_value, src.u32_min_value)
        dst.u32_max_value = var32.value | var32.mask
    else:
        dst.u32_min_value = var32.value
        dst.u32_max_value = var32.value | var32.mask
    _signed_from_unsigned(dst, 32)


def _bitwise64(dst: Bounds, src: Bounds, op: int) -> None:
    """``scalar_min_max_{and,or,xor}()``; ``dst.var_off`` already holds the result tnum."""
    if tnum_is_const(src.var_off) and tnum_is_const(dst.var_off):
        mark_reg_known(dst, dst.var_off.value)
        return
    v, m = dst.var_off
    if op == ALUOp.AND:
        dst.umin_value = v
        dst.umax_value = min(dst.umax_value, src.umax_value)
    elif op == ALUOp.OR:
        dst.umin_value = max(dst.umin_value, src.umin_value)
        dst.umax_value = v | m
    else:
        dst.umin_value = v
        dst.umax_value = v | m
    _signed_from_unsigned(dst, 64)
    update_reg_bounds(dst)


# -- shifts ----------------------------------------------------------------------------------------
def _lsh32_bounds(dst: Bounds, umin_val: int, umax_val: int) -> None:
    """``__scalar32_min_max_lsh()``."""
    dst.s32_min_value, dst.s32_max_value = S32_MIN, S32_MAX
    if umax_val > 31 or dst.u32_max_value > 1 << (31 - umax_val):
        dst.u32_min_value, dst.u32_max_value = 0, U32_MAX
    else:
        dst.u32_min_value = (dst.u32_min_value << umin_val) & U32_MAX
        dst.u32_max_value = (dst.u32_max_value << umax_val) & U32_MAX


def _lsh64_bounds(dst: Bounds, umin_val: int, umax_val: int) -> None:
    """``__scalar64_min_max_lsh()``: ``<< 32`` of a non-negative s32 keeps signed bounds."""
    shift32 = umin_val == 32 and umax_val == 32
    dst.smax_value = dst.s32_max_value << 32 if shift32 and dst.s32_max_value >= 0 else S64_MAX
    dst.smin_value = dst.s32_min_value << 32 if shift32 and dst.s32_min_value >= 0 else S64_MIN
    if dst.umax_value > 1 << (63 - umax_val):
        dst.umin_value, dst.umax_value = 0, U64_MAX
    else:
        dst.umin_value = (dst.umin_value << umin_val) & U64_MAX
        dst.umax_value = (dst.umax_value << umax_val) & U64_MAX


def _shift(dst: Bounds, src: Bounds, op: int, alu32: bool) -> None:
    if alu32:
        smin_sh, smax_sh = src.u32_min_value, src.u32_max_value
        sub = tnum_subreg(dst.var_off)
        if op == ALUOp.LSH:
            _lsh32_bounds(dst, smin_sh, smax_sh)
            dst.var_off = tnum_subreg(tnum_lshift(sub, smin_sh))
        elif op == ALUOp.RSH:
            dst.s32_min_value, dst.s32_max_value = S32_MIN, S32_MAX
            dst.var_off = tnum_rshift(sub, smin_sh)
            dst.u32_min_value >>= smax_sh
            dst.u32_max_value >>= smin_sh
        else:  # ARSH: the shift is a known constant here
            dst.s32_min_value >>= smin_sh
            dst.s32_max_value >>= smin_sh
            dst.var_off = tnum_arshift(sub, smin_sh, 32)
            dst.u32_min_value, dst.u32_max_value = 0, U32_MAX
        mark_reg64_unbounded(dst)
        update_reg32_bounds(dst)
        return
    smin_sh, smax_sh = src.umin_value, src.umax_value
    if op == ALUOp.LSH:
        _lsh64_bounds(dst, smin_sh, smax_sh)  # uses the unshifted 32-bit bounds: first
        _lsh32_bounds(dst, smin_sh, smax_sh)
        dst.var_off = tnum_lshift(dst.var_off, smin_sh)
    elif op == ALUOp.RSH:
        dst.smin_value, dst.smax_value = S64_MIN, S64_MAX
        dst.var_off = tnum_rshift(dst.var_off, smin_sh)
        dst.umin_value >>= smax_sh
        dst.umax_value >>= smin_sh
        mark_reg32_unbounded(dst)
    else:
        dst.smin_value >>= smin_sh
        dst.smax_value >>= smin_sh
        dst.var_off = tnum_arshift(dst.var_off, smin_sh, 64)
        dst.umin_value, dst.umax_value = 0, U64_MAX
        mark_reg32_unbounded(dst)
    update_reg_bounds(dst)


# -- driver ----------------------------------------------------------------------------------------
def is_safe_to_compute_dst_reg_range(op: int, src: Bounds, alu32: bool) -> bool:
    """``is_safe_to_compute_dst_reg_range()``: can the result be more than "unknown"?"""
    if op in (ALUOp.ADD, ALUOp.SUB, ALUOp.NEG, ALUOp.AND, ALUOp.XOR, ALUOp.OR, ALUOp.MUL):
        return True
    if op in (ALUOp.LSH, ALUOp.RSH, ALUOp.ARSH):
        if alu32:
            const = (tnum_subreg_is_const(src.var_off)
                     and src.s32_min_value == src.s32_max_value
                     and src.u32_min_value == src.u32_max_value)  # fmt: skip
        else:
            const = (tnum_is_const(src.var_off) and src.smin_value == src.smax_value
                     and src.umin_value == src.umax_value)  # fmt: skip
        return const and src.umax_value < (32 if alu32 else 64)
    return False


def scalar_neg(dst: Bounds) -> None:
    """The ``BPF_NEG`` case of ``adjust_scalar_min_max_vals()``: ``0 - dst``."""
    operand = Bounds()
    operand.set_bounds(dst)
    mark_reg_known(dst, 0)
    _sub(dst, operand, 32)
    _sub(dst, operand, 64)
    dst.var_off = tnum_neg(operand.var_off)


def scalar_byte_swap(dst: Bounds, width: int, alu64: bool, to_be: bool) -> bool:
    """``BPF_END`` on a little-endian host: ``bswapN``, ``beN`` swap; ``leN`` truncates.

    Returns False when nothing changes (``le64``: the register keeps even its id).
    """
    if not alu64 and not to_be and width == 64:
        return False
    if alu64 or to_be:
        swap = {16: tnum_bswap16, 32: tnum_bswap32, 64: tnum_bswap64}[width]
        dst.var_off = swap(dst.var_off)
        mark_reg_unbounded(dst)
    if width in (16, 32):
        coerce_reg_to_size(dst, width // 8)
    reg_bounds_sync(dst)
    return True


def adjust_scalar_min_max_vals(dst: Bounds, src: Bounds, op: int, alu32: bool) -> bool:
    """Compute ``dst = dst op src`` on bounds; ``src`` is not modified (the kernel copies it).

    Returns False when the result is completely unknown (the caller then also clears the
    register's ids, as ``__mark_reg_unknown()`` does); True otherwise.
    """
    if not is_safe_to_compute_dst_reg_range(op, src, alu32):
        dst.var_off = TNUM_UNKNOWN
        mark_reg_unbounded(dst)
        return False
    if op == ALUOp.ADD:
        _add(dst, src, 32)
        _add(dst, src, 64)
        dst.var_off = tnum_add(dst.var_off, src.var_off)
    elif op == ALUOp.SUB:
        _sub(dst, src, 32)
        _sub(dst, src, 64)
        dst.var_off = tnum_sub(dst.var_off, src.var_off)
    elif op == ALUOp.NEG:
        scalar_neg(dst)
    elif op == ALUOp.MUL:
        dst.var_off = tnum_mul(dst.var_off, src.var_off)
        _mul(dst, src, 32)
        _mul(dst, src, 64)
    elif op in (ALUOp.AND, ALUOp.OR, ALUOp.XOR):
        fn = {ALUOp.AND: tnum_and, ALUOp.OR: tnum_or, ALUOp.XOR: tnum_xor}[ALUOp(op)]
        dst.var_off = fn(dst.var_off, src.var_off)
        _bitwise32(dst, src, op)
        _bitwise64(dst, src, op)
    else:
        _shift(dst, src, op, alu32)
    if alu32:
        zext_32_to_64(dst)
    reg_bounds_sync(dst)
    return True
