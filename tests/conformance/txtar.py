"""Run the conformance scripts (testdata/*.txtar) through the `cue` command and through cuepy.

A script is a txtar archive: its comment holds one `cue ...` command a line
(`#` lines are notes), its files are the inputs. Each command runs in a
directory holding the files, through `cue` (stdout, stderr, exit code) and
through the cuepy calls docs/cue-command.md maps it to.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cuepy

TESTDATA = Path(__file__).parent / "testdata"


@dataclass(frozen=True)
class Script:
    name: str
    commands: tuple[str, ...]
    files: dict[str, str]


@dataclass(frozen=True)
class Result:
    stdout: str
    stderr: str
    code: int


def parse(path: Path) -> Script:
    text = path.read_text()
    parts = re.split(r"^-- (.+?) --\n", text, flags=re.M)
    comment, rest = parts[0], parts[1:]
    files = {rest[i]: rest[i + 1] for i in range(0, len(rest), 2)}
    commands = tuple(line.strip() for line in comment.splitlines() if line.strip().startswith("cue "))
    return Script(path.stem, commands, files)


def scripts() -> list[Script]:
    return [parse(p) for p in sorted(TESTDATA.glob("*.txtar"))]


def write(script: Script, directory: Path) -> None:
    for name, content in script.files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


def render(errors: tuple[cuepy.ErrorDetail, ...]) -> str:
    """CueError.errors printed as the cue command prints errors (cue/errors.Print)."""
    out = []
    for e in errors:
        label = ".".join(e.path)
        line = f"{label}: {e.message}" if label else e.message
        if e.positions:
            out.append(line + ":\n" + "".join(f"    {p}\n" for p in e.positions))
        else:
            out.append(line + "\n")
    return "".join(out)


def _args(command: str) -> tuple[str, dict[str, Any], list[str]]:
    words = shlex.split(command)[1:]
    verb, flags, files = words[0], dict[str, Any](), []
    it = iter(words[1:])
    for word in it:
        if word in ("--out", "-e"):
            flags[word] = next(it)
        elif word == "-t":
            flags.setdefault("-t", []).append(next(it))
        elif word.startswith("-"):
            flags[word] = True
        else:
            files.append(word)
    return verb, flags, files


def run_cuepy(command: str, directory: Path) -> Result:
    """`command` done with cuepy in `directory`; errors as str(e), and as e.errors rendered."""
    verb, flags, files = _args(command)
    try:
        return _run(verb, flags, files, directory)
    except cuepy.CueError as exc:
        text = str(exc).replace(f"{directory}/", "./") + "\n"
        listed = render(exc.errors).replace(f"{directory}/", "./")
        if listed != text:  # CueError.errors must say what str(e) says, in the same order
            text += "!! CueError.errors differ from str(e):\n" + listed
        return Result("", text, 1)


def _load_options(flags: dict[str, Any]) -> dict[str, Any]:
    return {"tags": flags.get("-t"), "tag_vars": "-T" in flags}


def _build(directory: Path, files: list[str], flags: dict[str, Any]) -> cuepy.Value:
    options = _load_options(flags)
    if len(files) == 1 and files[0].endswith(".cue") and not any(options.values()):
        source = (directory / files[0]).read_text()
        return cuepy.compile(source, filename=f"./{files[0]}")
    return cuepy.load(directory, files=files, **options)


def _run(verb: str, flags: dict[str, Any], files: list[str], directory: Path) -> Result:
    if verb == "vet":
        concrete = True if flags.get("-c") else False if flags.get("-c=false") else None
        cuepy.vet(directory, files=files, concrete=concrete, **_load_options(flags))  # errors: as cue prints them
        return Result("", "", 0)
    v = _build(directory, files, flags)
    if "-e" in flags:
        v = v.evaluate(flags["-e"])  # cue's own file name for the expression: --expression
    if verb == "export":
        out = flags.get("--out", "json")
        if out == "json":
            return Result(v.export("json", indent=4), "", 0)
        if out == "yaml":
            return Result(v.export("yaml"), "", 0)
        return Result(v.export("cue", final=True, concrete=True, docs=True, attributes=False,
                               definitions=False, hidden=False, optional=False), "", 0)  # fmt: skip
    if verb == "eval":
        if "-c" in flags:
            v.validate(concrete=True)
        text = v.export("cue", final=True, definitions=True, hidden="-H" in flags, optional="-a" in flags,
                        docs=False, attributes="-A" in flags, concrete="-c" in flags, indent=4)  # fmt: skip
        return Result(text, "", 0)
    if verb == "def":
        return Result(v.export("cue"), "", 0)
    raise ValueError(f"no cuepy mapping for cue {verb}")
