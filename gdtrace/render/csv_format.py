"""``--format csv``: the trace as tidy data, one row per number.

Columns: ``run, part, group, epoch, step, sample, role, key, symbol, index, value``.

- ``part`` says where the number comes from: ``step`` (a worked line of an update step),
  ``epoch`` (the loss at the start of an epoch), ``block`` (work outside the epoch loop, e.g.
  a closed-form solution; ``group`` is the block's title), ``table`` (a number in a block's
  table; ``group`` is the table's title, ``key`` the column, ``sample`` the row number),
  ``final`` (parameters and loss after training), ``prediction`` (score, label and target per
  sample) and ``comparison`` (differences from the baseline run of ``gdtrace compare``).
- ``sample`` is the 1-based sample a per-sample value belongs to; empty for step-level lines.
- ``role`` is ``input``, ``value``, ``grad``, ``param`` or ``loss`` as in the trace (plus
  ``difference`` in comparisons); ``key`` the stable name (the JSON key, or the parameter name);
  ``symbol`` the Unicode symbol the worked solution writes.
- ``index`` is empty for a number, ``[i]`` or ``[i,j]`` (1-based) for an entry of a vector or
  matrix; arrays take one row per entry.
- ``value`` is the computed value at full precision (shortest repr that round-trips, as in the
  JSON output); ``--decimals`` does not apply. Not-finite values are ``nan``, ``inf``, ``-inf``.

The first line is the header; the csv module and pandas read it unchanged.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from gdtrace.formula.expr import sym
from gdtrace.render import RenderOptions
from gdtrace.render.printer import ExprPrinter
from gdtrace.trace import Quantity, Run, Trace

COLUMNS = ["run", "part", "group", "epoch", "step", "sample", "role", "key", "symbol",
           "index", "value"]


def number_text(value: Any) -> str:
    """Full precision; ``nan``/``inf`` spelled as pandas and float() read them."""
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return repr(number)


def entries(value: Any) -> Iterator[tuple[str, Any]]:
    """(index, number) for a scalar ("", x) or each entry of an array ("[1,2]", x)."""
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value, dtype=float)
        if array.ndim == 0:
            yield "", float(array)
            return
        for position in np.ndindex(array.shape):
            yield "[" + ",".join(str(i + 1) for i in position) + "]", float(array[position])
        return
    yield "", value


class CsvWriter:
    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.printer = ExprPrinter()
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.writer.writerow(COLUMNS)

    def row(self, run: str, part: str, key: str, value: Any, *, role: str = "", group: str = "",
            epoch: int | None = None, step: int | None = None, sample: int | None = None,
            symbol: str = "") -> None:
        for index, number in entries(value):
            self.writer.writerow([run, part, group, _blank(epoch), _blank(step), _blank(sample),
                                  role, key, symbol, index, number_text(number)])

    def quantity(self, run: str, part: str, quantity: Quantity, **where: Any) -> None:
        symbol = self.printer.symbolic(quantity.heading or quantity.symbol)
        self.row(run, part, quantity.key, quantity.value, role=quantity.role.value,
                 symbol=symbol, **where)

    def write(self) -> str:
        for run in self.trace.runs:
            self.write_run(run)
        comparison = self.trace.comparison
        if comparison is not None:
            for contrast in comparison.contrasts:
                for change in contrast.changes:
                    self.row(contrast.run, "comparison", change.name, change.difference,
                             role="difference", group=f"minus {contrast.baseline}")
                if contrast.loss_difference is not None:
                    self.row(contrast.run, "comparison", "loss", contrast.loss_difference,
                             role="difference", group=f"minus {contrast.baseline}")
        return self.buffer.getvalue()

    def write_run(self, run: Run) -> None:
        label = run.label
        for epoch in run.epochs:
            if epoch.loss is not None:
                self.row(label, "epoch", "loss", epoch.loss, role="loss", epoch=epoch.index,
                         symbol="L")
            for step in epoch.steps:
                for k, row in enumerate(step.rows):  # a function step has a row, no sample
                    sample = step.samples[k] if k < len(step.samples) else None
                    for quantity in row:
                        self.quantity(label, "step", quantity, epoch=epoch.index,
                                      step=step.index, sample=sample)
                for quantity in step.quantities:
                    self.quantity(label, "step", quantity, epoch=epoch.index, step=step.index)
        for block in run.blocks:
            for quantity in block.quantities:
                self.quantity(label, "block", quantity, group=block.title)
            for table in block.tables:
                self.write_table(label, block.title, table)
        for name, value in run.final.items():
            self.row(label, "final", name, value, role="param",
                     symbol=self.printer.symbolic(sym(name)))
        if run.final_loss is not None:
            self.row(label, "final", "loss", run.final_loss, role="loss", symbol="L")
        if run.outcome is not None:
            for p in run.outcome.predictions:
                for key, value, symbol in (("score", p.score, "ŷ"), ("label", p.label, ""),
                                           ("target", p.target, "y")):
                    self.row(label, "prediction", key, value, role="value", sample=p.sample,
                             symbol=symbol)

    def write_table(self, label: str, block_title: str, table: Any) -> None:
        """Numeric cells of a block's table; text cells (row labels) are left out."""
        group = f"{block_title}: {table.title}" if table.title else block_title
        for number, cells in enumerate(table.rows, start=1):
            for column, cell in zip(table.columns, cells):
                if isinstance(cell, (int, float, np.number, np.ndarray)) and \
                        not isinstance(cell, bool):
                    self.row(label, "table", column, cell, group=group, sample=number)


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


def render(trace: Trace, options: RenderOptions) -> str:
    return CsvWriter(trace).write()
