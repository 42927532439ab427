"""Inputs for the fuzzer: mutations of the seed corpus and random CUE built
from a small grammar, each a pure function of (seed, index) so that any input
of a run can be made again from its number.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SEED_DIRS = [HERE / "seeds", HERE.parent / "corpus" / "compile"]
EXAMPLE_DEFINITION = HERE.parent.parent / "cuepy" / "examples" / "simple" / "module_definition.cue"

# Tokens that steer mutations towards interesting CUE. Builtins that take
# time in proportion to an argument (list.Repeat, list.Range, strings.Repeat)
# are left out: a hostile input of that kind is for cuepy.limits, not a bug.
TOKENS = [
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ":",
    "::",
    ",",
    "\n",
    "&",
    "|",
    "*",
    "...",
    "#",
    "_",
    "_|_",
    "?",
    "!",
    "=",
    "==",
    "!=",
    "=~",
    "!~",
    "<",
    ">=",
    "+",
    "-",
    "/",
    "div",
    "mod",
    "quo",
    "rem",
    "\\(",
    '"',
    "'",
    '"""',
    '#"',
    "import",
    "package",
    "for",
    "in",
    "if",
    "let",
    "close(",
    "or(",
    "and(",
    "len(",
    "error(",
    "true",
    "null",
    "int",
    "float",
    "string",
    "bytes",
    "number",
    "bool",
    "top",
    "0",
    "1",
    "-1",
    "1.5",
    "1e400",
    "1e-400",
    "0x7f",
    "0b101",
    "0o17",
    "1_000",
    "1Ki",
    "123456789012345678901234567890",
    "9" * 50,
    "@attr(x)",
    "@tag(t)",
    "@embed(file=x)",
    "//",
    "\\u0000",
    "\\ud800",
    "\\xff",
    "\x00",
    "\xff",
    "é",
    "\u2028",
    "a",
    "b",
    "x",
    "#D",
    "_h",
    '"a-b"',
    "a.b",
    "x[0]",
    "x[1:]",
    "strings.ToUpper",
    "list.Sum",
    "math.Pow",
    "json.Marshal",
    "yaml.Unmarshal",
    "base64.Encode",
    "regexp.Find",
    "\\\\",
    "\t",
    " ",
    "\r\n",
]
IMPORTS = ['import "strings"', 'import "list"', 'import "math"', 'import "encoding/json"',
           'import "encoding/yaml"', 'import "encoding/base64"', 'import "regexp"', 'import "struct"']  # fmt: skip


def load_seeds() -> list[bytes]:
    seeds: list[bytes] = []
    for d in SEED_DIRS:
        for p in sorted(d.glob("*")):
            if p.is_file() and p.suffix in (".cue", ".json", ".yaml"):
                seeds.append(p.read_bytes())
    return seeds


@dataclass(frozen=True)
class Input:
    target: str  # compile, load-cue, load-json, load-yaml, encode, flatten, cache
    data: Any  # bytes, or Python data for encode

    def describe(self) -> str:
        return f"{self.target} {self.data!r}"


