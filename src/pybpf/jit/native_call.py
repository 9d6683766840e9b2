"""How compiled code calls a helper it can do natively: the native path where its
condition holds, the Python helper otherwise (:func:`native_or_python`), and the region-table
row that says which native object a pointer argument points at (:func:`row_of`).

Used by the helper lowerings (:mod:`pybpf.jit.lower_helpers`,
:mod:`pybpf.jit.lower_ctx_helpers`, :mod:`pybpf.jit.lower_redirect`) and by ``LD_ABS``/``LD_IND`` (:mod:`pybpf.jit.lower_packet`).
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.jit.abi import ROW_OFFSETS
from pybpf.jit.frame import Frame
from pybpf.jit.irtext import LIKELY, TBAA_TABLE, UNLIKELY
from pybpf.jit.lower_mem import row_index
from pybpf.native.layout import NativeKind

__all__ = ["native_or_python", "row_of"]


def row_of(f: Frame, addr: str, kind: NativeKind) -> tuple[str, str]:
    """``(ok, row)``: whether the region-table row of ``addr`` points at a native object of
    ``kind``, and the row."""
    fn = f.fn
    inside, row = row_index(f, addr)
    found = fn.load("i32", fn.gep(row, ROW_OFFSETS["kind"]), tbaa=TBAA_TABLE)
    return fn.op(f"and i1 {inside}, {fn.op(f'icmp eq i32 {found}, {int(kind)}')}"), row


def native_or_python(f: Frame, ok: str, native: Callable[[], tuple[str, str | None]],
                      python: Callable[[], str]) -> str:
    """r0 of ``native()`` where ``ok`` holds, else (or where the failure condition
    ``native()`` returns holds) of ``python()``."""
    fn = f.fn
    go, slow, done = fn.new_block("native"), fn.new_block("helper_py"), fn.new_block("helper_done")
    fn.cbr(ok, go, slow, LIKELY)
    fn.start(go)
    value, failed = native()
    if failed is None:
        fn.br(done)
    else:
        fn.cbr(failed, slow, done, UNLIKELY)
    native_end = fn.block
    fn.start(slow)
    other = python()
    slow_end = fn.block
    fn.br(done)
    fn.start(done)
    return fn.phi("i64", [(value, native_end), (other, slow_end)])
