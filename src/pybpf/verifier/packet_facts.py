"""What the verifier learns about packet pointers that pybpf's JIT uses (not the kernel's).

The kernel's JITs address memory with host pointers, so a packet access is a plain load and
the ``data + n > data_end`` test a plain compare. pybpf's programs hold virtual addresses
(:mod:`pybpf.runtime.memory`) that native code translates. Where the verifier proved, on
every path it explored, that

* a load or store goes through a packet pointer (``PTR_TO_PACKET``/``_META``) —
  :attr:`~pybpf.verifier.env.InsnAux.pkt_access`;
* a 64-bit register compare compares two pointers into the packet (data, meta or end) —
  :attr:`~pybpf.verifier.env.InsnAux.pkt_compare`;
* a context load gives a packet pointer — :attr:`~pybpf.verifier.env.InsnAux.pkt_load`,

the JIT (:mod:`pybpf.jit.lower_packet`) translates with one offset per packet, found at the
context load, instead of per-pointer region lookups, and compares in host space, as the
kernel's JIT does. It also reads which loads and stores go through the context pointer
(:func:`context_accesses`, from the kernel's own ``insn_aux_data->ptr_type``): the kernel
rewrites those into loads of ``xdp_buff``/``sk_buff`` fields (``convert_ctx_accesses()``),
the JIT reads them from the context's native half (:mod:`pybpf.jit.lower_context`). Recorded where the kernel records ``insn_aux_data->ptr_type``
(``save_aux_ptr_type()``) and checks pointer compares (``check_cond_jmp_op()``); a state
pruned at an instruction has the same pointer types as the one explored (``regsafe()``
requires equal types of live pointers), so every path is covered.
"""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.isa import InsnClass, JumpOp, Mode
from pybpf.platform.helper_types import RegType, base_type
from pybpf.verifier.env import Env

__all__ = ["PacketInsns", "collect", "context_accesses", "note_access", "note_compare",
           "note_load"]

_PACKET = (RegType.PTR_TO_PACKET, RegType.PTR_TO_PACKET_META)
_PACKET_ANY = (*_PACKET, RegType.PTR_TO_PACKET_END)


@dataclass(frozen=True, slots=True)
class PacketInsns:
    """The pcs of an accepted program's packet context loads, accesses and compares."""

    loads: tuple[int, ...] = ()
    accesses: tuple[int, ...] = ()
    compares: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.loads)


def note_access(env: Env, reg_type: int) -> None:
    """The load or store at ``env.insn_idx`` went through a pointer of ``reg_type``."""
    aux = env.aux[env.insn_idx]
    aux.pkt_access = reg_type in _PACKET and aux.pkt_access is not False


def note_compare(env: Env, op: int, jmp32: bool, dst_type: int, src_type: int | None) -> None:
    """The conditional jump at ``env.insn_idx`` compared registers of these types (``src``
    None: an immediate). Only 64-bit compares whose result does not depend on the
    addresses' bits qualify (not ``JSET``)."""
    aux = env.aux[env.insn_idx]
    ok = (not jmp32 and op != JumpOp.JSET and src_type is not None
          and dst_type in _PACKET_ANY and src_type in _PACKET_ANY)
    aux.pkt_compare = ok and aux.pkt_compare is not False


def note_load(env: Env, result_type: int) -> None:
    """The context load at ``env.insn_idx`` gives a register of ``result_type``."""
    if result_type in _PACKET_ANY:
        env.aux[env.insn_idx].pkt_load = True


def collect(env: Env) -> PacketInsns:
    """The packet facts of an accepted program (none when it loads no packet pointer)."""
    loads = tuple(pc for pc, aux in enumerate(env.aux) if aux.pkt_load)
    if not loads:
        return PacketInsns()
    return PacketInsns(
        loads,
        tuple(pc for pc, aux in enumerate(env.aux) if aux.pkt_access),
        tuple(pc for pc, aux in enumerate(env.aux) if aux.pkt_compare))


def context_accesses(env: Env) -> tuple[int, ...]:
    """The pcs of an accepted program's loads and stores through the context pointer.

    ``save_aux_ptr_type()`` refuses an instruction that uses the context on one path and
    another pointer on another ("same insn cannot be used with different pointers"), and
    ``check_ptr_off_reg()`` a context pointer with an offset, so each is an access of the
    instruction's constant ``off`` into the context on every path: what
    ``convert_ctx_accesses()`` rewrites."""
    out = []
    for pc, aux in enumerate(env.aux):
        if aux.ptr_type is None or base_type(aux.ptr_type) != RegType.PTR_TO_CTX:
            continue
        insn = env.prog.insns[pc]
        if insn.code & 0x07 in (InsnClass.LDX, InsnClass.ST, InsnClass.STX) and \
                insn.mode in (Mode.MEM, Mode.MEMSX):
            out.append(pc)
    return tuple(out)
