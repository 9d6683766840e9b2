"""LLVM IR as text, written directly: a minimal builder for the JIT's code generators.

llvmlite's ``ir`` module builds an object graph and formats it; for the JIT's volume of code
(ten IR instructions per eBPF instruction) that costs more than LLVM's own parsing. These
writers append lines instead: a value is the text of an SSA operand (``"%t12"``,
``"42"``), a block is its label, and :meth:`FunctionText.text` joins the lines once. The
caller is responsible for types (everything the JIT computes is ``i64`` unless named).

Not modelled: anything the JIT does not emit (vectors, floating point, exceptions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

#: Branch weights "the first successor is taken" / "is not taken" (``!prof`` metadata).
LIKELY = "!1"
UNLIKELY = "!2"
#: TBAA tags: program memory (what eBPF loads and stores touch) and runtime tables (the
#: region table, the env block), which program stores can never change.
TBAA_PROGRAM = "!10"
TBAA_TABLE = "!11"

_METADATA = """\
!1 = !{!"branch_weights", i32 1048576, i32 1}
!2 = !{!"branch_weights", i32 1, i32 1048576}
!3 = !{!"pybpf tbaa"}
!4 = !{!"program memory", !3, i64 0}
!5 = !{!"runtime table", !3, i64 0}
!10 = !{!4, !4, i64 0}
!11 = !{!5, !5, i64 0}
"""


def i64(value: int) -> str:
    """An ``i64`` constant (any Python int, taken modulo 2**64, printed signed)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return str(value - (1 << 64) if value >> 63 else value)


def iconst(value: int, bits: int) -> str:
    """An ``i<bits>`` constant."""
    value &= (1 << bits) - 1
    return str(value - (1 << bits) if value >> (bits - 1) else value)


class FunctionText:
    """One function being written: its lines, fresh names and the current block."""

    def __init__(self, name: str, ret: str, params: Sequence[tuple[str, str]], *,
                 linkage: str = "", attrs: str = "") -> None:
        self.name = name
        self.ret_type = ret
        self.params = [f"{ty} %{pname}" for ty, pname in params]
        self.linkage = linkage
        self.attrs = attrs
        self.lines: list[str] = []
        self._count = 0
        self.block = ""
        self.terminated = True

    # -- names ---------------------------------------------------------------------------------
    def fresh(self, hint: str = "t") -> str:
        self._count += 1
        return f"{hint}{self._count}"

    def new_block(self, hint: str = "b") -> str:
        """A fresh label (the block starts when :meth:`start` is called with it)."""
        return self.fresh(hint)

    def start(self, label: str) -> None:
        """Begin block ``label``; the previous block must be terminated."""
        assert self.terminated, f"block {self.block} of {self.name} falls into {label}"
        self.lines.append(f"{label}:")
        self.block = label
        self.terminated = False

    # -- instructions ----------------------------------------------------------------------
    def op(self, text: str, hint: str = "t") -> str:
        """``%new = <text>``; returns ``%new``."""
        name = "%" + self.fresh(hint)
        self.lines.append(f"  {name} = {text}")
        return name

    def emit(self, text: str) -> None:
        """An instruction without a result (store, call void...)."""
        self.lines.append(f"  {text}")

    def br(self, label: str) -> None:
        self.lines.append(f"  br label %{label}")
        self.terminated = True

    def cbr(self, cond: str, then: str, other: str, weights: str | None = None) -> None:
        prof = f", !prof {weights}" if weights else ""
        self.lines.append(f"  br i1 {cond}, label %{then}, label %{other}{prof}")
        self.terminated = True

    def switch(self, ty: str, value: str, default: str, cases: Iterable[tuple[str, str]]) -> None:
        body = " ".join(f"{ty} {c}, label %{lbl}" for c, lbl in cases)
        self.lines.append(f"  switch {ty} {value}, label %{default} [ {body} ]")
        self.terminated = True

    def ret(self, value: str, ty: str = "i64") -> None:
        self.lines.append(f"  ret {ty} {value}")
        self.terminated = True

    def unreachable(self) -> None:
        self.lines.append("  unreachable")
        self.terminated = True

    # -- common shapes -----------------------------------------------------------------------
    def load(self, ty: str, ptr: str, *, tbaa: str | None = None, align: int | None = None,
             invariant: bool = False) -> str:
        extra = f", align {align}" if align else ""
        if tbaa:
            extra += f", !tbaa {tbaa}"
        if invariant:
            extra += ", !invariant.load !0"
        return self.op(f"load {ty}, ptr {ptr}{extra}")

    def store(self, ty: str, value: str, ptr: str, *, tbaa: str | None = None,
              align: int | None = None) -> None:
        extra = f", align {align}" if align else ""
        if tbaa:
            extra += f", !tbaa {tbaa}"
        self.emit(f"store {ty} {value}, ptr {ptr}{extra}")

    def gep(self, base: str, offset: str | int) -> str:
        """``base + offset`` bytes (a ``ptr``)."""
        off = i64(offset) if isinstance(offset, int) else offset
        return self.op(f"getelementptr i8, ptr {base}, i64 {off}")

    def phi(self, ty: str, incoming: Sequence[tuple[str, str]]) -> str:
        body = ", ".join(f"[ {v}, %{lbl} ]" for v, lbl in incoming)
        return self.op(f"phi {ty} {body}")

    def call(self, ret: str, fn: str, args: Sequence[tuple[str, str]], *,
             attrs: str = "") -> str:
        body = ", ".join(f"{ty} {v}" for ty, v in args)
        text = f"call {ret} {fn}({body}){' ' + attrs if attrs else ''}"
        if ret == "void":
            self.emit(text)
            return ""
        return self.op(text)

    def text(self) -> str:
        head = (f"define {self.linkage + ' ' if self.linkage else ''}{self.ret_type} @{self.name}"
                f"({', '.join(self.params)}){' ' + self.attrs if self.attrs else ''} {{")
        return "\n".join([head, *self.lines, "}"])


class ModuleText:
    """Functions, declarations and the shared metadata of one module."""

    def __init__(self, name: str = "bpf") -> None:
        self.name = name
        self.functions: list[FunctionText] = []
        self.declarations: dict[str, str] = {}
        self.globals: list[str] = []
        self._once: set[str] = set()

    def add(self, fn: FunctionText) -> FunctionText:
        self.functions.append(fn)
        return fn

    def once(self, name: str, build: Callable[[], FunctionText]) -> str:
        """``@name``, built by ``build()`` and added the first time it is asked for."""
        if name not in self._once:
            self._once.add(name)
            self.add(build())
        return f"@{name}"

    def declare(self, name: str, signature: str) -> str:
        """Declare ``@name`` once (``signature`` is the whole ``declare`` line)."""
        self.declarations.setdefault(name, signature)
        return f"@{name}"

    def text(self, triple: str = "", data_layout: str = "") -> str:
        parts = [f"; ModuleID = '{self.name}'"]
        if triple:
            parts.append(f'target triple = "{triple}"')
        if data_layout:
            parts.append(f'target datalayout = "{data_layout}"')
        parts.extend(self.globals)
        parts.extend(self.declarations.values())
        parts.extend(fn.text() for fn in self.functions)
        parts.append("!0 = !{}")
        parts.append(_METADATA)
        return "\n".join(parts)
