"""gdtrace: worked, step-by-step solutions of gradient-descent problems.

Library use (docs/library.md): ``gdtrace.solve("logreg")`` returns a trace,
``gdtrace.render(trace, "latex")`` a string, ``gdtrace.save(trace, "answer.md")`` a file,
``gdtrace.check("logreg", "answers.yaml")`` the report of a student's numbers.
These are loaded on first use so ``import gdtrace`` (and the CLI's ``--help``) stays light;
type checkers see their real signatures through the imports below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gdtrace.api import comparison, load, render, save, solve
    from gdtrace.check import check

__version__ = "0.1.0"

__all__ = ["__version__", "check", "comparison", "load", "render", "save", "solve"]
_API = ("solve", "comparison", "render", "save", "load")  # not "compare": a submodule


def __getattr__(name: str) -> Any:
    if name == "render":  # the subpackage, callable as render(trace, fmt, **options)
        import gdtrace.render

        return gdtrace.render
    if name == "check":  # the subpackage, callable as check(problem, answers, **options)
        import gdtrace.check

        return gdtrace.check
    if name in _API:
        from gdtrace import api

        return getattr(api, name)
    raise AttributeError(f"module 'gdtrace' has no attribute {name!r}")


def __dir__() -> list[str]:
    """What ``dir(gdtrace)`` and completion show: the loaded names and the lazy ones."""
    return sorted(set(globals()) | set(__all__))
