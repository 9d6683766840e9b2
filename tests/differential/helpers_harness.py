"""Harness of the helper differential tests: one program run in the kernel and on pybpf.

Shared by test_helpers_vs_kernel*.py (split for size)."""
from __future__ import annotations

import ctypes
import errno
import os
import re
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether

from pybpf.asm import assemble
from pybpf.errors import KernelError
from pybpf.interp import Interpreter
from pybpf.isa import encode
from pybpf.jit import JIT
from pybpf.kernel.sys import (
    BpfCmd,
    bpf_available,
    map_create,
    map_lookup,
    map_update,
    possible_cpus,
    prog_load,
    prog_test_run,
)
from pybpf.kernel.sys.attr import BpfMapElemAttr, BpfProgTestRunAttr
from pybpf.kernel.sys.syscall import bpf
from pybpf.kernel.sys.testrun import TestRunResult
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import MapType, ProgType
from pybpf.program import ProgramSpec
from pybpf.program.spec import MapSpec
from pybpf.runtime.helpers import default_helpers
from pybpf.runtime.maps import create_map


AVAILABLE, REASON = bpf_available()

#: Cases where kernel and interpreter agreed, by test (printed with PYBPF_DIFF_SUMMARY=1 -s).
AGREED: Counter[str] = Counter()

XDP, TC, SOCK, SYSCALL = ProgType.XDP, ProgType.SCHED_CLS, ProgType.SOCKET_FILTER, ProgType.SYSCALL
BPF_F_SLEEPABLE = 1 << 4
BPF_F_RDONLY_PROG = 1 << 7
SKB = CTX_STRUCTS["__sk_buff"]

UDP4 = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
             / IP(src="10.0.0.1", dst="10.0.0.2", ttl=9) / UDP(sport=1111, dport=2222)
             / (bytes(range(64))))
TCP4 = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
             / IP(src="192.168.0.1", dst="192.168.0.2") / TCP(sport=443, dport=5555, flags="A")
             / (b"payload!" * 4))
TCP6 = bytes(Ether(src="02:00:00:00:00:01", dst="33:33:00:00:00:01")
             / IPv6(src="fe80::1", dst="ff02::1") / TCP(sport=80, dport=8080) / (b"six" * 5))
VLAN = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=5, prio=3)
             / IP(src="10.1.1.1", dst="10.1.1.2") / UDP(sport=53, dport=53) / (b"q" * 20))
QINQ = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x88A8)
             / Dot1Q(vlan=100, type=0x8100) / Dot1Q(vlan=7) / IP(dst="1.2.3.4") / UDP()
             / (b"z" * 20))
FRAMES = {"udp4": UDP4, "tcp4": TCP4, "tcp6": TCP6}


# -- the harness ----------------------------------------------------------------------------


@dataclass
class Outcome:
    retval: int
    data_out: bytes
    ctx_out: bytes | None
    maps: dict[str, bytes] = field(default_factory=dict)

    def same(self) -> tuple[Any, ...]:
        return self.retval, self.data_out, self.ctx_out, self.maps


def _freeze(fd: Any) -> None:
    attr = BpfMapElemAttr(map_fd=fd.fileno())
    bpf(BpfCmd.MAP_FREEZE, attr)


def syscall_test_run(prog: Any, ctx: bytes) -> Any:
    """BPF_PROG_TEST_RUN of a SYSCALL program: no ``ctx_out`` (EINVAL), the kernel writes the
    context back into ``ctx_in`` (bpf_prog_test_run_syscall())."""
    buf = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
    attr = BpfProgTestRunAttr(prog_fd=prog.fileno(), ctx_size_in=len(ctx),
                              ctx_in=ctypes.addressof(buf) if buf is not None else 0)
    bpf(BpfCmd.PROG_TEST_RUN, attr)
    return TestRunResult(attr.retval, b"", buf.raw if buf is not None else None, 0)


