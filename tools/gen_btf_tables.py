#!/usr/bin/env python3
"""Generate platform tables from the kernel's BTF (``/sys/kernel/btf/vmlinux``).

Usage::

    python3 tools/gen_btf_tables.py attach  > src/pybpf/platform/attach.py
    python3 tools/gen_btf_tables.py types   > src/pybpf/platform/helper_types.py
    python3 tools/gen_btf_tables.py ctx     > src/pybpf/platform/ctx_layouts.py

``--btf PATH`` reads another raw BTF blob (default: ``/sys/kernel/btf/vmlinux``).

* ``attach``: ``enum bpf_attach_type`` as ``AttachType``.
* ``types``: the verifier's type vocabulary, ``enum bpf_type_flag`` / ``bpf_arg_type`` /
  ``bpf_return_type`` / ``bpf_reg_type`` (kernel-internal enums that vmlinux BTF carries because
  ``struct bpf_func_proto`` and the verifier use them).
* ``ctx``: byte layouts of the UAPI context structures (``struct __sk_buff``, ``xdp_md``, ...)
  and of ``struct pt_regs`` on the build host's architecture.

The BTF reader below is deliberately small and self-contained (tools must not depend on the
package they generate); it understands the BTF kinds the kernel emits, see
``Documentation/bpf/btf.rst``.
"""

from __future__ import annotations

import argparse
import platform
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BTF = Path("/sys/kernel/btf/vmlinux")

KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT = 7, 8, 9, 10, 11
KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_FLOAT = 12, 13, 14, 15, 16
KIND_DECL_TAG, KIND_TYPE_TAG, KIND_ENUM64 = 17, 18, 19
_MODIFIERS = {KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG}


@dataclass(slots=True)
class BtfType:
    """One BTF type record (only what the generators need)."""

    kind: int
    name: str
    size_or_type: int
    kind_flag: bool
    vlen: int
    members: list[tuple[str, int, int]] = field(default_factory=list)  # name, type, bit offset
    enum_values: list[tuple[str, int]] = field(default_factory=list)
    array: tuple[int, int] | None = None  # (element type, nelems)


