"""Problem keys of the two network models: ``mlp`` (layers of matrices) and ``network``
(named nodes joined by named weights). Everything the YAML says about a network is checked
here and handed to the solvers as the plain data classes below, in a :class:`NetworkSpec` or
:class:`MlpSpec` (``Problem.spec``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdtrace.formula.functions import ACTIVATIONS, OUTPUT_LOSSES
from gdtrace.problem.load import common_args
from gdtrace.problem.model import Dataset, Problem, Spec
from gdtrace.problem.registry import register_model
from gdtrace.problem.schema import (
    DATASET,
    Boolean,
    Context,
    Enum,
    Field,
    Integer,
    ListOf,
    MapOf,
    Number,
    Object,
    OneOf,
    String,
    join,
)

ACTIVATION_NAMES = tuple(ACTIVATIONS)
LOSS_NAMES = tuple(OUTPUT_LOSSES)


@dataclass(frozen=True)
class Param:
    """A scalar parameter of a ``network``: its name, initial value and whether it trains."""

    name: str
    value: float
    trainable: bool = True


@dataclass(frozen=True)
class Edge:
    weight: str  # the parameter's name (W13)
    source: str  # an input column or an earlier node


@dataclass(frozen=True)
class Node:
    name: str
    activation: str
    edges: tuple[Edge, ...]
    bias: str | None = None  # the bias parameter's name, if the node has one
    slope: float = 0.01  # leaky_relu only


@dataclass(frozen=True)
class Graph:
    """A feed-forward network of named nodes, nodes in an order where sources come first."""

    inputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]  # one per target column, in the same order
    targets: tuple[str, ...]
    params: tuple[Param, ...]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def children(self, name: str) -> list[tuple[Node, Edge]]:
        """Nodes fed by ``name``, with the edge that carries it."""
        return [(n, e) for n in self.nodes for e in n.edges if e.source == name]


@dataclass(frozen=True)
class Layer:
    """One ``mlp`` layer: U = A·W + b with W of shape (inputs × units)."""

    weights: np.ndarray
    bias: np.ndarray
    activation: str
    slope: float = 0.01
    trainable: bool = True


@dataclass(frozen=True)
class Schedule:
    """Which samples each step uses, and rounding of the carried parameters between steps."""

    iterations: tuple[tuple[int, ...], ...] | None  # 0-based sample indices per step
    round_between: int | None


@dataclass(frozen=True)
class FormulaSpec(Spec):
    """What both network models may ask instead of a training run: ``symbolic`` prints the
    general gradient formulas (``symbolic: true``, or ``--symbolic`` with numbers left out),
    ``formula_only`` says there are no numbers to put in them."""

    symbolic: bool = False
    formula_only: bool = False


@dataclass(frozen=True, kw_only=True)
class NetworkSpec(FormulaSpec):
    """A ``network`` problem: its checked graph and step schedule."""

    graph: Graph
    schedule: Schedule


@dataclass(frozen=True, kw_only=True)
class MlpSpec(FormulaSpec):
    """An ``mlp`` problem: its layers, step schedule and how the worked lines are laid out."""

    layers: tuple[Layer, ...]
    schedule: Schedule
    worked: str = "vectors"  # vectors: row vectors per layer; units: unit by unit


NAME = OneOf(String(min_length=1), Integer())
PARAM_VALUE = OneOf(Number(), Object({
    "value": Field(Number(), required=True, doc="Initial value."),
    "trainable": Field(Boolean(), default=True,
                       doc="false: the parameter is frozen (kept at its value, shown as such)."),
}))

NODE = Object({
    "name": Field(NAME, required=True, doc="The node's name (3 → z₃, a₃)."),
    "activation": Field(Enum(ACTIVATION_NAMES), default="linear",
                        doc="linear | sigmoid | tanh | relu | leaky_relu | softmax."),
    "slope": Field(Number(minimum=0), default=0.01, doc="leaky_relu: the slope α for z ≤ 0."),
    "edges": Field(MapOf(NAME, min_items=1), required=True,
                   doc="Incoming edges: weight name → source (an input column or an earlier"
                   " node). A weight named on several edges is shared: its gradient is the sum"
                   " over its uses."),
    "bias": Field(OneOf(Number(), String(min_length=1)),
                  doc="A number (a bias named b<node>) or the name of a parameter in `weights`."),
})

ROUNDING_FIELDS: dict[str, Field] = {
    "round_between": Field(Integer(minimum=0, maximum=12),
                           doc="Round the parameters carried into the next step to this many"
                           " decimals (as homework does between iterations)."),
    "iterations": Field(
        ListOf(OneOf(Integer(minimum=1), ListOf(Integer(minimum=1), min_items=1)), min_items=1),
        doc="The samples (1-based) of each step, e.g. [1, 2] or [[1, 2], [3]]; repeated each"
        " epoch. Replaces `update`."),
}

LOSS_FIELD_DOC = "Loss: " + " | ".join(LOSS_NAMES) + "."

NUMBERS = ("dataset", "learning_rate", "epochs")  # required unless the formulas alone are asked

FORMULA_FIELDS: dict[str, Field | None] = {
    "symbolic": Field(Boolean(), default=False,
                      doc="true: print the general gradient formulas (as --symbolic); the data"
                          " set, weights, learning rate and epochs may then be left out."),
    "dataset": Field(DATASET, doc=DATASET.doc + " Required unless symbolic."),
    "learning_rate": Field(Number(exclusive_minimum=0),
                           doc="Step size η > 0. Required unless symbolic."),
    "epochs": Field(Integer(minimum=1), doc="Passes over the data set. Required unless symbolic."),
}


def _numbers_rule(keys: tuple[str, ...]) -> dict[str, Any]:
    """JSON Schema: ``keys`` are required unless ``symbolic: true``."""
    return {"allOf": [{"if": {"properties": {"symbolic": {"const": True}},
                              "required": ["symbolic"]},
                       "else": {"required": list(keys)}}]}


def formula_only_allowed(checked: dict[str, Any], ctx: Context, keys: tuple[str, ...]) -> bool:
    """True when the formulas alone are asked (``symbolic: true`` or ``--symbolic``); otherwise
    every key of ``keys`` must be there, with the usual message."""
    if checked.get("symbolic") or ctx.formula_only:
        return True
    for key in keys:
        if checked.get(key) is None:
            raise ctx.error(f"missing required key {key!r} (or `symbolic: true` for the "
                            "gradient formulas alone)", key)
    return False


def target_names(count: int) -> tuple[str, ...]:
    """Without a data set the target is y (y1 … yK for several outputs), as in the header."""
    return ("y",) if count == 1 else tuple(f"y{k}" for k in range(1, count + 1))


def placeholder_dataset(inputs: tuple[str, ...], targets: tuple[str, ...]) -> Dataset:
    """No samples: the structure's inputs and targets only (formulas need no numbers)."""
    return Dataset([*inputs, *targets], list(inputs), list(targets),
                   np.zeros((0, len(inputs))), np.zeros((0, len(targets))))

