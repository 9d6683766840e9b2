"""Map values with BTF: ``struct bpf_spin_lock`` fields and ``bpf_spin_lock()``.

A map has BTF when the program's spec carries its collection's BTF (``ProgramSpec.btf``:
the map was created with ``btf_fd`` and its key/value types, as libbpf creates maps) and
the map is of a type libbpf creates with BTF. Mirrors, in Linux 6.18:

* ``btf_parse_fields()`` for ``BPF_SPIN_LOCK`` (kernel/bpf/btf.c) and the spin-lock part
  of ``map_check_btf()`` (kernel/bpf/syscall.c): the value's ``struct bpf_spin_lock``
  member (or ``.bss``/``.data`` variable) and its offset; a map type that may not hold one
  is refused by the kernel, and libbpf then creates the map without BTF;
* the spin-lock part of ``check_map_prog_compatibility()`` (socket filters and tracing
  programs may not use such maps);
* the special-field check of ``check_map_access()``: loads, stores and helper accesses may
  not touch the lock;
* ``process_spin_lock()`` for ``bpf_spin_lock()``/``bpf_spin_unlock()`` on map values.

Refused (``EOPNOTSUPP``): map values holding other special fields (``bpf_timer``,
``bpf_wq``, kptrs, graph roots and nodes, ``bpf_res_spin_lock``...) or a spin lock nested in
a struct or an array; spin locks in allocated objects.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pybpf.btf import Btf, BtfKind, DataSec, Ptr, Struct, TypeTag, Union
from pybpf.platform.enums import MapType, ProgType
from pybpf.platform.maptypes import NO_BTF_MAP_TYPES, map_type_info
from pybpf.verifier.env import Env
from pybpf.verifier.state import RefState, RefType

if TYPE_CHECKING:
    from pybpf.program.spec import MapSpec
    from pybpf.verifier.regstate import RegState

__all__ = [
    "MapRecord",
    "check_map_fields",
    "check_map_prog_compatibility",
    "map_record",
    "process_spin_lock",
]

#: Structs ``btf_parse_fields()`` treats as special fields of a map value.
_SPECIAL_STRUCTS = frozenset((
    "bpf_spin_lock", "bpf_res_spin_lock", "bpf_timer", "bpf_wq", "bpf_task_work",
    "bpf_list_head", "bpf_list_node", "bpf_rb_root", "bpf_rb_node", "bpf_refcount",
))  # fmt: skip
_KPTR_TAGS = frozenset(("kptr", "kptr_untrusted", "percpu_kptr", "uptr"))
_TRACING = frozenset((ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT,
                      ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE))  # fmt: skip
SPIN_LOCK_SIZE = 4


@dataclass(frozen=True, slots=True)
class MapRecord:
    """``struct btf_record`` of a map value, as far as modelled: the spin lock's offset
    (-1: none) or the name of a special field pybpf does not model."""

    spin_lock_off: int = -1
    unsupported: str = ""


_NONE = MapRecord()


def _special_t(btf: Btf, t: Struct | Union, depth: int) -> list[tuple[str, int, bool]]:
    """Special fields of a struct nested in a map value: ``(name, offset, nested=True)``."""
    out: list[tuple[str, int, bool]] = []
    for m in t.members:
        mt = btf[m.type]
        off = m.bit_offset // 8
        while mt.kind == BtfKind.ARRAY:
            mt = btf[mt.type]  # type: ignore[union-attr]
        if isinstance(mt, (Struct, Union)) and mt.name in _SPECIAL_STRUCTS:
            out.append((mt.name, off, True))
        elif isinstance(mt, (Struct, Union)) and depth < 3:
            out += [(n, off + o, True) for n, o, _ in _special_t(btf, mt, depth + 1)]
        elif isinstance(mt, Ptr) and isinstance(btf[mt.type], TypeTag) and \
                btf[mt.type].name in _KPTR_TAGS:
            out.append((btf[mt.type].name, off, True))
    return out


def _value_fields(btf: Btf, type_id: int) -> list[tuple[str, int, bool]]:
    t = btf[type_id]
    if isinstance(t, (Struct, Union)):
        return _struct_fields(btf, t)
    if isinstance(t, DataSec):
        out = []
        for v in t.vars:
            vt = btf[btf[v.type].type]  # type: ignore[union-attr]
            nested = False
            while vt.kind == BtfKind.ARRAY:
                vt = btf[vt.type]  # type: ignore[union-attr]
                nested = True
            if isinstance(vt, (Struct, Union)) and vt.name in _SPECIAL_STRUCTS:
                out.append((vt.name, v.offset, nested))
            elif isinstance(vt, (Struct, Union)):
                out += [(n, v.offset + o, True) for n, o, _ in _special_t(btf, vt, 1)]
        return out
    return []


def _struct_fields(btf: Btf, t: Struct | Union) -> list[tuple[str, int, bool]]:
    """Special fields of a map value struct: ``(name, offset, nested)`` (nested: inside a
    member struct or an array)."""
    out: list[tuple[str, int, bool]] = []
    for m in t.members:
        mt = btf[m.type]
        off = m.bit_offset // 8
        nested = False
        while mt.kind == BtfKind.ARRAY:
            mt = btf[mt.type]  # type: ignore[union-attr]
            nested = True
        if isinstance(mt, (Struct, Union)) and mt.name in _SPECIAL_STRUCTS:
            out.append((mt.name, off, nested))
        elif isinstance(mt, (Struct, Union)):
            out += [(n, off + o, True) for n, o, _ in _special_t(btf, mt, 1)]
        elif isinstance(mt, Ptr) and isinstance(btf[mt.type], TypeTag) and \
                btf[mt.type].name in _KPTR_TAGS:
            out.append((btf[mt.type].name, off, nested))
    return out


def map_record(env: Env, m: MapSpec) -> MapRecord | None:
    """The map's ``btf_record``; None when the map has no BTF (as the loader creates it)."""
    btf = env.spec.btf if env.spec is not None else None
    if not isinstance(btf, Btf) or int(m.map_type) in NO_BTF_MAP_TYPES or \
            not (m.key_type or m.value_type):
        return None
    cache = env.map_records
    found = cache.get(id(m))
    if found is not None:
        return found[1]
    rec: MapRecord | None = _NONE
    fields = _value_fields(btf, m.value_type) if m.value_type else []
    locks = [f for f in fields if f[0] == "bpf_spin_lock"]
    others = [f for f in fields if f[0] != "bpf_spin_lock"]
    if others:
        rec = MapRecord(unsupported=others[0][0])
    elif len(locks) > 1 or any(nested for _, _, nested in locks):
        rec = MapRecord(unsupported="bpf_spin_lock (nested, in an array or twice)")
    elif locks:
        if not map_type_info(MapType(m.map_type)).spin_lock:
            rec = None  # BPF_MAP_CREATE refuses it with BTF; libbpf retries without
        else:
            rec = MapRecord(spin_lock_off=locks[0][1])
    cache[id(m)] = (m, rec)
    return rec


