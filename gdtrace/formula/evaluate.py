"""Evaluate a formula tree over ranges of its operands: the interpreter beside the printers.

The printers (``gdtrace.render.printer``) write a :mod:`gdtrace.formula.expr` tree symbolically
or with its operands substituted; this module computes it. Every operand is a closed range
:class:`Span` ``[lo, hi]`` (a point when ``lo == hi``), and the result is a range that holds the
formula's value for every choice of operands within theirs (interval arithmetic). That is what
``gdtrace check`` needs: a student's 0.743 stands for [0.7425, 0.7435], and a later line
computed from it may be anywhere in the range the formula gives over that.

Values are floats or numpy arrays (the vectors and matrices of an MLP). A product of two arrays
is a matrix product when either is a matrix or a transposed vector (``x·W``, ``aᵀ·δ``) and the
elementwise product otherwise (``∂L/∂a·f'(u)``), as docs/networks.md writes them; ``Xᵀ`` is
``Pow(X, Text("T"))``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, Union

import numpy as np

from gdtrace.formula import expr as E

Number = Union[float, np.ndarray]


class CannotEvaluate(Exception):
    """The tree holds something with no numeric meaning here (a symbol without a value, a
    function this module does not know)."""


class Span:
    """The closed range [lo, hi] (elementwise for arrays); a point has ``lo == hi``."""

    __slots__ = ("lo", "hi", "column")

    def __init__(self, lo: Number, hi: Number | None = None, column: bool = False) -> None:
        self.lo = lo
        self.hi = lo if hi is None else hi
        self.column = column  # a transposed vector (n×1), for matrix products

    @classmethod
    def around(cls, value: Number, radius: float) -> Span:
        """value ± radius."""
        return cls(value - radius, value + radius)

    @property
    def array(self) -> bool:
        return isinstance(self.lo, np.ndarray)

    @property
    def mid(self) -> Number:
        return (self.lo + self.hi) / 2

    def contains(self, value: Number, slack: float = 0.0) -> bool | np.ndarray:
        """Whether value lies in the range widened by ``slack`` (and a relative 1e-12)."""
        lo, hi = self.lo, self.hi
        tolerance: Number
        if type(lo) is float and type(hi) is float:
            low, high = abs(lo), abs(hi)
            tolerance = slack + 1e-12 * (low if low > high else high)
            return bool(lo - tolerance <= value <= hi + tolerance)
        if isinstance(lo, np.ndarray) or isinstance(hi, np.ndarray):
            tolerance = slack + 1e-12 * np.maximum(np.abs(lo), np.abs(hi))
        else:
            low, high = abs(lo), abs(hi)
            tolerance = slack + 1e-12 * (low if low > high else high)
        return (lo - tolerance <= value) & (value <= hi + tolerance)

    def hull(self, other: Span) -> Span:
        if type(self.lo) is float and type(other.lo) is float:
            return Span(min(self.lo, other.lo), max(self.hi, other.hi))
        return Span(_min(self.lo, other.lo), _max(self.hi, other.hi), self.column)

    def element(self, index: tuple[int, ...]) -> Span:
        if not index:
            return self
        return Span(float(np.asarray(self.lo)[index]), float(np.asarray(self.hi)[index]))

    def __repr__(self) -> str:
        return f"Span({self.lo!r}, {self.hi!r})"


def point(value: Number) -> Span:
    if type(value) is float:
        return Span(value)
    if isinstance(value, np.ndarray):
        value = value.astype(float)
    elif not isinstance(value, float):
        value = float(value)
    return Span(value, value)


def _min(*values: Number) -> Number:
    """The smallest, elementwise for arrays (``fmin``: a nan loses to a number)."""
    if any(isinstance(v, np.ndarray) for v in values):
        return functools.reduce(np.fmin, values)
    return min(float(v) for v in values)


def _max(*values: Number) -> Number:
    """The largest, elementwise for arrays (``fmax``)."""
    if any(isinstance(v, np.ndarray) for v in values):
        return functools.reduce(np.fmax, values)
    return max(float(v) for v in values)


def _nan_safe_product(a: Number, b: Number) -> Number:
    """a·b with 0·inf = 0: an exact zero times an unbounded range bound is still zero."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        with np.errstate(all="ignore"):
            out = np.multiply(a, b)
        return np.where(np.isnan(out) & ~(np.isnan(a) | np.isnan(b)), 0.0, out)
    if (a == 0 and math.isinf(b)) or (b == 0 and math.isinf(a)):
        return 0.0
    return a * b


