"""Optimizers against independent plain-loop implementations, their worked lines, the problem
key ``optimizer:``, the GLM integration and the CLI options.

The reference implementations below are written from the published update rules (torch.optim's
forms, docs/optimizers.md) with Python floats and loops only; they share no code with
gdtrace.solvers.optimizers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from seed_yaml import SEED_DATASET, SEED_START
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.errors import ProblemError
from gdtrace.formula import expr as E
from gdtrace.formula.rounding import Carry, round_half_away
from gdtrace.problem import (
    MODELS,
    apply_overrides,
    load_problem,
    load_problem_text,
    problem_json_schema,
    register_model,
)
from gdtrace.problem.load import common_args
from gdtrace.render import RenderOptions, render
from gdtrace.solvers import solve
from gdtrace.solvers.optimizers import OPTIMIZER_NAMES, Slot, make_config, make_optimizer
from gdtrace.trace import Role

STEPS = 20
TOL = 1e-12

# ------------------------------------------------------------------------ reference loops


def reference(name: str, hyper: dict[str, float], eta: float, start: list[float],
              gradient, steps: int = STEPS, rounding: int | None = None):
    """Run ``steps`` updates on a flat list of parameters; return per step (params, state).

    ``gradient(params) -> list`` gives the gradient at the current parameters. ``rounding``
    rounds every written value (state, corrected moments, parameters) as on paper.
    """

    def r(value: float) -> float:
        return value if rounding is None else round_half_away(value, rounding)

    n = len(start)
    w = list(start)
    a = [0.0] * n  # velocity / sum of squares / running mean / Adam m
    b = [0.0] * n  # Adam v
    history = []
    for t in range(1, steps + 1):
        g = gradient(w)
        state: dict[str, list[float]] = {}
        new_w = []
        for i in range(n):
            if name == "sgd":
                new_w.append(r(w[i] - eta * g[i]))
            elif name in ("momentum", "nesterov"):
                mu = hyper["momentum"]
                a[i] = r(mu * a[i] + g[i])
                step = a[i] if name == "momentum" else g[i] + mu * a[i]
                new_w.append(r(w[i] - eta * step))
            elif name == "adagrad":
                a[i] = r(a[i] + g[i] * g[i])
                new_w.append(r(w[i] - eta * (g[i] / (math.sqrt(a[i]) + hyper["epsilon"]))))
            elif name == "rmsprop":
                al = hyper["alpha"]
                a[i] = r(al * a[i] + (1 - al) * g[i] * g[i])
                new_w.append(r(w[i] - eta * (g[i] / (math.sqrt(a[i]) + hyper["epsilon"]))))
            elif name == "adam":
                b1, b2 = hyper["beta1"], hyper["beta2"]
                a[i] = r(b1 * a[i] + (1 - b1) * g[i])
                b[i] = r(b2 * b[i] + (1 - b2) * g[i] * g[i])
                m_hat = r(a[i] / (1 - b1 ** t))
                v_hat = r(b[i] / (1 - b2 ** t))
                state.setdefault("mhat", []).append(m_hat)
                state.setdefault("vhat", []).append(v_hat)
                new_w.append(r(w[i] - eta * (m_hat / (math.sqrt(v_hat) + hyper["epsilon"]))))
        w = new_w
        if name in ("momentum", "nesterov", "adam"):
            state["m" if name == "adam" else "v"] = list(a)
        if name in ("adagrad", "rmsprop"):
            state["s"] = list(a)
        if name == "adam":
            state["v"] = list(b)
        history.append((list(w), state))
    return history


def bowl_gradient(w: list[float]) -> list[float]:
    """Gradient of a coupled bowl; it changes sign along the way, so state really matters."""
    n = len(w)
    return [2.0 * (i + 1) * (w[i] - (1.5 - i)) + 0.3 * w[(i + 1) % n] for i in range(n)]


DEFAULTS = {name: make_config(name).params for name in OPTIMIZER_NAMES}
CUSTOM = {
    "sgd": {},
    "momentum": {"momentum": 0.5},
    "nesterov": {"momentum": 0.75},
    "adagrad": {"epsilon": 1e-6},
    "rmsprop": {"alpha": 0.9, "epsilon": 1e-6},
    "adam": {"beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6},
}


# ------------------------------------------------------------------------ driving gdtrace


def scalar_slots(n: int) -> list[Slot]:
    slots = []
    for i in range(n):
        name = f"w{i + 1}"
        symbol = E.sym(name, key=f"param:{name}")
        slots.append(Slot(name, symbol, f"grad:{name}",
                          E.Deriv(E.Sym("L", "L"), symbol, f"grad:{name}")))
    return slots


def run_scalars(name: str, hyper: dict[str, float], eta: float, start: list[float],
                decimals: int | None = None):
    optimizer = make_optimizer(make_config(name, hyper), eta, Carry(decimals))
    slots = scalar_slots(len(start))
    w = list(start)
    history = []
    for _ in range(STEPS):
        state_lines, param_lines = optimizer.step(slots, w, bowl_gradient(w))
        w = [float(q.value) for q in param_lines]
        history.append((w, state_lines, param_lines))
    return history


def state_of(lines, kind: str, names: list[str]) -> list[float]:
    keyed = {q.key: q.value for q in lines}
    return [float(keyed[f"{kind}.{n}"]) for n in names]


@pytest.mark.parametrize("custom", [False, True], ids=["defaults", "custom"])
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_scalar_parameters_match_reference_for_20_steps(name, custom):
    hyper = {**DEFAULTS[name], **(CUSTOM[name] if custom else {})}
    start = [0.8, -0.4, 2.0]
    eta = 0.05
    expected = reference(name, hyper, eta, start, bowl_gradient)
    got = run_scalars(name, hyper if custom else {}, eta, start)
    names = ["w1", "w2", "w3"]
    moved = False
    for (ref_w, ref_state), (w, state_lines, param_lines) in zip(expected, got):
        assert w == pytest.approx(ref_w, rel=TOL, abs=TOL)
        assert [q.key for q in param_lines] == names
        assert all(q.role is Role.PARAM and q.relation == "←" for q in param_lines)
        for kind, values in ref_state.items():
            assert state_of(state_lines, kind, names) == pytest.approx(values, rel=TOL, abs=TOL)
        moved = moved or w != start
    assert moved
    assert len(got) == STEPS


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_carry_rounding_applies_to_every_written_value(name):
    hyper = DEFAULTS[name]
    start = [0.8, -0.4, 2.0]
    expected = reference(name, hyper, 0.05, start, bowl_gradient, rounding=4)
    got = run_scalars(name, {}, 0.05, start, decimals=4)
    for (ref_w, ref_state), (w, state_lines, param_lines) in zip(expected, got):
        assert w == ref_w  # exactly: the same rounded numbers, carried on
        for q in state_lines + param_lines:
            assert float(q.value) == round_half_away(float(q.value), 4)
        for kind, values in ref_state.items():
            assert state_of(state_lines, kind, ["w1", "w2", "w3"]) == values


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_matrix_parameter_matches_reference_elementwise(name):
    """A network's weight matrix: one slot holding an array, updated element by element."""
    hyper = DEFAULTS[name]
    start = np.array([[0.8, -0.4, 2.0], [0.1, 0.0, -1.2]])
    flat_start = start.ravel().tolist()
    expected = reference(name, hyper, 0.02, flat_start, bowl_gradient)
    optimizer = make_optimizer(make_config(name), 0.02)
    symbol = E.Sym("param:W1", "W", "1")
    slot = Slot("W1", symbol, "grad:W1", E.Deriv(E.Sym("L", "L"), symbol, "grad:W1"))
    W = start.copy()
    for ref_w, ref_state in expected:
        grad = np.array(bowl_gradient(W.ravel().tolist())).reshape(W.shape)
        state_lines, (param,) = optimizer.step([slot], [W], [grad])
        W = param.value
        assert isinstance(W, np.ndarray) and W.shape == (2, 3)
        assert W.ravel().tolist() == pytest.approx(ref_w, rel=TOL, abs=TOL)
        keyed = {q.key: q.value for q in state_lines}
        for kind, values in ref_state.items():
            assert np.asarray(keyed[f"{kind}.W1"]).ravel().tolist() == pytest.approx(
                values, rel=TOL, abs=TOL)