class Pair:
    """One program loaded in the kernel and in the interpreter (and, with ``jit``, the JIT's
    light tier, which compiles fastest), with the same maps."""

    def __init__(self, prog_type: int, text: str, maps: dict[str, MapSpec] | None = None,
                 *, prog_flags: int = 0, frozen: dict[str, bytes] | None = None,
                 jit: bool = False) -> None:
        self.prog_type = prog_type
        self.specs = dict(maps or {})
        frozen = dict(frozen or {})
        for name, value in frozen.items():
            self.specs[name] = MapSpec(name, MapType.ARRAY, 4, len(value), 1,
                                       flags=BPF_F_RDONLY_PROG)
        self.interp = Interpreter(helpers=default_helpers())
        ncpus = possible_cpus()
        self.kmaps = {n: map_create(s.map_type, s.key_size, s.value_size, s.max_entries,
                                    s.flags) for n, s in self.specs.items()}
        self.omaps = {n: create_map(s, self.interp.memory, ncpus=ncpus)
                      for n, s in self.specs.items()}
        #: With ``jit``, the program also runs on the JIT (its own maps), which must agree
        #: with the kernel too.
        self.jit = (JIT(helpers=default_helpers(), cache=False, light_above=0, upgrade=False)
                    if jit else None)
        self.jmaps = ({n: create_map(s, self.jit.memory, ncpus=ncpus)
                       for n, s in self.specs.items()} if self.jit is not None else {})
        for name, value in frozen.items():
            map_update(self.kmaps[name], bytes(4), value)
            _freeze(self.kmaps[name])
            self.omaps[name].update(0, value)
            if name in self.jmaps:
                self.jmaps[name].update(0, value)
        kernel_text = self._resolve(text, kernel=True)
        ours_text = self._resolve(text, kernel=False)
        try:
            self.kprog = prog_load(prog_type, encode(assemble(kernel_text)),
                                   prog_flags=prog_flags, log_level=1)
        except KernelError as exc:
            raise AssertionError(f"kernel refused the program: {exc}\n{exc.log}") from exc
        self.oprog = self.interp.load(ProgramSpec("t", tuple(assemble(ours_text)),
                                                  prog_type=prog_type))
        self.jprog = None
        if self.jit is not None:
            jit_text = self._resolve(text, kernel=False, maps=self.jmaps)
            self.jprog = self.jit.load(ProgramSpec("t", tuple(assemble(jit_text)),
                                                   prog_type=prog_type))

    def _resolve(self, text: str, *, kernel: bool, maps: dict[str, Any] | None = None) -> str:
        def sub(m: re.Match[str]) -> str:
            reg, kind, name = m.group(1), m.group(2), m.group(3)
            if kernel:
                return f"ld_pseudo {reg}, {1 if kind == '%' else 2}, {self.kmaps[name].fileno()}"
            target = (self.omaps if maps is None else maps)[name]
            addr = target.address if kind == "%" else target.value_address(0)
            return f"{reg} = {addr:#x} ll"
        text = re.sub(r"\b(r\d)\s*=\s*([%&])(\w+)", sub, text)
        return re.sub(r"\bSAVE (\d+)", lambda m: f"*(u64 *)(r9 + {8 * int(m.group(1))}) = r0", text)

    def kernel(self, data: bytes = b"", ctx: bytes | None = None) -> Outcome:
        if self.prog_type == SYSCALL:
            res = syscall_test_run(self.kprog, ctx or b"")
        else:
            res = prog_test_run(self.kprog, data=data, ctx=ctx)
        maps = {}
        for name, spec in self.specs.items():
            if spec.map_type in (MapType.ARRAY, MapType.HASH):
                maps[name] = b"".join(
                    map_lookup(self.kmaps[name], k.to_bytes(spec.key_size, "little")) or b"-"
                    for k in range(min(spec.max_entries, 8)))
        return Outcome(res.retval, res.data_out, res.ctx_out, maps)

    def ours(self, data: bytes = b"", ctx: bytes | None = None, *,
             jit: bool = False) -> Outcome:
        """The interpreter's outcome (the JIT's with ``jit``)."""
        prog, made = (self.jprog, self.jmaps) if jit else (self.oprog, self.omaps)
        assert prog is not None
        res = prog.test_run(data=data, ctx=ctx)
        maps = {}
        for name, spec in self.specs.items():
            if spec.map_type in (MapType.ARRAY, MapType.HASH):
                m = made[name]
                maps[name] = b"".join(m.lookup(k.to_bytes(spec.key_size, "little")) or b"-"
                                      for k in range(min(spec.max_entries, 8)))
        return Outcome(res.retval, res.data_out, res.ctx_out, maps)

    def both(self, data: bytes = b"", ctx: bytes | None = None) -> tuple[Outcome, Outcome]:
        return self.kernel(data, ctx), self.ours(data, ctx)

    def check(self, data: bytes = b"", ctx: bytes | None = None, what: str = "") -> Outcome:
        k, o = self.both(data, ctx)
        assert o.same() == k.same(), f"{what}\nkernel: {k}\nours:   {o}"
        if self.jprog is not None:
            j = self.ours(data, ctx, jit=True)
            assert j.same() == k.same(), f"{what}\nkernel: {k}\njit:    {j}"
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[-1].split()[0].split("[")[0]
        AGREED[test] += 1
        return k

    def close(self) -> None:
        self.kprog.close()
        for m in self.kmaps.values():
            m.close()


RESULTS_PROLOGUE = """
    r6 = r1
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    r1 = %res
    call bpf_map_lookup_elem
    if r0 == 0 goto fail
    r9 = r0
"""
RESULTS_EPILOGUE = """
    r0 = {ret}
    exit
fail:
    r0 = 0
    exit
"""


def results(n: int) -> dict[str, MapSpec]:
    return {"res": MapSpec("res", MapType.ARRAY, 4, 8 * n, 1)}


def with_results(body: str, ret: int = 2) -> str:
    return RESULTS_PROLOGUE + body + RESULTS_EPILOGUE.format(ret=ret)


def s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def slots(outcome: Outcome, n: int) -> list[int]:
    return [s64(x) for x in struct.unpack(f"<{n}Q", outcome.maps["res"][: 8 * n])]


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    if os.environ.get("PYBPF_DIFF_SUMMARY"):
        for name, count in sorted(AGREED.items()):
            print(f"{count:6d}  {name}")
        print(f"{sum(AGREED.values()):6d}  cases agreed with the kernel")


@pytest.fixture
def pair() -> Iterator[Any]:
    made: list[Pair] = []

    def make(*args: Any, **kw: Any) -> Pair:
        p = Pair(*args, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


