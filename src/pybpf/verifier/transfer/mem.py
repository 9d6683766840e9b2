"""Loads and stores: which memory a pointer may reach, and what a load yields.

Mirrors ``check_mem_access()``, ``check_load_mem()``, ``check_store_reg()``,
``check_ptr_alignment()``, ``check_mem_region_access()``, ``__check_mem_access()``,
``check_map_access()``, ``check_packet_access()``, ``check_ctx_access()``,
``check_ptr_off_reg()``, ``save_aux_ptr_type()``, ``check_ld_imm()`` and ``check_ld_abs()``
of kernel/bpf/verifier.c (Linux 6.18). Context rules come from
:func:`pybpf.platform.ctx_access.ctx_access`; stack accesses from :mod:`.stack`.

Reads through a map pointer (``CONST_PTR_TO_MAP``) and through ``PTR_TO_BTF_ID`` are
:mod:`.btf_ptr`'s.

Not modelled: map fields with special BTF types (spin locks, timers, kptrs in map values),
arena pointers, read-only map contents.
"""

from __future__ import annotations

import errno

from pybpf.isa import Instruction, Mode, PseudoSrc, Size
from pybpf.platform.ctx_access import ctx_access
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_types import RegType, TypeFlag, base_type
from pybpf.verifier.bounds import S64_MIN, coerce_reg_to_size, coerce_reg_to_size_sx
from pybpf.verifier.env import Env
from pybpf.verifier.map_btf import check_map_fields
from pybpf.verifier.packet_facts import note_access, note_load
from pybpf.verifier.regstate import DEF_NOT_SUBREG, RegState, mark_reg_known_zero, reg_type_str
from pybpf.verifier.tnum import tnum_add, tnum_const, tnum_is_aligned, tnum_is_const
from pybpf.verifier.transfer.btf_ptr import check_ptr_to_btf_access, check_ptr_to_map_access
from pybpf.verifier.transfer.common import (
    RegArg,
    check_reg_arg,
    cur_regs,
    is_pointer_value,
    mark_known,
    mark_not_init,
    mark_unknown,
    sanity_check,
)
from pybpf.verifier.transfer.stack import (
    check_stack_access_within_bounds,
    check_stack_read,
    check_stack_write,
)

__all__ = [
    "check_atomic",
    "check_ld_abs",
    "check_ld_imm",
    "check_load_mem",
    "check_mem_access",
    "check_mem_region_access",
    "check_packet_access",
    "check_ptr_off_reg",
    "check_store_reg",
    "may_access_direct_pkt_data",
    "save_aux_ptr_type",
]

BPF_MAX_VAR_OFF = 1 << 29
SIZE_BYTES = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}
_SK_TYPES = (RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_TCP_SOCK,
             RegType.PTR_TO_XDP_SOCK)  # fmt: skip
_POINTER_DESC = {
    RegType.PTR_TO_FLOW_KEYS: "flow keys ", RegType.PTR_TO_MAP_KEY: "key ",
    RegType.PTR_TO_MAP_VALUE: "value ", RegType.PTR_TO_CTX: "context ",
    RegType.PTR_TO_STACK: "stack ", RegType.PTR_TO_SOCKET: "sock ",
    RegType.PTR_TO_SOCK_COMMON: "sock_common ", RegType.PTR_TO_TCP_SOCK: "tcp_sock ",
    RegType.PTR_TO_XDP_SOCK: "xdp_sock ",
}  # fmt: skip


def _check_ptr_alignment(env: Env, reg: RegState, off: int, size: int,
                         strict_once: bool = False) -> None:
    """``check_ptr_alignment()``: stack always strict; packets with NET_IP_ALIGN of 2."""
    strict = env.options.strict_alignment or strict_once
    if reg.type in (RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META):
        if not strict or size == 1:
            return
        reg_off = tnum_add(reg.var_off, tnum_const(2 + reg.off + off))
        if not tnum_is_aligned(reg_off, size):
            env.reject(f"misaligned packet access off 2+{_tn(reg)}+{reg.off}+{off} size "
                       f"{size}", errno.EACCES)  # fmt: skip
        return
    if reg.type == RegType.PTR_TO_ARENA:
        return
    if reg.type == RegType.PTR_TO_STACK:
        strict = True
    if not strict or size == 1:
        return
    reg_off = tnum_add(reg.var_off, tnum_const(reg.off + off))
    if not tnum_is_aligned(reg_off, size):
        desc = _POINTER_DESC.get(reg.type, "")  # type: ignore[call-overload]
        env.reject(f"misaligned {desc}access off {_tn(reg)}+{reg.off}+{off} size {size}",
                   errno.EACCES)  # fmt: skip


