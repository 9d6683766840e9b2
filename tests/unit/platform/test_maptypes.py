"""Map-type facts: the tables, and the live kernel as the oracle.

Against Linux 6.18: every creatable map type is passed to every map-taking helper whose other
arguments this harness can satisfy (map, context, stack buffer, constant size, zero), in a
program type that has the helper; the verifier's ``cannot pass map_type %d into func %s#%d``
(or ``expected prog array map for tail call``) must appear exactly when
:func:`map_func_compatible` says no. Lookup results (``map_value``, ``map_ptr``, ``sock``,
``xdp_sock`` after the NULL check), constant-key array lookups, and which map types accept
``bpf_spin_lock`` / ``bpf_timer`` values are checked too.
"""

from __future__ import annotations

import re
import struct

import pytest
from platform_live import needs_kernel

from pybpf.platform.ctx_probe import parse_reg_type
from pybpf.platform.enums import MapType as M
from pybpf.platform.enums import ProgType as P
from pybpf.platform.helper_ids import HelperId as H
from pybpf.platform.helper_probe import LoadConfig, default_config
from pybpf.platform.helper_types import ArgType, RegType, TypeFlag
from pybpf.platform.helpers import helper_proto
from pybpf.platform.maptypes import (
    HELPER_MAP_TYPES,
    MAP_TYPES,
    incompatible_message,
    map_func_compatible,
    map_type_info,
    may_update_sockmap,
)
from pybpf.platform.prog_helpers import allowed_helpers


def test_every_map_type_has_info() -> None:
    assert set(MAP_TYPES) == {m for m in M if m is not M.UNSPEC}
    for helper, types in HELPER_MAP_TYPES.items():
        for t in types:
            assert map_type_info(t).allows(helper), (helper, t)


def test_compatibility_rules() -> None:
    assert map_func_compatible(M.PROG_ARRAY, H.TAIL_CALL)
    assert not map_func_compatible(M.PROG_ARRAY, H.MAP_LOOKUP_ELEM)
    assert not map_func_compatible(M.HASH, H.TAIL_CALL)
    assert not map_func_compatible(M.RINGBUF, H.MAP_LOOKUP_ELEM)
    assert map_func_compatible(M.RINGBUF, H.RINGBUF_RESERVE)
    assert not map_func_compatible(M.HASH, H.RINGBUF_OUTPUT)
    assert map_func_compatible(M.XSKMAP, H.REDIRECT_MAP)
    assert not map_func_compatible(M.HASH, H.REDIRECT_MAP)
    assert map_func_compatible(M.HASH, H.MAP_UPDATE_ELEM)
    assert map_func_compatible(M.PERCPU_ARRAY, H.MAP_LOOKUP_PERCPU_ELEM)
    assert not map_func_compatible(M.ARRAY, H.MAP_LOOKUP_PERCPU_ELEM)
    assert map_func_compatible(M.BLOOM_FILTER, H.MAP_PEEK_ELEM)
    assert not map_func_compatible(M.BLOOM_FILTER, H.MAP_POP_ELEM)
    # sockmap updates depend on the program type
    assert may_update_sockmap(H.MAP_UPDATE_ELEM, P.XDP)
    assert not may_update_sockmap(H.MAP_UPDATE_ELEM, P.SOCK_OPS)
    assert may_update_sockmap(H.MAP_DELETE_ELEM, P.SOCK_OPS)
    assert map_func_compatible(M.SOCKMAP, H.MAP_UPDATE_ELEM, P.SCHED_CLS)
    assert not map_func_compatible(M.SOCKMAP, H.MAP_UPDATE_ELEM, P.KPROBE)
    assert incompatible_message(M.HASH, H.REDIRECT_MAP) == (
        "cannot pass map_type 1 into func bpf_redirect_map#51")


def test_lookup_and_value_facts() -> None:
    assert map_type_info(M.HASH).lookup_reg_type == RegType.PTR_TO_MAP_VALUE
    assert map_type_info(M.ARRAY_OF_MAPS).lookup_reg_type == RegType.CONST_PTR_TO_MAP
    assert map_type_info(M.SOCKHASH).lookup_reg_type == RegType.PTR_TO_SOCKET
    assert map_type_info(M.XSKMAP).lookup_reg_type == RegType.PTR_TO_XDP_SOCK
    assert map_type_info(M.RINGBUF).lookup_reg_type is None
    assert not map_type_info(M.RINGBUF).program_lookup
    assert map_type_info(M.ARRAY).const_key_non_null
    assert map_type_info(M.SOCKMAP).program_update
    assert not map_type_info(M.DEVMAP).program_update
    assert map_type_info(M.ARRAY).spin_lock and not map_type_info(M.PERCPU_ARRAY).spin_lock
    assert map_type_info(M.LRU_HASH).timer and not map_type_info(M.LRU_HASH).spin_lock


