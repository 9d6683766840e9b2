"""BTF kinds as frozen values: one dataclass per ``BTF_KIND_*`` of ``include/uapi/linux/btf.h``.

Every type keeps its ``id`` (its position in the BTF, 0 being ``void``) and its ``name`` (the
string ``name_off`` points at, ``""`` when anonymous), plus the kind-specific fields of the UAPI
record, named as there. References to other types are plain type ids; the :class:`~pybpf.btf.Btf`
container resolves them.

What ``kind_flag`` means depends on the kind and is decoded into a named field:

* STRUCT/UNION: members carry ``bitfield_size`` (kind_flag=1 packs ``bitfield_size << 24 |
  bit_offset`` into ``btf_member.offset``; with kind_flag=0 ``offset`` is a plain bit offset and
  bitfields, if any, are described by the member's INT type: ``bits`` and ``offset``);
* ENUM/ENUM64: ``signed``; FWD: ``is_union``; DECL_TAG/TYPE_TAG: ``kind_flag`` (attribute form).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import ClassVar, NamedTuple, TypeAlias


class BtfKind(IntEnum):
    """``BTF_KIND_*`` from include/uapi/linux/btf.h."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


class IntEncoding(IntFlag):
    """``BTF_INT_SIGNED``/``BTF_INT_CHAR``/``BTF_INT_BOOL`` (BTF_INT_ENCODING of an INT type)."""

    NONE = 0
    SIGNED = 1 << 0
    CHAR = 1 << 1
    BOOL = 1 << 2


