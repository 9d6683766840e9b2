"""Register state: what the verifier knows about one register.

Mirrors ``struct bpf_reg_state`` (include/linux/bpf_verifier.h) and the small helpers of
kernel/bpf/verifier.c that mark registers (``__mark_reg_unknown()``, ``__mark_reg_known()``,
``__mark_reg_not_init()``, ``mark_reg_known_zero()``), classify them
(``is_pointer_value()``, ``type_is_pkt_pointer()``, ``reg_type_not_null()``...), and print
their type (``reg_type_str()``).

A register's ``type`` is the kernel's raw ``enum bpf_reg_type`` value: a base type
(:class:`~pybpf.platform.helper_types.RegType`) or-ed with
:class:`~pybpf.platform.helper_types.TypeFlag` bits (``PTR_MAYBE_NULL``, ``MEM_RDONLY``...).
The kernel keeps type-specific data in a union; here each member is its own field
(``range`` for packet pointers, ``map_ptr`` for map pointers and values, ``mem_size`` for
``PTR_TO_MEM``, ``btf_id`` for ``PTR_TO_BTF_ID`` — a type id of the kernel's BTF, with its
name in ``btf_name`` for the log).

Not modelled: BTF of modules (every ``btf_id`` is one of vmlinux), dynptrs, iterators, IRQ flags, arena pointers'
address space, the liveness and parent links (this verifier computes liveness statically).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pybpf.platform.helper_types import RegType, TypeFlag, base_type
from pybpf.verifier.bounds import Bounds, mark_reg_unbounded
from pybpf.verifier.bounds import mark_reg_known as _bounds_known
from pybpf.verifier.tnum import TNUM_UNKNOWN

if TYPE_CHECKING:
    from pybpf.program.spec import MapSpec

__all__ = [
    "BEYOND_PKT_END",
    "AT_PKT_END",
    "BPF_ADD_CONST",
    "BPF_ADD_CONST32",
    "BPF_ADD_CONST64",
    "DEF_NOT_SUBREG",
    "RegState",
    "RegType",
    "TypeFlag",
    "is_pointer_type",
    "reg_type_not_null",
    "reg_type_str",
    "type_is_map_ptr",
    "type_is_pkt_pointer",
    "type_may_be_null",
]

BPF_ADD_CONST64 = 1 << 31
"""Flag in a scalar's ``id``: the register is another one plus the constant in ``off``
(64-bit arithmetic)."""
BPF_ADD_CONST32 = 1 << 30
"""Same, through 32-bit arithmetic (the sum is zero-extended)."""
BPF_ADD_CONST = BPF_ADD_CONST64 | BPF_ADD_CONST32
DEF_NOT_SUBREG = 0
AT_PKT_END = -1
"""``range`` of a packet pointer known to point exactly at ``pkt_end``."""
BEYOND_PKT_END = -2
"""``range`` of a packet pointer known to point past ``pkt_end``."""


@dataclass(slots=True)
class RegState(Bounds):
    """``struct bpf_reg_state``: type, fixed offset, ids, per-type data, and bounds."""

    type: int = RegType.NOT_INIT
    off: int = 0
    id: int = 0
    ref_obj_id: int = 0
    range: int = 0
    map_ptr: MapSpec | None = None
    map_uid: int = 0
    mem_size: int = 0
    btf_name: str = ""
    btf_id: int = 0
    subprogno: int = 0
    frameno: int = 0
    subreg_def: int = DEF_NOT_SUBREG
    precise: bool = False

    def copy(self) -> RegState:
        """An independent copy (``copy_register_state()``)."""
        return RegState(
            self.var_off, self.smin_value, self.smax_value, self.umin_value, self.umax_value,
            self.s32_min_value, self.s32_max_value, self.u32_min_value, self.u32_max_value,
            self.type, self.off, self.id, self.ref_obj_id, self.range, self.map_ptr,
            self.map_uid, self.mem_size, self.btf_name, self.btf_id, self.subprogno, self.frameno,
            self.subreg_def, self.precise,
        )  # fmt: skip

    def assign(self, other: RegState) -> None:
        """Overwrite this register with ``other`` in place (``*dst = *src``)."""
        for name in RegState.__slots__:
            setattr(self, name, getattr(other, name))
        self.set_bounds(other)

    @property
    def base(self) -> int:
        return self.type & 0xFF

    def is_scalar(self) -> bool:
        return self.type == RegType.SCALAR_VALUE

    def is_pointer(self) -> bool:
        """``__is_pointer_value(false, reg)``: anything initialised but a scalar."""
        return self.type != RegType.SCALAR_VALUE and self.type != RegType.NOT_INIT


# -- marking (in place) ------------------------------------------------------------------------
def _clear_type_data(reg: RegState) -> None:
    reg.off = 0
    reg.range = 0
    reg.map_ptr = None
    reg.map_uid = 0
    reg.mem_size = 0
    reg.btf_name = ""
    reg.btf_id = 0
    reg.subprogno = 0
    reg.id = 0
    reg.ref_obj_id = 0


def mark_reg_unknown(reg: RegState, precise: bool = False) -> None:
    """``__mark_reg_unknown()``: a scalar about which nothing is known.

    ``precise`` is the kernel's ``!env->bpf_capable``: unprivileged scalars start precise.
    """
    _clear_type_data(reg)
    reg.type = RegType.SCALAR_VALUE
    reg.var_off = TNUM_UNKNOWN
    reg.frameno = 0
    reg.precise = precise
    mark_reg_unbounded(reg)


def mark_reg_not_init(reg: RegState, precise: bool = False) -> None:
    """``__mark_reg_not_init()``."""
    mark_reg_unknown(reg, precise)
    reg.type = RegType.NOT_INIT


def mark_reg_known(reg: RegState, imm: int) -> None:
    """``__mark_reg_known()``: clears the type-specific data and ids, sets the value."""
    _clear_type_data(reg)
    _bounds_known(reg, imm)


def mark_reg_known_zero(reg: RegState) -> None:
    """``__mark_reg_known_zero()``: offset zero, value known; the caller sets the type."""
    _clear_type_data(reg)
    _bounds_known(reg, 0)


def new_scalar(imm: int | None = None, precise: bool = False) -> RegState:
    """A fresh scalar register: known ``imm``, or unknown when ``imm`` is None."""
    reg = RegState()
    mark_reg_unknown(reg, precise)
    if imm is not None:
        _bounds_known(reg, imm)
    return reg


def new_pointer(type_: int, **fields: object) -> RegState:
    """A fresh pointer of raw type ``type_`` with known-zero offset (``mark_reg_known_zero``)."""
    reg = RegState()
    mark_reg_known_zero(reg)
    reg.type = type_
    for name, value in fields.items():
        setattr(reg, name, value)
    return reg


# -- classification -----------------------------------------------------------------------------
def type_may_be_null(type_: int) -> bool:
    return bool(type_ & TypeFlag.PTR_MAYBE_NULL)


def type_is_pkt_pointer(type_: int) -> bool:
    return base_type(type_) in (RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META)


def type_is_map_ptr(type_: int) -> bool:
    return base_type(type_) in (RegType.CONST_PTR_TO_MAP, RegType.PTR_TO_MAP_VALUE,
                                RegType.PTR_TO_MAP_KEY)  # fmt: skip


def reg_type_not_null(type_: int) -> bool:
    """``reg_type_not_null()``: types that can never be NULL."""
    return type_ in (RegType.PTR_TO_SOCKET, RegType.PTR_TO_TCP_SOCK, RegType.PTR_TO_MAP_VALUE,
                     RegType.PTR_TO_MAP_KEY, RegType.PTR_TO_SOCK_COMMON, RegType.PTR_TO_MEM)


def is_pointer_type(type_: int) -> bool:
    return type_ not in (RegType.SCALAR_VALUE, RegType.NOT_INIT)


_TYPE_STR = {
    RegType.NOT_INIT: "?", RegType.SCALAR_VALUE: "scalar", RegType.PTR_TO_CTX: "ctx",
    RegType.CONST_PTR_TO_MAP: "map_ptr", RegType.PTR_TO_MAP_VALUE: "map_value",
    RegType.PTR_TO_STACK: "fp", RegType.PTR_TO_PACKET: "pkt",
    RegType.PTR_TO_PACKET_META: "pkt_meta", RegType.PTR_TO_PACKET_END: "pkt_end",
    RegType.PTR_TO_FLOW_KEYS: "flow_keys", RegType.PTR_TO_SOCKET: "sock",
    RegType.PTR_TO_SOCK_COMMON: "sock_common", RegType.PTR_TO_TCP_SOCK: "tcp_sock",
    RegType.PTR_TO_TP_BUFFER: "tp_buffer", RegType.PTR_TO_XDP_SOCK: "xdp_sock",
    RegType.PTR_TO_BTF_ID: "ptr_", RegType.PTR_TO_MEM: "mem", RegType.PTR_TO_ARENA: "arena",
    RegType.PTR_TO_BUF: "buf", RegType.PTR_TO_FUNC: "func", RegType.PTR_TO_MAP_KEY: "map_key",
    RegType.CONST_PTR_TO_DYNPTR: "dynptr_ptr",
}  # fmt: skip
_PREFIXES = (
    (TypeFlag.MEM_RDONLY, "rdonly_"), (TypeFlag.MEM_RINGBUF, "ringbuf_"),
    (TypeFlag.MEM_USER, "user_"), (TypeFlag.MEM_PERCPU, "percpu_"), (TypeFlag.MEM_RCU, "rcu_"),
    (TypeFlag.PTR_UNTRUSTED, "untrusted_"), (TypeFlag.PTR_TRUSTED, "trusted_"),
)  # fmt: skip


def reg_type_str(type_: int) -> str:
    """``reg_type_str()``: ``map_value_or_null``, ``rdonly_mem``, ``fp``..."""
    base = base_type(type_)
    postfix = ""
    if type_ & TypeFlag.PTR_MAYBE_NULL:
        postfix = "or_null_" if base == RegType.PTR_TO_BTF_ID else "_or_null"
    prefix = "".join(text for flag, text in _PREFIXES if type_ & flag)
    return f"{prefix}{_TYPE_STR.get(RegType(base), '?')}{postfix}"
