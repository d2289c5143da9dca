"""Renderers: one printer per output format, all reading the same trace.

``render(trace, fmt, options)`` returns the whole output as a string. Each format lives in its
own module, imported only when used, and registers here by name, so a new format is one module
plus one line in :data:`FORMATS`.
"""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from gdtrace.errors import UsageError
from gdtrace.trace import Trace


@dataclass(frozen=True)
class RenderOptions:
    decimals: int | None = None  # display rounding only; None: carry decimals, else 4
    steps: bool = False  # full worked lines instead of tables
    color: bool = False  # ANSI styles (terminal only)
    width: int | None = None  # console width; None: wide enough for the tables
    full: bool = False  # compare: also print each run's epochs
    standalone: bool = False  # latex: a whole document rather than a fragment


FORMATS: dict[str, str] = {
    "text": "gdtrace.render.console",
    "terminal": "gdtrace.render.console",
    "json": "gdtrace.render.json_format",
    "markdown": "gdtrace.render.markdown",
    "latex": "gdtrace.render.latex",
    "csv": "gdtrace.render.csv_format",
    "html": "gdtrace.render.html",
    "terminal-html": "gdtrace.render.terminal_html",
    "svg": "gdtrace.render.svg",
}


def render(trace: Trace, fmt: str = "text", options: RenderOptions | None = None) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}' (choose from {', '.join(sorted(FORMATS))})")
    options = options or RenderOptions()
    if fmt == "terminal" and not options.color:
        options = replace(options, color=True)
    module = importlib.import_module(FORMATS[fmt])
    text: str = module.render(trace, options)
    return text


def options_from(**options: Any) -> RenderOptions:
    """Keyword arguments → RenderOptions, naming a wrong one instead of a TypeError."""
    known = {f.name for f in fields(RenderOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(f"unknown render option '{unknown[0]}' (choose from "
                         f"{', '.join(sorted(known))})")
    return RenderOptions(**options)


DEFAULT_DECIMALS = 4


def display_decimals(trace: Trace, options: RenderOptions) -> int:
    """Digits to show: as asked, else the carry-rounding digits (every value has exactly
    those), else 4."""
    if options.decimals is not None:
        return options.decimals
    return trace.decimals_hint if trace.decimals_hint is not None else DEFAULT_DECIMALS


class _CallableModule(types.ModuleType):
    """``gdtrace.render(trace, "latex", steps=True)`` is the library call (docs/library.md),
    but importing this package makes ``gdtrace.render`` this module: so the module itself
    can be called, with the library's keyword options."""

    def __call__(self, trace: Trace, fmt: str = "text", options: RenderOptions | None = None,
                 **keywords: Any) -> str:
        if options is not None:  # the module function's signature: render(trace, fmt, options)
            keywords = {**asdict(options), **keywords}
        return render(trace, fmt, options_from(**keywords))


sys.modules[__name__].__class__ = _CallableModule
