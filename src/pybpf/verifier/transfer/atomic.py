"""Atomic instructions: read-modify-write on memory, load-acquire and store-release.

Mirrors ``check_atomic()``, ``check_atomic_rmw()``, ``check_atomic_load()``,
``check_atomic_store()`` and ``atomic_ptr_type_ok()`` of kernel/bpf/verifier.c (Linux 6.18):
the memory must be readable and writable at the operand size with strict alignment; the
fetching forms load the old value into ``src`` (``r0`` for cmpxchg); pointers may not be
stored atomically in unprivileged programs; context, packet, flow-key and socket memory
cannot be used atomically.
"""

from __future__ import annotations

import errno

from pybpf.isa.opcodes import FETCH
from pybpf.isa import AtomicOp, Instruction, Size
from pybpf.platform.helper_types import RegType
from pybpf.verifier.env import Env
from pybpf.verifier.regstate import reg_type_str
from pybpf.verifier.transfer.common import RegArg, check_reg_arg, cur_regs, is_pointer_value
from pybpf.verifier.transfer.mem import check_load_mem, check_mem_access, check_store_reg

__all__ = ["check_atomic"]

_RMW = {AtomicOp.ADD, AtomicOp.ADD | FETCH, AtomicOp.AND, AtomicOp.AND | FETCH, AtomicOp.OR,
        AtomicOp.OR | FETCH, AtomicOp.XOR, AtomicOp.XOR | FETCH, AtomicOp.XCHG,
        AtomicOp.CMPXCHG}  # fmt: skip
_NOT_ATOMIC = (RegType.PTR_TO_CTX, RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META,
               RegType.PTR_TO_FLOW_KEYS, RegType.PTR_TO_SOCKET, RegType.PTR_TO_SOCK_COMMON,
               RegType.PTR_TO_TCP_SOCK, RegType.PTR_TO_XDP_SOCK)  # fmt: skip


def _ptr_type_ok(env: Env, regno: int) -> bool:
    return cur_regs(env)[regno].type not in _NOT_ATOMIC


def _check_rmw(env: Env, insn: Instruction) -> None:
    if insn.size not in (Size.W, Size.DW):
        env.reject("invalid atomic operand size")
    check_reg_arg(env, insn.src, RegArg.SRC_OP)
    check_reg_arg(env, insn.dst, RegArg.SRC_OP)
    if insn.imm == AtomicOp.CMPXCHG:
        check_reg_arg(env, 0, RegArg.SRC_OP)
        if is_pointer_value(env, 0):
            env.reject("R0 leaks addr into mem", errno.EACCES)
    if is_pointer_value(env, insn.src):
        env.reject(f"R{insn.src} leaks addr into mem", errno.EACCES)
    if not _ptr_type_ok(env, insn.dst):
        t = cur_regs(env)[insn.dst].type
        env.reject(f"BPF_ATOMIC stores into R{insn.dst} {reg_type_str(t)} is not allowed",
                   errno.EACCES)  # fmt: skip
    load_reg = -1
    if insn.imm & FETCH:
        load_reg = 0 if insn.imm == AtomicOp.CMPXCHG else insn.src
        check_reg_arg(env, load_reg, RegArg.DST_OP)
    check_mem_access(env, insn.dst, insn.off, insn.size, write=False, value_regno=-1,
                     insn=insn, strict_once=True)  # fmt: skip
    if load_reg >= 0:
        check_mem_access(env, insn.dst, insn.off, insn.size, write=False, value_regno=load_reg,
                         insn=insn, strict_once=True)  # fmt: skip
    check_mem_access(env, insn.dst, insn.off, insn.size, write=True, value_regno=-1, insn=insn,
                     strict_once=True)  # fmt: skip


def check_atomic(env: Env, insn: Instruction) -> None:
    """``check_atomic()``."""
    if insn.imm in _RMW:
        _check_rmw(env, insn)
    elif insn.imm == AtomicOp.LOAD_ACQ:
        check_load_mem(env, insn, is_ldsx=False, strict_once=True, ctx="atomic_load")
        if not _ptr_type_ok(env, insn.src):
            t = cur_regs(env)[insn.src].type
            env.reject(f"BPF_ATOMIC loads from R{insn.src} {reg_type_str(t)} is not allowed",
                       errno.EACCES)  # fmt: skip
    elif insn.imm == AtomicOp.STORE_REL:
        check_store_reg(env, insn, strict_once=True)
        if not _ptr_type_ok(env, insn.dst):
            t = cur_regs(env)[insn.dst].type
            env.reject(f"BPF_ATOMIC stores into R{insn.dst} {reg_type_str(t)} is not allowed",
                       errno.EACCES)  # fmt: skip
    else:
        env.reject(f"BPF_ATOMIC uses invalid atomic opcode {insn.imm & 0xFF:02x}")
