"""bpf_trace_printk / bpf_trace_vprintk / bpf_snprintf and the vsprintf conversions."""

from __future__ import annotations

import errno

import pytest
from helpers_support import interpreter, load

from pybpf.runtime.helpers import vsprintf as vs
from pybpf.runtime.helpers.printk import bprintf
from pybpf.runtime.memory import RegionKind

EINVAL = -errno.EINVAL


def fmt_on_stack(fmt: bytes, at: int = 64) -> str:
    data = fmt + bytes(-len(fmt) % 8 or 8)
    return "".join(f"    r1 = {int.from_bytes(data[i:i + 8], 'little'):#x} ll\n"
                   f"    *(u64 *)(r10 - {at - i}) = r1\n" for i in range(0, len(data), 8))


def trace_printk(fmt: bytes, *args: int, size: int | None = None) -> tuple[int, list[str]]:
    regs = "".join(f"    r{3 + i} = {a & (2**64 - 1):#x} ll\n" for i, a in enumerate(args))
    stack = fmt_on_stack(fmt + bytes(1))
    text = f"""
{stack}
    r1 = r10
    r1 += -64
    r2 = {len(fmt) + 1 if size is None else size}
{regs}
    call bpf_trace_printk
    exit
"""
    interp, prog = load(text)
    r0 = prog.run().retval
    return (r0 - 2**64 if r0 >> 63 else r0), list(interp.state.trace)


@pytest.mark.parametrize(("fmt", "args", "text"), [
    (b"hello\n", (), "hello\n"),
    (b"%d %i %u", (-5, -5, -5), "-5 -5 4294967291"),
    (b"%x %X", (0xDEADBEEF, 0xABC), "deadbeef ABC"),
    (b"%ld %llu %llx", (-(2**40), 2**64 - 1, 2**63), f"{-(2**40)} {2**64 - 1} 8000000000000000"),
    (b"%5d|%-5d|%05d", (42, 42, -42), "   42|42   |-0042"),
    (b"%+d|% d|%+05d", (1, 2, 3), "+1| 2|+0003"),
    (b"%c%c|%-3c|", (0x41, 0x142, 0x43), "AB|C  |"),
    (b"%%d %d %%", (7,), "%d 7 %"),
    (b"%px", (0x1234,), "0000000000001234"),
    (b"%p|%pK", (0, 0), "0000000000000000|0000000000000000"),
    (b"%ps %pS", (0x1000, 0x2000), "0x1000 0x2000"),
])
def test_trace_printk_formats(fmt: bytes, args: tuple[int, ...], text: str) -> None:
    ret, trace = trace_printk(fmt, *args)
    assert trace == [text]
    assert ret == len(text.encode("latin-1"))


@pytest.mark.parametrize("fmt", [b"%q", b"%5.2d", b"%hd", b"%d%d%d%d", b"%sx", b"%pA", b"%",
                                 b"a\x01", b"%#x", b"%*d", b"%pi5", b"%zu", b"%pks9", b"\x7f"])
def test_trace_printk_refuses_what_the_kernel_refuses(fmt: bytes) -> None:
    assert trace_printk(fmt, 1, 2, 3) == (EINVAL, [])


def test_trace_printk_needs_the_nul_within_size() -> None:
    assert trace_printk(b"abc", size=3)[0] == EINVAL
    assert trace_printk(b"abc", size=4)[0] == 3
    assert trace_printk(b"\xc3\xa9", size=3)[0] == 2  # bytes >= 0x80 are accepted


def test_strings_and_addresses_from_memory() -> None:
    interp = interpreter()
    state = interp.state
    buf = bytearray(b"hello\0" + bytes([10, 0, 0, 1]) + bytes.fromhex("fe80" + "00" * 13 + "01"))
    region = interp.memory.map(buf, RegionKind.MEM, "strings")
    base = region.base
    got = bprintf(state, b"[%s] [%10s] [%-7s] %pI4 %pi4\0", [base, base, base, base + 6,
                                                            base + 6], 1024)
    assert got == b"[hello] [     hello] [hello  ] 10.0.0.1 010.000.000.001"
    got = bprintf(state, b"%pI6|%pi6|%20pI4\0", [base + 10, base + 10, base + 6], 1024)
    assert got == (b"fe80:0000:0000:0000:0000:0000:0000:0001|fe800000000000000000000000000001|"
                   b"10.0.0.1")  # pre-formatted strings ignore the width
    # unreadable strings print as empty, unreadable addresses as zeros; user strings fail
    assert bprintf(state, b"<%s><%pks><%pus><%pI4>\0", [8, 0, base, 16], 1024) == b"<><><>" \
        b"<0.0.0.0>"


def test_arguments_buffer_overflow_is_enospc() -> None:
    interp = interpreter()
    long = bytearray(b"x" * 600 + b"\0")
    region = interp.memory.map(long, RegionKind.MEM, "long")
    # the first string is cut to the 512-byte argument buffer; nothing is left for a number
    out = bprintf(interp.state, b"%s%d\0", [region.base, 1], 1024)
    assert out == -errno.ENOSPC
    out = bprintf(interp.state, b"%s\0", [region.base], 1024)
    assert out == b"x" * 511


def test_snprintf_writes_at_most_size_bytes() -> None:
    fmt = b"value=%d!\0"
    text = f"""
    *(u64 *)(r10 - 8) = 12345
{fmt_on_stack(fmt, 80)}
{fmt_on_stack(b"Z" * 32, 48)}
    r1 = r10
    r1 += -48
    r2 = {{size}}
    r3 = r10
    r3 += -80
    r4 = r10
    r4 += -8
    r5 = 8
    call bpf_snprintf
    r6 = r0
    r0 = *(u64 *)(r10 - 48)
    r7 = *(u64 *)(r10 - 40)
    r0 ^= r7
    r0 ^= r6
    exit
"""
    for size, written in ((32, b"value=12345!\0"), (5, b"valu\0"), (0, b"")):
        _, prog = load(text.format(size=size))
        expect = (b"" + written + b"Z" * (16 - len(written)))[:16]
        folded = int.from_bytes(expect[:8], "little") ^ int.from_bytes(expect[8:16], "little")
        assert prog.run().retval == folded ^ 13  # returns strlen + 1


def test_trace_vprintk_takes_up_to_twelve_arguments() -> None:
    interp = interpreter()
    fmt = b"%d" * 12 + b"\0"
    assert bprintf(interp.state, fmt, list(range(12)), 1024) == b"01234567891011"
    assert bprintf(interp.state, fmt, list(range(11)), 1024) == EINVAL


def test_number_matches_printf() -> None:
    spec = vs.Spec(vs.SpecFlag.ZEROPAD | vs.SpecFlag.SIGN, 6)
    assert vs.number(-42 & (2**64 - 1), 10, spec) == b"-00042"
    assert vs.number(255, 16, vs.Spec(vs.SpecFlag.SMALL | vs.SpecFlag.LEFT, 5)) == b"ff   "
    assert vs.number(0, 10, vs.Spec()) == b"0"
    assert vs.string(b"ab", vs.Spec(vs.SpecFlag.ZEROPAD, 4)) == b"  ab"


def test_hashed_pointers_are_stable_per_key() -> None:
    a = vs.hashed_pointer(0xFFFF888000001000, b"k" * 16)
    assert a == vs.hashed_pointer(0xFFFF888000001000, b"k" * 16) and a < 2**32
    assert vs.bstr_printf(b"%p", (0xFFFF888000001000).to_bytes(8, "little"), 64,
                          key=b"k" * 16) == b"%016x" % a
