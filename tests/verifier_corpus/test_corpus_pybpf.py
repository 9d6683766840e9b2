"""pybpf's verifier against the kernel verdicts recorded in the corpus.

Every case must get the kernel's verdict from ``pybpf.verifier.verify`` and, for a
rejection, the kernel's error line (``corpus.error_line``: the last message line before
the ``processed N insns`` trailer). Cases pybpf is known to get wrong are listed, with the
reason, in ``known_failures.txt`` and become strict xfails: a listed case that passes
fails the run until its line is removed.

One failure can never be excused: pybpf ACCEPTING a program the kernel rejects. Such a case
fails whether or not it is listed, and ``test_no_unsafe_accepts`` lists all of them at
once so they stay visible.

The module skips while ``pybpf.verifier`` does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import corpus

try:
    from pybpf.verifier import verify
except ImportError as exc:
    # Skip only while the package or its entry point is missing; an import error inside
    # an existing verifier is a failure.
    if isinstance(exc, ModuleNotFoundError) and exc.name not in ("pybpf", "pybpf.verifier"):
        raise
    pytest.skip(f"pybpf.verifier.verify does not exist yet ({exc}): nothing to check the "
                "corpus against", allow_module_level=True)

CASES = corpus.load_cases()
KNOWN = corpus.load_known_failures()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What pybpf said about a case."""

    accepted: bool
    error: str
    processed_insns: int | None = None

    def summary(self) -> str:
        return "accept" if self.accepted else f"reject: {self.error!r}"


_OUTCOMES: dict[str, Outcome] = {}


def pybpf_outcome(case: corpus.Case) -> Outcome:
    """pybpf's verdict on a case (cached: the unsafe-accept summary reuses it)."""
    if case.id in _OUTCOMES:
        return _OUTCOMES[case.id]
    from pybpf.platform.enums import ProgType
    from pybpf.verifier import verify_bytes

    if case.insns:  # raw slots, malformed encodings included: the verifier reads the bytes
        result = verify_bytes(corpus.raw_bytes(case), prog_type=ProgType[case.prog_type],
                              privileged=case.privileged, license=case.license)
        outcome = Outcome(bool(result.accepted), result.error or "", result.processed_insns)
    else:
        built = corpus.build(case)
        result = verify(
            built.program, prog_type=ProgType[case.prog_type], privileged=case.privileged,
            log_level=0, maps=built.maps,
        )
        outcome = Outcome(bool(result.accepted), result.error or "",
                          getattr(result, "processed_insns", None))
    _OUTCOMES[case.id] = outcome
    return outcome


def _mismatch(case: corpus.Case, got: Outcome) -> str:
    rec = case.recorded
    assert rec is not None, f"{case.id} was never recorded: run tools/corpus_record.py"
    if rec.verdict == "accept":
        return "" if got.accepted else f"kernel accepts, pybpf rejects: {got.error!r}"
    if got.accepted:
        return "UNSAFE"
    if got.error != rec.error:
        return f"error line differs: pybpf {got.error!r}, kernel {rec.error!r}"
    return ""


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_pybpf_matches_kernel(case: corpus.Case) -> None:
    try:
        got = pybpf_outcome(case)
    except Exception as exc:  # a crash is a mismatch, never an acceptance
        got = Outcome(False, f"(exception) {type(exc).__name__}: {exc}")
        _OUTCOMES[case.id] = got
    why = _mismatch(case, got)
    known = KNOWN.get(case.id)
    if why == "UNSAFE":
        rec = case.recorded
        assert rec is not None
        pytest.fail(f"UNSAFE: pybpf accepts {case.id}, which the kernel rejects "
                    f"({rec.errno}: {rec.error!r}); listing it in known_failures.txt does not "
                    "excuse this", pytrace=False)
    if why and known is not None:
        pytest.xfail(f"known failure: {known.reason} [{why}]")
    if why:
        pytest.fail(f"{case.id}: {why}", pytrace=False)
    if known is not None:
        pytest.fail(f"{case.id} passes but is listed in known_failures.txt (line {known.line}): "
                    "remove the line", pytrace=False)


PROCESSED_CASES = [c for c in CASES if c.recorded is not None
                   and c.recorded.processed_insns is not None]


@pytest.mark.parametrize("case", PROCESSED_CASES, ids=lambda c: c.id)
def test_processed_insns_match_kernel(case: corpus.Case) -> None:
    """pybpf explores as much as the kernel: ``processed N insns`` is the kernel's N."""
    rec = case.recorded
    assert rec is not None and rec.processed_insns is not None
    try:
        got = pybpf_outcome(case)
    except Exception as exc:  # reported by test_pybpf_matches_kernel
        pytest.fail(f"{case.id}: pybpf raised {type(exc).__name__}: {exc}", pytrace=False)
    if got.processed_insns != rec.processed_insns:
        known = KNOWN.get(case.id)
        why = (f"pybpf processed {got.processed_insns} insns, the kernel "
               f"{rec.processed_insns} ({rec.kernel})")
        if known is not None:
            pytest.xfail(f"known failure: {known.reason} [{why}]")
        pytest.fail(f"{case.id}: {why}", pytrace=False)


def test_no_unsafe_accepts() -> None:
    """Every program the kernel rejects and pybpf accepts, listed together."""
    unsafe = []
    for case in CASES:
        if case.recorded is None or case.recorded.verdict != "reject":
            continue
        try:
            got = pybpf_outcome(case)
        except Exception:
            continue
        if got.accepted:
            unsafe.append(f"  {case.id}: kernel {case.recorded.errno} {case.recorded.error!r}")
    assert not unsafe, "pybpf accepts programs the kernel rejects:\n" + "\n".join(unsafe)
