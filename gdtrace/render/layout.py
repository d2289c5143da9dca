"""The document every text renderer writes (console/plain text, Markdown, LaTeX), once.

:class:`DocumentWriter` holds the traversal (header → runs → epochs and blocks → summary →
comparison → warnings) and the decisions that must read the same in every format: which
columns a step table has and in which order, what a batch step's table holds, the rows of the
comparison tables, where a warning happened, the words of the settings line. A subclass
supplies only syntax: headings (:meth:`section`), paragraphs, tables, worked-line blocks and
how a cell, a symbol or a user string is written. No number is computed here either: values
go to the subclass's ``cell``/``num`` as the solver left them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, Union

from gdtrace.formula.expr import Deriv, Expr
from gdtrace.render import RenderOptions
from gdtrace.render.printer import ExprPrinter
from gdtrace.trace import (
    Block,
    Comparison,
    Contrast,
    Diagnostic,
    Epoch,
    Outcome,
    Quantity,
    Role,
    Run,
    Stability,
    Step,
    Trace,
    Value,
)
from gdtrace.trace import Table as TraceTable

SETTING_NAMES = {"learning_rate": "η", "lambda": "λ"}


class NumberedStep(Protocol):
    """A streamed step given by its numbers (``gdtrace.solvers.glm.NumberedStep``): a text
    writer fills its worked lines straight from them; any other use takes :meth:`step`."""

    index: int
    samples: list[int]
    title: str

    def step(self) -> Step:
        """The same step with its :class:`Quantity` lines."""

    def inputs(self) -> list[tuple[Expr, float]]:
        """(heading, value) of each input of the sample."""

    def lines(self) -> list[tuple[Expr, Expr, str, dict[str, Value], float]]:
        """(symbol, formula, relation, operands, value) of each worked line."""


StreamItem = Union[Epoch, Step, NumberedStep]
"""What a streamed run hands on: each epoch (its steps empty), then its steps."""


def as_step(step: Step | NumberedStep) -> Step:
    """A step with its quantities (a numbered step built by the worked path)."""
    return step if isinstance(step, Step) else step.step()

# A table row: a ``str`` is written as it is (step numbers, sample lists, labels already in
# the format's syntax); anything else is a value for the renderer's ``cell``.
Row = list[object]


class Column:
    """A table heading: literal text, or a quantity's symbol followed by ``suffix``.
    (A plain class: a dataclass costs a millisecond of start-up to create.)"""

    __slots__ = ("label", "quantity", "suffix")

    def __init__(self, label: str = "", quantity: Quantity | None = None,
                 suffix: str = "") -> None:
        self.label = label
        self.quantity = quantity
        self.suffix = suffix


def worked_parts(printer: ExprPrinter, quantity: Quantity,
                 mark: str = "") -> tuple[str, list[str]]:
    """A worked line's left side and right-hand parts (symbolic, substituted, value), each
    part dropped when it would repeat the one before. ``mark`` is a break mark the printer may
    put in the substituted part (LaTeX), ignored when comparing."""
    def bare(text: str) -> str:
        return text.replace(mark, "") if mark else text

    parts: list[str] = []
    if quantity.formula is not None:
        symbolic = printer.symbolic(quantity.formula)
        parts.append(symbolic)
        if quantity.operands:
            substituted = printer.substituted(quantity.formula, quantity.operands)
            if bare(substituted) != symbolic:
                parts.append(substituted)
    value = printer.number(quantity.value)
    if not parts or bare(parts[-1]) != value:
        parts.append(value)
    return printer.symbolic(quantity.symbol), parts


def exact(value: object) -> str:
    """A setting as the user gave it (η = 0.5 stays 0.5 under --decimals 0): the shortest
    form that reads back as the same number."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def has_result(run: Run) -> bool:
    """A run with nothing to report (``--symbolic``: formulas only) gets no Result heading."""
    return bool(run.epochs or run.final or run.final_loss is not None or run.outcome is not None
                or run.stability is not None)


