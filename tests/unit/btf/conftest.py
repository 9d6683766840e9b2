"""Session fixtures for the BTF tests."""

from __future__ import annotations

import os

import pytest
from btf_testdata import load

from pybpf.btf import VMLINUX_PATH, Btf, BtfExt


@pytest.fixture(scope="session")
def types_btf() -> tuple[Btf, BtfExt]:
    return load("types")


@pytest.fixture(scope="session")
def vmlinux() -> Btf:
    if not os.path.exists(VMLINUX_PATH):
        pytest.skip(f"{VMLINUX_PATH} is missing (kernel without CONFIG_DEBUG_INFO_BTF)")
    return Btf.load_vmlinux()
