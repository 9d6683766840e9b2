"""The verifier corpus: loading cases, building programs from them, and asking the kernel.

Owns the case format (documented in ``tests/verifier_corpus/README.md``), the placeholder
convention for maps in assembly, the definition of a rejection's *error line*, and the two
ways of loading a case into the live kernel (privileged, in this process; unprivileged, in a
child process dropped to ``nobody``). Used by ``test_corpus_kernel.py``,
``test_corpus_pybpf.py`` and ``tools/corpus_*.py``; needs only the standard library and pybpf.

Not owned here: the verdicts themselves (they are recorded from the kernel by
``tools/corpus_record.py``) and pybpf's verifier.
"""

from __future__ import annotations

import dataclasses
import errno as _errno
import json
import os
import platform
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parent
CASES_DIR = CORPUS_DIR / "cases"
C_DIR = CORPUS_DIR / "c"
REPO_ROOT = CORPUS_DIR.parent.parent
KNOWN_FAILURES = CORPUS_DIR / "known_failures.txt"
SYSCTL_UNPRIV = Path("/proc/sys/kernel/unprivileged_bpf_disabled")
SYSCTL_LOCK = Path("/tmp/pybpf-unprivileged-bpf-sysctl.lock")

#: ``prog_flags`` of BPF_PROG_LOAD a case may name (include/uapi/linux/bpf.h).
PROG_FLAGS: Mapping[str, int] = {
    "BPF_F_STRICT_ALIGNMENT": 1 << 0,
    "BPF_F_ANY_ALIGNMENT": 1 << 1,
    "BPF_F_TEST_RND_HI32": 1 << 2,
    "BPF_F_TEST_STATE_FREQ": 1 << 3,
    "BPF_F_SLEEPABLE": 1 << 4,
    "BPF_F_XDP_HAS_FRAGS": 1 << 5,
    "BPF_F_XDP_DEV_BOUND_ONLY": 1 << 6,
    "BPF_F_TEST_REG_INVARIANTS": 1 << 7,
}

#: ``map_flags`` of BPF_MAP_CREATE a map definition may name.
MAP_FLAGS: Mapping[str, int] = {
    "BPF_F_NO_PREALLOC": 1 << 0,
    "BPF_F_NO_COMMON_LRU": 1 << 1,
    "BPF_F_NUMA_NODE": 1 << 2,
    "BPF_F_RDONLY": 1 << 3,
    "BPF_F_WRONLY": 1 << 4,
    "BPF_F_STACK_BUILD_ID": 1 << 5,
    "BPF_F_ZERO_SEED": 1 << 6,
    "BPF_F_RDONLY_PROG": 1 << 7,
    "BPF_F_WRONLY_PROG": 1 << 8,
    "BPF_F_CLONE": 1 << 9,
    "BPF_F_MMAPABLE": 1 << 10,
}

RECORDED_FIELDS = ("verdict", "errno", "error", "error_context", "processed_insns", "kernel")
_INPUT_FIELDS = (
    "name", "note", "prog_type", "expected_attach_type", "privileged", "license", "flags",
    "func_info", "maps", "asm", "insns", "c", "object", "program", "btf",
)  # fmt: skip

# -- the error line ------------------------------------------------------------------------------
_TRAILER = re.compile(
    r"^(processed \d+ insns|verification time |stack depth |-- END PROG LOAD LOG --)"
)
_STATE_DUMP = re.compile(r"^(cur state:|old state:)")
# A message the kernel prints without its newline runs into the trailer (6.18's
# "expected prog array map for tail call"): the trailer is cut off.
_GLUED_TRAILER = re.compile(r"(?<=\S)(processed \d+ insns \(limit|verification time \d+ usec).*$")
_PROCESSED = re.compile(r"^processed (\d+) insns", re.M)


def error_line(log: str) -> str:
    """The line of a verifier log that says why the program was rejected.

    Defined as the last line of the verifier log (``log_level`` 1, or 4 as the corpus loads
    with: the same line) that is not blank, not part of the
    statistics trailer the verifier prints after its verdict (``processed N insns ...``,
    ``verification time ...``, ``stack depth ...``) and not one of the two state dumps that
    follow ``infinite loop detected at insn N`` (``cur state: ...``, ``old state: ...``).
    A message printed without its newline, so that the trailer runs on in the same line,
    is cut where ``processed N insns (limit`` starts. Trailing whitespace is stripped. ``""`` when the kernel wrote no log (e.g. a load refused
    before verification, with only an errno).
    """
    for raw in reversed(log.splitlines()):
        text = _GLUED_TRAILER.sub("", raw).rstrip()
        if not text.strip() or _TRAILER.match(text) or _STATE_DUMP.match(text):
            continue
        return text
    return ""


