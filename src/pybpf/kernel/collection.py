"""Load a :class:`~pybpf.program.spec.CollectionSpec` into the live kernel (minimal loader).

Enough of what libbpf's ``bpf_object__load()`` does for differential tests and
``--backend kernel``: maps are created with ``BPF_MAP_CREATE`` (inner maps from their
template; global-data arrays filled with their initial bytes), map references in ``lddw``
are patched with the fds (BPF_PSEUDO_MAP_FD / BPF_PSEUDO_MAP_VALUE with the offset in the
second slot), CO-RE relocations are applied against the running kernel's BTF, and every
program is loaded with its type, expected attach type, license and kernel version.

With BTF (the default, as libbpf loads): the object's BTF (already fixed up by
:mod:`pybpf.elf`: DATASEC sizes and offsets, extern sections; on a 6.18 kernel none of
libbpf's feature sanitisation applies) is loaded with ``BPF_BTF_LOAD``; maps are created
with its key/value types (except the map types libbpf creates without them; a map the
kernel refuses with BTF is retried without, as ``bpf_object__create_map()`` does), and
programs are loaded with ``prog_btf_fd``, their func info and their line info
(``bpf_program__load()``). If the kernel refuses the BTF, everything is loaded without it,
as libbpf does for objects that do not need it. ``btf=False`` loads without BTF (no
func/line info, maps without key/value types), as pybpf did before.

Not done here (the kernel backend issue owns them): pinning, attaching, prog-array and
map-in-map static initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.errors import KernelError, PybpfError
from pybpf.isa import OP_LDDW, Instruction, PseudoSrc, encode, pcs
from pybpf.kernel.sys import (
    BtfFd,
    MapFd,
    ProgFd,
    btf_load,
    encode_func_info,
    encode_line_info,
    map_create,
    map_update,
    prog_load,
)
from pybpf.platform.enums import MapType
from pybpf.platform.maptypes import NO_BTF_MAP_TYPES
from pybpf.program.spec import CollectionSpec, MapSpec, ProgramSpec

_OF_MAPS = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)

def _create(spec: MapSpec, btf_fd: int = 0) -> MapFd:
    """``bpf_object__create_map()``: with key/value BTF when ``btf_fd`` is given."""
    inner_fd = None
    try:
        if MapType(spec.map_type) in _OF_MAPS:
            if spec.inner_map is None:
                raise PybpfError(f"map '{spec.name}': map-in-map without an inner map template")
            inner_fd = _create(spec.inner_map, btf_fd)
        key_type = value_type = 0
        if btf_fd and spec.map_type not in NO_BTF_MAP_TYPES:
            key_type, value_type = spec.key_type, spec.value_type
        inner = inner_fd.fd if inner_fd else 0

        def create(btf: bool) -> MapFd:
            return map_create(spec.map_type, spec.key_size, spec.value_size, spec.max_entries,
                              spec.flags, name=spec.name[:15], inner_map_fd=inner,
                              map_extra=spec.map_extra, btf_fd=btf_fd if btf else 0,
                              btf_key_type_id=key_type if btf else 0,
                              btf_value_type_id=value_type if btf else 0)

        try:
            fd = create(bool(key_type or value_type))
        except KernelError:
            if not (key_type or value_type):
                raise
            fd = create(False)  # libbpf: "Retrying without BTF."
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


@dataclass(frozen=True, slots=True)
class ProgBtfInfo:
    """What ``BPF_PROG_LOAD`` gets besides the instructions when a program is loaded with
    BTF: the encoded ``bpf_func_info`` and ``bpf_line_info`` records."""

    func_info: bytes = b""
    line_info: bytes = b""


def _string_offsets(data: bytes) -> dict[str, int]:
    out: dict[str, int] = {}
    pos = 0
    while pos < len(data):
        end = data.index(b"\0", pos)
        out.setdefault(data[pos:end].decode("utf-8", "replace"), pos)
        pos = end + 1
    return out


@dataclass(frozen=True, slots=True)
class LoadableBtf:
    """The blob ``BPF_BTF_LOAD`` gets and the offsets of its strings.

    pybpf's BTF fixup re-encodes the types and keeps only their names; the line info
    strings (file names, source lines) that libbpf keeps in the string section are appended
    again here, so the line info records can point at them."""

    data: bytes
    strings: dict[str, int]

    @classmethod
    def from_collection(cls, spec: CollectionSpec) -> LoadableBtf:
        from pybpf.btf.parse import HEADER

        assert spec.btf is not None
        raw: bytes = spec.btf.to_bytes()  # type: ignore[attr-defined]
        magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = \
            HEADER.unpack_from(raw)
        body = raw[hdr_len:]
        types = body[type_off:type_off + type_len]
        strs = bytearray(body[str_off:str_off + str_len])
        offsets = _string_offsets(bytes(strs))
        for prog in spec.programs.values():
            for li in prog.line_info:
                for text in (li.file, li.text):
                    if text not in offsets:
                        offsets[text] = len(strs)
                        strs += text.encode("utf-8") + b"\0"
        hdr = HEADER.pack(magic, version, flags, HEADER.size, 0, len(types), len(types),
                          len(strs))
        return cls(hdr + types + bytes(strs), offsets)


def prog_btf_info(prog: ProgramSpec, btf: LoadableBtf) -> ProgBtfInfo:
    """The func and line info records of ``prog`` against the collection's BTF
    (``reloc_prog_func_and_line_info()``: insn offsets in the linked program; line info
    strings as offsets into the BTF string section)."""
    func = encode_func_info((f.pc, f.type_id) for f in prog.func_info)
    lines = []
    for li in prog.line_info:
        lines.append((li.pc, btf.strings[li.file], btf.strings[li.text],
                      (li.line << 10) | li.column))
    return ProgBtfInfo(func, encode_line_info(lines))


def load_btf(spec: CollectionSpec) -> tuple[BtfFd, LoadableBtf] | None:
    """``bpf_object__load_btf()``: the collection's BTF in the kernel, None when it has
    none or the kernel refuses it (libbpf then loads without BTF)."""
    if spec.btf is None:
        return None
    loadable = LoadableBtf.from_collection(spec)
    try:
        return btf_load(loadable.data), loadable
    except KernelError:
        return None


class KernelCollection:
    """Maps and programs of one object in the live kernel; close() releases every fd.

    ``btf`` (default True) loads with the object's BTF as libbpf does; False loads without.
    """

    def __init__(self, spec: CollectionSpec, *, log_level: int = 0, btf: bool = True) -> None:
        from pybpf.runtime.collection import apply_core, kernel_btf

        self.spec = spec
        self.maps: dict[str, MapFd] = {}
        self.programs: dict[str, ProgFd] = {}
        self.btf: BtfFd | None = None
        try:
            loaded = load_btf(spec) if btf else None
            loadable = None
            if loaded is not None:
                self.btf, loadable = loaded
            btf_fd = self.btf.fd if self.btf is not None else 0
            for name, mspec in spec.maps.items():
                self.maps[name] = _create(mspec, btf_fd)
            target = kernel_btf() if any(p.core_relocations for p in spec.programs.values()) else None
            for name, prog in spec.programs.items():
                prog = apply_core(prog, spec.btf, target)
                insns = patch_map_fds(prog, self.maps)
                info = prog_btf_info(prog, loadable) if loadable else ProgBtfInfo()
                self.programs[name] = prog_load(
                    prog.prog_type or 0, encode(insns), license=prog.license,
                    log_level=log_level, expected_attach_type=prog.expected_attach_type or 0,
                    prog_name=name[:15], kern_version=prog.kern_version or spec.kern_version,
                    prog_flags=prog.flags, prog_btf_fd=btf_fd if info.func_info or
                    info.line_info else 0, func_info=info.func_info, line_info=info.line_info,
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
        if self.btf is not None:
            self.btf.close()
            self.btf = None

    def __enter__(self) -> KernelCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["KernelCollection", "LoadableBtf", "ProgBtfInfo", "load_btf", "patch_map_fds", "prog_btf_info"]