# ------------------------------------------------------------------------ worked lines


def evaluate(node: E.Expr, operands: dict) -> float:
    """Evaluate a formula tree with its operands: the printed line must give the value."""
    if isinstance(node, E.Num):
        return node.value
    if isinstance(node, (E.Sym, E.Deriv, E.Ref)):
        return operands[node.key]
    if isinstance(node, E.Add):
        return sum(evaluate(t, operands) for t in node.terms)
    if isinstance(node, E.Neg):
        return -evaluate(node.arg, operands)
    if isinstance(node, E.Mul):
        return math.prod(evaluate(f, operands) for f in node.factors)
    if isinstance(node, E.Div):
        return evaluate(node.num, operands) / evaluate(node.den, operands)
    if isinstance(node, E.Pow):
        return evaluate(node.base, operands) ** evaluate(node.exp, operands)
    if isinstance(node, E.Func) and node.name == "sqrt":
        return math.sqrt(evaluate(node.args[0], operands))
    raise AssertionError(f"unexpected node {node!r}")


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_each_line_substituted_gives_its_value(name):
    for _, state_lines, param_lines in run_scalars(name, {}, 0.05, [0.8, -0.4, 2.0])[:5]:
        for q in state_lines + param_lines:
            assert q.formula is not None
            assert evaluate(q.formula, q.operands) == pytest.approx(float(q.value), rel=1e-12)


