"""Context access: may a program load or store ``size`` bytes at ``offset`` of its context?

Mirrors the ``is_valid_access`` callbacks of the program types' ``bpf_verifier_ops``
(``bpf_skb_is_valid_access()``, ``xdp_is_valid_access()``, ``sock_ops_is_valid_access()``,
``pe_prog_is_valid_access()``, ... in net/core/filter.c, kernel/trace/bpf_trace.c,
kernel/bpf/cgroup.c) as called by check_ctx_access() in kernel/bpf/verifier.c, which refuses
with ``invalid bpf_context access off=%d size=%d``. The per-type rules live in
:mod:`~pybpf.platform.ctx_skb`, :mod:`~pybpf.platform.ctx_sock` and
:mod:`~pybpf.platform.ctx_trace`; this module owns the result types, the kernel's range and
narrow-access helpers and the dispatch.

A granted access reports what a load puts in the destination register (a scalar, or a
``PTR_TO_PACKET`` / ``PTR_TO_PACKET_END`` / ``PTR_TO_SOCKET_OR_NULL`` ... pointer: the
``info->reg_type`` the callback sets) and the kernel's ``ctx_field_size`` (non-zero when the
field may be read narrower than it is; the verifier later rewrites such loads).

Not modelled here: the checks check_mem_access() makes before asking the callback (``BPF_ST``
into ctx, storing a pointer — "leaks addr into ctx" —, a modified ctx pointer), BTF-typed
contexts (``TRACING``, ``LSM``, ``STRUCT_OPS``, ``EXT``: ``bpf_tracing_btf_ctx_access()``), and
offloaded XDP programs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pybpf.platform.attach import AttachType
from pybpf.platform.ctx_fields import CtxField, CtxStruct
from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_types import RegType, TypeFlag

__all__ = [
    "ACCESS_SIZES",
    "AccessInfo",
    "AccessRequest",
    "CtxAccess",
    "Reject",
    "ctx_access",
    "ctx_struct",
    "invalid_ctx_access_message",
]

ACCESS_SIZES = (1, 2, 4, 8)
"""The load/store widths an instruction can encode (``BPF_B``, ``BPF_H``, ``BPF_W``, ``BPF_DW``)."""


def invalid_ctx_access_message(offset: int, size: int) -> str:
    """check_ctx_access()'s wording."""
    return f"invalid bpf_context access off={offset} size={size}"


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """One access as the callback sees it (the kernel's arguments plus program properties)."""

    offset: int
    size: int
    write: bool
    attach_type: AttachType
    privileged: bool = True
    ldsx: bool = False  # a sign-extending load (BPF_MEMSX)


class AccessInfo:
    """The mutable ``struct bpf_insn_access_aux`` the callbacks fill in."""

    __slots__ = ("ctx_field_size", "reg_type")

    def __init__(self) -> None:
        self.reg_type: int = RegType.SCALAR_VALUE
        self.ctx_field_size: int = 0

    def record_field_size(self, size: int) -> None:
        """``bpf_ctx_record_field_size()``."""
        self.ctx_field_size = size


Rule = Callable[[AccessRequest, AccessInfo], bool]
"""An ``is_valid_access`` mirror: True to grant, filling ``AccessInfo``."""


@dataclass(frozen=True, slots=True)
class CtxAccess:
    """A granted context access.

    ``reg_type`` is the raw kernel register type a *load* yields (``RegType`` base plus
    ``TypeFlag`` bits, e.g. ``PTR_TO_SOCK_COMMON | PTR_MAYBE_NULL``); ``SCALAR_VALUE`` for
    plain fields and for stores. ``field`` is the context field at ``offset`` (None inside
    contexts without a fixed layout, e.g. tracepoint records).
    """

    offset: int
    size: int
    write: bool
    reg_type: int
    ctx_field_size: int
    field: CtxField | None

    @property
    def is_pointer(self) -> bool:
        """The load yields a pointer, not a scalar."""
        return (self.reg_type & 0xFF) != RegType.SCALAR_VALUE

    @property
    def reg_base(self) -> RegType:
        """The base register type a load yields."""
        return RegType(self.reg_type & 0xFF)

    @property
    def reg_flags(self) -> TypeFlag:
        """``PTR_MAYBE_NULL``, ``PTR_TRUSTED``, ... of the loaded pointer."""
        return TypeFlag(self.reg_type & ~0xFF)

    @property
    def narrow(self) -> bool:
        """A narrower-than-field load the verifier rewrites (``ctx_field_size > size``)."""
        return self.ctx_field_size > self.size


