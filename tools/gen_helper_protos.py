#!/usr/bin/env python3
"""Generate ``src/pybpf/platform/helper_protos.py``: every helper prototype of the kernel.

Usage::

    sudo python3 tools/gen_helper_protos.py SRC_DIR --live > src/pybpf/platform/helper_protos.py

``SRC_DIR`` holds kernel source files (or excerpts of them, same relative paths) with the
``struct bpf_func_proto`` definitions and the ``*_func_proto()`` switches: net/core/filter.c,
kernel/bpf/helpers.c, kernel/trace/bpf_trace.c, kernel/bpf/cgroup.c, kernel/bpf/syscall.c,
kernel/bpf/stackmap.c, kernel/bpf/core.c, drivers/media/rc/bpf-lirc.c, net/netfilter/nf_bpf_link.c
(parsed by ``gen_csrc.py``).

``--live`` (root) also reads the running kernel's prototypes out of kernel memory
(``gen_live_protos.py``) and makes them authoritative:

* every prototype parsed from source is matched to its in-kernel twin by ``.func`` symbol and
  compared field by field; differences are reported on stderr and the kernel's values win
  (the source snapshot may be a little newer or older than the running kernel);
* prototypes the switches name but the source excerpts do not define (ring buffer, stack map,
  local storage, sockmap, ...) are bound to the kernel object whose ``.func`` is the name
  without ``_proto`` (``bpf_get_stackid_proto_pe`` → ``bpf_get_stackid_pe``), with the
  explicit disambiguations in ``_BIND_OVERRIDES``;
* in-kernel prototypes no parsed switch reaches (LSM, struct_ops) are added under
  ``<func>_proto`` when ``<func>`` is ``bpf_<helper name>``;
* prototypes missing from the running kernel are kept from source with ``in_kernel=False``
  (e.g. ``bpf_override_return`` without ``CONFIG_BPF_KPROBE_OVERRIDE``) or dropped when no
  parsed switch of the running kernel can return them.

BTF ids are named through vmlinux BTF; fixed sizes come from the kernel's ``arg_size``.
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_btf_tables import DEFAULT_BTF, Btf
from gen_csrc import (
    PROG_TYPE_FUNC_PROTO,
    LoadConfig,
    Outcome,
    Sources,
    Switch,
    parse_dir,
    resolve,
)

DYNAMIC = "<dynamic>"

_BTF_ID_EXPR = {
    "BTF_TRACING_TYPE_TASK": "task_struct",
    "BTF_TRACING_TYPE_FILE": "file",
    "BTF_TRACING_TYPE_VMA": "vm_area_struct",
    "BTF_SOCK_TYPE_INET": "inet_sock",
    "BTF_SOCK_TYPE_INET_CONN": "inet_connection_sock",
    "BTF_SOCK_TYPE_INET_REQ": "inet_request_sock",
    "BTF_SOCK_TYPE_INET_TW": "inet_timewait_sock",
    "BTF_SOCK_TYPE_REQ": "request_sock",
    "BTF_SOCK_TYPE_SOCK": "sock",
    "BTF_SOCK_TYPE_SOCK_COMMON": "sock_common",
    "BTF_SOCK_TYPE_TCP": "tcp_sock",
    "BTF_SOCK_TYPE_TCP_REQ": "tcp_request_sock",
    "BTF_SOCK_TYPE_TCP_TW": "tcp_timewait_sock",
    "BTF_SOCK_TYPE_TCP6": "tcp6_sock",
    "BTF_SOCK_TYPE_UDP": "udp_sock",
    "BTF_SOCK_TYPE_UDP6": "udp6_sock",
    "BTF_SOCK_TYPE_UNIX": "unix_sock",
    "BTF_SOCK_TYPE_MPTCP": "mptcp_sock",
    "BTF_SOCK_TYPE_SOCKET": "socket",
}
_SIZEOF = {"u32": 4, "s32": 4, "u64": 8, "s64": 8, "struct iphdr": 20, "struct ipv6hdr": 40,
           "struct tcphdr": 20}

# Prototype variables whose .func is shared with a sibling: pick by a distinguishing field.
_BIND_OVERRIDES = {
    "bpf_sk_storage_get_proto": ("bpf_sk_storage_get", {1: 0x10}),  # arg2 BTF_ID_SOCK_COMMON
    "bpf_sk_storage_get_cg_sock_proto": ("bpf_sk_storage_get", {1: 0x08}),  # arg2 PTR_TO_CTX
}

# Kernel prototypes no parsed switch returns, and the helper they implement.
_UNREFERENCED_HELPER = {
    "bpf_unlocked_sk_setsockopt_proto": "setsockopt",
    "bpf_unlocked_sk_getsockopt_proto": "getsockopt",
    "bpf_sk_setsockopt_nodelay_proto": "setsockopt",
}


@dataclass
class Record:
    """A prototype in comparable, raw form."""

    name: str
    func: str
    gpl_only: bool
    pkt_access: bool
    might_sleep: bool
    allow_fastcall: bool
    ret: int
    args: tuple[int, ...]
    arg_btf: tuple[str | None, ...]
    arg_size: tuple[int | None, ...]
    ret_btf: str | None
    allowed: str | None
    in_kernel: bool
    origin: str  # "source", "kernel", "source+kernel"

    def key(self) -> tuple:
        return (self.gpl_only, self.pkt_access, self.might_sleep, self.allow_fastcall,
                self.ret, self.args, self.arg_size)


class Vocab:
    """Kernel type names → values, from vmlinux BTF."""

    def __init__(self, btf: Btf) -> None:
        self.values: dict[str, int] = {}
        for enum in ("bpf_arg_type", "bpf_return_type", "bpf_type_flag"):
            for name, value in btf.enum(enum):
                self.values[name] = value
        self.flag_names = [(n, v) for n, v in btf.enum("bpf_type_flag") if not n.startswith("__")]
        self.arg_base = {v: n for n, v in btf.enum("bpf_arg_type") if v < 256}
        self.ret_base = {v: n for n, v in btf.enum("bpf_return_type") if v < 256}

    def eval(self, expr: str) -> int:
        value = 0
        for part in expr.split("|"):
            value |= self.values[part.strip()]
        return value

    def spell(self, raw: int, ret: bool = False) -> str:
        base = (self.ret_base if ret else self.arg_base)[raw & 0xFF]
        flags = [n for n, v in self.flag_names if raw & v]
        return " | ".join([base, *flags])


def _btf_from_expr(expr: str | None) -> str | None:
    if not expr:
        return None
    if expr.strip() == "BPF_PTR_POISON":
        return DYNAMIC
    m = re.search(r"\[\s*(BTF_\w+)\s*\]", expr)
    if m and m.group(1) in _BTF_ID_EXPR:
        return _BTF_ID_EXPR[m.group(1)]
    return None


def _sizeof(expr: str | None) -> int | None:
    if not expr:
        return None
    m = re.fullmatch(r"sizeof\((.+)\)", expr.strip())
    if not m or m.group(1).strip() not in _SIZEOF:
        raise SystemExit(f"cannot size {expr!r}")
    return _SIZEOF[m.group(1).strip()]


def source_record(src_def, vocab: Vocab) -> Record:
    f = src_def.fields
    args, btfs, sizes = [], [], []
    for i in range(1, 6):
        t = f.get(f"arg{i}_type")
        if not t:
            break
        args.append(vocab.eval(t))
        btfs.append(_btf_from_expr(f.get(f"arg{i}_btf_id")))
        sizes.append(_sizeof(f.get(f"arg{i}_size")))
    func = f.get("func", "")
    return Record(
        src_def.name, "<poison>" if func == "BPF_PTR_POISON" else func,
        f.get("gpl_only") == "true", f.get("pkt_access") == "true",
        f.get("might_sleep") == "true", f.get("allow_fastcall") == "true",
        vocab.eval(f["ret_type"]) if "ret_type" in f else 0,
        tuple(args), tuple(btfs), tuple(sizes), _btf_from_expr(f.get("ret_btf_id")),
        f.get("allowed"), in_kernel=False, origin="source",
    )


def live_record(name: str, lp) -> Record:
    n = 0
    while n < 5 and lp.arg_types[n]:
        n += 1
    sizes = tuple(lp.arg_extra[i] if lp.arg_types[i] & (1 << 18) else None for i in range(n))
    btfs = tuple(
        (DYNAMIC if lp.arg_btf_names[i] == "<poison>" else lp.arg_btf_names[i])
        if lp.arg_btf_names[i] else None
        for i in range(n)
    )
    ret_btf = DYNAMIC if lp.ret_btf_name == "<poison>" else lp.ret_btf_name
    return Record(name, lp.func, lp.gpl_only, lp.pkt_access, lp.might_sleep, lp.allow_fastcall,
                  lp.ret_type, tuple(lp.arg_types[:n]), btfs, sizes, ret_btf,
                  lp.allowed or None, in_kernel=True, origin="kernel")


def referenced_protos(src: Sources) -> dict[str, set[str]]:
    """Prototype name → helper names (``BPF_FUNC_x`` labels) of the switches returning it."""
    refs: dict[str, set[str]] = {}

    def add(proto: str, label: str) -> None:
        proto = src.accessors.get(proto, proto)
        refs.setdefault(proto, set()).add(label.removeprefix("BPF_FUNC_"))

    def walk(out: Outcome, label: str) -> None:
        if out.kind in ("proto", "deferred", "accessor"):
            add(out.target, label)
        elif out.kind == "call" and out.target in src.funcs:
            for kind, arg in src.funcs[out.target].steps:
                if kind == "switch" and isinstance(arg, Switch) and label in arg.cases:
                    walk(arg.cases[label], label)
        for kind, target, _cond in out.alts:
            if kind in ("proto", "accessor"):
                add(target, label)
        for o in out.attach_map.values():
            walk(o, label)
        if out.attach_default is not None:
            walk(out.attach_default, label)

    for fp in src.funcs.values():
        for kind, arg in fp.steps:
            if kind == "switch":
                assert isinstance(arg, Switch)
                for label, out in arg.cases.items():
                    walk(out, label)
    return refs


def build(src: Sources, btf: Btf, live: list | None, helper_names: list[str],
          log=sys.stderr) -> tuple[dict[str, Record], dict[str, str], list[str]]:
    """``(records, helper of each record, notes)``."""
    vocab = Vocab(btf)
    refs = referenced_protos(src)
    records: dict[str, Record] = {}
    notes: list[str] = []
    by_func: dict[str, list] = {}
    for lp in live or []:
        by_func.setdefault(lp.func, []).append(lp)
    used_live: set[int] = set()

    for name, d in src.protos.items():
        rec = source_record(d, vocab)
        if live is not None:
            cands = by_func.get(rec.func, [])
            exact = [lp for lp in cands if live_record(name, lp).key() == rec.key()]
            pick = exact[0] if exact else (cands[0] if len(cands) == 1 else None)
            if pick is None:
                if name in refs:
                    notes.append(f"{name}: not in the running kernel (kept from source)")
                rec.origin = "source"
                rec.in_kernel = False
            else:
                lrec = live_record(name, pick)
                if not exact:
                    notes.append(f"{name}: kernel differs from source: "
                                 f"source {rec.key()} kernel {lrec.key()} (kernel wins)")
                if rec.arg_btf and lrec.arg_btf != tuple(
                    b if b is not None else lb for b, lb in zip(rec.arg_btf, lrec.arg_btf)
                ):
                    notes.append(f"{name}: btf ids source {rec.arg_btf} kernel {lrec.arg_btf}")
                lrec.origin = "source+kernel"
                rec = lrec
                used_live.add(pick.address)
        records[name] = rec

    if live is not None:
        # names the switches use but the excerpts do not define
        for name in sorted(set(refs) - set(records)):
            func, want = _BIND_OVERRIDES.get(name, (_guess_func(name), {}))
            cands = [lp for lp in by_func.get(func, [])
                     if all(lp.arg_types[i] == v for i, v in want.items())]
            if len(cands) == 1:
                rec = live_record(name, cands[0])
                used_live.add(cands[0].address)
                records[name] = rec
            else:
                notes.append(f"{name}: referenced, {len(cands)} kernel candidates for {func}()")
        # kernel prototypes no parsed switch returns
        helpers = set(helper_names)
        for lp in live:
            if lp.address in used_live or not lp.func.startswith("bpf_"):
                continue
            h = lp.func.removeprefix("bpf_")
            name = lp.func + "_proto"
            if h in helpers and name not in records:
                rec = live_record(name, lp)
                records[name] = rec
                refs.setdefault(name, set()).add(h)
                notes.append(f"{name}: kernel-only prototype (no parsed switch returns it)")

    helper_of: dict[str, str] = {}
    for name in list(records):
        hs = set(refs.get(name, set()))
        if not hs and name in _UNREFERENCED_HELPER:
            hs = {_UNREFERENCED_HELPER[name]}
        if not hs:
            m = re.fullmatch(r"bpf_(\w+)_proto", name)
            hs = {m.group(1)} if m and m.group(1) in helper_names else set()
        if len(hs) != 1:
            notes.append(f"{name}: dropped (returned for helpers {sorted(hs)})")
            del records[name]
            continue
        helper_of[name] = hs.pop()
    for line in notes:
        print("note:", line, file=log)
    return records, helper_of, notes


def _guess_func(proto_name: str) -> str:
    m = re.fullmatch(r"(\w+?)_proto(?:_(\w+))?", proto_name)
    assert m, proto_name
    return m.group(1) + ("_" + m.group(2) if m.group(2) else "")


def default_protos(src: Sources, records: dict[str, Record], helper_of: dict[str, str],
                   helper_names: list[str]) -> dict[str, str]:
    """Helper name → the prototype most programs see (base helpers: the base prototype)."""
    order = ["SCHED_CLS", "XDP", "KPROBE", "TRACEPOINT", "RAW_TRACEPOINT", "SOCKET_FILTER",
             "CGROUP_SKB", "SOCK_OPS", "CGROUP_SOCK_ADDR", "CGROUP_SOCK", "SK_SKB", "SK_MSG",
             "LWT_XMIT", "LWT_IN", "LWT_SEG6LOCAL", "SK_REUSEPORT", "SK_LOOKUP",
             "CGROUP_SOCKOPT", "CGROUP_SYSCTL", "CGROUP_DEVICE", "PERF_EVENT", "SYSCALL",
             "FLOW_DISSECTOR", "LIRC_MODE2"]
    out: dict[str, str] = {}
    for h in helper_names:
        cfgs = [("bpf_base_func_proto", LoadConfig("BPF_PROG_TYPE_UNSPEC", "BPF_CGROUP_INET_INGRESS"))]
        cfgs += [(PROG_TYPE_FUNC_PROTO[p], LoadConfig("BPF_PROG_TYPE_" + p, "BPF_CGROUP_INET_INGRESS"))
                 for p in order]
        cfgs += [("tracing_prog_func_proto", LoadConfig("BPF_PROG_TYPE_TRACING", "BPF_TRACE_ITER"))]
        cfgs += [("sock_addr_func_proto", LoadConfig("BPF_PROG_TYPE_CGROUP_SOCK_ADDR",
                                                     "BPF_CGROUP_INET4_CONNECT"))]
        cfgs += [("cg_sockopt_func_proto", LoadConfig("BPF_PROG_TYPE_CGROUP_SOCKOPT",
                                                      "BPF_CGROUP_SETSOCKOPT"))]
        for func, cfg in cfgs:
            r = resolve(src, func, h, cfg)
            if r is not None and r.proto in records:
                out[h] = r.proto
                break
        else:
            named = [n for n, hh in helper_of.items() if hh == h]
            if named:
                out[h] = min(named, key=lambda n: (n != f"bpf_{h}_proto", n))
    return out


def render(records: dict[str, Record], helper_of: dict[str, str], defaults: dict[str, str],
           pkt_data: set[str], helper_names: list[str], vocab: Vocab, source: str,
           notes: list[str]) -> str:
    lines = [
        '"""Helper prototypes: every ``struct bpf_func_proto`` of the reference kernel.',
        "",
        f"Generated by tools/gen_helper_protos.py from {source} — do not edit.",
        "",
        "``PROTOS`` maps the kernel's prototype variable (``bpf_xdp_adjust_head_proto``) to a",
        ":class:`~pybpf.platform.helper_model.HelperProto`; ``DEFAULT_PROTO`` names, per helper,",
        "the variant most program types get; ``CHANGES_PKT_DATA`` is the kernel's",
        "``bpf_helper_changes_pkt_data()``. Types are spelled as in the kernel source.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from types import MappingProxyType",
        "",
        "from pybpf.platform.helper_ids import HelperId as H",
        "from pybpf.platform.helper_model import HelperProto",
        "from pybpf.platform.helper_model import make_proto as _p",
        "",
        '__all__ = ["CHANGES_PKT_DATA", "DEFAULT_PROTO", "PROTOS"]',
        "",
        "_D = " + repr(DYNAMIC),
        "",
        "PROTOS: MappingProxyType[str, HelperProto] = MappingProxyType({",
    ]
    for name in sorted(records, key=lambda n: (helper_names.index(helper_of[n]), n)):
        r = records[name]
        h = helper_of[name].upper()
        args = []
        for raw, b, s in zip(r.args, r.arg_btf, r.arg_size, strict=True):
            bb = "_D" if b == DYNAMIC else repr(b)
            args.append(f"({vocab.spell(raw)!r}, {bb}, {s!r})")
        args_s = "(" + ", ".join(args) + ("," if len(args) == 1 else "") + ")"
        kw = []
        for attr in ("gpl_only", "pkt_access", "might_sleep", "allow_fastcall"):
            if getattr(r, attr):
                kw.append(f"{attr}=True")
        if r.ret_btf:
            kw.append("ret_btf_id=" + ("_D" if r.ret_btf == DYNAMIC else repr(r.ret_btf)))
        if r.allowed:
            kw.append(f"allowed={r.allowed!r}")
        if not r.in_kernel:
            kw.append("in_kernel=False")
        lines.append(f"    {name!r}: _p(")
        lines.append(f"        H.{h}, {name!r}, {r.func!r},")
        lines.append(f"        {vocab.spell(r.ret, ret=True)!r},")
        lines.append(f"        {args_s},")
        if kw:
            lines.append("        " + ", ".join(kw) + ",")
        lines.append("    ),")
    lines.append("})")
    lines += ["", "DEFAULT_PROTO: MappingProxyType[H, str] = MappingProxyType({"]
    for h in helper_names:
        if h in defaults:
            lines.append(f"    H.{h.upper()}: {defaults[h]!r},")
    lines += ["})", "", "CHANGES_PKT_DATA: frozenset[H] = frozenset({"]
    for h in sorted(pkt_data, key=helper_names.index):
        lines.append(f"    H.{h.upper()},")
    lines += ["})"]
    if notes:
        lines += ["", "# Generator notes (source snapshot vs the running kernel):"]
        lines += [f"#   {n}" for n in notes]
    return "\n".join(lines) + "\n"


def helper_names_from_ids() -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from pybpf.platform.helper_ids import HelperId

    return [h.name.lower() for h in HelperId if h.value]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("--live", action="store_true", help="use the running kernel (root)")
    ap.add_argument("--btf", type=Path, default=DEFAULT_BTF)
    ap.add_argument("--source-label", default="")
    args = ap.parse_args(argv)
    src = parse_dir(args.src)
    btf = Btf.from_file(args.btf)
    live = None
    if args.live:
        from gen_live_protos import read_live_protos

        live = read_live_protos(args.btf)
    names = helper_names_from_ids()
    records, helper_of, notes = build(src, btf, live, names)
    defaults = default_protos(src, records, helper_of, names)
    missing = [h for h in names if h not in defaults]
    if missing:
        print("note: helpers without any prototype:", missing, file=sys.stderr)
    label = args.source_label or f"kernel source excerpts ({args.src})"
    if live is not None:
        label += f" and the running kernel's prototypes (Linux {platform.release()})"
    text = render(records, helper_of, defaults, src.changes_pkt_data, names, Vocab(btf),
                  label, notes)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
