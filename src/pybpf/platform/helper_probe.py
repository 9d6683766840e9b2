"""Ask the live kernel which helpers a program type may call (a measurement tool).

Owns the probe behind the committed table in :mod:`pybpf.platform.prog_helpers_table` and its
tests: load a tiny program (``r1..r5 = 0; call <id>; r0 = 0; exit``) and classify the verifier
log. Mirrors the order of checks at the top of check_helper_call() in kernel/bpf/verifier.c:
get_helper_proto() fails with "program of this type cannot use helper" (or "unknown func" on
old kernels) when the program type's ``get_func_proto()`` returns NULL, and with "invalid func"
for an id past ``__BPF_FUNC_MAX_ID``; every later outcome — success, a GPL refusal, an
argument type error — means the program type *has* the helper.

Needs :mod:`pybpf.kernel.sys` (imported lazily, so importing this module never touches bpf()).
"""

from __future__ import annotations

import enum
import errno as _errno
import re
import struct
from dataclasses import dataclass

from pybpf.platform.attach import AttachType
from pybpf.platform.enums import ProgType

__all__ = [
    "BPF_F_SLEEPABLE",
    "LoadConfig",
    "Probe",
    "ProbeResult",
    "Verdict",
    "classify_helper_log",
    "default_config",
    "helper_call_program",
]

BPF_F_SLEEPABLE = 1 << 4
_LOG_SIZE = 1 << 16


class Verdict(enum.Enum):
    """What one probe load says about (program type, helper)."""

    ALLOWED = "allowed"  # the program type has a prototype for the helper
    DENIED = "denied"  # "program of this type cannot use helper"
    INVALID = "invalid"  # "invalid func": not a helper id of this kernel
    UNLOADABLE = "unloadable"  # the program type cannot be loaded here at all


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """How a probe program is loaded: type, ``expected_attach_type``, sleepable flag."""

    prog_type: ProgType
    attach_type: AttachType | None = None
    sleepable: bool = False

    @property
    def label(self) -> str:
        parts = [self.prog_type.name]
        if self.attach_type is not None:
            parts.append(self.attach_type.name)
        if self.sleepable:
            parts.append("sleepable")
        return "/".join(parts)


_REQUIRED_ATTACH = {
    # bpf_prog_load_check_attach() in kernel/bpf/syscall.c refuses these without one.
    ProgType.CGROUP_SOCK_ADDR: AttachType.CGROUP_INET4_CONNECT,
    ProgType.CGROUP_SOCKOPT: AttachType.CGROUP_SETSOCKOPT,
    ProgType.SK_LOOKUP: AttachType.SK_LOOKUP,
    ProgType.NETFILTER: AttachType.NETFILTER,
}


_DEFAULT_ATTACH = {
    **_REQUIRED_ATTACH,
    # bpf_prog_load_fixup_attach_type() makes 0 mean BPF_CGROUP_INET_SOCK_CREATE.
    ProgType.CGROUP_SOCK: AttachType.CGROUP_INET_SOCK_CREATE,
}


def default_config(prog_type: ProgType) -> LoadConfig:
    """The configuration the committed table uses for ``prog_type``.

    ``expected_attach_type`` is left 0 unless the kernel needs one; ``SYSCALL`` programs are
    loaded sleepable (the kernel refuses them otherwise).
    """
    return LoadConfig(
        prog_type,
        _DEFAULT_ATTACH.get(prog_type),
        sleepable=prog_type == ProgType.SYSCALL,
    )


def helper_call_program(helper_id: int) -> bytes:
    """``r1 = 0 .. r5 = 0; call helper_id; r0 = 0; exit`` as raw instructions."""

    def ins(code: int, dst: int = 0, imm: int = 0) -> bytes:
        return struct.pack("<BBhi", code, dst, 0, imm)

    mov_imm = 0xB7  # BPF_ALU64 | BPF_K | BPF_MOV
    body = b"".join(ins(mov_imm, r, 0) for r in range(1, 6))
    return body + ins(0x85, 0, helper_id) + ins(mov_imm, 0, 0) + ins(0x95)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """A verdict plus the log line behind it."""

    verdict: Verdict
    message: str
    errno: int = 0


def _verified(log: str) -> bool:
    m = re.search(r"processed (\d+) insns", log)
    return bool(m and int(m.group(1)) > 0)


def classify_helper_log(log: str) -> tuple[Verdict, str]:
    """Classify the verifier log of a helper probe (see the module docstring)."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    for line in lines:
        if "program of this type cannot use helper" in line or line.startswith("unknown func"):
            return Verdict.DENIED, line
        if line.startswith("invalid func"):
            return Verdict.INVALID, line
    tail = [ln for ln in lines if not ln.startswith("processed ") and not ln[:1].isdigit()]
    return Verdict.ALLOWED, tail[-1] if tail else ""


class Probe:
    """Loads probe programs for one :class:`LoadConfig` (``license`` is the program license)."""

    def __init__(self, config: LoadConfig, *, license: str = "GPL") -> None:
        self.config = config
        self.license = license

    def _load(self, insns: bytes) -> tuple[int, str]:
        from pybpf.errors import KernelError
        from pybpf.kernel.sys import prog_load

        cfg = self.config
        try:
            prog = prog_load(
                cfg.prog_type,
                insns,
                license=self.license,
                log_level=1,
                log_size=_LOG_SIZE,
                prog_flags=BPF_F_SLEEPABLE if cfg.sleepable else 0,
                expected_attach_type=int(cfg.attach_type or 0),
            )
        except KernelError as exc:
            return exc.errno, exc.log or ""
        log = prog.log
        prog.close()
        return 0, log

    def loadable(self) -> ProbeResult:
        """Whether programs of this configuration reach the verifier here.

        Loads ``r0 = 0; exit``: success, or a refusal after the verifier walked the program
        (e.g. a return-value range), counts; a refusal before verification (EPERM for types
        that need an attach target, EINVAL for types the kernel was built without) does not.
        """
        err, log = self._load(struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0))
        if err and not _verified(log):
            lines = log.strip().splitlines()
            return ProbeResult(Verdict.UNLOADABLE,
                               lines[0] if lines else _errno.errorcode.get(err, str(err)), err)
        return ProbeResult(Verdict.ALLOWED, "", err)

    def helper(self, helper_id: int) -> ProbeResult:
        """The verdict for calling ``helper_id``."""
        err, log = self._load(helper_call_program(helper_id))
        if err and not log.strip():
            return ProbeResult(Verdict.UNLOADABLE, _errno.errorcode.get(err, str(err)), err)
        verdict, line = classify_helper_log(log)
        return ProbeResult(verdict, line, err)