_INSN_LINE = re.compile(r"^\d+: (\([0-9a-f]{2}\) |BUG_)")


def error_context(log: str) -> tuple[str, ...]:
    """The message lines printed before :func:`error_line` for the same rejection.

    Several checks print two lines (``invalid access to packet, off=14 size=1, R2(...)``
    then ``R2 offset is outside of the packet``); this is every line after the last
    instruction line (``N: (op) ...``) and before the error line, blank lines and register
    state lines (``N: R1=...``, ``from N to M: ...``, ``; ...``) left out. Informational: the
    tests compare :func:`error_line` only.
    """
    lines = [_GLUED_TRAILER.sub("", raw).rstrip() for raw in log.splitlines()]
    err = error_line(log)
    if not err:
        return ()
    end = max(i for i, text in enumerate(lines) if text == err)
    start = 0
    for i in range(end):
        if _INSN_LINE.match(lines[i]):
            start = i + 1
    return tuple(
        text for text in lines[start:end]
        if text.strip() and not re.match(r"^(\d+: R|from \d+ to \d+:|;)", text)
        and not _TRAILER.match(text)
    )


def processed_insns(log: str) -> int | None:
    """N of the last ``processed N insns`` line of a log, if any."""
    found = _PROCESSED.findall(log)
    return int(found[-1]) if found else None


