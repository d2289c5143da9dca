"""The expression language of ``gdtrace derive``, read into sympy matrix expressions.

A hand-written tokenizer and recursive-descent parser (never ``eval``/``sympify``): products by
juxtaposition or ``*``, ``^T`` (or ᵀ, ') for a transpose, ``^{-1}``/``^-1`` for an inverse,
``tr det log exp tanh sigma sqrt norm``. Shapes are tracked here, not by sympy, because sympy
accepts (1×1)·(n×n) when n is a symbol; a 1×1 product used as a number becomes a scalar
(``Trace`` of it, printed without "tr").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from gdtrace.errors import UsageError


class sigma(sp.Function):  # noqa: N801 (sympy's naming for functions)
    """The logistic function σ(u) = 1/(1 + exp(−u)); its derivative is σ(u)(1 − σ(u))."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sigma(self.args[0]) * (1 - sigma(self.args[0]))


class dsigma(sp.Function):  # noqa: N801
    """σ′(u), written as its own name in elementwise derivatives."""


class dtanh(sp.Function):  # noqa: N801
    """tanh′(u) = 1 − tanh²(u)."""


class recip(sp.Function):  # noqa: N801
    """1/u elementwise (the derivative of log)."""


class dsqrt(sp.Function):  # noqa: N801
    """1/(2·sqrt(u)) elementwise."""


class ddsigma(sp.Function):  # noqa: N801
    """σ′′(u) = σ′(u)(1 − 2σ(u)), for second derivatives."""


class ddtanh(sp.Function):  # noqa: N801
    """tanh′′(u) = −2·tanh(u)·(1 − tanh²(u))."""


class drecip(sp.Function):  # noqa: N801
    """(1/u)′ = −1/u² elementwise."""


class ddsqrt(sp.Function):  # noqa: N801
    """(1/(2·sqrt(u)))′ = −1/(4·u^(3/2)) elementwise."""


ELEMENTWISE = {"exp": sp.exp, "log": sp.log, "tanh": sp.tanh, "sigma": sigma, "sqrt": sp.sqrt}
FUNCTIONS = ("tr", "trace", "det", "log", "ln", "exp", "tanh", "sigma", "sigmoid", "σ", "sqrt",
             "norm", "logdet")


class DeriveError(UsageError):
    """Bad input to ``derive``: the message names the text and column."""


@dataclass
class Expression:
    """A parsed expression: the sympy tree and the matrix symbols it uses."""

    tree: Any
    symbols: dict[str, Any]


# ------------------------------------------------------------------------------------ shapes

