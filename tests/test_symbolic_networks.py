"""Formula-only networks (issue 13): `symbolic: true` / --symbolic without data, weights or a
learning rate; the general formulas of the bundled networks, evaluated at the bundled numbers,
give the numeric gradients for every parameter."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.formula import expr as E
from gdtrace.formula.functions import ACTIVATIONS
from gdtrace.problem import bundled_problems, load_problem, load_problem_text
from gdtrace.solvers import solve
from gdtrace.solvers.symbolic import evaluate, network_operands
from gdtrace.trace import Role

RUNNER = CliRunner()
NUMBERS = ("dataset", "weights", "learning_rate", "epochs", "update", "iterations",
           "round_between", "batch_size", "shuffle", "carry_decimals", "optimizer")


def formula_only_text(name: str) -> str:
    """The bundled problem with every number taken out (an mlp's weights become units)."""
    raw = yaml.safe_load(bundled_problems()[name].read_text(encoding="utf-8"))
    features = [c for c in raw["dataset"]["columns"]
                if c not in raw["dataset"].get("targets", raw["dataset"]["columns"][-1:])]
    for key in NUMBERS:
        raw.pop(key, None)
    raw["symbolic"] = True
    if raw["model"] == "mlp":
        raw["inputs"] = len(features)
        for layer in raw["layers"]:
            weights = layer.pop("weights")
            layer["units"] = len(weights[0]) if isinstance(weights[0], list) else 1
            layer.pop("bias", None)
    if raw["model"] == "network":
        for node in raw["nodes"]:  # a numeric bias has no value now: name it instead
            if isinstance(node.get("bias"), (int, float)):
                node["bias"] = f"b{node['name']}"
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)


def gradient_formulas(trace):  # type: ignore[no-untyped-def]
    return {f.lhs.wrt.key.removeprefix("param:"): f.rhs for f in trace.header.formulas
            if isinstance(f.lhs, E.Deriv) and isinstance(f.lhs.wrt, E.Sym)}


def first_step_grads(name: str) -> dict[str, object]:
    trace = solve(load_problem(bundled_problems()[name]))
    step = trace.runs[0].epochs[0].steps[0]
    return {q.key: q.value for q in step.of_role(Role.GRAD)}


NETWORKS = [n for n, p in sorted(bundled_problems().items())
            if yaml.safe_load(p.read_text(encoding="utf-8"))["model"] in ("network", "mlp")]


def test_every_bundled_network_is_covered():
    assert {"backprop", "relu_mlp", "sigmoid_mlp", "softmax"} <= set(NETWORKS)


@pytest.mark.parametrize("name", NETWORKS)
def test_formula_only_version_loads_and_prints_formulas_without_numbers(name):
    trace = solve(load_problem_text(formula_only_text(name), f"{name}-formulas.yaml"))
    assert trace.runs[0].epochs == [] and gradient_formulas(trace)
    assert trace.header.settings == {"loss": trace.header.settings["loss"]}
    assert "η" not in "".join(str(f.rhs) for f in trace.header.formulas)
    from gdtrace.render import RenderOptions, render

    text = render(trace, "text", RenderOptions())
    assert "Result" not in text and "∂L/∂" in text


# ------------------------------------------------------------------- network: the formulas


def _network_pass(problem):  # type: ignore[no-untyped-def]
    from gdtrace.formula.rounding import Carry
    from gdtrace.solvers.network import sample_pass, setup_from

    setup = setup_from(problem)
    graph = setup.graph
    params = {p.name: p.value for p in graph.params}
    trainable = {p.name: p.trainable for p in graph.params}
    iterations = setup.schedule.iterations
    group = list(iterations[0]) if iterations else [0]
    scale = setup.loss.scale(len(group), len(graph.outputs))
    out = []
    for s in group:
        x = dict(zip(graph.inputs, map(float, setup.X[s])))
        t = dict(zip(graph.targets, map(float, setup.Y[s])))
        result = sample_pass(graph, setup.loss, params, trainable, x, t, scale, Carry(None),
                             None)
        out.append((network_operands(graph, params, x, t, result.z, result.a), scale))
    return out


@pytest.mark.parametrize("name", [n for n in NETWORKS if
                                  yaml.safe_load(bundled_problems()[n].read_text())["model"]
                                  == "network"])
