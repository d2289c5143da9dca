"""One derivation task end to end: parse, derive, check numerically, judge a claim."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from gdtrace.derive import LAYOUTS
from gdtrace.derive.calculus import Derivation, derive, differential_symbol, simplify
from gdtrace.derive.numeric import (
    TOLERANCE,
    Trial,
    central_difference,
    evaluate,
    finite,
    random_point,
    relative_error,
    second_difference,
    size_choices,
)
from gdtrace.derive.parse import DeriveError, Expression, parse, parse_shapes, shape_of, show_shape

SECOND_TOLERANCE = 1e-4  # second differences lose about half the digits


@dataclass
class ClaimVerdict:
    text: str
    expression: Any
    correct: bool
    symbolic: bool | None  # True: shown equal by sympy; None: not decided symbolically
    relative_error: float  # the largest over the trials (inf for a wrong shape)
    reason: str = ""  # why it is wrong, in words
    where: dict[str, Any] = field(default_factory=dict)  # sizes, entry, yours, correct


@dataclass
class Report:
    f_text: str
    wrt: str
    layout: str
    derivation: Derivation
    derivative: Any  # in the chosen layout
    shapes: dict[str, str]
    trials: list[Trial]
    claim: ClaimVerdict | None
    second_ok: bool | None = None

    @property
    def derived_ok(self) -> bool:
        return all(t.derived_error < TOLERANCE for t in self.trials)

    @property
    def max_error(self) -> float:
        return max(t.derived_error for t in self.trials)


def to_layout(d: Derivation, expr: Any, layout: str) -> Any:
    """From the ml layout to ``layout`` (and back: each change is a transpose)."""
    if not _flips(d, layout) or shape_of(expr) is None:
        return expr
    return sp.Transpose(expr).doit()


def run(f_text: str, wrt: str, claim: str | None = None, shape_text: str | None = None,
        layout: str = "ml", seed: int = 0) -> Report:
    """Derive ∂f/∂wrt, check it numerically and judge ``claim`` (bad input: DeriveError)."""
    if layout not in LAYOUTS:
        raise DeriveError(f"--layout: unknown layout {layout!r} (choose from "
                          f"{', '.join(LAYOUTS)})")
    shapes = parse_shapes(shape_text)
    f = parse(f_text, shapes, "f")
    unused = sorted(set(shapes) - set(f.symbols) - {"I"})
    if unused:
        raise DeriveError(f"--shape: {', '.join(unused)} does not occur in f")
    derivation = derive(f, wrt)
    claimed = None
    if claim is not None:
        claimed = parse(claim, shapes, "--claim")
        extra = sorted(set(claimed.symbols) - set(f.symbols))
        if extra:
            raise DeriveError(f"--claim: {', '.join(extra)} does not occur in f")
    derivative = to_layout(derivation, derivation.derivative, layout)
    trials = _trials(f, derivation, claimed, layout, seed)
    report = Report(f_text, wrt, layout, derivation, derivative,
                    {name: show_shape(s.shape) for name, s in f.symbols.items()}, trials, None)
    if derivation.second is not None:
        report.second_ok = all(t.second_error is not None and t.second_error < SECOND_TOLERANCE
                               for t in trials)
    if claimed is not None:
        report.claim = _verdict(claim or "", claimed, derivative, trials, derivation, layout)
    return report


def _trials(f: Expression, d: Derivation, claimed: Expression | None, layout: str,
            seed: int) -> list[Trial]:
    rng = np.random.default_rng(seed)
    symbols = dict(f.symbols)
    trials = []
    for sizes in size_choices(symbols):
        values = None
        for positive in (False, True):
            candidate = random_point(symbols, sizes, rng, positive)
            if finite(evaluate(f.tree, candidate, sizes)) and finite(
                    evaluate(d.derivative, candidate, sizes)):
                values = candidate
                break
        if values is None:
            raise DeriveError("f (or its derivative) is undefined at every random point tried; "
                              "the numeric check needs a point where it is defined")
        numeric = central_difference(f.tree, d.variable, values, sizes, d.kind)
        derived = evaluate(d.derivative, values, sizes)
        trial = Trial({str(k): v for k, v in sizes.items()}, values, numeric,
                      relative_error(derived, numeric), positive=positive)
        if claimed is not None:
            value = evaluate(claimed.tree, values, sizes)
            if _flips(d, layout):  # compare in the ml layout
                value = value.T
            trial.claim_value = value
            trial.claim_error = relative_error(value, numeric)
        trial.second_error = _second_error(d, values, sizes, rng, f)
        trials.append(trial)
    return trials


def _flips(d: Derivation, layout: str) -> bool:
    return (d.kind == "scalar" and layout == "numerator") or (
        d.kind == "vector" and layout == "denominator")


def _second_error(d: Derivation, values: dict[str, np.ndarray], sizes: dict[Any, int],
                  rng: np.random.Generator, f: Expression) -> float | None:
    if d.second is None:
        return None
    if d.second_kind == "hessian":
        numeric = central_difference(d.gradient, d.variable, values, sizes, "vector")
        return relative_error(evaluate(d.second, values, sizes), numeric)
    x = values[d.variable.name]
    direction = rng.standard_normal(x.shape)
    dx = differential_symbol(d.variable).name
    want = second_difference(f.tree, d.variable, values, sizes, direction)
    got = evaluate(d.second, {**values, dx: direction}, sizes).item()
    return abs(got - want) / max(abs(want), 1.0)


def _verdict(text: str, claimed: Expression, derivative: Any, trials: list[Trial],
             d: Derivation, layout: str) -> ClaimVerdict:
    symbolic = _symbolically_equal(derivative, claimed.tree)
    errors = [t.claim_error if t.claim_error is not None else math.inf for t in trials]
    worst = max(errors)
    correct = worst < TOLERANCE
    verdict = ClaimVerdict(text, claimed.tree, correct, symbolic, worst)
    if correct:
        return verdict
    trial = trials[errors.index(worst)] if not all(math.isinf(e) for e in errors) else trials[0]
    want = trial.numeric
    got = trial.claim_value if trial.claim_value is not None else np.zeros((0, 0))
    if _flips(d, layout):
        want, got = want.T, got.T
    sizes = ", ".join(f"{k} = {v}" for k, v in trial.sizes.items())
    at = f" at {sizes}" if sizes else ""
    if got.shape != want.shape:
        verdict.reason = (f"yours is {got.shape[0]}×{got.shape[1]}, the derivative is "
                          f"{want.shape[0]}×{want.shape[1]}{at}")
        verdict.where = {"sizes": trial.sizes, "yours_shape": list(got.shape),
                         "shape": list(want.shape)}
        return verdict
    diff = np.abs(got - want)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape)
    entry = ", ".join(str(i + 1) for i in index)
    verdict.reason = (f"yours differs{at}, entry ({entry}): {got[index]:.6g} instead of "
                      f"{want[index]:.6g} (by {got[index] - want[index]:.3g}; relative error "
                      f"{worst:.2g})")
    verdict.where = {"sizes": trial.sizes, "entry": [int(i) + 1 for i in index],
                     "yours": float(got[index]), "correct": float(want[index])}
    return verdict


def _symbolically_equal(derivative: Any, claim: Any) -> bool | None:
    """True when sympy reduces the difference to 0; None when it does not (not a proof of
    inequality: the numbers decide)."""
    if shape_of(derivative) != shape_of(claim):
        return None
    try:
        difference = simplify(derivative - claim)
    except Exception:  # noqa: BLE001 (sympy's simplification may give up in many ways)
        return None
    if difference == 0 or isinstance(difference, sp.ZeroMatrix):
        return True
    return None
