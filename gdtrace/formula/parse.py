"""Safe formulas for ``model: function``: parse, differentiate, simplify, evaluate.

A hand-written tokenizer and recursive-descent parser turn text such as ``5*x^2 + 2`` into a
:mod:`gdtrace.formula.expr` tree. Nothing is ever passed to ``eval``/``exec``: the grammar
accepts only numbers, the declared variables, ``+ - * / ^ **``, parentheses, unary minus and the
functions in :data:`FUNCTIONS`; anything else is a :class:`FormulaError` naming the offending
column.

Grammar (``^`` and ``**`` are the same, right-associative, and bind tighter than unary minus,
so ``-x^2`` is ``-(x^2)``)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("-" | "+") unary | power
    power  := atom (("^" | "**") unary)?
    atom   := NUMBER | VARIABLE | FUNCTION "(" expr ")" | "(" expr ")"

Derivatives are built symbolically (:func:`derivative`) and tidied by :func:`simplify`, so the
worked solution shows f'(x) = 10·x rather than 5·2·x¹. :func:`evaluate` computes a tree's value
in float64, giving inf/nan (never an exception) where the math breaks down.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gdtrace.errors import GdtraceError
from gdtrace.formula import expr as E

MAX_LENGTH = 2000
MAX_DEPTH = 100
MAX_TREE_DEPTH = 50
"""Deepest expression tree accepted: its second derivative is about four times as deep, and
every later stage (simplifying, printing) walks it recursively."""


class FormulaError(GdtraceError):
    """A formula outside the grammar; ``column`` is 1-based, pointing at the bad character."""

    def __init__(self, message: str, text: str, column: int) -> None:
        self.reason = message
        self.text = text
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        """One short line: what is wrong, where, and the formula around the spot marked by ‸
        (at most ``EXCERPT`` characters each side, newlines and control characters escaped)."""
        spot = self.column - 1
        start, end = max(0, spot - EXCERPT), min(len(self.text), spot + EXCERPT)
        marked = (("…" if start else "") + _escaped(self.text[start:spot]) + "‸"
                  + _escaped(self.text[spot:end]) + ("…" if end < len(self.text) else ""))
        return f"{self.reason} at column {self.column}: {marked.strip()}"


EXCERPT = 30
"""Characters of the formula shown on each side of an error's column."""


def _escaped(text: str) -> str:
    from gdtrace.output import visible

    return visible(text).replace("\n", "\\n")


# ------------------------------------------------------------------------------------ functions


def _safe(op: Callable[[float], float]) -> Callable[[float], float]:
    """Wrap a math function so a domain error gives nan and an overflow gives inf."""

    def run(value: float) -> float:
        try:
            return float(op(value))
        except OverflowError:
            return math.inf
        except ValueError:
            return math.nan

    return run


def _sigmoid(value: float) -> float:
    if math.isnan(value):
        return math.nan
    small = math.exp(-abs(value))
    return 1.0 / (1.0 + small) if value >= 0 else small / (1.0 + small)


def _sign(value: float) -> float:
    if math.isnan(value):
        return math.nan
    return float((value > 0) - (value < 0))


@dataclass(frozen=True)
class Function:
    """A function of one argument: its name in formulas, how it prints, its value and its
    derivative (as a tree in terms of the argument ``u``), kept side by side."""

    name: str  # as written in a problem file
    shown: str  # as printed in worked lines
    forward: Callable[[float], float]
    derivative: Callable[[E.Expr], E.Expr]  # u → d f(u)/du


def _call(shown: str, arg: E.Expr) -> E.Expr:
    return E.Func(shown, (arg,))


