"""The numeric check: evaluate the expressions with numpy at random well-conditioned points and
compare with central differences of f.

Symbols without a fixed size are tried at several sizes (2, 3 and 5; a second open size gets
other values so non-square shapes are exercised); square matrices are random rotations times
singular values in [1, 2] (condition number ≤ 2, positive determinant), so inverses and log
determinants are well defined. Where f is undefined at such a point (log of a negative number)
every number is drawn positive instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from gdtrace.derive import parse as p
from gdtrace.derive.dispatch import handler
from gdtrace.derive.parse import DeriveError

SIZES = (2, 3, 5)
STEP = 1e-5  # central differences: error ~ STEP² · f''' + rounding ~ 1e-16 / STEP
TOLERANCE = 1e-6  # relative error below which two derivatives are the same


def _sigma(u: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-u))


NUMPY_FUNCTIONS: dict[Any, Any] = {
    sp.exp: np.exp, sp.log: np.log, sp.tanh: np.tanh, p.sigma: _sigma,
    p.dsigma: lambda u: _sigma(u) * (1 - _sigma(u)),
    p.ddsigma: lambda u: _sigma(u) * (1 - _sigma(u)) * (1 - 2 * _sigma(u)),
    p.dtanh: lambda u: 1 - np.tanh(u) ** 2,
    p.ddtanh: lambda u: -2 * np.tanh(u) * (1 - np.tanh(u) ** 2),
    p.recip: lambda u: 1 / u, p.drecip: lambda u: -1 / u ** 2,
    p.dsqrt: lambda u: 0.5 / np.sqrt(u), p.ddsqrt: lambda u: -0.25 * u ** -1.5,
    sp.Abs: np.abs, sp.sign: np.sign,
}


class _Evaluator:
    def __init__(self, values: dict[str, np.ndarray], sizes: dict[Any, int]) -> None:
        self.values = values
        self.sizes = sizes

    def dim(self, d: Any) -> int:
        return int(d) if d.is_Integer else self.sizes[d]

    def __call__(self, e: Any) -> Any:
        evaluate_node = handler(self, "_eval_", e)
        if evaluate_node is None:
            raise DeriveError(f"internal: cannot evaluate {e}")
        return evaluate_node(e)

    def _eval_MatrixSymbol(self, e: Any) -> Any:
        return self.values[e.name]

    def _eval_Identity(self, e: Any) -> Any:
        return np.eye(self.dim(e.shape[0]))

    def _eval_ZeroMatrix(self, e: Any) -> Any:
        return np.zeros((self.dim(e.shape[0]), self.dim(e.shape[1])))

    def _eval_MatMul(self, e: Any) -> Any:
        out: Any = 1.0
        for arg in e.args:
            value = self(arg)
            if isinstance(value, np.ndarray) and isinstance(out, np.ndarray):
                out = out @ value
            else:
                out = out * value
        return out

    def _eval_MatAdd(self, e: Any) -> Any:
        return sum(self(a) for a in e.args)

    _eval_Add = _eval_MatAdd

    def _eval_Transpose(self, e: Any) -> Any:
        return self(e.arg).T

    def _eval_Inverse(self, e: Any) -> Any:
        return np.linalg.inv(self(e.arg))

    def _eval_MatPow(self, e: Any) -> Any:
        return np.linalg.matrix_power(self(e.args[0]), int(e.args[1]))

    def _eval_Trace(self, e: Any) -> Any:
        return float(np.trace(self(e.arg)))

    def _eval_Determinant(self, e: Any) -> Any:
        return float(np.linalg.det(self(e.arg)))

    def _eval_HadamardProduct(self, e: Any) -> Any:
        out = self(e.args[0])
        for arg in e.args[1:]:
            out = out * self(arg)
        return out

    def _eval_HadamardPower(self, e: Any) -> Any:
        return self(e.base) ** float(e.exp)

    def _eval_ElementwiseApplyFunction(self, e: Any) -> Any:
        inner = e.function.expr
        if inner == sp.sqrt(e.function.variables[0]):
            return np.sqrt(self(e.expr))
        return NUMPY_FUNCTIONS[inner.func](self(e.expr))

    def _eval_DiagMatrix(self, e: Any) -> Any:
        return np.diagflat(self(e.args[0]))

    def _eval_Number(self, e: Any) -> Any:
        return float(e)

    def _eval_Mul(self, e: Any) -> Any:
        out = 1.0
        for arg in e.args:
            out = out * self(arg)
        return out

    def _eval_Pow(self, e: Any) -> Any:
        return self(e.base) ** float(e.exp)

    def _eval_Function(self, e: Any) -> Any:
        if e.func not in NUMPY_FUNCTIONS:
            raise DeriveError(f"internal: cannot evaluate {e}")
        return NUMPY_FUNCTIONS[e.func](self(e.args[0]))


def evaluate(e: Any, values: dict[str, np.ndarray], sizes: dict[Any, int]) -> np.ndarray:
    """A matrix as a 2-d array; a scalar (or 1×1) as a 1×1 array."""
    with np.errstate(all="ignore"):
        out = _Evaluator(values, sizes)(e)
    return np.atleast_2d(np.asarray(out, dtype=float))


def _well_conditioned(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Orthogonal factors times singular values in [1, 2]; square ones with det > 0."""
    k = min(rows, cols)
    u, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    s = np.zeros((rows, cols))
    s[range(k), range(k)] = rng.uniform(1.0, 2.0, k)
    m = u @ s @ v.T
    if rows == cols and np.linalg.det(m) < 0:
        m[:, 0] = -m[:, 0]
    return m


