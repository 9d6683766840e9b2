"""Reading arbitrary memory: bpf_probe_read_kernel/user(_str), bpf_probe_read(_str), copy_from_user.

Mirrors kernel/trace/bpf_trace.c and mm/maccess.c on x86_64. The "kernel" is the program's
memory (:class:`~pybpf.runtime.memory.Memory`): every region a program can reach.

* ``bpf_probe_read_kernel(dst, size, ptr)``: ``copy_from_kernel_nofault()``, which refuses a
  user-space or non-canonical address with ``-ERANGE``
  (``copy_from_kernel_nofault_allowed()``: below ``TASK_SIZE_MAX + PAGE_SIZE``, the vsyscall
  page, or not canonical for 48-bit virtual addresses) and a fault with ``-EFAULT``; on
  any error ``dst`` is zeroed.
* ``bpf_probe_read_kernel_str()``: ``strncpy_from_kernel_nofault()``: copies up to ``size``
  bytes including the NUL (the last byte becomes NUL when no terminator came first) and
  returns that count; a fault anywhere before the NUL is ``-EFAULT`` with ``dst`` zeroed.
* ``bpf_probe_read_user(_str)()`` and ``bpf_copy_from_user()``: ``copy_from_user_nofault()``
  / ``strncpy_from_user_nofault()`` on the current task's user memory — the regions mapped
  with :meth:`~pybpf.runtime.memory.Memory.map_user` (addresses below ``TASK_SIZE_MAX``);
  anything else (kernel addresses, unmapped user addresses) faults with ``-EFAULT`` and
  ``dst`` zeroed, as in the kernel.
* ``bpf_probe_read(_str)()`` (the compat helpers): user read below ``TASK_SIZE``, kernel read
  above (``bpf_probe_read_compat()``).
"""

from __future__ import annotations

import errno

from pybpf.errors import ExecutionFault
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import u32
from pybpf.runtime.memory import RegionKind

__all__ = [
    "TASK_SIZE_MAX",
    "bpf_copy_from_user",
    "bpf_probe_read",
    "bpf_probe_read_kernel",
    "bpf_probe_read_kernel_str",
    "bpf_probe_read_str",
    "bpf_probe_read_user",
    "bpf_probe_read_user_str",
    "kernel_read_allowed",
    "read_kernel",
    "read_kernel_string",
]

PAGE_SIZE = 4096
#: ``TASK_SIZE_MAX`` with 4-level paging (48-bit virtual addresses).
TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE
VSYSCALL_PAGE = 0xFFFFFFFFFF600000
VIRT_BITS = 48


def kernel_read_allowed(addr: int) -> bool:
    """``copy_from_kernel_nofault_allowed()`` of arch/x86/mm/maccess.c."""
    addr &= (1 << 64) - 1
    if addr < TASK_SIZE_MAX + PAGE_SIZE:
        return False
    if addr & ~(PAGE_SIZE - 1) == VSYSCALL_PAGE:
        return False
    top = addr >> (VIRT_BITS - 1)
    return top == (1 << (64 - VIRT_BITS + 1)) - 1  # canonical: bits 47..63 all set


def read_kernel(state: ExecState, addr: int, size: int) -> bytes | int:
    """``copy_from_kernel_nofault()``: the bytes, or ``-ERANGE``/``-EFAULT``."""
    if not kernel_read_allowed(addr):
        return -errno.ERANGE
    try:
        return state.memory.read_bytes(addr, size, state.pc)
    except ExecutionFault:
        return -errno.EFAULT


def read_kernel_string(state: ExecState, addr: int, count: int) -> bytes | int:
    """``strncpy_from_kernel_nofault(dst, addr, count)``: the bytes written to ``dst``
    (NUL-terminated, ``len`` is the return value) or ``-ERANGE``/``-EFAULT``."""
    if count <= 0:
        return b""
    if not kernel_read_allowed(addr):
        return -errno.ERANGE
    out = bytearray()
    memory = state.memory
    while True:
        try:
            byte = memory.load(addr + len(out), 1, state.pc)
        except ExecutionFault:
            return -errno.EFAULT
        out.append(byte)
        if byte == 0 or len(out) >= count:
            break
    out[-1] = 0
    return bytes(out)


def _finish(state: ExecState, dst: int, size: int, data: bytes | int) -> int:
    if isinstance(data, int):
        state.memory.write_bytes(dst, bytes(size), state.pc)
        return data
    state.memory.write_bytes(dst, data, state.pc)
    return 0


