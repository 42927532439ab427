"""The source rewrite: blueprint embeddings out, composed mixins in.

Works on the text of the module files, guided by what evaluation says each
component attaches (docs/catalog.md, "Flattening a component"). Everything
not rewritten is copied byte for byte, so expressions such as
``#values.frontend.image`` stay expressions.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cuepy.errors import ErrorDetail, Position
from cuepy.flatten._catalog import Blueprint, FlattenError, Mixin
from cuepy.flatten._lexer import Kind, Source
from cuepy.flatten._syntax import Decl, Expr, Import, Label, Parser, Ref, Span, Struct, conjuncts, default_alias

_IDENT = re.compile(r"^[A-Za-z$][A-Za-z0-9_$]*$")


@dataclass(frozen=True, slots=True)
class Edit:
    start: int
    end: int
    text: str


@dataclass(slots=True)
class Field:
    """A field of a component: its labels below the component and its value."""

    labels: list[Label]
    value: Expr


@dataclass(slots=True)
class Part:
    """What one file says about one component: embedded references and fields."""

    unit: Unit
    refs: list[Ref] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    structs: list[Struct] = field(default_factory=list)


class Unit:
    """One source file being rewritten."""

    def __init__(self, text: str, filename: str, relname: str) -> None:
        self.relname = relname
        self.src = Source(text, filename)
        self.parser = Parser(self.src)
        self.tree = self.parser.file()
        self.edits: list[Edit] = []
        self.consumed: set[int] = set()
        """Tokens the rewrite removes or replaces."""
        self.import_decls = [d for d in self.tree.decls if d.kind == "import"]
        self.imports = [spec for d in self.import_decls for spec in self.parser.imports(d)]
        self.by_alias = {spec.alias: spec for spec in self.imports}
        self.added: dict[str, str] = {}
        """Imports the rewrite adds: package path to alias."""
        self.used: set[str] = set()
        """Aliases the inserted text refers to."""
        self._candidates = self._reference_candidates()

    # Edits ----------------------------------------------------------------------

    def replace(self, span: Span, text: str) -> None:
        toks = self.src.tokens
        self.edits.append(Edit(toks[span.first].start, toks[span.stop - 1].end, text))
        self.consumed.update(range(span.first, span.stop))

    def delete_label(self, label: Label) -> None:
        """Drop ``key:`` (and the blank after it) so its value takes the label's place."""
        toks = self.src.tokens
        self.edits.append(Edit(toks[label.first].start, toks[label.colon + 1].start, ""))
        self.consumed.update(range(label.first, label.colon + 1))

    def splice(self, decl: Decl, struct: Struct) -> None:
        """Replace ``key: {F}`` by ``F``, one indentation level up."""
        toks, text = self.src.tokens, self.src.text
        open_, close = struct.span.first, struct.span.stop - 1
        inner = text[toks[open_].end : toks[close].start]
        start = toks[decl.span.first].start
        indent = self.src.line_indent(start)
        lines = inner.strip("\n").rstrip(" \t").split("\n")
        if len(lines) > 1 and all(not ln.strip() or ln.startswith(indent + "\t") for ln in lines):
            inner = "\n".join(ln[1:] for ln in lines).strip()  # one tab less
        else:
            inner = inner.strip()
        self.edits.append(Edit(start, toks[close].end, inner))
        self.consumed.update([*range(decl.span.first, open_ + 1), close])

    def apply(self, text: str | None = None) -> str:
        out, pos = [], 0
        source = self.src.text if text is None else text
        for edit in sorted(self.edits, key=lambda e: (e.start, e.end)):
            if edit.start < pos:
                raise FlattenError(f"{self.src.position(edit.start)}: overlapping rewrites (flattener bug)")
            out += [source[pos : edit.start], edit.text]
            pos = edit.end
        out.append(source[pos:])
        return "".join(out)

    # Imports --------------------------------------------------------------------

    def alias_for(self, package: str, taken: set[str]) -> str:
        """The alias under which this file refers to ``package``, importing it if needed."""
        for spec in self.imports:
            if same_package(spec.path, package):
                self.used.add(spec.alias)
                return spec.alias
        if package not in self.added:
            alias, n = default_alias(package), 1
            base = alias
            while alias in taken or alias in self.by_alias or alias in self.added.values():
                alias, n = f"{base}{n}", n + 1
            self.added[package] = alias
        self.used.add(self.added[package])
        return self.added[package]

    def import_of(self, ref: Ref) -> Import | None:
        return self.by_alias.get(ref.names[0]) if len(ref.names) == 2 else None

    def references(self) -> list[int]:
        """Indices of identifier tokens that refer to something, outside the rewritten spans."""
        return [i for i in self._candidates if i not in self.consumed]

    def _reference_candidates(self) -> list[int]:
        """Identifier tokens that are neither labels, aliases nor selectors, outside package and imports."""
        toks, skip = self.src.tokens, set[int]()
        for decl in self.tree.decls:
            if decl.kind in ("import", "package"):
                skip.update(range(decl.span.first, decl.span.stop))
        out = []
        for i, tok in enumerate(toks):
            if tok.kind is not Kind.IDENT or i in skip or (i > 0 and _punct(toks[i - 1], ".")):
                continue
            nxt = toks[i + 1].text if i + 1 < len(toks) and toks[i + 1].kind is Kind.PUNCT else ""
            after = toks[i + 2].text if i + 2 < len(toks) and toks[i + 2].kind is Kind.PUNCT else ""
            if nxt == ":" or (nxt == "=" and tok.text != "let") or (nxt in ("?", "!") and after == ":"):
                continue  # a label or an alias
            out.append(i)
        return out

    def import_block(self) -> list[str]:
        used = self.used | {self.src.tokens[i].text for i in self.references()}
        kept = [spec.text for spec in self.imports if spec.alias in used]
        added = [f'{alias} "{path}"' for path, alias in self.added.items()]
        return kept + added

    def position(self, token: int) -> Position:
        return self.src.position(self.src.tokens[token].start)


