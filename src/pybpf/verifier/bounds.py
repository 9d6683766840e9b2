"""Scalar bounds: what the verifier knows about a 64-bit value and its low 32 bits.

Mirrors the bounds half of ``struct bpf_reg_state`` (include/linux/bpf_verifier.h) and the
functions of kernel/bpf/verifier.c that keep it consistent (Linux 6.18): a tnum ``var_off``
plus signed and unsigned minimum and maximum of the 64-bit value (``smin_value`` ...
``umax_value``) and of its low 32 bits (``s32_min_value`` ... ``u32_max_value``). Each of the
five views is a sound over-approximation on its own; :func:`reg_bounds_sync` lets them refine
each other (``__update_reg_bounds``, ``__reg_deduce_bounds``, ``__reg_bound_offset``).

Values are Python ints in their C domains: ``smin_value`` in ``[S64_MIN, S64_MAX]``,
``umin_value`` in ``[0, U64_MAX]``, and so on. The ALU transfer functions live in
:mod:`pybpf.verifier.scalar_alu`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pybpf.verifier.tnum import (
    TNUM_UNKNOWN,
    Tnum,
    tnum_clear_subreg,
    tnum_const,
    tnum_const_subreg,
    tnum_intersect,
    tnum_is_const,
    tnum_or,
    tnum_range,
    tnum_step,
    tnum_subreg,
    tnum_subreg_is_const,
)

__all__ = [
    "S32_MAX", "S32_MIN", "S64_MAX", "S64_MIN", "U32_MAX", "U64_MAX",
    "Bounds", "coerce_reg_to_size", "coerce_reg_to_size_sx", "coerce_subreg_to_size_sx",
    "is_reg_const", "mark_reg32_known", "mark_reg32_unbounded", "mark_reg64_unbounded",
    "mark_reg_known", "mark_reg_unbounded", "range_within", "reg_assign_32_into_64",
    "reg_bound_offset", "reg_bounds_sanity_check", "reg_bounds_sync", "reg_const_value",
    "reg_deduce_bounds", "s32", "s64", "u32", "u64", "update_reg_bounds", "zext_32_to_64",
]  # fmt: skip

U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1
S64_MAX = (1 << 63) - 1
S64_MIN = -(1 << 63)
S32_MAX = (1 << 31) - 1
S32_MIN = -(1 << 31)


def u64(x: int) -> int:
    """``(u64)x``."""
    return x & U64_MAX


def s64(x: int) -> int:
    """``(s64)x``: the low 64 bits as a signed value."""
    x &= U64_MAX
    return x - (1 << 64) if x >> 63 else x


def u32(x: int) -> int:
    """``(u32)x``."""
    return x & U32_MAX


def s32(x: int) -> int:
    """``(s32)x``: the low 32 bits as a signed value."""
    x &= U32_MAX
    return x - (1 << 32) if x >> 31 else x


def _sext(x: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    x &= (1 << bits) - 1
    return x - (sign << 1) if x & sign else x


@dataclass(slots=True)
class Bounds:
    """The value-tracking fields of ``struct bpf_reg_state``; a fresh one knows nothing."""

    var_off: Tnum = TNUM_UNKNOWN
    smin_value: int = S64_MIN
    smax_value: int = S64_MAX
    umin_value: int = 0
    umax_value: int = U64_MAX
    s32_min_value: int = S32_MIN
    s32_max_value: int = S32_MAX
    u32_min_value: int = 0
    u32_max_value: int = U32_MAX

    def bounds_tuple(self) -> tuple[Tnum, int, int, int, int, int, int, int, int]:
        """All nine fields, for comparisons and hashing."""
        return (self.var_off, self.smin_value, self.smax_value, self.umin_value,
                self.umax_value, self.s32_min_value, self.s32_max_value,
                self.u32_min_value, self.u32_max_value)  # fmt: skip

    def set_bounds(self, other: Bounds) -> None:
        """Copy the nine value-tracking fields of ``other`` into this one."""
        self.var_off = other.var_off
        self.smin_value, self.smax_value = other.smin_value, other.smax_value
        self.umin_value, self.umax_value = other.umin_value, other.umax_value
        self.s32_min_value, self.s32_max_value = other.s32_min_value, other.s32_max_value
        self.u32_min_value, self.u32_max_value = other.u32_min_value, other.u32_max_value

    def contains(self, x: int) -> bool:
        """True if the concrete 64-bit value ``x`` satisfies every one of the bounds."""
        x = u64(x)
        lo = x & U32_MAX
        return (self.var_off.contains(x)
                and self.umin_value <= x <= self.umax_value
                and self.smin_value <= s64(x) <= self.smax_value
                and self.u32_min_value <= lo <= self.u32_max_value
                and self.s32_min_value <= s32(lo) <= self.s32_max_value)  # fmt: skip


# -- marking ------------------------------------------------------------------------------------
def mark_reg_known(reg: Bounds, imm: int) -> None:
    """``___mark_reg_known()``: the value is exactly ``imm`` (taken as a u64)."""
    imm = u64(imm)
    reg.var_off = Tnum(imm, 0)
    reg.smin_value = reg.smax_value = s64(imm)
    reg.umin_value = reg.umax_value = imm
    reg.s32_min_value = reg.s32_max_value = s32(imm)
    reg.u32_min_value = reg.u32_max_value = u32(imm)


def mark_reg32_known(reg: Bounds, imm: int) -> None:
    """``__mark_reg32_known()``: the low 32 bits are exactly ``imm``."""
    reg.var_off = tnum_const_subreg(reg.var_off, imm)
    reg.s32_min_value = reg.s32_max_value = s32(imm)
    reg.u32_min_value = reg.u32_max_value = u32(imm)


def mark_reg_unbounded(reg: Bounds) -> None:
    """``__mark_reg_unbounded()`` (leaves ``var_off`` alone)."""
    mark_reg64_unbounded(reg)
    mark_reg32_unbounded(reg)


def mark_reg64_unbounded(reg: Bounds) -> None:
    reg.smin_value, reg.smax_value = S64_MIN, S64_MAX
    reg.umin_value, reg.umax_value = 0, U64_MAX


def mark_reg32_unbounded(reg: Bounds) -> None:
    reg.s32_min_value, reg.s32_max_value = S32_MIN, S32_MAX
    reg.u32_min_value, reg.u32_max_value = 0, U32_MAX


# -- synchronisation ----------------------------------------------------------------------------
def update_reg32_bounds(reg: Bounds) -> None:
    """``__update_reg32_bounds()``: learn 32-bit bounds from the low half of ``var_off``."""
    v, m = reg.var_off.value & U32_MAX, reg.var_off.mask & U32_MAX
    reg.s32_min_value = max(reg.s32_min_value, s32(v | (m & 0x80000000)))
    reg.s32_max_value = min(reg.s32_max_value, s32(v | (m & 0x7FFFFFFF)))
    reg.u32_min_value = max(reg.u32_min_value, v)
    reg.u32_max_value = min(reg.u32_max_value, v | m)


def update_reg64_bounds(reg: Bounds) -> None:
    """``__update_reg64_bounds()``: learn 64-bit bounds from ``var_off``."""
    v, m = reg.var_off
    reg.smin_value = max(reg.smin_value, s64(v | (m & (1 << 63))))
    reg.smax_value = min(reg.smax_value, s64(v | (m & S64_MAX)))
    reg.umin_value = max(reg.umin_value, v)
    reg.umax_value = min(reg.umax_value, v | m)
    # the u64 range and the tnum may have a single value in common
    tmax = v | m
    nxt = tnum_step(reg.var_off, reg.umin_value)
    umin_in_tnum = (reg.umin_value & ~m) == v
    if umin_in_tnum and nxt > reg.umax_value:
        mark_reg_known(reg, reg.umin_value)
    elif not umin_in_tnum and nxt == tmax:
        mark_reg_known(reg, tmax)
    elif (not umin_in_tnum and nxt <= reg.umax_value
          and tnum_step(reg.var_off, nxt) > reg.umax_value):
        mark_reg_known(reg, nxt)


def update_reg_bounds(reg: Bounds) -> None:
    """``__update_reg_bounds()``."""
    update_reg32_bounds(reg)
    update_reg64_bounds(reg)


def _reg32_deduce_bounds(reg: Bounds) -> None:
    """``__reg32_deduce_bounds()``: 32-bit bounds from the 64-bit ones and from each other."""
    umin, umax, smin, smax = reg.umin_value, reg.umax_value, reg.smin_value, reg.smax_value
    if umin >> 32 == umax >> 32:
        # the high halves agree: the low halves form a range
        reg.u32_min_value = max(reg.u32_min_value, u32(umin))
        reg.u32_max_value = min(reg.u32_max_value, u32(umax))
        if s32(umin) <= s32(umax):
            reg.s32_min_value = max(reg.s32_min_value, s32(umin))
            reg.s32_max_value = min(reg.s32_max_value, s32(umax))
    if smin >> 32 == smax >> 32:
        if u32(smin) <= u32(smax):
            reg.u32_min_value = max(reg.u32_min_value, u32(smin))
            reg.u32_max_value = min(reg.u32_max_value, u32(smax))
        if s32(smin) <= s32(smax):
            reg.s32_min_value = max(reg.s32_min_value, s32(smin))
            reg.s32_max_value = min(reg.s32_max_value, s32(smax))
    # high halves are two consecutive numbers and the low halves cross from negative to
    # positive: the low halves still form an s32 range
    if u32(u32(umin >> 32) + 1) == u32(umax >> 32) and s32(umin) < 0 and s32(umax) >= 0:
        reg.s32_min_value = max(reg.s32_min_value, s32(umin))
        reg.s32_max_value = min(reg.s32_max_value, s32(umax))
    if u32(u32(smin >> 32) + 1) == u32(smax >> 32) and s32(smin) < 0 and s32(smax) >= 0:
        reg.s32_min_value = max(reg.s32_min_value, s32(smin))
        reg.s32_max_value = min(reg.s32_max_value, s32(smax))
    if s32(reg.u32_min_value) <= s32(reg.u32_max_value):
        reg.s32_min_value = max(reg.s32_min_value, s32(reg.u32_min_value))
        reg.s32_max_value = min(reg.s32_max_value, s32(reg.u32_max_value))
    if u32(reg.s32_min_value) <= u32(reg.s32_max_value):
        reg.u32_min_value = max(reg.u32_min_value, u32(reg.s32_min_value))
        reg.u32_max_value = min(reg.u32_max_value, u32(reg.s32_max_value))
    elif reg.u32_max_value < u32(reg.s32_min_value):
        # the s32 range crosses the sign boundary; the u32 range only meets its
        # non-negative part (see _reg64_deduce_bounds)
        reg.s32_min_value = s32(reg.u32_min_value)
        reg.u32_max_value = min(reg.u32_max_value, u32(reg.s32_max_value))
    elif u32(reg.s32_max_value) < reg.u32_min_value:
        reg.s32_max_value = s32(reg.u32_max_value)
        reg.u32_min_value = max(reg.u32_min_value, u32(reg.s32_min_value))


def _reg64_deduce_bounds(reg: Bounds) -> None:
    """``__reg64_deduce_bounds()``: signed and unsigned 64-bit bounds refine each other."""
    if s64(reg.umin_value) <= s64(reg.umax_value):
        reg.smin_value = max(reg.smin_value, s64(reg.umin_value))
        reg.smax_value = min(reg.smax_value, s64(reg.umax_value))
    if u64(reg.smin_value) <= u64(reg.smax_value):
        reg.umin_value = max(reg.umin_value, u64(reg.smin_value))
        reg.umax_value = min(reg.umax_value, u64(reg.smax_value))
    else:
        # The s64 range crosses the sign boundary: it is two u64 segments, [smin, U64_MAX]
        # and [0, smax]. If the u64 range lies within one of them, both ranges tighten.
        if reg.umax_value < u64(reg.smin_value):
            reg.smin_value = s64(reg.umin_value)
            reg.umax_value = min(reg.umax_value, u64(reg.smax_value))
        elif u64(reg.smax_value) < reg.umin_value:
            reg.smax_value = s64(reg.umax_value)
            reg.umin_value = max(reg.umin_value, u64(reg.smin_value))


def _reg_deduce_mixed_bounds(reg: Bounds) -> None:
    """``__reg_deduce_mixed_bounds()``: 64-bit bounds from the 32-bit ones."""
    hi = ~U32_MAX
    reg.umin_value = max(reg.umin_value, (reg.umin_value & hi) | reg.u32_min_value)
    reg.umax_value = min(reg.umax_value, (reg.umax_value & hi) | reg.u32_max_value)
    reg.smin_value = max(reg.smin_value, s64((reg.smin_value & hi) | reg.u32_min_value))
    reg.smax_value = min(reg.smax_value, s64((reg.smax_value & hi) | reg.u32_max_value))
    # After a sign-extending load the high 32 bits are all ones or all zeroes; a
    # non-negative s32 range rules out the all-ones case when smin >= S32_MIN.
    if reg.s32_min_value >= 0 and reg.smin_value >= S32_MIN and reg.smax_value <= S32_MAX:
        reg.smin_value = reg.umin_value = reg.s32_min_value
        reg.smax_value = reg.umax_value = reg.s32_max_value
        reg.var_off = tnum_intersect(reg.var_off, tnum_range(reg.smin_value, reg.smax_value))


def reg_deduce_bounds(reg: Bounds) -> None:
    """``__reg_deduce_bounds()``."""
    _reg32_deduce_bounds(reg)
    _reg64_deduce_bounds(reg)
    _reg_deduce_mixed_bounds(reg)


def reg_bound_offset(reg: Bounds) -> None:
    """``__reg_bound_offset()``: learn known bits from the unsigned ranges."""
    var64 = tnum_intersect(reg.var_off, tnum_range(reg.umin_value, reg.umax_value))
    var32 = tnum_intersect(tnum_subreg(var64), tnum_range(reg.u32_min_value, reg.u32_max_value))
    reg.var_off = tnum_or(tnum_clear_subreg(var64), var32)


def reg_bounds_sync(reg: Bounds) -> None:
    """``reg_bounds_sync()``: let the five views refine each other.

    A pure function of the nine value-tracking fields, so it is memoised: programs keep
    meeting the same bounds (masked bytes, loop counters). A known constant whose bounds
    all contain it syncs to exactly that constant, without the cache.
    """
    v, m = reg.var_off
    if not m and reg.umin_value <= v <= reg.umax_value and \
            reg.smin_value <= (sv := s64(v)) <= reg.smax_value and \
            reg.u32_min_value <= (lo := v & U32_MAX) <= reg.u32_max_value and \
            reg.s32_min_value <= (slo := s32(lo)) <= reg.s32_max_value:
        reg.umin_value = reg.umax_value = v
        reg.smin_value = reg.smax_value = sv
        reg.u32_min_value = reg.u32_max_value = lo
        reg.s32_min_value = reg.s32_max_value = slo
        return
    (reg.var_off, reg.smin_value, reg.smax_value, reg.umin_value, reg.umax_value,
     reg.s32_min_value, reg.s32_max_value, reg.u32_min_value,
     reg.u32_max_value) = _synced(reg.bounds_tuple())  # fmt: skip


@lru_cache(maxsize=1 << 16)
def _synced(fields: tuple[Tnum, int, int, int, int, int, int, int, int]) -> tuple[
        Tnum, int, int, int, int, int, int, int, int]:
    reg = Bounds(*fields)
    update_reg_bounds(reg)
    reg_deduce_bounds(reg)
    reg_deduce_bounds(reg)
    reg_bound_offset(reg)
    update_reg_bounds(reg)
    return reg.bounds_tuple()


def reg_bounds_sanity_check(reg: Bounds) -> str | None:
    """``reg_bounds_sanity_check()``: why the bounds are contradictory, or None.

    The kernel logs ``REG INVARIANTS VIOLATION (ctx): <reason> ...`` and, outside its
    selftests, resets the register to unbounded (see :func:`invariant_violation_text`).
    """
    if (reg.umin_value > reg.umax_value or reg.smin_value > reg.smax_value
            or reg.u32_min_value > reg.u32_max_value
            or reg.s32_min_value > reg.s32_max_value):  # fmt: skip
        return "range bounds violation"
    if tnum_is_const(reg.var_off):
        uval = reg.var_off.value
        if (reg.umin_value != uval or reg.umax_value != uval
                or reg.smin_value != s64(uval) or reg.smax_value != s64(uval)):  # fmt: skip
            return "const tnum out of sync with range bounds"
    if tnum_subreg_is_const(reg.var_off):
        uval32 = reg.var_off.value & U32_MAX
        if (reg.u32_min_value != uval32 or reg.u32_max_value != uval32
                or reg.s32_min_value != s32(uval32) or reg.s32_max_value != s32(uval32)):  # fmt: skip
            return "const subreg tnum out of sync with range bounds"
    return None


def invariant_violation_text(reg: Bounds, ctx: str, reason: str) -> str:
    """The kernel's ``REG INVARIANTS VIOLATION`` log line (without the newline)."""
    return (
        f"REG INVARIANTS VIOLATION ({ctx}): {reason} u64=[{reg.umin_value:#x}, "
        f"{reg.umax_value:#x}] s64=[{u64(reg.smin_value):#x}, {u64(reg.smax_value):#x}] "
        f"u32=[{reg.u32_min_value:#x}, {reg.u32_max_value:#x}] s32=[{u32(reg.s32_min_value):#x}, "
        f"{u32(reg.s32_max_value):#x}] var_off=({reg.var_off.value:#x}, {reg.var_off.mask:#x})"
    )


