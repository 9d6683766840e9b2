"""pybpf explores every program exactly as the live kernel's verifier does.

The verdict and the processed-instruction count (``test_corpus_pybpf.py``) can agree while
the exploration differs. This module compares the *trace* of the level-2 verifier log
(``BPF_LOG_LEVEL2``) of the kernel with pybpf's, event by event:

* every instruction processed (its index), in order;
* every pruning (``N: safe``, ``from X to Y: safe``) and every state popped (``from X to Y``);
* precision backtracking: each ``mark_precise`` step (frame, wanted registers and stack slots,
  the instruction it steps over), each parent state it marks, ``propagating`` and
  ``force_precise`` lines;
* loop visits (``SCC enter/exit/backedge``) and the stack-liveness updates
  (``(callchain) frame F insn N +live ...``).

Register-state texts and instruction texts are not compared here (addresses of maps differ;
the log format has its own tests). Privileged cases up to :data:`MAX_INSNS` processed
instructions run (larger ones make logs of hundreds of MB); the module skips where bpf() is
not available. A failure names the first event where the two explorations part.
"""

from __future__ import annotations

import re

import pytest

import corpus

pytestmark = pytest.mark.kernel

MAX_INSNS = 20_000


def _bpf_unavailable() -> str:
    try:
        from pybpf.kernel.sys import bpf_available
    except ImportError as exc:  # pragma: no cover - pybpf itself is missing
        return f"pybpf.kernel.sys cannot be imported: {exc}"
    ok, reason = bpf_available()
    return "" if ok else reason


_BPF_REASON = _bpf_unavailable()
if _BPF_REASON:
    pytest.skip(f"bpf() is not available: {_BPF_REASON}", allow_module_level=True)

try:
    from pybpf.verifier import verify
except ImportError as exc:  # pragma: no cover
    pytest.skip(f"pybpf.verifier is missing: {exc}", allow_module_level=True)

_INSN = re.compile(r"^(\d+): \(")
_SAFE = re.compile(r"^(\d+): safe$")
_FROM = re.compile(r"^from (\d+) to (\d+)(?: \(speculative execution\))?:( safe)?")
_PRECISE_STEP = re.compile(r"^(mark_precise: frame\d+: regs=\S* stack=\S* before \d+):")
_PRECISE_PARENT = re.compile(r"^(mark_precise: frame\d+: parent state regs=\S* stack=\S*):")
_PASSTHROUGH = ("mark_precise: frame", "frame ", "force_precise:", "SCC ")
_LIVE = re.compile(r"^\([\d,]+\) (frame \d+ insn \d+ .*|live stack update done in \d+ iterations)")


def trace(log: str) -> list[str]:
    """The exploration events of a level-2 log, normalised for comparison."""
    out = []
    for line in log.splitlines():
        line = line.rstrip()
        if m := _INSN.match(line):
            out.append(m.group(1))
        elif m := _SAFE.match(line):
            out.append(f"{m.group(1)}: safe")
        elif m := _FROM.match(line):
            out.append(f"from {m.group(1)} to {m.group(2)}{m.group(3) or ''}")
        elif m := _PRECISE_STEP.match(line):
            out.append(m.group(1))
        elif m := _PRECISE_PARENT.match(line):
            out.append(m.group(1))
        elif line.startswith(_PASSTHROUGH):
            out.append(line)
        elif _LIVE.match(line):
            out.append(line)
    return out


_TOO_LARGE = re.compile(r"BPF program is too large\. Processed (\d+) insn")


def _processed(rec: corpus.Recorded) -> int:
    """Instructions the kernel processed: the count it printed, or for a program it found
    too large (no count printed) the figure in its error line."""
    if rec.processed_insns is not None:
        return rec.processed_insns
    m = _TOO_LARGE.match(rec.error or "")
    return int(m.group(1)) if m else 0


def _cases() -> list[corpus.Case]:
    out = []
    for case in corpus.load_cases():
        rec = case.recorded
        if rec is None or not case.privileged or case.insns:
            continue
        if _processed(rec) > MAX_INSNS:
            continue
        out.append(case)
    return out


CASES = _cases()
KNOWN = corpus.load_known_failures()


def _first_difference(kernel: list[str], ours: list[str]) -> str:
    for i, (a, b) in enumerate(zip(kernel, ours, strict=False)):
        if a != b:
            context = "\n".join(f"    {x}" for x in kernel[max(0, i - 6):i])
            return (f"event {i}: kernel {a!r}, pybpf {b!r}\n  after:\n{context}")
    return f"one trace is a prefix of the other: kernel {len(kernel)} events, pybpf {len(ours)}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_exploration_matches_kernel(case: corpus.Case) -> None:
    from pybpf.platform.enums import ProgType

    if case.id in KNOWN:
        pytest.skip(f"listed in known_failures.txt: {KNOWN[case.id].reason}")
    with corpus.kernel_job(case) as (job, _):
        _, klog = corpus.load_job(job, 2)
    built = corpus.build(case)
    result = verify(built.program, prog_type=ProgType[case.prog_type], privileged=True,
                    log_level=2, maps=built.maps)
    kernel, ours = trace(klog), trace(result.log)
    if kernel != ours:
        pytest.fail(f"{case.id}: exploration differs from the kernel's at "
                    + _first_difference(kernel, ours), pytrace=False)
