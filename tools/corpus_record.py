"""Record the live kernel's verdict on every verifier-corpus case (or check for drift).

Loads each case of ``tests/verifier_corpus/cases/*.toml`` with ``BPF_PROG_LOAD`` (log level 1)
and writes ``verdict``, ``errno``, ``error``, ``processed_insns`` and ``kernel`` back into the
case, rewriting each topic file in its canonical form (deterministic: the same kernel gives
byte-identical files). Privileged cases are loaded from this process; unprivileged ones from
a child dropped to ``nobody`` with ``kernel.unprivileged_bpf_disabled`` set to 0 for the
duration and restored afterwards (never set to 1). Needs root.

    python3 tools/corpus_record.py                 # record everything, rewrite the files
    python3 tools/corpus_record.py --check         # report drift, change nothing (exit 1)
    python3 tools/corpus_record.py -k 'stack/*'    # only the matching cases (fnmatch on ids)
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import fnmatch
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "verifier_corpus")]

import corpus  # noqa: E402


def _drift(old: corpus.Recorded | None, new: corpus.Recorded, same_kernel: bool) -> str:
    if old is None:
        return "not recorded"
    if (old.verdict, old.errno, old.error) != (new.verdict, new.errno, new.error):
        return f"{old.summary()} -> {new.summary()}"
    if same_kernel and old.processed_insns != new.processed_insns:
        return f"processed_insns {old.processed_insns} -> {new.processed_insns}"
    return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="report drift, do not write")
    ap.add_argument("-k", "--select", action="append", default=[],
                    help="only cases whose id matches this fnmatch pattern (repeatable)")
    ap.add_argument("--no-unprivileged", action="store_true",
                    help="skip unprivileged cases (keeps their recorded results)")
    args = ap.parse_args(argv)

    topics = corpus.topic_files()
    selected = [
        case for topic in topics for case in topic.cases
        if not args.select or any(fnmatch.fnmatch(case.id, p) for p in args.select)
    ]  # fmt: skip
    if not args.no_unprivileged and any(not c.privileged for c in selected):
        reason = corpus.unprivileged_unavailable()
        if reason:
            print(f"cannot record unprivileged cases: {reason} (use --no-unprivileged)")
            return 2
    todo = [c for c in selected if c.privileged or not args.no_unprivileged]
    started = time.monotonic()
    results = corpus.run_kernel(todo)
    elapsed = time.monotonic() - started
    release = corpus.kernel_release()

    drifted = []
    for case in todo:
        old = case.recorded
        same_kernel = old is not None and old.kernel == release
        why = _drift(old, results[case.id], same_kernel)
        if why:
            drifted.append(f"{case.id}: {why}")
    if not args.check:
        for topic in topics:
            topic.cases = [
                dataclasses.replace(case, recorded=results.get(case.id, case.recorded))
                for case in topic.cases
            ]
            text = corpus.dump_topic(topic)
            if topic.path.read_text() != text:
                topic.path.write_text(text)

    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for case in todo:
        counts[(case.topic, results[case.id].verdict)] += 1
    for topic in sorted({t for t, _ in counts}):
        print(f"  {topic:24} accept {counts[(topic, 'accept')]:4}  "
              f"reject {counts[(topic, 'reject')]:4}")
    n_unpriv = sum(1 for c in todo if not c.privileged)
    print(f"{len(todo)} cases ({n_unpriv} unprivileged) on {release} in {elapsed:.1f}s")
    if drifted:
        print(f"{len(drifted)} changed:" if not args.check else f"{len(drifted)} drifted:")
        for line in drifted:
            print(f"  {line}")
    return 1 if (args.check and drifted) else 0


if __name__ == "__main__":
    sys.exit(main())