def settings_text(settings: dict[str, object], num: Callable[[object], str]) -> str:
    """``settings: η = 0.1, λ = 0, …`` in Unicode (each format escapes it its own way)."""
    parts = []
    for key, value in settings.items():
        shown = num(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else str(value)
        parts.append(f"{SETTING_NAMES.get(key, key)} = {shown}")
    return "settings: " + ", ".join(parts)


def step_label(step: Step | NumberedStep) -> str:
    """``Step 3 — samples 1, 2`` (or the step's own title), in Unicode."""
    if step.title:
        return step.title
    samples = ", ".join(str(s) for s in step.samples)
    return f"Step {step.index} — sample{'s' if len(step.samples) > 1 else ''} {samples}"


def step_table(steps: Sequence[Step]) -> tuple[list[Column], list[Row]]:
    """One row per update step: step, sample(s), the sample's quantities (inputs, z, ŷ, …),
    the gradients, the parameters after the step, then the step's other values. The columns
    are the first step's; :func:`one_table` says when the others share them."""
    first = steps[0]
    headings = [Column("step"), Column("sample")]
    headings += [Column(quantity=q) for q in (first.rows[0] if first.rows else [])]
    headings += [Column(quantity=q) for q in first.of_role(Role.GRAD)]
    headings += [Column(quantity=q, suffix=" after") for q in first.of_role(Role.PARAM)]
    headings += [Column(quantity=q) for q in first.of_role(Role.VALUE)]
    rows: list[Row] = []
    for step in steps:
        cells: Row = [str(step.index), ", ".join(map(str, step.samples))]
        cells += [q.value for q in (step.rows[0] if step.rows else [])]
        for role in (Role.GRAD, Role.PARAM, Role.VALUE):
            cells += [q.value for q in step.of_role(role)]
        rows.append(cells)
    return headings, rows


def step_panels(headings: Sequence[Column]) -> list[tuple[str, int]]:
    """The groups of a step table's columns after step and sample, as (label, count) in
    order: "forward pass" (the sample's inputs and values), "backward pass" (from the first
    sample-level derivative on: ∂L/∂a, δ …), "gradients", "parameters after", "step values"
    (an optimizer's moments, rounded weights). A narrow terminal prints each group as its
    own table and the HTML page heads the columns with them, so both split in one place."""
    groups: list[tuple[str, int]] = []
    after_sample = False
    backward = False
    for column in headings[2:]:
        quantity = column.quantity
        role = quantity.role if quantity is not None else Role.VALUE
        if role is Role.GRAD:
            label, after_sample = "gradients", True
        elif role is Role.PARAM:
            label, after_sample = "parameters after", True
        elif after_sample:
            label = "step values"
        else:
            shown = quantity.heading or quantity.symbol if quantity is not None else None
            backward = backward or isinstance(shown, Deriv) or (
                quantity is not None and quantity.key.startswith(("delta", "dL/")))
            label = "backward pass" if backward else "forward pass"
        if groups and groups[-1][0] == label:
            groups[-1] = (label, groups[-1][1] + 1)
        else:
            groups.append((label, 1))
    return groups


def _layout(step: Step) -> list[tuple[str, str]]:
    quantities = (step.rows[0] if step.rows else []) + step.quantities
    return [(q.role.value, q.key) for q in quantities]


def one_table(steps: Sequence[Step], same_columns: bool = True) -> bool:
    """An epoch is one step table when every step has at most one sample row and (with
    ``same_columns``) the same columns: a network step may add lines, e.g. rounded weights
    after the first iteration only."""
    return all(len(step.rows) <= 1 for step in steps) and (not same_columns or all(
        _layout(step) == _layout(steps[0]) for step in steps[1:]))


def batch_table(step: Step) -> tuple[list[Column], list[Row]]:
    """A step over several samples: one row per sample with its quantities."""
    headings = [Column("sample")] + [Column(quantity=q) for q in step.rows[0]]
    rows: list[Row] = [[str(sample), *(q.value for q in row)]
                       for sample, row in zip(step.samples, step.rows)]
    return headings, rows


def epoch_losses(run: Run) -> list[tuple[int, float]]:
    """(epoch, loss at its start) for the epochs whose loss was computed."""
    return [(e.index, e.loss) for e in run.epochs if e.loss is not None]


def prediction_rows(outcome: Outcome) -> list[Row]:
    """sample, score ŷ, predicted label, target: the predictions table's rows."""
    return [[str(p.sample), p.score, str(p.label), p.target] for p in outcome.predictions]


def accuracy_count(outcome: Outcome) -> tuple[int, int]:
    """(correct, total) for ``accuracy: 3/4``; the accuracy itself comes from the solver."""
    assert outcome.accuracy is not None
    return round(outcome.accuracy * len(outcome.predictions)), len(outcome.predictions)


def reading(contrast: Contrast, num: Callable[[object], str]) -> str:
    """One sentence on which weights of a compared run moved toward zero and by how much;
    biases (b, b1, …) are reported apart since they are never penalized."""
    weights = [c for c in contrast.changes if not c.bias]
    shrank = [c for c in weights if c.magnitude_change < 0]
    grew = [c for c in weights if c.magnitude_change > 0]
    parts = [f"{contrast.run} vs {contrast.baseline}:"]
    if shrank:
        parts.append(f"{len(shrank)} of {len(weights)} weights moved toward zero ("
                     + ", ".join(f"|{c.name}| by {num(-c.magnitude_change)}" for c in shrank)
                     + ")")
    if grew:
        parts.append(("; " if shrank else "") + f"{len(grew)} grew in size ("
                     + ", ".join(f"|{c.name}| by {num(c.magnitude_change)}" for c in grew)
                     + ")")
    if not shrank and not grew:
        parts.append("the weights are unchanged")
    for bias in (c for c in contrast.changes if c.bias):
        if isinstance(bias.difference, float):
            parts.append(f"; {bias.name} changed by {num(bias.difference)}")
        else:
            parts.append(f"; |{bias.name}| changed by {num(bias.magnitude_change)}")
    if contrast.loss_difference is not None:
        parts.append(f"; final loss changed by {num(contrast.loss_difference)}")
    return " ".join(parts[:2]) + "".join(parts[2:]) + "."


def warning_where(warning: Diagnostic, several_runs: bool) -> str:
    """``λ = 0.5, epoch 2, step 3``: where a warning happened ("" when nowhere in particular;
    the run is named only when there are several)."""
    where = [w for w in (warning.run if several_runs else "",
                         f"epoch {warning.epoch}" if warning.epoch is not None else "",
                         f"step {warning.step}" if warning.step is not None else "") if w]
    return ", ".join(where)


class DocumentWriter:
    """The traversal and the shared layout; subclasses implement the syntax primitives."""

    dash = "—"  # between an epoch's number and its loss
    minus = " − "  # in a comparison's difference headings
    percent = "%"
    score_heading = "ŷ"
    stopped_early = "the run stopped early: see the warnings below."
    worked_always = False  # LaTeX writes every step worked out, tables or not
    # Markdown has always put steps with differing columns in one table (blank cells where
    # a step lacks a column); the terminal splits them into one table per step.
    same_columns = True

    def __init__(self, trace: Trace, options: RenderOptions) -> None:
        self.trace = trace
        self.options = options

    @property
    def several_runs(self) -> bool:
        return len(self.trace.runs) > 1

    # syntax primitives (subclasses) -------------------------------------------------------
    def section(self, title: str, depth: int) -> None:
        """A heading: depth 0 a run or the comparison, 1 an epoch, block or result, 2 a step."""
        raise NotImplementedError

    def paragraph(self, text: str) -> None:
        raise NotImplementedError

    def data_table(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
                   caption: str | None = None, keep: int = 1) -> None:
        """A table of finished cells; ``caption`` in lower case (a format may capitalize it);
        ``keep`` columns identify a row when a narrow terminal splits the table."""
        raise NotImplementedError

    def worked(self, quantities: Sequence[Quantity]) -> None:
        """Worked lines (symbolic → substituted → value), one per quantity."""
        raise NotImplementedError

    def text(self, text: str) -> str:
        """User or layout text escaped for the format."""
        raise NotImplementedError

    def cell(self, value: object) -> str:
        raise NotImplementedError

    def sym(self, quantity: Quantity) -> str:
        raise NotImplementedError

    def num(self, value: object) -> str:
        raise NotImplementedError

    def setting_number(self, value: object) -> str:
        raise NotImplementedError

    def param_name(self, name: str) -> str:
        raise NotImplementedError

    def value_is(self, symbol: str, value: object) -> str:
        """``L = 0.6931`` as the format writes an equation inline."""
        raise NotImplementedError

    def param_value(self, name: str, value: object) -> str:
        """``w1 = 0.25``: a final parameter in the result."""
        raise NotImplementedError

    def stability_parts(self, stability: Stability) -> tuple[str, str, str, str]:
        """``H = …``, ``λmax = …``, ``0 < η < 2/λmax = …``, ``η = …`` in the format's math."""
        raise NotImplementedError

    def prediction_rule(self, threshold: float) -> str:
        """``ŷ ≥ 0.5``: when a prediction is 1."""
        raise NotImplementedError

    def result(self) -> str:
        raise NotImplementedError

    def write_header(self) -> None:
        raise NotImplementedError

    def write_numbered_step(self, step: NumberedStep) -> None:
        """A worked step given by its numbers: as :meth:`write_worked_step` writes it (a
        writer that can fill its lines from the numbers says how)."""
        self.write_worked_step(step.step())

    def write_worked_step(self, step: Step) -> None:
        raise NotImplementedError

    def write_trace_table(self, table: TraceTable) -> None:
        raise NotImplementedError

    def write_summary(self, run: Run) -> None:
        raise NotImplementedError

    def warning(self, where: str, message: str) -> None:
        raise NotImplementedError

    # shared helpers ------------------------------------------------------------------------
    def column(self, column: Column) -> str:
        if column.quantity is None:
            return column.label
        return self.sym(column.quantity) + column.suffix

    def cells(self, row: Row) -> list[str]:
        return [c if isinstance(c, str) else self.cell(c) for c in row]

    def grid(self, table: tuple[list[Column], list[Row]], caption: str | None = None,
             keep: int = 1) -> None:
        headings, rows = table
        self.data_table([self.column(c) for c in headings], [self.cells(r) for r in rows],
                        caption, keep)

    def settings_text(self, settings: dict[str, object]) -> str:
        return settings_text(settings, self.setting_number)

    def result_title(self, run: Run) -> str:
        return f"Result: {self.text(run.label)}" if self.several_runs else "Result"

    def final_parameters(self, run: Run) -> str:
        return "final parameters: " + ", ".join(
            self.param_value(name, value) for name, value in run.final.items())

    def accuracy_text(self, outcome: Outcome) -> str:
        assert outcome.accuracy is not None
        correct, total = accuracy_count(outcome)
        return f"accuracy: {correct}/{total} ({self.num(outcome.accuracy * 100)}{self.percent})"

    def write_predictions(self, outcome: Outcome) -> None:
        self.data_table(["sample", self.score_heading, "label", "target"],
                        [self.cells(row) for row in prediction_rows(outcome)],
                        caption="predictions with the final parameters (1 when "
                                f"{self.prediction_rule(outcome.threshold)}):")

    def checks(self, run: Run) -> list[str]:
        """The sentences after the predictions: accuracy, stability check, an early stop."""
        lines = []
        if run.outcome is not None and run.outcome.accuracy is not None:
            lines.append(self.accuracy_text(run.outcome))
        if run.stability is not None:
            lines.append(self.stability_sentence(run.stability))
        if run.stopped_early:
            lines.append(self.stopped_early)
        return lines

    def stability_sentence(self, stability: Stability) -> str:
        """The batch-GD stability check of a quadratic loss, one sentence in every format."""
        hessian, lambda_max, limit, eta = self.stability_parts(stability)
        return (f"stability: Hessian {hessian}, {lambda_max}; batch GD converges only for "
                f"{limit}; {eta} {stability.verdict}.")

    # the traversal -------------------------------------------------------------------------
    def write(self) -> str:
        self.write_header()
        show_epochs = self.trace.comparison is None or self.options.full
        for run in self.trace.runs:
            if self.several_runs:
                self.write_run_heading(run)
            if show_epochs:
                self.write_epochs(run)
                for block in run.blocks:
                    self.write_block(block)
            if has_result(run):
                self.write_summary(run)
        if self.trace.comparison is not None:
            self.write_comparison(self.trace.comparison)
        self.write_warnings()
        return self.result()

    # the traversal, streamed -------------------------------------------------------------------
    def take(self) -> str:
        """The text written since the last call, and forget it (formats that stream)."""
        raise NotImplementedError

    def take_last(self) -> str:
        """:meth:`take` at the document's end (where a format may trim what it wrote)."""
        return self.take()

    def write_streamed(self, items: Iterable[StreamItem], out: Callable[[str], object]) -> None:
        """:meth:`write` for a one-run trace whose epochs arrive one at a time, text handed to
        ``out`` as it is written and dropped. ``items`` yields each epoch (its steps empty)
        and then its steps; once they run out, ``self.trace`` holds the run's end (its
        epochs are the ones written, steps dropped) and its warnings. The text is
        :meth:`write`'s, byte for byte; a step table needs its whole epoch, so only the
        worked lines (``--steps``) are handed on step by step."""
        assert len(self.trace.runs) == 1 and self.trace.comparison is None
        self.write_header()
        self.write_epoch_stream(items, out)
        run = self.trace.runs[0]
        for block in run.blocks:
            self.write_block(block)
        if has_result(run):
            self.write_summary(run)
        self.write_warnings()
        out(self.take_last())

    def write_epoch_stream(self, items: Iterable[StreamItem], out: Callable[[str], object]
                           ) -> None:
        """Each epoch as :meth:`write_epoch` writes it: worked steps as they come, a table
        once its epoch is complete."""
        worked = self.options.steps or self.worked_always
        epoch: Epoch | None = None
        for item in items:
            if isinstance(item, Epoch):
                if epoch is not None and not worked:
                    self.write_epoch(epoch)
                epoch = item
                if worked:
                    self.write_epoch_start(epoch)
            elif not worked:
                assert epoch is not None
                epoch.steps.append(as_step(item))
            elif isinstance(item, Step):
                self.write_worked_step(item)
            else:
                self.write_numbered_step(item)
            out(self.take())
        if epoch is not None and not worked:
            self.write_epoch(epoch)

    def write_epoch_start(self, epoch: Epoch) -> None:
        """A worked epoch's heading and loss line (then its steps follow)."""
        self.section(self.epoch_title(epoch), 1)
        if epoch.loss_line is not None:
            self.write_loss_line(epoch.loss_line)

    def write_run_heading(self, run: Run) -> None:
        self.section(f"Run: {self.text(run.label)}", 0)
        self.paragraph(self.text(self.settings_text(run.settings)))

    def write_epochs(self, run: Run) -> None:
        for epoch in run.epochs:
            self.write_epoch(epoch)

    def epoch_title(self, epoch: Epoch) -> str:
        if epoch.loss is None:
            return f"Epoch {epoch.index}"
        return f"Epoch {epoch.index} {self.dash} loss at the start {self.value_is('L', epoch.loss)}"

    def write_epoch(self, epoch: Epoch) -> None:
        if self.options.steps or self.worked_always:
            self.write_epoch_start(epoch)
            for step in epoch.steps:
                self.write_worked_step(step)
            return
        self.section(self.epoch_title(epoch), 1)
        if one_table(epoch.steps, self.same_columns):
            self.write_step_table(epoch.steps)
        else:
            for step in epoch.steps:
                self.write_batch_step(step)

    def write_loss_line(self, quantity: Quantity) -> None:
        self.worked([quantity])

    def write_step_table(self, steps: list[Step]) -> None:
        if steps:
            self.grid(step_table(steps), keep=2)

    def write_batch_step(self, step: Step) -> None:
        self.section(self.text(step_label(step)), 2)
        self.grid(batch_table(step))
        self.worked(step.quantities)

    def write_block(self, block: Block) -> None:
        self.section(self.text(block.title), 1)
        for table in block.tables:
            self.write_trace_table(table)
        self.worked(block.quantities)

    def write_comparison(self, comparison: Comparison) -> None:
        """Final parameters side by side with each run's difference from the first, the loss
        per epoch of every run, then one reading sentence per compared run."""
        self.section("Comparison", 0)
        runs = self.trace.runs
        labels = [self.text(run.label) for run in runs]
        headings = ["parameter", *labels]
        headings += [f"{self.text(c.run)}{self.minus}{self.text(c.baseline)}"
                     for c in comparison.contrasts]
        rows = []
        for name in runs[0].param_names:
            cells = [self.param_name(name)]
            cells += [self.cell(run.final[name]) if name in run.final else "" for run in runs]
            for contrast in comparison.contrasts:
                change = next((ch for ch in contrast.changes if ch.name == name), None)
                cells.append(self.cell(change.difference) if change is not None else "")
            rows.append(cells)
        self.data_table(headings, rows, caption="final parameters:")
        loss_rows = []
        for k in range(max(len(run.epochs) for run in runs)):
            loss_rows.append([str(k + 1)] + [
                self.cell(run.epochs[k].loss) if k < len(run.epochs)
                and run.epochs[k].loss is not None else "" for run in runs])
        loss_rows.append(["final"] + [self.cell(run.final_loss) if run.final_loss is not None
                                      else "" for run in runs])
        self.data_table(["epoch", *labels], loss_rows, caption="loss per epoch (start of epoch):")
        for contrast in comparison.contrasts:
            self.write_reading(contrast)

    def reading(self, contrast: Contrast) -> str:
        return reading(contrast, self.num)

    def write_reading(self, contrast: Contrast) -> None:
        self.paragraph(self.text(self.reading(contrast)))

    def write_warnings(self) -> None:
        if not self.trace.warnings:
            return
        self.warnings_start()
        for warning in self.trace.warnings:
            self.warning(warning_where(warning, self.several_runs), warning.message)
        self.warnings_end()

    def warnings_start(self) -> None:
        """Before the first warning (a blank line, a heading)."""

    def warnings_end(self) -> None:
        """After the last warning."""
