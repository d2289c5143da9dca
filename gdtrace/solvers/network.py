"""Backpropagation through a network of named nodes (``model: network``), worked line by line.

Per sample: the forward pass node by node (zₙ = Σ W·source + b, then aₙ = f(zₙ)), the
sample's loss, then the backward pass in reverse: ∂L/∂a and ∂L/∂z of every node with the
local derivative f'(z) written out, and one chain-rule line per parameter
(∂L/∂W₁₃ = ∂L/∂a₃·σ'(z₃)·x₁). A step adds its samples' gradients and updates every trainable
parameter through :func:`update_lines` (plain gradient descent or the problem's optimizer).
Conventions: docs/networks.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdtrace.formula.expr import Add, Deriv, Expr, Func, Num, Ref, Sum, Sym, Text, func
from gdtrace.formula.functions import OUTPUT_LOSSES, OutputLoss
from gdtrace.formula.rounding import Carry
from gdtrace.problem.model import Problem
from gdtrace.problem.network_models import Graph, NetworkSpec, Node, Schedule
from gdtrace.solvers import RunOptions, Solved, asks_formulas
from gdtrace.solvers.checks import first_non_finite, keep_step, non_finite_step
from gdtrace.solvers.network_kernel import (
    Kernel,
    Updater,
    activation_of,
    compile_kernel,
    compile_update,
)
from gdtrace.solvers.network_symbols import (
    LOSS,
    a_sym,
    input_sym,
    loss_sym,
    param_sym,
    source_sym,
    target_sym,
    z_sym,
)
from gdtrace.solvers.optimizers import ETA, RULES_TEXT, Optimizer, Slot, make_optimizer
from gdtrace.trace import (
    Diagnostic,
    Epoch,
    Formula,
    Header,
    Link,
    Quantity,
    Role,
    Run,
    Step,
    Value,
)


def unsampled(symbol: Expr) -> Expr | None:
    """Lᵢ → L inside a symbol, for a table heading over all samples (None: no change)."""
    if isinstance(symbol, Sym) and symbol.key.startswith("L:"):
        return LOSS
    if isinstance(symbol, Deriv) and isinstance(symbol.of, Sym) and symbol.of.key.startswith("L:"):
        return Deriv(LOSS, symbol.wrt, symbol.key)
    return None


def fprime(node: Node) -> Func:
    symbol = activation_of(node.activation, node.slope).symbol
    return Func(f"{symbol}'", (z_sym(node.name),))


# ------------------------------------------------------------------------------ the update


def frozen_line(name: str, symbol: Sym, current: float | np.ndarray,
                source: Quantity | None = None) -> Quantity:
    """A frozen parameter is written as kept: W ← W = value."""
    return Quantity(name, Role.PARAM, symbol, current, symbol, {symbol.key: current},
                    relation="←",
                    links={symbol.key: source} if source is not None else {})


UpdateItem = tuple[str, Sym, "float | np.ndarray", "float | np.ndarray | None"]


def update_lines(optimizer: Optimizer | None, eta: float, carry: Carry,
                 items: list[UpdateItem], sources: dict[str, Quantity] | None = None,
                 grad_lines: dict[str, Quantity] | None = None,
                 linked: bool = True) -> list[Quantity]:
    """The step's update lines, parameters in the given order (name, symbol, value, gradient;
    gradient None = frozen), through the optimizer (plain gradient descent when None; another
    optimizer, docs/optimizers.md, writes its state lines first, then the updates).
    ``sources`` and ``grad_lines`` (by parameter name) are the lines the values come from."""
    sources, grad_lines = sources or {}, grad_lines or {}
    optimizer = optimizer or make_optimizer(None, eta, carry)
    live = [(n, s, c, g) for n, s, c, g in items if g is not None]
    slots = [Slot(n, s, f"grad:{n}", Deriv(LOSS, s, f"grad:{n}"), sources.get(n),
                  grad_lines.get(n)) for n, s, _, _ in live]
    state, updated = optimizer.step(slots, [c for _, _, c, _ in live],
                                    [g for _, _, _, g in live], linked)
    by_name = {q.key: q for q in updated}
    return state + [by_name[n] if g is not None else frozen_line(n, s, c, sources.get(n))
                    for n, s, c, g in items]


def link_lines(lines: list[Quantity], known: dict[str, Link]) -> None:
    """Link each line's operands to the lines before it that wrote them, in order: a line is
    known by its symbol's key (z:3, a:3, dLda:3, dLdz:3, grad:W13; fp:3 for f'(z₃))."""
    for line in lines:
        line.links = {k: known[k] for k in line.operands if k in known}
        symbol = line.symbol
        if line.key.startswith("f'(z"):  # written as f'(z₃), used as the operand fp:3
            known[f"fp:{line.key[4:-1]}"] = line
        elif line.key.startswith("f'(u"):  # an MLP layer's f'(u₁), used as fp1
            known[f"fp{line.key[4:-1]}"] = line
        elif isinstance(symbol, (Sym, Deriv)):
            known[symbol.key] = line


# ----------------------------------------------------------------------------- one sample


@dataclass
class SamplePass:
    """Everything one sample's forward and backward pass wrote down."""

    lines: list[Quantity] = field(default_factory=list)
    loss: float = 0.0
    grads: dict[str, float] = field(default_factory=dict)  # this sample's share
    grad_lines: list[Quantity] = field(default_factory=list)
    z: dict[str, float] = field(default_factory=dict)
    a: dict[str, float] = field(default_factory=dict)
    dz: dict[str, float] = field(default_factory=dict)
    da: dict[str, float] = field(default_factory=dict)


@dataclass
class Numbers:
    """One sample's forward and backward pass as numbers only, each carry-rounded as it is
    written: the math of :func:`sample_pass`, which writes its lines from these; ``--summary``
    and ``--stream`` use them alone."""

    z: dict[str, float]
    a: dict[str, float]  # the inputs' values, then each node's activation
    loss: float
    da: dict[str, float]
    dz: dict[str, float]
    fps: dict[str, float]  # f'(z) of the nodes whose lines write it
    uses: dict[str, list[float]]  # each trainable parameter's gradient, use by use
    grads: dict[str, float]  # … and summed over its uses
    output_da: dict[str, float]  # ∂L/∂a of each output from the loss (before what it feeds)


_KERNELS: dict[tuple[int, str, int | None, tuple[bool, ...]], tuple[Graph, Kernel]] = {}


