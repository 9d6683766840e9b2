"""Mutated objects: the loader either loads them or raises a pybpf error, nothing else.

Bit flips, truncations and byte overwrites anywhere, with extra weight on the ELF header and the
section header table, applied to every committed test object.
"""

from __future__ import annotations

import struct

from elf_testdata import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.elf import load_collection
from pybpf.errors import PybpfError

OBJECTS = sorted(p.read_bytes() for p in DATA.glob("*.o"))


def _shoff(data: bytes) -> int:
    return struct.unpack_from("<Q", data, 0x28)[0] if len(data) >= 0x30 else 0


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(OBJECTS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "header", "shdr", "overwrite"]))
        if kind == "flip":
            bit = draw(st.integers(0, len(data) * 8 - 1))
            data[bit // 8] ^= 1 << (bit % 8)
        elif kind == "truncate":
            data = data[: draw(st.integers(0, len(data) - 1))]
            if len(data) < 8:
                break
        elif kind == "header":
            data[draw(st.integers(0, min(63, len(data) - 1)))] = draw(st.integers(0, 255))
        elif kind == "shdr" and _shoff(data) < len(data):
            start = _shoff(data)
            data[draw(st.integers(start, len(data) - 1))] = draw(st.integers(0, 255))
        else:
            at = draw(st.integers(0, len(data) - 1))
            data[at : at + 8] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_objects_raise_only_pybpf_errors(data: bytes) -> None:
    try:
        load_collection(
            data,
            name="fuzz",
            host_config=False,
            kernel_version=0x061200,
            kconfig={"CONFIG_BPF_SYSCALL": "y"},
        )
    except PybpfError:
        pass


def test_objects_load_unmutated() -> None:
    for data in OBJECTS:
        try:
            load_collection(
                data, host_config=False, kernel_version=1, kconfig={"CONFIG_BPF_SYSCALL": "y"}
            )
        except PybpfError as e:
            assert (
                "frobnic" in str(e)
                or "MAX_BPF_STACK" in str(e)
                or "static" in str(e)
                or "is not a map" in str(e)
                or "non-zero" in str(e)
            ), e
