"""Random problems of every model with steps, as problem-file text, for the check tests.

Small on purpose (a few samples, one or two epochs): the properties are about the dependency
graph and the grader, not about scale. Values are kept away from saturation (|z| small) so a
student's rounded numbers still carry information forward.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import strategies as st

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
MODELS = ["logistic", "linear", "network", "mlp", "function", "perceptron"]


def _rows(rng: np.random.Generator, samples: int, features: int, target: str) -> list[list]:
    rows = []
    for _ in range(samples):
        x = [round(float(v), 1) for v in rng.uniform(-2, 2, features)]
        if target == "binary":
            y = float(rng.integers(0, 2))
        elif target == "sign":
            y = float(rng.choice([0, 1]))
        else:
            y = round(float(rng.uniform(-1, 1)), 1)
        rows.append([*x, y])
    return rows


def _optimizer(draw: st.DrawFn) -> dict:
    name = draw(st.sampled_from(OPTIMIZERS))
    return {} if name == "sgd" else {"optimizer": {"name": name}}


@st.composite
def random_problem(draw: st.DrawFn, models: list[str] | None = None) -> str:
    """A problem file (JSON, which is YAML) of a random model with random settings."""
    model = draw(st.sampled_from(models or MODELS))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    carry = draw(st.sampled_from([None, None, None, 3, 4]))
    common: dict = {"title": f"random {model}", "model": model}
    if carry is not None:
        common["carry_decimals"] = carry
    if model in ("logistic", "linear"):
        features = draw(st.integers(1, 3))
        samples = draw(st.integers(2, 4))
        rows = _rows(rng, samples, features, "binary" if model == "logistic" else "real")
        update = draw(st.sampled_from(["sgd", "batch", "minibatch"]))
        losses = ["log", "mse"] if model == "logistic" else ["mse", "half_mse", "sse",
                                                             "half_sse"]
        doc = common | {
            "dataset": {"columns": [f"x{j + 1}" for j in range(features)] + ["y"],
                        "rows": rows},
            "weights": [round(float(v), 2) for v in rng.uniform(-0.5, 0.5, features)],
            "bias": round(float(rng.uniform(-0.3, 0.3)), 2),
            "learning_rate": draw(st.sampled_from([0.05, 0.1, 0.2])),
            "lambda": draw(st.sampled_from([0.0, 0.0, 0.5])),
            "epochs": draw(st.integers(1, 2)), "update": update,
            "loss": draw(st.sampled_from(losses))} | _optimizer(draw)
        if update == "minibatch":
            doc["batch_size"] = 2
        return json.dumps(doc)
    if model == "perceptron":
        rows = _rows(rng, draw(st.integers(2, 4)), 2, "sign")
        return json.dumps(common | {
            "dataset": {"columns": ["x1", "x2", "y"], "rows": rows},
            "weights": [round(float(v), 1) for v in rng.uniform(-0.5, 0.5, 2)],
            "bias": round(float(rng.uniform(-0.3, 0.3)), 1),
            "learning_rate": draw(st.sampled_from([0.1, 0.5, 1.0])),
            "epochs": draw(st.integers(1, 3))})
    if model == "function":
        f = draw(st.sampled_from(["3*x^2 + 2*x", "x^2 + 2*y^2 + x*y", "exp(x/3) + x^2",
                                  "(x - 1)^2 + sin(y)", "x^4/4 + x^2"]))
        names = [v for v in ("x", "y") if v in f]
        start = {v: round(float(rng.uniform(-1.5, 1.5)), 1) for v in names}
        return json.dumps(common | {"f": f, "start": start,
                                    "learning_rate": draw(st.sampled_from([0.05, 0.1])),
                                    "steps": draw(st.integers(1, 4))} | _optimizer(draw))
    if model == "network":
        rows = _rows(rng, draw(st.integers(1, 3)), 2, "real")
        hidden = draw(st.sampled_from(["sigmoid", "tanh", "relu", "linear"]))
        weights = {name: round(float(v), 1) for name, v in
                   zip(["W13", "W23", "W14", "W24", "W35", "W45"], rng.uniform(-1, 1, 6))}
        doc = common | {
            "dataset": {"columns": ["x1", "x2", "y"], "rows": rows},
            "nodes": [{"name": 3, "activation": hidden, "edges": {"W13": "x1", "W23": "x2"},
                       "bias": "b3"},
                      {"name": 4, "activation": "tanh", "edges": {"W14": "x1", "W24": "x2"}},
                      {"name": 5, "activation": "linear", "edges": {"W35": 3, "W45": 4}}],
            "outputs": [5], "weights": weights | {"b3": 0.1},
            "loss": draw(st.sampled_from(["squared", "mse", "half_sse"])),
            "learning_rate": 0.1, "epochs": draw(st.integers(1, 2)),
            "update": draw(st.sampled_from(["sgd", "batch"]))} | _optimizer(draw)
        return json.dumps(doc)
    # mlp
    outputs = draw(st.sampled_from([("linear", "half_sse", 1), ("sigmoid", "mse", 1),
                                    ("softmax", "cross_entropy", 2)]))
    activation, loss, n_out = outputs
    hidden = draw(st.sampled_from(["sigmoid", "tanh", "relu"]))
    samples = draw(st.integers(1, 3))
    x = [[round(float(v), 1) for v in rng.uniform(-1, 1, 2)] for _ in range(samples)]
    if loss == "cross_entropy":
        y = [list(np.eye(n_out)[int(rng.integers(0, n_out))]) for _ in range(samples)]
    else:
        y = [[round(float(rng.uniform(0.1, 0.9)), 1)] for _ in range(samples)]
    targets = [f"t{k + 1}" for k in range(n_out)]
    doc = common | {
        "dataset": {"columns": ["x1", "x2", *targets], "targets": targets,
                    "rows": [a + b for a, b in zip(x, y)]},
        "layers": [{"weights": np.round(rng.uniform(-1, 1, (2, 2)), 1).tolist(),
                    "bias": np.round(rng.uniform(-0.3, 0.3, 2), 1).tolist(),
                    "activation": hidden},
                   {"weights": np.round(rng.uniform(-1, 1, (2, n_out)), 1).tolist(),
                    "bias": np.round(rng.uniform(-0.3, 0.3, n_out), 1).tolist(),
                    "activation": activation}],
        "loss": loss, "learning_rate": 0.1, "epochs": draw(st.integers(1, 2)),
        "update": draw(st.sampled_from(["sgd", "batch"]))} | _optimizer(draw)
    return json.dumps(doc)
