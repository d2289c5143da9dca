"""The plain-text sink writes exactly what rich would: it exists only to skip rich's cost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdtrace.problem import load_problem
from gdtrace.render import RenderOptions
from gdtrace.render.console import ConsoleWriter
from gdtrace.render.plain import PlainSink, RichSink, plain_console, plain_table
from gdtrace.solvers import solve
from gdtrace.solvers.compare import compare, configurations

PROBLEMS = sorted((Path(__file__).resolve().parent.parent / "problems").glob("*.yaml"))
# cell text: digits and signs, Greek, subscripts, combining marks, wide (CJK) characters, and
# characters rich transforms (tab, newline, control codes) that must go through rich itself
CHARS = st.sampled_from(list("0123456789.-−  abzσηλ∂ŷ₁₂ⁱ") + ["y\u0302", "表", "\t", "\n",
                                                               "\x07", "\x1b", "\u200b"])
TEXT = st.lists(CHARS, max_size=8).map("".join)


def through_rich(writer: ConsoleWriter) -> str:
    """The same writer drawing with rich, as every plain output was drawn before."""
    writer.sink = RichSink(plain_console(writer.sink.width))
    return writer.write()


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
@pytest.mark.parametrize("steps", [False, True])
@pytest.mark.parametrize("width", [None, 40, 90])
def test_every_problem_as_rich_writes_it(path: Path, steps: bool, width: int | None) -> None:
    trace = solve(load_problem(path))
    options = RenderOptions(steps=steps, width=width, decimals=None if width else 6)
    plain = ConsoleWriter(trace, options)
    assert isinstance(plain.sink, PlainSink)
    assert plain.write() == through_rich(ConsoleWriter(trace, options))


def test_comparison_as_rich_writes_it() -> None:
    problem = load_problem(PROBLEMS[0].parent / "logreg.yaml")
    trace = compare(configurations(problem, {"lam": [0.0, 0.5], "learning_rate": [0.1]}))
    options = RenderOptions(full=True, width=70)
    assert ConsoleWriter(trace, options).write() == through_rich(ConsoleWriter(trace, options))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5).flatmap(lambda columns: st.tuples(
    st.lists(TEXT, min_size=columns, max_size=columns),
    st.lists(st.lists(TEXT, min_size=columns, max_size=columns), max_size=4))),
    st.integers(5, 60), st.one_of(st.none(), TEXT))
def test_any_table_and_line_as_rich(table: tuple[list[str], list[list[str]]], width: int,
                                    title: str | None) -> None:
    headings, rows = table
    plain, rich = PlainSink(width), RichSink(plain_console(width))
    for sink in (plain, rich):
        sink.line(" ".join(headings))
        sink.table(headings, rows, title=title)
        sink.line()
    assert plain.getvalue() == rich.getvalue()


def test_plain_table_layout() -> None:
    """Right-justified, 3 spaces between columns, a rule under the heading: the documented
    look (the check above would pass if both sinks changed together)."""
    assert plain_table(["step", "ŷ"], [["1", "0.25"], ["12", "-1"]], 80) == (
        "step      ŷ\n"
        "───────────\n"
        "   1   0.25\n"
        "  12     -1\n")
    assert plain_table(["a", "b"], [["1", "2"]], 4) is None  # too wide: rich shrinks it


def test_text_format_does_not_import_rich_console() -> None:
    code = ("import sys\nfrom gdtrace.cli import main\n"
            "sys.argv = ['gdtrace', 'solve', 'logreg', '--format', 'text']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(' '.join(m for m in ('rich.console', 'rich.table')"
            " if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.startswith("Logistic regression by SGD")
    assert result.stderr == ""
