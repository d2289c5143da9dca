"""Layered networks (``model: mlp``) in matrix form, worked sample by sample and summed.

Per sample (row vectors): uₗ = aₗ₋₁·Wₗ + bₗ, aₗ = fₗ(uₗ) with a₀ = x; the sample's loss;
δ_L = ∂L/∂u_L at the output, δₗ = (δₗ₊₁·Wₗ₊₁ᵀ)·fₗ'(uₗ) (elementwise) going back, and the
sample's gradient shares aₗ₋₁ᵀ·δₗ and δₗ. A step sums the shares (the loss's 1/(N·K) factor is
already inside δ) and updates W and b through :func:`gdtrace.solvers.network.update_lines`
(plain gradient descent or the problem's optimizer).
Each step also gets a matrix view (U = XW + b, Δ, ∂L/∂W = Aᵀ·Δ) as tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdtrace.formula.expr import Deriv, Expr, Func, Num, Pow, Ref, Sum, Sym, Text
from gdtrace.formula.functions import ACTIVATIONS, OUTPUT_LOSSES, Activation, OutputLoss
from gdtrace.formula.rounding import Carry
from gdtrace.problem.model import Problem
from gdtrace.problem.network_models import Edge, Graph, Layer, MlpSpec, Node, Param
from gdtrace.solvers import RunOptions, Solved, asks_formulas
from gdtrace.solvers.checks import keep_step
from gdtrace.solvers.network import (
    LOSS,
    Setup,
    activation_of,
    link_lines,
    loss_sym,
    scaled,
    unsampled,
    update_lines,
    update_rules,
)
from gdtrace.solvers.optimizers import Optimizer, make_optimizer
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
    Value,
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


CHUNK = 1024
"""Most samples in one block of matrix products: a step or an epoch's loss over more samples
runs block by block, so memory stays bounded (a 10 000-sample batch keeps ten blocks' numbers,
never a 10 000 × units × units array)."""


@dataclass
class BlockNumbers:
    """A block of samples' forward and backward pass, one row per sample, each value
    carry-rounded as it is written: Aₗ = fₗ(Aₗ₋₁·Wₗ + bₗ) for all the rows in one matrix
    product. The worked lines of sample i are written from :meth:`sample`; ``--summary`` and
    ``--stream`` use the block alone."""

    acts: list[np.ndarray]  # A₀ = X (rows × inputs), A₁ … A_L
    pre: list[np.ndarray]  # U₁ … U_L
    losses: list[float]  # each sample's loss, × scale
    sums: list[float]  # each sample's summed loss terms (before the scale)
    out_grad: np.ndarray | None  # ∂L/∂Ŷ (None when a paired loss gives Δ_L = Ŷ − T directly)
    backs: dict[int, np.ndarray]  # ∂L/∂Aₗ for the hidden layers
    fps: dict[int, np.ndarray]  # fₗ'(Uₗ) where the worked lines write it
    deltas: list[np.ndarray]  # Δ₁ … Δ_L

    def shares(self, setup: MLPSetup, i: int) -> dict[str, np.ndarray]:
        """Sample i's shares of the gradient: aₗ₋₁ᵀ·δₗ (the outer product) and δₗ."""
        shares: dict[str, np.ndarray] = {}
        for index, layer in enumerate(setup.layers, start=1):
            if layer.trainable:
                d = self.deltas[index - 1][i]
                outer = self.acts[index - 1][i][:, None] * d[None, :]  # as np.outer computes
                shares[f"W{index}"] = setup.carry.array(outer)
                shares[f"b{index}"] = d
        return shares

    def sample(self, setup: MLPSetup, i: int) -> Numbers:
        """Row i as one sample's numbers, with its gradient shares."""
        shares = self.shares(setup, i)
        return Numbers([m[i] for m in self.acts], [m[i] for m in self.pre], self.losses[i],
                       None if self.out_grad is None else self.out_grad[i],
                       {k: v[i] for k, v in self.backs.items()},
                       {k: v[i] for k, v in self.fps.items()}, [m[i] for m in self.deltas],
                       shares)


