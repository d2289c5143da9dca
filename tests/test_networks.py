"""Networks: every number of seed-values §3, §4 and §6, the problem keys and their errors."""

from __future__ import annotations

import json
import os
import unicodedata

import numpy as np
import pytest
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.errors import ProblemError
from gdtrace.problem import bundled_problems, load_problem, load_problem_text
from gdtrace.solvers import RunOptions, solve
from gdtrace.trace import Quantity, Role, Step

REL = 1e-9


def close(actual: object, expected: object) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=REL, atol=1e-12)


def by_key(quantities: list[Quantity]) -> dict[str, object]:
    return {q.key: q.value for q in quantities}


def row_values(step: Step, sample: int = 0) -> dict[str, object]:
    return by_key(step.rows[sample])


def bundled(name: str):  # type: ignore[no-untyped-def]
    return load_problem(bundled_problems()[name])


# --------------------------------------------------------------------------- seed-values §3

ITERATION_1 = {
    "z3": -1, "a3": 0.2689414214, "z4": 2, "a4": 0.9640275801, "a5": -0.4261447373,
    "L": 2.0338888118, "dL/da5": -2.8522894747, "dL/dz4": 0.2015166041,
    "dL/dz3": -1.1215882956,
}
GRAD_1 = {"W13": -1.1215882956, "W23": 1.1215882956, "W14": 0.2015166041,
          "W24": -0.2015166041, "W35": -0.7670987855, "W45": -2.7496857199}
UPDATED_1 = {"W13": 1.1121588296, "W14": -1.0201516604, "W23": 1.8878411704,
             "W24": -2.9798483396, "W35": 2.0767098785, "W45": -0.725031428}
ROUNDED_1 = {"W13": 1.11, "W14": -1.02, "W23": 1.89, "W24": -2.98, "W35": 2.08, "W45": -0.73}
ITERATION_2 = {
    "z3": -1.56, "a3": 0.173646647, "z4": 3.92, "a4": 0.9992129717, "a5": -0.3682404436,
    "L": 5.6085627986, "dL/da5": -4.7364808872, "dL/dz4": 0.0054403649,
    "dL/dz3": -1.4136806696,
}
GRAD_2 = {"W13": -2.8273613392, "W23": 2.8273613392, "W14": 0.0108807299,
          "W24": -0.0108807299, "W35": -0.8224740247, "W45": -4.7327531429}
UPDATED_2 = {"W13": 1.3927361339, "W14": -1.021088073, "W23": 1.6072638661,
             "W24": -2.978911927, "W35": 2.1622474025, "W45": -0.2567246857}


def seed_close(actual: float, expected: float) -> None:
    """The reference lists 10 decimals: agree to 1e-9 relative or to the last listed digit."""
    assert actual == pytest.approx(expected, rel=REL, abs=6e-11)


def test_backprop_iterations_match_seed_values() -> None:
    trace = solve(bundled("backprop"))
    steps = trace.runs[0].epochs[0].steps
    assert len(steps) == 2
    for step, values, grads, updated in ((steps[0], ITERATION_1, GRAD_1, UPDATED_1),
                                         (steps[1], ITERATION_2, GRAD_2, UPDATED_2)):
        row = row_values(step)
        for key, expected in values.items():
            seed_close(float(row[key]), expected)
        got_grads = by_key(step.of_role(Role.GRAD))
        assert set(got_grads) == set(grads)
        for key, expected in grads.items():
            seed_close(float(got_grads[key]), expected)
        params = by_key(step.of_role(Role.PARAM))
        for key, expected in updated.items():
            seed_close(float(params[key]), expected)
    rounded = {q.key.removesuffix(" (rounded)"): q.value for q in steps[0].of_role(Role.VALUE)}
    assert rounded == ROUNDED_1
    assert not steps[1].of_role(Role.VALUE)  # no rounding after the last iteration
    final = trace.runs[0].final
    for key, expected in UPDATED_2.items():
        seed_close(float(final[key]), expected)


