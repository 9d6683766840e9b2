"""XDP geometry helpers and redirects (values measured on Linux 6.18, see the module docs)."""

from __future__ import annotations

import errno

import pytest
from helpers_support import UDP4, interpreter, load, make_map

from pybpf.platform.enums import MapType, ProgType

XDP, TC = ProgType.XDP, ProgType.SCHED_CLS
EINVAL = -errno.EINVAL & 0xFFFFFFFF
EACCES = -errno.EACCES & 0xFFFFFFFF

ADJUST = """
    r6 = r1
    r2 = {delta}
    call bpf_{helper}
    if r0 != 0 goto out
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r0 = r3
    r0 -= r2
    r0 <<= 16
out:
    exit
"""


def adjust(helper: str, delta: int, data: bytes = UDP4) -> tuple[int, bytes]:
    _, prog = load(ADJUST.format(helper=helper, delta=delta), XDP)
    res = prog.test_run(data=data)
    return res.retval, res.data_out


@pytest.mark.parametrize(("delta", "ok"), [(-216, True), (-217, False), (0, True),
                                           (len(UDP4) - 14, True), (len(UDP4) - 13, False)])
def test_adjust_head_limits(delta: int, ok: bool) -> None:
    retval, out = adjust("xdp_adjust_head", delta)
    if not ok:
        assert (retval, out) == (EINVAL, UDP4)
        return
    assert retval == (len(UDP4) - delta) << 16
    assert out == (bytes(-delta) + UDP4 if delta < 0 else UDP4[delta:])


@pytest.mark.parametrize(("delta", "ok"), [(3520 - len(UDP4), True), (3521 - len(UDP4), False),
                                           (14 - len(UDP4), True), (13 - len(UDP4), False)])
def test_adjust_tail_limits(delta: int, ok: bool) -> None:
    retval, out = adjust("xdp_adjust_tail", delta)
    if not ok:
        assert retval == EINVAL
        return
    assert retval == (len(UDP4) + delta) << 16
    assert out == (UDP4 + bytes(delta) if delta > 0 else UDP4[: len(UDP4) + delta])


@pytest.mark.parametrize(("delta", "result"), [(-4, 0), (-216, 0), (-220, EINVAL), (4, EINVAL),
                                               (-2, EACCES), (-1, EACCES)])
def test_adjust_meta_limits(delta: int, result: int) -> None:
    retval, out = adjust("xdp_adjust_meta", delta)
    if result:
        assert retval == result
    else:
        assert retval == len(UDP4) << 16
        assert out == bytes(-delta) + UDP4  # data_out starts at the metadata


def test_adjust_head_moves_the_metadata_along() -> None:
    text = """
    r6 = r1
    r2 = -4
    call bpf_xdp_adjust_meta
    r2 = *(u32 *)(r6 + 8)
    r3 = *(u32 *)(r6 + 0)
    r4 = r2
    r4 += 4
    if r4 > r3 goto out
    *(u32 *)(r2 + 0) = 0x44332211
    r1 = r6
    r2 = -10
    call bpf_xdp_adjust_head
out:
    r0 = 2
    exit
    """
    _, prog = load(text, XDP)
    out = prog.test_run(data=UDP4).data_out
    meta = bytes.fromhex("11223344")
    # the metadata moved 10 bytes down; its old copy stays where the packet now starts
    assert out == meta + bytes(6) + meta + UDP4


def test_load_and_store_bytes() -> None:
    text = """
    r6 = r1
    r1 = 0x4847464544434241 ll
    *(u64 *)(r10 - 8) = r1
    r1 = r6
    r2 = {offset}
    r3 = r10
    r3 += -8
    r4 = 8
    call bpf_xdp_store_bytes
    exit
    """
    for offset, ret in ((0, 0), (len(UDP4) - 8, 0), (len(UDP4) - 7, EINVAL),
                        (0x10000, -errno.EFAULT & 0xFFFFFFFF)):
        _, prog = load(text.format(offset=offset), XDP)
        res = prog.test_run(data=UDP4)
        assert res.retval == ret
        if ret == 0:
            assert res.data_out[offset : offset + 8] == b"ABCDEFGH"


REDIRECT = "r1 = {ifindex}\nr2 = {flags}\ncall bpf_redirect\nexit"


def test_redirect_xdp_and_tc() -> None:
    _, prog = load(REDIRECT.format(ifindex=3, flags=0), XDP)
    res = prog.test_run(data=UDP4)
    assert (res.retval, res.redirect) == (4, ("ifindex", 3))
    _, prog = load(REDIRECT.format(ifindex=3, flags=1), XDP)
    assert prog.test_run(data=UDP4).retval == 0  # XDP_ABORTED
    _, prog = load(REDIRECT.format(ifindex=3, flags=1), TC)
    res = prog.test_run(data=UDP4)
    assert (res.retval, res.redirect) == (7, ("ingress", 3))
    _, prog = load(REDIRECT.format(ifindex=3, flags=2), TC)
    assert prog.test_run(data=UDP4).retval == 2  # TC_ACT_SHOT


def test_redirect_map_targets_and_fallbacks() -> None:
    interp = interpreter()
    dev = make_map(interp, MapType.DEVMAP, 4, 4, 4, name="dev")
    dev.update(1, (9).to_bytes(4, "little"))
    cpus = make_map(interp, MapType.CPUMAP, 4, 4, 2, name="cpus")
    cpus.update(1, (64).to_bytes(4, "little"))
    text = "r1 = %{m}\nr2 = {key}\nr3 = {flags}\ncall bpf_redirect_map\nexit"
    maps = {"dev": dev, "cpus": cpus}
    cases = [("dev", 1, 0, 4, ("ifindex", 9)), ("dev", 2, 0, 0, None), ("dev", 2, 2, 2, None),
             ("dev", 2, 3, 3, None), ("dev", 2, 8, 4, ("broadcast", 0)),
             ("dev", 1, 8 | 16, 4, ("broadcast", 1)), ("dev", 1, 32, 0, None),
             ("cpus", 1, 0, 4, ("cpu", 1)), ("cpus", 1, 8, 0, None), ("cpus", 0, 1, 1, None)]
    for name, key, flags, retval, target in cases:
        _, prog = load(text.format(m=name, key=key, flags=flags), XDP, maps=maps, interp=interp)
        res = prog.test_run(data=UDP4)
        assert (res.retval, res.redirect) == (retval, target), (name, key, flags)


def test_clone_redirect() -> None:
    text = "r2 = {ifindex}\nr3 = {flags}\ncall bpf_clone_redirect\nexit"
    _interp, prog = load(text.format(ifindex=1, flags=0), TC)
    assert prog.test_run(data=UDP4).retval == 0
    for ifindex, flags in ((2, 0), (1, 2)):
        _, prog = load(text.format(ifindex=ifindex, flags=flags), TC)
        assert prog.test_run(data=UDP4).retval == EINVAL
