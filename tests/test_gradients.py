"""The solver's gradients are the derivatives of the loss docs/models.md says each step minimises.

For a step over the samples S the loss is the data loss over S (mean over S for mse, half_mse
and the logistic losses; sum over S for sse and half_sse) plus the L2 term (λ/(2n))·Σ w_j², so
∂/∂w_j gets (λ/n)·w_j and the bias is not penalised. Central finite differences of that loss,
written here independently of the solver, must match the first step's gradient.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gdtrace.formula.rounding import Carry, round_half_away
from gdtrace.problem import load_problem_text
from gdtrace.render import RenderOptions, render
from gdtrace.solvers import solve
from gdtrace.solvers.glm import _rising_loss
from gdtrace.trace import Role, Step

COMBINATIONS = [("logistic", "log"), ("logistic", "mse"), ("linear", "mse"),
                ("linear", "half_mse"), ("linear", "sse"), ("linear", "half_sse")]


def make(model: str, rows: list[list[float]], weights: list[float], **keys: object):
    """A problem from plain values, through the YAML loader like a user's file."""
    d = len(weights)
    document = {"model": model,
                "dataset": {"columns": [f"x{j + 1}" for j in range(d)] + ["y"], "rows": rows},
                "weights": weights, "learning_rate": 0.1, "epochs": 1, **keys}
    return load_problem_text(yaml.safe_dump(document), "gen.yaml")


def step_loss(model: str, loss: str, X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float,
              lam: float, n: int) -> float:
    """The loss over the samples of one step, plus (λ/(2n))Σw², straight from the docs."""
    z = X @ w + b
    m = len(y)
    if model == "logistic":
        p = 1.0 / (1.0 + np.exp(-z))
        if loss == "log":
            data = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        else:
            data = np.mean((p - y) ** 2)
    else:
        squares = (y - z) ** 2
        data = {"mse": np.sum(squares) / m, "half_mse": np.sum(squares) / (2 * m),
                "sse": np.sum(squares), "half_sse": np.sum(squares) / 2}[loss]
    return float(data + lam / (2 * n) * np.sum(w ** 2))


def finite_differences(f, w: np.ndarray, b: float, h: float = 1e-6) -> np.ndarray:
    """Central differences for each weight, then the bias."""
    out = []
    for j in range(len(w) + 1):
        def shifted(delta: float, j: int = j) -> float:
            w2, b2 = w.copy(), b
            if j < len(w):
                w2[j] += delta
            else:
                b2 += delta
            return f(w2, b2)
        out.append((shifted(h) - shifted(-h)) / (2 * h))
    return np.array(out)


def step_grads(step: Step) -> list[float]:
    return [float(q.value) for q in step.of_role(Role.GRAD)]


@st.composite
def problems(draw):
    model, loss = draw(st.sampled_from(COMBINATIONS))
    n = draw(st.integers(1, 5))
    d = draw(st.integers(1, 3))
    value = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))
    rows = [[draw(value) for _ in range(d)] + [float(draw(st.integers(0, 1))) if
                                                model == "logistic" else draw(value)]
            for _ in range(n)]
    weights = [draw(st.floats(-1, 1).map(lambda v: round(v, 3))) for _ in range(d)]
    bias = draw(st.floats(-1, 1).map(lambda v: round(v, 3)))
    lam = draw(st.sampled_from([0.0, 0.1, 0.5, 2.0]))
    update = draw(st.sampled_from(["sgd", "batch", "minibatch"]))
    keys: dict[str, object] = {"loss": loss, "lambda": lam, "bias": bias, "update": update}
    if update == "minibatch":
        keys["batch_size"] = draw(st.integers(1, n))
    return model, loss, rows, weights, keys


