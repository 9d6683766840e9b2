"""pybpf.verifier.explain: every message the kernel gave in the verifier corpus is explained."""

from __future__ import annotations

import errno
import tomllib
from pathlib import Path

import pytest

from pybpf.verifier.explain import RULES, explain

CASES_DIR = Path(__file__).resolve().parents[2] / "verifier_corpus" / "cases"


def recorded_rejections() -> list[tuple[str, str, tuple[str, ...], int, bool]]:
    """(case id, error, error lines, errno, privileged) of every recorded rejection."""
    out = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        for case in data.get("case", []):
            if case.get("verdict") != "reject":
                continue
            err = getattr(errno, case["errno"], 524)  # ENOTSUPP is kernel-internal
            lines = (*case.get("error_context", ()), case["error"])
            out.append((f"{path.stem}/{case['name']}", case["error"], lines, err,
                        case.get("privileged", True)))
    return out


def test_every_recorded_rejection_is_explained() -> None:
    rejections = recorded_rejections()
    assert len(rejections) > 600
    missing = [(cid, error) for cid, error, lines, err, priv in rejections
               if explain(error, lines, errno=err, privileged=priv) is None]
    assert missing == []


def test_many_message_families() -> None:
    families = {rule.family for rule in RULES}
    assert len(families) >= 30
    seen = {explain(error, lines, errno=err, privileged=priv).family  # type: ignore[union-attr]
            for _, error, lines, err, priv in recorded_rejections()}
    assert len(seen) >= 30


@pytest.mark.parametrize(("message", "family", "words"), [
    ("R0 invalid mem access 'map_value_or_null'", "null-pointer", "may be NULL"),
    ("R1 !read_ok", "uninit-register", "R1 is read before anything was written"),
    ("unreachable insn 23", "unreachable", "instruction 23 can never be executed"),
    ("back-edge from insn 5 to 2", "back-edge", "from 5 back to 2"),
    ("infinite loop detected at insn 4", "infinite-loop", "instruction 4"),
    ("BPF program is too large. Processed 1000001 insn", "too-large", "1,000,000"),
    ("Unreleased reference id=2 alloc_insn=5", "ref-leak", "not released"),
    ("invalid read from stack R2 off=-4 size=8", "stack-read", "never written"),
    ("math between map_value pointer and register with unbounded min value is not allowed",
     "unbounded-math", "may be negative"),
    ("R2 min value is negative, either use unsigned or 'var &= const'", "negative-index",
     "negative"),
    ("R4 invalid zero-sized read: u64=[0,15]", "zero-sized-read", "0 bytes"),
    ("cannot call GPL-restricted function from non-GPL compatible program", "gpl-only", "GPL"),
    ("unknown func bpf_foo#999", "unknown-helper", "bpf_foo#999 is not a helper"),
    ("program of this type cannot use helper bpf_redirect#23", "helper-prog-type",
     "bpf_redirect#23 is not available"),
    ("invalid bpf_context access off=76 size=4", "ctx-access", "offset 76"),
    ("misaligned packet access off 2+0+0+1 size 4", "misaligned", "packet access"),
    ("jump out of range from insn 3 to 9", "jump-range", "targets 9"),
    ("R3 pointer comparison prohibited", "pointer-compare", "compare pointers"),
    ("R0 leaks addr as return value", "addr-leak-return", "return a kernel address in R0"),
    ("R1 leaks addr into map", "addr-leak", "into map"),
    ("pybpf does not verify calls to kernel functions (kfuncs)", "pybpf-unmodelled", "pybpf"),
])  # fmt: skip
def test_messages(message: str, family: str, words: str) -> None:
    found = explain(message)
    assert found is not None
    assert found.family == family and found.message == message
    assert words in found.explanation
    assert found.hint and found.explanation.endswith(".")


def test_context_line_is_used_when_the_error_line_is_unknown() -> None:
    found = explain("something new", ("invalid access to packet, off=0 size=1", "something new"))
    assert found is not None and found.family == "packet-bounds"


def test_errno_only_refusals() -> None:
    found = explain("", (), errno=errno.EPERM, privileged=False)
    assert found is not None and found.family == "unprivileged-type" and not found.at_insn
    assert explain("", (), errno=errno.E2BIG) is not None
    assert explain("no rule knows this") is None
