"""Whether bpf(2) is usable from this process, and why not.

Mirrors what libbpf's probes do first: try to load the smallest valid program
(``r0 = 0; exit`` as a socket filter) and read the answer.
"""

from __future__ import annotations

import errno as _errno

from pybpf.errors import KernelError, NotSupportedError

from .constants import ProgType
from .prog import prog_load
from .syscall import errno_name

__all__ = ["TRIVIAL_PROGRAM", "bpf_available"]

TRIVIAL_PROGRAM = b"\xb7\x00\x00\x00\x00\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00"
"""``r0 = 0; exit``."""

_REASONS: dict[int, str] = {
    _errno.EPERM: "bpf() not permitted (EPERM): needs CAP_BPF/CAP_SYS_ADMIN, or "
    "kernel.unprivileged_bpf_disabled=0",
    _errno.ENOSYS: "bpf() not implemented (ENOSYS): kernel built without CONFIG_BPF_SYSCALL, "
    "or blocked by seccomp",
    _errno.EACCES: "bpf() refused (EACCES): blocked by an LSM or lockdown",
}


def bpf_available() -> tuple[bool, str]:
    """Return ``(True, "")`` if a program can be loaded here, else ``(False, reason)``.

    Issues ``BPF_PROG_LOAD`` with :data:`TRIVIAL_PROGRAM`; not cached, since privileges can
    change during a process's life.
    """
    try:
        prog = prog_load(ProgType.SOCKET_FILTER, TRIVIAL_PROGRAM)
    except NotSupportedError as exc:
        return False, str(exc)
    except KernelError as exc:
        return False, _REASONS.get(exc.errno, f"bpf() failed ({errno_name(exc.errno)}): {exc}")
    except OSError as exc:  # no libc to call through
        return False, f"bpf() unreachable: {exc}"
    prog.close()
    return True, ""