class Generator:
    """Input number ``index`` of the run with ``seed`` (at most ``max_size`` bytes)."""

    def __init__(self, seed: int = 0, max_size: int = 256, targets: list[str] | None = None) -> None:
        self.seed, self.max_size = seed, max_size
        self.seeds = [s[: max_size * 4] for s in load_seeds()]
        self.example = EXAMPLE_DEFINITION.read_bytes() if EXAMPLE_DEFINITION.exists() else b""
        weights = {"compile": 40, "load-cue": 12, "load-json": 6, "load-yaml": 6, "encode": 20,
                   "flatten": 1, "cache": 5}  # fmt: skip
        if targets:
            weights = {t: w for t, w in weights.items() if t in targets}
        self.targets, self.weights = list(weights), list(weights.values())

    def __call__(self, index: int) -> Input:
        rng = random.Random(self.seed * 1_000_003 + index)
        target = rng.choices(self.targets, self.weights)[0]
        if target == "encode":
            return Input(target, python_data(rng, 4))
        if target == "flatten":
            rounds = rng.choice([0, 1, 1, 2])
            return Input(target, mutate(rng, self.example, self.seeds, len(self.example), rounds))
        if target == "cache":
            return Input(target, cache_entry(rng, self))
        if target in ("load-json", "load-yaml"):
            base = [s for s in self.seeds if (s.lstrip()[:1] in (b"{", b"[")) == (target == "load-json")] or self.seeds
            return Input(target, mutate(rng, rng.choice(base), self.seeds, self.max_size, rng.randrange(4)))
        maker: Callable[[random.Random], bytes] = rng.choice([
            lambda r: mutate(r, r.choice(self.seeds), self.seeds, self.max_size, r.randrange(1, 6)),
            lambda r: grammar(r, self.max_size),
            lambda r: mutate(r, grammar(r, self.max_size), self.seeds, self.max_size, r.randrange(1, 3)),
        ])  # fmt: skip
        return Input(target, maker(rng))


def mutate(rng: random.Random, data: bytes, seeds: list[bytes], max_size: int, rounds: int) -> bytes:
    b = bytearray(data)
    for _ in range(rounds):
        op = rng.randrange(8)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:  # flip a byte
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op == 1:  # insert a token
            b[pos:pos] = rng.choice(TOKENS).encode("utf-8", "surrogatepass")
        elif op == 2 and b:  # delete a range
            b[pos : pos + rng.randrange(1, 16)] = b""
        elif op == 3 and b:  # duplicate a range
            end = min(len(b), pos + rng.randrange(1, 32))
            b[pos:pos] = b[pos:end]
        elif op == 4:  # splice in part of another seed
            other = rng.choice(seeds)
            start = rng.randrange(len(other) + 1)
            b[pos:pos] = other[start : start + rng.randrange(1, 64)]
        elif op == 5:  # an import at the top
            b[0:0] = (rng.choice(IMPORTS) + "\n").encode()
        elif op == 6 and b:  # swap a digit run for an extreme number
            b[pos:pos] = rng.choice(
                [b"0", b"-0", b"1e308", b"1e-324", b"9" * 40, b"4.9e-324", b"1.7976931348623157e309"]
            )
        else:  # truncate
            del b[pos:]
    return bytes(b[: max_size * 4] if len(data) > max_size else b[:max_size])


# A small grammar of CUE: well-formed most of the time, so that inputs get past the parser.


def grammar(rng: random.Random, max_size: int) -> bytes:
    lines = [rng.choice(IMPORTS)] if rng.random() < 0.3 else []
    for _ in range(rng.randrange(1, 6)):
        lines.append(f"{label(rng)}: {expr(rng, 3)}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")[:max_size]


def label(rng: random.Random) -> str:
    return rng.choice(["a", "b", "c", "x", "#D", "#E", "_h", '"k-1"', "l", "s", "a?", "b!", "[string]", '[=~"^x"]'])