# ------------------------------------------------------------------------------- arithmetic


def add(x: Span, y: Span) -> Span:
    if x.lo is x.hi and y.lo is y.hi:  # points stay points (one object): the fast path
        return Span(x.lo + y.lo)
    return Span(x.lo + y.lo, x.hi + y.hi)


def neg(x: Span) -> Span:
    if x.lo is x.hi:
        return Span(-x.lo, None, x.column)
    return Span(-x.hi, -x.lo, x.column)


def _is_matrix(x: Span) -> bool:
    return x.column or (x.array and np.ndim(x.lo) == 2)


def _as_2d(values: Number, column: bool) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim == 0:
        return values.reshape(1, 1)
    if values.ndim == 1:
        return values.reshape(-1, 1) if column else values.reshape(1, -1)
    return values


def mul(x: Span, y: Span) -> Span:
    """A product as the formulas write it: matrix product for matrices, else elementwise."""
    if x.array and y.array and (_is_matrix(x) or _is_matrix(y)):
        return matmul(x, y)
    return times(x, y)


def times(x: Span, y: Span) -> Span:
    """The elementwise product (a number times anything included)."""
    xl, xh, yl, yh = x.lo, x.hi, y.lo, y.hi
    if type(xl) is float and type(yl) is float and type(xh) is float and type(yh) is float:
        if xl is xh and yl is yh:
            value = xl * yl
            if value == value:  # not nan (0·inf)
                return Span(value)
        else:
            a, b, c, d = xl * yl, xl * yh, xh * yl, xh * yh
            if a == a and b == b and c == c and d == d:
                return Span(min(a, b, c, d), max(a, b, c, d))
    if x.lo is x.hi and y.lo is y.hi:  # two points: one product
        product = _nan_safe_product(x.lo, y.lo)
        return Span(product, product, x.column or y.column)
    products = [_nan_safe_product(a, b) for a in (x.lo, x.hi) for b in (y.lo, y.hi)]
    return Span(_min(*products), _max(*products), x.column or y.column)


def matmul(x: Span, y: Span) -> Span:
    """A matrix product over ranges, in centre–radius form (exact for points)."""
    a_mid, a_rad = _as_2d(x.mid, x.column), _as_2d((x.hi - x.lo) / 2, x.column)
    b_mid, b_rad = _as_2d(y.mid, y.column), _as_2d((y.hi - y.lo) / 2, y.column)
    if a_mid.shape[1] != b_mid.shape[0]:
        raise CannotEvaluate(f"matrix product of shapes {a_mid.shape} and {b_mid.shape}")
    with np.errstate(all="ignore"):
        mid = a_mid @ b_mid
        rad = np.abs(a_mid) @ b_rad + a_rad @ np.abs(b_mid) + a_rad @ b_rad
    row_result = np.ndim(x.lo) <= 1 and not x.column and np.ndim(y.lo) == 2
    if row_result:  # a row vector times a matrix stays a (1-D) row vector
        mid, rad = mid[0], rad[0]
    return Span(mid - rad, mid + rad)


