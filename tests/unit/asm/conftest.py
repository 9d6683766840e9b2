"""Fixtures for the assembler tests: the instruction grid and the LLVM tools."""

from __future__ import annotations

import pytest
from asm_grid import instruction_grid, missing_llvm_tools

from pybpf.isa import Instruction


@pytest.fixture(scope="session")
def grid() -> list[Instruction]:
    return instruction_grid()


@pytest.fixture(scope="session")
def llvm_tools() -> None:
    missing = missing_llvm_tools()
    if missing:
        pytest.skip(f"needs the Debian llvm-19 tools; missing: {', '.join(missing)}")
