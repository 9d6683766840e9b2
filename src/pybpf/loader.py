"""``pybpf.load()``: an object file (or a spec) to live maps and programs on a backend."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pybpf.errors import NotSupportedError
from pybpf.program.spec import CollectionSpec
from pybpf.runtime.collection import Collection
from pybpf.runtime.execstate import Helper

BACKENDS = ("interp", "jit")


def runtime_helpers() -> dict[int, Helper]:
    """The userspace helper implementations (:mod:`pybpf.runtime.helpers`)."""
    try:
        from pybpf.runtime.helpers import default_helpers
    except ImportError:  # pragma: no cover - the helper package is being built
        return {}
    return default_helpers()


def load(
    source: str | Path | bytes | CollectionSpec,
    *,
    backend: str = "interp",
    ncpus: int | None = None,
    entries: Iterable[str] = (),
) -> Collection:
    """Load a clang-compiled object (path or bytes) or a CollectionSpec onto ``backend``.

    >>> obj = pybpf.load("firewall.o")          # doctest: +SKIP
    >>> obj.maps["counters"][1]                  # doctest: +SKIP
    >>> obj.program("xdp").test_run(data=frame)  # doctest: +SKIP

    ``entries`` names ``.text`` functions to load as programs of their own (raw ``mem`` type).
    """
    if isinstance(source, CollectionSpec):
        spec = source
    else:
        from pybpf.elf import load_collection

        spec = load_collection(source, entries=entries)
    if backend not in BACKENDS:
        raise NotSupportedError(f"backend '{backend}' is not available (have: {', '.join(BACKENDS)})")
    if backend == "jit":
        from pybpf.jit import JIT

        return Collection(spec, JIT(helpers=runtime_helpers()), ncpus=ncpus)
    from pybpf.interp import Interpreter

    return Collection(spec, Interpreter(helpers=runtime_helpers()), ncpus=ncpus)
