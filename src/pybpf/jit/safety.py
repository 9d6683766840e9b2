"""Which programs the JIT compiles without bounds checks: the ones pybpf's verifier accepted.

Mirrors the kernel's contract: a program reaches the JIT only after ``bpf_check()``
accepted it, and the JIT then trusts every access the verifier proved safe. The
``checked`` option of :class:`~pybpf.jit.machine.JIT`:

* ``True`` — every load and store is bounds-checked (a fault is the interpreter's
  :class:`~pybpf.errors.ExecutionFault`); nothing is verified;
* ``None`` (the default) and ``False`` — a program with a kernel program type must pass the
  verifier (:func:`pybpf.verifier.verify`, as a privileged loader): accepted, it is compiled
  without bounds checks; rejected, loading it is a :class:`~pybpf.errors.VerifierError`
  naming the verifier's reason, pc and log (:data:`REFUSE_BY_DEFAULT`; were it false, the
  default would compile a rejected program with bounds checks instead). Compiled code is
  never unchecked without an accepting verdict.

Programs without a program type (the raw ``mem`` type of the conformance suite and
``pybpf run --entry``) cannot be verified and always run checked.

What is verified is the program before map relocation when the loader passes it (a
:class:`~pybpf.runtime.collection.Collection` does); a program whose ``lddw`` constants are
already the addresses of maps of this runtime is verified with those turned back into map
references (:func:`unrelocated`), as the kernel verifies ``lddw`` of map fds.

Verdicts are cached next to compiled objects (:class:`~pybpf.jit.cache.CompileCache`),
keyed by a digest of everything they depend on: the unrelocated instructions, map
references and the specs of the maps they name, program type, flags and BTF function info,
and a fingerprint of the verifier's source and of the kernel facts it reads (pybpf.platform,
BTF, the instruction set), so a cached verdict is reused only for the same program under the
same verifier and tables, and a cached reload does not verify again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pybpf.errors import VerifierError
from pybpf.isa import OP_LDDW, Instruction, PseudoSrc, encode, pcs
from pybpf.jit.cache import CompileCache, source_digest
from pybpf.platform.enums import ProgType
from pybpf.program.spec import MapReference, MapSpec, ProgramSpec
from pybpf.runtime.memory import Memory

__all__ = ["REFUSE_BY_DEFAULT", "Verdict", "cached_verdict", "is_verifiable", "unrelocated",
           "verdict", "verification_digest"]

#: Whether ``checked=None`` refuses a program the verifier rejects (see the docstring).
REFUSE_BY_DEFAULT = True


#: :class:`pybpf.verifier.packet_facts.PacketInsns` as plain tuples (loads, accesses,
#: compares): reading a cached verdict does not import the verifier.
Packet = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verifier's verdict on one program: accepted, or the error it would raise."""

    accepted: bool
    message: str = ""
    pc: int | None = None
    log: str = ""
    #: Accepted programs: per function (start pc), the lowest frame offset anything but its
    #: own ``r10 + k`` may reach (:attr:`pybpf.verifier.api.VerificationResult.stack_exposed`,
    #: every function; 0: nothing).
    stack_exposed: tuple[tuple[int, int], ...] = ()
    #: Accepted programs: the pcs of the packet context loads, packet accesses and packet
    #: compares (:class:`pybpf.verifier.packet_facts.PacketInsns`, as plain tuples).
    packet: Packet = ((), (), ())
    #: Accepted programs: the pcs of the loads and stores through the context pointer
    #: (:attr:`pybpf.verifier.api.VerificationResult.context_accesses`).
    context_accesses: tuple[int, ...] = ()

    def error(self, name: str) -> VerifierError:
        return VerifierError(
            f"program '{name}' rejected by the verifier: {self.message or 'rejected'} "
            "(load it with JIT(checked=True) to run it with bounds checks instead)",
            pc=self.pc, log=self.log)