def _tn(reg: RegState) -> str:
    """How 6.18's alignment messages print a variable offset: a constant as a number."""
    if tnum_is_const(reg.var_off):
        v = reg.var_off.value
        return str(v - (1 << 64) if v >> 63 else v)
    return str(reg.var_off)


def _mem_access_error(env: Env, regno: int, off: int, size: int, mem_size: int) -> str:
    reg = cur_regs(env)[regno]
    if reg.type == RegType.PTR_TO_MAP_KEY:
        return f"invalid access to map key, key_size={mem_size} off={off} size={size}"
    if reg.type == RegType.PTR_TO_MAP_VALUE:
        return f"invalid access to map value, value_size={mem_size} off={off} size={size}"
    if reg.type in (RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META,
                    RegType.PTR_TO_PACKET_END):
        return (f"invalid access to packet, off={off} size={size}, R{regno}(id={reg.id},"
                f"off={off},r={mem_size})")  # fmt: skip
    return f"invalid access to memory, mem_size={mem_size} off={off} size={size}"


def _mem_ok(off: int, size: int, mem_size: int, zero_size_allowed: bool) -> bool:
    size_ok = size > 0 or (size == 0 and zero_size_allowed)
    return off >= 0 and size_ok and off + size <= mem_size


def check_mem_region_access(env: Env, regno: int, off: int, size: int, mem_size: int,
                            zero_size_allowed: bool) -> None:
    """``check_mem_region_access()``: both ends of a variable offset stay in the region."""
    reg = cur_regs(env)[regno]
    if reg.smin_value < 0 and (reg.smin_value == S64_MIN
                               or not -(1 << 31) <= off + reg.smin_value < (1 << 31)
                               or reg.smin_value + off < 0):  # fmt: skip
        env.reject(f"R{regno} min value is negative, either use unsigned index or do a if "
                   "(index >=0) check.", errno.EACCES)  # fmt: skip
    lo = reg.smin_value + off
    if not _mem_ok(lo, size, mem_size, zero_size_allowed):
        env.verbose(_mem_access_error(env, regno, lo, size, mem_size) + "\n")
        env.reject(f"R{regno} min value is outside of the allowed memory range", errno.EACCES)
    if reg.umax_value >= BPF_MAX_VAR_OFF:
        env.reject(f"R{regno} unbounded memory access, make sure to bounds check any such "
                   "access", errno.EACCES)  # fmt: skip
    hi = reg.umax_value + off
    if not _mem_ok(hi, size, mem_size, zero_size_allowed):
        env.verbose(_mem_access_error(env, regno, hi, size, mem_size) + "\n")
        env.reject(f"R{regno} max value is outside of the allowed memory range", errno.EACCES)


def check_packet_access(env: Env, regno: int, off: int, size: int,
                        zero_size_allowed: bool) -> None:
    """``check_packet_access()``: the fixed offset within the range proven against pkt_end.

    A variable offset was added to the pointer before its range was established (the range
    belongs to the pointer's id), so only the fixed part is checked here.
    """
    reg = cur_regs(env)[regno]
    if reg.smin_value < 0:
        env.reject(f"R{regno} min value is negative, either use unsigned index or do a if "
                   "(index >=0) check.", errno.EACCES)  # fmt: skip
    if reg.range < 0 or not _mem_ok(off, size, reg.range, zero_size_allowed):
        if reg.range >= 0:
            env.verbose(_mem_access_error(env, regno, off, size, reg.range) + "\n")
        env.reject(f"R{regno} offset is outside of the packet", errno.EACCES)


def may_access_direct_pkt_data(env: Env, write: bool) -> bool:
    """``may_access_direct_pkt_data()``."""
    pt = env.prog_type
    if pt in (ProgType.LWT_IN, ProgType.LWT_OUT, ProgType.LWT_SEG6LOCAL, ProgType.SK_REUSEPORT,
              ProgType.FLOW_DISSECTOR, ProgType.CGROUP_SKB):
        return not write
    if pt in (ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.XDP, ProgType.LWT_XMIT,
              ProgType.SK_SKB, ProgType.SK_MSG, ProgType.CGROUP_SOCKOPT):
        return True
    return False


