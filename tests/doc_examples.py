"""The example outputs in README.md and docs/*.md, regenerated or checked.

Each example is a code block preceded by ``<!-- example: ARGS[; FILTER] -->``: the block must be
exactly what ``gdtrace ARGS`` prints (``--format text`` added for solve and compare; run
from the repository root; a failing command fails the check, except exit 1 of ``derive``,
a wrong claim), cut by FILTER
(``from: REGEX`` — from the first matching line to the end; ``paragraph: REGEX`` — from it to
the next blank line; ``last: N``/``first: N`` — the last/first N lines; ``exit: N`` — the
command exits with N, e.g. ``check`` with 1 when a number is wrong; several filters are
joined by ``; ``).
``tests/test_docs.py`` checks every block;
run ``python tests/doc_examples.py`` to rewrite them after an intended change of the output.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from gdtrace.cli import app

FORMATTED = {"solve", "compare"}  # commands with --format: examples show their plain text
ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE = re.compile(r"<!-- example: (?P<args>[^;>]+?)(?:; (?P<filter>[^>]+?))? -->\n```\n"
                     r"(?P<body>.*?)```", re.S)


@contextmanager
def at_root() -> Iterator[None]:
    """Examples name files as a user in a checkout would (problems/logreg.yaml)."""
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def output(args: str, how: str | None) -> str:
    words = shlex.split(args)
    if words[0] in FORMATTED and "--format" not in words:
        words += ["--format", "text"]
    filters = how.split("; ") if how else []
    expected = 0
    for item in [f for f in filters if f.startswith("exit: ")]:
        expected = int(item.removeprefix("exit: "))
        filters.remove(item)
    with at_root():
        result = CliRunner().invoke(app, words, env={"COLUMNS": None})  # piped, width unset
    allowed = {expected, 1} if words[0] == "derive" else {expected}  # derive: 1 = claim wrong
    if result.exit_code not in allowed:
        raise AssertionError(f"gdtrace {args} failed ({result.exit_code}): {result.output}")
    lines = [line.rstrip() for line in result.stdout.rstrip("\n").split("\n")]
    for how in filters:
        kind, _, pattern = how.partition(": ")
        if kind == "last":
            lines = lines[-int(pattern):]
        elif kind == "first":
            lines = lines[:int(pattern)]
        else:
            start = next(i for i, line in enumerate(lines) if re.search(pattern, line))
            lines = lines[start:]
            if kind == "paragraph":
                end = next((i for i, line in enumerate(lines) if not line), len(lines))
                lines = lines[:end]
    return "\n".join(lines) + "\n"


def examples(text: str) -> list[tuple[str, str | None, str]]:
    return [(m["args"], m["filter"], m["body"]) for m in EXAMPLE.finditer(text)]


def rewrite() -> None:
    def block(m: re.Match[str]) -> str:
        how = f"; {m['filter']}" if m["filter"] else ""
        return f"<!-- example: {m['args']}{how} -->\n```\n{output(m['args'], m['filter'])}```"

    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        path.write_text(EXAMPLE.sub(block, text), encoding="utf-8")


if __name__ == "__main__":
    rewrite()
