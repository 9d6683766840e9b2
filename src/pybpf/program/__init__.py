"""Programs as data: :class:`ProgramSpec`, the control-flow graph and the sub-program split."""

from pybpf.program.cfg import BasicBlock, Function, split_functions
from pybpf.program.spec import ProgramSpec

__all__ = ["BasicBlock", "Function", "ProgramSpec", "split_functions"]
