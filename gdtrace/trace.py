"""The trace: what a solver computed, as plain data, for every printer to read.

runs → epochs → steps → quantities. A :class:`Quantity` keeps the symbol it is written as, its
formula tree, the operand values the formula used and the result, so each printer can write
"z₁ = w₁x₁ + b = 0.08·5 + 0 = 0.4" in its own syntax. Nothing here formats text or computes:
solvers fill it in, renderers read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

import numpy as np

from gdtrace.formula.expr import Expr

Value = Union[float, np.ndarray]


class Role(str, Enum):
    """What a quantity is, which decides where printers and the JSON put it."""

    INPUT = "input"  # a number given by the problem (x_j, y)
    VALUE = "value"  # an intermediate result (z, σ(z), error, δ …)
    GRAD = "grad"  # a gradient component, keyed by parameter name
    PARAM = "param"  # a parameter after the step's update, keyed by parameter name
    LOSS = "loss"  # a loss value


@dataclass
class Quantity:
    """One line of a worked solution: ``symbol relation formula = substituted = value``."""

    key: str  # stable name: JSON key for values, the parameter name for grads and params
    role: Role
    symbol: Expr
    value: Value
    formula: Expr | None = None
    operands: dict[str, Value] = field(default_factory=dict)
    relation: str = "="  # "←" for an update
    heading: Expr | None = None  # table heading when ``symbol`` carries a sample number (z₁ → z)
    # Which earlier line each operand is the value of (``operands["z"]`` is ``links["z"].value``):
    # the dependency graph ``gdtrace check`` re-evaluates with a student's numbers. An operand
    # without a link is given by the problem (an input, η, a starting weight). A line without
    # a formula but with one link is that line's value rounded to ``rounded`` decimals.
    links: dict[str, Link] = field(default_factory=dict)
    rounded: int | None = None


@dataclass(frozen=True)
class Part:
    """One entry of a vector or matrix line, as a link target (ŷ₂ is entry 2 of the output a₂;
    the unit-by-unit W₁₂ is an entry of the matrix W)."""

    of: Quantity
    index: tuple[int, ...]


Link = Union[Quantity, Part]


@dataclass
class Step:
    """One parameter update: the samples it used, their per-sample lines, then its own lines.

    ``rows`` holds one list of quantities per sample (inputs, z, activation, error …); in SGD
    there is one row. ``quantities`` holds the step-level lines: batch sums, gradients, updates.
    """

    index: int
    samples: list[int]
    rows: list[list[Quantity]]
    quantities: list[Quantity]
    title: str = ""

    def of_role(self, role: Role) -> list[Quantity]:
        return [q for q in self.quantities if q.role is role]


@dataclass
class Epoch:
    index: int
    loss: float | None  # data loss with the parameters at the start of the epoch
    steps: list[Step]
    loss_line: Quantity | None = None


@dataclass
class Diagnostic:
    """A warning the user must see (divergence, overflow, an unstable learning rate)."""

    code: str
    message: str
    run: str = ""
    epoch: int | None = None
    step: int | None = None


@dataclass
class Stability:
    """Batch GD on a quadratic loss converges iff 0 < η < 2/λmax of the loss's Hessian."""

    hessian_formula: Expr
    lambda_max: float
    eta_limit: float
    eta: float

    @property
    def stable(self) -> bool:
        return 0 < self.eta < self.eta_limit

    @property
    def verdict(self) -> str:
        """What batch GD does at this η; exactly at the limit it bounces without converging."""
        if self.stable:
            return "converges"
        if math.isclose(self.eta, self.eta_limit, rel_tol=1e-12):
            return "oscillates without converging"
        return "diverges"


@dataclass
class Prediction:
    sample: int
    score: float  # ŷ (or σ(z))
    label: int  # 1 when score ≥ threshold
    target: float


@dataclass
class Outcome:
    """Predictions with the final parameters and, for 0/1 targets, the accuracy."""

    threshold: float
    predictions: list[Prediction]
    accuracy: float | None


@dataclass
class Block:
    """A titled group of worked lines outside the epoch loop (closed form, analyses)."""

    title: str
    quantities: list[Quantity]
    tables: list[Table] = field(default_factory=list)


@dataclass
class Table:
    """A small matrix or listing to print as a table (design matrix, XᵀX …)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Run:
    label: str
    settings: dict[str, Any]
    epochs: list[Epoch]
    final: dict[str, Value]
    final_loss: float | None
    param_names: list[str]
    outcome: Outcome | None = None
    stability: Stability | None = None
    blocks: list[Block] = field(default_factory=list)
    stopped_early: bool = False

    def loss_curve(self) -> list[float | None]:
        return [epoch.loss for epoch in self.epochs]


@dataclass
class Formula:
    """A convention shown in the header: ``lhs = rhs`` with a few words of what it is."""

    lhs: Expr
    rhs: Expr
    label: str = ""
    relation: str = "="


@dataclass
class Header:
    model: str  # e.g. "logistic regression"
    loss: str  # e.g. "log loss (cross-entropy)"
    update: str  # e.g. "SGD, one sample at a time, in file order"
    formulas: list[Formula]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@dataclass
class ParamChange:
    """How one parameter differs between a run and the baseline run of a comparison."""

    name: str
    baseline: Value
    other: Value
    difference: Value  # other − baseline (elementwise for matrices)
    magnitude_change: float  # |other| − |baseline| (‖·‖ for matrices): < 0 is toward zero
    bias: bool = False  # biases are never penalized, so readings treat them apart


@dataclass
class Contrast:
    run: str
    baseline: str
    changes: list[ParamChange]
    loss_difference: float | None  # final loss of run − final loss of baseline


@dataclass
class Comparison:
    baseline: str
    contrasts: list[Contrast]


@dataclass
class ProblemInfo:
    title: str
    model: str
    source: str


@dataclass
class Trace:
    problem: ProblemInfo
    header: Header
    runs: list[Run]
    warnings: list[Diagnostic] = field(default_factory=list)
    comparison: Comparison | None = None
    decimals_hint: int | None = None  # carry_decimals, so printers can show that many digits
    # Jupyter's ``_repr_html_`` and rich's ``__rich__`` are given by gdtrace.api (the display
    # needs the renderers, which read this module).
