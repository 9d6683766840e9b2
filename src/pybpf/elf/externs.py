"""Extern symbols: ``.kconfig`` variables and ``.ksyms`` kernel symbols and kfuncs.

Mirrors ``bpf_object__collect_externs()``, ``find_kcfg_type()``, ``cmp_externs()``,
``bpf_object__resolve_externs()``, ``bpf_object__process_kconfig_line()`` and the
``set_kcfg_value_*()`` helpers of libbpf. An extern is an undefined ``NOTYPE`` global/weak
symbol; its BTF VAR (or FUNC) and the DATASEC holding it say what it is:

* ``.kconfig``: a value of the ``.kconfig`` map, laid out by alignment (descending), size
  (ascending) and name, then filled from ``LINUX_KERNEL_VERSION``, explicit values, and the
  kernel's config (``CONFIG_*=y|m|n|"string"|number``). An unset weak extern is 0; an unset
  strong one is an error.
* ``.ksyms``: kernel variables and kfuncs. They are recorded (name, typed or not, function or
  variable) for a backend to resolve against the kernel's BTF or kallsyms; nothing here
  resolves them.

``LINUX_HAS_BPF_COOKIE``/``LINUX_HAS_SYSCALL_WRAPPER`` (libbpf probes the kernel) must be given
explicitly; unset, they follow the weak/strong rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum

from pybpf.btf import (
    Array,
    Btf,
    BtfKind,
    DataSec,
    Enum64,
    Func,
    FuncLinkage,
    Int,
    IntEncoding,
    Ptr,
    Struct,
    Union,
    Var,
    VarLinkage,
)
from pybpf.btf import Enum as BtfEnum
from pybpf.elf.reader import ELFObject, SymbolBind
from pybpf.errors import BTFError, ELFLoadError

__all__ = ["Extern", "ExternKind", "KcfgType", "collect_externs", "kconfig_values"]

KCONFIG_SEC = ".kconfig"
KSYMS_SEC = ".ksyms"


class ExternKind(Enum):
    """``enum extern_type``."""

    KCFG = 1
    KSYM = 2


class KcfgType(Enum):
    """``enum kcfg_type``."""

    UNKNOWN = 0
    CHAR = 1
    BOOL = 2
    INT = 3
    TRISTATE = 4
    CHAR_ARR = 5


@dataclass(frozen=True, slots=True)
class Extern:
    """``struct extern_desc``: an extern ``name`` (ELF symbol ``symbol``, BTF ``btf_id``)."""

    name: str
    symbol: int
    kind: ExternKind
    btf_id: int
    weak: bool
    # .kconfig
    kcfg_type: KcfgType = KcfgType.UNKNOWN
    size: int = 0
    align: int = 0
    signed: bool = False
    offset: int = 0
    # .ksyms
    is_func: bool = False
    #: the local BTF type of a typed ksym variable (0 for typeless ``extern const void x``)
    type_id: int = 0


def _align_of(btf: Btf, type_id: int) -> int:
    """``btf__align_of()`` for the types a kconfig extern can have."""
    _, t = btf.skip_mods_and_typedefs(type_id)
    match t:
        case Int() | BtfEnum() | Enum64():
            return min(t.size, 8)
        case Ptr():
            return 8
        case Array():
            return _align_of(btf, t.type)
        case Struct() | Union():
            return max((_align_of(btf, m.type) for m in t.members), default=1)
        case _:
            raise ELFLoadError(f"BTF type {type_id} has no alignment ({t.kind.name})")


def _kcfg_type(btf: Btf, type_id: int) -> tuple[KcfgType, bool]:
    """``find_kcfg_type()``: (type, is_signed)."""
    _, t = btf.skip_mods_and_typedefs(type_id)
    match t:
        case Int():
            if t.encoding & IntEncoding.BOOL:
                return (KcfgType.BOOL if t.size == 1 else KcfgType.UNKNOWN), False
            if t.size == 1:
                return KcfgType.CHAR, t.signed
            if t.size not in (2, 4, 8):
                return KcfgType.UNKNOWN, False
            return KcfgType.INT, t.signed
        case BtfEnum() | Enum64():
            ok = t.name == "libbpf_tristate" and (isinstance(t, Enum64) or t.size == 4)
            return (KcfgType.TRISTATE if ok else KcfgType.UNKNOWN), False
        case Array():
            if t.nelems == 0 or _kcfg_type(btf, t.type)[0] != KcfgType.CHAR:
                return KcfgType.UNKNOWN, False
            return KcfgType.CHAR_ARR, False
        case _:
            return KcfgType.UNKNOWN, False


def _extern_btf(btf: Btf, name: str) -> tuple[int, str]:
    """``find_extern_btf_id()`` and ``find_extern_sec_btf_id()``: (VAR/FUNC id, DATASEC name)."""
    for tid in btf.find_all(name):
        t = btf[tid]
        if isinstance(t, Var):
            if t.linkage != VarLinkage.GLOBAL_EXTERN:
                raise ELFLoadError(f"extern '{name}': BTF VAR is not extern")
        elif isinstance(t, Func):
            if t.linkage != FuncLinkage.EXTERN:
                raise ELFLoadError(f"extern '{name}': BTF FUNC is not extern")
        else:
            continue
        for sec_id in btf.find_all(KCONFIG_SEC, BtfKind.DATASEC) + btf.find_all(
            KSYMS_SEC, BtfKind.DATASEC
        ):
            sec = btf[sec_id]
            assert isinstance(sec, DataSec)
            if any(v.type == tid for v in sec.vars):
                return tid, sec.name
        raise ELFLoadError(f"extern '{name}': no BTF DATASEC holds it")
    raise ELFLoadError(f"extern '{name}': not found in BTF")


def collect_externs(obj: ELFObject, btf: Btf | None) -> tuple[Extern, ...]:
    """Every extern of the object, sorted as ``cmp_externs()`` sorts them, with kconfig offsets."""
    out: list[Extern] = []
    for sym in obj.symbols:
        if not sym.is_extern or not sym.name:
            continue
        if btf is None:
            raise ELFLoadError(
                f"extern '{sym.name}': externs need the object's BTF "
                f"(no .BTF section; compile with -g)"
            )
        try:
            tid, sec_name = _extern_btf(btf, sym.name)
            t = btf[tid]
            weak = sym.bind == SymbolBind.WEAK
            if sec_name == KCONFIG_SEC:
                if isinstance(t, Func):
                    raise ELFLoadError(
                        f"extern function '{sym.name}' is unsupported under {KCONFIG_SEC} section"
                    )
                assert isinstance(t, Var)
                kcfg, signed = _kcfg_type(btf, t.type)
                if kcfg == KcfgType.UNKNOWN:
                    raise ELFLoadError(f"extern (kcfg) '{sym.name}': type is unsupported")
                size = btf.size_of(t.type)
                if size <= 0:
                    raise ELFLoadError(f"extern (kcfg) '{sym.name}': size {size} is invalid")
                out.append(
                    Extern(
                        sym.name,
                        sym.index,
                        ExternKind.KCFG,
                        tid,
                        weak,
                        kcfg,
                        size,
                        _align_of(btf, t.type),
                        signed,
                    )
                )
            else:
                type_id = 0 if isinstance(t, Func) else btf.resolve(t.type)  # type: ignore[union-attr]
                if type_id and btf.kind_of(type_id) == BtfKind.UNKN:
                    type_id = 0
                out.append(
                    Extern(
                        sym.name,
                        sym.index,
                        ExternKind.KSYM,
                        tid,
                        weak,
                        is_func=isinstance(t, Func),
                        type_id=type_id,
                    )
                )
        except BTFError as e:
            raise ELFLoadError(f"extern '{sym.name}': {e}") from e
    out.sort(
        key=lambda e: (
            e.kind.value,
            -e.align if e.kind == ExternKind.KCFG else 0,
            e.size if e.kind == ExternKind.KCFG else 0,
            e.name,
        )
    )
    off = 0
    for i, ext in enumerate(out):
        if ext.kind == ExternKind.KCFG:
            start = (off + ext.align - 1) // ext.align * ext.align
            out[i] = replace(ext, offset=start)
            off = start + ext.size
    return tuple(out)


# -- values ------------------------------------------------------------------------------------
def _parse_u64(text: str) -> int:
    """``strtoull(value, &end, 0)`` that must consume the whole string."""
    s = text.strip()
    neg = s.startswith("-")
    body = s[1:] if neg or s.startswith("+") else s
    if body[:2].lower() == "0x":
        value = int(body, 16)
    elif len(body) > 1 and body[0] == "0":
        value = int(body[1:], 8)
    else:
        value = int(body, 10)
    return (-value if neg else value) & 0xFFFFFFFFFFFFFFFF


class _Values:
    """The ``.kconfig`` map contents being filled in, one extern at a time."""

    def __init__(self, externs: tuple[Extern, ...], size: int) -> None:
        self.data = bytearray(size)
        self.by_name = {e.name: e for e in externs if e.kind == ExternKind.KCFG}
        self.set: set[str] = set()

    def number(self, ext: Extern, value: int) -> None:
        """``set_kcfg_value_num()``."""
        if ext.kcfg_type not in (KcfgType.INT, KcfgType.CHAR, KcfgType.BOOL):
            raise ELFLoadError(
                f"extern (kcfg) '{ext.name}': value '{value}' implies integer, "
                f"char, or boolean type"
            )
        if ext.kcfg_type == KcfgType.BOOL and value > 1:
            raise ELFLoadError(
                f"extern (kcfg) '{ext.name}': value '{value}' isn't boolean compatible"
            )
        bits = ext.size * 8
        if ext.size != 8:
            fits = (
                (value + (1 << (bits - 1))) & 0xFFFFFFFFFFFFFFFF < (1 << bits)
                if ext.signed
                else value >> bits == 0
            )
            if not fits:
                raise ELFLoadError(
                    f"extern (kcfg) '{ext.name}': value '{value}' doesn't fit in {ext.size} bytes"
                )
        if ext.size not in (1, 2, 4, 8):
            raise ELFLoadError(f"extern (kcfg) '{ext.name}': size {ext.size} is not 1, 2, 4 or 8")
        self.data[ext.offset : ext.offset + ext.size] = (value & ((1 << bits) - 1)).to_bytes(
            ext.size, "little"
        )
        self.set.add(ext.name)

    def tristate(self, ext: Extern, value: str) -> None:
        """``set_kcfg_value_tri()``."""
        if ext.kcfg_type == KcfgType.BOOL:
            if value == "m":
                raise ELFLoadError(
                    f"extern (kcfg) '{ext.name}': value '{value}' implies tristate or char type"
                )
            self.data[ext.offset] = value == "y"
        elif ext.kcfg_type == KcfgType.TRISTATE:
            tri = {"y": 1, "m": 2, "n": 0}[value]
            self.data[ext.offset : ext.offset + ext.size] = tri.to_bytes(ext.size, "little")
        elif ext.kcfg_type == KcfgType.CHAR:
            self.data[ext.offset] = ord(value)
        else:
            raise ELFLoadError(
                f"extern (kcfg) '{ext.name}': value '{value}' implies bool, tristate, or char type"
            )
        self.set.add(ext.name)

    def string(self, ext: Extern, value: str) -> None:
        """``set_kcfg_value_str()``: a quoted string for a char array, cut to fit."""
        if ext.kcfg_type != KcfgType.CHAR_ARR:
            raise ELFLoadError(
                f"extern (kcfg) '{ext.name}': value '{value}' implies char array type"
            )
        if len(value) < 2 or not value.endswith('"'):
            raise ELFLoadError(f"extern (kcfg) '{ext.name}': invalid string config '{value}'")
        raw = value[1:-1].encode()[: ext.size - 1]
        self.data[ext.offset : ext.offset + ext.size] = raw + bytes(ext.size - len(raw))
        self.set.add(ext.name)

    def line(self, text: str, source: str) -> None:
        """``bpf_object__process_kconfig_line()``."""
        text = text.rstrip("\n")
        if not text.startswith("CONFIG_"):
            return
        name, sep, value = text.partition("=")
        if not sep or not value:
            raise ELFLoadError(f"{source}: failed to parse '{text}': no value")
        ext = self.by_name.get(name)
        if ext is None or name in self.set:
            return
        if value[0] in "ynm" and len(value) == 1:
            self.tristate(ext, value)
        elif value[0] == '"':
            self.string(ext, value)
        else:
            try:
                num = _parse_u64(value)
            except ValueError:
                raise ELFLoadError(
                    f"extern (kcfg) '{name}': value '{value}' isn't a valid integer"
                ) from None
            if ext.kcfg_type not in (KcfgType.INT, KcfgType.CHAR):
                raise ELFLoadError(f"extern (kcfg) '{name}': value '{value}' implies integer type")
            self.number(ext, num)


KconfigValues = Mapping[str, "str | int | bool"]


def kconfig_values(
    externs: tuple[Extern, ...],
    *,
    explicit: str | KconfigValues | None,
    kernel_version: int | None,
    host_kernel_version: Callable[[], int],
    host_kconfig: Callable[[], tuple[str, str] | None] | None,
) -> bytes:
    """The ``.kconfig`` map value (``bpf_object__resolve_externs()`` for kconfig externs).

    ``explicit`` is libbpf's ``kconfig`` open option (config text) or a mapping of names to
    values; ``host_kconfig`` (None: never read the host) supplies the rest.
    """
    kcfg = [e for e in externs if e.kind == ExternKind.KCFG]
    if not kcfg:
        return b""
    last = max(kcfg, key=lambda e: e.offset)
    vals = _Values(externs, last.offset + last.size)
    lines: list[str] = []
    if isinstance(explicit, str):
        lines = explicit.splitlines()
    elif explicit is not None:
        for key, value in explicit.items():
            if isinstance(value, bool):
                value = "y" if value else "n"
            lines.append(f"{key}={value}")
    need_config = False
    for ext in kcfg:
        if ext.name == "LINUX_KERNEL_VERSION":
            version = kernel_version if kernel_version is not None else host_kernel_version()
            if not version:
                raise ELFLoadError(
                    "extern (kcfg) 'LINUX_KERNEL_VERSION': failed to get the kernel version"
                )
            vals.number(ext, version)
        elif ext.name.startswith("CONFIG_"):
            need_config = True
        elif ext.name.startswith("LINUX_"):
            pass  # LINUX_HAS_*: explicit value, or the weak/strong rule below
        else:
            raise ELFLoadError(f"extern (kcfg) '{ext.name}': unrecognized extern")
    for text in lines:  # explicit values: libbpf's in-memory kconfig, plus LINUX_HAS_*
        name, _, value = text.partition("=")
        virtual = vals.by_name.get(name)
        if virtual is not None and name.startswith("LINUX_") and name not in vals.set:
            _linux_value(vals, virtual, value)
        else:
            vals.line(text, "kconfig option")
    if (
        need_config
        and host_kconfig is not None
        and any(e.name.startswith("CONFIG_") and e.name not in vals.set for e in kcfg)
    ):
        found = host_kconfig()
        if found is not None:
            path, text = found
            for line in text.splitlines():
                vals.line(line, path)
    for ext in kcfg:
        if ext.name not in vals.set and not ext.weak:
            raise ELFLoadError(
                f"extern (kcfg) '{ext.name}': value not found (not in the "
                f"kernel config nor in the kconfig option)"
            )
    return bytes(vals.data)


def _linux_value(vals: _Values, ext: Extern, value: str) -> None:
    if value in ("y", "n", "m"):
        vals.tristate(ext, value)
        return
    try:
        vals.number(ext, _parse_u64(value))
    except ValueError:
        raise ELFLoadError(
            f"extern (kcfg) '{ext.name}': value '{value}' isn't a valid integer"
        ) from None
