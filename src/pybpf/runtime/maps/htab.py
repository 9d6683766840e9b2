"""The bucket table under every hash-like map: buckets, hashing and key iteration order.

Mirrors the parts of kernel/bpf/hashtab.c that decide order: ``n_buckets`` is
``roundup_pow_of_two(max_entries)``, an element goes to bucket ``hash & (n_buckets - 1)`` with
``hash = jhash(key, key_size, hashrnd)`` (htab_map_hash()), new elements are added at the HEAD
of their bucket (hlist_nulls_add_head_rcu()), and htab_map_get_next_key() walks the rest of the
key's bucket, then the following buckets; a key that is not in the map restarts from the first
element of bucket 0, and the end is ENOENT.

``hashrnd`` is random in the kernel unless the map has ``BPF_F_ZERO_SEED``; pybpf always uses 0,
so the order of every pybpf hash map is the one a kernel map created with ``BPF_F_ZERO_SEED``
has for the same operations (this is what the differential tests compare).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import Generic, Protocol, TypeVar

from pybpf.runtime.maps.jhash import jhash

__all__ = ["Elem", "HashTable", "roundup_pow_of_two"]


class Elem(Protocol):
    """What the table needs of an element: its key and its hash."""

    key: bytes
    hash: int


E = TypeVar("E", bound=Elem)


def roundup_pow_of_two(n: int) -> int:
    """roundup_pow_of_two() of include/linux/log2.h (1 for 0 and 1)."""
    return 1 << max(n - 1, 0).bit_length()


class HashTable(Generic[E]):
    """Buckets (each a list, head first) plus a dict index for exact-key lookups.

    Only non-empty buckets are stored (``buckets`` by number, ``used`` their sorted numbers),
    so a table of 2**27 buckets costs nothing until it fills.
    """

    __slots__ = ("buckets", "hashrnd", "index", "mask", "n_buckets", "used")

    def __init__(self, max_entries: int, hashrnd: int = 0) -> None:
        self.n_buckets = roundup_pow_of_two(max_entries)
        self.mask = self.n_buckets - 1
        self.hashrnd = hashrnd
        self.buckets: dict[int, list[E]] = {}
        self.used: list[int] = []
        self.index: dict[bytes, E] = {}

    def _bucket(self, number: int) -> list[E]:
        bucket = self.buckets.get(number)
        if bucket is None:
            bucket = self.buckets[number] = []
            insort(self.used, number)
        return bucket

    def _drop_if_empty(self, number: int) -> None:
        if not self.buckets[number]:
            del self.buckets[number]
            self.used.pop(bisect_right(self.used, number) - 1)

    def hash(self, key: bytes) -> int:
        """htab_map_hash()."""
        return jhash(key, self.hashrnd)

    def __len__(self) -> int:
        return len(self.index)

    def find(self, key: bytes) -> E | None:
        """lookup_elem_raw()."""
        return self.index.get(key)

    def add_head(self, elem: E) -> None:
        """hlist_nulls_add_head_rcu() into the element's bucket (replaces the index entry)."""
        self._bucket(elem.hash & self.mask).insert(0, elem)
        self.index[elem.key] = elem

    def replace(self, old: E, new: E) -> None:
        """Add ``new`` at the head of the bucket, then unlink ``old`` (an update that swaps)."""
        bucket = self._bucket(new.hash & self.mask)
        bucket.insert(0, new)
        for i, e in enumerate(bucket):
            if e is old:
                del bucket[i]
                break
        self.index[new.key] = new

    def unlink(self, elem: E) -> bool:
        """hlist_nulls_del_rcu(); False if ``elem`` is not linked (by identity)."""
        number = elem.hash & self.mask
        bucket = self.buckets.get(number, [])
        for i, e in enumerate(bucket):
            if e is elem:
                del bucket[i]
                self._drop_if_empty(number)
                if self.index.get(elem.key) is elem:
                    del self.index[elem.key]
                return True
        return False

    def get_next_key(self, key: bytes | None) -> bytes | None:
        """htab_map_get_next_key(); None where the kernel answers ENOENT."""
        after = -1
        if key is not None:
            elem = self.index.get(key)
            if elem is not None:
                number = elem.hash & self.mask
                bucket = self.buckets[number]
                pos = next(i for i, e in enumerate(bucket) if e is elem)
                if pos + 1 < len(bucket):
                    return bucket[pos + 1].key
                after = number
        i = bisect_right(self.used, after)
        if i < len(self.used):
            return self.buckets[self.used[i]][0].key
        return None

    def elements(self) -> list[E]:
        """All elements in get_next_key order."""
        return [e for number in self.used for e in self.buckets[number]]

    def clear(self) -> None:
        self.buckets.clear()
        self.used.clear()
        self.index.clear()
