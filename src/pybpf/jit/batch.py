"""``run_batch`` and ``test_run(repeat=...)`` on the JIT: the per-run loop in native code.

Mirrors :func:`pybpf.runtime.batch.run_batch_loop` (one ``test_run`` per frame) and the
repeat loop of :mod:`pybpf.runtime.test_run`, with the loop itself in the native library
(:mod:`pybpf.native.batch_ir`): for XDP programs and the skb program types (socket
filters, tc, cgroup skb, LWT) one context (:class:`XdpContext`, :class:`SkbContext`) is
reused, the native loop copies each frame into its packet buffer and resets the packet's
region, the context's fields and its native half, so a frame costs no Python at all.

Python takes over wherever Python is needed, so the results are those of the loop of
``test_run`` calls, frame for frame:

* a frame the native loop does not take (shorter than an Ethernet header or, for skb
  programs, than its IPv4/IPv6 header, which ``test_run`` refuses; longer than an XDP
  buffer's linear part, which becomes fragments, or than an skb test run takes) runs
  through ``test_run`` itself;
* a frame whose run calls into Python (a Python helper, a tail call, a store to the
  context...) or moves the packet (a native ``bpf_xdp_adjust_head()``...) is finished by
  Python: before the first callback the Python view of the context is brought up to date
  (:meth:`_Frames.sync`, which adopts the native geometry), and afterwards its outputs are read
  from the context as ``test_run`` reads them, the run's grace period ends in Python, and
  the next frame gets a fresh context;
* a run that raised re-raises (``ProgramExit`` ends the run with its value, as usual).

A batch whose last context Python never touched parks it on the program
(``JITProgram.batch_frames``) for the program's next batch, which then costs no context set-up
(its regions stay mapped meanwhile; each run starts from the template and its frame anyway).

Other program types run the plain loop of ``test_run`` calls.
"""

from __future__ import annotations

import ctypes
import time
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pybpf.errors import ExecutionFault, TestRunError
from pybpf.jit.abi import ROW_SIZE
from pybpf.native.layout import (
    BatchStatus,
    FrameBatch,
    MapKind,
    NativeMap,
    RepeatRun,
    decode_redirect,
)
from pybpf.native.library import library
from pybpf.platform.enums import ProgType
from pybpf.runtime.batch import BatchResult, PacketBatch, run_batch_loop
from pybpf.runtime.ctx.skb import SKB_MAX_TEST_FRAME, SkbContext
from pybpf.runtime.ctx.xdp import ETH_HLEN, XDP_MAX_LINEAR, XdpContext
from pybpf.runtime.execstate import DEFAULT_BUDGET, ProgramExit
from pybpf.runtime.memory import FIRST_REGION_ID, split_address
from pybpf.runtime.packet import PacketBuffer
from pybpf.runtime.test_run import SKB_TYPES

if TYPE_CHECKING:
    from pybpf.jit.machine import JITProgram

__all__ = ["run_batch", "run_repeat"]

M64 = 0xFFFFFFFFFFFFFFFF
_SYNCED_KINDS = (MapKind.HASH, MapKind.PERCPU_HASH)


def _limit(program: JITProgram) -> int:
    return DEFAULT_BUDGET if program.budget is None else program.budget


def _rcu_list(program: JITProgram) -> tuple[Any, int]:
    """The native maps whose grace period the native loop ends after each run (built again
    only when the state has registered more maps: its list only grows)."""
    registered = program.state.rcu_maps
    cached = program.batch_rcu
    if cached is not None and cached[0] == len(registered):
        return cached[1], cached[2]
    maps = [m.native for m in registered
            if isinstance(getattr(m, "native", None), NativeMap) and m.native.kind in _SYNCED_KINDS]
    array = (ctypes.c_void_p * max(1, len(maps)))(*[ctypes.addressof(d) for d in maps])
    program.batch_rcu = (len(registered), array, len(maps))
    return array, len(maps)


