"""The numbers of a named-node network (``model: network``), planned once per graph.

A 2-2-2 network has a few dozen numbers per sample; walking dicts of nodes and edges and
calling numpy on single floats costs tens of microseconds per sample, a hundred times the
arithmetic. So the graph is planned once (topological order, which value each edge reads, which
parameters each node uses) and written as straight-line Python over floats, compiled once:
one function per (graph, loss, carry rounding, trainable set). The same generated lines serve
the worked solution (:func:`gdtrace.solvers.network.pass_numbers` builds its ``Numbers`` from
:meth:`Kernel.full`, and the worked lines are written from those) and ``--summary``
(:meth:`Kernel.grads` returns only the loss and the gradients). There is no second copy of the
math: the three entry points share the generated body and differ only in what they return.

Each line follows the original per-node rules exactly, operation by operation, so the numbers
are bit-identical to the numpy forms in :mod:`gdtrace.formula.functions`: the activations are
called as they are (``stable_sigmoid`` takes a float path), squared losses are written inline
with the same operations numpy performs on 0-d values, any other loss calls its numpy term, and
sums are Python's ``sum`` (written as additions from 0.0 when they have at most two terms, which
is what ``sum`` computes). """

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdtrace.formula.functions import ACTIVATIONS, Activation, OutputLoss, leaky_relu
from gdtrace.formula.rounding import Carry
from gdtrace.problem.network_models import Graph, Node
from gdtrace.solvers.optimizers import RuleText


def activation_of(name: str, slope: float) -> Activation:
    return leaky_relu(slope) if name == "leaky_relu" else ACTIVATIONS[name]


def square(value: float) -> float:
    """value ** 2 as numpy computes it on a 0-d value (C ``pow``), inf where Python raises."""
    try:
        return value ** 2
    except OverflowError:
        return math.inf


def _sum(terms: list[str]) -> str:
    """Python's ``sum`` of the terms: additions from 0.0 for at most two (exactly what ``sum``
    computes, and faster), the call itself beyond."""
    if len(terms) <= 2:
        return "(" + " + ".join(["0.0", *terms]) + ")"
    return "sum((" + ", ".join(terms) + ",))"


@dataclass
class Kernel:
    """One graph's numbers as compiled functions of flat lists (``p``: the parameters in
    ``graph.params`` order, ``x``: the inputs, ``t``: the targets, ``scale``: 1/(N·K) or 1).

    - ``forward(p, x, t)`` → the sample's summed loss terms before scaling;
    - ``grads(p, x, t, scale)`` → (that sum, the trainable parameters' gradients in
      ``live`` order, the sum of every value the worked sample writes: not finite when one
      of them is not, or when finite values overflow in the sum — a "maybe" to check);
    - ``full(p, x, t, scale)`` → every written number, in the orders of the ``*_keys`` lists.
    """

    live: list[str]
    da_keys: list[str]
    dz_keys: list[str]
    fp_keys: list[str]
    output_da_keys: list[str]
    use_keys: list[str]  # the trainable parameters in the order their first use is written
    use_counts: list[int]
    forward: Callable[..., float] = field(repr=False)
    grads: Callable[..., tuple[float, tuple[float, ...], float]] = field(repr=False)
    full: Callable[..., tuple[Any, ...]] = field(repr=False)
    source: str = field(repr=False, default="")
    # the lines of ``grads``: unpacking p, x and t (``head``), then the lines that leave the
    # loss terms in ``lt`` and ∂L/∂(parameter i) in gi (``grads_body``), and the names they
    # read: an optimizer's update is compiled after them (:func:`compile_update`)
    head: list[str] = field(repr=False, default_factory=list)
    grads_body: list[str] = field(repr=False, default_factory=list)
    names: dict[str, Any] = field(repr=False, default_factory=dict)
    # the variables of ``grads_body`` holding every value the worked sample writes (its
    # z, a, ∂L/∂a, ∂L/∂z, f'(z), chain-rule uses, gradients and loss): their sum is the
    # cheap finiteness check of :func:`compile_update`
    written: list[str] = field(repr=False, default_factory=list)


