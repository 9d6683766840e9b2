"""The verifier's working environment for one program.

Mirrors ``struct bpf_verifier_env`` and ``struct bpf_insn_aux_data``
(include/linux/bpf_verifier.h): the program, the options of the load, per-instruction facts
found before exploration (prune points, the map an ``lddw`` loads, live registers), the
sub-programs, the work stack and explored states, counters, the log and id generation. One
``Env`` exists per :func:`pybpf.verifier.verify` call; nothing is global.

Errors follow the kernel: a message is written to the log with :meth:`Env.verbose` and
verification stops with :class:`Reject` carrying the errno; the API turns that into a result.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

from pybpf.platform.enums import ProgType
from pybpf.verifier.log import VerifierLog
from pybpf.verifier.precision import Backtrack
from pybpf.verifier.regstate import RegState, mark_reg_unknown
from pybpf.verifier.program import Program

if TYPE_CHECKING:
    from pybpf.btf import Btf
    from pybpf.program.spec import MapSpec, ProgramSpec
    from pybpf.verifier.state import VerifierState

__all__ = [
    "BPF_COMPLEXITY_LIMIT_INSNS",
    "BPF_COMPLEXITY_LIMIT_JMP_SEQ",
    "BPF_COMPLEXITY_LIMIT_STATES",
    "Env",
    "InsnAux",
    "Reject",
    "Subprog",
    "VerifyOptions",
]

BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000
BPF_COMPLEXITY_LIMIT_JMP_SEQ = 8192
BPF_COMPLEXITY_LIMIT_STATES = 64


class Reject(Exception):
    """Verification failed; the message is already in the log. ``errno`` as the kernel's."""

    def __init__(self, errno: int = _errno.EINVAL) -> None:
        super().__init__(errno)
        self.errno = errno


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """What the kernel knows about a load besides the instructions.

    ``privileged`` means CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN (root): pointer leaks, bounded
    loops, uninitialised stack reads and bpf-to-bpf calls are allowed, speculative-execution
    checks are off. ``strict_alignment`` is BPF_F_STRICT_ALIGNMENT. ``kernel_btf`` is the
    target kernel's BTF (``btf_vmlinux``); None reads the running kernel's
    (``/sys/kernel/btf/vmlinux``) the first time a check needs it.
    """

    prog_type: ProgType = ProgType.SOCKET_FILTER
    privileged: bool = True
    log_level: int = 0
    strict_alignment: bool = False
    expected_attach_type: int | None = None
    #: BPF_F_TEST_STATE_FREQ (privileged only): a checkpoint at every prune point.
    test_state_freq: bool = False
    kernel_btf: Btf | None = None


@dataclass(slots=True)
class InsnAux:
    """``struct bpf_insn_aux_data`` (the fields used here)."""

    prune_point: bool = False
    jmp_point: bool = False
    force_checkpoint: bool = False
    #: A helper call that calls a callback synchronously (``calls_callback``).
    calls_callback: bool = False
    #: ``loop_inline_state`` of a bpf_loop call: initialized, fit_for_inline, subprogno.
    loop_inline: tuple[bool, bool, int] = (False, False, 0)
    map: MapSpec | None = None
    map_off: int = 0
    seen: bool = False
    live_regs_before: int = 0
    #: The registers of ``live_regs_before``, in order.
    live_list: tuple[int, ...] = ()
    ptr_type: int | None = None
    #: Id of the loop (strongly connected component) holding the instruction, 0 if none.
    scc: int = 0
    #: Unprivileged speculation: a path reaching this insn speculatively stops here
    #: (``nospec``), or right after it (``nospec_result``, stack writes).
    nospec: bool = False
    nospec_result: bool = False
    #: ``sanitize_ptr_alu()``'s masking of this insn (must agree on every path).
    alu_state: int = 0
    alu_limit: int = 0
    #: Not the kernel's (what pybpf's JIT uses, see :mod:`pybpf.verifier.packet_facts`):
    #: whether every visit of this load/store accessed the packet directly (None: never
    #: visited), whether every visit of this 64-bit register compare compared two packet
    #: pointers, whether this context load gives a packet pointer.
    pkt_access: bool | None = None
    pkt_compare: bool | None = None
    pkt_load: bool = False


@dataclass(slots=True)
class Subprog:
    """``struct bpf_subprog_info`` (the fields used here)."""

    start: int
    stack_depth: int = 0
    has_tail_call: bool = False
    has_ld_abs: bool = False
    is_global: bool = False
    postorder_start: int = 0
    #: Called as a callback (``is_cb``), asynchronously (``is_async_cb``).
    is_cb: bool = False
    is_async_cb: bool = False


@dataclass(slots=True)
class StackElem:
    """``struct bpf_verifier_stack_elem``: a state waiting to be explored."""

    state: VerifierState
    insn_idx: int
    prev_insn_idx: int
    log_pos: int