@settings(max_examples=150, deadline=None)
@given(problems())
def test_first_step_gradient_matches_finite_differences(case):
    model, loss, rows, weights, keys = case
    problem = make(model, rows, weights, **keys)
    step = solve(problem).runs[0].epochs[0].steps[0]
    size = {"sgd": 1, "batch": len(rows)}.get(keys["update"], keys.get("batch_size"))
    assert step.samples == list(range(1, size + 1))  # file order, first group
    data = np.array(rows, dtype=float)
    X, y = data[:size, :-1], data[:size, -1]
    n, lam = len(rows), float(keys["lambda"])

    def f(w: np.ndarray, b: float) -> float:
        return step_loss(model, loss, X, y, w, b, lam, n)

    expected = finite_differences(f, np.array(weights, dtype=float), float(keys["bias"]))
    actual = step_grads(step)
    assert actual == pytest.approx(list(expected), rel=1e-6, abs=1e-8)
    # the update is w ← w − η·∂L/∂w with the same gradient
    after = [float(q.value) for q in step.of_role(Role.PARAM)]
    before = [*weights, keys["bias"]]
    assert after == pytest.approx([p - 0.1 * g for p, g in zip(before, actual)], rel=1e-12,
                                  abs=1e-15)


@pytest.mark.parametrize(("model", "loss"), COMBINATIONS)
@pytest.mark.parametrize("update", ["sgd", "batch"])
def test_every_combination_once(model, loss, update):
    """A fixed case per combination, so a failure names the combination directly."""
    rows = [[0.5, -1.0, 1.0], [1.5, 0.25, 0.0], [-0.75, 2.0, 1.0]]
    weights, bias, lam = [0.3, -0.2], 0.1, 0.5
    problem = make(model, rows, weights, loss=loss, bias=bias, update=update, **{"lambda": lam})
    step = solve(problem).runs[0].epochs[0].steps[0]
    size = 1 if update == "sgd" else 3
    data = np.array(rows)
    expected = finite_differences(
        lambda w, b: step_loss(model, loss, data[:size, :-1], data[:size, -1], w, b, lam, 3),
        np.array(weights), bias)
    assert step_grads(step) == pytest.approx(list(expected), rel=1e-6, abs=1e-8)


# ------------------------------------------------------------------- stability at |z| = 1000


@pytest.mark.parametrize("loss", ["log", "mse"])
def test_no_overflow_at_large_z(loss):
    """z = ±1000: σ is exactly 0 or 1, the log loss is 1000 or 0, and nothing warns."""
    rows = [[1000.0, 1.0], [-1000.0, 1.0], [1000.0, 0.0], [-1000.0, 0.0]]
    problem = make("logistic", rows, [1.0], loss=loss, update="batch")
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        trace = solve(problem)
        text = render(trace, "json", RenderOptions())
    epoch = trace.runs[0].epochs[0]
    sigmas = [float(q.value) for row in epoch.steps[0].rows for q in row if q.key == "sigma"]
    assert sigmas == [1.0, 0.0, 1.0, 0.0]
    if loss == "log":  # samples 2 and 3 are wrong by 1000 each: (0 + 1000 + 1000 + 0)/4
        assert epoch.loss == pytest.approx(500.0, rel=1e-12)
    assert trace.warnings == [] and "null" not in text


def test_stable_functions_directly():
    from gdtrace.formula.functions import log_loss_from_logits, stable_sigmoid

    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        sigma = stable_sigmoid(z)
        loss_1 = log_loss_from_logits(z, np.ones(5))
        loss_0 = log_loss_from_logits(z, np.zeros(5))
    assert sigma[0] == 0.0 and sigma[-1] == 1.0 and sigma[2] == 0.5
    assert sigma[1] == pytest.approx(1 / (1 + math.exp(30)), rel=1e-14)
    assert loss_1[0] == pytest.approx(1000.0) and loss_1[-1] == 0.0
    assert loss_0[0] == 0.0 and loss_0[-1] == pytest.approx(1000.0)
    assert loss_1[1] == pytest.approx(-math.log(1 / (1 + math.exp(30))), rel=1e-12)


# ------------------------------------------------------------------------- grouping and order


