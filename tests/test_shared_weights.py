"""Shared (tied) parameters in `model: network` (issue 13): one weight or bias on several
edges; its gradient is the sum over its uses, checked against finite differences."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.formula.functions import OUTPUT_LOSSES
from gdtrace.problem import bundled_problems, load_problem, load_problem_text
from gdtrace.render import RenderOptions, render
from gdtrace.solvers import solve
from gdtrace.solvers.network import loss_and_gradients
from gdtrace.trace import Role

MAZUR = """\
model: network
title: Matt Mazur's 2-2-2 example (one shared bias per layer)
dataset:
  columns: [i1, i2, o1, o2]
  targets: [o1, o2]
  rows:
    - [0.05, 0.10, 0.01, 0.99]
nodes:
  - {name: h1, activation: sigmoid, edges: {w1: i1, w2: i2}, bias: b1}
  - {name: h2, activation: sigmoid, edges: {w3: i1, w4: i2}, bias: b1}
  - {name: out1, activation: sigmoid, edges: {w5: h1, w6: h2}, bias: b2}
  - {name: out2, activation: sigmoid, edges: {w7: h1, w8: h2}, bias: b2}
outputs: [out1, out2]
weights: {w1: 0.15, w2: 0.20, w3: 0.25, w4: 0.30, w5: 0.40, w6: 0.45, w7: 0.50, w8: 0.55,
          b1: 0.35, b2: 0.60}
loss: half_sse
learning_rate: 0.5
epochs: 1
"""


def finite_differences(problem, h: float = 1e-6) -> dict[str, float]:  # type: ignore[no-untyped-def]
    graph = problem.spec.graph
    loss = OUTPUT_LOSSES[problem.loss]
    X, Y = problem.dataset.X, problem.dataset.Y
    params = {p.name: p.value for p in graph.params}
    out = {}
    for name in params:
        up = loss_and_gradients(graph, loss, {**params, name: params[name] + h}, X, Y)[0]
        down = loss_and_gradients(graph, loss, {**params, name: params[name] - h}, X, Y)[0]
        out[name] = (up - down) / (2 * h)
    return out


def test_mazur_example_step_one():
    """The numbers of Matt Mazur's step-by-step backpropagation example (the weights after one
    update; his biases are shared per layer)."""
    trace = solve(load_problem_text(MAZUR, "mazur.yaml"))
    assert trace.runs[0].epochs[0].loss == pytest.approx(0.298371109, abs=1e-9)
    final = trace.runs[0].final
    expected = {"w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
                "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121}
    for name, value in expected.items():
        assert final[name] == pytest.approx(value, abs=1e-8), name


@pytest.mark.parametrize("source", ["mazur", "rnn_bptt"])
def test_shared_gradients_equal_finite_differences(source):
    problem = (load_problem_text(MAZUR, "mazur.yaml") if source == "mazur"
               else load_problem(bundled_problems()[source]))
    graph = problem.spec.graph
    params = {p.name: p.value for p in graph.params}
    _, grads = loss_and_gradients(graph, OUTPUT_LOSSES[problem.loss], params,
                                  problem.dataset.X, problem.dataset.Y)
    numeric = finite_differences(problem)
    for name in params:
        assert grads[name] == pytest.approx(numeric[name], rel=1e-6, abs=1e-9), name


def test_random_tied_networks_agree_with_finite_differences():
    rng = np.random.default_rng(7)
    for trial in range(5):
        w = {k: round(float(v), 3) for k, v in zip("ABCDE", rng.normal(size=5))}
        activation = ["sigmoid", "tanh", "leaky_relu"][trial % 3]
        text = f"""\
model: network
dataset: {{columns: [x1, x2, y], rows: [[0.5, -1.0, 0.3], [1.5, 0.2, -0.4]]}}
nodes:
  - {{name: 3, activation: {activation}, edges: {{A: x1, B: x2}}, bias: E}}
  - {{name: 4, activation: tanh, edges: {{B: x1, A: x2}}, bias: E}}
  - {{name: 5, activation: sigmoid, edges: {{C: 3, D: 4}}}}
  - {{name: 6, activation: linear, edges: {{C: 5, A: 3}}}}