def div(x: Span, y: Span) -> Span:
    if y.lo is y.hi and x.lo is x.hi:
        value = _divide(x.lo, y.lo)
        return Span(value, value)
    straddles = (y.lo <= 0) & (y.hi >= 0)
    if not np.any(straddles):
        return times(x, Span(1.0 / y.hi, 1.0 / y.lo))
    if not x.array and not y.array:
        return Span(-math.inf, math.inf)
    inverse = times(x, Span(np.where(straddles, -np.inf, 1.0 / np.where(straddles, 1, y.hi)),
                          np.where(straddles, np.inf, 1.0 / np.where(straddles, 1, y.lo))))
    return inverse


def _divide(a: Number, b: Number) -> Number:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        with np.errstate(all="ignore"):
            return np.divide(a, b)
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


def power(x: Span, exponent: Span) -> Span:
    if exponent.lo is not exponent.hi and exponent.lo != exponent.hi:
        raise CannotEvaluate("an exponent that is not a single number")
    k = float(exponent.lo)
    with np.errstate(all="ignore"):
        lo_k = _pow(x.lo, k)
        if x.lo is x.hi:
            return Span(lo_k)
        hi_k = _pow(x.hi, k)
    if k.is_integer() and int(k) % 2 == 0 and k > 0:
        low = _min(lo_k, hi_k)
        straddles = (x.lo <= 0) & (x.hi >= 0)
        low = np.where(straddles, 0.0, low) if x.array else (0.0 if straddles else low)
        return Span(low, _max(lo_k, hi_k))
    return Span(_min(lo_k, hi_k), _max(lo_k, hi_k))


def _pow(base: Number, k: float) -> Number:
    if isinstance(base, np.ndarray):
        return np.power(base, k)
    try:
        return math.pow(base, k)
    except OverflowError:
        return -math.inf if base < 0 and k.is_integer() and int(k) % 2 else math.inf
    except ValueError:
        return math.inf if base == 0 else math.nan


def transpose(x: Span) -> Span:
    if not x.array or np.ndim(x.lo) == 0:
        return x
    if np.ndim(x.lo) == 1:
        return Span(x.lo, x.hi, not x.column)
    return Span(np.transpose(x.lo), np.transpose(x.hi))


# -------------------------------------------------------------------------------- functions


def _sigmoid(z: Number) -> Number:
    if isinstance(z, np.ndarray):
        from gdtrace.formula.functions import stable_sigmoid

        return stable_sigmoid(z)
    if math.isnan(z):
        return z
    small = math.exp(-abs(z))
    return 1.0 / (1.0 + small) if z >= 0 else small / (1.0 + small)


def _lift(scalar: Callable[[float], float], vector: Callable[[np.ndarray], np.ndarray]
          ) -> Callable[[Number], Number]:
    def run(value: Number) -> Number:
        if isinstance(value, np.ndarray):
            with np.errstate(all="ignore"):
                return vector(value)
        try:
            return scalar(value)
        except OverflowError:
            return math.inf
        except ValueError:
            return -math.inf if value == 0 else math.nan

    return run


# Functions increasing on their whole domain: the range's ends map to the image's ends.
INCREASING: dict[str, Callable[[Number], Number]] = {
    "σ": _sigmoid,
    "sigmoid": _sigmoid,
    "exp": _lift(math.exp, np.exp),
    "ln": _lift(math.log, np.log),
    "log": _lift(math.log, np.log),
    "tanh": _lift(math.tanh, np.tanh),
    "sqrt": _lift(math.sqrt, np.sqrt),
}


def _abs(x: Span) -> Span:
    lo: Number = np.abs(x.lo) if x.array else abs(float(x.lo))
    hi: Number = np.abs(x.hi) if x.array else abs(float(x.hi))
    low = _min(lo, hi)
    straddles = (x.lo <= 0) & (x.hi >= 0)
    low = np.where(straddles, 0.0, low) if x.array else (0.0 if straddles else low)
    return Span(low, _max(lo, hi))


def _sign(x: Span) -> Span:
    return Span(np.sign(x.lo) if x.array else float(np.sign(x.lo)),
                np.sign(x.hi) if x.array else float(np.sign(x.hi)))


