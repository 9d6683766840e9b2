"""``BPF_MAP_TYPE_LPM_TRIE``: longest-prefix match over ``struct bpf_lpm_trie_key_u8`` keys.

A key is a host-endian ``u32 prefixlen`` followed by ``key_size - 4`` data bytes, read
most-significant bit first (big endian, as IP addresses). Mirrors kernel/bpf/lpm_trie.c of
Linux 6.18: trie_lookup_elem() (the deepest non-intermediate node matching the key; prefixlen
above ``8 * data_size`` finds nothing), trie_update_elem() (flags above ``BPF_EXIST`` and too
long prefixes → EINVAL; ``BPF_NOEXIST`` on an existing prefix → EEXIST; ``BPF_EXIST`` on a
missing one → ENOENT; a new prefix in a full trie → ENOSPC; intermediate nodes are created
and reused as the kernel does), trie_delete_elem() (ENOENT; removes now useless intermediate
nodes) and trie_get_next_key() (post-order: more specific prefixes before less specific ones,
left (0) before right (1) subtrees; a missing or invalid key restarts at the leftmost node).

The data bytes a node keeps are the whole key data given at insertion (bits past the prefix
included), which is what get_next_key returns, as in the kernel. A Python lookup (``m[key]``,
``key in m``) is the syscall lookup, i.e. also a longest-prefix match. Values live in
:class:`~.slab.Slab` slots with deferred reuse (RCU-like, see :mod:`.slab`).

Each node also has a record in native memory (:class:`NodeRecords`, the layout of
:data:`pybpf.native.layout.LPM_NODE`; the map's :class:`~pybpf.native.layout.NativeMap` names
the root's), written here whenever the trie changes — a new node's record before anything
links to it, as the kernel publishes nodes under RCU — and retired with the same deferred
reuse as values. The lookup walks those records: ``pb_lpm_lookup`` of the native library
(:mod:`pybpf.native.lpm_ir`) is the one ``trie_lookup_elem()``, for Python, the interpreter
and compiled programs alike; updates, deletes and iteration walk the Python nodes.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pybpf.native.layout import LPM_NODE, LPM_NODE_IM, MapKind, NativeMap
from pybpf.native.library import library
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.codec import round_up
from pybpf.runtime.maps.flags import MapFlag, UpdateFlag
from pybpf.runtime.maps.native_table import Buffer
from pybpf.runtime.maps.slab import Slab
from pybpf.runtime.memory import Memory

__all__ = ["LpmTrie", "NodeRecords", "TrieNode"]

#: child[0], child[1], value, prefixlen, flags (:data:`LPM_NODE`).
_RECORD = struct.Struct("<QQQII")
assert _RECORD.size == LPM_NODE["data"]


@dataclass(slots=True, eq=False)
class TrieNode:
    """``struct lpm_trie_node``: ``addr`` is the value slot (0 for intermediate nodes),
    ``rec`` the host address of its native record (0 until it is written)."""

    prefixlen: int
    data: bytes
    addr: int = 0
    im: bool = False
    child: list[TrieNode | None] = field(default_factory=lambda: [None, None])
    rec: int = 0


class NodeRecords:
    """The nodes' records in native memory, with grace-period reuse (as :class:`Slab`'s:
    a retired record is reused after :meth:`synchronize`, or, when every record is taken,
    the oldest retired one early)."""

    def __init__(self, data_size: int, limit: int) -> None:
        self.data_size = data_size
        self.rec_size = LPM_NODE["data"] + round_up(max(data_size, 1), 8)
        self.limit = max(limit, 1)
        self._buf = Buffer(self.rec_size * self.limit)
        self._view = memoryview(self._buf.map)
        self._fresh = 0
        self._free: list[int] = []
        self._pending: deque[int] = deque()

    def write(self, node: TrieNode) -> None:
        """Write ``node``'s record (allocating it on first use)."""
        if not node.rec:
            node.rec = self._alloc()
        off = node.rec - self._buf.address
        left, right = node.child
        _RECORD.pack_into(self._view, off, left.rec if left is not None else 0,
                          right.rec if right is not None else 0, node.addr, node.prefixlen,
                          LPM_NODE_IM if node.im else 0)
        start = off + LPM_NODE["data"]
        self._view[start : start + self.data_size] = node.data

    def _alloc(self) -> int:
        if self._free:
            index = self._free.pop()
        elif self._fresh < self.limit:
            index = self._fresh
            self._fresh += 1
        else:
            index = self._pending.popleft()
        return self._buf.address + index * self.rec_size

    def retire(self, node: TrieNode) -> None:
        """``node`` is unlinked: its record is reused after the grace period."""
        if node.rec:
            self._pending.append((node.rec - self._buf.address) // self.rec_size)
            node.rec = 0

    def synchronize(self) -> None:
        self._free.extend(self._pending)
        self._pending.clear()


def _bit(data: bytes, index: int) -> int:
    """extract_bit()."""
    return (data[index // 8] >> (7 - index % 8)) & 1


class LpmTrie(MapBase):
    """A longest-prefix-match trie map."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        super().__init__(spec, memory, ncpus=ncpus, formatter=formatter)
        self.data_size = self.key_size - 4
        self.max_prefixlen = 8 * self.data_size
        self.root: TrieNode | None = None
        self.n_entries = 0
        writable = not (spec.read_only or self.flags & MapFlag.RDONLY_PROG)
        self.slab = Slab(memory, f"map '{self.name}'", self.value_size,
                         2 * self.max_entries + 1, writable=writable)
        # live nodes: the entries and at most one intermediate node fewer; as many again
        # may wait for their grace period
        self.records = NodeRecords(self.data_size, 4 * self.max_entries + 2)
        self.native = NativeMap(kind=MapKind.LPM_TRIE, key_size=self.key_size,
                                value_size=self.value_size, max_entries=self.max_entries)
        self._lookup = library().fn["pb_lpm_lookup"]
        self._native_address = ctypes.addressof(self.native)
        self._publish()

    # -- pieces of the kernel's walk ---------------------------------------------------------------
    def _split(self, key: bytes) -> tuple[int, bytes]:
        return int.from_bytes(key[:4], "little"), key[4:]

    def _match(self, node: TrieNode, prefixlen: int, data: bytes) -> int:
        """longest_prefix_match(): common leading bits, at most both prefix lengths."""
        diff = int.from_bytes(node.data, "big") ^ int.from_bytes(data, "big")
        same = self.max_prefixlen - diff.bit_length()
        return min(same, node.prefixlen, prefixlen)

    def _get(self, parent: TrieNode | None, idx: int) -> TrieNode | None:
        return self.root if parent is None else parent.child[idx]

    def _set(self, parent: TrieNode | None, idx: int, node: TrieNode | None) -> None:
        """``rcu_assign_pointer(*slot, node)``: in the Python nodes and in the records
        (``node``'s own record must be written already)."""
        if parent is None:
            self.root = node
            self.native.trie = node.rec if node is not None else 0
        else:
            parent.child[idx] = node
            self.records.write(parent)

    # -- helper-facing ---------------------------------------------------------------------------
    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        """trie_lookup_elem() (:mod:`pybpf.native.lpm_ir`): the value address, or 0."""
        if len(key) != self.key_size:
            key = bytes(key[: self.key_size]).ljust(self.key_size, b"\0")
        return int(self._lookup(self._native_address, key))

    def _check_add(self, flags: int) -> int:
        """trie_check_add_elem()."""
        if flags == UpdateFlag.EXIST:
            return -errno.ENOENT
        if self.n_entries == self.max_entries:
            return -errno.ENOSPC
        self.n_entries += 1
        return 0

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """trie_update_elem()."""
        if flags > UpdateFlag.EXIST:
            return -errno.EINVAL
        prefixlen, data = self._split(key)
        if prefixlen > self.max_prefixlen:
            return -errno.EINVAL
        parent: TrieNode | None = None
        idx = 0
        matchlen = 0
        node = self.root
        while node is not None:
            matchlen = self._match(node, prefixlen, data)
            if node.prefixlen != matchlen or node.prefixlen == prefixlen:
                break
            parent, idx = node, _bit(data, node.prefixlen)
            node = node.child[idx]
        if node is not None and node.prefixlen == matchlen and not node.im:
            if flags == UpdateFlag.NOEXIST:
                return -errno.EEXIST
        else:
            ret = self._check_add(flags)
            if ret:
                return ret
        new = TrieNode(prefixlen, bytes(data), self.slab.alloc())
        self.slab.write(new.addr, value[: self.value_size])
        records = self.records
        if node is None:
            records.write(new)
            self._set(parent, idx, new)
        elif node.prefixlen == matchlen:
            new.child = [node.child[0], node.child[1]]
            records.write(new)
            self._set(parent, idx, new)
            if node.addr:
                self.slab.free(node.addr)
            records.retire(node)
        elif matchlen == prefixlen:
            new.child[_bit(node.data, matchlen)] = node
            records.write(new)
            self._set(parent, idx, new)
        else:
            im = TrieNode(matchlen, node.data, 0, True)
            if _bit(data, matchlen):
                im.child = [node, new]
            else:
                im.child = [new, node]
            records.write(new)
            records.write(im)
            self._set(parent, idx, im)
        return 0

    def delete_elem(self, key: bytes) -> int:
        """trie_delete_elem()."""
        prefixlen, data = self._split(key)
        if prefixlen > self.max_prefixlen:
            return -errno.EINVAL
        grand: TrieNode | None = None  # owner of the slot holding parent (trim2)
        gidx = 0
        parent: TrieNode | None = None  # owner of the slot holding node (trim)
        idx = 0
        matchlen = 0
        node = self.root
        while node is not None:
            matchlen = self._match(node, prefixlen, data)
            if node.prefixlen != matchlen or node.prefixlen == prefixlen:
                break
            grand, gidx = parent, idx
            parent, idx = node, _bit(data, node.prefixlen)
            node = node.child[idx]
        if (node is None or node.prefixlen != prefixlen or node.prefixlen != matchlen
                or node.im):
            return -errno.ENOENT
        self.n_entries -= 1
        self.slab.free(node.addr)
        if node.child[0] is not None and node.child[1] is not None:
            node.im = True
            node.addr = 0
            self.records.write(node)
            return 0
        if (parent is not None and parent.im and node.child[0] is None
                and node.child[1] is None):
            other = parent.child[1] if parent.child[0] is node else parent.child[0]
            self._set(grand, gidx, other)
            self.records.retire(parent)
            self.records.retire(node)
            return 0
        self._set(parent, idx, node.child[0] or node.child[1])
        self.records.retire(node)
        return 0

    def get_next_key(self, key: bytes | None) -> bytes | None:
        """trie_get_next_key(): post-order."""
        search_root = self.root
        if search_root is None:
            return None
        start: TrieNode | None = search_root
        if key is not None:
            prefixlen, data = self._split(key)
            if prefixlen <= self.max_prefixlen:
                stack: list[TrieNode] = []
                matchlen = 0
                node: TrieNode | None = search_root
                while node is not None:
                    stack.append(node)
                    matchlen = self._match(node, prefixlen, data)
                    if node.prefixlen != matchlen or node.prefixlen == prefixlen:
                        break
                    node = node.child[_bit(data, node.prefixlen)]
                if node is not None and node.prefixlen == matchlen and not node.im:
                    node = stack[-1]
                    while len(stack) > 1:
                        parent = stack[-2]
                        if parent.child[0] is node and parent.child[1] is not None:
                            start = parent.child[1]
                            break
                        if not parent.im:
                            return self._key_of(parent)
                        node = parent
                        stack.pop()
                    else:
                        return None
        return self._key_of(self._leftmost(start))

    @staticmethod
    def _leftmost(node: TrieNode | None) -> TrieNode:
        """The find_leftmost walk: the first node in post-order below ``node``."""
        found = None
        while node is not None:
            if node.im:
                node = node.child[0]
            else:
                found = node
                node = node.child[0] if node.child[0] is not None else node.child[1]
        assert found is not None
        return found

    @staticmethod
    def _key_of(node: TrieNode) -> bytes:
        return node.prefixlen.to_bytes(4, "little") + node.data

    def synchronize_rcu(self) -> None:
        self.slab.synchronize()
        self.records.synchronize()

    def close(self) -> None:
        self.slab.close()
        super().close()

    # -- Python-facing ----------------------------------------------------------------------------
    def _sys_lookup(self, key: bytes) -> Any:
        addr = self.lookup_elem(key)
        return None if addr == 0 else self.slab.read(addr, self.value_size)

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self.update_elem(key, value, flags)

    def __len__(self) -> int:
        return self.n_entries
