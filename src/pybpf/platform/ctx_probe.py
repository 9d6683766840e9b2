"""Ask the live kernel whether a context access is allowed (a measurement tool for tests).

Loads ``r2 = *(uN *)(r1 + off)`` (or ``*(uN *)(r1 + off) = r2`` with ``r2 = 0``) with
``log_level = 2`` and reads the verdict from the log: refused iff check_ctx_access() printed
``invalid bpf_context access``; otherwise the state printed after the load says what the
register became (``R2=pkt(r=0)``, ``R2_w=scalar()``, ``R2=sock_common_or_null(id=1)``).
Needs :mod:`pybpf.kernel.sys` (imported lazily).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from pybpf.platform.helper_probe import BPF_F_SLEEPABLE, LoadConfig
from pybpf.platform.helper_types import RegType, TypeFlag

__all__ = ["CtxVerdict", "ctx_access_program", "parse_reg_type", "probe_ctx_access"]

_LDX = {1: 0x71, 2: 0x69, 4: 0x61, 8: 0x79}  # BPF_LDX | BPF_MEM | size
_LDSX = {1: 0x91, 2: 0x89, 4: 0x81}  # BPF_LDX | BPF_MEMSX | size
_STX = {1: 0x73, 2: 0x6B, 4: 0x63, 8: 0x7B}  # BPF_STX | BPF_MEM | size

_BASES = {
    "scalar": RegType.SCALAR_VALUE,
    "ctx": RegType.PTR_TO_CTX,
    "pkt": RegType.PTR_TO_PACKET,
    "pkt_meta": RegType.PTR_TO_PACKET_META,
    "pkt_end": RegType.PTR_TO_PACKET_END,
    "flow_keys": RegType.PTR_TO_FLOW_KEYS,
    "sock": RegType.PTR_TO_SOCKET,
    "sock_common": RegType.PTR_TO_SOCK_COMMON,
    "tcp_sock": RegType.PTR_TO_TCP_SOCK,
    "tp_buffer": RegType.PTR_TO_TP_BUFFER,
    "xdp_sock": RegType.PTR_TO_XDP_SOCK,
    "map_value": RegType.PTR_TO_MAP_VALUE,
    "map_key": RegType.PTR_TO_MAP_KEY,
    "map_ptr": RegType.CONST_PTR_TO_MAP,
    "fp": RegType.PTR_TO_STACK,
    "mem": RegType.PTR_TO_MEM,
}
_PREFIXES = {
    "trusted_": TypeFlag.PTR_TRUSTED,
    "untrusted_": TypeFlag.PTR_UNTRUSTED,
    "rdonly_": TypeFlag.MEM_RDONLY,
    "rcu_": TypeFlag.MEM_RCU,
}


def parse_reg_type(token: str) -> int | None:
    """A register type as the verifier log prints it (``sock_or_null``) → raw kernel value."""
    if re.fullmatch(r"-?\d+|0x[0-9a-f]+", token):
        return RegType.SCALAR_VALUE  # a known constant
    flags = TypeFlag.NONE
    if token.endswith("_or_null"):
        flags |= TypeFlag.PTR_MAYBE_NULL
        token = token[: -len("_or_null")]
    changed = True
    while changed:
        changed = False
        for prefix, flag in _PREFIXES.items():
            if token.startswith(prefix):
                flags |= flag
                token = token[len(prefix) :]
                changed = True
    if token in _BASES:
        return int(_BASES[token]) | int(flags)
    if token.startswith("ptr_"):
        return int(RegType.PTR_TO_BTF_ID) | int(flags)
    return None


def ctx_access_program(off: int, size: int, write: bool, *, ldsx: bool = False) -> bytes:
    """The probe program for one access."""

    def ins(code: int, dst: int = 0, src: int = 0, o: int = 0, imm: int = 0) -> bytes:
        return struct.pack("<BBhi", code, (src << 4) | dst, o, imm)

    if write:
        body = ins(0xB7, 2) + ins(_STX[size], 1, 2, off)
    else:
        body = ins((_LDSX if ldsx else _LDX)[size], 2, 1, off)
    return body + ins(0xB7, 0) + ins(0x95)


@dataclass(frozen=True, slots=True)
class CtxVerdict:
    """The kernel's answer: ``accepted``, and for an accepted load the register type."""

    accepted: bool
    reg_type: int | None
    message: str


_STATE = re.compile(r"\bR2(?:_w)?=([A-Za-z_]+|-?\d+|0x[0-9a-f]+)")


def probe_ctx_access(
    config: LoadConfig, off: int, size: int, write: bool, *, ldsx: bool = False
) -> CtxVerdict:
    """Load the probe for one access under ``config`` and classify the verifier log."""
    from pybpf.errors import KernelError
    from pybpf.kernel.sys import prog_load

    try:
        prog = prog_load(
            config.prog_type,
            ctx_access_program(off, size, write, ldsx=ldsx),
            log_level=2,
            log_size=1 << 16,
            prog_flags=BPF_F_SLEEPABLE if config.sleepable else 0,
            expected_attach_type=int(config.attach_type or 0),
        )
        log = prog.log
        prog.close()
    except KernelError as exc:
        log = exc.log or ""
    for line in log.splitlines():
        if "invalid bpf_context access" in line:
            return CtxVerdict(False, None, line.strip())
    reg = None
    if not write:
        for line in log.splitlines():
            if line.startswith("0: (") and ";" in line:
                m = _STATE.search(line.split(";", 1)[1])
                if m:
                    reg = parse_reg_type(m.group(1))
                break
    return CtxVerdict(True, reg, "")
