"""Native run loops as LLVM IR: many XDP frames through one program, or one context many
times, without a Python call per run; ``pb_enter``, the trampoline every compiled
function is entered through (so a raised callback can unwind it); ``pb_offsets``, the
frame offsets of a batch built from a list; and ``pb_pcap_records``, the frames of a block
of a capture file.

Mirrors the loop of ``bpf_test_run()`` (net/bpf/test_run.c) and what ``test_run`` does per
frame in Python (:mod:`pybpf.runtime.test_run`): for each frame ``pb_xdp_batch`` copies the
bytes (inline, no libc call) into the reused XDP packet buffer after the headroom, sets the packet region's direct
sizes (headroom plus frame: the region starts at ``data_hard_start``) and the native
``xdp_md`` pointers (:class:`~pybpf.native.layout.XdpMdNative`), resets the instruction budget, calls the compiled program with the context, records r0 and
the instruction count, copies the packet out, and ends the run's grace period for the maps
in the RCU list (``pb_htab_sync``). ``pb_repeat`` runs one context ``count`` times.

Both set their ``jmp_buf`` once per call, not once per run (a raised run unwinds to the
loop, whose state is in its descriptor), and stop and hand over to Python (:class:`~pybpf.native.layout.BatchStatus`) where Python
must act: a frame of a size the loop does not take (``PYTHON``), a run that raised
(``RAISED``), or a run that called into Python for anything but a plain load (``FINALIZE``:
Python may have changed the context, the packet's geometry or registered a map, so Python
finishes that run and sets the loop up again).
"""

from __future__ import annotations

from pybpf.jit.abi import ENV_OFFSETS, ROW_OFFSETS
from pybpf.jit.irtext import ModuleText
from pybpf.native.htab_ir import M
from pybpf.native.irkit import Builder
from pybpf.native.layout import (
    CTX_VALUES,
    SKB_HEADER_UNSET,
    BatchStatus,
    CtxNativeHeader,
    FrameBatch,
    RepeatRun,
    SkbNative,
    XdpMdNative,
    field_offsets,
)
from pybpf.runtime.ctx.skb import (
    ETH_HLEN,
    NATIVE_SLOTS,
    PACKET_HOST,
    PACKET_MULTICAST,
    PACKET_OTHERHOST,
    SKB_STRUCT,
)

__all__ = ["EXPORTS", "add"]

B = field_offsets(FrameBatch)
R = field_offsets(RepeatRun)
X = field_offsets(XdpMdNative)
K = field_offsets(SkbNative)
H = field_offsets(CtxNativeHeader)
#: Shortest frame of each EtherType ``bpf_prog_test_run_skb()`` takes (IPv4, IPv6 header).
SKB_MIN_LEN = {0x0800: 34, 0x86DD: 54}

EXPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pb_enter": ("i64", ("ptr", "ptr", "i64", "i64", "i64", "i64", "i64", "i64")),
    "pb_xdp_batch": ("i64", ("ptr",)),
    "pb_skb_batch": ("i64", ("ptr",)),
    "pb_repeat": ("i64", ("ptr",)),
    "pb_offsets": ("void", ("ptr", "ptr", "i64")),
    "pb_pcap_records": ("i64", ("ptr", "i64", "i64", "i64", "i64", "ptr", "ptr", "ptr")),
}
#: The longest frame taken of a pcap record (scapy's ``MTU``; the rest is skipped).
PCAP_MAX_FRAME = 0xFFFF
#: Bytes reserved for a ``jmp_buf`` (glibc x86_64 uses 200).
JMP_BUF_SIZE = 256


