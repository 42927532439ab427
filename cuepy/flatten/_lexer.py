"""A CUE tokenizer, just precise enough to find declarations and their spans.

The flattener rewrites source text instead of evaluating it (evaluation would
turn ``#values.x`` references into values). It needs token boundaries, the
newlines that end declarations and matching brackets; it does not need the
meaning of expressions, so operators are lexed coarsely.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from enum import Enum

from cuepy.errors import CueSyntaxError, ErrorDetail, Position


class Kind(Enum):
    IDENT = "ident"
    STRING = "string"
    NUMBER = "number"
    ATTR = "attribute"
    BOTTOM = "bottom"
    PUNCT = "punct"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    start: int
    end: int
    nl: bool
    """A newline separates this token from the previous one."""


_MASTER = re.compile(
    r"""
    (?P<space>[ \t\r\ufeff]+)
    | (?P<nl>\n)
    | (?P<comment>//[^\n]*)
    | (?P<string>\#*["'])
    | (?P<attr>@)
    | (?P<bottom>_\|_)
    | (?P<ident>(?:_?\#)?(?:[^\W\d]|\$)(?:\w|\$)*)
    | (?P<number>0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
        |(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?(?:[KMGTP]i?)?)
    | (?P<punct>\.\.\.|=~|!~|==|!=|<=|>=|&&|\|\||[{}\[\]()<>,:=!?&|*+\-/.;])
    """,
    re.VERBOSE,
)
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(_OPEN.values())
# Tokens after which a newline ends the declaration (CUE's automatic comma).
_COMMA_AFTER = frozenset({Kind.IDENT, Kind.STRING, Kind.NUMBER, Kind.ATTR, Kind.BOTTOM})
_COMMA_AFTER_PUNCT = frozenset({")", "]", "}", "..."})


class Source:
    """The tokens of one CUE file, with matching brackets and line lookup."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.tokens: list[Token] = []
        _Scanner(self).run(0, inside_interpolation=False)
        self.match = self._match_brackets()

    def position(self, offset: int) -> Position:
        line = bisect_right(self._line_starts, offset)
        return Position(self.filename, line, offset - self._line_starts[line - 1] + 1)

    def line_indent(self, offset: int) -> str:
        """The whitespace that starts the line holding ``offset``."""
        start = self._line_starts[bisect_right(self._line_starts, offset) - 1]
        line = self.text[start:offset]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def first_on_line(self, offset: int) -> bool:
        start = self._line_starts[bisect_right(self._line_starts, offset) - 1]
        return not self.text[start:offset].strip()

    def ends_declaration(self, index: int) -> bool:
        """Whether a newline after token ``index`` would end its declaration."""
        tok = self.tokens[index]
        return tok.kind in _COMMA_AFTER or (tok.kind is Kind.PUNCT and tok.text in _COMMA_AFTER_PUNCT)

    def error(self, offset: int, message: str) -> CueSyntaxError:
        pos = self.position(offset)
        return CueSyntaxError(f"{pos}: {message}", (ErrorDetail(message, (), (pos,)),))

    def _match_brackets(self) -> dict[int, int]:
        match: dict[int, int] = {}
        stack: list[int] = []
        for i, tok in enumerate(self.tokens):
            if tok.kind is not Kind.PUNCT:
                continue
            if tok.text in _OPEN:
                stack.append(i)
            elif tok.text in _CLOSE:
                if not stack or _OPEN[self.tokens[stack[-1]].text] != tok.text:
                    raise self.error(tok.start, f"unexpected {tok.text!r}")
                match[stack.pop()] = i
        if stack:
            raise self.error(self.tokens[stack[-1]].start, "unclosed bracket")
        return match


class _Scanner:
    """Fills ``source.tokens``; strings (with interpolations) are single tokens."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.text = source.text

    def run(self, pos: int, *, inside_interpolation: bool) -> int:
        """Scan from ``pos``; inside an interpolation, stop after its closing parenthesis."""
        depth, nl = 0, False
        while pos < len(self.text):
            m = _MASTER.match(self.text, pos)
            if m is None:
                raise self.source.error(pos, f"unexpected character {self.text[pos]!r}")
            group, end = m.lastgroup, m.end()
            if group == "nl":
                nl = True
            elif group == "string":
                end = self._string(pos)
            elif group == "attr":
                end = self._attribute(pos)
            if group not in ("space", "nl", "comment"):
                text = self.text[pos:end]
                if inside_interpolation:
                    depth += text in _OPEN
                    depth -= text in _CLOSE
                    if depth < 0:
                        return end
                else:
                    self.source.tokens.append(Token(_KINDS[group or ""], text, pos, end, nl))
                nl = False
            pos = end
        if inside_interpolation:
            raise self.source.error(pos, "unterminated string interpolation")
        return pos

    def _string(self, pos: int) -> int:
        hashes = len(self.text) - len(self.text[pos:].lstrip("#")) - pos
        quote = self.text[pos + hashes]
        triple = self.text.startswith(quote * 3, pos + hashes)
        close = (quote * 3 if triple else quote) + "#" * hashes
        escape = "\\" + "#" * hashes
        finder = re.compile(re.escape(escape) + "|" + re.escape(close) + ("" if triple else "|\n"))
        i = pos + hashes + (3 if triple else 1)
        while True:
            m = finder.search(self.text, i)
            if m is None or m.group() == "\n":
                raise self.source.error(pos, "unterminated string")
            if m.group() == close:
                return m.end()
            after = m.end()
            interpolation = self.text.startswith("(", after)
            i = self.run(after + 1, inside_interpolation=True) if interpolation else after + 1

    def _attribute(self, pos: int) -> int:
        m = re.compile(r"@(?:\w|\$|#)+\(").match(self.text, pos)
        if m is None:
            raise self.source.error(pos, "malformed attribute")
        depth, i = 1, m.end()
        while depth:
            if i >= len(self.text):
                raise self.source.error(pos, "unterminated attribute")
            ch = self.text[i]
            if ch in "\"'":
                i = self._string(i)
                continue
            depth += (ch == "(") - (ch == ")")
            i += 1
        return i


_KINDS = {
    "string": Kind.STRING,
    "attr": Kind.ATTR,
    "bottom": Kind.BOTTOM,
    "ident": Kind.IDENT,
    "number": Kind.NUMBER,
    "punct": Kind.PUNCT,
}
