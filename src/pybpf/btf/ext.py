"""``.BTF.ext``: per-section func info, line info and CO-RE relocation records.

Mirrors ``btf_ext__new()`` / ``btf_ext_parse_info()`` of libbpf (tools/lib/bpf/btf.c) and the
UAPI records ``struct bpf_func_info``, ``struct bpf_line_info`` (include/uapi/linux/bpf.h) and
``struct bpf_core_relo`` / ``enum bpf_core_relo_kind`` (include/uapi/linux/bpf.h).

Records are grouped by the ELF section their instructions live in (``"xdp"``, ``".text"``...),
the section name being resolved through the ``.BTF`` string table. ``insn_off`` is kept exactly
as in the section: a **byte** offset from the start of that ELF section (libbpf divides it by 8
to get an instruction index; for a program pcs count 8-byte slots, so ``pc = insn_off // 8``).
Records larger than the known size (a newer compiler) are read by their known prefix, as libbpf
does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, TypeVar

from pybpf.btf.types import BtfKind
from pybpf.errors import BTFError

if TYPE_CHECKING:
    from pybpf.btf.btf import Btf

BTF_EXT_MAGIC = 0xEB9F
R = TypeVar("R")
_HDR = struct.Struct("<HBBIIIII")  # magic..line_info_len: 24 bytes
_HDR_CORE = struct.Struct("<II")  # core_relo_off, core_relo_len (optional)
_U32 = struct.Struct("<I")
_SEC = struct.Struct("<II")  # struct btf_ext_info_sec: sec_name_off, num_info


class CoreReloKind(IntEnum):
    """``enum bpf_core_relo_kind`` (BPF_CORE_*)."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12

    @property
    def is_field_based(self) -> bool:
        return self <= CoreReloKind.FIELD_RSHIFT_U64

    @property
    def is_type_based(self) -> bool:
        return self in _TYPE_BASED

    @property
    def is_enumval_based(self) -> bool:
        return self in (CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE)

    @property
    def libbpf_name(self) -> str:
        """The name libbpf's ``core_relo_kind_str()`` prints (``"byte_off"``...)."""
        return _LIBBPF_NAMES[self]


_TYPE_BASED = frozenset(
    {
        CoreReloKind.TYPE_ID_LOCAL,
        CoreReloKind.TYPE_ID_TARGET,
        CoreReloKind.TYPE_EXISTS,
        CoreReloKind.TYPE_SIZE,
        CoreReloKind.TYPE_MATCHES,
    }
)
_LIBBPF_NAMES = {
    CoreReloKind.FIELD_BYTE_OFFSET: "byte_off",
    CoreReloKind.FIELD_BYTE_SIZE: "byte_sz",
    CoreReloKind.FIELD_EXISTS: "field_exists",
    CoreReloKind.FIELD_SIGNED: "signed",
    CoreReloKind.FIELD_LSHIFT_U64: "lshift_u64",
    CoreReloKind.FIELD_RSHIFT_U64: "rshift_u64",
    CoreReloKind.TYPE_ID_LOCAL: "local_type_id",
    CoreReloKind.TYPE_ID_TARGET: "target_type_id",
    CoreReloKind.TYPE_EXISTS: "type_exists",
    CoreReloKind.TYPE_SIZE: "type_size",
    CoreReloKind.ENUMVAL_EXISTS: "enumval_exists",
    CoreReloKind.ENUMVAL_VALUE: "enumval_value",
    CoreReloKind.TYPE_MATCHES: "type_matches",
}


@dataclass(frozen=True, slots=True)
class FuncInfoRec:
    """``struct bpf_func_info``: a function (BTF FUNC ``type_id``) starts at byte ``insn_off``."""

    insn_off: int
    type_id: int


@dataclass(frozen=True, slots=True)
class LineInfoRec:
    """``struct bpf_line_info`` with its strings resolved: ``line_col`` is split into
    ``line`` (upper 22 bits) and ``column`` (lower 10 bits)."""

    insn_off: int
    file_name: str
    line: int
    column: int
    line_text: str


@dataclass(frozen=True, slots=True)
class CoreRelo:
    """``struct bpf_core_relo``: patch the instruction at byte ``insn_off`` with ``kind``
    of the local BTF type ``type_id`` and accessor string ``access_str`` (e.g. ``"0:1:2"``)."""

    insn_off: int
    type_id: int
    access_str: str
    kind: CoreReloKind


