"""Layered networks (``model: mlp``) in matrix form, worked sample by sample and summed.

Per sample (row vectors): uₗ = aₗ₋₁·Wₗ + bₗ, aₗ = fₗ(uₗ) with a₀ = x; the sample's loss;
δ_L = ∂L/∂u_L at the output, δₗ = (δₗ₊₁·Wₗ₊₁ᵀ)·fₗ'(uₗ) (elementwise) going back, and the
sample's gradient shares aₗ₋₁ᵀ·δₗ and δₗ. A step sums the shares (the loss's 1/(N·K) factor is
already inside δ) and updates W and b through :func:`gdtrace.solvers.network.update_lines`
(plain gradient descent or the problem's optimizer).
Each step also gets a matrix view (U = XW + b, Δ, ∂L/∂W = Aᵀ·Δ) as tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdtrace.expr import Deriv, Expr, Func, Num, Pow, Ref, Sum, Sym, Text
from gdtrace.functions import ACTIVATIONS, OUTPUT_LOSSES, Activation, OutputLoss
from gdtrace.optimizers import make_optimizer
from gdtrace.problem.model import Problem
from gdtrace.problem.network_models import Edge, Graph, Layer, Node, Param
from gdtrace.rounding import Carry
from gdtrace.solvers.checks import keep_step
from gdtrace.solvers.network import (
    LOSS,
    Setup,
    _scaled,
    activation_of,
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
    batch = {"sgd": 1, "batch": dataset.n}.get(problem.update, problem.batch_size or 1)
    loss = OUTPUT_LOSSES[problem.loss]
    base = Setup(to_graph(problem.extra["layers"], dataset.features, dataset.targets), loss,
                 dataset.X, dataset.Y, problem.learning_rate, Carry(problem.carry_decimals),
                 problem.extra["schedule"], problem.update, min(batch, dataset.n),
                 problem.shuffle_seed, make_optimizer(problem.optimizer, problem.learning_rate,
                                                      Carry(problem.carry_decimals)))
    return MLPSetup(problem.extra["layers"], loss, dataset.X.astype(float),
                    dataset.Y.astype(float), problem.learning_rate,
                    Carry(problem.carry_decimals), base, tuple(dataset.targets),
                    problem.extra.get("worked") == "units")


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


def sample_pass(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray,
                t: np.ndarray, scale: float, sample: int | None) -> Pass:
    carry, loss = setup.carry, setup.loss
    L = loss_sym(sample)
    row: list[Quantity] = []
    acts = [x]
    pre: list[np.ndarray] = []
    count = len(setup.layers)
    for index, layer in enumerate(setup.layers, start=1):
        prev = acts[-1]
        value = carry.array(prev @ Ws[index - 1] + bs[index - 1])
        pre.append(value)
        row.append(Quantity(f"u{index}", Role.VALUE, u(index), value, a(index - 1) * W(index)
                            + b(index), {a(index - 1).key: prev, W(index).key: Ws[index - 1],
                                         b(index).key: bs[index - 1]}))
        act = _act(layer)
        out = carry.array(act.forward(value))
        acts.append(out)
        row.append(Quantity(f"a{index}", Role.VALUE, a(index), out, act.formula(u(index)),
                            {u(index).key: value}))
    yhat_sym, t_sym = a(count), setup.target
    yhat = acts[-1]
    loss_value = carry(scale * float(np.sum(loss.term(yhat, t))))
    body: Expr = Sum("k", Num(len(t)), loss.term_formula(Sym("yk", "ŷ", "k"), Sym("tk", "t", "k")),
               tuple(loss.term_formula(Ref(Sym(f"y{k}", "ŷ", str(k + 1)), f"y{k}"),
                                       Ref(Sym(f"t{k}", "t", str(k + 1)), f"t{k}"))
                     for k in range(len(t))))
    ops = {f"y{k}": float(v) for k, v in enumerate(yhat)} | \
        {f"t{k}": float(v) for k, v in enumerate(t)}
    if len(t) == 1:  # one output: no sum over k
        body = loss.term_formula(Ref(yhat_sym, "y0"), Ref(t_sym, "t0"))
    row.append(Quantity("L", Role.VALUE, L, loss_value, _scaled(scale, body), ops))
    # backward -----------------------------------------------------------------------------
    deltas: list[np.ndarray] = [np.zeros(0)] * count
    last = setup.layers[-1]
    act = _act(last)
    if loss.paired is not None:
        value = carry.array(scale * (yhat - t))
        row.append(Quantity(f"delta{count}", Role.VALUE, delta(count), value,
                            _scaled(scale, yhat_sym - t_sym), {yhat_sym.key: yhat, "t": t}))
        deltas[-1] = value
    else:
        g = carry.array(scale * loss.derivative(yhat, t))
        g_sym = Deriv(L, a(count), "dLdy")
        row.append(Quantity("dL/dy", Role.VALUE, g_sym, g,
                            _scaled(scale, loss.derivative_formula(yhat_sym, t_sym)),
                            {yhat_sym.key: yhat, "t": t}))
        deltas[-1] = _local(row, count, act, pre[-1], yhat, Ref(g_sym, "dLdy"), "dLdy", g,
                            carry)
    for index in range(count - 1, 0, -1):
        back = carry.array(deltas[index] @ Ws[index].T)
        g_sym = Deriv(L, a(index), f"dLda{index}")
        row.append(Quantity(f"dL/da{index}", Role.VALUE, g_sym, back,
                            delta(index + 1) * transpose(W(index + 1)),
                            {delta(index + 1).key: deltas[index], W(index + 1).key: Ws[index]}))
        deltas[index - 1] = _local(row, index, _act(setup.layers[index - 1]), pre[index - 1],
                                   acts[index], Ref(g_sym, f"dLda{index}"), f"dLda{index}", back,
                                   carry)
    shares: dict[str, np.ndarray] = {}
    lines: list[Quantity] = []
    for index, layer in enumerate(setup.layers, start=1):
        if not layer.trainable:
            continue
        d = deltas[index - 1]
        gw = carry.array(np.outer(acts[index - 1], d))
        shares[f"W{index}"] = gw
        shares[f"b{index}"] = d
        lines.append(Quantity(f"W{index}", Role.GRAD, Deriv(L, W(index), f"grad:W{index}"), gw,
                              transpose(a(index - 1)) * delta(index),
                              {a(index - 1).key: acts[index - 1], delta(index).key: d}))
        lines.append(Quantity(f"b{index}", Role.GRAD, Deriv(L, b(index), f"grad:b{index}"), d,
                              delta(index), {delta(index).key: d}))
    return Pass(row, loss_value, acts, pre, deltas, shares, lines)


def unit_pass(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray,
              t: np.ndarray, scale: float, sample: int | None) -> Pass:
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
    result = node_pass(graph, setup.loss, params, trainable, dict(zip(graph.inputs, map(float, x))),
                       dict(zip(graph.targets, map(float, t))), scale, setup.carry, sample)
    row = list(result.lines) + [
        Quantity(f"dL/d{q.key}", Role.VALUE, q.symbol, q.value, q.formula, q.operands)
        for q in result.grad_lines]
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


def _local(row: list[Quantity], index: int, act: Activation, pre: np.ndarray, out: np.ndarray,
           g_ref: Expr, g_key: str, g: np.ndarray, carry: Carry) -> np.ndarray:
    """δ = ∂L/∂a·f'(u) (elementwise), writing f'(u) out; softmax uses its Jacobian."""
    symbol = delta(index)
    if act.backward is not None:
        value = carry.array(act.backward(out, g))
        row.append(Quantity(f"delta{index}", Role.VALUE, symbol, value,
                            a(index) * (g_ref - Sum("k", Text(""), Sym("gk", "g", "k")
                                                    * Sym("ak", "a", "k"))),
                            {a(index).key: out, g_key: g}))
        return value
    if act.name == "linear":
        value = carry.array(g)
        row.append(Quantity(f"delta{index}", Role.VALUE, symbol, value, g_ref, {g_key: g}))
        return value
    fp = carry.array(act.derivative(pre, out))
    f_sym = fprime(index, act)
    row.append(Quantity(f"f'(u{index})", Role.VALUE, f_sym, fp,
                        act.derivative_formula(u(index), a(index)),
                        {u(index).key: pre, a(index).key: out}))
    value = carry.array(g * fp)
    row.append(Quantity(f"delta{index}", Role.VALUE, symbol, value,
                        g_ref * Ref(f_sym, f"fp{index}"), {g_key: g, f"fp{index}": fp}))
    return value


# ------------------------------------------------------------------------------ the loop


def _step(setup: MLPSetup, number: int, epoch: int, group: list[int], Ws: list[np.ndarray],
          bs: list[np.ndarray]) -> tuple[Step, Block]:
    carry = setup.carry
    m = len(group)
    scale = setup.loss.scale(m, setup.Y.shape[1])
    single = m == 1
    passes = []
    rows = []
    base = setup.base
    for s in group:
        passer = unit_pass if setup.units else sample_pass
        result = passer(setup, Ws, bs, setup.X[s], setup.Y[s], scale, None if single else s + 1)
        passes.append(result)
        inputs = [Quantity(name, Role.INPUT, Sym(f"input:{name}", name), float(v))
                  for name, v in zip(base.graph.inputs, setup.X[s])]
        inputs += [Quantity(name, Role.INPUT, Sym(f"target:{name}", name), float(v))
                   for name, v in zip(base.graph.targets, setup.Y[s])]
        extra = [] if single else [
            Quantity(f"dL/d{q.key}", Role.VALUE, q.symbol, q.value, q.formula, q.operands)
            for q in result.share_lines]
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
                quantities.append(Quantity(
                    name, Role.GRAD, Deriv(LOSS, symbol, f"grad:{name}"), total,
                    Sum("i", Num(m), Deriv(Sym("L_i", "L", "i"), symbol, "si"), refs),
                    {f"s{k}": v for k, v in enumerate(shares)}))
    grads = {q.key: q.value for q in quantities}
    quantities += update_lines(base.optimizer, setup.eta, carry, [
        (name, symbol, current, grads[name] if layer.trainable else None)
        for index, layer in enumerate(setup.layers, start=1)
        for name, symbol, current in ((f"W{index}", W(index), Ws[index - 1]),
                                      (f"b{index}", b(index), bs[index - 1]))])
    step = Step(number, [s + 1 for s in group], rows, quantities)
    return step, _matrix_view(setup, epoch, step, passes, grads)


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


def dataset_loss(setup: MLPSetup, Ws: list[np.ndarray], bs: list[np.ndarray]) -> Quantity:
    values = [sample_pass(setup, Ws, bs, x, t, 1.0, 1).loss for x, t in zip(setup.X, setup.Y)]
    scale = setup.loss.scale(setup.n, setup.Y.shape[1])
    refs = tuple(Ref(Sym(f"l{i}", "ℓ", str(i + 1)), f"l{i}") for i in range(setup.n))
    summed = Sum("i", Sym("N", "N"), Sym("l_i", "ℓ", "i"), refs)
    return Quantity("loss", Role.LOSS, LOSS, setup.carry(scale * sum(values)),
                    _scaled(scale, summed), {f"l{i}": v for i, v in enumerate(values)})


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


def solve_run(problem: Problem, label: str) -> tuple[Run, list[Diagnostic]]:
    setup = setup_from(problem)
    carry = setup.carry
    Ws = [carry.array(layer.weights) for layer in setup.layers]
    bs = [carry.array(layer.bias) for layer in setup.layers]
    names = [f"{k}{i + 1}" for i in range(len(Ws)) for k in ("W", "b")]
    settings = _settings(problem, setup)
    if problem.extra.get("symbolic"):  # formulas (and their values, if numbers are given)
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
    with np.errstate(all="ignore"):
        for e in range(1, problem.epochs + 1):
            line = dataset_loss(setup, Ws, bs)
            epoch = Epoch(e, float(line.value), [], line)
            epochs.append(epoch)
            for group in base.groups(rng if base.update != "batch" else None):
                number += 1
                step, block = _step(setup, number, e, group, Ws, bs)
                if len(group) > 1 and len(blocks) < MATRIX_VIEW_STEPS:
                    blocks.append(block)
                if not keep_step(epoch, step, label, diagnostics):
                    stopped = True
                    break
                params = {q.key: np.asarray(q.value, dtype=float)
                          for q in step.of_role(Role.PARAM)}
                if base.schedule.round_between is not None and number < total_steps:
                    params = {k: between.array(v) for k, v in params.items()}
                    step.quantities += [Quantity(
                        f"{k} (rounded)", Role.VALUE, W(int(k[1:])) if k[0] == "W"
                        else b(int(k[1:])), v, relation="≈",
                        explanation=f"rounded to {base.schedule.round_between} decimals")
                        for k, v in params.items()]
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


def _settings(problem: Problem, setup: MLPSetup) -> dict[str, object]:
    from gdtrace.solvers.network import _settings as network_settings

    return network_settings(problem, setup.base)


def header(problem: Problem) -> Header:
    from gdtrace.solvers.network import update_text

    setup = setup_from(problem)
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
    if not problem.extra.get("formula_only"):
        formulas += update_rules(setup.base, "update (W and b)")
    if problem.extra.get("symbolic"):
        from gdtrace.symbolic import mlp_gradients

        formulas += mlp_gradients(setup.layers, setup.loss, setup.target.base)
    notes = ["vectors are rows: x is 1×inputs, W is inputs×units, u = x·W + b is 1×units",
             "Lᵢ is sample i's share of L when a step adds several samples: L = Σᵢ Lᵢ"]
    frozen = [f"W{i}, b{i}" for i, layer in enumerate(setup.layers, 1) if not layer.trainable]
    if frozen:
        notes.append(f"frozen (trainable: false), kept at their values: {'; '.join(frozen)}")
    update = "none: the formulas alone" if problem.extra.get("formula_only") else \
        update_text(setup.base)
    return Header("multilayer perceptron", setup.loss.description, update,
                  formulas, _settings(problem, setup), notes)


__all__ = ["ACTIVATIONS", "solve_run", "header", "to_graph"]