weights: {json.dumps(w)}
loss: {['mse', 'half_sse', 'squared'][trial % 3]}
learning_rate: 0.1
epochs: 1
update: batch
"""
        problem = load_problem_text(text, "t.yaml")
        trace = solve(problem)
        step = trace.runs[0].epochs[0].steps[0]
        grads = {q.key: q.value for q in step.of_role(Role.GRAD)}
        numeric = finite_differences(problem)
        for name in "ABCDE":
            assert grads[name] == pytest.approx(numeric[name], rel=1e-6, abs=1e-9), (trial, name)


def test_the_sum_over_uses_is_written_out():
    trace = solve(load_problem(bundled_problems()["rnn_bptt"]))
    text = render(trace, "text", RenderOptions(steps=True))
    assert "∂L/∂U₍₁₎ = ∂L/∂a_h1·tanh'(z_h1)·x₁ = " in text
    assert "∂L/∂U = Σₖ ∂L/∂U₍ₖ₎ = (-0.1365 + 0.1199 − 0.1618) = -0.1785" in text
    assert "shared (tied) parameters: U (3 uses), b (3 uses), W (2 uses)" in text
    latex = render(trace, "latex", RenderOptions())
    assert r"\sum_{k=1}^{3} \frac{\partial L}{\partial U_{(k)}}" in latex
    step = trace.runs[0].epochs[0].steps[0]
    values = {q.key: q.value for q in step.quantities if q.role is Role.VALUE}
    values |= {q.key: q.value for q in step.of_role(Role.GRAD)}
    assert values["U"] == pytest.approx(values["dL/dU(1)"] + values["dL/dU(2)"]
                                        + values["dL/dU(3)"])


def _frozen(shared: bool) -> str:
    biases = "bias: c, " if shared else ""
    text = f"""\
model: network
dataset: {{columns: [x1, x2, y], rows: [[1.0, -1.0, 1.0], [2.0, 0.5, -1.0], [0.3, 0.3, 0.2]]}}
nodes:
  - {{name: 3, activation: sigmoid, edges: {{W13: x1, W23: x2}}, {biases or 'bias: c3, '}}}
  - {{name: 4, activation: tanh, edges: {{W14: x1, W24: x2}}, {biases or 'bias: c4, '}}}
  - {{name: 5, activation: linear, edges: {{W35: 3, W45: 4}}}}
weights: {{W13: 0.5, W14: -0.4, W23: 0.3, W24: 0.8, W35: 1.1, W45: -0.7,
          {'c: {value: 0.25, trainable: false}' if shared else
           'c3: {value: 0.25, trainable: false}, c4: {value: 0.25, trainable: false}'}}}
loss: mse
learning_rate: 0.2
epochs: 3
"""
    return text.replace(", }", "}")


def test_frozen_shared_bias_trains_like_separate_frozen_biases():
    shared = solve(load_problem_text(_frozen(True), "s.yaml")).runs[0]
    separate = solve(load_problem_text(_frozen(False), "p.yaml")).runs[0]
    for name in ("W13", "W14", "W23", "W24", "W35", "W45"):
        assert shared.final[name] == pytest.approx(separate.final[name], rel=1e-14), name
    assert shared.final["c"] == 0.25
    assert shared.loss_curve() == pytest.approx(separate.loss_curve(), rel=1e-14)


def test_trainable_shared_bias_gets_the_summed_gradient():
    text = _frozen(True).replace("c: {value: 0.25, trainable: false}", "c: 0.25")
    separate_text = _frozen(False).replace(
        "c3: {value: 0.25, trainable: false}, c4: {value: 0.25, trainable: false}",
        "c3: 0.25, c4: 0.25").replace("epochs: 3", "epochs: 1").replace(
        "learning_rate: 0.2", "learning_rate: 0.2\nupdate: batch")
    shared_text = text.replace("epochs: 3", "epochs: 1").replace(
        "learning_rate: 0.2", "learning_rate: 0.2\nupdate: batch")
    shared = solve(load_problem_text(shared_text, "s.yaml")).runs[0].epochs[0].steps[0]
    separate = solve(load_problem_text(separate_text, "p.yaml")).runs[0].epochs[0].steps[0]
    g = {q.key: q.value for q in shared.of_role(Role.GRAD)}
    h = {q.key: q.value for q in separate.of_role(Role.GRAD)}
    assert g["c"] == pytest.approx(h["c3"] + h["c4"], rel=1e-12)


def test_cli_graph_and_json_for_the_rnn():
    runner = CliRunner()
    graph = runner.invoke(app, ["graph", "rnn_bptt"])
    assert graph.exit_code == 0 and "shared (tied): U (3 uses)" in graph.stdout
    document = json.loads(runner.invoke(app, ["solve", "rnn_bptt", "-f", "json"]).stdout)
    assert set(document["runs"][0]["final"]) == {"U", "V", "W", "b"}
