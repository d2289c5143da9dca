"""Layered networks (``model: mlp``) in matrix form, worked sample by sample and summed.

Per sample (row vectors): uₗ = aₗ₋₁·Wₗ + bₗ, aₗ = fₗ(uₗ) with a₀ = x; the sample's loss;
δ_L = ∂L/∂u_L at the output, δₗ = (δₗ₊₁·Wₗ₊₁ᵀ)·fₗ'(uₗ) (elementwise) going back, and the
sample's gradient shares aₗ₋₁ᵀ·δₗ and δₗ. A step sums the shares (the loss's 1/(N·K) factor is
already inside δ) and updates W and b through :func:`gdtrace.solvers.network.update_lines`
(plain gradient descent or the problem's optimizer).
Each step also gets a matrix view (U = XW + b, Δ, ∂L/∂W = Aᵀ·Δ) as tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdtrace.expr import Deriv, Expr, Func, Num, Pow, Ref, Sum, Sym, Text
from gdtrace.functions import ACTIVATIONS, OUTPUT_LOSSES, Activation, OutputLoss
from gdtrace.optimizers import make_optimizer
from gdtrace.problem.model import Problem
from gdtrace.problem.network_models import Edge, Graph, Layer, MlpSpec, Node, Param
from gdtrace.rounding import Carry
from gdtrace.solvers import RunOptions, Solved, asks_formulas
from gdtrace.solvers.checks import keep_step
from gdtrace.solvers.network import (
    LOSS,
    Setup,
    _scaled,
    activation_of,
    link_lines,
    loss_sym,
    unsampled,
    update_lines,
    update_rules,
)
from gdtrace.trace import (
    Block,
    Diagnostic,
    Epoch,
    Formula,
    Header,
    Link,
    Part,
    Quantity,
    Role,
    Run,
    Step,
    Table,
)

X_SYM = Sym("x", "x")
# The matrix view is written for steps with several samples (one sample's matrices are its
# vector lines), for the first few of them only: a long run would repeat it hundreds of times.
MATRIX_VIEW_STEPS = 3


def W(layer: int) -> Sym:
    return Sym(f"param:W{layer}", "W", str(layer))


def b(layer: int) -> Sym:
    return Sym(f"param:b{layer}", "b", str(layer))


def u(layer: int) -> Sym:
    return Sym(f"u{layer}", "u", str(layer))


def a(layer: int) -> Sym:
    return X_SYM if layer == 0 else Sym(f"a{layer}", "a", str(layer))


def delta(layer: int) -> Sym:
    return Sym(f"delta{layer}", "δ", str(layer))


def transpose(node: Expr) -> Expr:
    return Pow(node, Text("T"))


def fprime(layer: int, act: Activation) -> Func:
    return Func(f"{act.symbol}'", (u(layer),))


@dataclass
class MLPSetup:
    layers: tuple[Layer, ...]
    loss: OutputLoss
    X: np.ndarray
    Y: np.ndarray
    eta: float
    carry: Carry
    base: Setup  # the schedule logic shared with ``network``
    target_names: tuple[str, ...] = ()
    units: bool = False  # worked: units — scalar lines unit by unit

    @property
    def target(self) -> Sym:
        """The target as written: its column's name for one target, t for a vector."""
        if len(self.target_names) == 1:
            return Sym("t", self.target_names[0])
        return Sym("t", "t")

    @property
    def n(self) -> int:
        return int(self.X.shape[0])


def setup_from(problem: Problem) -> MLPSetup:
    dataset = problem.dataset
    assert dataset is not None
    loss = OUTPUT_LOSSES[problem.loss]
    spec = problem.spec_of(MlpSpec)
    base = Setup(to_graph(spec.layers, dataset.features, dataset.targets), loss,
                 dataset.X, dataset.Y, problem.learning_rate, Carry(problem.carry_decimals),
                 spec.schedule, problem.update, problem.samples_per_update(),
                 problem.shuffle_seed, make_optimizer(problem.optimizer, problem.learning_rate,
                                                      Carry(problem.carry_decimals)))
    return MLPSetup(spec.layers, loss, dataset.X.astype(float),
                    dataset.Y.astype(float), problem.learning_rate,
                    Carry(problem.carry_decimals), base, tuple(dataset.targets),
                    spec.worked == "units")


