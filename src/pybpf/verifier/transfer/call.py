"""Calls: helpers, bpf-to-bpf calls, returns, and the checks made at exit.

Mirrors ``check_helper_call()``, ``check_func_arg()``, ``check_reg_type()``,
``check_func_arg_reg_off()``, ``check_helper_mem_access()``, ``check_mem_size_reg()``,
``release_reference()``, ``clear_all_pkt_pointers()``, ``check_func_call()``,
``setup_func_entry()``, ``prepare_func_exit()``, ``check_resource_leak()`` and
``check_return_code()`` of kernel/bpf/verifier.c (Linux 6.18). Prototypes, the helpers each
program type may call and map/helper compatibility come from :mod:`pybpf.platform`.

Callback-calling helpers (``bpf_loop``, ``bpf_for_each_map_elem``...) are in
:mod:`pybpf.verifier.transfer.callback`.

Not modelled: asynchronous callbacks (timers), dynptrs, kptrs, spin locks, BTF-typed
arguments, global functions. Format strings: :mod:`pybpf.verifier.transfer.bprintf`.
"""

from __future__ import annotations

import dataclasses
import errno
import os

from pybpf.isa import Instruction
from pybpf.platform.enums import MapType
from pybpf.platform.helper_ids import HelperId, helper_name
from pybpf.platform.helper_model import HelperProto
from pybpf.platform.helper_types import ArgType, RegType, RetType, TypeFlag, base_type
from pybpf.platform.helpers import changes_pkt_data
from pybpf.platform.maptypes import incompatible_message, map_func_compatible, map_type_info
from pybpf.platform.prog_helpers import helper_access
from pybpf.platform.prog_types import return_range
from pybpf.verifier.bounds import reg_bound_offset, reg_deduce_bounds, s32
from pybpf.verifier.env import Env
from pybpf.verifier.log import format_func_state
from pybpf.verifier.map_btf import check_map_fields, may_point_to_spin_lock
from pybpf.verifier.precision import mark_chain_precision, mark_chain_precision_batch
from pybpf.verifier.regstate import DEF_NOT_SUBREG, RegState, mark_reg_known_zero, reg_type_str
from pybpf.verifier.state import MAX_CALL_FRAMES, RefState, new_func_state
from pybpf.verifier.tnum import tnum_equals_const, tnum_is_const
from pybpf.verifier.transfer.bprintf import check_bpf_snprintf_call, check_reg_const_str
from pybpf.verifier.transfer.callback import (
    callback_exit,
    check_callback_helper,
    widen_after_callback,
)
from pybpf.verifier.transfer.common import (
    RegArg,
    check_reg_arg,
    cur_regs,
    invalid_scalar_message,
    is_pointer_value,
    mark_not_init,
    mark_unknown,
)
from pybpf.verifier.transfer.mem import (
    check_mem_access,
    check_mem_region_access,
    check_packet_access,
    check_ptr_off_reg,
    may_access_direct_pkt_data,
)
from pybpf.verifier.transfer.stack import check_stack_range_initialized

__all__ = [
    "check_func_call",
    "check_helper_call",
    "check_resource_leak",
    "check_return_code",
    "prepare_func_exit",
]

BPF_MAX_VAR_SIZ = 1 << 29
R, F = RegType, TypeFlag
_MEM_TYPES = (R.PTR_TO_STACK, R.PTR_TO_PACKET, R.PTR_TO_PACKET_META, R.PTR_TO_MAP_KEY,
              R.PTR_TO_MAP_VALUE, R.PTR_TO_MEM, R.PTR_TO_MEM | F.MEM_RINGBUF, R.PTR_TO_BUF,
              R.PTR_TO_BTF_ID | F.PTR_TRUSTED)  # fmt: skip