def kernel_for(graph: Graph, loss: OutputLoss, carry: Carry, trainable: dict[str, bool]
               ) -> Kernel:
    """The graph's compiled kernel (compiled once per graph, loss, rounding and trainable set)."""
    flags = tuple(trainable[p.name] for p in graph.params)
    key = (id(graph), loss.name, carry.decimals, flags)
    found = _KERNELS.get(key)
    if found is None or found[0] is not graph:
        found = _KERNELS[key] = (graph, compile_kernel(graph, loss, carry, flags))
    return found[1]


def pass_numbers(graph: Graph, loss: OutputLoss, params: dict[str, float],
                 trainable: dict[str, bool], x: dict[str, float], t: dict[str, float],
                 scale: float, carry: Carry, backward: bool = True) -> Numbers:
    """Forward and backward pass for one sample (``scale``: the loss's 1/(N·K) factor);
    ``backward=False`` stops after the loss (an epoch's data loss needs no gradient). The
    numbers come from the graph's compiled kernel (:mod:`gdtrace.solvers.network_kernel`)."""
    kernel = kernel_for(graph, loss, carry, trainable)
    p = [params[q.name] for q in graph.params]
    xs, ts = [x[k] for k in graph.inputs], [t[k] for k in graph.targets]
    names = [n.name for n in graph.nodes]
    if not backward:
        total = kernel.forward(p, xs, ts)
        return Numbers({}, dict(x), carry(scale * total), {}, {}, {}, {}, {}, {})
    _, value, z, a, da, dz, fps, output_da, uses, grads = kernel.full(p, xs, ts, scale)
    return Numbers(dict(zip(names, z)), dict(x) | dict(zip(names, a)), value,
                   dict(zip(kernel.da_keys, da)), dict(zip(kernel.dz_keys, dz)),
                   dict(zip(kernel.fp_keys, fps)),
                   {k: list(v) for k, v in zip(kernel.use_keys, uses)},
                   dict(zip(kernel.use_keys, grads)), dict(zip(kernel.output_da_keys, output_da)))


Operands = dict[str, Value]
Use = tuple[Expr, Operands, float]  # one use of a parameter: chain-rule product, operands, value


@dataclass
class _Writing:
    """What every part of one sample's worked lines reads: the graph, the numbers, L or Lᵢ."""

    graph: Graph
    loss: OutputLoss
    params: dict[str, float]
    numbers: Numbers
    L: Sym
    scale: float

    def src_key(self, source: str) -> str:
        return f"input:{source}" if source in self.graph.inputs else f"a:{source}"


def sample_pass(graph: Graph, loss: OutputLoss, params: dict[str, float],
                trainable: dict[str, bool], x: dict[str, float], t: dict[str, float],
                scale: float, carry: Carry, sample: int | None,
                sources: dict[str, Link] | None = None) -> SamplePass:
    """Forward and backward pass for one sample; ``scale`` is the loss's 1/(N·K) factor.

    ``sample`` numbers the sample when a step adds several (symbols become Lᵢ); every written
    value goes through ``carry`` so later lines use the number as written. ``sources`` are the
    lines the parameters come from, by operand key (``param:W13``; none: the starting values).
    The numbers are :func:`pass_numbers`'; this writes the lines.
    """
    numbers = pass_numbers(graph, loss, params, trainable, x, t, scale, carry)
    w = _Writing(graph, loss, params, numbers, loss_sym(sample), scale)
    out = SamplePass(loss=numbers.loss, z=dict(numbers.z), da=numbers.da, dz=numbers.dz)
    out.a = {n.name: numbers.a[n.name] for n in graph.nodes}
    out.lines = _forward_lines(w) + _loss_lines(w, t) + _backward_lines(w)
    uses: dict[str, list[Use]] = {}
    for node in graph.nodes:
        factors, ops = _node_factors(node, w.L, numbers.da, numbers.dz, numbers.fps)
        names = [(e.weight, [source_sym(graph, e.source)], {w.src_key(e.source):
                                                             numbers.a[e.source]})
                 for e in node.edges] + ([(node.bias, [], {})] if node.bias is not None else [])
        for name, extra, more in names:
            if trainable[name]:
                found = uses.setdefault(name, [])
                found.append((_product(*factors, *extra), {**ops, **more},
                              numbers.uses[name][len(found)]))
    for name, found in uses.items():
        out.grad_lines += _gradient_lines(name, found, w.L, numbers.grads[name])
        out.grads[name] = numbers.grads[name]
    link_lines(out.lines + out.grad_lines, dict(sources or {}))
    return out


def _forward_lines(w: _Writing) -> list[Quantity]:
    """zₙ = Σ W·source + b and aₙ = f(zₙ) node by node (softmax outputs last)."""
    graph, a, lines = w.graph, w.numbers.a, []
    softmax_nodes = [n for n in graph.nodes if n.activation == "softmax"]
    for node in graph.nodes:
        terms: list[Expr] = [param_sym(e.weight) * source_sym(graph, e.source) for e in node.edges]
        operands: Operands = {f"param:{e.weight}": w.params[e.weight] for e in node.edges}
        operands |= {w.src_key(e.source): a[e.source] for e in node.edges}
        if node.bias is not None:
            terms.append(param_sym(node.bias))
            operands[f"param:{node.bias}"] = w.params[node.bias]
        z = w.numbers.z[node.name]
        lines.append(Quantity(f"z{node.name}", Role.VALUE, z_sym(node.name), z,
                              Add.of(*terms) if len(terms) > 1 else terms[0], operands))
        if node.activation == "softmax":
            continue
        act = activation_of(node.activation, node.slope)
        lines.append(Quantity(f"a{node.name}", Role.VALUE, a_sym(node.name), a[node.name],
                              act.formula(z_sym(node.name)), {f"z:{node.name}": z}))
    for node in softmax_nodes:
        exps = tuple(func("exp", z_sym(m.name)) for m in softmax_nodes)
        formula = func("exp", z_sym(node.name)) / Sum("j", Num(len(softmax_nodes)),
                                                      func("exp", Sym("z_j", "z", "j")), exps)
        lines.append(Quantity(f"a{node.name}", Role.VALUE, a_sym(node.name), a[node.name],
                              formula, {f"z:{m.name}": w.numbers.z[m.name]
                                        for m in softmax_nodes}))
    return lines