def _enter(mod: ModuleText) -> None:
    """``u64 pb_enter(env, fn, r1..r5, depth)``: call compiled function ``fn`` so that a
    callback that raised can unwind it (``longjmp`` from the module's runtime stub, see
    :mod:`pybpf.jit.abi`): the previous ``env->jmp`` and ``env->pkt_base`` are kept and
    restored, so entries nest (a helper calling back into compiled code). Returns 0 when
    unwound (``env->status`` says why)."""
    mod.declare("_setjmp", "declare i32 @_setjmp(ptr) returns_twice")
    b = Builder(mod, "pb_enter", "i64", [("ptr", "env"), ("ptr", "fn"), ("i64", "r1"),
                                         ("i64", "r2"), ("i64", "r3"), ("i64", "r4"),
                                         ("i64", "r5"), ("i64", "depth")],
                attrs="noinline")
    buf = b.op(f"alloca [{JMP_BUF_SIZE} x i8], align 16")
    slot = b.ptr("%env", ENV_OFFSETS["jmp"])
    old = b.ld("ptr", slot)
    packet = b.ptr("%env", ENV_OFFSETS["pkt_base"])  # a nested run may have another packet
    old_packet = b.ld("i64", packet)
    b.st("ptr", buf, slot)
    jumped = b.op(f"call i32 @_setjmp(ptr {buf}) returns_twice")
    with b.if_(b.op(f"icmp ne i32 {jumped}, 0")):
        b.st("ptr", old, slot)
        b.st("i64", old_packet, packet)
        b.ret(0)
    r0 = b.op("call i64 %fn(ptr %env, i64 %r1, i64 %r2, i64 %r3, i64 %r4, i64 %r5, "
              "i64 %depth)")
    b.st("ptr", old, slot)
    b.st("i64", old_packet, packet)
    b.ret(r0)


def _pcap_records(mod: ModuleText) -> None:
    """``u64 pb_pcap_records(data, start, size, big, max, u64 *offsets, u32 *lengths,
    u64 *end)``: walk the pcap records (16-byte header: ts_sec, ts_(u|n)sec, incl_len,
    orig_len, in the capture's byte order, ``big`` for big endian) of the ``size`` bytes at
    ``data`` from offset ``start`` on: each whole record's frame offset (in ``data``) and
    length (cut at :data:`PCAP_MAX_FRAME`), at most ``max``; the count, and in ``*end``
    where the first record not taken starts (:mod:`pybpf.runtime.pcap` tells a short
    buffer from a truncated capture)."""
    mod.declare("llvm.bswap.i32", "declare i32 @llvm.bswap.i32(i32)")
    b = Builder(mod, "pb_pcap_records", "i64", [
        ("ptr", "data"), ("i64", "start"), ("i64", "size"), ("i64", "big"), ("i64", "max"),
        ("ptr", "offsets"), ("ptr", "lengths"), ("ptr", "end")])
    swap = b.op("icmp ne i64 %big, 0")
    pos, n = b.var("i64", "%start"), b.var("i64", 0)
    with b.loop() as lp:
        at, k = pos.get(), n.get()
        b.break_if(b.op(f"icmp uge i64 {k}, %max"), lp)
        start = b.op(f"add i64 {at}, 16")
        b.break_if(b.op(f"icmp ugt i64 {start}, %size"), lp)
        raw = b.fn.load("i32", b.ptr("%data", b.op(f"add i64 {at}, 8")), align=1)
        caplen = b.zext(b.op(f"select i1 {swap}, i32 {b.op(f'call i32 @llvm.bswap.i32(i32 {raw})')}, "
                             f"i32 {raw}"))
        after = b.op(f"add i64 {start}, {caplen}")
        b.break_if(b.op(f"icmp ugt i64 {after}, %size"), lp)
        b.st("i64", start, "%offsets", b.op(f"mul i64 {k}, 8"))
        kept = b.op(f"select i1 {b.op(f'icmp ugt i64 {caplen}, {PCAP_MAX_FRAME}')}, "
                    f"i64 {PCAP_MAX_FRAME}, i64 {caplen}")
        b.st("i32", b.op(f"trunc i64 {kept} to i32"), "%lengths", b.op(f"mul i64 {k}, 4"))
        pos.set(after)
        n.set(b.op(f"add i64 {k}, 1"))
    b.st("i64", pos.get(), "%end")
    b.ret(n.get())


def _offsets(mod: ModuleText) -> None:
    """``void pb_offsets(u32 *lengths, u64 *offsets, u64 n)``: where each of ``n`` frames
    packed back to back starts (a batch built from a list of frames)."""
    b = Builder(mod, "pb_offsets", "void", [("ptr", "lengths"), ("ptr", "offsets"), ("i64", "n")])
    i = b.var("i64", 0)
    at = b.var("i64", 0)
    with b.loop() as lp:
        k = i.get()
        b.break_if(b.op(f"icmp uge i64 {k}, %n"), lp)
        b.st("i64", at.get(), "%offsets", b.op(f"mul i64 {k}, 8"))
        length = b.zext(b.ld("i32", "%lengths", b.op(f"mul i64 {k}, 4")))
        at.set(b.op(f"add i64 {at.get()}, {length}"))
        i.set(b.op(f"add i64 {k}, 1"))
    b.ret(None)