class _Frames:
    """The reused context of a native batch and its Python view (see the subclasses); the
    loop resets its fields before each run from the fresh context's (``template``), so a
    store to a plain field (native in checked code) does not reach the next frame."""

    #: The native loop and the longest frame it takes.
    loop = ""
    max_len = 0

    def __init__(self, program: JITProgram) -> None:
        self.program = program
        self.synced = -1
        ctx, pkt = self._context()
        self.ctx = ctx
        assert pkt.region is not None
        self._pin = (ctypes.c_char * len(pkt.buf)).from_buffer(pkt.buf)
        rid = split_address(pkt.region.base)[0]
        table = program.runtime.table
        # what every run's context fields start from: the fresh context's
        buf = ctx.region.buf
        self._template_pin = ctypes.create_string_buffer(bytes(buf), len(buf))
        self._fields_pin = (ctypes.c_char * len(buf)).from_buffer(buf)
        #: The descriptor fields of this context (see :meth:`bind`).
        self._fields = {
            "ctx": ctx.address, "packet": ctypes.addressof(self._pin) + pkt.data,
            "packet_vaddr": pkt.data_ptr,
            "packet_row": table.address + (rid - FIRST_REGION_ID) * ROW_SIZE,
            "native": ctypes.addressof(ctx.native), "template": ctypes.addressof(self._template_pin),
            "ctx_fields": ctypes.addressof(self._fields_pin), "ctx_size": len(buf),
            "mac_len": self._mac_len(),
        }

    def bind(self, batch: PacketBatch, desc: FrameBatch) -> None:
        """Run ``batch`` through ``desc`` on this context: the run's context from now on."""
        self.batch = batch
        self.desc = desc
        for name, value in self._fields.items():
            setattr(desc, name, value)
        state = self.program.state
        state.trace.clear()
        state.context = self.ctx
        state.packet_of_ctx = self._packet_of_ctx()

    def park(self) -> None:
        """The batch is done: no longer the run's context, kept for the program's next batch
        (its regions stay mapped; every run starts from the template and the frame)."""
        state = self.program.state
        state.context = None
        state.packet_of_ctx = None

    def _mac_len(self) -> int:
        return 0

    def _packet_of_ctx(self) -> Any:
        return None

    def _context(self) -> tuple[Any, PacketBuffer]:
        raise NotImplementedError

    def sync(self) -> None:
        """Before a callback into Python: the Python view of the frame being run (once per
        run)."""
        env = self.program.runtime.env
        if self.synced == env.run_seq:
            return
        self.synced = env.run_seq
        self._sync(self.batch.offsets[self.desc.next], self.batch.lengths[self.desc.next])

    def _sync(self, offset: int, length: int) -> None:
        raise NotImplementedError

    def _data_out(self) -> bytes:
        raise NotImplementedError

    def finish(self, index: int, result: BatchResult) -> None:
        """Outputs of frame ``index`` read as ``test_run`` reads them."""
        self.sync()
        data_out = self._data_out()
        start, length = self.batch.offsets[index], self.batch.lengths[index]
        if len(data_out) == length:
            result.out[start : start + length] = data_out
        else:
            result.changed[index] = data_out
        redirect = getattr(self.program.state.context, "redirect", None)
        if redirect is not None:
            result.redirects[index] = redirect
        if self.program.state.trace:
            result.traces[index] = tuple(self.program.state.trace)

    def release(self) -> None:
        self.park()
        self.ctx.release()