def _loss_lines(w: _Writing, t: dict[str, float]) -> list[Quantity]:
    """The sample's loss, then ∂L/∂z (paired loss) or ∂L/∂a of every output."""
    graph, loss, a, L = w.graph, w.loss, w.numbers.a, w.L
    terms: list[Expr] = []
    operands: Operands = {}
    for out_name, target in zip(graph.outputs, graph.targets):
        terms.append(loss.term_formula(a_sym(out_name), target_sym(target)))
        operands |= {f"a:{out_name}": a[out_name], f"target:{target}": t[target]}
    body: Expr = Add.of(*terms) if len(terms) > 1 else terms[0]
    lines = [Quantity("L", Role.VALUE, L, w.numbers.loss, scaled(w.scale, body), operands)]
    for out_name, target in zip(graph.outputs, graph.targets):
        ops: Operands = {f"a:{out_name}": a[out_name], f"target:{target}": t[target]}
        if loss.paired is not None:
            lines.append(Quantity(f"dL/dz{out_name}", Role.VALUE,
                                  Deriv(L, z_sym(out_name), f"dLdz:{out_name}"),
                                  w.numbers.dz[out_name],
                                  scaled(w.scale, a_sym(out_name) - target_sym(target)), ops))
            continue
        formula = scaled(w.scale, loss.derivative_formula(a_sym(out_name), target_sym(target)))
        lines.append(Quantity(f"dL/da{out_name}", Role.VALUE,
                              Deriv(L, a_sym(out_name), f"dLda:{out_name}"),
                              w.numbers.output_da[out_name], formula, ops))
    return lines


def _backward_lines(w: _Writing) -> list[Quantity]:
    """Every node in reverse: ∂L/∂aₙ from the nodes it feeds, then ∂L/∂zₙ."""
    lines: list[Quantity] = []
    for node in reversed(w.graph.nodes):
        lines += _node_da_line(w, node)
        if w.loss.paired is not None and node.name in w.graph.outputs:
            continue  # its ∂L/∂z came from the loss directly
        lines += _node_dz_lines(w, node)
    return lines


def _node_da_line(w: _Writing, node: Node) -> list[Quantity]:
    """∂L/∂aₙ = Σ ∂L/∂z_child·W (plus the loss's own term for an output that feeds others)."""
    name, L, numbers = node.name, w.L, w.numbers
    children = w.graph.children(name)
    if not children:
        return []
    terms = [Deriv(L, z_sym(c.name), f"dLdz:{c.name}") * param_sym(e.weight)
             for c, e in children]
    ops: Operands = {f"dLdz:{c.name}": numbers.dz[c.name] for c, _ in children}
    ops |= {f"param:{e.weight}": w.params[e.weight] for _, e in children}
    formula: Expr = Add.of(*terms) if len(terms) > 1 else terms[0]
    if name in numbers.output_da:  # an output that also feeds other nodes
        formula = Deriv(L, a_sym(name), f"dLda:{name}") + formula
        ops[f"dLda:{name}"] = numbers.output_da[name]
    return [Quantity(f"dL/da{name}", Role.VALUE, Deriv(L, a_sym(name), f"dLda:{name}"),
                     numbers.da[name], formula, ops)]


def _node_dz_lines(w: _Writing, node: Node) -> list[Quantity]:
    """∂L/∂zₙ: = ∂L/∂aₙ (linear), softmax's Jacobian, or ∂L/∂aₙ·f'(zₙ) with f'(zₙ) written."""
    name, L, numbers, a = node.name, w.L, w.numbers, w.numbers.a
    da, dz = numbers.da, numbers.dz
    symbol = Deriv(L, z_sym(name), f"dLdz:{name}")
    if node.activation == "linear":
        return [Quantity(f"dL/dz{name}", Role.VALUE, symbol, dz[name],
                         Deriv(L, a_sym(name), f"dLda:{name}"), {f"dLda:{name}": da[name]})]
    if node.activation == "softmax":
        group = [n.name for n in w.graph.nodes if n.activation == "softmax"]
        inner = Sum("j", Num(len(group)), Deriv(L, Sym("a_j", "a", "j"), "dLda:j")
                    * Sym("a_j", "a", "j"),
                    tuple(Deriv(L, a_sym(g), f"dLda:{g}") * a_sym(g) for g in group))
        ops: Operands = {f"dLda:{g}": da[g] for g in group}
        ops |= {f"a:{g}": a[g] for g in group}
        return [Quantity(f"dL/dz{name}", Role.VALUE, symbol, dz[name],
                         a_sym(name) * (Deriv(L, a_sym(name), f"dLda:{name}") - inner), ops)]
    act = activation_of(node.activation, node.slope)
    fp = numbers.fps[name]
    f_symbol = fprime(node)
    return [Quantity(f"f'(z{name})", Role.VALUE, f_symbol, fp,
                     act.derivative_formula(z_sym(name), a_sym(name)),
                     {f"z:{name}": numbers.z[name], f"a:{name}": a[name]}),
            Quantity(f"dL/dz{name}", Role.VALUE, symbol, dz[name],
                     Deriv(L, a_sym(name), f"dLda:{name}") * Ref(f_symbol, f"fp:{name}"),
                     {f"dLda:{name}": da[name], f"fp:{name}": fp})]


def _gradient_lines(name: str, uses: list[Use], L: Sym, total: float) -> list[Quantity]:
    """∂L/∂w: one chain-rule line; a shared (tied) parameter gets one line per use, then
    ∂L/∂w = the sum over its uses (``total``, from :func:`pass_numbers`)."""
    symbol = Deriv(L, param_sym(name), f"grad:{name}")
    if len(uses) == 1:
        formula, ops, value = uses[0]
        return [Quantity(name, Role.GRAD, symbol, value, formula, ops)]
    lines: list[Quantity] = []
    refs: list[Expr] = []
    values: Operands = {}
    base = param_sym(name)
    for u, (formula, ops, value) in enumerate(uses, start=1):
        key = f"use:{name}:{u}"
        use = Deriv(L, Sym(base.key, base.base, f"{base.sub}({u})"), key)
        lines.append(Quantity(f"dL/d{name}({u})", Role.VALUE, use, value, formula, ops))
        refs.append(use)
        values[key] = value
    one_use = Deriv(L, Sym(base.key, base.base, f"{base.sub}(k)"), "use")
    lines.append(Quantity(name, Role.GRAD, symbol, total,
                          Sum("k", Num(len(uses)), one_use, tuple(refs)), values))
    return lines