def test_backprop_worked_lines_read_like_the_homework() -> None:
    trace = solve(bundled("backprop"))
    from gdtrace.render import RenderOptions, render

    text = render(trace, "text", RenderOptions(steps=True))
    assert "∂L/∂W₁₃ = ∂L/∂a₃·σ'(z₃)·x₁ = -5.7046·0.1966·1 = -1.1216" in text
    assert "σ'(z₃) = a₃·(1 − a₃) = 0.2689·(1 − 0.2689) = 0.1966" in text
    assert "tanh'(z₄) = 1 − a₄² = 1 − 0.964² = 0.0707" in text
    assert "z₃ = W₁₃x₁ + W₂₃x₂ = 1·1 + 2·(-1) = -1" in text
    assert "W₁₃ ← W₁₃ − η·∂L/∂W₁₃ = 1 − 0.1·(-1.1216) = 1.1122" in text
    assert "W₁₃ ≈ 1.11" in text
    # backward pass in reverse order: node 5, then 4, then 3
    assert text.index("∂L/∂a₅ =") < text.index("∂L/∂z₄ =") < text.index("∂L/∂z₃ =")


def test_backprop_json_grad_and_params_by_name() -> None:
    result = CliRunner().invoke(app, ["solve", "backprop", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    step = document["runs"][0]["epochs"][0]["steps"][0]
    assert set(step["grad"]) == set(GRAD_1)
    seed_close(step["grad"]["W45"], GRAD_1["W45"])
    seed_close(step["params"]["W35"], UPDATED_1["W35"])
    seed_close(step["values"]["a4"], ITERATION_1["a4"])


# --------------------------------------------------------------------------- seed-values §4


def test_relu_mlp_matches_seed_values() -> None:
    trace = solve(bundled("relu_mlp"))
    run = trace.runs[0]
    close(run.epochs[0].loss, 2.38554)
    step = run.epochs[0].steps[0]
    close([float(row_values(step, i)["a2"][0]) for i in range(4)], [-0.338, -0.294, -0.7, -0.7])
    grads = by_key(step.of_role(Role.GRAD))
    close(grads["b2"], [-2.732])
    close(grads["b1"], [0.0268, 0, 0.134])
    close(grads["W2"], [[0.1168], [0], [0.1536]])
    close(grads["W1"], [[0.0122, 0, 0.061], [-0.0268, 0, -0.134]])
    # hidden unit 2 is inactive for every sample: its gradients are exactly 0
    assert np.all(np.asarray(grads["W1"])[:, 1] == 0.0)
    assert np.asarray(grads["b1"])[1] == 0.0 and np.asarray(grads["W2"])[1, 0] == 0.0
    assert step.rows[0][-1].key == "dL/db2"  # per-sample shares are written out


def test_relu_mlp_json_matrices_are_nested_lists() -> None:
    result = CliRunner().invoke(app, ["solve", "relu_mlp", "-f", "json"])
    assert result.exit_code == 0, result.output
    step = json.loads(result.stdout)["runs"][0]["epochs"][0]["steps"][0]
    assert list(step["grad"]) == ["W1", "b1", "W2", "b2"]
    close(step["grad"]["W1"], [[0.0122, 0, 0.061], [-0.0268, 0, -0.134]])
    close(step["params"]["W1"], np.array([[-0.8, -0.7, 0.6], [-1.0, 0.5, -1.0]])
          - 0.1 * np.array([[0.0122, 0, 0.061], [-0.0268, 0, -0.134]]))
    assert len(step["values"]["u1"]) == 4  # one per sample


def test_matrix_view_tables_hold_the_summed_gradient() -> None:
    run = solve(bundled("relu_mlp")).runs[0]
    block = run.blocks[0]
    titles = [t.title for t in block.tables]
    assert "U1 = X·W1 + b1" in titles
    table = next(t for t in block.tables if t.title.startswith("∂L/∂W1"))
    close([row[1:] for row in table.rows], [[0.0122, 0, 0.061], [-0.0268, 0, -0.134]])


# --------------------------------------------------------------------------- seed-values §6

SOFTMAX = [0.0900305732, 0.2447284711, 0.6652409558]
DE_DY = [0.0900305732, 0.2447284711, -0.3347590442]


def test_softmax_cross_entropy_matches_seed_values() -> None:
    step = solve(bundled("softmax")).runs[0].epochs[0].steps[0]
    row = row_values(step)
    close(row["u1"], [1, 2, 3])
    np.testing.assert_allclose(row["a1"], SOFTMAX, rtol=1e-9)
    seed_close(float(row["L"]), 0.4076059644)
    np.testing.assert_allclose(row["delta1"], DE_DY, rtol=1e-9)


NETWORK_SOFTMAX = """
model: network
dataset: {columns: [x, t1, t2, t3], targets: [t1, t2, t3], rows: [[1, 0, 0, 1]]}
nodes:
  - {name: 1, activation: softmax, edges: {W1: x}, bias: 0}
  - {name: 2, activation: softmax, edges: {W2: x}, bias: 0}
  - {name: 3, activation: softmax, edges: {W3: x}, bias: 0}
outputs: [1, 2, 3]
weights: {W1: 1, W2: 2, W3: 3}
loss: LOSS
learning_rate: 0.1
epochs: 1
"""


def test_named_softmax_nodes_give_the_same_numbers() -> None:
    problem = load_problem_text(NETWORK_SOFTMAX.replace("LOSS", "cross_entropy"), "t.yaml")
    step = solve(problem).runs[0].epochs[0].steps[0]
    row = row_values(step)
    np.testing.assert_allclose([row[f"a{k}"] for k in (1, 2, 3)], SOFTMAX, rtol=1e-9)
    seed_close(float(row["L"]), 0.4076059644)
    np.testing.assert_allclose([row[f"dL/dz{k}"] for k in (1, 2, 3)], DE_DY, rtol=1e-9)
    grads = by_key(step.of_role(Role.GRAD))
    np.testing.assert_allclose([grads[f"W{k}"] for k in (1, 2, 3)], DE_DY, rtol=1e-9)


def test_softmax_with_squared_loss_uses_the_jacobian() -> None:
    problem = load_problem_text(NETWORK_SOFTMAX.replace("LOSS", "sse"), "t.yaml")
    row = row_values(solve(problem).runs[0].epochs[0].steps[0])
    p, t = np.array(SOFTMAX), np.array([0, 0, 1.0])
    g = -2 * (t - p)
    expected = p * (g - np.sum(g * p))
    np.testing.assert_allclose([row[f"dL/dz{k}"] for k in (1, 2, 3)], expected, rtol=1e-9)


# ---------------------------------------------------------------------- keys and behaviour

SMALL = """
model: network
dataset: {columns: [x1, x2, y], rows: [[1.0, -1.0, 1.0], [2.0, -2.0, 2.0]]}
nodes:
  - {name: 3, activation: sigmoid, edges: {W13: x1, W23: x2}, bias: 0.5}
  - {name: 5, activation: linear, edges: {W35: 3}}
weights: {W13: {value: 1, trainable: false}, W23: 2, W35: 2}
learning_rate: 0.1
epochs: 2
EXTRA
"""


def test_frozen_parameter_is_kept_and_has_no_gradient() -> None:
    trace = solve(load_problem_text(SMALL.replace("EXTRA", ""), "t.yaml"))
    for epoch in trace.runs[0].epochs:
        for step in epoch.steps:
            assert "W13" not in by_key(step.of_role(Role.GRAD))
            assert by_key(step.of_role(Role.PARAM))["W13"] == 1.0
            assert "b3" in by_key(step.of_role(Role.GRAD))
    assert trace.runs[0].final["W13"] == 1.0
    assert any("W13" in note for note in trace.header.notes)


def test_batch_step_sums_the_sample_shares() -> None:
    problem = load_problem_text(SMALL.replace("EXTRA", "update: batch"), "t.yaml")
    step = solve(problem).runs[0].epochs[0].steps[0]
    shares = [float(row_values(step, i)["dL/dW35"]) for i in range(2)]
    assert by_key(step.of_role(Role.GRAD))["W35"] == pytest.approx(sum(shares), rel=1e-12)


def test_iterations_choose_the_samples_of_each_step() -> None:
    problem = load_problem_text(SMALL.replace("EXTRA", "iterations: [2, [1, 2]]"), "t.yaml")
    run = solve(problem).runs[0]
    assert [s.samples for e in run.epochs for s in e.steps] == [[2], [1, 2], [2], [1, 2]]


def test_mean_loss_divides_by_samples_and_outputs() -> None:
    problem = load_problem_text(SMALL.replace("EXTRA", "update: batch\nloss: mse"), "t.yaml")
    sse = load_problem_text(SMALL.replace("EXTRA", "update: batch\nloss: sse"), "t.yaml")
    g_mse = by_key(solve(problem).runs[0].epochs[0].steps[0].of_role(Role.GRAD))
    g_sse = by_key(solve(sse).runs[0].epochs[0].steps[0].of_role(Role.GRAD))
    for key in g_sse:
        assert g_mse[key] == pytest.approx(g_sse[key] / 2, rel=1e-12)


def test_carry_rounds_every_written_value() -> None:
    problem = load_problem_text(SMALL.replace("EXTRA", "carry_decimals: 2"), "t.yaml")
    step = solve(problem).runs[0].epochs[0].steps[0]
    for quantity in step.rows[0] + step.quantities:
        value = float(quantity.value)
        assert value == round(value, 2)


@pytest.mark.parametrize(("extra", "message"), [
    ("nodes: [{name: 3, edges: {W13: x9}}]", "neither an input"),
    ("nodes: [{name: 3, edges: {W99: x1}}]", "W99 has no initial value"),
    ("nodes: [{name: 3, edges: {W13: x1, W23: x2}}]\nweights: {W13: 1, W23: 1, W77: 3}",
     "W77 in `weights` is not used"),
    ("outputs: [7]", "output '7' is not a node"),
    ("loss: cross_entropy", "needs softmax output units"),
    ("iterations: [3]", "sample 3 does not exist"),
])
def test_network_mistakes_are_problem_errors(extra: str, message: str) -> None:
    base = {"nodes": "nodes: [{name: 3, activation: sigmoid, edges: {W13: x1, W23: x2}}]",
            "weights": "weights: {W13: 1, W23: 2}"}
    lines = ["model: network", "dataset: {columns: [x1, x2, y], rows: [[1, 2, 3], [4, 5, 6]]}",
             "learning_rate: 0.1", "epochs: 1"]
    for key, text in base.items():
        if not any(part.startswith(f"{key}:") for part in extra.splitlines()):
            lines.append(text)
    lines.append(extra)
    with pytest.raises(ProblemError, match=message):
        load_problem_text("\n".join(lines), "bad.yaml")


@pytest.mark.parametrize(("layers", "message"), [
    ("[{weights: [[1, 2]], activation: relu}]", "weights have 1 rows but the layer gets 2"),
    ("[{weights: [[1], [2]], bias: [1, 2]}]", "bias has 2 numbers but the layer has 1"),
    ("[{weights: [[1, 2], [3, 4]]}]", "the last layer has 2 units"),
    ("[{weights: [[1, 2], [3]]}]", "same number of units"),
    ("[{weights: [[1], [2]], activation: sigmod}]", "did you mean 'sigmoid'"),
])
def test_mlp_shape_mistakes_are_problem_errors(layers: str, message: str) -> None:
    text = ("model: mlp\ndataset: {columns: [x1, x2, y], rows: [[1, 2, 3]]}\n"
            f"layers: {layers}\nlearning_rate: 0.1\nepochs: 1\n")
    with pytest.raises(ProblemError, match=message):
        load_problem_text(text, "bad.yaml")


def test_bad_network_file_is_one_line_and_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.yaml"
    path.write_text("model: mlp\ndataset: {columns: [x, y], rows: [[1, 2]]}\n"
                    "layers: [{weights: [[1, 2]]}]\nlearning_rate: 0.1\nepochs: 1\n")
    result = CliRunner().invoke(app, ["solve", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "layers[0].weights" in result.output


@pytest.mark.parametrize("name", ["backprop", "relu_mlp", "sigmoid_mlp", "softmax"])
@pytest.mark.parametrize("fmt", ["text", "json", "terminal"])
def test_bundled_networks_render_in_every_format(name: str, fmt: str) -> None:
    result = CliRunner().invoke(app, ["solve", name, "--steps", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()


def test_bundled_network_files_start_with_a_comment() -> None:
    for name in ("backprop", "relu_mlp", "sigmoid_mlp", "softmax"):
        assert bundled_problems()[name].read_text().startswith("# ")


# ------------------------------------------------------------------- graph and --symbolic


def test_graph_text_shows_weights_values_and_gradients() -> None:
    result = CliRunner().invoke(app, ["graph", "backprop"])
    assert result.exit_code == 0, result.output
    assert "x1 ──W13 = 1──▶ 3    ∂L/∂W13 = -1.1216" in result.stdout
    assert "(3) σ    z = -1, a = 0.2689, ∂L/∂z = -1.1216" in result.stdout
    assert "loss L = 2.0339" in result.stdout


def test_graph_dot_is_a_graphviz_digraph() -> None:
    result = CliRunner().invoke(app, ["graph", "backprop", "--format", "dot"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("digraph network {") and text.rstrip().endswith("}")
    assert '"in:x1" -> "node:3" [label="W13 = 1\\n∂L/∂W13 = -1.1216"];' in text
    assert text.count("->") == 6 + 1  # six weights and the output's target


def test_graph_marks_frozen_parameters_and_mlp_units() -> None:
    from gdtrace.render.graph import draw

    frozen = load_problem_text(SMALL.replace("EXTRA", ""), "t.yaml")
    assert "W13 = 1 (frozen)" in draw(frozen, "dot")
    assert "(frozen)" in draw(frozen, "text")
    text = draw(bundled("relu_mlp"), "text", with_pass=False)
    assert "x1 ──W1[1,2] = -0.7──▶ 1.2" in text and "∂L" not in text


def test_graph_of_a_regression_problem_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["graph", "logreg"])
    assert result.exit_code == 2
    assert "network models" in result.output


def test_symbolic_network_gradients_are_derived_from_the_nodes() -> None:
    from gdtrace.render import RenderOptions, render

    problem = bundled("backprop")
    trace = solve(problem, options=RunOptions(symbolic=True))
    assert trace.runs[0].epochs == []
    text = render(trace, "text", RenderOptions())
    assert "∂L/∂W₁₃ = (−2·(y − a₅))·W₃₅a₃·(1 − a₃)·x₁" in text
    assert "∂L/∂W₂₄ = (−2·(y − a₅))·W₄₅·(1 − a₄²)·x₂" in text
    assert "∂L/∂W₄₅ = (−2·(y − a₅))·a₄" in text


@pytest.mark.parametrize("fmt", ["text", "json", "terminal"])
def test_symbolic_mlp_formulas_in_every_format(fmt: str) -> None:
    result = CliRunner().invoke(app, ["solve", "sigmoid_mlp", "--symbolic", "-f", fmt])
    assert result.exit_code == 0, result.output
    if fmt == "text":
        text = unicodedata.normalize("NFC", result.stdout)
        assert ("∂L/∂W₁ = Σᵢ xᵢ^T·(1/(NK))·(−2·(yᵢ − ŷᵢ))·W₂^T·diag(a₁ᵢ·(1 − a₁ᵢ))"
                in text)
        assert "∂L/∂b₂ = Σᵢ (1/(NK))·(−2·(yᵢ − ŷᵢ))" in text


def test_symbolic_formulas_follow_the_activation_definitions() -> None:
    from gdtrace.formula.functions import OUTPUT_LOSSES
    from gdtrace.problem.network_models import Layer
    from gdtrace.render.printer import ExprPrinter
    from gdtrace.solvers.symbolic import mlp_gradients

    layers = (Layer(np.zeros((2, 3)), np.zeros(3), "tanh"),
              Layer(np.zeros((3, 3)), np.zeros(3), "relu"),
              Layer(np.zeros((3, 2)), np.zeros(2), "softmax"))
    formulas = mlp_gradients(layers, OUTPUT_LOSSES["cross_entropy"])
    printer = ExprPrinter()
    first = unicodedata.normalize("NFC", printer.symbolic(formulas[0].rhs))
    assert first == "Σᵢ xᵢ^T·(1/N)·(ŷᵢ − yᵢ)·W₃^T·diag([u₂ᵢ > 0])·W₂^T·diag(1 − a₁ᵢ²)"


def test_symbolic_on_a_regression_problem_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["solve", "logreg", "--symbolic"])
    assert result.exit_code == 2
    assert "--symbolic applies to the network models" in result.output


# ------------------------------------------------------------------ mlp keys and behaviour

MLP = """
model: mlp
dataset: {columns: [x1, x2, y], rows: [[0.5, -1.0, 1.0], [1.0, 2.0, 0.0], [-1.5, 0.5, 2.0]]}
layers:
  - {weights: [[0.2, -0.4], [0.7, 0.1]], bias: [0.1, -0.2], activation: leaky_relu, slope: 0.2}
  - {weights: [1.5, -0.5], bias: 0.3, activation: linear}
learning_rate: 0.1
epochs: 2
EXTRA
"""


def mlp_problem(extra: str = ""):  # type: ignore[no-untyped-def]
    return load_problem_text(MLP.replace("EXTRA", extra), "mlp.yaml")


def test_leaky_relu_slope_from_the_file() -> None:
    row = row_values(solve(mlp_problem()).runs[0].epochs[0].steps[0])
    u = np.array([0.5, -1.0]) @ np.array([[0.2, -0.4], [0.7, 0.1]]) + np.array([0.1, -0.2])
    close(row["u1"], u)
    close(row["a1"], np.where(u > 0, u, 0.2 * u))
    close(row["f'(u1)"], np.where(u > 0, 1.0, 0.2))


def test_mlp_frozen_layer_keeps_its_matrices() -> None:
    text = MLP.replace("activation: linear}", "activation: linear, trainable: false}")
    run = solve(load_problem_text(text.replace("EXTRA", ""), "mlp.yaml")).runs[0]
    close(run.final["W2"], [[1.5], [-0.5]])
    close(run.final["b2"], [0.3])
    assert "W2" not in by_key(run.epochs[0].steps[0].of_role(Role.GRAD))
    assert not np.allclose(np.asarray(run.final["W1"]), [[0.2, -0.4], [0.7, 0.1]])


def test_mlp_round_between_carries_rounded_matrices() -> None:
    run = solve(mlp_problem("round_between: 1")).runs[0]
    steps = [s for e in run.epochs for s in e.steps]
    rounded = {q.key: q.value for q in steps[0].of_role(Role.VALUE)}
    exact = by_key(steps[0].of_role(Role.PARAM))
    close(rounded["W1 (rounded)"], np.round(np.asarray(exact["W1"]), 1))
    # the next step starts from the rounded values
    u_next = np.array([1.0, 2.0]) @ np.asarray(rounded["W1 (rounded)"]) \
        + np.asarray(rounded["b1 (rounded)"])
    close(row_values(steps[1])["u1"], u_next)
    assert not steps[-1].of_role(Role.VALUE)


def test_mlp_carry_rounds_vectors_and_matrices() -> None:
    step = solve(mlp_problem("carry_decimals: 3")).runs[0].epochs[0].steps[0]
    for quantity in step.rows[0] + step.quantities:
        values = np.asarray(quantity.value, dtype=float)
        assert np.array_equal(values, np.round(values, 3)), quantity.key


def test_mlp_minibatch_mean_loss_matches_a_direct_computation() -> None:
    problem = mlp_problem("update: minibatch\nbatch_size: 2\nloss: mse")
    step = solve(problem).runs[0].epochs[0].steps[0]
    assert step.samples == [1, 2]
    X = np.array([[0.5, -1.0], [1.0, 2.0]])
    t = np.array([1.0, 0.0])
    W1, b1 = np.array([[0.2, -0.4], [0.7, 0.1]]), np.array([0.1, -0.2])
    U = X @ W1 + b1
    A = np.where(U > 0, U, 0.2 * U)
    y = A @ np.array([1.5, -0.5]) + 0.3
    close(by_key(step.of_role(Role.GRAD))["b2"], [np.mean(-2 * (t - y))])


@pytest.mark.parametrize("name", ["backprop", "relu_mlp", "softmax"])
def test_graphviz_accepts_the_dot_output(name: str) -> None:
    import shutil
    import subprocess

    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz (dot) is missing in CI (.ci/run installs graphviz)")
        pytest.skip("Graphviz (dot) is not installed (CI installs it)")
    result = CliRunner().invoke(app, ["graph", name, "--format", "dot"])
    assert result.exit_code == 0, result.output
    svg = subprocess.run(["dot", "-Tsvg"], input=result.stdout, capture_output=True, text=True,
                         timeout=60)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout and "W1[1,1]" in svg.stdout if name == "relu_mlp" \
        else "<svg" in svg.stdout


def test_mlp_worked_unit_by_unit_gives_the_same_matrices() -> None:
    text = bundled_problems()["relu_mlp"].read_text().replace("update: batch",
                                                              "update: batch\nworked: units")
    units = solve(load_problem_text(text, "units.yaml")).runs[0]
    vectors = solve(bundled("relu_mlp")).runs[0]
    step_u, step_v = units.epochs[0].steps[0], vectors.epochs[0].steps[0]
    for key, value in by_key(step_v.of_role(Role.GRAD)).items():
        close(by_key(step_u.of_role(Role.GRAD))[key], value)
    for key, value in vectors.final.items():
        close(units.final[key], value)
    row = row_values(step_u)
    assert row["z1.2"] == pytest.approx(-1.92) and row["a1.2"] == 0.0
    assert row["dL/dW1[1,3]"] == pytest.approx(0.1386)
    for t_units, t_vectors in zip(units.blocks[0].tables, vectors.blocks[0].tables, strict=True):
        assert t_units.title == t_vectors.title
        close(t_units.rows, t_vectors.rows)
    from gdtrace.render import RenderOptions, render

    worked = render(solve(load_problem_text(text, "units.yaml")), "text",
                    RenderOptions(steps=True))
    assert ("z_1.1 = W1[1,1]·x₁ + W1[2,1]·x₂ + b1[1] = -0.8·0.6 − 1·(-1) − 0.2 = 0.32"
            in worked)


def test_graph_without_a_problem_draws_the_bundled_network() -> None:
    result = CliRunner().invoke(app, ["graph"])
    assert result.exit_code == 0, result.output
    assert "Backpropagation in a small network" in result.stdout and "W13 = 1" in result.stdout
