"""The verifier log, in the kernel's words and layout.

Mirrors kernel/bpf/log.c (``print_verifier_state()``, ``print_reg_state()``,
``print_scalar_ranges()``, ``verbose_snum()``/``verbose_unum()``, ``bpf_vlog_reset()``) and the
log-writing parts of ``do_check()`` in kernel/bpf/verifier.c (``print_insn_state()`` and its
column alignment, ``from X to Y:`` lines), Linux 6.18.

A :class:`VerifierLog` collects text in pieces so that the explorer can truncate it back to a
saved position (the kernel does so at log level 1 when a path completes without error, which
leaves only the failing path in the log). Not reproduced: the ``Live regs before insn`` table
and the stack-liveness trace that 6.18 prints at level 2, verification time and stack-depth
lines, BTF-typed pointer names beyond what the register records.
"""

from __future__ import annotations

from collections.abc import Iterable

from pybpf.platform.helper_types import RegType, base_type
from pybpf.verifier.bounds import S32_MAX, S32_MIN, S64_MAX, S64_MIN, U32_MAX, U64_MAX, s64, u32
from pybpf.verifier.regstate import (
    BPF_ADD_CONST,
    RegState,
    reg_type_str,
    type_is_map_ptr,
    type_is_pkt_pointer,
)
from pybpf.verifier.state import BPF_REG_SIZE, SLOT_TYPE_CHARS, FuncState, SlotType, VerifierState
from pybpf.verifier.tnum import tnum_is_const, tnum_is_unknown

__all__ = [
    "LOG_LEVEL1",
    "LOG_LEVEL2",
    "VerifierLog",
    "format_func_state",
    "format_reg",
    "snum",
    "unum",
    "vlog_alignment",
]

LOG_LEVEL1 = 1
LOG_LEVEL2 = 2
_S16_MIN, _S16_MAX, _U16_MAX = -(1 << 15), (1 << 15) - 1, (1 << 16) - 1


def snum(num: int) -> str:
    """``verbose_snum()``: decimal for small values, else ``%#llx`` of the u64."""
    val = s64(num)
    return str(val) if _S16_MIN <= val <= _S16_MAX else f"{num & U64_MAX:#x}"


def unum(num: int) -> str:
    """``verbose_unum()``."""
    num &= U64_MAX
    return str(num) if num <= _U16_MAX else f"{num:#x}"


def _scalar_ranges(reg: RegState) -> list[str]:
    """``print_scalar_ranges()``: equal neighbours are merged (``smax=umax=255``)."""
    def s32val(v: int) -> int:
        return v if _S16_MIN <= v <= _S16_MAX else u32(v)

    items = [
        ["smin", reg.smin_value & U64_MAX, reg.smin_value == S64_MIN],
        ["smax", reg.smax_value & U64_MAX, reg.smax_value == S64_MAX],
        ["umin", reg.umin_value, reg.umin_value == 0],
        ["umax", reg.umax_value, reg.umax_value == U64_MAX],
        ["smin32", s32val(reg.s32_min_value) & U64_MAX, reg.s32_min_value == S32_MIN],
        ["smax32", s32val(reg.s32_max_value) & U64_MAX, reg.s32_max_value == S32_MAX],
        ["umin32", reg.u32_min_value, reg.u32_min_value == 0],
        ["umax32", reg.u32_max_value, reg.u32_max_value == U32_MAX],
    ]
    out = []
    for i, (name1, val1, omit1) in enumerate(items):
        if omit1:
            continue
        neg1 = name1[0] == "s" and s64(val1) < 0
        names = [name1]
        for j in range(i + 2, len(items), 2):
            name2, val2, omit2 = items[j]
            if omit2:
                continue
            neg2 = name2[0] == "s" and s64(val2) < 0
            if neg1 == neg2 and val1 == val2:
                names.append(name2)
                items[j][2] = True
        text = snum(val1) if name1[0] == "s" else unum(val1)
        out.append("=".join(names) + "=" + text)
    return out


def format_reg(reg: RegState, frameno: int = 0) -> str:
    """``print_reg_state()``: ``2``, ``scalar(smin=0,...)``, ``fp-8``, ``map_value(...)``."""
    t = reg.type
    prefix = "P" if t == RegType.SCALAR_VALUE and reg.precise else ""
    if t == RegType.SCALAR_VALUE and tnum_is_const(reg.var_off):
        return prefix + snum(reg.var_off.value)
    text = prefix + reg_type_str(t)
    if t == RegType.PTR_TO_ARENA:
        return text
    if t == RegType.PTR_TO_STACK:
        if frameno != reg.frameno:
            text += f"[{reg.frameno}]"
        if tnum_is_const(reg.var_off):
            return text + snum(reg.var_off.value + reg.off)
    if base_type(t) == RegType.PTR_TO_BTF_ID:
        text += reg.btf_name
    parts = []
    if reg.id:
        parts.append(f"id={reg.id & ~BPF_ADD_CONST}")
    if reg.id & BPF_ADD_CONST:
        parts[-1] += f"{reg.off:+d}"
    if reg.ref_obj_id:
        parts.append(f"ref_obj_id={reg.ref_obj_id}")
    if type_is_map_ptr(t) and reg.map_ptr is not None:
        name = reg.map_ptr.name[:15]
        if name:
            parts.append(f"map={name}")
        parts.append(f"ks={reg.map_ptr.key_size},vs={reg.map_ptr.value_size}")
    if t != RegType.SCALAR_VALUE and reg.off:
        parts.append(f"off={snum(reg.off)}")
    if type_is_pkt_pointer(t):
        parts.append(f"r={unum(reg.range)}")
    if base_type(t) == RegType.PTR_TO_MEM:
        parts.append(f"sz={reg.mem_size}")
    if t == RegType.CONST_PTR_TO_DYNPTR:
        # the only dynptr pointers pybpf makes: user ring buffer callbacks' (local ones)
        parts.append("type=local")
    if tnum_is_const(reg.var_off):
        if reg.var_off.value:
            parts.append(f"imm={reg.var_off.value:x}")
    else:
        parts.extend(_scalar_ranges(reg))
        if not tnum_is_unknown(reg.var_off):
            parts.append(f"var_off={reg.var_off}")
    return text + "(" + ",".join(parts) + ")"