def to_graph(layers: tuple[Layer, ...], features: list[str], targets: list[str]) -> Graph:
    """The same network as named nodes (unit j of layer l is node ``l.j``, weight
    ``W{l}[i,j]``), for drawing and for checking one solver against the other."""
    nodes: list[Node] = []
    params: list[Param] = []
    sources = list(features)
    for l_index, layer in enumerate(layers, start=1):
        names = [f"{l_index}.{j + 1}" for j in range(layer.weights.shape[1])]
        for j, name in enumerate(names):
            edges = []
            for i, source in enumerate(sources):
                weight = f"W{l_index}[{i + 1},{j + 1}]"
                edges.append(Edge(weight, source))
                params.append(Param(weight, float(layer.weights[i, j]), layer.trainable))
            bias = f"b{l_index}[{j + 1}]"
            params.append(Param(bias, float(layer.bias[j]), layer.trainable))
            nodes.append(Node(name, layer.activation, tuple(edges), bias, layer.slope))
        sources = names
    return Graph(tuple(features), tuple(nodes), tuple(sources), tuple(targets), tuple(params))


# --------------------------------------------------------------------------- one sample


@dataclass
class Pass:
    row: list[Quantity]
    loss: float
    acts: list[np.ndarray]  # a₀ = x, a₁ … a_L
    pre: list[np.ndarray]  # u₁ … u_L
    deltas: list[np.ndarray]  # δ₁ … δ_L
    shares: dict[str, np.ndarray]  # this sample's ∂L/∂W and ∂L/∂b (as written)
    share_lines: list[Quantity]


def _act(layer: Layer) -> Activation:
    return activation_of(layer.activation, layer.slope)


@dataclass
class Numbers:
    """One sample's forward and backward pass as numbers only, each carry-rounded as it is
    written: the math of a worked pass, computed once. :func:`sample_pass` writes the worked
    lines from it; ``--summary`` and ``--stream`` use it alone."""

    acts: list[np.ndarray]  # a₀ = x, a₁ … a_L
    pre: list[np.ndarray]  # u₁ … u_L
    loss: float
    out_grad: np.ndarray | None  # ∂L/∂ŷ (None when a paired loss gives δ_L = ŷ − t directly)
    backs: dict[int, np.ndarray]  # ∂L/∂aₗ for the hidden layers
    fps: dict[int, np.ndarray]  # fₗ'(uₗ) where the worked lines write it
    deltas: list[np.ndarray]  # δ₁ … δ_L
    shares: dict[str, np.ndarray]  # this sample's ∂L/∂W and ∂L/∂b


