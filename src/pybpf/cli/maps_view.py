"""Rendering maps for the CLI: metadata and contents as rich tables (BTF-pretty when known)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

MAX_ROWS = 20


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex(" ") if value else "-"
    if isinstance(value, list):
        return " | ".join(_text(v) for v in value)
    return repr(value)


def maps_table(maps: Mapping[str, Any], *, rows: int = MAX_ROWS) -> Table:
    """One table: each map's type and sizes, then its first ``rows`` entries."""
    table = Table(title="maps", show_lines=False)
    for col in ("map", "type", "key/value/max", "key", "value"):
        table.add_column(col)
    for name, m in maps.items():
        shape = f"{m.key_size}/{m.value_size}/{m.max_entries}"
        try:
            items = m.items()
        except Exception as exc:  # noqa: BLE001 - a map that cannot be listed still shows
            table.add_row(name, m.type_name, shape, "", f"({exc})")
            continue
        fmt = getattr(m, "formatter", None)
        if not items:
            table.add_row(name, m.type_name, shape, "", "(empty)")
        for i, (key, value) in enumerate(items[:rows]):
            ktext, vtext = _text(key), _text(value)
            if fmt is not None and isinstance(value, (bytes, bytearray)):
                ktext, vtext = fmt(key, value)
            table.add_row(name if i == 0 else "", m.type_name if i == 0 else "",
                          shape if i == 0 else "", ktext, vtext)
        if len(items) > rows:
            table.add_row("", "", "", "…", f"{len(items) - rows} more")
    return table
