"""The function model's compiled kernel gives :func:`evaluate`'s numbers bit for bit.

``--summary`` of ``model: function`` (and the worked steps) compute f and its gradient through
:func:`gdtrace.solvers.function.kernel`, Python source generated from the trees. It must agree
with the tree interpreter on every formula and point, including where the interpreter turns an
exception into inf or nan (the kernel then hands over to it).
"""

from __future__ import annotations

import math
import struct

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gdtrace.formula import expr as E
from gdtrace.formula.parse import derivative, evaluate, parse
from gdtrace.solvers.function import Calculus, kernel

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

LEAVES = st.sampled_from(["x", "y", "x", "y", "0", "1", "2", "0.1", "3.7", "1e200", "1e-200"])
FUNCTIONS = ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "abs"]


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "^"]), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})")
    unary = st.tuples(st.sampled_from(FUNCTIONS), children).map(lambda t: f"{t[0]}({t[1]})")
    negated = children.map(lambda c: f"(-{c})")
    return binary | unary | negated


FORMULAS = st.recursive(LEAVES, _combine, max_leaves=12)
POINTS = st.floats(-5, 5) | st.sampled_from([0.0, -0.0, 0.0, -0.0, 1e308, -1e308, 5e-324]) | \
    st.floats(allow_nan=False, allow_infinity=False, width=64)


def bits(value: float) -> bytes:
    """A float's exact identity (0.0 and -0.0 differ, every nan is one nan)."""
    return b"nan" if math.isnan(value) else struct.pack("<d", value)


@SETTINGS
@given(FORMULAS, POINTS, POINTS)
@example("x - y", -0.0, 0.0)  # the sum starts at 0.0, as evaluate's: 0.0, not -0.0
@example("x * y * 0.1 * x", 1.49, 1.35)  # left to right: another order rounds differently
def test_kernel_equals_the_tree_interpreter(text: str, x: float, y: float) -> None:
    tree = parse(text, ["x", "y"])
    trees = [tree, derivative(tree, "x"), derivative(tree, "y")]
    expected = [evaluate(t, {"x": x, "y": y}) for t in trees]
    calc = Calculus(tree, ["x", "y"], trees[1:], [])
    f_value, grads = calc.numbers([x, y])
    assert [bits(v) for v in [f_value, *grads]] == [bits(v) for v in expected]
    found = kernel(trees, ["x", "y"])(x, y)
    if found is not None:  # None only where the interpreter had an exception to handle
        assert [bits(v) for v in found] == [bits(v) for v in expected]


def test_kernel_hands_over_where_the_interpreter_catches() -> None:
    """1/x at 0 and x^y past float64 raise in Python: the kernel returns None, and the numbers
    are the interpreter's inf (the run then stops with its warning)."""
    for text, point in (("1/x", (0.0, 1.0)), ("x^y", (10.0, 400.0)), ("(-x)^0.5", (2.0, 0.0))):
        tree = parse(text, ["x", "y"])
        assert kernel([tree], ["x", "y"])(*point) is None
        calc = Calculus(tree, ["x", "y"], [], [])
        assert bits(calc.numbers(list(point))[0]) == bits(evaluate(tree, dict(zip("xy",
                                                                                  point))))


def test_a_shared_subtree_is_computed_once() -> None:
    """(y − x²) occurs in f and in both partials of Rosenbrock's function: one line each."""
    tree = parse("(1 - x)^2 + 100*(y - x^2)^2", ["x", "y"])
    trees = [tree, derivative(tree, "x"), derivative(tree, "y")]
    compiled = kernel(trees, ["x", "y"])
    lines = compiled.__code__.co_varnames
    shared = kernel([E.Add((tree, tree))], ["x", "y"]).__code__.co_varnames
    assert len(shared) == len(kernel([tree], ["x", "y"]).__code__.co_varnames) + 1
    assert compiled(-1.2, 1.0) == [evaluate(t, {"x": -1.2, "y": 1.0}) for t in trees]
    assert len(lines) > 2