def same_package(import_path: str, package: str) -> bool:
    """An import path names ``package`` (an apiVersion); the major version may be left out."""
    path = import_path.partition(":")[0]
    return path == package or path == package.partition("@")[0]


def _punct(tok: object, text: str) -> bool:
    return getattr(tok, "kind", None) is Kind.PUNCT and getattr(tok, "text", None) == text


# Finding modules and components -----------------------------------------------


def module_structs(unit: Unit) -> list[Struct]:
    """The file and the struct literals it embeds at top level: where module fields are."""
    structs = [unit.tree]
    for decl in unit.tree.decls:
        if decl.kind == "embedding" and decl.value is not None:
            structs += [c for c in conjuncts(decl.value) if isinstance(c, Struct)]
    return structs


def module_refs(unit: Unit) -> list[Ref]:
    refs: list[Ref] = []
    for decl in unit.tree.decls:
        if decl.kind == "embedding" and decl.value is not None:
            refs += [c for c in conjuncts(decl.value) if isinstance(c, Ref)]
    return refs


def find_components(units: Iterable[Unit], root: str = "#components") -> dict[str, list[Part]]:
    """For each component id, what each file writes about it (any spelling of the path)."""
    found: dict[str, list[Part]] = {}
    for unit in units:
        for struct in module_structs(unit):
            _walk(unit, struct.decls, [], root, found)
    return found


def _walk(unit: Unit, decls: list[Decl], path: list[str], root: str, found: dict[str, list[Part]]) -> None:
    for decl in decls:
        if decl.kind != "field" or decl.value is None:
            continue
        names = [label.name for label in decl.labels]
        if None in names:
            continue  # dynamic or pattern label: left as written, checked afterwards
        full = path + [n for n in names if n is not None]
        if full[0] != root:
            continue
        if len(full) == 1:
            for c in conjuncts(decl.value):
                if isinstance(c, Struct):
                    _walk(unit, c.decls, full, root, found)
            continue
        part = Part(unit)
        found.setdefault(full[1], []).append(part)
        below = decl.labels[2 - len(path) :]
        if below:
            part.fields.append(Field(below, decl.value))
            continue
        for c in conjuncts(decl.value):
            if isinstance(c, Ref):
                part.refs.append(c)
            else:
                part.structs.append(c)
                part.fields += [Field(d.labels, d.value) for d in c.decls if d.kind == "field" and d.value]


# Rewriting a component ----------------------------------------------------------


Resolver = Callable[[Unit, Ref], Blueprint | None]


