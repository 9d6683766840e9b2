"""Internet checksums: the kernel's arithmetic and the helpers built on it.

The arithmetic mirrors include/net/checksum.h and arch/x86 (x86_64): ``csum_add()`` is a
32-bit add with end-around carry, ``csum_fold()`` folds 32 bits into 16 and complements,
``csum16_add()`` adds 16-bit values, ``csum_partial()`` (arch/x86/lib/csum-partial_64.c)
sums little-endian 64-bit words with end-around carry — equivalently 32-bit words modulo
2**32 - 1 — with the trailing bytes zero-padded, and is 0 only when every input is 0.
Checksum fields are read and written as the u16 they are in memory; the ones-complement
sum does not care about byte order.

Helpers (net/core/filter.c):

* ``bpf_l3_csum_replace(skb, offset, from, to, flags)``: flags beyond the size field
  (``BPF_F_HDR_FIELD_MASK``) → ``-EINVAL``; an odd offset, one above 0xffff or a field
  past the packet → ``-EFAULT``; size 0 applies ``to`` as a checksum difference
  (``csum_replace_by_diff()``, ``from`` must be 0), 2 and 4 replace a 16/32-bit value
  (``csum_replace2()``/``csum_replace4()``); other sizes ``-EINVAL``.
* ``bpf_l4_csum_replace()``: the same with ``BPF_F_PSEUDO_HDR`` (the field is in the pseudo
  header: with ``CHECKSUM_COMPLETE`` the skb's checksum is updated too),
  ``BPF_F_MARK_MANGLED_0`` (a zero checksum means "none" and is left alone; a result of 0
  becomes ``CSUM_MANGLED_0``), ``BPF_F_MARK_ENFORCE`` and ``BPF_F_IPV6``
  (``inet_proto_csum_replace*()`` of net/core/utils.c).
* ``bpf_csum_diff(from, from_size, to, to_size, seed)``: ``csum_partial()`` differences,
  returned folded to 16 bits (``csum_from32to16()``), as Linux 6.18 does.
* ``bpf_csum_update(skb, csum)``: with ``CHECKSUM_COMPLETE`` adds to ``skb->csum`` and
  returns it, else ``-ENOTSUPP``; ``bpf_csum_level(skb, level)``.
"""

from __future__ import annotations

import errno

from pybpf.platform.skb_flags import (
    BPF_F_HDR_FIELD_MASK,
    BPF_F_IPV6,
    BPF_F_MARK_ENFORCE,
    BPF_F_MARK_MANGLED_0,
    BPF_F_PSEUDO_HDR,
    CSUM_MANGLED_0,
)
from pybpf.runtime.ctx.skb import SkbContext
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import ENOTSUPP, u32
from pybpf.runtime.helpers.skb_meta import (
    CHECKSUM_COMPLETE,
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SkbMeta,
    skb_of,
)

__all__ = [
    "bpf_csum_diff",
    "bpf_csum_level",
    "bpf_csum_update",
    "bpf_l3_csum_replace",
    "bpf_l4_csum_replace",
    "csum16_add",
    "csum_add",
    "csum_block_add",
    "csum_fold",
    "csum_from32to16",
    "csum_partial",
    "csum_replace2",
    "csum_replace4",
    "csum_replace_by_diff",
    "csum_sub",
]

M32 = 0xFFFFFFFF
BPF_CSUM_LEVEL_QUERY, BPF_CSUM_LEVEL_INC, BPF_CSUM_LEVEL_DEC, BPF_CSUM_LEVEL_RESET = range(4)
SKB_MAX_CSUM_LEVEL = 3


def csum_add(csum: int, addend: int) -> int:
    """``csum_add()``: 32-bit add with the carry folded back in."""
    res = (csum + addend) & M32
    return (res + (res < (addend & M32))) & M32


def csum_sub(csum: int, addend: int) -> int:
    """``csum_sub()``: ``csum_add(csum, ~addend)``."""
    return csum_add(csum, ~addend & M32)


def csum16_add(csum: int, addend: int) -> int:
    """``csum16_add()`` on 16-bit values."""
    res = (csum + addend) & 0xFFFF
    return (res + (res < (addend & 0xFFFF))) & 0xFFFF