def forward(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray
            ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(a₀ … a_L, u₁ … u_L): uₗ = aₗ₋₁·Wₗ + bₗ, aₗ = fₗ(uₗ), carry-rounded."""
    carry = setup.carry
    acts, pre = [x], []
    for layer, weights, bias in zip(setup.layers, Ws, bs):
        value = carry.array(acts[-1] @ weights + bias)
        pre.append(value)
        acts.append(carry.array(_act(layer).forward(value)))
    return acts, pre


def sample_loss(setup: MLPSetup, yhat: np.ndarray, t: np.ndarray, scale: float) -> float:
    return setup.carry(scale * float(np.sum(setup.loss.term(yhat, t))))


def pass_numbers(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray,
                 t: np.ndarray, scale: float) -> Numbers:
    """The forward and backward pass of one sample (``scale`` is the loss's 1/(N·K))."""
    carry, loss = setup.carry, setup.loss
    acts, pre = forward(setup, Ws, bs, x)
    count = len(setup.layers)
    yhat = acts[-1]
    fps: dict[int, np.ndarray] = {}
    deltas: list[np.ndarray] = [np.zeros(0)] * count

    def local(index: int, g: np.ndarray) -> np.ndarray:
        """δ = ∂L/∂a·f'(u) (elementwise); softmax uses its Jacobian."""
        act = _act(setup.layers[index - 1])
        if act.backward is not None:
            return carry.array(act.backward(acts[index], g))
        if act.name == "linear":
            return carry.array(g)
        fps[index] = carry.array(act.derivative(pre[index - 1], acts[index]))
        return carry.array(g * fps[index])

    out_grad = None
    if loss.paired is not None:
        deltas[-1] = carry.array(scale * (yhat - t))
    else:
        out_grad = carry.array(scale * loss.derivative(yhat, t))
        deltas[-1] = local(count, out_grad)
    backs: dict[int, np.ndarray] = {}
    for index in range(count - 1, 0, -1):
        backs[index] = carry.array(deltas[index] @ Ws[index].T)
        deltas[index - 1] = local(index, backs[index])
    shares: dict[str, np.ndarray] = {}
    for index, layer in enumerate(setup.layers, start=1):
        if layer.trainable:
            shares[f"W{index}"] = carry.array(np.outer(acts[index - 1], deltas[index - 1]))
            shares[f"b{index}"] = deltas[index - 1]
    return Numbers(acts, pre, sample_loss(setup, yhat, t, scale), out_grad, backs, fps,
                   deltas, shares)


def sample_pass(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray,
                t: np.ndarray, scale: float, sample: int | None,
                sources: dict[str, Quantity] | None = None) -> Pass:
    """One sample's worked lines, written from :func:`pass_numbers`; ``sources`` are the
    lines the parameters come from, by name (none: the starting values)."""
    loss = setup.loss
    numbers = pass_numbers(setup, Ws, bs, x, t, scale)
    acts, pre, deltas = numbers.acts, numbers.pre, numbers.deltas
    L = loss_sym(sample)
    row: list[Quantity] = []
    count = len(setup.layers)
    for index, layer in enumerate(setup.layers, start=1):
        row.append(Quantity(f"u{index}", Role.VALUE, u(index), pre[index - 1],
                            a(index - 1) * W(index) + b(index),
                            {a(index - 1).key: acts[index - 1], W(index).key: Ws[index - 1],
                             b(index).key: bs[index - 1]}))
        row.append(Quantity(f"a{index}", Role.VALUE, a(index), acts[index],
                            _act(layer).formula(u(index)), {u(index).key: pre[index - 1]}))
    yhat_sym, t_sym = a(count), setup.target
    yhat = acts[-1]
    body: Expr = Sum("k", Num(len(t)), loss.term_formula(Sym("yk", "ŷ", "k"), Sym("tk", "t", "k")),
               tuple(loss.term_formula(Ref(Sym(f"y{k}", "ŷ", str(k + 1)), f"y{k}"),
                                       Ref(Sym(f"t{k}", "t", str(k + 1)), f"t{k}"))
                     for k in range(len(t))))
    ops = {f"y{k}": float(v) for k, v in enumerate(yhat)} | \
        {f"t{k}": float(v) for k, v in enumerate(t)}
    if len(t) == 1:  # one output: no sum over k
        body = loss.term_formula(Ref(yhat_sym, "y0"), Ref(t_sym, "t0"))
    row.append(Quantity("L", Role.VALUE, L, numbers.loss, _scaled(scale, body), ops))
    # backward -----------------------------------------------------------------------------
    if numbers.out_grad is None:
        row.append(Quantity(f"delta{count}", Role.VALUE, delta(count), deltas[-1],
                            _scaled(scale, yhat_sym - t_sym), {yhat_sym.key: yhat, "t": t}))
    else:
        g_sym = Deriv(L, a(count), "dLdy")
        row.append(Quantity("dL/dy", Role.VALUE, g_sym, numbers.out_grad,
                            _scaled(scale, loss.derivative_formula(yhat_sym, t_sym)),
                            {yhat_sym.key: yhat, "t": t}))
        _local(row, count, _act(setup.layers[-1]), numbers, Ref(g_sym, "dLdy"), "dLdy",
               numbers.out_grad)
    for index in range(count - 1, 0, -1):
        back = numbers.backs[index]
        g_sym = Deriv(L, a(index), f"dLda{index}")
        row.append(Quantity(f"dL/da{index}", Role.VALUE, g_sym, back,
                            delta(index + 1) * transpose(W(index + 1)),
                            {delta(index + 1).key: deltas[index], W(index + 1).key: Ws[index]}))
        _local(row, index, _act(setup.layers[index - 1]), numbers, Ref(g_sym, f"dLda{index}"),
               f"dLda{index}", back)
    lines: list[Quantity] = []
    for index, layer in enumerate(setup.layers, start=1):
        if not layer.trainable:
            continue
        d = deltas[index - 1]
        lines.append(Quantity(f"W{index}", Role.GRAD, Deriv(L, W(index), f"grad:W{index}"),
                              numbers.shares[f"W{index}"], transpose(a(index - 1)) * delta(index),
                              {a(index - 1).key: acts[index - 1], delta(index).key: d}))
        lines.append(Quantity(f"b{index}", Role.GRAD, Deriv(L, b(index), f"grad:b{index}"), d,
                              delta(index), {delta(index).key: d}))
    known: dict[str, Link] = {f"param:{k}": q for k, q in (sources or {}).items()}
    output = next(q for q in row if q.key == f"a{count}")
    known |= {f"y{k}": Part(output, (k,)) for k in range(len(t))}
    link_lines(row + lines, known)
    return Pass(row, numbers.loss, acts, pre, deltas, numbers.shares, lines)


def unit_pass(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray,
              t: np.ndarray, scale: float, sample: int | None,
              sources: dict[str, Quantity] | None = None) -> Pass:
    """The same pass unit by unit, through the named-node solver on the layers as nodes
    (unit j of layer l is node ``l.j``, weight ``Wl[i,j]``); the chain-rule lines stay
    scalar and the matrices are assembled from them."""
    from gdtrace.solvers.network import sample_pass as node_pass

    graph = setup.base.graph
    params: dict[str, float] = {}
    trainable: dict[str, bool] = {}
    for index, (layer, w, bias) in enumerate(zip(setup.layers, Ws, bs), start=1):
        for (i, j), value in np.ndenumerate(w):
            params[f"W{index}[{i + 1},{j + 1}]"] = float(value)
            trainable[f"W{index}[{i + 1},{j + 1}]"] = layer.trainable
        for j, value in enumerate(bias):
            params[f"b{index}[{j + 1}]"] = float(value)
            trainable[f"b{index}[{j + 1}]"] = layer.trainable
    known: dict[str, Link] = {}
    for name, line in (sources or {}).items():  # Wl[i,j] is an entry of the matrix Wl
        layer_values = np.asarray(line.value)
        for index in np.ndindex(layer_values.shape):
            entry = ",".join(str(i + 1) for i in index)
            known[f"param:{name}[{entry}]"] = Part(line, index)
    result = node_pass(graph, setup.loss, params, trainable, dict(zip(graph.inputs, map(float, x))),
                       dict(zip(graph.targets, map(float, t))), scale, setup.carry, sample,
                       known)
    row = list(result.lines) + [
        Quantity(f"dL/d{q.key}", Role.VALUE, q.symbol, q.value, q.formula, q.operands,
                 links=q.links) for q in result.grad_lines]
    acts, pre, deltas = [np.asarray(x, dtype=float)], [], []
    shares: dict[str, np.ndarray] = {}
    lines: list[Quantity] = []
    L = loss_sym(sample)
    for index, (layer, w) in enumerate(zip(setup.layers, Ws), start=1):
        names = [f"{index}.{j + 1}" for j in range(w.shape[1])]
        pre.append(np.array([result.z[n] for n in names]))
        acts.append(np.array([result.a[n] for n in names]))
        deltas.append(np.array([result.dz[n] for n in names]))
        if not layer.trainable:
            continue
        gw = np.array([[result.grads[f"W{index}[{i + 1},{j + 1}]"] for j in range(w.shape[1])]
                       for i in range(w.shape[0])])
        gb = np.array([result.grads[f"b{index}[{j + 1}]"] for j in range(w.shape[1])])
        shares[f"W{index}"], shares[f"b{index}"] = gw, gb
        lines.append(Quantity(f"W{index}", Role.GRAD, Deriv(L, W(index), f"grad:W{index}"), gw))
        lines.append(Quantity(f"b{index}", Role.GRAD, Deriv(L, b(index), f"grad:b{index}"), gb))
    return Pass(row, result.loss, acts, pre, deltas, shares, lines)


def _local(row: list[Quantity], index: int, act: Activation, numbers: Numbers, g_ref: Expr,
           g_key: str, g: np.ndarray) -> None:
    """The lines of δ = ∂L/∂a·f'(u) (elementwise), f'(u) written out; softmax uses its
    Jacobian. The numbers are :func:`pass_numbers`'."""
    symbol = delta(index)
    value = numbers.deltas[index - 1]
    out, pre = numbers.acts[index], numbers.pre[index - 1]
    if act.backward is not None:
        row.append(Quantity(f"delta{index}", Role.VALUE, symbol, value,
                            a(index) * (g_ref - Sum("k", Text(""), Sym("gk", "g", "k")
                                                    * Sym("ak", "a", "k"))),
                            {a(index).key: out, g_key: g}))
        return
    if act.name == "linear":
        row.append(Quantity(f"delta{index}", Role.VALUE, symbol, value, g_ref, {g_key: g}))
        return
    fp = numbers.fps[index]
    f_sym = fprime(index, act)
    row.append(Quantity(f"f'(u{index})", Role.VALUE, f_sym, fp,
                        act.derivative_formula(u(index), a(index)),
                        {u(index).key: pre, a(index).key: out}))
    row.append(Quantity(f"delta{index}", Role.VALUE, symbol, value,
                        g_ref * Ref(f_sym, f"fp{index}"), {g_key: g, f"fp{index}": fp}))


# ------------------------------------------------------------------------------ the loop


def _step(setup: MLPSetup, number: int, epoch: int, group: list[int], Ws: list[np.ndarray],
          bs: list[np.ndarray], sources: dict[str, Quantity] | None = None,
          matrix_view: bool = True) -> tuple[Step, Block | None]:
    carry = setup.carry
    m = len(group)
    scale = setup.loss.scale(m, setup.Y.shape[1])
    single = m == 1
    passes = []
    rows = []
    base = setup.base
    for s in group:
        passer = unit_pass if setup.units else sample_pass
        result = passer(setup, Ws, bs, setup.X[s], setup.Y[s], scale, None if single else s + 1,
                        sources)
        passes.append(result)
        inputs = [Quantity(name, Role.INPUT, Sym(f"input:{name}", name), float(v))
                  for name, v in zip(base.graph.inputs, setup.X[s])]
        inputs += [Quantity(name, Role.INPUT, Sym(f"target:{name}", name), float(v))
                   for name, v in zip(base.graph.targets, setup.Y[s])]
        extra = [] if single else [
            Quantity(f"dL/d{q.key}", Role.VALUE, q.symbol, q.value, q.formula, q.operands,
                     links=q.links) for q in result.share_lines]
        row = inputs + result.row + extra
        if not single:
            for q in row:
                q.heading = q.heading or unsampled(q.symbol)
        rows.append(row)
    quantities: list[Quantity] = []
    if single:
        quantities += passes[0].share_lines
    else:
        for index, layer in enumerate(setup.layers, start=1):
            if not layer.trainable:
                continue
            for name, symbol in ((f"W{index}", W(index)), (f"b{index}", b(index))):
                shares = [p.shares[name] for p in passes]
                refs = tuple(Ref(Deriv(loss_sym(s + 1), symbol, f"s{k}"), f"s{k}")
                             for k, s in enumerate(group))
                total = carry.array(np.sum(shares, axis=0))
                share_lines = [next(q for q in p.share_lines if q.key == name) for p in passes]
                quantities.append(Quantity(
                    name, Role.GRAD, Deriv(LOSS, symbol, f"grad:{name}"), total,
                    Sum("i", Num(m), Deriv(Sym("L_i", "L", "i"), symbol, "si"), refs),
                    {f"s{k}": v for k, v in enumerate(shares)},
                    links={f"s{k}": q for k, q in enumerate(share_lines)}))
    grads = {q.key: q.value for q in quantities}
    quantities += update_lines(base.optimizer, setup.eta, carry, [
        (name, symbol, current, grads[name] if layer.trainable else None)
        for index, layer in enumerate(setup.layers, start=1)
        for name, symbol, current in ((f"W{index}", W(index), Ws[index - 1]),
                                      (f"b{index}", b(index), bs[index - 1]))],
        sources, {q.key: q for q in quantities})
    step = Step(number, [s + 1 for s in group], rows, quantities)
    return step, _matrix_view(setup, epoch, step, passes, grads) if matrix_view else None


def _matrix_view(setup: MLPSetup, epoch: int, step: Step, passes: list[Pass],
                 grads: dict[str, object]) -> Block:
    """The step as matrices: one row per sample for X, U, A, Δ; then Aᵀ·Δ summed."""
    samples = step.samples
    tables: list[Table] = []

    def per_sample(title: str, vectors: list[np.ndarray], prefix: str) -> None:
        width = len(vectors[0])
        tables.append(Table(title, ["sample"] + [f"{prefix}{j + 1}" for j in range(width)],
                            [[str(s)] + [float(v) for v in vec]
                             for s, vec in zip(samples, vectors)]))

    per_sample("X (one row per sample)", [p.acts[0] for p in passes], "x")
    count = len(setup.layers)
    for index in range(1, count + 1):
        per_sample(f"U{index} = A{index - 1}·W{index} + b{index}" if index > 1
                   else "U1 = X·W1 + b1", [p.pre[index - 1] for p in passes], "unit ")
        per_sample(f"A{index} = {setup.layers[index - 1].activation}(U{index})",
                   [p.acts[index] for p in passes], "unit ")
    for index in range(count, 0, -1):
        per_sample(f"Δ{index} = ∂L/∂U{index}", [p.deltas[index - 1] for p in passes], "unit ")
    for index in range(1, count + 1):
        if f"W{index}" not in grads:
            continue
        gw = np.asarray(grads[f"W{index}"])
        source = "X" if index == 1 else f"A{index - 1}"
        tables.append(Table(f"∂L/∂W{index} = {source}ᵀ·Δ{index} (summed over the samples)",
                            ["input"] + [f"unit {j + 1}" for j in range(gw.shape[1])],
                            [[str(i + 1)] + [float(v) for v in gw[i]]
                             for i in range(gw.shape[0])]))
        gb = np.asarray(grads[f"b{index}"])
        tables.append(Table(f"∂L/∂b{index} = column sums of Δ{index}",
                            [f"unit {j + 1}" for j in range(len(gb))],
                            [[float(v) for v in gb]]))
    return Block(f"Matrix view — epoch {epoch}, step {step.index}", [], tables)


def dataset_loss(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray],
                 sources: dict[str, Quantity] | None = None) -> Quantity:
    """L over the data set, each sample's loss linked to its (unshown) forward pass."""
    passes = [sample_pass(setup, Ws, bs, x, t, 1.0, 1, sources)
              for x, t in zip(setup.X, setup.Y)]
    values = [p.loss for p in passes]
    scale = setup.loss.scale(setup.n, setup.Y.shape[1])
    refs = tuple(Ref(Sym(f"l{i}", "ℓ", str(i + 1)), f"l{i}") for i in range(setup.n))
    summed = Sum("i", Sym("N", "N"), Sym("l_i", "ℓ", "i"), refs)
    return Quantity("loss", Role.LOSS, LOSS, setup.carry(scale * sum(values)),
                    _scaled(scale, summed), {f"l{i}": v for i, v in enumerate(values)},
                    links={f"l{i}": next(q for q in p.row if q.key == "L")
                           for i, p in enumerate(passes)})


def loss_and_gradients(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray]
                       ) -> tuple[float, dict[str, np.ndarray]]:
    """Full-batch loss and gradient at full precision (tests, finite differences)."""
    scale = setup.loss.scale(setup.n, setup.Y.shape[1])
    total = 0.0
    grads: dict[str, np.ndarray] = {}
    for x, t in zip(setup.X, setup.Y):
        result = sample_pass(setup, Ws, bs, x, t, scale, None)
        total += result.loss
        for k, v in result.shares.items():
            grads[k] = grads.get(k, 0) + v
    return total, grads