@dataclass(frozen=True, slots=True)
class Reject:
    """A refused context access: ``reason`` is the verifier's message, ``rule`` the kernel
    callback that refused (``"tc_cls_act_is_valid_access"``)."""

    offset: int
    size: int
    write: bool
    rule: str

    @property
    def reason(self) -> str:
        return invalid_ctx_access_message(self.offset, self.size)

    def __bool__(self) -> bool:
        return False


# --------------------------------------------------------------------------------------------
# the kernel's helpers (include/linux/filter.h)
# --------------------------------------------------------------------------------------------

def narrow_access_ok(off: int, size: int, size_default: int) -> bool:
    """``bpf_ctx_narrow_access_ok()``."""
    del off
    return size <= size_default and (size & (size - 1)) == 0


def ctx_range(s: CtxStruct, member: str) -> range:
    """``bpf_ctx_range(TYPE, MEMBER)``: every offset inside the member."""
    f = s.field(member)
    return range(f.offset, f.end)


def ctx_range_till(s: CtxStruct, first: str, last: str) -> range:
    """``bpf_ctx_range_till(TYPE, MEMBER1, MEMBER2)``."""
    return range(s.offsetof(first), s.offsetofend(last))


def ctx_range_ptr(s: CtxStruct, member: str) -> range:
    """``bpf_ctx_range_ptr(TYPE, MEMBER)``: the 8-byte ``__bpf_md_ptr`` slot."""
    off = s.offsetof(member)
    return range(off, off + 8)


def wide_access_ok(off: int, size: int, s: CtxStruct, first: str, last: str) -> bool:
    """``bpf_ctx_wide_access_ok()`` over an array ``first`` .. ``last`` (e.g. ``user_ip6``)."""
    return (
        size == 8
        and off >= s.offsetof(first)
        and off + 8 <= s.offsetofend(last)
        and off % 8 == 0
    )


def c_mod(a: int, b: int) -> int:
    """C's ``%`` (truncating); only its zero-ness matters to the callbacks."""
    r = abs(a) % b
    return -r if a < 0 else r


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------

def _rules() -> dict[ProgType, tuple[str, Rule, str | None]]:
    from pybpf.platform import ctx_skb, ctx_sock, ctx_trace

    table: dict[ProgType, tuple[str, Rule, str | None]] = {}
    for mod in (ctx_skb, ctx_sock, ctx_trace):
        for prog_type, entry in mod.RULES.items():
            table[prog_type] = entry
    return table


_RULES: dict[ProgType, tuple[str, Rule, str | None]] | None = None


def _rule_for(prog_type: ProgType) -> tuple[str, Rule, str | None]:
    global _RULES
    if _RULES is None:
        _RULES = _rules()
    try:
        return _RULES[prog_type]
    except KeyError:
        raise KeyError(f"context access of {prog_type.name} programs is not modelled") from None


def ctx_struct(prog_type: ProgType) -> CtxStruct | None:
    """The UAPI structure a program type's context is (None: no fixed layout)."""
    struct_name = _rule_for(prog_type)[2]
    return CTX_STRUCTS[struct_name] if struct_name else None


def ctx_access(
    prog_type: ProgType,
    offset: int,
    size: int,
    write: bool,
    *,
    attach_type: AttachType | int | None = None,
    privileged: bool = True,
    ldsx: bool = False,
) -> CtxAccess | Reject:
    """May a ``prog_type`` program load (``write=False``) or store ``size`` bytes at ``offset``?

    ``attach_type`` is the program's ``expected_attach_type`` (0 when None, as the kernel
    defaults it); ``privileged`` means the loader has ``CAP_BPF``; ``ldsx`` asks about a
    sign-extending load. Returns :class:`CtxAccess` or a falsy :class:`Reject`.
    """
    if size not in ACCESS_SIZES:
        raise ValueError(f"access size {size} is not 1, 2, 4 or 8")
    name, rule, struct_name = _rule_for(prog_type)
    attach = AttachType(int(attach_type or 0))
    if prog_type is ProgType.CGROUP_SOCK and attach_type is None:
        attach = AttachType.CGROUP_INET_SOCK_CREATE  # bpf_prog_load_fixup_attach_type()
    req = AccessRequest(offset, size, write, attach, privileged, ldsx)
    info = AccessInfo()
    if not rule(req, info):
        return Reject(offset, size, write, name)
    field = CTX_STRUCTS[struct_name].field_at(offset) if struct_name else None
    return CtxAccess(
        offset, size, write, RegType.SCALAR_VALUE if write else info.reg_type,
        info.ctx_field_size, field,
    )