NETWORK_FIELDS: dict[str, Field | None] = {
    **FORMULA_FIELDS,
    "nodes": Field(ListOf(NODE, min_items=1), required=True,
                   doc="The nodes in order; each node's sources come before it."),
    "outputs": Field(ListOf(NAME, min_items=1),
                     doc="Output nodes, one per target column (default: the last node)."),
    "weights": Field(MapOf(PARAM_VALUE),
                     doc="Initial value of every weight named in `edges` (and named biases):"
                     " a number or {value, trainable}. Required unless symbolic."),
    "loss": Field(Enum(LOSS_NAMES), default="squared", doc=LOSS_FIELD_DOC),
    "lambda": None,
    "threshold": None,
    **ROUNDING_FIELDS,
}

LAYER = Object({
    "weights": Field(ListOf(OneOf(Number(), ListOf(Number(), min_items=1)), min_items=1),
                     doc="Shape inputs × units: row i = input i, column j = unit j. A flat list"
                     " is one column (a single unit). Required unless symbolic (then `units`)."),
    "units": Field(Integer(minimum=1),
                   doc="symbolic without weights: the number of units of the layer."),
    "bias": Field(OneOf(Number(), ListOf(Number(), min_items=1)),
                  doc="One per unit (default 0)."),
    "activation": Field(Enum(ACTIVATION_NAMES), default="linear",
                        doc="linear | sigmoid | tanh | relu | leaky_relu | softmax."),
    "slope": Field(Number(minimum=0), default=0.01, doc="leaky_relu: the slope α for z ≤ 0."),
    "trainable": Field(Boolean(), default=True, doc="false: W and b of this layer are frozen."),
})