class _Writer:
    """Writes the kernel's lines, remembering the dict insertion order the worked pass uses."""

    def __init__(self, graph: Graph, loss: OutputLoss, carry: Carry,
                 trainable: tuple[bool, ...]) -> None:
        self.graph, self.loss, self.rounded = graph, loss, carry.decimals is not None
        self.trainable = dict(zip([p.name for p in graph.params], trainable))
        self.index = {n.name: i for i, n in enumerate(graph.nodes)}
        self.param = {p.name: f"p{i}" for i, p in enumerate(graph.params)}
        self.names: dict[str, Any] = {"square": square, "np": np, "c": carry}
        self.forward: list[str] = []
        self.backward: list[str] = []
        self.da: list[str] = []
        self.dz: list[str] = []
        self.fps: list[str] = []
        self.output_da: list[str] = []
        self.uses: dict[str, list[str]] = {}

    def c(self, expression: str) -> str:
        return f"c({expression})" if self.rounded else expression

    def value(self, source: str) -> str:
        """The variable holding an edge's source: an input xⱼ or a node's activation."""
        if source in self.index:
            return f"a{self.index[source]}"
        return f"x{self.graph.inputs.index(source)}"

    def constant(self, prefix: str, value: object) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    # -- forward ---------------------------------------------------------------------------
    def write_forward(self) -> None:
        graph, lines = self.graph, self.forward
        softmax = [n for n in graph.nodes if n.activation == "softmax"]
        for i, node in enumerate(graph.nodes):
            total = _sum([f"{self.param[e.weight]} * {self.value(e.source)}" for e in node.edges])
            if node.bias is not None:
                total = f"{total} + {self.param[node.bias]}"
            lines.append(f"z{i} = {self.c(total)}")
            if node.activation != "softmax":
                f = self.constant("F", activation_of(node.activation, node.slope).forward)
                lines.append(f"a{i} = {self.c(f'float({f}(z{i}))')}")
        if softmax:
            f = self.constant("F", ACTIVATIONS["softmax"].forward)
            zs = ", ".join(f"z{self.index[n.name]}" for n in softmax)
            lines.append(f"probs = {f}(np.array([{zs}]))")
            for k, node in enumerate(softmax):
                lines.append(f"a{self.index[node.name]} = {self.c(f'float(probs[{k}])')}")
        terms = [self.term(self.index[o], k) for k, o in enumerate(graph.outputs)]
        lines.append("lt = " + " + ".join(["0.0", *terms]))

    def squared(self) -> tuple[float, float] | None:
        """(the term's factor, the derivative's −c) of a squared loss, None for other losses."""
        name = self.loss.name
        if name not in ("squared", "sse", "half_sse", "mse", "half_mse"):
            return None
        return (0.5, 1.0) if name.startswith("half") else (1.0, 2.0)

    def term(self, node: int, k: int) -> str:
        squared = self.squared()
        if squared is None:
            term = self.constant("T", self.loss.term)
            return f"float({term}(np.array(a{node}), np.array(t{k})))"
        half, _ = squared
        return f"{half!r} * square(t{k} - a{node})" if half != 1.0 else f"square(t{k} - a{node})"

    def output_derivative(self, node: int, k: int) -> str:
        squared = self.squared()
        if squared is None:
            d = self.constant("D", self.loss.derivative)
            return f"float({d}(np.array(a{node}), np.array(t{k})))"
        return f"(-{squared[1]!r} * (t{k} - a{node}))"

    # -- backward --------------------------------------------------------------------------
    def write_backward(self) -> None:
        graph, lines = self.graph, self.backward
        for k, out_name in enumerate(graph.outputs):
            i = self.index[out_name]
            if self.loss.paired is not None:
                lines.append(f"dz{i} = {self.c(f'scale * (a{i} - t{k})')}")
                self.dz.append(out_name)
            else:
                lines.append(f"da{i} = {self.c(f'scale * {self.output_derivative(i, k)}')}")
                self.da.append(out_name)
                self.output_da.append(out_name)
                lines.append(f"oda{i} = da{i}")
        for node in reversed(graph.nodes):
            self.write_node_backward(node)
        for node in graph.nodes:
            self.write_uses(node)

    def write_node_backward(self, node: Node) -> None:
        lines, name, i = self.backward, node.name, self.index[node.name]
        children = self.graph.children(name)
        if children:
            value = _sum([f"dz{self.index[c.name]} * {self.param[e.weight]}"
                          for c, e in children])
            if name in self.da:  # an output that also feeds other nodes
                value = f"{value} + da{i}"
            else:
                self.da.append(name)
            lines.append(f"da{i} = {self.c(value)}")
        if name in self.dz:
            return
        self.dz.append(name)
        if node.activation == "linear":
            lines.append(f"dz{i} = da{i}")
        elif node.activation == "softmax":
            group = [self.index[n.name] for n in self.graph.nodes if n.activation == "softmax"]
            weighted = _sum([f"da{g} * a{g}" for g in group])
            lines.append(f"dz{i} = {self.c(f'a{i} * (da{i} - {weighted})')}")
        else:
            d = self.constant("D", activation_of(node.activation, node.slope).derivative)
            lines.append(f"fp{i} = {self.c(f'float({d}(z{i}, a{i}))')}")
            lines.append(f"dz{i} = {self.c(f'da{i} * fp{i}')}")
            self.fps.append(name)

    def write_uses(self, node: Node) -> None:
        name, i = node.name, self.index[node.name]
        if name in self.fps:
            signal = f"(da{i} * fp{i})"
        elif node.activation == "linear" and name in self.da:
            signal = f"da{i}"
        else:
            signal = f"dz{i}"
        for edge in node.edges:
            if self.trainable[edge.weight]:
                self.use(edge.weight, f"{signal} * {self.value(edge.source)}")
        if node.bias is not None and self.trainable[node.bias]:
            self.use(node.bias, signal)

    def use(self, param: str, expression: str) -> None:
        found = self.uses.setdefault(param, [])
        variable = f"u{self.param[param][1:]}_{len(found)}"
        self.backward.append(f"{variable} = {self.c(f'({expression})')}")
        found.append(variable)

    def gradient(self, param: str) -> str:
        found = self.uses[param]
        return found[0] if len(found) == 1 else self.c(f"sum(({', '.join(found)},))")


