"""The native backend: eBPF -> LLVM IR -> host machine code, through llvmlite.

:class:`JIT` has the interpreter's interface (``load(spec) -> JITProgram`` with ``run``,
``run_mem``, ``test_run``, ``run_batch``, ``state``, ``memory``, ``entry``) and runs on the
same memory, so interpreter, JIT and kernel results compare directly. Modules, in data-flow
order:

* :mod:`~pybpf.jit.abi` — the contract between native code and Python (``NativeEnv``, ``rt``);
* :mod:`~pybpf.jit.regions` — the host-address table of memory regions;
* :mod:`~pybpf.jit.safety` — which programs are verified and run without bounds checks;
* :mod:`~pybpf.jit.provenance` — verified code's direct addressing: each register's region;
* :mod:`~pybpf.jit.budget` — where verified code tests a requested instruction budget;
* :mod:`~pybpf.jit.irtext`, :mod:`~pybpf.jit.frame`, :mod:`~pybpf.jit.lower_alu`,
  :mod:`~pybpf.jit.lower_mem`, :mod:`~pybpf.jit.lower_direct`, :mod:`~pybpf.jit.lower_maps`,
  :mod:`~pybpf.jit.lower_helpers`,
  :mod:`~pybpf.jit.translate` — eBPF functions to LLVM IR (map operations and the hot
  helpers in native code, through the native library :mod:`pybpf.native`);
* :mod:`~pybpf.jit.compiler` — compile tiers (O3, light), object code, MCJIT linking;
* :mod:`~pybpf.jit.cache` — the on-disk compile cache (objects and verifier verdicts);
* :mod:`~pybpf.jit.tiering` — compile jobs, the background O3 compile of large programs;
* :mod:`~pybpf.jit.runtime` — the Python side of native execution;
* :mod:`~pybpf.jit.batch` — ``run_batch`` and ``test_run(repeat=...)`` looped natively;
* :mod:`~pybpf.jit.machine` — the backend and its loaded programs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pybpf.jit.machine import JIT, JITProgram

__all__ = ["JIT", "JITProgram"]


def __getattr__(name: str) -> Any:
    """``JIT`` and ``JITProgram``, imported on first use: the code generation modules
    (:mod:`~pybpf.jit.compiler`, :mod:`~pybpf.jit.cache`) are used by the runtime's native
    library without the backend."""
    if name in __all__:
        from pybpf.jit import machine

        return getattr(machine, name)
    raise AttributeError(f"module 'pybpf.jit' has no attribute '{name}'")
