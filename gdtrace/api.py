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
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Union

from gdtrace.errors import UsageError
from gdtrace.output import check_target, write_atomic  # noqa: F401 (the library's names)
from gdtrace.trace import Trace

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


def _load(problem: Any) -> Any:
    """A path, a bundled problem's name, ``None`` (logreg) or an already loaded Problem."""
    from gdtrace.problem import load_problem, resolve_problem
    from gdtrace.problem.model import Problem

    if isinstance(problem, Problem):
        return problem
    name = None if problem is None else os.fspath(problem)
    path = resolve_problem(name)
    shown = name if name is not None and Path(name).exists() else f"problems/{path.name}"
    return load_problem(path, display_name=shown)


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


def load(problem: Any = None, **overrides: Any) -> Any:
    """Load and check a problem, with settings overridden as on the command line."""
    from gdtrace.problem import apply_overrides

    return apply_overrides(_load(problem), **_overrides(overrides))


def solve(problem: Any = None, **overrides: Any) -> Trace:
    """Solve a problem file or bundled problem; keyword arguments override its settings
    (``epochs``, ``learning_rate``/``lr``, ``lam``/``l2``, ``update``, ``batch_size``,
    ``carry_decimals``/``carry``, …) and are checked by the same rules as the file."""
    from gdtrace.solvers import solve as solve_problem

    return solve_problem(load(problem, **overrides))


def comparison(problem: Any = None, *, l2: Iterable[float] | float | None = None,
            lr: Iterable[float] | float | None = None,
            update: Iterable[str] | str | None = None, **overrides: Any) -> Trace:
    """The problem as written and with the other settings given, as ``gdtrace compare``."""
    from gdtrace.compare import compare as compare_runs
    from gdtrace.compare import configurations
    from gdtrace.problem import apply_overrides

    base = load(problem, **overrides)
    variations: dict[str, list[object]] = {"lam": _listed(l2), "learning_rate": _listed(lr),
                                           "update": _listed(update)}
    if not any(variations.values()):
        raise UsageError("say what to compare: l2=, lr= or update=")
    for name, values in variations.items():  # each value checked by the file's own rules
        for value in values:
            apply_overrides(base, **{name: value})  # type: ignore[arg-type]
    configs = configurations(base, variations)
    if len(configs) < 2:
        raise UsageError("nothing to compare: every value given equals the problem's own")
    return compare_runs(configs)


def _listed(value: Any) -> list[object]:
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [value]
    return list(value)


def options_from(**options: Any) -> Any:
    """Keyword arguments → RenderOptions, naming a wrong one instead of a TypeError."""
    from dataclasses import fields

    from gdtrace.render import RenderOptions

    known = {f.name for f in fields(RenderOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown render option '{unknown[0]}' (choose from "
                         f"{', '.join(sorted(known))})")
    return RenderOptions(**options)


def render(trace: Trace, fmt: str = "text", **options: Any) -> str:
    """The trace in a format (text, terminal, markdown, latex, json, csv, html, svg) as a
    string. Options: ``decimals``, ``steps``, ``full``, ``standalone``, ``width``, ``color``."""
    from gdtrace.render import render as render_trace

    return render_trace(trace, fmt, options_from(**options))


def format_for_path(path: PathLike, requested: str | None = None) -> str:
    """The format asked for, else the one the file's extension names."""
    if requested:
        return requested
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        shown = suffix or "no extension"
        raise UsageError(f"cannot tell the format from '{os.fspath(path)}' ({shown}); use "
                         f"{', '.join(sorted(set(EXTENSIONS)))} or give --format")
    return EXTENSIONS[suffix]


def save(trace: Trace, path: PathLike, fmt: str | None = None, **options: Any) -> Path:
    """Render the trace into a file (format from the extension unless given), atomically."""
    chosen = format_for_path(path, fmt)
    if chosen == "terminal":
        chosen = "text"
    return write_atomic(path, render(trace, chosen, **options))


# --------------------------------------------------------------------------------- display


def trace_html(trace: Trace) -> str:
    """Jupyter's view of a trace: the terminal tables, coloured, as a ``<pre>`` block."""
    from gdtrace.render.terminal_html import html_fragment

    return html_fragment(trace, options_from(width=160))


def trace_renderable(trace: Trace) -> Any:
    """What ``rich.print(trace)`` shows: the coloured terminal view at the console's width."""
    return _TraceView(trace)


class _TraceView:
    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        yield Text.from_ansi(render(self.trace, "terminal", width=options.max_width))