def _tuple(items: list[str]) -> str:
    return "(" + "".join(f"{item}, " for item in items) + ")"


def compile_kernel(graph: Graph, loss: OutputLoss, carry: Carry,
                   trainable: tuple[bool, ...]) -> Kernel:
    """Plan the graph and compile its three entry points (see :class:`Kernel`)."""
    writer = _Writer(graph, loss, carry, trainable)
    writer.write_forward()
    writer.write_backward()
    live = [p.name for p in graph.params if writer.trainable[p.name]]
    head = [f"    {_tuple([f'p{i}' for i in range(len(graph.params))])} = p",
            f"    {_tuple([f'x{j}' for j in range(len(graph.inputs))])} = x",
            f"    {_tuple([f't{k}' for k in range(len(graph.targets))])} = t"]
    forward = [f"    {line}" for line in writer.forward]
    body = forward + [f"    {line}" for line in writer.backward]
    g = {n: f"g{writer.param[n][1:]}" for n in writer.uses}  # ∂L/∂(parameter i) is gi
    grads = [f"    {g[n]} = {writer.gradient(n)}" for n in writer.uses]
    index = writer.index
    full_return = ", ".join([
        "lt", writer.c("scale * lt"),
        _tuple([f"z{i}" for i in range(len(graph.nodes))]),
        _tuple([f"a{i}" for i in range(len(graph.nodes))]),
        _tuple([f"da{index[n]}" for n in writer.da]),
        _tuple([f"dz{index[n]}" for n in writer.dz]),
        _tuple([f"fp{index[n]}" for n in writer.fps]),
        _tuple([f"oda{index[n]}" for n in writer.output_da]),
        _tuple([_tuple(writer.uses[n]) for n in writer.uses]),
        _tuple([g[n] for n in writer.uses])])
    written = [*(f"z{i}" for i in range(len(graph.nodes))),
               *(f"a{i}" for i in range(len(graph.nodes))),
               *(f"da{index[n]}" for n in writer.da), *(f"dz{index[n]}" for n in writer.dz),
               *(f"fp{index[n]}" for n in writer.fps),
               # ∂L/∂a from the loss is da itself unless the output feeds other nodes
               *(f"oda{index[n]}" for n in writer.output_da if graph.children(n)),
               *(u for n in writer.uses for u in writer.uses[n]),
               *(g[n] for n in writer.uses if len(writer.uses[n]) > 1),  # one use: g is u
               writer.c("scale * lt") if writer.rounded else "lt"]  # L = scale·lt, scale ≤ 1
    source = "\n".join([
        "def forward(p, x, t):", *head[:3], *forward, "    return lt", "",
        "def grads(p, x, t, scale):", *head, *body, *grads,
        f"    return lt, {_tuple([g[n] for n in live])}, {' + '.join(written)}", "",
        "def full(p, x, t, scale):", *head, *body, *grads, f"    return {full_return}", ""])
    namespace = dict(writer.names)
    exec(compile(source, f"<network kernel {id(graph):x}>", "exec"), namespace)  # noqa: S102
    return Kernel(live, writer.da, writer.dz, writer.fps, writer.output_da, list(writer.uses),
                  [len(writer.uses[n]) for n in writer.uses], namespace["forward"],
                  namespace["grads"], namespace["full"], source, head, [*body, *grads],
                  writer.names, written)