class _XdpFrames(_Frames):
    """An XDP context; the frame after its headroom."""

    loop = "pb_xdp_batch"
    max_len = XDP_MAX_LINEAR

    def _context(self) -> tuple[Any, PacketBuffer]:
        self.xdp = XdpContext(self.program.state.memory, bytes(ETH_HLEN))
        return self.xdp, self.xdp.packet

    def _sync(self, offset: int, length: int) -> None:
        xdp = self.xdp
        pkt = xdp.packet
        native = xdp.native
        moved = native.data_meta, native.data, native.data_end  # by native helpers, if at all
        pkt.refit(pkt.data, pkt.data, pkt.data + length)  # the frame as the loop set it up
        native.data_meta, native.data, native.data_end = moved
        xdp.adopt_native()

    def _data_out(self) -> bytes:
        xdp = self.xdp
        xdp.adopt_native()  # moved after the run's first callback
        pkt = xdp.packet
        return bytes(pkt.buf[pkt.meta : pkt.end]) + bytes(xdp.frags)


class _SkbFrames(_Frames):
    """An skb context made for the longest frame test_run takes, refitted to each frame."""

    loop = "pb_skb_batch"
    max_len = SKB_MAX_TEST_FRAME

    def _context(self) -> tuple[Any, PacketBuffer]:
        prog_type = self.program.spec.prog_type
        skb = SkbContext(self.program.state.memory, bytes(SKB_MAX_TEST_FRAME),
                         l2=SKB_TYPES[prog_type])
        self.skb = skb
        return skb, skb.packet

    def _mac_len(self) -> int:
        return 0 if self.skb.l2 else ETH_HLEN

    def _packet_of_ctx(self) -> Any:
        skb = self.skb
        return lambda _ctx: skb.packet.bytes()

    def _sync(self, offset: int, length: int) -> None:
        skb = self.skb
        pkt = skb.packet
        frame = self.batch.data[offset : offset + length]
        skb.mac_header = bytes(frame[:ETH_HLEN])
        skb.frame_len = length
        payload = length - self.desc.mac_len
        native = skb.native
        moved = native.data, native.end  # by native helpers, if at all
        pkt.refit(pkt.data, pkt.data, pkt.data + payload)  # the frame as the loop set it up
        native.data, native.end = moved
        skb.adopt_native()

    def _data_out(self) -> bytes:
        self.skb.adopt_native()  # moved after the run's first callback
        return self.skb.data_out()


def _frames_for(prog_type: int) -> type[_Frames] | None:
    """The native batch of a program type, if it has one."""
    if prog_type == ProgType.XDP:
        return _XdpFrames
    if prog_type in SKB_TYPES:
        return _SkbFrames
    return None


def _packed(frames: Sequence[bytes]) -> PacketBatch:
    """:meth:`PacketBatch.from_frames`, with the offsets summed natively (``pb_offsets``):
    a list of frames costs no Python work per frame beyond its length."""
    frames = frames if isinstance(frames, (list, tuple)) else list(frames)
    lengths = array("I", list(map(len, frames)))
    offsets = array("Q", bytes(8 * len(frames)))
    if frames:
        library().fn["pb_offsets"](lengths.buffer_info()[0], offsets.buffer_info()[0],
                                   len(frames))
    return PacketBatch(bytearray().join(frames), offsets, lengths)


def _take_parked(program: JITProgram, kind: type[_Frames]) -> _Frames:
    """The context the program's last batch parked (a native-only last run), or a new one."""
    parked = program.batch_frames
    program.batch_frames = None
    if isinstance(parked, kind):
        return parked
    if parked is not None:
        parked.release()
    return kind(program)