FUNCTIONS: dict[str, Function] = {
    "exp": Function("exp", "exp", _safe(math.exp), lambda u: _call("exp", u)),
    "log": Function("log", "ln", _safe(math.log), lambda u: E.Div(E.Num(1), u)),
    "sqrt": Function("sqrt", "sqrt", _safe(math.sqrt),
                     lambda u: E.Div(E.Num(1), E.Mul((E.Num(2), _call("sqrt", u))))),
    "sin": Function("sin", "sin", _safe(math.sin), lambda u: _call("cos", u)),
    "cos": Function("cos", "cos", _safe(math.cos), lambda u: E.Neg(_call("sin", u))),
    "tanh": Function("tanh", "tanh", math.tanh,
                     lambda u: E.Add((E.Num(1), E.Neg(E.Pow(_call("tanh", u), E.Num(2)))))),
    "sigmoid": Function("sigmoid", "σ", _sigmoid,
                        lambda u: E.Mul((_call("σ", u),
                                         E.Add((E.Num(1), E.Neg(_call("σ", u))))))),
    "abs": Function("abs", "abs", abs, lambda u: _call("sign", u)),
    # not accepted in formulas: only produced as the derivative of abs
    "sign": Function("sign", "sign", _sign, lambda u: E.Num(0)),
}
_BY_SHOWN = {f.shown: f for f in FUNCTIONS.values()}
ACCEPTED_FUNCTIONS = tuple(name for name in FUNCTIONS if name != "sign")


# ------------------------------------------------------------------------------------ tokenizer


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op", "end"
    text: str
    column: int  # 1-based
    value: float = 0.0


_OPERATORS = {"+": "+", "-": "-", "−": "-", "*": "*", "/": "/", "^": "^", "(": "(", ")": ")"}
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HINTS = {",": " (functions take one argument)", "[": " (use round brackets)",
          "]": " (use round brackets)", "{": " (use round brackets)", "}": " (use round brackets)"}


