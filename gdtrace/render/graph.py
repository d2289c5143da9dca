"""``gdtrace graph``: draw a network problem in the terminal or as Graphviz DOT.

Nodes are grouped by depth (inputs, then each layer of nodes whose sources are all further
left); every edge carries its weight's name and value. With a pass, each node also shows z, a
and ∂L/∂z, and each edge ∂L/∂W, from one forward and backward pass that the solver computes
(:func:`gdtrace.solvers.network.graph_pass`); this module only lays the numbers out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gdtrace.errors import UsageError
from gdtrace.problem.model import Problem
from gdtrace.problem.network_models import FormulaSpec, Graph
from gdtrace.render.printer import NumberFormat

if TYPE_CHECKING:
    from gdtrace.solvers.network import GraphPass, Setup


def _setup(problem: Problem) -> Setup:
    if problem.model == "network":
        from gdtrace.solvers.network import setup_from

        return setup_from(problem)
    if problem.model == "mlp":
        from gdtrace.solvers.mlp import setup_from as mlp_setup

        return mlp_setup(problem).base
    raise UsageError(f"gdtrace graph draws the network models (mlp, network), not "
                     f"{problem.model}")


def depths(graph: Graph) -> dict[str, int]:
    """0 for inputs; a node is one deeper than its deepest source."""
    depth = dict.fromkeys(graph.inputs, 0)
    for node in graph.nodes:
        depth[node.name] = 1 + max(depth[e.source] for e in node.edges)
    return depth


def draw(problem: Problem, fmt: str = "text", with_pass: bool = True, decimals: int = 4,
         width: int | None = None) -> str:
    """The drawing; with ``width`` the text drawing's long lines are wrapped to it, and if
    one still cannot fit, a last line says so and suggests ``--format dot``."""
    from gdtrace.solvers.network import graph_pass

    setup = _setup(problem)
    numbers = _Unknown(decimals)
    formula_only = problem.spec_of(FormulaSpec).formula_only  # no numbers: no pass, values "?"
    values = graph_pass(setup) if with_pass and not formula_only else None
    if fmt == "dot":
        return _dot(problem, setup.graph, values, numbers)
    text = _text(problem, setup.graph, values, numbers)
    return text if width is None else fitted(text, width)


def fitted(text: str, width: int) -> str:
    from rich.cells import cell_len

    from gdtrace.render.fit import wrap

    lines = [part for line in text.splitlines() for part in wrap(line, width, hang=4)]
    if lines[1].startswith("="):
        lines[1] = "=" * min(len(lines[1]), width)
    if any(cell_len(line) > width for line in lines):
        lines.append(f"(the drawing does not fit {width} columns: try --format dot)")
    return "\n".join(lines) + "\n"


class _Unknown(NumberFormat):
    """A parameter without a value (a formula-only problem) is drawn as ``?``."""

    def plain(self, value: float) -> str:
        if value != value:
            return "?"
        return super().plain(value)


def _symbol(activation: str) -> str:
    return {"sigmoid": "σ", "linear": "id", "leaky_relu": "leaky relu"}.get(activation,
                                                                          activation)


def _text(problem: Problem, graph: Graph, values: GraphPass | None,
          numbers: NumberFormat) -> str:
    num = numbers.plain
    params = {p.name: p for p in graph.params}
    depth = depths(graph)
    lines = [problem.title, "=" * len(problem.title)]
    if values is not None:
        samples = ", ".join(map(str, values.samples))
        plural = "s" if len(values.samples) > 1 else ""
        lines.append(f"values: one forward and backward pass on sample{plural} {samples} with "
                     f"the initial parameters (z and a of sample {values.samples[0]}; ∂L/∂z "
                     "and ∂L/∂W of the whole step)")
    lines.append("")
    lines.append("inputs")
    for name in graph.inputs:
        shown = f" = {num(values.inputs[name])}" if values is not None else ""
        lines.append(f"  ({name}){shown}")
    targets = dict(zip(graph.outputs, graph.targets))
    for level in range(1, max(depth.values()) + 1):
        nodes = [n for n in graph.nodes if depth[n.name] == level]
        outputs = all(n.name in targets for n in nodes)
        lines.append("")
        lines.append(f"layer {level}{' (output)' if outputs else ''}")
        for node in nodes:
            head = f"  ({node.name}) {_symbol(node.activation)}"
            if node.name in targets:
                head += f" → ŷ for {targets[node.name]}"
            if values is not None:
                head += (f"    z = {num(values.z[node.name])}, a = {num(values.a[node.name])}, "
                         f"∂L/∂z = {num(values.dz[node.name])}")
            lines.append(head)
            tails = [f"{e.source} ──{e.weight} = {num(params[e.weight].value)}──"
                     for e in node.edges]
            width = max(len(tail) for tail in tails)
            for edge, tail in zip(node.edges, tails):
                param = params[edge.weight]
                extra = _grad_text(values, edge.weight, param.trainable, num)
                arrow = tail + "─" * (width - len(tail)) + "▶"
                lines.append(f"      {arrow} {node.name}{extra}")
            if node.bias is not None:
                param = params[node.bias]
                extra = _grad_text(values, node.bias, param.trainable, num)
                lines.append(f"      bias {node.bias} = {num(param.value)}{extra}")
    if values is not None:
        lines.append("")
        lines.append(f"loss L = {num(values.loss)} ({problem.loss})")
    from gdtrace.solvers.network import shared_uses

    shared = shared_uses(graph)
    if shared:
        listed = ", ".join(f"{name} ({k} uses)" for name, k in shared.items())
        lines.append(f"shared (tied): {listed}; each ∂L/∂ shown is the sum over its uses")
    return "\n".join(lines) + "\n"


def _grad_text(values: GraphPass | None, name: str, trainable: bool,
               num: Callable[[float], str]) -> str:
    if not trainable:
        return "    (frozen)"
    if values is None:
        return ""
    return f"    ∂L/∂{name} = {num(values.grads[name])}"


def _quote(text: str) -> str:
    """A DOT string: backslashes and quotes escaped, line breaks as DOT's \\n."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


