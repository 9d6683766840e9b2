"""Reading captures in blocks (pybpf.runtime.pcap.read_pcap_batches): the same frames as
scapy's own reader, for either byte order, nanosecond captures, records across and longer
than a block; damaged captures are errors naming the record."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import PybpfError
from pybpf.runtime.pcap import read_pcap, read_pcap_batches

MAGICS = {("<", False): 0xA1B2C3D4, (">", False): 0xA1B2C3D4, ("<", True): 0xA1B23C4D,
          (">", True): 0xA1B23C4D}


def write_pcap(path: Path, frames: list[bytes], endian: str = "<", nano: bool = False,
               linktype: int = 1, tail: bytes = b"") -> None:
    out = bytearray(struct.pack(endian + "IHHiIII", MAGICS[endian, nano], 2, 4, 0, 0, 65535,
                                linktype))
    for i, frame in enumerate(frames):
        out += struct.pack(endian + "IIII", i, i * 7, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out) + tail)


def scapy_frames(path: Path) -> list[bytes]:
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(path)) as reader:
        return [bytes(frame) for frame, _ in reader]


@settings(max_examples=40, deadline=None)
@given(frames=st.lists(st.binary(min_size=0, max_size=300), max_size=40),
       endian=st.sampled_from("<>"), nano=st.booleans(),
       chunk=st.integers(1, 9), block=st.sampled_from([17, 64, 500, 1 << 20]))
def test_frames_are_scapys(tmp_path_factory: pytest.TempPathFactory, frames: list[bytes],
                           endian: str, nano: bool, chunk: int, block: int) -> None:
    path = tmp_path_factory.mktemp("pcap") / "t.pcap"
    write_pcap(path, frames, endian, nano)
    batches = list(read_pcap_batches(path, chunk=chunk, block=block))
    got = [batch.frame(i) for _, batch in batches for i in range(len(batch))]
    assert got == scapy_frames(path) == frames
    assert all(len(batch) <= chunk for _, batch in batches)
    numbers = [first + i for first, batch in batches for i in range(len(batch))]
    assert numbers == list(range(1, len(frames) + 1))
    assert [n for n, _ in read_pcap(path)] == numbers


def test_long_records_are_cut_as_scapy_cuts_them(tmp_path: Path) -> None:
    path = tmp_path / "long.pcap"
    frames = [bytes(range(256)) * 300, b"\x01" * 60]  # 76,800 bytes: past 65,535
    write_pcap(path, frames)
    got = [f for _, f in read_pcap(path)]
    assert got == scapy_frames(path) == [frames[0][:65535], frames[1]]


def test_truncated_record_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    write_pcap(path, [b"a" * 60, b"b" * 60])
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(PybpfError, match="record 2 is truncated: 40 of 60 bytes"):
        list(read_pcap_batches(path, block=50))


def test_trailing_bytes_are_named(tmp_path: Path) -> None:
    path = tmp_path / "tail.pcap"
    write_pcap(path, [b"a" * 60], tail=b"\x00" * 7)
    with pytest.raises(PybpfError, match="7 trailing bytes after record 1"):
        list(read_pcap(path))


def test_not_ethernet_and_not_pcap(tmp_path: Path) -> None:
    path = tmp_path / "raw.pcap"
    write_pcap(path, [b"a" * 20], linktype=101)
    with pytest.raises(PybpfError, match="link type 101 is not Ethernet"):
        list(read_pcap(path))
    path.write_bytes(b"not a capture at all, definitely")
    with pytest.raises(PybpfError, match="not a readable pcap file"):
        list(read_pcap(path))


@settings(max_examples=200, deadline=None)
@given(tail=st.binary(max_size=200), endian=st.sampled_from("<>"),
       block=st.sampled_from([16, 23, 4096]))
def test_random_records_never_crash(tmp_path_factory: pytest.TempPathFactory, tail: bytes,
                                    endian: str, block: int) -> None:
    """Arbitrary bytes after a valid global header: frames that scapy's reader also gives,
    or a PybpfError — never another exception (the walk is native code)."""
    path = tmp_path_factory.mktemp("fuzz") / "f.pcap"
    write_pcap(path, [], endian, tail=tail)
    try:
        got = [batch.frame(i) for _, batch in read_pcap_batches(path, block=block)
               for i in range(len(batch))]
    except PybpfError:
        return
    assert got == scapy_frames(path)
