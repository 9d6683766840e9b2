"""The BTF-generated platform modules are what tools/gen_btf_tables.py makes of this kernel.

``attach.py`` (enum bpf_attach_type), ``helper_types.py`` (enum bpf_arg_type /
bpf_return_type / bpf_reg_type / bpf_type_flag) and ``ctx_layouts.py`` (context struct
layouts) are regenerated from ``/sys/kernel/btf/vmlinux`` and compared byte for byte, except
the header line naming the kernel build they were read from (builds of one release differ
only there). Skips unless the running kernel is the release the tables were made on and
exposes its BTF.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from platform_live import KERNEL_SKIP

ROOT = Path(__file__).resolve().parents[3]
VMLINUX = Path("/sys/kernel/btf/vmlinux")
_BUILD = re.compile(r"\(Linux [^)]*\)")


def _without_build(text: str) -> str:
    """The module with the ``(Linux 6.18.44-...)`` of its header blanked."""
    return _BUILD.sub("(Linux)", text, count=1)


@pytest.mark.skipif(KERNEL_SKIP is not None, reason=KERNEL_SKIP or "")
@pytest.mark.skipif(not VMLINUX.exists(), reason="no /sys/kernel/btf/vmlinux")
@pytest.mark.parametrize(("what", "module"), [
    ("attach", "attach"), ("types", "helper_types"), ("ctx", "ctx_layouts"),
])
def test_btf_generated_module_is_up_to_date(what: str, module: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools/gen_btf_tables.py"), what],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout
    committed = (ROOT / "src/pybpf/platform" / f"{module}.py").read_text()
    assert _without_build(out) == _without_build(committed), (
        f"src/pybpf/platform/{module}.py is stale: "
        f"python3 tools/gen_btf_tables.py {what} > src/pybpf/platform/{module}.py")