# -- cases ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MapDef:
    """A map a case refers to by name (``{map:NAME}`` in assembly)."""

    name: str
    type: str
    key_size: int
    value_size: int
    max_entries: int
    flags: tuple[str, ...] = ()
    inner: MapDef | None = None
    #: The value of element 0 (text; ``\u0000`` for NUL bytes), zero-padded.
    data: str = ""
    #: Frozen (BPF_MAP_FREEZE) after ``data`` is written.
    frozen: bool = False

    @classmethod
    def from_toml(cls, name: str, data: Mapping[str, Any]) -> MapDef:
        unknown = set(data) - {"type", "key_size", "value_size", "max_entries", "flags", "inner",
                               "data", "frozen"}
        if unknown:
            raise ValueError(f"map '{name}': unknown keys {sorted(unknown)}")
        inner = data.get("inner")
        return cls(
            name, data["type"], int(data["key_size"]), int(data["value_size"]),
            int(data["max_entries"]), tuple(data.get("flags", ())),
            cls.from_toml(f"{name}.inner", inner) if inner is not None else None,
            str(data.get("data", "")), bool(data.get("frozen", False)),
        )

    def to_toml(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type, "key_size": self.key_size, "value_size": self.value_size,
            "max_entries": self.max_entries,
        }  # fmt: skip
        if self.flags:
            out["flags"] = list(self.flags)
        if self.inner is not None:
            out["inner"] = self.inner.to_toml()
        if self.data:
            out["data"] = self.data
        if self.frozen:
            out["frozen"] = True
        return out

    def map_spec(self) -> Any:
        from pybpf.platform.enums import MapType
        from pybpf.program.spec import MapSpec

        flags = 0
        for flag in self.flags:
            flags |= MAP_FLAGS[flag]
        return MapSpec(
            self.name, int(MapType[self.type]), self.key_size, self.value_size,
            self.max_entries, flags, self.inner.map_spec() if self.inner else None,
            data=self.data.encode("latin-1") if self.data else None,
            read_only=self.frozen and "BPF_F_RDONLY_PROG" in self.flags,
        )


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the kernel said about a case when it was recorded."""

    verdict: str  # "accept" | "reject"
    errno: str = ""  # errno name of a rejection, e.g. "EACCES"
    error: str = ""  # error_line() of the rejection's log
    processed_insns: int | None = None  # None: refused before verification ran
    kernel: str = ""  # platform.release() at recording
    error_context: tuple[str, ...] = ()  # error_context() of the rejection's log

    def summary(self) -> str:
        if self.verdict == "accept":
            return f"accept ({self.processed_insns} insns)"
        return f"reject {self.errno}: {self.error!r}"


@dataclass(frozen=True, slots=True)
class Case:
    """One program of the corpus and the kernel's recorded verdict on it."""

    topic: str
    name: str
    prog_type: str
    privileged: bool = True
    license: str = "GPL"
    expected_attach_type: str = ""
    flags: tuple[str, ...] = ()
    func_info: bool = False
    maps: tuple[MapDef, ...] = ()
    asm: str = ""
    insns: tuple[str, ...] = ()
    c: str = ""
    object: str = ""
    program: str = ""
    #: C cases: load with the object's BTF, func info and line info, as libbpf does.
    btf: bool = False
    note: str = ""
    recorded: Recorded | None = None

    @property
    def id(self) -> str:
        return f"{self.topic}/{self.name}"

    @property
    def object_path(self) -> Path:
        """The committed object of a C case: ``object`` if given, else ``c`` with ``.o``
        (both relative to ``tests/verifier_corpus``)."""
        return CORPUS_DIR / (self.object or str(Path(self.c).with_suffix(".o")))

    @property
    def prog_flags(self) -> int:
        value = 0
        for flag in self.flags:
            value |= PROG_FLAGS[flag]
        return value

    @classmethod
    def from_toml(cls, topic: str, data: Mapping[str, Any], defaults: Mapping[str, Any]) -> Case:
        merged = {**defaults, **data}
        unknown = set(merged) - set(_INPUT_FIELDS) - set(RECORDED_FIELDS)
        if unknown:
            raise ValueError(f"{topic}/{merged.get('name')}: unknown keys {sorted(unknown)}")
        sources = [k for k in ("asm", "insns", "c") if merged.get(k)]
        if len(sources) != 1:
            raise ValueError(f"{topic}/{merged.get('name')}: needs exactly one of asm, insns, c")
        if merged.get("btf") and "c" not in sources:
            raise ValueError(f"{topic}/{merged.get('name')}: btf = true needs a c case")
        recorded = None
        if "verdict" in merged:
            recorded = Recorded(
                merged["verdict"], merged.get("errno", ""), merged.get("error", ""),
                merged.get("processed_insns"), merged.get("kernel", ""),
                tuple(merged.get("error_context", ())),
            )
        maps = tuple(MapDef.from_toml(n, d) for n, d in merged.get("maps", {}).items())
        return cls(
            topic=topic, name=merged["name"], prog_type=merged["prog_type"],
            privileged=bool(merged.get("privileged", True)),
            license=merged.get("license", "GPL"),
            expected_attach_type=merged.get("expected_attach_type", ""),
            flags=tuple(merged.get("flags", ())), func_info=bool(merged.get("func_info", False)),
            maps=maps, asm=merged.get("asm", ""),
            insns=tuple(merged.get("insns", ())), c=merged.get("c", ""),
            object=merged.get("object", ""), program=merged.get("program", ""),
            btf=bool(merged.get("btf", False)), note=merged.get("note", ""), recorded=recorded,
        )

    def to_toml(self) -> dict[str, Any]:
        """The case as canonical TOML data: every input field explicit, recorded ones last."""
        out: dict[str, Any] = {"name": self.name}
        if self.note:
            out["note"] = self.note
        out["prog_type"] = self.prog_type
        if self.expected_attach_type:
            out["expected_attach_type"] = self.expected_attach_type
        out["privileged"] = self.privileged
        out["license"] = self.license
        if self.flags:
            out["flags"] = list(self.flags)
        if self.func_info:
            out["func_info"] = True
        if self.maps:
            out["maps"] = {m.name: m.to_toml() for m in self.maps}
        if self.c:
            out["c"] = self.c
            if self.object:
                out["object"] = self.object
            if self.program:
                out["program"] = self.program
            if self.btf:
                out["btf"] = True
        elif self.insns:
            out["insns"] = list(self.insns)
        else:
            out["asm"] = self.asm
        rec = self.recorded
        if rec is not None:
            out["verdict"] = rec.verdict
            if rec.verdict == "reject":
                out["errno"] = rec.errno
                out["error"] = rec.error
                if rec.error_context:
                    out["error_context"] = list(rec.error_context)
            if rec.processed_insns is not None:
                out["processed_insns"] = rec.processed_insns
            out["kernel"] = rec.kernel
        return out


