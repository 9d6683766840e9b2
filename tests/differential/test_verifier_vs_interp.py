"""The verifier's safety property: every program pybpf's verifier accepts runs in the
interpreter without a memory-safety fault.

Programs come from :mod:`tests.differential.gen_verifier` (socket filters and XDP programs
near the verifier's edge: stack, context, packet and map-value accesses with constant,
masked and branch-bounded offsets, NULL checks, spills, loops). Each is verified by
``pybpf.verifier.verify``; an accepted one is loaded on the interpreter with the maps
(``hash`` holds keys 0 and 1) and run once with ``test_run`` on its drawn packet. Any
:class:`~pybpf.errors.ExecutionFault` — an access outside its region, a write to read-only
memory, a bad pointer given to a helper — fails the test with the program.

Where ``bpf()`` is usable, each privileged program is also loaded into the live kernel: pybpf
accepting a program the kernel rejects is a failure (the unsafe direction); the other
disagreements are counted. The accept ratio and the agreement are hypothesis events
(``--hypothesis-show-statistics``) and a summary printed at the end (``-s``); a floor on
the accept ratio keeps the generator useful.

``make test`` runs 200 programs; ``PYBPF_VERIFIER_EXAMPLES=5000`` runs more.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings

import pybpf
from pybpf.errors import ExecutionFault, KernelError
from pybpf.kernel.sys import bpf_available
from pybpf.program.spec import CollectionSpec
from pybpf.verifier import verify

from .gen_verifier import HASH_KEYS, MAPS, Generated, programs

EXAMPLES = int(os.environ.get("PYBPF_VERIFIER_EXAMPLES", "200"))
#: The share of accepted programs below which the generator is no longer useful.
MIN_ACCEPT_RATIO = 0.3
KERNEL, KERNEL_REASON = bpf_available()


@pytest.fixture(scope="module")
def kernel_maps() -> Iterator[Any]:
    """The maps in the live kernel (None where bpf() is not usable)."""
    if not KERNEL:
        yield None
        return
    from pybpf.kernel.collection import KernelCollection

    with KernelCollection(CollectionSpec(programs={}, maps=dict(MAPS))) as coll:
        yield coll.maps


def kernel_verdict(gen: Generated, maps: Any) -> tuple[bool, str]:
    """(accepted, error) of the live kernel's verifier for a privileged program."""
    from pybpf.isa import encode
    from pybpf.kernel.collection import patch_map_fds
    from pybpf.kernel.sys import prog_load

    spec = gen.spec()
    try:
        prog = prog_load(int(gen.prog_type), encode(patch_map_fds(spec, maps)), log_level=4)
    except KernelError as exc:
        lines = [ln for ln in (exc.log or "").splitlines()
                 if ln.strip() and not ln.startswith(("processed ", "verification time"))]
        return False, lines[-1] if lines else str(exc)
    prog.close()
    return True, ""


def run_on_interpreter(gen: Generated) -> None:
    """Load the program with fresh maps and run it once on its packet."""
    obj = pybpf.load(CollectionSpec(programs={"gen": gen.spec()}, maps=dict(MAPS)))
    for key in HASH_KEYS:
        obj.maps["hash"][key.to_bytes(4, "little")] = bytes(range(key, key + 16))
    obj.program("gen").test_run(data=gen.packet)


def test_accepted_programs_are_memory_safe(kernel_maps: Any) -> None:
    stats: Counter[str] = Counter()
    unsafe: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(programs())
    def check(gen: Generated) -> None:
        result = verify(gen.spec(), privileged=gen.privileged, maps=MAPS)
        stats["programs"] += 1
        stats["accepted" if result.accepted else "rejected"] += 1
        event("pybpf: accepted" if result.accepted else "pybpf: rejected")
        if kernel_maps is not None and gen.privileged:
            k_ok, k_error = kernel_verdict(gen, kernel_maps)
            stats["kernel compared"] += 1
            if k_ok == result.accepted:
                stats["kernel agrees"] += 1
            elif result.accepted:
                unsafe.append(f"pybpf accepts, the kernel rejects: {k_error}\n{gen.listing()}")
                pytest.fail(unsafe[-1])
            else:
                stats["pybpf stricter than the kernel"] += 1
                event(f"pybpf stricter than the kernel: {result.error}")
        if not result.accepted:
            return
        try:
            run_on_interpreter(gen)
        except ExecutionFault as fault:
            pytest.fail(f"accepted by pybpf's verifier, faults in the interpreter: {fault}\n"
                        f"{gen.listing()}")

    check()
    ratio = stats["accepted"] / max(1, stats["programs"])
    summary = (f"verifier vs interpreter: {stats['programs']} programs, {stats['accepted']} "
               f"accepted ({ratio:.0%}), none faulted")
    if stats["kernel compared"]:
        summary += (f"; kernel verdict agreed on {stats['kernel agrees']}/"
                    f"{stats['kernel compared']}, pybpf stricter on "
                    f"{stats['pybpf stricter than the kernel']}")
    elif not KERNEL:
        summary += f"; no kernel comparison (bpf() not usable: {KERNEL_REASON})"
    print(summary)
    assert ratio >= MIN_ACCEPT_RATIO, f"the generator produced too few accepted programs: {summary}"
