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
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.base import Formatter, MapBase
from pybpf.runtime.maps.flags import MapFlag, UpdateFlag
from pybpf.runtime.maps.slab import Slab
from pybpf.runtime.memory import Memory

__all__ = ["LpmTrie", "TrieNode"]


@dataclass(slots=True, eq=False)
class TrieNode:
    """``struct lpm_trie_node``: ``addr`` is the value slot (0 for intermediate nodes)."""

    prefixlen: int
    data: bytes
    addr: int = 0
    im: bool = False
    child: list[TrieNode | None] = field(default_factory=lambda: [None, None])


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
        if parent is None:
            self.root = node
        else:
            parent.child[idx] = node

    def _find(self, prefixlen: int, data: bytes) -> TrieNode | None:
        """trie_lookup_elem()."""
        if prefixlen > self.max_prefixlen:
            return None
        found = None
        node = self.root
        while node is not None:
            matchlen = self._match(node, prefixlen, data)
            if matchlen == self.max_prefixlen:
                return node
            if matchlen < node.prefixlen:
                break
            if not node.im:
                found = node
            node = node.child[_bit(data, node.prefixlen)]
        return found

    # -- helper-facing ---------------------------------------------------------------------------
    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        node = self._find(*self._split(key))
        return 0 if node is None else node.addr

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
        if node is None:
            self._set(parent, idx, new)
        elif node.prefixlen == matchlen:
            new.child = [node.child[0], node.child[1]]
            self._set(parent, idx, new)
            if node.addr:
                self.slab.free(node.addr)
        elif matchlen == prefixlen:
            new.child[_bit(node.data, matchlen)] = node
            self._set(parent, idx, new)
        else:
            im = TrieNode(matchlen, node.data, 0, True)
            if _bit(data, matchlen):
                im.child = [node, new]
            else:
                im.child = [new, node]
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
            return 0
        if (parent is not None and parent.im and node.child[0] is None
                and node.child[1] is None):
            other = parent.child[1] if parent.child[0] is node else parent.child[0]
            self._set(grand, gidx, other)
            return 0
        self._set(parent, idx, node.child[0] or node.child[1])
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

    def close(self) -> None:
        self.slab.close()
        super().close()

    # -- Python-facing ----------------------------------------------------------------------------
    def _sys_lookup(self, key: bytes) -> Any:
        node = self._find(*self._split(key))
        return None if node is None else self.slab.read(node.addr, self.value_size)

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self.update_elem(key, value, flags)

    def __len__(self) -> int:
        return self.n_entries
