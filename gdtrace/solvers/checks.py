"""The overflow check every iterative solver runs after each step, and its warning.

One place, so every model stops at the first value that is not finite and says so in the same
words ("the gradient ∂L/∂W13 became inf (overflow); the run stops here").
"""

from __future__ import annotations

import math

import numpy as np

from gdtrace.trace import Diagnostic, Epoch, Quantity, Role, Step


def first_non_finite(step: Step) -> Quantity | None:
    """The first value the step wrote (per-sample lines first) that is ±inf or NaN. Most
    values are floats: ``math.isfinite`` answers those ten times faster than numpy."""
    isfinite = math.isfinite
    for quantity in [q for row in step.rows for q in row] + step.quantities:
        value = quantity.value
        if isinstance(value, float):
            if not isfinite(value):
                return quantity
        elif not np.all(np.isfinite(value)):
            return quantity
    return None


def describe(quantity: Quantity) -> str:
    """How a warning names a value: the gradient and the updated parameter share a key."""
    if quantity.role is Role.GRAD:
        return f"the gradient ∂L/∂{quantity.key}"
    if quantity.role is Role.PARAM:
        return f"the updated {quantity.key}"
    return quantity.key


def non_finite_message(what: str, value: object) -> str:
    """"the updated W1 became inf (overflow); the run stops here" (arrays: "non-finite")."""
    array = np.asarray(value, dtype=float)
    shown = value if array.ndim == 0 else "non-finite"
    overflow = " (overflow)" if np.any(np.isinf(array)) else ""
    return f"{what} became {shown}{overflow}; the run stops here"


def non_finite_step(bad: Quantity, label: str, epoch: int, step: int) -> Diagnostic:
    """The run stops: ``bad`` is the step's first value that is not finite."""
    return Diagnostic("non_finite", non_finite_message(describe(bad), bad.value), label, epoch,
                      step)


def keep_step(epoch: Epoch, step: Step, label: str, diagnostics: list[Diagnostic]) -> bool:
    """Record the step in its epoch; False, with the warning added, when the step wrote a value
    that is not finite and the run must stop there (the step itself is still shown)."""
    epoch.steps.append(step)
    bad = first_non_finite(step)
    if bad is None:
        return True
    diagnostics.append(non_finite_step(bad, label, epoch.index, step.index))
    return False
