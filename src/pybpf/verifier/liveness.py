"""Registers live before each instruction, computed before exploration.

Mirrors ``compute_insn_live_regs()`` and ``compute_live_registers()`` of
kernel/bpf/verifier.c (Linux 6.18): a backward data-flow fixpoint over each instruction's
uses and definitions. The explorer uses it to forget dead registers in saved states, which
is what lets states prune (``clean_func_state()``), and the level-2 log prints it
(``Live regs before insn:``).

A helper call reads as many argument registers as its prototype (for the program type) has
(``get_call_summary()``); other calls read r1-r5. Not modelled: ``bpf_fastcall`` spill/fill
elimination.
"""

from __future__ import annotations

from pybpf.isa.opcodes import FETCH
from pybpf.isa import OP_LDDW, AtomicOp, CallSrc, InsnClass, JumpOp, Mode, Size, Source
from pybpf.verifier.env import Env

__all__ = ["compute_live_registers", "insn_def_use", "live_regs_table"]

ALL_REGS = 0xFFFF
CALLER_SAVED = 0x3F  # r0-r5


def insn_def_use(env: Env, pc: int) -> tuple[int, int]:
    """``(def, use)`` register masks of the instruction at ``pc``."""
    s = env.prog.slots[pc]
    cls, op, mode = s.code & 0x07, s.code & 0xF0, s.code & 0xE0
    src, dst, r0 = 1 << s.src, 1 << s.dst, 1
    d, u = 0, ALL_REGS
    if cls == InsnClass.LD:
        if mode == Mode.IMM and s.code & 0x18 == Size.DW:
            d, u = dst, 0
    elif cls == InsnClass.LDX:
        if mode in (Mode.MEM, Mode.MEMSX):
            d, u = dst, src
    elif cls == InsnClass.ST:
        if mode == Mode.MEM:
            d, u = 0, dst
    elif cls == InsnClass.STX:
        if mode == Mode.MEM:
            d, u = 0, dst | src
        elif mode == Mode.ATOMIC:
            if s.imm == AtomicOp.CMPXCHG:
                d, u = r0, r0 | dst | src
            elif s.imm == AtomicOp.LOAD_ACQ:
                d, u = dst, src
            elif s.imm == AtomicOp.STORE_REL:
                d, u = 0, dst | src
            else:
                d, u = (src if s.imm & FETCH else 0), dst | src
    elif cls in (InsnClass.ALU, InsnClass.ALU64):
        if op == 0xD0:  # END
            d, u = dst, dst
        elif op == 0xB0:  # MOV
            d, u = dst, (0 if s.code & Source.X == Source.K else src)
        else:
            d, u = dst, (dst if s.code & Source.X == Source.K else dst | src)
    else:  # JMP, JMP32
        if op == JumpOp.JA:
            d, u = 0, 0
        elif op == JumpOp.EXIT:
            d, u = 0, r0
        elif op == JumpOp.CALL:
            d = CALLER_SAVED
            u = d & ~r0
            if s.src == CallSrc.HELPER:
                nargs = _helper_params(env, s.imm)
                if nargs is not None:
                    u = ((1 << nargs) - 1) << 1
        elif op == JumpOp.JCOND:
            d, u = 0, 0
        else:
            d, u = 0, (dst if s.code & Source.X == Source.K else dst | src)
    return d, u


def _helper_params(env: Env, func_id: int) -> int | None:
    """``get_call_summary()`` for a helper: how many arguments its prototype for this program
    type takes (None when the program type has no such helper)."""
    from pybpf.platform.helper_ids import HelperId
    from pybpf.platform.helper_types import ArgType
    from pybpf.platform.prog_helpers import helper_access

    if not 0 < func_id < len(HelperId):
        return None
    attach = env.options.expected_attach_type
    try:
        from pybpf.platform.attach import AttachType

        access = helper_access(env.prog_type, HelperId(func_id),
                               attach_type=AttachType(attach) if attach is not None else None)
    except (KeyError, ValueError):
        return None
    if access is None:
        return None
    n = 0
    for a in access.proto.args:
        if a.type == ArgType.DONTCARE:
            break
        n += 1
    return n


def _successors(env: Env, pc: int) -> list[int]:
    s = env.prog.slots[pc]
    cls, op = s.code & 0x07, s.code & 0xF0
    n = len(env.prog)
    size = 2 if s.code == OP_LDDW else 1
    if cls not in (InsnClass.JMP, InsnClass.JMP32):
        return [pc + size] if pc + size < n else []
    if op == JumpOp.EXIT:
        return []
    if op == JumpOp.CALL:
        return [pc + 1] if pc + 1 < n else []
    if op == JumpOp.JA:
        off = s.off if cls == InsnClass.JMP else s.imm
        return [pc + off + 1]
    return [pc + 1, pc + s.off + 1]


def compute_live_registers(env: Env) -> None:
    """Fill ``env.aux[pc].live_regs_before`` for every instruction start."""
    n = len(env.prog)
    starts = []
    pc = 0
    while pc < n:
        starts.append(pc)
        pc += 2 if env.prog.is_ldimm64(pc) else 1
    du = {pc: insn_def_use(env, pc) for pc in starts}
    succ = {pc: _successors(env, pc) for pc in starts}
    live_in = dict.fromkeys(starts, 0)
    changed = True
    while changed:
        changed = False
        for pc in reversed(starts):
            d, u = du[pc]
            out = 0
            for w in succ[pc]:
                out |= live_in.get(w, 0)
            new = (u | (out & ~d)) & ALL_REGS
            if new != live_in[pc]:
                live_in[pc] = new
                changed = True
    for pc in starts:
        aux = env.aux[pc]
        aux.live_regs_before = live_in[pc]
        aux.live_list = tuple(r for r in range(11) if live_in[pc] >> r & 1)


def live_regs_table(env: Env, format_insn) -> str:  # type: ignore[no-untyped-def]
    """The ``Live regs before insn:`` block of the level-2 log."""
    out = ["Live regs before insn:\n"]
    pc = 0
    while pc < len(env.prog):
        mask = env.aux[pc].live_regs_before
        regs = "".join(str(j) if mask >> j & 1 else "." for j in range(10))
        scc = env.aux[pc].scc
        out.append(f"{scc:3d} " if scc else "    ")
        out.append(f"{pc:3d}: {regs} {format_insn(pc)}\n")
        pc += 2 if env.prog.is_ldimm64(pc) else 1
    return "".join(out)