def solve(problem: Problem, label: str, options: RunOptions) -> Solved:
    """The registry's entry: the header and the run from one setup."""
    setup = setup_from(problem)
    symbolic = asks_formulas(problem, options)
    header = header_of(problem, setup, symbolic)
    return Solved(*solve_run(problem, label, setup, symbolic), header)


def solve_run(problem: Problem, label: str, setup: MLPSetup | None = None,
              symbolic: bool = False) -> tuple[Run, list[Diagnostic]]:
    setup = setup or setup_from(problem)
    carry = setup.carry
    Ws = [carry.array(layer.weights) for layer in setup.layers]
    bs = [carry.array(layer.bias) for layer in setup.layers]
    names = [f"{k}{i + 1}" for i in range(len(Ws)) for k in ("W", "b")]
    settings = _settings(problem, setup, symbolic)
    if symbolic:  # formulas (and their values, if numbers are given)
        from gdtrace.symbolic import mlp_run

        return mlp_run(problem, setup, label, settings, names), []
    base = setup.base
    rng = np.random.default_rng(base.shuffle_seed) if base.shuffle_seed is not None else None
    between = Carry(base.schedule.round_between)
    total_steps = problem.epochs * sum(1 for _ in base.groups(None))
    epochs: list[Epoch] = []
    blocks: list[Block] = []
    diagnostics: list[Diagnostic] = []
    number = 0
    stopped = False
    sources: dict[str, Quantity] = {}  # W1, b1 … → the line that wrote it last
    with np.errstate(all="ignore"):
        for e in range(1, problem.epochs + 1):
            line = dataset_loss(setup, Ws, bs, sources)
            epoch = Epoch(e, float(line.value), [], line)
            epochs.append(epoch)
            for group in base.groups(rng if base.update != "batch" else None):
                number += 1
                shown = len(group) > 1 and len(blocks) < MATRIX_VIEW_STEPS
                step, block = _step(setup, number, e, group, Ws, bs, sources, shown)
                if block is not None:
                    blocks.append(block)
                if not keep_step(epoch, step, label, diagnostics):
                    stopped = True
                    break
                params = {q.key: np.asarray(q.value, dtype=float)
                          for q in step.of_role(Role.PARAM)}
                sources = {q.key: q for q in step.of_role(Role.PARAM)}
                if base.schedule.round_between is not None and number < total_steps:
                    params = {k: between.array(v) for k, v in params.items()}
                    rounded = [Quantity(
                        f"{k} (rounded)", Role.VALUE, W(int(k[1:])) if k[0] == "W"
                        else b(int(k[1:])), v, relation="≈",
                        links={"value": sources[k]}, rounded=base.schedule.round_between)
                        for k, v in params.items()]
                    step.quantities += rounded
                    sources = {q.key.removesuffix(" (rounded)"): q for q in rounded}
                Ws = [params[f"W{i + 1}"] for i in range(len(Ws))]
                bs = [params[f"b{i + 1}"] for i in range(len(bs))]
            if stopped:
                break
        final_loss = float(dataset_loss(setup, Ws, bs).value)
    final: dict[str, object] = {}
    for i in range(len(Ws)):
        final[f"W{i + 1}"] = Ws[i]
        final[f"b{i + 1}"] = bs[i]
    run = Run(label, settings, epochs, final, final_loss, names,  # type: ignore[arg-type]
              blocks=blocks, stopped_early=stopped)
    return run, diagnostics