MLP_FIELDS: dict[str, Field | None] = {
    **FORMULA_FIELDS,
    "inputs": Field(Integer(minimum=1),
                    doc="symbolic without a data set: the number of inputs (x1 … xd)."),
    "layers": Field(ListOf(LAYER, min_items=1), required=True,
                    doc="Layers in order; U = A·W + b, A = f(U)."),
    "loss": Field(Enum(LOSS_NAMES), default="mse", doc=LOSS_FIELD_DOC),
    "worked": Field(Enum(("vectors", "units")), default="vectors",
                    doc="vectors: each layer's lines as row vectors; units: unit by unit (z, a,"
                    " ∂L/∂z of every unit, a chain-rule line per weight)."),
    "lambda": None,
    "threshold": None,
    **ROUNDING_FIELDS,
}


def _name(value: Any) -> str:
    return str(value)


def _schedule(checked: dict[str, Any], n: int, ctx: Context) -> Schedule:
    iterations = checked.get("iterations")
    steps: list[tuple[int, ...]] | None = None
    if iterations is not None:
        steps = []
        for i, item in enumerate(iterations):
            samples = [item] if isinstance(item, int) else list(item)
            for sample in samples:
                if n and sample > n:
                    raise ctx.error(f"sample {sample} does not exist (the data set has {n})",
                                    join("iterations", i))
            steps.append(tuple(s - 1 for s in samples))
    return Schedule(tuple(steps) if steps is not None else None, checked.get("round_between"))


def _check_loss(loss: str, output_activations: list[str], ctx: Context, path: str) -> None:
    paired = OUTPUT_LOSSES[loss].paired
    if paired is not None and any(a != paired for a in output_activations):
        raise ctx.error(f"loss {loss} needs {paired} output units (got "
                        f"{', '.join(output_activations)})", path)


def _check_targets(loss: str, Y: np.ndarray, ctx: Context) -> None:
    if loss == "cross_entropy":
        sums = Y.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-9)
        if bad.size:
            raise ctx.error(f"cross_entropy targets of a sample must add up to 1; sample "
                            f"{int(bad[0]) + 1} adds up to {sums[bad[0]]:g}", "dataset")
    if loss in ("cross_entropy", "binary_cross_entropy"):
        if np.any((Y < 0) | (Y > 1)):
            raise ctx.error(f"{loss} targets must be between 0 and 1", "dataset")


