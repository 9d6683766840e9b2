"""Differential test: random straight-line ALU/JMP programs give the same r0 in the
interpreter and in the live kernel (BPF_PROG_TEST_RUN). Skips where bpf() is not usable.

The kernel's test_run reports a 32-bit retval, so each program runs twice, once returning
r0 and once r0 >> 32, and both halves are compared with the interpreter's 64-bit r0.
Set PYBPF_DIFF_EXAMPLES for a longer run (e.g. 5000).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from pybpf.interp import Interpreter
from pybpf.isa import encode
from pybpf.kernel.sys import bpf_available, prog_load, prog_test_run

from .gen_alu import HIGH_TAIL, LOW_TAIL, straight_line_program

AVAILABLE, REASON = bpf_available()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not AVAILABLE, reason=f"bpf() not usable: {REASON}")]

SOCKET_FILTER = 1
#: Ethernet + minimal IPv4 header: skb test_run refuses frames with a short IP header.
PACKET = bytes(12) + b"\x08\x00" + b"\x45\x00\x00\x32" + bytes(46)
EXAMPLES = int(os.environ.get("PYBPF_DIFF_EXAMPLES", "60"))


def kernel_r0(body: list, tail: tuple) -> int:
    with prog_load(SOCKET_FILTER, encode([*body, *tail]), license="GPL") as prog:
        return prog_test_run(prog.fd, data=PACKET).retval & 0xFFFFFFFF


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(straight_line_program())
def test_random_alu_programs_match_the_kernel(body: list) -> None:
    r0 = Interpreter().load([*body, *LOW_TAIL]).run().retval
    assert kernel_r0(body, LOW_TAIL) == r0 & 0xFFFFFFFF
    assert kernel_r0(body, HIGH_TAIL) == r0 >> 32