_SOCK_TYPES = (R.PTR_TO_SOCK_COMMON, R.PTR_TO_SOCKET, R.PTR_TO_TCP_SOCK, R.PTR_TO_XDP_SOCK)
COMPATIBLE: dict[ArgType, tuple[int, ...]] = {
    ArgType.PTR_TO_MAP_KEY: _MEM_TYPES, ArgType.PTR_TO_MAP_VALUE: _MEM_TYPES,
    ArgType.CONST_SIZE: (R.SCALAR_VALUE,), ArgType.CONST_SIZE_OR_ZERO: (R.SCALAR_VALUE,),
    ArgType.CONST_ALLOC_SIZE_OR_ZERO: (R.SCALAR_VALUE,),
    ArgType.CONST_MAP_PTR: (R.CONST_PTR_TO_MAP,), ArgType.PTR_TO_CTX: (R.PTR_TO_CTX,),
    ArgType.PTR_TO_SOCK_COMMON: _SOCK_TYPES,
    ArgType.PTR_TO_BTF_ID_SOCK_COMMON: _SOCK_TYPES + (R.PTR_TO_BTF_ID,
                                                      R.PTR_TO_BTF_ID | F.PTR_TRUSTED),
    ArgType.PTR_TO_SOCKET: (R.PTR_TO_SOCKET,),
    ArgType.PTR_TO_BTF_ID: (R.PTR_TO_BTF_ID, R.PTR_TO_BTF_ID | F.PTR_TRUSTED,
                            R.PTR_TO_BTF_ID | F.MEM_RCU),
    ArgType.PTR_TO_SPIN_LOCK: (R.PTR_TO_MAP_VALUE, R.PTR_TO_BTF_ID | F.MEM_ALLOC),
    ArgType.PTR_TO_MEM: _MEM_TYPES,
    ArgType.PTR_TO_RINGBUF_MEM: (R.PTR_TO_MEM | F.MEM_RINGBUF,),
    ArgType.PTR_TO_PERCPU_BTF_ID: (R.PTR_TO_BTF_ID | F.MEM_PERCPU,
                                   R.PTR_TO_BTF_ID | F.MEM_PERCPU | F.MEM_RCU,
                                   R.PTR_TO_BTF_ID | F.MEM_PERCPU | F.PTR_TRUSTED),
    ArgType.PTR_TO_FUNC: (R.PTR_TO_FUNC,), ArgType.PTR_TO_STACK: (R.PTR_TO_STACK,),
    ArgType.PTR_TO_CONST_STR: (R.PTR_TO_MAP_VALUE,), ArgType.PTR_TO_TIMER: (R.PTR_TO_MAP_VALUE,),
    ArgType.PTR_TO_DYNPTR: (R.PTR_TO_STACK, R.CONST_PTR_TO_DYNPTR),
}  # fmt: skip
_OFF_OK = {R.PTR_TO_STACK, R.PTR_TO_PACKET, R.PTR_TO_PACKET_META, R.PTR_TO_MAP_KEY,
           R.PTR_TO_MAP_VALUE, R.PTR_TO_MEM, R.PTR_TO_MEM | F.MEM_RDONLY,
           R.PTR_TO_MEM | F.MEM_RINGBUF, R.PTR_TO_BUF, R.PTR_TO_BUF | F.MEM_RDONLY,
           R.PTR_TO_ARENA, R.SCALAR_VALUE}  # fmt: skip
H = HelperId
_ACQUIRE = {H.SK_LOOKUP_TCP, H.SK_LOOKUP_UDP, H.SKC_LOOKUP_TCP, H.RINGBUF_RESERVE, H.KPTR_XCHG}
_PTR_CAST = {H.TCP_SOCK, H.SK_FULLSOCK, H.SKC_TO_TCP_SOCK, H.SKC_TO_TCP6_SOCK,
             H.SKC_TO_UDP6_SOCK, H.SKC_TO_MPTCP_SOCK, H.SKC_TO_TCP_TIMEWAIT_SOCK,
             H.SKC_TO_TCP_REQUEST_SOCK}  # fmt: skip
_MAP_WRITERS = {H.MAP_DELETE_ELEM, H.MAP_UPDATE_ELEM, H.MAP_PUSH_ELEM, H.MAP_POP_ELEM}
_NEEDS_MAP_RECORD = {H.TAIL_CALL, H.MAP_LOOKUP_ELEM, H.MAP_UPDATE_ELEM, H.MAP_DELETE_ELEM,
                     H.MAP_PUSH_ELEM, H.MAP_POP_ELEM, H.MAP_PEEK_ELEM, H.FOR_EACH_MAP_ELEM,
                     H.REDIRECT_MAP, H.MAP_LOOKUP_PERCPU_ELEM}  # fmt: skip


class _Meta:
    """``struct bpf_call_arg_meta`` (the fields used here)."""

    __slots__ = ("map_ptr", "map_uid", "raw_mode", "pkt_access", "release_regno", "regno",
                 "access_size", "mem_size", "msize_max_value", "ref_obj_id", "func_id",
                 "const_map_key", "subprogno")  # fmt: skip

    def __init__(self, func_id: int, pkt_access: bool) -> None:
        self.map_ptr = None
        self.map_uid = 0
        self.raw_mode = False
        self.pkt_access = pkt_access
        self.release_regno = 0
        self.regno = 0
        self.access_size = 0
        self.mem_size = 0
        self.msize_max_value = 0
        self.ref_obj_id = 0
        self.func_id = func_id
        self.const_map_key = -1
        self.subprogno = 0


