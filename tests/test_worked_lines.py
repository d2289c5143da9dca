"""Worked lines filled from templates (``render/console.py``'s ``WorkedLines``) read exactly as
the printer writes them, and the streamed worked text equals the whole document's for every
setting the streamed logistic/linear path supports (docs/performance.md, "Worked text written
as the run goes")."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from check_problems import OPTIMIZERS, random_problem
from hypothesis import HealthCheck, Phase, given, settings

from gdtrace.api import solved
from gdtrace.problem import bundled_problems, load_problem, load_problem_text
from gdtrace.problem.model import Problem
from gdtrace.render import RenderOptions, console, display_decimals
from gdtrace.render.console import ConsoleWriter, WorkedLines, render, worked_line, write_streamed
from gdtrace.render.printer import ExprPrinter, NumberFormat
from gdtrace.solvers.glm import NumberedStep
from gdtrace.solvers.streaming import streamed_document
from gdtrace.trace import Epoch, Quantity, Role, Step, Trace
from gdtrace.variants.require import quantities

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])

LOSSES = {"logistic": ["log", "mse"], "linear": ["mse", "half_mse", "sse", "half_sse"]}
UPDATES = ["sgd", "batch", "minibatch"]


def every_quantity(trace: Trace) -> Iterator[Quantity]:
    """Every worked line of the trace (the lines a variant's condition reads)."""
    for run in trace.runs:
        yield from quantities(run)


def assert_templated_lines_match(trace: Trace, decimals: int | None = None) -> int:
    """Every line through one ``WorkedLines`` (twice: the second pass reads the templates
    the first one made) equals the printer's own ``worked_line``; returns the lines seen."""
    printer = ExprPrinter(NumberFormat(display_decimals(trace, RenderOptions(decimals=decimals))))
    lines = WorkedLines(printer)
    quantities = list(every_quantity(trace))
    for _ in range(2):
        for quantity in quantities:
            assert lines.line(quantity) == worked_line(printer, quantity), quantity.key
    return len(quantities)


@SETTINGS
@given(random_problem())
def test_templated_lines_read_as_the_printer_writes_them(text: str) -> None:
    """Every model (the whole trace of each uses the templates too)."""
    trace = solved(load_problem_text(text, "random.yaml"))
    assert_templated_lines_match(trace)
    assert_templated_lines_match(trace, decimals=2)


@pytest.mark.parametrize("name", sorted(bundled_problems()))
def test_templated_lines_survive_their_caches_starting_afresh(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for only two templates (and shapes, numbers) the caches clear again and
    again mid-step; every line still reads the same."""
    monkeypatch.setattr(console, "TEMPLATE_LIMIT", 2)
    problem = load_problem(str(bundled_problems()[name]))
    assert assert_templated_lines_match(solved(problem)) > 0


def test_a_control_character_is_still_escaped() -> None:
    """Printable text skips ``visible``; anything else is still escaped."""
    trace = solved(load_problem(str(bundled_problems()["logreg"])))
    writer = ConsoleWriter(trace, RenderOptions())
    writer.line("a\x1bb")
    writer.line("w₁ ← 0.5")
    assert writer.take() == "a\\x1bb\nw₁ ← 0.5\n"


def glm_problem(model: str, update: str, loss: str, lam: float, carry: int | None,
                optimizer: str, eta: float = 0.1, epochs: int = 3) -> Problem:
    """Five samples (a minibatch of 2 leaves one alone), shuffled, signs of every kind."""
    rows = [[0.5, -1.2, 1.0], [-0.3, 0.8, 0.0], [1.5, 0.2, 1.0], [-1.1, -0.7, 0.0],
            [0.0, 2.0, 1.0]]
    if model == "linear":
        rows = [[x1, x2, round(0.7 * x1 - 0.4 * x2 + 0.1, 2)] for x1, x2, _ in rows]
    doc: dict[str, object] = {
        "title": f"{model} {update} {loss}", "model": model,
        "dataset": {"columns": ["x1", "x2", "y"], "rows": rows},
        "weights": [0.25, -0.5], "bias": -0.1, "learning_rate": eta, "lambda": lam,
        "epochs": epochs, "update": update, "loss": loss, "shuffle": {"seed": 7}}
    if update == "minibatch":
        doc["batch_size"] = 2
    if carry is not None:
        doc["carry_decimals"] = carry
    if optimizer != "sgd":
        doc["optimizer"] = {"name": optimizer}
    return load_problem_text(json.dumps(doc), "generated.yaml")


def streamed_text(problem: Problem, options: RenderOptions, max_steps: int | None = None
                  ) -> str:
    document = streamed_document(problem, max_steps=max_steps)
    pieces: list[str] = []
    write_streamed(document.trace, document.items, options, pieces.append)
    return "".join(pieces)


def whole_text(problem: Problem, options: RenderOptions, max_steps: int | None = None) -> str:
    return render(solved(problem, max_steps), options)


WORKED = RenderOptions(steps=True, full=True)


@pytest.mark.parametrize(("model", "loss", "update"), [
    (model, loss, update) for model, losses in LOSSES.items() for loss in losses
    for update in UPDATES])
def test_every_setting_streams_the_whole_documents_text(model: str, loss: str,
                                                        update: str) -> None:
    """Each model × loss × update rule with every optimizer, λ = 0 and 0.5, and carry
    rounding off and at 3 decimals."""
    for optimizer, lam, carry in itertools.product(OPTIMIZERS, [0.0, 0.5], [None, 3]):
        problem = glm_problem(model, update, loss, lam, carry, optimizer)
        text = streamed_text(problem, WORKED)
        assert text == whole_text(problem, WORKED), (optimizer, lam, carry)
        assert text.count("\nStep ") >= 3  # worked steps of every epoch were written


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("carry", [None, 4])
def test_overflow_stops_the_streamed_run_where_the_whole_run_stops(
        update: str, carry: int | None) -> None:
    """Linear regression with η = 1e150 overflows within a few steps: both texts stop at
    the same line with the same warning (also cut by --max-steps)."""
    problem = glm_problem("linear", update, "mse", 0.0, carry, "sgd", eta=1e150, epochs=12)
    for max_steps in (None, 4):
        text = streamed_text(problem, WORKED, max_steps)
        assert text == whole_text(problem, WORKED, max_steps)
    assert "the run stops here" in streamed_text(problem, WORKED)


def test_a_long_run_streams_the_whole_documents_text_past_the_caches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Many epochs with small caches (formula trees and templates start afresh many times)."""
    monkeypatch.setattr(console, "TEMPLATE_LIMIT", 7)
    problem = replace(load_problem(str(bundled_problems()["logreg"])), epochs=60)
    for options in (WORKED, RenderOptions(steps=True), RenderOptions(steps=True, width=60)):
        assert streamed_text(problem, options) == whole_text(problem, options)


def same_number(a: object, b: object) -> bool:
    """Equal bit for bit (0.0 and -0.0 differ; NaN equals NaN)."""
    return type(a) is type(b) and repr(a) == repr(b)


def assert_numbered_steps_are_the_worked_steps(problem: Problem) -> int:
    """Every numbered step of the streamed run: its lines are its worked step's lines (the
    same symbol and formula trees, relation, operands and values, bit for bit)."""
    numbered = 0
    for item in streamed_document(problem).items:
        if isinstance(item, (Epoch, Step)):
            continue
        assert isinstance(item, NumberedStep)
        numbered += 1
        step = item.step()
        assert (step.index, step.samples) == (item.index, item.samples)
        [row] = step.rows
        inputs = [q for q in row if q.role is Role.INPUT]
        assert [(q.heading or q.symbol, q.value) for q in inputs] == item.inputs()
        worked = [q for q in row if q.role is not Role.INPUT] + step.quantities
        lines = item.lines()
        assert len(lines) == len(worked)
        for (symbol, formula, relation, operands, value), quantity in zip(lines, worked):
            assert symbol is quantity.symbol and formula is quantity.formula, quantity.key
            assert relation == quantity.relation
            assert operands.keys() == quantity.operands.keys(), quantity.key
            assert all(same_number(operands[k], quantity.operands[k]) for k in operands)
            assert same_number(value, quantity.value), quantity.key
    return numbered


@pytest.mark.parametrize(("model", "loss"), [
    (model, loss) for model, losses in LOSSES.items() for loss in losses])
def test_numbered_steps_are_the_worked_paths_steps(model: str, loss: str) -> None:
    """Plain SGD without carry rounding streams numbered steps (the fast path's numbers);
    each one's lines are exactly the lines the worked path builds, with and without λ."""
    for lam in (0.0, 0.5):
        assert assert_numbered_steps_are_the_worked_steps(
            glm_problem(model, "sgd", loss, lam, None, "sgd")) == 5 * 3


@SETTINGS
@given(random_problem(["logistic", "linear"]))
def test_random_numbered_steps_are_the_worked_paths_steps(text: str) -> None:
    problem = load_problem_text(text, "random.yaml")
    numbered = assert_numbered_steps_are_the_worked_steps(problem)
    plain_sgd = problem.update == "sgd" and problem.carry_decimals is None \
        and problem.optimizer.plain
    assert (numbered > 0) == plain_sgd  # every other setting streams worked steps
