"""CO-RE rules on hand-built BTF: flavors, ambiguity, validation, flex arrays, matching.

Each case builds a local and a target BTF with pybpf.btf.write and checks the libbpf
behaviour (relo_core.c) it mirrors.
"""

from __future__ import annotations

import pytest

from pybpf.btf import (
    Array,
    Btf,
    CoreRelo,
    CoreReloKind,
    Enum,
    Enum64,
    EnumValue,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Struct,
)
from pybpf.btf.core import POISON_HELPER, apply_core_relocations, calc_relo_insn, patch_insn
from pybpf.btf.core_compat import essential_name_len, types_are_compat, types_match
from pybpf.btf.write import from_types
from pybpf.errors import BTFError
from pybpf.isa import OP_CALL, Instruction

K = CoreReloKind
INT = Int(1, "int", 4, IntEncoding.SIGNED, 32)
UINT = Int(2, "unsigned int", 4, IntEncoding.NONE, 32)


def ldx(off: int, size: int = 0x00) -> Instruction:
    """r0 = *(u32 *)(r1 + off) (size W by default)."""
    return Instruction(0x61 | size, 0, 1, off)


def struct(tid: int, name: str, *fields: tuple[str, int, int], size: int = 0) -> Struct:
    members = tuple(Member(n, t, off * 8) for n, t, off in fields)
    return Struct(tid, name, size or (max((o for _, _, o in fields), default=0) + 4), members)


def btf(*types) -> Btf:  # type: ignore[no-untyped-def]
    return from_types([INT, UINT, *types])


@pytest.mark.parametrize("name,length", [
    ("task_struct___local", 11), ("a___b", 1), ("foo", 3), ("foo___", 6),
    ("foo____bar", 10), ("x___y___z", 5), ("___x", 4), ("", 0),
])
def test_essential_name_len(name: str, length: int) -> None:
    assert essential_name_len(name) == length


def test_flavored_target_candidates_agreeing() -> None:
    local = btf(struct(3, "foo", ("x", 1, 0)))
    target = btf(struct(3, "foo___a", ("y", 1, 0), ("x", 1, 8)),
                 struct(4, "foo___b", ("x", 1, 8)))
    out = apply_core_relocations([ldx(0)], [CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET)],
                                 local, target)
    assert out[0].off == 8


def test_field_offset_ambiguity_is_an_error() -> None:
    local = btf(struct(3, "foo", ("x", 1, 0)))
    target = btf(struct(3, "foo___a", ("y", 1, 0), ("x", 1, 4)),
                 struct(4, "foo___b", ("x", 1, 0), ("y", 1, 4)))
    with pytest.raises(BTFError) as e:
        apply_core_relocations([ldx(0)], [CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET)],
                               local, target, prog_name="p")
    msg = str(e.value)
    assert "field offset ambiguity" in msg
    assert "prog 'p'" in msg and "relo #0" in msg and "insn 0" in msg
    assert "struct foo" in msg and "0:0" in msg


def test_incompatible_candidate_is_skipped_and_pruned() -> None:
    """A candidate whose field type is incompatible does not match; the other does."""
    local = btf(struct(3, "foo", ("x", 1, 0), ("p", 4, 8)), Ptr(4, "", 1))
    target = btf(struct(3, "foo", ("x", 5, 0)),  # x is a struct here: ptr/int mismatch
                 struct(4, "foo___v2", ("p", 6, 0), ("x", 1, 16)),
                 Struct(5, "bar", 4, ()), Ptr(6, "", 1))
    cache: dict[int, list[int]] = {}
    res = calc_relo_insn(CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET), local, target, cache)
    assert (res.orig_val, res.new_val, res.poison) == (0, 16, False)
    assert cache[3] == [(target, 4)]  # libbpf keeps only matching candidates for later relos