@dataclass(frozen=True, slots=True)
class BtfExt:
    """A parsed ``.BTF.ext`` section; every mapping is keyed by ELF section name."""

    func_info: dict[str, tuple[FuncInfoRec, ...]]
    line_info: dict[str, tuple[LineInfoRec, ...]]
    core_relos: dict[str, tuple[CoreRelo, ...]]

    @classmethod
    def from_bytes(cls, data: bytes, btf: Btf) -> BtfExt:
        """Parse ``.BTF.ext`` whose strings and type ids refer to ``btf`` (``btf_ext__new()``)."""
        data = bytes(data)
        if len(data) < _HDR.size:
            raise BTFError(f".BTF.ext is {len(data)} bytes, shorter than its {_HDR.size}-byte "
                           f"header")
        magic, version, flags, hdr_len, fi_off, fi_len, li_off, li_len = _HDR.unpack_from(data)
        if magic != BTF_EXT_MAGIC:
            raise BTFError(f".BTF.ext magic is {magic:#06x}, expected {BTF_EXT_MAGIC:#06x} "
                           f"(only little-endian .BTF.ext is supported)")
        if version != 1:
            raise BTFError(f".BTF.ext version {version} is not supported")
        if flags:
            raise BTFError(f".BTF.ext header flags {flags:#x} are not supported")
        if hdr_len < _HDR.size or hdr_len > len(data):
            raise BTFError(f".BTF.ext header length {hdr_len} is invalid for {len(data)} bytes")
        cr_off = cr_len = 0
        if hdr_len >= _HDR.size + _HDR_CORE.size:
            cr_off, cr_len = _HDR_CORE.unpack_from(data, _HDR.size)
        body = data[hdr_len:]
        reader = _InfoReader(body, btf)
        func_info = reader.read("func_info", fi_off, fi_len, 8, reader.func_rec)
        line_info = reader.read("line_info", li_off, li_len, 16, reader.line_rec)
        core = reader.read("core_relo", cr_off, cr_len, 16, reader.core_rec)
        return cls(func_info, line_info, core)


class _InfoReader:
    """Walks one info block: ``u32 rec_size`` then ``btf_ext_info_sec`` headers and records."""

    def __init__(self, body: bytes, btf: Btf) -> None:
        self.body = body
        self.btf = btf

    def read(self, what: str, off: int, length: int, min_size: int,
             decode: Callable[[int, str], R]) -> dict[str, tuple[R, ...]]:
        out: dict[str, tuple[R, ...]] = {}
        if length == 0:
            return out
        body = self.body
        if off + length > len(body):
            raise BTFError(f".BTF.ext {what} block [{off}, {off + length}) is past the end of "
                           f"the section ({len(body)} bytes after the header)")
        if off % 4 or length < 4:
            raise BTFError(f".BTF.ext {what} block at {off} (length {length}) is misaligned "
                           f"or too short")
        end = off + length
        rec_size = _U32.unpack_from(body, off)[0]
        if rec_size < min_size or rec_size % 4:
            raise BTFError(f".BTF.ext {what} record size {rec_size} is invalid "
                           f"(at least {min_size}, a multiple of 4)")
        pos = off + 4
        while pos < end:
            if pos + _SEC.size > end:
                raise BTFError(f".BTF.ext {what}: truncated section header at byte {pos}")
            name_off, num = _SEC.unpack_from(body, pos)
            sec = self._string(name_off, f".BTF.ext {what} section name")
            if num == 0:
                raise BTFError(f".BTF.ext {what} for section '{sec}' has no records")
            pos += _SEC.size
            if pos + num * rec_size > end:
                raise BTFError(f".BTF.ext {what} for section '{sec}': {num} records of "
                               f"{rec_size} bytes run past the end of the block")
            if sec in out:
                raise BTFError(f".BTF.ext {what} has two blocks for section '{sec}'")
            recs = []
            for k in range(num):
                recs.append(decode(pos + k * rec_size, f".BTF.ext {what} '{sec}' record {k}"))
            out[sec] = tuple(recs)
            pos += num * rec_size
        return out

    def _string(self, off: int, what: str) -> str:
        try:
            return self.btf.strings.get(off, what)
        except BTFError as e:
            raise BTFError(f"{what}: {e}") from None

    def _type(self, tid: int, where: str) -> None:
        if not 0 < tid < len(self.btf):
            raise BTFError(f"{where} refers to missing type {tid}")

    def func_rec(self, pos: int, where: str) -> FuncInfoRec:
        insn_off, type_id = struct.unpack_from("<II", self.body, pos)
        self._type(type_id, where)
        if self.btf.kind_of(type_id) != BtfKind.FUNC:
            raise BTFError(f"{where}: type {type_id} ({self.btf.describe(type_id)}) is not a "
                           f"func")
        return FuncInfoRec(insn_off, type_id)

    def line_rec(self, pos: int, where: str) -> LineInfoRec:
        insn_off, file_off, line_off, line_col = struct.unpack_from("<IIII", self.body, pos)
        return LineInfoRec(
            insn_off,
            self._string(file_off, f"{where} file name"),
            line_col >> 10,
            line_col & 0x3FF,
            self._string(line_off, f"{where} line text"),
        )

    def core_rec(self, pos: int, where: str) -> CoreRelo:
        insn_off, type_id, access_off, kind = struct.unpack_from("<IIII", self.body, pos)
        self._type(type_id, where)
        try:
            k = CoreReloKind(kind)
        except ValueError:
            raise BTFError(f"{where}: unknown CO-RE relocation kind {kind}") from None
        if insn_off % 8:
            raise BTFError(f"{where}: insn_off {insn_off} is not a multiple of 8")
        return CoreRelo(insn_off, type_id, self._string(access_off, f"{where} access string"),
                        k)
