"""BTF-defined maps: the ``.maps`` section and its ``values`` initialisation.

Mirrors ``bpf_object__init_user_btf_maps()``, ``bpf_object__init_user_btf_map()``,
``parse_btf_map_def()``, ``get_map_field_int()`` and ``bpf_object__collect_map_relos()`` of
libbpf. Each VAR of the ``.maps`` DATASEC is a map whose struct type describes it:
``__uint(name, N)`` is a pointer to an array of N elements, ``__type(name, T)`` a pointer to T,
``__array(values, T)`` a zero-length array of pointers to T (the inner map's definition, or a
function prototype for a prog array). Relocations of ``.rel.maps`` against the ``values``
member are the static initialisation of prog arrays and maps of maps (``MapSpec.content_refs``).

Clang leaves DATASEC variable offsets 0 (libbpf's ``btf_fixup_datasec()`` sets them from the
ELF symbols); the offsets used here are the symbols'. Not modelled: ``numa_node`` pinning paths
(``pin_root_path``), non-strict mode (``relaxed_maps``: unknown fields are always an error).
"""

from __future__ import annotations

from dataclasses import replace

from pybpf.btf import Array, Btf, BtfKind, FuncProto, Ptr, Struct, Var, VarLinkage
from pybpf.elf.functions import FunctionTable
from pybpf.elf.maps_legacy import MapLocation, as_map_type
from pybpf.elf.reader import ELFObject, Section, SymbolBind, SymbolType
from pybpf.errors import BTFError, ELFLoadError
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec

__all__ = ["BTF_MAPS_SECTION", "MAX_KEY_SIZE", "collect_map_relos", "load_btf_maps"]

BTF_MAPS_SECTION = ".maps"
#: MAX_BPF_STACK: keys are built on the BPF stack; the kernel's hash and LPM maps refuse more.
MAX_KEY_SIZE = 512
PAGE_SIZE = 4096  # x86_64: ringbuf sizes are rounded to a power-of-2 multiple of it
_LIBBPF_PIN_NONE, _LIBBPF_PIN_BY_NAME = 0, 1
_MAP_IN_MAP = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)
_RINGBUF = (MapType.RINGBUF, MapType.USER_RINGBUF)
_INT_FIELDS = {
    "type": "map_type",
    "max_entries": "max_entries",
    "map_flags": "flags",
    "numa_node": "numa_node",
    "map_extra": "map_extra",
}


def _field_int(btf: Btf, map_name: str, member_name: str, type_id: int) -> int:
    """``get_map_field_int()``: ``int (*name)[N]`` encodes N."""
    _, t = btf.skip_mods_and_typedefs(type_id)
    if not isinstance(t, Ptr):
        raise ELFLoadError(
            f"map '{map_name}': attr '{member_name}': expected PTR, got {t.kind.name}"
        )
    arr = btf[t.type]
    if not isinstance(arr, Array):
        raise ELFLoadError(
            f"map '{map_name}': attr '{member_name}': expected ARRAY, got {arr.kind.name}"
        )
    return arr.nelems


def _pointee_size(btf: Btf, map_name: str, what: str, type_id: int) -> tuple[int, int]:
    """``__type(key, T)``: (size of T, T's id)."""
    t = btf[type_id]
    if not isinstance(t, Ptr):
        raise ELFLoadError(f"map '{map_name}': {what} spec is not PTR: {t.kind.name}")
    try:
        return btf.size_of(t.type), t.type
    except BTFError as e:
        raise ELFLoadError(f"map '{map_name}': can't determine {what} size: {e}") from e


