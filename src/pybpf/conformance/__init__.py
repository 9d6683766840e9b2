"""The bpf_conformance suite: its ``.data`` file format and a runner over any backend."""

from pybpf.conformance.datafile import ConformanceCase, parse_case
from pybpf.conformance.runner import CaseOutcome, conformance_helpers, run_case, run_suite

__all__ = [
    "CaseOutcome",
    "ConformanceCase",
    "conformance_helpers",
    "parse_case",
    "run_case",
    "run_suite",
]
