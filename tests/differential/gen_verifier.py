"""Hypothesis strategies for programs near the verifier's safety boundary.

A generated program is a socket filter or an XDP program in kernel/LLVM assembly built from
small templates, each the shape of a real access pattern with its bounds drawn near the
edge: ALU on scalars, stack loads and stores at constant and variable offsets, pointer
spills and fills, context reads and writes, XDP packet accesses behind a ``data + N >
data_end`` check (socket filters: LD_ABS/LD_IND), map lookups on an array and a hash map
with and without a NULL check, pointer arithmetic with masked or branch-bounded scalars,
forward branches (if and if/else, nested) and small bounded loops.

Register discipline: r6 holds the context throughout, r7-r9 are the scalars a template may
read and write, r0-r5 are scratch (helper calls clobber them). Each program draws an error
rate; a template makes a deliberate mistake (an offset past the bound, a missing check, an
uninitialised register...) at that rate, so a good share of programs is accepted and the
rest probe why not. The verifier alone decides: the templates only aim near its edge.

Maps are referred to as ``{map:NAME}`` placeholders (the verifier corpus's convention) and
become ``lddw`` instructions with a :class:`~pybpf.program.spec.MapReference`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

from pybpf.platform.enums import MapType, ProgType
from pybpf.program.spec import MapReference, MapSpec, ProgramSpec

#: The maps every program may use. The array has one entry, so its value region is exactly
#: ``value_size`` bytes and any access past it faults in the interpreter.
MAPS: dict[str, MapSpec] = {
    "arr": MapSpec("arr", int(MapType.ARRAY), 4, 24, 1),
    "hash": MapSpec("hash", int(MapType.HASH), 4, 16, 4),
}
#: Keys of ``hash`` present at run time (lookups of 2 and 3 return NULL).
HASH_KEYS = (0, 1)
SCALARS = (7, 8, 9)
SIZES = (1, 2, 4, 8)
#: ``struct __sk_buff`` fields of a socket filter worth reading (offset, size), and
#: ``struct xdp_md``'s scalar fields.
SKB_FIELDS = ((0, 4), (4, 4), (8, 4), (12, 4), (16, 4), (20, 4), (24, 4), (28, 4), (32, 4),
              (36, 4), (40, 4), (44, 4), (48, 4), (52, 4), (56, 4), (60, 4), (64, 4), (68, 4),
              (0, 2), (16, 2), (8, 1))
SKB_CB = (48, 52, 56, 60, 64)
XDP_FIELDS = ((12, 4), (16, 4))
ALU_OPS = ("+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", "s>>=", "=")
JMP_OPS = (">", ">=", "<", "<=", "==", "!=", "s>", "s>=", "s<", "s<=", "&")
_PLACEHOLDER = re.compile(r"^(?P<reg>r\d+) = \{map:(?P<name>\w+)\} ll$")
_MARK = 0x7EAD00


@dataclass(frozen=True, slots=True)
class Generated:
    """A generated program, the loader it is verified for, and the packet it runs on."""

    prog_type: ProgType
    privileged: bool
    text: str
    packet: bytes

    def spec(self) -> ProgramSpec:
        """The program as a spec: placeholders become map references."""
        from pybpf.asm import assemble
        from pybpf.isa import OP_LDDW, Instruction, PseudoSrc, pcs

        names = list(MAPS)
        lines = []
        for line in self.text.splitlines():
            m = _PLACEHOLDER.match(line.strip())
            if m is not None:
                line = f"{m['reg']} = {((_MARK | names.index(m['name'])) << 32):#x} ll"
            lines.append(line)
        insns = assemble("\n".join(lines), syntax="llvm")
        out, refs = [], []
        for pc, insn in zip(pcs(insns), insns, strict=True):
            if insn.code == OP_LDDW and (insn.next_imm & ~0xFF) == _MARK and insn.imm == 0:
                refs.append(MapReference(pc, names[insn.next_imm & 0xFF]))
                insn = Instruction(OP_LDDW, insn.dst, PseudoSrc.MAP_FD, 0, 0, 0)
            out.append(insn)
        return ProgramSpec("gen", tuple(out), prog_type=int(self.prog_type),
                           map_references=tuple(refs))

    def listing(self) -> str:
        kind = self.prog_type.name.lower() + ("" if self.privileged else ", unprivileged")
        return f"; {kind}, packet {len(self.packet)} bytes: {self.packet.hex()}\n{self.text}"


@dataclass(slots=True)
class _Gen:
    """Drawing state of one program: its type, error rate, labels and lines."""

    draw: st.DrawFn
    prog_type: ProgType
    error_rate: int  # percent
    lines: list[str] = field(default_factory=list)
    labels: int = 0

    @property
    def xdp(self) -> bool:
        return self.prog_type == ProgType.XDP

    def mistake(self) -> bool:
        return self.error_rate > 0 and self.draw(st.integers(0, 99)) < self.error_rate

    def label(self) -> str:
        self.labels += 1
        return f"L{self.labels}"

    def emit(self, *lines: str) -> None:
        self.lines.extend(lines)

    def scalar(self) -> int:
        return self.draw(st.sampled_from(SCALARS))

    def size(self) -> int:
        return self.draw(st.sampled_from(SIZES))

    def int_(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))


def _at(base: str, off: int) -> str:
    return f"({base} {'-' if off < 0 else '+'} {abs(off)})"


def _mem(size: int, base: str, off: int) -> str:
    return f"*(u{size * 8} *){_at(base, off)}"


def _access(g: _Gen, base: str, off: int, size: int, *, writable: bool = True) -> None:
    """A load into a scalar register, or a store of a register or an immediate."""
    kind = g.draw(st.sampled_from(["load", "load", "store", "store_imm"] if writable
                                  else ["load"]))
    if kind == "load":
        g.emit(f"r{g.scalar()} = {_mem(size, base, off)}")
    elif kind == "store":
        g.emit(f"{_mem(size, base, off)} = r{g.scalar()}")
    else:
        g.emit(f"{_mem(size, base, off)} = {g.int_(-(1 << 31), (1 << 31) - 1)}")


def _fitting(g: _Gen, room: int, size: int) -> int:
    """An offset in [0, room - size] (the last one often), or just past it as a mistake."""
    if g.mistake():
        return room - size + g.int_(1, 8)
    if room < size:
        return 0
    return g.draw(st.one_of(st.just(room - size), st.integers(0, room - size)))


# -- templates ----------------------------------------------------------------------------------
def t_alu(g: _Gen) -> None:
    wide = g.draw(st.booleans())
    p = "r" if wide else "w"
    dst = g.scalar()
    op = g.draw(st.sampled_from(ALU_OPS + ("neg",)))
    if op == "neg":
        g.emit(f"{p}{dst} = -{p}{dst}")
        return
    if g.draw(st.booleans()):
        g.emit(f"{p}{dst} {op} {p}{g.scalar()}")
        return
    if op in ("<<=", ">>=", "s>>="):
        imm = g.int_(0, 63 if wide else 31) if not g.mistake() else g.int_(64, 70)
    elif op in ("/=", "%="):
        imm = g.int_(1, 1000) if not g.mistake() else 0
    else:
        imm = g.draw(st.one_of(st.integers(-(1 << 31), (1 << 31) - 1), st.integers(-16, 16)))
    g.emit(f"{p}{dst} {op} {imm}")


def t_bound(g: _Gen) -> None:
    dst = g.scalar()
    kind = g.draw(st.sampled_from(["and", "and", "rsh", "zext"]))
    if kind == "and":
        g.emit(f"r{dst} &= {(1 << g.int_(0, 12)) - 1}")
    elif kind == "rsh":
        g.emit(f"r{dst} >>= {g.int_(52, 63)}")
    else:
        g.emit(f"w{dst} = w{dst}")


def t_stack(g: _Gen) -> None:
    """A constant-offset access in the frame (the kernel requires stack accesses aligned)."""
    size = g.size()
    off = -size * g.int_(1, 512 // size) if not g.mistake() else g.draw(st.sampled_from(
        [0, 8, -513, -520, -size + 1, -size - 1]))
    _access(g, "r10", off, size)


def t_var_stack(g: _Gen) -> None:
    """``r10 - base + (rX & mask) + off``: in the frame for every value of rX, or not."""
    size = g.size()
    base = size * g.int_(1, 512 // size)
    mask = ((1 << g.int_(0, 8)) - 1) & ~(size - 1)  # keeps the access aligned
    while mask and mask > base - size:
        mask = (mask >> 1) & ~(size - 1)
    room = base - mask  # bytes from the lowest address up to r10
    off = _fitting(g, room, size) & ~(size - 1)
    g.emit(f"r1 = r{g.scalar()}")
    if not g.mistake():
        g.emit(f"r1 &= {mask}")
    g.emit("r2 = r10", f"r2 += -{base}", "r2 += r1")
    _access(g, "r2", off, size)


def t_spill_fill(g: _Gen) -> None:
    """Spill the ctx pointer, fill it back and read a field through the copy."""
    slot = -8 * g.int_(1, 16)
    g.emit(f"*(u64 *)(r10 - {-slot}) = r6")
    if g.mistake():
        g.emit(f"*(u8 *)(r10 - {-slot - g.int_(0, 7)}) = 0")
    g.emit(f"r1 = *(u64 *)(r10 - {-slot})")
    off, size = g.draw(st.sampled_from(XDP_FIELDS if g.xdp else SKB_FIELDS))
    g.emit(f"r{g.scalar()} = {_mem(size, 'r1', off)}")


def t_ctx(g: _Gen) -> None:
    if g.mistake():
        off, size = g.int_(-4, 200), g.size()
    else:
        off, size = g.draw(st.sampled_from(XDP_FIELDS if g.xdp else SKB_FIELDS))
    if not g.xdp and g.draw(st.integers(0, 3)) == 0:
        off = g.draw(st.sampled_from(SKB_CB)) if not g.mistake() else g.int_(0, 80)
        g.emit(f"{_mem(4, 'r6', off)} = r{g.scalar()}")
        return
    g.emit(f"r{g.scalar()} = {_mem(size, 'r6', off)}")


def t_packet(g: _Gen) -> None:
    """XDP: ``data + N > data_end`` checked before an access at ``data (+ rX & mask) + off``;
    socket filters: LD_ABS / LD_IND (the packet through the skb)."""
    if not g.xdp:
        size = g.draw(st.sampled_from([1, 2, 4]))
        if g.draw(st.booleans()):
            g.emit(f"r0 = *(u{size * 8} *)skb[{g.int_(0, 64)}]")
        else:
            g.emit(f"r0 = *(u{size * 8} *)skb[r{g.scalar()} + {g.int_(0, 32)}]")
        g.emit(f"r{g.scalar()} = r0")
        return
    end = g.label()
    size = g.size()
    n = g.int_(1, 64)
    g.emit("r2 = *(u32 *)(r6 + 0)", "r3 = *(u32 *)(r6 + 4)")
    if g.draw(st.integers(0, 2)) == 0:
        g.emit(f"r4 = r{g.scalar()}")
        if not g.mistake():
            g.emit(f"r4 &= {(1 << g.int_(0, 6)) - 1}")
        g.emit("r2 += r4")
    off = _fitting(g, n, size)
    if g.mistake():
        g.emit(f"r{g.scalar()} = {_mem(size, 'r2', off)}")  # before the check
    g.emit("r1 = r2", f"r1 += {n}")
    check = g.draw(st.sampled_from(["if r1 > r3 goto {}", "if r3 < r1 goto {}",
                                    "if r1 >= r3 goto {}"]))
    if not g.mistake():
        g.emit(check.format(end))
    _access(g, "r2", off, size)
    g.emit(f"{end}:")


def t_map(g: _Gen) -> None:
    """A lookup in ``arr`` or ``hash`` and an access into the value it returns."""
    name = g.draw(st.sampled_from(sorted(MAPS)))
    value_size = MAPS[name].value_size
    end = g.label()
    key = g.draw(st.sampled_from(["0", "0", "1", "3", "reg"]))
    if key == "reg":
        g.emit(f"*(u32 *)(r10 - 4) = r{g.scalar()}")
    elif not g.mistake():
        g.emit(f"*(u32 *)(r10 - 4) = {key}")
    g.emit("r2 = r10", "r2 += -4", f"r1 = {{map:{name}}} ll", "call bpf_map_lookup_elem")
    # arr[0] is never NULL for the kernel (constant in-range key): the check may be left out.
    needs_check = not (name == "arr" and key == "0")
    if g.mistake() and g.draw(st.booleans()):
        g.emit("r0 += 8")  # arithmetic before the NULL check
    if (needs_check and not g.mistake()) or g.draw(st.integers(0, 3)) == 0:
        g.emit(f"if r0 == 0 goto {end}")
    size = g.size()
    mask = 0
    if g.draw(st.integers(0, 2)) == 0:
        mask = (1 << g.int_(0, 4)) - 1
        g.emit(f"r1 = r{g.scalar()}")
        if not g.mistake():
            g.emit(f"r1 &= {mask}")
        g.emit("r0 += r1")
    off = _fitting(g, value_size - mask, size)
    if size in (4, 8) and g.draw(st.integers(0, 4)) == 0:
        g.emit(f"lock {_mem(size, 'r0', off)} += r{g.scalar()}")
    else:
        _access(g, "r0", off, size)
    g.emit(f"{end}:")


def t_guarded(g: _Gen) -> None:
    """``if rX > K goto skip`` then rX, unmasked, indexes the stack or a map value."""
    idx, skip = g.scalar(), g.label()
    target = g.draw(st.sampled_from(["stack", "map"]))
    size = g.size() if target == "map" else 1  # a variable stack offset is aligned to 1 only
    room = g.int_(size, 64) if target == "stack" else MAPS["arr"].value_size
    bound = g.int_(0, max(0, room - size))
    cmp = g.draw(st.sampled_from([f"if r{idx} > {bound} goto {skip}",
                                  f"if r{idx} >= {bound + 1} goto {skip}",
                                  f"if w{idx} > {bound} goto {skip}",
                                  f"if r{idx} s> {bound} goto {skip}"]))
    off = _fitting(g, room - bound, size)
    if target == "map":
        g.emit("*(u32 *)(r10 - 4) = 0", "r2 = r10", "r2 += -4", "r1 = {map:arr} ll",
               "call bpf_map_lookup_elem", f"if r0 == 0 goto {skip}")
        g.emit(cmp, "r1 = r0")
    else:
        g.emit(cmp, "r1 = r10", f"r1 += -{room}")
    g.emit(f"r1 += r{idx}")
    _access(g, "r1", off, size)
    g.emit(f"{skip}:")


def t_loop(g: _Gen) -> None:
    """A counted loop writing the stack at ``r10 - base + i``."""
    top = g.label()
    n = g.int_(1, 6)
    base = g.int_(n, 64) if not g.mistake() else g.int_(0, n)
    g.emit("r5 = 0", f"{top}:", "r1 = r10", f"r1 += -{base}", "r1 += r5",
           "*(u8 *)(r1 + 0) = r5", f"r{g.scalar()} += r5", "r5 += 1",
           f"if r5 < {n} goto {top}")


def t_branch(g: _Gen, depth: int) -> None:
    skip = g.label()
    reg = g.scalar()
    p = g.draw(st.sampled_from("rw"))
    op = g.draw(st.sampled_from(JMP_OPS))
    rhs = f"{p}{g.scalar()}" if g.draw(st.booleans()) else str(g.int_(-8, 300))
    g.emit(f"if {p}{reg} {op} {rhs} goto {skip}")
    _blocks(g, g.int_(1, 3), depth + 1)
    if g.draw(st.booleans()):
        end = g.label()
        g.emit(f"goto {end}", f"{skip}:")
        _blocks(g, g.int_(1, 2), depth + 1)
        g.emit(f"{end}:")
    else:
        g.emit(f"{skip}:")


_TEMPLATES = (
    (t_alu, 3), (t_bound, 2), (t_stack, 2), (t_var_stack, 2), (t_spill_fill, 1), (t_ctx, 2),
    (t_packet, 3), (t_map, 3), (t_guarded, 2), (t_loop, 1),
)  # fmt: skip
_CHOICES = [fn for fn, weight in _TEMPLATES for _ in range(weight)]


def _blocks(g: _Gen, count: int, depth: int) -> None:
    for _ in range(count):
        if depth < 2 and g.draw(st.integers(0, 5)) == 0:
            t_branch(g, depth)
        else:
            g.draw(st.sampled_from(_CHOICES))(g)


def _prologue(g: _Gen) -> None:
    g.emit("r6 = r1")
    for reg in SCALARS:
        kind = g.draw(st.sampled_from(["const", "const", "ctx", "ctx"]))
        if g.mistake() and g.draw(st.integers(0, 7)) == 0:
            continue  # left uninitialised
        if kind == "const":
            g.emit(f"r{reg} = {g.draw(st.integers(-(1 << 31), (1 << 31) - 1))}")
        else:
            off, size = g.draw(st.sampled_from(XDP_FIELDS if g.xdp else SKB_FIELDS))
            g.emit(f"r{reg} = {_mem(size, 'r6', off)}")


def _epilogue(g: _Gen) -> None:
    kind = g.draw(st.sampled_from(["const", "reg"]))
    if kind == "const":
        g.emit(f"r0 = {g.draw(st.sampled_from([0, 1, 2, 3, -1, 0xFFFF]))}")
    else:
        g.emit(f"r0 = r{g.scalar()}")
        if g.xdp:
            g.emit("r0 &= 3")
    g.emit("exit")


@st.composite
def packets(draw: st.DrawFn, prog_type: ProgType) -> bytes:
    """XDP: any frame of 14..128 bytes. Socket filters: an Ethernet + IPv4 frame (skb test
    runs refuse a short IP header), payload of 0..96 bytes."""
    if prog_type == ProgType.XDP:
        return draw(st.binary(min_size=14, max_size=128))
    payload = draw(st.binary(max_size=96))
    total = 20 + len(payload)
    ip = bytes([0x45, 0, total >> 8, total & 0xFF]) + bytes(4) + bytes([64, 17, 0, 0]) \
        + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    return bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + payload


@st.composite
def programs(draw: st.DrawFn) -> Generated:
    """A program of 1-8 top-level templates (branches nest two deep) and its packet."""
    prog_type = draw(st.sampled_from([ProgType.SOCKET_FILTER, ProgType.XDP]))
    privileged = prog_type == ProgType.XDP or draw(st.integers(0, 4)) > 0
    g = _Gen(draw, prog_type, draw(st.sampled_from([0, 0, 0, 4, 10, 25])))
    _prologue(g)
    _blocks(g, draw(st.integers(1, 8)), 0)
    _epilogue(g)
    return Generated(prog_type, privileged, "\n".join(g.lines) + "\n", draw(packets(prog_type)))