def check_ptr_off_reg(env: Env, reg: RegState, regno: int, fixed_off_ok: bool = False) -> None:
    """``__check_ptr_off_reg()``: the pointer must be unmodified (or fixed-offset only)."""
    if reg.off < 0:
        env.reject(f"negative offset {reg_type_str(reg.type)} ptr R{regno} off={reg.off} "
                   "disallowed", errno.EACCES)  # fmt: skip
    if not fixed_off_ok and reg.off:
        env.reject(f"dereference of modified {reg_type_str(reg.type)} ptr R{regno} "
                   f"off={reg.off} disallowed", errno.EACCES)  # fmt: skip
    if not tnum_is_const(reg.var_off) or reg.var_off.value:
        env.reject(f"variable {reg_type_str(reg.type)} access var_off={reg.var_off} "
                   "disallowed", errno.EACCES)  # fmt: skip


def _check_ctx_access(env: Env, off: int, size: int, write: bool, ldsx: bool) -> int:
    """``check_ctx_access()``: the register type a load yields (raw kernel value)."""
    try:
        got = ctx_access(env.prog_type, off, size, write,
                         attach_type=env.options.expected_attach_type,
                         privileged=env.bpf_capable, ldsx=ldsx)  # fmt: skip
    except KeyError:
        env.reject(f"pybpf does not model the context of {env.prog_type.name} programs",
                   errno.EOPNOTSUPP)  # fmt: skip
    if not got:
        env.reject(f"invalid bpf_context access off={off} size={size}", errno.EACCES)
    return got.reg_type  # type: ignore[union-attr]


def check_mem_access(env: Env, regno: int, off: int, bpf_size: int, write: bool,
                     value_regno: int, insn: Instruction | None = None,
                     is_ldsx: bool = False, strict_once: bool = False) -> None:
    """``check_mem_access()``: may ``size`` bytes at ``regno + off`` be read or written?"""
    regs = cur_regs(env)
    reg = regs[regno]
    size = SIZE_BYTES[bpf_size]  # type: ignore[index]
    _check_ptr_alignment(env, reg, off, size, strict_once)
    off += reg.off
    t = reg.type
    base = base_type(t)
    leak = write and value_regno >= 0 and is_pointer_value(env, value_regno)
    if t == RegType.PTR_TO_MAP_KEY:
        if write:
            env.reject(f"write to change key R{regno} not allowed", errno.EACCES)
        assert reg.map_ptr is not None
        check_mem_region_access(env, regno, off, size, reg.map_ptr.key_size, False)
        if value_regno >= 0:
            mark_unknown(env, regs[value_regno])
    elif t == RegType.PTR_TO_MAP_VALUE:
        if leak:
            env.reject(f"R{value_regno} leaks addr into map", errno.EACCES)
        m = reg.map_ptr
        assert m is not None
        if write and (m.flags & 0x80 or m.read_only):  # BPF_F_RDONLY_PROG
            env.reject(f"write into map forbidden, value_size={m.value_size} off={off} size="
                       f"{size}", errno.EACCES)  # fmt: skip
        if not write and m.flags & 0x100:  # BPF_F_WRONLY_PROG
            env.reject(f"read from map forbidden, value_size={m.value_size} off={off} size="
                       f"{size}", errno.EACCES)  # fmt: skip
        check_mem_region_access(env, regno, off, size, m.value_size, False)
        check_map_fields(env, reg, off, size)
        if not write and value_regno >= 0:
            mark_unknown(env, regs[value_regno])
    elif base == RegType.PTR_TO_MEM:
        rdonly = bool(t & TypeFlag.MEM_RDONLY)
        if t & TypeFlag.PTR_MAYBE_NULL:
            env.reject(f"R{regno} invalid mem access '{reg_type_str(t)}'", errno.EACCES)
        if write and rdonly:
            env.reject(f"R{regno} cannot write into {reg_type_str(t)}", errno.EACCES)
        if leak:
            env.reject(f"R{value_regno} leaks addr into mem", errno.EACCES)
        if not (rdonly and t & TypeFlag.PTR_UNTRUSTED):
            check_mem_region_access(env, regno, off, size, reg.mem_size, False)
        if value_regno >= 0 and (not write or rdonly):
            mark_unknown(env, regs[value_regno])
    elif t == RegType.PTR_TO_CTX:
        if leak:
            env.reject(f"R{value_regno} leaks addr into ctx", errno.EACCES)
        check_ptr_off_reg(env, reg, regno)
        reg_type = _check_ctx_access(env, off, size, write, is_ldsx)
        if not write and value_regno >= 0:
            dst = regs[value_regno]
            if reg_type == RegType.SCALAR_VALUE:
                mark_unknown(env, dst)
            else:
                mark_unknown(env, dst)
                mark_reg_known_zero(dst)
                if reg_type & TypeFlag.PTR_MAYBE_NULL:
                    dst.id = env.new_id()
                dst.subreg_def = DEF_NOT_SUBREG
            dst.type = reg_type
            if insn is not None:
                note_load(env, reg_type)
    elif t == RegType.PTR_TO_STACK:
        check_stack_access_within_bounds(env, regno, off, size, write)
        if write:
            check_stack_write(env, regno, off, size, value_regno, insn)
        else:
            check_stack_read(env, regno, off, size, value_regno)
    elif t in (RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META):
        if write and not may_access_direct_pkt_data(env, True):
            env.reject("cannot write into packet", errno.EACCES)
        if leak:
            env.reject(f"R{value_regno} leaks addr into packet", errno.EACCES)
        check_packet_access(env, regno, off, size, False)
        if not write and value_regno >= 0:
            mark_unknown(env, regs[value_regno])
    elif t == RegType.PTR_TO_FLOW_KEYS:
        if leak:
            env.reject(f"R{value_regno} leaks addr into flow keys", errno.EACCES)
        if size < 0 or off < 0 or off + size > 56:  # sizeof(struct bpf_flow_keys)
            env.reject(f"invalid access to flow keys off={off} size={size}", errno.EACCES)
        if not write and value_regno >= 0:
            mark_unknown(env, regs[value_regno])
    elif t in _SK_TYPES:
        if write:
            env.reject(f"R{regno} cannot write into {reg_type_str(t)}", errno.EACCES)
        _check_sock_access(env, regno, off, size)
        if value_regno >= 0:
            mark_unknown(env, regs[value_regno])
    elif base == RegType.PTR_TO_BTF_ID and not t & TypeFlag.PTR_MAYBE_NULL:
        check_ptr_to_btf_access(env, regs, regno, off, size, write, value_regno)
    elif t == RegType.CONST_PTR_TO_MAP:
        check_ptr_to_map_access(env, regs, regno, off, size, write, value_regno)
    else:
        env.reject(f"R{regno} invalid mem access '{reg_type_str(t)}'", errno.EACCES)
    if not write and value_regno >= 0 and size < 8 and \
            regs[value_regno].type == RegType.SCALAR_VALUE:
        if is_ldsx:
            coerce_reg_to_size_sx(regs[value_regno], size)
        else:
            coerce_reg_to_size(regs[value_regno], size)