def _dot(problem: Problem, graph: Graph, values: GraphPass | None,
         numbers: NumberFormat) -> str:
    num = numbers.plain
    params = {p.name: p for p in graph.params}
    targets = dict(zip(graph.outputs, graph.targets))
    out = ["digraph network {", "  rankdir=LR;", f"  label={_quote(problem.title)};",
           "  labelloc=t;", '  fontname="Helvetica";', '  node [fontname="Helvetica"];',
           '  edge [fontname="Helvetica"];']
    for name in graph.inputs:
        label = name if values is None else f"{name}\n= {num(values.inputs[name])}"
        out.append(f"  {_quote('in:' + name)} [shape=box, label={_quote(label)}];")
    for node in graph.nodes:
        lines = [f"{node.name}: {_symbol(node.activation)}"]
        if node.bias is not None:
            frozen = " (frozen)" if not params[node.bias].trainable else ""
            lines.append(f"{node.bias} = {num(params[node.bias].value)}{frozen}")
        if values is not None:
            lines.append(f"z = {num(values.z[node.name])}, a = {num(values.a[node.name])}")
            lines.append(f"∂L/∂z = {num(values.dz[node.name])}")
        shape = "ellipse, peripheries=2" if node.name in targets else "ellipse"
        out.append(f"  {_quote('node:' + node.name)} [shape={shape}, "
                   f"label={_quote(chr(10).join(lines))}];")
    for node in graph.nodes:
        for edge in node.edges:
            param = params[edge.weight]
            label = f"{edge.weight} = {num(param.value)}"
            style = ""
            if not param.trainable:
                label += " (frozen)"
                style = ", style=dashed"
            elif values is not None:
                label += f"\n∂L/∂{edge.weight} = {num(values.grads[edge.weight])}"
            source = ("in:" if edge.source in graph.inputs else "node:") + edge.source
            out.append(f"  {_quote(source)} -> {_quote('node:' + node.name)} "
                       f"[label={_quote(label)}{style}];")
    for name, target in targets.items():
        out.append(f"  {_quote('target:' + target)} [shape=plaintext, label={_quote(target)}];")
        out.append(f"  {_quote('node:' + name)} -> {_quote('target:' + target)} "
                   "[style=dotted, arrowhead=none];")
    out.append("}")
    return "\n".join(out) + "\n"