def _periodic(x: Span, fn: Callable[[float], float], peak: float) -> Span:
    """sin/cos over a range: the ends, and ±1 where a peak or trough lies inside."""
    if x.array:
        raise CannotEvaluate("sin/cos of a vector")
    lo, hi = float(x.lo), float(x.hi)
    if hi - lo >= 2 * math.pi:
        return Span(-1.0, 1.0)
    low, high = min(fn(lo), fn(hi)), max(fn(lo), fn(hi))
    if math.ceil((lo - peak) / (2 * math.pi)) <= math.floor((hi - peak) / (2 * math.pi)):
        high = 1.0
    trough = peak + math.pi
    if math.ceil((lo - trough) / (2 * math.pi)) <= math.floor((hi - trough) / (2 * math.pi)):
        low = -1.0
    return Span(low, high)


def _softmax(x: Span) -> Span:
    """Each output rises with its own input and falls with the others'."""
    from gdtrace.formula.functions import softmax

    if not x.array:
        return Span(1.0, 1.0)
    if x.lo is x.hi:
        value = softmax(np.asarray(x.lo))
        return Span(value, value)
    shift = np.max(x.hi)
    e_lo, e_hi = np.exp(x.lo - shift), np.exp(x.hi - shift)
    return Span(e_lo / (e_lo + np.sum(e_hi) - e_hi), e_hi / (e_hi + np.sum(e_lo) - e_lo))


def function(name: str, args: list[Span]) -> Span:
    if name in INCREASING and len(args) == 1:
        fn, x = INCREASING[name], args[0]
        low = fn(x.lo)
        return Span(low, low if x.hi is x.lo else fn(x.hi))
    if name == "max":
        return Span(_max(*(a.lo for a in args)), _max(*(a.hi for a in args)))
    if name == "min":
        return Span(_min(*(a.lo for a in args)), _min(*(a.hi for a in args)))
    if name == "abs" and len(args) == 1:
        return _abs(args[0])
    if name == "sign" and len(args) == 1:
        return _sign(args[0])
    if name == "sin" and len(args) == 1:
        return _periodic(args[0], math.sin, math.pi / 2)
    if name == "cos" and len(args) == 1:
        return _periodic(args[0], math.cos, 0.0)
    if name == "softmax" and len(args) == 1:
        return _softmax(args[0])
    raise CannotEvaluate(f"the function {name}")


def compare(lhs: Span, op: str, rhs: Span) -> Span:
    """An Iverson bracket: 1 where the comparison holds for the whole range, 0 where it holds
    nowhere, [0, 1] where the range straddles the boundary."""
    tests: dict[str, Callable[[Number, Number], object]] = {
        ">": lambda a, b: a > b, "≥": lambda a, b: a >= b, ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b, "≤": lambda a, b: a <= b, "<=": lambda a, b: a <= b}
    if op not in tests:
        raise CannotEvaluate(f"the comparison {op}")
    test = tests[op]
    # the comparison is monotone in each side: its extremes are at the corners
    corners = [test(a, b) for a in (lhs.lo, lhs.hi) for b in (rhs.lo, rhs.hi)]
    if lhs.array or rhs.array:
        stacked = np.array([np.asarray(c, dtype=float) for c in corners])
        return Span(stacked.min(axis=0), stacked.max(axis=0))
    return Span(float(min(bool(c) for c in corners)), float(max(bool(c) for c in corners)))


# ------------------------------------------------------------------------ the compiled tree

Compiled = Callable[[Mapping[str, Span]], Span]


def evaluate(node: E.Expr, operands: Mapping[str, Span]) -> Span:
    """The range of ``node`` when every keyed leaf ranges over ``operands[key]``."""
    return compile_formula(node)(operands)


def value_of(node: E.Expr, operands: Mapping[str, Number]) -> Number:
    """The formula's value at exact operands (a point evaluation)."""
    result = evaluate(node, {key: point(v) for key, v in operands.items()})
    return result.lo


