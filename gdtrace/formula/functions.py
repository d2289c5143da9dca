"""Activations and losses, each with its derivative defined right beside its forward rule.

Adding one is one small entry: the numeric forward rule, the numeric derivative, and the same
two as expression trees for the worked lines. Everything is numerically stable (no overflow
warnings at |z| = 1000).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gdtrace.formula.expr import Compare, Expr, Num, func

Array = np.ndarray


def stable_sigmoid(z: Array | float) -> Array:
    """σ(z) without overflow: e^(−|z|) never exceeds 1 (a Python float stays a float: the
    scalar networks call this per node and numpy's per-call cost would dominate)."""
    if type(z) is float:
        if z != z:
            return z  # type: ignore[return-value]
        small = math.exp(-abs(z))
        return (1.0 / (1.0 + small) if z >= 0 else small / (1.0 + small))  # type: ignore
    z = np.asarray(z, dtype=float)
    small = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + small), small / (1.0 + small))


def softplus(z: Array | float) -> Array:
    """ln(1 + eᶻ), stable for large |z| (log-loss is written with it)."""
    z = np.asarray(z, dtype=float)
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


@dataclass(frozen=True)
class Activation:
    """a = f(z) with f'(z) written in terms of z and a (σ' = σ(1 − σ) needs only a)."""

    name: str
    forward: Callable[[Array], Array]
    derivative: Callable[[Array, Array], Array]  # (z, a) → da/dz
    formula: Callable[[Expr], Expr]  # f(z) as a tree
    derivative_formula: Callable[[Expr, Expr], Expr]  # (z, a) → f'(z) as a tree
    symbol: str  # the function's name in worked lines: σ, tanh, relu
    # Vector activations (softmax) mix the units: (a, ∂L/∂a) → ∂L/∂z replaces g·f'(z).
    backward: Callable[[Array, Array], Array] | None = None


def _linear_derivative(z: Array, a: Array) -> Array:
    return np.ones_like(np.asarray(z, dtype=float))


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(
        "linear",
        forward=lambda z: np.asarray(z, dtype=float),
        derivative=_linear_derivative,
        formula=lambda z: z,
        derivative_formula=lambda z, a: Num(1),
        symbol="id",
    ),
    "sigmoid": Activation(
        "sigmoid",
        forward=stable_sigmoid,
        derivative=lambda z, a: a * (1.0 - a),
        formula=lambda z: 1 / (1 + func("exp", -z)),
        derivative_formula=lambda z, a: a * (1 - a),
        symbol="σ",
    ),
    "tanh": Activation(
        "tanh",
        forward=np.tanh,
        derivative=lambda z, a: 1.0 - a * a,
        formula=lambda z: func("tanh", z),
        derivative_formula=lambda z, a: 1 - a ** 2,
        symbol="tanh",
    ),
    "relu": Activation(
        "relu",
        forward=lambda z: np.maximum(np.asarray(z, dtype=float), 0.0),
        derivative=lambda z, a: (np.asarray(z) > 0).astype(float),
        formula=lambda z: func("max", 0, z),
        derivative_formula=lambda z, a: Compare(z, ">", Num(0)),
        symbol="relu",
    ),
}


def leaky_relu(slope: float = 0.01) -> Activation:
    """max(αz, z) for 0 ≤ α < 1; the slope α is part of the definition (``leaky_relu(0.1)``)."""
    alpha = float(slope)
    return Activation(
        "leaky_relu",
        forward=lambda z: np.where(np.asarray(z, dtype=float) > 0, z, alpha * np.asarray(z)),
        derivative=lambda z, a: np.where(np.asarray(z) > 0, 1.0, alpha),
        formula=lambda z: func("max", Num(alpha) * z, z),
        derivative_formula=lambda z, a: Compare(z, ">", Num(0))
        + Num(alpha) * Compare(z, "≤", Num(0)),
        symbol="lrelu",
    )


def softmax(z: Array) -> Array:
    """eᶻᵏ/Σⱼ eᶻʲ over the last axis, shifted by max z so nothing overflows."""
    z = np.asarray(z, dtype=float)
    shifted = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return shifted / np.sum(shifted, axis=-1, keepdims=True)


def _softmax_backward(a: Array, g: Array) -> Array:
    """∂L/∂zᵢ = Σₖ ∂L/∂aₖ·aₖ(δᵢₖ − aᵢ) = aᵢ(∂L/∂aᵢ − Σₖ ∂L/∂aₖ·aₖ)."""
    a, g = np.asarray(a, dtype=float), np.asarray(g, dtype=float)
    return a * (g - np.sum(g * a, axis=-1, keepdims=True))


ACTIVATIONS["leaky_relu"] = leaky_relu()
ACTIVATIONS["softmax"] = Activation(
    "softmax",
    forward=softmax,
    derivative=lambda z, a: a * (1.0 - a),  # the Jacobian's diagonal ∂aᵢ/∂zᵢ
    formula=lambda z: func("softmax", z),
    derivative_formula=lambda z, a: a * (1 - a),
    symbol="softmax",
    backward=_softmax_backward,
)


@dataclass(frozen=True)
class Loss:
    """A GLM loss over predictions ŷ and targets y: per-sample term and reduction.

    ``mean`` losses divide the summed terms by the number of samples, ``sum`` losses do not.
    The derivative is ``factor``: ∂term/∂ŷ = −factor·(y − ŷ), which the GLM solver writes.
    """

    name: str
    description: str
    term: Callable[[Array, Array], Array]  # (ŷ, y) → per-sample loss
    reduction: str  # "mean" | "sum"
    factor: float  # 2 for (y − ŷ)², 1 for ½(y − ŷ)²: the constant in the gradient


