"""Expression printers: one tree, several syntaxes (Unicode here, LaTeX in latex_printer).

A printer prints a tree either symbolically (``w₁x₁ + b``) or, given the operand values of a
quantity, with each substitutable leaf replaced by its number (``0.08·5 + 0``). Subclasses
override the ``_print_<Node>`` methods and a few tokens, as sympy's printers do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gdtrace.formula import expr as E

PREC_ADD, PREC_MUL, PREC_POW, PREC_ATOM = 1, 2, 3, 4
BREAK = "\x00"  # where a long substituted line may be cut, between terms (never printed)

SUBSCRIPTS = str.maketrans("0123456789ijklmnpx+-()", "₀₁₂₃₄₅₆₇₈₉ᵢⱼₖₗₘₙₚₓ₊₋₍₎")
SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class NumberFormat:
    """Display rounding only: never changes a computed value."""

    def __init__(self, decimals: int = 4) -> None:
        self.decimals = decimals

    def parts(self, value: float) -> tuple[str, int | None]:
        """Mantissa text and, for numbers too small or large for fixed notation, the exponent."""
        value = float(value)
        if math.isnan(value):
            return "nan", None
        if math.isinf(value):
            return ("inf" if value > 0 else "-inf"), None
        if value == int(value) and abs(value) < 1e15:
            return str(int(value)), None
        magnitude = abs(value)
        if magnitude >= 1e15 or magnitude < 0.5 * 10 ** (-self.decimals):
            mantissa, exponent = f"{value:.{max(self.decimals, 1)}e}".split("e")
            return _strip(mantissa), int(exponent)
        text = _strip(f"{value:.{self.decimals}f}")
        return ("0" if text in ("-0", "0") else text), None

    def plain(self, value: float) -> str:
        mantissa, exponent = self.parts(value)
        return mantissa if exponent is None else f"{mantissa}e{exponent:+03d}"

    def fixed(self, value: float) -> str:
        """Like :meth:`plain` but keeping trailing zeros, so table columns line up."""
        mantissa, exponent = self.parts(value)
        digits = max(self.decimals, 1) if exponent is not None else self.decimals
        if "." in mantissa:
            whole, fraction = mantissa.split(".")
            mantissa = f"{whole}.{fraction.ljust(digits, '0')}"
        elif exponent is not None or (self.decimals and math.isfinite(float(value))
                                      and not float(value).is_integer()):
            mantissa += "." + "0" * digits  # 0.99996 → 1.0000 (not whole), 1e+34 → 1.0000e+34
        return mantissa if exponent is None else f"{mantissa}e{exponent:+03d}"


def _strip(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


class ExprPrinter:
    """Base printer: Unicode plain text, the syntax of the terminal and text outputs."""

    times = "·"
    minus = " − "
    plus = " + "
    bracket_fractions = True  # an inline a/b factor needs brackets; a stacked \frac does not

    def __init__(self, numbers: NumberFormat | None = None,
                 values: Mapping[str, object] | None = None) -> None:
        self.numbers = numbers or NumberFormat()
        self.values = values

    # entry points -------------------------------------------------------------------------
    def symbolic(self, node: E.Expr) -> str:
        return self._with_values(None).doprint(node)

    def substituted(self, node: E.Expr, values: Mapping[str, object]) -> str:
        return self._with_values(values).doprint(node)

    def number(self, value: object) -> str:
        if isinstance(value, (list, tuple, np.ndarray)):
            return self.array(np.asarray(value, dtype=float))
        return self.format_number(float(value))  # type: ignore[arg-type]

    def doprint(self, node: E.Expr) -> str:
        return self._print(node, 0)

    # helpers -------------------------------------------------------------------------------
    def _with_values(self, values: Mapping[str, object] | None) -> ExprPrinter:
        clone = type(self)(self.numbers, values)
        return clone

    def _print(self, node: E.Expr, parent_prec: int) -> str:
        kind = (type(self), type(node))
        method = _METHODS.get(kind)
        if method is None:
            method = _METHODS[kind] = _print_method(*kind)
        text, prec = method(self, node)
        return self.paren(text) if prec < parent_prec else text

    def paren(self, text: str) -> str:
        return f"({text})"

    def format_number(self, value: float) -> str:
        return self.numbers.plain(value)

    def array(self, values: np.ndarray) -> str:
        if values.ndim == 0:
            return self.format_number(float(values))
        return "[" + ", ".join(self.array(v) for v in values) + "]"

    def _value_of(self, key: str) -> object | None:
        if self.values is None:
            return None
        return self.values.get(key)

    def _leaf_number(self, value: object) -> tuple[str, int]:
        text = self.number(value)
        negative = text.startswith("-")
        return text, PREC_ADD if negative else PREC_ATOM

    # nodes ---------------------------------------------------------------------------------
    def _print_Num(self, node: E.Num) -> tuple[str, int]:
        return self._leaf_number(node.value)

    def _print_Sym(self, node: E.Sym) -> tuple[str, int]:
        value = self._value_of(node.key)
        if value is not None:
            return self._leaf_number(value)
        return self.symbol(node), PREC_ATOM

    def symbol(self, node: E.Sym) -> str:
        base = node.base + "\u0302" if node.hat else node.base
        if not node.sub:
            return base
        sub = node.sub.translate(SUBSCRIPTS)
        if all(ch in "₀₁₂₃₄₅₆₇₈₉ᵢⱼₖₗₘₙₚₓ₊₋₍₎" for ch in sub):
            return base + sub
        return f"{base}_{node.sub}"

    def _print_Deriv(self, node: E.Deriv) -> tuple[str, int]:
        value = self._value_of(node.key)
        if value is not None:
            return self._leaf_number(value)
        return f"∂{self.doprint(node.of)}/∂{self.doprint(node.wrt)}", PREC_ATOM

    def _print_Ref(self, node: E.Ref) -> tuple[str, int]:
        value = self._value_of(node.key)
        if value is not None:
            return self._leaf_number(value)
        return self._print(node.shown, PREC_ATOM), PREC_ATOM

    def _print_Text(self, node: E.Text) -> tuple[str, int]:
        return node.text, PREC_ATOM

    def _print_Add(self, node: E.Add) -> tuple[str, int]:
        """Terms joined by + and −; a printer that set ``_breakable`` (a long worked line)
        gets :data:`BREAK` between the terms, where the line may be cut."""
        breakable = getattr(self, "_breakable", False)
        self._breakable = False
        out = self._print(node.terms[0], PREC_ADD)
        gap = BREAK if breakable else ""
        for term in node.terms[1:]:
            if isinstance(term, E.Neg):
                text = self._print(term.arg, PREC_MUL)
                out += gap + (self.plus + self._unsigned(text) if self._is_negative_text(text)
                              else self.minus + text)
                continue
            text = self._print(term, PREC_ADD)
            out += gap + (self.minus + self._unsigned(text) if self._is_negative_text(text)
                          else self.plus + text)
        return out, PREC_ADD

    def _unsigned(self, text: str) -> str:
        """``text`` without its leading minus (only called when it has one)."""
        return text[1:]

    def _is_negative_text(self, text: str) -> bool:
        return text.startswith("-")

    def _print_Neg(self, node: E.Neg) -> tuple[str, int]:
        text = self._print(node.arg, PREC_MUL)
        if self._is_negative_text(text):
            text = self.paren(text)
        return self.minus.strip() + text, PREC_ADD

    def _print_Mul(self, node: E.Mul) -> tuple[str, int]:
        parts: list[str] = []
        for position, factor in enumerate(node.factors):
            leading_number = position == 0 and not factor.children()
            text = self._print(factor, 0 if leading_number else PREC_MUL)
            if self.bracket_fractions and isinstance(factor, E.Div) and len(node.factors) > 1:
                text = self.paren(text)  # (λ/n)·w reads better than λ/n·w
            elif position and self._is_negative_text(text):
                text = self.paren(text)
            parts.append(text)
        out = parts[0]
        for previous, factor, text in zip(node.factors, node.factors[1:], parts[1:]):
            out += self.join_factors(previous, factor) + text
        return out, PREC_MUL

    def join_factors(self, left: E.Expr, right: E.Expr) -> str:
        """Juxtapose plain symbols (w₁x₁) when printing symbolically; otherwise a dot."""
        right_letter = _is_letter(right) or (isinstance(right, E.Pow) and _is_letter(right.base))
        if self.values is None and right_letter and (
                _is_letter(left) or (isinstance(left, E.Num) and left.value > 0)):
            return ""  # w₁x₁, 10x and 5x², as written by hand; numbers keep the dot: 0.1·5
        return self.times

    def _print_Div(self, node: E.Div) -> tuple[str, int]:
        num = self._print(node.num, PREC_POW)
        den = self._print(node.den, PREC_POW)
        return f"{num}/{den}", PREC_MUL

    def _print_Pow(self, node: E.Pow) -> tuple[str, int]:
        base = self._print(node.base, PREC_POW)
        if self._is_negative_text(base):
            base = self.paren(base)
        if isinstance(node.exp, E.Num) and float(node.exp.value).is_integer():
            return base + str(int(node.exp.value)).translate(SUPERSCRIPTS), PREC_POW
        return f"{base}^{self._print(node.exp, PREC_ATOM)}", PREC_POW

    def _print_Func(self, node: E.Func) -> tuple[str, int]:
        args = ", ".join(self._print(a, 0) for a in node.args)
        if node.name == "abs" and len(node.args) == 1:
            return f"|{args}|", PREC_ATOM
        return f"{node.name}({args})", PREC_ATOM

    def _print_Compare(self, node: E.Compare) -> tuple[str, int]:
        return f"[{self._print(node.lhs, 0)} {node.op} {self._print(node.rhs, 0)}]", PREC_ATOM

    def _print_Sum(self, node: E.Sum) -> tuple[str, int]:
        if self.values is not None and node.terms:
            expanded = E.Add.of(*node.terms) if len(node.terms) > 1 else node.terms[0]
            return self.paren(self._print(expanded, 0)), PREC_ATOM
        index = node.index.translate(SUBSCRIPTS)
        return f"Σ{index} {self._print(node.body, PREC_MUL)}", PREC_MUL


def _is_letter(node: E.Expr) -> bool:
    """A short symbol that can stand next to another without a dot (w₁x₁, not error₁x₁)."""
    if isinstance(node, E.Ref):
        return _is_letter(node.shown)
    return isinstance(node, E.Sym) and len(node.base) <= 2


_METHODS: dict[tuple[type, type], Callable[[Any, Any], tuple[str, int]]] = {}


def _print_method(printer: type, node: type) -> Callable[[Any, Any], tuple[str, int]]:
    """The ``_print_<Class>`` method for the node's class or the nearest base class that has
    one (as sympy's printers look along the MRO), so a new node subclass prints as its base
    until a printer says otherwise; found once per printer and node class."""
    for kind in node.__mro__:
        method = getattr(printer, f"_print_{kind.__name__}", None)
        if method is not None:
            return method
    raise TypeError(f"{printer.__name__} cannot print a {node.__name__}")
