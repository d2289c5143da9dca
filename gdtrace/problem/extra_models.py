"""Problem keys for ``ridge``, ``ols`` (closed form), ``function`` and ``perceptron``.

Each model says which common keys it uses (``None`` removes one) and builds a
:class:`~gdtrace.problem.model.Problem` whose ``spec`` (a frozen data class below) holds what
its solver needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gdtrace.problem.load import common_args, linear_params, single_target
from gdtrace.problem.model import Problem, Spec
from gdtrace.problem.registry import register_model
from gdtrace.problem.schema import (
    LINEAR_FIELDS,
    Boolean,
    Context,
    Enum,
    Field,
    Integer,
    MapOf,
    Number,
    String,
)

if TYPE_CHECKING:
    from gdtrace.formula.expr import Expr

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ClosedFormSpec(Spec):
    """``ridge``/``ols``: how β is computed, and the settings of ``compare --methods gd``
    (None when the file gives none: the closed form itself takes no steps)."""

    fit_intercept: bool = True
    method: str = "normal"  # normal: the normal equations; pinv: the pseudo-inverse
    gd_learning_rate: float | None = None
    gd_epochs: int | None = None


@dataclass(frozen=True)
class FunctionSpec(Spec):
    """``function``: f as parsed, as written, its variables in order and the start point."""

    f: Expr
    f_text: str
    variables: tuple[str, ...]
    start: tuple[float, ...]


@dataclass(frozen=True)
class PerceptronSpec(Spec):
    """``perceptron``: whether the targets are -1/1 (signed) or 0/1."""

    signed: bool = False

# ------------------------------------------------------------------------------- closed form

CLOSED_FORM_METHODS = ("normal", "pinv")

_NO_TRAINING = {"update": None, "batch_size": None, "shuffle": None, "carry_decimals": None,
                "threshold": None, "optimizer": None}

_CLOSED_FORM_FIELDS: dict[str, Field | None] = {
    **_NO_TRAINING,
    **LINEAR_FIELDS,  # names the coefficients; the start of `compare --methods gd`
    "fit_intercept": Field(Boolean(), default=True,
                           doc="Add a column of ones for the intercept b (default true)."),
    "method": Field(Enum(CLOSED_FORM_METHODS), default="normal",
                    doc="normal: solve the normal equations (XᵀX + λD)β = Xᵀy;"
                        " pinv: the Moore–Penrose pseudo-inverse (via the SVD)."),
    "learning_rate": Field(Number(exclusive_minimum=0),
                           doc="Only for `gdtrace compare --methods …,gd`: the step size of"
                               " the gradient-descent run."),
    "epochs": Field(Integer(minimum=1),
                    doc="Only for `gdtrace compare --methods …,gd`: how many batch steps."),
}


def _build_closed_form(checked: dict[str, Any], ctx: Context) -> Problem:
    dataset = checked["dataset"]
    single_target(dataset, checked["model"], ctx)
    args = common_args(checked, ctx)
    args["lam"] = float(checked.get("lambda") or 0.0)
    # learning_rate/epochs only configure `compare --methods gd` (ClosedFormSpec): the closed
    # form itself takes no steps, and its one "epoch" keeps it from looking like a long run.
    # The learning rate is still the file's (not the default 0.1) for whoever reads it.
    if checked.get("learning_rate") is None:
        args.pop("learning_rate", None)
    args.pop("epochs", None)
    names, weights, bias = linear_params(checked, dataset, ctx)
    spec = ClosedFormSpec(bool(checked["fit_intercept"]), checked["method"],
                          checked.get("learning_rate"), checked.get("epochs"))
    return Problem(**args, weight_names=names, weights=weights, bias=bias, spec=spec)


register_model(
    "ridge",
    {**_CLOSED_FORM_FIELDS,
     "lambda": Field(Number(minimum=0), required=True,
                     doc="Ridge strength λ ≥ 0: minimises Σ(y − ŷ)² + λΣw_j² (b not penalized)."),
     },
    _build_closed_form,
    label="Ridge regression (closed form)",
    doc="β = (XᵀX + λD)⁻¹Xᵀy with D = I except a 0 for the intercept.",
)
register_model(
    "ols",
    {**_CLOSED_FORM_FIELDS, "lambda": None},
    _build_closed_form,
    label="Least squares (closed form)",
    doc="β = (XᵀX)⁻¹Xᵀy, or X⁺y with method: pinv.",
)


# ---------------------------------------------------------------------------------- function


def _build_function(checked: dict[str, Any], ctx: Context) -> Problem:
    from gdtrace.formula.parse import ACCEPTED_FUNCTIONS, DerivativeTooLarge, FormulaError, parse

    start: dict[str, float] = checked["start"]
    for name in start:
        if not _NAME.match(name):
            raise ctx.error(f"variable name {name!r} must be letters, digits and _ (starting "
                            "with a letter)", f"start.{name}")
        if name in ACCEPTED_FUNCTIONS or name == "sign":
            raise ctx.error(f"{name!r} is a function name; choose another variable name",
                            f"start.{name}")
    steps, epochs = checked.get("steps"), checked.get("epochs")
    if steps is not None and epochs is not None:
        raise ctx.error("give steps or epochs (the same thing here), not both", "epochs")
    count = steps if steps is not None else epochs
    if count is None:
        raise ctx.error("missing required key 'steps' (how many gradient-descent steps)",
                        "steps")
    try:
        tree = parse(checked["f"], list(start))
        _derivable(tree, list(start))
    except (FormulaError, DerivativeTooLarge) as error:
        raise ctx.error(str(error), "f") from None
    args = common_args(checked, ctx)
    args["epochs"] = count
    spec = FunctionSpec(tree, checked["f"], tuple(start), tuple(float(v) for v in start.values()))
    return Problem(**args, spec=spec)


def _derivable(tree: Any, variables: list[str]) -> None:
    """Build the gradient and Hessian once, within the work bound, so a formula whose
    derivatives would take minutes is refused when the file is read."""
    from gdtrace.formula.parse import derivative

    for v in variables:
        gradient = derivative(tree, v)
        for w in variables:
            derivative(gradient, w)


register_model(
    "function",
    {
        "dataset": None, "lambda": None, "update": None, "batch_size": None, "shuffle": None,
        "threshold": None,
        "f": Field(String(min_length=1), required=True,
                   doc="The function to minimise, e.g. \"5*x^2 + 2\": numbers, the variables of"
                       " `start`, + - * / ^ **, brackets and exp log sqrt sin cos tanh sigmoid"
                       " abs."),
        "start": Field(MapOf(Number(), min_items=1), required=True,
                       doc="Starting point: one number per variable, e.g. {x: 3}."),
        "steps": Field(Integer(minimum=1), doc="Number of gradient-descent steps."),
        "epochs": Field(Integer(minimum=1), doc="Same as steps (so --epochs sets the steps)."),
    },
    _build_function,
    label="Gradient descent on a function",
    doc="x ← x − η·∇f(x), with the gradient derived symbolically.",
)


# -------------------------------------------------------------------------------- perceptron


def _build_perceptron(checked: dict[str, Any], ctx: Context) -> Problem:
    dataset = checked["dataset"]
    single_target(dataset, "perceptron", ctx)
    y = dataset.Y[:, 0]
    labels = set(np.unique(y).tolist())
    if not (labels <= {0.0, 1.0} or labels <= {-1.0, 1.0}):
        bad = next(v for v in y if v not in (0.0, 1.0, -1.0))
        raise ctx.error(f"perceptron targets must be 0/1 or -1/1, got {bad:g}", "dataset")
    names, weights, bias = linear_params(checked, dataset, ctx)
    args = common_args(checked, ctx)
    return Problem(**args, weight_names=names, weights=weights, bias=bias,
                   spec=PerceptronSpec(signed=-1.0 in labels))


register_model(
    "perceptron",
    {**LINEAR_FIELDS, "lambda": None, "update": None, "batch_size": None, "shuffle": None,
     "loss": None, "threshold": None, "optimizer": None},
    _build_perceptron,
    label="Perceptron",
    doc="ŷ = step(w·x + b); w ← w + η(y − ŷ)x, one sample at a time.",
)
