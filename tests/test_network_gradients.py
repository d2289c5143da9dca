"""Backpropagation agrees with central finite differences on random networks.

Random MLPs (1–3 hidden layers, random widths, every activation, every loss) are checked in
both solvers: the matrix solver (``mlp``) and the named-node solver (``network``, on the same
network turned into nodes). Central differences with h = 1e-5 have an error of about 1e-10,
so they must agree to 1e-6 relative (with a 1e-9 floor for gradients that are exactly 0).
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gdtrace.functions import OUTPUT_LOSSES
from gdtrace.problem.network_models import Layer
from gdtrace.rounding import Carry
from gdtrace.solvers import mlp, network

HIDDEN = ["linear", "sigmoid", "tanh", "relu", "leaky_relu"]
# (output activation, loss): squared-type losses with any output, the paired losses with theirs
OUTPUTS = [(act, loss) for act in ("linear", "sigmoid", "tanh", "softmax")
           for loss in ("squared", "sse", "half_sse", "mse", "half_mse")]
OUTPUTS += [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy")]
H = 1e-5
REL, FLOOR = 1e-6, 1e-9


def make_setup(layers: list[Layer], loss: str, X: np.ndarray, Y: np.ndarray) -> mlp.MLPSetup:
    return mlp.MLPSetup(tuple(layers), OUTPUT_LOSSES[loss], X, Y, 0.1, Carry(None),
                        None)  # type: ignore[arg-type]


def mlp_loss(setup: mlp.MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray]) -> float:
    return mlp.loss_and_gradients(setup, Ws, bs)[0]


@st.composite
def random_networks(draw: st.DrawFn) -> tuple[list[Layer], str, np.ndarray, np.ndarray]:
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    n_in = draw(st.integers(1, 3))
    hidden = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    out_act, loss = draw(st.sampled_from(OUTPUTS))
    n_out = draw(st.integers(2 if out_act == "softmax" else 1, 3))
    samples = draw(st.integers(1, 4))
    widths = [n_in, *hidden, n_out]
    layers = []
    for k in range(len(widths) - 1):
        act = draw(st.sampled_from(HIDDEN)) if k < len(widths) - 2 else out_act
        layers.append(Layer(rng.normal(0, 0.8, (widths[k], widths[k + 1])),
                            rng.normal(0, 0.5, widths[k + 1]), act,
                            slope=float(rng.uniform(0.01, 0.3))))
    X = rng.normal(0, 1, (samples, n_in))
    if loss == "cross_entropy":
        Y = np.eye(n_out)[rng.integers(0, n_out, samples)]
    elif loss == "binary_cross_entropy":
        Y = rng.integers(0, 2, (samples, n_out)).astype(float)
    else:
        Y = rng.normal(0, 1, (samples, n_out))
    return layers, loss, X, Y


def no_kinks(setup: mlp.MLPSetup) -> bool:
    """relu/leaky_relu are not differentiable at 0: keep every u away from it."""
    for x in setup.X:
        a = x
        for layer in setup.layers:
            u = a @ layer.weights + layer.bias
            if layer.activation in ("relu", "leaky_relu") and np.min(np.abs(u)) < 1e-3:
                return False
            a = mlp._act(layer).forward(u)
    return True


def agree(analytic: float, numeric: float) -> bool:
    return abs(analytic - numeric) <= REL * max(abs(analytic), abs(numeric)) + FLOOR


@settings(max_examples=60, deadline=None)
@given(random_networks())
def test_mlp_gradients_match_central_differences(case) -> None:  # type: ignore[no-untyped-def]
    layers, loss, X, Y = case
    setup = make_setup(layers, loss, X, Y)
    assume(no_kinks(setup))
    Ws = [layer.weights.copy() for layer in layers]
    bs = [layer.bias.copy() for layer in layers]
    _, grads = mlp.loss_and_gradients(setup, Ws, bs)
    for index in range(len(layers)):
        for kind, arrays in (("W", Ws), ("b", bs)):
            target = arrays[index]
            analytic = np.asarray(grads[f"{kind}{index + 1}"])
            for position in np.ndindex(target.shape):
                keep = target[position]
                target[position] = keep + H
                up = mlp_loss(setup, Ws, bs)
                target[position] = keep - H
                down = mlp_loss(setup, Ws, bs)
                target[position] = keep
                numeric = (up - down) / (2 * H)
                assert agree(float(analytic[position]), numeric), \
                    (kind, index + 1, position, float(analytic[position]), numeric)


@settings(max_examples=40, deadline=None)
@given(random_networks())
def test_named_node_solver_matches_the_matrix_solver(case) -> None:  # type: ignore[no-untyped-def]
    layers, loss, X, Y = case
    setup = make_setup(layers, loss, X, Y)
    assume(no_kinks(setup))
    names = [f"x{j + 1}" for j in range(X.shape[1])]
    targets = [f"t{k + 1}" for k in range(Y.shape[1])]
    graph = mlp.to_graph(tuple(layers), names, targets)
    params = {p.name: p.value for p in graph.params}
    total, grads = network.loss_and_gradients(graph, OUTPUT_LOSSES[loss], params, X, Y)
    m_total, m_grads = mlp.loss_and_gradients(setup, [la.weights for la in layers],
                                              [la.bias for la in layers])
    assert agree(total, m_total)
    for index, layer in enumerate(layers, start=1):
        for i, j in np.ndindex(layer.weights.shape):
            assert agree(grads[f"W{index}[{i + 1},{j + 1}]"], m_grads[f"W{index}"][i, j])
        for j in range(len(layer.bias)):
            assert agree(grads[f"b{index}[{j + 1}]"], m_grads[f"b{index}"][j])
    # and the named-node solver against central differences on a few parameters
    for name in list(params)[:: max(1, len(params) // 6)]:
        keep = params[name]
        params[name] = keep + H
        up = network.loss_and_gradients(graph, OUTPUT_LOSSES[loss], params, X, Y)[0]
        params[name] = keep - H
        down = network.loss_and_gradients(graph, OUTPUT_LOSSES[loss], params, X, Y)[0]
        params[name] = keep
        assert agree(grads[name], (up - down) / (2 * H)), name


def test_finite_differences_catch_a_wrong_derivative(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The check above can fail: a wrong tanh' is caught."""
    from gdtrace import functions

    wrong = functions.Activation("tanh", np.tanh, lambda z, a: 1.0 - a, lambda z: z,
                                 lambda z, a: a, "tanh")
    monkeypatch.setitem(functions.ACTIVATIONS, "tanh", wrong)
    rng = np.random.default_rng(3)
    layers = [Layer(rng.normal(size=(2, 3)), rng.normal(size=3), "tanh"),
              Layer(rng.normal(size=(3, 1)), rng.normal(size=1), "linear")]
    setup = make_setup(layers, "mse", rng.normal(size=(3, 2)), rng.normal(size=(3, 1)))
    Ws, bs = [la.weights.copy() for la in layers], [la.bias.copy() for la in layers]
    analytic = float(mlp.loss_and_gradients(setup, Ws, bs)[1]["W1"][0, 0])
    Ws[0][0, 0] += H
    up = mlp_loss(setup, Ws, bs)
    Ws[0][0, 0] -= 2 * H
    down = mlp_loss(setup, Ws, bs)
    assert not agree(analytic, (up - down) / (2 * H))