def build_network(checked: dict[str, Any], ctx: Context) -> Problem:
    """Check the named-node description: sources exist and come first, weights are given
    (formulas alone: the inputs are the sources that are not nodes, unknown values are nan)."""
    formula_only = formula_only_allowed(checked, ctx, (*NUMBERS, "weights"))
    dataset = checked.get("dataset")
    inputs = tuple(dataset.features) if dataset is not None else _edge_inputs(checked["nodes"])
    no_weights = checked.get("weights") is None
    params = _given_params(checked.get("weights") or {})
    nodes = _nodes(checked["nodes"], inputs, params, no_weights, ctx)
    outputs = _outputs(checked, nodes, ctx)
    if dataset is None:
        dataset = placeholder_dataset(inputs, target_names(len(outputs)))
    if len(outputs) != len(dataset.targets):
        raise ctx.error(f"{len(outputs)} output node(s) but {len(dataset.targets)} target "
                        f"column(s) ({', '.join(dataset.targets)})", "outputs")
    _check_softmax_nodes(nodes, outputs, ctx)
    loss = checked["loss"]
    _check_loss(loss, [next(n for n in nodes if n.name == o).activation for o in outputs], ctx,
                "loss")
    _check_targets(loss, dataset.Y, ctx)
    ordered = tuple(params[p] for p in _param_order(nodes))
    graph = Graph(inputs, tuple(nodes), outputs, tuple(dataset.targets), ordered)
    spec = NetworkSpec(**_formula_flags(checked, formula_only, dataset.n == 0 or no_weights),
                       graph=graph, schedule=_schedule(checked, dataset.n, ctx))
    return Problem(**{**common_args(checked, ctx), "dataset": dataset},
                   weight_names=[p.name for p in ordered], weights=[p.value for p in ordered],
                   spec=spec)


def _given_params(raw_weights: dict[str, Any]) -> dict[str, Param]:
    """``weights:`` as parameters: a number, or {value, trainable}."""
    params: dict[str, Param] = {}
    for name, given in raw_weights.items():
        if isinstance(given, dict):
            params[name] = Param(name, float(given["value"]), bool(given["trainable"]))
        else:
            params[name] = Param(name, float(given))
    return params


def _nodes(raw_nodes: list[dict[str, Any]], inputs: tuple[str, ...], params: dict[str, Param],
           no_weights: bool, ctx: Context) -> list[Node]:
    """The nodes in order, each source known before it is used; ``params`` gains the biases
    written as numbers (and, without weights, every parameter as nan)."""
    nodes: list[Node] = []
    known = set(inputs)
    used: set[str] = set()
    for i, raw in enumerate(raw_nodes):
        path = join("nodes", i)
        name = _name(raw["name"])
        if name in known:
            raise ctx.error(f"node name {name!r} is already used (by an input or a node)",
                            join(path, "name"))
        edges = tuple(_edge(weight, _name(source), known, inputs, params, no_weights, ctx,
                            join(join(path, "edges"), weight))
                      for weight, source in raw["edges"].items())
        used.update(e.weight for e in edges)  # a weight on several edges is shared: Σ over uses
        bias_name = _bias(raw.get("bias"), name, params, no_weights, ctx, join(path, "bias"))
        if bias_name is not None:
            used.add(bias_name)  # a named bias may be shared by several nodes
        nodes.append(Node(name, raw["activation"], edges, bias_name, raw["slope"]))
        known.add(name)
    unused = [p for p in params if p not in used]
    if unused:
        raise ctx.error(f"{', '.join(unused)} in `weights` is not used by any edge or bias",
                        join("weights", unused[0]))
    return nodes


def _edge(weight: str, source: str, known: set[str], inputs: tuple[str, ...],
          params: dict[str, Param], no_weights: bool, ctx: Context, path: str) -> Edge:
    if source not in known:
        raise ctx.error(f"edge {weight} comes from {source!r}, which is neither an input "
                        f"({', '.join(inputs)}) nor an earlier node", path)
    if weight not in params and no_weights:
        params[weight] = Param(weight, math.nan)
    if weight not in params:
        raise ctx.error(f"weight {weight} has no initial value in `weights`", path)
    return Edge(weight, source)


def _bias(bias: float | str | None, node: str, params: dict[str, Param], no_weights: bool,
          ctx: Context, path: str) -> str | None:
    """The name of a node's bias parameter: a name from `weights`, or b<node> for a number."""
    if bias is None:
        return None
    if isinstance(bias, str):
        if bias not in params and no_weights:
            params[bias] = Param(bias, math.nan)
        if bias not in params:
            raise ctx.error(f"bias {bias} has no initial value in `weights`", path)
        return bias
    name = f"b{node}"
    if name in params:
        raise ctx.error(f"{name} is both a weight and node {node}'s bias", path)
    params[name] = Param(name, float(bias))
    return name