def test_adam_lines_order_keys_and_symbols():
    (_, state_lines, param_lines), *_ = run_scalars("adam", {}, 0.1, [0.5, 0.5])
    assert [q.key for q in state_lines] == ["m.w1", "m.w2", "v.w1", "v.w2", "mhat.w1",
                                            "mhat.w2", "vhat.w1", "vhat.w2"]
    assert all(q.role is Role.VALUE for q in state_lines)
    assert [q.relation for q in state_lines] == ["←"] * 4 + ["="] * 4
    from gdtrace.render.printer import ExprPrinter

    printer = ExprPrinter()
    m1, v1, mh1 = state_lines[0], state_lines[2], state_lines[4]
    assert printer.symbolic(m1.symbol) == "m₁"
    assert printer.symbolic(m1.formula) == "β₁m₁ + (1 − β₁)·g₁"
    assert printer.symbolic(v1.formula) == "β₂v₁ + (1 − β₂)·g₁²"
    assert printer.symbolic(mh1.symbol) == "m\u0302₁"
    assert printer.substituted(mh1.formula, mh1.operands).endswith("/(1 − 0.9^1)")
    assert printer.symbolic(param_lines[0].formula) == "w₁ − η·(m\u0302₁/(sqrt(v\u0302₁) + ε))"


def test_momentum_convention_in_header_formulas():
    from gdtrace.render.printer import ExprPrinter

    printer = ExprPrinter()
    w = E.Sym("w_j", "w", "j")
    optimizer = make_optimizer(make_config("momentum"), 0.1)
    text = [f"{printer.symbolic(f.lhs)} {f.relation} {printer.symbolic(f.rhs)}"
            for f in optimizer.formulas(w, E.Deriv(E.Sym("L", "L"), w, "g"), "j")]
    assert text == ["gⱼ = ∂L/∂wⱼ", "vⱼ ← μvⱼ + gⱼ", "wⱼ ← wⱼ − ηvⱼ"]