def parse_map_def(btf: Btf, name: str, definition: Struct, *, inner: bool = False) -> MapSpec:
    """``parse_btf_map_def()``: the MapSpec a map definition struct describes."""
    f: dict[str, object] = {
        "map_type": 0,
        "max_entries": 0,
        "flags": 0,
        "numa_node": 0,
        "map_extra": 0,
        "key_size": 0,
        "value_size": 0,
        "key_type": 0,
        "value_type": 0,
        "pinning": 0,
        "inner_map": None,
    }

    def set_size(field: str, size: int) -> None:
        old = f[field]
        if old and old != size:
            what = field.replace("_", " ")
            raise ELFLoadError(f"map '{name}': conflicting {what} {old} != {size}")
        f[field] = size

    for i, m in enumerate(definition.members):
        if not m.name:
            raise ELFLoadError(f"map '{name}': invalid field #{i}")
        if m.name in _INT_FIELDS:
            f[_INT_FIELDS[m.name]] = _field_int(btf, name, m.name, m.type)
        elif m.name in ("key_size", "value_size"):
            set_size(m.name, _field_int(btf, name, m.name, m.type))
        elif m.name in ("key", "value"):
            size, tid = _pointee_size(btf, name, m.name, m.type)
            set_size(f"{m.name}_size", size)
            f[f"{m.name}_type"] = tid
        elif m.name == "values":
            f["inner_map"] = _parse_values(
                btf, name, f, m.type, last=i == len(definition.members) - 1, inner=inner
            )
        elif m.name == "pinning":
            if inner:
                raise ELFLoadError(f"map '{name}': inner def can't be pinned")
            pin = _field_int(btf, name, m.name, m.type)
            if pin not in (_LIBBPF_PIN_NONE, _LIBBPF_PIN_BY_NAME):
                raise ELFLoadError(f"map '{name}': invalid pinning value {pin}")
            f["pinning"] = pin
        else:
            raise ELFLoadError(f"map '{name}': unknown field '{m.name}'")
    f["map_type"] = as_map_type(f["map_type"])  # type: ignore[arg-type]
    if f["map_type"] == MapType.UNSPEC:
        raise ELFLoadError(f"map '{name}': map type isn't specified")
    key_size = f["key_size"]
    assert isinstance(key_size, int)
    if key_size > MAX_KEY_SIZE:
        raise ELFLoadError(
            f"map '{name}': key size {key_size} is larger than MAX_BPF_STACK ({MAX_KEY_SIZE})"
        )
    max_entries = f["max_entries"]
    assert isinstance(max_entries, int)
    if f["map_type"] in _RINGBUF:
        f["max_entries"] = adjust_ringbuf_size(max_entries)
    return MapSpec(name=name, section=BTF_MAPS_SECTION, **f)  # type: ignore[arg-type]


def _parse_values(
    btf: Btf, name: str, f: dict[str, object], type_id: int, *, last: bool, inner: bool
) -> MapSpec | None:
    """The ``values`` member: a map-in-map's inner definition or a prog array's prototype."""
    map_type = f["map_type"]
    is_map_in_map = map_type in _MAP_IN_MAP
    is_prog_array = map_type == MapType.PROG_ARRAY
    desc = "map-in-map inner" if is_map_in_map else "prog-array value"
    if inner:
        raise ELFLoadError(f"map '{name}': multi-level inner maps not supported")
    if not last:
        raise ELFLoadError(f"map '{name}': 'values' member should be last")
    if not is_map_in_map and not is_prog_array:
        raise ELFLoadError(f"map '{name}': should be map-in-map or prog-array")
    if f["value_size"] not in (0, 4):
        raise ELFLoadError(f"map '{name}': conflicting value size {f['value_size']} != 4")
    f["value_size"] = 4
    t = btf[type_id]
    if not isinstance(t, Array) or t.nelems:
        raise ELFLoadError(f"map '{name}': {desc} spec is not a zero-sized array")
    _, t = btf.skip_mods_and_typedefs(t.type)
    if not isinstance(t, Ptr):
        raise ELFLoadError(f"map '{name}': {desc} def is of unexpected kind {t.kind.name}")
    _, t = btf.skip_mods_and_typedefs(t.type)
    if is_prog_array:
        if not isinstance(t, FuncProto):
            raise ELFLoadError(
                f"map '{name}': prog-array value def is of unexpected kind {t.kind.name}"
            )
        return None
    if not isinstance(t, Struct):
        raise ELFLoadError(
            f"map '{name}': map-in-map inner def is of unexpected kind {t.kind.name}"
        )
    return parse_map_def(btf, f"{name}.inner", t, inner=True)