# --------------------------------------------------------------------------------------------
# the live kernel
# --------------------------------------------------------------------------------------------

def _ins(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _ld_map(reg: int, fd: int) -> bytes:
    return _ins(0x18, reg, 1, 0, fd) + _ins(0)


_PREFERRED = [P.XDP, P.SCHED_CLS, P.TRACEPOINT, P.CGROUP_SKB, P.SOCK_OPS, P.SK_SKB, P.SK_MSG,
              P.SK_REUSEPORT, P.SYSCALL]
_SIMPLE = {ArgType.CONST_MAP_PTR, ArgType.PTR_TO_CTX, ArgType.PTR_TO_MAP_KEY,
           ArgType.PTR_TO_MAP_VALUE, ArgType.PTR_TO_MEM, ArgType.CONST_SIZE,
           ArgType.CONST_SIZE_OR_ZERO, ArgType.CONST_ALLOC_SIZE_OR_ZERO, ArgType.ANYTHING}


def _call_program(helper: H, prog_type: P, map_fd: int) -> bytes | None:
    proto = helper_proto(helper, prog_type)
    if any(a.type not in _SIMPLE for a in proto.args):
        return None
    body = _ins(0xBF, 6, 1)  # r6 = ctx
    for i, a in enumerate(proto.args, start=1):
        if a.type is ArgType.CONST_MAP_PTR:
            body += _ld_map(i, map_fd)
        elif a.type is ArgType.PTR_TO_CTX:
            body += _ins(0xBF, i, 6)
        elif a.type in (ArgType.PTR_TO_MAP_KEY, ArgType.PTR_TO_MAP_VALUE, ArgType.PTR_TO_MEM):
            body += _ins(0xBF, i, 10) + _ins(0x07, i, 0, 0, -256)
        elif a.type in (ArgType.CONST_SIZE, ArgType.CONST_SIZE_OR_ZERO,
                        ArgType.CONST_ALLOC_SIZE_OR_ZERO):
            body += _ins(0xB7, i, imm=8)
        else:
            body += _ins(0xB7, i, imm=0)
    return body + _ins(0x85, imm=helper) + _ins(0xB7, 0, imm=1) + _ins(0x95)


def _verdict(cfg: LoadConfig, insns: bytes) -> str:
    from pybpf.errors import KernelError
    from pybpf.kernel.sys import prog_load

    try:
        prog = prog_load(cfg.prog_type, insns, log_level=1, log_size=1 << 16,
                         prog_flags=1 << 4 if cfg.sleepable else 0,
                         expected_attach_type=int(cfg.attach_type or 0))
        prog.close()
        return "ok"
    except KernelError as exc:
        log = exc.log or ""
    if any(m in log for m in (
        "cannot pass map_type", "expected prog array map for tail call",
        # refusals that come earlier for the same pairs: devmaps are BPF_F_RDONLY_PROG
        # (record_func_map()), sockmap values only go to updates (resolve_map_arg_type())
        "write into map forbidden", "invalid arg_type for sockmap/sockhash",
    )):
        return "incompatible"
    call_line = [i for i, ln in enumerate(log.splitlines()) if " call bpf_" in ln]
    rest = log.splitlines()[call_line[-1] + 1 :] if call_line else []
    if rest and re.match(r"R\d |invalid (indirect|zero-sized|access)", rest[0]):
        return "inconclusive"  # an argument check failed before the map check
    return "ok"


@pytest.fixture(scope="module")
def kernel_maps():
    import kernel_maps as km

    btf = km.make_btf()
    inner = km.map_create_btf(M.ARRAY, 4, 8, 4)
    fds = {m: km.create_any(m, btf, inner) for m in M if m is not M.UNSPEC}
    yield km, btf, {m: fd for m, fd in fds.items() if fd is not None}
    for fd in fds.values():
        km.close(fd)
    km.close(inner)
    km.close(btf.fd)


MAP_HELPERS = sorted({
    h for h in H if h and any(a.type is ArgType.CONST_MAP_PTR for a in helper_proto(h).args)
})


@needs_kernel
def test_map_helper_compatibility_against_the_kernel(kernel_maps) -> None:
    _km, _btf, fds = kernel_maps
    assert len(fds) >= 30
    checked, inconclusive, mismatches = 0, 0, []
    for helper in MAP_HELPERS:
        prog_type = next((p for p in _PREFERRED if helper in allowed_helpers(p)), None)
        if prog_type is None:
            continue
        cfg = default_config(prog_type)
        for map_type, fd in fds.items():
            insns = _call_program(helper, prog_type, fd)
            if insns is None:
                break
            got = _verdict(cfg, insns)
            if got == "inconclusive":
                inconclusive += 1
                continue
            checked += 1
            want = map_func_compatible(map_type, helper, prog_type)
            if (got == "ok") != want:
                mismatches.append((helper.name, map_type.name, prog_type.name, got))
    assert not mismatches
    assert checked >= 600 and inconclusive <= checked // 10, (checked, inconclusive)
    print(f"map compatibility: {checked} pairs checked, {inconclusive} inconclusive")


@needs_kernel
@pytest.mark.parametrize("map_type", [m for m, i in MAP_TYPES.items() if i.lookup_reg_type],
                         ids=lambda m: m.name)
def test_lookup_result_type_against_the_kernel(kernel_maps, map_type: M) -> None:
    from pybpf.errors import KernelError
    from pybpf.kernel.sys import prog_load

    _km, _btf, fds = kernel_maps
    if map_type not in fds:
        pytest.skip(f"cannot create a {map_type.name} map here")
    prog = (
        _ins(0x62, 10, 0, -8, 0)  # *(u32 *)(fp - 8) = 0
        + _ld_map(1, fds[map_type])
        + _ins(0xBF, 2, 10) + _ins(0x07, 2, 0, 0, -8)
        + _ins(0x85, imm=H.MAP_LOOKUP_ELEM)
        + _ins(0x15, 0, 0, 1, 0)  # if r0 == 0 goto +1
        + _ins(0xBF, 7, 0)  # r7 = r0 (state printed: the checked type)
        + _ins(0xB7, 0, imm=1) + _ins(0x95)
    )
    try:
        loaded = prog_load(P.XDP, prog, log_level=2, log_size=1 << 20)
        log = loaded.log
        loaded.close()
    except KernelError as exc:
        log = exc.log or ""
    line = next((ln for ln in log.splitlines() if "r7 = r0" in ln and "R7" in ln), None)
    assert line is not None, log[-2000:]
    match = re.search(r"R7(?:_w)?=([a-z_]+)", line)
    assert match is not None, line
    token = match.group(1)
    assert parse_reg_type(token) == map_type_info(map_type).lookup_reg_type


@needs_kernel
@pytest.mark.parametrize("map_type", [M.ARRAY, M.PERCPU_ARRAY, M.HASH])
def test_constant_key_array_lookup_needs_no_null_check(kernel_maps, map_type: M) -> None:
    from pybpf.errors import KernelError
    from pybpf.kernel.sys import prog_load

    _km, _btf, fds = kernel_maps
    prog = (
        _ins(0x62, 10, 0, -8, 0)
        + _ld_map(1, fds[map_type])
        + _ins(0xBF, 2, 10) + _ins(0x07, 2, 0, 0, -8)
        + _ins(0x85, imm=H.MAP_LOOKUP_ELEM)
        + _ins(0xBF, 7, 0)
        + _ins(0xB7, 0, imm=1) + _ins(0x95)
    )
    try:
        loaded = prog_load(P.XDP, prog, log_level=2, log_size=1 << 20)
        log = loaded.log
        loaded.close()
    except KernelError as exc:
        log = exc.log or ""
    line = next((ln for ln in log.splitlines() if "r7 = r0" in ln and "R7" in ln), None)
    assert line is not None, log[-2000:]
    match = re.search(r"R7(?:_w)?=([a-z_]+)", line)
    assert match is not None, line
    raw = parse_reg_type(match.group(1))
    assert raw is not None, line
    nullable = bool(raw & TypeFlag.PTR_MAYBE_NULL)
    assert nullable != map_type_info(map_type).const_key_non_null


_VALUE_MAPS = [M.HASH, M.ARRAY, M.PERCPU_HASH, M.PERCPU_ARRAY, M.LRU_HASH, M.LRU_PERCPU_HASH,
               M.SK_STORAGE, M.INODE_STORAGE, M.TASK_STORAGE, M.CGRP_STORAGE]


@needs_kernel
@pytest.mark.parametrize("map_type", _VALUE_MAPS, ids=lambda m: m.name)
def test_special_fields_against_the_kernel(kernel_maps, map_type: M) -> None:
    from pybpf.errors import KernelError

    km, btf, _fds = kernel_maps
    storage = map_type in (M.SK_STORAGE, M.INODE_STORAGE, M.TASK_STORAGE, M.CGRP_STORAGE)
    for value_id, size, attr in ((btf.lock_value, 8, "spin_lock"),
                                 (btf.timer_value, 16, "timer")):
        try:
            fd = km.map_create_btf(map_type, 4, size, 0 if storage else 4,
                                   flags=km.BPF_F_NO_PREALLOC if storage else 0, btf=btf,
                                   key_id=btf.int_id, value_id=value_id)
            km.close(fd)
            ok = True
        except KernelError:
            ok = False
        assert ok == getattr(map_type_info(map_type), attr), (map_type.name, attr)