def test_plain_sgd_writes_the_classic_line():
    optimizer = make_optimizer(None, 0.1)
    (slot,) = scalar_slots(1)
    state_lines, (line,) = optimizer.step([slot], [0.08], [-1.2865])
    assert state_lines == []
    assert line.value == 0.08 - 0.1 * -1.2865
    from gdtrace.render.console import worked_line
    from gdtrace.render.printer import ExprPrinter

    assert worked_line(ExprPrinter(), line) == \
        "w₁ ← w₁ − η·∂L/∂w₁ = 0.08 − 0.1·(-1.2865) = 0.2087"


# ------------------------------------------------------------------------ problem files

LOGREG = "model: logistic\n" + SEED_DATASET + SEED_START + "epochs: 5\n"


def load(extra: str):
    return load_problem_text(LOGREG + extra, "p.yaml", Path("."))


def load_error(extra: str) -> ProblemError:
    with pytest.raises(ProblemError) as info:
        load(extra)
    return info.value


def test_optimizer_key_forms():
    assert load("").optimizer.name == "sgd"
    assert load("optimizer: adam\n").optimizer == make_config("adam")
    config = load("optimizer: {name: adam, beta1: 0.8}\n").optimizer
    assert config.params == {"beta1": 0.8, "beta2": 0.999, "epsilon": 1e-8}
    assert load("optimizer:\n  name: momentum\n  momentum: 0.5\n").optimizer.params == \
        {"momentum": 0.5}
    assert load("optimizer: {name: rmsprop}\n").optimizer.params == \
        {"alpha": 0.99, "epsilon": 1e-8}


@pytest.mark.parametrize("extra, field, line, words", [
    ("optimizer: adm\n", "optimizer", 13, "did you mean 'adam'?"),
    ("optimizer: 3\n", "optimizer", 13, "expected an optimizer name or a mapping"),
    ("optimizer: {beta1: 0.9}\n", "optimizer.name", 13, "missing required key 'name'"),
    ("optimizer:\n  name: momentum\n  beta1: 0.9\n", "optimizer.beta1", 15,
     "unknown key 'beta1'"),
    ("optimizer:\n  name: adam\n  beta2: 1\n", "optimizer.beta2", 15, "must be less than 1"),
    ("optimizer:\n  name: adam\n  beta1: -0.1\n", "optimizer.beta1", 15, "at least 0"),
    ("optimizer:\n  name: adagrad\n  epsilon: 0\n", "optimizer.epsilon", 15,
     "greater than 0"),
    ("optimizer:\n  name: rmsprop\n  alpha: yes\n", "optimizer.alpha", 15, "expected a number"),
])
def test_optimizer_key_errors_name_field_and_line(extra, field, line, words):
    error = load_error(extra)
    assert error.field == field
    assert error.line == line
    assert words in error.message


def test_json_schema_describes_the_optimizer_key():
    schema = problem_json_schema()
    branch = next(b["then"] for b in schema["allOf"]
                  if b["if"]["properties"]["model"]["const"] == "logistic")
    choice = branch["properties"]["optimizer"]["oneOf"]
    assert choice[0] == {"type": "string", "enum": list(OPTIMIZER_NAMES)}
    adam = next(c for c in choice[1:] if c["properties"]["name"]["enum"] == ["adam"])
    assert adam["properties"]["beta1"]["exclusiveMaximum"] == 1
    assert adam["properties"]["beta1"]["default"] == 0.9
    assert adam["properties"]["epsilon"]["exclusiveMinimum"] == 0
    assert adam["additionalProperties"] is False
    assert adam["required"] == ["name"]


def test_models_without_a_learning_rate_have_no_optimizer_key():
    def build(checked, ctx):
        from gdtrace.problem.model import Problem

        return Problem(**common_args(checked, ctx))

    try:
        spec = register_model("closed_form_test", {"learning_rate": None, "epochs": None}, build)
        assert "optimizer" not in spec.object.fields
        assert "optimizer" in MODELS["logistic"].object.fields
    finally:
        MODELS.pop("closed_form_test", None)


