"""Names of program return values per program type (XDP actions, tc actions...).

From include/uapi/linux/bpf.h (``enum xdp_action``) and include/uapi/linux/pkt_cls.h
(``TC_ACT_*``). Socket filters return how many bytes of the packet to keep (0 drops it);
cgroup_skb programs return 1 to allow and 0 to drop.
"""

from __future__ import annotations

from pybpf.platform.enums import ProgType

XDP_ACTIONS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
TC_ACTIONS = {
    -1: "TC_ACT_UNSPEC", 0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY", 2: "TC_ACT_SHOT",
    3: "TC_ACT_PIPE", 4: "TC_ACT_STOLEN", 5: "TC_ACT_QUEUED", 6: "TC_ACT_REPEAT",
    7: "TC_ACT_REDIRECT", 8: "TC_ACT_TRAP",
}


def verdict_name(prog_type: int | None, retval: int) -> str:
    """A readable name for ``retval`` (the low 32 bits of r0) of a program of ``prog_type``."""
    signed = retval - (1 << 32) if retval & 0x80000000 else retval
    if prog_type == ProgType.XDP:
        return XDP_ACTIONS.get(retval, f"unknown XDP action {retval}")
    if prog_type in (ProgType.SCHED_CLS, ProgType.SCHED_ACT):
        return TC_ACTIONS.get(signed, f"tc action {signed}")
    if prog_type == ProgType.SOCKET_FILTER:
        return "drop" if retval == 0 else f"keep {retval} bytes" if retval < 0xFFFF else "keep all"
    if prog_type == ProgType.CGROUP_SKB:
        return {0: "drop", 1: "allow"}.get(retval, f"{retval}")
    return str(signed)


def passes(prog_type: int | None, retval: int) -> bool:
    """Whether the packet leaves the program (for writing an output capture)."""
    signed = retval - (1 << 32) if retval & 0x80000000 else retval
    if prog_type == ProgType.XDP:
        return retval in (2, 3, 4)
    if prog_type in (ProgType.SCHED_CLS, ProgType.SCHED_ACT):
        return signed in (-1, 0, 3, 7)
    return retval != 0
