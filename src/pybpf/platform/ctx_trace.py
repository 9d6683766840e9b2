"""Context rules of the tracing-side program types (and SYSCALL, NETFILTER, LIRC_MODE2).

Mirrors, in kernel/trace/bpf_trace.c: ``kprobe_prog_is_valid_access()`` (KPROBE, ``struct
pt_regs``), ``tp_prog_is_valid_access()`` (TRACEPOINT, the perf trace record),
``raw_tp_prog_is_valid_access()`` → ``bpf_tracing_ctx_access()`` (RAW_TRACEPOINT: up to
``MAX_BPF_FUNC_ARGS`` u64 arguments), ``raw_tp_writable_prog_is_valid_access()``,
``pe_prog_is_valid_access()`` (PERF_EVENT, ``struct bpf_perf_event_data``); in
kernel/bpf/syscall.c ``syscall_prog_is_valid_access()``; in net/netfilter/nf_bpf_link.c
``nf_is_valid_access()``; in drivers/media/rc/bpf-lirc.c ``lirc_mode2_is_valid_access()``.

Kernel-version note: the reference kernel (6.18) gives KPROBE programs a read-only
``pt_regs``; later kernels let (uprobe) programs write it.
"""

from __future__ import annotations

from pybpf.platform.ctx_access import (
    AccessInfo,
    AccessRequest,
    c_mod,
    ctx_range,
    narrow_access_ok,
)
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_types import RegType, TypeFlag

__all__ = [
    "MAX_BPF_FUNC_ARGS",
    "PERF_MAX_TRACE_SIZE",
    "RULES",
    "SYSCALL_CTX_MAX",
]

PT_REGS = CTX_STRUCTS["pt_regs"]
PE = CTX_STRUCTS["bpf_perf_event_data"]
NF = CTX_STRUCTS["bpf_nf_ctx"]

PERF_MAX_TRACE_SIZE = 8192
"""Bound of a tracepoint record (include/linux/trace_events.h)."""
MAX_BPF_FUNC_ARGS = 12
"""Arguments a raw tracepoint / tracing program can see (include/linux/bpf.h)."""
SYSCALL_CTX_MAX = 0xFFFF
"""``U16_MAX``: bound of a SYSCALL program's (user-supplied) context."""


def kprobe_prog_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``kprobe_prog_is_valid_access()`` (KPROBE): any aligned read inside ``pt_regs``."""
    off, size = r.offset, r.size
    if off < 0 or off >= PT_REGS.size or c_mod(off, size):
        return False
    if off + size > PT_REGS.size:
        return False
    return not r.write


def tp_prog_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``tp_prog_is_valid_access()`` (TRACEPOINT): aligned reads past the hidden first 8 bytes
    (which hold the ``pt_regs`` pointer) and below ``PERF_MAX_TRACE_SIZE`` — and, through a
    signed/unsigned comparison, at negative offsets."""
    off, size = r.offset, r.size
    # ``off < sizeof(void *)`` compares as unsigned: negative offsets pass that test (and
    # then ``off >= PERF_MAX_TRACE_SIZE``), so the kernel accepts them.
    if 0 <= off < 8 or off >= PERF_MAX_TRACE_SIZE:
        return False
    return not r.write and not c_mod(off, size)


def bpf_tracing_ctx_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``bpf_tracing_ctx_access()`` (RAW_TRACEPOINT): aligned reads of the u64 arguments."""
    off, size = r.offset, r.size
    if off < 0 or off >= 8 * MAX_BPF_FUNC_ARGS:
        return False
    return not r.write and not c_mod(off, size)


def raw_tp_writable_prog_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``raw_tp_writable_prog_is_valid_access()``: argument 0 is the writable buffer."""
    if r.offset == 0:
        if r.size != 8 or r.write:
            return False
        info.reg_type = RegType.PTR_TO_TP_BUFFER
    return bpf_tracing_ctx_access(r, info)


def pe_prog_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``pe_prog_is_valid_access()`` (PERF_EVENT): the registers as whole ``long``s,
    ``sample_period`` and ``addr`` narrowly; read-only."""
    off, size = r.offset, r.size
    if off < 0 or off >= PE.size or r.write or c_mod(off, size):
        return False
    if off in ctx_range(PE, "sample_period") or off in ctx_range(PE, "addr"):
        info.record_field_size(8)
        return narrow_access_ok(off, size, 8)
    return size == 8


def syscall_prog_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``syscall_prog_is_valid_access()`` (SYSCALL): the context is caller memory."""
    off, size = r.offset, r.size
    if off < 0 or off >= SYSCALL_CTX_MAX:
        return False
    return not c_mod(off, size)


def nf_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``nf_is_valid_access()`` (NETFILTER): read-only trusted BTF pointers ``state`` and
    ``skb``, each loaded whole from its own offset."""
    off, size = r.offset, r.size
    if off < 0 or off >= NF.size or r.write:
        return False
    for name in ("skb", "state"):
        if off == NF.offsetof(name):
            if size != NF.field(name).size:
                return False
            info.reg_type = RegType.PTR_TO_BTF_ID | TypeFlag.PTR_TRUSTED
            return True
    return False


def lirc_mode2_is_valid_access(r: AccessRequest, info: AccessInfo) -> bool:
    """``lirc_mode2_is_valid_access()`` (LIRC_MODE2): the one u32 sample."""
    return not r.write and r.offset == 0 and r.size == 4


RULES = {
    ProgType.KPROBE: ("kprobe_prog_is_valid_access", kprobe_prog_is_valid_access, "pt_regs"),
    ProgType.TRACEPOINT: ("tp_prog_is_valid_access", tp_prog_is_valid_access, None),
    ProgType.RAW_TRACEPOINT: ("raw_tp_prog_is_valid_access", bpf_tracing_ctx_access, None),
    ProgType.RAW_TRACEPOINT_WRITABLE: (
        "raw_tp_writable_prog_is_valid_access", raw_tp_writable_prog_is_valid_access, None
    ),
    ProgType.PERF_EVENT: ("pe_prog_is_valid_access", pe_prog_is_valid_access,
                          "bpf_perf_event_data"),
    ProgType.SYSCALL: ("syscall_prog_is_valid_access", syscall_prog_is_valid_access, None),
    ProgType.NETFILTER: ("nf_is_valid_access", nf_is_valid_access, "bpf_nf_ctx"),
    ProgType.LIRC_MODE2: ("lirc_mode2_is_valid_access", lirc_mode2_is_valid_access, None),
}