def adjust_ringbuf_size(size: int) -> int:
    """``adjust_ringbuf_sz()``: round up to a power-of-2 multiple of the page size."""
    if size == 0:
        return 0
    if size % PAGE_SIZE == 0 and ((size // PAGE_SIZE) & (size // PAGE_SIZE - 1)) == 0:
        return size
    mul = 1
    while mul * PAGE_SIZE <= 0xFFFFFFFF:
        if mul * PAGE_SIZE > size:
            return mul * PAGE_SIZE
        mul <<= 1
    return size


def _global_object(obj: ELFObject, name: str, shndx: int) -> int | None:
    """``find_elf_var_sym()``: the value of the global or weak object symbol ``name``."""
    for sym in obj.symbols:
        if (
            sym.name == name
            and sym.type == SymbolType.OBJECT
            and sym.shndx == shndx
            and sym.bind in (SymbolBind.GLOBAL, SymbolBind.WEAK)
        ):
            return sym.value
    return None


def load_btf_maps(
    obj: ELFObject, sec: Section, btf: Btf | None
) -> list[tuple[MapSpec, MapLocation]]:
    """The maps of the ``.maps`` section ``sec``, in offset order."""
    if btf is None:
        raise ELFLoadError(
            f"section '{sec.name}': BTF-defined maps need the object's BTF "
            f"(no .BTF section; compile with -g)"
        )
    datasec_id = btf.find(BTF_MAPS_SECTION, BtfKind.DATASEC)
    if datasec_id is None:
        raise ELFLoadError(f"section '{sec.name}': DATASEC '{BTF_MAPS_SECTION}' not found in BTF")
    datasec = btf[datasec_id]
    size = len(obj.data(sec))  # elf_sec_data(): the section must be inside the file
    out = []
    for i, vi in enumerate(datasec.vars):  # type: ignore[union-attr]
        var = btf[vi.type]
        map_name = var.name
        if not map_name:
            raise ELFLoadError(f"section '{sec.name}': map #{i}: empty name")
        if not isinstance(var, Var):
            raise ELFLoadError(f"map '{map_name}': unexpected var kind {var.kind.name}")
        if var.linkage != VarLinkage.GLOBAL_ALLOCATED:
            raise ELFLoadError(
                f"map '{map_name}': unsupported map linkage {var.linkage.name.lower()}"
            )
        offset = vi.offset
        if datasec.size == 0:  # type: ignore[union-attr]
            found = _global_object(obj, map_name, sec.index)
            if found is None:
                raise ELFLoadError(f"map '{map_name}': no ELF symbol in section '{sec.name}'")
            offset = found
        if offset + vi.size > size:
            raise ELFLoadError(
                f"map '{map_name}': BTF data is corrupted (offset {offset} + "
                f"size {vi.size} is past the {size}-byte section)"
            )
        _, definition = btf.skip_mods_and_typedefs(var.type)
        if not isinstance(definition, Struct):
            raise ELFLoadError(f"map '{map_name}': unexpected def kind {definition.kind.name}")
        if definition.size > vi.size:
            raise ELFLoadError(f"map '{map_name}': invalid def size")
        try:
            spec = parse_map_def(btf, map_name, definition)
        except (ELFLoadError, BTFError) as e:
            raise ELFLoadError(f"section '{sec.name}': {e}") from e
        last = definition.members[-1] if definition.members else None
        values = last.bit_offset // 8 if last is not None and last.name == "values" else -1
        out.append((spec, MapLocation(map_name, sec.index, offset, vi.size, values)))
    out.sort(key=lambda item: item[1].offset)
    return out


def collect_map_relos(
    obj: ELFObject,
    rel: Section,
    maps: dict[str, MapSpec],
    locations: list[MapLocation],
    functions: FunctionTable,
) -> dict[str, MapSpec]:
    """``bpf_object__collect_map_relos()``: ``values`` slots of prog arrays and maps of maps.

    Returns the maps with ``content_refs`` = ``(slot, program or map name)`` filled in.
    """
    maps_shndx = rel.info
    refs: dict[str, dict[int, str]] = {}
    for r in obj.relocations(rel):
        where = f"section '{rel.name}': relocation {r.index} at offset {r.offset:#x}"
        sym = obj.symbol(r.symbol)
        name = obj.symbol_name(sym)
        where += f": symbol '{name}'"
        loc = next(
            (
                m
                for m in locations
                if m.section_index == maps_shndx
                and m.offset <= r.offset
                and r.offset + 8 <= m.offset + m.size
            ),
            None,
        )
        if loc is None:
            raise ELFLoadError(f"{where}: cannot find the map at this offset")
        spec = maps[loc.name]
        if spec.map_type in _MAP_IN_MAP:
            if sym.shndx != maps_shndx:
                raise ELFLoadError(f"{where}: '{name}' isn't a BTF-defined map")
            if spec.map_type == MapType.HASH_OF_MAPS and spec.key_size != 4:
                raise ELFLoadError(f"{where}: hash-of-maps '{spec.name}' should have key size 4")
            if name not in maps or maps[name].section != BTF_MAPS_SECTION:
                raise ELFLoadError(f"{where}: '{name}' isn't a valid map reference")
        elif spec.map_type == MapType.PROG_ARRAY:
            target = next((f for f in functions.in_section(sym.shndx) if f.name == name), None)
            if target is None or target.is_subprog or target.offset != sym.value:
                raise ELFLoadError(f"{where}: '{name}' isn't an entry-point program")
        else:
            raise ELFLoadError(
                f"{where}: map '{spec.name}' is neither a prog array nor a map of maps"
            )
        if loc.values_offset < 0:
            raise ELFLoadError(f"{where}: map '{spec.name}' has no 'values' member")
        rel_off = r.offset - loc.offset - loc.values_offset
        if rel_off < 0 or rel_off % 8:
            raise ELFLoadError(f"{where}: not a slot of the 'values' array of '{spec.name}'")
        refs.setdefault(spec.name, {})[rel_off // 8] = name
    out = dict(maps)
    for map_name, slots in refs.items():
        spec = maps[map_name]
        if max(slots) >= spec.max_entries:
            raise ELFLoadError(
                f"map '{map_name}': 'values' slot {max(slots)} is past "
                f"max_entries {spec.max_entries}"
            )
        out[map_name] = replace(spec, content_refs=tuple(sorted(slots.items())))
    return out