@dataclass(slots=True)
class TopicFile:
    """One ``cases/<topic>.toml`` file."""

    path: Path
    topic: str
    description: str
    cases: list[Case] = field(default_factory=list)


def load_topic(path: Path) -> TopicFile:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    topic = path.stem
    unknown = set(data) - {"description", "defaults", "case"}
    if unknown:
        raise ValueError(f"{path.name}: unknown top-level keys {sorted(unknown)}")
    defaults = data.get("defaults", {})
    cases = [Case.from_toml(topic, c, defaults) for c in data.get("case", [])]
    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"{path.name}: duplicate case names {sorted(dupes)}")
    return TopicFile(path, topic, data.get("description", ""), cases)


def topic_files(directory: Path = CASES_DIR) -> list[TopicFile]:
    return [load_topic(p) for p in sorted(directory.glob("*.toml"))]


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    """Every case of the corpus, in file then file order."""
    return [case for topic in topic_files(directory) for case in topic.cases]


# -- canonical TOML ------------------------------------------------------------------------------
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _multiline(text: str) -> str:
    body = text if text.endswith("\n") else text + "\n"
    if "'''" in body:
        raise ValueError("assembly text may not contain '''")
    return "'''\n" + body + "'''"


def dump_topic(topic: TopicFile) -> str:
    """The canonical text of a topic file (what ``tools/corpus_record.py`` writes)."""
    lines = [
        f"# Verifier corpus, topic '{topic.topic}'. Format: tests/verifier_corpus/README.md.",
        "# verdict/errno/error/processed_insns/kernel are recorded by tools/corpus_record.py.",
        "",
    ]
    if topic.description:
        lines.append(f"description = {_multiline(topic.description.strip())}")
        lines.append("")
    for case in topic.cases:
        lines.append("[[case]]")
        for key, value in case.to_toml().items():
            if key == "asm":
                lines.append(f"asm = {_multiline(value.strip())}")
            elif key == "insns":
                lines.append("insns = [")
                lines.extend(f"    {_value(v)}," for v in value)
                lines.append("]")
            else:
                lines.append(f"{_key(key)} = {_value(value)}")
        lines.append("")
    return "\n".join(lines)


# -- building programs ---------------------------------------------------------------------------
_PLACEHOLDER = re.compile(
    r"^(?P<head>\s*(?:[A-Za-z_.][\w.]*:\s*)*)r(?P<reg>\d+)\s*=\s*"
    r"\{map(?P<value>_value)?:(?P<name>\w+)(?:\s*\+\s*(?P<off>\d+))?\}\s*ll\b"
)
_MARK = 0x7EAD00  # high half of a placeholder lddw before it is resolved


@dataclass(frozen=True, slots=True)
class Built:
    """A case as pybpf data: the program and the maps it refers to by name."""

    program: Any  # pybpf.program.spec.ProgramSpec
    maps: dict[str, Any]  # name -> pybpf.program.spec.MapSpec


def expand_placeholders(asm: str, map_names: list[str]) -> str:
    """Turn ``rN = {map:NAME} ll`` / ``rN = {map_value:NAME + OFF} ll`` into marked lddw."""
    out = []
    for number, line in enumerate(asm.splitlines(), 1):
        m = _PLACEHOLDER.match(line)
        if m is None:
            if "{map" in line:
                raise ValueError(f"line {number}: malformed map placeholder: {line.strip()}")
            out.append(line)
            continue
        name = m["name"]
        if name not in map_names:
            raise ValueError(f"line {number}: map '{name}' is not defined by the case")
        src = 2 if m["value"] else 1
        off = int(m["off"] or 0)
        mark = ((_MARK | map_names.index(name)) << 32) | off
        out.append(f"{m['head']}ld_pseudo r{m['reg']}, {src}, {mark}{line[m.end():]}")
    return "\n".join(out)


