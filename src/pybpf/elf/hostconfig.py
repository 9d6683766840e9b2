"""The running kernel's configuration and version, for ``.kconfig`` externs.

The one place the ELF loader looks at the host, and only when an object declares ``.kconfig``
externs that the caller did not give values for. Mirrors ``bpf_object__read_kconfig_file()``
(``/boot/config-$(uname -r)``, plain or gzipped, then ``/proc/config.gz``) and
``get_kernel_version()`` of libbpf (``KERNEL_VERSION(major, minor, min(patch, 255))`` from
``uname -r``). Not modelled: the Ubuntu ``/proc/version_signature`` and Debian ``uname -v``
special cases.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib

__all__ = ["host_kconfig", "host_kernel_version", "kernel_version"]


def kernel_version(major: int, minor: int, patch: int) -> int:
    """``KERNEL_VERSION(a, b, c)`` with the patch level saturated at 255."""
    return (major << 16) + (minor << 8) + min(patch, 255)


def host_kernel_version() -> int:
    """``get_kernel_version()``: the running kernel's version code (0 if unknown)."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", os.uname().release)
    if m is None:
        return 0
    return kernel_version(int(m[1]), int(m[2]), int(m[3] or 0))


def host_kconfig() -> tuple[str, str] | None:
    """``(path, text)`` of the running kernel's config, or None when none is readable."""
    for path in (f"/boot/config-{os.uname().release}", "/proc/config.gz"):
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                continue
        return path, raw.decode("utf-8", errors="replace")
    return None
