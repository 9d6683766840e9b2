"""Plain-English explanations of the verifier's rejection messages (pure data and a lookup).

The kernel's messages are precise but terse (``R0 invalid mem access 'map_value_or_null'``).
:func:`explain` maps the message lines of a rejection — the kernel's own words, as
:class:`~pybpf.verifier.api.VerificationResult` gives them in ``error`` and ``messages`` —
to one sentence saying what went wrong and one hint saying what usually fixes it. Rules are
regular expressions over one message line, tried in order (specific before general); their
named groups fill the sentence (``{reg}`` → ``R0``).

Owned here: the rule table and the errno fallbacks for loads refused without a log. Not
owned: the messages themselves (:mod:`pybpf.verifier` prints them as Linux 6.18 does) —
a message no rule knows gets no explanation rather than a wrong one.
"""

from __future__ import annotations

import errno as _errno
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["RULES", "Explanation", "Rule", "explain"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a program was rejected, in plain English.

    ``family`` names the rule (stable, for tests and ``--json``); ``message`` is the
    kernel's line the rule matched; ``at_insn`` is False for checks about the program as a
    whole (stack depth of a call chain, program size), where the failing pc means nothing.
    """

    family: str
    explanation: str
    hint: str
    message: str = ""
    at_insn: bool = True


@dataclass(frozen=True, slots=True)
class Rule:
    """One family of kernel messages: a regex, a sentence and a hint (``{group}`` fields)."""

    family: str
    pattern: re.Pattern[str]
    explanation: str
    hint: str
    at_insn: bool = True

    def apply(self, line: str) -> Explanation | None:
        m = self.pattern.search(line)
        if m is None:
            return None
        groups = {k: (v if v is not None else "") for k, v in m.groupdict().items()}
        return Explanation(self.family, self.explanation.format(**groups),
                           self.hint.format(**groups), line, self.at_insn)


def _rule(family: str, pattern: str, explanation: str, hint: str, *,
          at_insn: bool = True) -> Rule:
    return Rule(family, re.compile(pattern), explanation, hint, at_insn)


_R = r"(?P<reg>R\d+)"

#: The rule table, most specific first. Each family is one kind of mistake.
RULES: tuple[Rule, ...] = (
    # -- NULL, uninitialised and unknown values -------------------------------------------------
    _rule("null-pointer", _R + r" invalid mem access '(?P<kind>\w+)_or_null'",
          "{reg} may be NULL here (a {kind} pointer, e.g. the result of bpf_map_lookup_elem, "
          "that was never tested): the program dereferences it without a NULL check.",
          "test the pointer before using it: `if (!p) return ...;`"),
    _rule("scalar-deref", _R + r" invalid mem access 'scalar'",
          "{reg} holds a number, not a pointer the verifier knows, so it cannot be dereferenced.",
          "load through a pointer the verifier tracks (ctx, packet, map value, stack); do not "
          "build pointers from integers"),
    _rule("bad-deref", _R + r" invalid mem access '(?P<kind>[\w ]+)'",
          "{reg} is a {kind} pointer, which cannot be read or written directly.",
          "use the helper or field meant for this object instead of dereferencing it"),
    _rule("uninit-register", _R + r" !read_ok",
          "{reg} is read before anything was written to it on this path (an uninitialised "
          "register; after a call, R1-R5 are clobbered).",
          "initialise the register first, or keep values that must survive a call in R6-R9"),
    _rule("modified-ctx", r"dereference of modified (?P<kind>\w+) ptr " + _R,
          "{reg} points into the {kind} but was moved by pointer arithmetic; the kernel "
          "rewrites {kind} accesses and only allows them at a constant offset from the "
          "original pointer.",
          "access fields as `ctx->field` (constant offset from the original ctx pointer)"),
    _rule("object-access", _R + r" invalid (?P<kind>\w+) access off=(?P<off>-?\d+)",
          "{reg} points to a {kind}, and offset {off} is not a field the program may access "
          "with this size.",
          "read only the fields of the {kind} structure this program type may use"),
    _rule("negative-ctx-offset", r"negative offset (?P<kind>\w+) ptr " + _R,
          "{reg} points before the start of the {kind}.",
          "access the context only at the offsets of its fields"),
    # -- context --------------------------------------------------------------------------------
    _rule("ctx-access", r"invalid bpf_context access off=(?P<off>-?\d+) size=(?P<size>\d+)",
          "this program type may not access the context at offset {off} with size {size}: "
          "the field does not exist, is read-only, or needs another access size.",
          "check which struct fields this program type may read or write and use their "
          "natural width"),
    _rule("ctx-variable", r"variable ctx access var_off=",
          "the context is accessed at an offset the verifier cannot tell at load time.",
          "read context fields at constant offsets (`ctx->field`), never `ctx + variable`"),
    # -- packets --------------------------------------------------------------------------------
    _rule("packet-bounds", _R + r" offset is outside of the packet",
          "the packet is read or written past the last byte the program proved is there.",
          "compare `data + N` with `data_end` (for the N bytes you access) before the access"),
    _rule("packet-bounds", r"invalid access to packet",
          "the packet is read or written past the last byte the program proved is there.",
          "compare `data + N` with `data_end` (for the N bytes you access) before the access"),
    _rule("packet-write", r"cannot write into packet",
          "this program type may only read the packet.",
          "change the packet with helpers (bpf_skb_store_bytes) or use a type that may write it"),
    _rule("packet-helper", r"helper access to the packet is not allowed",
          "this helper may not be given a pointer into the packet for this program type.",
          "copy the bytes to the stack first (bpf_skb_load_bytes) and pass the stack buffer"),
    _rule("pkt-end", _R + r" (?:invalid mem access 'pkt_end'|pointer arithmetic on pkt_end)",
          "{reg} is data_end, which may only be compared with packet pointers.",
          "use data_end only in comparisons such as `if (data + N > data_end)`"),
    # -- map values and memory ranges -----------------------------------------------------------
    _rule("range-min", _R + r" min value is outside of the allowed memory range",
          "the offset used with {reg} can be below the start of the object it points to.",
          "bound the index from below (use an unsigned index) before adding it"),
    _rule("range-max", _R + r" max value is outside of the allowed memory range",
          "the offset used with {reg} can reach past the end of the object it points to.",
          "bound the index with `if (i >= N) return ...;` or `i &= N - 1` (N a power of two) "
          "so that offset + size stays inside the object"),
    _rule("negative-index", _R + r" min value is negative",
          "the size or index in {reg} can be negative as far as the verifier knows.",
          "use an unsigned type, or check `if (i < 0 || i >= N)` before using it"),
    _rule("unbounded-access", _R + r" unbounded memory access",
          "the size or offset in {reg} has no upper bound the verifier can see.",
          "bound it with `if (len > MAX) return ...;` or `len &= MASK` just before the access"),
    _rule("zero-sized-read", r"invalid zero-sized read",
          "a helper may be asked to read 0 bytes here, which the verifier does not allow for "
          "this argument.",
          "check that the length is at least 1 (`if (len < 1) return ...;`) before the call"),
    _rule("map-value-bounds", r"invalid access to map value",
          "the access falls outside the map's value (see value_size, off and size).",
          "keep offset + size within the value type; bound variable indexes first"),
    _rule("map-ptr-range", _R + r" pointer arithmetic of map value goes out of range",
          "pointer arithmetic moves {reg} outside its map value, which unprivileged programs "
          "may not do.",
          "index the value with a bounded, checked offset"),
    _rule("map-readonly", r"write into map forbidden",
          "the program writes into a map its loader made read-only for programs "
          "(BPF_F_RDONLY_PROG, or .rodata).",
          "write to a writable map, or drop the read-only flag"),
    _rule("map-writeonly", r"read from map forbidden",
          "the program reads a map created write-only for programs (BPF_F_WRONLY_PROG).",
          "drop BPF_F_WRONLY_PROG or do not read that map"),
    _rule("map-type", r"cannot pass map_type (?P<type>\d+) into func (?P<func>\w+)",
          "{func} does not work with this kind of map (map type {type}).",
          "use a map type the helper accepts (e.g. ringbuf for bpf_ringbuf_*, perf event "
          "array for bpf_perf_event_output)"),
    _rule("tail-call-map", r"expected prog array map for tail call",
          "bpf_tail_call needs a BPF_MAP_TYPE_PROG_ARRAY map.",
          "pass a prog array map as the second argument of bpf_tail_call"),
    _rule("bad-map-fd", r"fd \S+ is not pointing to valid bpf_map",
          "an instruction that should load a map refers to no map.",
          "make sure every map reference is relocated to a created map"),
    # -- stack ----------------------------------------------------------------------------------
    _rule("stack-read", r"invalid (?:variable-offset |unbounded variable-offset )?read from "
          r"stack",
          "the program reads stack bytes that were never written on this path (or outside "
          "the 512-byte frame).",
          "initialise the stack variable (e.g. `= {{}}` or memset) before reading it or passing "
          "it to a helper"),
    _rule("stack-write", r"invalid (?:variable-offset |unbounded variable-offset )?write to "
          r"stack",
          "the program writes outside the 512-byte stack frame (offsets must be in "
          "[-512, -1] from R10).",
          "use smaller stack buffers, or a per-CPU array map as scratch space"),
    _rule("stack-depth", r"combined stack size of (?P<n>\d+) calls is (?P<size>\d+)",
          "the call chain uses {size} bytes of stack across {n} frames; the limit is 512.",
          "shrink the local buffers or move them to a per-CPU array map", at_insn=False),
    _rule("call-depth", r"the call stack of (?P<n>\d+) frames is too deep",
          "bpf-to-bpf calls nest deeper than the 8 frames allowed.",
          "inline some functions (`static __always_inline`) or flatten the recursion",
          at_insn=False),
    _rule("frame-pointer", r"frame pointer is read only",
          "the program writes to R10, the frame pointer, which is read-only.",
          "copy R10 to another register and change the copy"),
    _rule("spill-size", r"invalid size of register (?:spill|fill)",
          "a pointer is saved to or restored from the stack with fewer than 8 bytes.",
          "spill and fill pointers with 64-bit stores and loads"),
    _rule("spill-corrupt", r"attempt to corrupt spilled pointer on stack",
          "the program overwrites part of a pointer saved on the stack.",
          "do not write into the bytes of a spilled pointer; use another stack slot"),
    _rule("var-stack", r"variable (?:offset )?stack (?:access|pointer)",
          "the stack is accessed at an offset only known at run time, which is not allowed "
          "here.",
          "use a constant stack offset (or a map value for indexed buffers)"),
    _rule("stack-ptr-range", _R + r" stack pointer arithmetic goes out of range",
          "pointer arithmetic moves {reg} outside the 512-byte stack frame, which "
          "unprivileged programs may not do even before an access.",
          "keep stack pointers within [R10 - 512, R10)"),
    _rule("stack-ret", r"cannot return stack pointer to the caller",
          "a function returns a pointer into its own stack frame, which is gone after it "
          "returns.",
          "return values, or let the caller pass a buffer in"),
    # -- alignment ------------------------------------------------------------------------------
    _rule("misaligned", r"misaligned (?P<what>[\w ]*?)access off",
          "a {what}access is not aligned to its size, which this program or architecture "
          "requires.",
          "align the access (e.g. read fields at offsets that are multiples of their size) "
          "or copy the bytes with __builtin_memcpy"),
    # -- pointer arithmetic and leaks -----------------------------------------------------------
    _rule("unbounded-math", r"math between (?P<kind>\w+) pointer and register with unbounded "
          r"min value",
          "a {kind} pointer is offset by a register that may be negative as far as the "
          "verifier knows.",
          "bound the offset (`if (off > MAX) return ...;`) and use an unsigned type"),
    _rule("pointer-math", r"math between (?P<kind>\w+) pointer and",
          "the offset added to the {kind} pointer is too large for the verifier to track.",
          "add smaller, bounded offsets"),
    _rule("pointer-offset", r"(?P<kind>\w+) pointer offset (?P<off>-?\d+) is not allowed",
          "after this arithmetic the {kind} pointer may be {off} bytes away from its object, "
          "beyond what the verifier tracks (2^29).",
          "bound the scalar before adding or subtracting it (e.g. `if rX > N goto`)"),
    # -- kernel objects through BTF (map pointers, BTF pointers) ---------------------------------
    _rule("btf-cap", r"'struct (?P<type>\w+)' access is allowed only to CAP_PERFMON",
          "reading the kernel's struct {type} (through a map or BTF pointer) needs CAP_PERFMON.",
          "load the program as root (CAP_BPF + CAP_PERFMON), or do not dereference the pointer"),
    _rule("btf-gpl", r"Cannot access kernel 'struct (?P<type>\w*)' from non-GPL compatible",
          "reads through a kernel BTF pointer (struct {type}) need a GPL-compatible license.",
          "declare a GPL-compatible license (char LICENSE[] SEC(\"license\") = \"GPL\")"),
    _rule("btf-read-only", r"only read (?:from (?P<type>\w+) )?is supported",
          "kernel objects reached through a map pointer or a BTF pointer can only be read.",
          "keep writable state in a map value or on the stack"),
    _rule("btf-negative", _R + r" is (?:ptr_)?(?P<type>\w*) invalid negative access: "
          r"off=(?P<off>-?\d+)",
          "{reg} is read at offset {off}, before the start of the kernel's struct {type}.",
          "read fields at their offsets from the start of the struct (see `pahole` or BTF)"),
    _rule("btf-variable", _R + r" is ptr_(?P<type>\w*) invalid variable offset",
          "a BTF pointer moved by an unknown amount cannot be read through: the field would be "
          "unknown.",
          "read through the pointer before any variable arithmetic, at constant offsets"),
    _rule("btf-user-percpu", _R + r" is ptr_(?P<type>\w*) access (?P<what>user|percpu) memory",
          "{reg} points to {what} memory, which cannot be read directly.",
          "use bpf_probe_read_user() for __user memory, bpf_per_cpu_ptr() for __percpu"),
    _rule("btf-field", r"access beyond (?:the end of member \w+ \(mend:\d+\) in )?struct "
          r"(?P<type>\S+)(?: at| with) off (?P<off>\d+) size (?P<size>\d+)|struct "
          r"(?P<type2>\S+) doesn't have field at offset|cannot access ptr member (?P<m>\w+)",
          "the read does not fall on one field of the kernel struct: past its end, into a hole, "
          "across two members or into part of a pointer.",
          "read whole fields at their BTF offsets and sizes (pointers as 8-byte loads)"),
    _rule("btf-struct", r"Type '(?P<type>[^']*)' is not a struct|field (?P<f>\w+) doesn't have "
          r"size|map_ptr access not supported for map type (?P<mt>\d+)",
          "the kernel cannot describe this object's fields in BTF, so it refuses the read.",
          "do not dereference this pointer"),
    _rule("insn-pointer-types", r"same insn cannot be used with different pointers",
          "one load or store instruction is reached with pointers of different types (e.g. a "
          "map pointer on one path and a BTF pointer on another).",
          "use separate instructions for each kind of pointer (the compiler may need a barrier)"),
    _rule("out-of-bounds-value", r"value (?P<v>-?\d+) makes (?P<kind>\w+) pointer be out of "
          r"bounds",
          "adding {v} would move the {kind} pointer out of its object.",
          "keep pointer offsets within the object; check indexes first"),
    _rule("null-arith", _R + r" pointer arithmetic on (?P<kind>\w+)_or_null prohibited",
          "arithmetic is done on {reg} while it may still be NULL.",
          "check the pointer for NULL before offsetting it"),
    _rule("pointer-arith", _R + r" (?:pointer arithmetic|bitwise operator|\d+-bit pointer "
          r"arithmetic|subtraction from stack pointer|pointer [+-]= pointer|tried to subtract|"
          r"has pointer with unsupported)",
          "this operation on the pointer in {reg} is not allowed (only adding or subtracting "
          "a scalar to a pointer is).",
          "do the arithmetic on integer offsets, then add the offset to the pointer"),
    _rule("pointer-compare", _R + r" pointer comparison prohibited",
          "unprivileged programs may not compare pointers (it could leak kernel addresses).",
          "compare values rather than pointers, or load the program with CAP_BPF"),
    _rule("partial-pointer", _R + r" (?:partial copy of pointer|sign-extension part of pointer)",
          "only part of a pointer is copied, which could leak a kernel address.",
          "move pointers with full 64-bit moves"),
    _rule("addr-leak-return", _R + r" leaks addr as return value",
          "the program would return a kernel address in {reg}, which this loader may not do.",
          "return a value computed from data, never a pointer"),
    _rule("addr-leak", _R + r" leaks addr into (?P<where>[\w ]+)",
          "a kernel address in {reg} would be stored into {where}, where user space could "
          "read it; this loader may not do that.",
          "store values derived from the data, never pointers (or load with CAP_BPF)"),
    _rule("stack-leak", r"leaking pointer from stack",
          "a pointer saved on the stack would leak out of the program.",
          "do not pass stack slots holding pointers to places the program does not own"),
    # -- control flow ---------------------------------------------------------------------------
    _rule("unreachable", r"unreachable insn (?P<n>\d+)",
          "instruction {n} can never be executed; the kernel rejects dead code.",
          "remove the dead code (often inline asm or a jump that skips it)"),
    _rule("back-edge", r"back-edge from insn (?P<from>\d+) to (?P<to>\d+)",
          "the jump from {from} back to {to} forms a loop, which this loader may not use "
          "(unprivileged, or a loop the kernel refuses to analyse).",
          "use a bounded loop the verifier can follow, bpf_loop(), or unroll it "
          "(`#pragma unroll`)"),
    _rule("infinite-loop", r"infinite loop detected at insn (?P<n>\d+)",
          "the verifier found a loop at instruction {n} that returns to the same state, so it "
          "may never end.",
          "make the loop counter change on every iteration and bound it with a constant"),
    _rule("too-complex", r"The sequence of (?P<n>\d+) jumps is too complex",
          "too many branches are pending at once: the loop or branch structure is too "
          "complex for the verifier to explore.",
          "reduce the trip count, use bpf_loop() or may_goto loops (bpf_for/can_loop)"),
    _rule("too-large", r"BPF program is too large",
          "the verifier walked 1,000,000 instructions without finishing: the program has too "
          "many paths (loops unrolled, branches multiplying).",
          "bound loops tightly, split work into tail calls or bpf_loop(), simplify branches"),
    _rule("jump-range", r"jump out of range from insn (?P<from>\d+) to (?P<to>-?\d+)",
          "the jump at instruction {from} targets {to}, outside the program.",
          "fix the jump offset (it is relative to the next instruction)"),
    _rule("jump-ldimm64", r"jump into the middle of ldimm64 insn",
          "a jump lands on the second half of a 16-byte lddw instruction.",
          "jump to the lddw itself or past it"),
    _rule("last-insn", r"last insn is not an exit or jmp",
          "execution can run off the end of the program.",
          "end every path with `exit` (return) or a jump"),
    _rule("bad-call", r"call to invalid destination|invalid insn idx",
          "a bpf-to-bpf call targets an address outside the program.",
          "fix the call offset (it is relative to the next instruction)"),
    # -- helpers and calls ----------------------------------------------------------------------
    _rule("gpl-only", r"cannot call GPL-restricted function",
          "this helper is only for GPL-compatible programs, and the program's license is not.",
          "declare a GPL-compatible license: `char LICENSE[] SEC(\"license\") = \"GPL\";`"),
    _rule("unknown-helper", r"(?:invalid|unknown) func (?P<func>\S+)",
          "{func} is not a helper this kernel knows.",
          "check the helper id (and that the kernel is recent enough for it)"),
    _rule("helper-prog-type", r"program of this type cannot use helper (?P<func>\S+)",
          "{func} is not available to this program type.",
          "pick a helper allowed for this type, or use another program type (--type)"),
    _rule("helper-arg", _R + r" type=(?P<got>\w+) expected=(?P<want>[\w ,]+)",
          "the helper expects {reg} to be {want}, but it is {got}.",
          "pass the argument the helper's prototype asks for (e.g. a stack pointer for keys)"),
    _rule("ref-leak", r"Unreleased reference|would lead to reference leak",
          "a reference (ring buffer record, socket...) acquired on this path is not released "
          "before the program exits.",
          "release it on every path: bpf_ringbuf_submit/discard, bpf_sk_release..."),
    _rule("ref-missing", r"must be referenced when passed to release function|reference has "
          r"not been acquired before",
          "the pointer passed to the release function was not acquired (or is released twice).",
          "release exactly the pointer the acquiring helper returned, once"),
    _rule("release-offset", _R + r" must have zero offset when passed to release func",
          "{reg} was moved by pointer arithmetic before being released.",
          "release the pointer exactly as the acquiring helper returned it"),
    _rule("write-object", _R + r" cannot write into (?P<kind>\w+)",
          "{reg} points to a {kind}, which the program may only read.",
          "write through a pointer to memory the program owns (stack, map value)"),
    _rule("kfunc", r"kernel btf_id \d+ is not a function|calling kernel function",
          "the kfunc call refers to something that is not a kernel function this program may "
          "call.",
          "check the kfunc's declaration (__ksym) against the running kernel's BTF"),
    _rule("direct-value", r"no direct value access support for this map type|direct value "
          r"offset of",
          "a global-variable style access (BPF_PSEUDO_MAP_VALUE) is used on a map that does not "
          "support it, or beyond its value.",
          "use direct value access only on single-entry array maps, within the value"),
    _rule("sleepable", r"helper call might sleep in a non-sleepable prog",
          "this helper may sleep, which only sleepable programs may do.",
          "load the program as sleepable (SEC(\"...s\")) or use a non-sleeping helper"),
    _rule("locked", r"cannot be used inside bpf_(?:spin_lock|rcu_read_lock|preempt_disable)",
          "this call or exit happens while a lock or critical section is held.",
          "release the lock (bpf_spin_unlock...) before calling helpers or returning"),
    _rule("cap-bpf", r"loading/calling other bpf or kernel functions are allowed for CAP_BPF",
          "bpf-to-bpf calls and kfuncs need CAP_BPF, which this loader lacks.",
          "inline the functions (`static __always_inline`) or load with CAP_BPF"),
    _rule("no-btf", r"(?:missing btf func_info|not allowed in subprogs without BTF|has to have "
          r"BTF)",
          "this feature needs the program's or map's BTF, which was not given.",
          "build with -g and load with BTF (func and line info)"),
    _rule("ld-abs", r"BPF_LD_\[ABS\|IND\] instructions not allowed|at the time of BPF_LD_ABS",
          "legacy packet loads (LD_ABS/LD_IND) need a socket-buffer program with the skb "
          "in R6.",
          "use direct packet access or bpf_skb_load_bytes"),
    # -- global functions (programs loaded with BTF) -------------------------------------------
    _rule("global-func-args", r"arg#(?P<n>\d+) expects pointer to ctx",
          "argument {n} of the global function is the program's context in its BTF prototype, "
          "but the caller passes something else.",
          "pass the context pointer the program received, unmodified"),
    _rule("global-func-args", _R + r" is not a scalar",
          "{reg} is passed to a global function whose BTF prototype takes a number there, but "
          "it holds a pointer.",
          "pass an integer, or change the function's parameter to a pointer type"),
    _rule("global-func-args", r"arg#(?P<n>\d+) is expected to be non-NULL",
          "argument {n} of the global function is tagged __arg_nonnull, but the caller may pass "
          "NULL.",
          "test the pointer for NULL before the call, or drop __arg_nonnull and test it in the "
          "function"),
    _rule("global-func-args", r"arg#(?P<n>\d+) has invalid combination of tags",
          "the __arg_* tags of argument {n} of the global function do not go together "
          "(__arg_nullable is only for __arg_trusted kernel pointers; plain pointers to "
          "memory may be NULL anyway).",
          "drop the tag, or use the combination the kernel documents"),
    _rule("global-func-proto", r"Global function (?P<name>\w+)\(\) doesn't return scalar",
          "{name}() is a global function: the kernel verifies it on its own and only allows "
          "it to return an integer.",
          "return an integer, or make the function static (verified in its caller's context)"),
    _rule("global-func-proto", r"Global function (?P<name>\w+)\(\) with (?P<n>\d+) > 5 args",
          "{name}() takes {n} arguments; BPF functions take at most 5.",
          "pass the extra values in a struct through a pointer"),
    _rule("global-func-proto",
          r"Arg#(?P<n>\d+) type (?P<kind>\w+) in (?P<name>\w+)\(\) is not supported yet",
          "argument {n} of the global function {name}() is a {kind} passed by value; global "
          "functions take only integers, the context and pointers to sized memory.",
          "pass a pointer to the {kind} instead, or make the function static"),
    _rule("global-func-proto",
          r"arg#(?P<n>\d+) reference type\('(?P<kind>\w+) ?(?P<tname>[^']*)'\) size cannot "
          r"be determined",
          "argument {n} of the global function points to a type without a size ({kind} "
          "{tname}, e.g. void), so the kernel cannot tell how much memory it may access.",
          "use a pointer to a sized type (a struct, an integer, an array), or make the "
          "function static"),
    _rule("global-func-return",
          r"At subprogram exit the register (?P<reg>R\d+) is not a scalar value \((?P<kind>[^)]*)\)",
          "a global function returns a {kind} pointer in {reg}; global functions may only "
          "return integers.",
          "return a number; pass results back through a pointer argument"),
    _rule("global-func-lock", r"global function calls are not allowed while holding a lock",
          "a global function is called while a bpf_spin_lock is held.",
          "release the lock before the call, or make the function static"),
    # -- spin locks -----------------------------------------------------------------------------
    _rule("spin-lock-calls", r"function calls are not allowed while holding a lock",
          "a helper is called while a bpf_spin_lock is held; only bpf_spin_unlock may be.",
          "keep the locked region to plain loads and stores; call helpers before locking or "
          "after unlocking"),
    _rule("spin-lock-twice", r"Locking two bpf_spin_locks are not allowed",
          "a second bpf_spin_lock is taken while one is held.",
          "release the first lock before taking another"),
    _rule("spin-lock-pairing",
          r"bpf_spin_unlock (?:of different lock|without taking a lock|cannot be out of order)",
          "bpf_spin_unlock releases a lock that is not the one held (another map value, or "
          "no lock at all).",
          "unlock through the same pointer the lock was taken with"),
    _rule("spin-lock-access", r"bpf_spin_lock cannot be accessed directly by load/store",
          "the program reads or writes the struct bpf_spin_lock inside the map value.",
          "only pass the lock to bpf_spin_lock()/bpf_spin_unlock(); access the other fields"),
    _rule("spin-lock-field", r"map '(?P<name>[^']*)' has no valid bpf_spin_lock",
          "the value type of map '{name}' has no struct bpf_spin_lock field.",
          "add a `struct bpf_spin_lock` member to the map's value struct"),
    _rule("spin-lock-field", r"map '(?P<name>[^']*)' has to have BTF in order to use bpf_spin_lock",
          "map '{name}' was created without BTF, so the kernel cannot find its lock.",
          "create the map with BTF (libbpf does for BTF-defined maps)"),
    _rule("spin-lock-offset",
          r"off (?P<off>-?\d+) doesn't point to 'struct bpf_spin_lock' that is at (?P<at>\d+)",
          "bpf_spin_lock gets a pointer to offset {off} of the map value, but the lock is at "
          "offset {at}.",
          "pass &value->lock (the struct bpf_spin_lock member) itself"),
    _rule("spin-lock-prog-type", r"(?P<kind>socket filter|tracing) progs cannot use bpf_spin_lock",
          "{kind} programs may not use maps whose values hold a bpf_spin_lock.",
          "use another program type, or a map without a lock (atomic operations)",
          at_insn=False),
    # -- return value ---------------------------------------------------------------------------
    _rule("return-range", r"At program exit the register (?P<reg>R\d+) (?:has|is not a known "
          r"value).*should have been in \[(?P<lo>-?\d+), (?P<hi>-?\d+)\]",
          "the program can return a value outside [{lo}, {hi}], the range this program type "
          "allows.",
          "return only the allowed verdicts (e.g. 0 or 1 for cgroup programs)"),
    _rule("callback-return", r"At callback return the register (?P<reg>R\d+) has.*should "
          r"have been in \[(?P<lo>-?\d+), (?P<hi>-?\d+)\]",
          "the callback can return a value outside [{lo}, {hi}]: a bpf_loop or "
          "bpf_for_each_map_elem callback returns 0 (go on) or 1 (stop).",
          "return 0 or 1 from the callback"),
    _rule("callback-not-scalar", r"R0 not a scalar value",
          "the callback returns without a number in R0 (unset, or a pointer).",
          "set r0 to 0 or 1 before the callback's exit"),
    _rule("format-string", r"Invalid format string",
          "the bpf_snprintf format has a conversion it does not support, more conversions "
          "than data (R5 / 8 values), or a character that is not printable.",
          "use %d %i %u %x (with l/ll), %c, %s, %p... and pass one u64 per conversion"),
    _rule("const-string", r"(?P<reg>R\d+) (?:does not point to a readonly map|is not a "
          r"constant address)'|string is not zero-terminated|direct value access on string "
          r"failed",
          "a constant string must be in a frozen read-only map (BPF_F_RDONLY_PROG, frozen: "
          ".rodata), at a constant offset, NUL-terminated, in a single-element array.",
          "put the string in a const global (.rodata) and pass its address"),
    _rule("stack-pointer-escape", r"cannot spill pointers to stack into stack frame of the "
          r"caller",
          "a pointer to this function's stack is stored into a caller's stack, where it would "
          "outlive the frame it points to.",
          "store values, not addresses of locals, through pointers to the caller's stack"),
    _rule("callback-map", r"callback function not allowed for map",
          "bpf_for_each_map_elem cannot walk this type of map.",
          "iterate arrays and hash maps only (or keep the data in one)"),
    _rule("map-key-write", r"write to change key (?P<reg>R\d+) not allowed",
          "{reg} points to a map key handed to a callback, which it may only read.",
          "copy the key to the stack before changing it"),
    _rule("return-unknown", r"At program exit the register (?P<reg>R\d+) is not a known value",
          "the return value must be a number, but {reg} holds a pointer.",
          "return a constant or a computed integer"),
    # -- encoding -------------------------------------------------------------------------------
    _rule("div-zero", r"div by zero",
          "the program divides by the constant 0.",
          "divide by a non-zero constant or by a register (division by a zero register "
          "gives 0)"),
    _rule("bad-shift", r"invalid shift (?P<n>-?\d+)",
          "shifting by {n} is outside the operand's width.",
          "shift by 0..63 (0..31 for 32-bit operations)"),
    _rule("encoding", r"uses reserved fields|unknown opcode|invalid BPF_\w+ opcode|invalid "
          r"(?:bpf_ld_imm64|BPF_LD_IMM) insn|unrecognized bpf_ld_imm64|invalid atomic|BPF_ATOMIC "
          r"uses invalid|invalid BPF_LD mode",
          "the instruction is not a valid encoding (bad opcode, or reserved fields set).",
          "check the assembler output; reserved fields must be zero"),
    _rule("atomic-target", r"BPF_ATOMIC (?:stores into|loads from) " + _R + r" (?P<kind>\w+)",
          "atomic operations are not allowed on {kind} memory.",
          "use atomics on the stack or map values only"),
    _rule("invalid-reg", _R + r" is invalid",
          "the instruction names a register that does not exist or may not be used here.",
          "use R0-R9 (R10 is the read-only frame pointer)"),
    _rule("not-constant", _R + r" is not a known constant",
          "this helper argument must be a constant known at load time.",
          "pass a literal (or a value the verifier can prove constant)"),
    _rule("pybpf-unmodelled", r"^pybpf does not ",
          "pybpf's verifier does not model this feature yet, so it refuses the program; the "
          "kernel may accept it.",
          "check with the kernel (pybpf's kernel backend) or report the missing feature"),
)

#: Loads the kernel refuses before verification, with an errno and no log.
_ERRNO_ONLY: dict[tuple[int, bool], Explanation] = {
    (_errno.EPERM, False): Explanation(
        "unprivileged-type",
        "unprivileged users may only load socket filter and cgroup skb programs.",
        "load the program with CAP_BPF (as root), or use one of those program types",
        at_insn=False),
    (_errno.E2BIG, True): Explanation(
        "too-many-insns",
        "the program has no instructions or more than 1,000,000 (4,096 unprivileged).",
        "split the program with tail calls or bpf-to-bpf calls", at_insn=False),
    (_errno.E2BIG, False): Explanation(
        "too-many-insns",
        "the program has no instructions or more than unprivileged users may load (4,096).",
        "split the program with tail calls, or load it with CAP_BPF", at_insn=False),
    (_errno.EINVAL, True): Explanation(
        "attach-type",
        "the load was refused before verification: this program type needs an expected "
        "attach type that was not given.",
        "give the program a section name that implies its attach type (e.g. "
        "cgroup/connect4), or --type with one", at_insn=False),
}


def explain(error: str | None, messages: Sequence[str] = (), *, errno: int = 0,
            privileged: bool = True) -> Explanation | None:
    """Explain a rejection: ``error`` is the kernel's error line, ``messages`` all the lines
    of the rejection (the error line last). The error line is tried first, then the others
    from the last; a load refused without a log is explained from ``errno``. ``None`` when
    no rule knows the message."""
    lines = [error] if error else []
    lines += [m for m in reversed(messages) if m and m != error]
    messages = [m for m in messages if m]
    for line in lines:
        for rule in RULES:
            found = rule.apply(line)
            if found is not None:
                return found
    if not error and not messages:
        found = _ERRNO_ONLY.get((errno, privileged)) or _ERRNO_ONLY.get((errno, True))
        return found
    return None
