"""Which helpers each program type may call, and which prototype it gets.

Mirrors the program types' ``get_func_proto()`` callbacks (``tc_cls_act_func_proto()``,
``xdp_func_proto()``, ``bpf_base_func_proto()`` in net/core/filter.c, kernel/bpf/helpers.c,
kernel/trace/bpf_trace.c, ...). The data is :mod:`pybpf.platform.prog_helpers_table`, measured
on the reference kernel; see tools/gen_prog_helpers.py.

A program type may see a helper only with some capabilities: ``bpf_base_func_proto()`` hands
out ``bpf_spin_lock`` and friends only with ``CAP_BPF``, ``bpf_trace_printk`` /
``bpf_probe_read_kernel`` only with ``CAP_PERFMON`` as well. :func:`helper_access` reports the
capabilities the kernel checked; ``allowed_helpers(..., capabilities=frozenset())`` is what an
unprivileged loader gets. Program types whose helper set depends on the attach point (cgroup
sock_addr/sockopt/sock, tracing) have entries per attach type; unknown attach types fall back to
the program type's default configuration.

Not modelled: ``STRUCT_OPS``, ``EXT`` and ``LSM`` (their helpers depend on the attach target),
helpers' ``.allowed`` callbacks (checked at load against the attach BTF id), lockdown.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType

from pybpf.platform.attach import AttachType
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_ids import HelperId
from pybpf.platform.helper_model import HelperProto
from pybpf.platform.helper_probe import LoadConfig, default_config
from pybpf.platform.helper_protos import PROTOS
from pybpf.platform.prog_helpers_table import KERNEL_RELEASE, TABLE, UNPRIVILEGED

__all__ = [
    "ALL_CAPABILITIES",
    "KERNEL_RELEASE",
    "Capability",
    "HelperAccess",
    "allowed_helpers",
    "helper_access",
    "is_measured",
    "known_configs",
    "unprivileged_helpers",
]


class Capability(enum.Enum):
    """Capabilities the kernel checks when handing out a helper (``bpf_token_capable()``)."""

    BPF = "CAP_BPF"
    PERFMON = "CAP_PERFMON"
    SYS_ADMIN = "CAP_SYS_ADMIN"
    NET_ADMIN = "CAP_NET_ADMIN"


ALL_CAPABILITIES = frozenset(Capability)


@dataclass(frozen=True, slots=True)
class HelperAccess:
    """A helper as one program type sees it: the prototype and the capabilities required."""

    helper: HelperId
    proto: HelperProto
    requires: frozenset[Capability]

    def granted(self, capabilities: frozenset[Capability]) -> bool:
        """Whether a loader holding ``capabilities`` gets the helper.

        ``CAP_SYS_ADMIN`` implies the others (the kernel's ``bpf_token_capable()``).
        """
        if Capability.SYS_ADMIN in capabilities:
            return True
        return self.requires <= capabilities


def _build() -> MappingProxyType[LoadConfig, tuple[bool, MappingProxyType[HelperId, HelperAccess]]]:
    out = {}
    for (ptype, attach, sleepable), (measured, entries) in TABLE.items():
        cfg = LoadConfig(ptype, attach, sleepable)
        acc = {
            h: HelperAccess(h, PROTOS[proto], frozenset(Capability(c) for c in caps.split()))
            for h, (proto, caps) in entries.items()
        }
        out[cfg] = (measured, MappingProxyType(acc))
    return MappingProxyType(out)


_TABLE = _build()


def _config(prog_type: ProgType, attach_type: AttachType | None) -> LoadConfig:
    default = default_config(prog_type)
    if attach_type is None:
        cfg = default
    else:
        cfg = LoadConfig(prog_type, attach_type, default.sleepable)
    if cfg not in _TABLE:
        cfg = default
    if cfg not in _TABLE:
        raise KeyError(f"no helper table for program type {prog_type.name}")
    return cfg


def known_configs() -> tuple[LoadConfig, ...]:
    """Every (program type, attach type) configuration the table holds."""
    return tuple(_TABLE)


def is_measured(prog_type: ProgType, attach_type: AttachType | None = None) -> bool:
    """Whether the entry was measured on the kernel (False: from the kernel sources only)."""
    return _TABLE[_config(prog_type, attach_type)][0]


def helper_access(
    prog_type: ProgType, helper: HelperId, *, attach_type: AttachType | None = None
) -> HelperAccess | None:
    """How ``prog_type`` sees ``helper`` (None: "program of this type cannot use helper")."""
    return _TABLE[_config(prog_type, attach_type)][1].get(helper)


def allowed_helpers(
    prog_type: ProgType,
    *,
    attach_type: AttachType | None = None,
    capabilities: frozenset[Capability] = ALL_CAPABILITIES,
) -> frozenset[HelperId]:
    """The helper ids ``prog_type`` may call for a loader holding ``capabilities``."""
    entries = _TABLE[_config(prog_type, attach_type)][1]
    return frozenset(h for h, a in entries.items() if a.granted(capabilities))


def unprivileged_helpers(prog_type: ProgType) -> frozenset[HelperId] | None:
    """The set measured from an unprivileged process (SOCKET_FILTER, CGROUP_SKB), if any."""
    return UNPRIVILEGED.get(prog_type)
