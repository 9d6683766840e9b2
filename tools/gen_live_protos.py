#!/usr/bin/env python3
"""Read the running kernel's ``struct bpf_func_proto`` objects out of kernel memory.

Shared by ``gen_helper_protos.py`` (``--live``) and the opt-in platform tests; run alone it
prints every prototype found (``sudo python3 tools/gen_live_protos.py``).

How: a ``BPF_PROG_TYPE_SYSCALL`` program calling ``bpf_probe_read_kernel()`` (run with
``BPF_PROG_TEST_RUN``) copies kernel memory into an array map; the read-only data section
(``__start_rodata`` .. ``__start_BTF`` from ``/proc/kallsyms``) is scanned for 96-byte records
shaped like ``struct bpf_func_proto`` (layout from vmlinux BTF) whose ``.func`` is the address
of a kernel text symbol. ``arg*_btf_id`` / ``ret_btf_id`` pointers are followed and the BTF id
they hold is named through vmlinux BTF. Needs root (CAP_BPF + CAP_PERFMON), readable kallsyms
(``kptr_restrict`` 0) and no lockdown in confidentiality mode.
"""

from __future__ import annotations

import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_btf_tables import DEFAULT_BTF, KIND_STRUCT, Btf

BPF_PTR_POISON = 0xDEAD00000000EB9F
CHUNK = 32768
_HELPERISH = re.compile(r"^(bpf_|sk_|get_func|rc_)")


@dataclass(frozen=True)
class LiveProto:
    """One ``struct bpf_func_proto`` as found in memory (raw kernel values)."""

    address: int
    func: str  # symbol of .func ("<poison>" for BPF_PTR_POISON)
    gpl_only: bool
    pkt_access: bool
    might_sleep: bool
    allow_fastcall: bool
    ret_type: int
    arg_types: tuple[int, ...]  # 5 raw values
    arg_extra: tuple[int, ...]  # 5 raw union words (btf id pointers or sizes)
    ret_btf_id: int  # pointer
    allowed: str  # symbol of .allowed ("" if NULL)
    arg_btf_names: tuple[str | None, ...]  # resolved names for pointer-valued extras
    ret_btf_name: str | None


class KernelMemory:
    """``read(address, length)`` of kernel memory through a BPF syscall program."""

    def __init__(self) -> None:
        from pybpf.kernel.sys import MapType, ProgType, map_create, prog_load

        def ins(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
            return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)

        self._map = map_create(MapType.ARRAY, 4, CHUNK, 1)
        fd = self._map.fileno()
        prog = (
            ins(0xBF, 6, 1)  # r6 = ctx {u64 addr; u32 len-1}
            + ins(0x62, 10, 0, -4, 0)  # *(u32 *)(fp - 4) = 0
            + ins(0x18, 1, 1, 0, fd) + ins(0)  # r1 = map
            + ins(0xBF, 2, 10) + ins(0x07, 2, 0, 0, -4)  # r2 = fp - 4
            + ins(0x85, imm=1)  # map_lookup_elem
            + ins(0x55, 0, 0, 2, 0) + ins(0xB7, 0) + ins(0x95)  # if !r0: return 0
            + ins(0xBF, 1, 0)  # r1 = dst
            + ins(0x61, 2, 6, 8)  # r2 = len - 1
            + ins(0x79, 3, 6, 0)  # r3 = addr
            + ins(0x57, 2, 0, 0, CHUNK - 1) + ins(0x07, 2, 0, 0, 1)  # r2 in [1, CHUNK]
            + ins(0x85, imm=113)  # probe_read_kernel
            + ins(0x95)
        )
        self._prog = prog_load(ProgType.SYSCALL, prog, prog_flags=1 << 4)

    def read(self, address: int, length: int) -> bytes:
        from pybpf.kernel.sys import map_lookup, prog_test_run

        out = bytearray()
        while length > 0:
            n = min(length, CHUNK)
            r = prog_test_run(self._prog, ctx=struct.pack("<QI4x", address, n - 1), ctx_size_out=0)
            if r.retval != 0:
                raise OSError(f"bpf_probe_read_kernel({address:#x}, {n}) = {r.retval}")
            value = map_lookup(self._map, struct.pack("<I", 0))
            if value is None:
                raise OSError("scratch map lookup failed")
            out += value[:n]
            address += n
            length -= n
        return bytes(out)

    def close(self) -> None:
        self._prog.close()
        self._map.close()


