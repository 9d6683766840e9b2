#!/usr/bin/env python3
"""Generate ``src/pybpf/platform/prog_helpers_table.py``: the helpers each program type may call.

Usage::

    sudo python3 tools/gen_prog_helpers.py SRC_DIR --live > src/pybpf/platform/prog_helpers_table.py

For every load configuration (program type, expected attach type; the defaults of
:func:`pybpf.platform.helper_probe.default_config` plus the attach-type variants in
``VARIANTS``):

1. *source*: walk the program type's ``get_func_proto()`` (parsed by ``gen_csrc.py`` from the
   kernel sources in ``SRC_DIR``) for each helper id, with all capabilities, giving the
   prototype variable and the capabilities whose checks were passed on the way
   (``bpf_base_func_proto()`` gates ``CAP_BPF`` / ``CAP_PERFMON``; ``bpf_sk_base_func_proto()``
   gates the ``skc_to_*`` casts on ``CAP_PERFMON``; ...);
2. *kernel* (``--live``, root): load one probe program per helper id
   (:class:`pybpf.platform.helper_probe.Probe`) and classify the verifier log.

The kernel's verdict is what the table records; the source walk only names the prototype
variant and the capabilities. Disagreements are listed on stderr and at the end of the
generated module. Configurations the kernel cannot load here (TRACING, LSM, EXT, STRUCT_OPS
need an attach target; LIRC_MODE2 is not built) come from the source walk alone and are marked
``measured=False``.

``--unprivileged`` (root) additionally measures SOCKET_FILTER and CGROUP_SKB — the types an
unprivileged user may load — from a child process running as ``nobody``, setting
``kernel.unprivileged_bpf_disabled`` to 0 for the duration and restoring it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_csrc import PROG_TYPE_FUNC_PROTO, parse_dir, resolve
from gen_csrc import LoadConfig as SrcConfig

from pybpf.platform.attach import AttachType
from pybpf.platform.enums import ProgType
from pybpf.platform.helper_ids import HelperId
from pybpf.platform.helper_probe import LoadConfig, Probe, Verdict, default_config
from pybpf.platform.helper_protos import DEFAULT_PROTO, PROTOS

VARIANTS = [
    LoadConfig(ProgType.CGROUP_SKB, AttachType.CGROUP_INET_EGRESS),
    LoadConfig(ProgType.CGROUP_SOCK, AttachType.CGROUP_INET4_POST_BIND),
    LoadConfig(ProgType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_RELEASE),
    LoadConfig(ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_BIND),
    LoadConfig(ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_UDP4_SENDMSG),
    LoadConfig(ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_UDP4_RECVMSG),
    LoadConfig(ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_GETPEERNAME),
    LoadConfig(ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_UNIX_CONNECT),
    LoadConfig(ProgType.CGROUP_SOCKOPT, AttachType.CGROUP_GETSOCKOPT),
    LoadConfig(ProgType.SOCK_OPS, AttachType.CGROUP_SOCK_OPS),
    LoadConfig(ProgType.CGROUP_DEVICE, AttachType.CGROUP_DEVICE),
    LoadConfig(ProgType.CGROUP_SYSCTL, AttachType.CGROUP_SYSCTL),
    LoadConfig(ProgType.TRACING, AttachType.TRACE_ITER),
    LoadConfig(ProgType.TRACING, AttachType.TRACE_FENTRY),
    LoadConfig(ProgType.TRACING, AttachType.TRACE_RAW_TP),
]
UNPRIVILEGED_TYPES = (ProgType.SOCKET_FILTER, ProgType.CGROUP_SKB)


def configs() -> list[LoadConfig]:
    out = [default_config(pt) for pt in ProgType if pt.name in PROG_TYPE_FUNC_PROTO]
    return out + [v for v in VARIANTS if v not in out]


def src_config(cfg: LoadConfig, caps: frozenset[str] | None = None) -> SrcConfig:
    attach = cfg.attach_type if cfg.attach_type is not None else AttachType(0)
    kw = {} if caps is None else {"caps": caps}
    return SrcConfig("BPF_PROG_TYPE_" + cfg.prog_type.name, attach.uapi_name,
                     sleepable=cfg.sleepable, **kw)


def measure(cfg: LoadConfig) -> dict[int, Verdict] | None:
    probe = Probe(cfg)
    if probe.loadable().verdict is Verdict.UNLOADABLE:
        return None
    return {int(h): probe.helper(h).verdict for h in HelperId if h}


def measure_unprivileged() -> dict[str, list[int]]:
    """Allowed helper ids of UNPRIVILEGED_TYPES for an unprivileged process."""
    knob = Path("/proc/sys/kernel/unprivileged_bpf_disabled")
    old = knob.read_text().strip()
    if old == "1":
        raise SystemExit("kernel.unprivileged_bpf_disabled is 1 (sticky): cannot measure")
    code = (
        "import json,sys;"
        "from pybpf.platform.helper_probe import Probe,default_config,Verdict;"
        "from pybpf.platform.enums import ProgType;from pybpf.platform.helper_ids import HelperId;"
        "out={};"
        "[out.__setitem__(n,[int(h) for h in HelperId if h and "
        "Probe(default_config(ProgType[n])).helper(h).verdict is Verdict.ALLOWED]) "
        "for n in sys.argv[1:]];print(json.dumps(out))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    knob.write_text("0")
    try:
        res = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             sys.executable, "-c", code, *[t.name for t in UNPRIVILEGED_TYPES]],
            capture_output=True, text=True, env=env, cwd="/", check=True,
        )
    finally:
        knob.write_text(old)
    return json.loads(res.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("--live", action="store_true")
    ap.add_argument("--unprivileged", action="store_true")
    args = ap.parse_args(argv)
    src = parse_dir(args.src)
    notes: list[str] = []
    rows = []
    for cfg in configs():
        func = PROG_TYPE_FUNC_PROTO[cfg.prog_type.name]
        measured = measure(cfg) if args.live else None
        entries = {}
        for h in HelperId:
            if not h:
                continue
            r = resolve(src, func, h.name.lower(), src_config(cfg))
            src_ok = r is not None and r.proto in PROTOS
            if r is not None and r.proto not in PROTOS:
                notes.append(f"{cfg.label}: {h.name}: source returns {r.proto}, "
                             "which the running kernel does not have")
            ok = measured[int(h)] is Verdict.ALLOWED if measured is not None else src_ok
            if measured is not None and ok != src_ok:
                notes.append(f"{cfg.label}: {h.name}: kernel says "
                             f"{'allowed' if ok else 'denied'}, source walk says "
                             f"{'allowed' if src_ok else 'denied'}")
            if not ok:
                continue
            if src_ok:
                assert r is not None
                entries[h] = (r.proto, sorted(r.requires))
            else:
                entries[h] = (DEFAULT_PROTO[h], [])
        rows.append((cfg, measured is not None, entries))
        print(f"{cfg.label}: {len(entries)} helpers"
              f"{'' if measured is not None else ' (source only)'}", file=sys.stderr)
    unpriv = measure_unprivileged() if args.unprivileged else None
    for line in notes:
        print("note:", line, file=sys.stderr)
    sys.stdout.write(render(rows, unpriv, notes, args.live))
    return 0


def render(rows, unpriv, notes, live: bool) -> str:
    how = ("measured on the running kernel (Linux " + platform.release() + ") with "
           "pybpf.platform.helper_probe, prototype variants and capability checks from the "
           "kernel's *_func_proto() sources") if live else "the kernel's *_func_proto() sources"
    out = [
        '"""Which helpers each program type may call: the data behind',
        ":mod:`pybpf.platform.prog_helpers`.",
        "",
        "Generated by tools/gen_prog_helpers.py — do not edit. Allowed sets " + how + ".",
        "",
        "``TABLE[(prog_type, attach_type, sleepable)] = (measured, {helper: (proto, caps)})``:",
        "``proto`` is the kernel prototype variable the program type gets, ``caps`` the",
        "capabilities the kernel checked on the way (an unprivileged program lacks them all).",
        "``UNPRIVILEGED`` holds the sets measured from an unprivileged process.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from pybpf.platform.attach import AttachType as A",
        "from pybpf.platform.enums import ProgType as P",
        "from pybpf.platform.helper_ids import HelperId as H",
        "",
        '__all__ = ["KERNEL_RELEASE", "TABLE", "UNPRIVILEGED"]',
        "",
        f"KERNEL_RELEASE = {platform.release()!r}",
        "",
        "TABLE = {",
    ]
    for cfg, measured, entries in rows:
        attach = f"A.{cfg.attach_type.name}" if cfg.attach_type is not None else "None"
        out.append(f"    (P.{cfg.prog_type.name}, {attach}, {cfg.sleepable}): ({measured}, {{")
        for h, (proto, caps) in entries.items():
            out.append(f"        H.{h.name}: ({proto!r}, {' '.join(caps)!r}),")
        out.append("    }),")
    out.append("}")
    out.append("")
    if unpriv is None:
        out.append("UNPRIVILEGED: dict[P, frozenset[H]] = {}")
    else:
        out.append("UNPRIVILEGED: dict[P, frozenset[H]] = {")
        for name, ids in unpriv.items():
            out.append(f"    P.{name}: frozenset({{")
            for i in ids:
                out.append(f"        H.{HelperId(i).name},")
            out.append("    }),")
        out.append("}")
    if notes:
        out += ["", "# Generator notes (source walk vs the running kernel):"]
        out += [f"#   {n}" for n in notes]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