def _is_null(reg: RegState) -> bool:
    return reg.type == R.SCALAR_VALUE and tnum_equals_const(reg.var_off, 0)


def _check_reg_type(env: Env, regno: int, arg_type: ArgType, arg_flags: int) -> None:
    reg = cur_regs(env)[regno]
    t = reg.type
    if arg_flags & F.MEM_RDONLY:
        t &= ~F.MEM_RDONLY
    if arg_flags & F.PTR_MAYBE_NULL:
        t &= ~F.PTR_MAYBE_NULL
    if arg_type == ArgType.PTR_TO_MEM:
        t &= ~(F.DYNPTR_TYPE_LOCAL | F.DYNPTR_TYPE_RINGBUF | F.DYNPTR_TYPE_SKB
               | F.DYNPTR_TYPE_XDP | F.DYNPTR_TYPE_SKB_META)  # fmt: skip
    compatible = COMPATIBLE.get(arg_type)
    if compatible is None:
        env.reject(f"pybpf does not verify helper arguments of type ARG_{arg_type.name}",
                   errno.EOPNOTSUPP)  # fmt: skip
    if t in compatible:
        return
    expected = ", ".join(reg_type_str(c) for c in compatible)
    env.reject(f"R{regno} type={reg_type_str(reg.type)} expected={expected}", errno.EACCES)


def _check_func_arg_reg_off(env: Env, reg: RegState, regno: int, release: bool) -> None:
    if release:
        if reg.off:
            env.reject(f"R{regno} must have zero offset when passed to release func or trusted "
                       "arg to kfunc")  # fmt: skip
        check_ptr_off_reg(env, reg, regno)
        return
    if reg.type in _OFF_OK:
        return
    if base_type(reg.type) == R.PTR_TO_BTF_ID:
        check_ptr_off_reg(env, reg, regno, fixed_off_ok=True)
        return
    check_ptr_off_reg(env, reg, regno)


def check_helper_mem_access(env: Env, regno: int, access_size: int, write: bool,
                            zero_size_allowed: bool, meta: _Meta | None) -> None:
    """``check_helper_mem_access()``: ``[reg, reg + size)`` is readable (or writable)."""
    reg = cur_regs(env)[regno]
    base = base_type(reg.type)
    if base in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META):
        check_packet_access(env, regno, reg.off, access_size, zero_size_allowed)
    elif base == R.PTR_TO_MAP_KEY:
        if write:
            env.reject(f"R{regno} cannot write into {reg_type_str(reg.type)}", errno.EACCES)
        assert reg.map_ptr is not None
        check_mem_region_access(env, regno, reg.off, access_size, reg.map_ptr.key_size, False)
    elif base == R.PTR_TO_MAP_VALUE:
        m = reg.map_ptr
        assert m is not None
        if write and (m.flags & 0x80 or m.read_only):
            env.reject(f"write into map forbidden, value_size={m.value_size} off={reg.off} "
                       f"size={access_size}", errno.EACCES)  # fmt: skip
        check_mem_region_access(env, regno, reg.off, access_size, m.value_size,
                                zero_size_allowed)  # fmt: skip
        check_map_fields(env, reg, reg.off, access_size)
    elif base == R.PTR_TO_MEM:
        if reg.type & F.MEM_RDONLY and write:
            env.reject(f"R{regno} cannot write into {reg_type_str(reg.type)}", errno.EACCES)
        check_mem_region_access(env, regno, reg.off, access_size, reg.mem_size,
                                zero_size_allowed)  # fmt: skip
    elif base == R.PTR_TO_STACK:
        check_stack_range_initialized(env, regno, reg.off, access_size, zero_size_allowed,
                                      write, meta is not None and meta.raw_mode)  # fmt: skip
        if meta is not None and meta.raw_mode:
            meta.access_size = access_size
            meta.regno = regno
    else:
        if zero_size_allowed and access_size == 0 and _is_null(reg):
            return
        env.reject(f"R{regno} type={reg_type_str(reg.type)} expected=fp", errno.EACCES)


