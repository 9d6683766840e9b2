"""The examples load into the live kernel through pybpf's ELF loader (maps created, map
fds patched, globals filled): the kernel's verifier accepts every one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.elf import load_collection
from pybpf.kernel.sys import bpf_available

AVAILABLE, REASON = bpf_available()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not AVAILABLE, reason=f"bpf() not usable: {REASON}")]

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*/*.o"))


@pytest.mark.parametrize("obj", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_loads_into_the_kernel(obj: Path) -> None:
    from pybpf.kernel.collection import KernelCollection

    spec = load_collection(obj)
    with KernelCollection(spec) as kc:
        assert set(kc.programs) == set(spec.programs)
        assert set(kc.maps) == set(spec.maps)
