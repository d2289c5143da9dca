"""Backpropagation agrees with central finite differences on random networks.

Random MLPs (1–3 hidden layers, random widths, every activation, every loss) are checked in
both solvers: the matrix solver (``mlp``) and the named-node solver (``network``, on the same
network turned into nodes). The finite differences are sound rather than lucky (a fixed step
and a fixed 1e-6 tolerance failed 1 run in 2, issue 10): see :func:`numeric_derivative`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gdtrace.formula.functions import OUTPUT_LOSSES
from gdtrace.formula.rounding import Carry
from gdtrace.problem.network_models import Layer
from gdtrace.solvers import mlp, network

HIDDEN = ["linear", "sigmoid", "tanh", "relu", "leaky_relu"]
# (output activation, loss): squared-type losses with any output, the paired losses with theirs
OUTPUTS = [(act, loss) for act in ("linear", "sigmoid", "tanh", "softmax")
           for loss in ("squared", "sse", "half_sse", "mse", "half_mse")]
OUTPUTS += [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy")]
EPS = float(np.finfo(float).eps)
REL = 1e-7  # what is left after the two error terms below: a wrong gradient is off by far more


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


def numeric_derivative(loss: Callable[[], float], target: Any, position: Any
                       ) -> tuple[float, float]:
    """(∂loss/∂target[position], a bound on its error), by central differences in float64.

    The step is chosen per value, h = ε^(1/3)·max(1, |θ|), which balances the truncation
    error (∝ h²) against the rounding error (∝ ε·|L|/h). Differences with h and h/2 are
    combined by Richardson extrapolation, and their disagreement bounds the truncation error
    that is left; the rounding error is bounded by 256 ulps of the loss over h."""
    keep = float(target[position])
    h = EPS ** (1 / 3) * max(1.0, abs(keep))

    def central(step: float) -> tuple[float, float]:
        target[position] = keep + step
        up = loss()
        target[position] = keep - step
        down = loss()
        target[position] = keep
        return (up - down) / (2 * step), max(abs(up), abs(down), 1.0)

    coarse, scale = central(h)
    fine, _ = central(h / 2)
    estimate = fine + (fine - coarse) / 3
    return estimate, abs(fine - coarse) + 256 * EPS * scale / h


def same(a: float, b: float) -> bool:
    """Two solvers' exact results: equal up to the rounding of different operation orders."""
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b)) + 1e-9


def agree(analytic: float, numeric: float, bound: float) -> bool:
    """A combined bound: relative to the gradient's size plus the absolute error bound."""
    return abs(analytic - numeric) <= REL * max(abs(analytic), abs(numeric)) + bound


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
                numeric, bound = numeric_derivative(lambda: mlp_loss(setup, Ws, bs), target,
                                                    position)
                assert agree(float(analytic[position]), numeric, bound), \
                    (kind, index + 1, position, float(analytic[position]), numeric, bound)


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
    assert same(total, m_total)
    for index, layer in enumerate(layers, start=1):
        for i, j in np.ndindex(layer.weights.shape):
            assert same(grads[f"W{index}[{i + 1},{j + 1}]"], m_grads[f"W{index}"][i, j])
        for j in range(len(layer.bias)):
            assert same(grads[f"b{index}[{j + 1}]"], m_grads[f"b{index}"][j])
    # and the named-node solver against central differences on a few parameters

    def named_loss() -> float:
        return network.loss_and_gradients(graph, OUTPUT_LOSSES[loss], params, X, Y)[0]

    for name in list(params)[:: max(1, len(params) // 6)]:
        numeric, bound = numeric_derivative(named_loss, params, name)  # type: ignore[arg-type]
        assert agree(grads[name], numeric, bound), name


def test_finite_differences_catch_a_wrong_derivative(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The check above can fail: a wrong tanh' is caught."""
    from gdtrace.formula import functions

    wrong = functions.Activation("tanh", np.tanh, lambda z, a: 1.0 - a, lambda z: z,
                                 lambda z, a: a, "tanh")
    monkeypatch.setitem(functions.ACTIVATIONS, "tanh", wrong)
    rng = np.random.default_rng(3)
    layers = [Layer(rng.normal(size=(2, 3)), rng.normal(size=3), "tanh"),
              Layer(rng.normal(size=(3, 1)), rng.normal(size=1), "linear")]
    setup = make_setup(layers, "mse", rng.normal(size=(3, 2)), rng.normal(size=(3, 1)))
    Ws, bs = [la.weights.copy() for la in layers], [la.bias.copy() for la in layers]
    analytic = float(mlp.loss_and_gradients(setup, Ws, bs)[1]["W1"][0, 0])
    numeric, bound = numeric_derivative(lambda: mlp_loss(setup, Ws, bs), Ws[0], (0, 0))
    assert not agree(analytic, numeric, bound)