def _check_mem_size_reg(env: Env, reg: RegState, regno: int, write: bool,
                        zero_size_allowed: bool, meta: _Meta) -> None:
    meta.msize_max_value = reg.umax_value
    use_meta: _Meta | None = meta if tnum_is_const(reg.var_off) else None
    if reg.smin_value < 0:
        env.reject(f"R{regno} min value is negative, either use unsigned or 'var &= const'",
                   errno.EACCES)  # fmt: skip
    if reg.umin_value == 0 and not zero_size_allowed:
        env.reject(f"R{regno} invalid zero-sized read: u64=[{reg.umin_value},"
                   f"{reg.umax_value}]", errno.EACCES)  # fmt: skip
    if reg.umax_value >= BPF_MAX_VAR_SIZ:
        env.reject(f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < "
                   "const)'", errno.EACCES)  # fmt: skip
    if use_meta is None:
        saved, meta.raw_mode = meta.raw_mode, False
        check_helper_mem_access(env, regno - 1, reg.umax_value, write, zero_size_allowed, None)
        meta.raw_mode = saved
    else:
        check_helper_mem_access(env, regno - 1, reg.umax_value, write, zero_size_allowed, meta)
    mark_chain_precision(env, regno)  # the access was checked against the size's range


def _const_map_key(env: Env, reg: RegState, key_size: int) -> int:
    """``get_constant_map_key()``: the key when it is a known constant on the stack, -1 else.

    A zeroed key (STACK_ZERO bytes) is 0; a spilled constant of exactly the key's size
    (counting the spilled bytes from the key's first byte down, as the kernel does) is used
    and made precise.
    """
    if not env.bpf_capable or reg.type != R.PTR_TO_STACK or not tnum_is_const(reg.var_off):
        return -1
    from pybpf.verifier.transfer.stack import frame_of

    state = frame_of(env, reg)
    value = reg.var_off.value
    stack_off = reg.off + (value - (1 << 64) if value >> 63 else value)
    slot_i = -stack_off - 1
    spi, off = divmod(slot_i, 8)
    if not 0 <= spi < len(state.stack):
        return -1
    st = state.stack[spi]
    stype = st.slot_type
    zero_size = 0
    for i in range(off, -1, -1):
        if stype[i] != 3:  # STACK_ZERO
            break
        zero_size += 1
    if zero_size >= key_size:
        return 0
    if not st.is_spilled_scalar_reg():
        return -1
    spill_size = 0
    for i in range(off, -1, -1):
        if stype[i] != 1:  # STACK_SPILL
            break
        spill_size += 1
    if spill_size != key_size or not tnum_is_const(st.spilled_ptr.var_off):
        return -1
    # the verifier relies on the spilled constant: it must be precise
    env.bt.reset()
    env.bt.set_frame_slot(reg.frameno, spi)
    mark_chain_precision_batch(env, env.cur_state)  # type: ignore[arg-type]
    return st.spilled_ptr.var_off.value


