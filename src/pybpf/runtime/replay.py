"""Replay a packet capture through a program: ``test_run`` on every frame, verdicts counted
(in batches: natively looped on the JIT, see :mod:`pybpf.runtime.batch`).

pcap reading and writing go through scapy's raw reader and writer. Scapy passes a truncated
last record silently; here it is an error naming the record (``record 7 is truncated: 34
of 54 bytes``), and trailing bytes that do not form a whole record are one too.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pybpf.errors import PybpfError
from pybpf.runtime.batch import run_batch_loop
from pybpf.runtime.verdicts import passes, verdict_name

LINKTYPE_ETHERNET = 1


def read_pcap(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(record number, frame)``; raise :class:`PybpfError` on a damaged capture."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader

    try:
        size = path.stat().st_size
        reader = RawPcapReader(str(path))
    except (OSError, Scapy_Exception, EOFError, ValueError) as exc:
        raise PybpfError(f"{path}: not a readable pcap file: {exc}") from None
    try:
        if reader.linktype != LINKTYPE_ETHERNET:
            raise PybpfError(f"{path}: link type {reader.linktype} is not Ethernet (1)")
        number = 0
        for number, (frame, meta) in enumerate(reader, 1):
            if len(frame) < meta.caplen:
                raise PybpfError(f"{path}: record {number} is truncated: {len(frame)} of "
                                 f"{meta.caplen} bytes")
            yield number, bytes(frame)
        pos = reader.f.tell()
        if pos < size:
            raise PybpfError(f"{path}: {size - pos} trailing bytes after record {number} "
                             "do not form a whole record (truncated capture?)")
    except Scapy_Exception as exc:
        raise PybpfError(f"{path}: bad pcap data: {exc}") from None
    finally:
        reader.close()


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
        frames: list[bytes] = []
        numbers: list[int] = []
        for number, frame in read_pcap(pcap):
            frames.append(frame)
            numbers.append(number)
            if len(frames) >= chunk:
                _run_chunk(program, frames, numbers, summary, writer, on_packet)
                frames, numbers = [], []
        if frames:
            _run_chunk(program, frames, numbers, summary, writer, on_packet)
    finally:
        if writer is not None:
            writer.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _run_chunk(program: Any, frames: list[bytes], numbers: list[int], summary: ReplaySummary,
               writer: Any, on_packet: Callable[[int], None] | None) -> None:
    results = program.run_batch(frames) if hasattr(program, "run_batch") \
        else run_batch_loop(program, frames)
    prog_type = summary.prog_type
    for index, number in enumerate(numbers):
        summary.packets += 1
        error = results.errors.get(index)
        if error is not None:
            summary.verdicts["refused by test_run"] += 1
            summary.refused.append(f"record {number}: {error}")
            continue
        retval = results.retval(index)
        summary.instructions += results.instructions[index]
        summary.verdicts[verdict_name(prog_type, retval)] += 1
        if writer is not None and passes(prog_type, retval):
            writer.write(results.data_out(index))
            summary.written += 1
    if on_packet is not None:
        on_packet(numbers[-1])


def count_records(path: Path) -> int | None:
    """Rough record count for a progress bar (None when unknown)."""
    try:
        return max(1, (os.path.getsize(path) - 24) // 80)
    except OSError:
        return None
