"""The on-disk compile cache: native object code keyed by everything that shaped it.

The key is a SHA-256 over the ABI version (:data:`pybpf.jit.abi.ABI_VERSION`), the pybpf,
llvmlite and LLVM versions, a digest of the code generator's own source
(:func:`codegen_fingerprint`), the host triple, CPU and features, the translation options
(checked mode, budget counting, the helper ids the runtime provides, the program's load
number when it takes function addresses) and the program's instruction bytes *after*
relocation, so the map layout (map and global-data addresses in ``lddw``) is part of it.
Generated code holds no host address (:mod:`pybpf.jit.abi`), so a hit is valid in any
process with the same key.

An entry is one file ``<key>.o``: a header line (magic and a JSON object with the function
starts) followed by the ELF object. Small text entries (``<key>.txt``) keep verifier
verdicts (:mod:`pybpf.jit.safety`). Writes go to a temporary file renamed into place, so a
crash or a concurrent writer never leaves a torn entry; an unreadable or unwritable cache is
ignored (compiling is always possible). Nothing is ever evicted: delete the directory to
reclaim space.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pybpf
from pybpf.jit.abi import ABI_VERSION
from pybpf.jit.compiler import host_description

MAGIC = b"PYBPF-JIT-OBJECT 1 "


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pybpf/jit`` (``~/.cache/pybpf/jit`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pybpf" / "jit"


#: The sources the generated code depends on (relative to the package): the translation,
#: the native library and the layouts and constants they bake in.
CODEGEN_SOURCES = ("jit", "native", "runtime/memory.py", "runtime/execstate.py",
                   "program/cfg.py")


@functools.cache
def source_digest(*names: str) -> str:
    """A digest of pybpf's own source files ``names`` (package-relative files or folders),
    computed once per process: what a cache entry made by that code is valid for."""
    root = Path(pybpf.__file__).parent
    h = hashlib.sha256()
    for name in names:
        path = root / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(file.relative_to(root).as_posix().encode())
            h.update(file.read_bytes())
    return h.hexdigest()


def codegen_fingerprint() -> str:
    """A digest of :data:`CODEGEN_SOURCES`: an object compiled by other code generation is
    never reused, even under the same version number."""
    return source_digest(*CODEGEN_SOURCES)


def cache_key(program: bytes, options: Sequence[object]) -> str:
    """The key of ``program`` (instruction bytes) compiled with ``options``."""
    h = hashlib.sha256()
    h.update(f"abi {ABI_VERSION} pybpf {pybpf.__version__} {host_description()}\n".encode())
    h.update(f"codegen {codegen_fingerprint()}\n".encode())
    h.update(repr(tuple(options)).encode())
    h.update(b"\n")
    h.update(program)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class CachedObject:
    """A cache entry: the object code and the start pcs of its functions (entry first)."""

    obj: bytes
    function_starts: tuple[int, ...]


class CompileCache:
    """A directory of compiled objects (see the module docstring)."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.o"

    def get(self, key: str) -> CachedObject | None:
        """The entry for ``key``, or None (missing or unreadable)."""
        try:
            data = self.path(key).read_bytes()
        except OSError:
            return None
        newline = data.find(b"\n")
        if not data.startswith(MAGIC) or newline < 0:
            return None
        try:
            meta = json.loads(data[len(MAGIC) : newline])
            starts = tuple(int(s) for s in meta["functions"])
        except (ValueError, KeyError, TypeError):
            return None
        return CachedObject(data[newline + 1 :], starts)

    def put(self, key: str, entry: CachedObject) -> None:
        """Store ``entry`` under ``key`` (best effort)."""
        header = MAGIC + json.dumps({"functions": list(entry.function_starts)}).encode() + b"\n"
        self._write(self.path(key), header + entry.obj)

    def get_text(self, key: str) -> str | None:
        """A small text entry (a verifier verdict), or None."""
        try:
            return (self.directory / f"{key}.txt").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def put_text(self, key: str, text: str) -> None:
        """Store a small text entry (best effort)."""
        self._write(self.directory / f"{key}.txt", text.encode())

    def _write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` through a temporary file renamed into place."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=path.suffix)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            pass