def _check_func_arg(env: Env, arg: int, meta: _Meta, fn: HelperProto) -> None:
    if arg >= len(fn.args):
        return
    a = fn.args[arg]
    regno = arg + 1
    regs = cur_regs(env)
    reg = regs[regno]
    arg_type, flags = a.type, int(a.flags)
    if arg_type == ArgType.DONTCARE:
        return
    check_reg_arg(env, regno, RegArg.SRC_OP)
    if arg_type == ArgType.ANYTHING:
        if is_pointer_value(env, regno):
            env.reject(f"R{regno} leaks addr into helper function", errno.EACCES)
        return
    if base_type(reg.type) in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META) and \
            not (meta.pkt_access and may_access_direct_pkt_data(env, False)):
        env.reject("helper access to the packet is not allowed", errno.EACCES)
    release = bool(flags & F.OBJ_RELEASE)
    if _is_null(reg) and flags & F.PTR_MAYBE_NULL:
        # a NULL for a nullable pointer: accepted because it is exactly 0, so precise
        mark_chain_precision(env, regno)
    else:
        _check_reg_type(env, regno, arg_type, flags)
        _check_func_arg_reg_off(env, reg, regno, release)
    if release:
        if not reg.ref_obj_id and not _is_null(reg):
            env.reject(f"R{regno} must be referenced when passed to release function")
        meta.release_regno = regno
    if reg.ref_obj_id and arg_type != ArgType.KPTR_XCHG_DEST:
        if meta.ref_obj_id:
            env.reject(f"verifier internal error: more than one arg with ref_obj_id R{regno} "
                       f"{reg.ref_obj_id} {meta.ref_obj_id}", errno.EFAULT)  # fmt: skip
        meta.ref_obj_id = reg.ref_obj_id
    write = bool(flags & F.MEM_WRITE)
    if arg_type == ArgType.CONST_MAP_PTR:
        meta.map_ptr = reg.map_ptr
        meta.map_uid = reg.map_uid
    elif arg_type == ArgType.PTR_TO_MAP_KEY:
        if meta.map_ptr is None:
            env.reject("invalid map_ptr to access map->key", errno.EACCES)
        key_size = meta.map_ptr.key_size
        check_helper_mem_access(env, regno, key_size, False, False, None)
        if map_type_info(meta.map_ptr.map_type).const_key_non_null:
            meta.const_map_key = _const_map_key(env, reg, key_size)
    elif arg_type == ArgType.PTR_TO_MAP_VALUE:
        if flags & F.PTR_MAYBE_NULL and _is_null(reg):
            return
        if meta.map_ptr is None:
            env.reject("invalid map_ptr to access map->value", errno.EACCES)
        meta.raw_mode = bool(flags & F.MEM_UNINIT)
        check_helper_mem_access(env, regno, meta.map_ptr.value_size, write, False, meta)
    elif arg_type == ArgType.PTR_TO_FUNC:
        meta.subprogno = reg.subprogno
    elif arg_type == ArgType.PTR_TO_MEM:
        meta.raw_mode = bool(flags & F.MEM_UNINIT)
        if flags & F.MEM_FIXED_SIZE:
            check_helper_mem_access(env, regno, a.size or 0, write, False, meta)
    elif arg_type in (ArgType.CONST_SIZE, ArgType.CONST_SIZE_OR_ZERO):
        prev = fn.args[arg - 1]
        _check_mem_size_reg(env, reg, regno, bool(prev.flags & F.MEM_WRITE),
                            arg_type == ArgType.CONST_SIZE_OR_ZERO, meta)  # fmt: skip
    elif arg_type == ArgType.CONST_ALLOC_SIZE_OR_ZERO:
        if not tnum_is_const(reg.var_off):
            env.reject(f"R{regno} is not a known constant'", errno.EACCES)
        meta.mem_size = reg.var_off.value
        mark_chain_precision(env, regno)
    elif arg_type == ArgType.PTR_TO_SPIN_LOCK:
        _process_spin_lock(env, regno, reg, meta.func_id == H.SPIN_LOCK)
    elif arg_type == ArgType.PTR_TO_TIMER:
        _process_timer_func(env, regno, reg)
    elif arg_type == ArgType.PTR_TO_CONST_STR:
        check_reg_const_str(env, reg, regno)
    elif arg_type in (ArgType.PTR_TO_DYNPTR, ArgType.KPTR_XCHG_DEST,
                      ArgType.PTR_TO_PERCPU_BTF_ID):
        env.reject(f"pybpf does not verify helper arguments of type ARG_{arg_type.name}",
                   errno.EOPNOTSUPP)  # fmt: skip


def _process_spin_lock(env: Env, regno: int, reg: RegState, is_lock: bool) -> None:
    """``process_spin_lock()``: see :mod:`pybpf.verifier.map_btf` (map values with BTF)."""
    from pybpf.verifier.map_btf import process_spin_lock

    process_spin_lock(env, regno, reg, is_lock)


def _process_timer_func(env: Env, regno: int, reg: RegState) -> None:
    """``process_timer_func()`` / ``check_map_field_pointer()``: the ``struct bpf_timer``
    is found through the map's value BTF. For a map without BTF the kernel's answer is the
    refusal below; timers in maps with BTF are not modelled (:mod:`pybpf.verifier.map_btf`)."""
    from pybpf.verifier.map_btf import map_record

    if not tnum_is_const(reg.var_off):
        env.reject(f"R{regno} doesn't have constant offset. bpf_timer has to be at the "
                   "constant offset")  # fmt: skip
    m = reg.map_ptr
    if m is not None and map_record(env, m) is not None:
        env.reject("pybpf does not verify bpf_timer in maps with BTF", errno.EOPNOTSUPP)
    name = m.name if m is not None else ""
    env.reject(f"map '{name}' has to have BTF in order to use bpf_timer")