def test_network_formulas_at_the_bundled_numbers_are_the_numeric_gradients(name):
    formulas = gradient_formulas(solve(load_problem_text(formula_only_text(name), "f.yaml")))
    numeric = first_step_grads(name)
    passes = _network_pass(load_problem(bundled_problems()[name]))
    assert set(numeric) <= set(formulas)
    for param in numeric:
        formula = formulas[param]
        value = sum(scale * evaluate(formula, operands) for operands, scale in passes)
        assert value == pytest.approx(numeric[param], rel=1e-12, abs=1e-12), param


def test_symbolic_with_numbers_writes_formula_then_value():
    trace = solve(load_problem_text(
        bundled_problems()["backprop"].read_text(encoding="utf-8") + "symbolic: true\n",
        "b.yaml"))
    block = trace.runs[0].blocks[0]
    assert block.title.startswith("The formulas at the given numbers (sample 1")
    values = {q.key: q.value for q in block.quantities}
    assert values["dL/dW13"] == pytest.approx(-1.1215882955590488)
    from gdtrace.render import RenderOptions, render

    text = render(trace, "text", RenderOptions())
    assert ("∂L/∂W₃₅ = (−2·(y − a₅))·a₃ = (−2·(1 − (-0.4261)))·0.2689 = -0.7671" in text)
    assert "Result" not in text


# ----------------------------------------------------------------------- mlp: the formulas


class _MatrixEvaluator:
    """The mlp formulas with row vectors: a product of two same-shaped vectors is
    elementwise, every other product a matrix product (docs/networks.md)."""

    def __init__(self, operands: dict[str, object]) -> None:
        self.operands = operands

    def __call__(self, node: E.Expr) -> object:
        if isinstance(node, E.Num):
            return float(node.value)
        if isinstance(node, E.Sym):
            return self.operands[node.key]
        if isinstance(node, E.Add):
            return sum(self(t) for t in node.terms)  # type: ignore[misc]
        if isinstance(node, E.Neg):
            return -self(node.arg)  # type: ignore[operator]
        if isinstance(node, E.Div):
            return self(node.num) / self(node.den)  # type: ignore[operator]
        if isinstance(node, E.Pow) and isinstance(node.exp, E.Text):
            return np.asarray(self(node.base)).T
        if isinstance(node, E.Pow):
            return self(node.base) ** self(node.exp)  # type: ignore[operator]
        if isinstance(node, E.Func) and node.name == "diag":
            return np.diagflat(self(node.args[0]))
        if isinstance(node, E.Compare):
            return (np.asarray(self(node.lhs)) > self(node.rhs)).astype(float)
        if isinstance(node, E.Mul):
            out = self(node.factors[0])
            for factor in node.factors[1:]:
                value = self(factor)
                a, b = np.asarray(out), np.asarray(value)
                if a.ndim == 2 and b.ndim == 2 and a.shape != b.shape:
                    out = a @ b
                elif a.ndim == 2 and b.ndim == 2 and a.shape[0] == 1:
                    out = a * b  # two row vectors: elementwise
                elif a.ndim == 2 and b.ndim == 2:
                    out = a @ b
                else:
                    out = a * b
            return out
        raise AssertionError(f"unexpected {node}")


def _mlp_samples(problem):  # type: ignore[no-untyped-def]
    layers = problem.spec.layers
    X, Y = problem.dataset.X, problem.dataset.Y
    for x, y in zip(X, Y):
        values: dict[str, object] = {"x": x.reshape(1, -1), "t": y.reshape(1, -1)}
        a = x.reshape(1, -1)
        for index, layer in enumerate(layers, start=1):
            u = a @ layer.weights + layer.bias
            if layer.activation == "softmax":
                e = np.exp(u - u.max())
                a = e / e.sum()
            else:
                a = ACTIVATIONS[layer.activation].forward(u)
            values[f"u{index}"], values[f"a{index}"] = u, a
            values[f"W{index}"] = layer.weights
        values["yhat"] = a
        yield values


@pytest.mark.parametrize("name", [n for n in NETWORKS if
                                  yaml.safe_load(bundled_problems()[n].read_text())["model"]
                                  == "mlp"])
