"""The flagship demo (``make demo``): assemble, disassemble and run a shipped program.

Assembles examples/port_filter.s (LLVM syntax), prints it back in the kernel's verifier-log
style and in uBPF syntax, runs it on the reference interpreter over a few hand-built packets,
shows what a bad memory access looks like, and runs the bpf_conformance suite if present.
"""

from __future__ import annotations

import struct
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pybpf.asm import assemble, format_insn
from pybpf.conformance import conformance_helpers, run_suite
from pybpf.conformance.runner import case_files
from pybpf.errors import ExecutionFault
from pybpf.interp import Interpreter
from pybpf.isa import Instruction, encode, pcs

HERE = Path(__file__).parent
SUITE = HERE.parent.parent / "shared" / "conformance" / "tests"


def ipv4_tcp(dport: int, *, ihl: int = 5, proto: int = 6, ethertype: int = 0x0800) -> bytes:
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", ethertype)
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 40, 1, 0, 64, proto, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + bytes(4 * (ihl - 5))
    tcp = struct.pack("!HHIIBBHHH", 40000, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)
    return eth + ip + tcp


def main() -> None:
    console = Console()
    source = (HERE / "port_filter.s").read_text()
    insns = assemble(source)
    console.rule("[bold]1. assemble examples/port_filter.s (LLVM syntax)")
    console.print(f"{len(insns)} instructions, {len(encode(insns))} bytes of bytecode")

    console.rule("[bold]2. disassemble: verifier-log style | uBPF syntax")
    for pc, insn in zip(pcs(insns), insns, strict=True):
        kernel = f"{pc}: {format_insn(insn, syntax='kernel')}"
        console.print(f"{kernel:<44} {format_insn(insn, syntax='ubpf')}")

    console.rule("[bold]3. run on the reference interpreter")
    program = Interpreter().load(insns)
    table = Table("packet", "bytes", "r0", "verdict", "insns")
    verdicts = {0: "not TCP/IPv4", 1: "web traffic", 2: "other TCP"}
    cases = [
        ("TCP to :443", ipv4_tcp(443)),
        ("TCP to :22", ipv4_tcp(22)),
        ("TCP to :80, IP options", ipv4_tcp(80, ihl=7)),
        ("UDP to :53", ipv4_tcp(53, proto=17)),
        ("IPv6 frame", ipv4_tcp(80, ethertype=0x86DD)),
    ]
    for name, packet in cases:
        result = program.run_mem(packet)
        table.add_row(name, str(len(packet)), str(result.retval), verdicts[result.retval],
                      str(result.instructions))
    console.print(table)

    console.rule("[bold]4. a bad memory access is a clean error, with pc and instruction")
    bad = Interpreter().load([Instruction(0x61, 0, 1, off=60), Instruction(0x95)])
    try:
        bad.run_mem(ipv4_tcp(80))
    except ExecutionFault as fault:
        console.print(f"[red]ExecutionFault:[/red] {fault}")

    if SUITE.is_dir():
        console.rule("[bold]5. bpf_conformance suite on the interpreter")
        interp = Interpreter(helpers=conformance_helpers())
        outcomes = list(run_suite(case_files(SUITE), interp.load))
        passed = sum(o.passed for o in outcomes)
        console.print(f"{passed} passed, {len(outcomes) - passed} failed")


if __name__ == "__main__":
    main()
