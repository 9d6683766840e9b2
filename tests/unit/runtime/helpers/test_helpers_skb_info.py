"""Flow hash, socket cookie/uid, cgroup classid/id, route realm, netns cookie."""

from __future__ import annotations

from helpers_support import TCP4, TCP6, UDP4, load
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from pybpf.platform.ctx_layouts import CTX_STRUCTS
from pybpf.platform.enums import ProgType
from pybpf.runtime.helpers import Task
from pybpf.runtime.helpers.env import HelperEnv

TC = ProgType.SCHED_CLS
HASH = CTX_STRUCTS["__sk_buff"].offsetof("hash")


def value(text: str, data: bytes = UDP4, **kw: object) -> int:
    interp, prog = load(text, TC)
    for name, obj in kw.items():
        setattr(interp.state, name, obj)
    return prog.test_run(data=data).r0


def test_flow_hash_is_stable_nonzero_and_symmetric() -> None:
    _interp, prog = load("r6 = r1\ncall bpf_get_hash_recalc\nexit", TC)
    first = prog.test_run(data=TCP4).r0
    assert first != 0 and first == prog.test_run(data=TCP4).r0
    reverse = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="192.168.0.2", dst="192.168.0.1") / TCP(sport=5555,
                                                                             dport=443))
    assert prog.test_run(data=reverse).r0 == first
    assert prog.test_run(data=TCP6).r0 != 0


def test_set_hash_overrides_and_invalidation_recomputes() -> None:
    text = f"""
    r6 = r1
    r2 = 0xabcdef
    call bpf_set_hash
    r1 = r6
    call bpf_get_hash_recalc
    r7 = r0
    r1 = r6
    call bpf_set_hash_invalid
    r8 = *(u32 *)(r6 + {HASH})
    r1 = r6
    call bpf_get_hash_recalc
    r0 <<= 32
    r7 |= r8
    r0 |= r7
    exit
    """
    got = value(text)
    assert got & 0xFFFFFFFF == 0xABCDEF  # the set hash, then 0 after invalidation
    assert got >> 32 != 0


def test_socket_and_namespace_identity() -> None:
    env = HelperEnv(net_cookie=77)
    assert value("call bpf_get_netns_cookie\nexit", env=env) == 77
    cookie = value("call bpf_get_socket_cookie\nexit", env=env)
    assert cookie == 4097
    assert value("call bpf_get_socket_uid\nexit") == 0
    task = Task(pid=1, tgid=1, classid=0x10002, cgroup_ancestry=(1, 5))
    assert value("call bpf_get_cgroup_classid\nexit", task=task) == 0x10002
    assert value("call bpf_skb_cgroup_id\nexit", task=task) == 5
    assert value("call bpf_get_route_realm\nexit") == 0
