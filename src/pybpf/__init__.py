"""pybpf: eBPF implemented in Python.

The instruction set (:mod:`pybpf.isa`), assembler and disassembler (:mod:`pybpf.asm`), the
reference interpreter (:mod:`pybpf.interp`) over checked memory (:mod:`pybpf.runtime`), and a
thin bpf() syscall layer (:mod:`pybpf.kernel.sys`). The Linux kernel is the authority on every
behaviour.
"""

__version__ = "0.1.0"

from pybpf.loader import load  # noqa: E402

__all__ = ["__version__", "load"]
