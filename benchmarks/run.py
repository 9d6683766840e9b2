"""Run pybpf's benchmark suite: ``make bench`` or ``python benchmarks/run.py --help``.

The programs are benchmarks/c/*.c (objects committed; rebuild with benchmarks/c/build.sh)
plus examples/xdp_firewall; see benchmarks/pybpf_bench for how they are checked and timed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pybpf_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
