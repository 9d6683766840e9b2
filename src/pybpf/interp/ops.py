"""Pure integer semantics of the eBPF operations that do not fit in one Python expression.

Values are Python ints holding the unsigned 64-bit (or 32-bit) register contents.
Semantics follow RFC 9669 section 4 and the kernel's interpreter (``___bpf_prog_run()`` in
kernel/bpf/core.c): signed division truncates toward zero, division by zero gives 0, modulo
by zero leaves the dividend, ``INT_MIN / -1`` wraps to ``INT_MIN`` and ``INT_MIN % -1`` is 0.
"""

from __future__ import annotations

M64 = 0xFFFFFFFFFFFFFFFF
M32 = 0xFFFFFFFF
SIGN64 = 0x8000000000000000
SIGN32 = 0x80000000


def s64(value: int) -> int:
    """Unsigned 64-bit -> signed."""
    return ((value & M64) ^ SIGN64) - SIGN64


def s32(value: int) -> int:
    """Low 32 bits -> signed."""
    return ((value & M32) ^ SIGN32) - SIGN32


def _sdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def _smod(a: int, b: int) -> int:
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def sdiv64(dst: int, src: int) -> int:
    """BPF_ALU64 | BPF_DIV with off 1 (``s/=``)."""
    b = s64(src)
    return _sdiv(s64(dst), b) & M64 if b else 0


def smod64(dst: int, src: int) -> int:
    """BPF_ALU64 | BPF_MOD with off 1 (``s%=``)."""
    b = s64(src)
    return _smod(s64(dst), b) & M64 if b else dst


def sdiv32(dst: int, src: int) -> int:
    """BPF_ALU | BPF_DIV with off 1; the result is zero-extended."""
    b = s32(src)
    return _sdiv(s32(dst), b) & M32 if b else 0


def smod32(dst: int, src: int) -> int:
    """BPF_ALU | BPF_MOD with off 1; the result is zero-extended."""
    b = s32(src)
    return _smod(s32(dst), b) & M32 if b else dst & M32


def bswap16(value: int) -> int:
    return ((value & 0xFF) << 8) | ((value >> 8) & 0xFF)


def bswap32(value: int) -> int:
    return int.from_bytes((value & M32).to_bytes(4, "little"), "big")


def bswap64(value: int) -> int:
    return int.from_bytes((value & M64).to_bytes(8, "little"), "big")


#: Atomic read-modify-write operators by ``AtomicOp`` value without the FETCH bit.
ATOMIC_RMW = {
    0x00: lambda old, val: old + val,
    0x40: lambda old, val: old | val,
    0x50: lambda old, val: old & val,
    0xA0: lambda old, val: old ^ val,
}
