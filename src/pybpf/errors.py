"""The pybpf error hierarchy: one root, one subclass per stage.

Errors about a program carry the program counter (``pc``) and, where known, the
instruction text and source line as attributes; ``str()`` is one readable sentence.
"""

from __future__ import annotations


class PybpfError(Exception):
    """Root of every error pybpf raises on purpose."""


class ProgramError(PybpfError):
    """An error located in a program: carries ``pc`` and optional instruction/source text."""

    def __init__(
        self,
        message: str,
        *,
        pc: int | None = None,
        insn: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.pc = pc
        self.insn = insn
        self.source = source

    def __str__(self) -> str:
        where = []
        if self.pc is not None:
            where.append(f"pc {self.pc}")
        if self.insn:
            where.append(f"({self.insn})")
        prefix = " ".join(where)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.source:
            text += f" [{self.source}]"
        return text


class DecodeError(ProgramError):
    """Bytes that are not a valid eBPF instruction stream (names the byte offset and reason)."""


class AssembleError(PybpfError):
    """Assembly text that cannot be assembled; carries ``line`` and ``column`` (1-based)."""

    def __init__(self, message: str, *, line: int = 0, column: int = 0, text: str = "") -> None:
        self.message = message
        self.line = line
        self.column = column
        self.text = text
        loc = f"line {line}, column {column}: " if line else ""
        super().__init__(f"{loc}{message}")


class ELFLoadError(PybpfError):
    """An ELF object that cannot be turned into a collection spec."""


class BTFError(PybpfError):
    """Malformed or unsupported BTF."""


class VerifierError(ProgramError):
    """The verifier rejected a program; ``log`` keeps the whole verifier log."""

    def __init__(self, message: str, *, log: str = "", **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.log = log


class ExecutionFault(ProgramError):
    """A program did something illegal at run time (bad memory access, budget exhausted...)."""

    def __init__(self, message: str, *, address: int | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.address = address


class JITError(PybpfError):
    """The JIT could not translate or compile a program."""


class KernelError(PybpfError):
    """The live kernel refused a bpf() or netlink request."""

    def __init__(self, message: str, *, errno: int = 0, log: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.log = log


class NotSupportedError(PybpfError):
    """The request is valid but not supported here (platform, kernel, feature)."""


class TestRunError(PybpfError):
    """Input that ``BPF_PROG_TEST_RUN`` would refuse; ``errno`` is the kernel's answer."""

    __test__ = False  # not a pytest test class

    def __init__(self, message: str, *, errno: int = 22) -> None:
        super().__init__(message)
        self.errno = errno
