"""The example outputs in docs/closed-form-and-functions.md, regenerated or checked.

Each example is a code block preceded by ``<!-- example: ARGS[; FILTER] -->``: the block must be
exactly what ``gdtrace ARGS --format text`` prints, cut by FILTER (``from: REGEX`` — from the
first matching line to the end; ``paragraph: REGEX`` — from it to the next blank line;
``last: N`` — the last N lines). Run ``python tests/doc_examples.py`` to rewrite the blocks.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from gdtrace.cli import app

DOC = Path(__file__).resolve().parent.parent / "docs" / "closed-form-and-functions.md"
EXAMPLE = re.compile(r"<!-- example: (?P<args>[^;>]+?)(?:; (?P<filter>[^>]+?))? -->\n```\n"
                     r"(?P<body>.*?)```", re.S)


def output(args: str, how: str | None) -> str:
    result = CliRunner().invoke(app, [*shlex.split(args), "--format", "text"])
    lines = [line.rstrip() for line in result.stdout.rstrip("\n").split("\n")]
    if how:
        kind, _, pattern = how.partition(": ")
        if kind == "last":
            lines = lines[-int(pattern):]
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
    text = DOC.read_text(encoding="utf-8")
    def block(m: re.Match[str]) -> str:
        how = f"; {m['filter']}" if m["filter"] else ""
        return f"<!-- example: {m['args']}{how} -->\n```\n{output(m['args'], m['filter'])}```"

    text = EXAMPLE.sub(block, text)
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    rewrite()