def _guarded(mod: ModuleText, name: str, fields: dict[str, int]) -> None:
    """``u64 <name>(s)``: ``<name>_loop(s)`` with a ``jmp_buf`` of its own, set once for
    the whole loop (not per run, as ``pb_enter`` would): a run that raised unwinds to it
    and the loop answers ``RAISED``; its state (``s->next``) is in memory. The previous
    ``env->jmp`` is restored either way, so entries nest as with ``pb_enter``."""
    mod.declare("_setjmp", "declare i32 @_setjmp(ptr) returns_twice")
    b = Builder(mod, name, "i64", [("ptr", "s")], attrs="noinline")
    buf = b.op(f"alloca [{JMP_BUF_SIZE} x i8], align 16")
    env = b.ld("ptr", "%s", fields["env"])
    slot = b.ptr(env, ENV_OFFSETS["jmp"])
    old = b.ld("ptr", slot)
    b.st("ptr", buf, slot)
    jumped = b.op(f"call i32 @_setjmp(ptr {buf}) returns_twice")
    with b.if_(b.op(f"icmp ne i32 {jumped}, 0")):
        b.st("ptr", old, slot)
        b.ret(int(BatchStatus.RAISED))
    status = b.call("i64", f"{name}_loop", [("ptr", "%s")])
    b.st("ptr", old, slot)
    b.ret(status)


def _copy(b: Builder, dst: str, src: str, length: str) -> None:
    """``length`` (>= 8) bytes from ``src`` to ``dst`` inline, in 32-, 16- or 8-byte pieces
    (the last one overlapping the one before): a frame costs no call of libc's memcpy."""
    def piece(n: int, at: str | int) -> None:
        ty = f"<{n} x i8>"
        value = b.fn.load(ty, b.ptr(src, at), align=1)
        b.fn.store(ty, value, b.ptr(dst, at), align=1)

    with b.if_else(b.op(f"icmp uge i64 {length}, 32")) as (large, small):
        with large:
            o = b.var("i64", 0)
            with b.loop() as lp:
                at = o.get()
                b.break_if(b.op(f"icmp uge i64 {b.op(f'add i64 {at}, 32')}, {length}"), lp)
                piece(32, at)
                o.set(b.op(f"add i64 {at}, 32"))
            piece(32, b.op(f"sub i64 {length}, 32"))
        with small, b.if_else(b.op(f"icmp uge i64 {length}, 16")) as (medium, tiny):
            with medium:
                piece(16, 0)
                piece(16, b.op(f"sub i64 {length}, 16"))
            with tiny:
                piece(8, 0)
                piece(8, b.op(f"sub i64 {length}, 8"))


def _run(b: Builder, s: str, fields: dict[str, int]) -> tuple[str, str]:
    """Reset the budget, call the program on the context (a raised run unwinds to the
    loop's ``jmp_buf``, see :func:`_guarded`). Returns (r0, py_calls before the run)."""
    env = b.ld("ptr", s, fields["env"])
    budget = b.ld("i64", s, fields["budget"])
    b.st("i64", budget, env, ENV_OFFSETS["budget"])
    seq = b.ptr(env, ENV_OFFSETS["run_seq"])
    b.st("i64", b.op(f"add i64 {b.ld('i64', seq)}, 1"), seq)
    calls = b.ld("i64", env, ENV_OFFSETS["py_calls"])
    entry = b.ld("ptr", s, fields["entry"])
    ctx = b.ld("i64", s, fields["ctx"])
    r0 = b.op(f"call i64 {entry}(ptr {env}, i64 {ctx}, i64 0, i64 0, i64 0, i64 0, i64 0)")
    status = b.ld("i64", env, ENV_OFFSETS["status"])
    b.return_if(b.op(f"icmp ne i64 {status}, 0"), int(BatchStatus.RAISED))
    return r0, calls


def _used(b: Builder, s: str, fields: dict[str, int], env: str) -> str:
    """Instructions the run took (budget given minus budget left)."""
    left = b.ld("i64", env, ENV_OFFSETS["budget"])
    return b.op(f"sub i64 {b.ld('i64', s, fields['budget'])}, {left}")


