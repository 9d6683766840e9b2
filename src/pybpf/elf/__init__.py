"""ELF objects -> :class:`~pybpf.program.spec.CollectionSpec` (through pyelftools).

:func:`load_collection` reads a clang-built BPF object the way libbpf opens one
(``bpf_object__open()`` and the code relocation of ``bpf_object__relocate()``): programs typed
by their section names, ``.text`` sub-programs linked in, maps from the legacy ``maps``
section, ``.maps``, global data sections and ``.kconfig`` externs, func/line info and CO-RE
records from ``.BTF.ext``. :class:`ELFObject` is the parsed object underneath;
:func:`find_section_def` the section-name table.
"""

from pybpf.elf.loader import load_collection
from pybpf.elf.maps_data import internal_map_name, kernel_map_name
from pybpf.elf.reader import ELFObject
from pybpf.elf.section_defs import (
    SECTION_DEFS,
    SecFlag,
    SectionDef,
    SectionMatch,
    find_section_def,
    match,
)
from pybpf.platform.attach import AttachType

__all__ = [
    "SECTION_DEFS",
    "AttachType",
    "ELFObject",
    "SecFlag",
    "SectionDef",
    "SectionMatch",
    "find_section_def",
    "internal_map_name",
    "kernel_map_name",
    "load_collection",
    "match",
]