def shared_uses(graph: Graph) -> dict[str, int]:
    """Parameters used more than once (tied weights, a layer's shared bias): name → uses."""
    counts: dict[str, int] = {}
    for node in graph.nodes:
        for name in [e.weight for e in node.edges] + ([node.bias] if node.bias else []):
            counts[name] = counts.get(name, 0) + 1
    return {name: k for name, k in counts.items() if k > 1}


def _node_factors(node: Node, L: Sym, da: dict[str, float], dz: dict[str, float],
                  fps: dict[str, float]) -> tuple[list[Expr], Operands]:
    """The chain-rule factors of ∂L/∂zₙ: ∂L/∂aₙ·f'(zₙ), ∂L/∂aₙ (linear), or ∂L/∂zₙ (the same
    choice as :func:`pass_numbers`)."""
    name = node.name
    if name in fps:
        return ([Deriv(L, a_sym(name), f"dLda:{name}"), Ref(fprime(node), f"fp:{name}")],
                {f"dLda:{name}": da[name], f"fp:{name}": fps[name]})
    if node.activation == "linear" and name in da:
        return [Deriv(L, a_sym(name), f"dLda:{name}")], {f"dLda:{name}": da[name]}
    return [Deriv(L, z_sym(name), f"dLdz:{name}")], {f"dLdz:{name}": dz[name]}


def _product(*factors: Expr) -> Expr:
    if len(factors) == 1:
        return factors[0]
    total = factors[0] * factors[1]
    for f in factors[2:]:
        total = total * f
    return total


def scaled(scale: float, body: Expr) -> Expr:
    """1/(N·K)·body when the loss averages, body when it sums."""
    if scale == 1.0:
        return body
    return (Num(1) / Num(round(1 / scale))) * body


# ------------------------------------------------------------------------------ the loop


@dataclass
class Setup:
    graph: Graph
    loss: OutputLoss
    X: np.ndarray
    Y: np.ndarray
    eta: float
    carry: Carry
    schedule: Schedule
    update: str
    batch_size: int
    shuffle_seed: int | None
    optimizer: Optimizer | None = None  # keeps its state across the run's steps

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def groups(self, rng: np.random.Generator | None) -> Iterator[list[int]]:
        """The samples of each step of one epoch."""
        if self.schedule.iterations is not None:
            for samples in self.schedule.iterations:
                yield list(samples)
            return
        order = np.arange(self.n) if rng is None else rng.permutation(self.n)
        for start in range(0, self.n, self.batch_size):
            yield [int(s) for s in order[start:start + self.batch_size]]


def setup_from(problem: Problem) -> Setup:
    dataset = problem.dataset
    assert dataset is not None
    spec = problem.spec_of(NetworkSpec)
    return Setup(spec.graph, OUTPUT_LOSSES[problem.loss], dataset.X.astype(float),
                 dataset.Y.astype(float), problem.learning_rate, Carry(problem.carry_decimals),
                 spec.schedule, problem.update, problem.samples_per_update(),
                 problem.shuffle_seed, make_optimizer(problem.optimizer, problem.learning_rate,
                                                      Carry(problem.carry_decimals)))


def loss_and_gradients(graph: Graph, loss: OutputLoss, params: dict[str, float],
                       X: np.ndarray, Y: np.ndarray) -> tuple[float, dict[str, float]]:
    """Full-precision loss and gradient over all rows of X (used by tests and the graph)."""
    scale = loss.scale(len(X), len(graph.outputs))
    trainable = {name: True for name in params}
    total, grads = 0.0, dict.fromkeys(params, 0.0)
    for x_row, y_row in zip(X, Y):
        result = sample_pass(graph, loss, params, trainable, dict(zip(graph.inputs, x_row)),
                             dict(zip(graph.targets, y_row)), scale, Carry(None), None)
        total += result.loss
        for k, v in result.grads.items():
            grads[k] += v
    return total, grads


def _step(setup: Setup, number: int, group: list[int], params: dict[str, float],
          trainable: dict[str, bool], sources: dict[str, Quantity] | None = None) -> Step:
    """One update over the group's samples; ``sources`` are the lines the parameters come
    from, by name (None: a step built to be dropped, whose optimizer lines chain nothing)."""
    linked = sources is not None
    sources = sources or {}
    keyed: dict[str, Link] = {f"param:{k}": q for k, q in sources.items()}
    graph, carry = setup.graph, setup.carry
    m = len(group)
    scale = setup.loss.scale(m, len(graph.outputs))
    single = m == 1
    rows: list[list[Quantity]] = []
    passes: list[SamplePass] = []
    for s in group:
        x = dict(zip(graph.inputs, map(float, setup.X[s])))
        t = dict(zip(graph.targets, map(float, setup.Y[s])))
        result = sample_pass(graph, setup.loss, params, trainable, x, t, scale, carry,
                             None if single else s + 1, keyed)
        passes.append(result)
        row = [Quantity(k, Role.INPUT, input_sym(k), v) for k, v in x.items()]
        row += [Quantity(k, Role.INPUT, target_sym(k), v) for k, v in t.items()]
        row += result.lines
        if not single:
            row += [Quantity(q.key if q.role is Role.VALUE else f"dL/d{q.key}", Role.VALUE,
                             q.symbol, q.value, q.formula, q.operands, links=q.links)
                    for q in result.grad_lines]  # (a shared parameter's uses are VALUE lines)
            for q in row:
                q.heading = q.heading or unsampled(q.symbol)
        rows.append(row)
    quantities: list[Quantity] = []
    names = [p.name for p in graph.params if trainable[p.name]]
    if single:
        quantities += passes[0].grad_lines
    else:
        for name in names:
            shares = [p.grads[name] for p in passes]
            refs = tuple(Ref(Deriv(loss_sym(s + 1), param_sym(name), f"share{k}"), f"share{k}")
                         for k, s in enumerate(group))
            body = Deriv(Sym("L_i", "L", "i"), param_sym(name), "share_i")
            share_lines = [next(q for q in p.grad_lines if q.key == name) for p in passes]
            quantities.append(Quantity(
                name, Role.GRAD, Deriv(LOSS, param_sym(name), f"grad:{name}"),
                carry(sum(shares)), Sum("i", Num(m), body, refs),
                {f"share{k}": v for k, v in enumerate(shares)},
                links={f"share{k}": q for k, q in enumerate(share_lines)}))
    grads = {q.key: float(q.value) for q in quantities}
    quantities += update_lines(setup.optimizer, setup.eta, carry, [
        (p.name, param_sym(p.name), params[p.name],
         grads[p.name] if trainable[p.name] else None) for p in graph.params],
        sources, {q.key: q for q in quantities}, linked)
    return Step(number, [s + 1 for s in group], rows, quantities)


