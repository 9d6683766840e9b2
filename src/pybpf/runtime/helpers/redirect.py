"""Redirects: bpf_redirect(), bpf_redirect_map(), bpf_clone_redirect(), redirect_peer/neigh.

Mirrors net/core/filter.c and include/linux/filter.h of Linux 6.18. A redirect helper only
records where the packet should go (the kernel's per-CPU ``bpf_redirect_info``) and returns
the action the program should return; here the target is recorded on the context object as
``context.redirect`` (read back by test_run as :attr:`TestRunResult.redirect`):
``("ifindex", n)`` (``("ingress", n)`` with ``BPF_F_INGRESS``), ``("cpu", n)``, ``("xsk", n)``,
``("peer", n)``, ``("neigh", n)`` or ``("broadcast", exclude_ingress)``.

* XDP ``bpf_redirect(ifindex, flags)`` (``bpf_xdp_redirect()``): any flag → ``XDP_ABORTED``,
  else ``XDP_REDIRECT``.
* tc ``bpf_redirect(ifindex, flags)``: flags other than ``BPF_F_INGRESS`` → ``TC_ACT_SHOT``,
  else ``TC_ACT_REDIRECT`` (the device is looked up later, by ``skb_do_redirect()``).
* ``bpf_redirect_map(map, key, flags)`` (``__bpf_xdp_redirect_map()``): the low two bits
  of ``flags`` are the action returned when the key has no entry (and the recorded target
  is cleared); devmaps also take ``BPF_F_BROADCAST``/``BPF_F_EXCLUDE_INGRESS``; any other
  flag → ``XDP_ABORTED``; otherwise ``XDP_REDIRECT``.
* ``bpf_clone_redirect(skb, ifindex, flags)``: ``-EINVAL`` for flags other than
  ``BPF_F_INGRESS`` or a device that does not exist, ``-EBADMSG`` for a GSO skb without a GSO
  type; otherwise the clone is "sent" (recorded in ``context.clone_redirects`` as
  ``(ifindex, ingress, bytes)``) and 0 returned. Not modelled: transmit errors of the
  target device.
"""

from __future__ import annotations

import errno

from pybpf.errors import ExecutionFault
from pybpf.runtime.ctx.xdp import XdpContext
from pybpf.runtime.execstate import ExecState
from pybpf.runtime.helpers.abi import s32, u32
from pybpf.runtime.helpers.env import env_of
from pybpf.runtime.helpers.maps import map_arg
from pybpf.runtime.helpers.skb_meta import skb_of
from pybpf.runtime.maps import CpuMap, DevMap, DevMapHash, XskMap
from pybpf.runtime.maps.redirect import BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS

__all__ = [
    "BPF_F_BROADCAST",
    "BPF_F_EXCLUDE_INGRESS",
    "BPF_F_INGRESS",
    "REDIR_NEIGH_SIZE",
    "bpf_clone_redirect",
    "bpf_redirect",
    "bpf_redirect_map",
    "bpf_redirect_neigh",
    "bpf_redirect_peer",
]

XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)
TC_ACT_SHOT = 2
TC_ACT_REDIRECT = 7
BPF_F_INGRESS = 1 << 0
_XDP_ACTION_MASK = XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX
#: sizeof(struct bpf_redir_neigh)
REDIR_NEIGH_SIZE = 20


def _record(ctx: object, target: tuple[str, int] | None) -> None:
    ctx.redirect = target  # type: ignore[attr-defined]


def bpf_redirect(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect(ifindex, flags): ``bpf_xdp_redirect()`` for XDP, else the tc variant."""
    ctx = state.context
    ifindex, flags = u32(r1), r2
    if isinstance(ctx, XdpContext):
        if flags:
            return XDP_ABORTED
        _record(ctx, ("ifindex", ifindex))
        return XDP_REDIRECT
    if flags & ~BPF_F_INGRESS:
        return TC_ACT_SHOT
    if ctx is not None:
        _record(ctx, ("ingress" if flags & BPF_F_INGRESS else "ifindex", ifindex))
    return TC_ACT_REDIRECT


def bpf_redirect_peer(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect_peer(ifindex, flags): ``TC_ACT_SHOT`` for any flag, else redirect."""
    if r2:
        return TC_ACT_SHOT
    if state.context is not None:
        _record(state.context, ("peer", u32(r1)))
    return TC_ACT_REDIRECT


def bpf_redirect_neigh(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect_neigh(ifindex, params, plen, flags): ``TC_ACT_SHOT`` for bad arguments."""
    plen = s32(r3)
    if (plen and plen < REDIR_NEIGH_SIZE) or r4:
        return TC_ACT_SHOT
    if state.context is not None:
        _record(state.context, ("neigh", u32(r1)))
    return TC_ACT_REDIRECT


def bpf_redirect_map(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_redirect_map(map, key, flags): ``XDP_REDIRECT``, the fallback action, or aborted."""
    m = map_arg(state, r1, "bpf_redirect_map")
    key, flags = u32(r2), r3
    if isinstance(m, (DevMap, DevMapHash)):
        flag_mask = BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS
    elif isinstance(m, (CpuMap, XskMap)):
        flag_mask = 0
    else:
        raise ExecutionFault("bpf_redirect_map(): map is not a devmap, cpumap or xskmap",
                             pc=state.pc)
    if flags & ~(_XDP_ACTION_MASK | flag_mask):
        return XDP_ABORTED
    ctx = state.context
    entry = m.redirect_target(key)
    if entry is None and not flags & BPF_F_BROADCAST:
        if ctx is not None:
            _record(ctx, None)
        return flags & _XDP_ACTION_MASK
    if ctx is not None:
        if flags & BPF_F_BROADCAST:
            target = ("broadcast", 1 if flags & BPF_F_EXCLUDE_INGRESS else 0)
        elif isinstance(m, CpuMap):
            target = ("cpu", key)
        elif isinstance(m, XskMap):
            target = ("xsk", key)
        else:
            target = ("ifindex", int(getattr(entry, "ifindex", key)))
        _record(ctx, target)
    return XDP_REDIRECT


def bpf_clone_redirect(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_clone_redirect(skb, ifindex, flags): 0 or ``-errno``."""
    skb, meta = skb_of(state, "bpf_clone_redirect")
    ifindex, flags = u32(r2), r3
    if flags & ~BPF_F_INGRESS:
        return -errno.EINVAL
    if skb.region.get("gso_size") and not meta.gso_type:  # test runs make type-less GSO skbs
        return -errno.EBADMSG
    if not env_of(state).device_exists(ifindex):
        return -errno.EINVAL
    clones = getattr(skb, "clone_redirects", None)
    if clones is None:
        clones = []
        skb.clone_redirects = clones  # type: ignore[attr-defined]
    clones.append((ifindex, bool(flags & BPF_F_INGRESS), skb.packet.bytes()))
    return 0
