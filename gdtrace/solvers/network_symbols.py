"""The symbols of a named-node network's worked lines (``model: network``), shared by the
solver (:mod:`gdtrace.solvers.network`) and the formulas of ``--symbolic``
(:mod:`gdtrace.solvers.symbolic`): a parameter W₁₃, an input, a target, zₙ, aₙ, L and Lᵢ."""

from __future__ import annotations

from gdtrace.formula.expr import Sym, sym
from gdtrace.problem.network_models import Graph

LOSS = Sym("L", "L")


def param_sym(name: str) -> Sym:
    return sym(name, key=f"param:{name}")


def input_sym(name: str) -> Sym:
    return sym(name, key=f"input:{name}")


def target_sym(name: str) -> Sym:
    return sym(name, key=f"target:{name}")


def z_sym(node: str) -> Sym:
    return Sym(f"z:{node}", "z", node)


def a_sym(node: str) -> Sym:
    return Sym(f"a:{node}", "a", node)


def loss_sym(sample: int | None) -> Sym:
    """L for a one-sample step; Lᵢ (sample i's share of L) when a step adds several."""
    return LOSS if sample is None else Sym(f"L:{sample}", "L", str(sample))



def source_sym(graph: Graph, source: str) -> Sym:
    return input_sym(source) if source in graph.inputs else a_sym(source)