def _asm_program(case: Case) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    from pybpf.asm import assemble
    from pybpf.isa import OP_LDDW, Instruction, pcs
    from pybpf.program.spec import MapReference

    names = [m.name for m in case.maps]
    insns = assemble(expand_placeholders(case.asm, names), syntax="llvm")
    out, refs = [], []
    for pc, insn in zip(pcs(insns), insns, strict=True):
        if insn.code == OP_LDDW and insn.src in (1, 2) and (insn.next_imm & ~0xFF) == _MARK:
            name = names[insn.next_imm & 0xFF]
            value = insn.src == 2
            off = insn.imm & 0xFFFFFFFF if value else 0
            refs.append(MapReference(pc, name, value, off))
            insn = Instruction(OP_LDDW, insn.dst, insn.src, 0, 0, off)
        out.append(insn)
    return tuple(out), tuple(refs)


def raw_bytes(case: Case) -> bytes:
    """The instruction bytes of an ``insns`` case, exactly as the kernel gets them."""
    return bytes.fromhex("".join(s.replace(" ", "") for s in case.insns))


def _raw_program(case: Case) -> tuple[Any, ...]:
    """Decoded ``insns``; raises :class:`pybpf.errors.DecodeError` for bytes pybpf cannot
    decode (an invalid opcode): such a case is a rejection by pybpf's decoder."""
    from pybpf.isa import decode

    return tuple(decode(raw_bytes(case)))


def _c_collection(case: Case) -> Any:
    from pybpf.elf import load_collection

    return load_collection(case.object_path)


def _c_program(case: Case) -> Built:
    obj = case.object_path
    coll = _c_collection(case)
    progs = coll.programs
    if case.program:
        prog = progs[case.program]
    elif len(progs) == 1:
        prog = next(iter(progs.values()))
    else:
        raise ValueError(f"{case.id}: {obj.name} has programs {sorted(progs)}; name one")
    target = None
    if prog.core_relocations:
        from pybpf.runtime.collection import apply_core, kernel_btf

        target = kernel_btf()
        prog = apply_core(prog, coll.btf, target)
    used = {ref.map_name for ref in prog.map_references}
    maps = {name: spec for name, spec in coll.maps.items() if name in used}
    return Built(prog, maps)


#: Type ids of the BTF :func:`func_info_btf` makes: ``int``, ``int (void)``, then the FUNCs.
_BTF_INT, _BTF_PROTO, _BTF_FIRST_FUNC = 1, 2, 3


def subprog_starts(insns: Iterable[Any]) -> list[int]:
    """The first slot of every function: 0 and each ``call`` (src 1) or ``lddw`` (src 4,
    ``BPF_PSEUDO_FUNC``) target, in order."""
    from pybpf.isa import OP_LDDW, pcs

    insns = list(insns)
    starts = {0}
    for pc, insn in zip(pcs(insns), insns, strict=True):
        if (insn.code == 0x85 and insn.src == 1) or (insn.code == OP_LDDW and insn.src == 4):
            starts.add(pc + insn.imm + 1)
    return sorted(starts)


def func_name(pc: int) -> str:
    return "main" if pc == 0 else f"func_{pc}"


def func_info_btf(starts: list[int]) -> tuple[bytes, bytes]:
    """The BTF and ``bpf_func_info`` records a ``func_info = true`` case is loaded with.

    One ``int f(void)`` FUNC per function: the main program global (as clang emits it),
    the others static. No parameters, so ``btf_check_subprog_call()`` checks nothing and
    logs nothing; what the kernel gets is only "these functions exist, with BTF".
    """
    import struct

    from pybpf.btf import write
    from pybpf.btf.types import Func, FuncLinkage, FuncProto, Int, IntEncoding

    types: list[Any] = [Int(_BTF_INT, "int", 4, IntEncoding.SIGNED, 32),
                        FuncProto(_BTF_PROTO, "", _BTF_INT, ())]
    records = b""
    for i, pc in enumerate(starts):
        linkage = FuncLinkage.GLOBAL if pc == 0 else FuncLinkage.STATIC
        types.append(Func(_BTF_FIRST_FUNC + i, func_name(pc), _BTF_PROTO, linkage))
        records += struct.pack("<II", pc, _BTF_FIRST_FUNC + i)
    return write.encode(types), records


def _func_infos(insns: Iterable[Any]) -> tuple[Any, ...]:
    from pybpf.program.spec import FuncInfo

    return tuple(FuncInfo(pc, _BTF_FIRST_FUNC + i, func_name(pc))
                 for i, pc in enumerate(subprog_starts(insns)))