# ------------------------------------------------------------------------- the update


Update = Callable[[list[float], tuple[float, ...], tuple[float, ...], int],
                  tuple[list[float], tuple[float, ...], float]]
Train = Callable[[list[float], list[float], list[float], float, tuple[float, ...], int],
                 tuple[float, list[float], tuple[float, ...], float]]
Epochs = Callable[[list[float], list[float], list[float], float, tuple[float, ...], int, int,
                   float, list[tuple[Any, ...]]],
                  tuple[list[float], tuple[float, ...], int, float | None]]


@dataclass
class Updater:
    """One optimizer's update of a network's parameters, compiled as straight-line float code.

    - ``update(p, g, state, t)`` → (every parameter after the step, the state the next step
      starts from, the check), from ``p`` (every parameter in ``graph.params`` order), ``g``
      (the trainable ones' gradients in that order, as :meth:`Kernel.grads` returns them) and
      ``t`` (the update number, 1 in the first step);
    - ``train(p, x, t, scale, state, number)`` → (the sample's summed loss terms, the
      parameters after the step, the state, the check): a one-sample step, the kernel's
      ``grads`` lines followed by the update's in one function (``number`` is the update
      number);
    - ``epochs(p, x, t, scale, state, first, stop, loss_scale, rows)``: the epochs of a data
      set of one sample (one step each, no carry rounding) with update numbers ``first`` …
      ``stop − 1``, in one loop: the ``train`` lines, then the epoch's loss as
      ``network._data_loss`` computes it from the step's pass (``loss_scale · Σ``). Each epoch
      whose check is finite appends ``(epoch, loss, epoch, steps, parameters…)`` to ``rows``
      (its summary lines' numbers in writing order). Returns (the parameters, the state, the
      last update number, None) — or, at the first epoch whose check is not finite, stops
      after it without a row and returns its loss last.

    The check is the sum of every value the worked step writes (the kernel's
    :attr:`Kernel.written`, the gradients, every state line, the new parameters; in
    ``epochs`` the epoch's loss too): not finite when one of them is not — or when finite
    values overflow in the sum. So a finite check means the worked step writes only finite
    values, and one that is not is a "maybe" the caller settles by writing that one step the
    worked way (``network._verdict``).

    ``start`` is the state before the first step. Each function is compiled when first used
    (a run needs one of them, and the unrolled text of an optimizer with state is long)."""

    start: tuple[float, ...]
    sources: dict[str, str] = field(repr=False)
    namespace: dict[str, Any] = field(repr=False)

    @property
    def source(self) -> str:
        return "\n".join(self.sources.values())

    def function(self, name: str) -> Callable[..., Any]:
        found = self.namespace.get(name)
        if found is None:
            exec(compile(self.sources[name], f"<network {name}>", "exec"),  # noqa: S102
                 self.namespace)
            found = self.namespace[name]
        return found

    @property
    def update(self) -> Update:
        return self.function("update")

    @property
    def train(self) -> Train:
        return self.function("train")

    @property
    def epochs(self) -> Epochs:
        return self.function("epochs")


