"""The live kernel as an oracle for the verifier's unit tests.

``kernel_verdict()`` loads a program with ``BPF_PROG_LOAD`` and returns the verdict and the
log; tests that need it are skipped when bpf() is not available (not root, no kernel).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pybpf.errors import KernelError
from pybpf.isa import Instruction, encode

try:
    from pybpf.kernel.sys import bpf_available, prog_load
except ImportError:  # pragma: no cover
    bpf_available = None  # type: ignore[assignment]

SOCKET_FILTER = 1


def kernel_available() -> bool:
    try:
        return bool(bpf_available and bpf_available()[0])
    except Exception:  # pragma: no cover
        return False


needs_kernel = pytest.mark.skipif(not kernel_available(), reason="bpf() not available")


def kernel_verdict(insns: Sequence[Instruction], prog_type: int = SOCKET_FILTER,
                   log_level: int = 2, **kw: object) -> tuple[bool, str]:
    """(accepted, log) from the live kernel."""
    try:
        fd = prog_load(prog_type, encode(insns), log_level=log_level, **kw)  # type: ignore[arg-type]
    except KernelError as exc:
        return False, exc.log
    log = fd.log
    fd.close()
    return True, log