def tokenize(text: str) -> list[Token]:
    """Split a formula into tokens; any character outside the grammar is an error."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t":
            i += 1
        elif found := _NUMBER.match(text, i):
            tokens.append(_number_token(found.group(), text, i))
            i = found.end()
        elif found := _NAME.match(text, i):
            tokens.append(Token("name", found.group(), i + 1))
            i = found.end()
        elif text.startswith("**", i):
            tokens.append(Token("op", "^", i + 1))
            i += 2
        elif ch in _OPERATORS:
            tokens.append(Token("op", _OPERATORS[ch], i + 1))
            i += 1
        else:
            raise FormulaError(f"unexpected character {ch!r}{_HINTS.get(ch, '')}", text, i + 1)
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _number_token(literal: str, text: str, start: int) -> Token:
    value = float(literal)
    if not math.isfinite(value):
        raise FormulaError(f"number {literal} is too large", text, start + 1)
    return Token("num", literal, start + 1, value)


# --------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, variables: Mapping[str, E.Expr]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0
        self.variables = variables
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.position]

    def error(self, message: str, token: Token | None = None) -> FormulaError:
        return FormulaError(message, self.text, (token or self.current).column)

    def advance(self) -> Token:
        token = self.current
        self.position += 1
        return token

    def at(self, op: str) -> bool:
        return self.current.kind == "op" and self.current.text == op

    def parse(self) -> E.Expr:
        if self.current.kind == "end":
            raise self.error("the formula is empty")
        tree = self.expr()
        token = self.current
        if token.kind != "end":
            if token.kind in ("num", "name") or self.at("("):
                raise self.error(f"missing operator before {token.text!r} (write * to "
                                 "multiply)")
            raise self.error(f"unexpected {token.text!r}")
        return tree

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the formula is nested more than {MAX_DEPTH} levels deep")

    def expr(self) -> E.Expr:
        self.nest()
        terms = [self.term()]
        while self.at("+") or self.at("-"):
            op = self.advance().text
            right = self.term()
            terms.append(right if op == "+" else E.Neg(right))
        self.depth -= 1
        return terms[0] if len(terms) == 1 else E.Add(tuple(terms))

    def term(self) -> E.Expr:
        node = self.unary()
        while self.at("*") or self.at("/"):
            op = self.advance().text
            right = self.unary()
            node = E.Mul.of(node, right) if op == "*" else E.Div(node, right)
        return node

    def unary(self) -> E.Expr:
        if self.at("-") or self.at("+"):
            op = self.advance().text
            self.nest()
            operand = self.unary()
            self.depth -= 1
            return E.Neg(operand) if op == "-" else operand
        return self.power()

    def power(self) -> E.Expr:
        base = self.atom()
        if self.at("^"):
            self.advance()
            self.nest()
            exponent = self.unary()
            self.depth -= 1
            return E.Pow(base, exponent)
        return base

    def atom(self) -> E.Expr:
        token = self.current
        if token.kind == "num":
            self.advance()
            return E.Num(token.value)
        if token.kind == "name":
            return self.name()
        if self.at("("):
            self.advance()
            inner = self.expr()
            if not self.at(")"):
                raise self.error(f"missing ')' for the '(' in column {token.column}"
                                 if self.current.kind == "end"
                                 else f"expected ')' but found {self.current.text!r}")
            self.advance()
            return inner
        if token.kind == "end":
            raise self.error("the formula ends too early (a number, variable or '(' is "
                             "missing)")
        raise self.error(f"unexpected {token.text!r} (a number, variable or '(' is missing)")

    def name(self) -> E.Expr:
        token = self.advance()
        if token.text in self.variables:
            if self.at("("):
                raise self.error(f"{token.text!r} is a variable, not a function")
            return self.variables[token.text]
        if token.text in ACCEPTED_FUNCTIONS:
            if not self.at("("):
                raise self.error(f"function {token.text} needs its argument in brackets, "
                                 f"e.g. {token.text}(x)")
            open_bracket = self.advance()
            if self.at(")"):
                raise self.error(f"function {token.text} needs an argument")
            argument = self.expr()
            if not self.at(")"):
                if self.current.kind == "end":
                    raise self.error(f"missing ')' for the '(' in column "
                                     f"{open_bracket.column}")
                raise self.error(f"expected ')' but found {self.current.text!r}")
            self.advance()
            return E.Func(FUNCTIONS[token.text].shown, (argument,))
        known = list(self.variables) + list(ACCEPTED_FUNCTIONS)
        close = difflib.get_close_matches(token.text, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        declared = ", ".join(self.variables) or "none"
        raise self.error(f"unknown name {token.text!r}{hint} (variables: {declared}; "
                         f"functions: {', '.join(ACCEPTED_FUNCTIONS)})", token)


def parse(text: str, variables: list[str]) -> E.Expr:
    """Parse ``text`` into an expression tree over ``variables`` (each becomes a :class:`Sym`
    keyed by its own name)."""
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"the formula is longer than {MAX_LENGTH} characters", text,
                           MAX_LENGTH + 1)
    symbols = {name: E.sym(name) for name in variables}
    tree = _Parser(text, symbols).parse()
    if tree_depth(tree) > MAX_TREE_DEPTH:  # a chain of divisions nests without brackets
        raise FormulaError(f"the formula nests more than {MAX_TREE_DEPTH} operations deep (a "
                           "long chain of / ?); write it with fewer steps, e.g. x^k", text, 1)
    return tree


def tree_depth(node: E.Expr) -> int:
    """The depth of a tree, found without recursion (so any depth is safe to measure)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in current.children())
    return deepest


# ----------------------------------------------------------------------------------- evaluation