def test_override_keeps_the_files_hyper_parameters_for_the_same_optimizer():
    problem = load("optimizer: {name: adam, beta1: 0.8}\n")
    assert apply_overrides(problem, optimizer="adam").optimizer.params["beta1"] == 0.8
    assert apply_overrides(problem, optimizer="momentum").optimizer == make_config("momentum")
    with pytest.raises(ProblemError) as info:
        apply_overrides(problem, optimizer="lbfgs")
    assert info.value.source == "--optimizer"


# ------------------------------------------------------------------------ GLM integration

SEED_X = [[5, 8, 6], [6, 4, 3], [8, 5, 9], [7, 9, 1]]
SEED_Y = [1, 1, 0, 0]


class _SampleGradient:
    """The per-sample log-loss gradient, visiting the samples in file order."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, p: list[float]) -> list[float]:
        x, y = SEED_X[self.calls % 4], SEED_Y[self.calls % 4]
        self.calls += 1
        z = sum(wi * xi for wi, xi in zip(p[:3], x)) + p[3]
        error = 1 / (1 + math.exp(-z)) - y
        return [error * xi for xi in x] + [error]


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_logistic_seed_data_20_steps_matches_reference(name):
    problem = load(f"optimizer: {name}\n")  # 5 epochs × 4 samples = 20 steps
    trace = solve(problem)
    steps = [s for e in trace.runs[0].epochs for s in e.steps]
    assert len(steps) == STEPS
    expected = reference(name, DEFAULTS[name], 0.1, [0.08, 0.06, 0.03, 0.0], _SampleGradient())
    for step, (ref_params, ref_state) in zip(steps, expected):
        params = [float(q.value) for q in step.of_role(Role.PARAM)]
        assert params == pytest.approx(ref_params, rel=TOL, abs=TOL)
        values = {q.key: q.value for q in step.of_role(Role.VALUE)}
        for kind, numbers in ref_state.items():
            got = [values[f"{kind}.{n}"] for n in ("w1", "w2", "w3", "b")]
            assert got == pytest.approx(numbers, rel=TOL, abs=TOL)
    final = trace.runs[0].final
    assert [final[k] for k in ("w1", "w2", "w3", "b")] == pytest.approx(expected[-1][0],
                                                                         rel=TOL, abs=TOL)


def test_logistic_adam_json_document():
    trace = solve(load("optimizer: adam\n"))
    document = json.loads(render(trace, "json", RenderOptions()))
    run = document["runs"][0]
    assert run["settings"]["optimizer"] == "adam"
    assert run["settings"]["beta2"] == 0.999
    first = run["epochs"][0]["steps"][0]
    assert {"z", "sigma", "error", "m.w1", "v.b", "mhat.w3", "vhat.b"} <= set(first["values"])
    assert first["values"]["mhat.w1"] == pytest.approx(first["grad"]["w1"], rel=1e-12)
    # Adam's first step moves every parameter by about η against its gradient's sign
    assert first["params"]["w1"] == pytest.approx(0.08 + 0.1, abs=1e-8)


def test_explicit_sgd_changes_nothing():
    default = solve(load(""))
    explicit = solve(load("optimizer: sgd\n"))
    for fmt in ("json", "text"):
        for steps in (False, True):
            options = RenderOptions(steps=steps)
            assert render(explicit, fmt, options) == render(default, fmt, options)
    assert "optimizer" not in default.runs[0].settings


def test_batch_linear_momentum_matches_reference_and_drops_the_gd_stability_claim():
    text = """\
model: linear
dataset:
  columns: [x, y]
  rows: [[1, 3], [2, 5], [3, 7]]