def _sync_rcu(b: Builder, s: str, fields: dict[str, int]) -> None:
    """End of the run's grace period for the maps in the RCU list (a call only for a map
    with slots pending: most runs free nothing)."""
    maps = b.ld("ptr", s, fields["rcu"])
    count = b.ld("i64", s, fields["nrcu"])
    j = b.var("i64", 0)
    with b.loop() as lp:
        cur = j.get()
        b.break_if(b.op(f"icmp uge i64 {cur}, {count}"), lp)
        m = b.ld("ptr", b.op(f"getelementptr ptr, ptr {maps}, i64 {cur}"))
        with b.if_(b.op(f"icmp ne i32 {b.ld('i32', m, M['pend_len'])}, 0")):
            b.call("void", "pb_htab_sync", [("ptr", m)])
        j.set(b.op(f"add i64 {cur}, 1"))


class _Frame:
    """Frame ``i`` of a batch (``%s``) the loop takes: its length and offset, where its
    bytes are (returns ``PYTHON`` from the loop for a length it does not take); resets the
    context's fields from the template."""

    def __init__(self, b: Builder) -> None:
        self.i = b.ld("i64", "%s", B["next"])
        b.return_if(b.op(f"icmp uge i64 {self.i}, {b.ld('i64', '%s', B['count'])}"),
                    int(BatchStatus.DONE))
        lengths = b.ld("ptr", "%s", B["lengths"])
        self.length = b.zext(b.ld("i32", b.op(f"getelementptr i32, ptr {lengths}, i64 {self.i}")))
        short = b.op(f"icmp ult i64 {self.length}, {ETH_HLEN}")
        long = b.op(f"icmp ugt i64 {self.length}, {b.ld('i64', '%s', B['max_len'])}")
        b.return_if(b.op(f"or i1 {short}, {long}"), int(BatchStatus.PYTHON))
        offsets = b.ld("ptr", "%s", B["offsets"])
        self.offset = b.ld("i64", b.op(f"getelementptr i64, ptr {offsets}, i64 {self.i}"))
        self.bytes = b.ptr(b.ld("ptr", "%s", B["frames"]), self.offset)
        # the context's fields as a fresh context has them
        _copy(b, b.ld("ptr", "%s", B["ctx_fields"]), b.ld("ptr", "%s", B["template"]),
              b.ld("i64", "%s", B["ctx_size"]))

    def set_row(self, b: Builder, packet: str, payload: str) -> None:
        """The packet region runs from the buffer's start (the row's host address) to the
        end of the ``payload`` bytes at ``packet``: its direct sizes."""
        row = b.ld("ptr", "%s", B["packet_row"])
        headroom = b.op(f"sub i64 {b.op(f'ptrtoint ptr {packet} to i64')}, "
                        f"{b.ld('i64', row, ROW_OFFSETS['host'])}")
        size32 = b.op(f"trunc i64 {b.op(f'add i64 {headroom}, {payload}')} to i32")
        b.st("i32", size32, row, ROW_OFFSETS["load_size"])
        b.st("i32", size32, row, ROW_OFFSETS["store_size"])

    def run(self, b: Builder) -> str:
        """Run the program (no redirect recorded yet), record r0 and the instruction count;
        the ``i1`` "the run called into Python"."""
        b.st("i64", 0, b.ld("ptr", "%s", B["native"]), H["redirect"])
        r0, calls = _run(b, "%s", B)
        results = b.ld("ptr", "%s", B["r0"])
        b.st("i64", r0, b.op(f"getelementptr i64, ptr {results}, i64 {self.i}"))
        env = b.ld("ptr", "%s", B["env"])
        used = _used(b, "%s", B, env)
        counts = b.ld("ptr", "%s", B["insns"])
        b.st("i64", used, b.op(f"getelementptr i64, ptr {counts}, i64 {self.i}"))
        return b.op(f"icmp ne i64 {b.ld('i64', env, ENV_OFFSETS['py_calls'])}, {calls}")

    def done(self, b: Builder, source: str) -> str:
        """Copy the output frame from ``source`` and the run's redirect (if any), end the
        grace period, go on; the output frame's host address."""
        out = b.ptr(b.ld("ptr", "%s", B["out"]), self.offset)
        _copy(b, out, source, self.length)
        redirect = b.ld("i64", b.ld("ptr", "%s", B["native"]), H["redirect"])
        redirects = b.ld("ptr", "%s", B["redirects"])
        b.st("i64", redirect, b.op(f"getelementptr i64, ptr {redirects}, i64 {self.i}"))
        recorded = b.zext(b.op(f"icmp ne i64 {redirect}, 0"), "i1")
        b.st("i64", b.op(f"add i64 {b.ld('i64', '%s', B['nredirects'])}, {recorded}"), "%s",
             B["nredirects"])
        _sync_rcu(b, "%s", B)
        b.st("i64", b.op(f"add i64 {self.i}, 1"), "%s", B["next"])
        return out


