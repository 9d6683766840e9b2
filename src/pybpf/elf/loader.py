"""``load_collection()``: a clang-built BPF ELF object -> :class:`CollectionSpec`.

Mirrors the open half of libbpf's ``bpf_object__open()`` — ``bpf_object__elf_collect()``,
``bpf_object__collect_externs()``, ``bpf_object__init_maps()``, ``bpf_object__collect_relos()``
— and the code part of ``bpf_object__relocate()`` (calls and data references; CO-RE records
are kept, not applied). The result is plain data: nothing is created in the kernel.

Programs are the functions of executable sections other than ``.text``; their type comes from
the section name (:mod:`pybpf.elf.section_defs`). ``.text`` functions are sub-programs appended
to the programs that use them. Maps come from the legacy ``maps`` section, ``.maps``, the global
data sections and ``.kconfig`` externs, in that order.

The only environment read is for ``.kconfig`` externs the caller gave no value for
(``LINUX_KERNEL_VERSION`` from ``uname``, ``CONFIG_*`` from the kernel's config), unless
``host_config=False``. Every failure is an :class:`~pybpf.errors.ELFLoadError`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pybpf.btf import Btf, BtfExt
from pybpf.elf import hostconfig
from pybpf.elf.btf_fixup import fixup_object_btf
from pybpf.elf.externs import Extern, ExternKind, collect_externs, kconfig_values
from pybpf.elf.functions import TEXT, FunctionTable
from pybpf.elf.link import link_program
from pybpf.elf.maps_btf import BTF_MAPS_SECTION, collect_map_relos, load_btf_maps
from pybpf.elf.maps_data import DataKind, internal_map, internal_map_name, load_data_maps
from pybpf.elf.maps_legacy import LEGACY_MAPS_SECTION, MapLocation, load_legacy_maps
from pybpf.elf.reader import PARSE_ERRORS, ELFObject, SectionType, object_name
from pybpf.elf.relocs import RelocTargets, collect_relocations
from pybpf.elf.section_defs import SecFlag, match
from pybpf.errors import BTFError, ELFLoadError, PybpfError
from pybpf.program.spec import CollectionSpec, MapSpec, ProgramSpec

__all__ = ["load_collection"]

LICENSE_SEC = "license"
VERSION_SEC = "version"
BTF_SEC = ".BTF"
BTF_EXT_SEC = ".BTF.ext"
KCONFIG_SEC = ".kconfig"
BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5
_LICENSE_MAX = 63  # char license[64]


@dataclass(frozen=True, slots=True)
class _Options:
    allow_unknown: bool
    kconfig: str | Mapping[str, str | int | bool] | None
    kernel_version: int | None
    host_config: bool
    entries: frozenset[str] = frozenset()


def load_collection(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    name: str | None = None,
    allow_unknown: bool = False,
    kconfig: str | Mapping[str, str | int | bool] | None = None,
    kernel_version: int | None = None,
    host_config: bool = True,
    entries: Iterable[str] = (),
) -> CollectionSpec:
    """Load every program and map of a BPF ELF object.

    ``source`` is a path or the object's bytes. ``name`` is the object name that prefixes the
    ``.data``/``.rodata``/``.bss``/``.kconfig`` map names (default: the file's base name up to
    the first ``.``; ``""`` for bytes). ``allow_unknown`` loads programs of sections no
    program type is known for with ``prog_type`` None instead of failing. ``kconfig`` gives
    ``.kconfig`` extern values (config-file text, or a mapping ``{"CONFIG_X": "y"}``);
    ``kernel_version`` is ``LINUX_KERNEL_VERSION``; with ``host_config`` the running kernel
    supplies what is still missing. ``entries`` names ``.text`` functions to link as
    programs of their own too (``prog_type`` None: the raw ``mem`` type), linked like a
    program with the sub-programs they call.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        obj = ELFObject.from_bytes(source, name=name if name is not None else "")
        where = ""
    else:
        path = os.fspath(source)
        obj = ELFObject.from_path(path, name=name if name is not None else object_name(path))
        where = path
    opts = _Options(allow_unknown, kconfig, kernel_version, host_config, frozenset(entries))
    try:
        return _load(obj, opts, where)
    except PybpfError as e:
        if isinstance(e, ELFLoadError):
            raise
        raise ELFLoadError(f"{type(e).__name__}: {e}") from e
    except PARSE_ERRORS as e:
        raise ELFLoadError(f"malformed ELF object: {type(e).__name__}: {e}") from e


