"""``gdtrace check``: grade a student's worked numbers against the trace, with error carried
forward. See docs/check.md; the answers document and the report are fixed by the shared spec
answer-format.md.

>>> import gdtrace
>>> report = gdtrace.check("logreg", {"steps": [{"step": 1, "values": {"z": "1.06"}}]})
>>> [(c.address.key, c.verdict) for c in report.cells]
[('z', 'correct')]
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

from gdtrace.check.answers import Answers, AnswersError, load_answers, parse_answers
from gdtrace.check.cells import Address, Cell, cells_of, pick_run
from gdtrace.check.engine import Grader
from gdtrace.check.report import CellVerdict, CheckOptions, ClassReport, Report
from gdtrace.trace import Trace

# a key "run" anywhere (YAML or JSON); only a document that may name its run is composed
_MAY_NAME_RUN = re.compile(r"""["']?\brun["']?\s*:""")
AnswersLike = Union[str, "os.PathLike[str]", Mapping[str, Any], Answers]

__all__ = ["Address", "Answers", "AnswersError", "Cell", "CellVerdict", "CheckOptions",
           "ClassReport", "Grader", "Report", "cells_of", "check", "check_class", "grader_for",
           "read_answers"]


def grader_for(trace: Trace, run: str | None = None) -> Grader:
    """The grader of one run of a trace (the first run unless ``run`` names one)."""
    try:
        chosen = pick_run(trace, run)
    except KeyError:
        labels = ", ".join(repr(r.label) for r in trace.runs)
        hint = "; the runs of a comparison: --compare-l2/--compare-lr (library: pass " \
            "gdtrace.comparison(...))" if len(trace.runs) == 1 else ""
        raise AnswersError(f"the problem has no run {run!r} (its runs: {labels}){hint}",
                           trace.problem.source, key="run") from None
    return Grader(chosen, trace.problem)


def read_answers(answers: AnswersLike, grader: Grader, source: str | None = None) -> Answers:
    """An answers document from a path, a mapping (as YAML would read it) or as it is."""
    if isinstance(answers, Answers):
        return answers
    if isinstance(answers, Mapping):
        import json

        text = json.dumps(answers, default=str)
        return parse_answers(text, source or "<answers>", grader.cells, grader.run)
    path = Path(os.fspath(answers))
    return load_answers(path, grader.cells, grader.run, source or os.fspath(answers))


def _run_label(answers: AnswersLike) -> str | None:
    """The ``run:`` an answers document names, read before the run is chosen."""
    if isinstance(answers, Answers):
        return answers.run
    if isinstance(answers, Mapping):
        run = answers.get("run")
        return str(run) if run is not None else None
    path = Path(os.fspath(answers))
    if path.suffix.lower() == ".csv" or not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")
        if not _MAY_NAME_RUN.search(text):  # composing every file twice doubled a class's time
            return None
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        root = yaml.compose(text, Loader=loader)
    except Exception:  # the full read reports what is wrong, with the line
        return None
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if getattr(key, "value", None) == "run" and isinstance(value, yaml.ScalarNode):
                return str(value.value)
    return None


def check(problem: Any, answers: AnswersLike, *, run: str | None = None,
          options: CheckOptions | None = None, **overrides: Any) -> Report:
    """Grade one answers document against a problem (a path, a bundled name, a loaded
    Problem or an already solved Trace); keyword overrides as for :func:`gdtrace.solve`."""
    trace = problem if isinstance(problem, Trace) else _solve(problem, overrides)
    grader = grader_for(trace, run or _run_label(answers))
    return grader.grade(read_answers(answers, grader), options)


def check_class(problem: Any, answers: Iterable[AnswersLike], *,
                options: CheckOptions | None = None, **overrides: Any) -> ClassReport:
    """Grade many answers documents of one problem: each report and the class tally."""
    from gdtrace.solvers import no_cycle_collection

    trace = problem if isinstance(problem, Trace) else _solve(problem, overrides)
    graders: dict[str | None, Grader] = {}
    reports = []
    with no_cycle_collection():  # reports only grow: the collector would re-scan them
        for item in answers:
            label = _run_label(item)
            if label not in graders:
                graders[label] = grader_for(trace, label)
            grader = graders[label]
            reports.append(grader.grade(read_answers(item, grader), options))
    return ClassReport(trace.problem, reports)


def _solve(problem: Any, overrides: dict[str, Any]) -> Trace:
    from gdtrace.api import solve

    return solve(problem, **overrides)


class _CallableModule(types.ModuleType):
    """``gdtrace.check(problem, answers)`` is the library call, but importing this package
    makes ``gdtrace.check`` this module (as with ``gdtrace.render``): so the module itself
    can be called, as :func:`check`."""

    def __call__(self, problem: Any, answers: AnswersLike, **keywords: Any) -> Report:
        return check(problem, answers, **keywords)


sys.modules[__name__].__class__ = _CallableModule