weights: [0]
learning_rate: 0.05
epochs: 20
update: batch
optimizer: {name: momentum, momentum: 0.8}
"""
    problem = load_problem_text(text, "p.yaml", Path("."))
    X, Y = [1.0, 2.0, 3.0], [3.0, 5.0, 7.0]

    def gradient(p: list[float]) -> list[float]:
        errors = [y - (p[0] * x + p[1]) for x, y in zip(X, Y)]
        return [-2 / 3 * sum(e * x for e, x in zip(errors, X)), -2 / 3 * sum(errors)]

    expected = reference("momentum", {"momentum": 0.8}, 0.05, [0.0, 0.0], gradient)
    run = solve(problem).runs[0]
    got = [[float(q.value) for q in s.of_role(Role.PARAM)] for e in run.epochs for s in e.steps]
    for params, (ref, _) in zip(got, expected):
        assert params == pytest.approx(ref, rel=TOL, abs=TOL)
    assert run.stability is None


def test_bundled_adam_problem():
    from gdtrace.problem import bundled_problems

    problem = load_problem(bundled_problems()["adam"])
    assert problem.optimizer == make_config("adam")
    text = render(solve(problem), "text", RenderOptions(steps=True))
    assert "m̂₁ = m₁/(1 − β₁^t)" in text
    assert "optimizer: Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-08" in text


# ------------------------------------------------------------------------ command line


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cli_optimizer_override_and_errors():
    result = invoke("solve", "logreg", "--optimizer", "rmsprop", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["runs"][0]["settings"]["optimizer"] == "rmsprop"
    assert "s.w1" in document["runs"][0]["epochs"][0]["steps"][0]["values"]
    bad = invoke("solve", "logreg", "--optimizer", "adm")
    assert bad.exit_code == 2
    assert bad.output.strip().count("\n") == 0
    assert "did you mean 'adam'?" in bad.output


def test_cli_compare_optimizers():
    result = invoke("compare", "logreg", "--optimizer", "sgd,adam", "--format", "json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [r["label"] for r in runs] == ["as written", "optimizer = adam"]
    assert "optimizer" not in runs[0]["settings"]
    assert runs[1]["settings"]["optimizer"] == "adam"


def test_every_format_renders_the_optimizer_lines():
    from gdtrace.render import FORMATS

    trace = solve(load("optimizer: adam\n"))
    for fmt in sorted(FORMATS):
        for steps in (False, True):
            out = render(trace, fmt, RenderOptions(steps=steps))
            assert out, fmt
            if fmt in ("text", "json", "csv"):
                assert "mhat.w1" in out or "m̂₁" in out, (fmt, steps)


TORCH_OPTIMIZERS = {
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {"eps": 1e-8}),
    "rmsprop": ("RMSprop", {"alpha": 0.99, "eps": 1e-8}),
    "adam": ("Adam", {"betas": (0.9, 0.999), "eps": 1e-8}),
}


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_matches_torch_optim_when_installed(name):
    """Optional: torch is not a dependency; where it is installed, compare with torch.optim."""
    torch = pytest.importorskip("torch")
    X = torch.tensor(SEED_X, dtype=torch.float64)
    Y = torch.tensor(SEED_Y, dtype=torch.float64)
    w = torch.tensor([0.08, 0.06, 0.03], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    cls, kwargs = TORCH_OPTIMIZERS[name]
    optimizer = getattr(torch.optim, cls)([w, b], lr=0.1, **kwargs)
    run = solve(load(f"optimizer: {name}\n")).runs[0]
    steps = [s for e in run.epochs for s in e.steps]
    for k, step in enumerate(steps):
        optimizer.zero_grad()
        z = X[k % 4] @ w + b
        torch.nn.functional.binary_cross_entropy_with_logits(z, Y[k % 4]).backward()
        optimizer.step()
        expected = [*w.detach().tolist(), float(b.detach())]
        params = [float(q.value) for q in step.of_role(Role.PARAM)]
        assert params == pytest.approx(expected, rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------------ networks

NETWORK = """\
model: network
dataset:
  columns: [x1, x2, y]
  rows:
    - [1.0, -1.0, 1.0]
    - [2.0, -2.0, 2.0]
    - [0.5, 1.5, -1.0]
nodes:
  - {name: 3, activation: sigmoid, edges: {W13: x1, W23: x2}, bias: 0.1}
  - {name: 4, activation: tanh, edges: {W14: x1, W24: x2}}
  - {name: 5, activation: linear, edges: {W35: 3, W45: 4}}
