"""Structured IR writing for the native library: locals, if/else and loops over
:class:`~pybpf.jit.irtext.FunctionText`.

Locals are ``alloca`` slots in the entry block, which LLVM's SROA turns into SSA values, so
library code reads like the C it mirrors. Not a general compiler: only what the map library
needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pybpf.jit.irtext import FunctionText, ModuleText, i64

__all__ = ["Builder", "Loop", "Var"]


@dataclass(slots=True)
class Var:
    """A local variable (an ``alloca`` of ``ty``)."""

    b: Builder
    ty: str
    slot: str

    def get(self) -> str:
        return self.b.fn.load(self.ty, self.slot)

    def set(self, value: str | int) -> None:
        self.b.fn.store(self.ty, str(value), self.slot)


@dataclass(frozen=True, slots=True)
class Loop:
    """Labels of a loop: ``head`` (re-test, continue) and ``exit`` (break)."""

    head: str
    exit: str


class Builder:
    """A function being written with structured control flow."""

    def __init__(self, module: ModuleText, name: str, ret: str,
                 params: list[tuple[str, str]], *, linkage: str = "",
                 attrs: str = "") -> None:
        self.module = module
        self.fn = module.add(FunctionText(name, ret, params, linkage=linkage, attrs=attrs))
        self.fn.start("entry")
        self._allocas = 1  # where the next alloca goes: after the entry label

    # -- values ------------------------------------------------------------------------------
    def op(self, text: str) -> str:
        return self.fn.op(text)

    def var(self, ty: str, init: str | int | None = None) -> Var:
        slot = "%" + self.fn.fresh("v")
        self.fn.lines.insert(self._allocas, f"  {slot} = alloca {ty}")
        self._allocas += 1
        v = Var(self, ty, slot)
        if init is not None:
            v.set(init)
        return v

    def ptr(self, base: str, offset: str | int) -> str:
        """``base + offset`` bytes; ``offset`` an ``i64`` value or a constant."""
        if offset == 0:
            return base
        return self.fn.gep(base, offset)

    def ld(self, ty: str, base: str, offset: str | int = 0) -> str:
        return self.fn.load(ty, self.ptr(base, offset))

    def st(self, ty: str, value: str | int, base: str, offset: str | int = 0) -> None:
        self.fn.store(ty, str(value), self.ptr(base, offset))

    def zext(self, value: str, src: str = "i32") -> str:
        return self.op(f"zext {src} {value} to i64")

    def call(self, ret: str, name: str, args: list[tuple[str, str | int]]) -> str:
        return self.fn.call(ret, f"@{name}", [(t, str(v)) for t, v in args])

    def memcpy(self, dst: str, src: str, n: str | int) -> None:
        self.module.declare("llvm.memcpy.p0.p0.i64",
                            "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)")
        size = i64(n) if isinstance(n, int) else n
        self.fn.emit(f"call void @llvm.memcpy.p0.p0.i64(ptr {dst}, ptr {src}, i64 {size}, "
                     "i1 false)")

    def memset0(self, dst: str, n: str | int) -> None:
        self.module.declare("llvm.memset.p0.i64",
                            "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
        size = i64(n) if isinstance(n, int) else n
        self.fn.emit(f"call void @llvm.memset.p0.i64(ptr {dst}, i8 0, i64 {size}, i1 false)")

    def memcmp_eq(self, a: str, b: str, n: str) -> str:
        """``i1``: the ``n`` (``i64``) bytes at ``a`` and ``b`` are equal."""
        self.module.declare("memcmp", "declare i32 @memcmp(ptr, ptr, i64)")
        return self.op(f"icmp eq i32 {self.call('i32', 'memcmp', [('ptr', a), ('ptr', b), ('i64', n)])}, 0")

    # -- control flow ---------------------------------------------------------------------------
    def ret(self, value: str | int | None = None, ty: str = "i64") -> None:
        if value is None:
            self.fn.emit("ret void")
            self.fn.terminated = True
        else:
            self.fn.ret(str(value), ty)

    @contextmanager
    def if_(self, cond: str) -> Iterator[None]:
        fn = self.fn
        then, end = fn.new_block("then"), fn.new_block("endif")
        fn.cbr(cond, then, end)
        fn.start(then)
        yield
        if not fn.terminated:
            fn.br(end)
        fn.start(end)

    @contextmanager
    def if_else(self, cond: str) -> Iterator[tuple[contextmanager, contextmanager]]:  # type: ignore[valid-type]
        fn = self.fn
        then, other, end = fn.new_block("then"), fn.new_block("else"), fn.new_block("endif")
        fn.cbr(cond, then, other)

        @contextmanager
        def branch(label: str) -> Iterator[None]:
            fn.start(label)
            yield
            if not fn.terminated:
                fn.br(end)

        yield branch(then), branch(other)
        fn.start(end)

    @contextmanager
    def loop(self) -> Iterator[Loop]:
        """``for (;;) { body }``; leave with :meth:`break_if`, re-test with ``continue_``."""
        fn = self.fn
        lp = Loop(fn.new_block("loop"), fn.new_block("done"))
        fn.br(lp.head)
        fn.start(lp.head)
        yield lp
        if not fn.terminated:
            fn.br(lp.head)
        fn.start(lp.exit)

    def break_if(self, cond: str, lp: Loop) -> None:
        fn = self.fn
        cont = fn.new_block("cont")
        fn.cbr(cond, lp.exit, cont)
        fn.start(cont)

    def continue_if(self, cond: str, lp: Loop) -> None:
        fn = self.fn
        cont = fn.new_block("cont")
        fn.cbr(cond, lp.head, cont)
        fn.start(cont)

    def return_if(self, cond: str, value: str | int | None, ty: str = "i64") -> None:
        with self.if_(cond):
            self.ret(value, ty)