def _batch(mod: ModuleText) -> None:
    """``pb_xdp_batch``: the frame after the reused XDP buffer's headroom, the context's
    fields from the template, the native ``xdp_md`` pointers set to the frame."""
    _guarded(mod, "pb_xdp_batch", B)
    b = Builder(mod, "pb_xdp_batch_loop", "i64", [("ptr", "s")], linkage="internal",
                attrs='noinline "no-builtins"')
    with b.loop():
        frame = _Frame(b)
        length = frame.length
        packet = b.ld("ptr", "%s", B["packet"])
        _copy(b, packet, frame.bytes, length)
        frame.set_row(b, packet, length)
        xdp = b.ld("ptr", "%s", B["native"])
        vaddr = b.ld("i64", "%s", B["packet_vaddr"])
        b.st("i64", vaddr, xdp, X["data"])
        b.st("i64", vaddr, xdp, X["data_meta"])
        b.st("i64", b.op(f"add i64 {vaddr}, {length}"), xdp, X["data_end"])
        called = frame.run(b)
        # a native bpf_xdp_adjust_*() moved the packet: Python finishes the run too
        end = b.op(f"add i64 {vaddr}, {length}")
        moved = called
        for name, set_to in (("data", vaddr), ("data_meta", vaddr), ("data_end", end)):
            now = b.ld("i64", xdp, X[name])
            moved = b.op(f"or i1 {moved}, {b.op(f'icmp ne i64 {now}, {set_to}')}")
        b.return_if(moved, int(BatchStatus.FINALIZE))
        frame.done(b, packet)
    b.ret(int(BatchStatus.DONE))


def _pkt_type(b: Builder, frame: str) -> str:
    """``eth_type_trans()`` on lo (:func:`pybpf.runtime.ctx.skb.pkt_type_of`: its address
    and broadcast address are all zeroes, so a group address is multicast)."""
    first = b.fn.load("i8", frame)
    group = b.op(f"icmp ne i8 {b.op(f'and i8 {first}, 1')}, 0")
    low = b.fn.load("i32", frame, align=1)
    high = b.fn.load("i16", b.ptr(frame, 4), align=1)
    zero = b.op(f"and i1 {b.op(f'icmp eq i32 {low}, 0')}, {b.op(f'icmp eq i16 {high}, 0')}")
    unicast = b.op(f"select i1 {zero}, i32 {PACKET_HOST}, i32 {PACKET_OTHERHOST}")
    return b.op(f"select i1 {group}, i32 {PACKET_MULTICAST}, i32 {unicast}")


