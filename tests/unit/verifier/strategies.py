"""Hypothesis strategies shared by the verifier's unit tests: tnums and members of them."""

from __future__ import annotations

from hypothesis import strategies as st

from pybpf.verifier.tnum import Tnum

U64 = (1 << 64) - 1

_interesting = st.sampled_from(
    [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
     0x100000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, U64, U64 - 1]
)
u64s = st.one_of(st.integers(0, U64), _interesting, st.integers(0, 64))


@st.composite
def tnums(draw: st.DrawFn) -> Tnum:
    """A well-formed tnum (value & mask == 0), biased towards few unknown bits."""
    mask = draw(st.one_of(st.integers(0, U64), st.integers(0, 0xFF), st.just(0),
                          st.integers(0, 0xFFFF_FFFF), st.just(U64)))
    value = draw(u64s) & ~mask & U64
    return Tnum(value, mask)


@st.composite
def tnum_and_member(draw: st.DrawFn) -> tuple[Tnum, int]:
    """A tnum and one concrete value it contains."""
    t = draw(tnums())
    fill = draw(u64s)
    return t, t.value | (fill & t.mask)


@st.composite
def bounds_and_member(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    """Synced :class:`Bounds` and one concrete u64 value they contain."""
    from pybpf.verifier.bounds import Bounds, reg_bounds_sync, s32, s64

    x = draw(u64s)
    b = Bounds()
    if draw(st.booleans()):
        mask = draw(st.one_of(st.integers(0, U64), st.integers(0, 0xFF), st.integers(0, 0xFFFF)))
        b.var_off = Tnum(x & ~mask & U64, mask)
    lo32, x32 = x & 0xFFFFFFFF, x & 0xFFFFFFFF
    for field in draw(st.sets(st.sampled_from(["u", "s", "u32", "s32"]))):
        below = draw(st.integers(0, 1 << draw(st.sampled_from([4, 16, 40, 64]))))
        above = draw(st.integers(0, 1 << draw(st.sampled_from([4, 16, 40, 64]))))
        if field == "u":
            b.umin_value, b.umax_value = max(0, x - below), min(U64, x + above)
        elif field == "s":
            sx = s64(x)
            b.smin_value, b.smax_value = max(-(1 << 63), sx - below), min((1 << 63) - 1, sx + above)
        elif field == "u32":
            b.u32_min_value, b.u32_max_value = max(0, lo32 - below), min(0xFFFFFFFF, lo32 + above)
        else:
            sx = s32(x32)
            b.s32_min_value = max(-(1 << 31), sx - below)
            b.s32_max_value = min((1 << 31) - 1, sx + above)
    reg_bounds_sync(b)
    return b, x