def random_point(symbols: dict[str, Any], sizes: dict[Any, int], rng: np.random.Generator,
                 positive: bool) -> dict[str, np.ndarray]:
    values = {}
    for name, symbol in symbols.items():
        rows, cols = (int(d) if d.is_Integer else sizes[d] for d in symbol.shape)
        if positive:
            if rows == cols and rows > 1:
                values[name] = np.eye(rows) + rng.uniform(0.05, 0.3, (rows, cols))
            else:
                values[name] = rng.uniform(0.5, 1.5, (rows, cols))
        elif cols == 1 or rows == 1:
            values[name] = rng.standard_normal((rows, cols))
        else:
            values[name] = _well_conditioned(rows, cols, rng)
    return values


def size_choices(symbols: dict[str, Any]) -> list[dict[Any, int]]:
    """One assignment of the open sizes per trial; distinct symbols get distinct sizes."""
    open_dims: list[Any] = []
    for symbol in symbols.values():
        for d in symbol.shape:
            if not d.is_Integer and d not in open_dims:
                open_dims.append(d)
    if not open_dims:  # every size given: three random points of those sizes
        return [{} for _ in SIZES]
    return [{d: SIZES[(trial + k) % len(SIZES)] for k, d in enumerate(open_dims)}
            for trial in range(len(SIZES))]


@dataclass
class Trial:
    """One random point: its sizes, the central-difference derivative and each comparison."""

    sizes: dict[str, int]
    values: dict[str, np.ndarray]
    numeric: np.ndarray  # the central-difference derivative in the ml layout
    derived_error: float  # relative error of the derived formula
    claim_error: float | None = None
    claim_value: np.ndarray | None = None
    second_error: float | None = None
    positive: bool = False


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    if got.shape != want.shape:
        return math.inf
    scale = max(float(np.linalg.norm(want)), 1e-8)
    error = float(np.linalg.norm(got - want)) / scale
    return error if math.isfinite(error) else math.inf


def central_difference(f: Any, variable: Any, values: dict[str, np.ndarray],
                       sizes: dict[Any, int], kind: str) -> np.ndarray:
    """∂f/∂X entry by entry (shape of X) for a scalar f; the m×n Jacobian for a vector f."""
    x = values[variable.name]
    base = evaluate(f, values, sizes)
    columns = []
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        h = STEP * max(1.0, abs(x[index]))
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        up = evaluate(f, {**values, variable.name: plus}, sizes)
        down = evaluate(f, {**values, variable.name: minus}, sizes)
        slope = (up - down) / (2 * h)
        if kind == "scalar":
            grad[index] = slope.item()
        else:
            columns.append(slope.reshape(base.shape[0]))
    return grad if kind == "scalar" else np.column_stack(columns)


def second_difference(f: Any, variable: Any, values: dict[str, np.ndarray],
                      sizes: dict[Any, int], direction: np.ndarray) -> float:
    """f(X + hE) − 2f(X) + f(X − hE) over h²: d²f in the direction E."""
    name = variable.name
    h = 1e-4
    x = values[name]
    up = evaluate(f, {**values, name: x + h * direction}, sizes).item()
    mid = evaluate(f, values, sizes).item()
    down = evaluate(f, {**values, name: x - h * direction}, sizes).item()
    return (up - 2 * mid + down) / h ** 2


def finite(values: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(values)))
