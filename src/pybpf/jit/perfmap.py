"""Name JIT code for Linux ``perf``: the ``/tmp/perf-<pid>.map`` symbol map.

``perf record`` samples JIT code as bare addresses; ``perf report`` names them from a text
file ``/tmp/perf-<pid>.map`` of ``START SIZE name`` lines (hexadecimal, no ``0x``), the
convention of the JIT runtimes perf knows (V8's ``--perf-basic-prof``, CPython's
``PYTHONPERFSUPPORT``, the JVM's perf-map-agent). With the environment variable
``PYBPF_PERF_MAP=1`` every object the JIT links (programs, the native library) appends its
functions there: a program's as ``bpf:<program>:f<pc>`` (the eBPF pc its function starts
at), the library's under their own names (``pb_map_lookup``...).

The entries come from the object's own symbol table (pyelftools), offset by where MCJIT
put each function. Off by default: the file is only ever appended to, like the other
runtimes' maps, and lives as long as ``/tmp``.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from pybpf.errors import JITError

__all__ = ["ENV", "enabled", "map_path", "record", "symbols"]

#: Setting this environment variable to ``1`` turns the map on.
ENV = "PYBPF_PERF_MAP"


def enabled() -> bool:
    """Whether :data:`ENV` asks for a perf map."""
    return os.environ.get(ENV, "") not in ("", "0")


def map_path(pid: int | None = None) -> Path:
    """The map file perf reads for process ``pid`` (this one by default)."""
    return Path(f"/tmp/perf-{os.getpid() if pid is None else pid}.map")


def symbols(obj: bytes) -> Iterator[tuple[str, int]]:
    """The defined functions of ELF object ``obj``: (name, size)."""
    try:
        elf = ELFFile(io.BytesIO(obj))
        tables = [s for s in elf.iter_sections() if isinstance(s, SymbolTableSection)]
    except ELFError:
        return
    for table in tables:
        for sym in table.iter_symbols():
            if sym["st_info"]["type"] == "STT_FUNC" and sym["st_shndx"] != "SHN_UNDEF":
                yield sym.name, int(sym["st_size"])


def record(obj: bytes, address: Callable[[str], int], label: str | None) -> None:
    """Append the functions of linked object ``obj`` to this process's map; ``address``
    gives a symbol's host address, ``label`` (a program's name) prefixes eBPF functions."""
    lines = []
    for name, size in symbols(obj):
        try:
            start = address(name)
        except JITError:  # a symbol MCJIT does not resolve: left unnamed
            continue
        shown = f"bpf:{label}:{name.removeprefix('bpf_')}" if label is not None else name
        lines.append(f"{start:x} {max(size, 1):x} {shown}\n")
    if not lines:
        return
    try:
        with map_path().open("a", encoding="ascii", errors="replace") as out:
            out.writelines(lines)
    except OSError as exc:  # a profiling aid: the program still loads and runs
        warnings.warn(f"pybpf: cannot write the perf map {map_path()}: {exc.strerror}",
                      RuntimeWarning, stacklevel=2)