def _generated_btf(program: Any, maps: Mapping[str, Any]) -> Built:
    """A ``func_info = true`` case as pybpf sees it: the spec carries the generated BTF its
    func info refers to (:func:`func_info_btf`), and its maps none (they are created without
    BTF, so no key/value type of theirs refers into it)."""
    from pybpf.btf import Btf

    blob, _ = func_info_btf([info.pc for info in program.func_info])
    return Built(dataclasses.replace(program, btf=Btf.from_bytes(blob)),
                 {name: dataclasses.replace(m, key_type=0, value_type=0)
                  for name, m in maps.items()})


def build(case: Case) -> Built:
    """The case as a ProgramSpec with MapReferences, plus the MapSpecs it refers to.

    For C cases the program comes from the committed object. With ``btf = true`` it keeps
    its BTF func and line info (and the spec its BTF), as libbpf loads it. Otherwise both are
    removed, as the kernel load passes no BTF (``KernelCollection(..., btf=False)``), so
    pybpf must judge the program on the same terms; a ``func_info = true`` case gets the
    func info of :func:`func_info_btf` instead (C and assembly alike).
    """
    from pybpf.platform.attach import AttachType
    from pybpf.platform.enums import ProgType
    from pybpf.program.spec import ProgramSpec

    prog_type = int(ProgType[case.prog_type])
    attach = int(AttachType[case.expected_attach_type]) if case.expected_attach_type else None
    if case.c:
        built = _c_program(case)
        infos = _func_infos(built.program.instructions) if case.func_info else ()
        program = dataclasses.replace(
            built.program, prog_type=prog_type, expected_attach_type=attach,
            license=case.license, flags=case.prog_flags,
        )
        if case.btf:
            return Built(program, built.maps)
        program = dataclasses.replace(program, func_info=infos, line_info=(), btf=None)
        return _generated_btf(program, built.maps) if case.func_info else \
            Built(program, built.maps)
    if case.insns:
        insns, refs = _raw_program(case), ()
    else:
        insns, refs = _asm_program(case)
    program = ProgramSpec(
        case.name, insns, license=case.license, prog_type=prog_type,
        expected_attach_type=attach, map_references=refs, flags=case.prog_flags,
        func_info=_func_infos(insns) if case.func_info else (),
    )
    maps = {m.name: m.map_spec() for m in case.maps}
    return _generated_btf(program, maps) if case.func_info else Built(program, maps)


# -- the kernel ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KernelJob:
    """What BPF_PROG_LOAD gets for one case, maps already resolved to fds."""

    case_id: str
    prog_type: int
    insns: bytes
    license: str
    prog_flags: int
    expected_attach_type: int
    #: Loaded with BTF: the BTF object's fd, the func and line info records.
    prog_btf_fd: int = 0
    func_info: bytes = b""
    line_info: bytes = b""

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "insns": self.insns.hex(),
                "func_info": self.func_info.hex(), "line_info": self.line_info.hex()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KernelJob:
        return cls(**{**data, "insns": bytes.fromhex(data["insns"]),
                      "func_info": bytes.fromhex(data["func_info"]),
                      "line_info": bytes.fromhex(data["line_info"])})


def kernel_release() -> str:
    return platform.release()


def _create_maps(maps: Mapping[str, Any], btf_fd: int = 0,
                 freeze: frozenset[str] = frozenset()) -> dict[str, Any]:
    from pybpf.kernel.collection import _create  # the collection loader's map creation

    from pybpf.kernel.sys.maps import map_freeze

    fds: dict[str, Any] = {}
    try:
        for name, spec in maps.items():
            fds[name] = _create(spec, btf_fd)
            if name in freeze:  # a map of the case with frozen = true
                map_freeze(fds[name])
    except BaseException:
        for fd in fds.values():
            fd.close()
        raise
    return fds