def _outputs(checked: dict[str, Any], nodes: list[Node], ctx: Context) -> tuple[str, ...]:
    outputs = tuple(_name(o) for o in (checked.get("outputs") or [nodes[-1].name]))
    names = [n.name for n in nodes]
    for i, out in enumerate(outputs):
        if out not in names:
            raise ctx.error(f"output {out!r} is not a node", join("outputs", i))
    return outputs


def _check_softmax_nodes(nodes: list[Node], outputs: tuple[str, ...], ctx: Context) -> None:
    soft = [n for n in nodes if n.activation == "softmax"]
    if not soft:
        return
    if any(n.name not in outputs for n in soft) or any(
            nodes.index(n) < len(nodes) - len(soft) for n in soft):
        raise ctx.error("softmax nodes must be output nodes listed last", "nodes")
    if any(e.source in {n.name for n in soft} for n in nodes for e in n.edges):
        raise ctx.error("a softmax node cannot feed another node", "nodes")


def _edge_inputs(raw_nodes: list[dict[str, Any]]) -> tuple[str, ...]:
    """Without a data set, the inputs are the edge sources that are not nodes (in order)."""
    names = {_name(raw["name"]) for raw in raw_nodes}
    inputs: list[str] = []
    for raw in raw_nodes:
        for source in raw["edges"].values():
            source = _name(source)
            if source not in names and source not in inputs:
                inputs.append(source)
    return tuple(inputs)


def _formula_flags(checked: dict[str, Any], formula_only: bool, missing: bool
                   ) -> dict[str, bool]:
    """``symbolic``: print formulas; ``formula_only``: there are no numbers to put in them."""
    if not formula_only or not (checked.get("symbolic") or missing):
        return {}
    return {"symbolic": True, "formula_only": missing}


def _param_order(nodes: list[Node]) -> list[str]:
    """Parameters sorted by name as a student lists them (W13, W14, W23 …), biases last."""
    weights = list(dict.fromkeys(e.weight for n in nodes for e in n.edges))  # shared: once
    biases = [b for b in dict.fromkeys(n.bias for n in nodes if n.bias is not None)
              if b not in weights]
    return sorted(weights, key=_natural) + biases


def _natural(name: str) -> tuple[Any, ...]:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def build_mlp(checked: dict[str, Any], ctx: Context) -> Problem:
    """Check that the layer shapes chain from the features to the targets (formulas alone:
    ``units`` may replace the weights and ``inputs`` the data set)."""
    formula_only = formula_only_allowed(checked, ctx, NUMBERS)
    dataset = checked.get("dataset")
    no_weights = any(raw.get("weights") is None for raw in checked["layers"])
    fan_in = _fan_in(checked, dataset, ctx)
    layers: list[Layer] = []
    for i, raw in enumerate(checked["layers"]):
        layers.append(_layer(raw, join("layers", i), fan_in, i, formula_only, ctx))
        fan_in = layers[-1].weights.shape[1]
    if dataset is None:
        features = tuple(f"x{k}" for k in range(1, layers[0].weights.shape[0] + 1))
        dataset = placeholder_dataset(features, target_names(fan_in))
    if fan_in != len(dataset.targets):
        raise ctx.error(f"the last layer has {fan_in} units but there are "
                        f"{len(dataset.targets)} target column(s) ({', '.join(dataset.targets)})",
                        join(join("layers", len(layers) - 1), "weights"))
    for i, layer in enumerate(layers[:-1]):
        if layer.activation == "softmax":
            raise ctx.error("softmax is for the output layer only", join(join("layers", i),
                                                                         "activation"))
    loss = checked["loss"]
    _check_loss(loss, [layers[-1].activation], ctx, "loss")
    _check_targets(loss, dataset.Y, ctx)
    spec = MlpSpec(**_formula_flags(checked, formula_only, dataset.n == 0 or no_weights),
                   layers=tuple(layers), schedule=_schedule(checked, dataset.n, ctx),
                   worked=checked["worked"])
    names = [f"{kind}{i + 1}" for i in range(len(layers)) for kind in ("W", "b")]
    return Problem(**{**common_args(checked, ctx), "dataset": dataset}, weight_names=names,
                   spec=spec)


