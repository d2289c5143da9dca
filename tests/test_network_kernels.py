"""The numeric kernels of ``network``, ``mlp`` and ``perceptron``.

The network kernel is generated code (gdtrace/solvers/network_kernel.py): here it is checked
against a direct transcription of the per-node rules with numpy, as the solver computed them
before the kernel existed, bit for bit, on random graphs with shared weights, frozen
parameters, several outputs and every loss. The work guard counts an mlp's and a network's
real parameters.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdtrace.formula.functions import ACTIVATIONS, OUTPUT_LOSSES, OutputLoss
from gdtrace.formula.rounding import Carry
from gdtrace.problem import load_problem_text
from gdtrace.problem.network_models import Edge, Graph, Node, Param
from gdtrace.solvers.network import activation_of, pass_numbers
from gdtrace.solvers.streaming import recorded_numbers


def reference(graph: Graph, loss: OutputLoss, params: dict[str, float],
              trainable: dict[str, bool], x: dict[str, float], t: dict[str, float],
              scale: float, carry: Carry) -> dict[str, object]:
    """The per-node rules with numpy, as ``network.pass_numbers`` computed them by hand."""
    z, a, loss_total = reference_forward(graph, loss, params, x, t, carry)
    da: dict[str, float] = {}
    dz: dict[str, float] = {}
    for out_name, target in zip(graph.outputs, graph.targets):
        if loss.paired is not None:
            dz[out_name] = carry(scale * (a[out_name] - t[target]))
        else:
            da[out_name] = carry(scale * float(loss.derivative(np.array(a[out_name]),
                                                                np.array(t[target]))))
    output_da = dict(da)
    fps: dict[str, float] = {}
    for node in reversed(graph.nodes):
        reference_node_backward(graph, node, params, z, a, da, dz, fps, carry)
    uses: dict[str, list[float]] = {}
    for node in graph.nodes:
        name = node.name
        signal = da[name] * fps[name] if name in fps else \
            da[name] if node.activation == "linear" and name in da else dz[name]
        for edge in node.edges:
            if trainable[edge.weight]:
                uses.setdefault(edge.weight, []).append(carry(signal * a[edge.source]))
        if node.bias is not None and trainable[node.bias]:
            uses.setdefault(node.bias, []).append(carry(signal))
    grads = {k: v[0] if len(v) == 1 else carry(sum(v)) for k, v in uses.items()}
    return {"z": z, "a": a, "loss": carry(scale * loss_total), "da": da, "dz": dz, "fps": fps,
            "uses": uses, "grads": grads, "output_da": output_da}


def reference_forward(graph: Graph, loss: OutputLoss, params: dict[str, float],
                      x: dict[str, float], t: dict[str, float], carry: Carry
                      ) -> tuple[dict[str, float], dict[str, float], float]:
    a: dict[str, float] = dict(x)
    z: dict[str, float] = {}
    softmax_nodes = [n for n in graph.nodes if n.activation == "softmax"]
    for node in graph.nodes:
        total = sum(params[e.weight] * a[e.source] for e in node.edges)
        if node.bias is not None:
            total += params[node.bias]
        z[node.name] = carry(total)
        if node.activation != "softmax":
            act = activation_of(node.activation, node.slope)
            a[node.name] = carry(float(act.forward(z[node.name])))
    if softmax_nodes:
        probs = ACTIVATIONS["softmax"].forward(np.array([z[n.name] for n in softmax_nodes]))
        for node, p in zip(softmax_nodes, probs):
            a[node.name] = carry(float(p))
    loss_total = 0.0
    for out_name, target in zip(graph.outputs, graph.targets):
        loss_total += float(loss.term(np.array(a[out_name]), np.array(t[target])))
    return z, a, loss_total


def reference_node_backward(graph: Graph, node: Node, params: dict[str, float],
                            z: dict[str, float], a: dict[str, float], da: dict[str, float],
                            dz: dict[str, float], fps: dict[str, float], carry: Carry) -> None:
    name = node.name
    children = graph.children(name)
    if children:
        value = sum(dz[c.name] * params[e.weight] for c, e in children)
        if name in da:
            value += da[name]
        da[name] = carry(value)
    if name in dz:
        return
    if node.activation == "linear":
        dz[name] = da[name]
    elif node.activation == "softmax":
        group = [n.name for n in graph.nodes if n.activation == "softmax"]
        weighted = sum(da[g] * a[g] for g in group)
        dz[name] = carry(a[name] * (da[name] - weighted))
    else:
        act = activation_of(node.activation, node.slope)
        fps[name] = carry(float(act.derivative(z[name], a[name])))
        dz[name] = carry(da[name] * fps[name])


HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]


@st.composite
def networks(draw: st.DrawFn) -> tuple[Graph, OutputLoss, dict, dict, dict, dict, float, Carry]:
    """A random layered graph (2–3 inputs, 1–2 hidden layers, 1–3 outputs), some weights
    shared, some frozen, with a loss that fits its outputs."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    inputs = [f"x{i}" for i in range(draw(st.integers(1, 3)))]
    loss_name = draw(st.sampled_from(sorted(OUTPUT_LOSSES)))
    loss = OUTPUT_LOSSES[loss_name]
    outputs = draw(st.integers(2, 3)) if loss.paired == "softmax" else draw(st.integers(1, 2))
    out_act = loss.paired or draw(st.sampled_from(["linear", "sigmoid", "tanh"]))
    nodes: list[Node] = []
    names: list[str] = []
    sources = list(inputs)
    layers = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 2)))] + [outputs]
    for depth, width in enumerate(layers):
        last = depth == len(layers) - 1
        current = []
        for j in range(width):
            name = f"n{depth}_{j}"
            edges = tuple(Edge(f"w{depth}_{i}_{j}" if not draw(st.booleans()) or depth == 0
                               else f"w{depth}_{i}_0", s)  # shared: the same name twice
                          for i, s in enumerate(sources))
            bias = f"b{depth}" if draw(st.booleans()) else None  # one bias per layer: shared
            act = out_act if last else draw(st.sampled_from(HIDDEN))
            nodes.append(Node(name, act, edges, bias, 0.1))
            current.append(name)
        sources = current
        names = current
    used: list[str] = []
    for node in nodes:
        for name in [e.weight for e in node.edges] + ([node.bias] if node.bias else []):
            if name not in used:
                used.append(name)
    params = {name: round(float(v), 2) for name, v in zip(used, rng.uniform(-1.5, 1.5,
                                                                              len(used)))}
    trainable = {name: draw(st.integers(0, 4)) > 0 for name in used}
    targets = [f"t{k}" for k in range(len(names))]
    graph = Graph(tuple(inputs), tuple(nodes), tuple(names), tuple(targets),
                  tuple(Param(n, params[n], trainable[n]) for n in used))
    x = {name: round(float(v), 2) for name, v in zip(inputs, rng.uniform(-2, 2, len(inputs)))}
    if loss.paired == "softmax":
        t = {name: float(k == 0) for k, name in enumerate(targets)}
    else:
        t = {name: round(float(v), 2) for name, v in zip(targets, rng.uniform(0.05, 0.95,
                                                                             len(targets)))}
    scale = draw(st.sampled_from([1.0, 0.5, 1 / 3]))
    carry = Carry(draw(st.sampled_from([None, None, 3, 5])))
    return graph, loss, params, trainable, x, t, scale, carry