@contextmanager
def kernel_job(case: Case) -> Iterator[tuple[KernelJob, list[int]]]:
    """The case's load request and the map fds it uses (open for the duration)."""
    from pybpf.isa import encode
    from pybpf.kernel.collection import patch_map_fds

    if case.insns:  # raw bytes go to the kernel untouched, even those pybpf cannot decode
        from pybpf.platform.attach import AttachType
        from pybpf.platform.enums import ProgType

        attach = AttachType[case.expected_attach_type] if case.expected_attach_type else 0
        yield KernelJob(
            case.id, int(ProgType[case.prog_type]), raw_bytes(case), case.license,
            case.prog_flags, int(attach),
        ), []
        return
    built = build(case)
    prog = built.program
    btf_fd = None
    info = None
    if case.btf:  # as libbpf: the object's BTF, maps with BTF types, func/line info
        from pybpf.kernel.collection import LoadableBtf, prog_btf_info
        from pybpf.kernel.sys import btf_load

        loadable = LoadableBtf.from_collection(_c_collection(case))
        btf_fd = btf_load(loadable.data)
        info = prog_btf_info(prog, loadable)
    try:
        fds = _create_maps(built.maps, btf_fd.fd if btf_fd is not None else 0,
                           frozenset(m.name for m in case.maps if m.frozen))
    except BaseException:
        if btf_fd is not None:
            btf_fd.close()
        raise
    try:
        insns = encode(patch_map_fds(prog, fds))
        job = KernelJob(
            case.id, prog.prog_type, insns, prog.license, prog.flags,
            prog.expected_attach_type or 0,
        )
        if btf_fd is not None and info is not None:
            job = dataclasses.replace(job, prog_btf_fd=btf_fd.fd, func_info=info.func_info,
                                      line_info=info.line_info)  # fmt: skip
        elif case.func_info:  # a generated BTF with one function per subprogram
            from pybpf.kernel.sys.btf import btf_load

            blob, func_info = func_info_btf([i.pc for i in prog.func_info])
            btf_fd = btf_load(blob)
            job = dataclasses.replace(job, prog_btf_fd=btf_fd.fd, func_info=func_info)
        extra = [btf_fd.fd] if btf_fd is not None else []
        yield job, [fd.fd for fd in fds.values()] + extra
    finally:
        for fd in fds.values():
            fd.close()
        if btf_fd is not None:
            btf_fd.close()


#: ``log_level`` of the corpus's loads: BPF_LOG_STATS, the verifier's messages and the
#: statistics trailer without the instruction trace. The error line is the one a level-1
#: log ends with (checked for the whole corpus on 6.18), and loads of programs with long
#: paths are several times faster (a level-1 log of a 1M-instruction path is ~100 MB).
LOG_LEVEL = 4


def load_job(job: KernelJob, log_level: int = LOG_LEVEL) -> tuple[int, str]:
    """Load one job with a ``log_level`` log (:data:`LOG_LEVEL` unless told);
    ``(errno or 0, log)``. The program is closed again."""
    from pybpf.errors import KernelError
    from pybpf.kernel.sys import prog_load

    try:
        prog = prog_load(
            job.prog_type, job.insns, license=job.license, log_level=log_level,
            prog_flags=job.prog_flags, expected_attach_type=job.expected_attach_type,
            prog_btf_fd=job.prog_btf_fd, func_info=job.func_info, line_info=job.line_info,
        )
    except KernelError as exc:
        return exc.errno, exc.log or ""
    log = prog.log
    prog.close()
    return 0, log


#: Kernel-internal errno values (include/linux/errno.h) that leak to user space.
_KERNEL_ERRNOS = {512: "ERESTARTSYS", 524: "ENOTSUPP", 525: "ETOOSMALL", 527: "EIOCBQUEUED"}


def to_recorded(err: int, log: str) -> Recorded:
    if err == 0:
        return Recorded("accept", processed_insns=processed_insns(log), kernel=kernel_release())
    name = _errno.errorcode.get(err) or _KERNEL_ERRNOS.get(err, str(err))
    return Recorded("reject", name, error_line(log), processed_insns=processed_insns(log),
                    kernel=kernel_release(), error_context=error_context(log))


def run_privileged(case: Case) -> Recorded:
    """Load the case into the live kernel from this (privileged) process."""
    try:
        with kernel_job(case) as (job, _):
            return to_recorded(*load_job(job))
    except Exception as exc:
        exc.add_note(f"while loading corpus case {case.id}")
        raise