def dataset_loss(setup: Setup, params: dict[str, float],
                 sources: dict[str, Quantity] | None = None) -> Quantity:
    """L over the whole data set (reduced as the loss says), from each sample's loss (each
    linked to its sample's forward pass: lines the worked solution does not show)."""
    graph = setup.graph
    scale = setup.loss.scale(setup.n, len(graph.outputs))
    trainable = dict.fromkeys(params, False)
    keyed: dict[str, Link] = {f"param:{k}": q for k, q in (sources or {}).items()}
    values = []
    loss_lines = []
    for x_row, y_row in zip(setup.X, setup.Y):
        result = sample_pass(graph, setup.loss, params, trainable,
                             dict(zip(graph.inputs, map(float, x_row))),
                             dict(zip(graph.targets, map(float, y_row))), 1.0, setup.carry, 1,
                             keyed)
        values.append(result.loss)
        loss_lines.append(next(q for q in result.lines if q.key == "L"))
    refs = tuple(Ref(Sym(f"l{i}", "ℓ", str(i + 1)), f"l{i}") for i in range(setup.n))
    summed = Sum("i", Sym("N", "N"), Sym("l_i", "ℓ", "i"), refs)
    value = setup.carry(scale * sum(values))
    return Quantity("loss", Role.LOSS, LOSS, value, scaled(scale, summed),
                    {f"l{i}": v for i, v in enumerate(values)},
                    links={f"l{i}": q for i, q in enumerate(loss_lines)})


def solve(problem: Problem, label: str, options: RunOptions) -> Solved:
    """The registry's entry: the header and the run from one setup."""
    setup = setup_from(problem)
    symbolic = asks_formulas(problem, options)
    header = header_of(problem, setup, symbolic)
    return Solved(*solve_run(problem, label, setup, symbolic), header)


def solve_run(problem: Problem, label: str, setup: Setup | None = None, symbolic: bool = False
              ) -> tuple[Run, list[Diagnostic]]:
    setup = setup or setup_from(problem)
    graph, carry = setup.graph, setup.carry
    params = {p.name: carry(p.value) for p in graph.params}
    trainable = {p.name: p.trainable for p in graph.params}
    settings = run_settings(problem, setup, symbolic)
    if symbolic:  # formulas (and their values, if numbers are given)
        from gdtrace.solvers.symbolic import network_run

        return network_run(problem, setup, label, settings, sample_pass), []
    rng = np.random.default_rng(setup.shuffle_seed) if setup.shuffle_seed is not None else None
    between = Carry(setup.schedule.round_between)
    epochs: list[Epoch] = []
    diagnostics: list[Diagnostic] = []
    number = 0
    total_steps = problem.epochs * sum(1 for _ in setup.groups(None))
    stopped = False
    sources: dict[str, Quantity] = {}  # parameter → the line that wrote it last
    with np.errstate(all="ignore"):
        for e in range(1, problem.epochs + 1):
            line = dataset_loss(setup, params, sources)
            epoch = Epoch(e, float(line.value), [], line)
            epochs.append(epoch)
            for group in setup.groups(rng if setup.update != "batch" else None):
                number += 1
                step = _step(setup, number, group, params, trainable, sources)
                if not keep_step(epoch, step, label, diagnostics):
                    stopped = True
                    break
                params = {q.key: float(q.value) for q in step.of_role(Role.PARAM)}
                sources = {q.key: q for q in step.of_role(Role.PARAM)}
                if setup.schedule.round_between is not None and number < total_steps:
                    params = {k: between(v) for k, v in params.items()}
                    rounded = [Quantity(
                        f"{k} (rounded)", Role.VALUE, param_sym(k), v, relation="≈",
                        links={f"param:{k}": sources[k]},
                        rounded=setup.schedule.round_between) for k, v in params.items()]
                    step.quantities += rounded
                    sources = {q.key.removesuffix(" (rounded)"): q for q in rounded}
            if stopped:
                break
        final_loss = float(dataset_loss(setup, params).value)
    run = Run(label, settings, epochs, dict(params), final_loss, list(params),
              stopped_early=stopped)
    return run, diagnostics


@dataclass
class _Running:
    """A numbers-only run's state between steps: the parameters in ``graph.params`` order."""

    p: list[float]
    limit: int  # steps to take (--max-steps)
    total: int  # steps the problem plans (no rounding after the last)
    number: int = 0
    state: tuple[float, ...] = ()  # the optimizer's state (see :class:`Updater`)
    stopped: bool = False
    diagnostics: list[Diagnostic] = field(default_factory=list)


def events(problem: Problem, label: str = "as written", *, steps: bool = True,
           max_steps: int | None = None, progress: Callable[[int, int], None] | None = None,
           finished: list[Any] | None = None, epoch_rows: bool = False) -> Iterator[Any]:
    """The run as ``--summary``/``--stream`` events, keeping nothing between steps. The
    summary is computed as numbers only (the graph's compiled kernel, :func:`kernel_for`);
    ``--stream``, which prints every value of every step, writes each step as the worked
    solution does and drops it. ``epoch_rows``: the consumer takes ``EpochRows`` (see
    :func:`_epoch_blocks`)."""
    from gdtrace.solvers.streaming import EpochEnd, RunStart, planned_steps, run_end

    setup = setup_from(problem)
    graph, carry = setup.graph, setup.carry
    names = [p.name for p in graph.params]
    trainable = {p.name: p.trainable for p in graph.params}
    planned = planned_steps(problem)
    run = _Running([carry(p.value) for p in graph.params],
                   planned if max_steps is None else min(planned, max_steps),
                   problem.epochs * sum(1 for _ in setup.groups(None)))
    keys: list[str] = []
    if steps:  # the per-sample value keys, as the worked steps write them
        probe = setup_from(problem)  # its own optimizer: the probe must not advance the run's
        first = _step(probe, 0, next(probe.groups(None)), dict(zip(names, run.p)), trainable)
        keys = [q.key for q in first.rows[0] if q.role is Role.VALUE]
    yield RunStart(label, names, keys, run.limit, run_settings(problem, setup))
    plan = _Numeric.of(setup, kernel_for(graph, setup.loss, carry, trainable), label, progress)
    run.state = plan.updater.start
    with np.errstate(all="ignore"):
        if steps:
            for e, groups in enumerate(epoch_groups(setup, problem.epochs), start=1):
                if run.number >= run.limit:
                    break
                yield from _worked_epoch(plan, run, e, groups)
                yield EpochEnd(e, run.number, dict(zip(names, run.p)))
                if run.stopped:
                    break
        elif plan.one_sample():
            yield from _epoch_blocks(plan, run, problem.epochs, names, epoch_rows)
        else:
            yield from _numeric_epochs(plan, run, epoch_groups(setup, problem.epochs), names)
        final_loss = _data_loss(setup, plan.kernel, plan.X, plan.Y, run.p, {})
    yield run_end(dict(zip(names, run.p)), final_loss, run.diagnostics, run.stopped, run.number,
                  run.limit, planned, label, finished)


