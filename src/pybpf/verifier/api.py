"""``verify()``: the verifier's public entry point.

Mirrors the order of ``bpf_check()`` (kernel/bpf/verifier.c, Linux 6.18) and the checks
``bpf_prog_load()`` (kernel/bpf/syscall.c) makes before it: instruction count, unprivileged
program types, then the pre-exploration passes (:mod:`.check_cfg`), liveness
(:mod:`.liveness`) and path exploration (:mod:`.explore`). A rejection is a result, not an
exception: ``result.raise_for_error()`` turns it into :class:`~pybpf.errors.VerifierError`.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Mapping
from dataclasses import dataclass, field

from pybpf.btf import Btf
from pybpf.errors import VerifierError
from pybpf.platform.enums import ProgType
from pybpf.platform.prog_types import prog_type_info
from pybpf.program.spec import MapSpec, ProgramSpec
from pybpf.verifier.check_cfg import check_max_stack_depth, run_cfg_checks
from pybpf.verifier.env import BPF_COMPLEXITY_LIMIT_INSNS, Env, Reject, VerifyOptions
from pybpf.verifier.explore import do_check_main, insn_text
from pybpf.verifier.global_funcs import do_check_subprogs
from pybpf.verifier.insn_graph import compute_postorder, compute_scc
from pybpf.verifier.liveness import compute_live_registers, live_regs_table
from pybpf.verifier.log import VerifierLog
from pybpf.verifier.packet_facts import PacketInsns
from pybpf.verifier.packet_facts import collect as collect_packet_insns
from pybpf.verifier.packet_facts import context_accesses
from pybpf.verifier.program import Program

__all__ = ["VerificationResult", "verify", "verify_bytes"]

BPF_MAXINSNS = 4096
BPF_F_STRICT_ALIGNMENT = 1
BPF_F_ANY_ALIGNMENT = 2
BPF_F_TEST_STATE_FREQ = 8


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """The verdict on one program.

    ``error`` is the line of the log that says why the program was rejected (the last
    message line, as the kernel's log ends); ``messages`` all the lines of that rejection;
    ``errno`` the error number ``BPF_PROG_LOAD`` would return; ``pc`` the instruction that
    failed. ``log`` is the verifier log at the requested level ("" at level 0).
    """

    accepted: bool
    error: str | None = None
    errno: int = 0
    pc: int | None = None
    processed_insns: int = 0
    max_states_per_insn: int = 0
    total_states: int = 0
    peak_states: int = 0
    log: str = ""
    messages: tuple[str, ...] = field(default=())
    #: Per function (start pc; every sub-program), the lowest offset of its frame that
    #: anything but its own ``r10 + k`` accesses may reach (0: none); accepted programs
    #: only. pybpf's JIT keeps the frame below it private (not in the kernel's verdict).
    stack_exposed: tuple[tuple[int, int], ...] = field(default=())
    #: Accepted programs: the packet context loads, accesses and compares pybpf's JIT
    #: translates with one offset per packet (:mod:`pybpf.verifier.packet_facts`).
    packet: PacketInsns = field(default=PacketInsns())
    #: Accepted programs: the loads and stores through the context pointer (the ones the
    #: kernel rewrites; :func:`pybpf.verifier.packet_facts.context_accesses`).
    context_accesses: tuple[int, ...] = field(default=())

    def raise_for_error(self) -> None:
        """Raise :class:`~pybpf.errors.VerifierError` if the program was rejected."""
        if not self.accepted:
            raise VerifierError(self.error or "rejected", pc=self.pc, log=self.log)

    def __bool__(self) -> bool:
        return self.accepted


def _error_lines(messages: list[str]) -> tuple[str, ...]:
    lines = []
    for text in "".join(messages).splitlines():
        if text.strip() and not text.startswith(("cur state:", "old state:")):
            lines.append(text.rstrip())
    return tuple(lines)


def _stats(env: Env) -> str:
    return (f"processed {env.insn_processed} insns (limit {BPF_COMPLEXITY_LIMIT_INSNS}) "
            f"max_states_per_insn {env.max_states_per_insn} total_states {env.total_states} "
            f"peak_states {env.peak_states} mark_read 0\n")  # fmt: skip


def _run(program: Program, options: VerifyOptions, spec: ProgramSpec | None,
         maps: Mapping[str, MapSpec]) -> VerificationResult:
    n = len(program)
    if n == 0 or n > (BPF_COMPLEXITY_LIMIT_INSNS if options.privileged else BPF_MAXINSNS):
        return VerificationResult(False, None, _errno.E2BIG)
    if not options.privileged and options.prog_type not in (ProgType.SOCKET_FILTER,
                                                            ProgType.CGROUP_SKB):
        return VerificationResult(False, None, _errno.EPERM)
    info = prog_type_info(options.prog_type)
    if info.requires_attach_type and options.expected_attach_type is None:
        return VerificationResult(False, None, _errno.EINVAL)
    env = Env(program, options, spec, maps, VerifierLog(options.log_level))
    env.msg_mark = 0
    err = 0
    try:
        run_cfg_checks(env)
        compute_postorder(env)
        compute_live_registers(env)
        compute_scc(env)
        if options.log_level >= 2:
            env.log(live_regs_table(env, lambda pc: insn_text(env, pc)))
        env.msg_mark = len(env.messages)
        do_check_main(env)
        do_check_subprogs(env)
        env.msg_mark = len(env.messages)
        env.insn_idx = 0
        check_max_stack_depth(env)
    except Reject as exc:
        err = exc.errno
    env.log(_stats(env))
    lines = _error_lines(env.messages[env.msg_mark:]) if err else ()
    return VerificationResult(
        accepted=not err,
        error=lines[-1] if lines else (None if not err else ""),
        errno=err,
        pc=env.error_pc if err else None,
        processed_insns=env.insn_processed,
        max_states_per_insn=env.max_states_per_insn,
        total_states=env.total_states,
        peak_states=env.peak_states,
        log=env.log.text(),
        messages=lines,
        stack_exposed=() if err else tuple(
            (sp.start, env.stack_exposed.get(i, 0)) for i, sp in enumerate(env.subprogs)),
        packet=PacketInsns() if err else collect_packet_insns(env),
        context_accesses=() if err else context_accesses(env),
    )


def verify(
    spec: ProgramSpec,
    *,
    prog_type: ProgType | int | None = None,
    privileged: bool = True,
    log_level: int = 0,
    maps: Mapping[str, MapSpec] | None = None,
    strict_alignment: bool | None = None,
    expected_attach_type: int | None = None,
    kernel_btf: Btf | None = None,
) -> VerificationResult:
    """Verify ``spec`` as the Linux kernel's verifier would.

    ``prog_type`` defaults to the spec's (then SOCKET_FILTER); ``privileged`` is a root
    loader (CAP_BPF, CAP_PERFMON); ``maps`` maps the names used by the spec's map
    references to their :class:`~pybpf.program.spec.MapSpec`; ``strict_alignment`` defaults
    to the spec's BPF_F_STRICT_ALIGNMENT flag; ``kernel_btf`` is the target kernel's BTF (by
    default the running kernel's ``/sys/kernel/btf/vmlinux``, read when a check needs it).
    """
    pt = prog_type if prog_type is not None else spec.prog_type
    options = VerifyOptions(
        prog_type=ProgType(pt if pt is not None else ProgType.SOCKET_FILTER),
        privileged=privileged,
        log_level=log_level,
        strict_alignment=bool(spec.flags & BPF_F_STRICT_ALIGNMENT
                              and not spec.flags & BPF_F_ANY_ALIGNMENT)
        if strict_alignment is None else strict_alignment,
        expected_attach_type=expected_attach_type if expected_attach_type is not None
        else spec.expected_attach_type,
        test_state_freq=bool(spec.flags & BPF_F_TEST_STATE_FREQ) and privileged,
        kernel_btf=kernel_btf,
    )
    return _run(Program.from_bytes(spec.to_bytes()), options, spec, dict(maps or {}))


def verify_bytes(
    data: bytes,
    *,
    prog_type: ProgType | int = ProgType.SOCKET_FILTER,
    privileged: bool = True,
    log_level: int = 0,
    maps: Mapping[int, MapSpec] | None = None,
    license: str = "GPL",
    kernel_btf: Btf | None = None,
) -> VerificationResult:
    """Verify raw instruction bytes (malformed encodings included); ``maps`` by fd number."""
    options = VerifyOptions(ProgType(prog_type), privileged, log_level, kernel_btf=kernel_btf)
    spec = ProgramSpec("prog", (), license=license)
    return _run(Program.from_bytes(data), options, spec, dict(maps or {}))  # type: ignore[arg-type]
