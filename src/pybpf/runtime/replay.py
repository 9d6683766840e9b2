"""Replay a packet capture through a program: one ``test_run`` per frame, verdicts counted.

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
) -> ReplaySummary:
    """Run ``program`` over every frame of ``pcap``; write passing output frames to ``out``."""
    import time

    from scapy.utils import RawPcapWriter

    from pybpf.errors import TestRunError

    summary = ReplaySummary(prog_type)
    writer = RawPcapWriter(str(out), linktype=LINKTYPE_ETHERNET, sync=False) if out else None
    start = time.perf_counter()
    try:
        for number, frame in read_pcap(pcap):
            summary.packets += 1
            try:
                result = program.test_run(data=frame)
            except TestRunError as exc:
                summary.verdicts["refused by test_run"] += 1
                summary.refused.append(f"record {number}: {exc}")
                continue
            summary.instructions += result.instructions
            summary.verdicts[verdict_name(prog_type, result.retval)] += 1
            if writer is not None and passes(prog_type, result.retval):
                writer.write(result.data_out)
                summary.written += 1
            if on_packet is not None:
                on_packet(number)
    finally:
        if writer is not None:
            writer.close()
    summary.seconds = time.perf_counter() - start
    return summary


def count_records(path: Path) -> int | None:
    """Rough record count for a progress bar (None when unknown)."""
    try:
        return max(1, (os.path.getsize(path) - 24) // 80)
    except OSError:
        return None
