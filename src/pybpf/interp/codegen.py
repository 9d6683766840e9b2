"""Translate eBPF functions into Python source: the one place instruction semantics live.

Each eBPF function (sub-program) becomes one Python function whose registers are local
variables; its basic blocks are dispatched by a binary tree of comparisons on the block's
start pc inside one ``while True`` loop. Every instruction is decoded once, here, into a
line or two of Python; nothing is re-parsed while the program runs. A block whose loads and
stores go through one register several times looks the region up once and checks their whole
span (:func:`fused_bases`); the block is written twice from the same instruction translations,
with those accesses direct, and access by access for when the span does not fit.

Semantics (RFC 9669 section 4, ``___bpf_prog_run()`` in kernel/bpf/core.c): registers hold
unsigned 64-bit values; 32-bit ALU results are zero-extended; shift amounts are masked to
the operand width; immediates are sign-extended to 64 bits for ALU64 and JMP and taken as
32 bits for ALU and JMP32; division by zero gives 0 and modulo by zero leaves the dividend.

Names available to the generated code (bound by :mod:`pybpf.interp.machine`):
``X`` the :class:`~pybpf.runtime.execstate.ExecState`, ``RD``/``WR`` the readable/writable
region tables, ``MEM`` the :class:`~pybpf.runtime.memory.Memory`, ``STK``/``FP`` the stack
pool, ``U1..U8``/``S1..S4`` unpackers, ``P1..P8`` packers, ``H<n>`` helpers, ``F<pc>``
functions, and the pure functions of :mod:`pybpf.interp.ops`.
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.errors import NotSupportedError
from pybpf.isa import (
    SIZE_BYTES,
    ALUOp,
    AtomicOp,
    CallSrc,
    Instruction,
    InsnClass,
    JumpOp,
    Mode,
    PseudoSrc,
    Size,
    Source,
)
from pybpf.program.cfg import BasicBlock, Function, jump_target
from pybpf.runtime.execstate import BPF_MAX_LOOPS, MAX_BPF_STACK, MAX_CALL_FRAMES
from pybpf.runtime.memory import REGION_START

M64 = "0xffffffffffffffff"
M32 = "0xffffffff"
SB64 = 0x8000000000000000
SB32 = 0x80000000
BPF_FUNC_TAIL_CALL = 12

#: Maps a code address to (function start pc) when ``lddw`` loads a function pointer.
FuncAddr = Callable[[int], int]


def _helper_name(helper_id: int) -> str:
    try:
        from pybpf.platform.helper_ids import helper_name
    except ImportError:  # pragma: no cover - table not built yet
        return "unknown"
    try:
        return helper_name(helper_id)
    except (KeyError, ValueError):
        return "unknown helper"


def _u64(imm: int) -> int:
    return imm & 0xFFFFFFFFFFFFFFFF


def _u32(imm: int) -> int:
    return imm & 0xFFFFFFFF


def access_base(insn: Instruction) -> int | None:
    """The base register of a plain load or store not through r10, else None."""
    cls = insn.code & 0x07
    if cls == InsnClass.LDX and insn.mode in (Mode.MEM, Mode.MEMSX):
        return insn.src if insn.src != 10 else None
    if cls in (InsnClass.ST, InsnClass.STX) and insn.mode == Mode.MEM:
        return insn.dst if insn.dst != 10 else None
    return None


def _writes(insn: Instruction) -> tuple[int, ...] | None:
    """The registers ``insn`` writes, or None for what may change more than registers
    (calls, legacy packet loads, atomics: the fused range of a block ends there)."""
    cls = insn.code & 0x07
    if cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LDX):
        return (insn.dst,)
    if cls == InsnClass.LD:
        return (insn.dst,) if insn.is_wide else None
    if cls in (InsnClass.ST, InsnClass.STX):
        return () if insn.mode == Mode.MEM else None
    if insn.op == JumpOp.CALL:
        return None
    return ()


def fused_bases(block: BasicBlock) -> tuple[dict[int, tuple[int, int, bool, bool]], set[int]]:
    """Base registers whose loads and stores in ``block`` the block checks once, at its
    start: per register ``(lowest offset, highest offset + size, any load, any store)``, and
    the pcs of those accesses.

    Those of a register used by two or more accesses before anything writes it, in the
    part of the block before the first call, legacy packet load or atomic (the only
    instructions that may map or unmap memory, or that the table path would not cover).
    When every such access is inside one region (the same test as one access makes, over
    their span) the block runs with direct accesses; otherwise it runs access by access,
    faulting where an access faults. Loads and stores never map or unmap regions."""
    found: dict[int, list[tuple[int, int, int, bool]]] = {}
    written: set[int] = set()
    for pc, insn in block.insns:
        base = access_base(insn)
        if base is not None and base not in written:
            n = SIZE_BYTES[Size(insn.size)]
            found.setdefault(base, []).append((pc, insn.off, insn.off + n,
                                               (insn.code & 0x07) == InsnClass.LDX))
        writes = _writes(insn)
        if writes is None:
            break
        written.update(writes)
    fused = {reg: acc for reg, acc in found.items() if len(acc) >= 2}
    return ({reg: (min(a[1] for a in acc), max(a[2] for a in acc), any(a[3] for a in acc),
                   not all(a[3] for a in acc)) for reg, acc in fused.items()},
            {a[0] for acc in fused.values() for a in acc})


class FunctionTranslator:
    """Emits the Python source of one eBPF function."""

    def __init__(
        self,
        fn: Function,
        helpers: frozenset[int],
        func_addr: FuncAddr,
    ) -> None:
        self.fn = fn
        self.helpers = helpers
        self.func_addr = func_addr
        self.lines: list[str] = []
        #: Loads and stores of the block being written whose bounds its start checked.
        self.fused: set[int] = set()
        self.uses_may_goto = any(
            insn.code == (InsnClass.JMP | JumpOp.JCOND) for b in fn.blocks for _, insn in b.insns
        )

    # -- structure -----------------------------------------------------------------------------
    def source(self) -> str:
        fn = self.fn
        out = [
            f"def F{fn.start}(r1, r2, r3, r4, r5, depth):",
            "    stk = STK[depth]",
            "    stk[:] = ZERO_STACK",
            "    r10 = FP[depth]",
            "    r0 = r6 = r7 = r8 = r9 = 0",
            "    B = X.budget",
        ]
        if self.uses_may_goto:
            out.append(f"    mg = {BPF_MAX_LOOPS}")
        out.append(f"    blk = {fn.start}")
        out.append("    while True:")
        self._tree(list(fn.blocks), 2, out)
        return "\n".join(out) + "\n"

    def _tree(self, blocks: list[BasicBlock], depth: int, out: list[str]) -> None:
        pad = "    " * depth
        if len(blocks) == 1:
            for line in self._block(blocks[0]):
                out.append(pad + line)
            return
        mid = len(blocks) // 2
        out.append(f"{pad}if blk < {blocks[mid].start}:")
        self._tree(blocks[:mid], depth + 1, out)
        out.append(f"{pad}else:")
        self._tree(blocks[mid:], depth + 1, out)

    def _block(self, block: BasicBlock) -> list[str]:
        last_pc = block.insns[-1][0]
        lines = [f"B -= {len(block.insns)}", "if B < 0:", f"    X.out_of_budget({block.start})"]
        bases, fused = fused_bases(block)
        if bases:
            test: list[str] = []
            for reg, (lo, hi, loads, stores) in sorted(bases.items()):
                lines += [f"_q{reg} = r{reg} - {REGION_START}", f"_o{reg} = _q{reg} & {M32}"]
                tables = [("RD", "_b") if loads else None, ("WR", "_w") if stores else None]
                for table, name in filter(None, tables):
                    lines.append(f"{name}{reg} = {table}.get(_q{reg} >> 32)")
                    test.append(f"{name}{reg} is not None")
                if lo < 0:
                    test.append(f"_o{reg} >= {-lo}")
                test.append(f"_o{reg} <= len({'_b' if loads else '_w'}{reg}) - {hi}")
            lines.append(f"if {' and '.join(test)}:")
            self.fused = fused
            lines += ["    " + line for line in self._body(block)]
            self.fused = set()
            lines.append("else:")
            lines += ["    " + line for line in self._body(block)]
        else:
            lines += self._body(block)
        last = block.insns[-1][1]
        cls = last.code & 0x07
        is_jump = cls in (InsnClass.JMP, InsnClass.JMP32) and last.op != JumpOp.CALL
        if not is_jump:
            nxt = last_pc + last.slots
            if nxt >= self.fn.end:
                lines.append(f"X.fell_off({last_pc})")
            else:
                lines.append(f"blk = {nxt}")
        return lines

    def _body(self, block: BasicBlock) -> list[str]:
        lines: list[str] = []
        for pc, insn in block.insns:
            lines.append(f"# {pc}: {insn.code:#04x}")
            lines.extend(self.insn(pc, insn))
        return lines

    # -- instructions --------------------------------------------------------------------------
    def insn(self, pc: int, insn: Instruction) -> list[str]:
        cls = insn.code & 0x07
        if insn.dst == 10 and cls in (InsnClass.ALU, InsnClass.ALU64, InsnClass.LDX, InsnClass.LD):
            return [f"raise FAULT('frame pointer r10 is read only', pc={pc})"]
        match cls:
            case InsnClass.ALU64:
                return self.alu(insn, wide=True)
            case InsnClass.ALU:
                return self.alu(insn, wide=False)
            case InsnClass.JMP | InsnClass.JMP32:
                return self.jump(pc, insn)
            case InsnClass.LDX:
                signed = insn.mode == Mode.MEMSX
                return self.load(f"r{insn.dst}", insn.src, insn.off, SIZE_BYTES[Size(insn.size)], signed, pc)
            case InsnClass.ST:
                n = SIZE_BYTES[Size(insn.size)]
                value = str(insn.imm & ((1 << (8 * n)) - 1))
                return self.store(insn.dst, insn.off, n, value, pc)
            case InsnClass.STX:
                if insn.mode == Mode.ATOMIC:
                    return self.atomic(pc, insn)
                n = SIZE_BYTES[Size(insn.size)]
                value = f"r{insn.src}" if n == 8 else f"r{insn.src} & {(1 << (8 * n)) - 1:#x}"
                return self.store(insn.dst, insn.off, n, value, pc)
            case InsnClass.LD:
                return self.ld(pc, insn)
        raise AssertionError(cls)  # pragma: no cover

    def _src(self, insn: Instruction, wide: bool) -> str:
        if insn.source == Source.X:
            return f"r{insn.src}"
        return str(_u64(insn.imm) if wide else _u32(insn.imm))

    def alu(self, insn: Instruction, *, wide: bool) -> list[str]:
        d = f"r{insn.dst}"
        s = self._src(insn, wide)
        is_k = insn.source == Source.K
        mask = M64 if wide else M32
        bits = 64 if wide else 32
        op = insn.op
        if op == ALUOp.ADD:
            return [f"{d} = ({d} + {s}) & {mask}"]
        if op == ALUOp.SUB:
            return [f"{d} = ({d} - {s}) & {mask}"]
        if op == ALUOp.MUL:
            return [f"{d} = ({d} * {s}) & {mask}"]
        if op in (ALUOp.OR, ALUOp.AND, ALUOp.XOR):
            sym = {ALUOp.OR: "|", ALUOp.AND: "&", ALUOp.XOR: "^"}[ALUOp(op)]
            return [f"{d} = {d} {sym} {s}"] if wide else [f"{d} = ({d} {sym} {s}) & {M32}"]
        if op == ALUOp.LSH:
            return [f"{d} = ({d} << ({s} & {bits - 1})) & {mask}"]
        if op == ALUOp.RSH:
            lhs = d if wide else f"({d} & {M32})"
            return [f"{d} = {lhs} >> ({s} & {bits - 1})"]
        if op == ALUOp.ARSH:
            sb = SB64 if wide else SB32
            return [f"{d} = (((({d} & {mask}) ^ {sb}) - {sb}) >> ({s} & {bits - 1})) & {mask}"]
        if op == ALUOp.NEG:
            return [f"{d} = (-{d}) & {mask}"]
        if op in (ALUOp.DIV, ALUOp.MOD):
            return self._divmod(insn, d, s, wide)
        if op == ALUOp.MOV:
            return self._mov(insn, d, s, wide)
        if op == ALUOp.END:
            return self._end(insn, d, wide)
        raise AssertionError(op)  # pragma: no cover

    def _divmod(self, insn: Instruction, d: str, s: str, wide: bool) -> list[str]:
        is_div = insn.op == ALUOp.DIV
        if insn.off == 1:  # signed
            fn = ("sdiv" if is_div else "smod") + ("64" if wide else "32")
            return [f"{d} = {fn}({d}, {s})"]
        if wide:
            if is_div:
                return [f"{d} = {d} // {s} if {s} else 0"]
            return [f"{d} = {d} % {s} if {s} else {d}"]
        lines = [f"_t = {s} & {M32}"]
        if is_div:
            lines.append(f"{d} = ({d} & {M32}) // _t if _t else 0")
        else:
            lines.append(f"{d} = ({d} & {M32}) % _t if _t else {d} & {M32}")
        return lines

    def _mov(self, insn: Instruction, d: str, s: str, wide: bool) -> list[str]:
        if insn.source == Source.K:
            return [f"{d} = {s}"]
        if insn.off == 1 and wide:
            raise NotSupportedError(
                "addr_space_cast needs a BPF arena, which the interpreter does not model"
            )
        if insn.off in (8, 16, 32):
            width = insn.off
            sb = 1 << (width - 1)
            mask = M64 if wide else M32
            return [f"{d} = (((r{insn.src} & {(1 << width) - 1:#x}) ^ {sb:#x}) - {sb:#x}) & {mask}"]
        return [f"{d} = r{insn.src}"] if wide else [f"{d} = r{insn.src} & {M32}"]

    def _end(self, insn: Instruction, d: str, wide: bool) -> list[str]:
        width = insn.imm
        if wide or insn.source == Source.TO_BE:  # host is little-endian
            return [f"{d} = bswap{width}({d})"]
        if width == 64:
            return []
        return [f"{d} = {d} & {(1 << width) - 1:#x}"]

    # -- jumps and calls -------------------------------------------------------------------------
    def _cond(self, insn: Instruction) -> str:
        is32 = (insn.code & 0x07) == InsnClass.JMP32
        op = insn.op
        signed = op in (JumpOp.JSGT, JumpOp.JSGE, JumpOp.JSLT, JumpOp.JSLE)
        sb = SB32 if is32 else SB64
        if is32:
            lhs = f"(r{insn.dst} & {M32})"
        else:
            lhs = f"r{insn.dst}"
        if insn.source == Source.X:
            rhs = f"(r{insn.src} & {M32})" if is32 else f"r{insn.src}"
            if signed:
                lhs, rhs = f"({lhs} ^ {sb})", f"({rhs} ^ {sb})"
        else:
            k = _u32(insn.imm) if is32 else _u64(insn.imm)
            if signed:
                lhs, rhs = f"({lhs} ^ {sb})", str(k ^ sb)
            else:
                rhs = str(k)
        sym = {
            JumpOp.JEQ: "==", JumpOp.JNE: "!=", JumpOp.JGT: ">", JumpOp.JGE: ">=",
            JumpOp.JLT: "<", JumpOp.JLE: "<=", JumpOp.JSGT: ">", JumpOp.JSGE: ">=",
            JumpOp.JSLT: "<", JumpOp.JSLE: "<=",
        }.get(JumpOp(op))
        if op == JumpOp.JSET:
            return f"{lhs} & {rhs}"
        return f"{lhs} {sym} {rhs}"

    def jump(self, pc: int, insn: Instruction) -> list[str]:
        op = insn.op
        if op == JumpOp.EXIT:
            return ["X.budget = B", "return r0"]
        if op == JumpOp.CALL:
            return self.call(pc, insn)
        target = jump_target(pc, insn)
        if op == JumpOp.JA:
            return [f"blk = {target}"]
        nxt = pc + 1
        if op == JumpOp.JCOND:  # may_goto
            return ["if mg:", "    mg -= 1", f"    blk = {nxt}", "else:", f"    blk = {target}"]
        return [f"if {self._cond(insn)}:", f"    blk = {target}", "else:", f"    blk = {nxt}"]

    def call(self, pc: int, insn: Instruction) -> list[str]:
        args = "r1, r2, r3, r4, r5"
        if insn.source == Source.X:  # callx
            return [
                f"X.pc = {pc}", "X.budget = B",
                f"r0 = X.callx(r{insn.dst}, {args}, depth)", "B = X.budget",
            ]
        if insn.src == CallSrc.PSEUDO_CALL:
            target = pc + insn.imm + 1
            return [
                f"if depth >= {MAX_CALL_FRAMES - 1}:", f"    X.too_deep({pc})",
                "X.budget = B", f"r0 = F{target}({args}, depth + 1)", "B = X.budget",
            ]
        if insn.src == CallSrc.KFUNC_CALL:
            raise NotSupportedError(f"pc {pc}: kfunc calls (BTF id {insn.imm}) are not supported by the interpreter")
        if insn.imm == BPF_FUNC_TAIL_CALL and BPF_FUNC_TAIL_CALL not in self.helpers:
            return [
                f"X.pc = {pc}",
                "_t = X.tail_call(r1, r2, r3)",
                "if _t is not None:",
                "    X.budget = B",
                "    return _t(r1, 0, 0, 0, 0, depth)",
            ]
        if insn.imm not in self.helpers:
            raise NotSupportedError(
                f"pc {pc}: helper #{insn.imm} ({_helper_name(insn.imm)}) is not implemented "
                "by this runtime"
            )
        return [
            f"X.pc = {pc}", "X.budget = B", "X.call_depth = depth",
            f"r0 = H{insn.imm}(X, {args}) & {M64}", "B = X.budget",
        ]

    # -- memory ----------------------------------------------------------------------------------
    def load(self, dst: str, base: int, off: int, n: int, signed: bool, pc: int) -> list[str]:
        unpack = f"S{n}" if signed else f"U{n}"
        if pc in self.fused:  # checked once for the block (see fused_bases())
            value = f"{unpack}(_b{base}, _o{base} + {off})[0]"
            return [f"{dst} = ({value}) & {M64}" if signed else f"{dst} = {value}"]
        value = f"{unpack}(_b, _o)[0]"
        if signed:
            value = f"({value}) & {M64}"
        slow = f"MEM.load(_a + {REGION_START}, {n}, {pc})"
        if signed:
            sb = 1 << (8 * n - 1)
            slow = f"((({slow}) ^ {sb:#x}) - {sb:#x}) & {M64}"
        if base == 10 and 0 <= MAX_BPF_STACK + off <= MAX_BPF_STACK - n:
            so = MAX_BPF_STACK + off
            fast = f"{unpack}(stk, {so})[0]"
            return [f"{dst} = ({fast}) & {M64}" if signed else f"{dst} = {fast}"]
        # ``_a`` is the address relative to the windows' REGION_START (split_address()),
        # folded into the constant offset. No masking on the fast path: an address that
        # overflowed or went negative has no region id in the table, so it takes the checked
        # slow path (which masks).
        return [
            f"_a = r{base} + {off - REGION_START}",
            "_b = RD.get(_a >> 32)",
            f"_o = _a & {M32}",
            f"if _b is not None and _o <= len(_b) - {n}:",
            f"    {dst} = {value}",
            "else:",
            f"    {dst} = {slow}",
        ]

    def store(self, base: int, off: int, n: int, value: str, pc: int) -> list[str]:
        if base == 10 and 0 <= MAX_BPF_STACK + off <= MAX_BPF_STACK - n:
            return [f"P{n}(stk, {MAX_BPF_STACK + off}, {value})"]
        if pc in self.fused:
            return [f"P{n}(_w{base}, _o{base} + {off}, {value})"]
        return [
            f"_a = r{base} + {off - REGION_START}",
            "_b = WR.get(_a >> 32)",
            f"_o = _a & {M32}",
            f"if _b is not None and _o <= len(_b) - {n}:",
            f"    P{n}(_b, _o, {value})",
            "else:",
            f"    MEM.store(_a + {REGION_START}, {n}, {value}, {pc})",
        ]

    def atomic(self, pc: int, insn: Instruction) -> list[str]:
        n = SIZE_BYTES[Size(insn.size)]
        d, s = insn.dst, insn.src
        if insn.imm == AtomicOp.LOAD_ACQ:
            return self.load(f"r{d}", s, insn.off, n, False, pc)
        if insn.imm == AtomicOp.STORE_REL:
            value = f"r{s}" if n == 8 else f"r{s} & {(1 << (8 * n)) - 1:#x}"
            return self.store(d, insn.off, n, value, pc)
        addr = f"(r{d} + {insn.off}) & {M64}"
        if insn.imm == AtomicOp.XCHG:
            return [f"r{s} = MEM.atomic_xchg({addr}, {n}, r{s}, {pc})"]
        if insn.imm == AtomicOp.CMPXCHG:
            return [f"r0 = MEM.atomic_cmpxchg({addr}, {n}, r0, r{s}, {pc})"]
        op = insn.imm & ~0x01
        call = f"MEM.atomic_rmw({addr}, {n}, ATOMIC_RMW[{op}], r{s}, {pc})"
        return [f"r{s} = {call}"] if insn.imm & 0x01 else [call]

    def ld(self, pc: int, insn: Instruction) -> list[str]:
        d = f"r{insn.dst}"
        if insn.is_wide:
            if insn.src == PseudoSrc.IMM64:
                return [f"{d} = {insn.imm64}"]
            if insn.src == PseudoSrc.FUNC:
                return [f"{d} = {self.func_addr(pc + insn.imm + 1)}"]
            raise NotSupportedError(
                f"pc {pc}: lddw with pseudo source {PseudoSrc(insn.src).name} must be "
                "relocated by the loader before it can run"
            )
        n = SIZE_BYTES[Size(insn.size)]
        offset = str(insn.imm) if insn.mode == Mode.ABS else f"r{insn.src} + {insn.imm}"
        return [f"X.pc = {pc}", f"r0 = X.ld_abs(r6, {offset}, {n})"]
