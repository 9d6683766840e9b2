"""Shared pieces of the helper unit tests: assemble, load on the interpreter, run.

Programs are LLVM-syntax assembly; ``rN = %name`` loads the address of the map ``name``
given to :func:`load`. Every program runs on an :class:`Interpreter` with
:func:`default_helpers`.
"""

from __future__ import annotations

import re
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from pybpf.asm import assemble
from pybpf.interp import Interpreter
from pybpf.interp.machine import InterpProgram
from pybpf.program import ProgramSpec
from pybpf.program.spec import MapSpec
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map
from pybpf.runtime.maps.base import MapBase

UDP4 = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
             / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1111, dport=2222) / bytes(32))
TCP4 = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="192.168.0.1", dst="192.168.0.2") / TCP(sport=443, dport=5555)
             / (b"x" * 20))
TCP6 = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src="fe80::1", dst="fe80::2") / TCP(sport=80, dport=8080))


def interpreter() -> Interpreter:
    return Interpreter(helpers=default_helpers())


def make_map(interp: Interpreter, map_type: int, key_size: int, value_size: int,
             max_entries: int, flags: int = 0, name: str = "m") -> MapBase:
    spec = MapSpec(name, map_type, key_size, value_size, max_entries, flags=flags)
    return create_map(spec, interp.memory, ncpus=2)


def _slots(text: str) -> int:
    """How many instruction slots the lines of ``text`` assemble to (labels kept)."""
    return sum(insn.slots for insn in assemble(text + "\nexit")) - 1


def resolve_funcs(text: str) -> str:
    """``rN = func label`` -> ``ld_pseudo rN, 4, <offset>`` (a BPF_PSEUDO_FUNC ``lddw``)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"\s*(r\d)\s*=\s*func\s+(\w+)\s*$", line)
        if not m:
            continue
        here = _slots("\n".join(lines[:i]))
        target = next(j for j, ln in enumerate(lines) if ln.strip() == f"{m.group(2)}:")
        there = _slots("\n".join(lines[:target]).replace(line, "ld_pseudo r0, 4, 0"))
        lines[i] = f"    ld_pseudo {m.group(1)}, 4, {there - here - 1}"
    return "\n".join(lines)


def load(text: str, prog_type: int | None = None, *, maps: dict[str, MapBase] | None = None,
         interp: Interpreter | None = None) -> tuple[Interpreter, InterpProgram]:
    """Assemble ``text`` (``rN = %map`` resolved against ``maps``, ``rN = func label`` to a
    function pointer) and load it."""
    interp = interp or interpreter()
    known = maps or {}
    text = re.sub(r"\b(r\d)\s*=\s*%(\w+)",
                  lambda m: f"{m.group(1)} = {known[m.group(2)].address:#x} ll", text)
    text = resolve_funcs(text)
    prog = interp.load(ProgramSpec("t", tuple(assemble(text)), prog_type=prog_type))
    return interp, prog


def run(text: str, *args: int, **kw: Any) -> int:
    """Load and run with r1.. = ``args``: r0 as a signed 64-bit value."""
    _interp, prog = load(text, **kw)
    r0 = prog.run(*args).retval
    return r0 - (1 << 64) if r0 >> 63 else r0


def s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value
