"""CO-RE: relocate a program's instructions against a target BTF (the running kernel's).

Mirrors libbpf's tools/lib/bpf/relo_core.c — ``bpf_core_calc_relo_insn()``,
``bpf_core_calc_relo()``, ``bpf_core_calc_field_relo()``, ``bpf_core_calc_type_relo()``,
``bpf_core_calc_enumval_relo()``, ``bpf_core_patch_insn()`` — and the per-section loop of
``bpf_object__relocate_core()`` (libbpf.c), with a candidate cache per local type id that is
pruned as relocations match, as libbpf's ``cand_cache`` is.

Poisoning, as libbpf does it: when a relocation cannot be satisfied *and* that is not an error
by itself (a field, or an enumerator's value, that the target does not have; an LDX/ST/STX
whose load size cannot be adjusted safely), the instruction is replaced by a call to the
invalid helper ``0xbad2310`` ("bad relo"; :data:`POISON_HELPER`). If the program can reach it,
the verifier rejects it with ``invalid func unknown#195896080``; guarded by
``bpf_core_field_exists()`` it is dead code and is removed. A poisoned ``lddw`` becomes two such
calls, so slot pcs do not move. Existence relocations (FIELD_EXISTS, TYPE_EXISTS,
TYPE_MATCHES, ENUMVAL_EXISTS) never poison: they evaluate to 0. Everything else that libbpf
refuses raises :class:`BTFError` naming the relocation, instruction, access string and type.

The target is the kernel's BTF, optionally followed by kernel module BTFs (split on it): as in
``bpf_core_find_cands()``, modules are searched only when vmlinux has no candidate. The
target byte order is little-endian.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pybpf.btf.btf import Btf
from pybpf.btf.core_spec import CoreSpec, find_candidates, parse_spec, spec_match
from pybpf.btf.ext import CoreRelo, CoreReloKind
from pybpf.btf.types import Enum, Enum64, Int, IntEncoding, Ptr, Struct, Union
from pybpf.errors import BTFError
from pybpf.isa import OP_CALL, OP_LDDW, SIZE_BYTES, InsnClass, Instruction, Size, Source

#: The helper id of a poisoned instruction: ``0xbad2310`` ("bad relo").
POISON_HELPER = 0xBAD2310
_U64 = (1 << 64) - 1
_SHRT_MAX = 0x7FFF
_BYTES_SIZE = {v: k for k, v in SIZE_BYTES.items()}


@dataclass(frozen=True, slots=True)
class CoreReloResult:
    """``struct bpf_core_relo_res``: the value the compiler used and the target's.

    ``validate``: the instruction must hold ``orig_val`` before patching. ``orig_sz``/``new_sz``
    are field sizes for load/store size adjustment; ``fail_memsz_adjust`` marks an unsafe one.
    """

    orig_val: int = 0
    new_val: int = 0
    poison: bool = False
    validate: bool = True
    fail_memsz_adjust: bool = False
    orig_sz: int = 0
    new_sz: int = 0
    orig_type_id: int = 0
    new_type_id: int = 0


class _Poison(Exception):
    """libbpf's -EUCLEAN: the relocation asks for the instruction to be poisoned."""


@dataclass(frozen=True, slots=True)
class _Field:
    val: int
    size: int = 0
    type_id: int = 0
    validate: bool = True


