"""Reads of kernel objects through their BTF: which field a load of ``size`` bytes at ``off`` is.

Mirrors ``btf_struct_walk()``, ``btf_struct_access()`` and ``__btf_resolve_size()`` of
kernel/bpf/btf.c (Linux 6.18). The walk follows the offset through nested structs, unions and
arrays (multi-dimensional arrays as one flat array of their elements) to the one member the load
reads:

* an int, an enum, a float, a whole bitfield, bytes of an int array (up to the array's end):
  an unknown scalar;
* a pointer to a struct or union: ``PTR_TO_BTF_ID`` of it, with the flag of its first type tag
  (``__user`` → ``MEM_USER``, ``__percpu`` → ``MEM_PERCPU``, ``__rcu`` → ``MEM_RCU``);
* any other pointer (``void *``, ``char *``, a function pointer): read-only untrusted memory
  (``PTR_TO_MEM | MEM_RDONLY | PTR_UNTRUSTED`` of size 0);
* a struct member at its very start: the walk goes on inside it, from offset 0.

A union with more than one member makes what is found under it untrusted (``PTR_UNTRUSTED``),
which also lets a scalar read run past its member. A read past the end of a struct whose last
member is a flexible array (``[0]``) of ints or structs is a read of that array.

The functions return a :class:`Refusal` (the kernel's log line and errno) instead of raising;
the verifier turns it into a rejection.

Not modelled: the special fields of program-allocated objects (``MEM_ALLOC``: ``direct access to
%s is disallowed``), module BTF.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import IntEnum

from pybpf.btf import Array, Btf, BtfKind, Ptr, Struct, TypeTag, Union
from pybpf.btf.types import MODIFIER_KINDS
from pybpf.platform.helper_types import RegType, TypeFlag

__all__ = [
    "FieldAccess",
    "Refusal",
    "ResolvedSize",
    "Walk",
    "btf_name",
    "btf_resolve_size",
    "btf_struct_access",
    "btf_struct_walk",
]

MAX_RESOLVE_DEPTH = 32
U32_MAX = 0xFFFFFFFF
_SIZED = frozenset({BtfKind.INT, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.FLOAT,
                    BtfKind.ENUM64})  # fmt: skip
_STRUCT_KINDS = (BtfKind.STRUCT, BtfKind.UNION)
#: The type tags btf_struct_walk() turns into register flags.
_TAG_FLAGS = {"user": TypeFlag.MEM_USER, "percpu": TypeFlag.MEM_PERCPU, "rcu": TypeFlag.MEM_RCU}


class Walk(IntEnum):
    """``enum bpf_struct_walk_result``."""

    SCALAR = 0
    PTR = 1
    PTR_UNTRUSTED = 2
    STRUCT = 3


@dataclass(frozen=True, slots=True)
class Refusal:
    """The kernel refuses the access: its log line (no newline) and errno."""

    message: str
    errno: int


@dataclass(frozen=True, slots=True)
class FieldAccess:
    """What a read yields (``btf_struct_access()``'s result).

    ``reg_type`` is ``SCALAR_VALUE``, ``PTR_TO_BTF_ID`` (of the struct ``btf_id``) or
    ``PTR_TO_MEM``; ``flag`` the ``bpf_type_flag`` bits of the pointer.
    """

    reg_type: int
    btf_id: int = 0
    flag: int = 0


@dataclass(frozen=True, slots=True)
class ResolvedSize:
    """``__btf_resolve_size()``: ``type_id`` is the first array met, else the resolved type;
    ``size`` the whole size; ``elem_type`` the resolved element type, ``elem_id`` the element
    type id of the last array (0 without arrays), ``nelems`` the element count of all the
    dimensions; ``id`` the type reached by the last modifier skipped (0 if none)."""

    type_id: int
    size: int
    elem_type: int
    elem_id: int
    nelems: int
    id: int


def btf_name(btf: Btf, type_id: int) -> str:
    """``btf_name_by_offset()`` of the type's name: ``""`` when anonymous."""
    return btf.name_of(type_id) if type_id else ""


def _anon_name(btf: Btf, name: str) -> str:
    """``__btf_name_by_offset()``: ``(anon)`` for an empty name."""
    return name or "(anon)"


def _skip_modifiers(btf: Btf, type_id: int) -> int:
    """``btf_type_skip_modifiers()``: the id after typedef/const/volatile/restrict/type_tag."""
    return btf.resolve(type_id)


def btf_resolve_size(btf: Btf, type_id: int) -> ResolvedSize | None:
    """``__btf_resolve_size()``; None for a type without size (void, fwd, func...)."""
    array_type = 0
    array: Array | None = None
    nelems = 1
    mod_id = 0
    tid = type_id
    for _ in range(MAX_RESOLVE_DEPTH):
        kind = btf.kind_of(tid)
        if kind in _SIZED:
            size = btf[tid].size  # type: ignore[union-attr]
            break
        if kind == BtfKind.PTR:
            size = 8  # sizeof(void *) of the kernel
            break
        if kind in MODIFIER_KINDS:
            mod_id = btf[tid].type  # type: ignore[union-attr]
            tid = mod_id
            continue
        if kind == BtfKind.ARRAY:
            arr = btf[tid]
            assert isinstance(arr, Array)
            if not array_type:
                array_type = tid
            array = arr
            if nelems and arr.nelems > U32_MAX // nelems:
                return None
            nelems *= arr.nelems
            tid = arr.type
            continue
        return None
    else:
        return None
    if nelems and size > U32_MAX // nelems:
        return None
    return ResolvedSize(array_type or tid, nelems * size, tid,
                        array.type if array is not None else 0, nelems, mod_id)  # fmt: skip


def _beyond(tname: str, off: int, size: int) -> Refusal:
    return Refusal(f"access beyond struct {tname} at off {off} size {size}", errno.EACCES)


def btf_struct_walk(btf: Btf, type_id: int, off: int, size: int,
                    flag: int = 0) -> tuple[Walk, int, int] | Refusal:
    """``btf_struct_walk()``: ``(result, next_btf_id, flag)`` of one step of the walk.

    ``next_btf_id`` is the struct pointed at (``Walk.PTR``) or the nested struct the offset
    starts (``Walk.STRUCT``); ``flag`` is ``flag`` with the bits the step adds.
    """
    tid = type_id
    while True:  # the kernel's "again:"
        if btf.kind_of(tid) in MODIFIER_KINDS:
            tid = _skip_modifiers(btf, tid)
        t = btf[tid]
        tname = _anon_name(btf, t.name)
        if not isinstance(t, (Struct, Union)):
            return Refusal(f"Type '{tname}' is not a struct", errno.EINVAL)
        members = t.members
        if isinstance(t, Union) and len(members) != 1:
            # walking unions yields untrusted pointers, except for unions of one member
            flag |= TypeFlag.PTR_UNTRUSTED
        if off + size > t.size:
            # a flexible array as the last member may be read past the struct's size
            if not members:
                return _beyond(tname, off, size)
            last = members[-1]
            arr = btf[_skip_modifiers(btf, last.type)]
            if not isinstance(arr, Array) or arr.nelems != 0:
                return _beyond(tname, off, size)
            moff = last.bit_offset // 8
            if off < moff:
                return _beyond(tname, off, size)
            elem_id = _skip_modifiers(btf, arr.type)
            elem_kind = btf.kind_of(elem_id)
            if elem_kind == BtfKind.INT:
                return Walk.SCALAR, 0, flag
            elem_size = btf[elem_id].size if elem_kind in _STRUCT_KINDS else 0  # type: ignore[union-attr]
            if not elem_size:  # not a struct (or one the kernel would divide by zero)
                return _beyond(tname, off, size)
            off = (off - moff) % elem_size
            tid = elem_id
            continue
        step = _walk_members(btf, t, tname, off, size, flag)
        if isinstance(step, Refusal) or step[0] is not None:
            return step
        _, tid, off = step  # into a nested struct or union, at its offset


def _walk_members(btf: Btf, t: Struct | Union, tname: str, off: int, size: int,
                  flag: int) -> tuple[Walk, int, int] | tuple[None, int, int] | Refusal:
    """The member loop of ``btf_struct_walk()``: a result, ``(None, nested, off)`` to go on
    inside a nested struct, or a refusal."""
    for member in t.members:
        moff = member.bit_offset // 8
        if off + size <= moff:
            break  # the fields from here on are too far
        if member.bitfield_size:
            end_bit = member.bit_offset + member.bitfield_size
            # off <= moff: clang emits no member for an anonymous bitfield ("int :16")
            if off <= moff and (end_bit + 7) // 8 <= off + size:
                return Walk.SCALAR, 0, flag
            continue  # a following member, or a partial read of the bitfield
        if off < moff:
            break  # a hole
        mname = _anon_name(btf, member.name)
        resolved = btf_resolve_size(btf, member.type)
        if resolved is None:
            return Refusal(f"field {mname} doesn't have size", errno.EFAULT)
        mid = resolved.id or member.type
        mtype, msize = resolved.type_id, resolved.size
        mtrue_end = moff + msize
        if off >= mtrue_end:
            continue  # no overlap with this member
        if btf.kind_of(mtype) == BtfKind.ARRAY:
            # an array reads as its (flattened) element at the offset; a scalar read may
            # still run on to the array's true end
            if moff == mtrue_end:
                continue  # an empty array
            msize //= resolved.nelems
            moff += (off - moff) // msize * msize
            mtype, mid = resolved.elem_type, resolved.elem_id
        mkind = btf.kind_of(mtype)
        if mkind in _STRUCT_KINDS:
            if off == moff:
                return Walk.STRUCT, mid, flag
            return None, mtype, off - moff
        if mkind == BtfKind.PTR:
            if msize != size or off != moff:
                return Refusal(f"cannot access ptr member {mname} with moff {moff} in struct "
                               f"{tname} with off {off} size {size}", errno.EACCES)  # fmt: skip
            ptr = btf[mtype]
            assert isinstance(ptr, Ptr)
            tmp_flag = 0
            tag = btf[ptr.type] if ptr.type else None
            if isinstance(tag, TypeTag) and not tag.kind_flag:
                tmp_flag = _TAG_FLAGS.get(tag.name, 0)
            sid = _skip_modifiers(btf, ptr.type)
            if btf.kind_of(sid) in _STRUCT_KINDS:
                return Walk.PTR, sid, flag | tmp_flag
            return Walk.PTR_UNTRUSTED, 0, flag
        if off + size > mtrue_end and not flag & TypeFlag.PTR_UNTRUSTED:
            return Refusal(f"access beyond the end of member {mname} (mend:{mtrue_end}) in "
                           f"struct {tname} with off {off} size {size}", errno.EACCES)  # fmt: skip
        return Walk.SCALAR, 0, flag
    return Refusal(f"struct {tname} doesn't have field at offset {off}", errno.EINVAL)


def btf_struct_access(btf: Btf, type_id: int, off: int, size: int) -> FieldAccess | Refusal:
    """``btf_struct_access()``: what a read of ``size`` bytes at ``off`` of ``type_id`` yields.

    Walks on into nested structs until the offset names a scalar or a pointer.
    """
    flag = 0
    tid = type_id
    while True:
        step = btf_struct_walk(btf, tid, off, size, flag)
        if isinstance(step, Refusal):
            return step
        walk, next_id, flag = step
        if walk == Walk.PTR:
            return FieldAccess(RegType.PTR_TO_BTF_ID, next_id, flag)
        if walk == Walk.PTR_UNTRUSTED:
            return FieldAccess(RegType.PTR_TO_MEM, 0, TypeFlag.MEM_RDONLY | TypeFlag.PTR_UNTRUSTED)
        if walk == Walk.SCALAR:
            return FieldAccess(RegType.SCALAR_VALUE)
        tid, off = next_id, 0  # Walk.STRUCT: the nested struct, from its start