def run_batch(program: JITProgram, packets: PacketBatch | Sequence[bytes]) -> BatchResult:
    """Every frame through ``program`` as ``test_run`` would (see the module docstring)."""
    kind = _frames_for(program.spec.prog_type)
    if kind is None:
        return run_batch_loop(program, packets)
    batch = packets if isinstance(packets, PacketBatch) else _packed(packets)
    result = BatchResult.empty(batch)
    n = len(batch)
    if n == 0:
        return result
    runtime, state = program.runtime, program.state
    limit = _limit(program)
    data_pin = (ctypes.c_char * max(1, len(batch.data))).from_buffer(batch.data) if batch.data \
        else (ctypes.c_char * 1)()
    out_pin = (ctypes.c_char * max(1, len(result.out))).from_buffer(result.out) if result.out \
        else (ctypes.c_char * 1)()
    redirects = array("Q", bytes(8 * n))
    desc = FrameBatch(entry=program.entry.address, env=runtime.env_address, count=n,
                      frames=ctypes.addressof(data_pin), offsets=batch.offsets.buffer_info()[0],
                      lengths=batch.lengths.buffer_info()[0], out=ctypes.addressof(out_pin),
                      r0=result.r0.buffer_info()[0], insns=result.instructions.buffer_info()[0],
                      max_len=kind.max_len, budget=limit,
                      redirects=redirects.buffer_info()[0])
    loop = library().fn[kind.loop]
    frames: _Frames | None = None
    start = time.perf_counter()
    index = 0
    status = BatchStatus.DONE
    try:
        while index < n:
            if frames is None:
                frames = _take_parked(program, kind)
                frames.bind(batch, desc)
                runtime.before_python = frames.sync
            rcu, desc.nrcu = _rcu_list(program)
            desc.rcu = ctypes.addressof(rcu)
            desc.next = index
            runtime.sync_state()
            runtime.reset()
            state.begin(limit)
            status = loop(ctypes.addressof(desc))
            index = desc.next
            if status == BatchStatus.DONE:
                break
            if status == BatchStatus.RAISED:
                try:
                    runtime.reraise()
                except ProgramExit as stop:
                    result.r0[index] = stop.value & M64
                    result.instructions[index] = limit - runtime.env.budget
                except ExecutionFault as fault:
                    raise program.explain(fault) from None
            if status in (BatchStatus.RAISED, BatchStatus.FINALIZE):
                frames.finish(index, result)
            else:  # PYTHON: test_run runs this frame
                frames.release()
                frames = None
                runtime.before_python = None
                try:
                    result.record(index, program.test_run(data=batch.frame(index)))
                except TestRunError as exc:
                    result.errors[index] = exc
                index += 1
                continue
            state.end()
            frames.release()
            frames = None
            runtime.before_python = None
            index += 1
    finally:
        runtime.before_python = None
        if frames is not None:
            if status == BatchStatus.DONE and index >= n:  # untouched by Python: reusable
                frames.park()
                program.batch_frames = frames
            else:
                frames.release()
        state.end()
    result.seconds = time.perf_counter() - start
    if desc.nredirects:  # recorded natively (runs Python finished are recorded already)
        for index, word in enumerate(redirects):
            if word:
                result.redirects[index] = decode_redirect(word)  # type: ignore[assignment]
    return result


def run_repeat(program: JITProgram, r1: int, repeat: int) -> tuple[int, int, int]:
    """``repeat`` runs with ``r1`` as ``test_run`` does them: (r0 of the last run, mean
    instructions, mean nanoseconds)."""
    runtime, state = program.runtime, program.state
    limit = _limit(program)
    desc = RepeatRun(entry=program.entry.address, env=runtime.env_address, ctx=r1 & M64,
                     count=repeat, budget=limit)
    loop = library().fn["pb_repeat"]
    start = time.perf_counter_ns()
    try:
        while desc.next < repeat:
            rcu, desc.nrcu = _rcu_list(program)
            desc.rcu = ctypes.addressof(rcu)
            runtime.sync_state()
            runtime.reset()
            state.begin(limit)
            status = loop(ctypes.addressof(desc))
            if status == BatchStatus.RAISED:
                try:
                    runtime.reraise()
                except ProgramExit as stop:
                    desc.r0 = stop.value & M64
                    desc.insns += limit - runtime.env.budget
                    desc.next += 1
                except ExecutionFault as fault:
                    raise program.explain(fault) from None
            if status != BatchStatus.DONE:
                state.end()
    finally:
        runtime.adopt_native()
        state.end()
    elapsed = time.perf_counter_ns() - start
    counted = desc.insns if program.budget is not None else 0
    return int(desc.r0), counted // repeat, elapsed // repeat