def row_values(setup: MLPSetup, numbers: Numbers) -> dict[str, np.ndarray | float]:
    """One sample's values by the keys its worked lines have (the JSON's ``values``), in the
    same order; tests check both agree."""
    count = len(setup.layers)
    out: dict[str, np.ndarray | float] = {}
    for index in range(1, count + 1):
        out[f"u{index}"] = numbers.pre[index - 1]
        out[f"a{index}"] = numbers.acts[index]
    out["L"] = numbers.loss

    def local(index: int) -> None:
        if index in numbers.fps:
            out[f"f'(u{index})"] = numbers.fps[index]
        out[f"delta{index}"] = numbers.deltas[index - 1]

    if numbers.out_grad is None:
        out[f"delta{count}"] = numbers.deltas[-1]
    else:
        out["dL/dy"] = numbers.out_grad
        local(count)
    for index in range(count - 1, 0, -1):
        out[f"dL/da{index}"] = numbers.backs[index]
        local(index)
    return out


def events(problem: Problem, label: str = "as written", *, steps: bool = True,
           max_steps: int | None = None, progress: Callable[[int, int], None] | None = None,
           finished: list[Any] | None = None) -> Iterator[Any]:
    """The run as ``--summary``/``--stream`` events, computed as numbers only (no worked
    lines, nothing kept between steps): :func:`pass_numbers` per sample, the optimizer's
    :meth:`~gdtrace.optimizers.Optimizer.values` per step."""
    from gdtrace.solvers.checks import non_finite_message
    from gdtrace.streaming import EpochEnd, EpochStart, RunStart, StepDone, planned_steps, run_end

    setup = setup_from(problem)
    carry, base = setup.carry, setup.base
    Ws = [carry.array(layer.weights) for layer in setup.layers]
    bs = [carry.array(layer.bias) for layer in setup.layers]
    names = [f"{k}{i + 1}" for i in range(len(Ws)) for k in ("W", "b")]
    trainable = {name: setup.layers[int(name[1:]) - 1].trainable for name in names}
    planned = planned_steps(problem)
    limit = planned if max_steps is None else min(planned, max_steps)
    first = pass_numbers(setup, Ws, bs, setup.X[0], setup.Y[0], 1.0)
    yield RunStart(label, names, list(row_values(setup, first)), limit,
                   _settings(problem, setup))
    rng = np.random.default_rng(base.shuffle_seed) if base.shuffle_seed is not None else None
    between = Carry(base.schedule.round_between)
    optimizer = base.optimizer
    diagnostics: list[Diagnostic] = []
    number, stopped = 0, False
    n_scale = setup.loss.scale(setup.n, setup.Y.shape[1])

    def data_loss() -> float:
        acts = [forward(setup, Ws, bs, x)[0][-1] for x in setup.X]
        return carry(n_scale * sum(sample_loss(setup, yhat, t, 1.0)
                                   for yhat, t in zip(acts, setup.Y)))

    params = dict(zip(names, [m for pair in zip(Ws, bs) for m in pair]))
    with np.errstate(all="ignore"):
        for e in range(1, problem.epochs + 1):
            if number >= limit:
                break
            yield EpochStart(e, data_loss())
            for group in base.groups(rng if base.update != "batch" else None):
                if number >= limit:
                    break
                number += 1
                scale = setup.loss.scale(len(group), setup.Y.shape[1])
                passes = [pass_numbers(setup, Ws, bs, setup.X[s], setup.Y[s], scale)
                          for s in group]
                grads = {name: (passes[0].shares[name] if len(group) == 1 else
                                carry.array(np.sum([p.shares[name] for p in passes], axis=0)))
                         for name in names if trainable[name]}
                live = [name for name in names if trainable[name]]
                moved, state = optimizer.values(live, [params[n] for n in live],
                                                [grads[n] for n in live])
                params.update(zip(live, moved))
                bad = next((n for n in live if not np.all(np.isfinite(params[n]))), None)
                if steps:
                    rows = [row_values(setup, p) for p in passes]
                    if len(rows) > 1:  # each sample's share of the gradient, as worked
                        for row, p in zip(rows, passes):
                            row.update({f"dL/d{k}": v for k, v in p.shares.items()})
                    values = rows[0] if len(rows) == 1 else \
                        {k: [r[k] for r in rows] for k in rows[0]}
                    yield StepDone(e, number, [s + 1 for s in group], values | state, grads,
                                   dict(params))
                if progress is not None:
                    progress(number, limit)
                if bad is not None:
                    diagnostics.append(Diagnostic("non_finite", non_finite_message(
                        f"the updated {bad}", params[bad]), label, e, number))
                    stopped = True
                    break
                if base.schedule.round_between is not None and number < planned:
                    params = {k: between.array(v) for k, v in params.items()}
                Ws = [params[f"W{i + 1}"] for i in range(len(Ws))]
                bs = [params[f"b{i + 1}"] for i in range(len(bs))]
            yield EpochEnd(e, number, dict(params))
            if stopped:
                break
        final_loss = data_loss()
    yield run_end(dict(params), final_loss, diagnostics, stopped, number, limit, planned, label,
                  finished)


