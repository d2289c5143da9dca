"""The shared document layout: decisions every text renderer must make the same way."""

from __future__ import annotations

import re

import pytest

import gdtrace
from gdtrace.render.layout import one_table, step_table, warning_where
from gdtrace.trace import Diagnostic, Role


def _reading(text: str) -> str:
    """The reading sentence of a one-contrast comparison after its run labels, markup
    stripped (the labels hold η, which LaTeX writes as a command)."""
    line = next(line for line in text.splitlines() if " vs as written:" in line)
    line = line.split(" vs as written:", 1)[1]
    return re.sub(r"\\", "", line.replace("\\textbar{}", "|")).strip()


@pytest.mark.parametrize("name", ["sigmoid_mlp", "softmax", "logreg"])
def test_reading_sentence_is_the_same_in_every_document_format(name: str) -> None:
    """Biases (b, b1, b2) are reported apart from the weights in text, Markdown and LaTeX."""
    trace = gdtrace.comparison(name, lr=[0.01])
    readings = {fmt: _reading(gdtrace.render(trace, fmt))
                for fmt in ("text", "markdown", "latex")}
    assert readings["markdown"] == readings["text"]
    assert readings["latex"] == readings["text"]
    if name != "logreg":
        assert "|b1| changed by" in readings["text"]


def test_step_table_columns_follow_the_homework_order() -> None:
    """step, sample, the sample's quantities, gradients, parameters after, other values."""
    steps = gdtrace.solve("logreg", epochs=1).runs[0].epochs[0].steps
    headings, rows = step_table(steps)
    first = steps[0]
    expected = ["step", "sample"] + [q.key for q in first.rows[0]]
    expected += [q.key for q in first.of_role(Role.GRAD)]
    expected += [q.key + " after" for q in first.of_role(Role.PARAM)]
    expected += [q.key for q in first.of_role(Role.VALUE)]
    assert [c.label or c.quantity.key + c.suffix for c in headings] == expected
    assert [row[:2] for row in rows] == [[str(s.index), ", ".join(map(str, s.samples))]
                                         for s in steps]
    assert all(len(row) == len(headings) for row in rows)


def test_steps_with_other_columns_are_not_one_table() -> None:
    """backprop's first step adds rounded weights: the terminal splits, Markdown does not."""
    steps = gdtrace.solve("backprop").runs[0].epochs[0].steps
    assert not one_table(steps)
    assert one_table(steps, same_columns=False)


def test_warning_where_names_the_run_only_when_there_are_several() -> None:
    warning = Diagnostic("overflow", "too big", run="λ = 2", epoch=3, step=4)
    assert warning_where(warning, several_runs=True) == "λ = 2, epoch 3, step 4"
    assert warning_where(warning, several_runs=False) == "epoch 3, step 4"
    assert warning_where(Diagnostic("x", "y"), several_runs=True) == ""


def test_settings_and_threshold_are_written_as_given_in_every_format() -> None:
    """--decimals rounds results, never the problem's own settings (β2 = 0.999 is not 1)."""
    trace = gdtrace.solve("logreg")
    text = gdtrace.render(trace, "text", decimals=0)
    assert "settings: η = 0.1," in text and "(1 when ŷ ≥ 0.5)" in text
    markdown = gdtrace.render(trace, "markdown", decimals=0)
    assert "- **settings:** η = 0.1," in markdown and "(1 when ŷ ≥ 0.5)" in markdown
    latex = gdtrace.render(trace, "latex", decimals=0)
    assert r"\ensuremath{\eta} = 0.1," in latex and r"\hat{y} \geq 0.5$" in latex
    adam = gdtrace.render(gdtrace.solve("adam"), "markdown", decimals=2)
    assert "beta2 = 0.999" in adam
