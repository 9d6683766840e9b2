"""Tracked numbers: which bits of a 64-bit value are known, and to what.

Mirrors kernel/bpf/tnum.c and include/linux/tnum.h (Linux 6.18). A :class:`Tnum` is a pair
``(value, mask)``: a bit set in ``mask`` is unknown; a bit clear in ``mask`` is known and equal
to the same bit of ``value`` (``value & mask == 0`` always holds). Every operation returns a
tnum containing every concrete result for every pair of concrete operands contained in its
inputs (soundness), as the kernel's do; their precision is the kernel's, bit for bit, because
the verifier's decisions (and its log) depend on it.

All values are Python ints in ``[0, 2**64)``; nothing here is signed except where a function
says so (``tnum_arshift``).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "TNUM_UNKNOWN",
    "Tnum",
    "tnum_add",
    "tnum_and",
    "tnum_arshift",
    "tnum_bswap16",
    "tnum_bswap32",
    "tnum_bswap64",
    "tnum_cast",
    "tnum_clear_subreg",
    "tnum_const",
    "tnum_const_subreg",
    "tnum_equals_const",
    "tnum_in",
    "tnum_intersect",
    "tnum_is_aligned",
    "tnum_is_const",
    "tnum_is_unknown",
    "tnum_lshift",
    "tnum_mul",
    "tnum_neg",
    "tnum_or",
    "tnum_range",
    "tnum_rshift",
    "tnum_sbin",
    "tnum_step",
    "tnum_strn",
    "tnum_sub",
    "tnum_subreg",
    "tnum_subreg_is_const",
    "tnum_with_subreg",
    "tnum_xor",
]

U64_MASK = (1 << 64) - 1
U32_MASK = (1 << 32) - 1


class Tnum(NamedTuple):
    """``struct tnum``: ``value`` holds the known bits, ``mask`` marks the unknown ones."""

    value: int
    mask: int

    def contains(self, x: int) -> bool:
        """True if the concrete 64-bit value ``x`` is one of the values this tnum represents."""
        return (x & ~self.mask & U64_MASK) == self.value

    def __str__(self) -> str:
        return tnum_strn(self)


TNUM_UNKNOWN = Tnum(0, U64_MASK)
"""``tnum_unknown``: nothing is known."""


def tnum_const(value: int) -> Tnum:
    """A fully known value."""
    return Tnum(value & U64_MASK, 0)


def tnum_range(umin: int, umax: int) -> Tnum:
    """The smallest tnum containing every value of the unsigned range ``[umin, umax]``."""
    chi = (umin ^ umax) & U64_MASK
    bits = chi.bit_length()
    if bits > 63:
        return TNUM_UNKNOWN
    delta = (1 << bits) - 1
    return Tnum(umin & ~delta & U64_MASK, delta)


def tnum_lshift(a: Tnum, shift: int) -> Tnum:
    return Tnum((a.value << shift) & U64_MASK, (a.mask << shift) & U64_MASK)


def tnum_rshift(a: Tnum, shift: int) -> Tnum:
    return Tnum(a.value >> shift, a.mask >> shift)


def _sext(x: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    return (x & (sign - 1)) - (x & sign)


def tnum_arshift(a: Tnum, min_shift: int, insn_bitness: int = 64) -> Tnum:
    """Arithmetic right shift by ``min_shift``, of the low 32 bits when ``insn_bitness`` is 32.

    Shifting value and mask separately is exact: an unknown sign bit smears into unknown bits.
    """
    if insn_bitness == 32:
        return Tnum(
            (_sext(a.value, 32) >> min_shift) & U32_MASK,
            (_sext(a.mask, 32) >> min_shift) & U32_MASK,
        )
    return Tnum(
        (_sext(a.value, 64) >> min_shift) & U64_MASK,
        (_sext(a.mask, 64) >> min_shift) & U64_MASK,
    )


def tnum_add(a: Tnum, b: Tnum) -> Tnum:
    sm = a.mask + b.mask
    sv = a.value + b.value
    sigma = sm + sv
    chi = (sigma ^ sv) & U64_MASK
    mu = chi | a.mask | b.mask
    return Tnum(sv & ~mu & U64_MASK, mu)


def tnum_sub(a: Tnum, b: Tnum) -> Tnum:
    dv = (a.value - b.value) & U64_MASK
    alpha = (dv + a.mask) & U64_MASK
    beta = (dv - b.mask) & U64_MASK
    chi = alpha ^ beta
    mu = chi | a.mask | b.mask
    return Tnum(dv & ~mu & U64_MASK, mu)


def tnum_neg(a: Tnum) -> Tnum:
    """``0 - a``."""
    return tnum_sub(Tnum(0, 0), a)


def tnum_and(a: Tnum, b: Tnum) -> Tnum:
    alpha = a.value | a.mask
    beta = b.value | b.mask
    v = a.value & b.value
    return Tnum(v, alpha & beta & ~v & U64_MASK)


def tnum_or(a: Tnum, b: Tnum) -> Tnum:
    v = a.value | b.value
    mu = a.mask | b.mask
    return Tnum(v, mu & ~v & U64_MASK)


def tnum_xor(a: Tnum, b: Tnum) -> Tnum:
    v = a.value ^ b.value
    mu = a.mask | b.mask
    return Tnum(v & ~mu & U64_MASK, mu)


def tnum_union(a: Tnum, b: Tnum) -> Tnum:
    """``tnum_union()``: every value of ``a`` or of ``b``."""
    v = a.value & b.value
    mu = (a.value ^ b.value) | a.mask | b.mask
    return Tnum(v & ~mu & U64_MASK, mu & U64_MASK)


def tnum_mul(a: Tnum, b: Tnum) -> Tnum:
    """Long multiplication over tnums, one bit of ``a`` at a time (``tnum_mul()``).

    A known 1 bit adds ``b`` to the accumulated product; an unknown bit takes the union of
    the product with and without ``b``; ``b`` moves one bit left each step. (The
    formulation of Linux 6.18, checked against its verifier log; more precise than the
    older value/mask split when the known parts carry into the unknown ones.)
    """
    acc = Tnum(0, 0)
    av, am, bv, bm = a.value, a.mask, b.value, b.mask
    while av or am:
        bt = Tnum(bv, bm)
        if av & 1:
            acc = tnum_add(acc, bt)
        elif am & 1:
            acc = tnum_union(acc, tnum_add(acc, bt))
        av >>= 1
        am >>= 1
        bv = (bv << 1) & U64_MASK
        bm = (bm << 1) & U64_MASK
    return acc


def tnum_intersect(a: Tnum, b: Tnum) -> Tnum:
    """Values in both ``a`` and ``b`` (if they disagree on a known bit, the 1 wins)."""
    v = a.value | b.value
    mu = a.mask & b.mask
    return Tnum(v & ~mu & U64_MASK, mu)


def tnum_overlap(a: Tnum, b: Tnum) -> bool:
    """``tnum_overlap()``: some value is in both ``a`` and ``b`` (their known bits agree)."""
    mu = a.mask | b.mask
    return (a.value & ~mu) == (b.value & ~mu)


def tnum_step(t: Tnum, z: int) -> int:
    """The smallest member of ``t`` greater than ``z``.

    Clamped as the kernel's ``tnum_step()``: ``t``'s largest member when ``z`` is not below
    it, ``t``'s smallest member when ``z`` is below that.
    """
    tmax = t.value | t.mask
    if z >= tmax:
        return tmax
    if z < t.value:
        return t.value
    # The result agrees with z above some bit k, has a 1 at k where z has a 0, and is the
    # smallest member below k. Known bits where z differs from t must lie at or below k.
    diff = (z ^ t.value) & ~t.mask & U64_MASK
    low = max(diff.bit_length() - 1, 0)
    candidates = (t.value | t.mask) & ~z & U64_MASK & ~((1 << low) - 1)
    k = (candidates & -candidates).bit_length() - 1
    above = z & ~((2 << k) - 1) & U64_MASK
    return above | (1 << k) | (t.value & ((1 << k) - 1))


def tnum_cast(a: Tnum, size: int) -> Tnum:
    """Truncate to the low ``size`` bytes."""
    keep = (1 << (size * 8)) - 1
    return Tnum(a.value & keep, a.mask & keep)


def tnum_is_aligned(a: Tnum, size: int) -> bool:
    if not size:
        return True
    return not ((a.value | a.mask) & (size - 1))


def tnum_in(a: Tnum, b: Tnum) -> bool:
    """True if every value of ``b`` is a value of ``a``."""
    if b.mask & ~a.mask & U64_MASK:
        return False
    return a.value == (b.value & ~a.mask & U64_MASK)


def tnum_is_const(a: Tnum) -> bool:
    return not a.mask


def tnum_equals_const(a: Tnum, b: int) -> bool:
    return tnum_is_const(a) and a.value == (b & U64_MASK)


def tnum_is_unknown(a: Tnum) -> bool:
    return not ~a.mask & U64_MASK


def tnum_subreg(a: Tnum) -> Tnum:
    """The low 32 bits."""
    return tnum_cast(a, 4)


def tnum_clear_subreg(a: Tnum) -> Tnum:
    """The high 32 bits (low 32 bits known zero)."""
    return tnum_lshift(tnum_rshift(a, 32), 32)


def tnum_with_subreg(reg: Tnum, subreg: Tnum) -> Tnum:
    """``reg``'s high 32 bits with ``subreg``'s low 32 bits."""
    return tnum_or(tnum_clear_subreg(reg), tnum_subreg(subreg))


def tnum_const_subreg(a: Tnum, value: int) -> Tnum:
    """``a`` with its low 32 bits set to the constant ``value``."""
    return tnum_with_subreg(a, tnum_const(value & U32_MASK))


def _swab(x: int, nbytes: int) -> int:
    return int.from_bytes((x & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big")


def tnum_bswap16(a: Tnum) -> Tnum:
    """Swap the two low bytes (the result is zero-extended)."""
    return Tnum(_swab(a.value, 2), _swab(a.mask, 2))


def tnum_bswap32(a: Tnum) -> Tnum:
    return Tnum(_swab(a.value, 4), _swab(a.mask, 4))


def tnum_bswap64(a: Tnum) -> Tnum:
    return Tnum(_swab(a.value, 8), _swab(a.mask, 8))


def tnum_subreg_is_const(a: Tnum) -> bool:
    return not (a.mask & U32_MASK)


def tnum_strn(a: Tnum) -> str:
    """``(%#llx; %#llx)`` as the kernel's vsnprintf prints it (``0x0`` for zero)."""
    return f"({a.value:#x}; {a.mask:#x})"


def tnum_sbin(a: Tnum) -> str:
    """The 64 bits, most significant first: ``0``, ``1`` or ``x`` (unknown)."""
    out = []
    for bit in range(63, -1, -1):
        if (a.mask >> bit) & 1:
            out.append("x")
        else:
            out.append("1" if (a.value >> bit) & 1 else "0")
    return "".join(out)
