"""bpf_get_prandom_u32(): the kernel's Tausworthe generator, seedable.

Mirrors ``bpf_user_rnd_u32()`` (kernel/bpf/core.c): one ``struct rnd_state`` per CPU, stepped
by ``prandom_u32_state()`` (lib/random32.c, L'Ecuyer's maximally equidistributed combined
LFSR "lfsr113"). The kernel seeds it from ``get_random_bytes()`` at the first load of a
program using the helper; here a :class:`Prandom` is seeded with :meth:`Prandom.seed`
(``prandom_seed_state()``), then warmed up by ten steps as ``prandom_seed_full_state()``
does, so the same seed gives the same sequence. Without a seed (the default installed by
:func:`prandom_of`) the state is drawn from ``os.urandom``. One state per
:class:`~pybpf.runtime.execstate.ExecState`, not per CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pybpf.runtime.execstate import ExecState

__all__ = ["Prandom", "bpf_get_prandom_u32", "prandom_of"]

M32 = 0xFFFFFFFF


def _seed(x: int, m: int) -> int:
    """``__seed()``: each component must exceed a minimum for the LFSR to be full period."""
    return x + m if x < m else x


def _taus(s: int, a: int, b: int, c: int, d: int) -> int:
    """``TAUSWORTHE(s, a, b, c, d)``."""
    return (((s & c) << d) & M32) ^ ((((s << a) & M32) ^ s) >> b)


@dataclass(slots=True)
class Prandom:
    """``struct rnd_state``: four 32-bit components."""

    s1: int = 2
    s2: int = 8
    s3: int = 16
    s4: int = 128

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
        """``prandom_u32_state()``."""
        self.s1 = _taus(self.s1, 6, 13, 4294967294, 18)
        self.s2 = _taus(self.s2, 2, 27, 4294967288, 2)
        self.s3 = _taus(self.s3, 13, 21, 4294967280, 7)
        self.s4 = _taus(self.s4, 3, 12, 4294967168, 13)
        return self.s1 ^ self.s2 ^ self.s3 ^ self.s4


def prandom_of(state: ExecState) -> Prandom:
    """``state.prandom``, installing a randomly seeded :class:`Prandom` on first use."""
    rnd = state.prandom
    if rnd is None:
        rnd = state.prandom = Prandom.seeded()
    return rnd


def bpf_get_prandom_u32(state: ExecState, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """bpf_get_prandom_u32(): ``bpf_user_rnd_u32()``."""
    return prandom_of(state).next_u32()
