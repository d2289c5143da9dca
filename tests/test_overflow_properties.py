"""A run stops at the same place in every output (gdtrace issue 12).

The worked solution stops at the first value a step writes that is not finite — any line:
z, a, ∂L/∂a, δ, a gradient, an optimizer's state, a parameter — with the warning naming it,
and ends with the parameters that step started from. ``--summary`` computes numbers only and
``--stream`` writes each step and drops it; both must find the same step, say the same words
and end with the same numbers. Here random networks (one sample or several, every optimizer,
learning rates up to 1e300, saturating activations, carry rounding) and random multilayer
perceptrons are run all three ways: the epoch losses, steps, warnings (code, message, epoch,
step), final parameters and final loss must agree bit for bit.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_network_summary import network_doc

from gdtrace.problem import load_problem_text
from gdtrace.solvers import solve
from gdtrace.solvers.optimizers import RULES_TEXT
from gdtrace.solvers.streaming import EpochRows, EpochStart, RunEnd, run_events

SETTINGS = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.generate])
OPTIMIZERS = list(RULES_TEXT)
RATES = [0.5, 3.0, 1e10, 1e150, 1e300]


def same(a: Any, b: Any) -> bool:
    """Bit for bit, NaN equal to NaN and 0.0 not equal to -0.0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True)) and \
        bool(np.array_equal(np.signbit(a), np.signbit(b)))


def _flat(params: dict[str, Any]) -> list[float]:
    return [float(v) for value in params.values() for v in np.ravel(value)]


def _ends(text: str) -> list[tuple[Any, ...]]:
    """(epoch losses, steps, warnings, final parameters, final loss, stopped early) of the
    worked solution, ``--summary`` and ``--stream``."""
    problem = load_problem_text(text, "random.yaml")
    trace = solve(problem)
    run = trace.runs[0]
    warnings = [(d.code, d.message, d.epoch, d.step) for d in trace.warnings]
    ends = [([e.loss for e in run.epochs], sum(len(e.steps) for e in run.epochs), warnings,
             _flat(run.final), run.final_loss, run.stopped_early)]
    for steps in (False, True):
        events = list(run_events(problem, steps=steps, epoch_rows=not steps))
        end = events[-1]
        assert isinstance(end, RunEnd)
        ends.append((_losses(events), end.steps,
                     [(d.code, d.message, d.epoch, d.step) for d in end.diagnostics],
                     _flat(end.final), end.final_loss, end.stopped_early))
    return ends


def _losses(events: list[Any]) -> list[float]:
    """Each epoch's loss at its start, in order (EpochRows unrolled)."""
    out: list[float] = []
    for event in events:
        if isinstance(event, EpochStart):
            out.append(event.loss)
        elif isinstance(event, EpochRows):
            out += [row[1] for row in event.rows]
    return out


def _agree(text: str) -> None:
    worked, *numeric = _ends(text)
    for other in numeric:
        assert same(other[0], worked[0]), (other[0], worked[0])
        assert other[1] == worked[1]
        assert other[2] == worked[2]
        assert same(other[3], worked[3])
        assert same(other[4], worked[4])
        assert other[5] == worked[5]


