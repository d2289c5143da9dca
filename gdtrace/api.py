"""Library use: solve a problem, render or save the trace, show it in Jupyter.

``import gdtrace`` stays light: ``gdtrace.solve`` and friends are loaded from here on first use.

>>> import gdtrace
>>> trace = gdtrace.solve("logreg", epochs=1)
>>> round(trace.runs[0].final["w1"], 10)
-0.5564398639
>>> gdtrace.render(trace, "latex").startswith("% gdtrace")
True
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from gdtrace.errors import UsageError
from gdtrace.output import check_target as check_target  # the library's names for -o rules
from gdtrace.output import format_from_extension
from gdtrace.output import write_atomic as write_atomic
from gdtrace.trace import Trace

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions
    from rich.text import Text

    from gdtrace.problem.model import Problem

PathLike = Union[str, "os.PathLike[str]"]

# File extension → output format, for --output and :func:`save`.
EXTENSIONS: dict[str, str] = {
    ".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
    ".tex": "latex", ".json": "json", ".csv": "csv", ".svg": "svg", ".html": "html",
    ".htm": "html",
}
# Friendlier spellings accepted by :func:`solve` for the CLI's option names.
ALIASES = {"lr": "learning_rate", "l2": "lam", "lambda": "lam", "lambda_": "lam",
           "carry": "carry_decimals"}


ProblemLike = Union[PathLike, "Problem", None]
"""What the functions below accept as a problem: a path, a bundled name, None (logreg) or a
loaded :class:`~gdtrace.problem.model.Problem`."""


def _load(problem: ProblemLike, formula_only: bool = False,
          max_rows: int | None = None) -> Problem:
    """A path, a bundled problem's name, ``None`` (logreg) or an already loaded Problem; a
    bundled one is named ``problems/NAME.yaml``, as in the repository, rather than by its
    install path. ``formula_only``: a network that leaves out its numbers (``--symbolic``);
    ``max_rows``: a CSV data set is read no further (see :func:`load_to_solve`)."""
    from gdtrace.problem import load_problem, resolve_problem
    from gdtrace.problem.model import Problem

    if isinstance(problem, Problem):
        return problem
    name = None if problem is None else os.fspath(problem)
    if name is not None:
        _refuse_special_file(name)
    path = resolve_problem(name)
    shown = name if name is not None and Path(name).exists() else f"problems/{path.name}"
    return load_problem(path, display_name=shown, formula_only=formula_only, max_rows=max_rows)


def _refuse_special_file(name: str) -> None:
    """A folder or a device given as the problem is named as such, not looked up by name."""
    if Path(name).is_dir():
        raise UsageError(f"{name} is a directory; give a problem file or a bundled name")
    if Path(name).exists() and not Path(name).is_file():
        raise UsageError(f"{name} is not a regular file (a device, FIFO or socket); give a "
                         "problem file or a bundled name")


def _override_names() -> list[str]:
    from gdtrace.problem import apply_overrides

    return [name for name, parameter in inspect.signature(apply_overrides).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY]


def _overrides(values: dict[str, Any]) -> dict[str, Any]:
    known = _override_names()
    out: dict[str, Any] = {}
    for name, value in values.items():
        key = ALIASES.get(name, name)
        if key not in known:
            raise UsageError(f"unknown setting '{name}' (choose from "
                             f"{', '.join(sorted(set(known) | set(ALIASES)))})")
        out[key] = value
    return out


def load(problem: ProblemLike = None, *, formula_only: bool = False,
         **overrides: Any) -> Problem:
    """Load and check a problem, with settings overridden as on the command line (None
    keeps the file's value). ``formula_only``: see ``--symbolic``."""
    from gdtrace.problem import apply_overrides

    return apply_overrides(_load(problem, formula_only), **_overrides(overrides))


def load_to_solve(problem: ProblemLike = None, *, formula_only: bool = False,
                  worked: bool = True) -> Problem:
    """:func:`load` for a run. ``worked``: the run is a worked solution without
    ``max_steps``, which no data set of more than ``WORKED_MAX_ROWS`` rows can have, so a CSV
    is read only that far and such a data set refused at once (not after reading 200 MB)."""
    from gdtrace.problem.model import Problem
    from gdtrace.solvers import asks_formulas
    from gdtrace.solvers.streaming import TRACE_LIMIT, WORKED_ADVICE, WORKED_MAX_ROWS

    if not worked or isinstance(problem, Problem):
        return _load(problem, formula_only)
    loaded = _load(problem, formula_only, max_rows=WORKED_MAX_ROWS)
    if loaded.dataset is None or loaded.dataset.unread is None:
        return loaded
    if asks_formulas(loaded):  # formulas only: no steps, so the whole data set is fine
        return _load(problem, formula_only)
    rows = loaded.dataset.n + loaded.dataset.unread
    raise UsageError(
        f"this run would write more than {TRACE_LIMIT} numbers, too many for a worked solution"
        f" (the data set has about {rows} rows, more than {WORKED_MAX_ROWS}: even one epoch is"
        f" too long to work through); {WORKED_ADVICE}")


def solve(problem: ProblemLike = None, *, max_steps: int | None = None,
          **overrides: Any) -> Trace:
    """Solve a problem file or bundled problem; keyword arguments override its settings
    (``epochs``, ``learning_rate``/``lr``, ``lam``/``l2``, ``update``, ``batch_size``,
    ``carry_decimals``/``carry``, …) and are checked by the same rules as the file.
    ``max_steps`` stops the run after that many steps, as ``--max-steps``; a run too long to
    work through (millions of steps, or a data set of a million rows) is refused, as by
    ``gdtrace solve``, unless ``max_steps`` caps it."""
    return solved(load(load_to_solve(problem, worked=max_steps is None), **overrides), max_steps)


def solved(problem: Problem, max_steps: int | None = None, symbolic: bool = False) -> Trace:
    """A loaded problem's whole trace, after the guard on enormous work (``max_steps`` caps
    it; ``symbolic``: a network's formulas, which need no steps). ``gdtrace solve`` and
    :func:`solve` both come here."""
    from gdtrace.solvers import RunOptions
    from gdtrace.solvers import solve as solve_problem
    from gdtrace.solvers.streaming import capped, check_work

    if not symbolic:  # formulas: no steps to run
        check_work(problem, streaming=False, max_steps=max_steps)
    problem, note = capped(problem, max_steps)
    trace = solve_problem(problem, options=RunOptions(symbolic=symbolic, max_steps=max_steps))
    if note is not None:
        trace.warnings.append(note)
    return trace


def comparison(problem: ProblemLike = None, *, l2: Iterable[float] | float | None = None,
               lr: Iterable[float] | float | None = None,
               update: Iterable[str] | str | None = None,
               optimizer: Iterable[str] | str | None = None, batch_size: int | None = None,
               methods: Iterable[str] | str | None = None, **overrides: Any) -> Trace:
    """The problem as written and with the other settings given, as ``gdtrace compare``:
    one run per combination of ``l2``, ``lr`` and ``update`` values, each once per
    ``optimizer``; ``batch_size`` for the minibatch runs. ``methods`` (``ols``, ``pinv``,
    ``ridge``, ``gd``; may be empty: the ridge path of the ``l2`` values) fits a regression
    problem each way instead."""
    from gdtrace.solvers import compare

    if methods is not None:
        given = {name: value for name, value in overrides.items() if value is not None}
        epochs = given.pop("epochs", None)
        if given or _listed(update) or _listed(optimizer):
            raise UsageError("--methods and closed-form problems compare with --l2, --lr "
                             "and --epochs only")
        return compare.compare_methods(_load(problem), _listed(methods), _listed(l2),
                                       _listed(lr), epochs)
    plan = compare.ComparisonPlan(lam=_listed(l2), learning_rate=_listed(lr),
                                  update=_listed(update), optimizer=_listed(optimizer),
                                  batch_size=batch_size)
    return compare.compare(compare.configurations_for(load(problem, **overrides), plan))


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [value]
    return list(value)


def render(trace: Trace, fmt: str = "text", **options: Any) -> str:
    """The trace in a format (text, terminal, markdown, latex, json, csv, html, svg) as a
    string. Options: ``decimals``, ``steps``, ``full``, ``standalone``, ``width``, ``color``."""
    from gdtrace.render import options_from
    from gdtrace.render import render as render_trace

    return render_trace(trace, fmt, options_from(**options))


def format_for_path(path: PathLike, requested: str | None = None) -> str:
    """The format asked for, else the one the file's extension names; ``terminal`` is
    written as ``text`` (a file never holds colour codes)."""
    if requested:
        return "text" if requested == "terminal" else requested
    return format_from_extension(path, EXTENSIONS, "format",
                                 f"{', '.join(sorted(set(EXTENSIONS)))} or give --format")


def save(trace: Trace, path: PathLike, fmt: str | None = None, **options: Any) -> Path:
    """Render the trace into a file (format from the extension unless given), atomically."""
    return write_atomic(path, render(trace, format_for_path(path, fmt), **options))


# --------------------------------------------------------------------------------- display


# A trace is plain data (gdtrace.trace imports no renderer); the library gives it its views
# here, when it is loaded, which every public function (gdtrace.solve …) does first.


def trace_html(trace: Trace) -> str:
    """Jupyter's view of a trace: the terminal tables, coloured, as a ``<pre>`` block."""
    from gdtrace.render import RenderOptions
    from gdtrace.render.terminal_html import html_fragment

    return html_fragment(trace, RenderOptions(width=160))


def trace_renderable(trace: Trace) -> TraceView:
    """What ``rich.print(trace)`` shows: the coloured terminal view at the console's width."""
    return TraceView(trace)


class TraceView:
    """A trace for rich: its terminal view, drawn at the width rich offers."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        from rich.text import Text

        yield Text.from_ansi(render(self.trace, "terminal", width=options.max_width))


for _name, _view in (("_repr_html_", trace_html), ("__rich__", trace_renderable)):
    setattr(Trace, _name, _view)  # Jupyter's and rich's display protocols
