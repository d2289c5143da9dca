"""Activations and losses, each with its derivative defined right beside its forward rule.

Adding one is one small entry: the numeric forward rule, the numeric derivative, and the same
two as expression trees for the worked lines. Everything is numerically stable (no overflow
warnings at |z| = 1000).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gdtrace.expr import Compare, Expr, Num, func

Array = np.ndarray


def stable_sigmoid(z: Array | float) -> Array:
    """σ(z) without overflow: e^(−|z|) never exceeds 1."""
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


@dataclass(frozen=True)
class Loss:
    """A loss over predictions ŷ and targets y: per-sample term, its ŷ-derivative, reduction.

    ``mean`` losses divide the summed terms by the number of samples, ``sum`` losses do not.
    """

    name: str
    description: str
    term: Callable[[Array, Array], Array]  # (ŷ, y) → per-sample loss
    term_derivative: Callable[[Array, Array], Array]  # (ŷ, y) → ∂term/∂ŷ
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
    "mse": Loss("mse", "mean squared error (1/n)Σ(y − ŷ)²", _squared,
                lambda yhat, y: -2.0 * (y - yhat), "mean", 2.0),
    "half_mse": Loss("half_mse", "half mean squared error (1/2n)Σ(y − ŷ)²", _half_squared,
                     lambda yhat, y: -(y - yhat), "mean", 1.0),
    "sse": Loss("sse", "sum of squared errors Σ(y − ŷ)²", _squared,
                lambda yhat, y: -2.0 * (y - yhat), "sum", 2.0),
    "half_sse": Loss("half_sse", "half sum of squared errors ½Σ(y − ŷ)²", _half_squared,
                     lambda yhat, y: -(y - yhat), "sum", 1.0),
}

LOG_LOSS = Loss("log", "log loss (binary cross-entropy) −(1/n)Σ[y ln ŷ + (1 − y) ln(1 − ŷ)]",
                _binary_cross_entropy,
                lambda p, y: (p - y) / (p * (1 - p)), "mean", 1.0)


def log_loss_from_logits(z: Array, y: Array) -> Array:
    """Per-sample −[y ln σ(z) + (1 − y) ln(1 − σ(z))] = softplus(z) − y·z, stable in z."""
    return softplus(z) - np.asarray(y, dtype=float) * np.asarray(z, dtype=float)