def _optimizer(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    name = draw(st.sampled_from(OPTIMIZERS))
    if name != "sgd":
        doc["optimizer"] = {"name": name}


@st.composite
def network_case(draw: st.DrawFn) -> str:
    """A 2-2-2 network (shared bias per layer), random weights up to ±3, activations that
    saturate (a hidden z can overflow while σ keeps a finite), one to three samples, every
    optimizer and update, carry rounding sometimes."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    n = draw(st.integers(1, 3))
    rows = [[round(float(v), 2) for v in rng.uniform(-1, 1, 4)] for _ in range(n)]
    hidden = draw(st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu", "linear"]))
    output = draw(st.sampled_from(["sigmoid", "tanh", "linear"]))
    weights: dict[str, Any] = {f"w{i}": round(float(v), 2)
                               for i, v in enumerate(rng.uniform(-3, 3, 8), start=1)}
    weights |= {"b1": 0.35, "b2": 0.6}
    if draw(st.booleans()):
        weights["w3"] = {"value": weights["w3"], "trainable": False}
    doc = network_doc(rows, hidden, output, weights,
                      draw(st.sampled_from(["half_sse", "mse", "sse", "half_mse"])),
                      draw(st.sampled_from(RATES)), draw(st.integers(1, 12)))
    if n > 1:
        doc["update"] = draw(st.sampled_from(["sgd", "batch"]))
    if draw(st.integers(0, 4)) == 0:
        doc["carry_decimals"] = draw(st.sampled_from([2, 6]))
    _optimizer(draw, doc)
    return json.dumps(doc)


@SETTINGS
@given(network_case())
def test_network_outputs_stop_alike(text: str) -> None:
    _agree(text)


def test_a_hidden_z_that_overflows_stops_every_output() -> None:
    """The issue's case: η = 1e300 with nesterov; in step 2 z of o1 overflows while the
    saturated sigmoid keeps every parameter finite. All three stop there."""
    doc = {"title": "random 2-2-2", "model": "network",
           "dataset": {"columns": ["i1", "i2", "t1", "t2"], "targets": ["t1", "t2"],
                       "rows": [[-0.65, -0.32, -0.14, 0.81]]},
           "nodes": [{"name": "h1", "activation": "leaky_relu",
                      "edges": {"w1": "i1", "w2": "i2"}, "bias": "b1"},
                     {"name": "h2", "activation": "leaky_relu",
                      "edges": {"w3": "i1", "w4": "i2"}, "bias": "b1"},
                     {"name": "o1", "activation": "sigmoid",
                      "edges": {"w5": "h1", "w6": "h2"}, "bias": "b2"},
                     {"name": "o2", "activation": "sigmoid",
                      "edges": {"w7": "h1", "w8": "h2"}, "bias": "b2"}],
           "outputs": ["o1", "o2"],
           "weights": {"w1": -0.29, "w2": -0.42, "w3": {"value": 0.77, "trainable": False},
                       "w4": -0.58, "w5": 0.46, "w6": 0.43, "w7": -0.73, "w8": 0.63,
                       "b1": 0.35, "b2": 0.6},
           "loss": "sse", "learning_rate": 1e300, "epochs": 6,
           "optimizer": {"name": "nesterov"}}
    text = json.dumps(doc)
    worked, summary, stream = _ends(text)
    assert worked[2] == [("non_finite", "zo1 became inf (overflow); the run stops here", 2, 2)]
    assert summary[2] == worked[2] and stream[2] == worked[2]
    assert worked[1] == 2 and summary[1] == 2 and stream[1] == 2
    _agree(text)


@st.composite
def mlp_case(draw: st.DrawFn) -> str:
    """A multilayer perceptron of one or two layers (random sizes and weights up to ±3,
    saturating hidden activations), one to four samples, every optimizer and update."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    inputs, outputs = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    n = draw(st.integers(1, 4))
    sizes = [inputs, *([draw(st.integers(1, 3))] if draw(st.booleans()) else []), outputs]
    layers = []
    for k, (m, units) in enumerate(zip(sizes, sizes[1:])):
        last = k == len(sizes) - 2
        layers.append({
            "weights": [[round(float(v), 2) for v in rng.uniform(-3, 3, units)]
                        for _ in range(m)],
            "bias": [round(float(v), 2) for v in rng.uniform(-1, 1, units)],
            "activation": draw(st.sampled_from(["linear", "sigmoid", "tanh"] if last
                                               else ["sigmoid", "tanh", "relu", "linear"]))})
    columns = [f"x{i}" for i in range(inputs)] + [f"t{k}" for k in range(outputs)]
    doc: dict[str, Any] = {
        "title": "random mlp", "model": "mlp",
        "dataset": {"columns": columns, "targets": columns[inputs:],
                    "rows": [[round(float(v), 2) for v in rng.uniform(-1, 1, len(columns))]
                             for _ in range(n)]},
        "layers": layers, "loss": draw(st.sampled_from(["half_sse", "mse", "sse"])),
        "learning_rate": draw(st.sampled_from(RATES)), "epochs": draw(st.integers(1, 10)),
        "update": draw(st.sampled_from(["sgd", "batch"]))}
    if draw(st.integers(0, 4)) == 0:
        doc["carry_decimals"] = draw(st.sampled_from([2, 6]))
    _optimizer(draw, doc)
    return json.dumps(doc)


@SETTINGS
@given(mlp_case())
def test_mlp_outputs_stop_alike(text: str) -> None:
    _agree(text)