def evaluate(node: E.Expr, values: Mapping[str, float]) -> float:
    """The value of a tree in float64; inf or nan where the math breaks down, never raising."""
    if isinstance(node, E.Num):
        return float(node.value)
    if isinstance(node, E.Sym):
        return float(values[node.key])
    if isinstance(node, E.Add):
        return _finite_sum(evaluate(t, values) for t in node.terms)
    if isinstance(node, E.Neg):
        return -evaluate(node.arg, values)
    if isinstance(node, E.Mul):
        product = 1.0
        for factor in node.factors:
            product = _times(product, evaluate(factor, values))
        return product
    if isinstance(node, E.Div):
        return _divide(evaluate(node.num, values), evaluate(node.den, values))
    if isinstance(node, E.Pow):
        return _power(evaluate(node.base, values), evaluate(node.exp, values))
    if isinstance(node, E.Func):
        return _BY_SHOWN[node.name].forward(evaluate(node.args[0], values))
    raise TypeError(f"cannot evaluate {type(node).__name__}")


def _finite_sum(parts: object) -> float:
    total = 0.0
    for part in parts:  # type: ignore[attr-defined]
        total += part
    return total


def _times(a: float, b: float) -> float:
    if (a == 0 and math.isinf(b)) or (b == 0 and math.isinf(a)):
        return math.nan
    return a * b


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * (1 if math.copysign(1, b) > 0 else -1)
    return a / b


def _power(base: float, exponent: float) -> float:
    try:
        return math.pow(base, exponent)
    except OverflowError:
        if base < 0 and float(exponent).is_integer() and int(exponent) % 2:
            return -math.inf
        return math.inf
    except ValueError:  # negative base with a fractional exponent, or 0 to a negative power
        return math.inf if base == 0 else math.nan


# ----------------------------------------------------------------------------- differentiation


def depends_on(node: E.Expr, variable: str) -> bool:
    if isinstance(node, E.Sym):
        return node.key == variable
    return any(depends_on(child, variable) for child in node.children())


MAX_DERIVATIVE_WORK = 20_000
"""Most tree nodes one symbolic derivative may build before simplifying. A product of n
factors has a derivative of n products of n factors, and the Hessian n³: without a bound a
1 KB formula can take minutes and gigabytes."""


class DerivativeTooLarge(GdtraceError):
    """The derivative of a formula would exceed :data:`MAX_DERIVATIVE_WORK` nodes."""


def derivative(node: E.Expr, variable: str) -> E.Expr:
    """∂node/∂variable, simplified; :class:`DerivativeTooLarge` past the work bound."""
    try:
        raw = _derive(node, variable, [MAX_DERIVATIVE_WORK])
        size, depth = _extent(raw, {})
        if size * depth > MAX_SIMPLIFY_WORK:
            raise DerivativeTooLarge(
                f"its derivatives are too large to simplify ({size} terms nested {depth} deep;"
                f" at most {MAX_SIMPLIFY_WORK} terms × depth); use a shorter formula")
        return simplify(raw)
    except RecursionError:
        raise DerivativeTooLarge("its derivatives nest too deeply to write out; use a "
                                 "shorter formula") from None


MAX_SIMPLIFY_WORK = 200_000
"""Most (nodes × depth) of a raw derivative handed to :func:`simplify`, which walks shared
subtrees once per use and re-keys each level: about a second of work at the bound (a chain of
20 divisions is well inside it, one of 49 is not)."""


