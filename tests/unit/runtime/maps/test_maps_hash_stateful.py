"""Hypothesis state machine: random insert/update/delete/lookup/get_next_key with every flag,
run on a pybpf hash map and on a kernel hash map (``BPF_F_ZERO_SEED``) side by side.

Every step must give the same result or errno on both, and after every step both maps must
list the same keys in the same get_next_key order.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from maps_kernel_support import NCPUS, OurMap, kernel_create, needs_kernel, ours_create

from pybpf.platform.enums import MapType as T
from pybpf.program.spec import MapSpec
from pybpf.runtime.maps.flags import MapFlag as F

KEYS = st.sampled_from([bytes([i, 0, 0, i * 7 % 256, 1]) for i in range(12)])
FLAGS = st.sampled_from([0, 0, 1, 2, 3, 4, 5, 6, 8])


class HashVersusKernel(RuleBasedStateMachine):
    """One hash map per run; the spec is drawn at initialisation."""

    def __init__(self) -> None:
        super().__init__()
        self.ours: OurMap | None = None
        self.theirs = None

    @initialize(t=st.sampled_from([T.HASH, T.PERCPU_HASH]), n=st.integers(1, 9),
                value_size=st.integers(1, 12), prealloc=st.booleans())
    def create(self, t: int, n: int, value_size: int, prealloc: bool) -> None:
        flags = F.ZERO_SEED | (0 if prealloc else F.NO_PREALLOC)
        spec = MapSpec("hyp", t, 5, value_size, n, flags)
        _, self.theirs = kernel_create(spec)
        _, ours = ours_create(spec)
        assert self.theirs is not None and ours is not None
        self.ours = OurMap(ours)
        self.vbuf = (value_size + 7) // 8 * 8 * NCPUS if t == T.PERCPU_HASH else value_size

    def teardown(self) -> None:
        if self.theirs is not None:
            self.theirs.close()

    @precondition(lambda self: self.ours is not None)
    @rule(key=KEYS, flags=FLAGS, data=st.data())
    def update(self, key: bytes, flags: int, data: st.DataObject) -> None:
        value = data.draw(st.binary(min_size=self.vbuf, max_size=self.vbuf))
        assert self.ours.update(key, value, flags) == self.theirs.update(key, value, flags)

    @precondition(lambda self: self.ours is not None)
    @rule(key=KEYS)
    def delete(self, key: bytes) -> None:
        assert self.ours.delete(key) == self.theirs.delete(key)

    @precondition(lambda self: self.ours is not None)
    @rule(key=KEYS)
    def lookup(self, key: bytes) -> None:
        assert self.ours.lookup(key) == self.theirs.lookup(key)

    @precondition(lambda self: self.ours is not None)
    @rule(key=st.none() | KEYS)
    def next_key(self, key: bytes | None) -> None:
        assert self.ours.next_key(key) == self.theirs.next_key(key)

    @invariant()
    def same_keys_in_same_order(self) -> None:
        if self.ours is not None:
            assert self.ours.all_keys() == self.theirs.all_keys()


TestHashVersusKernel = needs_kernel(pytest.mark.kernel(HashVersusKernel.TestCase))
TestHashVersusKernel.settings = settings(
    max_examples=60, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
