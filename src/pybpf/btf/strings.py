"""The BTF string section: NUL-terminated names addressed by byte offset.

Mirrors ``btf_name_by_offset()`` (kernel/bpf/btf.c) and ``btf__str_by_offset()`` (libbpf btf.c),
including split BTF: offsets below the base's string section size name the base's strings, the
rest are relative to this section (the section's own offsets start at ``base_len``).
"""

from __future__ import annotations

from pybpf.errors import BTFError


class StringTable:
    """Read-only access to one string section (plus, for split BTF, its base's).

    Decoded names are memoised per offset; the table is otherwise immutable.
    """

    __slots__ = ("_cache", "base", "data", "start")

    def __init__(self, data: bytes, base: StringTable | None = None) -> None:
        if data and data[-1] != 0:
            raise BTFError("BTF string section is not NUL-terminated")
        if base is None and data and data[0] != 0:
            raise BTFError("BTF string section does not start with an empty string")
        self.data = data
        self.base = base
        #: Offset of this section's first byte in the combined (base + split) string space.
        self.start: int = base.start + len(base.data) if base is not None else 0
        self._cache: dict[int, str] = {0: ""} if base is None else {}

    def __len__(self) -> int:
        """Size of the combined string space (base and this section)."""
        return self.start + len(self.data)

    def valid(self, offset: int) -> bool:
        """True when ``offset`` points into the string space."""
        return 0 <= offset < len(self)

    def get(self, offset: int, what: str = "string") -> str:
        """The string at ``offset``; ``what`` names the referrer in the error message."""
        cached = self._cache.get(offset)
        if cached is not None:
            return cached
        if offset < self.start:
            assert self.base is not None
            return self.base.get(offset, what)
        rel = offset - self.start
        data = self.data
        if not 0 <= rel < len(data):
            raise BTFError(
                f"{what}: string offset {offset} is outside the string section "
                f"(size {len(self)})"
            )
        end = data.find(b"\0", rel)
        try:
            text = data[rel:end].decode("utf-8")
        except UnicodeDecodeError as e:
            raise BTFError(f"{what}: string at offset {offset} is not valid UTF-8") from e
        self._cache[offset] = text
        return text
