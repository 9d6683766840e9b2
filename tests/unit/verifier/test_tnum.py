"""pybpf.verifier.tnum: soundness properties and the kernel's exact results."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.verifier import tnum as T
from pybpf.verifier.tnum import Tnum

from .strategies import U64, tnum_and_member, tnums, u64s

M32 = 0xFFFFFFFF


def _s64(x: int) -> int:
    return x - (1 << 64) if x & (1 << 63) else x


@given(tnum_and_member(), tnum_and_member())
@settings(max_examples=400)
def test_binary_ops_are_sound(a: tuple[Tnum, int], b: tuple[Tnum, int]) -> None:
    (ta, x), (tb, y) = a, b
    assert T.tnum_add(ta, tb).contains((x + y) & U64)
    assert T.tnum_sub(ta, tb).contains((x - y) & U64)
    assert T.tnum_and(ta, tb).contains(x & y)
    assert T.tnum_or(ta, tb).contains(x | y)
    assert T.tnum_xor(ta, tb).contains(x ^ y)
    assert T.tnum_mul(ta, tb).contains((x * y) & U64)


@given(tnum_and_member(), st.integers(0, 63))
def test_shifts_are_sound(a: tuple[Tnum, int], shift: int) -> None:
    ta, x = a
    assert T.tnum_lshift(ta, shift).contains((x << shift) & U64)
    assert T.tnum_rshift(ta, shift).contains(x >> shift)
    assert T.tnum_arshift(ta, shift).contains((_s64(x) >> shift) & U64)
    s32 = shift & 31
    x32 = x & M32
    sx32 = x32 - (1 << 32) if x32 & 0x80000000 else x32
    assert T.tnum_arshift(T.tnum_subreg(ta), s32, 32).contains((sx32 >> s32) & M32)


@given(tnum_and_member())
def test_unary_and_subreg_ops_are_sound(a: tuple[Tnum, int]) -> None:
    ta, x = a
    assert T.tnum_neg(ta).contains((-x) & U64)
    for size in (1, 2, 4, 8):
        assert T.tnum_cast(ta, size).contains(x & ((1 << (8 * size)) - 1))
    assert T.tnum_subreg(ta).contains(x & M32)
    assert T.tnum_clear_subreg(ta).contains(x & ~M32 & U64)


@given(u64s, u64s, u64s)
def test_range_contains_its_members(lo: int, hi: int, pick: int) -> None:
    lo, hi = min(lo, hi), max(lo, hi)
    x = lo + pick % (hi - lo + 1)
    assert T.tnum_range(lo, hi).contains(x)


@given(tnum_and_member(), tnum_and_member())
def test_intersect_keeps_common_members(a: tuple[Tnum, int], b: tuple[Tnum, int]) -> None:
    (ta, x), (tb, _) = a, b
    if tb.contains(x):
        assert T.tnum_intersect(ta, tb).contains(x)


@given(tnums(), tnum_and_member())
def test_tnum_in_means_subset(a: Tnum, b: tuple[Tnum, int]) -> None:
    tb, y = b
    if T.tnum_in(a, tb):
        assert a.contains(y)


@given(tnum_and_member(), tnum_and_member())
def test_with_subreg(a: tuple[Tnum, int], b: tuple[Tnum, int]) -> None:
    (ta, x), (tb, y) = a, b
    assert T.tnum_with_subreg(ta, tb).contains((x & ~M32 & U64) | (y & M32))


def test_known_results() -> None:
    assert T.tnum_range(0, 10) == Tnum(0, 0xF)
    assert T.tnum_range(5, 5) == Tnum(5, 0)
    assert T.tnum_range(0, U64) == T.TNUM_UNKNOWN
    assert T.tnum_add(Tnum(0, 0xF), T.tnum_const(5)) == Tnum(0, 0x1F)
    assert T.tnum_and(T.TNUM_UNKNOWN, T.tnum_const(0xFF)) == Tnum(0, 0xFF)
    assert T.tnum_lshift(Tnum(4, 3), 2) == Tnum(16, 12)
    assert T.tnum_arshift(Tnum(0x8000000000000000, 0), 4) == Tnum(0xF800000000000000, 0)
    assert T.tnum_arshift(Tnum(0x80000000, 0), 4, 32) == Tnum(0xF8000000, 0)
    assert T.tnum_mul(Tnum(0, 3), T.tnum_const(4)) == Tnum(0, 0xC)
    assert T.tnum_neg(T.tnum_const(1)) == T.tnum_const(U64)
    assert str(Tnum(0, 0xFF)) == "(0x0; 0xff)"
    assert T.tnum_sbin(Tnum(2, 1)) == "0" * 62 + "1x"
    assert T.tnum_is_aligned(Tnum(8, 0xF0), 8) and not T.tnum_is_aligned(Tnum(8, 1), 2)
    assert T.tnum_const_subreg(T.TNUM_UNKNOWN, 7) == Tnum(7, 0xFFFFFFFF00000000)
    assert T.tnum_subreg_is_const(Tnum(5, 0xFFFF000000000000))
    assert T.tnum_is_unknown(T.TNUM_UNKNOWN) and not T.tnum_is_unknown(Tnum(0, M32))
    assert T.tnum_in(Tnum(0, 0xFF), Tnum(3, 0xC))
    assert not T.tnum_in(Tnum(0, 0xF), Tnum(0, 0x1F))


@given(tnums(), u64s)
def test_tnum_step_is_next_member(t: Tnum, z: int) -> None:
    tmax = t.value | t.mask
    got = T.tnum_step(t, z)
    if z >= tmax:
        assert got == tmax
    elif z < t.value:
        assert got == t.value
    else:
        assert t.contains(got) and got > z
        if bin(t.mask).count("1") <= 10:  # brute force: nothing in between
            members = [t.value | m for m in _submasks(t.mask)]
            assert got == min(m for m in members if m > z)


def _submasks(mask: int) -> list[int]:
    out, sub = [], mask
    while True:
        out.append(sub)
        if sub == 0:
            return out
        sub = (sub - 1) & mask