def _record_func_key(env: Env, meta: _Meta) -> None:
    """``record_func_key()``: a constant, in-range tail-call index is relied on (precise)."""
    m = meta.map_ptr
    if m is None or m.map_type != MapType.PROG_ARRAY:
        env.reject("expected prog array map for tail call", newline=False)  # sic
    r3 = cur_regs(env)[3]
    if r3.type == R.SCALAR_VALUE and tnum_is_const(r3.var_off) and \
            r3.var_off.value < m.max_entries:
        mark_chain_precision(env, 3)


def _mark_reg_invalid(env: Env, reg: RegState) -> None:
    if not env.allow_ptr_leaks:
        mark_not_init(env, reg)
    else:
        mark_unknown(env, reg)


def release_reference(env: Env, ref_obj_id: int) -> bool:
    """``release_reference()``: drop the reference and invalidate every copy of it."""
    st = env.cur_state
    assert st is not None
    for i, ref in enumerate(st.refs):
        if ref.id == ref_obj_id:
            del st.refs[i]
            break
    else:
        return False
    for _, reg in st.all_regs():
        if reg.ref_obj_id == ref_obj_id:
            _mark_reg_invalid(env, reg)
    return True


def _clear_all_pkt_pointers(env: Env) -> None:
    st = env.cur_state
    assert st is not None
    for _, reg in st.all_regs():
        if base_type(reg.type) in (R.PTR_TO_PACKET, R.PTR_TO_PACKET_META, R.PTR_TO_PACKET_END):
            _mark_reg_invalid(env, reg)


