"""General gradient formulas of a network, derived from its description (no numbers).

The formulas are built by running the chain rule over the architecture with expression
trees instead of numbers: each activation contributes its own ``derivative_formula`` and the
loss its ``derivative_formula`` (both from :mod:`gdtrace.formula.functions`), so a new architecture,
activation or loss needs nothing typed in here. ``gdtrace solve PROBLEM --symbolic`` prints
them through the trace header, so every output format shows them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gdtrace.formula.expr import (
    Add,
    Compare,
    Deriv,
    Div,
    Expr,
    Func,
    Mul,
    Neg,
    Num,
    Pow,
    Ref,
    Sum,
    Sym,
    Text,
)
from gdtrace.formula.functions import OutputLoss
from gdtrace.problem.network_models import FormulaSpec, Graph, Layer
from gdtrace.solvers.network_kernel import activation_of
from gdtrace.solvers.network_symbols import LOSS, a_sym, param_sym, source_sym, z_sym
from gdtrace.trace import Block, Formula, Quantity, Role, Run, Value

if TYPE_CHECKING:
    import numpy as np

    from gdtrace.problem.model import Problem

N = Sym("N", "N")
K = Sym("K", "K")


def _scale(loss: OutputLoss) -> Expr | None:
    """The reduction factor written as a formula: 1/(N·K), 1/N or nothing."""
    if loss.reduction == "mean":
        return Num(1) / (N * K)
    if loss.reduction == "mean_samples":
        return Num(1) / N
    return None


def _times(scale: Expr | None, body: Expr) -> Expr:
    return body if scale is None else scale * body


def _product(factors: list[Expr]) -> Expr:
    factors = [f for f in factors if not (isinstance(f, Num) and f.value == 1)]
    if not factors:
        return Num(1)
    total = factors[0]
    for factor in factors[1:]:
        total = total * factor
    return total


def _sum(terms: list[Expr]) -> Expr:
    return terms[0] if len(terms) == 1 else Add.of(*terms)


# ------------------------------------------------------------------------------- network


def network_gradients(graph: Graph, loss: OutputLoss) -> list[Formula]:
    """∂L/∂(every trainable parameter) for one sample, every ∂L/∂z expanded to the loss."""
    targets = dict(zip(graph.outputs, graph.targets))
    memo: dict[str, Expr] = {}
    softmax_group = [n.name for n in graph.nodes if n.activation == "softmax"]

    def dloss_da(name: str) -> Expr:
        return loss.derivative_formula(a_sym(name), Sym(f"t:{name}", targets[name]))

    def dz(name: str) -> Expr:
        if name in memo:
            return memo[name]
        node = graph.node(name)
        if name in targets and loss.paired is not None:
            memo[name] = a_sym(name) - Sym(f"t:{name}", targets[name])
            return memo[name]
        parts = [dloss_da(name)] if name in targets else []
        parts += [_product([dz(child.name), param_sym(e.weight)])
                  for child, e in graph.children(name)]
        g = _sum(parts)
        if node.activation == "softmax":
            weighted = _sum([_product([dloss_da(m), a_sym(m)]) for m in softmax_group])
            result: Expr = a_sym(name) * (g - weighted)
        else:
            act = activation_of(node.activation, node.slope)
            result = _product([g, act.derivative_formula(z_sym(name), a_sym(name))])
        memo[name] = result
        return result

    trainable = {p.name for p in graph.params if p.trainable}
    uses: dict[str, list[Expr]] = {}  # a shared (tied) parameter: the sum over its uses
    for node in graph.nodes:
        for edge in node.edges:
            if edge.weight in trainable:
                uses.setdefault(edge.weight, []).append(
                    _product([dz(node.name), source_sym(graph, edge.source)]))
        if node.bias is not None and node.bias in trainable:
            uses.setdefault(node.bias, []).append(dz(node.name))
    formulas = [Formula(Deriv(LOSS, param_sym(name), "g"), _sum(found),
                        "one sample" if len(found) == 1 else
                        f"one sample; the sum over its {len(found)} uses")
                for name, found in uses.items()]
    scale = _scale(loss)
    if scale is not None:
        formulas.append(Formula(LOSS, _times(scale, Sum("i", N, Sym("l_i", "ℓ", "i"))),
                                "so each sample's gradient is multiplied by this factor"))
    return formulas


def network_run(problem: Problem, setup: Any, label: str, settings: dict[str, Any],
                sample_pass: Callable[..., Any]) -> Run:
    """``--symbolic``: no training. With numbers given, each gradient formula is also written
    with the first step's first sample and the initial parameters put in (formula, then value),
    the value from the same forward and backward pass the worked solution makes."""
    from gdtrace.formula.rounding import Carry

    graph = setup.graph
    params = {p.name: p.value for p in graph.params}
    run = Run(label, settings, [], {}, None, list(params))
    if problem.spec_of(FormulaSpec).formula_only or len(setup.X) == 0:
        return run
    iterations = setup.schedule.iterations
    sample = iterations[0][0] if iterations else 0
    x = dict(zip(graph.inputs, map(float, setup.X[sample])))
    t = dict(zip(graph.targets, map(float, setup.Y[sample])))
    trainable = {p.name: p.trainable for p in graph.params}
    result = sample_pass(graph, setup.loss, params, trainable, x, t, 1.0, Carry(None), None)
    operands = network_operands(graph, params, x, t, result.z, result.a)
    quantities = [
        Quantity(f"dL/d{_param_name(formula)}", Role.VALUE, formula.lhs,
                 result.grads[_param_name(formula)], formula.rhs, operands)
        for formula in network_gradients(graph, setup.loss) if isinstance(formula.lhs, Deriv)]
    title = (f"The formulas at the given numbers (sample {sample + 1}, the initial parameters;"
             " one sample's gradient, before any averaging factor)")
    run.blocks.append(Block(title, quantities))
    return run


def _param_name(formula: Formula) -> str:
    assert isinstance(formula.lhs, Deriv) and isinstance(formula.lhs.wrt, Sym)
    return formula.lhs.wrt.key.removeprefix("param:")


def network_operands(graph: Graph, params: dict[str, float], x: dict[str, float],
                     t: dict[str, float], z: dict[str, float], a: dict[str, float],
                     ) -> dict[str, Value]:
    """The number of every leaf the formulas of :func:`network_gradients` use."""
    operands: dict[str, Value] = {f"param:{k}": v for k, v in params.items()}
    operands.update({f"input:{k}": v for k, v in x.items()})
    operands.update({f"z:{k}": v for k, v in z.items()})
    operands.update({f"a:{k}": v for k, v in a.items()})
    for node, target in zip(graph.outputs, graph.targets):
        operands[f"t:{node}"] = t[target]
    return operands


_FUNCTIONS: dict[str, Callable[..., float]] = {
    "exp": math.exp, "ln": math.log, "log": math.log, "tanh": math.tanh, "abs": abs,
    "sqrt": math.sqrt}


def evaluate(node: Expr, operands: dict[str, float]) -> float:
    """A scalar formula's value with its leaves' numbers (for checking formulas against the
    numeric passes; the printers only substitute)."""
    if isinstance(node, Num):
        return float(node.value)
    if isinstance(node, (Sym, Ref, Deriv)):
        return float(operands[node.key])
    if isinstance(node, Add):
        return sum(evaluate(t, operands) for t in node.terms)
    if isinstance(node, Neg):
        return -evaluate(node.arg, operands)
    if isinstance(node, Mul):
        return math.prod(evaluate(f, operands) for f in node.factors)
    if isinstance(node, Div):
        return evaluate(node.num, operands) / evaluate(node.den, operands)
    if isinstance(node, Pow):
        return evaluate(node.base, operands) ** evaluate(node.exp, operands)
    if isinstance(node, Compare):
        lhs, rhs = evaluate(node.lhs, operands), evaluate(node.rhs, operands)
        return float({">": lhs > rhs, "≤": lhs <= rhs, "<": lhs < rhs, "≥": lhs >= rhs}[node.op])
    if isinstance(node, Func):
        args = [evaluate(a, operands) for a in node.args]
        if node.name == "max":
            return max(args)
        return _FUNCTIONS[node.name](*args)
    if isinstance(node, Sum) and node.terms:
        return sum(evaluate(t, operands) for t in node.terms)
    raise ValueError(f"cannot evaluate {type(node).__name__}")


# ----------------------------------------------------------------------------------- mlp


def _T(node: Expr) -> Expr:
    return Pow(node, Text("T"))


def _diag(node: Expr) -> Expr:
    return Func("diag", (node,))


def mlp_gradients(layers: tuple[Layer, ...], loss: OutputLoss, target: str = "y"
                  ) -> list[Formula]:
    """∂L/∂Wₗ and ∂L/∂bₗ as sums over samples of row-vector products, δ fully expanded.

    For sample i: δ_L = ∂L/∂ŷᵢ·diag(f'(u_L)) (softmax: ·(diag(ŷ) − ŷᵀŷ); with its paired
    loss: ŷ − t), δₗ = δₗ₊₁·Wₗ₊₁ᵀ·diag(fₗ'(uₗ)), ∂L/∂Wₗ = Σᵢ aₗ₋₁ᵀ·δₗ, ∂L/∂bₗ = Σᵢ δₗ.
    """
    count = len(layers)

    def u(index: int) -> Sym:
        return Sym(f"u{index}", "u", f"{index}i")

    def a(index: int) -> Sym:
        if index == 0:
            return Sym("x", "x", "i")
        if index == count:
            return Sym("yhat", "y", "i", hat=True)
        return Sym(f"a{index}", "a", f"{index}i")

    def W(index: int) -> Sym:
        return Sym(f"W{index}", "W", str(index))

    t = Sym("t", target, "i")  # named as in the header and the worked lines
    scale = _scale(loss)
    deltas: dict[int, Expr] = {}
    out = layers[-1]
    if loss.paired is not None:
        deltas[count] = _times(scale, a(count) - t)
    else:
        g = _times(scale, loss.derivative_formula(a(count), t))
        if out.activation == "softmax":
            deltas[count] = g * (_diag(a(count)) - _T(a(count)) * a(count))
        elif out.activation == "linear":
            deltas[count] = g
        else:
            act = activation_of(out.activation, out.slope)
            deltas[count] = g * _diag(act.derivative_formula(u(count), a(count)))
    for index in range(count - 1, 0, -1):
        layer = layers[index - 1]
        back = _product([deltas[index + 1], _T(W(index + 1))])
        if layer.activation == "linear":
            deltas[index] = back
        else:
            act = activation_of(layer.activation, layer.slope)
            deltas[index] = back * _diag(act.derivative_formula(u(index), a(index)))
    formulas = []
    for index, layer in enumerate(layers, start=1):
        if not layer.trainable:
            continue
        formulas.append(Formula(Deriv(LOSS, W(index), "g"),
                                Sum("i", N, _product([_T(a(index - 1)), deltas[index]])),
                                f"{layer.weights.shape[0]}×{layer.weights.shape[1]}"))
        formulas.append(Formula(Deriv(LOSS, Sym(f"b{index}", "b", str(index)), "g"),
                                Sum("i", N, deltas[index]), f"1×{layer.weights.shape[1]}"))
    return formulas


def mlp_run(problem: Problem, setup: Any, label: str, settings: dict[str, Any],
            names: list[str]) -> Run:
    """``--symbolic`` on an mlp: no training. With numbers given, each ∂L/∂Wₗ and ∂L/∂bₗ
    formula is also written for the first step's first sample (its share, the Σᵢ term) with
    the initial parameters put in, evaluated with row vectors."""
    import numpy as np

    from gdtrace.formula.functions import softmax

    run = Run(label, settings, [], {}, None, names)
    if problem.spec_of(FormulaSpec).formula_only or len(setup.X) == 0:
        return run
    group = next(iter(setup.base.groups(None)))
    sample = group[0]
    operands: dict[str, Any] = {"x": setup.X[sample].reshape(1, -1),
                                "t": setup.Y[sample].reshape(1, -1), "N": float(len(group)),
                                "K": float(setup.Y.shape[1])}
    a = operands["x"]
    for index, layer in enumerate(setup.layers, start=1):
        u = a @ layer.weights + layer.bias
        a = softmax(u) if layer.activation == "softmax" else \
            activation_of(layer.activation, layer.slope).forward(u)
        operands |= {f"u{index}": u, f"a{index}": a, f"W{index}": layer.weights}
    operands["yhat"] = a
    share = Sym(f"L_{sample + 1}", "L", str(sample + 1))
    shown = {k: _row(v) for k, v in operands.items()}  # row vectors written as the worked lines
    quantities = []
    for formula in mlp_gradients(setup.layers, setup.loss, setup.target.base):
        if not (isinstance(formula.lhs, Deriv) and isinstance(formula.rhs, Sum)):
            continue
        wrt = formula.lhs.wrt
        assert isinstance(wrt, Sym)  # ∂L/∂W₁: the parameter's symbol
        value = np.atleast_2d(evaluate_rows(formula.rhs.body, operands))
        quantities.append(Quantity(f"dL/d{wrt.key}", Role.VALUE, Deriv(share, wrt, "share"),
                                   _row(value), formula.rhs.body, shown))
    title = (f"The formulas at the given numbers (sample {sample + 1}'s term of Σᵢ, the "
             "initial parameters)")
    run.blocks.append(Block(title, quantities))
    return run


def _row(value: Any) -> Any:
    """A 1×k array as the vector [a, b, …] (as the worked lines write it); others unchanged."""
    shape: tuple[int, ...] = getattr(value, "shape", ())
    return value.reshape(-1) if len(shape) == 2 and shape[0] == 1 else value


def evaluate_rows(node: Expr, operands: dict[str, Any]) -> np.ndarray | float:
    """An mlp formula with row vectors and matrices: a product of two vectors of one shape is
    elementwise, any other product of arrays a matrix product (docs/networks.md)."""
    import numpy as np

    def ev(n: Expr) -> Any:
        if isinstance(n, Num):
            return float(n.value)
        if isinstance(n, Sym):
            return operands[n.key]
        if isinstance(n, Add):
            return sum(ev(t) for t in n.terms)
        if isinstance(n, Neg):
            return -ev(n.arg)
        if isinstance(n, Div):
            return ev(n.num) / ev(n.den)
        if isinstance(n, Pow):
            return np.asarray(ev(n.base)).T if isinstance(n.exp, Text) else ev(n.base) ** ev(n.exp)
        if isinstance(n, Func) and n.name == "diag":
            return np.diagflat(ev(n.args[0]))
        if isinstance(n, Compare):
            return evaluate_compare(n.op, np.asarray(ev(n.lhs)), ev(n.rhs))
        if isinstance(n, Mul):
            out = ev(n.factors[0])
            for factor in n.factors[1:]:
                right = ev(factor)
                both = isinstance(out, np.ndarray) and isinstance(right, np.ndarray)
                out = out @ right if both and out.shape != right.shape or (
                    both and out.shape[0] != 1) else out * right
            return out
        raise ValueError(f"cannot evaluate {type(n).__name__}")

    return ev(node)


def evaluate_compare(op: str, lhs: Any, rhs: Any) -> Any:
    import numpy as np

    result = {">": lhs > rhs, "≤": lhs <= rhs, "<": lhs < rhs, "≥": lhs >= rhs}[op]
    return np.asarray(result, dtype=float)