def expr(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.3:
        return atom(rng)
    k = rng.randrange(11)
    if k == 0:
        return "{" + ", ".join(f"{label(rng)}: {expr(rng, depth - 1)}" for _ in range(rng.randrange(4))) + "}"
    if k == 1:
        return (
            "["
            + ", ".join(expr(rng, depth - 1) for _ in range(rng.randrange(4)))
            + rng.choice(["", ", ...", ", ...int"])
            + "]"
        )
    if k == 2:
        op = rng.choice(["&", "|", "+", "-", "*", "/", "==", "<", "=~", "!="])
        return f"{expr(rng, depth - 1)} {op} {expr(rng, depth - 1)}"
    if k == 3:
        return f"*{expr(rng, depth - 1)} | {expr(rng, depth - 1)}"
    if k == 4:
        return f"[for k, v in {expr(rng, depth - 1)} {{v}}]"
    if k == 5:
        return f"{{ if {expr(rng, depth - 1)} {{ {label(rng)}: {expr(rng, depth - 1)} }} }}"
    if k == 6:
        return rng.choice(["a", "b", "x", "#D", "_h", "a.b", "x[0]", "l[1:]", "#D.a"])
    if k == 7:
        return f"close({{ {label(rng)}: {expr(rng, depth - 1)} }})"
    if k == 8:
        fn = rng.choice(
            ["strings.ToUpper", "len", "strings.Join", "list.Sum", "math.Floor", "json.Marshal", "or", "and"]
        )
        return f"{fn}({expr(rng, depth - 1)})"
    if k == 9:
        return f'"pre-\\({expr(rng, depth - 1)})-post"'
    return f"{{ {label(rng)}: {expr(rng, depth - 1)}, {label(rng)}: {expr(rng, depth - 1)} }} & {expr(rng, depth - 1)}"


def atom(rng: random.Random) -> str:
    if rng.random() < 0.6:  # concrete data, so that more inputs get through to extraction
        return rng.choice(["1", "2", "-5", "0.5", "1e3", '"s"', '"é"', "true", "null", "[1, 2]", "{}", "'b'",
                           "123456789012345678901234567890", "{k: 1}", '"\\(1 + 1)"'])  # fmt: skip
    return rng.choice([
        "1", "-5", "0.5", "1e400", "1e-400", "123456789012345678901234567890", "int", "float", "string", "bytes",
        "bool", "null", "true", "_", "_|_", ">0", "<=10", "!=3", '=~"^a"', '"str"', "'\\xff\\x00'", '"é\\u00e9"',
        '"\\ud800"', "[...]", "{...}", "number", "a", "x",
    ])  # fmt: skip


# Python data for encode ------------------------------------------------------------


def python_data(rng: random.Random, depth: int) -> Any:
    k = rng.randrange(12 if depth > 0 else 8)
    if k == 0:
        return None
    if k == 1:
        return rng.random() < 0.5
    if k == 2:
        return rng.choice([0, 1, -1, 2**53, -(2**63), 2**64, 10**40, rng.randrange(-1000, 1000), 7**6000])
    if k == 3:
        return rng.choice([0.0, -0.0, 0.1, 1e308, 5e-324, 2.5, -1e-7, float(rng.randrange(100)) / 7])
    if k == 4:
        alphabet = string.printable + "é\u2028\x00\U0001f600\ud800\"\\'"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if k == 5:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
    if k == 6:
        return rng.choice(["", "\x00bytes", "#def", "_hidden", "a.b", "\\(x)", '"', "x: 1", "import"])
    if k == 7:
        return rng.choice([float("nan"), float("inf"), object(), {1, 2}, (1, "a"), bytearray(b"ab")])
    if k in (8, 9):
        keys: list[Any] = [
            rng.choice(["a", "b", "\x00bytes", "#D", "_h", "a-b", "", "é", "\ud800", "1", "k" * 3]) for _ in range(3)
        ]
        keys += [rng.choice([1, True, None, 2.5])] if rng.random() < 0.2 else []
        return {k: python_data(rng, depth - 1) for k in keys[: rng.randrange(4)]}
    return [python_data(rng, depth - 1) for _ in range(rng.randrange(4))]


# Cache entries ---------------------------------------------------------------------


def cache_entry(rng: random.Random, gen: Generator) -> bytes:
    from targets import CACHE_STORE, valid_cache_entry

    if CACHE_STORE is None:
        return b""
    payload = rng.choice(gen.seeds)[:200].decode("utf-8", "replace")
    entry = valid_cache_entry(payload)
    if rng.random() < 0.2:
        return entry  # sound: must be read back
    return mutate(rng, entry, gen.seeds, gen.max_size * 2, rng.randrange(1, 4))