def epoch_groups(setup: Setup, epochs: int) -> Iterator[list[list[int]]]:
    """Each epoch's steps (the samples of each), shuffled per epoch as the worked run does."""
    rng = np.random.default_rng(setup.shuffle_seed) if setup.shuffle_seed is not None else None
    if rng is None or setup.update == "batch":
        fixed = list(setup.groups(None))
        for _ in range(epochs):
            yield fixed
        return
    for _ in range(epochs):
        yield list(setup.groups(rng))


def _data_loss(setup: Setup, kernel: Kernel, X: list[list[float]], Y: list[list[float]],
               p: list[float], known: dict[int, float], scale: float | None = None) -> float:
    """L over the data set as :func:`dataset_loss` computes it; ``known`` holds samples' summed
    loss terms already computed at these parameters (the epoch's first step); ``scale`` is
    the loss's factor over the data set, if the caller has it at hand."""
    carry = setup.carry
    if scale is None:
        scale = setup.loss.scale(setup.n, len(setup.graph.outputs))
    if carry.decimals is None and len(known) == len(X):  # every sample's pass is at hand
        return float(scale * sum([float(1.0 * known[i]) for i in range(len(X))]))
    losses = [carry(1.0 * (known[i] if i in known else kernel.forward(p, x, y)))
              for i, (x, y) in enumerate(zip(X, Y))]
    return carry(scale * sum(losses))


@dataclass
class _Numeric:
    """What every numbers-only step needs, looked up once per run."""

    setup: Setup
    kernel: Kernel
    updater: Updater
    X: list[list[float]]
    Y: list[list[float]]
    live: list[int]  # positions of the trainable parameters
    scales: dict[int, float]  # the loss's factor by the number of samples in a step
    label: str
    progress: Callable[[int, int], None] | None

    @classmethod
    def of(cls, setup: Setup, kernel: Kernel, label: str,
           progress: Callable[[int, int], None] | None) -> _Numeric:
        outputs = len(setup.graph.outputs)
        sizes = {len(g) for g in setup.groups(None)}
        optimizer = setup.optimizer
        assert optimizer is not None
        trainable = tuple(q.trainable for q in setup.graph.params)
        return cls(setup, kernel, updater_for(optimizer, kernel, trainable), setup.X.tolist(),
                   setup.Y.tolist(), [i for i, flag in enumerate(trainable) if flag],
                   {m: setup.loss.scale(m, outputs) for m in sizes}, label, progress)


    def one_sample(self) -> bool:
        """A data set of one sample without carry rounding: every epoch is one step of that
        sample, computed by :attr:`Updater.epochs` (a classic homework network, where the
        per-epoch work around the arithmetic would dominate)."""
        setup = self.setup
        return setup.n == 1 and list(setup.groups(None)) == [[0]] \
            and setup.carry.decimals is None and setup.schedule.round_between is None


EPOCH_BLOCK = 256
"""Epochs :func:`_epoch_blocks` computes per call of :attr:`Updater.epochs`."""


def updater_for(optimizer: Optimizer, kernel: Kernel, trainable: tuple[bool, ...]
                ) -> Updater:
    """The optimizer's rule compiled for these parameters after this kernel (see
    :func:`compile_update`): every optimizer, plain gradient descent included, from its one
    text in ``RULES_TEXT``. Compiled once per run (the kernel is cached per graph)."""
    return compile_update(RULES_TEXT[optimizer.name], optimizer.hyper, optimizer.eta,
                          optimizer.carry, trainable, kernel)


def _numeric_epochs(plan: _Numeric, run: _Running, epochs: Iterator[list[list[int]]],
                    names: list[str]) -> Iterator[Any]:
    """Every epoch as numbers, in one loop (a run of many tiny epochs pays for little but the
    arithmetic): the loss at the epoch's start (reusing its first step's forward pass), every
    step's gradient and update (the optimizer's compiled rule, its state in ``run.state``; a
    one-sample step is one call of :attr:`Updater.train`), and the parameters at its end."""
    from gdtrace.solvers.streaming import EpochEnd, EpochStart

    setup, kernel, X, Y, scales = plan.setup, plan.kernel, plan.X, plan.Y, plan.scales
    grads_of, update, train = kernel.grads, plan.updater.update, plan.updater.train
    progress, limit = plan.progress, run.limit
    carry, between = setup.carry, Carry(plan.setup.schedule.round_between)
    loss_scale = setup.loss.scale(setup.n, len(setup.graph.outputs))
    for e, groups in enumerate(epochs, start=1):
        if run.number >= limit:
            break
        for k, group in enumerate(groups):
            if run.number >= limit:
                break
            before, state, number = run.p, run.state, run.number + 1
            if len(group) == 1:
                s = group[0]
                lt, run.p, run.state, check = train(before, X[s], Y[s], scales[1], state,
                                                    number)
                known = {s: lt}
            else:
                scale = scales[len(group)]
                passes = [grads_of(before, X[s], Y[s], scale) for s in group]
                grads = tuple([carry(sum(column)) for column in zip(*(r[1] for r in passes))])
                run.p, run.state, check = update(before, grads, state, number)
                check += sum([r[2] for r in passes])
                known = {s: r[0] for s, r in zip(group, passes)}
            if k == 0:
                yield EpochStart(e, _data_loss(setup, kernel, X, Y, before, known, loss_scale))
            run.number = number
            if not math.isfinite(check):
                _verdict(plan, run, e, group, before, state)
            if progress is not None:
                progress(number, limit)
            if run.stopped:
                break
            if between.decimals is not None and number < run.total:
                run.p = [between(v) for v in run.p]
        yield EpochEnd(e, run.number, dict(zip(names, run.p)))
        if run.stopped:
            break


