"""pybpf.verifier.bounds and scalar_alu: soundness properties and known kernel results."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.isa import ALUOp
from pybpf.verifier import bounds as B
from pybpf.verifier.bounds import Bounds
from pybpf.verifier.scalar_alu import adjust_scalar_min_max_vals
from pybpf.verifier.tnum import Tnum, tnum_range

from .strategies import U64, bounds_and_member

M32 = 0xFFFFFFFF
OPS = [ALUOp.ADD, ALUOp.SUB, ALUOp.MUL, ALUOp.AND, ALUOp.OR, ALUOp.XOR, ALUOp.LSH,
       ALUOp.RSH, ALUOp.ARSH, ALUOp.DIV, ALUOp.MOD, ALUOp.NEG]  # fmt: skip


def concrete(op: int, x: int, y: int, alu32: bool) -> int:
    bits = 32 if alu32 else 64
    lim = (1 << bits) - 1
    x, y = x & lim, y & lim
    sx = x - (1 << bits) if x >> (bits - 1) else x
    sh = y & (bits - 1)
    r = {
        ALUOp.ADD: x + y, ALUOp.SUB: x - y, ALUOp.MUL: x * y, ALUOp.AND: x & y,
        ALUOp.OR: x | y, ALUOp.XOR: x ^ y, ALUOp.LSH: x << sh, ALUOp.RSH: x >> sh,
        ALUOp.ARSH: sx >> sh, ALUOp.DIV: x // y if y else 0, ALUOp.MOD: x % y if y else x,
        ALUOp.NEG: -x,
    }[ALUOp(op)]  # fmt: skip
    return r & lim


def test_fresh_bounds_know_nothing() -> None:
    b = Bounds()
    assert b.contains(0) and b.contains(U64) and b.contains(1 << 63)
    B.reg_bounds_sync(b)
    assert b == Bounds()


@given(bounds_and_member())
def test_sync_keeps_members(bx: tuple[Bounds, int]) -> None:
    b, x = bx
    assert b.contains(x)
    assert B.reg_bounds_sanity_check(b) is None
    again = Bounds()
    again.set_bounds(b)
    B.reg_bounds_sync(again)
    assert again.contains(x)


@given(bounds_and_member(), bounds_and_member(), st.sampled_from(OPS), st.booleans())
@settings(max_examples=1500)
def test_alu_ops_are_sound(a: tuple[Bounds, int], b: tuple[Bounds, int], op: int,
                           alu32: bool) -> None:
    (da, x), (db, y) = a, b
    adjust_scalar_min_max_vals(da, db, op, alu32)
    r = concrete(op, x, y, alu32)
    assert da.contains(r), (op, alu32, hex(x), hex(y), da)


@given(bounds_and_member(), st.sampled_from([1, 2, 4]))
def test_coercions_are_sound(bx: tuple[Bounds, int], size: int) -> None:
    b, x = bx
    bits = size * 8
    low = x & ((1 << bits) - 1)
    sx = low - (1 << bits) if low >> (bits - 1) else low
    z = Bounds()
    z.set_bounds(b)
    B.coerce_reg_to_size(z, size)
    assert z.contains(low)
    s = Bounds()
    s.set_bounds(b)
    B.coerce_reg_to_size_sx(s, size)
    assert s.contains(sx & U64)
    if size < 4:
        s32b = Bounds()
        s32b.set_bounds(b)
        B.coerce_subreg_to_size_sx(s32b, size)
        B.zext_32_to_64(s32b)
        assert s32b.contains(sx & M32)


def _known(v: int) -> Bounds:
    b = Bounds()
    B.mark_reg_known(b, v)
    return b


def _range(lo: int, hi: int) -> Bounds:
    b = Bounds(var_off=tnum_range(lo, hi), umin_value=lo, umax_value=hi)
    B.reg_bounds_sync(b)
    return b


def test_known_results() -> None:
    r = _range(0, 255)
    assert (r.smin_value, r.smax_value, r.s32_min_value, r.u32_max_value) == (0, 255, 0, 255)
    adjust_scalar_min_max_vals(r, _known(5), ALUOp.ADD, False)
    assert (r.umin_value, r.umax_value, r.var_off) == (5, 260, Tnum(0, 0x1FF))
    r = _range(0, 1023)
    adjust_scalar_min_max_vals(r, _known(600), ALUOp.SUB, False)
    assert (r.smin_value, r.smax_value, r.umin_value, r.umax_value) == (-600, 423, 0, U64)
    assert (r.s32_min_value, r.s32_max_value) == (-600, 423)
    r = _known(-1)
    adjust_scalar_min_max_vals(r, _known(1), ALUOp.ARSH, False)
    assert r.var_off == Tnum(U64, 0)
    r = _range(0, 10)
    assert adjust_scalar_min_max_vals(r, _known(3), ALUOp.MOD, False) is False
    assert r == Bounds()
    r = _range(5, 15)
    adjust_scalar_min_max_vals(r, _known(2), ALUOp.LSH, False)
    assert (r.umin_value, r.umax_value, r.var_off) == (20, 60, Tnum(0, 0x3C))
