"""Modules that register models beyond logistic and linear (each calls ``register_model``).

They are imported on first use of the registry, so adding a model is one line here and the
``gdtrace --help`` path imports none of them.
"""

from __future__ import annotations

import importlib

MODEL_MODULES: list[str] = [
    "gdtrace.problem.network_models",
    "gdtrace.problem.extra_models",
    "gdtrace.problem.derivative_model",
]

_imported = False


def import_model_modules() -> None:
    global _imported
    if _imported:
        return
    _imported = True
    for module in MODEL_MODULES:
        importlib.import_module(module)