def forward(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray
            ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(A₀ … A_L, U₁ … U_L) of a block of rows: Uₗ = Aₗ₋₁·Wₗ + bₗ, Aₗ = fₗ(Uₗ),
    carry-rounded."""
    carry = setup.carry
    acts, pre = [x], []
    for layer, weights, bias in zip(setup.layers, Ws, bs):
        value = carry.array(acts[-1] @ weights + bias)
        pre.append(value)
        acts.append(carry.array(_act(layer).forward(value)))
    return acts, pre


def loss_sums(setup: MLPSetup, yhat: np.ndarray, t: np.ndarray) -> list[float]:
    """Each row's summed loss terms; its loss is carry(scale × this)."""
    return list(np.sum(setup.loss.term(yhat, t), axis=-1).tolist())


def block_numbers(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], X: np.ndarray,
                  T: np.ndarray, scale: float) -> BlockNumbers:
    """The forward and backward pass of a block of samples (``scale``: the loss's 1/(N·K))."""
    carry, loss = setup.carry, setup.loss
    acts, pre = forward(setup, Ws, bs, X)
    count = len(setup.layers)
    yhat = acts[-1]
    fps: dict[int, np.ndarray] = {}
    deltas: list[np.ndarray] = [np.zeros(0)] * count

    def local(index: int, g: np.ndarray) -> np.ndarray:
        """Δ = ∂L/∂A·f'(U) (elementwise); softmax uses its Jacobian."""
        act = _act(setup.layers[index - 1])
        if act.backward is not None:
            return carry.array(act.backward(acts[index], g))
        if act.name == "linear":
            return carry.array(g)
        fps[index] = carry.array(act.derivative(pre[index - 1], acts[index]))
        return carry.array(g * fps[index])

    out_grad = None
    if loss.paired is not None:
        deltas[-1] = carry.array(scale * (yhat - T))
    else:
        out_grad = carry.array(scale * loss.derivative(yhat, T))
        deltas[-1] = local(count, out_grad)
    backs: dict[int, np.ndarray] = {}
    for index in range(count - 1, 0, -1):
        backs[index] = carry.array(deltas[index] @ Ws[index].T)
        deltas[index - 1] = local(index, backs[index])
    sums = loss_sums(setup, yhat, T)
    return BlockNumbers(acts, pre, [carry(scale * v) for v in sums], sums, out_grad, backs, fps,
                        deltas)


def step_numbers(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray],
                 group: list[int], scale: float) -> tuple[list[BlockNumbers], dict[str, Any]]:
    """A step's samples block by block (:data:`CHUNK`), and the step's gradient Σᵢ of each
    sample's share: one sample's share as it is; several samples' shares summed in order
    when they are carry-rounded (each share is written rounded), else as matrix products
    Aₗ₋₁ᵀ·Δₗ block by block (the same sum without an array per sample)."""
    rows = np.asarray(group)
    blocks = [block_numbers(setup, Ws, bs, setup.X[rows[k:k + CHUNK]],
                            setup.Y[rows[k:k + CHUNK]], scale)
              for k in range(0, len(group), CHUNK)]
    grads: dict[str, Any] = {}
    if len(group) == 1 or setup.carry.decimals is not None:
        shares = [block.shares(setup, i) for block in blocks for i in range(len(block.losses))]
        for name in shares[0]:
            total = shares[0][name]
            if len(shares) > 1:
                total = setup.carry.array(np.sum([p[name] for p in shares], axis=0))
            grads[name] = total
        return blocks, grads
    for index, layer in enumerate(setup.layers, start=1):
        if layer.trainable:
            parts = [(blk.acts[index - 1].T @ blk.deltas[index - 1],
                      np.sum(blk.deltas[index - 1], axis=0)) for blk in blocks]
            grads[f"W{index}"] = sum_in_order([w for w, _ in parts])
            grads[f"b{index}"] = sum_in_order([g for _, g in parts])
    return blocks, grads


def sum_in_order(parts: list[np.ndarray]) -> np.ndarray:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def pass_numbers(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray,
                 t: np.ndarray, scale: float) -> Numbers:
    """The forward and backward pass of one sample alone (a block of one row)."""
    return block_numbers(setup, Ws, bs, np.asarray(x, dtype=float)[None, :],
                         np.asarray(t, dtype=float)[None, :], scale).sample(setup, 0)


