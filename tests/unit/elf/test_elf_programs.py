"""Programs: types from section names, several programs per section, license and metadata."""

from __future__ import annotations

from elf_testdata import load, path, source_line

from pybpf.elf import AttachType, load_collection
from pybpf.isa import OP_LDDW, PseudoSrc, decode
from pybpf.platform.enums import ProgType


def test_kprobe_tracepoint_and_raw_tp() -> None:
    progs = load("tracing").programs
    assert (progs["open_entry"].prog_type, progs["open_entry"].attach_to) == (
        ProgType.KPROBE,
        "do_sys_openat2",
    )
    assert progs["open_exit"].section == "kretprobe/do_sys_openat2"
    assert progs["write_enter"].prog_type == ProgType.TRACEPOINT
    assert progs["write_enter"].attach_to == "syscalls/sys_enter_write"
    assert progs["on_switch"].prog_type == ProgType.RAW_TRACEPOINT
    assert progs["on_switch"].attach_to == "sched_switch"
    for prog in progs.values():
        assert prog.license == "Dual BSD/GPL" and prog.expected_attach_type is None


def test_two_programs_in_one_section() -> None:
    progs = load("tracing").programs
    a, b = progs["write_enter"], progs["write_enter_pid"]
    assert a.section == b.section == "tracepoint/syscalls/sys_enter_write"
    assert a.instructions != b.instructions
    # each starts at its own symbol: its first line info is its own body
    assert a.line_info[0].line == source_line("tracing", "writes += 1;")
    assert b.func_info[0].name == "write_enter_pid" and b.func_info[0].pc == 0
    assert [r.offset for r in a.map_references] == [8]  # `writes` follows `calls` in .bss


def test_several_programs_in_xdp_section() -> None:
    progs = load("prog_array").programs
    assert [p.name for p in progs.values()] == ["tail0", "tail2", "entry"]
    assert all(p.section == "xdp" and p.prog_type == ProgType.XDP for p in progs.values())
    assert progs["tail2"].instructions == decode(bytes.fromhex("b7000000010000009500000000000000"))


def test_section_flags_and_attach_types() -> None:
    progs = load("sections").programs
    assert progs["not_autoloaded"].autoload is False
    assert all(p.autoload for n, p in progs.items() if n != "not_autoloaded")
    assert progs["not_autoloaded"].section == "?xdp"
    assert progs["frags"].flags == 32  # BPF_F_XDP_HAS_FRAGS
    assert progs["sleepable_lsm"].flags == 16  # BPF_F_SLEEPABLE
    assert progs["devmap"].expected_attach_type == AttachType.XDP_DEVMAP
    assert progs["cg_ingress"].expected_attach_type == AttachType.CGROUP_INET_INGRESS == 0
    assert progs["connect4"].prog_type == ProgType.CGROUP_SOCK_ADDR
    assert progs["fentry_prog"].attach_to == "tcp_v4_connect"
    assert progs["tcx_egress"].expected_attach_type == AttachType.TCX_EGRESS
    assert progs["legacy_socket_name"].prog_type == ProgType.SOCKET_FILTER
    assert progs["uprobe_prog"].attach_to == "/bin/true:main"
    assert progs["syscall_prog"].prog_type == ProgType.SYSCALL


def test_global_in_tracing_program() -> None:
    prog = load("tracing").programs["open_entry"]
    (ref,) = prog.map_references
    assert ref.map_name == "tracing.bss" and ref.value and ref.pc == 0
    insn = prog.instructions[0]
    assert insn.code == OP_LDDW and insn.src == PseudoSrc.MAP_VALUE


def test_loading_is_deterministic_and_path_or_bytes() -> None:
    a = load_collection(path("xdp_maps"), host_config=False)
    b = load_collection(path("xdp_maps"), host_config=False)
    assert a == b
    c = load_collection(path("xdp_maps").read_bytes(), name="xdp_maps", host_config=False)
    assert c.programs["xdp_count"].instructions == a.programs["xdp_count"].instructions
    assert c.maps == a.maps and c.source == "" and a.source == str(path("xdp_maps"))


def test_btf_is_attached() -> None:
    coll = load("xdp_maps")
    assert coll.btf is not None and coll.btf.find("xdp_count") is not None
    assert load("legacy_socket").btf is None