def _skb_batch(mod: ModuleText) -> None:
    """``pb_skb_batch``: what ``bpf_prog_test_run_skb()`` does per frame on the reused skb
    context (:class:`pybpf.runtime.ctx.skb.SkbContext`): frames it refuses (too short for
    their IPv4/IPv6 header) are Python's; the frame goes to ``data`` (a socket filter's MAC
    header, ``mac_len`` bytes, into the headroom before it), the ``__sk_buff`` buffer
    starts from the template with the frame's ``pkt_type`` and ``protocol``, the native
    half gets the packet's length and pointers, ``CHECKSUM_NONE`` with no hash and the
    header offsets of :func:`pybpf.runtime.ctx.skb.reset_headers`; a run that moved the
    packet (a native geometry helper) is Python's to finish. The output frame of a socket
    filter has its MAC header zeroed, as test_run returns it."""
    _guarded(mod, "pb_skb_batch", B)
    b = Builder(mod, "pb_skb_batch_loop", "i64", [("ptr", "s")], linkage="internal",
                attrs='noinline "no-builtins"')
    with b.loop():
        frame = _Frame(b)
        length = frame.length
        raw_proto = b.fn.load("i16", b.ptr(frame.bytes, 12), align=1)
        proto = b.zext(b.op(f"call i16 @llvm.bswap.i16(i16 {raw_proto})"), "i16")
        for ethertype, need in SKB_MIN_LEN.items():
            short = b.op(f"icmp ult i64 {length}, {need}")
            b.return_if(b.op(f"and i1 {b.op(f'icmp eq i64 {proto}, {ethertype}')}, {short}"),
                        int(BatchStatus.PYTHON))
        mac_len = b.ld("i64", "%s", B["mac_len"])
        packet = b.ld("ptr", "%s", B["packet"])
        start = b.op(f"getelementptr i8, ptr {packet}, i64 {b.op(f'sub i64 0, {mac_len}')}")
        _copy(b, start, frame.bytes, length)
        payload = b.op(f"sub i64 {length}, {mac_len}")
        frame.set_row(b, packet, payload)
        fields = b.ld("ptr", "%s", B["ctx_fields"])
        b.st("i32", _pkt_type(b, frame.bytes), fields, SKB_STRUCT.offsetof("pkt_type"))
        b.st("i32", b.op(f"zext i16 {raw_proto} to i32"), fields,
             SKB_STRUCT.offsetof("protocol"))
        skb = b.ld("ptr", "%s", B["native"])
        vaddr = b.ld("i64", "%s", B["packet_vaddr"])
        end = b.op(f"add i64 {vaddr}, {payload}")
        for name, value in (("len", payload), ("data", vaddr), ("data_end", end),
                            ("data_meta", vaddr)):
            b.st("i64", value, skb, CTX_VALUES + 8 * NATIVE_SLOTS[name])
        host = b.ld("i64", skb, K["host"])
        data_off = b.op(f"sub i64 {b.op(f'ptrtoint ptr {packet} to i64')}, {host}")
        end_off = b.op(f"add i64 {data_off}, {payload}")
        b.st("i64", data_off, skb, K["data"])
        b.st("i64", end_off, skb, K["end"])
        for name, ty in (("ip_summed", "i32"), ("csum", "i32"), ("sw_hash", "i8"),
                         ("l4_hash", "i8"), ("csum_level", "i8"), ("encapsulation", "i8"),
                         ("mac_len", "i32"), ("gso_type", "i32")):
            b.st(ty, 0, skb, K[name])
        # reset_headers(): the MAC header at the frame's start, the network header after it
        mac = b.op(f"trunc i64 {b.op(f'sub i64 {data_off}, {mac_len}')} to i32")
        b.st("i32", mac, skb, K["mac_header"])
        b.st("i32", b.op(f"add i32 {mac}, {ETH_HLEN}"), skb, K["network_header"])
        b.st("i32", SKB_HEADER_UNSET, skb, K["transport_header"])
        called = frame.run(b)
        # a native bpf_skb_change_tail()... moved the packet: Python finishes the run too
        moved = called
        for name, set_to in (("data", data_off), ("end", end_off)):
            now = b.ld("i64", skb, K[name])
            moved = b.op(f"or i1 {moved}, {b.op(f'icmp ne i64 {now}, {set_to}')}")
        b.return_if(moved, int(BatchStatus.FINALIZE))
        out = frame.done(b, start)
        b.memset0(out, mac_len)
    b.ret(int(BatchStatus.DONE))


def _repeat(mod: ModuleText) -> None:
    _guarded(mod, "pb_repeat", R)
    b = Builder(mod, "pb_repeat_loop", "i64", [("ptr", "s")], linkage="internal",
                attrs="noinline")
    with b.loop():
        i = b.ld("i64", "%s", R["next"])
        b.return_if(b.op(f"icmp uge i64 {i}, {b.ld('i64', '%s', R['count'])}"),
                    int(BatchStatus.DONE))
        r0, calls = _run(b, "%s", R)
        b.st("i64", r0, "%s", R["r0"])
        env = b.ld("ptr", "%s", R["env"])
        used = _used(b, "%s", R, env)
        b.st("i64", b.op(f"add i64 {b.ld('i64', '%s', R['insns'])}, {used}"), "%s", R["insns"])
        b.st("i64", b.op(f"add i64 {i}, 1"), "%s", R["next"])
        called = b.op(f"icmp ne i64 {b.ld('i64', env, ENV_OFFSETS['py_calls'])}, {calls}")
        b.return_if(called, int(BatchStatus.FINALIZE))
        _sync_rcu(b, "%s", R)
    b.ret(int(BatchStatus.DONE))


def add(mod: ModuleText) -> None:
    """Add the entry trampoline and the run loops to the library module (they call
    ``pb_htab_sync``)."""
    _enter(mod)
    mod.declare("llvm.bswap.i16", "declare i16 @llvm.bswap.i16(i16)")
    _batch(mod)
    _skb_batch(mod)
    _repeat(mod)
    _offsets(mod)
    _pcap_records(mod)