def same(a: object, b: object) -> bool:
    return bool(np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               equal_nan=True))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True, database=None)
@given(networks())
def test_network_kernel_equals_the_per_node_rules(case: tuple) -> None:
    graph, loss, params, trainable, x, t, scale, carry = case
    with np.errstate(all="ignore"):
        expected = reference(graph, loss, params, trainable, x, t, scale, carry)
        got = pass_numbers(graph, loss, params, trainable, x, t, scale, carry)
        forward_only = pass_numbers(graph, loss, params, trainable, x, t, scale, carry,
                                    backward=False)
    assert same(got.loss, expected["loss"]) and same(forward_only.loss, expected["loss"])
    for key in ("z", "a", "da", "dz", "fps", "grads", "output_da"):
        mine, theirs = getattr(got, key), expected[key]
        assert isinstance(theirs, dict)
        assert list(mine) == list(theirs), key  # the same keys in the same order
        assert all(same(mine[k], theirs[k]) for k in theirs), key
    assert got.uses == expected["uses"] or all(
        same(got.uses[k], expected["uses"][k]) for k in expected["uses"])  # type: ignore


def test_network_kernel_overflow_is_inf_not_an_exception() -> None:
    """Python raises on float overflow in ** where numpy returns inf: the kernel must not."""
    graph = Graph(("x",), (Node("o", "linear", (Edge("w", "x"),)),), ("o",), ("t",),
                  (Param("w", 1e200),))
    numbers = pass_numbers(graph, OUTPUT_LOSSES["squared"], {"w": 1e200}, {"w": True},
                           {"x": 1e200}, {"t": 0.0}, 1.0, Carry(None))
    assert numbers.loss == math.inf


