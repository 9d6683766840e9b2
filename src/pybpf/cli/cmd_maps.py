"""``pybpf maps OBJ``: list an object's maps and dump their (initial) contents."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from pybpf.cli.maps_view import maps_table


@click.command("maps")
@click.argument("obj_path", metavar="OBJ", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-m", "--map", "map_name", help="Only this map.")
@click.option("--rows", type=int, default=50, show_default=True, help="Entries shown per map.")
@click.option("--json", "as_json", is_flag=True, help="Print metadata and contents as JSON.")
def maps_cmd(obj_path: Path, map_name: str | None, rows: int, as_json: bool) -> None:
    """Show the maps an ELF object defines: type, sizes, flags, and initial contents
    (globals in .data/.rodata/.bss, static prog-array and map-in-map slots)."""
    from pybpf.elf import load_collection
    from pybpf.errors import PybpfError
    from pybpf.platform.enums import MapType
    from pybpf.runtime.collection import attach_formatters
    from pybpf.runtime.maps import create_maps
    from pybpf.runtime.memory import Memory

    spec = load_collection(obj_path)
    names = [map_name] if map_name else list(spec.maps)
    for name in names:
        if name not in spec.maps:
            raise PybpfError(f"{obj_path}: no map '{name}' (maps: {', '.join(spec.maps) or 'none'})")
    live = create_maps({n: spec.maps[n] for n in names}, Memory())
    attach_formatters(live, spec)
    if as_json:
        click.echo(json.dumps([{
            "name": n, "type": MapType(spec.maps[n].map_type).name.lower(),
            "key_size": spec.maps[n].key_size, "value_size": spec.maps[n].value_size,
            "max_entries": spec.maps[n].max_entries, "flags": spec.maps[n].flags,
            "section": spec.maps[n].section,
            "entries": [[k.hex(), v.hex() if isinstance(v, (bytes, bytearray)) else repr(v)]
                        for k, v in (live[n].items() if n in live else [])][:rows],
        } for n in names], indent=2))
        return
    console = Console()
    meta = Table(title=f"{obj_path.name}: {len(names)} maps")
    for col in ("map", "type", "key", "value", "max_entries", "flags", "section"):
        meta.add_column(col)
    for n in names:
        ms = spec.maps[n]
        meta.add_row(n, MapType(ms.map_type).name.lower(), str(ms.key_size), str(ms.value_size),
                     str(ms.max_entries), hex(ms.flags), ms.section)
    console.print(meta)
    if live:
        console.print(maps_table({n: live[n] for n in names}, rows=rows))