@dataclass(slots=True)
class Env:
    """``struct bpf_verifier_env``."""

    prog: Program
    options: VerifyOptions
    spec: ProgramSpec | None = None
    maps: Mapping[str, MapSpec] = field(default_factory=dict)
    log: VerifierLog = field(default_factory=VerifierLog)
    messages: list[str] = field(default_factory=list)
    aux: list[InsnAux] = field(default_factory=list)
    subprogs: list[Subprog] = field(default_factory=list)
    explored: dict[int, list] = field(default_factory=dict)  # type: ignore[type-arg]
    stack: list[StackElem] = field(default_factory=list)
    id_gen: int = 0
    insn_idx: int = 0
    prev_insn_idx: int = -1
    cur_state: VerifierState | None = None
    insn_processed: int = 0
    prev_insn_processed: int = 0
    jmps_processed: int = 0
    prev_jmps_processed: int = 0
    #: Per sub-program (index), the lowest frame offset anything but its own ``r10 + k``
    #: may reach: accesses through other stack pointers, stack pointers passed to calls.
    #: Not the kernel's: what pybpf's JIT needs to keep the rest of a frame private.
    stack_exposed: dict[int, int] = field(default_factory=dict)
    total_states: int = 0
    peak_states: int = 0
    max_states_per_insn: int = 0
    scratched_regs: set[int] = field(default_factory=set)
    scratched_slots: set[int] = field(default_factory=set)
    all_scratched: bool = True
    error_pc: int | None = None
    msg_mark: int = 0
    #: The current instruction already has an entry in the jump history (``cur_hist_ent``).
    cur_hist_ent: bool = False
    bt: Backtrack = field(default_factory=Backtrack)
    #: Instructions of every sub-program in DFS post-order (insn_graph.compute_postorder()).
    postorder: list[int] = field(default_factory=list)
    postorder_end: int = 0
    scc_cnt: int = 0
    #: Loop visits and pending back-edges (:mod:`pybpf.verifier.scc`), by call chain.
    scc_visits: dict = field(default_factory=dict)  # type: ignore[type-arg]
    num_backedges: int = 0
    #: Unprivileged pointer arithmetic with unknown scalars seen: scalars only prune exact.
    explore_alu_limits: bool = False
    explored_states_size: int = 0
    free_list_size: int = 0
    #: Stack liveness (:mod:`pybpf.verifier.stack_liveness`).
    liveness: object | None = None
    #: Func info of a program loaded with BTF (:class:`pybpf.verifier.func_info.BtfInfo`).
    btf_info: object | None = None
    #: ``btf_record`` of each map value, by ``id(MapSpec)`` (:mod:`pybpf.verifier.map_btf`).
    map_records: dict = field(default_factory=dict)  # type: ignore[type-arg]
    #: The kernel's BTF once loaded (``btf_vmlinux``); see :meth:`btf_vmlinux`.
    _btf_vmlinux: Btf | None = field(default=None, init=False, repr=False)
    _btf_vmlinux_loaded: bool = field(default=False, init=False, repr=False)

    # -- privileges (set from the options; plain attributes, read on every instruction) ---
    bpf_capable: bool = field(init=False)
    allow_ptr_leaks: bool = field(init=False)
    bypass_spec_v1: bool = field(init=False)
    allow_uninit_stack: bool = field(init=False)
    #: The unknown scalar all-MISC stack bytes compare as (never modified).
    unbound_reg: RegState = field(init=False)

    def __post_init__(self) -> None:
        if not self.aux:
            self.aux = [InsnAux() for _ in range(len(self.prog))]
        priv = self.options.privileged
        self.bpf_capable = self.allow_ptr_leaks = priv
        self.bypass_spec_v1 = self.allow_uninit_stack = priv
        self.unbound_reg = RegState()
        mark_reg_unknown(self.unbound_reg)

    @property
    def prog_type(self) -> ProgType:
        return self.options.prog_type

    def btf_vmlinux(self) -> Btf | None:
        """``btf_vmlinux``: the target kernel's BTF, None when it cannot be had.

        ``options.kernel_btf`` when given, else the running kernel's, read once per
        verification (by the first check that needs it).
        """
        if not self._btf_vmlinux_loaded:
            self._btf_vmlinux_loaded = True
            self._btf_vmlinux = self.options.kernel_btf
            if self._btf_vmlinux is None:
                from pybpf.btf import Btf
                from pybpf.errors import PybpfError

                try:
                    self._btf_vmlinux = Btf.load_vmlinux()
                except (OSError, PybpfError):
                    self._btf_vmlinux = None
        return self._btf_vmlinux

    # -- log ----------------------------------------------------------------------------------
    def verbose(self, text: str) -> None:
        """``verbose()``: append to the log (kept for the error even at log level 0)."""
        self.messages.append(text)
        self.log(text)

    def reject(self, text: str, errno: int = _errno.EINVAL, newline: bool = True) -> NoReturn:
        """Log ``text`` (one line, newline added unless the kernel prints none) and stop
        verification."""
        self.verbose(text + "\n" if newline else text)
        self.error_pc = self.insn_idx
        raise Reject(errno)

    def explored_state(self, idx: int) -> list:  # type: ignore[type-arg]
        """``explored_state()``: the list of saved states ``idx`` shares with others.

        The kernel hashes by instruction *and* the current frame's call site, into as many
        buckets as the program has instructions; states of other instructions (or call
        chains) in the same bucket are skipped by the lookups but count as the kernel counts
        them (``max_states_per_insn``, the checkpoint heuristics).
        """
        cur = self.cur_state
        assert cur is not None
        callsite = cur.frame[cur.curframe].callsite
        return self.explored.setdefault(((idx ^ callsite) & 0xFFFFFFFF) % len(self.prog), [])

    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    # -- scratch marks (what print_insn_state() prints) -----------------------------------------
    def mark_reg_scratched(self, regno: int) -> None:
        self.scratched_regs.add(regno)

    def mark_stack_slot_scratched(self, spi: int) -> None:
        self.scratched_slots.add(spi)

    def mark_state_scratched(self) -> None:
        self.all_scratched = True

    def mark_state_clean(self) -> None:
        self.all_scratched = False
        self.scratched_regs.clear()
        self.scratched_slots.clear()

    def state_scratched(self) -> bool:
        return self.all_scratched or bool(self.scratched_regs) or bool(self.scratched_slots)
