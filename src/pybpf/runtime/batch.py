"""Many packets through one program: the frames in one buffer, the results in arrays.

:class:`PacketBatch` packs frames back to back (one ``bytearray`` plus offsets and lengths),
the form native code reads without a Python object per frame. :class:`BatchResult` holds
what ``test_run`` would have returned for each frame — r0, the instruction count, the output
frame, the redirect target and trace lines where there are any, and the frames ``test_run``
refused (:class:`~pybpf.errors.TestRunError`) — in arrays, built into per-frame
:class:`~pybpf.runtime.test_run.TestRunResult` objects only on request.

:func:`run_batch_loop` is the backend-independent way: one ``test_run`` per frame (the
interpreter's ``run_batch``). The JIT runs the same loop natively (:mod:`pybpf.jit.batch`),
with identical results.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from pybpf.errors import TestRunError
from pybpf.runtime.test_run import TestRunResult

__all__ = ["BatchResult", "PacketBatch", "run_batch_loop"]


@dataclass(slots=True)
class PacketBatch:
    """Frames back to back in ``data``; frame ``i`` is ``data[offsets[i]:][:lengths[i]]``."""

    data: bytearray
    offsets: array[int]
    lengths: array[int]

    @classmethod
    def from_frames(cls, frames: Iterable[bytes | bytearray | memoryview]) -> PacketBatch:
        frames = frames if isinstance(frames, (list, tuple)) else list(frames)
        lengths = array("I", map(len, frames))
        offsets = array("Q", accumulate(lengths[:-1], initial=0)) if frames else array("Q")
        return cls(bytearray().join(frames), offsets, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def frame(self, index: int) -> bytes:
        start = self.offsets[index]
        return bytes(self.data[start : start + self.lengths[index]])


@dataclass(slots=True)
class BatchResult:
    """What ``test_run`` gave for each frame of a :class:`PacketBatch` (see the module
    docstring). ``out`` holds output frames at the input's offsets where their length did
    not change; ``changed`` the others."""

    batch: PacketBatch
    r0: array[int]
    instructions: array[int]
    out: bytearray
    changed: dict[int, bytes] = field(default_factory=dict)
    redirects: dict[int, tuple[str, int]] = field(default_factory=dict)
    traces: dict[int, tuple[str, ...]] = field(default_factory=dict)
    errors: dict[int, TestRunError] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def empty(cls, batch: PacketBatch) -> BatchResult:
        n = len(batch)
        return cls(batch, array("Q", bytes(8 * n)), array("Q", bytes(8 * n)),
                   bytearray(len(batch.data)))

    def __len__(self) -> int:
        return len(self.batch)

    def retval(self, index: int) -> int:
        """The kernel's ``test.retval``: the low 32 bits of r0."""
        return self.r0[index] & 0xFFFFFFFF

    @property
    def retvals(self) -> list[int]:
        return [r & 0xFFFFFFFF for r in self.r0]

    def data_out(self, index: int) -> bytes:
        changed = self.changed.get(index)
        if changed is not None:
            return changed
        start = self.batch.offsets[index]
        return bytes(self.out[start : start + self.batch.lengths[index]])

    def record(self, index: int, result: TestRunResult) -> None:
        """Store one frame's ``test_run`` result."""
        self.r0[index] = result.r0 & 0xFFFFFFFFFFFFFFFF
        self.instructions[index] = result.instructions
        start, length = self.batch.offsets[index], self.batch.lengths[index]
        if len(result.data_out) == length:
            self.out[start : start + length] = result.data_out
        else:
            self.changed[index] = result.data_out
        if result.redirect is not None:
            self.redirects[index] = result.redirect
        if result.trace:
            self.traces[index] = result.trace

    def result(self, index: int) -> TestRunResult:
        """Frame ``index`` as ``test_run`` returns it (raises its TestRunError if refused)."""
        error = self.errors.get(index)
        if error is not None:
            raise error
        return TestRunResult(self.retval(index), self.r0[index], self.data_out(index), None,
                             0, self.instructions[index], self.traces.get(index, ()),
                             self.redirects.get(index))


def run_batch_loop(program: Any, packets: PacketBatch | Sequence[bytes]) -> BatchResult:
    """One ``program.test_run(data=frame)`` per frame (refused frames are recorded)."""
    batch = packets if isinstance(packets, PacketBatch) else PacketBatch.from_frames(packets)
    result = BatchResult.empty(batch)
    start = time.perf_counter()
    for index in range(len(batch)):
        try:
            result.record(index, program.test_run(data=batch.frame(index)))
        except TestRunError as exc:
            result.errors[index] = exc
    result.seconds = time.perf_counter() - start
    return result
