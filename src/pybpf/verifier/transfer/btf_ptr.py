"""Loads through a map pointer and through BTF-typed kernel pointers.

Mirrors ``check_ptr_to_map_access()``, ``check_ptr_to_btf_access()``, ``mark_btf_ld_reg()``,
``is_trusted_reg()`` and ``clear_trusted_flags()`` of kernel/bpf/verifier.c (Linux 6.18); the
field walk itself is :mod:`pybpf.verifier.btf_access`, over the target kernel's BTF
(:meth:`Env.btf_vmlinux <pybpf.verifier.env.Env.btf_vmlinux>`).

A privileged program may read the kernel's struct behind a map (``struct bpf_array`` for an
array, ``struct bpf_htab`` for a hash...: :attr:`MapTypeInfo.btf_struct
<pybpf.platform.maptypes.MapTypeInfo.btf_struct>`), never write it. A pointer read from it is
``PTR_TO_BTF_ID | PTR_UNTRUSTED`` (measured on 6.18: every pointer a map walk yields is
untrusted), and so is every pointer read through that one in turn; reads through them are
probe reads, checked against the BTF only.

Not modelled (refused with ``EOPNOTSUPP`` and a message that says so): loads through
``PTR_TO_BTF_ID`` registers of no known BTF type (the trusted pointers of the NETFILTER context,
BTF pointers returned by helpers), through trusted or RCU pointers (``type_is_trusted()``,
``type_is_rcu()``... and the RCU critical sections they depend on), writes through
``PTR_TO_BTF_ID`` to ``struct nf_conn`` (``nf_conntrack``'s ``btf_struct_access``) and from
struct_ops programs.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, NoReturn

from pybpf.btf import BtfKind
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_types import RegType, TypeFlag
from pybpf.platform.maptypes import MAP_TYPES
from pybpf.verifier.btf_access import FieldAccess, Refusal, btf_name, btf_struct_access
from pybpf.verifier.env import Env
from pybpf.verifier.regstate import RegState, mark_reg_known_zero, reg_type_str
from pybpf.verifier.tnum import tnum_is_const
from pybpf.verifier.transfer.common import mark_unknown

if TYPE_CHECKING:
    from pybpf.btf import Btf

__all__ = ["check_ptr_to_btf_access", "check_ptr_to_map_access", "mark_btf_ld_reg"]

ENOTSUPP = 524
"""The kernel-internal ``ENOTSUPP`` that ``BPF_PROG_LOAD`` returns as is."""
_TRUSTED_MODIFIERS = TypeFlag.MEM_ALLOC | TypeFlag.PTR_TRUSTED | TypeFlag.NON_OWN_REF
_UNSAFE_MODIFIERS = TypeFlag.PTR_UNTRUSTED | TypeFlag.PTR_MAYBE_NULL
#: Program types whose ``bpf_verifier_ops`` have a ``btf_struct_access`` (writes through BTF
#: pointers go there): tc (``tc_cls_act_btf_struct_access()``), XDP, struct_ops.
_OPS_BTF_STRUCT_ACCESS = frozenset({ProgType.SCHED_CLS, ProgType.SCHED_ACT, ProgType.XDP,
                                    ProgType.STRUCT_OPS})  # fmt: skip
#: The structs nf_conntrack's btf_struct_access lets tc and XDP programs write (a field).
_NF_CONN = frozenset({"nf_conn", "nf_conn___init"})


def mark_btf_ld_reg(env: Env, reg: RegState, access: FieldAccess, flag: int) -> None:
    """``mark_btf_ld_reg()``: the register a load through a BTF-typed pointer fills."""
    if access.reg_type == RegType.SCALAR_VALUE:
        mark_unknown(env, reg)
        return
    mark_reg_known_zero(reg)
    reg.type = access.reg_type | flag
    if access.reg_type == RegType.PTR_TO_BTF_ID:
        btf = env.btf_vmlinux()
        assert btf is not None
        reg.btf_id = access.btf_id
        reg.btf_name = btf_name(btf, access.btf_id)
        if flag & TypeFlag.PTR_MAYBE_NULL:
            reg.id = env.new_id()
    else:  # PTR_TO_MEM: read-only untrusted memory of unknown size
        reg.mem_size = 0


def _reject(env: Env, refusal: Refusal) -> NoReturn:
    env.reject(refusal.message, refusal.errno)


def _vmlinux_or_reject(env: Env, what: str) -> Btf:
    btf = env.btf_vmlinux()
    if btf is None:
        env.reject(f"pybpf needs the kernel's BTF (/sys/kernel/btf/vmlinux) to check {what}",
                   errno.EOPNOTSUPP)  # fmt: skip
    return btf


def check_ptr_to_map_access(env: Env, regs: list[RegState], regno: int, off: int, size: int,
                            write: bool, value_regno: int) -> None:
    """``check_ptr_to_map_access()``: a read of the kernel's ``struct bpf_map`` container."""
    reg = regs[regno]
    assert reg.map_ptr is not None
    btf = _vmlinux_or_reject(env, "a read through a map pointer")
    map_type = reg.map_ptr.map_type
    info = MAP_TYPES.get(map_type)  # type: ignore[call-overload]
    type_id = btf.find(info.btf_struct, BtfKind.STRUCT) if info and info.btf_struct else None
    if type_id is None:
        env.reject(f"map_ptr access not supported for map type {int(map_type)}", ENOTSUPP)
    tname = btf_name(btf, type_id)
    if not env.allow_ptr_leaks:
        env.reject(f"'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN",
                   errno.EPERM)  # fmt: skip
    if off < 0:
        env.reject(f"R{regno} is {tname} invalid negative access: off={off}", errno.EACCES)
    if write:
        env.reject(f"only read from {tname} is supported", errno.EACCES)
    access = btf_struct_access(btf, type_id, off, size)
    if isinstance(access, Refusal):
        _reject(env, access)
    flag = access.flag
    if access.reg_type == RegType.PTR_TO_BTF_ID:
        flag |= TypeFlag.PTR_UNTRUSTED
    if value_regno >= 0:
        mark_btf_ld_reg(env, regs[value_regno], access, flag)


