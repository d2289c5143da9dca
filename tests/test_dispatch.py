"""Printers and the evaluator find a node's method along its class hierarchy (issue 11)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gdtrace.formula import expr as E
from gdtrace.formula.evaluate import CannotEvaluate, Span, evaluate
from gdtrace.render.latex_printer import LatexPrinter
from gdtrace.render.printer import ExprPrinter, NumberFormat


@dataclass(frozen=True, eq=False)
class Weighted(E.Add):
    """A node type no printer or evaluator names: it must behave as the Add it is."""


class Unknown(E.Expr):
    pass


def test_a_subclass_prints_as_its_base_in_every_printer() -> None:
    x, b = E.sym("x1"), E.sym("b")
    node = Weighted((x, b))
    for printer in (ExprPrinter(NumberFormat()), LatexPrinter(NumberFormat())):
        assert printer.doprint(node) == printer.doprint(E.Add((x, b)))
    assert ExprPrinter(NumberFormat()).doprint(node) == "x₁ + b"


def test_a_subclass_evaluates_as_its_base() -> None:
    node = Weighted((E.sym("x1"), E.Num(2.0)))
    result = evaluate(node, {"x1": Span(1.0, 3.0)})
    assert (result.lo, result.hi) == (3.0, 5.0)


def test_a_node_with_no_method_anywhere_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="cannot print a Unknown"):
        ExprPrinter(NumberFormat()).doprint(Unknown())
    with pytest.raises(CannotEvaluate, match="Unknown"):
        evaluate(Unknown(), {})
