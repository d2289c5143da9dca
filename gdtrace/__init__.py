"""gdtrace: worked, step-by-step solutions of gradient-descent problems.

Library use (docs/library.md): ``gdtrace.solve("logreg")`` returns a trace,
``gdtrace.render(trace, "latex")`` a string, ``gdtrace.save(trace, "answer.md")`` a file,
``gdtrace.check("logreg", "answers.yaml")`` the report of a student's numbers.
These are loaded on first use so ``import gdtrace`` (and the CLI's ``--help``) stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("solve", "comparison", "render", "save", "load")  # not "compare": a submodule
__all__ = ["__version__", "check", *_API]


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