def csum_fold(csum: int) -> int:
    """``csum_fold()``: fold 32 bits to 16 with end-around carry, then complement."""
    csum &= M32
    folded = (csum + (((csum >> 16) | (csum << 16)) & M32)) & M32
    return ~(folded >> 16) & 0xFFFF


def csum_from32to16(csum: int) -> int:
    """``csum_from32to16()``: fold 32 bits to 16 with end-around carry (no complement)."""
    csum &= M32
    folded = (csum + (((csum >> 16) | (csum << 16)) & M32)) & M32
    return folded >> 16


def csum_partial(data: bytes, seed: int = 0) -> int:
    """``csum_partial()`` of x86_64: 32-bit partial sum of ``data`` starting from ``seed``."""
    if len(data) % 4:
        data = bytes(data) + bytes(4 - len(data) % 4)
    total = (seed & M32) + sum(int.from_bytes(data[i : i + 4], "little")
                              for i in range(0, len(data), 4))
    if total == 0:
        return 0
    return (total - 1) % M32 + 1


def csum_block_add(csum: int, csum2: int, offset: int) -> int:
    """``csum_block_add()``: add a partial sum computed at byte ``offset``."""
    csum2 &= M32
    if offset & 1:
        csum2 = ((csum2 >> 8) | (csum2 << 24)) & M32
    return csum_add(csum, csum2)


def csum_replace4(check: int, old: int, new: int) -> int:
    """``csum_replace4()``: the checksum field after a 32-bit value changed."""
    tmp = csum_sub(~check & M32, old & M32)
    return csum_fold(csum_add(tmp, new & M32))


def csum_replace2(check: int, old: int, new: int) -> int:
    """``csum_replace2()``: the checksum field after a 16-bit value changed."""
    return ~csum16_add(csum16_add(~check & 0xFFFF, ~old & 0xFFFF), new & 0xFFFF) & 0xFFFF


def csum_replace_by_diff(check: int, diff: int) -> int:
    """``csum_replace_by_diff()``: apply a 32-bit checksum difference."""
    return csum_fold(csum_add(diff & M32, ~check & M32))


def _field(state: ExecState, r2: int, helper: str) -> tuple[SkbContext, SkbMeta, int] | int:
    """The skb, its state and the buffer offset of the 16-bit checksum field, or -errno."""
    ctx, meta = skb_of(state, helper)
    offset = u32(r2)
    if offset > 0xFFFF or offset & 1 or offset + 2 > len(ctx.packet):
        return -errno.EFAULT
    return ctx, meta, ctx.packet.data + offset


def _load16(buf: bytearray, at: int) -> int:
    return int.from_bytes(buf[at : at + 2], "little")


