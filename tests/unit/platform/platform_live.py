"""Shared switches and kernel helpers for the platform-table tests (imported by name).

Kernel-backed tests compare the committed tables with the running kernel. They skip (with the
reason) when bpf() is unusable here or when the running kernel is not the release the tables
were measured on; ``PYBPF_PLATFORM_FULL=1`` turns on the exhaustive checks (every
program type × helper id, every in-kernel prototype read back from kernel memory).
"""

from __future__ import annotations

import os
import platform

import pytest

from pybpf.platform.prog_helpers_table import KERNEL_RELEASE


def _major_minor(release: str) -> str:
    return ".".join(release.split(".")[:2])


def kernel_skip_reason() -> str | None:
    """Why kernel comparisons cannot run here (None: they can)."""
    try:
        from pybpf.kernel.sys import bpf_available
    except ImportError as exc:  # pragma: no cover - broken install
        return f"pybpf.kernel.sys unavailable: {exc}"
    ok, reason = bpf_available()
    if not ok:
        return f"bpf() unusable: {reason}"
    if _major_minor(platform.release()) != _major_minor(KERNEL_RELEASE):
        return (f"tables were measured on Linux {KERNEL_RELEASE}, this is "
                f"{platform.release()}")
    return None


KERNEL_SKIP = kernel_skip_reason()
FULL = os.environ.get("PYBPF_PLATFORM_FULL", "") not in ("", "0")

needs_kernel = pytest.mark.skipif(KERNEL_SKIP is not None, reason=KERNEL_SKIP or "")
needs_full = pytest.mark.skipif(
    not FULL, reason="exhaustive kernel check: set PYBPF_PLATFORM_FULL=1"
)
