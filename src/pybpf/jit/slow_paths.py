"""The out-of-line slow paths of a module's loads and stores: ``bpf_load_slow`` and
``bpf_store_slow``, where every access that is not direct ends up.

* ``bpf_load_slow(env, depth, code, addr, n)``: the bytes themselves when the region's row
  allows a direct load of them (so verified code sends every load through a pointer whose
  region is not directly accessible for both loads and stores here, in one call), a
  context's computed and plain 4-byte fields from its native half
  (:data:`~pybpf.native.layout.CTX_HEADER`: the packet pointers of ``xdp_md`` and
  ``__sk_buff``, ``len``, ``mark``, ``cb[]``..., as the kernel's rewritten loads read
  ``xdp_buff`` and ``sk_buff``), anything else through ``rt(LOAD)`` (``Memory.load``:
  context hooks, faults);
* ``bpf_store_slow(env, depth, code, addr, n, value)``: a 4-byte store to a plain context
  field into the context's buffer, anything else through ``rt(STORE)``.
"""

from __future__ import annotations

from pybpf.jit.abi import ROW_OFFSETS
from pybpf.jit.frame import RuntimeStubs
from pybpf.jit.irtext import TBAA_PROGRAM, TBAA_TABLE, FunctionText, ModuleText
from pybpf.jit.lower_mem import env_table, region_offset, row_in
from pybpf.native.layout import CONTEXT_KINDS, CTX_SLOTS, CTX_VALUES, CtxNativeHeader, field_offsets

__all__ = ["CTX_OFFSETS", "SlowPaths", "answered_value", "context_slot", "has",
           "is_context_kind", "plain_value", "store_plain"]

#: Field offsets of every context half's header.
CTX_OFFSETS = field_offsets(CtxNativeHeader)


def is_context_kind(fn: FunctionText, kind: str, ty: str) -> str:
    """``i1``: the ``ty`` value ``kind`` is a :class:`~pybpf.native.layout.NativeKind` whose
    native half starts with :data:`~pybpf.native.layout.CTX_HEADER`."""
    tests = [fn.op(f"icmp eq {ty} {kind}, {int(k)}") for k in CONTEXT_KINDS]
    result = tests[0]
    for test in tests[1:]:
        result = fn.op(f"or i1 {result}, {test}")
    return result


def _row(fn: FunctionText) -> tuple[str, str, str]:
    """``(inside, row, offset)`` of ``%addr``: whether its region id has a row in the table,
    the row (row 0 when not, so it is always safe to read) and the offset in the region."""
    table, ntable, _ = env_table(fn)
    inside, row = row_in(fn, table, ntable, "%addr")
    return inside, row, region_offset(fn, "%addr")


def context_slot(fn: FunctionText, inside: str, row: str, field: str, n: str, found: str,
                 python: str) -> tuple[str, str]:
    """Branch to ``found`` when the access is 4 bytes (``n``) at a 4-byte slot of a context
    that has a native half (``python`` otherwise); in ``found``: the native half and the
    slot's bit."""
    kind = fn.load("i32", fn.gep(row, ROW_OFFSETS["kind"]), tbaa=TBAA_TABLE)
    ok = fn.op(f"and i1 {inside}, {fn.op(f'icmp eq i64 {n}, 4')}")
    for test in (f"icmp ult i64 {field}, {4 * CTX_SLOTS}",
                 f"icmp eq i64 {fn.op(f'and i64 {field}, 3')}, 0"):
        ok = fn.op(f"and i1 {ok}, {fn.op(test)}")
    fn.cbr(fn.op(f"and i1 {ok}, {is_context_kind(fn, kind, 'i32')}"), found, python)
    fn.start(found)
    native = fn.load("ptr", fn.gep(row, ROW_OFFSETS["native"]), tbaa=TBAA_TABLE)
    return native, fn.op(f"shl i64 1, {fn.op(f'lshr i64 {field}, 2')}")


def has(fn: FunctionText, native: str, mask: str, bit: str) -> str:
    """``i1``: ``bit`` is set in the header's ``mask`` word."""
    word = fn.load("i64", fn.gep(native, CTX_OFFSETS[mask]), tbaa=TBAA_TABLE)
    return fn.op(f"icmp ne i64 {fn.op(f'and i64 {word}, {bit}')}, 0")


def answered_value(fn: FunctionText, native: str, field: str) -> str:
    """The value the native half answers for the computed field at ``field`` (``data``,
    ``data_end``, ``len``...: a u64 in ``values``)."""
    value = fn.gep(native, fn.op(f"add i64 {fn.op(f'shl i64 {field}, 1')}, {CTX_VALUES}"))
    return fn.load("i64", value, tbaa=TBAA_TABLE)