def kallsyms() -> tuple[dict[int, list[str]], dict[str, int]]:
    by_addr: dict[int, list[str]] = {}
    by_name: dict[str, int] = {}
    with open("/proc/kallsyms", encoding="ascii") as f:
        for line in f:
            parts = line.split()
            addr, kind, name = int(parts[0], 16), parts[1], parts[2]
            by_name.setdefault(name, addr)
            if kind in "Tt" and not name.startswith("__pfx_"):
                by_addr.setdefault(addr, []).append(name)
    if not any(by_name.values()):
        raise SystemExit("/proc/kallsyms shows no addresses (kptr_restrict?)")
    return by_addr, by_name


def _proto_layout(btf: Btf) -> dict[str, int]:
    t = btf.get(btf.find(KIND_STRUCT, "bpf_func_proto"))
    if t.size_or_type != 96:
        raise SystemExit(f"unexpected sizeof(struct bpf_func_proto) = {t.size_or_type}")
    return {name or f"<anon@{off // 8}>": off // 8 for name, _ty, off in t.members}


def read_live_protos(btf_path: Path = DEFAULT_BTF) -> list[LiveProto]:
    """Every plausible ``struct bpf_func_proto`` in the running kernel's read-only data."""
    btf = Btf.from_file(btf_path)
    layout = _proto_layout(btf)
    assert layout["gpl_only"] == 8 and layout["ret_type"] == 12, layout
    by_addr, by_name = kallsyms()
    km = KernelMemory()
    try:
        start, end = by_name["__start_rodata"], by_name["__start_BTF"]
        data = km.read(start, end - start)
        found: list[LiveProto] = []
        for off in range(0, len(data) - 96, 8):
            func_ptr, = struct.unpack_from("<Q", data, off)
            if func_ptr == BPF_PTR_POISON:
                func = "<poison>"
            elif func_ptr in by_addr:
                func = by_addr[func_ptr][0]
            else:
                continue
            flags = data[off + 8 : off + 12]
            if any(b > 1 for b in flags):
                continue
            ret, *args, pad = struct.unpack_from("<7I", data, off + 12)
            if pad or (ret & 0xFF) >= 9 or ret >> 28:
                continue
            if any((a & 0xFF) >= 24 or a >> 28 for a in args):
                continue
            if any(args[i] == 0 and any(args[i + 1 :]) for i in range(5)):
                continue
            extra = struct.unpack_from("<5Q", data, off + 40)
            ret_btf, allowed = struct.unpack_from("<QQ", data, off + 80)
            if not any(args) and any(extra):
                continue  # some other ops table
            if allowed and allowed not in by_addr:
                continue
            if func != "<poison>" and not _HELPERISH.match(func):
                continue
            arg_names = tuple(
                _btf_name(km, btf, x) if a & 0xFF in (13, 16, 17) or (a and x > 0xFFFF0000) else None
                for a, x in zip(args, extra, strict=True)
            )
            found.append(LiveProto(
                start + off, func, bool(flags[0]), bool(flags[1]), bool(flags[2]), bool(flags[3]),
                ret, tuple(args), tuple(extra), ret_btf,
                by_addr[allowed][0] if allowed else "", arg_names,
                _btf_name(km, btf, ret_btf) if ret_btf else None,
            ))
        return found
    finally:
        km.close()


def _btf_name(km: KernelMemory, btf: Btf, pointer: int) -> str | None:
    if not pointer:
        return None
    if pointer == BPF_PTR_POISON:
        return "<poison>"
    if pointer < 0xFFFF000000000000:
        return None
    type_id, = struct.unpack("<I", km.read(pointer, 4))
    if not 0 < type_id < len(btf.types):
        return f"<btf id {type_id}>"
    return btf.get(type_id).name or f"<anon {type_id}>"


def main() -> int:
    for p in read_live_protos():
        print(f"{p.address:#x} {p.func} gpl={int(p.gpl_only)} pkt={int(p.pkt_access)} "
              f"sleep={int(p.might_sleep)} fast={int(p.allow_fastcall)} ret={p.ret_type:#x} "
              f"args={[hex(a) for a in p.arg_types if a]} extra={p.arg_btf_names} "
              f"ret_btf={p.ret_btf_name} allowed={p.allowed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
