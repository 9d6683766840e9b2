"""Reading the verifier log the kernel writes into ``BPF_PROG_LOAD``'s ``log_buf``.

Owns only the text side: decoding the buffer and picking the line that explains a
rejection. The log's format is the kernel's (kernel/bpf/log.c, kernel/bpf/verifier.c) and
changes between versions; this module does not parse it beyond lines.
"""

from __future__ import annotations

import ctypes

__all__ = ["decode_log", "summary_line"]

# Statistics the verifier appends after the verdict (print_verification_stats() and friends).
_TRAILER_PREFIXES = (
    "processed ",
    "verification time ",
    "stack depth ",
    "-- END PROG LOAD LOG --",
)


def decode_log(buf: ctypes.Array[ctypes.c_char]) -> str:
    """The NUL-terminated text in ``buf``, decoded leniently (the log is ASCII in practice)."""
    return bytes(buf.value).decode("utf-8", errors="replace")


def summary_line(log: str) -> str:
    """The last line of ``log`` that is not an empty line or a statistics trailer.

    For a rejected program this is the verifier's reason, e.g. ``R0 !read_ok``.
    """
    for line in reversed(log.splitlines()):
        text = line.strip()
        if text and not text.startswith(_TRAILER_PREFIXES):
            return text
    return ""