def unprivileged_unavailable() -> str:
    """Why this process cannot observe unprivileged verdicts ("" when it can)."""
    if os.geteuid() != 0:
        return "needs root to set kernel.unprivileged_bpf_disabled and drop to nobody"
    if not SYSCTL_UNPRIV.exists():
        return f"{SYSCTL_UNPRIV} does not exist"
    if SYSCTL_UNPRIV.read_text().strip() == "1":
        return "kernel.unprivileged_bpf_disabled is 1 (sticky until reboot)"
    if not any((Path(d) / "setpriv").exists() for d in os.environ.get("PATH", "").split(":")):
        return "setpriv (util-linux) is not installed"
    return ""


@contextmanager
def unprivileged_bpf_enabled() -> Iterator[None]:
    """``kernel.unprivileged_bpf_disabled = 0`` for the duration; the old value restored.

    Never writes 1 (sticky until reboot): refuses when the current value is 1. Holds an
    exclusive lock on :data:`SYSCTL_LOCK` meanwhile, so that concurrent users (parallel
    test workers, the recorder) do not save and restore each other's temporary 0.
    """
    import fcntl

    with open(SYSCTL_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = SYSCTL_UNPRIV.read_text().strip()
        if old == "1":
            raise RuntimeError("kernel.unprivileged_bpf_disabled is 1 (sticky): cannot enable")
        SYSCTL_UNPRIV.write_text("0")
        try:
            yield
        finally:
            SYSCTL_UNPRIV.write_text(old)


def run_unprivileged(cases: Iterable[Case]) -> dict[str, Recorded]:
    """Load the cases from a child process running as ``nobody`` (maps created here, their
    fds inherited), with unprivileged bpf() enabled for the duration."""
    results: dict[str, Recorded] = {}
    with _jobs(list(cases)) as (jobs, fds):
        payload = json.dumps([job.to_json() for job in jobs])
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "src"))
        cmd = [
            "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            sys.executable, str(Path(__file__).resolve()), "--unprivileged-child",
        ]  # fmt: skip
        with unprivileged_bpf_enabled():
            proc = subprocess.run(
                cmd, input=payload, capture_output=True, text=True, env=env, cwd="/",
                pass_fds=fds, check=False,
            )
        if proc.returncode != 0:
            raise RuntimeError(f"unprivileged child failed ({proc.returncode}): {proc.stderr}")
        for case_id, (err, log) in json.loads(proc.stdout).items():
            results[case_id] = to_recorded(err, log)
    return results


@contextmanager
def _jobs(cases: list[Case]) -> Iterator[tuple[list[KernelJob], list[int]]]:
    from contextlib import ExitStack

    with ExitStack() as stack:
        jobs, fds = [], []
        for case in cases:
            job, job_fds = stack.enter_context(kernel_job(case))
            jobs.append(job)
            fds.extend(job_fds)
        yield jobs, fds


def run_kernel(cases: Iterable[Case]) -> dict[str, Recorded]:
    """Every case's verdict from the live kernel (unprivileged ones through the child)."""
    cases = list(cases)
    out = {c.id: run_privileged(c) for c in cases if c.privileged}
    unpriv = [c for c in cases if not c.privileged]
    if unpriv:
        out.update(run_unprivileged(unpriv))
    return {c.id: out[c.id] for c in cases}


def _child_main() -> int:
    """``--unprivileged-child``: load jobs from stdin as this (unprivileged) user."""
    if os.geteuid() == 0:
        print("refusing to run the unprivileged child as root", file=sys.stderr)
        return 2
    jobs = [KernelJob.from_json(j) for j in json.loads(sys.stdin.read())]
    print(json.dumps({job.case_id: load_job(job) for job in jobs}))
    return 0


# -- known failures ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KnownFailure:
    case_id: str
    reason: str
    line: int


def load_known_failures(path: Path = KNOWN_FAILURES) -> dict[str, KnownFailure]:
    """``known_failures.txt``: ``<topic>/<name>  <reason>`` per line; ``#`` comments."""
    out: dict[str, KnownFailure] = {}
    if not path.exists():
        return out
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        text = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not text:
            continue
        case_id, _, reason = text.partition(" ")
        if not reason.strip():
            raise ValueError(f"{path.name}:{number}: '{case_id}' needs a reason")
        if case_id in out:
            raise ValueError(f"{path.name}:{number}: '{case_id}' listed twice")
        out[case_id] = KnownFailure(case_id, reason.strip(), number)
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["--unprivileged-child"]:
        sys.exit(_child_main())
    print(__doc__)