def _is_trusted_reg(reg: RegState) -> bool:
    """``is_trusted_reg()`` for ``PTR_TO_BTF_ID`` (no type of ``reg2btf_ids[]``)."""
    if reg.ref_obj_id:
        return True
    return bool(reg.type & _TRUSTED_MODIFIERS) and not reg.type & _UNSAFE_MODIFIERS


def _check_write(env: Env, btf: Btf, reg: RegState, tname: str) -> None:
    """The write half of ``check_ptr_to_btf_access()``: the program type's
    ``btf_struct_access`` if it has one, else the default (reads only)."""
    if env.prog_type in _OPS_BTF_STRUCT_ACCESS:
        if env.prog_type == ProgType.STRUCT_OPS:
            env.reject("pybpf does not model writes through BTF pointers in struct_ops programs",
                       errno.EOPNOTSUPP)  # fmt: skip
        if btf.kind_of(reg.btf_id) == BtfKind.STRUCT and btf.name_of(reg.btf_id) in _NF_CONN:
            env.reject(f"pybpf does not model writes to 'struct {tname}' (nf_conntrack's "
                       "btf_struct_access)", errno.EOPNOTSUPP)  # fmt: skip
    env.reject("only read is supported", errno.EACCES)


def check_ptr_to_btf_access(env: Env, regs: list[RegState], regno: int, off: int, size: int,
                            write: bool, value_regno: int) -> None:
    """``check_ptr_to_btf_access()``: a load (or store) through a ``PTR_TO_BTF_ID``."""
    reg = regs[regno]
    if not reg.btf_id:
        env.reject(f"pybpf does not model loads through R{regno} ({reg_type_str(reg.type)}): "
                   "its BTF type is not known", errno.EOPNOTSUPP)  # fmt: skip
    btf = _vmlinux_or_reject(env, "a load through a BTF pointer")
    tname = btf_name(btf, reg.btf_id)
    if not env.allow_ptr_leaks:
        env.reject(f"'struct {tname}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN",
                   errno.EPERM)  # fmt: skip
    from pybpf.verifier.transfer.call import gpl_compatible

    license_ = env.spec.license if env.spec is not None else "GPL"
    if not gpl_compatible(license_):
        env.reject(f"Cannot access kernel 'struct {tname}' from non-GPL compatible program")
    if not tnum_is_const(reg.var_off):
        env.reject(f"R{regno} is ptr_{tname} invalid variable offset: off={off}, "
                   f"var_off={reg.var_off}", errno.EACCES)  # fmt: skip
    off = (off + reg.var_off.value + (1 << 31)) % (1 << 32) - (1 << 31)  # int arithmetic
    if off < 0:
        env.reject(f"R{regno} is ptr_{tname} invalid negative access: off={off}", errno.EACCES)
    if reg.type & TypeFlag.MEM_USER:
        env.reject(f"R{regno} is ptr_{tname} access user memory: off={off}", errno.EACCES)
    if reg.type & TypeFlag.MEM_PERCPU:
        env.reject(f"R{regno} is ptr_{tname} access percpu memory: off={off}", errno.EACCES)
    if write:
        _check_write(env, btf, reg, tname)
    access = btf_struct_access(btf, reg.btf_id, off, size)
    if isinstance(access, Refusal):
        _reject(env, access)
    flag = access.flag
    if access.reg_type != RegType.PTR_TO_BTF_ID:
        pass
    elif reg.type & TypeFlag.PTR_UNTRUSTED:
        # every pointer read through an untrusted one is untrusted (and only that)
        flag = TypeFlag.PTR_UNTRUSTED
    elif _is_trusted_reg(reg) or reg.type & TypeFlag.MEM_RCU:
        env.reject(f"pybpf does not model loads of pointers through trusted or RCU pointers "
                   f"(R{regno} {reg_type_str(reg.type)}{tname})", errno.EOPNOTSUPP)  # fmt: skip
    else:
        # clear_trusted_flags(): the old, deprecated plain PTR_TO_BTF_ID
        flag &= ~(_TRUSTED_MODIFIERS | TypeFlag.MEM_RCU)
    if value_regno >= 0:
        mark_btf_ld_reg(env, regs[value_regno], access, flag)