def test_missing_field_poisons_and_exists_is_zero() -> None:
    local = btf(struct(3, "foo", ("x", 1, 0), ("gone", 1, 4)))
    target = btf(struct(3, "foo", ("x", 1, 0)))
    relos = [CoreRelo(0, 3, "0:1", K.FIELD_EXISTS), CoreRelo(8, 3, "0:1", K.FIELD_BYTE_OFFSET)]
    insns = [Instruction(0xB7, 2, 0, 0, 1), ldx(4)]
    out = apply_core_relocations(insns, relos, local, target)
    assert out[0].imm == 0
    assert (out[1].code, out[1].imm) == (OP_CALL, POISON_HELPER)


def test_validation_of_the_compiled_value() -> None:
    local = btf(struct(3, "foo", ("x", 1, 4)))
    target = btf(struct(3, "foo", ("x", 1, 12)))
    relo = CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET)
    assert apply_core_relocations([ldx(4)], [relo], local, target)[0].off == 12
    with pytest.raises(BTFError, match="unexpected LDX/ST/STX value: got 5, exp 4 -> 12"):
        apply_core_relocations([ldx(5)], [relo], local, target)
    alu = Instruction(0x07, 1, 0, 0, 4)  # r1 += 4
    assert apply_core_relocations([alu], [relo], local, target)[0].imm == 12
    with pytest.raises(BTFError, match="register source"):
        apply_core_relocations([Instruction(0x0F, 1, 2)], [relo], local, target)
    with pytest.raises(BTFError, match="unrecognized insn"):
        apply_core_relocations([Instruction(0x95)], [relo], local, target)


def test_offset_too_big_for_ldx() -> None:
    local = btf(struct(3, "foo", ("x", 1, 0)))
    target = btf(struct(3, "foo", ("x", 1, 40000), size=40004))
    relo = CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET)
    with pytest.raises(BTFError, match="too big"):
        apply_core_relocations([ldx(0)], [relo], local, target)
    # an ALU add takes it
    assert apply_core_relocations([Instruction(0x07, 1, 0, 0, 0)], [relo], local,
                                  target)[0].imm == 40000


def test_insn_off_must_start_an_instruction() -> None:
    local = btf(struct(3, "foo", ("x", 1, 0)))
    insns = [Instruction.wide(1, 0), ldx(0)]
    for bad in (8, 4, 40):
        with pytest.raises(BTFError, match="not the start of an instruction"):
            apply_core_relocations(insns, [CoreRelo(bad, 3, "0:0", K.FIELD_BYTE_OFFSET)],
                                   local, local)
    out = apply_core_relocations(insns, [CoreRelo(32, 3, "0:0", K.FIELD_BYTE_OFFSET)],
                                 local, local, section_offset=16)
    assert out == tuple(insns)


@pytest.mark.parametrize("access,kind,match", [
    ("0:5", K.FIELD_BYTE_OFFSET, "member index 5 is out of range"),
    ("0:x", K.FIELD_BYTE_OFFSET, "not a ':'-separated list"),
    ("", K.FIELD_BYTE_OFFSET, "empty access string"),
    ("1", K.TYPE_SIZE, "needs access string '0'"),
    ("0:0:1", K.FIELD_BYTE_OFFSET, "neither a struct, a union nor an array"),
    ("0", K.ENUMVAL_VALUE, "enumerator index"),
])
def test_bad_access_strings(access: str, kind: CoreReloKind, match: str) -> None:
    local = btf(struct(3, "foo", ("x", 1, 0)))
    with pytest.raises(BTFError, match=match):
        apply_core_relocations([ldx(0)], [CoreRelo(0, 3, access, kind)], local, local)


def test_anonymous_local_type_has_no_candidates() -> None:
    local = btf(struct(3, "", ("x", 1, 0)))
    with pytest.raises(BTFError, match="anonymous"):
        apply_core_relocations([ldx(0)], [CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET)],
                               local, local)