_SHAPE = re.compile(
    r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(\d+|[A-Za-z])\s*(?:[x×*]\s*(\d+|[A-Za-z]))?\s*$")


def _dim(text: str) -> Any:
    return int(text) if text.isdigit() else sp.Symbol(text, integer=True, positive=True)


def parse_shapes(text: str | None) -> dict[str, tuple[Any, Any]]:
    """``"X=3x4,a=3,s=1"`` → {X: (3, 4), a: (3, 1), s: (1, 1)}; letters are sizes left open."""
    shapes: dict[str, tuple[Any, Any]] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        match = _SHAPE.match(part)
        if not match:
            raise DeriveError(f"--shape: {part.strip()!r} is not NAME=ROWSxCOLS (e.g. X=3x4) or "
                              "NAME=ROWS (a column vector)")
        name, rows, cols = match.groups()
        if rows == "0" or cols == "0":
            raise DeriveError(f"--shape: {part.strip()!r}: sizes must be at least 1")
        shapes[name] = (_dim(rows), _dim(cols) if cols else 1)
    return shapes


N = sp.Symbol("n", integer=True, positive=True)
MAX_MATRIX_POWER = 10  # the product rule writes k terms for Aᵏ


def default_shape(name: str) -> tuple[Any, Any]:
    """A capital letter is an n×n matrix, a lower-case one a column vector of n."""
    return (N, N) if name[0].isupper() else (N, 1)


def shape_of(e: Any) -> tuple[Any, Any] | None:
    """The shape of a matrix expression, None for a scalar."""
    return tuple(e.shape) if isinstance(e, sp.MatrixExpr) else None


def is_one(e: Any) -> bool:
    return shape_of(e) == (1, 1)


def scalar(e: Any) -> Any:
    """A 1×1 matrix used as a number."""
    return sp.Trace(e) if is_one(e) else e


def show_shape(shape: tuple[Any, Any] | None) -> str:
    if shape is None:
        return "scalar"
    rows, cols = shape
    return f"{rows}×{cols}"


# ------------------------------------------------------------------------------------ tokens

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d*)?|\.\d+)
  | (?P<invtranspose>\^\{\s*-\s*T\s*\}|\^\s*-\s*T(?![A-Za-z0-9])|⁻ᵀ)
  | (?P<inverse>\^\{\s*-\s*1\s*\}|\^\s*-\s*1|⁻¹)
  | (?P<transpose>\^\{\s*T\s*\}|\^\s*T(?![A-Za-z0-9])|ᵀ|')
  | (?P<name>[A-Za-z][A-Za-z0-9_]*|σ)
  | (?P<norm>\|\||‖)
  | (?P<sub>_[A-Za-z0-9]+)
  | (?P<op>[-+*/^(),·⊙−]|\{|\})
""", re.VERBOSE)


def tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise DeriveError(f"unexpected character {text[pos]!r} at column {pos + 1}: "
                              f"{text[:pos]}‸{text[pos:]}")
        kind = match.lastgroup or ""
        if kind == "name":
            # names are a letter and digits (X, W1, x2); a run of letters is a product (XX, ab)
            # unless it is a function name followed by "("
            word = match.group()
            rest = text[match.end():].lstrip()
            if not (word in FUNCTIONS and rest.startswith("(")):
                split = re.match(r"[A-Za-z][0-9_]*", word)
                word = split.group() if split else word
            tokens.append(("name", word, pos))
            pos += len(word)
            continue
        if kind != "space":
            value = match.group()
            if kind == "op" and value == "−":
                value = "-"
            tokens.append((kind, value, pos))
        pos = match.end()
    tokens.append(("end", "", len(text)))
    return tokens


# ------------------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, text: str, shapes: dict[str, tuple[Any, Any]], what: str,
                 identity: bool) -> None:
        self.identity = identity
        self.text = text
        self.what = what
        try:
            self.tokens = tokenize(text)
        except DeriveError as error:
            raise DeriveError(f"{what}: {error}") from None
        self.i = 0
        self.shapes = shapes
        self.symbols: dict[str, Any] = {}
        self.in_norm = 0

    def error(self, message: str, pos: int | None = None) -> DeriveError:
        if pos is None:
            pos = self.tokens[self.i][2]
        return DeriveError(f"{self.what}: {message} at column {pos + 1}: "
                           f"{self.text[:pos]}‸{self.text[pos:]}")

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self) -> tuple[str, str, int]:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, value: str) -> None:
        kind, got, pos = self.take()
        if got != value:
            raise self.error(f"expected {value!r}, got {got or 'the end'!r}", pos)

    def parse(self) -> Expression:
        if self.peek()[0] == "end":
            raise self.error("empty expression")
        tree = self.sum()
        if self.peek()[0] != "end":
            raise self.error(f"unexpected {self.peek()[1]!r}")
        return Expression(tree, self.symbols)

    def sum(self) -> Any:
        left = self.product()
        while self.peek()[1] in ("+", "-"):
            _, op, pos = self.take()
            right = self.product()
            left = self.add(left, -right if op == "-" else right, pos)
        return left

    def starts_factor(self) -> bool:
        kind, value, _ = self.peek()
        return kind in ("number", "name") or value == "(" or (kind == "norm"
                                                                  and not self.in_norm)

    def product(self) -> Any:
        left = self.unary()
        while True:
            kind, value, pos = self.peek()
            if value in ("*", "·"):
                self.take()
                left = self.mul(left, self.unary(), pos)
            elif value == "⊙":
                self.take()
                left = self.hadamard(left, self.unary(), pos)
            elif value == "/":
                self.take()
                right = self.unary()
                if shape_of(right) not in (None, (1, 1)):
                    raise self.error("can only divide by a number or a scalar", pos)
                left = self.mul(left, 1 / scalar(right), pos)
            elif self.starts_factor():
                left = self.mul(left, self.unary(), pos)
            else:
                return left

    def unary(self) -> Any:
        if self.peek()[1] == "-":
            self.take()
            return -self.unary()
        if self.peek()[1] == "+":
            self.take()
            return self.unary()
        return self.postfix()

    def postfix(self) -> Any:
        base = self.atom()
        while True:
            kind, value, pos = self.peek()
            if kind == "transpose":
                self.take()
                base = base.T if shape_of(base) is not None else base
            elif kind == "inverse":
                self.take()
                base = self.inverse(base, pos)
            elif kind == "invtranspose":
                self.take()
                inverse = self.inverse(base, pos)
                base = inverse.T if shape_of(inverse) is not None else inverse
            elif value == "^":
                self.take()
                power = self.exponent()
                base = self.power(base, power, pos)
            else:
                return base

    def exponent(self) -> Any:
        kind, value, pos = self.take()
        negative = False
        if value == "{":
            inner = self.sum()
            self.expect("}")
            if shape_of(inner) is not None:
                raise self.error("an exponent must be a number", pos)
            return inner
        if value == "-":
            negative = True
            kind, value, pos = self.take()
        if kind == "number":
            number = sp.Rational(value)
            return -number if negative else number
        if value == "(":
            inner = self.sum()
            self.expect(")")
            return -inner if negative else inner
        raise self.error("expected an exponent (a number, T or -1)", pos)

    def atom(self) -> Any:
        kind, value, pos = self.take()
        if kind == "number":
            return sp.Rational(value)
        if kind == "norm":
            self.in_norm += 1
            inner = self.sum()
            self.in_norm -= 1
            closing = self.take()
            if closing[0] != "norm":
                raise self.error("expected a closing ‖ (or ||)", closing[2])
            self.norm_suffix()
            return self.norm(inner)
        if value == "(":
            inner = self.sum()
            self.expect(")")
            return inner
        if kind == "name":
            if value in FUNCTIONS and self.peek()[1] == "(":
                self.take()
                argument = self.sum()
                self.expect(")")
                if value == "norm":
                    self.norm_suffix()
                return self.function(value, argument, pos)
            return self.symbol(value)
        raise self.error(f"unexpected {value or 'end of text'!r}", pos)

    def norm_suffix(self) -> None:
        """``‖X‖_F`` and ``‖x‖_2`` name the norm the parser uses anyway."""
        kind, value, pos = self.peek()
        if kind == "sub":
            self.take()

    def symbol(self, name: str) -> Any:
        if name == "I" and name not in self.shapes and self.identity:
            return sp.Identity(N)
        if name not in self.symbols:
            rows, cols = self.shapes.get(name, default_shape(name))
            self.symbols[name] = sp.MatrixSymbol(name, rows, cols)
        return self.symbols[name]

    # ---------------------------------------------------------------- building, shapes checked

    def mul(self, left: Any, right: Any, pos: int) -> Any:
        ls, rs = shape_of(left), shape_of(right)
        if ls is None or rs is None:
            return left * right
        if ls[1] == rs[0]:
            return sp.MatMul(left, right)
        if ls == (1, 1):
            return scalar(left) * right
        if rs == (1, 1):
            return left * scalar(right)
        raise self.error(f"cannot multiply a {show_shape(ls)} by a {show_shape(rs)} "
                         "(give sizes with --shape, e.g. X=3x4)", pos)

    def hadamard(self, left: Any, right: Any, pos: int) -> Any:
        if shape_of(left) is None or shape_of(right) is None or shape_of(left) != shape_of(right):
            raise self.error(f"⊙ needs two matrices of one shape, got {show_shape(shape_of(left))}"
                             f" and {show_shape(shape_of(right))}", pos)
        return sp.HadamardProduct(left, right)

    def add(self, left: Any, right: Any, pos: int) -> Any:
        ls, rs = shape_of(left), shape_of(right)
        if ls == rs:
            return left + right
        if ls in (None, (1, 1)) and rs in (None, (1, 1)):
            return scalar(left) + scalar(right)
        raise self.error(f"cannot add a {show_shape(ls)} and a {show_shape(rs)}", pos)

    def square(self, e: Any, what: str, pos: int) -> None:
        shape = shape_of(e)
        if shape is not None and shape[0] != shape[1]:
            raise self.error(f"{what} needs a square matrix, got {show_shape(shape)}", pos)

    def inverse(self, e: Any, pos: int) -> Any:
        if shape_of(e) in (None, (1, 1)):
            return 1 / scalar(e)
        self.square(e, "an inverse", pos)
        return e.I

    def power(self, base: Any, power: Any, pos: int) -> Any:
        if shape_of(base) in (None, (1, 1)):
            return scalar(base) ** power
        self.square(base, "a matrix power", pos)
        if not power.is_Integer or abs(power) > MAX_MATRIX_POWER:
            raise self.error(f"a matrix power must be a whole number from −{MAX_MATRIX_POWER} "
                             f"to {MAX_MATRIX_POWER}", pos)
        return sp.MatPow(base, power) if power != -1 else base.I

    def function(self, name: str, argument: Any, pos: int) -> Any:
        shape = shape_of(argument)
        if name in ("tr", "trace"):
            if shape is None:
                raise self.error("tr needs a matrix", pos)
            self.square(argument, "tr", pos)
            return sp.Trace(argument)
        if name in ("det", "logdet"):
            if shape is None:
                raise self.error(f"{name} needs a matrix", pos)
            self.square(argument, name, pos)
            det = sp.Determinant(argument) if shape != (1, 1) else scalar(argument)
            return sp.log(det) if name == "logdet" else det
        if name == "norm":
            return self.norm(argument)
        name = {"ln": "log", "sigmoid": "sigma", "σ": "sigma"}.get(name, name)
        function = ELEMENTWISE[name]
        if shape in (None, (1, 1)):
            return function(scalar(argument))
        d = sp.Dummy("d")
        return ElementwiseApplyFunction(sp.Lambda(d, function(d)), argument)

    def norm(self, argument: Any) -> Any:
        """‖x‖ = sqrt(xᵀx); ‖X‖ (Frobenius) = sqrt(tr(XᵀX))."""
        if shape_of(argument) is None:
            return sp.Abs(argument)
        return sp.sqrt(sp.Trace(argument.T * argument))


def parse(text: str, shapes: dict[str, tuple[Any, Any]], what: str = "f",
          identity: bool = True) -> Expression:
    """Read ``text``; ``what`` names it in messages (``f``, ``--claim``). ``I`` is the n×n
    identity unless ``--shape`` sizes it or ``identity`` is false (f uses I as a matrix)."""
    return _Parser(text, shapes, what, identity).parse()
