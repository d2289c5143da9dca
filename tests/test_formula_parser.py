"""The `f:` formula language: safe parsing, errors at the right column, calculus that is right."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdtrace.formula import expr as E
from gdtrace.formula.parse import FormulaError, derivative, evaluate, parse, simplify, tokenize
from gdtrace.render.printer import ExprPrinter

PRINT = ExprPrinter().symbolic


def show(text: str, variables: list[str] | None = None) -> str:
    return PRINT(parse(text, variables or ["x"]))


def d(text: str, var: str = "x", variables: list[str] | None = None) -> str:
    return PRINT(derivative(parse(text, variables or ["x"]), var))


# ------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize("text, values, expected", [
    ("5*x^2 + 2", {"x": 3}, 47.0),
    ("5*x**2 + 2", {"x": 3}, 47.0),
    ("-x^2", {"x": 3}, -9.0),  # ^ binds tighter than unary minus
    ("2^3^2", {}, 512.0),  # right-associative
    ("2^-1", {}, 0.5),
    ("(1 + x)*(1 - x)", {"x": 2}, -3.0),
    ("x - y - 1", {"x": 5, "y": 2}, 2.0),  # left-associative
    ("x / y / 2", {"x": 8, "y": 2}, 2.0),
    ("1.5e2 + .5", {}, 150.5),
    ("exp(0) + log(1) + sqrt(4) + sin(0) + cos(0) + tanh(0) + sigmoid(0) + abs(-3)", {}, 7.5),
    ("3 − x", {"x": 1}, 2.0),  # the typographic minus sign
    ("--x", {"x": 4}, 4.0),
])
def test_parse_and_evaluate(text: str, values: dict[str, float], expected: float) -> None:
    tree = parse(text, list(values) or ["x"])
    assert evaluate(tree, values or {"x": 0.0}) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text, column, words", [
    ("5*x@2", 4, "unexpected character '@'"),
    ("5x", 2, "missing operator"),
    ("x + y", 5, "unknown name 'y'"),
    ("__import__('os')", 12, "unexpected character"),
    ("__import__", 1, "unknown name '__import__'"),
    ("exp x", 5, "needs its argument in brackets"),
    ("(x + 1", 7, "missing ')'"),
    ("x + ", 5, "ends too early"),
    ("", 1, "empty"),
    ("max(x)", 1, "unknown name 'max'"),
    ("max(x, 1)", 6, "functions take one argument"),
    ("x(2)", 2, "is a variable, not a function"),
    ("3 * * x", 5, "unexpected '*'"),
    ("x)", 2, "unexpected ')'"),
    ("1e999", 1, "too large"),
    ("x; 1", 2, "unexpected character ';'"),
    ("exp()", 5, "needs an argument"),
    ("expp(x)", 1, "did you mean 'exp'"),
])
def test_errors_point_at_the_offending_column(text: str, column: int, words: str) -> None:
    with pytest.raises(FormulaError) as caught:
        parse(text, ["x"])
    assert caught.value.column == column
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_nothing_outside_the_grammar_reaches_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """eval/exec are never called, even for text that Python would happily run."""
    import builtins

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    for text in ["__import__('os').system('true')", "x.__class__", "[x]", "lambda: 1",
                 "x if x else 1", "'a'", "x[0]", "open('f')"]:
        with pytest.raises(FormulaError):
            parse(text, ["x"])
    assert evaluate(parse("x*2", ["x"]), {"x": 2.0}) == 4.0


def test_depth_is_limited_instead_of_crashing() -> None:
    with pytest.raises(FormulaError, match="nested"):
        parse("(" * 500 + "x" + ")" * 500, ["x"])
    with pytest.raises(FormulaError, match="nested"):
        parse("-" * 500 + "x", ["x"])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="x0123456789.+-*/^() eEpsqrtabcoignhl,", max_size=30))
def test_random_text_parses_or_raises_formula_error(text: str) -> None:
    try:
        tree = parse(text, ["x"])
    except FormulaError as error:
        assert 1 <= error.column <= len(text) + 1
        return
    value = evaluate(tree, {"x": 0.7})  # never raises, may be inf/nan
    assert isinstance(value, float)


def test_tokens_carry_columns() -> None:
    tokens = tokenize("12 + x**2")
    assert [(t.kind, t.text, t.column) for t in tokens] == [
        ("num", "12", 1), ("op", "+", 4), ("name", "x", 6), ("op", "^", 7), ("num", "2", 9),
        ("end", "", 10)]


# ------------------------------------------------------------------ derivatives, printing


@pytest.mark.parametrize("text, expected", [
    ("5*x^2 + 2", "10x"),
    ("x^3", "3x²"),
    ("x*x*x", "3x²"),
    ("3*x + 2*x", "5"),
    ("-x^2", "−2x"),
    ("(x - 1)^2", "2·(x − 1)"),
    ("tanh(x)", "1 − tanh(x)²"),
    ("sigmoid(x)", "σ(x)·(1 − σ(x))"),
    ("exp(2*x)", "2·exp(2x)"),
    ("log(x)", "1/x"),
    ("2/x", "−2/x²"),
    ("sqrt(x)", "1/(2·sqrt(x))"),
    ("x/4", "0.25"),
    ("7", "0"),
])
def test_derivatives_are_simplified(text: str, expected: str) -> None:
    assert d(text) == expected


def test_partial_derivatives_and_second_derivatives() -> None:
    f = "x^2 + 10*y^2 - 2*x*y"
    assert d(f, "x", ["x", "y"]) == "2x − 2y"
    assert d(f, "y", ["x", "y"]) == "20y − 2x"
    tree = parse(f, ["x", "y"])
    hxy = derivative(derivative(tree, "x"), "y")
    assert isinstance(hxy, E.Num) and hxy.value == -2


def test_printed_function_names() -> None:
    assert show("log(x) + sigmoid(x)") == "ln(x) + σ(x)"
    assert show("5*x^2 + 2") == "5x² + 2"


FUNCTIONS_1D = ["5*x^2 + 2", "x^4 - 3*x^3 + 2", "exp(-x) + log(x)", "sigmoid(2*x)",
                "sqrt(x^2 + 1)", "sin(x)*cos(x)", "tanh(x)/x", "x^x", "2^x", "abs(x - 3)",
                "log(1 + exp(x))", "(x - 1)/(x + 2)", "x*exp(-x^2)"]


@pytest.mark.parametrize("text", FUNCTIONS_1D)
@pytest.mark.parametrize("point", [0.3, 1.7, 2.9])
def test_derivative_matches_finite_differences(text: str, point: float) -> None:
    tree = parse(text, ["x"])
    first = derivative(tree, "x")
    second = derivative(first, "x")
    h = 1e-6
    numeric = (evaluate(tree, {"x": point + h}) - evaluate(tree, {"x": point - h})) / (2 * h)
    assert evaluate(first, {"x": point}) == pytest.approx(numeric, rel=1e-6, abs=1e-6)
    numeric2 = (evaluate(first, {"x": point + h}) - evaluate(first, {"x": point - h})) / (2 * h)
    assert evaluate(second, {"x": point}) == pytest.approx(numeric2, rel=1e-5, abs=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=4), st.floats(-3, 3))
def test_simplify_keeps_the_value_of_polynomials(coefficients: list[int], x: float) -> None:
    text = " + ".join(f"({c})*x^{k}" for k, c in enumerate(coefficients))
    tree = parse(text, ["x"])
    exact = sum(c * x ** k for k, c in enumerate(coefficients))
    assert evaluate(simplify(tree), {"x": x}) == pytest.approx(exact, rel=1e-9, abs=1e-9)
    slope = sum(k * c * x ** (k - 1) for k, c in enumerate(coefficients) if k)
    assert evaluate(derivative(tree, "x"), {"x": x}) == pytest.approx(slope, rel=1e-9, abs=1e-9)


def test_evaluation_gives_inf_or_nan_instead_of_raising() -> None:
    assert math.isnan(evaluate(parse("log(-1)", ["x"]), {"x": 0}))
    assert math.isnan(evaluate(parse("sqrt(x)", ["x"]), {"x": -1}))
    assert evaluate(parse("exp(x)", ["x"]), {"x": 1000}) == math.inf
    assert evaluate(parse("1/x", ["x"]), {"x": 0}) == math.inf
    assert math.isnan(evaluate(parse("x^0.5", ["x"]), {"x": -4}))
    assert evaluate(parse("x^3", ["x"]), {"x": -1e200}) == -math.inf


@pytest.mark.parametrize("text", FUNCTIONS_1D + ["x/3 + 2*x/6", "(2*x)/(4*x^2)", "x^2*x^-3",
                                                 "-(x - 2)*(-3)", "exp(0)*x + abs(-2)*x"])
@pytest.mark.parametrize("point", [0.3, 1.7, 2.9])
def test_simplify_never_changes_a_value(text: str, point: float) -> None:
    tree = parse(text, ["x"])
    assert evaluate(simplify(tree), {"x": point}) == pytest.approx(
        evaluate(tree, {"x": point}), rel=1e-12, abs=1e-12)