outputs: [5]
weights: {W13: 1, W14: -1, W23: 2, W24: {value: -3, trainable: false}, W35: 2, W45: -1}
loss: squared
learning_rate: 0.05
epochs: 7
update: sgd
"""

MLP = """\
model: mlp
dataset:
  columns: [x1, x2, y]
  rows: [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 1.0, 0.0]]
layers:
  - {weights: [[0.5, -0.5], [0.3, 0.8]], bias: [0.0, 0.1], activation: sigmoid}
  - {weights: [1.0, -1.0], bias: 0.2, activation: linear}
loss: mse
learning_rate: 0.1
epochs: 20
update: batch
"""


def check_against_step_gradients(text: str, name: str) -> int:
    """Feed each step's own gradients to the plain-loop rules and compare the updates: the
    solver must keep the optimizer's state across steps, in parameter order, frozen ones out."""
    problem = load_problem_text(text + f"optimizer: {name}\n", "p.yaml", Path("."))
    run = solve(problem).runs[0]
    hyper = DEFAULTS[name]
    state: dict[str, dict[str, np.ndarray]] = {}
    t = 0
    for step in (s for e in run.epochs for s in e.steps):
        t += 1
        grads = {q.key: np.asarray(q.value, dtype=float) for q in step.of_role(Role.GRAD)}
        before = {k: np.asarray(v, dtype=float) for k, v in step_params_before(step).items()}
        for q in step.of_role(Role.PARAM):
            if q.key not in grads:  # frozen: kept as it was
                assert np.array_equal(np.asarray(q.value), before[q.key])
                continue
            flat_w = before[q.key].ravel().tolist()
            flat_g = grads[q.key].ravel().tolist()
            s = state.setdefault(q.key, {"a": [0.0] * len(flat_w), "c": [0.0] * len(flat_w)})
            a, c, eta = s["a"], s["c"], problem.learning_rate
            expected = []
            for i, (w, g) in enumerate(zip(flat_w, flat_g)):
                if name == "adam":
                    b1, b2 = hyper["beta1"], hyper["beta2"]
                    a[i] = b1 * a[i] + (1 - b1) * g
                    c[i] = b2 * c[i] + (1 - b2) * g * g
                    m_hat, v_hat = a[i] / (1 - b1 ** t), c[i] / (1 - b2 ** t)
                    expected.append(w - eta * (m_hat / (math.sqrt(v_hat) + hyper["epsilon"])))
                else:  # momentum
                    a[i] = hyper["momentum"] * a[i] + g
                    expected.append(w - eta * a[i])
            got = np.asarray(q.value, dtype=float).ravel().tolist()
            assert got == pytest.approx(expected, rel=TOL, abs=TOL), (q.key, t)
    return t


def step_params_before(step) -> dict:
    """The parameters a step started from, read back from its update lines' operands."""
    out = {}
    for q in step.of_role(Role.PARAM):
        out[q.key] = q.operands[q.symbol.key]
    return out


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_network_and_mlp_keep_optimizer_state_across_steps(name):
    assert check_against_step_gradients(NETWORK, name) == 21
    assert check_against_step_gradients(MLP, name) == 20


def test_network_adam_writes_state_for_trainable_parameters_only():
    problem = load_problem_text(NETWORK + "optimizer: adam\n", "p.yaml", Path("."))
    trace = solve(problem)
    first = trace.runs[0].epochs[0].steps[0]
    keys = [q.key for q in first.of_role(Role.VALUE) if "." in q.key]
    assert "m.W13" in keys and "vhat.b3" in keys
    assert not any(k.endswith(".W24") for k in keys)  # frozen
    assert trace.runs[0].settings["optimizer"] == "adam"
    assert "optimizer: Adam" in trace.header.update
    texts = [f.label for f in trace.header.formulas]
    assert "bias-corrected v" in texts


