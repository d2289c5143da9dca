"""model: function — the Hessian classified by the signs of all its eigenvalues (issue 13): an
indefinite Hessian is a saddle, not "concave", and the output says what that means for GD."""

from __future__ import annotations

import numpy as np
import pytest

from gdtrace.problem import load_problem_text
from gdtrace.render import RenderOptions, render
from gdtrace.solvers import solve
from gdtrace.solvers.function import classify_hessian


def problem(f: str, start: str, lr: float = 0.05, steps: int = 3):
    text = f"model: function\nf: \"{f}\"\nstart: {start}\nlearning_rate: {lr}\nsteps: {steps}\n"
    return load_problem_text(text, "test.yaml")


@pytest.mark.parametrize("eigen,kind,point", [
    ([1.0, 2.0], "positive definite", "minimum"),
    ([0.0, 2.0], "positive semidefinite", "no unique minimum"),
    ([-1.0, -2.0], "negative definite", "maximum"),
    ([-1.0, 0.0], "negative semidefinite", "no minimum"),
    ([-1.0, 3.0], "indefinite", "saddle"),
    ([-1e-17, 3.0], "positive semidefinite", "no unique minimum"),  # rounding noise is 0
])
def test_classify_by_every_eigenvalue(eigen, kind, point):
    got = classify_hessian(np.array(eigen))
    assert got[:2] == (kind, point)


def test_indefinite_quadratic_is_a_saddle_not_concave():
    # aᵀXᵀXb with a = (1, 2), b = (3, −1), written out in the entries of X
    f = ("(1*x11 + 2*x12)*(3*x11 - x12) + (1*x21 + 2*x22)*(3*x21 - x22)")
    trace = solve(problem(f, "{x11: 1, x12: 0.5, x21: -0.5, x22: 1}"))
    warning = next(w for w in trace.warnings if w.code == "no_minimum")
    assert "indefinite" in warning.message and "saddle" in warning.message
    assert "concave" not in warning.message.replace("neither convex nor concave", "")
    assert "runs away along the negative" in warning.message
    text = render(trace, "text", RenderOptions())
    assert "the Hessian by the signs of its eigenvalues" in text and "saddle" in text


@pytest.mark.parametrize("f,kind", [
    ("-x^2 - y^2", "negative definite"),
    ("(x + y)^2", "positive semidefinite"),
])
def test_no_minimum_names_the_kind(f, kind):
    trace = solve(problem(f, "{x: 1, y: 2}"))
    warning = next(w for w in trace.warnings if w.code == "no_minimum")
    assert f"it is {kind}" in warning.message


def test_positive_definite_has_no_warning_and_says_minimum():
    trace = solve(problem("x^2 + 3*y^2", "{x: 1, y: 2}"))
    assert not [w for w in trace.warnings if w.code == "no_minimum"]
    tables = [t for b in trace.runs[0].blocks for t in b.tables
              if t.title.startswith("the Hessian by the signs")]
    assert tables and tables[0].rows[0][1:3] == ["positive definite", "minimum"]


def test_a_saddle_reached_by_the_iterates_is_reported():
    trace = solve(problem("sin(x)*sin(y)", "{x: 0, y: 0}"))
    warning = next(w for w in trace.warnings if w.code == "saddle")
    assert "indefinite" in warning.message
