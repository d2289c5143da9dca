"""Derivatives by differentials, with the identity of every step recorded.

The method of matrix-calculus tables: write the differential df with the product rule and the
rules of each function (d(A⁻¹) = −A⁻¹·dA·A⁻¹, d log det A = tr(A⁻¹dA) …), then bring every
term into the form tr(Q·dX) by trace cyclicity and read off ∂f/∂X = Qᵀ (df = J·dx for a
vector f). sympy holds the expressions and does the algebra (expanding, collecting terms);
the rules are applied here because sympy's own ``.diff`` misses some (log det gives 0 in sympy
1.14) and because the steps are what a student has to see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.matrices.expressions.diagonal import DiagMatrix

from gdtrace.derive.dispatch import handler
from gdtrace.derive.parse import (
    DeriveError,
    Expression,
    ddsigma,
    ddsqrt,
    ddtanh,
    drecip,
    dsigma,
    dsqrt,
    dtanh,
    recip,
    scalar,
    shape_of,
    show_shape,
    sigma,
)

RULES: dict[str, str] = {
    "linear": "linearity: d(A + B) = dA + dB, d(cA) = c·dA",
    "product": "product rule: d(AB) = dA·B + A·dB",
    "transpose": "d(Aᵀ) = (dA)ᵀ",
    "inverse": "d(A⁻¹) = −A⁻¹·dA·A⁻¹",
    "trace": "d tr(A) = tr(dA)",
    "det": "Jacobi's formula: d det(A) = det(A)·tr(A⁻¹·dA)",
    "logdet": "d log det(A) = tr(A⁻¹·dA)",
    "log": "d log(u) = du/u",
    "power": "d(uᵖ) = p·uᵖ⁻¹·du",
    "matpow": "d(Aᵏ) = Σⱼ Aʲ·dA·Aᵏ⁻¹⁻ʲ",
    "elementwise": "an elementwise function: d f(U) = f′(U) ⊙ dU",
    "sigma": "σ′(u) = σ(u)(1 − σ(u))",
    "tanh": "tanh′(u) = 1 − tanh²(u)",
    "exp": "exp′(u) = exp(u)",
    "scalar-fn": "d g(u) = g′(u)·du for a function g of a number",
    "hadamard": "d(A ⊙ B) = dA ⊙ B + A ⊙ dB",
    "one-by-one": "a 1×1 product is a number: it equals its trace and its transpose",
    "cyclic": "trace cyclicity: tr(LR) = tr(RL), tr(Aᵀ) = tr(A)",
    "hadamard-trace": "tr(Q(G ⊙ V)) = tr((Qᵀ ⊙ G)ᵀ·V)",
    "read-gradient": "df = tr(Q·dX) for every dX ⇔ ∂f/∂X = Qᵀ",
    "diag": "g ⊙ v = diag(g)·v for column vectors",
    "read-jacobian": "df = J·dx for every dx ⇔ ∂f/∂x = J",
}


@dataclass
class Step:
    """One written line: an equation chain (sympy expressions and words) and the rule used."""

    rule: str  # a key of RULES, or "" for a plain line
    chain: list[Any]  # printed joined by " = "; a str is written as it is
    q: Any = None  # the term is tr(Q·dX) (or tr(Q·dXᵀ) when transposed is set) …
    contribution: Any = None  # … and adds this to the derivative
    transposed: bool = False


@dataclass
class Derivation:
    f: Expression
    wrt: str
    variable: Any
    kind: str  # "scalar" (f is a number) or "vector" (f is a column vector)
    differential: Any
    steps: list[Step]
    rules: list[str]  # the differential rules used, in order of first use
    derivative: Any  # in the ml layout: shape of X (scalar f) or the m×n Jacobian
    second: Any = None  # the Hessian (vector variable) or d²f (matrix variable), else None
    second_kind: str = ""  # "hessian", "differential" or "" with the reason in second_note
    second_note: str = ""
    gradient: Any = None  # scalar f: ∂f/∂X in the ml layout (used for the Hessian check)
    extra: dict[str, Any] = field(default_factory=dict)


def differential_symbol(variable: Any) -> Any:
    return sp.MatrixSymbol(f"d{variable.name}", *variable.shape)


class _Differ:
    """d(e) for an expression in X, with dX a matrix symbol; records the rules it uses."""

    def __init__(self, variable: Any, d_variable: Any) -> None:
        self.x = variable
        self.dx = d_variable
        self.rules: list[str] = []

    def use(self, rule: str) -> None:
        if rule not in self.rules:
            self.rules.append(rule)

    def zero(self, e: Any) -> Any:
        shape = shape_of(e)
        return sp.ZeroMatrix(*shape) if shape is not None else sp.Integer(0)

    def __call__(self, e: Any) -> Any:
        if not e.has(self.x):
            return self.zero(e)
        if e == self.x:
            return self.dx
        rule = handler(self, "_d_", e)
        if rule is None:
            raise DeriveError(f"cannot differentiate {e} (not one of the supported operations)")
        return rule(e)

    def _d_MatAdd(self, e: Any) -> Any:
        self.use("linear")
        parts = [self(a) for a in e.args if a.has(self.x)]
        return sp.MatAdd(*parts) if shape_of(e) is not None else sp.Add(*parts)

    _d_Add = _d_MatAdd

    def _d_MatMul(self, e: Any) -> Any:
        return self.matmul(e)

    def _d_Transpose(self, e: Any) -> Any:
        self.use("transpose")
        return sp.Transpose(self(e.arg))

    def _d_Inverse(self, e: Any) -> Any:
        self.use("inverse")
        return -sp.MatMul(e, self(e.arg), e)

    def _d_MatPow(self, e: Any) -> Any:
        return self.matpow(e)

    def _d_HadamardProduct(self, e: Any) -> Any:
        self.use("hadamard")
        terms = []
        for k, arg in enumerate(e.args):
            if arg.has(self.x):
                rest = list(e.args[:k]) + [self(arg)] + list(e.args[k + 1:])
                terms.append(sp.HadamardProduct(*rest))
        return sp.MatAdd(*terms)

    def _d_ElementwiseApplyFunction(self, e: Any) -> Any:
        return self.elementwise(e)

    def _d_Trace(self, e: Any) -> Any:
        self.use("trace")
        return sp.Trace(self(e.arg))

    def _d_Determinant(self, e: Any) -> Any:
        self.use("det")
        return e * sp.Trace(sp.MatMul(e.arg.I, self(e.arg)))

    def _d_Mul(self, e: Any) -> Any:
        self.use("product")
        terms = []
        for k, arg in enumerate(e.args):
            if arg.has(self.x):
                terms.append(sp.Mul(*e.args[:k], self(arg), *e.args[k + 1:]))
        return sp.Add(*terms)

    def _d_log(self, e: Any) -> Any:
        if not isinstance(e.args[0], sp.Determinant):
            return self._d_Function(e)
        self.use("logdet")
        inner = e.args[0].arg
        return sp.Trace(sp.MatMul(inner.I, self(inner)))

    def _d_Pow(self, e: Any) -> Any:
        if not e.exp.is_number:
            raise DeriveError(f"cannot differentiate {e} (not one of the supported operations)")
        self.use("power")
        return e.exp * e.base ** (e.exp - 1) * self(e.base)

    def _d_Function(self, e: Any) -> Any:
        rule = {sp.log: "log", sp.exp: "exp", sp.tanh: "tanh", sigma: "sigma"}.get(e.func)
        if len(e.args) != 1:
            raise DeriveError(f"cannot differentiate {e} (not one of the supported operations)")
        if rule is None:
            raise DeriveError(f"cannot differentiate {e.func.__name__}")
        self.use("scalar-fn")
        self.use(rule)
        return e.fdiff() * self(e.args[0])

    def matmul(self, e: Any) -> Any:
        coeff, mats = e.as_coeff_matrices()
        factors = ([coeff] if coeff != 1 else []) + list(mats)
        if sum(1 for f in factors if f.has(self.x)) > 1:
            self.use("product")
        terms = []
        for k, factor in enumerate(factors):
            if factor.has(self.x):
                rest = factors[:k] + [self(factor)] + factors[k + 1:]
                terms.append(sp.MatMul(*rest))
        return sp.MatAdd(*terms) if len(terms) > 1 else terms[0]

    def matpow(self, e: Any) -> Any:
        base, k = e.args
        if k < 0:
            return self(sp.Inverse(sp.MatPow(base, -k)))
        self.use("matpow")
        dbase = self(base)
        terms = [sp.MatMul(*([base] * j), dbase, *([base] * (int(k) - 1 - j)))
                 for j in range(int(k))]
        return sp.MatAdd(*terms)

    def elementwise(self, e: Any) -> Any:
        self.use("elementwise")
        inner = e.function.expr
        var = e.function.variables[0]
        derivative: Any
        if inner == sp.sqrt(var):
            derivative = dsqrt
        else:
            derivative = _ELEMENTWISE_PRIME.get(inner.func)
            if derivative is None:
                raise DeriveError(f"cannot differentiate the elementwise {inner}")
            rule = {sp.exp: "exp", sp.log: "log", sp.tanh: "tanh", sigma: "sigma"}.get(inner.func)
            if rule:
                self.use(rule)
        d = sp.Dummy("d")
        prime = ElementwiseApplyFunction(sp.Lambda(d, derivative(d)), e.expr)
        return sp.HadamardProduct(prime, self(e.expr))


_ELEMENTWISE_PRIME = {sp.exp: sp.exp, sp.log: recip, sp.tanh: dtanh, sigma: dsigma,
                      dsigma: ddsigma, dtanh: ddtanh, recip: drecip, dsqrt: ddsqrt}


def _expand(e: Any) -> Any:
    """Distribute products over sums and transposes over products."""
    return sp.expand(e.doit(deep=True) if hasattr(e, "doit") else e)


def _product(mats: list[Any], size: Any) -> Any:
    if not mats:
        return sp.Identity(size)
    return mats[0] if len(mats) == 1 else sp.MatMul(*mats)


class _Reader:
    """Brings each term of df into tr(Q·dX) (or J·dx) and reads the derivative off."""

    def __init__(self, variable: Any, d_variable: Any, steps: list[Step]) -> None:
        self.x = variable
        self.dx = d_variable
        self.steps = steps
        self.rules: list[str] = []

    def use(self, rule: str) -> None:
        if rule not in self.rules:
            self.rules.append(rule)

    # ------------------------------------------------------------------------ scalar f

    def scalar_terms(self, e: Any) -> list[tuple[Any, Any]]:
        """df as a sum of coefficient × tr(M), each M a product linear in dX."""
        if shape_of(e) == (1, 1):
            return self.matrix_terms(e)
        if isinstance(e, sp.Add):
            return [t for a in e.args for t in self.scalar_terms(a)]
        if isinstance(e, sp.Mul):
            inside = [a for a in e.args if a.has(self.dx)]
            if len(inside) != 1:
                raise DeriveError("internal: a term of df is not linear in the differential")
            outside = sp.Mul(*[a for a in e.args if not a.has(self.dx)])
            return [(outside * c, m) for c, m in self.scalar_terms(inside[0])]
        if isinstance(e, sp.Trace):
            return self.matrix_terms(e.arg)
        if shape_of(e) == (1, 1):
            return self.matrix_terms(e)
        raise DeriveError(f"internal: cannot read a gradient from {e}")

    def matrix_terms(self, m: Any) -> list[tuple[Any, Any]]:
        m = _expand(m)
        if isinstance(m, sp.MatAdd):
            return [t for a in m.args for t in self.matrix_terms(a)]
        if isinstance(m, sp.MatMul):
            coeff, mats = m.as_coeff_matrices()
            if coeff.has(self.dx):  # tr(c(dX)·P) = c(dX)·tr(P)
                rest = sp.Trace(_product(list(mats), m.shape[0]))
                return [(c * rest, t) for c, t in self.scalar_terms(coeff)]
            return [(coeff, _product(list(mats), m.shape[0]))]
        if isinstance(m, sp.Transpose):
            self.use("cyclic")
            return self.matrix_terms(m.arg)
        return [(sp.Integer(1), m)]

    def gradient_of(self, coeff: Any, m: Any) -> list[Any]:
        """tr(coeff·m) = tr(Q·dX) → Qᵀ (one or more contributions)."""
        mats = list(m.args) if isinstance(m, sp.MatMul) else [m]
        where = [k for k, f in enumerate(mats) if f.has(self.dx)]
        if len(where) != 1:
            raise DeriveError("internal: a term of df is not linear in the differential")
        k = where[0]
        factor = mats[k]
        q = mats[k + 1:] + mats[:k]
        size = factor.shape[1]
        term = coeff * scalar(m) if shape_of(m) == (1, 1) else coeff * sp.Trace(m)
        if factor == self.dx:
            qm = _product(q, size)
            grad = coeff * sp.Transpose(qm).doit()
            if k != 0 and q:
                self.use("cyclic")
            chain = [term] if k == 0 else [term, sp.Mul(coeff, sp.Trace(sp.MatMul(qm, self.dx)))]
            self.steps.append(Step("cyclic" if k != 0 else "", chain, coeff * qm, grad))
            return [grad]
        if factor == sp.Transpose(self.dx):
            qm = _product(q, size)
            self.use("cyclic")
            grad = coeff * qm
            self.steps.append(Step("cyclic", [term, sp.Mul(coeff, sp.Trace(
                sp.MatMul(sp.Transpose(qm).doit(), self.dx)))], coeff * qm, grad, True))
            return [grad]
        if isinstance(factor, sp.HadamardProduct):
            self.use("hadamard-trace")
            v = [a for a in factor.args if a.has(self.dx)]
            g = [a for a in factor.args if not a.has(self.dx)]
            qm = _product(q, size)
            new_q = sp.Transpose(sp.HadamardProduct(sp.Transpose(qm).doit(), *g)).doit()
            inner = sp.MatMul(new_q, v[0])
            self.steps.append(Step("hadamard-trace", [term, sp.Mul(coeff, sp.Trace(inner))]))
            out = []
            for c, t in self.matrix_terms(inner):
                out.extend(self.gradient_of(coeff * c, t))
            return out
        if isinstance(factor, sp.Transpose):
            return self.gradient_of(coeff, sp.MatMul(*mats[:k], factor.doit(), *mats[k + 1:]))
        raise DeriveError(f"internal: cannot bring {factor} into tr(Q·dX)")

    def gradient(self, df: Any) -> Any:
        contributions = []
        for coeff, m in ([] if not df.has(self.dx) else self.scalar_terms(df)):
            contributions.extend(self.gradient_of(coeff, m))
        self.use("read-gradient")
        return _collect(contributions, self.x.shape)

    # ------------------------------------------------------------------------ vector f

    def jacobian(self, df: Any, rows: Any) -> Any:
        parts = []
        for term in _terms(_expand(df)):
            parts.extend(self.jacobian_of(term, rows))
        self.use("read-jacobian")
        return _collect(parts, (rows, self.x.shape[0]))

    def jacobian_of(self, term: Any, rows: Any) -> list[Any]:
        if not term.has(self.dx):  # a zero term (the derivative of a constant)
            return []
        coeff, mats = (term.as_coeff_matrices() if isinstance(term, sp.MatMul)
                       else (sp.Integer(1), [term]))
        mats = list(mats)
        if coeff.has(self.dx):  # c(dx)·P with c = gᵀdx: P·gᵀ
            grad = self.gradient(coeff)
            return [sp.MatMul(_product(mats, rows), sp.Transpose(grad)).doit()]
        where = [k for k, f in enumerate(mats) if f.has(self.dx)]
        k = where[0]
        factor, left, right = mats[k], mats[:k], mats[k + 1:]
        n = self.x.shape[0]
        if factor == self.dx:
            scale = sp.Trace(_product(right, 1)) if right else sp.Integer(1)
            if right:
                self.use("one-by-one")
            return [coeff * scale * _product(left, n)]
        if factor == sp.Transpose(self.dx):  # L·(dxᵀR) = L·(Rᵀdx)
            self.use("one-by-one")
            return [coeff * sp.MatMul(_product(left, rows), sp.Transpose(_product(right, n)))
                    .doit()]
        if isinstance(factor, sp.HadamardProduct) and factor.shape[1] == 1:
            self.use("diag")
            v = [a for a in factor.args if a.has(self.dx)][0]
            g = [a for a in factor.args if not a.has(self.dx)]
            gv = g[0] if len(g) == 1 else sp.HadamardProduct(*g)
            rewritten = sp.MatMul(*left, DiagMatrix(gv), v, *right)
            out = []
            for t in _terms(_expand(rewritten)):
                out.extend(self.jacobian_of(coeff * t if coeff != 1 else t, rows))
            return out
        raise DeriveError(f"internal: cannot bring {factor} into J·dx")


def _terms(e: Any) -> list[Any]:
    return list(e.args) if isinstance(e, sp.MatAdd) else [e]


def _collect(parts: list[Any], shape: tuple[Any, Any]) -> Any:
    if not parts:
        return sp.ZeroMatrix(*shape)
    total = sp.MatAdd(*parts).doit() if len(parts) > 1 else parts[0]
    return total


def simplify(e: Any) -> Any:
    """Collect like terms (tr(A) + tr(A) → 2·tr(A)); leaves the form otherwise."""
    try:
        return sp.expand(e.doit())
    except Exception:  # noqa: BLE001 (sympy raises many kinds; the unsimplified form is right)
        return e


def derive(f: Expression, wrt: str) -> Derivation:
    """The derivative of f with respect to the variable ``wrt``, with its steps."""
    if wrt not in f.symbols:
        names = ", ".join(sorted(f.symbols)) or "none"
        raise DeriveError(f"--wrt: {wrt!r} does not occur in f (its variables: {names})")
    x = f.symbols[wrt]
    dx = differential_symbol(x)
    tree = f.tree
    shape = shape_of(tree)
    if shape is not None and shape != (1, 1) and shape[1] != 1:
        raise DeriveError(f"f is a {show_shape(shape)} matrix: its derivative is a 4-tensor; "
                          "derive takes a scalar f or a column vector f")
    kind = "scalar" if shape in (None, (1, 1)) else "vector"
    if kind == "vector" and x.shape[1] != 1:
        raise DeriveError(f"f is a vector and {wrt} a {show_shape(x.shape)} matrix: the "
                          "derivative is a 3-tensor; derive takes a vector f with respect to a "
                          "vector")
    differ = _Differ(x, dx)
    df = differ(tree)
    steps: list[Step] = [Step("", ["df", df])]
    reader = _Reader(x, dx, steps)
    if kind == "scalar":
        if shape == (1, 1):
            reader.use("one-by-one")
        derivative = reader.gradient(df)
        gradient = derivative
    else:
        assert shape is not None  # a vector f has a shape
        derivative = reader.jacobian(df, shape[0])
        gradient = None
    result = Derivation(f, wrt, x, kind, df, steps, differ.rules + reader.rules, derivative,
                        gradient=gradient)
    _second(result, differ, dx)
    return result


def _second(result: Derivation, differ: _Differ, dx: Any) -> None:
    """The Hessian of a scalar f of a vector; d²f for a matrix variable; else a reason."""
    if result.kind != "scalar":
        result.second_note = ("the second derivative of a vector-valued f is a third-order "
                              "tensor (not written)")
        return
    x = result.variable
    if x.shape[1] == 1:
        second_steps: list[Step] = []
        reader = _Reader(x, dx, second_steps)
        hessian_differ = _Differ(x, dx)
        try:
            dg = hessian_differ(result.gradient)
            result.second = reader.jacobian(dg, x.shape[0])
        except DeriveError as error:
            result.second_note = f"the Hessian is not written: {error}"
            return
        result.second_kind = "hessian"
        return
    second_differ = _Differ(x, dx)
    try:
        result.second = simplify(second_differ(result.differential))
    except DeriveError as error:
        result.second_note = f"the second derivative is not written: {error}"
        return
    result.second_kind = "differential"
    result.second_note = ("for a matrix variable the Hessian is the quadratic form "
                          "d²f(dX) (dX held fixed)")
