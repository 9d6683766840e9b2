"""CO-RE records and typed ``__ksym`` variables, re-based into the linked program."""

from __future__ import annotations

from elf_testdata import at, load

from pybpf.btf import CoreRelo, CoreReloKind
from pybpf.isa import INSN_SIZE, OP_LDDW, PseudoSrc
from pybpf.program.spec import ExternReference


def test_core_relocations_rebased_to_linked_pcs() -> None:
    coll = load("core")
    prog = coll.programs["fork_probe"]
    assert {f.name: f.pc for f in prog.func_info} == {"fork_probe": 0, "parent_tgid": 11}
    relos = prog.core_relocations
    assert all(isinstance(r, CoreRelo) for r in relos)
    by_pc = {r.insn_off // INSN_SIZE: r for r in relos}  # type: ignore[attr-defined]
    assert set(by_pc) == {2, 11, 12}
    btf = coll.btf
    assert btf is not None
    for pc, access in ((2, "0:0"), (11, "0:2"), (12, "0:1")):
        rec = by_pc[pc]
        assert rec.access_str == access and rec.kind == CoreReloKind.FIELD_BYTE_OFFSET
        assert btf.name_of(rec.type_id) == "task_struct"
    # the relocated instructions are the field loads llvm-objdump shows
    assert at(prog, 2).off == 0 and at(prog, 11).off == 8 and at(prog, 12).off == 4


def test_typed_ksym_variable() -> None:
    prog = load("core").programs["fork_probe"]
    assert ExternReference(6, "bpf_prog_active", "ksym") in prog.extern_references
    insn = at(prog, 6)
    assert insn.code == OP_LDDW and insn.src == PseudoSrc.BTF_ID and insn.imm == 0
    assert not prog.map_references