MLP = """{"title": "guard", "model": "mlp", "dataset": {"columns": ["x1", "x2", "t"],
 "rows": [[0.1, 0.2, 1.0], [0.3, 0.4, 0.0]]}, "layers": [
 {"weights": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], "bias": [0, 0, 0], "activation": "tanh"},
 {"weights": [[0.1], [0.2], [0.3]], "bias": [0], "activation": "sigmoid"}],
 "loss": "mse", "learning_rate": 0.1, "epochs": 10}"""


def test_work_guard_counts_every_mlp_parameter() -> None:
    """2·3 + 3 + 3·1 + 1 = 13 parameters (it used to count (inputs + 1) × targets = 3)."""
    problem = load_problem_text(MLP, "guard.yaml")
    numbers, work = recorded_numbers(problem)
    assert work == 20 * 13  # 10 epochs × 2 SGD steps × 13 parameters


def test_work_guard_counts_a_networks_parameters() -> None:
    from gdtrace.api import load

    problem = load("backprop", epochs=10)
    assert recorded_numbers(problem)[1] == 20 * 6  # 2 samples × 10 epochs, W13 … W45


@pytest.mark.parametrize("update", ["sgd", "batch"])
def test_mlp_summary_memory_does_not_hold_per_sample_arrays(update: str) -> None:
    """The batched kernel's gradient of a 2 000-sample batch is one matrix product per block,
    never an array per sample (that would be 2 000 × 64 × 64 floats here)."""
    import tracemalloc

    from gdtrace.solvers import mlp

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 20))
    Y = np.eye(3)[rng.integers(0, 3, 2000)]
    rows = np.hstack([X, Y]).round(3).tolist()
    layers = [{"weights": rng.normal(0, 0.2, s).round(3).tolist(), "bias": [0.0] * s[1],
               "activation": a} for s, a in (((20, 64), "tanh"), ((64, 64), "tanh"),
                                             ((64, 3), "softmax"))]
    import json

    text = json.dumps({"title": "memory", "model": "mlp", "dataset": {
        "columns": [f"x{i}" for i in range(20)] + ["t1", "t2", "t3"],
        "targets": ["t1", "t2", "t3"], "rows": rows}, "layers": layers,
        "loss": "cross_entropy", "learning_rate": 0.05, "epochs": 1, "update": update})
    problem = load_problem_text(text, "memory.yaml")
    tracemalloc.start()
    events = mlp.events(problem, steps=False, max_steps=50 if update == "sgd" else None)
    for _ in events:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 30e6  # 2000 × 64 × 64 × 8 bytes would be 65 MB
