"""Helper prototypes: what each ``bpf_*`` helper takes and returns, per program type.

The public face of the helper tables. Mirrors ``struct bpf_func_proto`` (include/linux/bpf.h)
and the prototype variables of net/core/filter.c, kernel/bpf/helpers.c,
kernel/trace/bpf_trace.c and friends; the data is generated into
:mod:`pybpf.platform.helper_protos` from the kernel sources and checked against the running
kernel's own ``struct bpf_func_proto`` objects (tools/gen_helper_protos.py).

* :data:`HELPERS` — one prototype per helper id, the variant most program types get (the
  ``bpf_base_func_proto()`` one for base helpers);
* :func:`helper_proto` — the variant a given program type gets (``perf_event_output`` is
  ``bpf_xdp_event_output_proto`` for XDP, ``bpf_perf_event_output_proto_tp`` for tracepoints);
* :func:`proto_variants`, :func:`changes_pkt_data` (``bpf_helper_changes_pkt_data()``).

Not modelled here: helper *semantics* (the runtime implements them) and kfuncs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pybpf.platform.attach import AttachType
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_ids import HelperId, helper_by_name, helper_name
from pybpf.platform.helper_model import DYNAMIC_BTF_ID, HelperArg, HelperProto
from pybpf.platform.helper_protos import CHANGES_PKT_DATA, DEFAULT_PROTO, PROTOS
from pybpf.platform.helper_types import ArgType, RetType, TypeFlag

__all__ = [
    "DYNAMIC_BTF_ID",
    "HELPERS",
    "PROTOS",
    "ArgType",
    "HelperArg",
    "HelperId",
    "HelperProto",
    "RetType",
    "TypeFlag",
    "changes_pkt_data",
    "helper_by_name",
    "helper_name",
    "helper_proto",
    "proto_variants",
]

HELPERS: Mapping[HelperId, HelperProto] = MappingProxyType(
    {h: PROTOS[name] for h, name in DEFAULT_PROTO.items()}
)
"""Helper id → its default prototype (every id except ``UNSPEC``)."""

_VARIANTS: Mapping[HelperId, tuple[HelperProto, ...]] = MappingProxyType({
    h: tuple(p for p in PROTOS.values() if p.id == h) for h in HELPERS
})


def helper_proto(
    helper: HelperId | int,
    prog_type: ProgType | None = None,
    *,
    attach_type: AttachType | None = None,
) -> HelperProto:
    """The prototype of ``helper``; with ``prog_type``, the variant that program type gets.

    Raises ``KeyError`` when ``prog_type`` cannot call ``helper`` (the verifier's "program of
    this type cannot use helper") and ``ValueError`` for an id that is not a helper.
    """
    helper = HelperId(helper)
    if helper is HelperId.UNSPEC:
        raise ValueError("helper id 0 (BPF_FUNC_unspec) is not a helper")
    if prog_type is None:
        return HELPERS[helper]
    from pybpf.platform.prog_helpers import helper_access

    access = helper_access(prog_type, helper, attach_type=attach_type)
    if access is None:
        raise KeyError(
            f"program of type {prog_type.name} cannot use helper {helper_name(helper)}#{int(helper)}"
        )
    return access.proto


def proto_variants(helper: HelperId | int) -> tuple[HelperProto, ...]:
    """Every prototype variable the kernel has for ``helper`` (default first)."""
    helper = HelperId(helper)
    default = HELPERS[helper]
    return (default, *(p for p in _VARIANTS[helper] if p is not default))


def changes_pkt_data(helper: HelperId | int) -> bool:
    """Whether calling ``helper`` invalidates packet pointers (``bpf_helper_changes_pkt_data()``)."""
    return HelperId(helper) in CHANGES_PKT_DATA