def _epoch_blocks(plan: _Numeric, run: _Running, epochs: int, names: list[str], rows: bool
                  ) -> Iterator[Any]:
    """The epochs of a one-sample run (:meth:`_Numeric.one_sample`: epoch e is update e), up
    to :data:`EPOCH_BLOCK` per call of :attr:`Updater.epochs`, handed on as one ``EpochRows``
    (``rows``) or as each epoch's ``EpochStart`` and ``EpochEnd``. An epoch with a number
    that is not finite ends its block and is handed on as events, checked as
    :func:`_numeric_epochs` checks a step. The progress callback hears after each block."""
    from gdtrace.solvers.streaming import EpochEnd, EpochRows, EpochStart

    setup, epochs_of, progress = plan.setup, plan.updater.epochs, plan.progress
    x, y, scale = plan.X[0], plan.Y[0], plan.scales[1]
    loss_scale = setup.loss.scale(setup.n, len(setup.graph.outputs))
    last = min(epochs, run.limit)  # one step per epoch: the last epoch's number
    while run.number < last:
        block: list[tuple[Any, ...]] = []
        first, start, start_state = run.number + 1, run.p, run.state
        run.p, run.state, run.number, odd = epochs_of(
            run.p, x, y, scale, run.state, first, min(last, first + EPOCH_BLOCK - 1) + 1,
            loss_scale, block)
        if rows and block:
            yield EpochRows(block)
        else:
            for row in block:
                yield EpochStart(row[0], row[1])
                yield EpochEnd(row[0], row[3], dict(zip(names, row[4:])))
        if odd is not None:  # epoch run.number's check is not finite: maybe a value is not
            yield EpochStart(run.number, odd)
            before, state = start, start_state
            if run.number > first:  # the step's starting state: the block's steps before it
                before, state, _, _ = epochs_of(start, x, y, scale, start_state, first,
                                                run.number, loss_scale, [])
            _verdict(plan, run, run.number, [0], before, state)
            yield EpochEnd(run.number, run.number, dict(zip(names, run.p)))
        if progress is not None:
            progress(run.number, run.limit)
        if run.stopped:
            break


def _verdict(plan: _Numeric, run: _Running, epoch: int, group: list[int], before: list[float],
             state: tuple[float, ...]) -> None:
    """Settle a step whose check was not finite (step ``run.number``, from the parameters
    ``before`` and the optimizer state ``state``): write it the worked way and stop, as the
    worked solution does, at its first value that is not finite — with its warning, and the
    parameters the step started from. If every value is finite (finite values overflowed in
    the check's sum), the step's numbers stand and the run goes on."""
    setup = plan.setup
    optimizer = setup.optimizer
    assert optimizer is not None
    names = [q.name for q in setup.graph.params]
    live = [names[i] for i in plan.live]
    with optimizer.resumed(optimizer.kept_state(live, state), run.number - 1):
        step = _step(setup, run.number, group, dict(zip(names, before)),
                     {q.name: q.trainable for q in setup.graph.params})
    bad = first_non_finite(step)
    if bad is not None:
        run.diagnostics.append(non_finite_step(bad, plan.label, epoch, run.number))
        run.stopped = True
        run.p = list(before)


def _worked_epoch(plan: _Numeric, run: _Running, epoch: int, groups: list[list[int]]
                  ) -> Iterator[Any]:
    """One epoch for ``--stream``: each step written as the worked solution does, then
    dropped."""
    from gdtrace.solvers.streaming import EpochStart, step_record

    setup, label, progress = plan.setup, plan.label, plan.progress
    names = [q.name for q in setup.graph.params]
    trainable = {q.name: q.trainable for q in setup.graph.params}
    between = Carry(setup.schedule.round_between)
    yield EpochStart(epoch, _data_loss(setup, plan.kernel, plan.X, plan.Y, run.p, {}))
    for group in groups:
        if run.number >= run.limit:
            break
        run.number += 1
        step = _step(setup, run.number, group, dict(zip(names, run.p)), trainable)
        yield step_record(step, epoch)
        bad_line = first_non_finite(step)
        if bad_line is None:  # a step that overflowed is shown, its parameters not taken
            moved = {q.key: float(q.value) for q in step.of_role(Role.PARAM)}
            run.p = [moved[n] for n in names]
        else:
            run.diagnostics.append(non_finite_step(bad_line, label, epoch, run.number))
            run.stopped = True
        if progress is not None:
            progress(run.number, run.limit)
        if run.stopped:
            break
        if between.decimals is not None and run.number < run.total:
            run.p = [between(v) for v in run.p]


def run_settings(problem: Problem, setup: Setup, symbolic: bool = False) -> dict[str, object]:
    if symbolic:  # no training: η and epochs are not used
        return {"loss": problem.loss}
    settings: dict[str, object] = {"learning_rate": setup.eta, "epochs": problem.epochs,
                                   "update": "iterations" if setup.schedule.iterations
                                   else setup.update, "loss": problem.loss}
    if setup.update == "minibatch" and setup.schedule.iterations is None:
        settings["batch_size"] = setup.batch_size
    if problem.carry_decimals is not None:
        settings["carry_decimals"] = problem.carry_decimals
    if setup.schedule.round_between is not None:
        settings["round_between"] = setup.schedule.round_between
    if problem.shuffle_seed is not None:
        settings["shuffle_seed"] = problem.shuffle_seed
    if setup.optimizer is not None:
        settings.update(setup.optimizer.settings())  # nothing for plain gradient descent
    return settings


# ------------------------------------------------------------------------------ header


def update_text(setup: Setup) -> str:
    if setup.schedule.iterations is not None:
        listed = "; ".join(", ".join(str(s + 1) for s in it) for it in setup.schedule.iterations)
        text = f"one step per listed iteration (samples {listed})"
    else:
        text = {"sgd": "SGD: one sample per update, in file order",
                "batch": "batch gradient descent: all samples per update",
                "minibatch": f"minibatch gradient descent: groups of {setup.batch_size}",
                }[setup.update]
    if setup.optimizer is not None and not setup.optimizer.plain:
        text += f"; optimizer: {setup.optimizer.description()}, for every parameter"
    return text


