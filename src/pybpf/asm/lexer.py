"""Tokens of one assembly line, shared by the uBPF and the LLVM syntax.

A line is split into identifiers (``mov``, ``r1``, ``%r1``, ``.LBB0_2``), unsigned numbers
(``12``, ``0x1f``; a sign is a separate token) and punctuation, including the compound
operators of the LLVM syntax (``s>>=``, ``<<=``, ``==``, ``s/=``...). Every token keeps its
1-based column so errors can point at it. Comments (``#``, ``//``, ``;`` to the end of the line)
are removed before tokenising.

:class:`TokenStream` is the cursor the line parsers walk with; its errors are
:class:`~pybpf.errors.AssembleError` carrying line, column and the line's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import NoReturn

from pybpf.errors import AssembleError


class TokenKind(Enum):
    IDENT = "identifier"
    NUMBER = "number"
    PUNCT = "punctuation"
    END = "end of line"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its exact text and its 1-based column."""

    kind: TokenKind
    text: str
    column: int

    def describe(self) -> str:
        return "end of line" if self.kind is TokenKind.END else f"'{self.text}'"


# One alternative per token kind. Operators are tried longest first; the signed operators
# (``s>``, ``s>>=``, ``s/=``...) only where a word could start, so ``s`` stays a name elsewhere.
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<punct>(?<![A-Za-z0-9_.$])s(?:>>=|/=|%=|>=|<=|>|<)
      | <<= | >>= | \+= | -= | \*= | /= | \|= | &= | %= | \^= | == | != | >= | <=
      | [><=&+\-*()\[\],:])
  | (?P<number>[0-9][A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_.$][A-Za-z0-9_.$]* | %[A-Za-z0-9_]+)
    """,
    re.VERBOSE,
)
_KINDS = MappingProxyType(
    {"punct": TokenKind.PUNCT, "number": TokenKind.NUMBER, "ident": TokenKind.IDENT}
)
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[0-9]+")
_COMMENT = re.compile(r"#|//|;")


def strip_comment(text: str) -> str:
    """``text`` without its comment (``#``, ``//`` or ``;`` to the end of the line)."""
    match = _COMMENT.search(text)
    return text if match is None else text[: match.start()]


def tokenize(text: str, line: int, source: str | None = None) -> list[Token]:
    """Tokenise one line (comment already removed); ends with an END token.

    ``source`` is the whole line as written, quoted by errors (default: ``text``).
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise AssembleError(
                f"unexpected character '{text[pos]}'",
                line=line,
                column=pos + 1,
                text=text if source is None else source,
            )
        kind = match.lastgroup or "space"
        if kind != "space":
            tokens.append(Token(_KINDS[kind], match.group(), pos + 1))
        pos = match.end()
    tokens.append(Token(TokenKind.END, "", len(text.rstrip()) + 1))
    return tokens


class TokenStream:
    """A cursor over the tokens of one line; every error names the line and a column."""

    def __init__(self, tokens: list[Token], line: int, text: str) -> None:
        self._tokens = tokens
        self._index = 0
        self.line = line
        self.text = text

    # -- looking -----------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        index = min(self._index + ahead, len(self._tokens) - 1)
        return self._tokens[index]

    def at_end(self) -> bool:
        return self.peek().kind is TokenKind.END

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind is not TokenKind.END and token.text == text

    # -- consuming ---------------------------------------------------------------------------
    def next(self) -> Token:
        token = self.peek()
        if token.kind is not TokenKind.END:
            self._index += 1
        return token

    def accept(self, text: str) -> bool:
        if self.at(text):
            self._index += 1
            return True
        return False

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token.kind is TokenKind.END or token.text != text:
            self.fail(f"expected '{text}', got {token.describe()}", token)
        return self.next()

    def expect_ident(self, what: str) -> Token:
        token = self.peek()
        if token.kind is not TokenKind.IDENT:
            self.fail(f"expected {what}, got {token.describe()}", token)
        return self.next()

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind is not TokenKind.END:
            self.fail(f"unexpected {token.describe()} after the instruction", token)

    # -- numbers -----------------------------------------------------------------------------
    def signed_number(self, what: str = "a number") -> tuple[int, Token]:
        """An optionally signed number; returns the value and its first token."""
        first = self.peek()
        sign = 1
        if self.accept("-"):
            sign = -1
        else:
            self.accept("+")
        token = self.peek()
        if token.kind is not TokenKind.NUMBER:
            self.fail(f"expected {what}, got {token.describe()}", token)
        self.next()
        return sign * parse_number(token, self), first

    # -- errors ------------------------------------------------------------------------------
    def fail(self, message: str, token: Token | None = None) -> NoReturn:
        column = (token or self.peek()).column
        raise AssembleError(message, line=self.line, column=column, text=self.text)


def parse_number(token: Token, stream: TokenStream) -> int:
    """The value of a NUMBER token: decimal, ``0x`` hex, ``0b`` binary or ``0o`` octal."""
    if not _NUMBER.fullmatch(token.text):
        stream.fail(f"invalid number '{token.text}'", token)
    text = token.text
    if len(text) > 1 and text[0] == "0" and text[1] in "xXbBoO":
        return int(text, 0)
    return int(text, 10)
