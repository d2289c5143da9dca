"""Matrix expressions written the way a course writes them: Xabᵀ, tr(AX), X⁻ᵀ, σ′(Wx) ⊙ a.

sympy's own printers write ``X*a*b.T`` and ``Trace(a.T*b)``; these two printers (Unicode and
LaTeX) share one traversal and differ only in syntax. A 1×1 product inside a trace is written
without "tr" (it is a number), as a hand derivation does.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from gdtrace.derive import parse as p
from gdtrace.derive.dispatch import handler

ADD, MUL, POW, ATOM = 1, 2, 3, 4

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class UnicodePrinter:
    """Plain text with Unicode: ᵀ, ⁻¹, ⊙, σ′."""

    minus = "−"
    times = "·"
    hadamard = " ⊙ "
    names = {p.sigma: "σ", p.dsigma: "σ′", p.ddsigma: "σ′′", sp.tanh: "tanh",
             p.dtanh: "tanh′", p.ddtanh: "tanh′′", sp.exp: "exp", sp.log: "log"}

    def __call__(self, e: Any) -> str:
        if isinstance(e, str):
            return e
        return self.p(e)[0]

    # syntax, overridden by LaTeX
    def transpose(self, base: str) -> str:
        return base + "ᵀ"

    def inverse(self, base: str) -> str:
        return base + "⁻¹"

    def inverse_transpose(self, base: str) -> str:
        return base + "⁻ᵀ"

    def power(self, base: str, exponent: Any) -> str:
        if exponent.is_Integer:
            return base + str(exponent).translate(_SUPERSCRIPT)
        return f"{base}^({self(exponent)})"

    def hadamard_power(self, base: str, exponent: Any) -> str:
        return f"{base}^⊙{exponent}"

    def call(self, name: str, argument: str) -> str:
        return f"{name}({argument})"

    def paren(self, text: str) -> str:
        return f"({text})"

    def fraction(self, num: str, den: str, num_prec: int, den_prec: int) -> str:
        num = num if num_prec > ADD else self.paren(num)
        den = den if den_prec > MUL else self.paren(den)
        return f"{num}/{den}"

    def sqrt(self, argument: str) -> str:
        return f"sqrt({argument})"

    def symbol(self, name: str) -> str:
        return name

    def juxtapose(self, left: str, right: str, simple: bool) -> str:
        return left + ("" if simple else self.times) + right

    def recip(self, argument: str) -> str:
        return f"1 ⊘ {argument}"

    def number(self, value: Any) -> str:
        return str(value)

    # traversal
    def wrap(self, e: Any, level: int) -> str:
        text, prec = self.p(e)
        return text if prec >= level else self.paren(text)

    def p(self, e: Any) -> tuple[str, int]:
        """The text of ``e`` and its precedence, from the handler for its class."""
        print_node = handler(self, "_print_", e)
        if print_node is None:
            return str(e), ATOM
        return print_node(e)

    def _print_MatrixSymbol(self, e: Any) -> tuple[str, int]:
        return self.symbol(e.name), ATOM

    def _print_Identity(self, e: Any) -> tuple[str, int]:
        return "I", ATOM

    def _print_ZeroMatrix(self, e: Any) -> tuple[str, int]:
        return "0", ATOM

    def _print_Transpose(self, e: Any) -> tuple[str, int]:
        if isinstance(e.arg, sp.Inverse):
            return self.inverse_transpose(self.wrap(e.arg.arg, ATOM)), POW
        return self.transpose(self.wrap(e.arg, ATOM)), POW

    def _print_Inverse(self, e: Any) -> tuple[str, int]:
        if isinstance(e.arg, sp.Transpose):
            return self.inverse_transpose(self.wrap(e.arg.arg, ATOM)), POW
        return self.inverse(self.wrap(e.arg, ATOM)), POW

    def _print_MatPow(self, e: Any) -> tuple[str, int]:
        return self.power(self.wrap(e.args[0], ATOM), e.args[1]), POW

    def _print_MatAdd(self, e: Any) -> tuple[str, int]:
        return self.add(e), ADD

    _print_Add = _print_MatAdd

    def _print_MatMul(self, e: Any) -> tuple[str, int]:
        return self.matmul(e)

    def _print_Trace(self, e: Any) -> tuple[str, int]:
        if p.shape_of(e.arg) == (1, 1):
            return self.p(e.arg)
        return self.call(self.operator("tr"), self(e.arg)), ATOM

    def _print_Determinant(self, e: Any) -> tuple[str, int]:
        return self.call(self.operator("det"), self(e.arg)), ATOM

    def _print_HadamardProduct(self, e: Any) -> tuple[str, int]:
        return self.hadamard.join(self.wrap(a, POW) for a in e.args), MUL

    def _print_HadamardPower(self, e: Any) -> tuple[str, int]:
        return self.hadamard_power(self.wrap(e.base, ATOM), e.exp), POW

    def _print_ElementwiseApplyFunction(self, e: Any) -> tuple[str, int]:
        flipped = sp.Transpose(e.expr).doit()
        if flipped.count(sp.Transpose) < e.expr.count(sp.Transpose):  # σ′(xᵀWᵀ) → σ′(Wx)ᵀ
            inner, _ = self.applied(e.function.expr, e.function.variables[0], flipped)
            return self.transpose(inner), POW
        return self.applied(e.function.expr, e.function.variables[0], e.expr)

    def _print_DiagMatrix(self, e: Any) -> tuple[str, int]:
        return self.call(self.operator("diag"), self(e.args[0])), ATOM

    def _print_Number(self, e: Any) -> tuple[str, int]:
        if e < 0:
            return self.minus + self.number(-e), ADD
        return self.number(e), ATOM if e.is_Integer else MUL

    def _print_Mul(self, e: Any) -> tuple[str, int]:
        return self.mul(e)

    def _print_Pow(self, e: Any) -> tuple[str, int]:
        if e.exp == sp.Rational(1, 2):
            return self.sqrt(self(e.base)), ATOM
        if e.exp.is_number and e.exp < 0:
            return self.mul(sp.Mul(e, evaluate=False))
        return self.power(self.wrap(e.base, ATOM), e.exp), POW

    def _print_Abs(self, e: Any) -> tuple[str, int]:
        return f"|{self(e.args[0])}|", ATOM

    def _print_Function(self, e: Any) -> tuple[str, int]:
        if len(e.args) == 1:
            return self.applied(e, e.args[0], e.args[0])
        return str(e), ATOM

    def operator(self, name: str) -> str:
        return name

    def applied(self, body: Any, var: Any, argument: Any) -> tuple[str, int]:
        """f(U) for an elementwise or scalar function ``body`` of ``var``, at ``argument``."""
        if body == sp.sqrt(var):
            return self.sqrt(self(argument)), ATOM
        func = body.func
        if func is p.recip:
            return self.recip(self.wrap(argument, ATOM)), MUL
        if func is p.drecip:
            squared = self.power(self.wrap(argument, ATOM), sp.Integer(2))
            return self.minus + self.recip(squared), ADD
        if func is p.dsqrt:
            return self.recip(self.paren("2" + self.times + self.sqrt(self(argument)))), MUL
        name = self.names.get(func, getattr(func, "__name__", str(func)))
        return self.call(name, self(argument)), ATOM

    def negative(self, e: Any) -> bool:
        if isinstance(e, sp.MatMul):
            coeff = e.as_coeff_matrices()[0]
            return bool(coeff.is_Number and coeff < 0)
        return bool(e.could_extract_minus_sign()) if hasattr(e, "could_extract_minus_sign") \
            else False

    def add(self, e: Any) -> str:
        out = ""
        for k, term in enumerate(e.args):
            if self.negative(term):
                text = self.wrap(-term, MUL)
                out += (f" {self.minus} " if k else self.minus) + text
            else:
                out += (" + " if k else "") + self.wrap(term, MUL)
        return out

    def simple(self, text: str) -> bool:
        """A single letter with a postfix (X, aᵀ, X⁻¹) or a bracket: no dot needed."""
        core = text.rstrip("ᵀ⁻¹²³′")
        return len(core) == 1 or (text.startswith("(") and text.endswith(")"))

    def factors(self, parts: list[str]) -> str:
        out = parts[0]
        for left, right in zip(parts, parts[1:]):
            both = self.simple(left) and (self.simple(right) or right.startswith("("))
            out = self.juxtapose(out, right, both)
        return out

    def matmul(self, e: Any) -> tuple[str, int]:
        coeff, mats = e.as_coeff_matrices()
        flat: list[Any] = []
        pending = list(mats)
        while pending:  # a product inside a product needs no brackets
            m = pending.pop(0)
            if isinstance(m, sp.MatMul):
                inner_coeff, inner = m.as_coeff_matrices()
                coeff = coeff * inner_coeff
                pending = list(inner) + pending
            else:
                flat.append(m)
        if coeff != 1 or len(flat) > 1:  # a 1×1 identity (a scalar variable) adds nothing
            flat = [m for m in flat if not (isinstance(m, sp.Identity) and m.shape == (1, 1))]
        if not flat:
            return self.p(coeff)
        parts = [self.wrap(m, POW) for m in flat]
        sign = ""
        if coeff.is_Number and coeff < 0:
            sign, coeff = self.minus, -coeff
        if coeff != 1:
            parts.insert(0, self.wrap(coeff, POW if not coeff.is_Number else ATOM))
        text = self.factors(parts) if parts else "1"
        return sign + text, ADD if sign else MUL

    def mul(self, e: Any) -> tuple[str, int]:
        num, den = [], []
        for factor in e.as_ordered_factors():
            if isinstance(factor, sp.Pow) and factor.exp.is_number and factor.exp < 0:
                den.append(factor.base ** -factor.exp)
            elif factor.is_Rational and not factor.is_Integer:
                if factor.p != 1:
                    num.append(sp.Integer(factor.p))
                den.append(sp.Integer(factor.q))
            else:
                num.append(factor)
        sign = ""
        if num and num[0].is_Number and num[0] < 0:
            sign = self.minus
            num[0] = -num[0]
            if num[0] == 1 and len(num) > 1:
                num = num[1:]
        num_text = self.factors([self.wrap(f, POW) for f in num]) if num else "1"
        num_prec = MUL if len(num) > 1 else (self.p(num[0])[1] if num else ATOM)
        if not den:
            return sign + num_text, ADD if sign else MUL
        den_e = sp.Mul(*den)
        text = self.fraction(num_text, self(den_e), num_prec, self.p(den_e)[1])
        return sign + text, ADD if sign else MUL


class LatexPrinter(UnicodePrinter):
    minus = "-"
    times = " \\cdot "
    hadamard = " \\odot "
    names = {p.sigma: "\\sigma", p.dsigma: "\\sigma'", p.ddsigma: "\\sigma''",
             sp.tanh: "\\tanh", p.dtanh: "\\tanh'", p.ddtanh: "\\tanh''", sp.exp: "\\exp",
             sp.log: "\\log"}

    def transpose(self, base: str) -> str:
        return base + "^{\\top}"

    def inverse(self, base: str) -> str:
        return base + "^{-1}"

    def inverse_transpose(self, base: str) -> str:
        return base + "^{-\\top}"

    def power(self, base: str, exponent: Any) -> str:
        return f"{base}^{{{self(exponent)}}}"

    def hadamard_power(self, base: str, exponent: Any) -> str:
        return f"{base}^{{\\odot {exponent}}}"

    def call(self, name: str, argument: str) -> str:
        return f"{name}\\left({argument}\\right)"

    def paren(self, text: str) -> str:
        return f"\\left({text}\\right)"

    def fraction(self, num: str, den: str, num_prec: int, den_prec: int) -> str:
        return f"\\frac{{{num}}}{{{den}}}"

    def sqrt(self, argument: str) -> str:
        return f"\\sqrt{{{argument}}}"

    def symbol(self, name: str) -> str:
        if name.startswith("d") and len(name) > 1:
            return "\\mathrm{d}" + self.symbol(name[1:])
        head, digits = name[0], name[1:]
        return f"{head}_{{{digits}}}" if digits else head

    def operator(self, name: str) -> str:
        return {"det": "\\det"}.get(name, f"\\operatorname{{{name}}}")

    def juxtapose(self, left: str, right: str, simple: bool) -> str:
        return f"{left} {right}" if simple else left + self.times + right

    def recip(self, argument: str) -> str:
        return f"1 \\oslash {argument}"

    def simple(self, text: str) -> bool:
        return True


def text(e: Any) -> str:
    return UnicodePrinter()(e)


def latex(e: Any) -> str:
    return LatexPrinter()(e)
