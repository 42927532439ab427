"""A shallow CUE syntax tree over the tokens: files, structs, declarations.

Only what the flattener rewrites is structured: declarations (fields with
their label chains, embeddings), struct literals, `&` conjunctions of
struct literals and references (``pkg.#Name``), package and imports.
Every other expression stays an opaque token range and is copied verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from cuepy.flatten._lexer import Kind, Source, Token


@dataclass(frozen=True, slots=True)
class Span:
    """Tokens ``[first, stop)`` of a source."""

    first: int
    stop: int


@dataclass(slots=True)
class Label:
    name: str | None
    """The field name; None for dynamic ``(x):`` and pattern ``[x]:`` labels."""
    first: int
    """First token of the label."""
    colon: int
    """Its ``:`` token."""
    plain: bool
    """Neither optional (``?``) nor required (``!``) nor aliased."""


@dataclass(slots=True)
class Ref:
    """A reference ``ident.sel.sel``."""

    span: Span
    names: tuple[str, ...]
    whole_decl: bool = False
    """The reference is a declaration of its own (an embedding), not part of a conjunction."""


@dataclass(slots=True)
class Expr:
    span: Span
    operands: list[Struct | Ref | Span] | None
    """The `&` operands (struct literal, reference or opaque); None if not a plain conjunction."""


@dataclass(slots=True)
class Decl:
    span: Span
    kind: str
    """field, embedding, import, package or other (let, comprehension, attribute, ...)."""
    labels: list[Label] = field(default_factory=list)
    value: Expr | None = None


@dataclass(slots=True)
class Struct:
    span: Span
    """From ``{`` to ``}`` inclusive (a file: all its tokens)."""
    decls: list[Decl]


@dataclass(frozen=True, slots=True)
class Import:
    alias: str
    path: str
    explicit: bool
    """The alias is written out, not implied by the path."""
    text: str


class Parser:
    """Parses a :class:`Source` into a :class:`Struct` of top-level declarations."""

    def __init__(self, source: Source) -> None:
        self.src = source
        self.toks = source.tokens

    def file(self) -> Struct:
        return Struct(Span(0, len(self.toks)), self._decls(0, len(self.toks)))

    # Declarations -------------------------------------------------------------

    def _decls(self, first: int, stop: int) -> list[Decl]:
        decls, i = [], first
        while i < stop:
            if self._is(i, ","):
                i += 1
                continue
            end = self._decl_end(i, stop)
            decls.append(self._decl(i, end))
            i = end
        return decls

    def _decl_end(self, i: int, stop: int) -> int:
        """Where the declaration starting at token ``i`` ends (exclusive)."""
        k = i
        while k < stop:
            tok = self.toks[k]
            if k > i and tok.nl and self.src.ends_declaration(k - 1):
                return k
            if tok.kind is Kind.PUNCT and tok.text == ",":
                return k
            k = self.src.match[k] + 1 if k in self.src.match else k + 1
        return stop

    def _decl(self, i: int, stop: int) -> Decl:
        span, first = Span(i, stop), self.toks[i]
        if first.kind is Kind.IDENT and not self._is(i + 1, ":"):
            if first.text == "package":
                return Decl(span, "package")
            if first.text == "import":
                return Decl(span, "import")
            if first.text in ("let", "for", "if"):
                return Decl(span, "other")
        if first.kind is Kind.ATTR or (first.kind is Kind.PUNCT and first.text == "..."):
            return Decl(span, "other")
        labels, k = self._labels(i, stop)
        if labels:
            return Decl(span, "field", labels, self._expr(k, stop))
        if self._is(i + 1, "="):
            return Decl(span, "other")  # X = expr: an alias declaration
        value = self._expr(i, stop)
        if value.operands and len(value.operands) == 1 and isinstance(value.operands[0], Ref):
            value.operands[0].whole_decl = True
        return Decl(span, "embedding", value=value)

    def _labels(self, i: int, stop: int) -> tuple[list[Label], int]:
        labels: list[Label] = []
        while i < stop:
            label = self._label(i, stop)
            if label is None:
                break
            labels.append(label)
            i = label.colon + 1
        return labels, i

    def _label(self, i: int, stop: int) -> Label | None:
        plain, first = True, i
        if self._kind(i) is Kind.IDENT and self._is(i + 1, "=") and i + 2 < stop:
            plain, i = False, i + 2  # X=label
        tok = self.toks[i]
        name: str | None = None
        if tok.kind is Kind.IDENT:
            name, i = tok.text, i + 1
        elif tok.kind is Kind.STRING:
            name, i = _string_label(tok), i + 1
        elif tok.kind is Kind.PUNCT and tok.text in "([":
            i = self.src.match[i] + 1
        else:
            return None
        if i < stop and (self._is(i, "?") or self._is(i, "!")):
            plain, i = False, i + 1
        if i < stop and self._is(i, ":"):
            return Label(name, first, i, plain)
        return None

    # Expressions --------------------------------------------------------------

    def _expr(self, i: int, stop: int) -> Expr:
        while stop > i and self.toks[stop - 1].kind is Kind.ATTR:
            stop -= 1  # field attributes: `x: 1 @go(X)`
        span = Span(i, stop)
        bounds, k = [i], i
        while k < stop:
            tok = self.toks[k]
            if tok.kind is Kind.PUNCT and tok.text == "|":
                return Expr(span, None)
            if tok.kind is Kind.PUNCT and tok.text == "&":
                bounds.append(k)
            k = self.src.match[k] + 1 if k in self.src.match else k + 1
        starts = [bounds[0]] + [b + 1 for b in bounds[1:]]
        stops = [*bounds[1:], stop]
        return Expr(span, [self._operand(a, b) for a, b in zip(starts, stops, strict=True)])

    def _operand(self, i: int, stop: int) -> Struct | Ref | Span:
        if i < stop and self._is(i, "{") and self.src.match[i] == stop - 1:
            return Struct(Span(i, stop), self._decls(i + 1, stop - 1))
        names = self.toks[i:stop:2]
        dots = self.toks[i + 1 : stop : 2]
        if (
            (stop - i) % 2 == 1
            and all(t.kind is Kind.IDENT for t in names)
            and all(t.kind is Kind.PUNCT and t.text == "." for t in dots)
        ):
            return Ref(Span(i, stop), tuple(t.text for t in names))
        return Span(i, stop)

    # Imports ------------------------------------------------------------------

    def imports(self, decl: Decl) -> list[Import]:
        i, stop = decl.span.first + 1, decl.span.stop
        if self._is(i, "("):
            i, stop = i + 1, self.src.match[i]
        specs, k = [], i
        while k < stop:
            if self._is(k, ","):
                k += 1
                continue
            alias: str | None = None
            if self._kind(k) is Kind.IDENT:
                alias, k = self.toks[k].text, k + 1
            path_tok = self.toks[k]
            if path_tok.kind is not Kind.STRING:
                raise self.src.error(path_tok.start, "malformed import")
            path = json.loads(path_tok.text)
            start = self.toks[k - 1].start if alias else path_tok.start
            text = self.src.text[start : path_tok.end]
            specs.append(Import(alias or default_alias(path), path, alias is not None, text))
            k += 1
        return specs

    # Helpers ------------------------------------------------------------------

    def _is(self, i: int, text: str) -> bool:
        return i < len(self.toks) and self.toks[i].kind is Kind.PUNCT and self.toks[i].text == text

    def _kind(self, i: int) -> Kind | None:
        return self.toks[i].kind if i < len(self.toks) else None


def default_alias(path: str) -> str:
    """The package name an import path gives when no alias is written."""
    path, _, qualifier = path.partition(":")
    if qualifier:
        return qualifier
    return path.rsplit("/", 1)[-1].split("@", 1)[0]


def _string_label(tok: Token) -> str | None:
    if tok.text.startswith('"') and not tok.text.startswith('"""') and "\\(" not in tok.text:
        try:
            value: str = json.loads(tok.text)
            return value
        except json.JSONDecodeError:
            return None
    return None


def conjuncts(expr: Expr) -> Iterator[Struct | Ref]:
    """The struct literals and references an expression unifies, embeddings included.

    ``a & {b, c: 1}`` yields ``a``, the struct literal, ``b``: what a
    component embeds, however it is spelled.
    """
    for operand in expr.operands or ():
        if isinstance(operand, Span):
            continue
        yield operand
        if isinstance(operand, Struct):
            yield from struct_conjuncts(operand)


def struct_conjuncts(struct: Struct) -> Iterator[Struct | Ref]:
    for decl in struct.decls:
        if decl.kind == "embedding" and decl.value is not None:
            yield from conjuncts(decl.value)