def _settings(problem: Problem, setup: MLPSetup, symbolic: bool = False) -> dict[str, object]:
    from gdtrace.solvers.network import _settings as network_settings

    return network_settings(problem, setup.base, symbolic)


def header(problem: Problem, options: RunOptions) -> Header:
    return header_of(problem, setup_from(problem), asks_formulas(problem, options))


def header_of(problem: Problem, setup: MLPSetup, symbolic: bool) -> Header:
    from gdtrace.solvers.network import update_text

    formula_only = problem.spec_of(MlpSpec).formula_only
    formulas: list[Formula] = []
    count = len(setup.layers)
    for index, layer in enumerate(setup.layers, start=1):
        formulas.append(Formula(u(index), a(index - 1) * W(index) + b(index),
                                f"layer {index}: W{index} is "
                                f"{layer.weights.shape[0]}×{layer.weights.shape[1]}"))
        formulas.append(Formula(a(index), _act(layer).formula(u(index)), layer.activation))
    t = setup.target
    if setup.loss.paired is not None:
        formulas.append(Formula(delta(count), a(count) - t, f"{setup.loss.paired} output with "
                                f"{setup.loss.name} (× the loss's 1/N factor)"))
    else:
        formulas.append(Formula(Deriv(LOSS, a(count), "g"),
                                setup.loss.derivative_formula(a(count), t),
                                "per sample (× 1/(N·K) or 1/N when the loss averages)"))
        formulas.append(Formula(delta(count), Deriv(LOSS, a(count), "g")
                                * Func("f'", (u(count),)), "at the output"))
    formulas.append(Formula(Sym("delta_l", "δ", "l"), Sym("dn", "δ", "l+1")
                            * transpose(Sym("Wn", "W", "l+1")) * Func("f'", (Sym("ul", "u", "l"),)),
                            "going back (elementwise product with f')"))
    formulas.append(Formula(Deriv(LOSS, Sym("Wl", "W", "l"), "g"),
                            transpose(Sym("al", "a", "l-1")) * Sym("delta_l", "δ", "l"),
                            "per sample; a step sums them (a₀ = x)"))
    formulas.append(Formula(Deriv(LOSS, Sym("bl", "b", "l"), "g"), Sym("delta_l", "δ", "l"),
                            "per sample"))
    if not formula_only:
        formulas += update_rules(setup.base, "update (W and b)")
    if symbolic:
        from gdtrace.symbolic import mlp_gradients

        formulas += mlp_gradients(setup.layers, setup.loss, setup.target.base)
    notes = ["vectors are rows: x is 1×inputs, W is inputs×units, u = x·W + b is 1×units",
             "Lᵢ is sample i's share of L when a step adds several samples: L = Σᵢ Lᵢ"]
    frozen = [f"W{i}, b{i}" for i, layer in enumerate(setup.layers, 1) if not layer.trainable]
    if frozen:
        notes.append(f"frozen (trainable: false), kept at their values: {'; '.join(frozen)}")
    update = "none: the formulas alone" if formula_only else update_text(setup.base)
    return Header("multilayer perceptron", setup.loss.description, update,
                  formulas, _settings(problem, setup, symbolic), notes)


__all__ = ["ACTIVATIONS", "solve", "solve_run", "header", "to_graph"]
