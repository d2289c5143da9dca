"""The perceptron: every update against an independent loop, stopping, labels, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdtrace.errors import ProblemError
from gdtrace.problem import load_problem, load_problem_text, resolve_problem
from gdtrace.render import RenderOptions, render
from gdtrace.solvers import solve
from gdtrace.trace import Role


def reference(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, eta: float, epochs: int,
              signed: bool) -> tuple[list[tuple[np.ndarray, float]], int | None]:
    """Rosenblatt's rule written out plainly: parameters after every sample."""
    history = []
    for epoch in range(1, epochs + 1):
        mistakes = 0
        for x, t in zip(X, y):
            yhat = 1.0 if w @ x + b >= 0 else (-1.0 if signed else 0.0)
            w = w + eta * (t - yhat) * x
            b = b + eta * (t - yhat)
            mistakes += int(t != yhat)
            history.append((w.copy(), b))
        if mistakes == 0:
            return history, epoch
    return history, None


def problem_text(rows: np.ndarray, eta: float, epochs: int, weights: list[float] | None = None,
                 bias: float = 0.0) -> str:
    d = rows.shape[1] - 1
    columns = [f"x{j + 1}" for j in range(d)] + ["y"]
    body = "\n".join(f"    - [{', '.join(repr(float(v)) for v in row)}]" for row in rows)
    weights = weights if weights is not None else [0.0] * d
    return (f"model: perceptron\ndataset:\n  columns: [{', '.join(columns)}]\n  rows:\n{body}\n"
            f"weights: {weights}\nbias: {bias}\nlearning_rate: {eta}\nepochs: {epochs}\n")


def check_against_reference(rows: np.ndarray, eta: float, epochs: int, signed: bool,
                            weights: list[float] | None = None, bias: float = 0.0) -> None:
    problem = load_problem_text(problem_text(rows, eta, epochs, weights, bias), "p.yaml")
    run = solve(problem).runs[0]
    X, y = rows[:, :-1], rows[:, -1]
    w0 = np.array(weights if weights is not None else [0.0] * X.shape[1], dtype=float)
    history, converged = reference(X, y, w0, bias, eta, epochs, signed)
    steps = [s for e in run.epochs for s in e.steps]
    assert len(steps) == len(history)
    for step, (w, b) in zip(steps, history):
        params = [q.value for q in step.of_role(Role.PARAM)]
        assert params == pytest.approx([*w, b], rel=1e-12, abs=1e-12)
    assert len(run.epochs) == (converged if converged is not None else epochs)


def test_bundled_and_problem_matches_the_reference_loop() -> None:
    problem = load_problem(resolve_problem("perceptron"))
    run = solve(problem).runs[0]
    rows = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=float)
    check_against_reference(rows, 0.5, 10, signed=False)
    assert run.final == {"w1": 1.0, "w2": 0.5, "b": -1.5}
    assert run.outcome is not None and run.outcome.accuracy == 1.0
    assert [e.loss for e in run.epochs] == [3, 3, 2, 1, 2, 0]  # mistakes at each epoch's start
    assert run.final_loss == 0


def test_first_step_is_worked_out() -> None:
    run = solve(load_problem(resolve_problem("perceptron"))).runs[0]
    step = run.epochs[0].steps[0]
    values = {q.key: q.value for q in step.rows[0]}
    assert values["z"] == 0 and values["yhat"] == 1 and values["error"] == -1  # z = 0 → ŷ = 1
    text = render(solve(load_problem(resolve_problem("perceptron"))), "text",
                  RenderOptions(steps=True))
    assert "b ← b + η·error₁ = 0 + 0.5·(-1) = -0.5" in text


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 7), st.integers(1, 3), st.integers(0, 10_000), st.booleans(),
       st.sampled_from([0.1, 0.5, 1.0]))
def test_random_problems_match_the_reference(n: int, d: int, seed: int, signed: bool,
                                             eta: float) -> None:
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(n, d)) * 3, 2)
    labels = rng.integers(0, 2, size=n).astype(float)
    if signed:
        labels = 2 * labels - 1
        if set(labels) == {1.0}:
            labels[0] = -1.0  # keep the −1/1 reading unambiguous
    rows = np.hstack([X, labels[:, None]])
    start = [float(v) for v in np.round(rng.normal(size=d), 2)]
    check_against_reference(rows, eta, 6, signed, start, 0.25)


def test_not_separable_warns() -> None:
    xor = np.array([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float)
    trace = solve(load_problem_text(problem_text(xor, 1.0, 5), "xor.yaml"))
    assert any(w.code == "not_converged" for w in trace.warnings)
    assert len(trace.runs[0].epochs) == 5


def test_json_document() -> None:
    document = json.loads(render(solve(load_problem(resolve_problem("perceptron"))), "json",
                                 RenderOptions()))
    run = document["runs"][0]
    assert run["final"] == {"w1": 1.0, "w2": 0.5, "b": -1.5}
    first = run["epochs"][0]["steps"][0]
    assert first["values"] == {"z": 0.0, "yhat": 1.0, "error": -1.0}
    assert first["params"] == {"w1": 0.0, "w2": 0.0, "b": -0.5}
    assert run["accuracy"] == 1.0


@pytest.mark.parametrize("target, words", [(2, "0/1 or -1/1"), (0.5, "0/1 or -1/1")])
def test_bad_targets(target: float, words: str) -> None:
    rows = np.array([[0, 0, 0], [1, 1, target]], dtype=float)
    with pytest.raises(ProblemError, match=words):
        load_problem_text(problem_text(rows, 0.1, 2), "bad.yaml")