def update_rules(setup: Setup, label: str = "update") -> list[Formula]:
    """w ← w − η·∂L/∂w, or the optimizer's rules for a generic parameter w."""
    w = Sym("w", "w")
    if setup.optimizer is None or setup.optimizer.plain:
        return [Formula(w, w - ETA * Deriv(LOSS, w, "g"), label, "←")]
    return setup.optimizer.formulas(w, Deriv(LOSS, w, "g"), "")


def header(problem: Problem, options: RunOptions) -> Header:
    return header_of(problem, setup_from(problem), asks_formulas(problem, options))


def header_of(problem: Problem, setup: Setup, symbolic: bool) -> Header:
    formula_only = problem.spec_of(NetworkSpec).formula_only
    graph = setup.graph
    formulas: list[Formula] = []
    for node in graph.nodes:
        terms: list[Expr] = [param_sym(e.weight) * source_sym(graph, e.source) for e in node.edges]
        if node.bias is not None:
            terms.append(param_sym(node.bias))
        formulas.append(Formula(z_sym(node.name), Add.of(*terms) if len(terms) > 1 else terms[0],
                                f"node {node.name}"))
        if node.activation == "softmax":
            rhs: Expr = func("softmax", z_sym(node.name))
        else:
            rhs = activation_of(node.activation, node.slope).formula(z_sym(node.name))
        formulas.append(Formula(a_sym(node.name), rhs, node.activation))
    rules = backprop_rules(setup.loss, graph.targets)
    formulas += [r for r in rules if r.relation != "←"]
    formulas += [] if formula_only else update_rules(setup)
    if symbolic:
        from gdtrace.solvers.symbolic import network_gradients

        formulas += network_gradients(graph, setup.loss)
    frozen = [p.name for p in graph.params if not p.trainable]
    notes = ["Lᵢ is sample i's share of L when a step adds several samples: L = Σᵢ Lᵢ"]
    shared = shared_uses(graph)
    if shared:
        listed = ", ".join(f"{name} ({k} uses)" for name, k in shared.items())
        notes.append(f"shared (tied) parameters: {listed}; the gradient of each is the sum over "
                     "its uses, ∂L/∂w = Σₖ ∂L/∂w₍ₖ₎ (use k), one chain-rule line per use")
    if frozen:
        notes.append(f"frozen (trainable: false), kept at their values: {', '.join(frozen)}")
    if setup.schedule.round_between is not None:
        notes.append(f"the parameters carried into the next step are rounded to "
                     f"{setup.schedule.round_between} decimals")
    update = "none: the formulas alone" if formula_only else update_text(setup)
    return Header("neural network (named nodes)", setup.loss.description, update,
                  formulas, run_settings(problem, setup, symbolic), notes)


def backprop_rules(loss: OutputLoss, targets: tuple[str, ...] = ()) -> list[Formula]:
    """The general chain rule the worked lines follow (the target named as its column when
    there is one)."""
    j, k, i = Sym("j", "j"), Sym("k", "k"), Sym("i", "i")
    del j, k, i
    a_j, z_j, z_k = Sym("a_j", "a", "j"), Sym("z_j", "z", "j"), Sym("z_k", "z", "k")
    w_jk, a_i, w_ij = Sym("W_jk", "W", "jk"), Sym("a_i", "a", "i"), Sym("W_ij", "W", "ij")
    y_hat = Sym("yhat", "y", hat=True)
    t = target_sym(targets[0]) if len(targets) == 1 else Sym("t", "t")
    rules = [Formula(Deriv(LOSS, y_hat, "g"), loss.derivative_formula(y_hat, t),
                     "per sample and output (× 1/(N·K) or 1/N when the loss averages)")]
    if loss.paired is not None:
        rules.append(Formula(Deriv(LOSS, Sym("z_o", "z", "o"), "g"), y_hat - t,
                             f"{loss.paired} output with this loss"))
    rules += [
        Formula(Deriv(LOSS, a_j, "g"), Sum("k", Text(""), Deriv(LOSS, z_k, "g") * w_jk),
                "k: the nodes j feeds"),
        Formula(Deriv(LOSS, z_j, "g"), Deriv(LOSS, a_j, "g") * Func("f'", (z_j,)),
                "local derivative f'(z)"),
        Formula(Deriv(LOSS, w_ij, "g"), Deriv(LOSS, a_j, "g") * Func("f'", (z_j,)) * a_i,
                "aᵢ: the edge's source (an input xᵢ or a node's aᵢ)"),
        Formula(Sym("w", "w"), Sym("w", "w") - ETA * Deriv(LOSS, Sym("w", "w"), "g"),
                "update", "←"),
    ]
    return rules


# ------------------------------------------------------------------------ for the drawing


@dataclass
class GraphPass:
    """One forward and backward pass over a step's samples, for ``gdtrace graph``."""

    samples: list[int]
    params: dict[str, float]
    inputs: dict[str, float]  # the first sample's inputs
    z: dict[str, float]
    a: dict[str, float]
    dz: dict[str, float]  # summed over the samples
    grads: dict[str, float]  # summed over the samples
    loss: float


def graph_pass(setup: Setup) -> GraphPass:
    """The first step's samples with the initial parameters (values shown for the first
    sample; gradients and the loss are the step's)."""
    graph = setup.graph
    params = {p.name: setup.carry(p.value) for p in graph.params}
    trainable = {p.name: True for p in graph.params}
    group = next(setup.groups(None))
    scale = setup.loss.scale(len(group), len(graph.outputs))
    passes = [sample_pass(graph, setup.loss, params, trainable,
                          dict(zip(graph.inputs, map(float, setup.X[s]))),
                          dict(zip(graph.targets, map(float, setup.Y[s]))), scale, setup.carry,
                          None) for s in group]
    first = passes[0]
    dz = {k: sum(p.dz[k] for p in passes) for k in first.dz}
    grads = {k: sum(p.grads[k] for p in passes) for k in first.grads}
    return GraphPass([s + 1 for s in group], params,
                     dict(zip(graph.inputs, map(float, setup.X[group[0]]))), first.z, first.a,
                     dz, grads, sum(p.loss for p in passes))
