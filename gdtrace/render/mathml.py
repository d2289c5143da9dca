"""MathML printer: the expression tree as presentation MathML, for the HTML page.

Current Chromium, Firefox and Safari lay MathML out natively (MathML Core), so worked lines
read as typeset math with no script or font download. The printer follows
:class:`gdtrace.render.printer.ExprPrinter` node by node, as the LaTeX printer does: only the
syntax differs. Output is well-formed XML (the page can be checked by an XML parser).

Markup is kept flat where MathML allows it (a sum is a run of tokens, not an ``<mrow>``), so
a long substituted line can be cut at :data:`BREAK` marks into rows that are each whole.
"""

from __future__ import annotations

from typing import Any

from gdtrace.formula import expr as E
from gdtrace.render.printer import (
    BREAK,
    PREC_ADD,
    PREC_ATOM,
    PREC_MUL,
    PREC_POW,
    ExprPrinter,
)

NEGATIVE = '<mo form="prefix">−</mo>'  # the sign of a negative number or term
RELATIONS = {"=": "=", "←": "←", "≈": "≈", ":=": "≔", "≥": "≥", "≤": "≤", "≠": "≠"}


def escape(text: str) -> str:
    """Text for XML content or an attribute value."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def row(*parts: str) -> str:
    """One ``<mrow>`` (a unit for scripts and fractions) unless it already is a single one."""
    inner = "".join(parts)
    return inner if _single(inner) else f"<mrow>{inner}</mrow>"


def _single(markup: str) -> bool:
    """True when ``markup`` is exactly one element (``<mi>x</mi>``, ``<mrow>…</mrow>``)."""
    return markup.startswith("<") and BREAK not in markup and _element_end(markup) == len(markup)


def _element_end(markup: str) -> int:
    """Where the element that ``markup`` starts with ends (the index after its end tag)."""
    depth = 0
    index = 0
    while index < len(markup):
        if markup[index] != "<":
            index += 1
            continue
        end = markup.index(">", index)
        if markup.startswith("</", index):
            depth -= 1
        elif markup[end - 1] != "/":
            depth += 1
        index = end + 1
        if depth == 0:
            return index
    return len(markup)


def math_element(content: str, display: bool = False, label: str = "") -> str:
    """A ``<math>`` element; ``label`` (the Unicode text) is its ``alttext``, for readers
    without MathML and for copying."""
    attributes = ' display="block"' if display else ""
    if label:
        attributes += f' alttext="{escape(label)}"'
    return f"<math{attributes}>{content.replace(BREAK, '')}</math>"


class MathMLPrinter(ExprPrinter):
    """The same trees as :class:`ExprPrinter`, written as presentation MathML."""

    times = "<mo>·</mo>"
    minus = "<mo>−</mo>"
    plus = "<mo>+</mo>"
    bracket_fractions = False  # a stacked fraction is already a unit

    def paren(self, text: str) -> str:
        if BREAK in text:  # left flat so a cut between the terms leaves whole rows
            return f"<mo>(</mo>{text}<mo>)</mo>"
        return f"<mrow><mo>(</mo>{text}<mo>)</mo></mrow>"

    # numbers --------------------------------------------------------------------------------
    def format_number(self, value: float) -> str:
        mantissa, exponent = self.numbers.parts(value)
        if mantissa == "nan":
            return "<mi>NaN</mi>"
        if mantissa in ("inf", "-inf"):
            return (NEGATIVE if mantissa.startswith("-") else "") + "<mi>∞</mi>"
        sign = NEGATIVE if mantissa.startswith("-") else ""
        number = f"<mn>{mantissa.lstrip('-')}</mn>"
        if exponent is not None:
            number += f"<mo>×</mo><msup><mn>10</mn>{self._integer(exponent)}</msup>"
        return sign + number if not sign else f"<mrow>{sign}{number}</mrow>"

    def _integer(self, value: int) -> str:
        return f"<mn>{value}</mn>" if value >= 0 else f"<mrow>{NEGATIVE}<mn>{-value}</mn></mrow>"

    def array(self, values: Any) -> str:
        if values.ndim == 0:
            return self.format_number(float(values))
        if values.ndim > 2:
            return self.paren("<mo>,</mo>".join(self.array(v) for v in values))
        matrix = values if values.ndim == 2 else values.reshape(1, -1)
        rows = "".join("<mtr>" + "".join(f"<mtd>{self.format_number(float(v))}</mtd>"
                                         for v in line) + "</mtr>" for line in matrix)
        return f"<mrow><mo>[</mo><mtable>{rows}</mtable><mo>]</mo></mrow>"

    # signs ------------------------------------------------------------------------------------
    def _is_negative_text(self, text: str) -> bool:
        return text.startswith((NEGATIVE, f"<mrow>{NEGATIVE}"))

    def _unsigned(self, text: str) -> str:
        """``text`` without its leading sign (only called when it has one)."""
        if text.startswith(NEGATIVE):
            return text[len(NEGATIVE):]
        end = _element_end(text)  # the signed number's <mrow>, maybe followed by more
        return text[len("<mrow>") + len(NEGATIVE):end - len("</mrow>")] + text[end:]

    def _leaf_number(self, value: object) -> tuple[str, int]:
        text = self.number(value)
        return text, PREC_ADD if self._is_negative_text(text) else PREC_ATOM

    # leaves -----------------------------------------------------------------------------------
    def symbol(self, node: E.Sym) -> str:
        if not node.sub and not node.hat:
            split = E.sym(node.base)  # a bare name such as x1 still reads x₁
            node = E.Sym(node.key, split.base, split.sub)
        base = f"<mi>{escape(node.base)}</mi>"
        if node.hat:
            base = f'<mover accent="true">{base}<mo>^</mo></mover>'
        if not node.sub:
            return base
        sub = node.sub
        if sub.isdigit():
            index = f"<mn>{sub}</mn>"
        elif sub.isalpha() and len(sub) <= 3:  # indices such as jk: letters, each italic
            index = row(*(f"<mi>{letter}</mi>" for letter in sub))
        else:
            index = f"<mi>{escape(sub)}</mi>"
        return f"<msub>{base}{index}</msub>"

    def _print_Deriv(self, node: E.Deriv) -> tuple[str, int]:
        value = self._value_of(node.key)
        if value is not None:
            return self._leaf_number(value)
        top = row("<mo>∂</mo>", self.doprint(node.of))
        bottom = row("<mo>∂</mo>", self.doprint(node.wrt))
        return f"<mfrac>{top}{bottom}</mfrac>", PREC_ATOM

    def _print_Text(self, node: E.Text) -> tuple[str, int]:
        return f"<mtext>{escape(node.text)}</mtext>", PREC_ATOM

    # operators --------------------------------------------------------------------------------

    def _print_Neg(self, node: E.Neg) -> tuple[str, int]:
        text = self._print(node.arg, PREC_MUL)
        if self._is_negative_text(text):
            text = self.paren(text)
        return NEGATIVE + text, PREC_ADD

    def join_factors(self, left: E.Expr, right: E.Expr) -> str:
        """Juxtaposed symbols get an invisible times (so readers say "w one x one")."""
        joined = super().join_factors(left, right)
        return "<mo>&#x2062;</mo>" if joined == "" else joined

    def _print_Div(self, node: E.Div) -> tuple[str, int]:
        return (f"<mfrac>{row(self._print(node.num, 0))}{row(self._print(node.den, 0))}</mfrac>",
                PREC_MUL)

    def _print_Pow(self, node: E.Pow) -> tuple[str, int]:
        base = self._print(node.base, PREC_ATOM if isinstance(node.base, E.Div) else PREC_POW)
        if self._is_negative_text(base) or "<msup>" in base and not base.startswith("<mrow><mo>("):
            base = self.paren(base)
        return f"<msup>{row(base)}{row(self._print(node.exp, 0))}</msup>", PREC_POW

    def _print_Func(self, node: E.Func) -> tuple[str, int]:
        args = "<mo>,</mo>".join(self._print(a, 0) for a in node.args)
        if node.name == "exp" and len(node.args) == 1:
            return f"<msup><mi>e</mi>{row(args)}</msup>", PREC_POW
        if node.name in ("sqrt", "√") and len(node.args) == 1:
            return f"<msqrt>{args}</msqrt>", PREC_ATOM
        if node.name == "abs" and len(node.args) == 1:
            return f"<mrow><mo>|</mo>{args}<mo>|</mo></mrow>", PREC_ATOM
        name = f"<mi>{escape(node.name)}</mi><mo>&#x2061;</mo>"  # function application
        return f"<mrow>{name}{self.paren(args)}</mrow>", PREC_ATOM

    def _print_Compare(self, node: E.Compare) -> tuple[str, int]:
        op = escape(RELATIONS.get(node.op, node.op))
        return (f"<mrow><mo>[</mo>{self._print(node.lhs, 0)}<mo>{op}</mo>"
                f"{self._print(node.rhs, 0)}<mo>]</mo></mrow>", PREC_ATOM)

    def _print_Sum(self, node: E.Sum) -> tuple[str, int]:
        if self.values is not None and node.terms:
            expanded = E.Add.of(*node.terms) if len(node.terms) > 1 else node.terms[0]
            self._breakable = len(node.terms) > 1
            text = self._print(expanded, 0)
            self._breakable = False
            return self.paren(text), PREC_ATOM
        index = f"<mi>{escape(node.index)}</mi>"
        upper = self._print(node.upper, PREC_ATOM)
        operator = (f"<munderover><mo>∑</mo><mrow>{index}<mo>=</mo><mn>1</mn></mrow>"
                    f"{row(upper)}</munderover>")
        return f"{operator}{self._print(node.body, PREC_MUL)}", PREC_MUL


def relation(symbol: str) -> str:
    return f"<mo>{escape(RELATIONS.get(symbol, symbol))}</mo>"