def check_helper_call(env: Env, insn: Instruction) -> None:
    """``check_helper_call()``."""
    func_id = insn.imm
    name = helper_name(func_id) if 0 <= func_id < len(HelperId) else "unknown"
    if not 0 <= func_id < len(HelperId):
        env.reject(f"invalid func {name}#{func_id}")
    hid = HelperId(func_id)
    access = None
    if hid != HelperId.UNSPEC:
        attach = env.options.expected_attach_type
        try:
            from pybpf.platform.attach import AttachType

            access = helper_access(env.prog_type, hid,
                                   attach_type=AttachType(attach) if attach is not None else None)
        except (KeyError, ValueError):
            access = None
    if access is None or (not env.bpf_capable and access.requires):
        env.reject(f"program of this type cannot use helper {name}#{func_id}")
    fn = access.proto
    license_ = env.spec.license if env.spec is not None else "GPL"
    if fn.gpl_only and not gpl_compatible(license_):
        env.reject("cannot call GPL-restricted function from non-GPL compatible program")
    if fn.might_sleep:
        env.reject("helper call might sleep in a non-sleepable prog")
    meta = _Meta(func_id, fn.pkt_access)
    for i in range(5):
        _check_func_arg(env, i, meta, fn)
    if hid in _NEEDS_MAP_RECORD:
        if meta.map_ptr is None:
            env.reject("kernel subsystem misconfigured verifier")
        if meta.map_ptr.flags & 0x80 and hid in _MAP_WRITERS:
            env.reject("write into map forbidden", errno.EACCES)
    if hid == H.TAIL_CALL:
        _record_func_key(env, meta)
    for i in range(meta.access_size):
        check_mem_access(env, meta.regno, i, 0x10, write=True, value_regno=-1)  # BPF_B
    regs = cur_regs(env)
    if meta.release_regno:
        ok = False
        if meta.ref_obj_id:
            ok = release_reference(env, meta.ref_obj_id)
        elif _is_null(regs[meta.release_regno]):
            ok = True
        if not ok:
            env.reject(f"func {name}#{func_id} reference has not been acquired before")
    if hid == H.TAIL_CALL:
        check_resource_leak(env, False, True, "tail_call")
    elif hid == H.GET_LOCAL_STORAGE and not _is_null(regs[2]):
        env.reject("get_local_storage() doesn't support non-zero flags")
    elif hid in (H.LOOP, H.FOR_EACH_MAP_ELEM, H.TIMER_SET_CALLBACK, H.FIND_VMA,
                 H.USER_RINGBUF_DRAIN):
        check_callback_helper(env, insn, meta.subprogno, meta.map_ptr)
    elif hid == H.SNPRINTF:
        check_bpf_snprintf_call(env)
    for r in range(6):
        mark_not_init(env, regs[r])
        check_reg_arg(env, r, RegArg.DST_OP_NO_MARK)
    r0 = regs[0]
    r0.subreg_def = DEF_NOT_SUBREG
    ret, ret_flag = fn.ret, int(fn.ret_flags)
    if ret == RetType.INTEGER:
        mark_unknown(env, r0)
    elif ret == RetType.VOID:
        r0.type = R.NOT_INIT
    elif ret == RetType.PTR_TO_MAP_VALUE:
        mark_unknown(env, r0)
        mark_reg_known_zero(r0)
        m = meta.map_ptr
        if m is None:
            env.reject("kernel subsystem misconfigured verifier")
        info = map_type_info(m.map_type)
        if hid == H.MAP_LOOKUP_ELEM and info.const_key_non_null and \
                0 <= meta.const_map_key < m.max_entries:
            ret_flag &= ~F.PTR_MAYBE_NULL
        if m.inner_map is not None:
            # A map-in-map lookup gives the inner map (its template, which has no name):
            # map_ptr_or_null.
            r0.map_ptr = dataclasses.replace(m.inner_map, name="")
            r0.type = R.CONST_PTR_TO_MAP | ret_flag
        else:
            r0.map_ptr = m
            r0.map_uid = meta.map_uid
            r0.type = R.PTR_TO_MAP_VALUE | ret_flag
            if not ret_flag & F.PTR_MAYBE_NULL and may_point_to_spin_lock(env, r0):
                r0.id = env.new_id()  # the lock is identified by the pointer's id
    elif ret in (RetType.PTR_TO_SOCKET, RetType.PTR_TO_SOCK_COMMON, RetType.PTR_TO_TCP_SOCK,
                 RetType.PTR_TO_MEM):
        mark_unknown(env, r0)
        mark_reg_known_zero(r0)
        base = {RetType.PTR_TO_SOCKET: R.PTR_TO_SOCKET, RetType.PTR_TO_SOCK_COMMON:
                R.PTR_TO_SOCK_COMMON, RetType.PTR_TO_TCP_SOCK: R.PTR_TO_TCP_SOCK,
                RetType.PTR_TO_MEM: R.PTR_TO_MEM}[ret]  # fmt: skip
        r0.type = base | ret_flag
        if ret == RetType.PTR_TO_MEM:
            r0.mem_size = meta.mem_size
    else:
        env.reject(f"pybpf does not model helpers returning RET_{ret.name} ({name})",
                   errno.EOPNOTSUPP)  # fmt: skip
    if r0.type & F.PTR_MAYBE_NULL:
        r0.id = env.new_id()
    is_sockmap = meta.map_ptr is not None and meta.map_ptr.map_type in (MapType.SOCKMAP,
                                                                      MapType.SOCKHASH)
    if hid in _PTR_CAST:
        r0.ref_obj_id = meta.ref_obj_id
    elif hid in _ACQUIRE or (hid == H.MAP_LOOKUP_ELEM and is_sockmap):
        ident = env.new_id()
        assert env.cur_state is not None
        env.cur_state.refs.append(RefState(ident, env.insn_idx))
        r0.id = ident
        r0.ref_obj_id = ident
    _refine_retval(env, r0, hid, meta)
    if meta.map_ptr is not None and not map_func_compatible(
            meta.map_ptr.map_type, hid, env.prog_type, None):  # type: ignore[arg-type]
        env.reject(incompatible_message(meta.map_ptr.map_type, hid))
    if changes_pkt_data(hid):
        _clear_all_pkt_pointers(env)


def _refine_retval(env: Env, r0: RegState, hid: HelperId, meta: _Meta) -> None:
    """``do_refine_retval_range()``."""
    if hid in (H.GET_STACK, H.GET_TASK_STACK, H.PROBE_READ_STR, H.PROBE_READ_KERNEL_STR,
               H.PROBE_READ_USER_STR):
        r0.smax_value = meta.msize_max_value
        r0.s32_max_value = s32(meta.msize_max_value)
        r0.smin_value = -4095
        r0.s32_min_value = -4095
        reg_deduce_bounds(r0)
        reg_bound_offset(r0)
    elif hid == H.GET_SMP_PROCESSOR_ID:
        cpus = os.cpu_count() or 1
        r0.umax_value = r0.smax_value = cpus - 1
        r0.u32_max_value = r0.s32_max_value = cpus - 1
        r0.umin_value = r0.smin_value = r0.u32_min_value = r0.s32_min_value = 0
        reg_bound_offset(r0)


def gpl_compatible(license_: str) -> bool:
    """``license_isgpl_compatible()``."""
    return license_ in ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                        "Dual MIT/GPL", "Dual MPL/GPL")  # fmt: skip


