"""Checksum arithmetic and the checksum helpers."""

from __future__ import annotations

import errno

from helpers_support import UDP4, load
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from pybpf.platform.enums import ProgType
from pybpf.runtime.helpers import csum

TC = ProgType.SCHED_CLS


def ones_sum16(data: bytes) -> int:
    """Reference: the RFC 1071 sum of big-endian 16-bit words, folded."""
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@given(st.binary(max_size=200), st.integers(0, 2**32 - 1))
def test_csum_partial_is_the_ones_complement_sum(data: bytes, seed: int) -> None:
    partial = csum.csum_partial(data, seed)
    folded = csum.csum_from32to16(partial)
    expected = ones_sum16(data.ljust((len(data) + 3) // 4 * 4, b"\0"))
    # the 32-bit partial sum folds to the RFC 1071 sum (read in host byte order) plus the seed
    host = int.from_bytes(expected.to_bytes(2, "big"), "little")
    want = csum.csum_from32to16(csum.csum_add(host, seed))
    assert folded == want or {folded, want} == {0, 0xFFFF}
    assert (partial == 0) == (seed == 0 and not any(data))


def test_fold_and_add() -> None:
    assert csum.csum_add(0xFFFFFFFF, 1) == 1  # end-around carry
    assert csum.csum_sub(5, 5) == 0xFFFFFFFF
    assert csum.csum_fold(0) == 0xFFFF
    assert csum.csum_fold(0x0001FFFF) == 0xFFFE
    assert csum.csum16_add(0xFFFF, 1) == 1


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_replace2_agrees_with_a_recomputed_checksum(old: int, new: int, rest: int) -> None:
    data_old = old.to_bytes(2, "big") + rest.to_bytes(2, "big")
    data_new = new.to_bytes(2, "big") + rest.to_bytes(2, "big")
    check_old = ~ones_sum16(data_old) & 0xFFFF
    got = csum.csum_replace2(check_old, old, new)
    want = ~ones_sum16(data_new) & 0xFFFF
    assert got == want or {got, want} == {0, 0xFFFF}


FRAME = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="1.2.3.4", dst="5.6.7.8") / UDP(sport=7, dport=9) / bytes(8))


def replace(helper: str, offset: int, old: int, new: int, flags: int,
            data: bytes = FRAME) -> tuple[int, bytes]:
    text = (f"r2 = {offset}\nr3 = {old:#x} ll\nr4 = {new:#x} ll\nr5 = {flags:#x} ll\n"
            f"call bpf_{helper}\nexit")
    _, prog = load(text, TC)
    res = prog.test_run(data=data)
    return res.retval, res.data_out


def test_l3_csum_replace_keeps_the_ip_header_valid() -> None:
    # change the source address 1.2.3.4 -> 9.9.9.9 and fix the IP checksum (offset 24)
    old, new = int.from_bytes(FRAME[26:30], "little"), int.from_bytes(b"\t\t\t\t", "little")
    retval, out = replace("l3_csum_replace", 24, old, new, 4)
    assert retval == 0
    patched = out[:26] + b"\t\t\t\t" + out[30:]
    assert ones_sum16(patched[14:34]) == 0xFFFF
    assert replace("l3_csum_replace", 25, old, new, 4)[0] == (-errno.EFAULT) & 0xFFFFFFFF
    assert replace("l3_csum_replace", len(FRAME), old, new, 4)[0] == (-errno.EFAULT) & 0xFFFFFFFF
    assert replace("l3_csum_replace", 24, old, new, 0x10)[0] == (-errno.EINVAL) & 0xFFFFFFFF
    assert replace("l3_csum_replace", 24, 1, 0, 0)[0] == (-errno.EINVAL) & 0xFFFFFFFF
    assert replace("l3_csum_replace", 24, 0, 0, 3)[0] == (-errno.EINVAL) & 0xFFFFFFFF


def test_l4_csum_replace_mangled_zero() -> None:
    zero = bytearray(FRAME)
    zero[40:42] = b"\0\0"  # UDP without a checksum
    retval, out = replace("l4_csum_replace", 40, 0, 5, 2 | 0x20, bytes(zero))
    assert (retval, out[40:42]) == (0, b"\0\0")  # MARK_MANGLED_0: "no checksum" stays
    retval, out = replace("l4_csum_replace", 40, 0, 5, 2 | 0x20 | 0x40, bytes(zero))
    assert retval == 0 and out[40:42] != b"\0\0"
    one = bytearray(FRAME)
    one[40:42] = b"\x01\x00"  # adding 1 to this checksum's data folds to 0
    # a result of 0 becomes CSUM_MANGLED_0 (0xffff)
    retval, out = replace("l4_csum_replace", 40, 0, 1, 2 | 0x20, bytes(one))
    assert (retval, out[40:42]) == (0, b"\xff\xff")
    assert replace("l4_csum_replace", 40, 0, 0, 0x100)[0] == (-errno.EINVAL) & 0xFFFFFFFF


def test_csum_diff_and_update() -> None:
    text = """
    r1 = 0x0102030405060708 ll
    *(u64 *)(r10 - 8) = r1
    r1 = 0
    r2 = 0
    r3 = r10
    r3 += -8
    r4 = {size}
    r5 = {seed}
    call bpf_csum_diff
    exit
    """
    _, prog = load(text.format(size=8, seed=0), TC)
    want = csum.csum_from32to16(csum.csum_partial(bytes.fromhex("0807060504030201")))
    assert prog.test_run(data=UDP4).retval == want
    _, prog = load(text.format(size=0, seed=0x12345), TC)
    assert prog.test_run(data=UDP4).retval == csum.csum_from32to16(0x12345)
    _, prog = load("r2 = 1\ncall bpf_csum_update\nexit", TC)
    assert prog.test_run(data=UDP4).retval == (-524) & 0xFFFFFFFF  # not CHECKSUM_COMPLETE
