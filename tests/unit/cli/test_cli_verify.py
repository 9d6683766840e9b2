"""``pybpf verify``: verdicts, the kernel's messages with their explanation, exit codes.

Objects are the committed ones (examples, tests/data/c, the verifier corpus's mistakes.o,
whose rejections are recorded from Linux 6.18 in cases/c_programs.toml); assembly files are
written in tmp_path. mistakes.o's ``unbounded_walk`` takes pybpf ~20 s to reject, so tests
select programs rather than verify the whole object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pybpf.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
FIREWALL = ROOT / "examples" / "xdp_firewall" / "xdp_firewall.o"
DNS = ROOT / "examples" / "socket_filter" / "dns_filter.o"
MISTAKES = ROOT / "tests" / "verifier_corpus" / "c" / "mistakes.o"
SUBPROGS = ROOT / "tests" / "data" / "c" / "subprogs.v3.o"
LEGACY = ROOT / "tests" / "data" / "c" / "legacy_asm.v3.o"


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, list[dict[str, Any]]]:
    code, out, _ = run(capsys, *args, "--json")
    return code, json.loads(out)


def asm(tmp_path: Path, text: str, name: str = "prog.s") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- accepted objects ------------------------------------------------------------------------------
@pytest.mark.parametrize("obj", [FIREWALL, DNS], ids=["xdp_firewall", "dns_filter"])
def test_example_objects_are_accepted(capsys: pytest.CaptureFixture[str], obj: Path) -> None:
    code, reports = run_json(capsys, "verify", obj)
    assert code == 0
    [report] = reports
    assert report["verdict"] == "accepted" and report["accepted"] is True
    assert report["processed_insns"] > 0 and "error" not in report


def test_accepted_program_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "verify", FIREWALL)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "xdp_firewall (section xdp, xdp): accepted"
    assert lines[1].startswith("  processed ") and "(limit 1000000) max_states_per_insn" in lines[1]


def test_several_programs_give_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", SUBPROGS)
    assert code == 0
    assert "subprogs.v3.o: 2 accepted, 0 rejected" in out
    assert "caller_a" in out and "caller_b" in out and "error" not in out


# -- rejections: mistakes.o (kernel verdicts in tests/verifier_corpus/cases/c_programs.toml) ------
def test_missing_null_check_explained(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "verify", MISTAKES, "--program", "missing_null_check")
    assert code == 1 and err == ""
    assert "missing_null_check (section xdp, xdp): REJECTED (EACCES)" in out
    assert "  at insn 7: (79) r1 = *(u64 *)(r0 +0)\n" in out
    assert "  source: mistakes.c:52: *v += 1;\n" in out
    assert "  kernel: R0 invalid mem access 'map_value_or_null'\n" in out
    assert "why: R0 may be NULL here" in out and "bpf_map_lookup_elem" in out
    assert "fix: test the pointer before using it" in out


def test_missing_bounds_check_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, [report] = run_json(capsys, "verify", MISTAKES, "-p", "missing_bounds_check")
    assert code == 1
    assert report["verdict"] == "rejected" and report["errno_name"] == "EACCES"
    assert report["error"] == "R1 offset is outside of the packet"
    assert report["messages"][-1] == report["error"]
    assert report["messages"][0].startswith("invalid access to packet, off=23 size=1")
    assert (report["pc"], report["insn"]) == (6, "6: (71) r1 = *(u8 *)(r1 +23)")
    assert report["source"].startswith("mistakes.c:42: return iph->protocol")
    assert report["family"] == "packet-bounds"
    assert "data_end" in report["hint"]


@pytest.mark.parametrize(("program", "error", "family"), [
    ("index_not_bounded", "R1 max value is outside of the allowed memory range", "range-max"),
    ("ringbuf_leak", "BPF_EXIT instruction in main prog would lead to reference leak", "ref-leak"),
    ("write_len", "invalid bpf_context access off=0 size=4", "ctx-access"),
    ("bad_return", "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]",
     "return-range"),
])  # fmt: skip
def test_recorded_rejections(capsys: pytest.CaptureFixture[str], program: str, error: str,
                             family: str) -> None:
    code, [report] = run_json(capsys, "verify", MISTAKES, "--program", program)
    assert code == 1
    assert (report["error"], report["family"]) == (error, family)
    assert report["explanation"] and report["hint"]


def test_whole_program_check_has_no_failing_insn(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", MISTAKES, "-p", "stack_too_deep")
    assert code == 1
    assert "  kernel: combined stack size of 2 calls is 608. Too large\n" in out
    assert "at insn" not in out and "the limit is 512" in out


def test_mixed_verdicts_table_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", LEGACY)
    assert code == 1
    assert "legacy_asm.v3.o: 1 accepted, 1 rejected" in out
    assert "inline_asm (section socket, socket_filter): REJECTED (EINVAL)" in out
    assert "unreachable insn 23" in out
    assert "legacy (section" not in out  # accepted programs are only in the table


def test_section_selects_programs(capsys: pytest.CaptureFixture[str]) -> None:
    code, reports = run_json(capsys, "verify", MISTAKES, "--section", "tc")
    assert code == 1
    assert [r["program"] for r in reports] == ["write_len"]


def test_type_overrides_the_section(capsys: pytest.CaptureFixture[str]) -> None:
    # Returning 2 is wrong for cgroup_skb (the section's type) but fine for tc.
    code, [report] = run_json(capsys, "verify", MISTAKES, "-p", "bad_return", "--type", "tc")
    assert code == 0 and report["prog_type"] == "sched_cls"
    code, [report] = run_json(capsys, "verify", MISTAKES, "-p", "bad_return",
                              "--type", "CGROUP_SKB")
    assert code == 1 and report["family"] == "return-range"


def test_unprivileged_xdp_is_refused_before_verification(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", MISTAKES, "-p", "index_bounded", "--unprivileged")
    assert code == 1
    assert "REJECTED (EPERM)" in out and "refused before verification" in out
    assert "unprivileged users may only load socket filter and cgroup skb programs" in out


# -- assembly files --------------------------------------------------------------------------------
def test_assembly_defaults_to_socket_filter(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, [report] = run_json(capsys, "verify", asm(tmp_path, "mov %r0, 0\nexit\n"))
    assert code == 0
    assert (report["prog_type"], report["processed_insns"]) == ("socket_filter", 2)


def test_assembly_uninitialised_register(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "verify", asm(tmp_path, "r0 = r2\nexit\n"))
    assert code == 1
    assert "  at insn 0: (bf) r0 = r2\n" in out
    assert "  kernel: R2 !read_ok\n" in out
    assert "why: R2 is read before anything was written to it" in out


def test_assembly_packet_access_with_type_and_log(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    prog = asm(tmp_path, "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\n"
               "r0 = *(u8 *)(r2 + 0)\nexit\n")
    code, out, _ = run(capsys, "verify", prog, "--type", "xdp", "--log-level", "1")
    assert code == 1
    assert "--- verifier log of prog (level 1) ---" in out
    assert "2: (71) r0 = *(u8 *)(r2 +0)\n" in out  # the instruction trace of the log
    assert "  kernel: invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)\n" in out
    assert "          R2 offset is outside of the packet\n" in out


def test_unprivileged_pointer_comparison(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prog = asm(tmp_path, "r0 = r1\nif r0 > r10 goto +1\nr0 = 0\nexit\n")
    code, [report] = run_json(capsys, "verify", prog, "--unprivileged")
    assert code == 1
    assert (report["error"], report["family"]) == ("R10 pointer comparison prohibited",
                                                   "pointer-compare")
    code, [report] = run_json(capsys, "verify", prog)
    assert code == 0


def test_json_carries_the_log(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, [report] = run_json(capsys, "verify", asm(tmp_path, "r0 = 1\nexit\n"), "-l", "2")
    assert code == 0
    assert "processed 2 insns" in report["log"]


# -- bad input: one line, exit code 2 --------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["--type", "nonsense"], "error: --type: unknown program type 'nonsense'"),
    (["--program", "nope"], "no program 'nope' (programs: xdp_firewall)"),
    (["--section", "tc"], "no program in section 'tc' (sections: xdp)"),
])  # fmt: skip
def test_bad_selection_exit_2(capsys: pytest.CaptureFixture[str], args: list[str],
                              message: str) -> None:
    code, out, err = run(capsys, "verify", FIREWALL, *args)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_input_files_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "verify", asm(tmp_path, "junk r0\n"))
    assert code == 2 and err.startswith("error: ") and "unknown mnemonic 'junk'" in err
    code, _, err = run(capsys, "verify", asm(tmp_path, "exit\n"), "--program", "x")
    assert code == 2 and "select programs of ELF objects" in err
    broken = tmp_path / "broken.o"
    broken.write_bytes(b"\x7fELF" + bytes(12))
    code, _, err = run(capsys, "verify", broken)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    code, _, err = run(capsys, "verify", tmp_path / "missing.o")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "verify", FIREWALL, "--log-level", "3")
    assert code == 2


# -- BTF: objects are verified as libbpf loads them --------------------------------------------
GLOBAL_FUNCS = ROOT / "tests" / "verifier_corpus" / "c" / "global_funcs.o"


def test_global_function_verified_with_btf_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", GLOBAL_FUNCS, "--program", "deref_maybe_null")
    assert code == 1
    assert "  kernel: R1 invalid mem access 'mem_or_null'\n" in out
    assert "  source: global_funcs.c:" in out


def test_no_btf_verifies_as_loaded_without_btf(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", GLOBAL_FUNCS, "--program", "deref_maybe_null",
                       "--no-btf")
    assert code == 0 and "deref_maybe_null (section xdp, xdp): accepted" in out