def test_arrays_and_flexible_arrays() -> None:
    # struct foo { int n; int data[]; }  vs target { long pad; int n; int data[]; }
    local = btf(Array(3, "", 1, 2, 0), struct(4, "foo", ("n", 1, 0), ("data", 3, 4)))
    target = btf(Array(3, "", 1, 2, 0),
                 struct(4, "foo", ("pad", 5, 0), ("n", 1, 8), ("data", 3, 12)),
                 Int(5, "long", 8, IntEncoding.SIGNED, 64))
    relo = CoreRelo(0, 4, "0:1:5", K.FIELD_BYTE_OFFSET)  # &foo->data[5]
    out = apply_core_relocations([ldx(4 + 5 * 4)], [relo], local, target)
    assert out[0].off == 12 + 5 * 4
    # a fixed array bounds the index in the target: no match -> poison
    target_small = btf(Array(3, "", 1, 2, 2), struct(4, "foo", ("n", 1, 0), ("data", 3, 4)))
    local_fixed = btf(Array(3, "", 1, 2, 8), struct(4, "foo", ("n", 1, 0), ("data", 3, 4)))
    out = apply_core_relocations([ldx(24)], [relo], local_fixed, target_small)
    assert out[0].code == OP_CALL and out[0].imm == POISON_HELPER
    # FIELD_BYTE_SIZE of an array element; LSHIFT is refused for array accesses
    size = calc_relo_insn(CoreRelo(0, 4, "0:1:5", K.FIELD_BYTE_SIZE), local, target)
    assert (size.orig_val, size.new_val) == (4, 4)
    with pytest.raises(BTFError, match="array element"):
        calc_relo_insn(CoreRelo(0, 4, "0:1:5", K.FIELD_LSHIFT_U64), local, target)


def test_enum64_value_into_lddw() -> None:
    local = btf(Enum64(3, "big___l", 8, False, (EnumValue("V___l", 1), EnumValue("W___l", 2))))
    target = btf(Enum64(3, "big", 8, False, (EnumValue("W", 0x1_2345_6789),
                                             EnumValue("V", 5))))
    insns = [Instruction.wide(0, 2)]
    out = apply_core_relocations(insns, [CoreRelo(0, 3, "1", K.ENUMVAL_VALUE)], local, target)
    assert out[0].imm64 == 0x1_2345_6789
    # a signed 32-bit enum value sign-extends into the u64 libbpf compares and patches
    local32 = btf(Enum(3, "e", 4, True, (EnumValue("NEG", -3),)))
    target32 = btf(Enum(3, "e", 4, True, (EnumValue("NEG", -7),)))
    alu = [Instruction(0xB7, 0, 0, 0, -3)]
    out = apply_core_relocations(alu, [CoreRelo(0, 3, "0", K.ENUMVAL_VALUE)], local32, target32)
    assert out[0].imm == -7


def test_type_size_and_type_id_target() -> None:
    local = btf(struct(3, "foo___x", ("a", 1, 0)))
    target = btf(struct(3, "other", ("a", 1, 0)), struct(4, "foo", ("a", 1, 0), size=64))
    out = apply_core_relocations(
        [Instruction(0xB7, 0, 0, 0, 4), Instruction.wide(1, 3)],
        [CoreRelo(0, 3, "0", K.TYPE_SIZE), CoreRelo(8, 3, "0", K.TYPE_ID_TARGET)],
        local, target)
    assert out[0].imm == 64 and out[1].imm64 == 4


def test_poisoned_lddw_keeps_slots() -> None:
    local = btf(Enum(3, "e", 4, False, (EnumValue("GONE", 1),)))
    target = btf(Enum(3, "e", 4, False, (EnumValue("OTHER", 1),)))
    out = apply_core_relocations([Instruction.wide(0, 1), Instruction(0x95)],
                                 [CoreRelo(0, 3, "0", K.ENUMVAL_VALUE)], local, target)
    assert [(i.code, i.imm) for i in out] == [(OP_CALL, POISON_HELPER)] * 2 + [(0x95, 0)]


