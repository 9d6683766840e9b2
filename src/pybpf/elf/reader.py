"""An ELF relocatable object as plain values: sections, symbols, relocations (via pyelftools).

Mirrors the checks of ``bpf_object__elf_init()``, ``bpf_object__check_endianness()`` and the
symbol-table pass of ``bpf_object__elf_collect()`` in libbpf: a 64-bit, little-endian ``ET_REL``
object whose machine is ``EM_BPF`` (or ``EM_NONE``, as old LLVM wrote it) with exactly one
symbol table. pyelftools parses the headers; everything is then copied into frozen values so no
later stage touches pyelftools, and every parsing failure surfaces here as
:class:`~pybpf.errors.ELFLoadError`.

Not modelled: big-endian (``bpfeb``) objects (the reference kernel is little-endian), compressed
sections, ``SHT_RELA`` relocations (clang emits ``SHT_REL`` for BPF; libbpf skips RELA too).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from elftools.common.exceptions import ELFError
from elftools.construct.core import ConstructError
from elftools.elf import enums as elf_enums
from elftools.elf.elffile import ELFFile

from pybpf.errors import ELFLoadError

__all__ = [
    "EM_BPF",
    "PARSE_ERRORS",
    "SHN_LORESERVE",
    "SHN_UNDEF",
    "ELFObject",
    "RelocType",
    "Relocation",
    "Section",
    "SectionFlag",
    "SectionType",
    "Symbol",
    "SymbolBind",
    "SymbolType",
]

EM_NONE = 0
EM_BPF = 247
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
_SYM_SIZE = 24  # sizeof(Elf64_Sym)
_REL_SIZE = 16  # sizeof(Elf64_Rel)

#: Exceptions a malformed object can raise inside pyelftools or while slicing its data.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ELFError,
    ConstructError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    OverflowError,
    UnicodeDecodeError,
    RecursionError,
    MemoryError,
)


class SectionType(IntEnum):
    """``sh_type`` values of ``<elf.h>`` that a BPF object uses."""

    NULL = 0
    PROGBITS = 1
    SYMTAB = 2
    STRTAB = 3
    RELA = 4
    NOBITS = 8
    REL = 9
    LLVM_ADDRSIG = 0x6FFF4C03


class SectionFlag(IntFlag):
    """``sh_flags`` bits (``SHF_*``)."""

    WRITE = 0x1
    ALLOC = 0x2
    EXECINSTR = 0x4
    MERGE = 0x10
    STRINGS = 0x20
    COMPRESSED = 0x800


class SymbolType(IntEnum):
    """``ELF64_ST_TYPE``."""

    NOTYPE = 0
    OBJECT = 1
    FUNC = 2
    SECTION = 3
    FILE = 4


class SymbolBind(IntEnum):
    """``ELF64_ST_BIND``."""

    LOCAL = 0
    GLOBAL = 1
    WEAK = 2


class RelocType(IntEnum):
    """``R_BPF_*`` relocation types (llvm/BinaryFormat/ELFRelocs/BPF.def)."""

    NONE = 0
    R_64_64 = 1  # lddw imm64
    R_64_ABS64 = 2  # data: 64-bit absolute
    R_64_ABS32 = 3
    R_64_NODYLD32 = 4  # .BTF/.BTF.ext: not applied at load
    R_64_32 = 10  # call imm


STV_HIDDEN = 2
STV_INTERNAL = 1


@dataclass(frozen=True, slots=True)
class Section:
    """A section header: ``index`` in the section table and the fields libbpf reads."""

    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int

    @property
    def executable(self) -> bool:
        return bool(self.flags & SectionFlag.EXECINSTR)


@dataclass(frozen=True, slots=True)
class Symbol:
    """An ``Elf64_Sym``: ``shndx`` is the section index (0 = undefined, >= 0xff00 special)."""

    index: int
    name: str
    value: int
    size: int
    type: int
    bind: int
    visibility: int
    shndx: int

    @property
    def is_extern(self) -> bool:
        """``sym_is_extern()``: NOTYPE, GLOBAL or WEAK, in no section."""
        return (
            self.shndx == SHN_UNDEF
            and self.bind in (SymbolBind.GLOBAL, SymbolBind.WEAK)
            and self.type == SymbolType.NOTYPE
        )

    @property
    def is_hidden(self) -> bool:
        return self.visibility in (STV_HIDDEN, STV_INTERNAL)


@dataclass(frozen=True, slots=True)
class Relocation:
    """An ``Elf64_Rel``: relocation number ``index`` at byte ``offset`` against ``symbol``."""

    index: int
    offset: int
    symbol: int
    type: int


def _enum(value: object, table: Mapping[str, object], what: str) -> int:
    if isinstance(value, int):
        return value
    number = table.get(str(value))
    if not isinstance(number, int):
        raise ELFLoadError(f"unknown {what} {value!r}")
    return number


class ELFObject:
    """A parsed BPF ELF object: sections, the symbol table and relocation sections.

    Build with :meth:`from_bytes` or :meth:`from_path`. ``name`` is the object name libbpf
    derives (``bpf_object__new()``): the file's base name up to the first ``.``, at most 15
    characters; it prefixes the names of ``.data``/``.rodata``/``.bss``/``.kconfig`` maps.
    """

    def __init__(self, image: bytes, *, name: str = "") -> None:
        self.image = image
        self.name = name
        try:
            self._parse()
        except ELFLoadError:
            raise
        except PARSE_ERRORS as e:
            raise ELFLoadError(f"malformed ELF object: {type(e).__name__}: {e}") from e

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, *, name: str = "") -> ELFObject:
        return cls(bytes(data), name=name)

    @classmethod
    def from_path(cls, path: str, *, name: str | None = None) -> ELFObject:
        try:
            with open(path, "rb") as f:
                image = f.read()
        except OSError as e:
            raise ELFLoadError(f"cannot read {path}: {e.strerror or e}") from e
        return cls(image, name=object_name(path) if name is None else name)

    # -- parsing -------------------------------------------------------------------------------
    def _parse(self) -> None:
        image = self.image
        if image[:4] != b"\x7fELF":
            raise ELFLoadError("not an ELF object (bad magic)")
        if len(image) < 64:
            raise ELFLoadError(f"truncated ELF header ({len(image)} bytes)")
        if image[4] != 2:
            raise ELFLoadError("not a 64-bit ELF object (EI_CLASS is not ELFCLASS64)")
        if image[5] == 2:
            raise ELFLoadError("big-endian ELF object: endianness mismatch with the host")
        if image[5] != 1:
            raise ELFLoadError(f"unknown ELF data encoding (EI_DATA {image[5]})")
        elf = ELFFile(io.BytesIO(image))
        header = elf.header
        e_type = _enum(header["e_type"], elf_enums.ENUM_E_TYPE, "e_type")
        machine = _enum(header["e_machine"], elf_enums.ENUM_E_MACHINE, "e_machine")
        if e_type != 1 or machine not in (EM_NONE, EM_BPF):
            raise ELFLoadError(
                f"not a valid eBPF object file (e_type {e_type}, e_machine {machine}; "
                f"need ET_REL and EM_BPF {EM_BPF})"
            )
        shoff, shnum, shentsize = header["e_shoff"], header["e_shnum"], header["e_shentsize"]
        if shentsize != 64 and shnum:
            raise ELFLoadError(f"section header size {shentsize} != 64")
        if shoff + shnum * shentsize > len(image):
            raise ELFLoadError(
                f"section header table ({shnum} headers at {shoff:#x}) is past the end of the "
                f"file ({len(image):#x} bytes): truncated object?"
            )
        sections: list[Section] = []
        for index, raw in enumerate(elf.iter_sections()):
            h = raw.header
            sections.append(
                Section(
                    index,
                    raw.name,
                    _enum(h["sh_type"], elf_enums.ENUM_SH_TYPE_BASE, "sh_type"),
                    int(h["sh_flags"]),
                    int(h["sh_offset"]),
                    int(h["sh_size"]),
                    int(h["sh_link"]),
                    int(h["sh_info"]),
                    int(h["sh_entsize"]),
                )
            )
        self.sections: tuple[Section, ...] = tuple(sections)
        symtabs = [s for s in sections if s.type == SectionType.SYMTAB]
        if not symtabs:
            raise ELFLoadError("no symbol table (stripped object file?)")
        if len(symtabs) > 1:
            raise ELFLoadError("multiple symbol tables")
        self.symtab = symtabs[0]
        self.symbols: tuple[Symbol, ...] = self._read_symbols(self.symtab)

    def _read_symbols(self, symtab: Section) -> tuple[Symbol, ...]:
        if symtab.entsize != _SYM_SIZE:
            raise ELFLoadError(f"section '{symtab.name}': symbol size {symtab.entsize} != 24")
        data = self.data(symtab)
        strtab = self.section(symtab.link, what=f"string table of '{symtab.name}'")
        if strtab.type != SectionType.STRTAB:
            raise ELFLoadError(f"section '{symtab.name}': sh_link {symtab.link} is not STRTAB")
        strings = self.data(strtab)
        out = []
        for index in range(len(data) // _SYM_SIZE):
            name_off, info, other, shndx, value, size = struct.unpack_from(
                "<IBBHQQ", data, index * _SYM_SIZE
            )
            out.append(
                Symbol(
                    index,
                    _cstring(strings, name_off, f"symbol #{index} name"),
                    value,
                    size,
                    info & 0xF,
                    info >> 4,
                    other & 0x3,
                    shndx,
                )
            )
        return tuple(out)

    # -- access --------------------------------------------------------------------------------
    def section(self, index: int, *, what: str = "section") -> Section:
        """Section number ``index`` (ELFLoadError naming ``what`` if there is none)."""
        if not 0 < index < len(self.sections):
            raise ELFLoadError(f"{what}: no section #{index}")
        return self.sections[index]

    def section_by_name(self, name: str) -> Section | None:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def data(self, section: Section) -> bytes:
        """The bytes of ``section``; zeros for ``SHT_NOBITS``; bounds checked against the file."""
        if section.flags & SectionFlag.COMPRESSED:
            raise ELFLoadError(f"section '{section.name}': compressed sections are not supported")
        if section.type == SectionType.NOBITS:
            raise ELFLoadError(f"section '{section.name}': SHT_NOBITS has no file data")
        end = section.offset + section.size
        if end > len(self.image):
            raise ELFLoadError(
                f"section '{section.name}': offset {section.offset:#x} + size {section.size:#x} "
                f"is past the end of the file ({len(self.image):#x} bytes)"
            )
        return self.image[section.offset : end]

    def symbol(self, index: int) -> Symbol:
        if not 0 <= index < len(self.symbols):
            raise ELFLoadError(f"no symbol #{index}")
        return self.symbols[index]

    def relocations(self, rel: Section) -> tuple[Relocation, ...]:
        """The entries of ``SHT_REL`` section ``rel`` (``elf_rel_by_idx()``)."""
        if rel.entsize != _REL_SIZE:
            raise ELFLoadError(f"section '{rel.name}': relocation entry size {rel.entsize} != 16")
        data = self.data(rel)
        out = []
        for i in range(len(data) // _REL_SIZE):
            offset, info = struct.unpack_from("<QQ", data, i * _REL_SIZE)
            out.append(Relocation(i, offset, info >> 32, info & 0xFFFFFFFF))
        return tuple(out)

    def symbol_name(self, sym: Symbol) -> str:
        """The name libbpf prints for a relocation's symbol: a section symbol's section name."""
        if sym.type == SymbolType.SECTION and not sym.name and 0 < sym.shndx < len(self.sections):
            return self.sections[sym.shndx].name
        return sym.name or "<?>"


def _cstring(table: bytes, offset: int, what: str) -> str:
    if not 0 <= offset < len(table):
        raise ELFLoadError(f"{what}: string offset {offset} outside the string table")
    end = table.find(b"\0", offset)
    if end < 0:
        raise ELFLoadError(f"{what}: unterminated string at offset {offset}")
    try:
        return table[offset:end].decode()
    except UnicodeDecodeError as e:
        raise ELFLoadError(f"{what}: not UTF-8") from e


def object_name(path: str) -> str:
    """libbpf's object name for ``path``: base name up to the first ``.``, at most 15 chars."""
    base = path.rsplit("/", 1)[-1]
    return base.split(".", 1)[0][:15]
