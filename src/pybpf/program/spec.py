"""Specs: programs, maps and collections as plain, deterministic data (no fds, no memory).

Mirrors the split of cilium/ebpf (``ProgramSpec``/``MapSpec``/``CollectionSpec``): a loader
(ELF, assembler, the Python compiler) produces specs; a backend (interpreter, JIT, kernel)
turns them into live objects. Loading the same object twice gives equal specs.

References a backend must resolve are kept as data next to the instructions:
:class:`MapReference` for ``lddw`` instructions that load a map (``src`` 1, BPF_PSEUDO_MAP_FD)
or a pointer into a map's value (``src`` 2, BPF_PSEUDO_MAP_VALUE; ``next_imm`` holds the
offset, as the kernel expects).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pybpf.isa import Instruction, decode, encode


@dataclass(frozen=True, slots=True)
class MapReference:
    """The ``lddw`` at slot ``pc`` refers to map ``map_name``.

    ``value`` is False for the map itself (BPF_PSEUDO_MAP_FD), True for the address of its
    value at ``offset`` (BPF_PSEUDO_MAP_VALUE: globals in ``.data``/``.rodata``/``.bss``).
    """

    pc: int
    map_name: str
    value: bool = False
    offset: int = 0


@dataclass(frozen=True, slots=True)
class LineInfo:
    """BTF line info: the C source line that slot ``pc`` was compiled from."""

    pc: int
    file: str
    line: int
    column: int
    text: str


@dataclass(frozen=True, slots=True)
class FuncInfo:
    """BTF func info: a function starts at slot ``pc``; ``type_id`` is its BTF FUNC type."""

    pc: int
    type_id: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class ExternReference:
    """The instruction at slot ``pc`` refers to a kernel symbol a backend must resolve:
    a kfunc (``call`` with src 2, ``kind="kfunc"``) or a ``__ksym`` variable (``lddw``
    with src 3 or 0, ``kind="ksym"``)."""

    pc: int
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """A program's linked instructions and metadata.

    ``instructions`` are logical instructions (``lddw`` is one value of two slots); pcs count
    slots as in the kernel. ``.text`` functions the program calls are already appended and
    call offsets fixed (libbpf's linking), so a spec is self-contained. ``license`` comes
    from the object (``""`` when it has none); it defaults to ``"GPL"`` for hand-built
    programs.
    """

    name: str
    instructions: tuple[Instruction, ...]
    section: str = ""
    license: str = "GPL"
    prog_type: int | None = None
    expected_attach_type: int | None = None
    attach_to: str = ""
    kern_version: int = 0
    map_references: tuple[MapReference, ...] = ()
    func_info: tuple[FuncInfo, ...] = ()
    line_info: tuple[LineInfo, ...] = ()
    #: CO-RE relocations still to apply against a target kernel's BTF:
    #: ``pybpf.btf.CoreRelo`` records with ``insn_off = pc * 8`` in this linked program.
    core_relocations: tuple[object, ...] = ()
    #: ``prog_flags`` of BPF_PROG_LOAD (BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS...).
    flags: int = 0
    #: False for libbpf's ``SEC("?name")``: not loaded unless asked for.
    autoload: bool = True
    extern_references: tuple[ExternReference, ...] = ()
    source: str = ""
    meta: tuple[tuple[str, str], ...] = field(default=())
    #: The object's BTF (a ``pybpf.btf.Btf``, the collection's) that ``func_info`` type ids
    #: and the maps' ``key_type``/``value_type`` refer to; None for programs loaded without
    #: BTF. A program with ``func_info`` is verified as the kernel verifies a program loaded
    #: with ``prog_btf_fd`` (global functions on their own), and its maps as created with
    #: BTF (spin locks); drop ``func_info``/``line_info`` and ``btf`` to verify it as
    #: loaded without BTF.
    btf: object | None = field(default=None, repr=False)

    @classmethod
    def from_instructions(
        cls, insns: Iterable[Instruction], name: str = "prog", **kw: object
    ) -> ProgramSpec:
        return cls(name, tuple(insns), **kw)  # type: ignore[arg-type]

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "prog", **kw: object) -> ProgramSpec:
        return cls(name, decode(data), **kw)  # type: ignore[arg-type]

    def to_bytes(self) -> bytes:
        return encode(self.instructions)

    def line_at(self, pc: int) -> LineInfo | None:
        """The source line covering slot ``pc`` (the last line info at or before it)."""
        best = None
        for info in self.line_info:
            if info.pc <= pc and (best is None or info.pc >= best.pc):
                best = info
        return best


@dataclass(frozen=True, slots=True)
class MapSpec:
    """A map to create: type, sizes, flags and initial contents.

    ``data`` is the initial value of single-entry array maps backing global variables
    (``.data``, ``.rodata``, ``.bss``, ``.data.*``); ``contents`` are initial ``(key, value)``
    pairs (e.g. ``__array(values, ...)`` of prog arrays and maps of maps, given by name in
    ``content_refs``). ``key_type``/``value_type`` are BTF type ids in the collection's BTF.
    """

    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    inner_map: MapSpec | None = None
    pinning: int = 0
    numa_node: int = 0
    map_extra: int = 0
    key_type: int = 0
    value_type: int = 0
    data: bytes | None = None
    contents: tuple[tuple[bytes, bytes], ...] = ()
    content_refs: tuple[tuple[int, str], ...] = ()
    #: True for ``.rodata``/``.kconfig``: frozen after creation, read-only for programs.
    read_only: bool = False
    section: str = ""


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """Everything an object file defines: programs and maps by name, and its BTF."""

    programs: dict[str, ProgramSpec]
    maps: dict[str, MapSpec]
    license: str = ""
    kern_version: int = 0
    #: The object's BTF (a ``pybpf.btf.Btf``) when present, already fixed up as libbpf
    #: does before loading (DATASEC sizes and offsets, extern sections).
    btf: object | None = None
    source: str = ""