def test_mlp_formulas_at_the_bundled_numbers_are_the_numeric_gradients(name):
    formulas = gradient_formulas(solve(load_problem_text(formula_only_text(name), "f.yaml")))
    problem = load_problem(bundled_problems()[name])
    numeric = first_step_grads(name)
    trace = solve(problem)
    step = trace.runs[0].epochs[0].steps[0]
    samples = list(_mlp_samples(problem))
    chosen = [samples[s - 1] for s in step.samples]
    assert set(numeric) <= set(formulas)
    for param in numeric:
        formula = formulas[param]
        assert isinstance(formula, E.Sum)
        total = 0
        for values in chosen:
            ops = {**values, "N": float(len(chosen)), "K": float(problem.dataset.Y.shape[1])}
            total = total + _MatrixEvaluator(ops)(formula.body)
        np.testing.assert_allclose(np.asarray(total).reshape(np.shape(numeric[param])),
                                   numeric[param], rtol=1e-10, atol=1e-12, err_msg=param)


# -------------------------------------------------------------------------- the command line


def test_cli_formula_only_file_in_every_format(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(formula_only_text("backprop"))
    for fmt in ("text", "terminal", "markdown", "latex", "json"):
        result = RUNNER.invoke(app, ["solve", str(path), "--format", fmt])
        assert result.exit_code == 0, (fmt, result.output)
        assert "W" in result.stdout and "Result" not in result.stdout
    document = json.loads(RUNNER.invoke(app, ["solve", str(path), "-f", "json"]).stdout)
    rhs = {f["lhs"]: f["rhs"] for f in document["formulas"]}
    assert rhs["∂L/∂W₄₅"] == "(−2·(y − a₅))·a₄"


def test_symbolic_flag_accepts_a_file_without_numbers(tmp_path):
    text = formula_only_text("backprop").replace("symbolic: true\n", "")
    path = tmp_path / "net.yaml"
    path.write_text(text)
    without = RUNNER.invoke(app, ["solve", str(path)])
    assert without.exit_code == 2
    assert "missing required key 'dataset'" in without.stderr and "symbolic" in without.stderr
    with_flag = RUNNER.invoke(app, ["solve", str(path), "--symbolic", "-f", "text"])
    assert with_flag.exit_code == 0 and "∂L/∂W₁₃ = " in with_flag.stdout


def test_formula_only_without_weights_names_the_target_y():
    text = formula_only_text("sigmoid_mlp")
    trace = solve(load_problem_text(text, "m.yaml"))
    from gdtrace.render.printer import ExprPrinter

    printed = " ".join(ExprPrinter().symbolic(f.rhs) for f in trace.header.formulas)
    assert "yᵢ" in printed and "tᵢ" not in printed


@pytest.mark.parametrize("args,words", [
    (["compare", "{path}", "--lr", "0.1"], "no runs to compare"),
    (["plot", "{path}", "-o", "{png}"], "nothing to plot"),
    (["solve", "{path}", "--summary"], "--summary and --stream"),
])
def test_commands_that_need_numbers_refuse_a_formula_only_problem(tmp_path, args, words):
    path = tmp_path / "net.yaml"
    path.write_text(formula_only_text("backprop"))
    filled = [a.format(path=path, png=tmp_path / "p.png") for a in args]
    result = RUNNER.invoke(app, filled)
    assert result.exit_code == 2 and words in result.stderr, result.output


def test_graph_of_a_formula_only_network_shows_unknown_values(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(formula_only_text("backprop"))
    result = RUNNER.invoke(app, ["graph", str(path)])
    assert result.exit_code == 0 and "W35 = ?" in result.stdout and "nan" not in result.stdout


@pytest.mark.parametrize("name", [n for n in NETWORKS if
                                  yaml.safe_load(bundled_problems()[n].read_text())["model"]
                                  == "mlp"])
def test_mlp_symbolic_with_numbers_writes_sample_ones_term(name):
    problem = load_problem(bundled_problems()[name])
    numeric = solve(problem).runs[0].epochs[0].steps[0]
    if len(numeric.samples) == 1:
        want = {q.key: q.value for q in numeric.of_role(Role.GRAD)}
    else:  # the worked solution's per-sample shares of sample 1
        want = {q.key.removeprefix("dL/d"): q.value for q in numeric.rows[0]
                if q.key.startswith("dL/d") and q.key[4:] in problem.weight_names}
    text = bundled_problems()[name].read_text(encoding="utf-8") + "symbolic: true\n"
    block = solve(load_problem_text(text, "s.yaml")).runs[0].blocks[0]
    got = {q.key.removeprefix("dL/d"): q.value for q in block.quantities}
    assert want and set(want) <= set(got)
    for param, value in want.items():
        np.testing.assert_allclose(np.asarray(got[param]).reshape(np.shape(value)), value,
                                   rtol=1e-10, atol=1e-12, err_msg=param)
