"""The ``Map`` protocol and the base every map type builds on.

Two faces, one state:

* **Helper-facing** (what ``bpf_map_*()`` helpers call, with raw bytes from program memory):
  ``lookup_elem(key, cpu) -> address | 0``, ``update_elem(key, value, flags, cpu) -> 0 | -errno``,
  ``delete_elem(key) -> 0 | -errno``, ``push_elem``/``pop_elem``/``peek_elem``. These mirror the
  ``map_ops`` the kernel's helpers dispatch to (``*_map_lookup_elem()`` ...) and never raise for
  an errno the kernel returns. ``cpu`` is the CPU the program runs on (per-CPU maps, LRU lists).
* **Python-facing** (what a user does through ``bpf(2)``): ``m[key]``, ``m[key] = value``,
  ``del m[key]``, ``key in m``, ``len(m)``, ``keys()``/``values()``/``items()``, ``lookup()``,
  ``update()``, ``delete()``, ``clear()``. These follow the syscall paths of kernel/bpf/syscall.c
  (``map_lookup_elem()``, ``map_update_elem()``: access-mode and ``BPF_F_LOCK`` checks, per-CPU
  values for all CPUs) and raise :class:`~pybpf.errors.KernelError` with the kernel's errno.
  Keys and values may be ints, bytes or ctypes objects (:mod:`.codec`); values come back as
  ``bytes`` (per-CPU maps: a list with one ``bytes`` per CPU).

``formatter`` (optional) is a ``(key_bytes, value_bytes) -> (key_text, value_text)`` callable,
e.g. from pybpf.btf, used by :meth:`MapBase.dump`.

Not modelled: ``BPF_F_LOCK``/``bpf_spin_lock`` (no map knows its value's BTF, so ``BPF_F_LOCK``
is refused with ``EINVAL`` as the kernel does for values without a lock), ``BPF_F_WRONLY_PROG``
(program reads are not blocked), concurrent CPUs.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, Self, runtime_checkable

from pybpf.native.layout import NativeMap
from pybpf.platform.enums import MapType
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.codec import join_percpu, round_up, to_bytes
from pybpf.runtime.maps.flags import BPF_ANY, MapFlag, UpdateFlag
from pybpf.runtime.maps.header import map_header_region
from pybpf.runtime.maps.status import map_error, raise_for
from pybpf.runtime.memory import Memory, Region

__all__ = ["Formatter", "Map", "MapBase"]

#: ``(key_bytes, value_bytes) -> (key_text, value_text)``, e.g. a BTF pretty-printer.
Formatter = Callable[[bytes, bytes], tuple[str, str]]

_MISSING: Any = object()


@runtime_checkable
class Map(Protocol):
    """What helpers, the loader and the runtime rely on; every map type satisfies it."""

    spec: MapSpec
    name: str
    map_type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    ncpus: int

    @property
    def address(self) -> int:
        """The map pointer programs hold (``struct bpf_map *``)."""
        ...

    def lookup_elem(self, key: bytes, cpu: int = 0) -> int: ...
    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int: ...
    def delete_elem(self, key: bytes) -> int: ...
    def get_next_key(self, key: bytes | None) -> bytes | None: ...
    def push_elem(self, value: bytes, flags: int = 0) -> int: ...
    def pop_elem(self) -> bytes | None: ...
    def peek_elem(self) -> bytes | None: ...
    def synchronize_rcu(self) -> None: ...
    def close(self) -> None: ...


class MapBase:
    """State and behaviour shared by all map types (types derive from it, at most two deep)."""

    def __init__(self, spec: MapSpec, memory: Memory, *, ncpus: int,
                 formatter: Formatter | None = None) -> None:
        self.spec = spec
        self.name = spec.name
        self.map_type = MapType(spec.map_type)
        self.key_size = spec.key_size
        self.value_size = spec.value_size
        self.max_entries = spec.max_entries
        self.flags = spec.flags
        self.ncpus = ncpus
        #: Values are per CPU (one copy per possible CPU).
        self.percpu = False
        self.memory = memory
        self.formatter = formatter
        #: Frozen maps (``BPF_MAP_FREEZE``, ``.rodata``) refuse Python-side writes with EPERM.
        self.frozen = False
        #: The CPU Python-side operations run on (LRU lists, ``BPF_F_CURRENT_CPU``).
        self.syscall_cpu = 0
        self._regions: list[Region] = []
        self._header: Region | None = None
        #: The descriptor native code works with (maps with native operations set it).
        self.native: NativeMap | None = None

    def _publish(self) -> None:
        """Map the header region; subclasses call this once their geometry is final."""
        native = ctypes.addressof(self.native) if self.native is not None else 0
        self._header = map_header_region(self, self.memory, native)

    @property
    def address(self) -> int:
        """The map pointer programs hold (the base of its header region)."""
        assert self._header is not None, "map not initialised"
        return self._header.base

    @property
    def type_name(self) -> str:
        """``"lpm_trie"`` for ``BPF_MAP_TYPE_LPM_TRIE``."""
        return self.map_type.name.lower()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} '{self.name}' {self.type_name} key_size={self.key_size} "
                f"value_size={self.value_size} max_entries={self.max_entries}>")

    # -- helper-facing defaults (types override what they support) --------------------------
    def lookup_elem(self, key: bytes, cpu: int = 0) -> int:
        """``bpf_map_lookup_elem()``: the value's address, or 0."""
        return 0

    def update_elem(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """``bpf_map_update_elem()``: 0 or ``-errno``."""
        return -errno.EINVAL

    def delete_elem(self, key: bytes) -> int:
        """``bpf_map_delete_elem()``: 0 or ``-errno``."""
        return -errno.EINVAL

    def get_next_key(self, key: bytes | None) -> bytes | None:
        """``BPF_MAP_GET_NEXT_KEY``: the key after ``key`` (first when None); None at the end."""
        raise map_error(self.name, f"{self.type_name} has no keys to iterate", errno.EINVAL)

    def push_elem(self, value: bytes, flags: int = 0) -> int:
        """``bpf_map_push_elem()``: 0 or ``-errno``."""
        return -errno.EINVAL

    def pop_elem(self) -> bytes | None:
        """``bpf_map_pop_elem()``: the value, or None (``-ENOENT``)."""
        return None

    def peek_elem(self) -> bytes | None:
        """``bpf_map_peek_elem()``: the value, or None (``-ENOENT``)."""
        return None

    def synchronize_rcu(self) -> None:
        """End of an RCU grace period (after a program run): freed values may be reused."""

    def close(self) -> None:
        """Unmap every region of this map; its addresses fault afterwards."""
        for region in self._regions:
            self.memory.unmap(region)
        self._regions.clear()
        if self._header is not None:
            self.memory.unmap(self._header)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_cpu(self, cpu: int) -> int:
        """``cpu`` if it is a possible CPU of this map, else an error."""
        if not 0 <= cpu < self.ncpus:
            raise map_error(self.name, f"cpu {cpu} out of range ({self.ncpus} possible CPUs)",
                            errno.EINVAL)
        return cpu

    # -- Python-side encoding ---------------------------------------------------------------
    def key_bytes(self, key: Any) -> bytes:
        return to_bytes(key, self.key_size, self.name, "key")

    def value_bytes(self, value: Any) -> bytes:
        """A Python value as the syscall buffer (all CPUs' copies for per-CPU maps)."""
        if not self.percpu:
            return to_bytes(value, self.value_size, self.name, "value")
        full = round_up(self.value_size, 8) * self.ncpus
        if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == full:
            return bytes(value)
        if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray, memoryview)):
            if len(value) != self.ncpus:
                raise map_error(self.name, f"per-CPU value has {len(value)} entries, expected "
                                f"{self.ncpus} (one per possible CPU)", errno.EINVAL)
            return join_percpu([to_bytes(v, self.value_size, self.name, "value") for v in value],
                               self.value_size)
        one = to_bytes(value, self.value_size, self.name, "value")
        return join_percpu([one] * self.ncpus, self.value_size)

    # -- Python-side (syscall) primitives: types override -----------------------------------
    def _sys_lookup(self, key: bytes) -> Any:
        """The Python value for ``key`` or None (ENOENT); raise for other errors."""
        raise map_error(self.name, f"lookup is not supported on {self.type_name}", errno.EINVAL)

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        """Store a coerced Python value; 0 or ``-errno``."""
        return -errno.EINVAL

    def _coerce(self, value: Any) -> Any:
        """A Python value in the form :meth:`_sys_update` takes."""
        return self.value_bytes(value)

    def _sys_delete(self, key: bytes) -> int:
        return self.delete_elem(key)

    def _check_write(self, operation: str) -> None:
        if self.frozen or self.flags & MapFlag.RDONLY:
            why = "frozen" if self.frozen else "BPF_F_RDONLY"
            raise map_error(self.name, f"{operation}: map is read-only for user space ({why})",
                            errno.EPERM)

    def _check_read(self, operation: str) -> None:
        if self.flags & MapFlag.WRONLY:
            raise map_error(self.name, f"{operation}: map is write-only for user space "
                            "(BPF_F_WRONLY)", errno.EPERM)

    # -- Python API ---------------------------------------------------------------------------
    def freeze(self) -> None:
        """``BPF_MAP_FREEZE``: Python-side writes fail with EPERM from now on."""
        self.frozen = True

    def lookup(self, key: Any, default: Any = None) -> Any:
        """The value for ``key`` (bytes; per-CPU: list of bytes), or ``default``."""
        self._check_read("lookup")
        value = self._sys_lookup(self.key_bytes(key))
        return default if value is None else value

    def update(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        """``BPF_MAP_UPDATE_ELEM`` with ``flags`` (``BPF_ANY``/``BPF_NOEXIST``/``BPF_EXIST``)."""
        self._check_write("update")
        if flags & UpdateFlag.F_LOCK:
            raise map_error(self.name, "update: BPF_F_LOCK needs a bpf_spin_lock in the value",
                            errno.EINVAL)
        raise_for(self.name, "update", self._sys_update(self.key_bytes(key), self._coerce(value),
                                                        int(flags)))

    def delete(self, key: Any) -> bool:
        """``BPF_MAP_DELETE_ELEM``: True if deleted, False if absent (ENOENT)."""
        self._check_write("delete")
        ret = self._sys_delete(self.key_bytes(key))
        if ret == -errno.ENOENT:
            return False
        raise_for(self.name, "delete", ret)
        return True

    def iter_keys(self) -> Iterator[bytes]:
        """Keys in ``BPF_MAP_GET_NEXT_KEY`` order (a key is yielded once even if re-found)."""
        self._check_read("get_next_key")
        seen: set[bytes] = set()
        key = self.get_next_key(None)
        while key is not None and key not in seen:
            seen.add(key)
            yield key
            key = self.get_next_key(key)

    def keys(self) -> list[bytes]:
        """Keys that have a value, in ``BPF_MAP_GET_NEXT_KEY`` order."""
        return [k for k in self.iter_keys() if self._sys_lookup(k) is not None]

    def values(self) -> list[Any]:
        return [v for _, v in self.items()]

    def items(self) -> list[tuple[bytes, Any]]:
        out = []
        for k in self.iter_keys():
            v = self._sys_lookup(k)
            if v is not None:
                out.append((k, v))
        return out

    def clear(self) -> None:
        """Delete every key (arrays, which cannot delete, are zeroed instead)."""
        for k in list(self.iter_keys()):
            self.delete(k)

    def __getitem__(self, key: Any) -> Any:
        value = self.lookup(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def __delitem__(self, key: Any) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        return self.lookup(key, _MISSING) is not _MISSING

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __bool__(self) -> bool:
        return True

    def dump(self) -> str:
        """One ``key: value`` line per element, through :attr:`formatter` when set (else hex)."""
        fmt = self.formatter or (lambda k, v: (k.hex(" "), v.hex(" ")))
        lines = []
        for key, value in self.items():
            if isinstance(value, list):
                for cpu, v in enumerate(value):
                    k_text, v_text = fmt(key, v)
                    lines.append(f"{k_text}: cpu{cpu}: {v_text}")
            elif isinstance(value, bytes):
                k_text, v_text = fmt(key, value)
                lines.append(f"{k_text}: {v_text}")
            else:
                lines.append(f"{fmt(key, b'')[0]}: {value!r}")
        return "\n".join(lines)