# -- 32 -> 64 -----------------------------------------------------------------------------------
def reg_assign_32_into_64(reg: Bounds) -> None:
    """``__reg_assign_32_into_64()``: the 64-bit bounds of a zero-extended subregister."""
    reg.umin_value = reg.u32_min_value
    reg.umax_value = reg.u32_max_value
    if 0 <= reg.s32_min_value and 0 <= reg.s32_max_value:
        reg.smin_value, reg.smax_value = reg.s32_min_value, reg.s32_max_value
    else:
        reg.smin_value, reg.smax_value = 0, U32_MAX


def zext_32_to_64(reg: Bounds) -> None:
    """``zext_32_to_64()``: the result of a 32-bit ALU op is zero-extended."""
    reg.var_off = tnum_subreg(reg.var_off)
    reg_assign_32_into_64(reg)


# -- truncation and sign extension ---------------------------------------------------------------
def coerce_reg_to_size(reg: Bounds, size: int) -> None:
    """``coerce_reg_to_size()``: keep the low ``size`` bytes, zero-extended (narrow loads)."""
    reg.var_off = Tnum(reg.var_off.value & ((1 << (size * 8)) - 1),
                       reg.var_off.mask & ((1 << (size * 8)) - 1))  # fmt: skip
    mask = (1 << (size * 8)) - 1
    if reg.umin_value & ~mask == reg.umax_value & ~mask:
        reg.umin_value &= mask
        reg.umax_value &= mask
    else:
        reg.umin_value, reg.umax_value = 0, mask
    reg.smin_value, reg.smax_value = s64(reg.umin_value), s64(reg.umax_value)
    if size < 4:
        mark_reg32_unbounded(reg)
    reg_bounds_sync(reg)


