"""BTF: parse ``.BTF``/``.BTF.ext`` and kernel BTF, spell and pretty-print types, CO-RE.

* :class:`Btf` — the types of a ``.BTF`` section or raw blob (``/sys/kernel/btf/vmlinux``),
  including split BTF; frozen values per kind in :mod:`pybpf.btf.types`.
* :class:`BtfExt` — func info, line info and CO-RE relocation records of ``.BTF.ext``.
* :mod:`pybpf.btf.core` — libbpf's CO-RE relocation of instructions against a target BTF
  (``apply_core_relocations``); matching rules in :mod:`~pybpf.btf.core_spec` and
  :mod:`~pybpf.btf.core_compat`.
* :mod:`pybpf.btf.format` — values by type (``Btf.format_value`` / ``Btf.to_python``).
* :mod:`pybpf.btf.write` — types back to bytes; :mod:`pybpf.btf.fixup` — libbpf's DATASEC
  fixup (sizes, offsets) that the kernel requires before BPF_BTF_LOAD.

Every malformed input raises :class:`pybpf.errors.BTFError`.
"""

from pybpf.btf.btf import VMLINUX_PATH, Btf
from pybpf.btf.ext import BtfExt, CoreRelo, CoreReloKind, FuncInfoRec, LineInfoRec
from pybpf.btf.types import (
    Array,
    BtfKind,
    BtfType,
    Const,
    DataSec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union,
    Var,
    VarLinkage,
    VarSecinfo,
    Void,
    Volatile,
)

__all__ = [
    "VMLINUX_PATH",
    "Array",
    "Btf",
    "BtfExt",
    "BtfKind",
    "BtfType",
    "Const",
    "CoreRelo",
    "CoreReloKind",
    "DataSec",
    "DeclTag",
    "Enum",
    "Enum64",
    "EnumValue",
    "Float",
    "Func",
    "FuncInfoRec",
    "FuncLinkage",
    "FuncProto",
    "Fwd",
    "Int",
    "IntEncoding",
    "LineInfoRec",
    "Member",
    "Param",
    "Ptr",
    "Restrict",
    "Struct",
    "TypeTag",
    "Typedef",
    "Union",
    "Var",
    "VarLinkage",
    "VarSecinfo",
    "Void",
    "Volatile",
]