def bpf_probe_read_kernel(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_probe_read_kernel(dst, size, unsafe_ptr)."""
    size = u32(r2)
    return _finish(state, r1, size, read_kernel(state, r3, size))


def bpf_probe_read_kernel_str(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                              r5: int) -> int:
    """bpf_probe_read_kernel_str(dst, size, unsafe_ptr): length with the NUL, or ``-errno``."""
    size = u32(r2)
    data = read_kernel_string(state, r3, size)
    if isinstance(data, int):
        return _finish(state, r1, size, data)
    state.memory.write_bytes(r1, data, state.pc)
    return len(data)


def _user_region_ok(state: ExecState, addr: int) -> bool:
    addr &= (1 << 64) - 1
    region = state.memory.region_at(addr)
    return addr <= TASK_SIZE_MAX and region is not None and region.kind is RegionKind.USER


def read_user(state: ExecState, addr: int, size: int) -> bytes | int:
    """``copy_from_user_nofault()``: the bytes of user memory, or ``-EFAULT``."""
    if not _user_region_ok(state, addr) or not _user_region_ok(state, addr + max(size, 1) - 1):
        return -errno.EFAULT
    try:
        return state.memory.read_bytes(addr, size, state.pc)
    except ExecutionFault:
        return -errno.EFAULT


def read_user_string(state: ExecState, addr: int, count: int) -> bytes | int:
    """``strncpy_from_user_nofault()``: NUL-terminated bytes (at most ``count``), or ``-EFAULT``."""
    out = bytearray()
    while len(out) < count:
        if not _user_region_ok(state, addr + len(out)):
            return -errno.EFAULT
        try:
            byte = state.memory.load(addr + len(out), 1, state.pc)
        except ExecutionFault:
            return -errno.EFAULT
        out.append(byte)
        if byte == 0:
            break
    out[-1] = 0
    return bytes(out)


def _user_fault(state: ExecState, dst: int, size: int) -> int:
    """A failed user read: ``dst`` zeroed, ``-EFAULT``."""
    state.memory.write_bytes(dst, bytes(size), state.pc)
    return -errno.EFAULT


def bpf_probe_read_user(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_probe_read_user(dst, size, unsafe_ptr): 0, or ``-EFAULT`` with ``dst`` zeroed.

    A read of 0 bytes succeeds for a user-space address (``__access_ok()``: up to
    ``USER_PTR_MAX``, which is ``TASK_SIZE_MAX``) and fails for any other."""
    size = u32(r2)
    if size == 0:
        return 0 if r3 & ((1 << 64) - 1) <= TASK_SIZE_MAX else _user_fault(state, r1, 0)
    return _finish(state, r1, size, read_user(state, r3, size))


def bpf_probe_read_user_str(state: ExecState, r1: int, r2: int, r3: int, r4: int,
                            r5: int) -> int:
    """bpf_probe_read_user_str(dst, size, unsafe_ptr): the length with the NUL, or ``-EFAULT``
    (``dst`` zeroed); 0 for size 0."""
    size = u32(r2)
    if size == 0:
        return 0
    data = read_user_string(state, r3, size)
    if isinstance(data, int):
        return _user_fault(state, r1, size)
    state.memory.write_bytes(r1, data, state.pc)
    return len(data)


def bpf_copy_from_user(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_copy_from_user(dst, size, user_ptr): 0, or ``-EFAULT`` with ``dst`` zeroed."""
    size = u32(r2)
    if size == 0:
        return 0
    return _finish(state, r1, size, read_user(state, r3, size))


def bpf_probe_read(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_probe_read(dst, size, unsafe_ptr): ``bpf_probe_read_compat()``."""
    if r3 & ((1 << 64) - 1) < TASK_SIZE_MAX:
        return bpf_probe_read_user(state, r1, r2, r3, r4, r5)
    return bpf_probe_read_kernel(state, r1, r2, r3, r4, r5)


def bpf_probe_read_str(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_probe_read_str(dst, size, unsafe_ptr): ``bpf_probe_read_compat_str()``."""
    if r3 & ((1 << 64) - 1) < TASK_SIZE_MAX:
        return bpf_probe_read_user_str(state, r1, r2, r3, r4, r5)
    return bpf_probe_read_kernel_str(state, r1, r2, r3, r4, r5)