def data_loss(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray],
              blocks: list[BlockNumbers] | None = None) -> float:
    """L over the data set as :func:`dataset_loss` writes it, block by block; ``blocks``: a
    step's blocks over every sample in file order at these parameters (their forward pass is
    the same)."""
    sums: list[float] = []
    if blocks is not None:
        sums = [v for block in blocks for v in block.sums]
    else:
        for k in range(0, setup.n, CHUNK):
            yhat = forward(setup, Ws, bs, setup.X[k:k + CHUNK])[0][-1]
            sums += loss_sums(setup, yhat, setup.Y[k:k + CHUNK])
    carry = setup.carry
    scale = setup.loss.scale(setup.n, setup.Y.shape[1])
    return carry(scale * sum(carry(1.0 * v) for v in sums))


def sample_pass(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray,
                t: np.ndarray, scale: float, sample: int | None,
                sources: dict[str, Quantity] | None = None,
                numbers: Numbers | None = None) -> Pass:
    """One sample's worked lines, written from its numbers (its row of the step's
    :class:`BlockNumbers`, or :func:`pass_numbers` of the sample alone); ``sources`` are the
    lines the parameters come from, by name (none: the starting values)."""
    loss = setup.loss
    if numbers is None:
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
    ops: dict[str, Value] = {f"y{k}": float(v) for k, v in enumerate(yhat)}
    ops |= {f"t{k}": float(v) for k, v in enumerate(t)}
    if len(t) == 1:  # one output: no sum over k
        body = loss.term_formula(Ref(yhat_sym, "y0"), Ref(t_sym, "t0"))
    row.append(Quantity("L", Role.VALUE, L, numbers.loss, scaled(scale, body), ops))
    # backward -----------------------------------------------------------------------------
    if numbers.out_grad is None:
        row.append(Quantity(f"delta{count}", Role.VALUE, delta(count), deltas[-1],
                            scaled(scale, yhat_sym - t_sym), {yhat_sym.key: yhat, "t": t}))
    else:
        g_sym = Deriv(L, a(count), "dLdy")
        row.append(Quantity("dL/dy", Role.VALUE, g_sym, numbers.out_grad,
                            scaled(scale, loss.derivative_formula(yhat_sym, t_sym)),
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
    m = len(group)
    scale = setup.loss.scale(m, setup.Y.shape[1])
    single = m == 1
    blocks, grads = step_numbers(setup, Ws, bs, group, scale)
    numbers = [block.sample(setup, i) for block in blocks for i in range(len(block.losses))]
    passes = []
    rows = []
    base = setup.base
    for s, sample_numbers in zip(group, numbers):
        if setup.units:
            result = unit_pass(setup, Ws, bs, setup.X[s], setup.Y[s], scale,
                               None if single else s + 1, sources)
        else:
            result = sample_pass(setup, Ws, bs, setup.X[s], setup.Y[s], scale,
                                 None if single else s + 1, sources, sample_numbers)
        passes.append(result)
        rows.append(_sample_row(setup, s, result, single))
    quantities: list[Quantity] = []
    if single:
        quantities += passes[0].share_lines
    else:
        quantities += _gradient_sums(setup, group, passes, grads)
    totals = {q.key: q.value for q in quantities}
    quantities += update_lines(base.optimizer, setup.eta, setup.carry, [
        (name, symbol, current, totals[name] if layer.trainable else None)
        for index, layer in enumerate(setup.layers, start=1)
        for name, symbol, current in ((f"W{index}", W(index), Ws[index - 1]),
                                      (f"b{index}", b(index), bs[index - 1]))],
        sources, {q.key: q for q in quantities})
    step = Step(number, [s + 1 for s in group], rows, quantities)
    return step, _matrix_view(setup, epoch, step, passes, totals) if matrix_view else None


def _sample_row(setup: MLPSetup, s: int, result: Pass, single: bool) -> list[Quantity]:
    """Sample s's row of the step: its inputs and targets, its pass, and (in a step of
    several samples) its shares of the gradient."""
    graph = setup.base.graph
    inputs = [Quantity(name, Role.INPUT, Sym(f"input:{name}", name), float(v))
              for name, v in zip(graph.inputs, setup.X[s])]
    inputs += [Quantity(name, Role.INPUT, Sym(f"target:{name}", name), float(v))
               for name, v in zip(graph.targets, setup.Y[s])]
    extra = [] if single else [
        Quantity(f"dL/d{q.key}", Role.VALUE, q.symbol, q.value, q.formula, q.operands,
                 links=q.links) for q in result.share_lines]
    row = inputs + result.row + extra
    if not single:
        for q in row:
            q.heading = q.heading or unsampled(q.symbol)
    return row


def _gradient_sums(setup: MLPSetup, group: list[int], passes: list[Pass],
                   grads: dict[str, Any]) -> list[Quantity]:
    """∂L/∂W = Σᵢ of the samples' shares, for a step of several samples: the kernel's sum
    (:func:`step_numbers`), or the written shares' sum unit by unit (``worked: units``)."""
    quantities = []
    for index, layer in enumerate(setup.layers, start=1):
        if not layer.trainable:
            continue
        for name, symbol in ((f"W{index}", W(index)), (f"b{index}", b(index))):
            shares = [p.shares[name] for p in passes]
            refs = tuple(Ref(Deriv(loss_sym(s + 1), symbol, f"s{k}"), f"s{k}")
                         for k, s in enumerate(group))
            total = setup.carry.array(np.sum(shares, axis=0)) if setup.units else grads[name]
            share_lines = [next(q for q in p.share_lines if q.key == name) for p in passes]
            quantities.append(Quantity(
                name, Role.GRAD, Deriv(LOSS, symbol, f"grad:{name}"), total,
                Sum("i", Num(len(group)), Deriv(Sym("L_i", "L", "i"), symbol, "si"), refs),
                {f"s{k}": v for k, v in enumerate(shares)},
                links={f"s{k}": q for k, q in enumerate(share_lines)}))
    return quantities


def _matrix_view(setup: MLPSetup, epoch: int, step: Step, passes: list[Pass],
                 grads: dict[str, Value]) -> Block:
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
    blocks = [block_numbers(setup, Ws, bs, setup.X[k:k + CHUNK], setup.Y[k:k + CHUNK], 1.0)
              for k in range(0, setup.n, CHUNK)]  # the losses are data_loss's
    numbers = [block.sample(setup, i) for block in blocks for i in range(len(block.losses))]
    values = [n.loss for n in numbers]
    passes = [sample_pass(setup, Ws, bs, x, t, 1.0, 1, sources, n)
              for x, t, n in zip(setup.X, setup.Y, numbers)]
    scale = setup.loss.scale(setup.n, setup.Y.shape[1])
    refs = tuple(Ref(Sym(f"l{i}", "ℓ", str(i + 1)), f"l{i}") for i in range(setup.n))
    summed = Sum("i", Sym("N", "N"), Sym("l_i", "ℓ", "i"), refs)
    return Quantity("loss", Role.LOSS, LOSS, setup.carry(scale * sum(values)),
                    scaled(scale, summed), {f"l{i}": v for i, v in enumerate(values)},
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
        from gdtrace.solvers.symbolic import mlp_run

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


@dataclass
class _Running:
    """A numbers-only run's state between steps."""

    params: dict[str, np.ndarray]  # W1, b1, W2 … in that order
    limit: int  # steps to take (--max-steps)
    total: int  # steps the problem plans (no rounding after the last)
    number: int = 0
    stopped: bool = False
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def matrices(self, count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return ([self.params[f"W{i + 1}"] for i in range(count)],
                [self.params[f"b{i + 1}"] for i in range(count)])


def events(problem: Problem, label: str = "as written", *, steps: bool = True,
           max_steps: int | None = None, progress: Callable[[int, int], None] | None = None,
           finished: list[Any] | None = None) -> Iterator[Any]:
    """The run as ``--summary``/``--stream`` events, computed as numbers only (no worked
    lines, nothing kept between steps): :func:`step_numbers` per step (all its samples as
    matrix products), the optimizer's :meth:`~gdtrace.solvers.optimizers.Optimizer.values`."""
    from gdtrace.solvers.network import epoch_groups
    from gdtrace.solvers.streaming import EpochEnd, RunStart, planned_steps, run_end

    setup = setup_from(problem)
    carry, base = setup.carry, setup.base
    names = [f"{k}{i + 1}" for i in range(len(setup.layers)) for k in ("W", "b")]
    planned = planned_steps(problem)
    params = {f"{k}{i + 1}": carry.array(getattr(layer, "weights" if k == "W" else "bias"))
              for i, layer in enumerate(setup.layers) for k in ("W", "b")}
    run = _Running(params, planned if max_steps is None else min(planned, max_steps),
                   problem.epochs * sum(1 for _ in base.groups(None)))
    keys: list[str] = []
    if steps:
        first = pass_numbers(setup, *run.matrices(len(setup.layers)), setup.X[0], setup.Y[0],
                             1.0)
        keys = list(row_values(setup, first))
    yield RunStart(label, names, keys, run.limit, _settings(problem, setup))
    with np.errstate(all="ignore"):
        for e, groups in enumerate(epoch_groups(base, problem.epochs), start=1):
            if run.number >= run.limit:
                break
            yield from _epoch(setup, run, e, groups, steps, label, progress)
            yield EpochEnd(e, run.number, dict(run.params))
            if run.stopped:
                break
        final_loss = data_loss(setup, *run.matrices(len(setup.layers)))
    yield run_end(dict(run.params), final_loss, run.diagnostics, run.stopped, run.number,
                  run.limit, planned, label, finished)


def _epoch(setup: MLPSetup, run: _Running, epoch: int, groups: list[list[int]], steps: bool,
           label: str, progress: Callable[[int, int], None] | None) -> Iterator[Any]:
    """One epoch: the loss at its start (from the first step's forward pass when that step
    is every sample in file order), then each step."""
    from gdtrace.solvers.checks import non_finite_step
    from gdtrace.solvers.streaming import EpochStart, StepDone

    base, count = setup.base, len(setup.layers)
    live = [f"{k}{i}" for i, layer in enumerate(setup.layers, 1) if layer.trainable
            for k in ("W", "b")]
    whole = list(range(setup.n))
    for k, group in enumerate(groups):
        if run.number >= run.limit:
            break
        Ws, bs = run.matrices(count)
        scale = setup.loss.scale(len(group), setup.Y.shape[1])
        blocks, grads = step_numbers(setup, Ws, bs, group, scale)
        if k == 0:
            reuse = blocks if group == whole else None
            yield EpochStart(epoch, data_loss(setup, Ws, bs, reuse))
        run.number += 1
        before, optimizer = dict(run.params), base.optimizer
        assert optimizer is not None
        saved = dict(optimizer.state), optimizer.t
        moved, state, written = _update(optimizer, live, [run.params[n] for n in live],
                                        [grads[n] for n in live], keyed=steps)
        run.params.update(zip(live, moved))
        if steps:
            yield StepDone(epoch, run.number, [s + 1 for s in group],
                           _step_values(setup, blocks) | state, grads, dict(run.params))
        if progress is not None:
            progress(run.number, run.limit)
        if not _all_finite(blocks, written):
            bad = _verdict(setup, run.number, epoch, group, before, live, saved)
            if bad is not None:
                run.diagnostics.append(non_finite_step(bad, label, epoch, run.number))
                run.stopped = True
                run.params = before  # the run ends where the failing step started, as worked
                break
        if base.schedule.round_between is not None and run.number < run.total:
            between = Carry(base.schedule.round_between)
            run.params = {k: between.array(v) for k, v in run.params.items()}


def _update(optimizer: Optimizer | None, live: list[str], values: list[Value],
            grads: list[Value], keyed: bool
            ) -> tuple[list[np.ndarray], dict[str, Any], list[np.ndarray]]:
    """The step's new parameters, the state values it writes (``keyed``: by key, as the
    worked step writes them) and the arrays holding every gradient, state and new value (for
    :func:`_all_finite`). Without the keys, an optimizer with state updates every parameter as
    one vector θ: its rules are elementwise, so the numbers are the same, and one call instead
    of one per matrix keeps its per-call cost small (and the check's)."""
    assert optimizer is not None
    if keyed or optimizer.plain or not live:
        moved, state = optimizer.values(live, values, grads)
        arrays = [np.asarray(m, dtype=float) for m in moved]
        return arrays, state, [*map(np.asarray, grads), *map(np.asarray, state.values()),
                               *arrays]
    flat_grads = np.concatenate([np.ravel(g) for g in grads])
    flat, state = optimizer.values(["θ"], [np.concatenate([np.ravel(v) for v in values])],
                                   [flat_grads])
    new = np.asarray(flat[0])
    return _split(new, values), {}, [flat_grads, *map(np.asarray, state.values()), new]


def _split(flat: np.ndarray, like: Sequence[Value]) -> list[np.ndarray]:
    """One vector θ back as arrays shaped as ``like``."""
    ends = np.cumsum([np.size(v) for v in like])[:-1]
    return [part.reshape(np.shape(v)) for part, v in zip(np.split(flat, ends), like)]


def _all_finite(blocks: list[BlockNumbers], arrays: list[Any]) -> bool:
    """Whether every value a step writes is finite: each sample's row (inputs, u, a, L,
    ∂L/∂ŷ, ∂L/∂a, f'(u), δ), the gradients (a sample's share aₗ₋₁ᵀ·δₗ is a term of them: an
    infinite share makes the sum infinite or NaN), the optimizer's state lines and the new
    parameters. One vectorised test: cheap next to the step's matrix products."""
    for block in blocks:  # many small arrays of one row per sample: tested side by side
        parts = [*block.acts, *block.pre, *block.backs.values(), *block.fps.values(),
                 *block.deltas]
        if block.out_grad is not None:
            parts.append(block.out_grad)
        if not (math.isfinite(sum(block.losses))
                and np.isfinite(np.concatenate(parts, axis=1)).all()):
            return False  # (a sum with a term that is not finite is not finite)
    return all(np.isfinite(array).all() for array in arrays)


def _verdict(setup: MLPSetup, number: int, epoch: int, group: list[int],
             before: dict[str, np.ndarray], live: list[str],
             saved: tuple[dict[str, Any], int]) -> Quantity | None:
    """The first value the step writes that is not finite, found by writing the step the
    worked way from the parameters ``before`` and the optimizer's state as it was
    (``saved``: its state and t before :func:`_update`; a state kept for one
    vector θ is split back by parameter). The optimizer ends as :func:`_update` left it."""
    from gdtrace.solvers.checks import first_non_finite

    optimizer = setup.base.optimizer
    assert optimizer is not None
    state = dict(saved[0])
    theta = state.pop("θ", None)
    if theta is not None:
        like = [before[n] for n in live]
        split = {kind: _split(np.asarray(v, dtype=float), like) for kind, v in theta.items()}
        state |= {n: {kind: parts[j] for kind, parts in split.items()}
                  for j, n in enumerate(live)}
    count = len(setup.layers)
    with optimizer.resumed(state, saved[1]):
        step, _ = _step(setup, number, epoch, group, [before[f"W{i + 1}"] for i in range(count)],
                        [before[f"b{i + 1}"] for i in range(count)], matrix_view=False)
    return first_non_finite(step)


def _step_values(setup: MLPSetup, blocks: list[BlockNumbers]) -> dict[str, Any]:
    """The step's per-sample values by key, as its worked rows write them."""
    numbers = [block.sample(setup, i) for block in blocks for i in range(len(block.losses))]
    rows = [row_values(setup, n) for n in numbers]
    if len(rows) == 1:
        return dict(rows[0])
    for row, n in zip(rows, numbers):  # each sample's share of the gradient, as worked
        row.update({f"dL/d{k}": v for k, v in n.shares.items()})
    return {k: [r[k] for r in rows] for k in rows[0]}


def _settings(problem: Problem, setup: MLPSetup, symbolic: bool = False) -> dict[str, object]:
    from gdtrace.solvers.network import run_settings

    return run_settings(problem, setup.base, symbolic)


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
        from gdtrace.solvers.symbolic import mlp_gradients

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
