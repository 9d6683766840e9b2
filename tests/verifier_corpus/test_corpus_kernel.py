"""The verifier corpus against the live kernel: every recorded verdict must still hold.

Loads each case with BPF_PROG_LOAD (log level 1) and compares the verdict, the errno and the
error line (``corpus.error_line``) with what ``tools/corpus_record.py`` recorded; the
processed-instruction count of accepted programs is compared when the running kernel is
the one the case was recorded on. Unprivileged cases are loaded from a child process
dropped to ``nobody`` with ``kernel.unprivileged_bpf_disabled`` set to 0 for the duration
(restored afterwards), which needs root; they skip otherwise. The whole module skips when
bpf() is not available.

A failure here means the kernel and the corpus disagree: re-record on this kernel
(``python3 tools/corpus_record.py``) after checking that the change is the kernel's.
"""

from __future__ import annotations

import pytest

import corpus

pytestmark = pytest.mark.kernel

CASES = corpus.load_cases()
PRIVILEGED = [c for c in CASES if c.privileged]
UNPRIVILEGED = [c for c in CASES if not c.privileged]


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


def _compare(case: corpus.Case, got: corpus.Recorded) -> None:
    rec = case.recorded
    assert rec is not None, f"{case.id} was never recorded: run tools/corpus_record.py"
    release = corpus.kernel_release()
    hint = ""
    if rec.kernel != release:
        hint = f" (recorded on {rec.kernel}, running {release}: re-record if the kernel changed)"
    assert got.verdict == rec.verdict, (
        f"{case.id}: kernel now says {got.summary()}, recorded {rec.summary()}{hint}"
    )
    if rec.verdict == "reject":
        assert (got.errno, got.error) == (rec.errno, rec.error), (
            f"{case.id}: kernel now says {got.summary()}, recorded {rec.summary()}{hint}"
        )
    elif rec.kernel == release:
        assert got.processed_insns == rec.processed_insns, (
            f"{case.id}: kernel processed {got.processed_insns} insns, "
            f"recorded {rec.processed_insns}"
        )


@pytest.mark.parametrize("case", PRIVILEGED, ids=lambda c: c.id)
def test_privileged_case_matches_kernel(case: corpus.Case) -> None:
    _compare(case, corpus.run_privileged(case))


@pytest.fixture(scope="module")
def unprivileged_results() -> dict[str, corpus.Recorded]:
    reason = corpus.unprivileged_unavailable()
    if reason:
        pytest.skip(f"unprivileged verdicts cannot be observed here: {reason}")
    return corpus.run_unprivileged(UNPRIVILEGED)


@pytest.mark.parametrize("case", UNPRIVILEGED, ids=lambda c: c.id)
def test_unprivileged_case_matches_kernel(
    case: corpus.Case, unprivileged_results: dict[str, corpus.Recorded]
) -> None:
    _compare(case, unprivileged_results[case.id])