def _fan_in(checked: dict[str, Any], dataset: Dataset | None, ctx: Context) -> int:
    """The first layer's inputs: the features, ``inputs``, or the first weight matrix's rows."""
    if dataset is not None:
        return len(dataset.features)
    if checked.get("inputs") is not None:
        return int(checked["inputs"])
    if checked["layers"][0].get("weights") is not None:
        return len(checked["layers"][0]["weights"])  # rows (a flat list: one per input)
    raise ctx.error("missing required key 'inputs' (the number of inputs, when there is no "
                    "data set and the first layer gives units instead of weights)", "inputs")


def _layer(raw: dict[str, Any], path: str, fan_in: int, index: int, formula_only: bool,
           ctx: Context) -> Layer:
    matrix = _layer_weights(raw, path, fan_in, formula_only, ctx)
    if raw.get("units") is not None and raw.get("weights") is not None \
            and raw["units"] != matrix.shape[1]:
        raise ctx.error(f"units is {raw['units']} but the weights have {matrix.shape[1]} "
                        "columns", join(path, "units"))
    if matrix.shape[0] != fan_in:
        what = f"{fan_in} inputs" if index == 0 else f"{fan_in} units in layer {index}"
        raise ctx.error(f"weights have {matrix.shape[0]} rows but the layer gets {fan_in} "
                        f"inputs ({what}); row i = input i", join(path, "weights"))
    vector = _layer_bias(raw, matrix.shape[1], path, ctx)
    return Layer(matrix, vector, raw["activation"], raw["slope"], raw["trainable"])


def _layer_weights(raw: dict[str, Any], path: str, fan_in: int, formula_only: bool,
                   ctx: Context) -> np.ndarray:
    """W as a matrix: rows, a flat list (one unit), or nan of ``units`` columns (formulas)."""
    rows = raw.get("weights")
    if rows is None:
        if not formula_only or raw.get("units") is None:
            raise ctx.error("missing required key 'weights'" + (
                " (or `units` with `symbolic: true`)" if formula_only else ""),
                join(path, "weights"))
        return np.full((fan_in, raw["units"]), math.nan)
    if all(isinstance(r, float) for r in rows):
        return np.array(rows, dtype=float).reshape(-1, 1)
    if all(isinstance(r, list) for r in rows):
        if len({len(r) for r in rows}) != 1:
            raise ctx.error("every row of weights needs the same number of units",
                            join(path, "weights"))
        return np.array(rows, dtype=float)
    raise ctx.error("weights: either a list of rows or a flat list (one unit)",
                    join(path, "weights"))


def _layer_bias(raw: dict[str, Any], units: int, path: str, ctx: Context) -> np.ndarray:
    """b: one number per unit (default 0; nan when the weights are left out too)."""
    bias = raw.get("bias")
    if bias is None:
        return np.full(units, math.nan) if raw.get("weights") is None else np.zeros(units)
    if isinstance(bias, float):
        if units != 1:
            raise ctx.error(f"bias: give {units} numbers, one per unit", join(path, "bias"))
        return np.full(units, bias)
    vector = np.array(bias, dtype=float)
    if vector.shape != (units,):
        raise ctx.error(f"bias has {vector.size} numbers but the layer has {units} units",
                        join(path, "bias"))
    return vector


register_model("network", NETWORK_FIELDS, build_network, label="Neural network",
               doc="Named nodes with activations; each incoming edge is a named weight.",
               json_extra=_numbers_rule((*NUMBERS, "weights")))
register_model("mlp", MLP_FIELDS, build_mlp, label="Multilayer perceptron",
               doc="Layers with weights (inputs × units), bias and activation: U = XW + b.",
               json_extra=_numbers_rule(NUMBERS))
