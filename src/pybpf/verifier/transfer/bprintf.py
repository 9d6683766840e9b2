"""Constant format strings: ``ARG_PTR_TO_CONST_STR`` and ``bpf_snprintf()``'s format check.

Mirrors ``check_reg_const_str()`` and ``check_bpf_snprintf_call()`` of
kernel/bpf/verifier.c and the validation part of ``bpf_bprintf_prepare()`` of
kernel/bpf/helpers.c (Linux 6.18). A constant string lives in the value of a read-only map:
``BPF_F_RDONLY_PROG`` and frozen, which pybpf's :class:`~pybpf.program.spec.MapSpec` says
with ``read_only`` (its ``data`` is element 0's value). Only arrays give a direct address
(``map_direct_value_addr()``), and only single-element ones succeed.
"""

from __future__ import annotations

import errno

from pybpf.platform.enums import MapType
from pybpf.platform.helper_types import RegType
from pybpf.verifier.env import Env
from pybpf.verifier.regstate import RegState
from pybpf.verifier.tnum import tnum_is_const
from pybpf.verifier.transfer.common import cur_regs
from pybpf.verifier.transfer.mem import check_mem_region_access

__all__ = ["bprintf_format_ok", "check_bpf_snprintf_call", "check_reg_const_str"]

_ENOTSUPP = 524
BPF_F_RDONLY_PROG = 1 << 7
#: Map types with ``map_direct_value_addr`` (arrays; an arena too, not modelled here).
_DIRECT_VALUE_MAPS = frozenset((MapType.ARRAY,))
_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_SPACE = frozenset(" \t\n\v\f\r")


def _value_bytes(m: object) -> bytes:
    size = m.value_size  # type: ignore[attr-defined]
    return bytes(m.data or b"")[:size].ljust(size, b"\0")  # type: ignore[attr-defined]


def _is_rdonly(m: object) -> bool:
    """``bpf_map_is_rdonly()``: read-only for programs and frozen."""
    return bool(m.flags & BPF_F_RDONLY_PROG) and bool(m.read_only)  # type: ignore[attr-defined]


def check_reg_const_str(env: Env, reg: RegState, regno: int) -> None:
    """``check_reg_const_str()``: a pointer to a NUL-terminated string in a constant map."""
    m = reg.map_ptr
    if reg.type != RegType.PTR_TO_MAP_VALUE or m is None:
        env.reject("", errno.EINVAL, newline=False)  # the kernel says nothing
    if not _is_rdonly(m):
        env.reject(f"R{regno} does not point to a readonly map'", errno.EACCES)
    if not tnum_is_const(reg.var_off):
        env.reject(f"R{regno} is not a constant address'", errno.EACCES)
    if m.map_type not in _DIRECT_VALUE_MAPS:
        env.reject("no direct value access support for this map type", errno.EACCES)
    check_mem_region_access(env, regno, reg.off, m.value_size - reg.off, m.value_size, False)
    map_off = reg.off + reg.var_off.value
    if m.max_entries != 1:
        env.reject("direct value access on string failed", _ENOTSUPP)
    if map_off >= m.value_size:
        env.reject("direct value access on string failed", errno.EINVAL)
    if b"\0" not in _value_bytes(m)[map_off:]:
        env.reject("string is not zero-terminated", errno.EINVAL)


def bprintf_format_ok(fmt: bytes, num_args: int) -> bool:
    """The checks ``bpf_bprintf_prepare()`` makes of a format (without arguments): printable
    ASCII; at most ``num_args`` conversions, each ``%[0+- ][width]`` then one of ``d i u x
    X`` (with ``l``/``ll``), ``c``, ``s``, ``p`` alone, ``pK px ps pS pB``, ``pks pus``,
    ``pi4 pI4 pi6 pI6``; ``%s``/``%pks``/``%pus`` followed by the end, a space or
    punctuation; ``%%`` is a literal."""
    s = fmt.split(b"\0", 1)[0] + b"\0"

    def at(i: int) -> str:
        return chr(s[i]) if i < len(s) else "\0"

    n = len(s) - 1
    num_spec = 0
    i = 0
    while i < n:
        c = at(i)
        if not (0x20 <= s[i] <= 0x7E or c in _SPACE):
            return False
        if c != "%":
            i += 1
            continue
        if at(i + 1) == "%":
            i += 2
            continue
        if num_spec >= num_args:
            return False
        i += 1
        while at(i) in "0+- ":
            i += 1
        if "1" <= at(i) <= "9":
            i += 1
            while "0" <= at(i) <= "9":
                i += 1
        c = at(i)
        if c == "p":
            nxt = at(i + 1)
            if nxt == "\0" or nxt in _SPACE or nxt in _PUNCT:
                pass
            elif nxt in "ku" and at(i + 2) == "s":
                i += 2
                if not _str_end_ok(at(i + 1)):
                    return False
            elif nxt in "KxsSB":
                i += 1
            elif nxt in "iI" and at(i + 2) in "46":
                i += 2
            else:
                return False
        elif c == "s":
            if not _str_end_ok(at(i + 1)):
                return False
        elif c != "c":
            if c == "l":
                i += 1
            if at(i) == "l":
                i += 1
            if at(i) not in "iduxX":
                return False
        num_spec += 1
        i += 1
    return True


def _str_end_ok(c: str) -> bool:
    return c == "\0" or c in _SPACE or c in _PUNCT


def check_bpf_snprintf_call(env: Env) -> None:
    """``check_bpf_snprintf_call()``: the format (R3, a constant string) has no more
    conversions than R5 / 8 arguments and only the ones bpf_snprintf supports."""
    regs = cur_regs(env)
    fmt_reg, data_len = regs[3], regs[5]
    if data_len.var_off.value % 8:
        env.reject("", errno.EINVAL, newline=False)  # the kernel says nothing
    num_args = data_len.var_off.value // 8
    m = fmt_reg.map_ptr
    assert m is not None
    off = fmt_reg.off + fmt_reg.var_off.value
    if not bprintf_format_ok(_value_bytes(m)[off:], num_args):
        env.reject("Invalid format string", errno.EINVAL)
