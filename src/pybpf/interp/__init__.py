"""The reference interpreter: the executable definition of eBPF semantics in pybpf."""

from pybpf.interp.machine import InterpProgram, Interpreter, RunResult

__all__ = ["InterpProgram", "Interpreter", "RunResult"]