def test_patch_insn_resizes_loads() -> None:
    """u64 local field, u32 unsigned target: DW -> W; a signed target poisons instead."""
    u64 = Int(3, "unsigned long long", 8, IntEncoding.NONE, 64)
    local = from_types([INT, UINT, u64, struct(4, "foo", ("f", 3, 8), size=16)])
    target = btf(struct(3, "foo", ("f", 2, 4)))
    target_signed = btf(struct(3, "foo", ("f", 1, 4)))
    relo = CoreRelo(0, 4, "0:0", K.FIELD_BYTE_OFFSET)
    load_dw = Instruction(0x79, 0, 1, 8)
    (out,) = apply_core_relocations([load_dw], [relo], local, target)
    assert (out.code, out.off) == (0x61, 4)
    (poisoned,) = apply_core_relocations([load_dw], [relo], local, target_signed)
    assert poisoned.imm == POISON_HELPER
    # an ALU use of the same relocation is patched, size does not matter there
    res = calc_relo_insn(relo, local, target_signed)
    assert res.fail_memsz_adjust
    assert patch_insn(Instruction(0x07, 1, 0, 0, 8), res)[0].imm == 4


def test_types_match_rules() -> None:
    ptr_int = Ptr(3, "", 1)
    local = from_types([INT, UINT, ptr_int,
                        struct(4, "s", ("a", 1, 0), ("p", 3, 8), size=16),
                        Enum(5, "e", 4, False, (EnumValue("A", 1),)),
                        Fwd(6, "opaque"), Ptr(7, "", 6),
                        FuncProto(8, "", 1, (Param("x", 2),))])
    target = from_types([INT, UINT, ptr_int,
                         struct(4, "s", ("z", 2, 0), ("a", 1, 4), ("p", 3, 8), size=16),
                         Enum(5, "e", 4, False, (EnumValue("B", 0), EnumValue("A", 9))),
                         Struct(6, "opaque", 8, ()), Ptr(7, "", 6),
                         FuncProto(8, "", 1, (Param("y", 2),))])
    assert types_match(local, 4, target, 4)  # members found by name, order free
    assert types_match(local, 5, target, 5)  # enumerators by name, values free
    assert types_match(local, 7, target, 7)  # fwd behind a pointer matches the struct
    assert not types_match(local, 6, target, 6)  # but not by value
    assert types_match(local, 8, target, 8)
    assert not types_match(local, 1, target, 2)  # int vs unsigned int: names differ
    signed_u = from_types([Int(1, "unsigned int", 4, IntEncoding.SIGNED, 32)])
    assert not types_match(signed_u, 1, target, 2)  # same name, signedness differs
    assert types_are_compat(local, 8, target, 8)
    assert not types_are_compat(local, 4, target, 5)


def test_module_btf_searched_only_without_vmlinux_candidates() -> None:
    """Module BTF (split on vmlinux) provides candidates vmlinux does not have."""
    local = btf(struct(3, "mod_obj", ("x", 1, 0)), struct(4, "core_obj", ("x", 1, 0)))
    vmlinux = btf(struct(3, "core_obj", ("pad", 1, 0), ("x", 1, 4)))
    module = from_types([struct(4, "mod_obj", ("pad", 1, 0), ("pad2", 1, 4), ("x", 1, 8)),
                         struct(5, "core_obj", ("x", 1, 12))], base=vmlinux)
    relos = [CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET),
             CoreRelo(8, 4, "0:0", K.FIELD_BYTE_OFFSET),
             CoreRelo(16, 3, "0", K.TYPE_ID_TARGET)]
    insns = [ldx(0), ldx(0), Instruction.wide(0, 3)]
    out = apply_core_relocations(insns, relos, local, (vmlinux, module))
    assert out[0].off == 8  # only the module has mod_obj
    assert out[1].off == 4  # vmlinux has core_obj: the module's flavor is not consulted
    assert out[2].imm64 == 4  # the module type's id (ids continue vmlinux's)
    poisoned = apply_core_relocations(insns[:1], relos[:1], local, vmlinux)
    assert poisoned[0].imm == POISON_HELPER
