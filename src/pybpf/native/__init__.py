"""Native code shared by the runtime and the JIT: the map library.

The hash, LRU-hash and per-CPU hash maps keep their index (buckets, element records, the
free and grace-period lists, the LRU lists) in memory owned by the map, and every operation
on it is one function of a small LLVM IR library (:mod:`pybpf.native.htab_ir`), compiled once per process
(and cached on disk) by :mod:`pybpf.native.library`. Python calls those functions through
ctypes; JIT-compiled programs call the very same code through the addresses in their env
block. So there is one implementation of each map operation, and a map filled from Python is
read by native code (and the reverse) without any copy.

Modules: :mod:`~pybpf.native.layout` (the structures both sides share),
:mod:`~pybpf.native.irkit` (structured IR writing), :mod:`~pybpf.native.htab_ir` (the hash
table), :mod:`~pybpf.native.lru_list_ir` and :mod:`~pybpf.native.lru_ir` (the LRU lists
of LRU hash maps), :mod:`~pybpf.native.mapops_ir` (lookup, update, delete),
:mod:`~pybpf.native.helpers_ir` (clock, PRNG, checksum difference),
:mod:`~pybpf.native.batch_ir` (the entry trampoline and the run loops),
:mod:`~pybpf.native.library` (compile, cache, link, ctypes prototypes).
"""
