"""The LPM trie's native lookup (pybpf.native.lpm_ir) and the node records it walks, against
the Python nodes the trie's updates and deletes keep: after every operation of random
update/delete sequences the records are the nodes (child links, prefix lengths, flags,
values, data bytes) and every lookup is the reference walk's, ``trie_lookup_elem()`` written
out over the Python nodes here. (The lookups are also compared with the kernel's in
test_maps_lpm.py.)"""

from __future__ import annotations

import ctypes
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.native.layout import LPM_NODE, LPM_NODE_IM
from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, create_map
from pybpf.runtime.maps.flags import MapFlag
from pybpf.runtime.maps.lpm import LpmTrie, TrieNode
from pybpf.runtime.memory import Memory


def reference_lookup(trie: LpmTrie, key: bytes) -> int:
    """trie_lookup_elem() over the Python nodes: the value address or 0."""
    prefixlen, data = int.from_bytes(key[:4], "little"), key[4:]
    if prefixlen > trie.max_prefixlen:
        return 0
    found = None
    node = trie.root
    while node is not None:
        diff = int.from_bytes(node.data, "big") ^ int.from_bytes(data, "big")
        matchlen = min(trie.max_prefixlen - diff.bit_length(), node.prefixlen, prefixlen)
        if matchlen == trie.max_prefixlen:
            return node.addr
        if matchlen < node.prefixlen:
            break
        if not node.im:
            found = node
        index = node.prefixlen
        node = node.child[(data[index // 8] >> (7 - index % 8)) & 1]
    return 0 if found is None else found.addr


def record_tree(trie: LpmTrie, rec: int) -> object:
    """The subtree of native records at host address ``rec``, as nested tuples."""
    if rec == 0:
        return None
    raw = ctypes.string_at(rec, LPM_NODE["data"] + trie.data_size)
    left, right, value, prefixlen, flags = struct.unpack_from("<QQQII", raw)
    return (prefixlen, bool(flags & LPM_NODE_IM), value, raw[LPM_NODE["data"]:],
            record_tree(trie, left), record_tree(trie, right))


def node_tree(node: TrieNode | None) -> object:
    if node is None:
        return None
    return (node.prefixlen, node.im, node.addr, node.data, node_tree(node.child[0]),
            node_tree(node.child[1]))


def check(trie: LpmTrie, keys: list[bytes]) -> None:
    assert record_tree(trie, trie.native.trie) == node_tree(trie.root)
    for key in keys:
        assert trie.lookup_elem(key) == reference_lookup(trie, key), key.hex()


@st.composite
def scripts(draw: st.DrawFn) -> tuple[int, int, list[tuple[str, bytes, int]], list[bytes]]:
    key_size = draw(st.sampled_from([5, 6, 8, 20]))
    bits = 8 * (key_size - 4)
    max_entries = draw(st.integers(1, 12))
    # a few data values that differ from one base in a bit or two, so that prefixes nest,
    # share bits, collide and split (intermediate nodes)
    base = int.from_bytes(draw(st.binary(min_size=key_size - 4, max_size=key_size - 4)), "big")
    # mostly near the top (so prefixes of a few bits hold several entries), anywhere too
    top = min(bits, 6)
    position = st.one_of(st.integers(bits - top, bits - 1), st.integers(0, bits - 1))
    flips = st.lists(position, max_size=2)
    datas = [(base ^ sum(1 << b for b in set(f))).to_bytes(key_size - 4, "big")
             for f in draw(st.lists(flips, min_size=1, max_size=5))]
    length = st.one_of(st.integers(0, top + 1), st.integers(0, bits + 1))
    key = st.tuples(length, st.sampled_from(datas)).map(
        lambda t: struct.pack("<I", t[0]) + t[1])
    # updates and deletes draw from a small pool of keys, so that deletes find entries
    pool = draw(st.lists(key, min_size=1, max_size=8))
    ops = draw(st.lists(st.tuples(st.sampled_from(["update", "update", "delete", "sync"]),
                                  st.sampled_from(pool),
                                  st.sampled_from([BPF_ANY, BPF_NOEXIST, BPF_EXIST])),
                        max_size=40))
    probes = draw(st.lists(key, min_size=1, max_size=12))
    return key_size, max_entries, ops, probes


@settings(max_examples=300, deadline=None)
@given(scripts())
def test_records_and_native_lookups_follow_every_change(
        script: tuple[int, int, list[tuple[str, bytes, int]], list[bytes]]) -> None:
    key_size, max_entries, ops, probes = script
    trie = create_map(MapSpec("lpm", T.LPM_TRIE, key_size, 4, max_entries, MapFlag.NO_PREALLOC),
                      Memory(), ncpus=1)
    assert isinstance(trie, LpmTrie)
    keys = probes + [k for _, k, _ in ops]
    for step, (op, key, flags) in enumerate(ops):
        if op == "update":
            trie.update_elem(key, struct.pack("<I", step), flags)
        elif op == "delete":
            trie.delete_elem(key)
        else:
            trie.synchronize_rcu()
        check(trie, keys)


def test_a_deleted_node_with_two_children_stays_as_an_intermediate_node() -> None:
    trie = create_map(MapSpec("lpm", T.LPM_TRIE, 8, 4, 4, MapFlag.NO_PREALLOC), Memory(), ncpus=1)
    assert isinstance(trie, LpmTrie)
    for prefixlen, data in ((8, b"\x0a\0\0\0"), (16, b"\x0a\x00\0\0"), (16, b"\x0a\x80\0\0")):
        trie.update_elem(struct.pack("<I", prefixlen) + data, b"vals")
    probe = struct.pack("<I", 32) + b"\x0a\x40\0\x01"  # under 10/8 only
    assert trie.lookup_elem(probe) == trie.root.addr != 0
    trie.delete_elem(struct.pack("<I", 8) + b"\x0a\0\0\0")
    assert trie.root.im and trie.lookup_elem(probe) == 0
    check(trie, [probe])


def test_an_empty_trie_and_a_too_long_prefix_find_nothing() -> None:
    trie = create_map(MapSpec("lpm", T.LPM_TRIE, 8, 4, 4, MapFlag.NO_PREALLOC), Memory(), ncpus=1)
    assert trie.native.trie == 0 and trie.lookup_elem(struct.pack("<I", 32) + bytes(4)) == 0
    trie.update_elem(struct.pack("<I", 0) + bytes(4), b"all!")
    assert trie.lookup_elem(struct.pack("<I", 32) + b"\xff" * 4) != 0
    assert trie.lookup_elem(struct.pack("<I", 33) + b"\xff" * 4) == 0


def test_records_are_reused_only_after_the_grace_period() -> None:
    trie = create_map(MapSpec("lpm", T.LPM_TRIE, 8, 4, 2, MapFlag.NO_PREALLOC), Memory(), ncpus=1)
    assert isinstance(trie, LpmTrie)
    key = struct.pack("<I", 24) + bytes([10, 0, 0, 0])
    trie.update_elem(key, b"one!")
    first = trie.root.rec
    trie.delete_elem(key)
    trie.update_elem(key, b"two!")
    second = trie.root.rec
    assert second != first  # the retired record still waits
    trie.delete_elem(key)
    trie.synchronize_rcu()
    trie.update_elem(key, b"3rd!")
    assert trie.root.rec in (first, second)  # both were free again
    assert trie.lookup_elem(struct.pack("<I", 32) + bytes([10, 0, 0, 9])) == trie.root.addr
