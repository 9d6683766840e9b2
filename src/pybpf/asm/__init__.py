"""Assembly text <-> instructions, in the uBPF / conformance syntax and the kernel / LLVM one.

* :func:`assemble` reads either syntax (or a mix, with ``syntax="auto"``), resolves labels and
  reports errors as :class:`~pybpf.errors.AssembleError` with line and column.
* :func:`format_insn` / :func:`disassemble` print instructions as ``llvm-objdump-19 -d`` does
  (``"llvm"``), in the conformance syntax that assembles back (``"ubpf"``), or as the kernel's
  verifier log (``"kernel"``).
"""

from pybpf.asm.assembler import assemble
from pybpf.asm.disassembler import SYNTAXES, disassemble, format_insn

__all__ = ["SYNTAXES", "assemble", "disassemble", "format_insn"]