def _license(obj: ELFObject) -> str:
    """``bpf_object__init_license()``: the string up to its NUL, at most 63 characters."""
    sec = obj.section_by_name(LICENSE_SEC)
    if sec is None:
        return ""
    raw = obj.data(sec).split(b"\0", 1)[0][:_LICENSE_MAX]
    try:
        return raw.decode()
    except UnicodeDecodeError as e:
        raise ELFLoadError(f"section '{LICENSE_SEC}': license is not UTF-8") from e


def _kern_version(obj: ELFObject) -> int:
    """``bpf_object__init_kversion()``: a 4-byte ``version`` section (0 without one)."""
    sec = obj.section_by_name(VERSION_SEC)
    if sec is None:
        return 0
    data = obj.data(sec)
    if len(data) != 4:
        raise ELFLoadError(
            f"section '{VERSION_SEC}': invalid kernel version section "
            f"({len(data)} bytes, expected 4)"
        )
    return int(struct.unpack("<I", data)[0])


def _btf(obj: ELFObject) -> tuple[Btf | None, BtfExt | None]:
    """``bpf_object__init_btf()``: ``.BTF`` and, when there is BTF, ``.BTF.ext``."""
    btf = ext = None
    sec = obj.section_by_name(BTF_SEC)
    if sec is not None:
        if sec.type != SectionType.PROGBITS:
            raise ELFLoadError(f"section '{BTF_SEC}': not SHT_PROGBITS")
        try:
            btf = Btf.from_bytes(obj.data(sec))
        except BTFError as e:
            raise ELFLoadError(f"section '{BTF_SEC}': {e}") from e
    sec = obj.section_by_name(BTF_EXT_SEC)
    if sec is not None and btf is not None:
        if sec.type != SectionType.PROGBITS:
            raise ELFLoadError(f"section '{BTF_EXT_SEC}': not SHT_PROGBITS")
        try:
            ext = BtfExt.from_bytes(obj.data(sec), btf)
        except BTFError as e:
            raise ELFLoadError(f"section '{BTF_EXT_SEC}': {e}") from e
    return btf, ext


def _kconfig_map(
    obj: ELFObject, externs: tuple[Extern, ...], btf: Btf | None, opts: _Options
) -> MapSpec | None:
    """``bpf_object__init_kconfig_map()`` with the values resolved."""
    if not any(e.kind == ExternKind.KCFG for e in externs):
        return None
    data = kconfig_values(
        externs,
        explicit=opts.kconfig,
        kernel_version=opts.kernel_version,
        host_kernel_version=hostconfig.host_kernel_version,
        host_kconfig=hostconfig.host_kconfig if opts.host_config else None,
    )
    name = internal_map_name(obj.name, KCONFIG_SEC)
    return internal_map(name, KCONFIG_SEC, DataKind.KCONFIG, len(data), data, btf)


@dataclass(slots=True)
class _Maps:
    specs: dict[str, MapSpec]
    #: legacy and BTF-defined maps: relocations name them by (section, offset)
    defined: list[MapLocation]
    #: global data maps: relocations name them by section
    data: list[MapLocation]


def _maps(obj: ELFObject, btf: Btf | None, externs: tuple[Extern, ...], opts: _Options) -> _Maps:
    defined: list[tuple[MapSpec, MapLocation]] = []
    for sec in obj.sections:
        if sec.name == LEGACY_MAPS_SECTION or sec.name.startswith(LEGACY_MAPS_SECTION + "/"):
            defined += load_legacy_maps(obj, sec)
    for sec in obj.sections:
        if sec.name == BTF_MAPS_SECTION:
            defined += load_btf_maps(obj, sec, btf)
    data = load_data_maps(obj, btf)
    specs = [spec for spec, _ in defined + data]
    kconfig = _kconfig_map(obj, externs, btf, opts)
    if kconfig is not None:
        specs.append(kconfig)
    maps: dict[str, MapSpec] = {}
    for spec in specs:
        if spec.name in maps:
            raise ELFLoadError(
                f"map '{spec.name}' is defined twice (sections "
                f"'{maps[spec.name].section}' and '{spec.section}')"
            )
        maps[spec.name] = spec
    return _Maps(maps, [loc for _, loc in defined], [loc for _, loc in data])