def test_minibatch_groups_are_consecutive_and_last_is_short():
    rows = [[float(i), 0.0] for i in range(1, 6)]
    problem = make("linear", rows, [0.0], update="minibatch", batch_size=2, epochs=2)
    run = solve(problem).runs[0]
    assert [[s.samples for s in e.steps] for e in run.epochs] == [[[1, 2], [3, 4], [5]]] * 2
    assert [s.index for e in run.epochs for s in e.steps] == [1, 2, 3, 4, 5, 6]
    # the divisor is the group's size: 2 for the first group, 1 for the short last one
    problem = make("linear", [[1.0, 1.0], [1.0, 1.0], [1.0, 3.0]], [0.0], update="minibatch",
                   batch_size=2)
    steps = solve(problem).runs[0].epochs[0].steps
    assert step_grads(steps[0]) == [-2.0, -2.0]  # −(2/2)·(1 + 1)
    # after step 1 w = b = 0.2, so ŷ₃ = 0.4 and ∂L/∂w = −(2/1)·(3 − 0.4)·1
    assert step_grads(steps[1]) == pytest.approx([-5.2, -5.2], rel=1e-12)
    assert steps[1].samples == [3]


def test_batch_size_larger_than_data_is_one_batch():
    problem = make("linear", [[1.0, 1.0], [2.0, 0.0]], [0.0], update="minibatch", batch_size=9)
    (step,) = solve(problem).runs[0].epochs[0].steps
    assert step.samples == [1, 2]


def test_shuffle_seed_is_reproducible_and_changes_each_epoch():
    rows = [[float(i), float(i % 2)] for i in range(1, 9)]

    def orders(seed: int, update: str = "sgd") -> list[list[int]]:
        extra = {"batch_size": 3} if update == "minibatch" else {}
        problem = make("logistic", rows, [0.1], shuffle={"seed": seed}, epochs=3, update=update,
                       **extra)
        run = solve(problem).runs[0]
        return [[s for step in e.steps for s in step.samples] for e in run.epochs]

    first = orders(7)
    assert first == orders(7)
    assert all(sorted(order) == list(range(1, 9)) for order in first)
    assert first[0] != list(range(1, 9)) or first[1] != list(range(1, 9))
    assert first != orders(8)
    # the documented order: numpy's default_rng(seed).permutation(n), drawn again each epoch
    rng = np.random.default_rng(7)
    assert first == [[int(i) + 1 for i in rng.permutation(8)] for _ in range(3)]
    assert orders(7, "minibatch") == first
    assert orders(7, "batch") == [list(range(1, 9))] * 3  # batch ignores the order


def test_without_shuffle_sgd_uses_file_order():
    rows = [[3.0, 1.0], [1.0, 0.0], [2.0, 1.0]]
    run = solve(make("logistic", rows, [0.0], epochs=2)).runs[0]
    assert [s.samples for e in run.epochs for s in e.steps] == [[1], [2], [3]] * 2


# ---------------------------------------------------------------------------------- divergence


def test_rising_loss_rule():
    assert _rising_loss([1, 2, 3, 2, 3, 4], "r") == []  # two rises, a fall, two rises
    # losses at the start of epochs 1-5, then the final loss: epoch 2's updates are the first
    # of three in a row that raised it (1 → 2 → 3 → 4), so it started in epoch 2
    (warning,) = _rising_loss([5, 1, 2, 3, 4, 9], "r")
    assert (warning.code, warning.epoch, warning.run) == ("diverging", 2, "r")
    assert "3 epochs in a row" in warning.message and "epoch 2" in warning.message


def test_a_rise_within_a_millionth_is_not_divergence():
    """A converged SGD cycle drifts by ~1e-10 per epoch: that is noise, not divergence."""
    assert _rising_loss([0.3, 0.3 + 1e-10, 0.3 + 2e-10, 0.3 + 3e-10], "r") == []
    assert _rising_loss([0.3, 0.31, 0.32, 0.33], "r")


