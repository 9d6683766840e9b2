"""Reading the kernel's verifier log back into data.

The inverse of :mod:`pybpf.verifier.log` for the parts worth comparing: instruction lines
(``12: (bf) r1 = r2 ; R1=scalar(...)``), register and stack-slot states, and scalar states
(``scalar(id=1,smin=0,smax=umax=0xff,var_off=(0x0; 0xff))``, ``P-5``) as
:class:`~pybpf.verifier.bounds.Bounds`. Used to check pybpf's verifier against the kernel's
logs (tests, corpus tools); it accepts only what the kernel prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pybpf.verifier.bounds import (
    S32_MAX,
    S32_MIN,
    S64_MAX,
    S64_MIN,
    U32_MAX,
    U64_MAX,
    Bounds,
    mark_reg_known,
    s32,
    s64,
)
from pybpf.verifier.tnum import Tnum

__all__ = ["InsnLine", "ScalarText", "parse_insn_line", "parse_scalar", "split_state"]

_INSN_LINE = re.compile(r"^(\d+): \(([0-9a-f]{2})\) (.*?)(?:\s+;(.*))?$")


@dataclass(frozen=True, slots=True)
class InsnLine:
    """One ``N: (code) text ; state`` line."""

    pc: int
    code: int
    text: str
    state: dict[str, str]


def parse_insn_line(line: str) -> InsnLine | None:
    m = _INSN_LINE.match(line.rstrip("\n"))
    if not m:
        return None
    return InsnLine(int(m.group(1)), int(m.group(2), 16), m.group(3).rstrip(),
                    split_state(m.group(4) or ""))  # fmt: skip


def split_state(text: str) -> dict[str, str]:
    """`` R1=ctx() R2=scalar(a; b) fp-8=mmmm`` -> ``{"R1": "ctx()", ...}`` (parens kept whole)."""
    out: dict[str, str] = {}
    depth = 0
    token = []
    for ch in text.strip() + " ":
        if ch == " " and depth == 0:
            item = "".join(token)
            token = []
            if "=" in item:
                name, value = item.split("=", 1)
                out[name] = value
            continue
        depth += ch == "("
        depth -= ch == ")"
        token.append(ch)
    return out


@dataclass(frozen=True, slots=True)
class ScalarText:
    """A parsed scalar: bounds, ``id`` (with the ``+off`` of linked scalars), precision."""

    bounds: Bounds
    id: int
    id_off: int
    precise: bool


def _num(text: str, signed: bool) -> int:
    val = int(text, 0)
    if signed:
        return s64(val)
    return val & U64_MAX


def parse_scalar(text: str) -> ScalarText | None:
    """Parse ``-5``, ``P0x10``, ``scalar()``, ``Pscalar(smin=...)``; None if not a scalar."""
    precise = text.startswith("P")
    if precise:
        text = text[1:]
    b = Bounds()
    if re.fullmatch(r"-?(0x[0-9a-f]+|\d+)", text):
        mark_reg_known(b, int(text, 0))
        return ScalarText(b, 0, 0, precise)
    m = re.fullmatch(r"scalar\((.*)\)", text)
    if not m:
        return None
    ident = ident_off = 0
    body = m.group(1)
    var = re.search(r"var_off=\((0x[0-9a-f]+); (0x[0-9a-f]+)\)", body)
    if var:
        b.var_off = Tnum(int(var.group(1), 16), int(var.group(2), 16))
        body = body[: var.start()] + body[var.end():]
    for part in filter(None, body.split(",")):
        names = part.split("=")
        value = names.pop()
        if names[0] == "id":
            idm = re.fullmatch(r"(\d+)([+-]\d+)?", value)
            assert idm, part
            ident, ident_off = int(idm.group(1)), int(idm.group(2) or 0)
            continue
        for name in names:
            _set(b, name, value)
    return ScalarText(b, ident, ident_off, precise)


def _set(b: Bounds, name: str, value: str) -> None:
    v = int(value, 0)
    if name == "smin":
        b.smin_value = s64(v)
    elif name == "smax":
        b.smax_value = s64(v)
    elif name == "umin":
        b.umin_value = v & U64_MAX
    elif name == "umax":
        b.umax_value = v & U64_MAX
    elif name == "smin32":
        b.s32_min_value = s32(v)
    elif name == "smax32":
        b.s32_max_value = s32(v)
    elif name == "umin32":
        b.u32_min_value = v & U32_MAX
    elif name == "umax32":
        b.u32_max_value = v & U32_MAX
    else:
        raise ValueError(f"unknown scalar field {name!r}")


# The defaults a field takes when the kernel omits it.
DEFAULTS = {"smin": S64_MIN, "smax": S64_MAX, "umin": 0, "umax": U64_MAX,
            "smin32": S32_MIN, "smax32": S32_MAX, "umin32": 0, "umax32": U32_MAX}  # fmt: skip