def plain_value(fn: FunctionText, native: str, field: str, bit: str) -> str:
    """The plain field at ``field`` of the context's buffer, cut to the kernel's target
    size (16 or 8 bits of some ``__sk_buff`` fields)."""
    fields = fn.load("ptr", fn.gep(native, CTX_OFFSETS["fields"]), tbaa=TBAA_TABLE)
    stored = fn.load("i32", fn.gep(fields, field), align=4, tbaa=TBAA_PROGRAM)
    value = fn.op(f"zext i32 {stored} to i64")
    for name, keep in (("low16", 0xFFFF), ("low8", 0xFF)):
        value = fn.op(f"select i1 {has(fn, native, name, bit)}, "
                      f"i64 {fn.op(f'and i64 {value}, {keep}')}, i64 {value}")
    return value


def store_plain(fn: FunctionText, native: str, field: str, value: str) -> None:
    """Store the low 32 bits of ``value`` into the plain field at ``field``."""
    fields = fn.load("ptr", fn.gep(native, CTX_OFFSETS["fields"]), tbaa=TBAA_TABLE)
    fn.store("i32", fn.op(f"trunc i64 {value} to i32"), fn.gep(fields, field), align=4,
             tbaa=TBAA_PROGRAM)


class SlowPaths:
    """The module's slow paths (see the module docstring), added on first use."""

    def __init__(self, module: ModuleText, stubs: RuntimeStubs) -> None:
        self.module = module
        self.stubs = stubs
        self._load: str | None = None
        self._store: str | None = None

    def load(self) -> str:
        if self._load is None:
            self._load = "@bpf_load_slow"
            self.module.add(self._build_load())
        return self._load

    def store(self) -> str:
        if self._store is None:
            self._store = "@bpf_store_slow"
            self.module.add(self._build_store())
        return self._store

    def _build_store(self) -> FunctionText:
        fn = FunctionText("bpf_store_slow", "void", [("ptr", "env"), ("i64", "depth"),
                                                      ("i64", "code"), ("i64", "addr"),
                                                      ("i64", "n"), ("i64", "value")],
                          linkage="internal", attrs="noinline")
        fn.start("entry")
        inside, row, field = _row(fn)
        native, bit = context_slot(fn, inside, row, field, "%n", "ctx_slot", "python")
        fn.cbr(has(fn, native, "plain", bit), "plain", "python")
        fn.start("plain")
        store_plain(fn, native, field, "%value")
        fn.emit("ret void")
        fn.terminated = True
        fn.start("python")
        fn.call("i64", self.stubs.get(3), [("ptr", "%env"), ("i64", "%depth"),
                                           ("i64", "%code"), ("i64", "%addr"), ("i64", "%n"),
                                           ("i64", "%value")])
        fn.emit("ret void")
        fn.terminated = True
        return fn

    def _build_load(self) -> FunctionText:
        fn = FunctionText("bpf_load_slow", "i64", [("ptr", "env"), ("i64", "depth"),
                                                    ("i64", "code"), ("i64", "addr"),
                                                    ("i64", "n")],
                          linkage="internal", attrs="noinline")
        fn.start("entry")
        inside, row, field = _row(fn)
        fn.cbr(inside, "row", "python")
        fn.start("row")
        size = fn.load("i32", fn.gep(row, ROW_OFFSETS["load_size"]), tbaa=TBAA_TABLE)
        fits = fn.op(f"icmp ule i64 {fn.op(f'add i64 {field}, %n')}, "
                     f"{fn.op(f'zext i32 {size} to i64')}")
        fn.cbr(fits, "direct", "context")
        fn.start("direct")
        host = fn.load("ptr", fn.gep(row, ROW_OFFSETS["host"]), tbaa=TBAA_TABLE)
        at = fn.gep(host, field)
        cases = [(str(n), f"direct{n}") for n in (1, 2, 4)]
        fn.switch("i64", "%n", "direct8", cases)
        for n in (1, 2, 4, 8):
            fn.start(f"direct{n}")
            raw = fn.load(f"i{8 * n}", at, align=1, tbaa=TBAA_PROGRAM)
            fn.ret(raw if n == 8 else fn.op(f"zext i{8 * n} {raw} to i64"))
        fn.start("context")
        native, bit = context_slot(fn, "true", row, field, "%n", "ctx_slot", "python")
        fn.cbr(has(fn, native, "answered", bit), "answered", "maybe_plain")
        fn.start("answered")
        fn.ret(answered_value(fn, native, field))
        fn.start("maybe_plain")
        fn.cbr(has(fn, native, "plain", bit), "plain", "python")
        fn.start("plain")
        fn.ret(plain_value(fn, native, field, bit))
        fn.start("python")
        fn.ret(fn.call("i64", self.stubs.get(2), [("ptr", "%env"), ("i64", "%depth"),
                                                  ("i64", "%code"), ("i64", "%addr"),
                                                  ("i64", "%n")]))
        return fn