def check_map_prog_compatibility(env: Env, m: MapSpec) -> None:
    """The spin-lock part of ``check_map_prog_compatibility()``."""
    rec = map_record(env, m)
    if rec is None:
        return
    if rec.unsupported:
        env.reject(f"pybpf does not verify maps whose values hold {rec.unsupported} "
                   f"(map '{m.name}')", errno.EOPNOTSUPP)  # fmt: skip
    if rec.spin_lock_off < 0:
        return
    if env.prog_type == ProgType.SOCKET_FILTER:
        env.reject("socket filter progs cannot use bpf_spin_lock yet")
    if env.prog_type in _TRACING:
        env.reject("tracing progs cannot use bpf_spin_lock yet")


def check_map_fields(env: Env, reg: RegState, off: int, size: int) -> None:
    """The special-field part of ``check_map_access()``: the access ``[off, off + size)``
    from ``reg`` (its whole range) may not touch the value's spin lock."""
    m = reg.map_ptr
    if m is None:
        return
    rec = map_record(env, m)
    if rec is None or rec.spin_lock_off < 0:
        return
    p = rec.spin_lock_off
    if reg.smin_value + off < p + SPIN_LOCK_SIZE and p < reg.umax_value + off + size:
        env.reject("bpf_spin_lock cannot be accessed directly by load/store", errno.EACCES)


def may_point_to_spin_lock(env: Env, reg: RegState) -> bool:
    """``reg_may_point_to_spin_lock()`` for map values."""
    m = reg.map_ptr
    if m is None:
        return False
    rec = map_record(env, m)
    return rec is not None and rec.spin_lock_off >= 0


def process_spin_lock(env: Env, regno: int, reg: RegState, is_lock: bool) -> None:
    """``process_spin_lock()`` for ``bpf_spin_lock()`` (``is_lock``) and
    ``bpf_spin_unlock()`` on a map value."""
    from pybpf.platform.helper_types import RegType
    from pybpf.verifier.tnum import tnum_is_const

    if not tnum_is_const(reg.var_off):
        env.reject(f"R{regno} doesn't have constant offset. bpf_spin_lock has to be at the "
                   "constant offset")  # fmt: skip
    if reg.type != RegType.PTR_TO_MAP_VALUE:
        env.reject("pybpf does not verify bpf_spin_lock on allocated objects", errno.EOPNOTSUPP)
    m = reg.map_ptr
    assert m is not None
    rec = map_record(env, m)
    if rec is None:
        env.reject(f"map '{m.name}' has to have BTF in order to use bpf_spin_lock")
    if rec.spin_lock_off < 0:
        env.reject(f"map '{m.name}' has no valid bpf_spin_lock")
    val = reg.var_off.value + reg.off
    if val >= 1 << 63:
        val -= 1 << 64
    if rec.spin_lock_off != val:
        env.reject(f"off {val} doesn't point to 'struct bpf_spin_lock' that is at "
                   f"{rec.spin_lock_off}")  # fmt: skip
    st = env.cur_state
    assert st is not None
    if is_lock:
        if st.active_locks and any(r.type == RefType.LOCK for r in st.refs):
            env.reject("Locking two bpf_spin_locks are not allowed")
        st.refs.append(RefState(reg.id, env.insn_idx, RefType.LOCK))
        st.active_locks += 1
        st.active_lock_id = reg.id
        st.active_lock_ptr = m
        return
    if not st.active_locks:
        env.reject("bpf_spin_unlock without taking a lock")
    found = [r for r in st.refs if r.type == RefType.LOCK and r.id == reg.id]
    if not found or st.active_lock_ptr is not m:
        env.reject("bpf_spin_unlock of different lock")
    if reg.id != st.active_lock_id:
        env.reject("bpf_spin_unlock cannot be out of order")
    st.refs.remove(found[0])
    st.active_locks -= 1
    locks = [r for r in st.refs if r.type in (RefType.LOCK, RefType.RES_LOCK)]
    st.active_lock_id = locks[-1].id if locks else 0
    st.active_lock_ptr = None if not locks else st.active_lock_ptr
