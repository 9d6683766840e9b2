#!/usr/bin/env python3
"""Read helper prototypes and ``*_func_proto()`` switches out of kernel C source text.

Shared by ``gen_helper_protos.py`` and ``gen_prog_helpers.py``; run alone it prints what it
parsed (``python3 tools/gen_csrc.py SRC_DIR``).

Input is a directory of kernel source files (whole files or excerpts holding the relevant
definitions, e.g. ``net/core/filter.c``, ``kernel/bpf/helpers.c``, ``kernel/trace/bpf_trace.c``,
``kernel/bpf/cgroup.c``). Recognised forms, as the kernel writes them:

* ``[static] const struct bpf_func_proto NAME = { .field = value, ... };``
* accessors ``const struct bpf_func_proto *NAME(void) { ... return &PROTO; }``
* ``*_func_proto(enum bpf_func_id func_id, const struct bpf_prog *prog)`` bodies made of
  ``switch (func_id)`` blocks, chained calls (``func_proto = other(func_id, prog); if
  (func_proto) return func_proto;``), capability gates (``if (!bpf_token_capable(prog->aux->token,
  CAP_BPF)) return NULL;``), nested ``switch (prog->expected_attach_type)``, ``cond ? &A : &B``
  and ``if (cond) return &A;`` alternatives, and the ``func = &P; break;`` + post-switch gate of
  ``bpf_sk_base_func_proto()``.
* ``bpf_helper_changes_pkt_data()``: the helper ids listed in its switch.

Conditions are evaluated for one *load configuration* (program type, expected attach type,
capabilities, sleepable): capability checks against the capability set, attach/program type
comparisons exactly, ``security_locked_down()`` as "not locked down", anything else (e.g.
``is_kprobe_multi(prog)``, ``bpf_prog_has_trampoline(prog)``) as false.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ALL_CAPS = frozenset({"CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"})

PROG_TYPE_FUNC_PROTO = {
    # BPF_PROG_TYPE_* → the get_func_proto of its bpf_verifier_ops (include/linux/bpf_types.h
    # maps the program type to the ops; the ops are defined next to the functions:
    # net/core/filter.c, kernel/trace/bpf_trace.c, kernel/bpf/cgroup.c, kernel/bpf/syscall.c,
    # drivers/media/rc/bpf-lirc.c, net/netfilter/nf_bpf_link.c).
    "SOCKET_FILTER": "sk_filter_func_proto",
    "KPROBE": "kprobe_prog_func_proto",
    "SCHED_CLS": "tc_cls_act_func_proto",
    "SCHED_ACT": "tc_cls_act_func_proto",
    "TRACEPOINT": "tp_prog_func_proto",
    "XDP": "xdp_func_proto",
    "PERF_EVENT": "pe_prog_func_proto",
    "CGROUP_SKB": "cg_skb_func_proto",
    "CGROUP_SOCK": "sock_filter_func_proto",
    "LWT_IN": "lwt_in_func_proto",
    "LWT_OUT": "lwt_out_func_proto",
    "LWT_XMIT": "lwt_xmit_func_proto",
    "SOCK_OPS": "sock_ops_func_proto",
    "SK_SKB": "sk_skb_func_proto",
    "CGROUP_DEVICE": "cgroup_dev_func_proto",
    "SK_MSG": "sk_msg_func_proto",
    "RAW_TRACEPOINT": "raw_tp_prog_func_proto",
    "CGROUP_SOCK_ADDR": "sock_addr_func_proto",
    "LWT_SEG6LOCAL": "lwt_seg6local_func_proto",
    "LIRC_MODE2": "lirc_mode2_func_proto",
    "SK_REUSEPORT": "sk_reuseport_func_proto",
    "FLOW_DISSECTOR": "flow_dissector_func_proto",
    "CGROUP_SYSCTL": "sysctl_func_proto",
    "RAW_TRACEPOINT_WRITABLE": "raw_tp_prog_func_proto",
    "CGROUP_SOCKOPT": "cg_sockopt_func_proto",
    "TRACING": "tracing_prog_func_proto",
    "SK_LOOKUP": "sk_lookup_func_proto",
    "SYSCALL": "syscall_prog_func_proto",
    "NETFILTER": "bpf_nf_func_proto",
    # STRUCT_OPS, EXT and LSM depend on the attach target (struct_ops / extended program /
    # LSM hook); not modelled here.
}

_PROTO_DEF = re.compile(
    r"(?:static\s+)?const\s+struct\s+bpf_func_proto\s+(\w+)\s*=\s*\{(.*?)\};", re.DOTALL
)
_ACCESSOR = re.compile(
    r"const\s+struct\s+bpf_func_proto\s*\*\s*(\w+)\s*\(\s*void\s*\)\s*\{(.*?)\n\}", re.DOTALL
)
_FUNC_HEAD = re.compile(
    r"(?:static\s+)?(?:const\s+struct\s+bpf_func_proto\s*\*|bool)\s*\n?\s*(\w+)\s*\("
    r"\s*enum\s+bpf_func_id\s+(\w+)(?:\s*,\s*const\s+struct\s+bpf_prog\s*\*\s*prog)?\s*\)\s*\{"
)


@dataclass
class ProtoDef:
    """A ``struct bpf_func_proto`` initialiser: field name → C expression text."""

    name: str
    fields: dict[str, str]
    source: str


@dataclass
class Outcome:
    """What one ``case`` group of a switch yields."""

    kind: str  # "proto" | "call" | "null" | "break" | "deferred" | "attach_switch" | "fallthrough"
    target: str = ""
    alts: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, target, cond)
    attach_map: dict[str, Outcome] = field(default_factory=dict)
    attach_default: Outcome | None = None


@dataclass
class Switch:
    """A ``switch`` over the helper id (or over ``which`` in accessor-like helpers)."""

    cases: dict[str, Outcome]  # "BPF_FUNC_x" → outcome
    default: Outcome


@dataclass
class FuncProto:
    """A ``*_func_proto()`` function as a list of steps."""

    name: str
    steps: list[tuple[str, object]]  # ("chain", fname) | ("gate", cap) | ("switch", Switch) | ("return", fname)
    source: str


@dataclass
class Sources:
    protos: dict[str, ProtoDef] = field(default_factory=dict)
    accessors: dict[str, str] = field(default_factory=dict)
    funcs: dict[str, FuncProto] = field(default_factory=dict)
    changes_pkt_data: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------------------------
# lexical helpers
# --------------------------------------------------------------------------------------------

def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    text = re.sub(r"//[^\n]*", " ", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _match_brace(text: str, open_pos: int) -> int:
    """Index of the ``}`` matching the ``{`` at ``open_pos``."""
    depth = 0
    for i in range(open_pos, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced braces")


def _split_top(text: str, sep: str = ",") -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur))
    return out


def _norm(s: str) -> str:
    return " ".join(s.split())


# --------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------

def parse_dir(root: Path) -> Sources:
    src = Sources()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parse_text(_strip_comments(path.read_text()), str(path.relative_to(root)), src)
    return src


def parse_text(text: str, origin: str, src: Sources) -> None:
    for m in _PROTO_DEF.finditer(text):
        fields = {}
        for item in _split_top(m.group(2)):
            item = item.strip()
            if not item:
                continue
            key, _, value = item.partition("=")
            fields[key.strip().lstrip(".")] = _norm(value)
        src.protos[m.group(1)] = ProtoDef(m.group(1), fields, origin)
    for m in _ACCESSOR.finditer(text):
        ret = re.findall(r"return\s*&\s*(\w+)\s*;", m.group(2))
        if ret:
            src.accessors[m.group(1)] = ret[-1]
    for m in _FUNC_HEAD.finditer(text):
        name, var = m.group(1), m.group(2)
        open_pos = m.end() - 1
        body = text[open_pos + 1 : _match_brace(text, open_pos)]
        if name == "bpf_helper_changes_pkt_data":
            src.changes_pkt_data |= set(re.findall(r"case\s+BPF_FUNC_(\w+)\s*:", body))
            continue
        src.funcs[name] = FuncProto(name, _parse_steps(body, var), origin)


_CHAIN = re.compile(r"(\w+)\s*=\s*(\w+)\s*\(\s*func_id\s*,\s*prog\s*\)\s*;\s*if\s*\(\s*\1\s*\)\s*return\s+\1\s*;")
_GATE = re.compile(r"if\s*\(\s*!\s*bpf_token_capable\s*\([^,]*,\s*(CAP_\w+)\s*\)\s*\)\s*return\s+NULL\s*;")
_RET_CALL = re.compile(r"return\s+(\w+)\s*\(\s*func_id\s*,\s*prog\s*\)\s*;")
_RET_VAR = re.compile(r"return\s+(\w+)\s*;")
_DECL = re.compile(r"const\s+struct\s+bpf_func_proto\s*\*\s*\w+\s*;")


def _parse_steps(body: str, var: str) -> list[tuple[str, object]]:
    steps: list[tuple[str, object]] = []
    pos = 0
    while pos < len(body):
        rest = body[pos:]
        stripped = rest.lstrip()
        if not stripped:
            break
        skip = len(rest) - len(stripped)
        if m := _DECL.match(stripped):
            pos += skip + m.end()
            continue
        if m := _CHAIN.match(stripped):
            steps.append(("chain", m.group(2)))
            pos += skip + m.end()
            continue
        if m := _GATE.match(stripped):
            steps.append(("gate", m.group(1)))
            pos += skip + m.end()
            continue
        sw = re.match(r"switch\s*\(\s*(\w+)\s*\)\s*\{", stripped)
        if sw:
            open_pos = pos + skip + sw.end() - 1
            close = _match_brace(body, open_pos)
            steps.append(("switch", _parse_switch(body[open_pos + 1 : close])))
            pos = close + 1
            continue
        if m := _RET_CALL.match(stripped):
            steps.append(("call", m.group(1)))
            pos += skip + m.end()
            continue
        if m := _RET_VAR.match(stripped):
            steps.append(("return", m.group(1)))
            pos += skip + m.end()
            continue
        raise SystemExit(f"cannot parse func_proto body near: {stripped[:80]!r}")
    return steps


_LABEL = re.compile(r"(case\s+([A-Za-z_]\w*)\s*:|default\s*:)")


def _labels_and_bodies(body: str) -> list[tuple[list[str], str]]:
    """``[(labels, body text), ...]`` for the top level of a switch body."""
    # find labels at brace depth 0
    marks: list[tuple[int, int, str]] = []
    depth = 0
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            m = _LABEL.match(body, i)
            if m and (i == 0 or not (body[i - 1].isalnum() or body[i - 1] == "_")):
                marks.append((i, m.end(), m.group(2) or "default"))
                i = m.end()
                continue
        i += 1
    groups: list[tuple[list[str], str]] = []
    labels: list[str] = []
    for idx, (_start, end, label) in enumerate(marks):
        labels.append(label)
        nxt = marks[idx + 1][0] if idx + 1 < len(marks) else len(body)
        text = body[end:nxt].strip()
        if text:
            groups.append((labels, text))
            labels = []
    if labels:
        groups.append((labels, ""))
    return groups


def _parse_switch(body: str) -> Switch:
    cases: dict[str, Outcome] = {}
    default = Outcome("null")
    groups = _labels_and_bodies(body)
    outcomes = [(labels, _parse_outcome(text)) for labels, text in groups]
    # resolve fallthrough into the following group
    for i, (_labels, out) in enumerate(outcomes):
        if out.kind == "fallthrough" and i + 1 < len(outcomes):
            nxt = outcomes[i + 1][1]
            out.kind, out.target = nxt.kind, nxt.target
    for labels, out in outcomes:
        for label in labels:
            if label == "default":
                default = out
            else:
                cases[label] = out
    return Switch(cases, default)


_TERNARY = re.compile(r"return\s+(.+?)\s*\?\s*(NULL|&\s*\w+|\w+\(\))\s*:\s*(NULL|&\s*\w+|\w+\(\))\s*;", re.DOTALL)
_IF_RET = re.compile(r"if\s*\((.+?)\)\s*return\s+(NULL|&\s*\w+|\w+\s*\(\s*\))\s*;", re.DOTALL)


def _target(expr: str) -> tuple[str, str]:
    expr = expr.replace(" ", "")
    if expr == "NULL":
        return ("null", "")
    if expr.startswith("&"):
        return ("proto", expr[1:])
    return ("accessor", expr.rstrip("()"))


def _parse_outcome(text: str) -> Outcome:
    t = _norm(text)
    if re.fullmatch(r"break\s*;", t):
        return Outcome("break")
    if m := re.fullmatch(r"(\w+)\s*=\s*&\s*(\w+)\s*;\s*break\s*;", t):
        return Outcome("deferred", m.group(2))
    if (sw := re.match(r"switch\s*\(\s*prog->expected_attach_type\s*\)\s*\{", t)):
        close = _match_brace(t, sw.end() - 1)
        inner = _parse_switch(t[sw.end() : close])
        return Outcome("attach_switch", attach_map=inner.cases, attach_default=inner.default)
    alts: list[tuple[str, str, str]] = []
    for m in _IF_RET.finditer(t):
        kind, target = _target(m.group(2))
        alts.append((kind, target, _norm(m.group(1))))
    t_wo_if = _IF_RET.sub("", t)
    if m := _TERNARY.search(t_wo_if):
        cond = _norm(m.group(1))
        yes, no = _target(m.group(2)), _target(m.group(3))
        alts.append((yes[0], yes[1], cond))
        return Outcome(no[0], no[1], alts=alts)
    if m := re.search(r"return\s+(\w+)\s*\(\s*(?:func_id|which)\s*(?:,\s*prog\s*)?\)\s*;", t_wo_if):
        return Outcome("call", m.group(1), alts=alts)
    if m := re.search(r"return\s+(NULL|&\s*\w+|\w+\s*\(\s*\))\s*;", t_wo_if):
        kind, target = _target(m.group(1))
        return Outcome(kind, target, alts=alts)
    if re.search(r"fallthrough\s*;", t_wo_if):
        return Outcome("fallthrough", alts=alts)
    raise SystemExit(f"cannot parse case body: {t[:120]!r}")


# --------------------------------------------------------------------------------------------
# resolution for one load configuration
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadConfig:
    """What ``*_func_proto()`` sees of a program: type, expected attach type, privileges."""

    prog_type: str  # "BPF_PROG_TYPE_XDP"
    attach_type: str  # "BPF_XDP" (the kernel's name of prog->expected_attach_type)
    caps: frozenset[str] = ALL_CAPS
    sleepable: bool = False


@dataclass(frozen=True)
class Resolution:
    """The prototype a helper resolves to, and what was needed to get there."""

    proto: str
    requires: frozenset[str]  # capabilities whose checks were passed on the way
    via: tuple[str, ...]  # func_proto functions walked
    alternatives: tuple[tuple[str, str], ...]  # (proto, condition) chosen under other conditions


def eval_cond(cond: str, cfg: LoadConfig, used: set[str]) -> bool:
    """Evaluate a C condition for ``cfg`` (see the module docstring for the rules)."""
    expr = cond

    def cap(m: re.Match[str]) -> str:
        used.add(m.group(1))
        return repr(m.group(1) in cfg.caps)

    expr = re.sub(r"bpf_token_capable\s*\([^,]*,\s*(CAP_\w+)\s*\)", cap, expr)
    expr = re.sub(r"security_locked_down\s*\([^)]*\)\s*<\s*0", "False", expr)
    expr = re.sub(r"\b(BPF_[A-Z0-9_]+)\b", lambda m: repr(m.group(1)), expr)
    expr = expr.replace("prog->expected_attach_type", repr(cfg.attach_type))
    expr = expr.replace("prog->type", repr(cfg.prog_type))
    expr = expr.replace("prog->sleepable", repr(cfg.sleepable))
    expr = re.sub(r"\b\w+\s*\(\s*prog\s*\)", "False", expr)
    expr = expr.replace("&&", " and ").replace("||", " or ")
    expr = re.sub(r"!(?!=)", " not ", expr)
    try:
        return bool(eval(expr, {"__builtins__": {}}, {}))
    except Exception as exc:  # pragma: no cover - a new kernel idiom
        raise SystemExit(f"cannot evaluate condition {cond!r} ({expr!r}): {exc}") from exc


def resolve(src: Sources, func: str, helper: str, cfg: LoadConfig) -> Resolution | None:
    """The prototype ``func`` returns for ``BPF_FUNC_<helper>`` under ``cfg`` (None: not allowed)."""
    return _resolve(src, func, "BPF_FUNC_" + helper, cfg, set(), ())


def _resolve(src: Sources, func: str, label: str, cfg: LoadConfig, used: set[str],
             via: tuple[str, ...]) -> Resolution | None:
    if func not in src.funcs:
        raise SystemExit(f"no source for {func}()")
    fp = src.funcs[func]
    via = via + (func,)
    deferred: str | None = None
    alts: list[tuple[str, str]] = []
    for kind, arg in fp.steps:
        if kind == "chain":
            tried = set(used)
            r = _resolve(src, str(arg), label, cfg, tried, via)
            if r is not None:
                return r
        elif kind == "gate":
            used.add(str(arg))
            if str(arg) not in cfg.caps:
                return None
        elif kind == "call":
            return _resolve(src, str(arg), label, cfg, used, via)
        elif kind == "return":
            if deferred is None:
                return None
            return Resolution(deferred, frozenset(used), via, tuple(alts))
        elif kind == "switch":
            assert isinstance(arg, Switch)
            out = arg.cases.get(label, arg.default)
            res = _outcome(src, out, label, cfg, used, via, alts)
            if res == "break":
                continue
            if isinstance(res, tuple) and res[0] == "deferred":
                deferred = res[1]
                continue
            return res  # Resolution or None
    return None


def _outcome(src, out: Outcome, label, cfg, used, via, alts):
    if out.kind == "attach_switch":
        chosen = out.attach_map.get(cfg.attach_type, out.attach_default)
        if chosen is None:
            raise ValueError(f"{label}: no case for expected_attach_type {cfg.attach_type}")
        for attach, o in out.attach_map.items():
            if o.kind == "proto" and o is not chosen:
                alts.append((o.target, f"expected_attach_type == {attach}"))
        return _outcome(src, chosen, label, cfg, used, via, alts)
    # conditional alternatives first (in source order)
    for kind, target, cond in out.alts:
        if eval_cond(cond, cfg, used):
            return _target_res(src, kind, target, label, cfg, used, via, alts)
        if kind in ("proto", "accessor"):
            alt = (src.accessors.get(target, target), cond)
            if alt not in alts:
                alts.append(alt)
    if out.kind == "break":
        return "break"
    if out.kind == "deferred":
        return ("deferred", out.target)
    return _target_res(src, out.kind, out.target, label, cfg, used, via, alts)


def _target_res(src, kind, target, label, cfg, used, via, alts):
    if kind == "null":
        return None
    if kind == "proto":
        return Resolution(target, frozenset(used), via, tuple(alts))
    if kind == "accessor":
        return Resolution(src.accessors[target], frozenset(used), via, tuple(alts))
    if kind == "call":
        return _resolve(src, target, label, cfg, used, via)
    raise AssertionError(kind)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    src = parse_dir(Path(argv[0]))
    print(f"{len(src.protos)} prototypes, {len(src.funcs)} func_proto functions, "
          f"{len(src.accessors)} accessors, {len(src.changes_pkt_data)} pkt-data helpers")
    for name, fp in sorted(src.funcs.items()):
        print(f"  {name}: {[k for k, _ in fp.steps]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