def test_networks_with_sgd_are_unchanged():
    for text in (NETWORK, MLP):
        default = solve(load_problem_text(text, "p.yaml", Path(".")))
        explicit = solve(load_problem_text(text + "optimizer: sgd\n", "p.yaml", Path(".")))
        assert render(explicit, "json", RenderOptions()) == render(default, "json",
                                                                    RenderOptions())


# ------------------------------------------------------------------------ function model

FUNCTION_2D = """\
model: function
f: "x^2 + 3*y^2 + x*y - 2*x"
start: {x: 2, y: -1}
learning_rate: 0.05
steps: 20
"""


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_function_model_20_steps_matches_reference(name):
    problem = load_problem_text(FUNCTION_2D + f"optimizer: {name}\n", "p.yaml", Path("."))
    run = solve(problem).runs[0]
    steps = run.epochs[0].steps
    assert len(steps) == STEPS

    def gradient(p: list[float]) -> list[float]:
        x, y = p
        return [2 * x + y - 2, 6 * y + x]

    expected = reference(name, DEFAULTS[name], 0.05, [2.0, -1.0], gradient)
    for step, (ref, ref_state) in zip(steps, expected):
        assert [float(q.value) for q in step.of_role(Role.PARAM)] == pytest.approx(
            ref, rel=TOL, abs=TOL)
        values = {q.key: q.value for q in step.of_role(Role.VALUE)}
        for kind, numbers in ref_state.items():
            assert [values[f"{kind}.x"], values[f"{kind}.y"]] == pytest.approx(
                numbers, rel=TOL, abs=TOL)
    assert [run.final["x"], run.final["y"]] == pytest.approx(expected[-1][0], rel=TOL, abs=TOL)


def test_function_model_with_an_optimizer_skips_the_gd_analysis():
    from gdtrace.problem import bundled_problems

    plain_run = solve(load_problem(bundled_problems()["quadratic"]))
    adam = solve(apply_overrides(load_problem(bundled_problems()["quadratic"]),
                                 optimizer="adam"))
    assert plain_run.runs[0].stability is not None and plain_run.runs[0].blocks
    assert adam.runs[0].stability is None and not adam.runs[0].blocks
    assert any("not done with adam" in note for note in adam.header.notes)
    first = adam.runs[0].epochs[0].steps[0]
    assert float(first.of_role(Role.PARAM)[0].value) == pytest.approx(3 - 0.1, abs=1e-9)
    explicit = load_problem(bundled_problems()["quadratic"])
    assert render(solve(apply_overrides(explicit, optimizer="sgd")), "json",
                  RenderOptions()) == render(plain_run, "json", RenderOptions())


def test_docs_examples_are_real_output():
    """Every line of each ``<!-- output: gdtrace ARGS -->`` block in docs/optimizers.md is a line
    that command prints (``...`` stands for omitted lines)."""
    import re
    import shlex

    doc = (Path(__file__).resolve().parent.parent / "docs" / "optimizers.md").read_text("utf-8")
    blocks = re.findall(r"<!-- output: gdtrace ([^>]+?) -->\n```\n(.*?)```", doc, re.S)
    assert len(blocks) == 4
    for args, body in blocks:
        result = invoke(*shlex.split(args), "--format", "text")
        assert result.exit_code == 0, result.output
        printed = {line.rstrip() for line in result.stdout.splitlines()}
        for line in body.splitlines():
            if line != "...":
                assert line.rstrip() in printed, (args, line)


def test_docs_json_example_is_real_output():
    import re

    doc = (Path(__file__).resolve().parent.parent / "docs" / "optimizers.md").read_text("utf-8")
    snippet = re.search(r"```json\n(.*?)```", doc, re.S).group(1)
    shown = json.loads("{" + snippet + "}")
    result = invoke("solve", "adam", "--format", "json")
    step = json.loads(result.stdout)["runs"][0]["epochs"][0]["steps"][0]
    assert shown == {key: step[key] for key in ("values", "grad", "params")}