class Btf:
    """A parsed raw BTF blob: ``types[id]`` (id 0 is ``void``)."""

    def __init__(self, data: bytes) -> None:
        magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            "<HBBIIIII", data, 0
        )
        if magic != 0xEB9F:
            raise SystemExit("not a BTF blob (bad magic)")
        strings = data[hdr_len + str_off : hdr_len + str_off + str_len]
        self.types: list[BtfType | None] = [None]
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len

        def string(off: int) -> str:
            return strings[off : strings.index(b"\0", off)].decode()

        while pos < end:
            name_off, info, size_or_type = struct.unpack_from("<III", data, pos)
            pos += 12
            kind, vlen, kflag = (info >> 24) & 0x1F, info & 0xFFFF, bool(info >> 31)
            t = BtfType(kind, string(name_off), size_or_type, kflag, vlen)
            if kind == KIND_INT or kind in (KIND_VAR, KIND_DECL_TAG):
                pos += 4
            elif kind == KIND_ARRAY:
                elem, _index, nelems = struct.unpack_from("<III", data, pos)
                t.array = (elem, nelems)
                pos += 12
            elif kind in (KIND_STRUCT, KIND_UNION):
                for i in range(vlen):
                    m_name, m_type, m_off = struct.unpack_from("<III", data, pos + 12 * i)
                    t.members.append((string(m_name), m_type, m_off))
                pos += 12 * vlen
            elif kind == KIND_ENUM:
                for i in range(vlen):
                    e_name, e_val = struct.unpack_from("<Ii", data, pos + 8 * i)
                    t.enum_values.append((string(e_name), e_val))
                pos += 8 * vlen
            elif kind == KIND_ENUM64:
                for i in range(vlen):
                    e_name, lo, hi = struct.unpack_from("<III", data, pos + 12 * i)
                    t.enum_values.append((string(e_name), lo | hi << 32))
                pos += 12 * vlen
            elif kind == KIND_FUNC_PROTO:
                pos += 8 * vlen
            elif kind == KIND_DATASEC:
                pos += 12 * vlen
            self.types.append(t)
        self._by_name: dict[tuple[int, str], int] = {}
        for type_id, known in enumerate(self.types):
            if known is not None and known.name:
                self._by_name.setdefault((known.kind, known.name), type_id)

    @classmethod
    def from_file(cls, path: Path) -> Btf:
        return cls(path.read_bytes())

    def find(self, kind: int, name: str) -> int:
        try:
            return self._by_name[(kind, name)]
        except KeyError:
            raise SystemExit(f"BTF has no {name!r} of kind {kind}") from None

    def get(self, type_id: int) -> BtfType:
        t = self.types[type_id]
        if t is None:
            raise ValueError("void has no record")
        return t

    def resolve(self, type_id: int) -> int:
        """Skip typedefs and qualifiers."""
        while type_id and self.get(type_id).kind in _MODIFIERS:
            type_id = self.get(type_id).size_or_type
        return type_id

    def sizeof(self, type_id: int) -> int:
        type_id = self.resolve(type_id)
        t = self.get(type_id)
        if t.kind == KIND_PTR:
            return 8
        if t.kind == KIND_ARRAY:
            assert t.array is not None
            return self.sizeof(t.array[0]) * t.array[1]
        return t.size_or_type

    def enum(self, name: str) -> list[tuple[str, int]]:
        return self.get(self.find(KIND_ENUM, name)).enum_values

    def struct_fields(self, name: str) -> tuple[int, list[tuple[str, int, int, str]]]:
        """``(size, [(path, byte offset, size, kind), ...])`` with arrays and unions flattened.

        ``kind`` is ``"int"``, ``"ptr"`` or ``"enum"``. Anonymous members are inlined; bitfields
        that are not whole bytes (padding such as ``__u32 :24``) are skipped.
        """
        type_id = self.find(KIND_STRUCT, name)
        out: list[tuple[str, int, int, str]] = []
        self._flatten(type_id, "", 0, out)
        return self.get(type_id).size_or_type, out

    def _flatten(self, type_id: int, prefix: str, base: int, out: list) -> None:
        t = self.get(self.resolve(type_id))
        for m_name, m_type, m_off in t.members:
            bit_off, bit_size = (m_off & 0xFFFFFF, m_off >> 24) if t.kind_flag else (m_off, 0)
            if bit_size or bit_off % 8:
                continue
            off = base + bit_off // 8
            self._leaf(m_type, prefix + m_name if m_name else prefix.rstrip("."), off, out,
                       anonymous=not m_name)

    def _leaf(self, type_id: int, path: str, off: int, out: list, *, anonymous: bool) -> None:
        rid = self.resolve(type_id)
        t = self.get(rid)
        if t.kind in (KIND_STRUCT, KIND_UNION):
            self._flatten(rid, "" if anonymous and not path else (path + "." if path else ""),
                          off, out)
        elif t.kind == KIND_ARRAY:
            assert t.array is not None
            elem, n = t.array
            step = self.sizeof(elem)
            for i in range(n):
                self._leaf(elem, f"{path}[{i}]", off + i * step, out, anonymous=False)
        elif t.kind in (KIND_INT, KIND_ENUM, KIND_ENUM64, KIND_PTR):
            kind = {KIND_PTR: "ptr", KIND_INT: "int"}.get(t.kind, "enum")
            out.append((path, off, self.sizeof(rid), kind))


# --------------------------------------------------------------------------------------------
# attach
# --------------------------------------------------------------------------------------------