def compile_formula(node: E.Expr) -> Compiled:
    """The tree as nested closures, built once: ``check`` evaluates each formula once per
    answers document, so walking and dispatching on node types happens once per formula, not
    once per evaluation. A missing operand raises :class:`CannotEvaluate`."""
    run = _compile(node)

    def evaluate_compiled(operands: Mapping[str, Span]) -> Span:
        try:
            return run(operands)
        except KeyError as missing:
            raise CannotEvaluate(f"no value for {missing.args[0]}") from None

    return evaluate_compiled


def _compile(node: E.Expr) -> Compiled:
    """One compiler per node type, found along the class hierarchy (as sympy's printers find
    ``_print_<Class>``), so a subclass of a node evaluates as its base does."""
    for kind in type(node).__mro__:
        compiler = _COMPILERS.get(kind)
        if compiler is not None:
            return compiler(node)
    raise CannotEvaluate(f"a {type(node).__name__} node")


def _compile_num(node: E.Num) -> Compiled:
    constant = Span(float(node.value))
    return lambda env: constant


def _compile_leaf(node: E.Sym | E.Ref | E.Deriv) -> Compiled:
    key = node.key
    return lambda env: env[key]


def _folded(parts: list[Compiled], combine: Callable[[Span, Span], Span]) -> Compiled:
    """parts[0] combined with each later part in turn (a sum, or a product in print order)."""
    first, rest = parts[0], parts[1:]

    def fold(env: Mapping[str, Span]) -> Span:
        value = first(env)
        for part in rest:
            value = combine(value, part(env))
        return value

    return fold


def _compile_add(node: E.Add) -> Compiled:
    return _folded([_compile(t) for t in node.terms], add)


def _compile_mul(node: E.Mul) -> Compiled:
    return _folded([_compile(f) for f in node.factors], mul)


def _compile_neg(node: E.Neg) -> Compiled:
    inner = _compile(node.arg)
    return lambda env: neg(inner(env))


def _compile_div(node: E.Div) -> Compiled:
    num, den = _compile(node.num), _compile(node.den)
    return lambda env: div(num(env), den(env))


def _compile_pow(node: E.Pow) -> Compiled:
    base = _compile(node.base)
    if isinstance(node.exp, E.Text) and node.exp.text == "T":  # Xᵀ
        return lambda env: transpose(base(env))
    power_of = _compile(node.exp)
    return lambda env: power(base(env), power_of(env))


def _compile_func(node: E.Func) -> Compiled:
    name = node.name
    args = [_compile(a) for a in node.args]
    if name in INCREASING and len(args) == 1:
        fn, (arg,) = INCREASING[name], args

        def increasing(env: Mapping[str, Span]) -> Span:
            x = arg(env)
            low = fn(x.lo)
            return Span(low, low if x.hi is x.lo else fn(x.hi))

        return increasing
    return lambda env: function(name, [a(env) for a in args])


def _compile_sum(node: E.Sum) -> Compiled:
    if not node.terms:
        raise CannotEvaluate("a sum written without its terms")
    terms = node.terms
    return _compile(E.Add(terms) if len(terms) > 1 else terms[0])


def _compile_compare(node: E.Compare) -> Compiled:
    lhs, rhs, op = _compile(node.lhs), _compile(node.rhs), node.op
    return lambda env: compare(lhs(env), op, rhs(env))


_COMPILERS: dict[type, Callable[[Any], Compiled]] = {
    E.Num: _compile_num,
    E.Sym: _compile_leaf,
    E.Ref: _compile_leaf,
    E.Deriv: _compile_leaf,
    E.Add: _compile_add,
    E.Mul: _compile_mul,
    E.Neg: _compile_neg,
    E.Div: _compile_div,
    E.Pow: _compile_pow,
    E.Func: _compile_func,
    E.Sum: _compile_sum,
    E.Compare: _compile_compare,
}