def _check_sock_access(env: Env, regno: int, off: int, size: int) -> None:
    """``check_sock_access()`` (bounds only: the per-field rules are not modelled)."""
    reg = cur_regs(env)[regno]
    if reg.smin_value < 0:
        env.reject(f"R{regno} min value is negative, either use unsigned index or do a if "
                   "(index >=0) check.", errno.EACCES)  # fmt: skip
    if off < 0 or off + size > 80:
        env.reject(f"R{regno} invalid {reg_type_str(reg.type)} access off={off} size={size}",
                   errno.EACCES)  # fmt: skip


def _reg_type_mismatch_ok(t: int) -> bool:
    return base_type(t) not in (RegType.PTR_TO_CTX, RegType.PTR_TO_SOCKET,
                                RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_TCP_SOCK,
                                RegType.PTR_TO_XDP_SOCK, RegType.PTR_TO_BTF_ID,
                                RegType.PTR_TO_ARENA)  # fmt: skip


def save_aux_ptr_type(env: Env, t: int, allow_trust_mismatch: bool = False) -> None:
    """``save_aux_ptr_type()``: one load/store instruction, one kind of pointer (for ctx
    rewriting)."""
    aux = env.aux[env.insn_idx]
    prev = aux.ptr_type
    if prev is None:
        aux.ptr_type = t
        return
    if t != prev and (not _reg_type_mismatch_ok(t) or not _reg_type_mismatch_ok(prev)):
        if allow_trust_mismatch and base_type(t) == RegType.PTR_TO_BTF_ID and \
                base_type(prev) == RegType.PTR_TO_BTF_ID:
            return
        env.reject("same insn cannot be used with different pointers")


