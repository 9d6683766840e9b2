"""btf_struct_walk() / btf_struct_access() on small hand-built BTF.

The corpus (tests/verifier_corpus/cases/map_ptr_btf.toml) checks the walk against the live
kernel on vmlinux's own structs; these tests cover what vmlinux of a GCC-built kernel does not
have (type tags, kind_flag bitfields, multi-dimensional arrays, flexible arrays of structs) and
the refusal texts one by one.
"""

from __future__ import annotations

import errno

import pytest

from pybpf.btf import (
    Array,
    Const,
    FuncProto,
    Int,
    IntEncoding,
    Member,
    Ptr,
    Struct,
    Typedef,
    TypeTag,
    Union,
)
from pybpf.btf.write import from_types
from pybpf.platform.helper_types import RegType, TypeFlag
from pybpf.verifier.btf_access import (
    FieldAccess,
    Refusal,
    Walk,
    btf_resolve_size,
    btf_struct_access,
    btf_struct_walk,
)

U32, U8, CHAR = 1, 2, 3


def _m(name: str, type_id: int, byte_off: int, bits: int = 0, bit: int = 0) -> Member:
    return Member(name, type_id, byte_off * 8 + bit, bits)


# [1] u32 [2] u8 [3] char
# [4] struct inner { u32 a; u32 b; }                                  (8 bytes)
# [5] struct inner *    [6] TYPE_TAG "rcu" -> 4    [7] ptr -> 6 (struct inner __rcu *)
# [8] TYPE_TAG "percpu" -> 4   [9] ptr -> 8   [10] TYPE_TAG "user" -> 4  [11] ptr -> 10
# [12] void *   [13] func proto   [14] ptr -> 13 (function pointer)
# [15] u32[2]   [16] u32[2][2] (array of 15)   [17] struct inner[2]   [18] char[0]
# [19] union two { u32 x; struct inner *p; }   (8 bytes, 2 members)
# [20] union one { struct inner *p; }          (8 bytes, 1 member)
# [21] struct flex { u32 n; struct inner items[0]; }  (4 bytes... padded to 8)
# [22] typedef inner_t -> 4   [23] const -> 22
# [24] struct outer (kind_flag bitfields and all of the above):
#   0 u32 lo:3   0+3 u32 hi:5   4 u32 word   8 struct inner in   16 struct inner * p
#   24 rcu p   32 percpu p   40 user p   48 void *   56 fnptr   64 u32 m[2][2]
#   80 struct inner arr[2]   96 union two   104 union one   112 const inner_t c
#   120 union three   128 char tail[0]   size 128
# [25] struct inner[0]   [26] union three { struct inner *p; u32 x; }
TYPES = [
    Int(1, "u32", 4, IntEncoding.NONE, 32),
    Int(2, "u8", 1, IntEncoding.NONE, 8),
    Int(3, "char", 1, IntEncoding.SIGNED, 8),
    Struct(4, "inner", 8, (_m("a", U32, 0), _m("b", U32, 4))),
    Ptr(5, "", 4),
    TypeTag(6, "rcu", 4),
    Ptr(7, "", 6),
    TypeTag(8, "percpu", 4),
    Ptr(9, "", 8),
    TypeTag(10, "user", 4),
    Ptr(11, "", 10),
    Ptr(12, "", 0),
    FuncProto(13, "", U32, ()),
    Ptr(14, "", 13),
    Array(15, "", U32, U32, 2),
    Array(16, "", 15, U32, 2),
    Array(17, "", 4, U32, 2),
    Array(18, "", CHAR, U32, 0),
    Union(19, "two", 8, (_m("x", U32, 0), _m("p", 5, 0))),
    Union(20, "one", 8, (_m("p", 5, 0),)),
    Struct(21, "flex", 8, (_m("n", U32, 0), Member("items", 24 + 1, 32))),  # patched below
    Typedef(22, "inner_t", 4),
    Const(23, "", 22),
    Struct(24, "outer", 128, (
        _m("lo", U32, 0, bits=3), _m("hi", U32, 0, bits=5, bit=3), _m("word", U32, 4),
        _m("in", 4, 8), _m("p", 5, 16), _m("rp", 7, 24), _m("pp", 9, 32), _m("up", 11, 40),
        _m("vp", 12, 48), _m("fn", 14, 56), _m("m", 16, 64), _m("arr", 17, 80),
        _m("two", 19, 96), _m("one", 20, 104), _m("c", 23, 112), _m("three", 26, 120),
        _m("tail", 18, 128),
    ), kind_flag=True),
    Array(25, "", 4, U32, 0),  # struct inner items[0]
    Union(26, "three", 8, (_m("p", 5, 0), _m("x", U32, 0))),
]
TYPES[20] = Struct(21, "flex", 8, (_m("n", U32, 0), _m("items", 25, 8)))
BTF = from_types(TYPES)
OUTER, FLEX, INNER = 24, 21, 4


