"""``BPF_BTF_LOAD``: hand a BTF blob to the kernel and get a BTF object fd back.

Mirrors the kernel's bpf_btf_load() in kernel/bpf/syscall.c as seen from user space: the
blob is validated (btf_parse()); on failure the BTF log (``log_level = 1``) says why.
"""

from __future__ import annotations

import ctypes

from pybpf.errors import KernelError

from .attr import BpfBtfLoadAttr
from .constants import BpfCmd
from .fd import OwnedFd
from .syscall import bpf, kernel_error
from .verifier_log import decode_log

__all__ = ["BtfFd", "btf_load"]

_LOG_SIZE = 1 << 16


class BtfFd(OwnedFd):
    """A BTF object loaded into the kernel."""

    __slots__ = ()


def btf_load(data: bytes) -> BtfFd:
    """Load raw BTF (``struct btf_header`` + types + strings). Raises
    :class:`pybpf.errors.KernelError` with the kernel's BTF log when it is refused."""
    blob = ctypes.create_string_buffer(bytes(data), len(data))
    attr = BpfBtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data))
    try:
        return BtfFd(bpf(BpfCmd.BTF_LOAD, attr))
    except KernelError as exc:
        log_buf = ctypes.create_string_buffer(_LOG_SIZE)
        attr = BpfBtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data),
                              btf_log_buf=ctypes.addressof(log_buf), btf_log_size=_LOG_SIZE,
                              btf_log_level=1)
        try:
            return BtfFd(bpf(BpfCmd.BTF_LOAD, attr))
        except KernelError:
            log = decode_log(log_buf)
            raise kernel_error(BpfCmd.BTF_LOAD, exc.errno, detail=log.strip().splitlines()[-1]
                               if log.strip() else "", log=log) from None
