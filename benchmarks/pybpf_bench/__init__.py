"""pybpf's benchmark suite: the same eBPF objects on the interpreter, the JIT, the live
kernel (BPF_PROG_TEST_RUN) and compiled natively with gcc.

Run with ``make bench`` or ``python benchmarks/run.py --help``. Modules: :mod:`.inputs`
(deterministic inputs), :mod:`.reference` (the answers, computed in plain Python),
:mod:`.programs` (the registry), :mod:`.backends` and :mod:`.native` (one runner per
backend), :mod:`.measure` (checking and interleaved timing), :mod:`.report` (table,
JSON, chart) and :mod:`.cli`.
"""