def _squared(yhat: Array, y: Array) -> Array:
    return (np.asarray(y) - np.asarray(yhat)) ** 2


def _half_squared(yhat: Array, y: Array) -> Array:
    return 0.5 * (np.asarray(y) - np.asarray(yhat)) ** 2


def _binary_cross_entropy(p: Array, y: Array) -> Array:
    p = np.clip(np.asarray(p, dtype=float), 1e-300, 1 - 1e-16)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


SQUARED_LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", "mean squared error (1/n)Σ(y − ŷ)²", _squared, "mean", 2.0),
    "half_mse": Loss("half_mse", "half mean squared error (1/2n)Σ(y − ŷ)²", _half_squared,
                     "mean", 1.0),
    "sse": Loss("sse", "sum of squared errors Σ(y − ŷ)²", _squared, "sum", 2.0),
    "half_sse": Loss("half_sse", "half sum of squared errors ½Σ(y − ŷ)²", _half_squared,
                     "sum", 1.0),
}


def log_loss_from_logits(z: Array, y: Array) -> Array:
    """Per-sample −[y ln σ(z) + (1 − y) ln(1 − σ(z))] = softplus(z) − y·z, stable in z."""
    return softplus(z) - np.asarray(y, dtype=float) * np.asarray(z, dtype=float)


@dataclass(frozen=True)
class OutputLoss:
    """A network loss: per-output term ℓ(ŷ, t), its derivative beside it, and how terms add up.

    ``reduction``: ``sum`` adds every term; ``mean`` divides by samples × outputs (torch's
    MSELoss); ``mean_samples`` divides by samples only (cross-entropy sums over classes).
    ``paired`` names the output activation whose ∂ℓ/∂z simplifies to ŷ − t (softmax with
    cross-entropy, sigmoid with binary cross-entropy); such a loss requires that activation.
    """

    name: str
    description: str
    term: Callable[[Array, Array], Array]  # (ŷ, t) → per-output term
    derivative: Callable[[Array, Array], Array]  # (ŷ, t) → ∂term/∂ŷ
    term_formula: Callable[[Expr, Expr], Expr]
    derivative_formula: Callable[[Expr, Expr], Expr]
    reduction: str
    paired: str | None = None

    def scale(self, samples: int, outputs: int) -> float:
        """The number the summed per-output terms are multiplied by."""
        if self.reduction == "mean":
            return 1.0 / (samples * outputs)
        if self.reduction == "mean_samples":
            return 1.0 / samples
        return 1.0


def _ce_term(p: Array, t: Array) -> Array:
    p = np.clip(np.asarray(p, dtype=float), 1e-300, None)
    return -np.asarray(t, dtype=float) * np.log(p)


def _squared_loss(name: str, description: str, half: bool, reduction: str) -> OutputLoss:
    c = 1.0 if half else 2.0
    return OutputLoss(
        name, description,
        term=(lambda yhat, t: 0.5 * (np.asarray(t) - yhat) ** 2) if half
        else (lambda yhat, t: (np.asarray(t) - yhat) ** 2),
        derivative=lambda yhat, t: -c * (np.asarray(t) - yhat),
        term_formula=(lambda yhat, t: (1 / Num(2)) * (t - yhat) ** 2) if half
        else (lambda yhat, t: (t - yhat) ** 2),
        derivative_formula=(lambda yhat, t: -(t - yhat)) if half
        else (lambda yhat, t: -(Num(2) * (t - yhat))),
        reduction=reduction)


OUTPUT_LOSSES: dict[str, OutputLoss] = {
    "squared": _squared_loss("squared", "squared error L = Σᵢ Σₖ (yₖ − ŷₖ)² (summed over samples)",
                             False, "sum"),
    "sse": _squared_loss("sse", "sum of squared errors L = Σᵢ Σₖ (yₖ − ŷₖ)²", False, "sum"),
    "half_sse": _squared_loss("half_sse", "half sum of squared errors L = ½ Σᵢ Σₖ (yₖ − ŷₖ)²",
                              True, "sum"),
    "mse": _squared_loss("mse", "mean squared error L = (1/(N·K)) Σᵢ Σₖ (yₖ − ŷₖ)²", False,
                         "mean"),
    "half_mse": _squared_loss("half_mse", "half mean squared error L = (1/(2N·K)) Σᵢ Σₖ "
                              "(yₖ − ŷₖ)²", True, "mean"),
    "cross_entropy": OutputLoss(
        "cross_entropy", "cross-entropy L = −(1/N) Σᵢ Σₖ tₖ ln pₖ, p = softmax(z)",
        term=_ce_term,
        derivative=lambda p, t: -np.asarray(t) / np.asarray(p),
        term_formula=lambda p, t: -(t * func("ln", p)),
        derivative_formula=lambda p, t: -(t / p),
        reduction="mean_samples", paired="softmax"),
    "binary_cross_entropy": OutputLoss(
        "binary_cross_entropy",
        "binary cross-entropy L = −(1/(N·K)) Σᵢ Σₖ [tₖ ln pₖ + (1 − tₖ) ln(1 − pₖ)], p = σ(z)",
        term=_binary_cross_entropy,
        derivative=lambda p, t: (np.asarray(p) - t) / (np.asarray(p) * (1 - np.asarray(p))),
        term_formula=lambda p, t: -(t * func("ln", p) + (1 - t) * func("ln", 1 - p)),
        derivative_formula=lambda p, t: (p - t) / (p * (1 - p)),
        reduction="mean", paired="sigmoid"),
}
"""Losses of networks (``mlp``, ``network``); with a ``paired`` output activation the
worked lines use ∂ℓ/∂z = ŷ − t (the general chain rule gives the same number)."""
