"""Program-type facts against the live kernel: return ranges, test_run, packet writes.

Kernel messages (Linux 6.18): ``At program exit the register R0 has smin=-1 smax=-1 should have
been in [0, 1]``; ``cannot write into packet``; BPF_PROG_TEST_RUN fails with ENOTSUPP (524)
for types without a ``test_run`` operation.
"""

from __future__ import annotations

import struct

import pytest
from platform_live import needs_kernel

from pybpf.platform.attach import AttachType as A
from pybpf.platform.ctx_access import ctx_struct
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType as P
from pybpf.platform.helper_probe import (
    BPF_F_SLEEPABLE,
    LoadConfig,
    Probe,
    Verdict,
    default_config,
)
from pybpf.platform.prog_types import (
    PROG_TYPES,
    ReturnRange,
    prog_type_info,
    return_range,
    return_range_message,
)

ENOTSUPP = 524


def _ins(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _load(cfg: LoadConfig, insns: bytes):
    from pybpf.errors import KernelError
    from pybpf.kernel.sys import prog_load

    try:
        prog = prog_load(cfg.prog_type, insns, log_level=1, log_size=1 << 16,
                         prog_flags=BPF_F_SLEEPABLE if cfg.sleepable else 0,
                         expected_attach_type=int(cfg.attach_type or 0))
    except KernelError as exc:
        return None, exc.log or ""
    return prog, prog.log


def test_every_program_type_has_info() -> None:
    assert set(PROG_TYPES) == {p for p in P if p is not P.UNSPEC}
    for pt, info in PROG_TYPES.items():
        assert info.prog_type is pt
        if info.ctx_struct:
            assert info.ctx_size == CTX_STRUCTS[info.ctx_struct].size
    assert prog_type_info(P.XDP).ctx_size == 24
    assert prog_type_info(P.CGROUP_SKB).ctx_struct == "__sk_buff"
    assert prog_type_info(P.KPROBE).ctx_struct == "pt_regs"
    assert prog_type_info(P.SOCKET_FILTER).unprivileged_load
    assert prog_type_info(P.SYSCALL).requires_sleepable


def test_return_ranges() -> None:
    assert return_range(P.XDP) is None
    assert return_range(P.CGROUP_SKB) == ReturnRange(0, 1)
    assert return_range(P.CGROUP_SKB, A.CGROUP_INET_EGRESS) == ReturnRange(0, 3)
    assert return_range(P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG) == ReturnRange(1, 1)
    assert return_range(P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND) == ReturnRange(0, 3)
    assert return_range(P.TRACING, A.TRACE_FENTRY) == ReturnRange(0, 0)
    assert return_range(P.KPROBE, A.TRACE_KPROBE_SESSION) == ReturnRange(0, 1)
    assert 1 in ReturnRange(0, 3) and 4 not in ReturnRange(0, 3)
    assert return_range_message(-1, -1, ReturnRange(0, 1)) == (
        "At program exit the register R0 has smin=-1 smax=-1 should have been in [0, 1]")


RANGE_CONFIGS = [default_config(p) for p in P if p is not P.UNSPEC] + [
    LoadConfig(P.CGROUP_SKB, A.CGROUP_INET_EGRESS),
    LoadConfig(P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND),
    LoadConfig(P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND),
    LoadConfig(P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND),
    LoadConfig(P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG),
    LoadConfig(P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME),
    LoadConfig(P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME),
    LoadConfig(P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT),
    LoadConfig(P.KPROBE, A.TRACE_KPROBE_SESSION),
    LoadConfig(P.KPROBE, A.TRACE_KPROBE_MULTI),
]


@needs_kernel
@pytest.mark.parametrize("cfg", RANGE_CONFIGS, ids=lambda c: c.label)
def test_return_range_agrees_with_the_kernel(cfg: LoadConfig) -> None:
    if Probe(cfg).loadable().verdict is Verdict.UNLOADABLE:
        pytest.skip(f"{cfg.label} cannot be loaded here")
    rng = return_range(cfg.prog_type, cfg.attach_type)
    for value in (-1, 0, 1, 2, 3, 4, 1 << 20):
        prog, log = _load(cfg, _ins(0xB7, 0, imm=value) + _ins(0x95))
        if prog is not None:
            prog.close()
        accepted = prog is not None
        assert accepted == (rng is None or value in rng), (cfg.label, value, log[-200:])
        if not accepted:
            assert rng is not None
            assert return_range_message(value, value, rng) in log


@needs_kernel
@pytest.mark.parametrize("pt", [p for p in P if p is not P.UNSPEC], ids=lambda p: p.name)
def test_test_run_support_agrees_with_the_kernel(pt: P) -> None:
    from pybpf.errors import KernelError
    from pybpf.kernel.sys import prog_test_run

    cfg = default_config(pt)
    prog, _log = _load(cfg, _ins(0xB7, 0, imm=1) + _ins(0x95))
    if prog is None:
        pytest.skip(f"{pt.name} cannot be loaded here")
    with prog:
        try:
            prog_test_run(prog, data=bytes(64))
            supported = True
        except KernelError as exc:
            supported = exc.errno != ENOTSUPP
    assert supported == prog_type_info(pt).test_run


_PACKET_POINTERS = {
    # program type: (data field, data_end field, load size)
    P.SCHED_CLS: ("data", "data_end", 4),
    P.SCHED_ACT: ("data", "data_end", 4),
    P.CGROUP_SKB: ("data", "data_end", 4),
    P.LWT_IN: ("data", "data_end", 4),
    P.LWT_OUT: ("data", "data_end", 4),
    P.LWT_XMIT: ("data", "data_end", 4),
    P.LWT_SEG6LOCAL: ("data", "data_end", 4),
    P.SK_SKB: ("data", "data_end", 4),
    P.FLOW_DISSECTOR: ("data", "data_end", 4),
    P.XDP: ("data", "data_end", 4),
    P.SK_MSG: ("data", "data_end", 8),
    P.SK_REUSEPORT: ("data", "data_end", 8),
    P.SOCK_OPS: ("skb_data", "skb_data_end", 8),
    P.CGROUP_SOCKOPT: ("optval", "optval_end", 8),
}


@needs_kernel
@pytest.mark.parametrize("pt", list(_PACKET_POINTERS), ids=lambda p: p.name)
def test_direct_packet_write_agrees_with_the_kernel(pt: P) -> None:
    data, data_end, size = _PACKET_POINTERS[pt]
    s = ctx_struct(pt)
    assert s is not None
    ldx = {4: 0x61, 8: 0x79}[size]
    prog = (
        _ins(ldx, 2, 1, s.offsetof(data))
        + _ins(ldx, 3, 1, s.offsetof(data_end))
        + _ins(0xBF, 4, 2) + _ins(0x07, 4, 0, 0, 1)  # r4 = r2 + 1
        + _ins(0x2D, 4, 3, 1)  # if r4 > r3 goto +1
        + _ins(0x72, 2, 0, 0, 0)  # *(u8 *)(r2 + 0) = 0
        + _ins(0xB7, 0, imm=1) + _ins(0x95)
    )
    loaded, log = _load(default_config(pt), prog)
    if loaded is not None:
        loaded.close()
    refused = "cannot write into packet" in log
    assert refused != prog_type_info(pt).direct_packet_write, log[-300:]