def access(off: int, size: int, type_id: int = OUTER) -> FieldAccess | Refusal:
    return btf_struct_access(BTF, type_id, off, size)


SCALAR = FieldAccess(RegType.SCALAR_VALUE)


@pytest.mark.parametrize(("off", "size"), [
    (0, 1),    # both bitfields in their byte
    (0, 4),
    (4, 4),
    (8, 4), (12, 4),  # struct inner: a, b
    (64, 4), (68, 8), (76, 4),  # u32 m[2][2] is flat scratch space up to its true end
    (112, 4),  # const inner_t
])  # fmt: skip
def test_scalars(off: int, size: int) -> None:
    assert access(off, size) == SCALAR


def test_pointer_to_struct() -> None:
    assert access(16, 8) == FieldAccess(RegType.PTR_TO_BTF_ID, INNER, 0)


@pytest.mark.parametrize(("off", "flag"), [
    (24, TypeFlag.MEM_RCU), (32, TypeFlag.MEM_PERCPU), (40, TypeFlag.MEM_USER),
])  # fmt: skip
def test_type_tags(off: int, flag: int) -> None:
    assert access(off, 8) == FieldAccess(RegType.PTR_TO_BTF_ID, INNER, flag)


@pytest.mark.parametrize("off", [48, 56])
def test_pointers_to_non_structs_are_untrusted_memory(off: int) -> None:
    assert access(off, 8) == FieldAccess(RegType.PTR_TO_MEM, 0,
                                         TypeFlag.MEM_RDONLY | TypeFlag.PTR_UNTRUSTED)


def test_array_of_structs_element() -> None:
    assert access(88, 4) == SCALAR  # arr[1].a
    walk = btf_struct_walk(BTF, OUTER, 88, 4)
    assert walk == (Walk.STRUCT, INNER, 0)  # arr[1] starts at 88


def test_union_of_two_members_makes_pointers_untrusted() -> None:
    assert access(120, 8) == FieldAccess(RegType.PTR_TO_BTF_ID, INNER, TypeFlag.PTR_UNTRUSTED)


def test_union_of_one_member_does_not() -> None:
    assert access(104, 8) == FieldAccess(RegType.PTR_TO_BTF_ID, INNER, 0)


def test_untrusted_scalar_may_run_past_its_member() -> None:
    # union two { u32 x; struct inner *p; }: 8 bytes at x run past it, allowed under a union
    assert access(96, 8) == SCALAR


def test_flexible_array_of_structs() -> None:
    # struct flex is 8 bytes; items[] of struct inner (8 bytes) starts at 8
    assert access(8 + 8 * 5 + 4, 4, FLEX) == SCALAR  # items[5].b
    assert btf_struct_walk(BTF, FLEX, 8 + 8 * 5 + 4, 8) == Refusal(
        "access beyond struct inner at off 4 size 8", errno.EACCES)


def test_flexible_array_of_chars_past_the_end() -> None:
    assert access(200, 8) == SCALAR
    assert access(128, 1) == SCALAR


def test_resolve_size_of_a_two_dimensional_array() -> None:
    r = btf_resolve_size(BTF, 16)
    assert r is not None
    assert (r.type_id, r.size, r.elem_type, r.elem_id, r.nelems) == (16, 16, U32, U32, 4)
    assert btf_resolve_size(BTF, 13) is None  # a function prototype has no size


@pytest.mark.parametrize(("off", "size", "message", "err"), [
    (1, 1, "struct outer doesn't have field at offset 1", errno.EINVAL),  # partial bitfields
    (16, 4, "cannot access ptr member p with moff 16 in struct outer with off 16 size 4",
     errno.EACCES),
    (20, 4, "cannot access ptr member p with moff 16 in struct outer with off 20 size 4",
     errno.EACCES),
    (4, 8, "access beyond the end of member word (mend:8) in struct outer with off 4 size 8",
     errno.EACCES),
    (76, 8, "access beyond the end of member m (mend:80) in struct outer with off 76 size 8",
     errno.EACCES),
    (8, 8, "access beyond the end of member a (mend:4) in struct inner with off 0 size 8",
     errno.EACCES),
    (116, 8, "access beyond struct inner at off 4 size 8", errno.EACCES),
    (124, 4, "cannot access ptr member p with moff 0 in struct three with off 4 size 4",
     errno.EACCES),
    (126, 4, "access beyond struct outer at off 126 size 4", errno.EACCES),
])  # fmt: skip
def test_refusals(off: int, size: int, message: str, err: int) -> None:
    assert access(off, size) == Refusal(message, err)


def test_not_a_struct() -> None:
    assert btf_struct_access(BTF, U32, 0, 4) == Refusal("Type 'u32' is not a struct",
                                                        errno.EINVAL)