def test_rising_loss_is_reported_for_a_run():
    rows = [[5.0, 8.0, 1.0], [6.0, 4.0, 1.0]]
    trace = solve(make("linear", rows, [0.0, 0.0], update="batch", epochs=4))
    diverging = [w for w in trace.warnings if w.code == "diverging"]
    assert len(diverging) == 1 and diverging[0].epoch == 1


def test_l2_shrinking_a_perfect_fit_is_not_divergence():
    """From an exact fit, λ pulls w toward 0: the data loss rises every epoch while the loss
    plus its L2 penalty, which the updates minimise, falls. That is not divergence."""
    rows = [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]
    trace = solve(make("linear", rows, [2.0], update="batch", epochs=6, **{"lambda": 3.0},
                       learning_rate=0.01))
    losses = trace.runs[0].loss_curve()
    assert all(later > earlier for earlier, later in zip(losses, losses[1:]))
    assert not [w for w in trace.warnings if w.code == "diverging"]
    # the same run without the penalty in the rule would have warned
    assert _rising_loss([*losses, trace.runs[0].final_loss], "r")


def test_non_finite_step_stops_the_run():
    """A gradient of 2·10¹⁰·10³⁰⁰ overflows in step 1 while the loss (10²⁰) is still finite."""
    problem = make("linear", [[1e300, 0.0], [1.0, 0.0]], [1e-290], update="sgd", epochs=3)
    trace = solve(problem)
    run = trace.runs[0]
    assert run.stopped_early and len(run.epochs) == 1 and len(run.epochs[0].steps) == 1
    (warning,) = [w for w in trace.warnings if w.code == "non_finite"]
    assert (warning.epoch, warning.step) == (1, 1)
    assert warning.message == "the gradient ∂L/∂w1 became inf (overflow); the run stops here"
    assert run.final == {"w1": 1e-290, "b": 0.0}  # the last finite parameters
    document = render(trace, "json", RenderOptions())  # JSON has no inf: written as null
    assert '"stopped_early": true' in document and "null" in document
    assert "Infinity" not in document and "NaN" not in document


def test_non_finite_loss_stops_the_run():
    """Linear batch GD with η = 0.1 on the seed data overflows the loss in epoch 118."""
    rows = [[5, 8, 6, 1], [6, 4, 3, 1], [8, 5, 9, 0], [7, 9, 1, 0]]
    problem = make("linear", rows, [0.08, 0.06, 0.03], update="batch", epochs=200)
    trace = solve(problem)
    run = trace.runs[0]
    assert run.stopped_early and len(run.epochs) == 118
    assert run.epochs[-1].loss == math.inf and run.epochs[-1].steps == []
    (warning,) = [w for w in trace.warnings if w.code == "non_finite"]
    assert warning.epoch == 118
    assert all(math.isfinite(v) for v in run.final.values())


# ------------------------------------------------------------------------------ carry rounding


@pytest.mark.parametrize(("value", "decimals", "expected"), [
    (1.105, 2, 1.11), (5.904999999999999, 2, 5.9), (-0.005, 2, -0.01), (2.5, 0, 3.0),
    (-2.5, 0, -3.0), (0.125, 2, 0.13), (-0.004, 2, 0.0), (8.375, 2, 8.38), (1e-20, 3, 0.0),
    (123456.7895, 3, 123456.79), (math.inf, 2, math.inf)])
def test_round_half_away(value, decimals, expected):
    result = round_half_away(value, decimals)
    assert result == expected
    assert math.copysign(1, result) == math.copysign(1, expected)  # no -0.0


def test_carry_none_is_identity_and_arrays_round():
    assert Carry(None)(1.23456789) == 1.23456789
    np.testing.assert_array_equal(Carry(2).array(np.array([[1.105, -0.005], [2.0, 0.0049]])),
                                  [[1.11, -0.01], [2.0, 0.0]])


