"""Load a :class:`~pybpf.program.spec.CollectionSpec` into the live kernel (minimal loader).

Enough of what libbpf's ``bpf_object__load()`` does for differential tests and
``--backend kernel``: maps are created with ``BPF_MAP_CREATE`` (inner maps from their
template; global-data arrays filled with their initial bytes), map references in ``lddw``
are patched with the fds (BPF_PSEUDO_MAP_FD / BPF_PSEUDO_MAP_VALUE with the offset in the
second slot), CO-RE relocations are applied against the running kernel's BTF, and every
program is loaded with its type, expected attach type, license and kernel version.

Not done here (the kernel backend issue owns them): BTF upload (maps are created without
key/value BTF, so maps whose values hold spin locks/timers/kptrs cannot be created),
pinning, attaching, prog-array and map-in-map static initialisation.
"""

from __future__ import annotations


from pybpf.errors import KernelError, PybpfError
from pybpf.isa import OP_LDDW, Instruction, PseudoSrc, encode, pcs
from pybpf.kernel.sys import MapFd, ProgFd, map_create, map_update, prog_load
from pybpf.platform.enums import MapType
from pybpf.program.spec import CollectionSpec, MapSpec, ProgramSpec

_OF_MAPS = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)


def _create(spec: MapSpec) -> MapFd:
    inner_fd = None
    try:
        if MapType(spec.map_type) in _OF_MAPS:
            if spec.inner_map is None:
                raise PybpfError(f"map '{spec.name}': map-in-map without an inner map template")
            inner_fd = _create(spec.inner_map)
        fd = map_create(spec.map_type, spec.key_size, spec.value_size, spec.max_entries,
                        spec.flags, name=spec.name[:15],
                        inner_map_fd=inner_fd.fd if inner_fd else 0, map_extra=spec.map_extra)
    finally:
        if inner_fd is not None:
            inner_fd.close()
    if spec.data is not None:
        map_update(fd, (0).to_bytes(4, "little"), bytes(spec.data).ljust(spec.value_size, b"\0"))
    for key, value in spec.contents:
        map_update(fd, key, value)
    return fd


def patch_map_fds(spec: ProgramSpec, fds: dict[str, MapFd]) -> tuple[Instruction, ...]:
    """The program's instructions with map references turned into map fds."""
    refs = {ref.pc: ref for ref in spec.map_references}
    out = []
    for pc, insn in zip(pcs(spec.instructions), spec.instructions, strict=True):
        ref = refs.get(pc)
        if ref is None:
            out.append(insn)
            continue
        if insn.code != OP_LDDW or ref.map_name not in fds:
            raise PybpfError(f"program '{spec.name}' pc {pc}: bad reference to map '{ref.map_name}'")
        fd = fds[ref.map_name].fd
        if ref.value:
            out.append(Instruction(OP_LDDW, insn.dst, PseudoSrc.MAP_VALUE, 0, fd, ref.offset))
        else:
            out.append(Instruction(OP_LDDW, insn.dst, PseudoSrc.MAP_FD, 0, fd, 0))
    return tuple(out)


class KernelCollection:
    """Maps and programs of one object in the live kernel; close() releases every fd."""

    def __init__(self, spec: CollectionSpec, *, log_level: int = 0) -> None:
        from pybpf.runtime.collection import apply_core, kernel_btf

        self.spec = spec
        self.maps: dict[str, MapFd] = {}
        self.programs: dict[str, ProgFd] = {}
        try:
            for name, mspec in spec.maps.items():
                self.maps[name] = _create(mspec)
            target = kernel_btf() if any(p.core_relocations for p in spec.programs.values()) else None
            for name, prog in spec.programs.items():
                prog = apply_core(prog, spec.btf, target)
                insns = patch_map_fds(prog, self.maps)
                self.programs[name] = prog_load(
                    prog.prog_type or 0, encode(insns), license=prog.license,
                    log_level=log_level, expected_attach_type=prog.expected_attach_type or 0,
                    prog_name=name[:15], kern_version=prog.kern_version or spec.kern_version,
                    prog_flags=prog.flags,
                )
        except (KernelError, PybpfError):
            self.close()
            raise

    def program(self, name: str) -> ProgFd:
        if name in self.programs:
            return self.programs[name]
        matches = [n for n, p in self.spec.programs.items() if p.section == name]
        if len(matches) == 1:
            return self.programs[matches[0]]
        raise PybpfError(f"no program '{name}' (programs: {', '.join(sorted(self.programs))})")

    def close(self) -> None:
        for fd in [*self.programs.values(), *self.maps.values()]:
            fd.close()
        self.programs.clear()
        self.maps.clear()

    def __enter__(self) -> KernelCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["KernelCollection", "patch_map_fds"]
