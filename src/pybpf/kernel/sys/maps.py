"""Maps through bpf(2): ``BPF_MAP_CREATE`` and the ``BPF_MAP_*_ELEM`` / ``GET_NEXT_KEY`` commands.

Keys and values are raw bytes of the map's ``key_size`` / ``value_size``; encoding them is
the caller's business. For per-CPU maps the kernel exchanges one 8-byte-aligned value per
possible CPU (bpf_map_value_size() in kernel/bpf/syscall.c); :attr:`MapFd.value_buffer_size`
says how many bytes that is, and is what lookups and updates through a :class:`MapFd` use.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools

from pybpf.errors import KernelError

from .attr import BpfMapCreateAttr, BpfMapElemAttr, encode_obj_name
from .constants import BpfCmd, MapType
from .fd import FdLike, OwnedFd, fileno
from .syscall import bpf

__all__ = [
    "MapFd",
    "map_create",
    "map_delete",
    "map_get_next_key",
    "map_lookup",
    "map_update",
    "possible_cpus",
]


_PERCPU_MAP_TYPES = frozenset(
    {
        MapType.PERCPU_HASH,
        MapType.PERCPU_ARRAY,
        MapType.LRU_PERCPU_HASH,
        MapType.PERCPU_CGROUP_STORAGE,
    }
)


@functools.cache
def possible_cpus() -> int:
    """Number of possible CPUs, from ``/sys/devices/system/cpu/possible`` (e.g. ``0-3``)."""
    with open("/sys/devices/system/cpu/possible", encoding="ascii") as f:
        text = f.read().strip()
    count = 0
    for part in text.split(","):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


class MapFd(OwnedFd):
    """A map created in the kernel: its fd and the attributes it was created with."""

    __slots__ = ("key_size", "map_type", "max_entries", "name", "value_size")

    def __init__(
        self,
        fd: int,
        *,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        name: str = "",
    ) -> None:
        super().__init__(fd)
        self.map_type = map_type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.name = name

    @property
    def value_buffer_size(self) -> int:
        """Bytes of one value as bpf(2) exchanges it (all CPUs' copies for per-CPU maps)."""
        if self.map_type in _PERCPU_MAP_TYPES:
            return (self.value_size + 7) // 8 * 8 * possible_cpus()
        return self.value_size


def map_create(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    map_flags: int = 0,
    name: str = "",
    inner_map_fd: int = 0,
    *,
    numa_node: int = 0,
    map_extra: int = 0,
    btf_fd: int = 0,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
) -> MapFd:
    """Create a map: ``BPF_MAP_CREATE``. Raises :class:`KernelError` when refused.

    ``btf_fd`` with ``btf_key_type_id``/``btf_value_type_id`` give the map key and value
    BTF types (needed for values holding ``struct bpf_spin_lock``, timers, kptrs).
    """
    attr = BpfMapCreateAttr(
        map_type=map_type,
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        map_flags=map_flags,
        inner_map_fd=inner_map_fd,
        numa_node=numa_node,
        map_name=encode_obj_name(name),
        map_extra=map_extra,
        btf_fd=btf_fd,
        btf_key_type_id=btf_key_type_id,
        btf_value_type_id=btf_value_type_id,
    )
    fd = bpf(BpfCmd.MAP_CREATE, attr)
    return MapFd(
        fd,
        map_type=map_type,
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        name=name,
    )


def _in(data: bytes) -> ctypes.Array[ctypes.c_char]:
    """A C copy of ``data`` (at least one byte, so its address is never NULL)."""
    return ctypes.create_string_buffer(data, max(len(data), 1))


def _size(given: int | None, fd: FdLike, attr_name: str) -> int:
    """``given``, else the size recorded on a :class:`MapFd`."""
    if given is not None:
        return given
    if isinstance(fd, MapFd):
        return fd.value_buffer_size if attr_name == "value_size" else fd.key_size
    raise ValueError(f"{attr_name} is required when the map is a raw fd")


def _check(fd: FdLike, what: str, data: bytes) -> None:
    """Refuse a key/value whose length differs from what a :class:`MapFd` declares.

    The kernel reads exactly ``key_size``/``value_size`` bytes, so a short buffer would
    leak memory past its end into the map. With a raw fd the caller is trusted.
    """
    if isinstance(fd, MapFd):
        want = fd.value_buffer_size if what == "value" else fd.key_size
        if len(data) != want:
            raise ValueError(f"{what} is {len(data)} bytes, the map needs {want}")


def map_lookup(
    fd: FdLike, key: bytes, value_size: int | None = None, flags: int = 0
) -> bytes | None:
    """Look ``key`` up: ``BPF_MAP_LOOKUP_ELEM``. Returns the value, or ``None`` on ``ENOENT``.

    ``value_size`` defaults to the one a :class:`MapFd` was created with.
    """
    _check(fd, "key", key)
    value_size = _size(value_size, fd, "value_size")
    key_buf = _in(key)
    value_buf = ctypes.create_string_buffer(max(value_size, 1))
    attr = BpfMapElemAttr(map_fd=fileno(fd), key=ctypes.addressof(key_buf), flags=flags)
    attr.value = ctypes.addressof(value_buf)
    try:
        bpf(BpfCmd.MAP_LOOKUP_ELEM, attr)
    except KernelError as exc:
        if exc.errno == _errno.ENOENT:
            return None
        raise
    return value_buf.raw[:value_size]


def map_update(fd: FdLike, key: bytes, value: bytes, flags: int = 0) -> None:
    """Create or update ``key``: ``BPF_MAP_UPDATE_ELEM``.

    ``flags`` is ``BPF_ANY`` (0), ``BPF_NOEXIST`` (1), ``BPF_EXIST`` (2), optionally with
    ``BPF_F_LOCK`` (4).
    """
    _check(fd, "key", key)
    _check(fd, "value", value)
    key_buf = _in(key)
    value_buf = _in(value)
    attr = BpfMapElemAttr(map_fd=fileno(fd), key=ctypes.addressof(key_buf), flags=flags)
    attr.value = ctypes.addressof(value_buf)
    bpf(BpfCmd.MAP_UPDATE_ELEM, attr)


def map_freeze(fd: FdLike) -> None:
    """Make the map read-only for user space from now on: ``BPF_MAP_FREEZE``. A frozen map
    with ``BPF_F_RDONLY_PROG`` is constant: the verifier may read its contents."""
    attr = BpfMapElemAttr(map_fd=fileno(fd))
    bpf(BpfCmd.MAP_FREEZE, attr)


def map_delete(fd: FdLike, key: bytes) -> bool:
    """Delete ``key``: ``BPF_MAP_DELETE_ELEM``. Returns ``False`` if it was absent (``ENOENT``).

    Array maps cannot delete (the kernel answers ``EINVAL``, raised as :class:`KernelError`).
    """
    _check(fd, "key", key)
    key_buf = _in(key)
    attr = BpfMapElemAttr(map_fd=fileno(fd), key=ctypes.addressof(key_buf))
    try:
        bpf(BpfCmd.MAP_DELETE_ELEM, attr)
    except KernelError as exc:
        if exc.errno == _errno.ENOENT:
            return False
        raise
    return True


def map_get_next_key(fd: FdLike, key: bytes | None, key_size: int | None = None) -> bytes | None:
    """The key after ``key`` (the first key when ``key`` is ``None``): ``BPF_MAP_GET_NEXT_KEY``.

    Returns ``None`` after the last key (``ENOENT``). As in the kernel, a ``key`` not in the
    map gives the first key. ``key_size`` defaults to the one a :class:`MapFd` was created with.
    """
    if key is not None:
        _check(fd, "key", key)
    key_size = _size(key_size, fd, "key_size")
    key_buf = _in(key) if key is not None else None
    next_buf = ctypes.create_string_buffer(max(key_size, 1))
    attr = BpfMapElemAttr(
        map_fd=fileno(fd), key=ctypes.addressof(key_buf) if key_buf is not None else 0
    )
    attr.next_key = ctypes.addressof(next_buf)
    try:
        bpf(BpfCmd.MAP_GET_NEXT_KEY, attr)
    except KernelError as exc:
        if exc.errno == _errno.ENOENT:
            return None
        raise
    return next_buf.raw[:key_size]