@dataclass
class Component:
    """A component as written in the source, in one or more parts."""

    id: str
    parts: list[Part]
    taken: set[str]
    """Identifiers an added import alias must not shadow."""
    resolve: Resolver
    """The blueprint a reference is the mixin of, if any."""
    stripped: set[str] = field(default_factory=set)

    def flatten(self) -> None:
        expanded = self._expand_embeddings()
        children = {bp.spec_key: bp for bp in expanded.values()}
        for part in self.parts:
            for f in part.fields:
                if f.labels[0].name == "spec":
                    self._strip(part.unit, f.labels[1:], f.value, children)

    def _expand_embeddings(self) -> dict[str, Blueprint]:
        """Replace each blueprint mixin reference by the mixins it stands for."""
        expanded: dict[str, Blueprint] = {}
        seen: set[str] = set()
        for part in self.parts:
            for ref in part.refs:
                bp = self.resolve(part.unit, ref)
                if bp is None:
                    continue
                expanded[bp.fqn] = bp
                mixins = [m for m in bp.expansion() if m.fqn not in seen]
                seen.update(m.fqn for m in mixins)
                part.unit.replace(ref.span, self._expansion_text(part.unit, ref, mixins, bp.all_labels()))
        return expanded

    def _expansion_text(self, unit: Unit, ref: Ref, mixins: list[Mixin], labels: dict[str, str]) -> str:
        items = [f"{unit.alias_for(m.package, self.taken)}.{m.name}" for m in mixins]
        label_field = labels_field(labels)
        start = unit.src.tokens[ref.span.first].start
        if not ref.whole_decl:  # an operand of `&`: stay an expression
            return " & ".join(items + ([f"{{{label_field}}}"] if label_field else []))
        items += [label_field] if label_field else []
        if unit.src.first_on_line(start):
            return ("\n" + unit.src.line_indent(start)).join(items)
        return ", ".join(items)

    def _strip(self, unit: Unit, labels: list[Label], value: Expr, children: dict[str, Blueprint]) -> None:
        """Turn ``<key>: {F}`` into ``{F}`` for the blueprint spec keys under ``spec``."""
        if not children:
            return
        if labels:
            bp = children.get(labels[0].name or "")
            if bp is not None:
                self._delete_key(unit, labels[0], bp)
                self._strip(unit, labels[1:], value, {c.spec_key: c for c in bp.children})
            return
        if value.operands is None or any(isinstance(o, Span | Ref) for o in value.operands):
            raise self._error(
                f"component {self.id!r}: {unit.src.position(unit.src.tokens[value.span.first].start)}: "
                "a spec holding blueprint fields must be written as a struct literal for the flattener"
            )
        for c in conjuncts(value):
            if isinstance(c, Struct):
                for d in c.decls:
                    if d.kind == "field" and d.value is not None:
                        self._strip_field(unit, d, children)

    def _strip_field(self, unit: Unit, decl: Decl, children: dict[str, Blueprint]) -> None:
        """Inside a spec struct: splice ``<key>: {F}`` as ``F`` when it is that simple."""
        assert decl.value is not None
        bp = children.get(decl.labels[0].name or "")
        operands = decl.value.operands or []
        if bp is None or len(decl.labels) > 1 or len(operands) != 1 or not isinstance(operands[0], Struct):
            self._strip(unit, decl.labels, decl.value, children)
            return
        if not decl.labels[0].plain:
            self._delete_key(unit, decl.labels[0], bp)  # raises
        unit.splice(decl, operands[0])
        self.stripped.add(bp.spec_key)
        self._strip(unit, [], decl.value, {c.spec_key: c for c in bp.children})

    def _delete_key(self, unit: Unit, label: Label, bp: Blueprint) -> None:
        if not label.plain:
            raise self._error(f"component {self.id!r}: {unit.position(label.first)}: blueprint field "
                              f"{bp.spec_key!r} must be a plain field to be flattened")  # fmt: skip
        unit.delete_label(label)
        self.stripped.add(bp.spec_key)

    def check_references(self) -> None:
        """A reference to a removed blueprint key (``statelessWorkload.x``) would dangle.

        Run once every component is rewritten (references exclude what was rewritten).
        """
        for part in self.parts:
            toks, refs = part.unit.src.tokens, part.unit.references()
            for struct in part.structs:
                for i in refs[bisect_left(refs, struct.span.first) : bisect_left(refs, struct.span.stop)]:
                    if toks[i].text in self.stripped:
                        where, key = part.unit.position(i), toks[i].text
                        raise self._error(f"component {self.id!r}: {where}: refers to blueprint field {key!r}, "
                                          "which the flattened module no longer has")  # fmt: skip

    def _error(self, message: str) -> FlattenError:
        positions = tuple(p.unit.position(s.span.first) for p in self.parts for s in p.structs)
        return FlattenError(message, (ErrorDetail(message, ("#components", self.id), positions),))


def labels_field(labels: dict[str, str]) -> str:
    """``metadata: labels: ...`` giving ``labels``, or "" for none."""
    if not labels:
        return ""
    items = [f"{_label(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in labels.items()]
    body = items[0] if len(items) == 1 else "{" + ", ".join(items) + "}"
    return f"metadata: labels: {body}"


def _label(key: str) -> str:
    if _IDENT.match(key):
        return key
    return json.dumps(key, ensure_ascii=False)


def check_spec_selectors(units: Iterable[Unit], stripped: set[str]) -> None:
    """``x.spec.<blueprint key>`` anywhere in the module would dangle once the key is gone."""
    for unit in units:
        toks = unit.src.tokens
        for i in range(len(toks) - 2):
            if toks[i].text == "spec" and _punct(toks[i + 1], ".") and toks[i + 2].text in stripped:
                raise FlattenError(f"{unit.position(i)}: refers to blueprint field spec.{toks[i + 2].text}, "
                                   "which the flattened module no longer has")  # fmt: skip
