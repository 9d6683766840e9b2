"""Shared by the example tests: paths, frames, and running one program in the kernel."""

from __future__ import annotations

from pathlib import Path

from pybpf.elf import load_collection
from pybpf.kernel.sys import bpf_available

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
KERNEL_OK, KERNEL_REASON = bpf_available()


def example(path: str) -> Path:
    return EXAMPLES / path


def spec_of(path: str):  # type: ignore[no-untyped-def]
    return load_collection(example(path))


def kernel_collection(path: str):  # type: ignore[no-untyped-def]
    from pybpf.kernel.collection import KernelCollection

    return KernelCollection(spec_of(path))