def check_func_call(env: Env, insn: Instruction) -> None:
    """``check_func_call()`` + ``setup_func_entry()``: enter a bpf-to-bpf callee."""
    st = env.cur_state
    assert st is not None
    target = env.insn_idx + insn.imm + 1
    subprog = next(i for i, sp in enumerate(env.subprogs) if sp.start == target)
    from pybpf.verifier.global_funcs import check_subprog_call

    if check_subprog_call(env, subprog):  # BTF arguments; a global callee is not entered
        return
    if st.curframe + 1 >= MAX_CALL_FRAMES:
        env.reject(f"the call stack of {st.curframe + 2} frames is too deep", errno.E2BIG)
    caller = st.cur
    callee = new_func_state(st.curframe + 1, subprog, env.insn_idx,
                            precise_unknown=not env.bpf_capable)  # fmt: skip
    for r in range(1, 6):
        callee.regs[r] = caller.regs[r].copy()
    st.frame[st.curframe + 1:] = [callee]
    st.curframe += 1
    if env.liveness is not None:
        env.liveness.reset_callchain()  # type: ignore[attr-defined]
    for r in range(6):
        mark_not_init(env, caller.regs[r])
    if env.log.level:
        env.log("caller:\n" + format_func_state(st, caller) + "\n")
        env.log("callee:\n" + format_func_state(st, callee) + "\n")
    env.insn_idx = target
    env.mark_state_scratched()


def prepare_func_exit(env: Env) -> None:
    """``prepare_func_exit()``: return ``R0`` to the caller and drop the callee's frame."""
    st = env.cur_state
    assert st is not None
    callee = st.cur
    r0 = callee.regs[0]
    if r0.type == R.PTR_TO_STACK:
        env.reject("cannot return stack pointer to the caller")
    caller = st.frame[st.curframe - 1]
    in_callback_fn = callee.in_callback_fn
    if in_callback_fn:
        callback_exit(env, callee)
        # back to the helper call, which schedules the next visit of the callback
        env.insn_idx = callee.callsite
    else:
        caller.regs[0] = r0.copy()
        env.insn_idx = callee.callsite + 1
    if env.log.level:
        env.log("returning from callee:\n" + format_func_state(st, callee) + "\n")
        env.log(f"to caller at {env.insn_idx}:\n" + format_func_state(st, caller) + "\n")
    del st.frame[st.curframe:]
    st.curframe -= 1
    if env.liveness is not None:
        env.liveness.reset_callchain()  # type: ignore[attr-defined]
    if in_callback_fn:
        widen_after_callback(env, st, env.insn_idx)


def check_resource_leak(env: Env, exception_exit: bool, check_lock: bool, prefix: str) -> None:
    """``check_resource_leak()``: no lock held, no reference lingering at exit."""
    st = env.cur_state
    assert st is not None
    if check_lock and st.active_locks:
        env.reject(f"{prefix} cannot be used inside bpf_spin_lock-ed region")
    if not exception_exit and st.cur.frameno:
        return
    leaked = [r for r in st.refs if r.type == 1]
    if leaked:
        for ref in leaked:
            env.verbose(f"Unreleased reference id={ref.id} alloc_insn={ref.insn_idx}\n")
        env.reject(f"{prefix} would lead to reference leak")
    if check_lock and st.active_rcu_lock:
        env.reject(f"{prefix} cannot be used inside bpf_rcu_read_lock-ed region")
    if check_lock and st.active_preempt_locks:
        env.reject(f"{prefix} cannot be used inside bpf_preempt_disable-ed region")


def check_return_code(env: Env, regno: int, reg_name: str) -> None:
    """``check_return_code()``: ``R0`` is set, not a pointer, and in the type's range."""
    check_reg_arg(env, regno, RegArg.SRC_OP)
    if is_pointer_value(env, regno):
        env.reject(f"R{regno} leaks addr as return value", errno.EACCES)
    reg = cur_regs(env)[regno]
    rng = return_range(env.prog_type, env.options.expected_attach_type)  # type: ignore[arg-type]
    if rng is None:
        return
    if reg.type != R.SCALAR_VALUE:
        env.reject(f"At program exit the register R{regno} is not a known value "
                   f"({reg_type_str(reg.type)})")  # fmt: skip
    mark_chain_precision(env, regno)  # the range check relies on R0's value
    if rng.lo <= reg.smin_value and reg.smax_value <= rng.hi:
        return
    env.reject(invalid_scalar_message("At program exit", reg_name, reg, rng.lo, rng.hi))
