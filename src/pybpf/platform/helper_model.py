"""The shape of a helper prototype: :class:`HelperArg` and :class:`HelperProto`.

Mirrors ``struct bpf_func_proto`` of include/linux/bpf.h. The data (one object per kernel
prototype variable) is generated into :mod:`pybpf.platform.helper_protos`; lookups live in
:mod:`pybpf.platform.helpers`. Types are kept as the kernel packs them (a base type plus
:class:`~pybpf.platform.helper_types.TypeFlag` bits) and exposed split.
"""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.platform.helper_ids import HelperId
from pybpf.platform.helper_types import ArgType, RetType, TypeFlag

__all__ = ["DYNAMIC_BTF_ID", "HelperArg", "HelperProto", "make_proto", "parse_kernel_type"]

DYNAMIC_BTF_ID = "<dynamic>"
"""``btf_id`` of arguments whose BTF type the verifier decides (``BPF_PTR_POISON`` in the
kernel: the map value's ``bpf_spin_lock``, the kptr field's type for ``bpf_kptr_xchg``)."""

_NAMED_COMBOS = {
    # The kernel's named combinations, as they appear in prototypes.
    "ARG_PTR_TO_MAP_VALUE_OR_NULL": ("ARG_PTR_TO_MAP_VALUE", TypeFlag.PTR_MAYBE_NULL),
    "ARG_PTR_TO_MEM_OR_NULL": ("ARG_PTR_TO_MEM", TypeFlag.PTR_MAYBE_NULL),
    "ARG_PTR_TO_CTX_OR_NULL": ("ARG_PTR_TO_CTX", TypeFlag.PTR_MAYBE_NULL),
    "ARG_PTR_TO_SOCKET_OR_NULL": ("ARG_PTR_TO_SOCKET", TypeFlag.PTR_MAYBE_NULL),
    "ARG_PTR_TO_STACK_OR_NULL": ("ARG_PTR_TO_STACK", TypeFlag.PTR_MAYBE_NULL),
    "ARG_PTR_TO_BTF_ID_OR_NULL": ("ARG_PTR_TO_BTF_ID", TypeFlag.PTR_MAYBE_NULL),
    "ARG_PTR_TO_UNINIT_MEM": ("ARG_PTR_TO_MEM", TypeFlag.MEM_UNINIT | TypeFlag.MEM_WRITE),
    "ARG_PTR_TO_FIXED_SIZE_MEM": ("ARG_PTR_TO_MEM", TypeFlag.MEM_FIXED_SIZE),
    "RET_PTR_TO_MAP_VALUE_OR_NULL": ("RET_PTR_TO_MAP_VALUE", TypeFlag.PTR_MAYBE_NULL),
    "RET_PTR_TO_SOCKET_OR_NULL": ("RET_PTR_TO_SOCKET", TypeFlag.PTR_MAYBE_NULL),
    "RET_PTR_TO_TCP_SOCK_OR_NULL": ("RET_PTR_TO_TCP_SOCK", TypeFlag.PTR_MAYBE_NULL),
    "RET_PTR_TO_SOCK_COMMON_OR_NULL": ("RET_PTR_TO_SOCK_COMMON", TypeFlag.PTR_MAYBE_NULL),
    "RET_PTR_TO_RINGBUF_MEM_OR_NULL": (
        "RET_PTR_TO_MEM", TypeFlag.PTR_MAYBE_NULL | TypeFlag.MEM_RINGBUF
    ),
    "RET_PTR_TO_DYNPTR_MEM_OR_NULL": ("RET_PTR_TO_MEM", TypeFlag.PTR_MAYBE_NULL),
    "RET_PTR_TO_BTF_ID_OR_NULL": ("RET_PTR_TO_BTF_ID", TypeFlag.PTR_MAYBE_NULL),
    "RET_PTR_TO_BTF_ID_TRUSTED": ("RET_PTR_TO_BTF_ID", TypeFlag.PTR_TRUSTED),
}


def parse_kernel_type(text: str) -> tuple[str, TypeFlag]:
    """``"ARG_PTR_TO_MEM | MEM_RDONLY"`` → ``("ARG_PTR_TO_MEM", TypeFlag.MEM_RDONLY)``."""
    base = ""
    flags = TypeFlag.NONE
    for part in (p.strip() for p in text.split("|")):
        if part in _NAMED_COMBOS:
            b, f = _NAMED_COMBOS[part]
            base, flags = b, flags | f
        elif part.startswith(("ARG_", "RET_")):
            base = part
        else:
            flags |= TypeFlag[part]
    if not base:
        raise ValueError(f"no base type in {text!r}")
    return base, flags


def _flag_names(flags: TypeFlag) -> list[str]:
    return [f.name for f in TypeFlag if f and f in flags and f.name is not None]


