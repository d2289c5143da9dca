"""A small expression tree for the formulas a worked solution writes down.

Solvers build these trees; printers (``gdtrace.render.printer``) turn them into Unicode text,
LaTeX or Markdown math, either symbolically (``w₁x₁ + b``) or with the numbers a step used
substituted for the leaves (``0.08·5 + 0``). The tree never evaluates anything: the solver
computes the value and stores it next to the tree in a :class:`gdtrace.trace.Quantity`.

Leaves that stand for a number (:class:`Sym`, :class:`Deriv`) carry a ``key``; a quantity's
``operands`` map those keys to the values used in that step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

Operand = Union["Expr", int, float]


class Expr:
    """Base node. Operators build trees so solvers can write ``w * x + b``."""

    def __add__(self, other: Operand) -> Expr:
        return Add.of(self, lift(other))

    def __radd__(self, other: Operand) -> Expr:
        return Add.of(lift(other), self)

    def __sub__(self, other: Operand) -> Expr:
        return Add.of(self, Neg(lift(other)))

    def __rsub__(self, other: Operand) -> Expr:
        return Add.of(lift(other), Neg(self))

    def __mul__(self, other: Operand) -> Expr:
        return Mul.of(self, lift(other))

    def __rmul__(self, other: Operand) -> Expr:
        return Mul.of(lift(other), self)

    def __truediv__(self, other: Operand) -> Expr:
        return Div(self, lift(other))

    def __rtruediv__(self, other: Operand) -> Expr:
        return Div(lift(other), self)

    def __neg__(self) -> Expr:
        return Neg(self)

    def __pow__(self, other: Operand) -> Expr:
        return Pow(self, lift(other))

    def leaves(self) -> list[Expr]:
        """Substitutable leaves in print order (used to check a quantity has its operands)."""
        found: list[Expr] = []
        for child in self.children():
            found.extend(child.leaves())
        return found

    def children(self) -> tuple[Expr, ...]:
        return ()


def lift(value: Operand) -> Expr:
    """Wrap a Python number as a constant node."""
    if isinstance(value, Expr):
        return value
    return Num(value)


@dataclass(frozen=True, eq=False)
class Num(Expr):
    """A constant written the same way in both views (the 2 in 2/n, the 1 in 1 + e⁻ᶻ)."""

    value: float


_NAME_WITH_INDEX = re.compile(r"^([A-Za-z]+?)_?(\d+)$")


@dataclass(frozen=True, eq=False)
class Sym(Expr):
    """A named value such as w₁, x₃, z₂ or η; ``key`` selects its number from the operands."""

    key: str
    base: str
    sub: str = ""
    hat: bool = False

    def leaves(self) -> list[Expr]:
        return [self]


def sym(name: str, key: str | None = None, sub: str | None = None, hat: bool = False) -> Sym:
    """Make a symbol from a user-facing name: ``w1`` prints as w₁, ``W13`` as W₁₃.

    A name that does not end in digits keeps its spelling (``age``); ``sub`` overrides the
    subscript (used for per-sample values such as z with the sample number).
    """
    match = _NAME_WITH_INDEX.match(name)
    base, index = (match.group(1), match.group(2)) if match else (name, "")
    return Sym(key=key if key is not None else name, base=base,
               sub=sub if sub is not None else index, hat=hat)


@dataclass(frozen=True, eq=False)
class Deriv(Expr):
    """∂of/∂wrt as one leaf: it is a symbol for a gradient, substituted by its value."""

    of: Expr
    wrt: Expr
    key: str

    def leaves(self) -> list[Expr]:
        return [self]


@dataclass(frozen=True, eq=False)
class Ref(Expr):
    """A value written as an expression symbolically, as its number when substituted.

    ``error₁ = σ(z₁) − y₁`` uses ``Ref(σ(z₁), "sigma")`` so the numeric line shows 0.7427.
    """

    shown: Expr
    key: str

    def leaves(self) -> list[Expr]:
        return [self]


def _flattened(parts: tuple[Expr, ...], kind: type[Expr]) -> tuple[Expr, ...]:
    """The parts, each nested node of ``kind`` (a sum in a sum) replaced by its children."""
    flat: list[Expr] = []
    for part in parts:
        flat.extend(part.children() if isinstance(part, kind) else (part,))
    return tuple(flat)


@dataclass(frozen=True, eq=False)
class Add(Expr):
    terms: tuple[Expr, ...]

    @staticmethod
    def of(*parts: Expr) -> Add:
        """Flatten nested sums so ``a + b + c`` prints without brackets."""
        return Add(_flattened(parts, Add))

    def children(self) -> tuple[Expr, ...]:
        return self.terms


@dataclass(frozen=True, eq=False)
class Neg(Expr):
    arg: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)


@dataclass(frozen=True, eq=False)
class Mul(Expr):
    factors: tuple[Expr, ...]

    @staticmethod
    def of(*parts: Expr) -> Mul:
        """Flatten nested products so ``a·b·c`` prints without brackets."""
        return Mul(_flattened(parts, Mul))

    def children(self) -> tuple[Expr, ...]:
        return self.factors


@dataclass(frozen=True, eq=False)
class Div(Expr):
    num: Expr
    den: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.num, self.den)


@dataclass(frozen=True, eq=False)
class Pow(Expr):
    base: Expr
    exp: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.base, self.exp)


@dataclass(frozen=True, eq=False)
class Func(Expr):
    """A named function applied to arguments: σ(z), exp(−z), ln(p), tanh(z), relu(z)."""

    name: str
    args: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.args


def func(name: str, *args: Operand) -> Func:
    return Func(name, tuple(lift(a) for a in args))


@dataclass(frozen=True, eq=False)
class Compare(Expr):
    """An Iverson bracket such as [z > 0], worth 1 when true and 0 otherwise."""

    lhs: Expr
    op: str
    rhs: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.lhs, self.rhs)


@dataclass(frozen=True, eq=False)
class Sum(Expr):
    """Σ over an index: printed compactly in the symbolic view and term by term with numbers.

    ``body`` is the compact summand (in terms of the index), ``terms`` the same summand written
    out for each index value, so the substituted line shows every product that was added.
    """

    index: str
    upper: Expr
    body: Expr
    terms: tuple[Expr, ...] = field(default=())

    def children(self) -> tuple[Expr, ...]:
        return self.terms if self.terms else (self.body,)


@dataclass(frozen=True, eq=False)
class Text(Expr):
    """A word inside a formula (``error``, ``loss``), printed upright in every syntax."""

    text: str
