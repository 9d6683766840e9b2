"""What ``pybpf verify`` verifies: the programs of an ELF object or an assembly file, each
as the ProgramSpec the verifier gets, the maps it refers to and its BTF source lines.

An object's programs are prepared as libbpf and pybpf's kernel loader (``KernelCollection``)
load them: CO-RE relocations applied against the running kernel's BTF, the maps the program
refers to, and the BTF func/line info (global functions are then verified on their own, as
the kernel does). With ``btf=False`` they are prepared as a loader without BTF would load
them: no func/line info in the verified spec (the line info is kept aside, to name the C
line of a failing instruction). Not owned here: verification and rendering (``cmd_verify``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pybpf.cli.program_input import ELF_MAGIC, read_program
from pybpf.errors import PybpfError
from pybpf.platform.enums import ProgType
from pybpf.program.spec import LineInfo, MapSpec, ProgramSpec


@dataclass(frozen=True, slots=True)
class TypeChoice:
    """A ``--type`` value: the program type and, for section-style names, the attach type."""

    prog_type: ProgType
    expected_attach_type: int | None = None
    from_section: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """One program to verify: ``spec`` goes to the verifier as is."""

    name: str
    section: str
    spec: ProgramSpec
    maps: dict[str, MapSpec]
    line_info: tuple[LineInfo, ...] = ()

    @property
    def prog_type(self) -> ProgType:
        return ProgType(self.spec.prog_type if self.spec.prog_type is not None
                        else ProgType.SOCKET_FILTER)

    def line_at(self, pc: int) -> LineInfo | None:
        """The C source line of slot ``pc`` (BTF line info of the object), if known."""
        return dataclasses.replace(self.spec, line_info=self.line_info).line_at(pc)


def parse_type(text: str) -> TypeChoice:
    """``--type``: a program type name (``xdp``, ``sched_cls``, ``BPF_PROG_TYPE_XDP``) or a
    libbpf section name (``tc``, ``socket``, ``cgroup/connect4``: type and attach type)."""
    name = text.strip().upper().replace("-", "_").removeprefix("BPF_PROG_TYPE_")
    if name in ProgType.__members__ and name != "UNSPEC":
        return TypeChoice(ProgType[name])
    from pybpf.elf.section_defs import find_section_def

    found = find_section_def(text.strip())
    if found is not None:
        attach = int(found.attach_type) if found.attach_type is not None else None
        return TypeChoice(found.prog_type, attach, from_section=True)
    raise PybpfError(f"--type: unknown program type '{text}' (a type such as xdp, "
                     "socket_filter, sched_cls, cgroup_skb, or a section name such as tc)")


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == ELF_MAGIC
    except OSError as exc:
        raise PybpfError(f"{path}: cannot read: {exc.strerror}") from None


def _typed(spec: ProgramSpec, choice: TypeChoice | None) -> ProgramSpec:
    if choice is None:
        return spec
    attach = choice.expected_attach_type
    if not choice.from_section and spec.prog_type == choice.prog_type:
        attach = spec.expected_attach_type  # same type: keep the section's attach type
    return dataclasses.replace(spec, prog_type=int(choice.prog_type), expected_attach_type=attach)


def asm_targets(path: Path, choice: TypeChoice | None) -> list[Target]:
    """An assembly file (either syntax) or raw bytecode: one program, socket filter unless
    ``--type`` says otherwise."""
    insns = read_program(path)
    spec = ProgramSpec(path.stem, tuple(insns), section="", license="GPL",
                       prog_type=int(ProgType.SOCKET_FILTER))
    return [Target(path.stem, "", _typed(spec, choice), {})]


def object_targets(path: Path, section: str | None, program: str | None,
                   choice: TypeChoice | None, btf: bool = True) -> list[Target]:
    """The selected programs of an ELF object (all loadable ones by default), with their
    BTF func/line info unless ``btf`` is False."""
    from pybpf.elf import load_collection

    coll = load_collection(path, allow_unknown=True)
    progs = list(coll.programs.values())
    if program is not None:
        progs = [p for p in progs if p.name == program]
        if not progs:
            raise PybpfError(f"{path}: no program '{program}' (programs: "
                             f"{', '.join(sorted(coll.programs)) or 'none'})")
    if section is not None:
        progs = [p for p in progs if p.section == section]
        if not progs:
            sections = sorted({p.section for p in coll.programs.values()})
            raise PybpfError(f"{path}: no program in section '{section}'"
                             f"{' named ' + repr(program) if program else ''} "
                             f"(sections: {', '.join(sections) or 'none'})")
    if program is None and section is None:
        progs = [p for p in progs if p.autoload] or progs
    if not progs:
        raise PybpfError(f"{path}: the object has no programs")
    targets = []
    target_btf = None
    for prog in progs:
        spec = _typed(prog, choice)
        if spec.prog_type is None:
            raise PybpfError(f"{path}: program '{prog.name}': section '{prog.section}' implies "
                             "no program type; give one with --type")
        if spec.core_relocations:
            from pybpf.runtime.collection import apply_core, kernel_btf

            target_btf = target_btf if target_btf is not None else kernel_btf()
            spec = apply_core(spec, coll.btf, target_btf)
        used = {ref.map_name for ref in spec.map_references}
        maps = {name: m for name, m in coll.maps.items() if name in used}
        verified = spec if btf else dataclasses.replace(spec, func_info=(), line_info=(),
                                                        btf=None)
        targets.append(Target(prog.name, prog.section, verified, maps, prog.line_info))
    return targets


def load_targets(path: Path, section: str | None, program: str | None,
                 type_name: str | None, btf: bool = True) -> list[Target]:
    """The programs ``pybpf verify PATH`` checks (see the module docstring)."""
    choice = parse_type(type_name) if type_name else None
    if is_elf(path):
        return object_targets(path, section, program, choice, btf)
    if section is not None or program is not None:
        raise PybpfError(f"{path}: --section and --program select programs of ELF objects; "
                         "an assembly file holds one program")
    return asm_targets(path, choice)
