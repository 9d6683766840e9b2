"""One timing sample of a benchmark on pybpf's JIT, in a process of its own:
``python -m pybpf_bench.sample jit NAME REPEAT`` prints ``{"ns_per_run": ..., "instructions":
...}`` (see :class:`pybpf_bench.backends.FreshJitRunner`)."""

from __future__ import annotations

import json
import sys

from .backends import PybpfRunner
from .programs import select


def main(argv: list[str]) -> int:
    backend, name, repeat = argv
    (bench,) = select([name])
    frames = bench.frames()
    runner = PybpfRunner(bench, frames, bench.timing_frames(frames), backend)
    timing = runner.time(int(repeat))
    print(json.dumps({"ns_per_run": timing.ns_per_run, "instructions": timing.instructions}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
