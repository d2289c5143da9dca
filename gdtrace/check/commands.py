"""What ``gdtrace sheet`` and ``gdtrace check`` do, as functions: the CLI only parses options
and calls these (and so can a script or a notebook).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gdtrace.check.report import CheckOptions
from gdtrace.errors import UsageError
from gdtrace.trace import Trace

REPORT_EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                     ".html": "html", ".htm": "html", ".json": "json", ".csv": "csv"}
POINT_SECTIONS = ("values", "grad", "params", "loss", "final")


@dataclass
class Outcome:
    """What a check command writes and how it exits (0: nothing wrong, 1: something wrong)."""

    text: str
    exit_code: int


def solved(problem: str | None, overrides: dict[str, Any],
           compare: dict[str, str | None] | None = None) -> tuple[Trace, Path]:
    """The problem solved with the options given (None values keep the file's), and its file;
    with ``compare`` (``{"l2": "0.5,1"}``), the runs of ``gdtrace compare`` instead."""
    from gdtrace.api import comparison, solve
    from gdtrace.problem import resolve_problem

    path = resolve_problem(problem)
    chosen = {k: v for k, v in overrides.items() if v is not None}
    varied = {name: _values(name, text) for name, text in (compare or {}).items() if text}
    if varied:
        return comparison(problem, l2=varied.get("l2"), lr=varied.get("lr"), **chosen), path
    return solve(problem, **chosen), path


def _values(name: str, text: str) -> list[float]:
    """``--compare-l2 0.5,1`` → [0.5, 1.0]."""
    values = []
    for part in text.split(","):
        try:
            values.append(float(part))
        except ValueError:
            raise UsageError(f"--compare-{name}: '{part.strip()}' is not a number") from None
    return values


def refuse_inputs(output: str | None, inputs: Sequence[str | os.PathLike[str]]) -> None:
    """``-o`` must not name the problem file or an answers file (nor a folder)."""
    if output is None:
        return
    from gdtrace.api import check_target

    problem, *answers = inputs
    check_target(output, [problem])
    for other in answers:
        try:
            same = Path(output).exists() and os.path.samefile(output, other)
        except OSError:
            same = False
        if same:
            raise UsageError(f"refusing to overwrite the answers file {os.fspath(other)} with "
                             "the report; choose another --output name")


# ------------------------------------------------------------------------------------ sheet


def make_sheet(problem: str | None, fmt: str | None = None, *, output: str | None = None,
               keys: str | None = None, steps: str | None = None, run: str | None = None,
               compare: dict[str, str | None] | None = None, **overrides: Any) -> str:
    """The blank answer sheet of a problem as text (YAML, CSV or Markdown)."""
    from gdtrace.check.cells import pick_run
    from gdtrace.check.sheet import format_for, parse_selection, sheet

    chosen = format_for(output, fmt)
    trace, path = solved(problem, overrides, compare)
    refuse_inputs(output, [path])
    try:
        picked = pick_run(trace, run)
    except KeyError:
        labels = ", ".join(repr(r.label) for r in trace.runs)
        raise UsageError(f"--run: the problem has no run {run!r} (its runs: {labels})") from None
    if not any(epoch.steps for epoch in picked.epochs):
        raise UsageError(f"{trace.problem.source}: a {trace.problem.model} problem has no steps "
                         "to write answers for (its solution is not iterative)")
    selection = parse_selection(picked, keys, steps)
    return sheet(trace, chosen, run=picked, selection=selection,
                 problem_ref=_problem_ref(problem, path, output), answers_name=output)


def _problem_ref(problem: str | None, path: Path, output: str | None) -> str:
    """``problem:`` of a sheet: the file relative to where the sheet is written, or the
    bundled problem's name."""
    if problem is None or not Path(problem).is_file():
        return path.name
    folder = os.path.dirname(os.path.abspath(output)) if output else os.getcwd()
    return Path(os.path.relpath(os.path.abspath(path), folder)).as_posix()


# ------------------------------------------------------------------------------------ check


def parse_points(text: str | None) -> dict[str, float]:
    """``values=1,grad=2`` → points per number of each section."""
    from gdtrace.problem.schema import suggest

    points: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals:
            raise UsageError(f"--points: write section=points, e.g. grad=2 (got '{part.strip()}')")
        if name not in POINT_SECTIONS:
            raise UsageError(f"--points: unknown section '{name}'"
                             f"{suggest(name, POINT_SECTIONS)} (sections: "
                             f"{', '.join(POINT_SECTIONS)})")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--points: {name}: '{value.strip()}' is not a number") from None
        if not number >= 0 or number == float("inf"):
            raise UsageError(f"--points: {name}: must be a number of at least 0, got {value}")
        points[name] = number
    return points


def check_options(ecf: bool = True, rounding_credit: float | None = None,
                  points: str | None = None) -> CheckOptions:
    """The scoring options of ``--no-ecf``, ``--rounding-credit X`` and ``--points …``."""
    credit = 1.0 if rounding_credit is None else float(rounding_credit)
    if not 0 <= credit <= 1:
        raise UsageError(f"--rounding-credit: must be between 0 and 1, got {rounding_credit}")
    return CheckOptions(ecf=ecf, rounding_credit=credit, points=parse_points(points))


def report_format(output: str | None, requested: str | None, terminal: bool = False) -> str:
    """The format asked for, else the one of ``-o FILE``'s extension, else text/terminal."""
    from gdtrace.check.formats import REPORT_FORMATS
    from gdtrace.output import format_from_extension

    if requested:
        if requested not in REPORT_FORMATS:
            raise UsageError(f"unknown check format '{requested}' (choose from "
                             f"{', '.join(REPORT_FORMATS)})")
        return requested
    if output is None:
        return "terminal" if terminal else "text"
    return format_from_extension(output, REPORT_EXTENSIONS, "format", ".txt, .md, .json or "
                                 ".csv, or give --format (e.g. --format gradescope)")


def run_check(problem: str | None, answers: Sequence[str], fmt: str = "text", *,
              options: CheckOptions | None = None, run: str | None = None,
              output: str | None = None, compare: dict[str, str | None] | None = None,
              **overrides: Any) -> Outcome:
    """Check one answers file (its report) or several (each report, then the class
    summary; ``csv``: the gradebook). Exit code 1 when any number is wrong."""
    from gdtrace.check import ClassReport, check_class, grader_for, read_answers
    from gdtrace.check.formats import headings_of, render_class, render_report

    if not answers:
        raise UsageError("give at least one answers file")
    if fmt == "gradescope" and len(answers) > 1:
        raise UsageError("--format gradescope writes the results.json of one submission: give "
                         "one answers file")
    trace, path = solved(problem, overrides, compare)
    refuse_inputs(output, [path, *answers])
    if run is None:  # each file's own run: label, else the first run
        result = check_class(trace, answers, options=options)
    else:  # --run wins over the files' run: labels
        grader = grader_for(trace, run)
        result = ClassReport(trace.problem, [grader.grade(read_answers(a, grader), options)
                                             for a in answers])
    headings = headings_of(grader_for(trace, result.reports[0].run).cells)
    if len(answers) == 1:
        text = render_report(result.reports[0], fmt, headings)
    else:
        text = render_class(result, fmt, headings)
    wrong = any(report.wrong for report in result.reports)
    return Outcome(text, 1 if wrong else 0)
