"""Global variables: ``.data``, ``.rodata``, ``.bss`` and ``.data.*``/``.rodata.*``/``.bss.*``.

Mirrors ``bpf_object__init_global_data_maps()``, ``bpf_object__init_internal_map()``,
``internal_map_name()``, ``map_uses_real_name()``/``bpf_map__name()`` and ``map_is_mmapable()``
of libbpf: each non-empty data section is a single-entry array map (key 4 bytes, value the whole
section) whose initial value is the section's bytes (zeros for ``SHT_NOBITS``). Read-only
sections (``.rodata*``, ``.kconfig``) get ``BPF_F_RDONLY_PROG`` and are frozen after creation;
a section with at least one global, non-hidden variable in its BTF DATASEC gets
``BPF_F_MMAPABLE``.

Names are libbpf's user-visible ones: ``<object name prefix>.data``/``.rodata``/``.bss``/
``.kconfig`` (the object name is cut so the whole name fits the kernel's 15 characters) and the
section name itself for custom ``.data.*``/``.rodata.*`` sections. A backend that creates the
map in the kernel cuts a custom name to 15 characters (:func:`kernel_map_name`).
"""

from __future__ import annotations

from pybpf.btf import Btf, BtfKind, DataSec, Var, VarLinkage
from pybpf.elf.maps_legacy import MapLocation
from pybpf.elf.reader import ELFObject, Section, SectionType
from pybpf.errors import ELFLoadError
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec

__all__ = [
    "BPF_F_MMAPABLE",
    "BPF_F_RDONLY_PROG",
    "DataKind",
    "data_section_kind",
    "internal_map_name",
    "kernel_map_name",
    "load_data_maps",
    "user_map_name",
]

BPF_OBJ_NAME_LEN = 16
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10
#: KMALLOC_MAX_SIZE on x86_64 (4 MiB): the kernel refuses larger array values.
MAX_VALUE_SIZE = 1 << 22


class DataKind:
    """``enum libbpf_map_type`` of an internal map."""

    DATA = "data"
    RODATA = "rodata"
    BSS = "bss"
    KCONFIG = "kconfig"


def data_section_kind(sec: Section) -> str | None:
    """Which internal map ``sec`` backs (``bpf_object__elf_collect()``), or None."""
    name = sec.name
    if sec.type == SectionType.PROGBITS and not sec.executable:
        if name == ".data" or name.startswith(".data."):
            return DataKind.DATA
        if name == ".rodata" or name.startswith(".rodata."):
            return DataKind.RODATA
    if sec.type == SectionType.NOBITS and (name == ".bss" or name.startswith(".bss.")):
        return DataKind.BSS
    return None


def internal_map_name(obj_name: str, real_name: str) -> str:
    """``internal_map_name()``: the kernel-visible name of an internal map."""
    sfx_len = min(max(7, len(real_name)), BPF_OBJ_NAME_LEN - 1)
    pfx_len = 0 if "." in real_name[1:] else min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = (obj_name[:pfx_len] + real_name[:sfx_len])[: BPF_OBJ_NAME_LEN - 1]
    return "".join(c if c.isascii() and (c.isalnum() or c in "_.") else "_" for c in name)


def user_map_name(obj_name: str, real_name: str, kind: str) -> str:
    """``bpf_map__name()``: custom ``.data.*``/``.rodata.*`` maps keep their section name."""
    if kind == DataKind.DATA and real_name != ".data":
        return real_name
    if kind == DataKind.RODATA and real_name != ".rodata":
        return real_name
    return internal_map_name(obj_name, real_name)


def kernel_map_name(name: str) -> str:
    """The name to give the kernel: at most 15 characters of ``[A-Za-z0-9_.]``."""
    cut = name[: BPF_OBJ_NAME_LEN - 1]
    return "".join(c if c.isascii() and (c.isalnum() or c in "_.") else "_" for c in cut)


def _mmapable(btf: Btf, datasec: DataSec) -> bool:
    """``map_is_mmapable()``: a non-static VAR (hidden globals were made static by the fixup)."""
    for vi in datasec.vars:
        var = btf[vi.type]
        if isinstance(var, Var) and var.linkage != VarLinkage.STATIC:
            return True
    return False


def internal_map(
    name: str, real_name: str, kind: str, size: int, data: bytes, btf: Btf | None
) -> MapSpec:
    """``bpf_object__init_internal_map()``."""
    read_only = kind in (DataKind.RODATA, DataKind.KCONFIG)
    flags = BPF_F_RDONLY_PROG if read_only else 0
    value_type = 0
    if btf is not None:
        tid = btf.find(real_name, BtfKind.DATASEC)
        if tid is not None:
            value_type = tid
            datasec = btf[tid]
            if isinstance(datasec, DataSec) and _mmapable(btf, datasec):
                flags |= BPF_F_MMAPABLE
    return MapSpec(
        name=name,
        map_type=MapType.ARRAY,
        key_size=4,
        value_size=size,
        max_entries=1,
        flags=flags,
        value_type=value_type,
        data=data,
        read_only=read_only,
        section=real_name,
    )


def load_data_maps(obj: ELFObject, btf: Btf | None) -> list[tuple[MapSpec, MapLocation]]:
    """One map per non-empty data section, in section order."""
    out = []
    for sec in obj.sections:
        kind = data_section_kind(sec)
        if kind is None or sec.size == 0:
            continue
        if sec.size > MAX_VALUE_SIZE:
            raise ELFLoadError(
                f"section '{sec.name}': {sec.size} bytes of global data is more than an array "
                f"map value can hold ({MAX_VALUE_SIZE} bytes, KMALLOC_MAX_SIZE)"
            )
        data = bytes(sec.size) if kind == DataKind.BSS else obj.data(sec)
        name = user_map_name(obj.name, sec.name, kind)
        spec = internal_map(name, sec.name, kind, sec.size, data, btf)
        out.append((spec, MapLocation(name, sec.index, 0, sec.size)))
    return out