def _extent(node: E.Expr, memo: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(nodes, depth) of a tree as simplify sees it: a shared subtree counts once per use."""
    known = memo.get(id(node))
    if known is None:
        parts = [_extent(child, memo) for child in node.children()]
        known = (1 + sum(p[0] for p in parts), 1 + max((p[1] for p in parts), default=0))
        memo[id(node)] = known
    return known


def _spend(budget: list[int], nodes: int) -> None:
    budget[0] -= nodes
    if budget[0] < 0:
        raise DerivativeTooLarge(
            f"its derivatives are too large to write out (more than {MAX_DERIVATIVE_WORK} "
            "terms; a product of many factors grows as n² and its second derivative as n³); "
            "use a shorter formula")


def _derive(node: E.Expr, v: str, budget: list[int]) -> E.Expr:
    _spend(budget, 1)
    if not depends_on(node, v):
        return E.Num(0)
    if isinstance(node, E.Sym):
        return E.Num(1)
    if isinstance(node, E.Add):
        return E.Add(tuple(_derive(t, v, budget) for t in node.terms))
    if isinstance(node, E.Neg):
        return E.Neg(_derive(node.arg, v, budget))
    if isinstance(node, E.Mul):
        terms = []
        for i, factor in enumerate(node.factors):
            if depends_on(factor, v):
                _spend(budget, len(node.factors))
                others = node.factors[:i] + (_derive(factor, v, budget),) + node.factors[i + 1:]
                terms.append(E.Mul(others))
        return E.Add(tuple(terms))
    if isinstance(node, E.Div):
        u, w = node.num, node.den
        if not depends_on(w, v):
            return E.Div(_derive(u, v, budget), w)
        top = E.Add((E.Mul((_derive(u, v, budget), w)), E.Neg(E.Mul((u, _derive(w, v, budget))))))
        return E.Div(top, E.Pow(w, E.Num(2)))
    if isinstance(node, E.Pow):
        base, exponent = node.base, node.exp
        if not depends_on(exponent, v):
            lowered = E.Pow(base, E.Add((exponent, E.Num(-1))))
            return E.Mul((exponent, lowered, _derive(base, v, budget)))
        log_base = E.Func("ln", (base,))
        if not depends_on(base, v):
            return E.Mul((node, log_base, _derive(exponent, v, budget)))
        inner = E.Add((E.Mul((_derive(exponent, v, budget), log_base)),
                       E.Div(E.Mul((exponent, _derive(base, v, budget))), base)))
        return E.Mul((node, inner))
    if isinstance(node, E.Func):
        outer = _BY_SHOWN[node.name].derivative(node.args[0])
        return E.Mul((outer, _derive(node.args[0], v, budget)))
    raise TypeError(f"cannot differentiate {type(node).__name__}")


# ------------------------------------------------------------------------------ simplification


def key(node: E.Expr) -> tuple:
    """A structural identity for a tree (expr nodes compare by identity)."""
    if isinstance(node, E.Num):
        return ("num", float(node.value))
    if isinstance(node, E.Sym):
        return ("sym", node.key)
    if isinstance(node, E.Func):
        return ("func", node.name, tuple(key(a) for a in node.args))
    return (type(node).__name__, tuple(key(c) for c in node.children()))


def _num(node: E.Expr) -> float | None:
    return float(node.value) if isinstance(node, E.Num) else None


def _is_short(value: float) -> bool:
    """A number that prints exactly in a few decimals (0.2, 12.5), so folding 1/5 is harmless."""
    return math.isfinite(value) and abs(value * 1e6 - round(value * 1e6)) < 1e-6 and \
        abs(value) < 1e12


def simplify(node: E.Expr) -> E.Expr:
    """Fold constants, drop ·1, +0 and ^1, merge like terms (x·x → x², 2x + 3x → 5x)."""
    if isinstance(node, (E.Num, E.Sym)):
        return node
    if isinstance(node, E.Func):
        arg = simplify(node.args[0])
        value = _num(arg)
        if value is not None:
            folded = _BY_SHOWN[node.name].forward(value)
            if math.isfinite(folded) and float(folded).is_integer():
                return E.Num(folded)  # exp(0) → 1, abs(-2) → 2; exp(1) stays as written
        return E.Func(node.name, (arg,))
    if isinstance(node, E.Neg):
        return _scale(simplify(node.arg), -1.0)
    if isinstance(node, E.Add):
        return _simplify_sum([simplify(t) for t in node.terms])
    if isinstance(node, E.Mul):
        return _simplify_product([simplify(f) for f in node.factors])
    if isinstance(node, E.Div):
        return _simplify_div(simplify(node.num), simplify(node.den))
    if isinstance(node, E.Pow):
        return _simplify_pow(simplify(node.base), simplify(node.exp))
    return node


def _split(node: E.Expr) -> tuple[float, list[E.Expr]]:
    """A simplified term as coefficient × factors."""
    value = _num(node)
    if value is not None:
        return value, []
    if isinstance(node, E.Neg):
        coefficient, factors = _split(node.arg)
        return -coefficient, factors
    if isinstance(node, E.Mul):
        coefficient = 1.0
        factors = []
        for factor in node.factors:
            c, f = _split(factor)
            coefficient *= c
            factors.extend(f)
        return coefficient, factors
    return 1.0, [node]


def _build(coefficient: float, factors: list[E.Expr]) -> E.Expr:
    if coefficient == 0:
        return E.Num(0)
    if not factors:
        return E.Num(coefficient)
    body: E.Expr = factors[0] if len(factors) == 1 else E.Mul(tuple(factors))
    if coefficient == 1:
        return body
    if coefficient == -1:
        return E.Neg(body)
    if coefficient < 0:
        return E.Neg(E.Mul.of(E.Num(-coefficient), body))
    return E.Mul.of(E.Num(coefficient), body)


def _scale(node: E.Expr, by: float) -> E.Expr:
    if isinstance(node, E.Add):
        return _simplify_sum([_scale(t, by) for t in node.terms])
    coefficient, factors = _split(node)
    return _build(coefficient * by, factors)


def _simplify_sum(terms: list[E.Expr]) -> E.Expr:
    flat: list[E.Expr] = []
    for term in terms:
        flat.extend(term.terms if isinstance(term, E.Add) else (term,))
    constant = 0.0
    order: list[tuple] = []
    collected: dict[tuple, tuple[float, list[E.Expr]]] = {}
    for term in flat:
        coefficient, factors = _split(term)
        if not factors:
            constant += coefficient
            continue
        k = tuple(sorted(repr(key(f)) for f in factors))  # x·y and y·x are like terms
        if k in collected:
            collected[k] = (collected[k][0] + coefficient, factors)
        else:
            order.append(k)
            collected[k] = (coefficient, factors)
    parts = [_build(*collected[k]) for k in order if collected[k][0] != 0]
    if constant != 0 or not parts:
        parts.append(E.Num(constant))
    positive = [p for p in parts if not _leads_negative(p)]
    if positive and _leads_negative(parts[0]):  # 1 − tanh(x)², not −tanh(x)² + 1
        parts.remove(positive[0])
        parts.insert(0, positive[0])
    return parts[0] if len(parts) == 1 else E.Add(tuple(parts))


def _leads_negative(node: E.Expr) -> bool:
    value = _num(node)
    return isinstance(node, E.Neg) or (value is not None and value < 0)


def _collect(node: E.Expr, sign: int, acc: _Product) -> None:
    """Add ``node`` (sign 1) or its reciprocal (sign −1) to a product being built."""
    if isinstance(node, E.Num):
        value = float(node.value)
        if value == 0 and sign < 0:
            acc.powers.append((node, -1.0))
        elif value < 0:
            acc.negative = not acc.negative
            acc.scale(-value, sign)
        else:
            acc.scale(value, sign)
    elif isinstance(node, E.Neg):
        acc.negative = not acc.negative
        _collect(node.arg, sign, acc)
    elif isinstance(node, E.Mul):
        for factor in node.factors:
            _collect(factor, sign, acc)
    elif isinstance(node, E.Div):
        _collect(node.num, sign, acc)
        _collect(node.den, -sign, acc)
    elif isinstance(node, E.Pow) and (exponent := _num(node.exp)) is not None:
        acc.powers.append((node.base, exponent * sign))
    elif sign > 0:
        acc.powers.append((node, 1.0) if not isinstance(node, E.Pow) else (node.base, node.exp))
    else:
        acc.powers.append((node, -1.0))


class _Product:
    """Coefficient (kept as a fraction when it does not print short) and base → exponent."""

    def __init__(self) -> None:
        self.top = 1.0
        self.bottom = 1.0
        self.negative = False
        self.powers: list[tuple[E.Expr, float | E.Expr]] = []

    def scale(self, value: float, sign: int) -> None:
        if sign > 0:
            self.top *= value
        else:
            self.bottom *= value


def _simplify_product(factors: list[E.Expr]) -> E.Expr:
    acc = _Product()
    for factor in factors:
        _collect(factor, 1, acc)
    if acc.top == 0:
        return E.Num(0)
    order: list[tuple] = []
    merged: dict[tuple, tuple[E.Expr, list[float | E.Expr]]] = {}
    for base, exponent in acc.powers:
        k = key(base)
        if k not in merged:
            order.append(k)
            merged[k] = (base, [])
        merged[k][1].append(exponent)
    numerator: list[E.Expr] = []
    denominator: list[E.Expr] = []
    for k in order:
        base, exponents = merged[k]
        numbers = [e for e in exponents if isinstance(e, float)]
        if len(numbers) == len(exponents):
            total = sum(numbers)
            if total == 0:
                continue
            target = numerator if total > 0 else denominator
            target.append(_simplify_pow(base, E.Num(abs(total))))
        else:
            parts = [E.Num(e) if isinstance(e, float) else e for e in exponents]
            numerator.append(_simplify_pow(base, _simplify_sum(parts)))
    ratio = acc.top / acc.bottom
    if denominator and ratio.is_integer():
        top, bottom = ratio, 1.0
    elif denominator and (1 / ratio).is_integer():
        top, bottom = 1.0, 1 / ratio  # 1/(2·sqrt(x)), not 0.5/sqrt(x)
    elif not denominator and _is_short(ratio):
        top, bottom = ratio, 1.0
    else:
        top, bottom = acc.top, acc.bottom
    folded: list[E.Expr] = []
    for factor in numerator:  # a power may have folded to a number (2^3 → 8)
        value = _num(factor)
        if value is not None:
            top *= value
        else:
            folded.append(factor)
    upper = _build(top, folded)
    if denominator or bottom != 1:
        lower = _build(bottom, denominator)
        result: E.Expr = E.Div(upper, lower)
    else:
        result = upper
    return E.Neg(result) if acc.negative else result


def _simplify_div(num: E.Expr, den: E.Expr) -> E.Expr:
    return _simplify_product([E.Div(num, den)])


def _simplify_pow(base: E.Expr, exponent: E.Expr) -> E.Expr:
    b, e = _num(base), _num(exponent)
    if e == 0:
        return E.Num(1)
    if e == 1:
        return base
    if b is not None and e is not None:
        value = _power(b, e)
        if _is_short(value):
            return E.Num(value)
    if b == 1:
        return E.Num(1)
    if isinstance(base, E.Pow) and e is not None and e.is_integer() and \
            _num(base.exp) is not None:  # (x^a)^n = x^(an) for whole n only
        return _simplify_pow(base.base, E.Num(float(base.exp.value) * e))  # type: ignore
    return E.Pow(base, exponent)


def substitute(node: E.Expr, leaves: Mapping[str, E.Expr]) -> E.Expr:
    """The same tree with symbols replaced by key (x → x₀ so a step's lines name the iterate)."""
    if isinstance(node, E.Sym):
        return leaves.get(node.key, node)
    if isinstance(node, E.Add):
        return E.Add(tuple(substitute(t, leaves) for t in node.terms))
    if isinstance(node, E.Mul):
        return E.Mul(tuple(substitute(f, leaves) for f in node.factors))
    if isinstance(node, E.Neg):
        return E.Neg(substitute(node.arg, leaves))
    if isinstance(node, E.Div):
        return E.Div(substitute(node.num, leaves), substitute(node.den, leaves))
    if isinstance(node, E.Pow):
        return E.Pow(substitute(node.base, leaves), substitute(node.exp, leaves))
    if isinstance(node, E.Func):
        return E.Func(node.name, tuple(substitute(a, leaves) for a in node.args))
    return node
