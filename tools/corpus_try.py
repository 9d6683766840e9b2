"""Try verifier-corpus cases against the live kernel and print the verifier log.

For authoring ``tests/verifier_corpus/cases/*.toml``: shows the kernel's log (level 4 unless ``-l``) and the
error line the recorder would store, without writing anything.

    python3 tools/corpus_try.py control_flow/unreachable_insn   # one case (or a glob)
    python3 tools/corpus_try.py -t XDP -e 'r0 = 2' -e exit      # ad-hoc assembly
    python3 tools/corpus_try.py -t SOCKET_FILTER --unpriv < prog.s
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests" / "verifier_corpus")]

import corpus  # noqa: E402


def _show(case: corpus.Case, full: bool, log_level: int) -> None:
    if case.privileged:
        with corpus.kernel_job(case) as (job, _):
            err, log = corpus.load_job(job, log_level)
        rec = corpus.to_recorded(err, log)
    else:
        rec = corpus.run_unprivileged([case])[case.id]
        log = "(log of unprivileged loads is not shown)"
    print(f"== {case.id}: {rec.summary()}")
    if full:
        print(log.rstrip())
    if case.recorded and (case.recorded.verdict, case.recorded.error) != (rec.verdict, rec.error):
        print(f"   recorded: {case.recorded.summary()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("patterns", nargs="*", help="case ids (topic/name, globs allowed)")
    ap.add_argument("-t", "--type", help="program type for ad-hoc assembly (from stdin or -e)")
    ap.add_argument("-a", "--attach", default="", help="expected attach type")
    ap.add_argument("-e", "--expr", action="append", help="an assembly line (repeatable)")
    ap.add_argument("--unpriv", action="store_true", help="load as an unprivileged user")
    ap.add_argument("--flag", action="append", default=[], help="BPF_F_* prog flag")
    ap.add_argument("--license", default="GPL")
    ap.add_argument("-f", "--func-info", action="store_true",
                    help="load with BTF func info (needed by callbacks: bpf_loop...)")
    ap.add_argument("-m", "--map", action="append", default=[],
                    help="NAME:TYPE:KEY:VALUE:ENTRIES for {map:NAME} placeholders")
    ap.add_argument("-q", "--quiet", action="store_true", help="verdict only, no log")
    ap.add_argument("-l", "--log-level", type=int, default=corpus.LOG_LEVEL,
                    help="BPF_PROG_LOAD log_level: 1 (trace of the path that failed), "
                         "2 (every instruction with its state), 4 (messages and statistics, "
                         "the default)")
    args = ap.parse_args(argv)
    if args.type:
        asm = "\n".join(args.expr) if args.expr else sys.stdin.read()
        maps = []
        for spec in args.map:
            name, mtype, key, value, entries = spec.split(":")
            maps.append(corpus.MapDef(name, mtype, int(key), int(value), int(entries)))
        case = corpus.Case("adhoc", "adhoc", args.type, privileged=not args.unpriv,
                           license=args.license, expected_attach_type=args.attach,
                           flags=tuple(args.flag), func_info=args.func_info, maps=tuple(maps),
                           asm=asm)
        _show(case, not args.quiet, args.log_level)
        return 0
    for case in corpus.load_cases():
        if any(fnmatch.fnmatch(case.id, p) for p in args.patterns):
            _show(case, not args.quiet, args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