def _prog_flags(flags: SecFlag) -> int:
    """BPF_PROG_LOAD ``prog_flags`` implied by the section definition."""
    return (BPF_F_SLEEPABLE if flags & SecFlag.SLEEPABLE else 0) | (
        BPF_F_XDP_HAS_FRAGS if flags & SecFlag.XDP_FRAGS else 0
    )


def _load(obj: ELFObject, opts: _Options, where: str) -> CollectionSpec:
    license = _license(obj)
    kern_version = _kern_version(obj)
    raw_btf, ext = _btf(obj)
    externs = collect_externs(obj, raw_btf)
    btf = fixup_object_btf(obj, raw_btf, externs) if raw_btf is not None else None
    functions = FunctionTable.from_object(obj)
    for sec in obj.sections:
        if (
            sec.type == SectionType.PROGBITS
            and sec.executable
            and sec.size
            and not functions.in_section(sec.index)
        ):
            raise ELFLoadError(f"section '{sec.name}': executable code without a function symbol")
    text = obj.section_by_name(TEXT)
    text_index = text.index if text is not None and text.executable else None

    found = _maps(obj, btf, externs, opts)
    maps = found.specs
    for rel in obj.sections:
        if (
            rel.type == SectionType.REL
            and 0 < rel.info < len(obj.sections)
            and obj.sections[rel.info].name == BTF_MAPS_SECTION
        ):
            maps = collect_map_relos(obj, rel, maps, found.defined, functions)

    targets = RelocTargets(text_index)
    for loc in found.defined:
        targets.map_at[(loc.section_index, loc.offset)] = loc.name
        targets.map_sections.add(loc.section_index)
    for sec in obj.sections:
        if sec.name == LEGACY_MAPS_SECTION or sec.name == BTF_MAPS_SECTION:
            targets.map_sections.add(sec.index)
    for loc in found.data:
        targets.data_maps[loc.section_index] = loc.name
    targets.externs = {e.symbol: e for e in externs}
    relocs = collect_relocations(obj, functions, targets)
    kconfig_map = internal_map_name(obj.name, KCONFIG_SEC)

    programs: dict[str, ProgramSpec] = {}
    missing = opts.entries - {f.name for f in functions.functions}
    if missing:
        known = ", ".join(sorted(f.name for f in functions.functions)) or "none"
        raise ELFLoadError(f"no function named {', '.join(sorted(missing))} (functions: {known})")
    for func in functions.functions:
        as_entry = func.is_subprog and func.name in opts.entries
        if func.is_subprog and not as_entry:
            continue
        sec_match = None if as_entry else match(func.section)
        if sec_match is None and not (opts.allow_unknown or as_entry):
            raise ELFLoadError(
                f"section '{func.section}': program '{func.name}': unknown "
                f"program type (the section name matches no libbpf SEC() "
                f"pattern)"
            )
        linked = link_program(
            func,
            functions,
            relocs,
            text_index=text_index,
            kconfig_map=kconfig_map,
            btf=btf,
            ext=ext,
        )
        if func.name in programs:
            raise ELFLoadError(f"program '{func.name}' is defined twice")
        programs[func.name] = ProgramSpec(
            name=func.name,
            instructions=tuple(linked.instructions),
            section=func.section,
            license=license,
            prog_type=sec_match.prog_type if sec_match else None,
            expected_attach_type=sec_match.attach_type if sec_match else None,
            attach_to=sec_match.attach_to if sec_match else "",
            kern_version=kern_version,
            map_references=tuple(linked.map_references),
            func_info=tuple(linked.func_info),
            line_info=tuple(linked.line_info),
            core_relocations=tuple(linked.core_relocations),
            flags=_prog_flags(sec_match.flags if sec_match else SecFlag.NONE),
            autoload=not func.section.startswith("?"),
            extern_references=tuple(linked.externs),
            source=where,
            btf=btf,
        )
    return CollectionSpec(programs, maps, license, kern_version, btf, where)