def unrelocated(spec: ProgramSpec,
                memory: Memory) -> tuple[ProgramSpec, dict[str, MapSpec]]:
    """``spec`` with every ``lddw`` of a map pointer of ``memory`` turned back into a map
    reference (``BPF_PSEUDO_MAP_FD``), and the specs of those maps by reference name."""
    from pybpf.runtime.maps.header import resolve_map

    insns = list(spec.instructions)
    refs = list(spec.map_references)
    maps: dict[str, MapSpec] = {}
    for i, (pc, insn) in enumerate(zip(pcs(insns), insns, strict=True)):
        if insn.code != OP_LDDW or insn.src != PseudoSrc.IMM64:
            continue
        m = resolve_map(memory, insn.imm64)
        if m is None:
            continue
        name = f"map@{insn.imm64 & 0xFFFFFFFFFFFFFFFF:#x}"
        maps[name] = m.spec
        insns[i] = Instruction.wide(insn.dst, 0, PseudoSrc.MAP_FD)
        refs.append(MapReference(pc, name))
    if not maps:
        return spec, {}
    return replace(spec, instructions=tuple(insns), map_references=tuple(refs)), maps


def is_verifiable(spec: ProgramSpec) -> bool:
    """Programs with a kernel program type are verified; raw ``mem`` programs are not."""
    return spec.prog_type not in (None, ProgType.UNSPEC)


#: What a verdict depends on besides the program: the verifier and the kernel facts it reads
#: (helper prototypes, context layouts, map and program types), the BTF it parses, and the
#: instruction set.
VERDICT_SOURCES = ("verifier", "platform", "btf", "isa")


def verifier_fingerprint() -> str:
    """A digest of :data:`VERDICT_SOURCES` (cached verdicts are only valid for them); the
    verifier is not imported for it (a cached verdict should not cost the verifier's import)."""
    return source_digest(*VERDICT_SOURCES)


def verification_digest(spec: ProgramSpec, maps: Mapping[str, MapSpec] | None) -> str:
    """What the verdict on ``spec`` depends on (its cache key)."""
    h = hashlib.sha256()
    h.update(verifier_fingerprint().encode())
    h.update(encode(spec.instructions))
    h.update(repr((spec.prog_type, spec.expected_attach_type, spec.flags, spec.license,
                   spec.map_references, spec.func_info)).encode())
    for ref in spec.map_references:
        h.update(repr((maps or {}).get(ref.map_name)).encode())
    return h.hexdigest()


def cached_verdict(spec: ProgramSpec, maps: Mapping[str, MapSpec] | None,
                   cache: CompileCache | None, *, digest: str | None = None) -> Verdict | None:
    """The verdict on ``spec`` if ``cache`` has it, else None (``digest``: its
    :func:`verification_digest`, when already known)."""
    if cache is None:
        return None
    text = cache.get_text("verdict-" + (digest or verification_digest(spec, maps)))
    if text is None:
        return None
    accepted, _, rest = text.partition("\n")
    if accepted == "accepted":
        lines = rest.split("\n")
        pairs = (pair.split(":") for pair in lines[0].split())
        pcs = [tuple(int(pc) for pc in line.split()) for line in lines[1:]]
        if len(pcs) != 4:  # not written by this version: no facts
            pcs = [(), (), (), ()]
        return Verdict(True, stack_exposed=tuple((int(a), int(b)) for a, b in pairs),
                       packet=(pcs[0], pcs[1], pcs[2]), context_accesses=pcs[3])
    pc_text, _, rest = rest.partition("\n")
    message, _, log = rest.partition("\n")
    return Verdict(False, message, int(pc_text) if pc_text else None, log)


def verdict(spec: ProgramSpec, maps: Mapping[str, MapSpec] | None,
            cache: CompileCache | None) -> Verdict:
    """The verifier's verdict on ``spec`` (from ``cache`` when it has one)."""
    digest = verification_digest(spec, maps)
    key = "verdict-" + digest
    found = cached_verdict(spec, maps, cache, digest=digest)
    if found is not None:
        return found
    from pybpf.verifier import verify

    result = verify(spec, maps=maps or {})
    if result.accepted:
        p = result.packet
        found = Verdict(True, stack_exposed=result.stack_exposed,
                        packet=(p.loads, p.accesses, p.compares),
                        context_accesses=result.context_accesses)
    else:
        logged = verify(spec, maps=maps or {}, log_level=1)  # again, for the log
        found = Verdict(False, result.error or "", result.pc, logged.log)
    if cache is not None:
        pc = "" if found.pc is None else str(found.pc)
        message = found.message.replace("\n", " ")
        exposed = " ".join(f"{start}:{low}" for start, low in found.stack_exposed)
        facts = "\n".join(" ".join(map(str, pcs))
                          for pcs in (*found.packet, found.context_accesses))
        cache.put_text(key, f"accepted\n{exposed}\n{facts}" if found.accepted
                       else f"rejected\n{pc}\n{message}\n{found.log}")
    return found
