"""CO-RE access specs: parse an accessor string against the local BTF, match it in a target.

Mirrors libbpf's tools/lib/bpf/relo_core.c: ``bpf_core_parse_spec()``, ``is_flex_arr()``,
``bpf_core_match_member()``, ``bpf_core_spec_match()``, ``bpf_core_format_spec()``, and the
candidate search of libbpf.c (``bpf_core_add_cands()``/``bpf_core_find_cands()``).

An access string ``"0:1:2:3"`` is the *raw* spec: the first number indexes the root pointer
(``&s[0]``), the rest are member indexes of structs/unions (anonymous ones included) and array
indexes. The *high-level* spec keeps only named members and array indexes, which is what is
matched by name in the target. Parse failures return a reason string (libbpf's -EINVAL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pybpf.btf.btf import Btf
from pybpf.btf.core_compat import (
    essential_name_len,
    fields_are_compat,
    kind_core_compat,
    types_are_compat,
    types_match,
)
from pybpf.btf.ext import CoreReloKind
from pybpf.btf.types import Array, Enum, Enum64, Struct, Union
from pybpf.errors import BTFError

#: BPF_CORE_SPEC_MAX_LEN: the deepest access string libbpf follows.
SPEC_MAX_LEN = 64
_ACCESS_RE = re.compile(r"\d+(?::\d+)*")


@dataclass(frozen=True, slots=True)
class Accessor:
    """``struct bpf_core_accessor``: member ``idx`` of ``type_id`` (``name`` set), or array
    index ``idx`` (``name`` is None); for enumval specs, enumerator ``idx``."""

    type_id: int
    idx: int
    name: str | None


@dataclass(slots=True)
class CoreSpec:
    """``struct bpf_core_spec``: a high-level and raw access path and its bit offset.

    Working state of one match (libbpf pushes and pops accessors while searching).
    """

    btf: Btf
    root_type_id: int
    kind: CoreReloKind
    spec: list[Accessor] = field(default_factory=list)
    raw_spec: list[int] = field(default_factory=list)
    bit_offset: int = 0

    def format(self) -> str:
        """``bpf_core_format_spec()``: ``[id] struct foo.a[3].b (0:1:3:2 @ offset 12)``."""
        btf = self.btf
        name = btf.name_of(self.root_type_id) or "<anon>"
        kind = btf.kind_of(self.root_type_id).name.lower()
        text = f"[{self.root_type_id}] {kind} {name}"
        if self.kind.is_type_based:
            return text
        if self.kind.is_enumval_based:
            t = btf[self.spec[0].type_id]
            assert isinstance(t, Enum | Enum64)
            v = t.values[self.spec[0].idx]
            return f"{text}::{v.name} = {v.value}"
        for i, acc in enumerate(self.spec):
            if acc.name:
                text += f".{acc.name}"
            elif i > 0 or acc.idx > 0:
                text += f"[{acc.idx}]"
        raw = ":".join(map(str, self.raw_spec))
        off = self.bit_offset
        at = f"{off // 8}.{off % 8}" if off % 8 else f"{off // 8}"
        return f"{text} ({raw} @ offset {at})"


def _is_flex_arr(btf: Btf, acc: Accessor | None, arr: Array) -> bool:
    """``is_flex_arr()``: a zero-length array that is the last member of its struct."""
    if acc is None or not acc.name or arr.nelems > 0:
        return False
    t = btf[acc.type_id]
    return isinstance(t, Struct | Union) and acc.idx == len(t.members) - 1


def parse_spec(btf: Btf, type_id: int, access: str, kind: CoreReloKind) -> CoreSpec | str:
    """``bpf_core_parse_spec()``: the local spec, or the reason it is invalid."""
    spec = CoreSpec(btf, type_id, kind)
    if not access or access.startswith(":"):
        return "empty access string"
    if kind.is_type_based:
        return spec if access == "0" else "type-based relocation needs access string '0'"
    if not _ACCESS_RE.fullmatch(access):
        return "access string is not a ':'-separated list of indexes"
    raw = [int(x) for x in access.split(":")]
    if len(raw) > SPEC_MAX_LEN:
        return f"access string is longer than {SPEC_MAX_LEN} accessors"
    spec.raw_spec = raw
    tid, t = btf.skip_mods_and_typedefs(type_id)
    spec.spec.append(Accessor(tid, raw[0], None))
    if kind.is_enumval_based:
        if not isinstance(t, Enum | Enum64) or len(raw) > 1 or raw[0] >= len(t.values):
            return "enumerator index does not name a value of an enum"
        spec.spec[0] = Accessor(tid, raw[0], t.values[raw[0]].name)
        return spec
    if not kind.is_field_based:
        return f"unknown relocation kind {kind}"
    spec.bit_offset = raw[0] * btf.size_of(tid) * 8
    for i in range(1, len(raw)):
        tid, t = btf.skip_mods_and_typedefs(tid)
        idx = raw[i]
        if isinstance(t, Struct | Union):
            if idx >= len(t.members):
                return f"member index {idx} is out of range for {btf.describe(tid)}"
            m = t.members[idx]
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.spec.append(Accessor(tid, idx, m.name))
            tid = m.type
        elif isinstance(t, Array):
            elem_id, _ = btf.skip_mods_and_typedefs(t.type)
            flex = _is_flex_arr(btf, spec.spec[-1] if spec.spec else None, t)
            if not flex and idx >= t.nelems:
                return f"array index {idx} is out of range for {btf.type_str(t.id)}"
            spec.spec.append(Accessor(elem_id, idx, None))
            spec.bit_offset += idx * btf.size_of(elem_id) * 8
            tid = elem_id
        else:
            return (f"accessor {i} reaches [{tid}] {btf.describe(tid)}, which is neither a "
                    f"struct, a union nor an array")
    return spec


def _match_member(local: Btf, local_acc: Accessor, targ: Btf, targ_id: int, spec: CoreSpec,
                  depth: int = 0) -> tuple[bool, int]:
    """``bpf_core_match_member()``: find the local named member in ``targ_id``, descending
    into anonymous members; returns (found, next target type id)."""
    targ_id, tt = targ.skip_mods_and_typedefs(targ_id)
    if not isinstance(tt, Struct | Union):
        return False, 0
    lt = local[local_acc.type_id]
    assert isinstance(lt, Struct | Union)
    local_member = lt.members[local_acc.idx]
    for i, m in enumerate(tt.members):
        if len(spec.raw_spec) >= SPEC_MAX_LEN:
            raise BTFError(f"CO-RE: target struct/union nesting is deeper than {SPEC_MAX_LEN}")
        spec.bit_offset += m.bit_offset
        spec.raw_spec.append(i)
        if not m.name:
            found, nxt = _match_member(local, local_acc, targ, m.type, spec, depth + 1)
            if found:
                return True, nxt
        elif m.name == local_member.name:
            spec.spec.append(Accessor(targ_id, i, m.name))
            if fields_are_compat(local, local_member.type, targ, m.type):
                return True, m.type
            spec.spec.pop()
            return False, 0
        spec.bit_offset -= m.bit_offset
        spec.raw_spec.pop()
    return False, 0


def spec_match(local_spec: CoreSpec, targ: Btf, targ_id: int) -> CoreSpec | None:
    """``bpf_core_spec_match()``: the target spec for candidate ``targ_id``, or None."""
    local = local_spec.btf
    kind = local_spec.kind
    spec = CoreSpec(targ, targ_id, kind)
    if kind.is_type_based:
        if kind == CoreReloKind.TYPE_MATCHES:
            ok = types_match(local, local_spec.root_type_id, targ, targ_id)
        else:
            ok = types_are_compat(local, local_spec.root_type_id, targ, targ_id)
        return spec if ok else None
    if kind.is_enumval_based:
        targ_id, tt = targ.skip_mods_and_typedefs(targ_id)
        if not isinstance(tt, Enum | Enum64):
            return None
        local_name = local_spec.spec[0].name or ""
        ln = essential_name_len(local_name)
        for i, v in enumerate(tt.values):
            if essential_name_len(v.name) == ln and v.name[:ln] == local_name[:ln]:
                spec.spec.append(Accessor(targ_id, i, v.name))
                spec.raw_spec.append(i)
                return spec
        return None
    for i, local_acc in enumerate(local_spec.spec):
        targ_id, tt = targ.skip_mods_and_typedefs(targ_id)
        if local_acc.name:
            found, targ_id = _match_member(local, local_acc, targ, targ_id, spec)
            if not found:
                return None
            continue
        if i > 0:
            if not isinstance(tt, Array):
                return None
            flex = _is_flex_arr(targ, spec.spec[-1] if spec.spec else None, tt)
            if not flex and local_acc.idx >= tt.nelems:
                return None
            targ_id, _ = targ.skip_mods_and_typedefs(tt.type)
        if len(spec.raw_spec) >= SPEC_MAX_LEN:
            raise BTFError(f"CO-RE: target access path is deeper than {SPEC_MAX_LEN}")
        spec.spec.append(Accessor(targ_id, local_acc.idx, None))
        spec.raw_spec.append(local_acc.idx)
        spec.bit_offset += local_acc.idx * targ.size_of(targ_id) * 8
    return spec


def find_candidates(local: Btf, local_id: int, targ: Btf, start_id: int = 1) -> list[int]:
    """``bpf_core_add_cands()``: target types (ids from ``start_id``) of a compatible kind
    whose essential name equals the local type's (``task_struct___local`` finds
    ``task_struct``)."""
    lt = local[local_id]
    if not lt.name:
        raise BTFError(f"CO-RE: local type [{local_id}] {local.describe(local_id)} is anonymous;"
                       f" candidate search needs a name")
    ess = lt.name[: essential_name_len(lt.name)]
    out = []
    for tid in _ids_by_essential_name(targ, ess):
        if tid >= start_id and kind_core_compat(targ[tid], lt):
            out.append(tid)
    return out


def _ids_by_essential_name(btf: Btf, ess: str) -> list[int]:
    """Target ids whose essential name is ``ess``, in id order (exact name or a flavor)."""
    ids = list(btf.find_all(ess))
    ids += [tid for tid in btf.find_all_prefixed(ess + "___")
            if essential_name_len(btf.name_of(tid)) == len(ess)]
    return sorted(set(ids))
