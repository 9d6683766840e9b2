"""The flagship demo (``make demo``): a clang-compiled XDP firewall, run without a kernel.

1. Load examples/xdp_firewall/xdp_firewall.o (ELF + BTF), verify it with pybpf's verifier
   (the kernel's rules, no kernel needed), and configure its block lists through the map
   API.
2. Replay examples/xdp_firewall/traffic.pcap (2,000 frames) through it on the reference
   interpreter: verdict table, per-verdict counters, top talkers — all computed by the
   program.
3. Show one frame in detail, and the C source of the instructions it ran.
4. Replay the capture again on the JIT (native code through LLVM): same verdicts, faster.
5. Where the kernel's bpf() is usable, run the same object in the kernel on the same
   frames and compare every verdict.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

import pybpf
from pybpf.elf import load_collection
from pybpf.runtime.pcap import read_pcap
from pybpf.runtime.replay import replay
from pybpf.verifier import verify

HERE = Path(__file__).parent
OBJ = HERE / "xdp_firewall" / "xdp_firewall.o"
PCAP = HERE / "xdp_firewall" / "traffic.pcap"
VERDICTS = ["pass", "drop: blocked source", "drop: blocked port", "drop: malformed"]


def main() -> None:
    console = Console()
    console.rule(f"[bold]1. load {OBJ.relative_to(HERE.parent)}")
    obj = pybpf.load(OBJ)
    prog = obj.program("xdp")
    console.print(f"program [bold]{prog.spec.name}[/] (section {prog.spec.section}, "
                  f"{len(prog.spec.instructions)} instructions), maps: {', '.join(obj.maps)}")
    spec = load_collection(OBJ)
    verdict = verify(spec.programs[prog.spec.name], maps=spec.maps)
    console.print(f"pybpf's verifier: {'accepted' if verdict.accepted else 'REJECTED'}, "
                  f"processed {verdict.processed_insns} insns, {verdict.total_states} states "
                  f"(`pybpf verify {OBJ.relative_to(HERE.parent)}` explains any rejection)")
    obj.maps["blocked_v4"][socket.inet_aton("203.0.113.66")] = b"\x01"
    obj.maps["blocked_ports"][struct.pack("<H", 23)] = b"\x01"   # telnet
    obj.maps["blocked_ports"][struct.pack("<H", 3389)] = b"\x01"  # RDP
    console.print("blocked: source 203.0.113.66, destination ports 23 and 3389")

    console.rule(f"[bold]2. replay {PCAP.name} on the interpreter")
    summary = replay(prog, prog.spec.prog_type, PCAP)
    rate = summary.packets / summary.seconds
    table = Table(title=f"{summary.packets} frames in {summary.seconds:.2f} s "
                  f"({rate:,.0f} frames/s, {summary.instructions / summary.seconds / 1e6:.1f} M insns/s)")
    table.add_column("verdict")
    table.add_column("frames", justify="right")
    for verdict, count in summary.verdicts.most_common():
        table.add_row(verdict, str(count))
    console.print(table)

    counters = Table(title="the program's own counters (per-CPU array 'stats', summed)")
    for col in ("reason", "packets", "bytes"):
        counters.add_column(col, justify="left" if col == "reason" else "right")
    for index, reason in enumerate(VERDICTS):
        per_cpu = obj.maps["stats"][index]
        packets = sum(struct.unpack("<QQ", v)[0] for v in per_cpu)
        nbytes = sum(struct.unpack("<QQ", v)[1] for v in per_cpu)
        counters.add_row(reason, str(packets), str(nbytes))
    console.print(counters)

    talkers = sorted(((struct.unpack("<QQ", v)[0], socket.inet_ntoa(k)) for k, v in
                      obj.maps["per_source"].items()), reverse=True)[:5]
    top = Table(title="top IPv4 sources (LRU hash 'per_source')")
    top.add_column("source")
    top.add_column("packets", justify="right")
    for packets, source in talkers:
        top.add_row(source, str(packets))
    console.print(top)

    console.rule("[bold]3. one frame in detail")
    frame = next(f for _, f in read_pcap(PCAP))
    result = prog.test_run(data=frame)
    console.print(f"frame of {len(frame)} bytes -> retval {result.retval} "
                  f"({'XDP_PASS' if result.retval == 2 else 'XDP_DROP'}), "
                  f"{result.instructions} instructions")
    first = prog.spec.line_info[:4]
    for info in first:
        console.print(f"[cyan]{info.file.rsplit('/', 1)[-1]}:{info.line}[/]  {info.text.strip()}")

    console.rule("[bold]4. the same capture on the JIT")
    jit_obj = pybpf.load(OBJ, backend="jit")
    for name in ("blocked_v4", "blocked_ports"):
        for key, value in obj.maps[name].items():
            jit_obj.maps[name][key] = value
    jit_prog = jit_obj.program("xdp")
    frames = [f for _, f in read_pcap(PCAP)]
    jit_prog.run_batch(frames)  # first run: set-up and page faults
    start = time.perf_counter()
    batch = jit_prog.run_batch(frames)
    seconds = time.perf_counter() - start
    interp_verdicts = [prog.test_run(data=f).retval for f in frames]
    same_jit = sum(a == b for a, b in zip(batch.retvals, interp_verdicts, strict=True))
    how = "loaded from the compile cache" if jit_prog.cached else "verified and compiled"
    console.print(f"{how} in {jit_prog.compile_ns / 1e6:.0f} ms; run_batch: {len(frames)} "
                  f"frames in {seconds * 1e3:.2f} ms ({len(frames) / seconds:,.0f} frames/s); "
                  f"{same_jit} verdicts identical to the interpreter's")

    console.rule("[bold]5. the same object in the live kernel")
    from pybpf.kernel.sys import bpf_available

    ok, reason = bpf_available()
    if not ok:
        console.print(f"skipped: {reason}")
        return
    from pybpf.kernel.collection import KernelCollection
    from pybpf.kernel.sys import map_update, prog_test_run

    with KernelCollection(load_collection(OBJ)) as kc:
        map_update(kc.maps["blocked_v4"], socket.inet_aton("203.0.113.66"), b"\x01")
        for port in (23, 3389):
            map_update(kc.maps["blocked_ports"], struct.pack("<H", port), b"\x01")
        fd = kc.program("xdp").fd
        ours, kernel, same = Counter(), Counter(), 0
        for _, frame in read_pcap(PCAP):
            a = prog.test_run(data=frame).retval
            b = prog_test_run(fd, data=frame).retval
            ours[a] += 1
            kernel[b] += 1
            same += a == b
    console.print(f"kernel verifier accepted it; BPF_PROG_TEST_RUN on all {summary.packets} "
                  f"frames: {same} identical verdicts, {summary.packets - same} different")


if __name__ == "__main__":
    main()