def check_load_mem(env: Env, insn: Instruction, is_ldsx: bool, strict_once: bool = False,
                   ctx: str = "ldx") -> None:
    """``check_load_mem()``: ``dst = *(size *)(src + off)``."""
    regs = cur_regs(env)
    check_reg_arg(env, insn.src, RegArg.SRC_OP)
    check_reg_arg(env, insn.dst, RegArg.DST_OP_NO_MARK)
    src_type = regs[insn.src].type
    check_mem_access(env, insn.src, insn.off, insn.size, write=False, value_regno=insn.dst,
                     insn=insn, is_ldsx=is_ldsx, strict_once=strict_once)  # fmt: skip
    save_aux_ptr_type(env, src_type, allow_trust_mismatch=True)
    note_access(env, src_type)
    sanity_check(env, regs[insn.dst], ctx)


def check_store_reg(env: Env, insn: Instruction, strict_once: bool = False) -> None:
    """``check_store_reg()``: ``*(size *)(dst + off) = src``."""
    regs = cur_regs(env)
    check_reg_arg(env, insn.src, RegArg.SRC_OP)
    check_reg_arg(env, insn.dst, RegArg.SRC_OP)
    dst_type = regs[insn.dst].type
    check_mem_access(env, insn.dst, insn.off, insn.size, write=True, value_regno=insn.src,
                     insn=insn, strict_once=strict_once)  # fmt: skip
    save_aux_ptr_type(env, dst_type)
    note_access(env, dst_type)


def check_ld_imm(env: Env, insn: Instruction) -> None:
    """``check_ld_imm()``: ``lddw`` of a constant, a map, or a map value address."""
    regs = cur_regs(env)
    if insn.size != Size.DW:
        env.reject("invalid BPF_LD_IMM insn")
    if insn.off:
        env.reject("BPF_LD_IMM64 uses reserved fields")
    check_reg_arg(env, insn.dst, RegArg.DST_OP)
    dst = regs[insn.dst]
    if insn.src == 0:
        mark_known(dst, insn.imm64)
        return
    mark_reg_known_zero(dst)
    if insn.src == PseudoSrc.FUNC:
        if env.spec is None or not env.spec.func_info:
            env.reject("missing btf func_info")
        dst.type = RegType.PTR_TO_FUNC
        target = env.insn_idx + insn.imm + 1
        dst.subprogno = next(i for i, sp in enumerate(env.subprogs) if sp.start == target)
        return
    aux = env.aux[env.insn_idx]
    dst.map_ptr = aux.map
    if insn.src in (PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE):
        dst.type = RegType.PTR_TO_MAP_VALUE
        dst.off = aux.map_off
    elif insn.src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX):
        dst.type = RegType.CONST_PTR_TO_MAP
    else:
        env.reject("bpf verifier is misconfigured")


def check_ld_abs(env: Env, insn: Instruction) -> None:
    """``check_ld_abs()``: legacy packet loads, ``R6`` = skb; clobbers ``R1``-``R5``."""
    from pybpf.verifier.transfer.call import check_resource_leak

    regs = cur_regs(env)
    if env.prog_type not in (ProgType.SOCKET_FILTER, ProgType.SCHED_CLS, ProgType.SCHED_ACT):
        env.reject("BPF_LD_[ABS|IND] instructions not allowed for this program type")
    if insn.dst or insn.off or insn.size == Size.DW or (insn.mode == Mode.ABS and insn.src):
        env.reject("BPF_LD_[ABS|IND] uses reserved fields")
    check_reg_arg(env, 6, RegArg.SRC_OP)
    check_resource_leak(env, False, True, "BPF_LD_[ABS|IND]")
    if regs[6].type != RegType.PTR_TO_CTX:
        env.reject("at the time of BPF_LD_ABS|IND R6 != pointer to skb")
    if insn.mode == Mode.IND:
        check_reg_arg(env, insn.src, RegArg.SRC_OP)
    check_ptr_off_reg(env, regs[6], 6)
    for r in range(6):
        mark_not_init(env, regs[r])
        check_reg_arg(env, r, RegArg.DST_OP_NO_MARK)
    mark_unknown(env, regs[0])
    regs[0].subreg_def = env.insn_idx + 1


def check_atomic(env: Env, insn: Instruction) -> None:
    """Atomic instructions live in :mod:`.atomic`."""
    from pybpf.verifier.transfer.atomic import check_atomic as _check

    _check(env, insn)

