"""A collection loaded into a userspace backend: its maps and programs, live.

Mirrors what the kernel does when a loader hands it an object: maps are created first,
then each program's ``lddw`` map references are resolved (``resolve_pseudo_ldimm64()`` in
kernel/bpf/verifier.c: BPF_PSEUDO_MAP_FD becomes the map pointer, BPF_PSEUDO_MAP_VALUE
the address of the value plus the offset), then prog arrays initialised statically in
the object (``__array(values, ...)``) are filled with the loaded programs.

``bpf_tail_call()`` finds its target through the prog array the program passes, exactly
as at run time in the kernel; maps are shared by every program of the collection.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, Protocol

from pybpf.errors import PybpfError
from pybpf.isa import OP_LDDW, Instruction, PseudoSrc, pcs
from pybpf.platform.enums import MapType
from pybpf.program.spec import CollectionSpec, MapSpec, ProgramSpec
from pybpf.runtime.execstate import Entry, ExecState
from pybpf.runtime.maps import MapBase, ProgArray, create_maps, resolve_map
from pybpf.runtime.memory import Memory


class _Backend(Protocol):
    memory: Memory
    state: ExecState

    def load(self, spec: ProgramSpec, *, source: ProgramSpec | None = None,
             maps: Mapping[str, MapSpec] | None = None) -> Any: ...


def resolve_map_references(spec: ProgramSpec, maps: Mapping[str, MapBase]) -> ProgramSpec:
    """Replace map ``lddw`` placeholders by the addresses of ``maps`` (a new spec)."""
    refs = {ref.pc: ref for ref in spec.map_references}
    if not refs:
        return spec
    out: list[Instruction] = []
    for pc, insn in zip(pcs(spec.instructions), spec.instructions, strict=True):
        ref = refs.pop(pc, None)
        if ref is None:
            out.append(insn)
            continue
        where = f"program '{spec.name}' pc {pc}"
        if insn.code != OP_LDDW:
            raise PybpfError(f"{where}: map reference to '{ref.map_name}' is not on an lddw")
        m = maps.get(ref.map_name)
        if m is None:
            raise PybpfError(f"{where}: refers to unknown map '{ref.map_name}'")
        if ref.value:
            addr = getattr(m, "direct_value_addr", None)
            if addr is None:
                raise PybpfError(f"{where}: map '{ref.map_name}' has no directly addressable value")
            value = addr(ref.offset)
        else:
            value = m.address
        out.append(Instruction.wide(insn.dst, value, PseudoSrc.IMM64))
    if refs:
        raise PybpfError(f"program '{spec.name}': map references at pcs {sorted(refs)} "
                         "are not instruction starts")
    return replace(spec, instructions=tuple(out), map_references=())


def btf_formatter(btf: Any, key_type: int, value_type: int) -> Any:
    """A map formatter printing keys and values through the object's BTF (or None)."""
    if btf is None or not (key_type or value_type):
        return None

    def fmt(key: bytes, value: bytes) -> tuple[str, str]:
        try:
            ktext = btf.format_value(key_type, key) if key_type else key.hex(" ")
            vtext = btf.format_value(value_type, value) if value_type else value.hex(" ")
        except PybpfError:
            return key.hex(" "), value.hex(" ")
        return ktext, vtext

    return fmt


def attach_formatters(maps: Mapping[str, MapBase], spec: CollectionSpec) -> None:
    """Give every map whose key/value types the object's BTF knows a pretty-printer."""
    for name, m in maps.items():
        mspec = spec.maps.get(name)
        if mspec is not None:
            fmt = btf_formatter(spec.btf, mspec.key_type, mspec.value_type)
            if fmt is not None:
                m.formatter = fmt


def apply_core(spec: ProgramSpec, local_btf: Any, target_btf: Any) -> ProgramSpec:
    """Apply the program's CO-RE relocations against ``target_btf`` (libbpf's
    ``bpf_object__relocate_core()``); a program without any is returned unchanged."""
    if not spec.core_relocations:
        return spec
    from pybpf.btf.core import apply_core_relocations

    if local_btf is None:
        raise PybpfError(f"program '{spec.name}' has CO-RE relocations but the object has no BTF")
    insns = apply_core_relocations(spec.instructions, spec.core_relocations, local_btf,
                                   target_btf, prog_name=spec.name)
    return replace(spec, instructions=tuple(insns), core_relocations=())


def kernel_btf(path: str = "/sys/kernel/btf/vmlinux") -> Any:
    """The running kernel's BTF, the default CO-RE target."""
    from pybpf.btf import Btf

    try:
        return Btf.load_vmlinux(path)
    except OSError as exc:
        raise PybpfError(f"CO-RE needs the kernel's BTF: cannot read {path} ({exc.strerror}); "
                         "pass a target BTF explicitly") from None


def _tail_call_target(state: ExecState, prog_array: int, index: int) -> Entry | None:
    """``bpf_tail_call()``: the entry of the program at ``index`` of the prog array."""
    m = resolve_map(state.memory, prog_array)
    if not isinstance(m, ProgArray):
        return None
    target = m.get(index)
    return getattr(target, "entry", None)


class Collection:
    """Live maps and programs of one object, on one backend (``obj.maps['x'][key]``)."""

    def __init__(self, spec: CollectionSpec, backend: _Backend, *, ncpus: int | None = None,
                 target_btf: Any = None) -> None:
        self.spec = spec
        self.backend = backend
        self.maps: dict[str, MapBase] = create_maps(spec.maps, backend.memory, ncpus=ncpus)
        attach_formatters(self.maps, spec)
        backend.state.rcu_maps.extend(self.maps.values())
        backend.state.tail_call_resolver = _tail_call_target
        self.programs: dict[str, Any] = {}
        needs_core = any(p.core_relocations for p in spec.programs.values())
        if needs_core and target_btf is None:
            target_btf = kernel_btf()
        for name, prog in spec.programs.items():
            prog = apply_core(prog, spec.btf, target_btf)
            self.programs[name] = backend.load(resolve_map_references(prog, self.maps),
                                               source=prog, maps=spec.maps)
        for name, mspec in spec.maps.items():
            if MapType(mspec.map_type) != MapType.PROG_ARRAY:
                continue
            for key, prog_name in mspec.content_refs:
                if prog_name not in self.programs:
                    raise PybpfError(f"map '{name}': slot {key} refers to unknown program '{prog_name}'")
                self.maps[name].update(key, self.programs[prog_name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.programs)

    def program(self, name: str) -> Any:
        """The loaded program ``name`` (a function or section name)."""
        if name in self.programs:
            return self.programs[name]
        by_section = [p for p in self.programs.values() if p.spec.section == name]
        if len(by_section) == 1:
            return by_section[0]
        known = ", ".join(sorted(self.programs)) or "none"
        raise PybpfError(f"no program '{name}' in {self.spec.source or 'the collection'} (programs: {known})")