@dataclass(frozen=True, slots=True)
class HelperArg:
    """One argument: base ``type``, ``flags``, and the extra data the kernel attaches.

    ``btf_id`` names the BTF type an ``ARG_PTR_TO_BTF_ID*`` argument points to
    (``"task_struct"``; :data:`DYNAMIC_BTF_ID` when the verifier decides); ``size`` is the
    byte size of an ``MEM_FIXED_SIZE`` memory argument.
    """

    type: ArgType
    flags: TypeFlag = TypeFlag.NONE
    btf_id: str | None = None
    size: int | None = None

    @classmethod
    def from_kernel(cls, text: str, btf_id: str | None = None, size: int | None = None) -> HelperArg:
        """From the kernel's spelling (``"ARG_PTR_TO_MEM | MEM_RDONLY"``)."""
        base, flags = parse_kernel_type(text)
        return cls(ArgType[base.removeprefix("ARG_")], flags, btf_id, size)

    @property
    def raw(self) -> int:
        """The kernel's packed ``enum bpf_arg_type`` value."""
        return int(self.type) | int(self.flags)

    @property
    def kernel_name(self) -> str:
        """``"ARG_PTR_TO_MEM | MEM_RDONLY"``."""
        return " | ".join([self.type.kernel_name, *_flag_names(self.flags)])

    @property
    def nullable(self) -> bool:
        """``PTR_MAYBE_NULL``: a NULL (scalar zero) is accepted."""
        return bool(self.flags & TypeFlag.PTR_MAYBE_NULL)

    def __str__(self) -> str:
        return self.kernel_name


@dataclass(frozen=True, slots=True)
class HelperProto:
    """A helper prototype: one kernel ``struct bpf_func_proto`` variable.

    A helper id can have several prototypes (``perf_event_output`` is
    ``bpf_skb_event_output_proto`` for tc, ``bpf_xdp_event_output_proto`` for XDP, ...); which
    one a program type gets is in :mod:`pybpf.platform.prog_helpers`.

    ``proto`` is the kernel variable (``"bpf_xdp_adjust_head_proto"``), ``func`` the kernel
    function behind it. ``allowed`` names the kernel's ``.allowed`` callback when the helper
    is further restricted by attach point (``bpf_d_path_allowed``). ``in_kernel`` is False for
    prototypes the reference kernel was built without (e.g. ``bpf_override_return`` without
    ``CONFIG_BPF_KPROBE_OVERRIDE``); their data comes from source only.
    """

    id: HelperId
    proto: str
    func: str
    ret: RetType
    ret_flags: TypeFlag
    args: tuple[HelperArg, ...]
    gpl_only: bool = False
    pkt_access: bool = False
    might_sleep: bool = False
    allow_fastcall: bool = False
    ret_btf_id: str | None = None
    allowed: str | None = None
    in_kernel: bool = True

    @property
    def name(self) -> str:
        """The helper's name, ``"bpf_map_lookup_elem"`` (``func_id_str[]`` of disasm.c)."""
        return "bpf_" + self.id.name.lower()

    @property
    def ret_raw(self) -> int:
        """The kernel's packed ``enum bpf_return_type`` value."""
        return int(self.ret) | int(self.ret_flags)

    @property
    def ret_kernel_name(self) -> str:
        """``"RET_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL"``."""
        return " | ".join([self.ret.kernel_name, *_flag_names(self.ret_flags)])

    @property
    def nargs(self) -> int:
        """Number of arguments (registers R1.. that the helper reads)."""
        return len(self.args)

    @property
    def ret_nullable(self) -> bool:
        """The returned pointer must be NULL-checked."""
        return bool(self.ret_flags & TypeFlag.PTR_MAYBE_NULL)

    def __str__(self) -> str:
        args = ", ".join(str(a) for a in self.args)
        return f"{self.ret_kernel_name} {self.name}({args})"


def make_proto(
    helper: HelperId,
    proto: str,
    func: str,
    ret: str,
    args: tuple[tuple[str, str | None, int | None], ...],
    *,
    gpl_only: bool = False,
    pkt_access: bool = False,
    might_sleep: bool = False,
    allow_fastcall: bool = False,
    ret_btf_id: str | None = None,
    allowed: str | None = None,
    in_kernel: bool = True,
) -> HelperProto:
    """Build a :class:`HelperProto` from kernel spellings (used by the generated table)."""
    base, flags = parse_kernel_type(ret)
    return HelperProto(
        helper,
        proto,
        func,
        RetType[base.removeprefix("RET_")],
        flags,
        tuple(HelperArg.from_kernel(t, b, s) for t, b, s in args),
        gpl_only=gpl_only,
        pkt_access=pkt_access,
        might_sleep=might_sleep,
        allow_fastcall=allow_fastcall,
        ret_btf_id=ret_btf_id,
        allowed=allowed,
        in_kernel=in_kernel,
    )

