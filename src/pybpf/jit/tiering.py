"""Compile jobs and tiered compilation: a large program runs first on quickly compiled code
while LLVM's O3 code for it is compiled in the background.

A :class:`CompileJob` is everything one compile needs (instructions, translation options, the
tier of :mod:`pybpf.jit.compiler`, the cache): plain data that any thread can run, returning
the object code from the cache or from LLVM (and storing it there).

:class:`Upgrade` runs the O3 job of a program that was loaded on the light tier in a
background thread — after the verifier, when the verdict was not known yet, since unchecked code is only
ever compiled for an accepted program (:mod:`pybpf.jit.safety`). LLVM releases the GIL while
it works, so the program runs meanwhile; the loaded program switches to the new code at the
start of its next run (:meth:`pybpf.jit.machine.JITProgram.upgrade`). Results never depend
on the tier: both compile the same translation, only LLVM's effort differs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from pybpf.isa import Instruction, encode
from pybpf.jit.cache import CachedObject, CompileCache, cache_key
from pybpf.jit.compiler import FULL, Tier, compile_module
from pybpf.jit.translate import Options, translate
from pybpf.program.cfg import split_functions

__all__ = ["CompileJob", "Upgrade"]


@dataclass(frozen=True, slots=True)
class CompileJob:
    """One program compiled with ``options`` at ``tier`` (see the module docstring)."""

    insns: tuple[Instruction, ...]
    name: str
    options: Options
    tier: Tier = FULL
    function_pointers: bool = False
    cache: CompileCache | None = None

    def key(self) -> str:
        o = self.options
        return cache_key(encode(self.insns), (
            o.checked, o.count_budget, o.number, tuple(sorted(o.helpers)),
            tuple(sorted(o.native_maps)), o.maps, o.compact, o.stack_exposed, o.packet,
            o.context_accesses, self.tier))

    def cached(self) -> CachedObject | None:
        return self.cache.get(self.key()) if self.cache is not None else None

    def run(self) -> tuple[CachedObject, bool]:
        """The object code and whether it came from the cache."""
        key = self.key()
        entry = self.cache.get(key) if self.cache is not None else None
        if entry is not None:
            return entry, True
        functions = split_functions(self.insns)
        module = translate(functions, self.options, name=self.name or "bpf",
                           function_pointers=self.function_pointers)
        entry = CachedObject(compile_module(module, tier=self.tier),
                             tuple(f.start for f in functions))
        if self.cache is not None:
            self.cache.put(key, entry)
        return entry, False

    def with_options(self, **changes: object) -> CompileJob:
        return replace(self, options=replace(self.options, **changes))  # type: ignore[arg-type]


class Upgrade:
    """The better code of a program, compiled in a background thread."""

    def __init__(self, make: Callable[[], tuple[CachedObject, bool, bool]]) -> None:
        """``make()`` returns the object code, whether it came from the cache and whether it
        is bounds-checked."""
        self._make = make
        self.result: tuple[CachedObject, bool, bool] | None = None
        self.error: BaseException | None = None
        # not a daemon: the interpreter waits for it at exit rather than tearing LLVM
        # down under a compile in progress
        self._thread = threading.Thread(target=self._run, name="pybpf-jit-upgrade",
                                        daemon=False)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._make()
        except BaseException as exc:  # noqa: BLE001 - reported by take()
            self.error = exc

    @property
    def ready(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the compile; True when it is done."""
        self._thread.join(timeout)
        return self.ready