_SIGNED_LIMITS = {1: (-(1 << 7), (1 << 7) - 1), 2: (-(1 << 15), (1 << 15) - 1),
                  4: (S32_MIN, S32_MAX)}  # fmt: skip


def coerce_reg_to_size_sx(reg: Bounds, size: int) -> None:
    """``coerce_reg_to_size_sx()``: sign-extend the low ``size`` bytes to 64 bits."""
    bits = size * 8
    if tnum_is_const(reg.var_off):
        mark_reg_known(reg, _sext(reg.var_off.value, bits))
        return
    if u64(reg.smax_value) >> bits == u64(reg.smin_value) >> bits:
        a, b = _sext(reg.smax_value, bits), _sext(reg.smin_value, bits)
        hi, lo = max(a, b), min(a, b)
        if (hi >= 0) == (lo >= 0):
            reg.s32_min_value, reg.smin_value = s32(lo), lo
            reg.s32_max_value, reg.smax_value = s32(hi), hi
            reg.u32_min_value, reg.umin_value = u32(lo), u64(lo)
            reg.u32_max_value, reg.umax_value = u32(hi), u64(hi)
            reg.var_off = tnum_range(u64(lo), u64(hi))
            return
    lo_lim, hi_lim = _SIGNED_LIMITS[size]
    if lo_lim <= reg.s32_min_value and reg.s32_max_value <= hi_lim:
        # The low 32 bits, as a signed value, already fit the narrow type (always so for
        # (s32)): sign-extending its low bytes is sign-extending the low 32 bits. The
        # 32-bit bounds hold and the 64-bit signed range is theirs (as 6.18 does).
        reg.smin_value, reg.smax_value = reg.s32_min_value, reg.s32_max_value
        reg.umin_value, reg.umax_value = 0, U64_MAX
        reg.var_off = TNUM_UNKNOWN
        reg_bounds_sync(reg)
        return
    lo, hi = _SIGNED_LIMITS[size]
    reg.smin_value = reg.s32_min_value = lo
    reg.smax_value = reg.s32_max_value = hi
    reg.umin_value = reg.u32_min_value = 0
    reg.umax_value, reg.u32_max_value = U64_MAX, U32_MAX
    reg.var_off = TNUM_UNKNOWN


