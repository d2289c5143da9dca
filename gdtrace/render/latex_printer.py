"""The LaTeX printer of formula trees, and a worked line laid out as ``align*`` rows.

:class:`LatexPrinter` overrides :class:`gdtrace.render.printer.ExprPrinter`'s node methods and
tokens (as sympy's ``LatexPrinter`` does its ``StrPrinter``'s); the Markdown and JSON outputs
write their math with it too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gdtrace.formula import expr as E
from gdtrace.render.latex_text import math_text, tex, text_math
from gdtrace.render.layout import worked_parts
from gdtrace.render.printer import (
    BREAK,
    PREC_ATOM,
    PREC_MUL,
    PREC_POW,
    ExprPrinter,
)
from gdtrace.trace import Formula, Quantity

if TYPE_CHECKING:
    import numpy as np

# A worked line wider than this (printed characters, roughly) is broken after its symbolic
# part and inside long expanded sums, so it stays on the page.
LINE_LIMIT = 80

# ------------------------------------------------------------------------------- printer

FUNCTION_COMMANDS = {"exp": r"\exp", "ln": r"\ln", "log": r"\log", "tanh": r"\tanh",
                     "sin": r"\sin", "cos": r"\cos", "max": r"\max", "min": r"\min",
                     "sinh": r"\sinh", "cosh": r"\cosh", "σ": r"\sigma"}
RELATIONS = {"=": "=", "←": r"\leftarrow", "≈": r"\approx", ":=": ":=", "≥": r"\geq",
             "≤": r"\leq", ">": ">", "<": "<", "≠": r"\neq", "→": r"\to"}


class LatexPrinter(ExprPrinter):
    """The same trees as :class:`ExprPrinter`, written as LaTeX math."""

    times = r" \cdot "
    minus = " - "
    plus = " + "
    bracket_fractions = False  # \frac is already a unit: no (λ/n) brackets

    def paren(self, text: str) -> str:
        if BREAK in text:  # \left( … \right) cannot span the lines of an align
            return rf"\bigl({text}\bigr)"
        if any(tall in text for tall in (r"\frac", r"\sum", r"\left", r"\begin")):
            return rf"\left({text}\right)"
        return f"({text})"

    def format_number(self, value: float) -> str:
        mantissa, exponent = self.numbers.parts(value)
        return latex_number(mantissa, exponent)

    def array(self, values: np.ndarray) -> str:
        if values.ndim == 0:
            return self.format_number(float(values))
        if values.ndim == 1:
            body = " & ".join(self.format_number(float(v)) for v in values)
            columns = len(values)
        elif values.ndim == 2:
            body = r" \\ ".join(" & ".join(self.format_number(float(v)) for v in row)
                                for row in values)
            columns = values.shape[1]
        else:
            return r"\left[" + ", ".join(self.array(v) for v in values) + r"\right]"
        return rf"\left[\begin{{array}}{{{'r' * max(columns, 1)}}}{body}\end{{array}}\right]"

    def symbol(self, node: E.Sym) -> str:
        if not node.sub and not node.hat:
            split = E.sym(node.base)  # a bare name such as x1 still reads x_{1}
            node = E.Sym(node.key, split.base, split.sub)
        base = math_text(node.base)
        if node.hat:
            base = rf"\hat{{{base}}}"
        if not node.sub:
            return base
        sub = math_text(node.sub, words=False)
        return f"{{{base}}}_{{{sub}}}" if "_" in base or "^" in base else f"{base}_{{{sub}}}"

    def join_factors(self, left: E.Expr, right: E.Expr) -> str:
        """Juxtapose as a student writes: ``\\frac{1}{n}\\sum…``, ``\\frac{\\lambda}{n} w_{j}``."""
        joined = super().join_factors(left, right)
        if joined == "":
            return " "
        if self.values is None and isinstance(left, (E.Div, E.Num)) and (
                isinstance(right, E.Sum) or (isinstance(left, E.Div) and _letter(right))):
            return " "
        return joined

    def _is_negative_text(self, text: str) -> bool:
        return text.startswith("-")

    def _print_Deriv(self, node: E.Deriv) -> tuple[str, int]:
        value = self._value_of(node.key)
        if value is not None:
            return self._leaf_number(value)
        return (rf"\frac{{\partial {self.doprint(node.of)}}}{{\partial {self.doprint(node.wrt)}}}",
                PREC_ATOM)

    def _print_Text(self, node: E.Text) -> tuple[str, int]:
        return text_math(node.text), PREC_ATOM


    def _print_Div(self, node: E.Div) -> tuple[str, int]:
        return rf"\frac{{{self._print(node.num, 0)}}}{{{self._print(node.den, 0)}}}", PREC_MUL

    def _print_Pow(self, node: E.Pow) -> tuple[str, int]:
        base = self._print(node.base, PREC_ATOM if isinstance(node.base, E.Div) else PREC_POW)
        grouped = base.startswith((r"\left(", r"\bigl("))
        if not grouped and (self._is_negative_text(base) or "^" in base):
            base = self.paren(base)  # (-0.06)^{2}, not -0.06^{2}; no double superscript
        return f"{base}^{{{self._print(node.exp, 0)}}}", PREC_POW

    def _print_Func(self, node: E.Func) -> tuple[str, int]:
        args = ", ".join(self._print(a, 0) for a in node.args)
        if node.name == "exp" and len(node.args) == 1:
            return f"e^{{{args}}}", PREC_POW
        if node.name in ("sqrt", "√") and len(node.args) == 1:
            return rf"\sqrt{{{args}}}", PREC_ATOM
        name = FUNCTION_COMMANDS.get(node.name)
        if name is None:  # relu → \operatorname{relu}; f' and σ' stay symbols
            word = re.fullmatch(r"[A-Za-z][A-Za-z_]+", node.name)
            name = rf"\operatorname{{{tex(node.name)}}}" if word else math_text(node.name)
        return f"{name}{self.paren(args)}", PREC_ATOM

    def _print_Compare(self, node: E.Compare) -> tuple[str, int]:
        op = RELATIONS.get(node.op, math_text(node.op))
        return (rf"\left[{self._print(node.lhs, 0)} {op} {self._print(node.rhs, 0)}\right]",
                PREC_ATOM)

    def _print_Sum(self, node: E.Sum) -> tuple[str, int]:
        if self.values is not None and node.terms:
            expanded = E.Add.of(*node.terms) if len(node.terms) > 1 else node.terms[0]
            self._breakable = len(node.terms) > 1
            text = self._print(expanded, 0)
            self._breakable = False
            return self.paren(text), PREC_ATOM
        index = math_text(node.index)
        upper = self._print(node.upper, PREC_ATOM)
        return rf"\sum_{{{index}=1}}^{{{upper}}} {self._print(node.body, PREC_MUL)}", PREC_MUL


def _letter(node: E.Expr) -> bool:
    return isinstance(node, (E.Sym, E.Ref, E.Deriv))


def latex_number(mantissa: str, exponent: int | None) -> str:
    """Mantissa/exponent parts of :class:`NumberFormat` as math: 1.5 \\times 10^{-6}."""
    if mantissa == "nan":
        return r"\text{NaN}"
    if mantissa in ("inf", "-inf"):
        return mantissa.replace("inf", r"\infty")
    return mantissa if exponent is None else rf"{mantissa} \times 10^{{{exponent}}}"


def relation(symbol: str) -> str:
    return RELATIONS.get(symbol, math_text(symbol))


def visible_length(latex: str) -> int:
    """Roughly how many characters wide a math line prints (commands count as one)."""
    text = re.sub(r"\\begin\{array\}\{[a-z]*\}|\\end\{array\}", "", latex)
    text = re.sub(r"\\(left|right|bigl|bigr|text|operatorname)\b", "", text)
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}",
                  lambda m: "x" * max(len(m.group(1)), len(m.group(2))), text)
    text = re.sub(r"\\[A-Za-z]+", "x", text)
    return len(re.sub(r"[{}_^ ]|\\[,; ]", "", text))


def align_lines(printer: LatexPrinter, quantity: Quantity, limit: int = LINE_LIMIT) -> list[str]:
    """A worked line as ``align`` rows: one row when short, else one row per part and long
    substituted parts broken between the terms of their sums."""
    lhs, parts = worked_parts(printer, quantity, BREAK)
    rel = relation(quantity.relation)
    joined = " = ".join(p.replace(BREAK, "") for p in parts)
    if visible_length(lhs + joined) <= limit:
        return [f"{lhs} &{rel} {joined}"]
    rows: list[str] = []
    for position, part in enumerate(parts):
        lead = f"{lhs} &{rel} " if position == 0 else "&= "
        pieces = part.split(BREAK)
        current = lead + pieces[0]
        for piece in pieces[1:]:
            if visible_length(current + piece) > limit:
                rows.append(current)
                current = r"&\quad " + piece.lstrip()
            else:
                current += piece
        rows.append(current)
    return rows


def align_block(rows: Sequence[str]) -> str:
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"


# ------------------------------------------------------------------------------- document


def formula_rows(printer: LatexPrinter, formulas: Sequence[Formula]) -> list[str]:
    """The header's general formulas as aligned rows, each label in a second column."""
    rows = []
    for formula in formulas:
        row = (f"{printer.symbolic(formula.lhs)} &{relation(formula.relation)} "
               f"{printer.symbolic(formula.rhs)}")
        if formula.label:
            row += f" && {text_math(formula.label)}"
        rows.append(row)
    return rows
