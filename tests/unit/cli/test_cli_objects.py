"""The pybpf command on ELF objects: run with packets and captures, maps, disasm with source."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from pybpf.cli.main import main
from pybpf.runtime.memory import REGION_START

ROOT = Path(__file__).resolve().parents[3]
FIREWALL = ROOT / "examples" / "xdp_firewall" / "xdp_firewall.o"
PCAP = ROOT / "examples" / "xdp_firewall" / "traffic.pcap"
DNS = ROOT / "examples" / "socket_filter" / "dns_filter.o"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_one_packet_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frame = tmp_path / "f.bin"
    frame.write_bytes(bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=80)))
    code, out, _ = run(capsys, "run", FIREWALL, "--section", "xdp", "--data", frame, "--json")
    report = json.loads(out)
    assert code == 0
    assert (report["retval"], report["verdict"]) == (2, "XDP_PASS")
    assert report["data_out"] == frame.read_bytes().hex()
    per_source = dict(report["maps"]["per_source"])
    assert socket.inet_aton("10.0.0.1").hex() in per_source


def test_replay_capture_writes_passing_frames(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_pcap = tmp_path / "out.pcap"
    code, out, _ = run(capsys, "run", FIREWALL, "-s", "xdp", "--pcap", PCAP, "--out", out_pcap, "--json")
    report = json.loads(out)
    assert code == 0 and report["packets"] == 2000
    assert report["verdicts"]["XDP_PASS"] == report["written"]
    from pybpf.runtime.pcap import read_pcap

    assert sum(1 for _ in read_pcap(out_pcap)) == report["written"]


def test_replay_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", FIREWALL, "-s", "xdp", "--pcap", PCAP)
    assert code == 0
    assert "2000 packets" in out and "XDP_PASS" in out and "per_source" in out


def test_truncated_capture_names_the_record(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frames = [Ether() / IP() / TCP(dport=p) for p in (1, 2, 3)]
    good = tmp_path / "good.pcap"
    wrpcap(str(good), frames)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(good.read_bytes()[:-10])
    code, _, err = run(capsys, "run", FIREWALL, "-s", "xdp", "--pcap", bad)
    assert code == 1 and "record 3 is truncated" in err and "Traceback" not in err
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    code, _, err = run(capsys, "run", FIREWALL, "-s", "xdp", "--pcap", junk)
    assert code == 1 and "not a readable pcap" in err


def test_socket_filter_verdict_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frame = tmp_path / "f.bin"
    frame.write_bytes(bytes(Ether() / IP() / TCP(dport=80)))
    code, out, _ = run(capsys, "run", DNS, "--data", frame, "--json")
    assert code == 0 and json.loads(out)["verdict"] == "drop"


def test_unknown_section_lists_programs(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", FIREWALL, "--section", "tc")
    assert code == 1 and "xdp_firewall" in err


def test_maps_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "maps", FIREWALL, "--json")
    maps = {m["name"]: m for m in json.loads(out)}
    assert code == 0
    assert maps["stats"]["type"] == "percpu_array" and maps["stats"]["max_entries"] == 4
    assert maps["blocked_ports"]["key_size"] == 2


def test_disasm_object_interleaves_source(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "disasm", FIREWALL)
    assert code == 0
    assert "xdp: xdp_firewall (xdp" in out
    assert "; int xdp_firewall(struct xdp_md *ctx)" in out
    assert "<map stats>" in out


def test_malformed_object_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.o"
    bad.write_bytes(FIREWALL.read_bytes()[:200])
    code, _, err = run(capsys, "run", bad, "-s", "xdp")
    assert code == 1 and err.startswith("error:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_entry_runs_a_text_function_as_mem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """scale(len) = mix(len) >> 3 with mix(x) = x * 2654435761 + 17 (u32), a .text function.
    As the raw mem type r1 is the pointer to the bytes, whose low 32 bits are REGION_START
    (every region starts that far into its window, as no kernel pointer has zero low bits)."""
    obj = ROOT / "tests" / "data" / "elf" / "tc_subprogs.o"
    mem = tmp_path / "m.bin"
    mem.write_bytes(bytes(16))
    code, out, _ = run(capsys, "run", obj, "--entry", "scale", "--mem", mem, "--json")
    assert code == 0
    assert json.loads(out)["retval"] == ((REGION_START * 2654435761 + 17) & 0xFFFFFFFF) >> 3
    code, _, err = run(capsys, "run", obj, "--entry", "nosuch")
    assert code == 1 and "no function named nosuch" in err


def test_run_on_the_jit_backend_matches_the_interpreter(capsys: pytest.CaptureFixture[str]) -> None:
    results = {}
    for backend in ("interp", "jit"):
        code, out, _ = run(capsys, "run", FIREWALL, "-s", "xdp", "--pcap", PCAP, "--json",
                           "--backend", backend)
        assert code == 0
        report = json.loads(out)
        results[backend] = (report["verdicts"], report["maps"]["per_source"])
    assert results["interp"] == results["jit"]


def test_perf_map_names_the_program(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """--perf-map: the firewall's compiled code appears in /tmp/perf-<pid>.map under its
    name (the flag sets PYBPF_PERF_MAP for the process; restored after the test)."""
    from pybpf.jit import perfmap

    monkeypatch.setenv(perfmap.ENV, "0")  # off until the flag; the old value comes back
    path = perfmap.map_path()
    before = path.read_text() if path.exists() else ""
    code, out, _ = run(capsys, "run", FIREWALL, "-s", "xdp", "--pcap", PCAP, "--backend", "jit",
                       "--perf-map", "--json")
    assert code == 0 and json.loads(out)["packets"] == 2000
    added = path.read_text()[len(before):].splitlines()
    assert any(line.split(" ", 2)[2] == "bpf:xdp_firewall:f0" for line in added), added[:5]
