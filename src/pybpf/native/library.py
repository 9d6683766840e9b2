"""The compiled native library: one instance per process, callable from Python and from
JIT code.

:func:`library` writes the IR (:mod:`pybpf.native.htab_ir`, :mod:`pybpf.native.lru_list_ir`,
:mod:`pybpf.native.lru_ir`, :mod:`pybpf.native.mapops_ir`,
:mod:`pybpf.native.batch_ir`, :mod:`pybpf.native.helpers_ir`,
:mod:`pybpf.native.ringbuf_ir`, :mod:`pybpf.native.xdp_ir`, :mod:`pybpf.native.skb_ir`,
:mod:`pybpf.native.skb_geo_ir`, :mod:`pybpf.native.skb_room_ir`,
:mod:`pybpf.native.lpm_ir`), compiles it at ``O3`` for the
host (or takes the object from the JIT's on-disk compile cache, keyed by the IR text itself
and the host, so a change of the library never reuses a stale object), links it once and
keeps it for the life of the process, like LLVM's own target initialisation. Everything it
holds is immutable after that.

Python reaches each exported function through a ctypes prototype (:attr:`NativeLibrary.fn`);
JIT code through its address, which the runtime puts in the env block
(:mod:`pybpf.jit.abi`), so cached program objects never embed one.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pybpf.jit.cache import CachedObject, CompileCache
from pybpf.jit.compiler import NativeCode, compile_module, host_description, load_object
from pybpf.native import (
    batch_ir,
    helpers_ir,
    htab_ir,
    lpm_ir,
    lru_ir,
    mapops_ir,
    ringbuf_ir,
    skb_geo_ir,
    skb_ir,
    skb_room_ir,
    xdp_ir,
)

__all__ = ["NativeLibrary", "library"]

_CTYPES: dict[str, Any] = {
    "i64": ctypes.c_int64,
    "i32": ctypes.c_uint32,
    "ptr": ctypes.c_void_p,
    "void": None,
}
#: Functions whose i64 result is an address or a count (unsigned), not ``-errno``.
_UNSIGNED = {"pb_map_lookup", "pb_lpm_lookup", "pb_enter", "pb_ktime", "pb_prandom_u32", "pb_csum_diff",
             "pb_ringbuf_reserve", "pb_ringbuf_commit"}


@dataclass(frozen=True, slots=True)
class NativeLibrary:
    """The linked library: exported functions by name, as addresses and ctypes callables."""

    code: NativeCode
    addresses: dict[str, int]
    fn: dict[str, Callable[..., Any]]


def _prototype(name: str, ret: str, args: tuple[str, ...]) -> Any:
    restype = ctypes.c_uint64 if name in _UNSIGNED else _CTYPES[ret]
    return ctypes.CFUNCTYPE(restype, *(_CTYPES[a] for a in args))


@functools.cache
def library() -> NativeLibrary:
    """The process's native library (compiled or loaded from the cache on first use)."""
    text_module = htab_ir.build()
    lru_ir.add(text_module)
    mapops_ir.add(text_module)
    batch_ir.add(text_module)
    helpers_ir.add(text_module)
    ringbuf_ir.add(text_module)
    xdp_ir.add(text_module)
    skb_ir.add(text_module)
    lpm_ir.add(text_module)
    skb_geo_ir.add(text_module)
    skb_room_ir.add(text_module)
    text = text_module.text()
    key = hashlib.sha256(f"pybpf native library\n{host_description()}\n{text}".encode()).hexdigest()
    cache = CompileCache()
    entry = cache.get(key)
    if entry is None:
        entry = CachedObject(compile_module(text_module), ())
        cache.put(key, entry)
    code = load_object(entry.obj)
    exports = {**htab_ir.EXPORTS, **lru_ir.EXPORTS, **mapops_ir.EXPORTS, **batch_ir.EXPORTS,
               **helpers_ir.EXPORTS, **ringbuf_ir.EXPORTS, **xdp_ir.EXPORTS, **skb_ir.EXPORTS,
               **skb_geo_ir.EXPORTS, **skb_room_ir.EXPORTS, **lpm_ir.EXPORTS}
    addresses = {name: code.address(name) for name in exports}
    fns = {name: _prototype(name, ret, args)(addresses[name])
           for name, (ret, args) in exports.items()}
    return NativeLibrary(code, addresses, fns)
