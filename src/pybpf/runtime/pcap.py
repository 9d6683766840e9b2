"""Reading packet captures (pcap) into :class:`~pybpf.runtime.batch.PacketBatch` es.

The capture's global header is read by scapy's ``RawPcapReader`` (magic, byte order,
nanosecond variant, link type); the records are then cut out of the file in large blocks
straight into batches (the frames stay where they are in the block, no Python object per
frame; the records are walked natively, ``pb_pcap_records`` of :mod:`pybpf.native.batch_ir`),
which is what lets a JIT replay (:mod:`pybpf.runtime.replay`) run at the native loop's speed
rather than at a Python reader's (scapy's reader costs ~5 µs per record). Frames are cut at
65,535 bytes, as scapy's reader cuts them. Scapy passes a truncated last record silently;
here it is an error naming the record (``record 7 is truncated: 34 of 54 bytes``), and
trailing bytes that do not form a whole record are one too.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pybpf.errors import PybpfError
from pybpf.runtime.batch import PacketBatch

__all__ = ["LINKTYPE_ETHERNET", "count_records", "read_pcap", "read_pcap_batches"]

LINKTYPE_ETHERNET = 1
#: Bytes of a record header (ts_sec, ts_usec or ts_nsec, incl_len, orig_len).
RECORD_HEADER = 16
#: Bytes read from the file at a time.
BLOCK = 8 << 20


def read_pcap_batches(path: Path, chunk: int = 65536,
                      block: int = BLOCK) -> Iterator[tuple[int, PacketBatch]]:
    """Yield ``(number of the first record, batch)`` of at most ``chunk`` frames each, in
    record order, reading ``block`` bytes at a time; raise :class:`PybpfError` on a damaged
    capture."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader

    try:
        reader = RawPcapReader(str(path))
    except (OSError, Scapy_Exception, EOFError, ValueError) as exc:
        raise PybpfError(f"{path}: not a readable pcap file: {exc}") from None
    try:
        if reader.linktype != LINKTYPE_ETHERNET:
            raise PybpfError(f"{path}: link type {reader.linktype} is not Ethernet (1)")
        yield from _batches(path, reader.f, reader.endian == ">", chunk, block)
    finally:
        reader.close()


def _batches(path: Path, f: Any, big: bool, chunk: int,
             block: int) -> Iterator[tuple[int, PacketBatch]]:
    """The records from the file position of ``f`` on, ``chunk`` frames per batch; each batch
    holds the bytes of its block (headers included: a frame is where it was read). The
    records are walked natively (``pb_pcap_records``, no Python per record)."""
    import ctypes

    from pybpf.native.library import library

    walk = library().fn["pb_pcap_records"]
    stop = ctypes.c_uint64()
    number = 0  # records yielded so far
    data = bytearray()
    pos = 0  # where the records not yet taken start in data
    eof = stalled = False
    while True:
        end = len(data)
        if not eof and (end - pos < block or stalled):  # stalled: a record longer than a block
            data = _read_after(f, memoryview(data)[pos:], block)
            eof = len(data) == end - pos
            pos, end = 0, len(data)
        offsets, lengths = array("Q", bytes(8 * chunk)), array("I", bytes(4 * chunk))
        count = 0
        if pos < end:
            pinned = (ctypes.c_char * end).from_buffer(data)
            count = walk(ctypes.addressof(pinned), pos, end, int(big), chunk,
                         offsets.buffer_info()[0], lengths.buffer_info()[0], ctypes.byref(stop))
            del pinned
        stalled = not count
        if count:
            del offsets[count:], lengths[count:]
            yield number + 1, PacketBatch(data, offsets, lengths)  # the frames where they are
            number += count
            pos = stop.value
        if count < chunk and eof and pos + RECORD_HEADER <= end:  # a record cut short
            (caplen,) = struct.unpack_from((">" if big else "<") + "8xI", data, pos)
            raise PybpfError(f"{path}: record {number + 1} is truncated: "
                             f"{end - pos - RECORD_HEADER} of {caplen} bytes")
        if eof and end - pos < RECORD_HEADER:
            if end > pos:
                raise PybpfError(f"{path}: {end - pos} trailing bytes after record {number} "
                                 "do not form a whole record (truncated capture?)")
            return


def _read_after(f: Any, head: memoryview, block: int) -> bytearray:
    """``head`` and up to ``block`` bytes read from ``f`` after it, read in place (no copy
    of the block)."""
    kept = len(head)
    data = bytearray(kept + block)
    data[:kept] = head
    head.release()
    view = memoryview(data)
    rest = view[kept:]
    got = f.readinto(rest) or 0
    rest.release()
    view.release()
    del data[kept + got:]
    return data


def read_pcap(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(record number, frame)``; raise :class:`PybpfError` on a damaged capture."""
    for first, batch in read_pcap_batches(path):
        for index in range(len(batch)):
            yield first + index, batch.frame(index)


def count_records(path: Path) -> int | None:
    """Rough record count for a progress bar (None when unknown)."""
    try:
        return max(1, (os.path.getsize(path) - 24) // 80)
    except OSError:
        return None
