"""Replay a packet capture through a program: ``test_run`` on every frame, verdicts counted
(in batches: natively looped on the JIT, see :mod:`pybpf.runtime.batch`).

The capture is read in batches (:mod:`pybpf.runtime.pcap`); verdicts are counted per
distinct return value of a batch, not per frame. Output captures are written by scapy's
``RawPcapWriter``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pybpf.runtime.batch import PacketBatch, run_batch_loop
from pybpf.runtime.pcap import LINKTYPE_ETHERNET, read_pcap_batches
from pybpf.runtime.verdicts import passes, verdict_name

__all__ = ["ReplaySummary", "replay"]


@dataclass(slots=True)
class ReplaySummary:
    """Counts per verdict, and the errors of frames test_run refused."""

    prog_type: int | None
    packets: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    written: int = 0
    refused: list[str] = field(default_factory=list)
    instructions: int = 0
    seconds: float = 0.0


def replay(
    program: Any,
    prog_type: int | None,
    pcap: Path,
    *,
    out: Path | None = None,
    on_packet: Callable[[int], None] | None = None,
    chunk: int = 65536,
) -> ReplaySummary:
    """Run ``program`` over every frame of ``pcap``; write passing output frames to ``out``.

    Frames go through ``program.run_batch`` ``chunk`` at a time when the program has it (the
    JIT loops natively; the interpreter calls ``test_run`` per frame), else through
    ``test_run`` one by one; the results are the same.
    """
    import time

    from scapy.utils import RawPcapWriter

    summary = ReplaySummary(prog_type)
    writer = RawPcapWriter(str(out), linktype=LINKTYPE_ETHERNET, sync=False) if out else None
    start = time.perf_counter()
    try:
        for first, batch in read_pcap_batches(pcap, chunk):
            _run_chunk(program, batch, first, summary, writer)
            if on_packet is not None:
                on_packet(first + len(batch) - 1)
    finally:
        if writer is not None:
            writer.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _run_chunk(program: Any, batch: PacketBatch, first: int, summary: ReplaySummary,
               writer: Any) -> None:
    """Run ``batch`` (records ``first``...) and count its verdicts: per distinct r0, not per
    frame, so a JIT replay stays at the native loop's speed."""
    results = program.run_batch(batch) if hasattr(program, "run_batch") \
        else run_batch_loop(program, batch)
    prog_type = summary.prog_type
    summary.packets += len(batch)
    by_r0 = Counter(results.r0)
    for index, error in sorted(results.errors.items()):
        by_r0[results.r0[index]] -= 1
        summary.verdicts["refused by test_run"] += 1
        summary.refused.append(f"record {first + index}: {error}")
    for r0, count in by_r0.items():
        if count:
            summary.verdicts[verdict_name(prog_type, r0 & 0xFFFFFFFF)] += count
    summary.instructions += sum(results.instructions)
    if writer is None:
        return
    out = {r0 for r0 in by_r0 if passes(prog_type, r0 & 0xFFFFFFFF)}
    for index, r0 in enumerate(results.r0):
        if r0 in out and index not in results.errors:
            writer.write(results.data_out(index))
            summary.written += 1
