"""The ring buffer's producer side as LLVM IR: reserve and commit (submit or discard).

Mirrors ``__bpf_ringbuf_reserve()`` and ``bpf_ringbuf_commit()`` of kernel/bpf/ringbuf.c
as :mod:`pybpf.runtime.maps.ringbuf` describes them, on a
:class:`~pybpf.native.layout.RingbufNative`; this is their only implementation: the
map's Python methods and compiled programs (:mod:`pybpf.jit.lower_helpers`) call these same
functions.

* ``pb_ringbuf_reserve(rb, size, flags)`` — the program address of the new record's data,
  or 0 (non-zero ``flags``, a record longer than ``RINGBUF_MAX_RECORD_SZ`` or the ring, or
  no room before the consumer or the oldest record still reserved);
* ``pb_ringbuf_commit(rb, addr, discard)`` — clears the record's busy bit (and sets the
  discard bit): 0, or :data:`~pybpf.native.layout.NOT_NATIVE` when ``addr`` is not the
  data of a reserved record of ``rb`` (Python raises the error).
"""

from __future__ import annotations

from pybpf.jit.irtext import ModuleText
from pybpf.native.irkit import Builder
from pybpf.native.layout import NOT_NATIVE, RingbufNative, field_offsets
from pybpf.runtime.maps.flags import (
    BPF_RINGBUF_BUSY_BIT,
    BPF_RINGBUF_DISCARD_BIT,
    BPF_RINGBUF_HDR_SZ,
)

__all__ = ["EXPORTS", "RINGBUF_DATA_PGOFF", "RINGBUF_MAX_RECORD_SZ", "add"]

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_ringbuf_reserve": ("i64", ("ptr", "i64", "i64")),
    "pb_ringbuf_commit": ("i64", ("ptr", "i64", "i64")),
}

#: RINGBUF_MAX_RECORD_SZ of ringbuf.c (UINT_MAX / 4).
RINGBUF_MAX_RECORD_SZ = 0xFFFFFFFF // 4
#: Pages before the data in ``struct bpf_ringbuf`` (the records' ``pg_off`` counts them).
RINGBUF_DATA_PGOFF = 3
_PAGE_SHIFT = 12
_F = field_offsets(RingbufNative)


def _reserve(mod: ModuleText) -> None:
    b = Builder(mod, "pb_ringbuf_reserve", "i64", [("ptr", "rb"), ("i64", "size"),
                                                   ("i64", "flags")])
    b.return_if(b.op("icmp ne i64 %flags, 0"), 0)
    b.return_if(b.op(f"icmp ugt i64 %size, {RINGBUF_MAX_RECORD_SZ}"), 0)
    hdr = BPF_RINGBUF_HDR_SZ
    length = b.op(f"and i64 {b.op(f'add i64 %size, {hdr + 7}')}, -8")
    mask = b.ld("i64", "%rb", _F["mask"])
    b.return_if(b.op(f"icmp ugt i64 {length}, {b.op(f'add i64 {mask}, 1')}"), 0)
    data = b.op(f"inttoptr i64 {b.ld('i64', '%rb', _F['data'])} to ptr")
    prod = b.ld("i64", "%rb", _F["producer_pos"])
    pend = b.var("i64", b.ld("i64", "%rb", _F["pending_pos"]))
    with b.loop() as lp:  # skip the records committed since (the oldest busy one stops)
        cur = pend.get()
        b.break_if(b.op(f"icmp uge i64 {cur}, {prod}"), lp)
        hdr_len = b.zext(b.ld("i32", data, b.op(f"and i64 {cur}, {mask}")))
        b.break_if(b.op(f"icmp ne i64 {b.op(f'and i64 {hdr_len}, {BPF_RINGBUF_BUSY_BIT}')}, 0"),
                   lp)
        size = b.op(f"and i64 {hdr_len}, {~BPF_RINGBUF_DISCARD_BIT & 0xFFFFFFFF}")
        step = b.op(f"and i64 {b.op(f'add i64 {size}, {hdr + 7}')}, -8")
        pend.set(b.op(f"add i64 {cur}, {step}"))
    pending = pend.get()
    b.st("i64", pending, "%rb", _F["pending_pos"])
    new_prod = b.op(f"add i64 {prod}, {length}")
    ahead = b.op(f"sub i64 {new_prod}, {b.ld('i64', '%rb', _F['consumer_pos'])}")
    b.return_if(b.op(f"icmp ugt i64 {ahead}, {mask}"), 0)
    b.return_if(b.op(f"icmp ugt i64 {b.op(f'sub i64 {new_prod}, {pending}')}, {mask}"), 0)
    off = b.op(f"and i64 {prod}, {mask}")
    pg_off = b.op(f"add i64 {b.op(f'lshr i64 {off}, {_PAGE_SHIFT}')}, {RINGBUF_DATA_PGOFF}")
    busy = b.op(f"or i64 {b.op('and i64 %size, 4294967295')}, {BPF_RINGBUF_BUSY_BIT}")
    b.st("i32", b.op(f"trunc i64 {busy} to i32"), data, off)
    b.st("i32", b.op(f"trunc i64 {pg_off} to i32"), data, b.op(f"add i64 {off}, 4"))
    b.st("i64", new_prod, "%rb", _F["producer_pos"])
    vaddr = b.ld("i64", "%rb", _F["vaddr"])
    b.ret(b.op(f"add i64 {b.op(f'add i64 {vaddr}, {off}')}, {hdr}"))


def _commit(mod: ModuleText) -> None:
    b = Builder(mod, "pb_ringbuf_commit", "i64", [("ptr", "rb"), ("i64", "addr"),
                                                  ("i64", "discard")])
    vaddr = b.ld("i64", "%rb", _F["vaddr"])
    off = b.op(f"sub i64 {b.op(f'sub i64 %addr, {vaddr}')}, {BPF_RINGBUF_HDR_SZ}")
    mask = b.ld("i64", "%rb", _F["mask"])
    b.return_if(b.op(f"icmp ugt i64 {off}, {mask}"), NOT_NATIVE)
    data = b.op(f"inttoptr i64 {b.ld('i64', '%rb', _F['data'])} to ptr")
    hdr_len = b.ld("i32", data, off)
    busy = b.op(f"and i32 {hdr_len}, {BPF_RINGBUF_BUSY_BIT - (1 << 32)}")
    b.return_if(b.op(f"icmp eq i32 {busy}, 0"), NOT_NATIVE)
    cleared = b.op(f"xor i32 {hdr_len}, {busy}")
    flag = b.op(f"select i1 {b.op('icmp ne i64 %discard, 0')}, i32 {BPF_RINGBUF_DISCARD_BIT}, "
                "i32 0")
    b.st("i32", b.op(f"or i32 {cleared}, {flag}"), data, off)
    b.ret(0)


def add(mod: ModuleText) -> None:
    """Add reserve and commit to the library module."""
    _reserve(mod)
    _commit(mod)
