"""Generate the matrix topics of the verifier corpus (ALU and conditional-jump tracking).

Writes ``tests/verifier_corpus/cases/{alu_values,alu_bounds,jmp_refine}.toml``: every ALU op
in its 32- and 64-bit, immediate and register forms on known values (``alu_values``), on a
bounded unknown value (``alu_bounds``), and every JMP/JMP32 condition refining an unknown
value on both of its sides (``jmp_refine``). Each property is checked by a *trap*: a branch
to ``r0 = r9`` (an uninitialised register) that the verifier must prove dead; next to each
tight check an off-by-one variant that must reach the trap.

The verdicts are not computed here: ``tools/corpus_record.py`` records them from the kernel.
Rerunning keeps the recorded results of cases whose inputs did not change.

    python3 tools/corpus_gen.py && python3 tools/corpus_record.py -k 'alu_*' -k 'jmp_*'
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "verifier_corpus")]

import corpus  # noqa: E402

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
TRAP = "exit\ntrap: r0 = r9\nexit"


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


def _sdiv(a: int, b: int, bits: int) -> int:
    sa, sb = (s64(a), s64(b)) if bits == 64 else (s32(a), s32(b))
    if sb == 0:
        return 0
    q = abs(sa) // abs(sb)
    return q if (sa < 0) == (sb < 0) else -q


def _smod(a: int, b: int, bits: int) -> int:
    sa, sb = (s64(a), s64(b)) if bits == 64 else (s32(a), s32(b))
    if sb == 0:
        return sa
    r = abs(sa) % abs(sb)
    return -r if sa < 0 else r


def _arsh(a: int, b: int, bits: int) -> int:
    return (s64(a) if bits == 64 else s32(a)) >> b


# op symbol -> (name, function of (a, b, bits) on unsigned values)
OPS: dict[str, tuple[str, Callable[[int, int, int], int]]] = {
    "+=": ("add", lambda a, b, n: a + b),
    "-=": ("sub", lambda a, b, n: a - b),
    "*=": ("mul", lambda a, b, n: a * b),
    "/=": ("div", lambda a, b, n: a // b if b else 0),
    "%=": ("mod", lambda a, b, n: a % b if b else a),
    "s/=": ("sdiv", _sdiv),
    "s%=": ("smod", _smod),
    "|=": ("or", lambda a, b, n: a | b),
    "&=": ("and", lambda a, b, n: a & b),
    "^=": ("xor", lambda a, b, n: a ^ b),
    "<<=": ("lsh", lambda a, b, n: a << b),
    ">>=": ("rsh", lambda a, b, n: a >> b),
    "s>>=": ("arsh", _arsh),
}

# operand pairs per op: (a, b); the first pair also gets an off-by-one reject variant
PAIRS: dict[str, list[tuple[int, int]]] = {
    "+=": [(0x7FFFFFF0_00000005, 0x10), (M64, 2)],
    "-=": [(5, 7), (0x1_00000000, 1)],
    "*=": [(0x1234567, 0x89), (0xFFFFFFFF, 0xFFFFFFFF)],
    "/=": [(1000, 7), (M64, 0x10000)],
    "%=": [(1000, 7), (0xFFFFFFFF_FFFFFF00, 0x100)],
    "s/=": [((-1000) & M64, 7), ((-7) & M64, (-2) & M64)],
    "s%=": [((-1000) & M64, 7), (1000, (-7) & M64)],
    "|=": [(0xF0F0, 0x0F0F), (0x80000000_00000000, 1)],
    "&=": [(0xFFFF00FF, 0x0FF0), (M64, 0x7FFFFFFF)],
    "^=": [(0xFF00FF00, 0x0FF00FF0), (M64, 0xFFFFFFFF)],
    "<<=": [(0x3, 5), (0x1, 31)],
    ">>=": [(0xFF000000_00000000, 40), (0x80000000, 31)],
    "s>>=": [(0xFF000000_00000000, 40), (0x80000000, 31)],
}


def _case(name: str, asm: str, note: str = "", **kw: object) -> corpus.Case:
    fields = {"prog_type": "SOCKET_FILTER", "privileged": True, "license": "GPL", **kw}
    return corpus.Case(topic="", name=name, asm=asm.strip() + "\n", note=note, **fields)


def _known_check(expected: int, result_reg: str = "r1") -> str:
    return (f"r3 = {expected & M64:#x} ll\nr0 = 0\nif {result_reg} == r3 goto +1\n"
            "r0 = r9\nexit")


def alu_values() -> Iterator[corpus.Case]:
    """Known operands: the result must be known exactly (or not, for the kernel to say)."""
    for sym, (opname, fn) in OPS.items():
        for bits in (64, 32):
            reg = "r" if bits == 64 else "w"
            mask = M64 if bits == 64 else M32
            for form in ("k", "x"):
                for i, (a, b) in enumerate(PAIRS[sym]):
                    if form == "k":
                        if bits == 64 and not -(1 << 31) <= s64(b) < (1 << 31):
                            continue  # not an imm32
                        b_imm = s64(b) if bits == 64 else s32(b)
                        bb = b_imm & mask  # the imm, sign-extended to the operation's width
                    else:
                        bb = b & mask
                    aa = a & mask
                    if opname in ("lsh", "rsh", "arsh") and bb >= bits:
                        continue
                    expected = fn(aa, bb, bits) & mask
                    setup = f"r1 = {a & M64:#x} ll\n"
                    if form == "x":
                        setup += f"r2 = {b & M64:#x} ll\n"
                        op = f"{reg}1 {sym} {reg}2"
                    else:
                        op = f"{reg}1 {sym} {b_imm}"
                    base = f"{opname}{bits}_{form}_{i}"
                    note = f"{a & M64:#x} {sym} {bb & mask:#x} ({bits}-bit) = {expected:#x}"
                    yield _case(base, setup + op + "\n" + _known_check(expected), note)
                    if i == 0:
                        yield _case(base + "_off_by_one", setup + op + "\n"
                                    + _known_check(expected + 1),
                                    f"{note}; checked against {(expected + 1) & mask:#x}")
    # division and modulo by a zero register (defined results), by a zero immediate (rejected)
    for bits in (64, 32):
        reg = "r" if bits == 64 else "w"
        for sym in ("/=", "%=", "s/=", "s%="):
            opname, fn = OPS[sym]
            a = 0xFFFFFFFF_12345678
            expected = fn(a & (M64 if bits == 64 else M32), 0, bits) & (M64 if bits == 64 else M32)
            yield _case(f"{opname}{bits}_by_zero_reg",
                        f"r1 = {a:#x} ll\nr2 = 0\n{reg}1 {sym} {reg}2\n" + _known_check(expected),
                        f"division by a zero register is defined: {expected:#x}")
            yield _case(f"{opname}{bits}_by_zero_imm",
                        f"r1 = 5\n{reg}1 {sym} 0\nr0 = 0\nexit", "division by a zero immediate")
        # signed overflow: INT_MIN / -1
        smin = 1 << (bits - 1)
        mask = M64 if bits == 64 else M32
        yield _case(f"sdiv{bits}_int_min_by_minus_one",
                    f"r1 = {smin:#x} ll\n{reg}1 s/= -1\n" + _known_check(smin & mask),
                    "INT_MIN / -1 = INT_MIN")
        yield _case(f"smod{bits}_int_min_by_minus_one",
                    f"r1 = {smin:#x} ll\n{reg}1 s%= -1\n" + _known_check(0),
                    "INT_MIN % -1 = 0")
    # shifts: immediate out of range, register amount out of range
    for bits in (64, 32):
        reg = "r" if bits == 64 else "w"
        for sym in ("<<=", ">>=", "s>>="):
            opname = OPS[sym][0]
            yield _case(f"{opname}{bits}_imm_{bits}", f"r1 = 1\n{reg}1 {sym} {bits}\nr0 = 0\nexit",
                        f"shift by {bits}: rejected at load")
            yield _case(f"{opname}{bits}_imm_{bits - 1}",
                        f"r1 = 1\n{reg}1 {sym} {bits - 1}\nr0 = 0\nexit")
            yield _case(f"{opname}{bits}_imm_negative", f"r1 = 1\n{reg}1 {sym} -1\nr0 = 0\nexit")
            yield _case(f"{opname}{bits}_reg_{bits}",
                        f"r1 = 1\nr2 = {bits}\n{reg}1 {sym} {reg}2\n"
                        + _known_check(OPS[sym][1](1, bits % bits, bits)),
                        f"shift by a register holding {bits}: the result is not known")
    # neg, mov, zero extension
    for bits, reg, mask in ((64, "r", M64), (32, "w", M32)):
        for i, a in enumerate((5, 0x80000000_00000000, 0x1_00000001)):
            expected = (-(a & mask)) & mask
            yield _case(f"neg{bits}_{i}", f"r1 = {a:#x} ll\n{reg}1 = -{reg}1\n"
                        + _known_check(expected), f"-{a:#x} = {expected:#x}")
    yield _case("neg64_off_by_one", "r1 = 5\nr1 = -r1\n" + _known_check(-4))
    yield _case("mov32_zero_extends", "r1 = -1\nw1 = w1\n" + _known_check(M32),
                "w1 = w1 clears the upper half")
    yield _case("mov32_zero_extends_off_by_one", "r1 = -1\nw1 = w1\n" + _known_check(M64))
    yield _case("mov32_imm_negative", "w1 = -1\n" + _known_check(M32),
                "w1 = -1 is 0xffffffff, zero-extended")
    yield _case("mov64_imm_negative", "r1 = -1\n" + _known_check(M64),
                "r1 = -1 is sign-extended")
    yield _case("alu32_add_zero_extends", "r1 = 0xffffffff00000001 ll\nw1 += 1\n" + _known_check(2))
    # movsx (cpu v4)
    for bits, reg in ((64, "r"), (32, "w")):
        for width in (8, 16, 32):
            if bits == 32 and width == 32:
                continue
            value = 0x1234_5678_9ABC_DE80 if width == 8 else 0x1234_5678_9ABC_8000
            if width == 32:
                value = 0x1234_5678_8000_0001
            sign = 1 << (width - 1)
            low = value & ((1 << width) - 1)
            ext = low - (1 << width) if low & sign else low
            expected = ext & (M64 if bits == 64 else M32)
            yield _case(f"movsx{bits}_s{width}",
                        f"r2 = {value:#x} ll\n{reg}1 = (s{width}) {reg}2\n" + _known_check(expected),
                        f"sign extension of the low {width} bits = {expected:#x}")
            yield _case(f"movsx{bits}_s{width}_off_by_one",
                        f"r2 = {value:#x} ll\n{reg}1 = (s{width}) {reg}2\n"
                        + _known_check(expected ^ (1 << (bits - 1))))
    # byte swaps (cpu v4 bswap, and be/le conversions on a little-endian host)
    value = 0x0102_0304_0506_0708
    for width in (16, 32, 64):
        low = value & ((1 << width) - 1)
        swapped = int.from_bytes(low.to_bytes(width // 8, "little"), "big")
        yield _case(f"bswap{width}", f"r1 = {value:#x} ll\nr1 = bswap{width} r1\n"
                    + _known_check(swapped), f"bswap{width}({value:#x}) = {swapped:#x}")
        yield _case(f"be{width}", f"r1 = {value:#x} ll\nr1 = be{width} r1\n"
                    + _known_check(swapped), "be on a little-endian host swaps and truncates")
        yield _case(f"le{width}", f"r1 = {value:#x} ll\nr1 = le{width} r1\n"
                    + _known_check(low), "le on a little-endian host only truncates")
        yield _case(f"bswap{width}_off_by_one", f"r1 = {value:#x} ll\nr1 = bswap{width} r1\n"
                    + _known_check(swapped + 1))


# -- bounded unknown operands ------------------------------------------------------------------
# x = len & 0xff in [0, 255] (tnum (0; 0xff)); y = (len >> 8) & 0xf in [0, 15]
X_SETUP = "r1 = *(u32 *)(r1 + 0)\nr2 = r1\nr1 &= 0xff\nr2 >>= 8\nr2 &= 0xf\n"

# (name, op lines, [(check kind, bound)]) where kind is one of umax/umin/smax/smin and the
# bound is the tight value the kernel is expected to know
BOUNDS: list[tuple[str, str, list[tuple[str, int]]]] = [
    ("and_mask", "", [("umax", 255), ("umin", 0)]),
    ("add64_k", "r1 += 10", [("umax", 265), ("umin", 10)]),
    ("add32_k", "w1 += 10", [("umax", 265), ("umin", 10)]),
    ("add64_x", "r1 += r2", [("umax", 270)]),
    ("add32_x", "w1 += w2", [("umax", 270)]),
    ("sub64_k", "r1 -= 10", [("smax", 245), ("smin", -10)]),
    ("sub32_k_wraps", "w1 -= 10", [("umax", 0xFFFFFFFF)]),
    ("sub64_x", "r1 -= r2", [("smax", 255), ("smin", -15)]),
    ("mul64_k", "r1 *= 3", [("umax", 765)]),
    ("mul32_k", "w1 *= 3", [("umax", 765)]),
    ("mul64_x", "r1 *= r2", [("umax", 3825)]),
    ("or64_k", "r1 |= 0x100", [("umax", 511), ("umin", 256)]),
    ("or32_x", "w1 |= w2", [("umax", 255)]),
    ("and64_k", "r1 &= 0x3c", [("umax", 60)]),
    ("and64_x", "r1 &= r2", [("umax", 15)]),
    ("xor64_k", "r1 ^= 0xf0", [("umax", 255)]),
    ("xor64_x", "r1 ^= r2", [("umax", 255)]),
    ("lsh64_k", "r1 <<= 4", [("umax", 4080)]),
    ("lsh32_k", "w1 <<= 24", [("umax", 0xFF000000)]),
    ("lsh64_x", "r1 <<= r2", [("umax", 255 << 15)]),
    ("rsh64_k", "r1 >>= 4", [("umax", 15)]),
    ("rsh32_k", "w1 >>= 4", [("umax", 15)]),
    ("rsh64_x", "r1 >>= r2", [("umax", 255)]),
    ("arsh64_k", "r1 s>>= 4", [("umax", 15)]),
    ("arsh64_negative", "r1 -= 256\nr1 s>>= 4", [("smin", -16), ("smax", -1)]),
    ("neg64", "r1 = -r1", [("smin", -255), ("smax", 0)]),
    ("div64_k", "r1 /= 2", [("umax", 127)]),
    ("div32_k", "w1 /= 2", [("umax", 127)]),
    ("mod64_k", "r1 %= 16", [("umax", 15)]),
    ("mod32_k", "w1 %= 16", [("umax", 15)]),
    ("sdiv64_k", "r1 s/= 2", [("smax", 127)]),
    ("smod64_k", "r1 s%= 16", [("smax", 15)]),
    ("mov32_x", "w1 = w2", [("umax", 15)]),
    ("movsx64_s8", "r1 = (s8) r1", [("smin", -128), ("smax", 127)]),
    ("movsx64_s8_small", "r1 >>= 1\nr1 = (s8) r1", [("umax", 127)]),
    ("movsx32_s16", "w1 = (s16) w1", [("umax", 255)]),
    ("bswap16", "r1 = bswap16 r1", [("umax", 0xFF00)]),
    ("be16", "r1 = be16 r1", [("umax", 0xFF00)]),
    ("le32", "r1 = le32 r1", [("umax", 255)]),
    ("add_then_and", "r1 += 1000\nr1 &= 0x3ff", [("umax", 1023)]),
    ("or_then_rsh", "r1 |= 0x1000\nr1 >>= 8", [("umin", 16), ("umax", 16)]),
    ("sub_self", "r1 -= r1", [("const", 0)]),
    ("xor_self", "r1 ^= r1", [("const", 0)]),
    ("mul_overflow_64", "r1 <<= 56\nr1 *= 256", [("const", 0)]),
    ("mul_no_overflow_64", "r1 <<= 48\nr1 *= 256", [("umax", 0xFF << 56)]),
    ("add_overflow_64", "r3 = -1\nr1 += r3", [("smin", -1)]),
    ("alu32_truncates_add", "r3 = 0x100000000 ll\nr1 += r3\nw1 = w1", [("umax", 255)]),
]


def _bound_check(kind: str, bound: int, reg: str = "r1") -> str:
    if kind == "const":
        return f"if {reg} != {bound} goto trap\n"
    op = {"umax": ">", "umin": "<", "smax": "s>", "smin": "s<"}[kind]
    if -(1 << 31) <= bound < (1 << 31):
        return f"if {reg} {op} {bound} goto trap\n"
    return f"r4 = {bound:#x} ll\nif {reg} {op} r4 goto trap\n"  # not an imm32


def alu_bounds() -> Iterator[corpus.Case]:
    for name, ops, checks in BOUNDS:
        for kind, bound in checks:
            prog = X_SETUP + (ops + "\n" if ops else "") + "r0 = 0\n"
            tight = prog + _bound_check(kind, bound) + TRAP
            loose = bound - 1 if kind in ("umax", "smax") else bound + 1
            off = prog + _bound_check(kind, loose) + TRAP
            note = f"x = len & 0xff, y = (len >> 8) & 0xf; after '{ops or 'nothing'}' {kind} = {bound}"
            yield _case(f"{name}_{kind}", tight, note)
            yield _case(f"{name}_{kind}_off_by_one", off, note + f"; checked against {loose}")
    # a bounded scalar used as a map-value offset: 8-byte value, 1-byte reads
    maps = (corpus.MapDef("m", "ARRAY", 4, 16, 1),)
    lookup = ("r6 = *(u32 *)(r1 + 0)\nr1 = {map:m} ll\nr2 = r10\nr2 += -4\n"
              "*(u32 *)(r10 - 4) = 0\ncall bpf_map_lookup_elem\nif r0 == 0 goto out\n")
    for name, ops, mask, ok in [
        ("and_15", "r6 &= 15", 15, True),
        ("and_16", "r6 &= 16", 16, False),
        ("and_31", "r6 &= 31", 31, False),
        ("mod_16", "r6 %= 16", None, False),
        ("rsh_28", "r6 >>= 28", 15, True),
        ("rsh_27", "r6 >>= 27", 31, False),
        ("and_7_lsh_1", "r6 &= 7\nr6 <<= 1", 14, True),
        ("and_7_lsh_2", "r6 &= 7\nr6 <<= 2", 28, False),
        ("and_7_add_8", "r6 &= 7\nr6 += 8", 15, True),
        ("and_7_add_9", "r6 &= 7\nr6 += 9", 16, False),
        ("and_15_sub_1", "r6 &= 15\nr6 -= 1", None, False),
        ("w_and_15", "w6 &= 15", 15, True),
    ]:
        asm = lookup + ops + "\nr0 += r6\nr0 = *(u8 *)(r0 + 0)\nout: r0 = 0\nexit"
        note = f"16-byte value, offset '{ops}' (max {mask}) -> {'in' if ok else 'out of'} bounds"
        yield _case(f"map_value_offset_{name}", asm, note,
                    maps=maps)


# -- conditional jumps -------------------------------------------------------------------------
MIRROR = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "s>": "s<", "s>=": "s<=", "s<": "s>",
          "s<=": "s>=", "==": "==", "!=": "!=", "&": "&"}  # fmt: skip
NAMES = {">": "jgt", ">=": "jge", "<": "jlt", "<=": "jle", "s>": "jsgt", "s>=": "jsge",
         "s<": "jslt", "s<=": "jsle", "==": "jeq", "!=": "jne", "&": "jset"}  # fmt: skip


def _refinements(op: str, k: int) -> dict[str, tuple[str, int]]:
    """The bound each side learns from ``x op k``: side -> (kind, tight bound)."""
    return {
        ">": {"taken": ("umin", k + 1), "fall": ("umax", k)},
        ">=": {"taken": ("umin", k), "fall": ("umax", k - 1)},
        "<": {"taken": ("umax", k - 1), "fall": ("umin", k)},
        "<=": {"taken": ("umax", k), "fall": ("umin", k + 1)},
        "s>": {"taken": ("smin", k + 1), "fall": ("smax", k)},
        "s>=": {"taken": ("smin", k), "fall": ("smax", k - 1)},
        "s<": {"taken": ("smax", k - 1), "fall": ("smin", k)},
        "s<=": {"taken": ("smax", k), "fall": ("smin", k + 1)},
        "==": {"taken": ("eq", k), "fall": ("ne", k)},
        "!=": {"taken": ("ne", k), "fall": ("eq", k)},
        "&": {"taken": ("bit_set", k), "fall": ("bit_clear", k)},
    }[op]


def _check(kind: str, bound: int, reg: str, tight: bool) -> str:
    """A branch to the trap that is dead iff the refinement is known (tight) - or live."""
    if kind in ("umax", "umin", "smax", "smin"):
        if not tight:
            bound = bound - 1 if kind in ("umax", "smax") else bound + 1
        return _bound_check(kind, bound, reg)
    if kind == "eq":
        return f"if {reg} != {bound if tight else bound + 1} goto trap\n"
    if kind == "ne":  # x != k, k the lowest value: x >= k + 1
        return f"if {reg} == {bound if tight else bound + 1} goto trap\n"
    if kind == "bit_set":
        bit = bound if tight else bound << 1
        r3 = "w3" if reg.startswith("w") else "r3"
        return f"{r3} = {reg}\n{r3} &= {bit}\nif {r3} != {bit} goto trap\n"
    if kind == "bit_clear":
        return f"if {reg} & {bound if tight else bound | (bound << 1)} goto trap\n"
    raise ValueError(kind)


def jmp_refine() -> Iterator[corpus.Case]:
    for op in MIRROR:
        signed = op.startswith("s")
        for bits in (64, 32):
            reg = "r1" if bits == 64 else "w1"
            if signed and bits == 64:
                source = "r1 = *(u32 *)(r1 + 0)\nr1 = (s32) r1\n"
                k = -5 if op in ("s<", "s<=", "s>", "s>=") else 0
            else:
                source = "r1 = *(u32 *)(r1 + 0)\n"
                k = -5 if signed else 100
            if op in ("==", "!="):
                k = 0  # the lowest value: the != side learns umin = 1
                if bits == 64 and signed:
                    k = 0
            if op == "&":
                k = 8
            for form in ("k", "x", "swapped"):
                if form == "swapped" and bits == 32:
                    continue
                if form == "k":
                    cond = f"if {reg} {op} {k} goto taken\n"
                    setup = ""
                elif form == "x":
                    r2 = "r2" if bits == 64 else "w2"
                    setup = f"r2 = {k}\n"
                    cond = f"if {reg} {op} {r2} goto taken\n"
                else:
                    setup = f"r2 = {k}\n"
                    cond = f"if r2 {MIRROR[op]} r1 goto taken\n"
                for side, (kind, bound) in _refinements(op, k).items():
                    for tight in (True, False):
                        check = _check(kind, bound, reg, tight)
                        if side == "fall":
                            body = cond + check + "exit\ntaken: exit\n"
                        else:
                            body = cond + "exit\ntaken: " + check + "exit\n"
                        asm = source + setup + "r0 = 0\n" + body + "trap: r0 = r9\nexit"
                        name = f"{NAMES[op]}{bits}_{form}_{side}" + ("" if tight else "_off_by_one")
                        what = f"x {op} {k}" if form != "swapped" else f"{k} {MIRROR[op]} x"
                        note = (f"{'JMP32' if bits == 32 else 'JMP'} {what}, {side} side: "
                                f"{kind} {bound}" + ("" if tight else " (checked off by one)"))
                        yield _case(name, asm, note)


TOPICS: dict[str, tuple[str, Callable[[], Iterator[corpus.Case]]]] = {
    "alu_values": (
        "Generated by tools/corpus_gen.py. Every ALU operation (32/64-bit, immediate and\n"
        "register source) on known operands, with an exact check of the result through a\n"
        "trap (`r0 = r9`) on the unexpected branch; plus off-by-one variants, division by\n"
        "zero, shifts out of range, neg, movsx, bswap/be/le. The kernel computes no\n"
        "result for div/mod even on constants: those checks reach the trap.",
        alu_values,
    ),
    "alu_bounds": (
        "Generated by tools/corpus_gen.py. ALU operations on bounded unknown values: the\n"
        "true bound after each operation, checked tight and off by one (where the kernel\n"
        "does not track an operation - div/mod, shifts by a register, x - x - both are\n"
        "rejected), and bounded values used as map-value offsets.",
        alu_bounds,
    ),
    "jmp_refine": (
        "Generated by tools/corpus_gen.py. Every JMP/JMP32 condition (immediate, register\n"
        "holding a constant, constant on the left) refining an unknown value on the taken\n"
        "and the fall-through side, checked tight and off by one.",
        jmp_refine,
    ),
}


def main() -> int:
    for topic, (description, gen) in TOPICS.items():
        path = corpus.CASES_DIR / f"{topic}.toml"
        old = {c.name: c for c in corpus.load_topic(path).cases} if path.exists() else {}
        cases = []
        for case in gen():
            case = dataclasses.replace(case, topic=topic)
            prev = old.get(case.name)
            if prev is not None and dataclasses.replace(prev, recorded=None) == case:
                case = prev
            cases.append(case)
        tf = corpus.TopicFile(path, topic, description, cases)
        path.write_text(corpus.dump_topic(tf))
        print(f"{path.relative_to(ROOT)}: {len(cases)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
