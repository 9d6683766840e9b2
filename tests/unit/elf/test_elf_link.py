"""Linking: .text sub-programs appended as libbpf appends them, calls and callbacks fixed.

The linked instructions are checked against llvm-objdump's reading of the same object: every
placed function's instructions are the object's, except the call/lddw instructions the linker
rewrites.
"""

from __future__ import annotations

from elf_testdata import at, load, objdump, source_line

from pybpf.isa import INSN_SIZE, OP_CALL, OP_LDDW, CallSrc, Instruction, PseudoSrc, pcs
from pybpf.program.spec import FuncInfo, ProgramSpec


def layout(prog: ProgramSpec) -> dict[str, int]:
    """Function name -> first pc, from the func info."""
    return {f.name: f.pc for f in prog.func_info}


def call_target(prog: ProgramSpec, pc: int) -> int:
    insn = at(prog, pc)
    assert (insn.code == OP_CALL and insn.src == CallSrc.PSEUDO_CALL) or (
        insn.code == OP_LDDW and insn.src == PseudoSrc.FUNC
    )
    return pc + insn.imm + 1


def test_tc_main_appends_scale_then_mix() -> None:
    prog = load("tc_subprogs").programs["tc_main"]
    assert layout(prog) == {"tc_main": 0, "scale": 11, "mix": 17}
    assert call_target(prog, 1) == 11  # tc_main -> scale (relocation against 'scale')
    assert call_target(prog, 11) == 17  # scale -> mix (no relocation: same section)
    assert len(prog.instructions) == 19 and sum(i.slots for i in prog.instructions) == 21
    assert [r.map_name for r in prog.map_references] == ["tc_subpr.bss"]


def test_bpf_loop_callback_is_appended_first() -> None:
    prog = load("tc_subprogs").programs["tc_loop"]
    assert layout(prog) == {"tc_loop": 0, "loop_cb": 14, "mix": 21}
    cb = at(prog, 6)
    assert cb.code == OP_LDDW and cb.src == PseudoSrc.FUNC and cb.next_imm == 0
    assert call_target(prog, 6) == 14
    helper = at(prog, 9)
    assert helper.code == OP_CALL and helper.src == CallSrc.HELPER and helper.imm == 181
    assert call_target(prog, 11) == 21


def test_linked_code_matches_llvm_objdump() -> None:
    for name in ("tc_subprogs", "tc_subprogs.v3"):
        funcs = objdump(name)
        for prog in load(name).programs.values():
            slots = dict(zip(pcs(prog.instructions), prog.instructions))
            rewritten = {r.pc for r in prog.map_references}
            for fname, base in layout(prog).items():
                for slot, raw in funcs[fname]:
                    ours = slots[base + slot]
                    orig = Instruction.from_bytes(raw + bytes(16 - len(raw)))
                    if ours.code == OP_CALL and ours.src == CallSrc.PSEUDO_CALL:
                        assert orig.code == OP_CALL and orig.src == CallSrc.PSEUDO_CALL
                        assert base + slot + ours.imm + 1 in layout(prog).values()
                    elif ours.code == OP_LDDW and (
                        ours.src == PseudoSrc.FUNC or base + slot in rewritten
                    ):
                        assert orig.code == OP_LDDW and orig.dst == ours.dst
                    else:
                        assert ours.to_bytes() == raw, (name, prog.name, fname, slot)


def test_each_program_gets_its_own_copy() -> None:
    progs = load("tc_subprogs").programs
    mix_main = layout(progs["tc_main"])["mix"]
    mix_loop = layout(progs["tc_loop"])["mix"]
    main, loop = progs["tc_main"], progs["tc_loop"]
    assert at(main, mix_main) == at(loop, mix_loop)
    assert mix_main != mix_loop


def test_func_info_is_rebased() -> None:
    prog = load("tc_subprogs").programs["tc_loop"]
    btf = load("tc_subprogs").btf
    assert btf is not None
    for info in prog.func_info:
        assert isinstance(info, FuncInfo)
        assert btf[info.type_id].name == info.name
    assert [f.pc for f in prog.func_info] == sorted(f.pc for f in prog.func_info)


def test_line_info_text_is_the_c_line() -> None:
    prog = load("tc_subprogs").programs["tc_loop"]
    for info in prog.line_info:
        assert info.file.endswith("tc_subprogs.c")
        assert info.text == (load_source("tc_subprogs")[info.line - 1])
    call = prog.line_at(9)  # the bpf_loop helper call
    assert call is not None and "bpf_loop(" in call.text
    assert call.line == source_line("tc_subprogs", "bpf_loop(skb->len")
    appended = prog.line_at(layout(prog)["loop_cb"] + 1)
    assert appended is not None and appended.text.strip() == "*acc += index;"
    in_mix = prog.line_at(layout(prog)["mix"] + 1)
    assert in_mix is not None and "2654435761u" in in_mix.text


def test_line_info_pcs_are_instruction_starts() -> None:
    for name in ("tc_subprogs", "xdp_maps", "tracing", "prog_array"):
        for prog in load(name).programs.values():
            starts = set(pcs(prog.instructions))
            assert prog.line_info and all(i.pc in starts for i in prog.line_info)
            assert prog.func_info[0].pc == 0 and prog.func_info[0].name == prog.name


def load_source(name: str) -> list[str]:
    from elf_testdata import DATA

    return (DATA / f"{name}.c").read_text().splitlines()


def test_slot_size() -> None:
    assert INSN_SIZE == 8
