"""examples/l2_switch: MAC learning, forwarding through the devmap, flooding, hairpin drop.

(Checked on pybpf only: the kernel's test run accepts only existing ingress devices, and
this machine's test namespace has just lo.)"""

from __future__ import annotations

import struct

import pytest
from example_support import example
from scapy.layers.l2 import Ether

import pybpf

XDP_DROP, XDP_REDIRECT = 1, 4
A, B, C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
PORTS = (2, 3, 4)


@pytest.fixture
def switch():  # type: ignore[no-untyped-def]
    obj = pybpf.load(example("l2_switch/l2_switch.o"))
    for port in PORTS:
        obj.maps["ports"][port] = port
    return obj, obj.program("xdp")


def send(prog, src: str, dst: str, port: int):  # type: ignore[no-untyped-def]
    frame = bytes(Ether(src=src, dst=dst, type=0x88B5)) + bytes(50)
    ctx = struct.pack("<6I", 0, len(frame), 0, port, 0, 0)
    return prog.test_run(data=frame, ctx=ctx)


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def test_unknown_destination_is_flooded_and_source_learned(switch) -> None:  # type: ignore[no-untyped-def]
    obj, prog = switch
    result = send(prog, A, B, port=2)
    assert result.retval == XDP_REDIRECT
    assert result.redirect is not None and result.redirect[0].startswith("broadcast")
    assert struct.unpack_from("<I", obj.maps["fdb"][mac(A)])[0] == 2


def test_known_destination_goes_out_of_its_port(switch) -> None:  # type: ignore[no-untyped-def]
    obj, prog = switch
    send(prog, A, B, port=2)
    result = send(prog, B, A, port=3)
    assert (result.retval, result.redirect) == (XDP_REDIRECT, ("ifindex", 2))
    assert struct.unpack_from("<I", obj.maps["fdb"][mac(B)])[0] == 3


def test_hairpin_is_dropped_and_moves_are_relearned(switch) -> None:  # type: ignore[no-untyped-def]
    obj, prog = switch
    send(prog, A, B, port=2)
    assert send(prog, C, A, port=2).retval == XDP_DROP          # A lives on the ingress port
    send(prog, A, C, port=4)                                     # A moved to port 4
    assert struct.unpack_from("<I", obj.maps["fdb"][mac(A)])[0] == 4
    assert send(prog, C, A, port=2).redirect == ("ifindex", 4)


def test_counters(switch) -> None:  # type: ignore[no-untyped-def]
    obj, prog = switch
    send(prog, A, "ff:ff:ff:ff:ff:ff", port=2)
    send(prog, B, A, port=3)
    send(prog, C, A, port=2)
    totals = [sum(struct.unpack("<Q", v)[0] for v in obj.maps["switch_stats"][i]) for i in range(4)]
    assert totals == [1, 1, 1, 3]  # forwarded, flooded, hairpin-dropped, learned


@pytest.mark.kernel
@pytest.mark.skipif(not __import__("example_support").KERNEL_OK,
                    reason=f"bpf() not usable: {__import__('example_support').KERNEL_REASON}")
def test_same_as_the_kernel_on_a_one_port_switch() -> None:
    """In the kernel's test runs the only device is lo (ifindex 1): a switch with one port.
    Learning, flooding (to no other port) and hairpin drops must match frame by frame, and so
    must the learned table."""
    from example_support import kernel_collection

    from pybpf.kernel.sys import map_lookup, map_update, prog_test_run

    obj = pybpf.load(example("l2_switch/l2_switch.o"))
    obj.maps["ports"][1] = 1
    prog = obj.program("xdp")
    sequence = [(A, B), (B, A), (A, "ff:ff:ff:ff:ff:ff"), (C, A), (A, C), ("33:33:00:00:00:01", A)]
    with kernel_collection("l2_switch/l2_switch.o") as kc:
        map_update(kc.maps["ports"], struct.pack("<I", 1), struct.pack("<I", 1))
        fd = kc.program("xdp").fd
        for src, dst in sequence:
            frame = bytes(Ether(src=src, dst=dst, type=0x88B5)) + bytes(50)
            ours, theirs = prog.test_run(data=frame), prog_test_run(fd, data=frame)
            assert (ours.retval, ours.data_out) == (theirs.retval, theirs.data_out), (src, dst)
        for m in (A, B, C):
            ours_entry = obj.maps["fdb"].lookup(mac(m))
            theirs_entry = map_lookup(kc.maps["fdb"], mac(m))
            assert (ours_entry is None) == (theirs_entry is None)
            if ours_entry is not None:
                assert ours_entry[:4] == theirs_entry[:4]  # the port; last_seen is a timestamp
