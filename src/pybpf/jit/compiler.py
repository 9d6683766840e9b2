"""LLVM IR -> optimised native object code -> executable code in this process (llvmlite).

:func:`compile_module` parses the IR, runs LLVM's new-pass-manager pipeline at ``O3`` for the
host CPU (its name and features: AVX2, BMI... whatever the machine has) and emits an ELF
object; :func:`load_object` links an object into this process with MCJIT and returns the
:class:`NativeCode` that keeps it alive. Splitting the two steps is what lets the compile
cache (:mod:`pybpf.jit.cache`) skip code generation altogether: a cached reload is only
:func:`load_object`.

LLVM's native target is process-wide state owned by LLVM; it is initialised once, and the
target machine used for code generation is memoised (it is immutable once created).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import llvmlite
import llvmlite.binding as llvm

from pybpf.errors import JITError
from pybpf.jit import perfmap
from pybpf.jit.irtext import ModuleText

_LOCK = threading.Lock()


#: LLVM command-line options set once with the native target:
#:
#: * loop strength reduction keeps the loop's own induction variables unless its rewrite
#:   is cheaper (eBPF loops recompute ``base + i * 4`` per access, and LSR's extra induction
#:   variables cost the insertion sort benchmark 15%);
#: * loops are unswitched on invariant conditions up to 300 instructions (LLVM's default is
#:   50): verified code tests a pointer's "directly accessible" flag
#:   (:mod:`pybpf.jit.provenance`) in every block that uses it, and the flag of a pointer
#:   made before a loop is invariant in it; a loop copy without the tests is 10-20% faster
#:   on the packet benchmarks, for compile times up to twice as long on loop-heavy code.
LLVM_OPTIONS = ("-lsr-drop-solution", "-unswitch-threshold=300")


@functools.cache
def _host_cpu() -> tuple[str, str]:
    """LLVM's native target and options (:data:`LLVM_OPTIONS`), initialised once; the host
    CPU's name and features."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    for option in LLVM_OPTIONS:
        llvm.set_option("pybpf", option)
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


@dataclass(frozen=True, slots=True)
class Tier:
    """How hard LLVM works on a module: its IR pipeline (``passes`` by name, or LLVM's own
    ``O<speed>`` pipeline when None) and the code generator's optimisation level."""

    name: str
    passes: tuple[str, ...] | None
    speed: int
    codegen: int


#: LLVM's O3 pipeline and code generator: the fastest code (small and medium programs).
FULL = Tier("O3", None, 3, 3)
#: Registers into SSA values, then the fast instruction selector: a fifth of O3's time for
#: large programs, for code about three times slower — which runs only until the O3 code
#: compiled in the background replaces it (:mod:`pybpf.jit.tiering`).
LIGHT = Tier("light", ("sroa",), 1, 0)


def new_target_machine(codegen: int = 3) -> llvm.TargetMachine:
    """A host target machine at code generation level ``codegen`` for this CPU and its
    features (a compile owns it while it runs)."""
    cpu, features = _host_cpu()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(
        cpu=cpu,
        features=features,
        opt=codegen,
        reloc="static",
        codemodel="jitdefault",
    )


def linking_target_machine() -> llvm.TargetMachine:
    """A host target machine for an engine that only links compiled objects. An MCJIT
    engine takes ownership of (and frees) the target machine it is created with, so every
    :class:`NativeCode` gets its own. Only the engine's empty module is compiled through it,
    which MCJIT does when it finalises the object: so no CPU features (parsing them is most
    of a target machine's creation: 0.30 -> 0.12 ms) and the O0 code generator, whose pass
    pipeline is a fraction of the default's to set up (a link of sha256's object 1.6 ->
    0.9 ms)."""
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(opt=0, reloc="static", codemodel="jitdefault")


@functools.cache
def target_machine(codegen: int = 3) -> llvm.TargetMachine:
    """The target machine used for code generation at a level (created once, never given
    to an engine)."""
    return new_target_machine(codegen)


@functools.cache
def host_description() -> str:
    """What the generated code depends on (part of the compile-cache key)."""
    tm = target_machine()
    cpu, features = _host_cpu()
    return (f"llvmlite {llvmlite.__version__} llvm {'.'.join(map(str, llvm.llvm_version_info))} "
            f"{tm.triple} {cpu} {features} {' '.join(LLVM_OPTIONS)}")


def module_text(module: ModuleText) -> str:
    """The IR text of ``module`` for the host target."""
    tm = target_machine()
    return module.text(tm.triple, str(tm.target_data))


def compile_module(module: ModuleText, *, tier: Tier = FULL) -> bytes:
    """Optimise ``module`` for the host and return the native object file.

    Each call works in an LLVM context and with a target machine of its own, so compiles
    run concurrently (the background O3 compile of :mod:`pybpf.jit.tiering` does not hold
    up the next program's load; llvmlite releases the GIL while LLVM works)."""
    text = module_text(module)
    tm = new_target_machine(tier.codegen)
    context = llvm.create_context()
    try:
        mod = llvm.parse_assembly(text, context=context)
        mod.verify()
    except RuntimeError as exc:
        raise JITError(f"LLVM rejected the generated IR: {exc}") from exc
    pto = llvm.create_pipeline_tuning_options(speed_level=tier.speed)
    pto.loop_vectorization = tier.speed >= 2
    pto.slp_vectorization = tier.speed >= 2
    pb = llvm.create_pass_builder(tm, pto)
    if tier.passes is None:
        pb.getModulePassManager().run(mod, pb)
    else:
        mpm = llvm.create_new_module_pass_manager()
        for name in tier.passes:
            getattr(mpm, f"add_{name}_pass")()
        mpm.run(mod, pb)
    return bytes(tm.emit_object(mod))


class NativeCode:
    """Object code linked into this process; addresses stay valid while this object lives."""

    def __init__(self, obj: bytes, label: str | None = None) -> None:
        """Link ``obj``; ``label`` names a program's functions in the perf map
        (:mod:`pybpf.jit.perfmap`, when it is on)."""
        tm = linking_target_machine()
        with _LOCK:
            empty = llvm.parse_assembly("")
            empty.triple = tm.triple
            self._engine = llvm.create_mcjit_compiler(empty, tm)
            self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            self._engine.finalize_object()
        if perfmap.enabled():
            perfmap.record(obj, self.address, label)

    def address(self, symbol: str) -> int:
        """Host address of ``symbol`` (a compiled eBPF function)."""
        addr = self._engine.get_function_address(symbol)
        if not addr:
            raise JITError(f"compiled code has no symbol '{symbol}'")
        return int(addr)


def load_object(obj: bytes, label: str | None = None) -> NativeCode:
    """Link ``obj`` (from :func:`compile_module` or the cache) into this process (``label``:
    the program's name, for the perf map)."""
    return NativeCode(obj, label)


def assembly(module: ModuleText) -> str:
    """The optimised host assembly of ``module`` (for inspection and tests)."""
    tm = target_machine()
    text = module_text(module)
    with _LOCK:
        mod = llvm.parse_assembly(text)
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
        return str(tm.emit_assembly(mod))