def gen_attach(btf: Btf, source: str) -> str:
    values = [(n, v) for n, v in btf.enum("bpf_attach_type") if not n.startswith("__")]
    lines = [
        '"""Attach types: ``enum bpf_attach_type`` of the Linux UAPI.',
        "",
        f"Generated by tools/gen_btf_tables.py attach from {source} — do not edit.",
        "",
        "``BPF_CGROUP_INET_INGRESS`` → ``AttachType.CGROUP_INET_INGRESS``. Used as a program's",
        "``expected_attach_type`` (which also selects context fields and helpers for some program",
        'types) and when attaching."""',
        "",
        "from __future__ import annotations",
        "",
        "from enum import IntEnum",
        "",
        '__all__ = ["MAX_ATTACH_TYPE", "AttachType"]',
        "",
        "",
        "class AttachType(IntEnum):",
        f'    """``enum bpf_attach_type`` ({len(values)} values)."""',
        "",
    ]
    for name, value in values:
        lines.append(f"    {name.removeprefix('BPF_')} = {value}")
    lines += [
        "",
        "    @property",
        "    def uapi_name(self) -> str:",
        '        """The kernel\'s spelling, e.g. ``"BPF_XDP"``."""',
        '        return f"BPF_{self.name}"',
        "",
        "",
        f"MAX_ATTACH_TYPE = {len(values)}",
        '"""``__MAX_BPF_ATTACH_TYPE``: one past the highest attach type."""',
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# types
# --------------------------------------------------------------------------------------------

_TYPES_DOC = '''\
"""The verifier's type vocabulary: ``bpf_type_flag``, ``bpf_arg_type``, ``bpf_return_type``,
``bpf_reg_type`` (include/linux/bpf.h).

Generated by tools/gen_btf_tables.py types from {source} — do not edit.

The kernel packs a base type into the low ``BPF_BASE_TYPE_BITS`` bits and ``TypeFlag`` bits
above them (``ARG_PTR_TO_MAP_VALUE_OR_NULL == PTR_MAYBE_NULL | ARG_PTR_TO_MAP_VALUE``).
``ArgType``, ``RetType`` and ``RegType`` hold the *base* types; the kernel's named
combinations are module constants (``ARG_PTR_TO_UNINIT_MEM``, ``PTR_TO_SOCKET_OR_NULL``...)
holding the raw kernel value. ``base_type(raw)`` / ``type_flag(raw)`` split a raw value like
the kernel's helpers of the same names.
"""
'''


def _enum_split(values: list[tuple[str, int]], prefix: str, flag_mask: int):
    base: list[tuple[str, int]] = []
    combos: list[tuple[str, int]] = []
    for name, value in values:
        if name.startswith("__"):
            continue
        (combos if value & flag_mask else base).append((name, value))
    return base, combos


def gen_types(btf: Btf, source: str) -> str:
    flags = [(n, v) for n, v in btf.enum("bpf_type_flag") if not n.startswith("__")]
    flag_mask = 0
    for _n, v in flags:
        flag_mask |= v
    base_bits = min(v for _n, v in flags).bit_length() - 1
    out = [_TYPES_DOC.format(source=source), "from __future__ import annotations", "",
           "from enum import IntEnum, IntFlag", "", "__all__ = [",
           '    "BPF_BASE_TYPE_BITS",', '    "BPF_BASE_TYPE_MASK",', '    "ArgType",',
           '    "RegType",', '    "RetType",', '    "TypeFlag",', '    "base_type",',
           '    "type_flag",', "]", "", f"BPF_BASE_TYPE_BITS = {base_bits}",
           "BPF_BASE_TYPE_MASK = (1 << BPF_BASE_TYPE_BITS) - 1", "", "",
           "class TypeFlag(IntFlag):",
           '    """``enum bpf_type_flag``: modifiers or-ed onto a base type."""', ""]
    out.append("    NONE = 0")
    for name, value in flags:
        out.append(f"    {name} = 1 << {value.bit_length() - 1}")
    out += ["", ""]
    combos_all: list[tuple[str, int, str]] = []
    for enum_name, cls, strip, doc in (
        ("bpf_arg_type", "ArgType", "ARG_", "``enum bpf_arg_type``: what a helper argument accepts (base types)."),
        ("bpf_return_type", "RetType", "RET_", "``enum bpf_return_type``: what a helper returns (base types)."),
        ("bpf_reg_type", "RegType", "", "``enum bpf_reg_type``: what a register holds (base types)."),
    ):
        base, combos = _enum_split(btf.enum(enum_name), strip, flag_mask)
        out += [f"class {cls}(IntEnum):", f'    """{doc}', "",
                f"    ``{cls}.X`` is the kernel's ``{strip}X``.", '    """', ""]
        for name, value in base:
            out.append(f"    {name.removeprefix(strip) if strip else name} = {value}")
        out += ["", "    @property", "    def kernel_name(self) -> str:",
                '        """The kernel\'s spelling."""', f'        return "{strip}" + self.name',
                "", ""]
        for name, value in combos:
            combos_all.append((name, value, cls))
    out.append("# The kernel's named combinations (raw values: base | flags).")
    for name, value, cls in combos_all:
        b, f = value & ((1 << base_bits) - 1), value & ~((1 << base_bits) - 1)
        flag_expr = " | ".join(
            f"TypeFlag.{n}" for n, v in flags if f & v
        )
        base_name = None
        for n, v in _enum_split(btf.enum({"ArgType": "bpf_arg_type", "RetType": "bpf_return_type",
                                           "RegType": "bpf_reg_type"}[cls]), "", flag_mask)[0]:
            if v == b:
                base_name = n.removeprefix("ARG_").removeprefix("RET_") if cls != "RegType" else n
        out.append(f"{name} = {cls}.{base_name} | {flag_expr}")
    out += ["", "",
            "def base_type(raw: int) -> int:",
            '    """The base type of a raw kernel type value (the kernel\'s ``base_type()``)."""',
            "    return raw & BPF_BASE_TYPE_MASK", "", "",
            "def type_flag(raw: int) -> TypeFlag:",
            '    """The flag bits of a raw kernel type value (the kernel\'s ``type_flag()``)."""',
            "    return TypeFlag(raw & ~BPF_BASE_TYPE_MASK)"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# ctx
# --------------------------------------------------------------------------------------------

CTX_STRUCTS = (
    "__sk_buff", "xdp_md", "bpf_sock", "bpf_sock_ops", "bpf_sock_addr", "sk_msg_md",
    "sk_reuseport_md", "bpf_sk_lookup", "bpf_sockopt", "bpf_sysctl", "bpf_cgroup_dev_ctx",
    "bpf_perf_event_data", "bpf_raw_tracepoint_args", "bpf_flow_keys", "bpf_tcp_sock",
    "bpf_xdp_sock", "bpf_nf_ctx", "pt_regs",
)


def gen_ctx(btf: Btf, source: str) -> str:
    out = [
        '"""Byte layouts of the program context structures (UAPI ``include/uapi/linux/bpf.h``,',
        f'plus ``struct pt_regs`` of {platform.machine()}).',
        "",
        f"Generated by tools/gen_btf_tables.py ctx from {source} — do not edit.",
        "",
        "Arrays are flattened (``cb[0]`` ... ``cb[4]``), anonymous unions inlined (so one offset",
        "can carry several names: ``args[0]`` and ``reply`` of ``bpf_sock_ops``), padding",
        'bitfields dropped. Which accesses are *allowed* is not here: see the ``ctx_*`` modules."""',
        "",
        "from __future__ import annotations",
        "",
        "from types import MappingProxyType",
        "",
        "from pybpf.platform.ctx_fields import CtxField, CtxStruct",
        "",
        '__all__ = ["CTX_STRUCTS"]',
        "",
        "",
        "def _s(name: str, size: int, *fields: tuple[str, int, int, str]) -> CtxStruct:",
        "    return CtxStruct(name, size, tuple(CtxField(*f) for f in fields))",
        "",
        "",
        "CTX_STRUCTS = MappingProxyType({",
    ]
    for name in CTX_STRUCTS:
        size, fields = btf.struct_fields(name)
        out.append(f'    "{name}": _s(')
        out.append(f'        "{name}",')
        out.append(f"        {size},")
        for path, off, fsize, kind in fields:
            out.append(f'        ("{path}", {off}, {fsize}, "{kind}"),')
        out.append("    ),")
    out.append("})")
    out.append('"""``struct name`` → :class:`CtxStruct`."""')
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("attach", "types", "ctx"))
    parser.add_argument("--btf", type=Path, default=DEFAULT_BTF)
    args = parser.parse_args(argv)
    btf = Btf.from_file(args.btf)
    release = platform.release()
    source = f"{args.btf} (Linux {release})" if args.btf == DEFAULT_BTF else str(args.btf)
    text = {"attach": gen_attach, "types": gen_types, "ctx": gen_ctx}[args.what](btf, source)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