def test_carry_values_are_used_by_later_lines():
    """With carry 1 every written value has one decimal, and each uses the rounded ones."""
    rows = [[1.0, 2.0, 1.0], [2.0, 1.0, 0.0]]
    problem = make("logistic", rows, [0.33, -0.27], carry_decimals=1, epochs=2)
    run = solve(problem).runs[0]
    for epoch in run.epochs:
        assert epoch.loss == round_half_away(epoch.loss, 1)
        for step in epoch.steps:
            values = {q.key: float(q.value) for q in step.rows[0] if q.role is Role.VALUE}
            every = list(values.values()) + step_grads(step)
            every += [float(q.value) for q in step.of_role(Role.PARAM)]
            assert all(v == round_half_away(v, 1) for v in every)
            assert values["error"] == round_half_away(values["sigma"] - rows[step.samples[0] - 1]
                                                      [-1], 1)
    first = run.epochs[0].steps[0]
    # initial weights are carried too: 0.33 → 0.3, −0.27 → −0.3; z = 0.3·1 − 0.3·2 + 0 = −0.3
    assert {q.key: q.value for q in first.rows[0]}["z"] == -0.3


def test_carry_log_loss_uses_the_rounded_sigma_it_shows():
    """z = 3, σ(z) = 0.9526 → 0.95 with carry 2; y = 0: the line −ln(1 − 0.95) = 2.9957 → 3.0
    (from the exact σ it would be 3.0486 → 3.05)."""
    problem = make("logistic", [[3.0, 0.0]], [1.0], carry_decimals=2)
    line = solve(problem).runs[0].epochs[0].loss_line
    assert line.operands["p0"] == 0.95
    assert line.value == 3.0
    # σ rounding to exactly 1 would make ln(1 − 1) undefined: then the stable form is used
    problem = make("logistic", [[9.0, 0.0]], [1.0], carry_decimals=2)
    assert solve(problem).runs[0].epochs[0].loss == round_half_away(9.000123402, 2)


@pytest.mark.parametrize("loss", ["mse", "half_mse", "sse", "half_sse"])
@pytest.mark.parametrize("lam", [0.0, 3.0])
def test_stability_limit_separates_convergence_from_divergence(loss, lam):
    """η just below 2/λmax converges, just above diverges: checked by running both."""
    rows = [[1.0, 2.0, 1.0], [2.0, 0.5, 0.0], [-1.0, 1.0, 2.0], [0.5, -1.5, 1.0]]
    base = make("linear", rows, [0.2, -0.1], loss=loss, update="batch", **{"lambda": lam})
    stability = solve(base).runs[0].stability
    assert stability is not None
    X = np.hstack([np.array(rows)[:, :2], np.ones((4, 1))])
    c = 1.0 if loss.startswith("half") else 2.0
    hessian = (c / 4 if loss.endswith("mse") else c) * X.T @ X + np.diag([lam / 4, lam / 4, 0])
    assert stability.lambda_max == pytest.approx(np.linalg.eigvalsh(hessian)[-1], rel=1e-12)
    limit = stability.eta_limit
    assert limit == pytest.approx(2 / stability.lambda_max, rel=1e-15)
    below = solve(make("linear", rows, [0.2, -0.1], loss=loss, update="batch", epochs=60,
                       learning_rate=0.9 * limit, **{"lambda": lam})).runs[0]
    above = solve(make("linear", rows, [0.2, -0.1], loss=loss, update="batch", epochs=60,
                       learning_rate=1.15 * limit, **{"lambda": lam}))
    # below the limit every step lowers the minimised loss (descent lemma); with λ = 0 that is
    # the data loss printed per epoch, so it never rises
    losses = [e.loss for e in below.epochs] + [below.final_loss]
    assert below.stability.stable and below.final_loss < 10 * losses[0]
    if lam == 0:
        assert all(b <= a for a, b in zip(losses, losses[1:]))
    assert not above.runs[0].stability.stable
    assert {"unstable_learning_rate"} <= {w.code for w in above.warnings}
    assert above.runs[0].final_loss > 1e3 * above.runs[0].epochs[0].loss
