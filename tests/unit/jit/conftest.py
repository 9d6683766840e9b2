"""Shared by the JIT tests: backends with a private compile cache, and the reference check
"the JIT does what the interpreter does" (same r0, instruction count and memory, or the same
exception with the same message, pc and address)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pybpf.errors import PybpfError
from pybpf.interp import Interpreter
from pybpf.isa import Instruction
from pybpf.jit import JIT
from pybpf.runtime.execstate import DEFAULT_BUDGET

Outcome = tuple[Any, ...]


def outcome_of(run: Callable[[], Any]) -> Outcome:
    """``("ok", r0, instructions, memory)`` or ``("error", type, message, pc, address)``."""
    try:
        result = run()
    except PybpfError as exc:
        return ("error", type(exc).__name__, str(exc), getattr(exc, "pc", None),
                getattr(exc, "address", None))
    return ("ok", result.retval, result.instructions, result.memory)


@pytest.fixture(scope="session")
def jit(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., JIT]:
    """``jit(**options)``: a new JIT whose cache lives in the session's temporary directory,
    counting the interpreter's budget unless told otherwise (instruction counts compare)."""
    cache_dir = tmp_path_factory.mktemp("jit-cache")

    def make(**kw: Any) -> JIT:
        kw.setdefault("cache_dir", cache_dir)
        kw.setdefault("budget", DEFAULT_BUDGET)
        return JIT(**kw)

    return make


@pytest.fixture(scope="session")
def same(jit: Callable[..., JIT]) -> Callable[..., Outcome]:
    """``same(insns, mem=..., **backend_options)``: run on both backends, assert equal
    outcomes, return the JIT's."""

    def check(insns: Sequence[Instruction], mem: bytes | None = None, **kw: Any) -> Outcome:
        def on(backend: Any) -> Outcome:
            def go() -> Any:
                return backend.load(list(insns)).run_mem(mem)

            return outcome_of(go)

        expected = on(Interpreter(**kw))
        got = on(jit(**kw))
        assert got == expected
        return got

    return check
