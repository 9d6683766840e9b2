"""bpf_get_prandom_u32(): the kernel's Tausworthe generator, seedable.

Mirrors ``bpf_user_rnd_u32()`` (kernel/bpf/core.c): one ``struct rnd_state`` per CPU, stepped
by ``prandom_u32_state()`` (lib/random32.c, L'Ecuyer's maximally equidistributed combined
LFSR "lfsr113"). The kernel seeds it from ``get_random_bytes()`` at the first load of a
program using the helper; here a :class:`Prandom` is seeded with :meth:`Prandom.seed`
(``prandom_seed_state()``), then warmed up by ten steps as ``prandom_seed_full_state()``
does, so the same seed gives the same sequence. Without a seed (the default installed by
:func:`prandom_of`) the state is drawn from ``os.urandom``. One state per
:class:`~pybpf.runtime.execstate.ExecState`, not per CPU.

The state is a ctypes ``struct rnd_state`` (:class:`RndState`) and the step is the native
library's ``pb_prandom_u32`` (:mod:`pybpf.native.helpers_ir`): JIT-compiled programs step
the same state with the same code, without calling Python.
"""

from __future__ import annotations

import ctypes
import os

from pybpf.native.library import library
from pybpf.runtime.execstate import ExecState

__all__ = ["Prandom", "RndState", "bpf_get_prandom_u32", "prandom_of"]

M32 = 0xFFFFFFFF


def _seed(x: int, m: int) -> int:
    """``__seed()``: each component must exceed a minimum for the LFSR to be full period."""
    return x + m if x < m else x


class RndState(ctypes.Structure):
    """``struct rnd_state`` (include/linux/prandom.h)."""

    _fields_ = [("s1", ctypes.c_uint32), ("s2", ctypes.c_uint32), ("s3", ctypes.c_uint32),
                ("s4", ctypes.c_uint32)]


def _component(name: str) -> property:
    def get(self: Prandom) -> int:
        return int(getattr(self.state, name))

    def put(self: Prandom, value: int) -> None:
        setattr(self.state, name, value & M32)

    return property(get, put, doc=f"``rnd_state.{name}``")


class Prandom:
    """``struct rnd_state``: four 32-bit components, in native memory (:class:`RndState`)."""

    __slots__ = ("state",)

    s1 = _component("s1")
    s2 = _component("s2")
    s3 = _component("s3")
    s4 = _component("s4")

    def __init__(self, s1: int = 2, s2: int = 8, s3: int = 16, s4: int = 128) -> None:
        self.state = RndState(s1 & M32, s2 & M32, s3 & M32, s4 & M32)

    @property
    def address(self) -> int:
        """Host address of the ``struct rnd_state`` (for native code)."""
        return ctypes.addressof(self.state)

    def __repr__(self) -> str:
        return f"Prandom(s1={self.s1}, s2={self.s2}, s3={self.s3}, s4={self.s4})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prandom):
            return NotImplemented
        return (self.s1, self.s2, self.s3, self.s4) == (other.s1, other.s2, other.s3, other.s4)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    @classmethod
    def seeded(cls, seed: int | None = None) -> Prandom:
        """A state from ``seed`` (``prandom_seed_state()`` + warm-up), or a random one."""
        state = cls()
        if seed is None:
            raw = os.urandom(16)
            words = [int.from_bytes(raw[i : i + 4], "little") for i in range(0, 16, 4)]
            state.s1, state.s2 = _seed(words[0], 2), _seed(words[1], 8)
            state.s3, state.s4 = _seed(words[2], 16), _seed(words[3], 128)
            state.warmup()
        else:
            state.seed(seed)
        return state

    def seed(self, seed: int) -> None:
        """``prandom_seed_state(state, seed)`` followed by ``prandom_warmup()``."""
        seed &= (1 << 64) - 1
        i = ((seed >> 32) ^ (seed << 10) ^ seed) & M32
        self.s1, self.s2, self.s3, self.s4 = _seed(i, 2), _seed(i, 8), _seed(i, 16), _seed(i, 128)
        self.warmup()

    def warmup(self) -> None:
        """``prandom_warmup()``: ten steps."""
        for _ in range(10):
            self.next_u32()

    def next_u32(self) -> int:
        """``prandom_u32_state()`` (the native library's, which compiled programs call)."""
        return int(library().fn["pb_prandom_u32"](self.address))


def prandom_of(state: ExecState) -> Prandom:
    """``state.prandom``, installing a randomly seeded :class:`Prandom` on first use."""
    rnd = state.prandom
    if rnd is None:
        rnd = state.prandom = Prandom.seeded()
    return rnd


def bpf_get_prandom_u32(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_prandom_u32(): ``bpf_user_rnd_u32()``."""
    return prandom_of(state).next_u32()