def bpf_l3_csum_replace(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l3_csum_replace(skb, offset, from, to, flags): 0 or ``-errno``."""
    flags = r5
    if flags & ~BPF_F_HDR_FIELD_MASK:
        return -errno.EINVAL
    found = _field(state, r2, "bpf_l3_csum_replace")
    if isinstance(found, int):
        return found
    ctx, _meta, at = found
    buf = ctx.packet.buf
    check = _load16(buf, at)
    size = flags & BPF_F_HDR_FIELD_MASK
    if size == 0:
        if r3:
            return -errno.EINVAL
        new = csum_replace_by_diff(check, r4)
    elif size == 2:
        new = csum_replace2(check, r3, r4)
    elif size == 4:
        new = csum_replace4(check, r3, r4)
    else:
        return -errno.EINVAL
    buf[at : at + 2] = new.to_bytes(2, "little")
    return 0


def bpf_l4_csum_replace(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_l4_csum_replace(skb, offset, from, to, flags): 0 or ``-errno``."""
    flags = r5
    allowed = (BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR
               | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6)
    if flags & ~allowed:
        return -errno.EINVAL
    found = _field(state, r2, "bpf_l4_csum_replace")
    if isinstance(found, int):
        return found
    ctx, meta, at = found
    buf = ctx.packet.buf
    pseudo = bool(flags & BPF_F_PSEUDO_HDR)
    mmzero = bool(flags & BPF_F_MARK_MANGLED_0)
    check = _load16(buf, at)
    if mmzero and not flags & BPF_F_MARK_ENFORCE and not check:
        return 0
    size = flags & BPF_F_HDR_FIELD_MASK
    if size == 0:
        if r3:
            return -errno.EINVAL
        new = _proto_replace_by_diff(meta, check, r4 & M32, pseudo, bool(flags & BPF_F_IPV6))
    elif size in (2, 4):
        mask = 0xFFFF if size == 2 else M32  # inet_proto_csum_replace2() widens to 32 bits
        new = _proto_replace4(meta, check, r3 & mask, r4 & mask, pseudo)
    else:
        return -errno.EINVAL
    if mmzero and not new:
        new = CSUM_MANGLED_0
    buf[at : at + 2] = new.to_bytes(2, "little")
    return 0


def _proto_replace4(meta: SkbMeta, check: int, old: int, new: int, pseudo: bool) -> int:
    """``inet_proto_csum_replace4()``."""
    ip_summed = meta.ip_summed
    if ip_summed != CHECKSUM_PARTIAL:
        result = csum_replace4(check, old, new)
        if ip_summed == CHECKSUM_COMPLETE and pseudo:
            meta.csum = ~csum_add(csum_sub(~meta.csum & M32, old), new) & M32
        return result
    if pseudo:
        return ~csum_fold(csum_add(csum_sub(check, old), new)) & 0xFFFF
    return check


def _proto_replace_by_diff(meta: SkbMeta, check: int, diff: int, pseudo: bool,
                           ipv6: bool) -> int:
    """``inet_proto_csum_replace_by_diff()``."""
    ip_summed = meta.ip_summed
    if ip_summed != CHECKSUM_PARTIAL:
        result = csum_replace_by_diff(check, diff)
        if ip_summed == CHECKSUM_COMPLETE and pseudo and not ipv6:
            meta.csum = ~csum_sub(diff, meta.csum) & M32
        return result
    if pseudo:
        return ~csum_fold(csum_add(diff, check)) & 0xFFFF
    return check


def bpf_csum_diff(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_diff(from, from_size, to, to_size, seed): the 16-bit folded difference."""
    from_size, to_size, seed = u32(r2), u32(r4), r5 & M32
    mem = state.memory
    if from_size and to_size:
        to_sum = csum_partial(mem.read_bytes(r3, to_size, state.pc), seed)
        ret = csum_sub(to_sum, csum_partial(mem.read_bytes(r1, from_size, state.pc), 0))
    elif to_size:
        ret = csum_partial(mem.read_bytes(r3, to_size, state.pc), seed)
    elif from_size:
        ret = ~csum_partial(mem.read_bytes(r1, from_size, state.pc), ~seed & M32) & M32
    else:
        ret = seed
    return csum_from32to16(ret)


def bpf_csum_update(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_update(skb, csum): the new ``skb->csum``, or ``-ENOTSUPP``."""
    _ctx, meta = skb_of(state, "bpf_csum_update")
    if meta.ip_summed == CHECKSUM_COMPLETE:
        meta.csum = csum_add(meta.csum, r2 & M32)
        return meta.csum
    return -ENOTSUPP


def bpf_csum_level(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_csum_level(skb, level): query or change ``csum_level`` of ``CHECKSUM_UNNECESSARY``."""
    _ctx, meta = skb_of(state, "bpf_csum_level")
    level = r2
    if level == BPF_CSUM_LEVEL_QUERY:
        return meta.csum_level if meta.ip_summed == CHECKSUM_UNNECESSARY else -errno.EACCES
    if level == BPF_CSUM_LEVEL_INC:  # __skb_incr_checksum_unnecessary()
        if meta.ip_summed == CHECKSUM_UNNECESSARY:
            if meta.csum_level < SKB_MAX_CSUM_LEVEL:
                meta.csum_level += 1
        elif meta.ip_summed == CHECKSUM_NONE:
            meta.ip_summed = CHECKSUM_UNNECESSARY
            meta.csum_level = 0
    elif level == BPF_CSUM_LEVEL_DEC:  # __skb_decr_checksum_unnecessary()
        if meta.ip_summed == CHECKSUM_UNNECESSARY:
            if meta.csum_level == 0:
                meta.ip_summed = CHECKSUM_NONE
            else:
                meta.csum_level -= 1
    elif level == BPF_CSUM_LEVEL_RESET:  # __skb_reset_checksum_unnecessary()
        if meta.ip_summed == CHECKSUM_UNNECESSARY:
            meta.ip_summed = CHECKSUM_NONE
            meta.csum_level = 0
    else:
        return -errno.EINVAL
    return 0
