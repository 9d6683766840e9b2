"""Assembly text -> instructions, in the uBPF syntax, the LLVM syntax, or both.

A line holds optional labels (``name:``), at most one instruction and an optional comment
(``#``, ``//`` or ``;`` to the end of the line). With ``syntax="auto"`` each line is read in
the syntax its first words identify (``mov %r0, 1`` is uBPF, ``r0 = 1`` is LLVM); the few
lines both syntaxes share (``exit``, ``call N``, ``call NAME``) follow the syntax most other
lines of the text use (uBPF on a tie). Labels are resolved in a second pass
(:mod:`pybpf.asm.labels`).

Assembler directives (``.text``, ``.globl``...) are not supported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pybpf.asm import llvm_parse, ubpf_parse
from pybpf.asm.labels import Item, LabelDef, Parsed, resolve
from pybpf.asm.lexer import Token, TokenKind, TokenStream, strip_comment, tokenize
from pybpf.isa.instruction import Instruction

_PARSERS: Mapping[str, Callable[[TokenStream], Parsed]] = MappingProxyType(
    {
        "ubpf": ubpf_parse.parse_line,
        "llvm": llvm_parse.parse_line,
    }
)
_UBPF_CALL_WORDS = frozenset({"local", "runtime", "kfunc"})


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    text: str
    tokens: list[Token]  # the instruction's tokens, labels removed


def _split_labels(number: int, text: str) -> tuple[list[LabelDef], list[Token]]:
    tokens = tokenize(strip_comment(text), number, text)
    labels = []
    while (
        len(tokens) >= 2
        and tokens[0].kind is TokenKind.IDENT
        and tokens[1].kind is TokenKind.PUNCT
        and tokens[1].text == ":"
        and not tokens[0].text.startswith("%")
    ):
        labels.append(LabelDef(tokens[0].text, number, tokens[0].column, text))
        tokens = tokens[2:]
    return labels, tokens


def classify(tokens: list[Token]) -> str | None:
    """The syntax a line is written in, or None when both syntaxes read it the same way."""
    first = tokens[0]
    if first.kind is TokenKind.PUNCT:
        return "llvm" if first.text == "*" else None
    word = first.text
    second = tokens[1]
    if word == "exit":
        return None
    if word == "call":
        if second.text.startswith("%") or second.text in _UBPF_CALL_WORDS:
            return "ubpf"
        return None
    if word == "lock":
        return "llvm" if second.text == "*" else "ubpf"
    if word in llvm_parse.FIRST_WORDS or llvm_parse.is_register_name(word):
        return "llvm"
    if word.lower() in ubpf_parse.MNEMONICS:
        return "ubpf"
    return None


def _choose(lines: list[_Line], syntax: str) -> list[str]:
    if syntax != "auto":
        return [syntax] * len(lines)
    kinds = [classify(line.tokens) for line in lines]
    votes = Counter(kind for kind in kinds if kind is not None)
    default = "llvm" if votes["llvm"] > votes["ubpf"] else "ubpf"
    return [kind or default for kind in kinds]


def assemble(text: str, *, syntax: str = "auto") -> tuple[Instruction, ...]:
    """Assemble ``text`` (``syntax`` is ``"auto"``, ``"ubpf"`` or ``"llvm"``).

    Raises :class:`~pybpf.errors.AssembleError` naming the line and column (1-based) of the
    first problem: an unknown mnemonic or register, a malformed operand, an immediate or offset
    out of range, an undefined or duplicate label.
    """
    if syntax not in ("auto", "ubpf", "llvm"):
        raise ValueError(f"unknown assembly syntax {syntax!r} (expected auto, ubpf or llvm)")
    entries: list[Item | LabelDef] = []
    order: list[LabelDef | _Line] = []
    for number, raw in enumerate(text.splitlines(), 1):
        labels, tokens = _split_labels(number, raw)
        order.extend(labels)
        if tokens[0].kind is not TokenKind.END:
            order.append(_Line(number, raw, tokens))
    lines = [entry for entry in order if isinstance(entry, _Line)]
    chosen = iter(_choose(lines, syntax))
    for entry in order:
        if isinstance(entry, LabelDef):
            entries.append(entry)
            continue
        stream = TokenStream(entry.tokens, entry.number, entry.text)
        parsed = _PARSERS[next(chosen)](stream)
        entries.append(Item(parsed, entry.number, entry.text))
    return resolve(entries)