def coerce_subreg_to_size_sx(reg: Bounds, size: int) -> None:
    """``coerce_subreg_to_size_sx()``: sign-extend the low ``size`` bytes to 32 bits."""
    bits = size * 8
    if tnum_is_const(reg.var_off):
        val = _sext(reg.var_off.value, bits)
        reg.var_off = tnum_const(val)
        reg.s32_min_value = reg.s32_max_value = s32(val)
        reg.u32_min_value = reg.u32_max_value = u32(val)
        return
    if u32(reg.s32_max_value) >> bits == u32(reg.s32_min_value) >> bits:
        a, b = _sext(reg.s32_max_value, bits), _sext(reg.s32_min_value, bits)
        hi, lo = max(a, b), min(a, b)
        if (lo >= 0) == (hi >= 0):
            reg.s32_min_value, reg.s32_max_value = lo, hi
            reg.u32_min_value, reg.u32_max_value = u32(lo), u32(hi)
            reg.var_off = tnum_subreg(tnum_range(u64(lo), u64(hi)))
            return
    reg.s32_min_value, reg.s32_max_value = _SIGNED_LIMITS[size]
    reg.u32_min_value, reg.u32_max_value = 0, U32_MAX
    reg.var_off = Tnum(0, U32_MAX)


# -- queries ------------------------------------------------------------------------------------
def is_reg_const(reg: Bounds, subreg32: bool) -> bool:
    """``is_reg_const()`` for a scalar: the (sub)register holds one known value."""
    return tnum_subreg_is_const(reg.var_off) if subreg32 else tnum_is_const(reg.var_off)


def reg_const_value(reg: Bounds, subreg32: bool) -> int:
    """``reg_const_value()``."""
    return reg.var_off.value & U32_MAX if subreg32 else reg.var_off.value


def range_within(old: Bounds, cur: Bounds) -> bool:
    """``range_within()``: every bound of ``cur`` lies within the same bound of ``old``."""
    return (old.umin_value <= cur.umin_value and old.umax_value >= cur.umax_value
            and old.smin_value <= cur.smin_value and old.smax_value >= cur.smax_value
            and old.u32_min_value <= cur.u32_min_value
            and old.u32_max_value >= cur.u32_max_value
            and old.s32_min_value <= cur.s32_min_value
            and old.s32_max_value >= cur.s32_max_value)  # fmt: skip