def format_func_state(
    state: VerifierState,
    frame: FuncState,
    regs: Iterable[int] | None = None,
    slots: Iterable[int] | None = None,
) -> str:
    """``print_verifier_state()`` for one frame, without the newline.

    ``regs``/``slots`` restrict the output to the registers and stack slots an instruction
    touched (the kernel's "scratched" marks); None prints all of them.
    """
    out = []
    if frame.frameno:
        out.append(f" frame{frame.frameno}:")
    reg_filter = None if regs is None else set(regs)
    for i, reg in enumerate(frame.regs):
        if reg.type == RegType.NOT_INIT:
            continue
        if reg_filter is not None and i not in reg_filter:
            continue
        out.append(f" R{i}={format_reg(reg, frame.frameno)}")
    slot_filter = None if slots is None else set(slots)
    for spi, slot in enumerate(frame.stack):
        if slot_filter is not None and spi not in slot_filter:
            continue
        if all(t == SlotType.INVALID for t in slot.slot_type):
            continue
        chars = "".join(SLOT_TYPE_CHARS[t] for t in slot.slot_type)
        name = f" fp{-(spi + 1) * BPF_REG_SIZE}"
        if slot.slot_type[BPF_REG_SIZE - 1] == SlotType.SPILL:
            first = next(j for j, t in enumerate(slot.slot_type) if t == SlotType.SPILL)
            out.append(f"{name}={chars[:first]}{format_reg(slot.spilled_ptr, frame.frameno)}")
        else:
            out.append(f"{name}={chars}")
    if state.refs and state.refs[0].id:  # print_verifier_state(): only from a non-zero id
        out.append(" refs=" + ",".join(str(r.id) for r in state.refs if r.id))
    if frame.in_callback_fn:
        out.append(" cb")
    if frame.in_async_callback_fn:
        out.append(" async_cb")
    return "".join(out)


def vlog_alignment(pos: int) -> int:
    """``vlog_alignment()``: padding that puts the state of a short instruction at column 38."""
    rounded = max(pos + 8 // 2, 40)
    rounded = (rounded + 7) // 8 * 8
    return rounded - pos - 1


class VerifierLog:
    """The log buffer (``struct bpf_verifier_log``), addressed by character position.

    ``level`` is the load's ``log_level``; at level 0 nothing is kept. :meth:`reset`
    truncates to an earlier :attr:`pos`, as ``bpf_vlog_reset()`` does.
    """

    __slots__ = ("level", "_parts", "_len", "prev_log_pos", "prev_insn_print_pos")

    def __init__(self, level: int = 0) -> None:
        self.level = level
        self._parts: list[str] = []
        self._len = 0
        self.prev_log_pos = 0
        self.prev_insn_print_pos = 0

    def __call__(self, text: str) -> None:
        """``verbose()``."""
        if self.level and text:
            self._parts.append(text)
            self._len += len(text)

    @property
    def pos(self) -> int:
        """The current end position (``log.end_pos``)."""
        return self._len

    def reset(self, pos: int) -> None:
        """``bpf_vlog_reset()``: forget everything written after character ``pos``."""
        while self._parts and self._len - len(self._parts[-1]) >= pos:
            self._len -= len(self._parts.pop())
        if self._len > pos:
            cut = self._len - pos
            self._parts[-1] = self._parts[-1][:-cut]
            self._len = pos

    def insn(self, insn_idx: int, text: str) -> None:
        """Write ``N: (code) text`` and remember where it ends, for :meth:`insn_state`."""
        if not self.level:
            return
        self.prev_log_pos = self.pos
        self(f"{insn_idx}: {text}\n")
        self.prev_insn_print_pos = self.pos - self.prev_log_pos
        self.prev_log_pos = self.pos

    def insn_state(self, insn_idx: int, state_text: str) -> None:
        """``print_insn_state()``: continue the instruction's line, or start ``N:``."""
        if not self.level:
            return
        if self.prev_log_pos and self.prev_log_pos == self.pos:
            self.reset(self.prev_log_pos - 1)
            self(" " * vlog_alignment(self.prev_insn_print_pos) + ";" + state_text + "\n")
        else:
            self(f"{insn_idx}:{state_text}\n")

    def text(self) -> str:
        return "".join(self._parts)
