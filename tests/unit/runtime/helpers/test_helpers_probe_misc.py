"""Memory probes, spin locks, string helpers."""

from __future__ import annotations

import errno

import pytest
from helpers_support import interpreter, load, make_map, run

from pybpf.errors import ExecutionFault
from pybpf.platform.enums import MapType
from pybpf.runtime.helpers.misc import strtoull
from pybpf.runtime.helpers.probe import kernel_read_allowed

PROBE = """
    r1 = 0x0067666564636261 ll
    *(u64 *)(r10 - 8) = r1
    r1 = -1
    *(u64 *)(r10 - 16) = r1
    r1 = r10
    r1 += -16
    r2 = {size}
    r3 = {addr}
    call bpf_{helper}
    exit
"""
STACK = "r10\n    r3 += -8"


def probe(helper: str, addr: str, size: int) -> tuple[int, bytes]:
    """The helper's result and the first 4 bytes of its destination afterwards."""
    interp, prog = load(PROBE.format(helper=helper, addr=addr, size=size))
    r0 = prog.run().retval
    stack = interp.state.stacks[0]
    return (r0 - (1 << 64) if r0 >> 63 else r0), bytes(stack[512 - 16 : 512 - 12])


def test_probe_read_kernel_copies_or_zeroes() -> None:
    assert probe("probe_read_kernel", STACK, 4) == (0, b"abcd")
    assert probe("probe_read_kernel", "0", 4) == (-errno.ERANGE, bytes(4))  # user address
    non_canonical = "0x7fffffff ll\n    r3 <<= 32"
    assert probe("probe_read_kernel", non_canonical, 4) == (-errno.ERANGE, bytes(4))
    # a canonical kernel address with nothing behind it
    assert probe("probe_read_kernel", "-4096 ll", 4) == (-errno.EFAULT, bytes(4))


def test_probe_read_kernel_str() -> None:
    assert probe("probe_read_kernel_str", STACK, 4) == (4, b"abc\0")
    assert probe("probe_read_kernel_str", STACK, 8) == (8, b"abcd")
    assert probe("probe_read_kernel_str", "8", 4) == (-errno.ERANGE, bytes(4))


def test_user_memory_is_not_modelled() -> None:
    assert probe("probe_read_user", STACK, 4) == (-errno.EFAULT, bytes(4))
    assert probe("probe_read_user", "0x1000", 0)[0] == 0
    assert probe("probe_read_user_str", "0x1000", 4) == (-errno.EFAULT, bytes(4))
    assert probe("probe_read", "0x1000", 4) == (-errno.EFAULT, bytes(4))
    assert probe("probe_read", STACK, 4) == (0, b"abcd")  # kernel half: a kernel read


def test_kernel_read_allowed_is_the_x86_rule() -> None:
    assert not kernel_read_allowed(0)
    assert not kernel_read_allowed((1 << 47) - 4096)
    assert not kernel_read_allowed(0x8000000000000000)  # not canonical
    assert not kernel_read_allowed(0xFFFFFFFFFF600000)  # vsyscall page
    assert kernel_read_allowed(0xFFFF800000000000)


def test_spin_lock_sets_and_clears_the_lock_word() -> None:
    interp = interpreter()
    m = make_map(interp, MapType.ARRAY, 4, 8, 1)
    text = """
    *(u32 *)(r10 - 4) = 0
    r1 = %m
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    if r0 == 0 goto out
    r6 = r0
    r1 = r0
    call bpf_spin_lock
    r7 = *(u32 *)(r6 + 0)
    r1 = r6
    call bpf_spin_{second}
    r0 = *(u32 *)(r6 + 0)
    r0 <<= 8
    r0 |= r7
out:
    exit
    """
    assert run(text.format(second="unlock"), maps={"m": m}, interp=interp) == 0x001
    with pytest.raises(ExecutionFault, match="already held"):
        run(text.format(second="lock"), maps={"m": m}, interp=interp)


STRTOX = """
    r1 = {word:#x} ll
    *(u64 *)(r10 - 8) = r1
    *(u64 *)(r10 - 16) = -1
    r1 = r10
    r1 += -8
    r2 = {size}
    r3 = {flags}
    r4 = r10
    r4 += -16
    call bpf_{helper}
    r6 = *(u64 *)(r10 - 16)
    *(u64 *)(r10 - 24) = r6
    exit
"""


@pytest.mark.parametrize(("text", "flags", "consumed", "value"), [
    (b"123", 0, 3, 123), (b"  -42x", 0, 5, -42), (b"0x1F", 0, 4, 31), (b"017", 0, 3, 15),
    (b"017", 10, 3, 17), (b"ff", 16, 2, 255), (b"0x", 0, 1, 0), (b"abc", 0, -errno.EINVAL, 0),
    (b"", 0, -errno.EINVAL, 0), (b"5", 2, -errno.EINVAL, 0), (b"5", 32, -errno.EINVAL, 0),
])
def test_strtoull(text: bytes, flags: int, consumed: int, value: int) -> None:
    got, parsed, negative = strtoull(text, flags)
    assert got == consumed
    if consumed > 0:
        assert (-parsed if negative else parsed) == value


def test_strtol_limits() -> None:
    assert strtoull(b"18446744073709551616", 0)[0] == -errno.ERANGE
    _interp, prog = load(STRTOX.format(word=int.from_bytes(b"-9", "little"), size=2, flags=0,
                                      helper="strtol"))
    assert prog.run().retval == 2
    _, ul = load(STRTOX.format(word=int.from_bytes(b"-9", "little"), size=2, flags=0,
                               helper="strtoul"))
    assert ul.run().retval == (-errno.EINVAL) & (2**64 - 1)


def test_strncmp() -> None:
    text = """
    r1 = {s1:#x} ll
    *(u64 *)(r10 - 8) = r1
    r1 = {s2:#x} ll
    *(u64 *)(r10 - 16) = r1
    r1 = r10
    r1 += -8
    r2 = {n}
    r3 = r10
    r3 += -16
    call bpf_strncmp
    exit
    """

    def cmp(a: bytes, b: bytes, n: int) -> int:
        word = lambda s: int.from_bytes(s.ljust(8, b"\0"), "little")
        return run(text.format(s1=word(a), s2=word(b), n=n))

    assert cmp(b"abc", b"abc", 8) == 0
    assert cmp(b"abd", b"abc", 8) == 1
    assert cmp(b"ab", b"abc", 8) == -1
    assert cmp(b"abX", b"abY", 2) == 0