def _calc_field(relo: CoreRelo, spec: CoreSpec | None) -> _Field:
    """``bpf_core_calc_field_relo()``."""
    kind = relo.kind
    if kind == CoreReloKind.FIELD_EXISTS:
        return _Field(1 if spec is not None else 0)
    if spec is None:
        raise _Poison
    btf = spec.btf
    acc = spec.spec[-1]
    if acc.name is None:  # a[n] accessor
        sz = btf.size_of(acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_OFFSET:
            return _Field(spec.bit_offset // 8, sz, acc.type_id)
        if kind == CoreReloKind.FIELD_BYTE_SIZE:
            return _Field(sz)
        raise BTFError(f"relocation {kind.name} can't be applied to an array element access")
    t = btf[acc.type_id]
    assert isinstance(t, Struct | Union)
    m = t.members[acc.idx]
    field_id, mt = btf.skip_mods_and_typedefs(m.type)
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = btf.size_of(field_id)
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise BTFError(f"bitfield {m.name!r} can't be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = btf.size_of(field_id)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield
    match kind:
        case CoreReloKind.FIELD_BYTE_OFFSET:
            if bitfield:
                return _Field(byte_off, validate=validate)
            return _Field(byte_off, byte_sz, field_id, validate)
        case CoreReloKind.FIELD_BYTE_SIZE:
            return _Field(byte_sz, validate=validate)
        case CoreReloKind.FIELD_SIGNED:
            signed = (isinstance(mt, Enum | Enum64) and mt.signed) or (
                isinstance(mt, Int) and bool(mt.encoding & IntEncoding.SIGNED))
            return _Field(int(signed))
        case CoreReloKind.FIELD_LSHIFT_U64:
            return _Field(64 - (bit_off + bit_sz - byte_off * 8), validate=validate)
        case CoreReloKind.FIELD_RSHIFT_U64:
            return _Field(64 - bit_sz)
    raise BTFError(f"unrecognized CO-RE relocation {kind.name}")  # pragma: no cover


def _calc_type(relo: CoreRelo, spec: CoreSpec | None) -> int:
    """``bpf_core_calc_type_relo()`` (validation is always on except TYPE_ID_TARGET)."""
    if spec is None:
        return 0
    match relo.kind:
        case CoreReloKind.TYPE_ID_TARGET:
            return spec.root_type_id
        case CoreReloKind.TYPE_EXISTS | CoreReloKind.TYPE_MATCHES:
            return 1
        case CoreReloKind.TYPE_SIZE:
            return spec.btf.size_of(spec.root_type_id)
    raise BTFError(f"unrecognized CO-RE relocation {relo.kind.name}")


def _calc_enumval(relo: CoreRelo, spec: CoreSpec | None) -> int:
    """``bpf_core_calc_enumval_relo()``: values as the u64 libbpf computes."""
    if relo.kind == CoreReloKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        raise _Poison
    t = spec.btf[spec.spec[0].type_id]
    assert isinstance(t, Enum | Enum64)
    return t.values[spec.spec[0].idx].value & _U64


def calc_relo(relo: CoreRelo, local_spec: CoreSpec, targ_spec: CoreSpec | None
              ) -> CoreReloResult:
    """``bpf_core_calc_relo()``: the local and target values for one candidate (or none)."""
    kind = relo.kind
    try:
        if kind.is_field_based:
            orig = _calc_field(relo, local_spec)
            new = _calc_field(relo, targ_spec)
            fail = False
            if orig.size != new.size:
                assert targ_spec is not None
                ot = local_spec.btf[orig.type_id]
                nt = targ_spec.btf[new.type_id]
                safe = (isinstance(ot, Ptr) and isinstance(nt, Ptr)) or (
                    isinstance(ot, Int) and isinstance(nt, Int)
                    and ot.encoding != IntEncoding.SIGNED and nt.encoding != IntEncoding.SIGNED)
                fail = not safe
            return CoreReloResult(orig.val, new.val, False, orig.validate, fail, orig.size,
                                  new.size, orig.type_id, new.type_id)
        if kind.is_type_based:
            orig_val = _calc_type(relo, local_spec)
            new_val = _calc_type(relo, targ_spec)
            return CoreReloResult(orig_val, new_val,
                                  validate=kind != CoreReloKind.TYPE_ID_TARGET)
        orig_val = _calc_enumval(relo, local_spec)
        return CoreReloResult(orig_val, _calc_enumval(relo, targ_spec))
    except _Poison:
        return CoreReloResult(poison=True)


Candidates = list[tuple[Btf, int]]


def find_cands(local: Btf, local_id: int, targets: Btf | Sequence[Btf]) -> Candidates:
    """``bpf_core_find_cands()``: candidates in vmlinux, else in the module BTFs."""
    if isinstance(targets, Btf):
        targets = (targets,)
    if not targets:
        raise BTFError("CO-RE needs a target BTF")
    vmlinux, *modules = targets
    cands = [(vmlinux, tid) for tid in find_candidates(local, local_id, vmlinux)]
    if not cands:
        for mod in modules:
            cands += [(mod, tid) for tid in find_candidates(local, local_id, mod, mod.start_id)]
    return cands


def calc_relo_insn(relo: CoreRelo, local: Btf, target: Btf | Sequence[Btf],
                   cand_cache: dict[int, Candidates] | None = None) -> CoreReloResult:
    """``bpf_core_calc_relo_insn()``: match every candidate and agree on one result.

    ``target`` is the kernel BTF or ``(vmlinux, *module BTFs)``. ``cand_cache`` maps local
    type ids to their remaining candidates; it is pruned to the candidates that matched, as
    libbpf's cache is (pass one dict per program load).
    """
    spec = parse_spec(local, relo.type_id, relo.access_str, relo.kind)
    if isinstance(spec, str):
        raise BTFError(f"parsing [{relo.type_id}] {local.describe(relo.type_id)} + "
                       f"{relo.access_str} failed: {spec}")
    if relo.kind == CoreReloKind.TYPE_ID_LOCAL:
        return CoreReloResult(relo.type_id, relo.type_id, validate=False)
    cache = cand_cache if cand_cache is not None else {}
    cands = cache.get(relo.type_id)
    if cands is None:
        cands = cache[relo.type_id] = find_cands(local, relo.type_id, target)
    result: CoreReloResult | None = None
    chosen: CoreSpec | None = None
    matched: Candidates = []
    for cand in cands:
        cand_spec = spec_match(spec, *cand)
        if cand_spec is None:
            continue
        res = calc_relo(relo, spec, cand_spec)
        if result is None or chosen is None:
            result, chosen = res, cand_spec
        elif cand_spec.bit_offset != chosen.bit_offset:
            raise BTFError(f"field offset ambiguity: {cand_spec.format()} vs {chosen.format()}")
        elif res.poison != result.poison or res.new_val != result.new_val:
            raise BTFError(f"relocation decision ambiguity: {cand_spec.format()} gives "
                           f"{res.new_val}, {chosen.format()} gives {result.new_val}")
        matched.append(cand)
    if matched:
        cache[relo.type_id] = matched
    if result is None:
        result = calc_relo(relo, spec, None)
    return result


def _poisoned(insn: Instruction) -> tuple[Instruction, ...]:
    call = Instruction(OP_CALL, imm=POISON_HELPER)
    return (call, call) if insn.is_wide else (call,)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def patch_insn(insn: Instruction, res: CoreReloResult) -> tuple[Instruction, ...]:
    """``bpf_core_patch_insn()``: the patched instruction (two calls for a poisoned lddw).

    ALU/ALU64 with an immediate get ``imm``; LDX/ST/STX get ``off`` (and their size when the
    field's size changed safely); ``lddw`` gets its 64-bit immediate.
    """
    if res.poison:
        return _poisoned(insn)
    cls = insn.code & 0x07
    if cls in (InsnClass.ALU, InsnClass.ALU64):
        if insn.source != Source.K:
            raise BTFError("ALU instruction with a register source cannot be relocated")
        if res.validate and (insn.imm & _U64) != res.orig_val:
            raise BTFError(f"unexpected ALU/ALU64 value: got {insn.imm & 0xFFFFFFFF}, "
                           f"exp {res.orig_val} -> {res.new_val}")
        return (replace(insn, imm=_s32(res.new_val)),)
    if cls in (InsnClass.LDX, InsnClass.ST, InsnClass.STX):
        if res.validate and (insn.off & _U64) != res.orig_val:
            raise BTFError(f"unexpected LDX/ST/STX value: got {insn.off}, "
                           f"exp {res.orig_val} -> {res.new_val}")
        if res.new_val > _SHRT_MAX:
            raise BTFError(f"LDX/ST/STX offset {res.new_val} is too big for the 16-bit off")
        if res.fail_memsz_adjust:
            return _poisoned(insn)
        code = insn.code
        if res.new_sz != res.orig_sz:
            size = SIZE_BYTES[Size(insn.size)]
            if size != res.orig_sz:
                raise BTFError(f"LDX/ST/STX unexpected mem size: got {size}, exp {res.orig_sz}")
            new_size = _BYTES_SIZE.get(res.new_sz)
            if new_size is None:
                raise BTFError(f"LDX/ST/STX invalid new mem size: {res.new_sz}")
            code = insn.mode | new_size | cls
        return (replace(insn, code=code, off=res.new_val),)
    if cls == InsnClass.LD:
        if insn.code != OP_LDDW or insn.src != 0 or insn.off != 0:
            raise BTFError("LDIMM64 has unexpected form")
        if res.validate and insn.imm64 != res.orig_val:
            raise BTFError(f"unexpected LDIMM64 value: got {insn.imm64}, "
                           f"exp {res.orig_val} -> {res.new_val}")
        return (Instruction.wide(insn.dst, res.new_val),)
    raise BTFError(f"trying to relocate unrecognized insn, code:{insn.code:#x}, "
                   f"src:{insn.src:#x}, dst:{insn.dst:#x}, off:{insn.off:#x}, imm:{insn.imm:#x}")


def _describe(relo: CoreRelo, idx: int, local: Btf, pc: int, prog: str) -> str:
    where = f"prog '{prog}': " if prog else ""
    try:
        what = f"[{relo.type_id}] {local.describe(relo.type_id)}"
    except BTFError:
        what = f"[{relo.type_id}]"
    return (f"{where}CO-RE relo #{idx} ({relo.kind.libbpf_name}) at insn {pc}, "
            f"{what} + {relo.access_str}")


def apply_core_relocations(
    insns: Sequence[Instruction],
    relos: Sequence[CoreRelo],
    local: Btf,
    target: Btf | Sequence[Btf],
    *,
    prog_name: str = "",
    section_offset: int = 0,
) -> tuple[Instruction, ...]:
    """Relocate ``insns`` (one ELF section's, or a slice of it) with ``relos``.

    ``relo.insn_off`` is a byte offset in the ELF section (as in ``.BTF.ext``);
    ``target`` is the kernel's BTF or ``(vmlinux, *module BTFs)``;
    ``section_offset`` is the byte offset of ``insns[0]`` in that section, so
    ``pc = (insn_off - section_offset) // 8`` counts 8-byte slots. Mirrors
    ``bpf_object__relocate_core()``; one candidate cache serves all the relocations.
    """
    out = list(insns)
    index: dict[int, int] = {}  # slot pc -> position in ``out``
    pc = 0
    for pos, insn in enumerate(insns):
        index[pc] = pos
        pc += insn.slots
    total = pc
    cache: dict[int, Candidates] = {}
    patched: dict[int, tuple[Instruction, ...]] = {}
    for i, relo in enumerate(relos):
        rel = relo.insn_off - section_offset
        pc = rel // 8
        if rel % 8 or rel < 0 or pc >= total or pc not in index:
            raise BTFError(f"{_describe(relo, i, local, pc, prog_name)}: insn_off "
                           f"{relo.insn_off} is not the start of an instruction of this "
                           f"program ({total} slots from byte {section_offset})")
        pos = index[pc]
        try:
            res = calc_relo_insn(relo, local, target, cache)
            # a second relocation of one instruction sees the first one's result, as in
            # libbpf (a poisoned instruction then no longer relocates)
            current = patched.get(pos, (out[pos],))
            patched[pos] = patch_insn(current[0], res)
        except BTFError as e:
            raise BTFError(f"{_describe(relo, i, local, pc, prog_name)}: {e}") from None
    result: list[Instruction] = []
    for pos, insn in enumerate(out):
        result.extend(patched.get(pos, (insn,)))
    return tuple(result)
