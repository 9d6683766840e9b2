"""The corpus's own consistency: parseable, recorded, canonical, buildable. No kernel needed.

Checks that every topic file parses and is in the canonical form ``tools/corpus_record.py``
writes (so re-recording never produces noise), that every case has a recorded verdict with
the fields its verdict needs, that every case assembles (or decodes) into a program with
its maps, that the C cases' objects are committed, and that ``known_failures.txt`` names
existing cases only.
"""

from __future__ import annotations

import pytest

import corpus

TOPICS = corpus.topic_files()
CASES = [case for topic in TOPICS for case in topic.cases]


def test_corpus_size() -> None:
    assert len(CASES) >= 600


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.topic)
def test_topic_file_is_canonical(topic: corpus.TopicFile) -> None:
    assert topic.path.read_text() == corpus.dump_topic(topic), (
        f"{topic.path.name} is not in canonical form: run tools/corpus_record.py"
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_is_recorded_and_builds(case: corpus.Case) -> None:
    from pybpf.errors import DecodeError
    from pybpf.platform.attach import AttachType
    from pybpf.platform.enums import ProgType

    rec = case.recorded
    assert rec is not None, "not recorded: run tools/corpus_record.py"
    assert rec.verdict in ("accept", "reject")
    assert rec.kernel
    if rec.verdict == "accept":
        assert rec.processed_insns is not None and not rec.errno and not rec.error
    else:
        # processed_insns: how far verification got (None when the load was refused first)
        assert rec.errno.startswith("E")
    ProgType[case.prog_type]
    if case.expected_attach_type:
        AttachType[case.expected_attach_type]
    for flag in case.flags:
        assert flag in corpus.PROG_FLAGS
    if case.c:
        assert (corpus.CORPUS_DIR / case.c).exists(), f"missing C source {case.c}"
        assert case.object_path.exists(), f"missing object {case.object_path}"
    try:
        built = corpus.build(case)
    except DecodeError:
        assert case.insns, "only raw cases may hold undecodable instructions"
        return
    refs = {ref.map_name for ref in built.program.map_references}
    assert refs <= set(built.maps), f"maps referenced but not defined: {refs - set(built.maps)}"


def test_known_failures_name_existing_cases() -> None:
    ids = {case.id for case in CASES}
    known = corpus.load_known_failures()
    stale = [f"line {k.line}: {k.case_id}" for k in known.values() if k.case_id not in ids]
    assert not stale, "known_failures.txt names cases that do not exist:\n" + "\n".join(stale)


def test_error_line_definition() -> None:
    log = (
        "0: R1=ctx() R10=fp0\n"
        "0: (71) r0 = *(u8 *)(r2 +14)\n"
        "invalid access to packet, off=14 size=1, R2(id=0,off=14,r=14)\n"
        "R2 offset is outside of the packet\n"
        "processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0\n"
    )
    assert corpus.error_line(log) == "R2 offset is outside of the packet"
    assert corpus.error_context(log) == (
        "invalid access to packet, off=14 size=1, R2(id=0,off=14,r=14)",
    )
    loop = "1: (05) goto pc-1\ninfinite loop detected at insn 1\ncur state: R0=0\nold state: R0=0\n"
    assert corpus.error_line(loop + "processed 3 insns (limit 1000000)\n") == (
        "infinite loop detected at insn 1"
    )
    glued = "expected prog array map for tail callprocessed 3 insns (limit 1000000) x 0\n"
    assert corpus.error_line(glued) == "expected prog array map for tail call"
    assert corpus.error_line("") == ""
    assert corpus.processed_insns("processed 12 insns (limit 1000000)\n") == 12