_NAME = re.compile(r"[A-Za-z_]\w*")


def compile_update(rule: RuleText, hyper: dict[str, float], eta: float, carry: Carry,
                   trainable: tuple[bool, ...], kernel: Kernel | None) -> Updater:
    """Write ``rule`` (the optimizer's own text, ``optimizers.RULES_TEXT``) once per
    trainable parameter with its names renamed: the same operations in the same order as
    :meth:`Optimizer.values` performs on arrays (elementwise IEEE arithmetic and ``sqrt``
    give the same doubles on floats), without numpy's per-call cost on ten numbers. The
    same lines serve ``update`` and, after the kernel's gradient lines, ``train`` and
    ``epochs`` (see :class:`Updater`). Without a kernel (``None``: a model that computes its
    gradient otherwise, as ``function``), only ``update``."""
    namespace: dict[str, Any] = {**(kernel.names if kernel is not None else {}), "c": carry,
                                 "sqrt": math.sqrt, "isfinite": math.isfinite}

    def constant(value: float) -> str:
        if math.isfinite(value):
            return f"({value!r})"
        name = f"k{len(namespace)}"
        namespace[name] = value
        return name

    fixed = {key: constant(float(value)) for key, value in hyper.items()}
    fixed |= {"eta": constant(float(eta)), "W": "c" if carry.decimals is not None else "",
              "sqrt": "sqrt", "t": "number"} | {name: name for name, _ in rule.shared}
    live = [i for i, flag in enumerate(trainable) if flag]

    def renamed(text: str, i: int) -> str:
        names = fixed | {"p": f"p{i}", "g": f"g{i}"}
        names |= {kind: f"o{kind}{i}" for kind in [*rule.kept, *(k for k, _ in rule.lines)]}
        return _NAME.sub(lambda m: names.get(m.group(0), m.group(0)), text)

    kept = _tuple([f"o{kind}{i}" for kind in rule.kept for i in live])
    unpack = [f"    {kept} = state"] if rule.kept and live else []
    lines = [f"    {name} = {renamed(expression, -1)}" for name, expression in rule.shared]
    for i in live:
        lines += [f"    o{kind}{i} = {renamed(expression, i)}" for kind, expression in rule.lines]
        lines.append(f"    n{i} = {renamed(rule.new, i)}")
    moved = [f"n{i}" if flag else f"p{i}" for i, flag in enumerate(trainable)]
    every = [f"p{i}" for i in range(len(trainable))]
    updated = [*(f"o{kind}{i}" for i in live for kind, _ in rule.lines), *(f"n{i}" for i in live)]
    check = " + ".join(["0.0", *(f"g{i}" for i in live), *updated])
    sources = {
        "update": "\n".join([
            "def update(p, g, state, number):", f"    {_tuple(every)} = p",
            f"    {_tuple([f'g{i}' for i in live])} = g", *unpack, *lines,
            f"    return [{', '.join(moved)}], {kept}, {check}", ""])}
    start = (0.0,) * len(rule.kept) * len(live)
    if kernel is None:
        return Updater(start, sources, namespace)
    checked = " + ".join([*kernel.written, *updated])
    loop = [f"    {line}" for line in [*kernel.grads_body, *lines]]
    sources |= {
        "train": "\n".join([
            "def train(p, x, t, scale, state, number):", *kernel.head, *unpack,
            *kernel.grads_body, *lines,
            f"    return lt, [{', '.join(moved)}], {kept}, {checked}", ""]),
        "epochs": "\n".join([
            "def epochs(p, x, t, scale, state, first, stop, loss_scale, rows):", *kernel.head,
            *unpack, "    append = rows.append", "    for number in range(first, stop):", *loop,
            "        loss = float(loss_scale * sum([float(1.0 * lt)]))",
            f"        {_tuple(every)} = {_tuple(moved)}",
            f"        if not isfinite(loss + {checked}):",
            f"            return [{', '.join(every)}], {kept}, number, loss",
            f"        append((number, loss, number, number, {', '.join(every)}))",
            f"    return [{', '.join(every)}], {kept}, stop - 1, None", ""])}
    return Updater(start, sources, namespace)