class FuncLinkage(IntEnum):
    """``enum btf_func_linkage``: the ``vlen`` of a FUNC type."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class VarLinkage(IntEnum):
    """``BTF_VAR_*``: the ``linkage`` of a VAR type."""

    STATIC = 0
    GLOBAL_ALLOCATED = 1
    GLOBAL_EXTERN = 2


@dataclass(frozen=True, slots=True)
class _Type:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Void(_Type):
    """Type id 0: ``void`` (BTF_KIND_UNKN)."""

    kind: ClassVar[BtfKind] = BtfKind.UNKN
    id: int = 0
    name: str = ""


@dataclass(frozen=True, slots=True)
class Int(_Type):
    """BTF_KIND_INT: ``size`` bytes; ``bits`` used bits starting at bit ``offset``."""

    kind: ClassVar[BtfKind] = BtfKind.INT
    size: int
    encoding: IntEncoding
    bits: int
    offset: int = 0

    @property
    def signed(self) -> bool:
        return bool(self.encoding & IntEncoding.SIGNED)


@dataclass(frozen=True, slots=True)
class Ptr(_Type):
    """BTF_KIND_PTR to ``type``."""

    kind: ClassVar[BtfKind] = BtfKind.PTR
    type: int


@dataclass(frozen=True, slots=True)
class Array(_Type):
    """BTF_KIND_ARRAY (``struct btf_array``): ``nelems`` elements of ``type``."""

    kind: ClassVar[BtfKind] = BtfKind.ARRAY
    type: int
    index_type: int
    nelems: int


@dataclass(frozen=True, slots=True)
class Member:
    """``struct btf_member`` decoded: ``bit_offset`` from the start of the struct/union.

    ``bitfield_size`` is non-zero only for bitfields of a kind_flag=1 struct/union
    (``btf_member_bitfield_size()``).
    """

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0

    @property
    def byte_offset(self) -> int:
        return self.bit_offset // 8


@dataclass(frozen=True, slots=True)
class Struct(_Type):
    """BTF_KIND_STRUCT of ``size`` bytes."""

    kind: ClassVar[BtfKind] = BtfKind.STRUCT
    size: int
    members: tuple[Member, ...]
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class Union(_Type):
    """BTF_KIND_UNION of ``size`` bytes."""

    kind: ClassVar[BtfKind] = BtfKind.UNION
    size: int
    members: tuple[Member, ...]
    kind_flag: bool = False


class EnumValue(NamedTuple):
    """``struct btf_enum`` / ``struct btf_enum64``: an enumerator ``(name, value)``."""

    name: str
    value: int


@dataclass(frozen=True, slots=True)
class Enum(_Type):
    """BTF_KIND_ENUM: 32-bit values (``signed`` is kind_flag); ``size`` is 1, 2, 4 or 8."""

    kind: ClassVar[BtfKind] = BtfKind.ENUM
    size: int
    signed: bool
    values: tuple[EnumValue, ...]


@dataclass(frozen=True, slots=True)
class Enum64(_Type):
    """BTF_KIND_ENUM64: 64-bit values (``signed`` is kind_flag)."""

    kind: ClassVar[BtfKind] = BtfKind.ENUM64
    size: int
    signed: bool
    values: tuple[EnumValue, ...]


@dataclass(frozen=True, slots=True)
class Fwd(_Type):
    """BTF_KIND_FWD: a forward declaration of a struct (or a union when ``is_union``)."""

    kind: ClassVar[BtfKind] = BtfKind.FWD
    is_union: bool = False


@dataclass(frozen=True, slots=True)
class Typedef(_Type):
    """BTF_KIND_TYPEDEF ``name`` for ``type``."""

    kind: ClassVar[BtfKind] = BtfKind.TYPEDEF
    type: int


@dataclass(frozen=True, slots=True)
class Volatile(_Type):
    """BTF_KIND_VOLATILE ``type``."""

    kind: ClassVar[BtfKind] = BtfKind.VOLATILE
    type: int


@dataclass(frozen=True, slots=True)
class Const(_Type):
    """BTF_KIND_CONST ``type``."""

    kind: ClassVar[BtfKind] = BtfKind.CONST
    type: int


@dataclass(frozen=True, slots=True)
class Restrict(_Type):
    """BTF_KIND_RESTRICT ``type``."""

    kind: ClassVar[BtfKind] = BtfKind.RESTRICT
    type: int


@dataclass(frozen=True, slots=True)
class Func(_Type):
    """BTF_KIND_FUNC: ``type`` is its FUNC_PROTO; ``linkage`` is kept in ``vlen``."""

    kind: ClassVar[BtfKind] = BtfKind.FUNC
    type: int
    linkage: FuncLinkage = FuncLinkage.STATIC


class Param(NamedTuple):
    """``struct btf_param``: ``(name, type)``; a trailing ``("", 0)`` marks ``...``."""

    name: str
    type: int


@dataclass(frozen=True, slots=True)
class FuncProto(_Type):
    """BTF_KIND_FUNC_PROTO: return type ``ret`` (0 for void) and ``params``."""

    kind: ClassVar[BtfKind] = BtfKind.FUNC_PROTO
    ret: int
    params: tuple[Param, ...]

    @property
    def variadic(self) -> bool:
        return bool(self.params) and self.params[-1] == ("", 0)


@dataclass(frozen=True, slots=True)
class Var(_Type):
    """BTF_KIND_VAR: a global or static variable of ``type``."""

    kind: ClassVar[BtfKind] = BtfKind.VAR
    type: int
    linkage: VarLinkage = VarLinkage.STATIC


@dataclass(frozen=True, slots=True)
class VarSecinfo:
    """``struct btf_var_secinfo``: VAR ``type`` at ``offset`` in the section, ``size`` bytes."""

    type: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class DataSec(_Type):
    """BTF_KIND_DATASEC: an ELF data section (``.data``, ``.maps``...) of ``size`` bytes."""

    kind: ClassVar[BtfKind] = BtfKind.DATASEC
    size: int
    vars: tuple[VarSecinfo, ...]


@dataclass(frozen=True, slots=True)
class Float(_Type):
    """BTF_KIND_FLOAT of ``size`` bytes (2, 4, 8, 12 or 16)."""

    kind: ClassVar[BtfKind] = BtfKind.FLOAT
    size: int


@dataclass(frozen=True, slots=True)
class DeclTag(_Type):
    """BTF_KIND_DECL_TAG ``name`` on ``type`` (component_idx -1) or on its member/param."""

    kind: ClassVar[BtfKind] = BtfKind.DECL_TAG
    type: int
    component_idx: int = -1
    kind_flag: bool = False


@dataclass(frozen=True, slots=True)
class TypeTag(_Type):
    """BTF_KIND_TYPE_TAG ``name`` on ``type`` (e.g. ``__user``, ``__rcu``)."""

    kind: ClassVar[BtfKind] = BtfKind.TYPE_TAG
    type: int
    kind_flag: bool = False


BtfType: TypeAlias = (
    Void
    | Int
    | Ptr
    | Array
    | Struct
    | Union
    | Enum
    | Fwd
    | Typedef
    | Volatile
    | Const
    | Restrict
    | Func
    | FuncProto
    | Var
    | DataSec
    | Float
    | DeclTag
    | TypeTag
    | Enum64
)

#: Kinds that merely qualify or rename another type (skipped by ``Btf.resolve``).
MODIFIER_KINDS = frozenset(
    {BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG}
)

VOID = Void()


def type_refs(t: BtfType) -> tuple[int, ...]:
    """Every type id ``t`` refers to (for validation and traversal)."""
    match t:
        case Ptr() | Typedef() | Volatile() | Const() | Restrict() | Func() | Var():
            return (t.type,)
        case DeclTag() | TypeTag():
            return (t.type,)
        case Array():
            return (t.type, t.index_type)
        case Struct() | Union():
            return tuple(m.type for m in t.members)
        case FuncProto():
            return (t.ret, *(p.type for p in t.params))
        case DataSec():
            return tuple(v.type for v in t.vars)
        case _:
            return ()
