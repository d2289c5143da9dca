"""Terminal (rich, coloured) and plain-text output: the same content, styled or not.

Layout: a header with the model and its formulas; per run and epoch a table with one row per
update step (or, with ``--steps``, every worked line: symbolic → substituted → result); then
the final parameters, the loss per epoch, predictions and warnings.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gdtrace.render import RenderOptions, display_decimals
from gdtrace.render.printer import ExprPrinter, NumberFormat
from gdtrace.trace import (
    Block,
    Comparison,
    Contrast,
    Diagnostic,
    Epoch,
    Header,
    ProblemInfo,
    Quantity,
    Role,
    Run,
    Step,
    Trace,
)
from gdtrace.trace import Table as TraceTable

LONG_RUN_KEEP = 3  # a run with more than 2·3 + 1 epochs prints the first and last 3 in full
PLAIN_WIDTH = 160  # wide enough for the worked lines of the seed problems when piped


def worked_line(printer: ExprPrinter, quantity: Quantity) -> str:
    """``lhs rel symbolic = substituted = value``, dropping parts that would repeat."""
    parts: list[str] = []
    if quantity.formula is not None:
        symbolic = printer.symbolic(quantity.formula)
        parts.append(symbolic)
        if quantity.operands:
            substituted = printer.substituted(quantity.formula, quantity.operands)
            if substituted != symbolic:
                parts.append(substituted)
    value = printer.number(quantity.value)
    if not parts or parts[-1] != value:
        parts.append(value)
    return f"{printer.symbolic(quantity.symbol)} {quantity.relation} " + " = ".join(parts)


class ConsoleWriter:
    """Writes one trace to a rich console; all styling decisions live here."""

    def __init__(self, trace: Trace, options: RenderOptions) -> None:
        self.trace = trace
        self.options = options
        self.printer = ExprPrinter(NumberFormat(display_decimals(trace, options)))
        self.buffer = io.StringIO()
        self.console = Console(
            file=self.buffer, width=options.width or PLAIN_WIDTH, force_terminal=options.color,
            no_color=not options.color, color_system="standard" if options.color else None,
            highlight=False, emoji=False, soft_wrap=not options.color, markup=False)

    # basic output --------------------------------------------------------------------------
    def line(self, text: str = "", style: str | None = None) -> None:
        self.console.print(Text(text, style=style or ""))

    def heading(self, text: str, level: int = 1) -> None:
        self.line()
        style = "bold underline" if level == 1 else "bold"
        self.line(text, style if self.options.color else None)
        if not self.options.color:
            self.line(("=" if level == 1 else "-") * cell_len(text))

    def num(self, value: object) -> str:
        return self.printer.number(value)

    def cell(self, value: object) -> str:
        """A table cell: fixed decimals so a column's points line up."""
        if isinstance(value, (int, float)):
            return self.printer.numbers.fixed(float(value))
        return self.printer.number(value)

    def sym(self, quantity: Quantity) -> str:
        return self.printer.symbolic(quantity.heading or quantity.symbol)

    def table(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
              keep: int = 1, title: str | None = None) -> None:
        """Print a table, split into several when wider than the console (first ``keep``
        columns repeat in each part so every row stays identifiable)."""
        width = self.console.width
        widths = [max(cell_len(h), *(cell_len(r[i]) for r in rows)) + 3 if rows else cell_len(h) + 3
                  for i, h in enumerate(headings)]
        groups: list[list[int]] = []
        current = list(range(keep))
        used = sum(widths[:keep])
        for index in range(keep, len(headings)):
            if used + widths[index] > width and len(current) > keep:
                groups.append(current)
                current, used = list(range(keep)), sum(widths[:keep])
            current.append(index)
            used += widths[index]
        groups.append(current)
        for group in groups:
            table = Table(title=title, show_edge=False, box=_box(), pad_edge=False,
                          header_style="bold" if self.options.color else "")
            for index in group:
                table.add_column(headings[index], justify="right", no_wrap=True)
            for row in rows:
                table.add_row(*(row[i] for i in group))
            self.console.print(table)
            title = None

    # sections ------------------------------------------------------------------------------
    def write(self) -> str:
        self.write_header()
        show_epochs = self.trace.comparison is None or self.options.full
        for run in self.trace.runs:
            if len(self.trace.runs) > 1:
                self.heading(f"Run: {run.label}", 1)
                self.line(_settings_text(run.settings, exact))
            if show_epochs:
                self.write_epochs(run)
                for block in run.blocks:
                    self.write_block(block)
            self.write_summary(run)
        if self.trace.comparison is not None:
            self.write_comparison(self.trace.comparison)
        self.write_warnings(self.trace.warnings)
        return self.buffer.getvalue()

    def write_header(self) -> None:
        header = self.trace.header
        title = self.trace.problem.title
        self.line(title, "bold" if self.options.color else None)
        if not self.options.color:
            self.line("=" * cell_len(title))
        self.line(f"source: {self.trace.problem.source}")
        self.line(f"model: {header.model}")
        self.line(f"loss: {header.loss}")
        self.line(f"update: {header.update}")
        if len(self.trace.runs) == 1:
            self.line(_settings_text(header.settings, exact))
        self.line("formulas:")
        width = max((cell_len(self.printer.symbolic(f.lhs)) for f in header.formulas),
                    default=0)
        for formula in header.formulas:
            lhs = self.printer.symbolic(formula.lhs)
            lhs = " " * (width - cell_len(lhs)) + lhs  # cell widths: ŷ is one column, not two
            text = f"  {lhs} {formula.relation} {self.printer.symbolic(formula.rhs)}"
            padding = " " * max(60 - cell_len(text), 0)
            self.line(f"{text}{padding}  {formula.label}" if formula.label else text)
        for note in header.notes:
            self.line(f"  ({note})")

    def write_epochs(self, run: Run) -> None:
        """Every epoch; for a long run only the first and last ``LONG_RUN_KEEP`` in full and one
        line (loss, steps) for each epoch between, unless ``--full`` asks for all."""
        epochs = run.epochs
        keep = LONG_RUN_KEEP
        if self.options.full or len(epochs) <= 2 * keep + 1:
            for epoch in epochs:
                self.write_epoch(run, epoch)
            return
        for epoch in epochs[:keep]:
            self.write_epoch(run, epoch)
        middle = epochs[keep:-keep]
        self.heading(f"Epochs {middle[0].index}–{middle[-1].index}: summarised", 2)
        self.line(f"{len(middle)} epochs are not written out here; --full prints every one.")
        rows = [[str(e.index), self.cell(e.loss) if e.loss is not None else "",
                 str(len(e.steps))] for e in middle]
        self.table(["epoch", "loss at the start", "steps"], rows, keep=1)
        for epoch in epochs[-keep:]:
            self.write_epoch(run, epoch)

    def write_epoch(self, run: Run, epoch: Epoch) -> None:
        loss = f" — loss at the start L = {self.num(epoch.loss)}" if epoch.loss is not None \
            else ""
        self.heading(f"Epoch {epoch.index}{loss}", 2)
        if self.options.steps:
            if epoch.loss_line is not None:
                self.line(worked_line(self.printer, epoch.loss_line))
            for step in epoch.steps:
                self.write_worked_step(step)
            return
        if all(len(step.rows) <= 1 for step in epoch.steps) and _same_layout(epoch.steps):
            self.write_step_table(epoch.steps)
        else:
            for step in epoch.steps:
                self.write_batch_step(step)

    def write_worked_step(self, step: Step) -> None:
        samples = ", ".join(str(s) for s in step.samples)
        label = step.title or (f"Step {step.index} — sample{'s' if len(step.samples) > 1 else ''}"
                               f" {samples}")
        self.line()
        self.line(label, "bold" if self.options.color else None)
        for k, row in enumerate(step.rows):
            inputs = [q for q in row if q.role is Role.INPUT]
            if inputs:  # several samples in one step: say whose inputs these are
                several = len(step.rows) > 1 and len(step.samples) == len(step.rows)
                who = f"sample {step.samples[k]}: " if several else ""
                self.line("  " + who + ", ".join(f"{self.sym(q)} = {self.num(q.value)}"
                                                 for q in inputs))
            for quantity in row:
                if quantity.role is not Role.INPUT:
                    self.line("  " + worked_line(self.printer, quantity))
        for quantity in step.quantities:
            self.line("  " + worked_line(self.printer, quantity))

    def write_step_table(self, steps: list[Step]) -> None:
        """One row per update step: inputs, values, gradients, updated parameters."""
        if not steps:
            return
        first = steps[0]
        row_columns = first.rows[0] if first.rows else []
        headings = ["step", "sample"] + [self.sym(q) for q in row_columns]
        headings += [self.sym(q) for q in first.of_role(Role.GRAD)]
        headings += [f"{self.sym(q)} after" for q in first.of_role(Role.PARAM)]
        headings += [self.sym(q) for q in first.of_role(Role.VALUE)]
        rows = []
        for step in steps:
            cells = [str(step.index), ", ".join(map(str, step.samples))]
            cells += [self.cell(q.value) for q in (step.rows[0] if step.rows else [])]
            cells += [self.cell(q.value) for q in step.of_role(Role.GRAD)]
            cells += [self.cell(q.value) for q in step.of_role(Role.PARAM)]
            cells += [self.cell(q.value) for q in step.of_role(Role.VALUE)]
            rows.append(cells)
        self.table(headings, rows, keep=2)

    def write_batch_step(self, step: Step) -> None:
        """Per-sample rows, then the gradient and the update written out."""
        self.line()
        samples = ", ".join(map(str, step.samples))
        plural = "s" if len(step.samples) > 1 else ""
        self.line(step.title or f"Step {step.index} — sample{plural} {samples}",
                  "bold" if self.options.color else None)
        headings = ["sample"] + [self.sym(q) for q in step.rows[0]]
        rows = [[str(sample)] + [self.cell(q.value) for q in row]
                for sample, row in zip(step.samples, step.rows)]
        self.table(headings, rows, keep=1)
        for quantity in step.quantities:
            self.line("  " + worked_line(self.printer, quantity))

    def write_block(self, block: Block) -> None:
        self.heading(block.title, 2)
        for table in block.tables:
            self.write_trace_table(table)
        for quantity in block.quantities:
            self.line("  " + worked_line(self.printer, quantity))

    def write_trace_table(self, table: TraceTable) -> None:
        rows = [[cell if isinstance(cell, str) else self.num(cell) for cell in row]
                for row in table.rows]
        self.line(table.title)
        self.table(table.columns, rows, keep=1)

    def write_summary(self, run: Run) -> None:
        self.heading("Result" if len(self.trace.runs) == 1 else f"Result: {run.label}", 2)
        if run.final:
            self.line("final parameters: " + ", ".join(
                f"{name} = {self.num(value)}" for name, value in run.final.items()))
        losses = [(e.index, e.loss) for e in run.epochs if e.loss is not None]
        if losses:
            self.line("loss per epoch (start of epoch): " + ", ".join(
                f"{index}: {self.num(loss)}" for index, loss in losses))
        if run.final_loss is not None:
            self.line(f"final loss: {self.num(run.final_loss)}")
        if self.options.color:  # a terminal: the loss per epoch as a one-line chart
            chart = self.loss_chart(run)
            if chart:
                self.line(chart)
        if run.outcome is not None:
            outcome = run.outcome
            rows = [[str(p.sample), self.cell(p.score), str(p.label), self.cell(p.target)]
                    for p in outcome.predictions]
            self.line(f"predictions with the final parameters (1 when ŷ ≥ "
                      f"{exact(outcome.threshold)}):")
            self.table(["sample", "ŷ", "label", "target"], rows, keep=1)
            if outcome.accuracy is not None:
                correct = round(outcome.accuracy * len(outcome.predictions))
                self.line(f"accuracy: {correct}/{len(outcome.predictions)} "
                          f"({self.num(outcome.accuracy * 100)}%)")
        if run.stability is not None:
            stability = run.stability
            verdict = stability.verdict
            self.line(f"stability: Hessian H = {self.printer.symbolic(stability.hessian_formula)}"
                      f", λmax = {self.num(stability.lambda_max)}; batch GD converges only for "
                      f"0 < η < 2/λmax = {stability.eta_limit:.6g}; "  # 6 digits, as in the warning
                      f"η = {exact(stability.eta)} {verdict}.")
        if run.stopped_early:
            self.line("the run stopped early: see the warnings below.")

    def loss_chart(self, run: Run) -> str:
        """``loss chart: ▇▅▂▁ …``; the bar heights come from gdtrace.plot.sparkline (the
        scaling is the chart module's job), this renderer only prints them."""
        from gdtrace.plot import loss_points, sparkline, wants_log_scale

        losses = [loss for _, loss in loss_points(run)]
        if len(losses) < 2:
            return ""
        bars = sparkline(losses, max((self.options.width or PLAIN_WIDTH) - 50, 10))
        scale = ", log scale" if wants_log_scale(losses) else ""
        return f"loss chart: {bars}  (start of epoch 1 … final{scale})"

    def write_comparison(self, comparison: Comparison) -> None:
        self.heading("Comparison", 1)
        runs = self.trace.runs
        names = runs[0].param_names
        headings = ["parameter"] + [run.label for run in runs]
        headings += [f"{c.run} − {c.baseline}" for c in comparison.contrasts]
        rows = []
        for name in names:
            cells = [name] + [self.cell(run.final.get(name, float("nan"))) for run in runs]
            for contrast in comparison.contrasts:
                change = next((ch for ch in contrast.changes if ch.name == name), None)
                cells.append("" if change is None else self.cell(change.difference))
            rows.append(cells)
        self.line("final parameters:")
        self.table(headings, rows, keep=1)
        epochs = max(len(run.epochs) for run in runs)
        loss_rows = []
        for k in range(epochs):
            loss_rows.append([str(k + 1)] + [self.cell(run.epochs[k].loss)
                                             if k < len(run.epochs) and run.epochs[k].loss
                                             is not None else "" for run in runs])
        loss_rows.append(["final"] + [self.cell(run.final_loss) if run.final_loss is not None
                                      else "" for run in runs])
        self.line("loss per epoch (start of epoch):")
        self.table(["epoch"] + [run.label for run in runs], loss_rows, keep=1)
        for contrast in comparison.contrasts:
            self.line(self.reading(contrast))

    def reading(self, contrast: Contrast) -> str:
        """One sentence on which parameters moved toward zero and by how much."""
        weights = [c for c in contrast.changes if not c.bias]
        shrank = [c for c in weights if c.magnitude_change < 0]
        grew = [c for c in weights if c.magnitude_change > 0]
        parts = [f"{contrast.run} vs {contrast.baseline}:"]
        if shrank:
            parts.append(f"{len(shrank)} of {len(weights)} weights moved toward zero ("
                         + ", ".join(f"|{c.name}| by {self.num(-c.magnitude_change)}"
                                     for c in shrank) + ")")
        if grew:
            parts.append(("; " if shrank else "") + f"{len(grew)} grew in size ("
                         + ", ".join(f"|{c.name}| by {self.num(c.magnitude_change)}"
                                     for c in grew) + ")")
        if not shrank and not grew:
            parts.append("the weights are unchanged")
        for bias in (c for c in contrast.changes if c.bias):
            if isinstance(bias.difference, float):
                parts.append(f"; {bias.name} changed by {self.num(bias.difference)}")
            else:
                parts.append(f"; |{bias.name}| changed by {self.num(bias.magnitude_change)}")
        if contrast.loss_difference is not None:
            parts.append(f"; final loss changed by {self.num(contrast.loss_difference)}")
        return " ".join(parts[:2]) + "".join(parts[2:]) + "."

    def write_warnings(self, warnings: list[Diagnostic]) -> None:
        if not warnings:
            return
        self.line()
        for warning in warnings:
            where = []
            if warning.run and len(self.trace.runs) > 1:
                where.append(warning.run)
            if warning.epoch is not None:
                where.append(f"epoch {warning.epoch}")
            if warning.step is not None:
                where.append(f"step {warning.step}")
            prefix = f"warning ({', '.join(where)}): " if where else "warning: "
            self.line(prefix + warning.message, "bold yellow" if self.options.color else None)


def _layout(step: Step) -> list[tuple[str, str]]:
    quantities = (step.rows[0] if step.rows else []) + step.quantities
    return [(q.role.value, q.key) for q in quantities]


def _same_layout(steps: list[Step]) -> bool:
    """One table for an epoch only when every step has the same columns (a network step may
    add lines, e.g. rounded weights after the first iteration)."""
    return all(_layout(step) == _layout(steps[0]) for step in steps[1:])


def exact(value: object) -> str:
    """A setting as the user gave it (η = 0.5 stays 0.5 under --decimals 0): the shortest
    form that reads back as the same number."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _settings_text(settings: dict[str, object], num: object) -> str:
    names = {"learning_rate": "η", "lambda": "λ"}
    parts = []
    for key, value in settings.items():
        shown = num(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else str(value)  # type: ignore[operator]
        parts.append(f"{names.get(key, key)} = {shown}")
    return "settings: " + ", ".join(parts)


def _box():  # type: ignore[no-untyped-def]
    from rich import box

    return box.SIMPLE_HEAD


def render(trace: Trace, options: RenderOptions) -> str:
    return ConsoleWriter(trace, options).write()


def summary_lines(info: ProblemInfo, header: Header, events: Iterable[object],
                  options: RenderOptions) -> Iterator[str]:
    """``--summary`` as plain text, one line per epoch, written while the run goes: the loss
    at the start of the epoch and the parameters after its last step."""
    from gdtrace.streaming import EpochEnd, EpochStart, RunEnd, RunStart

    numbers = NumberFormat(options.decimals if options.decimals is not None else 4)
    printer = ExprPrinter(numbers)  # matrices (mlp weights) as nested lists

    def cell(value: object) -> str:
        return numbers.fixed(float(value)) if isinstance(value, (int, float)) \
            else printer.number(value)

    yield f"{info.title}\n{'=' * len(info.title)}\n"
    yield f"source: {info.source}\nmodel: {header.model}\nloss: {header.loss}\n"
    yield f"update: {header.update}\n"
    width, loss = 12, None
    for event in events:
        if isinstance(event, RunStart):
            yield _settings_text(event.settings, exact) + "\n"
            yield "one line per epoch: the loss at its start, the parameters after its last step\n"
            width = max(12, *(len(name) + 2 for name in event.param_names))
            yield ("epoch".rjust(7) + "loss".rjust(width)
                   + "".join(name.rjust(width) for name in event.param_names) + "\n")
        elif isinstance(event, EpochStart):
            loss = event.loss
        elif isinstance(event, EpochEnd):
            cells = [numbers.fixed(loss) if loss is not None else ""]
            cells += [cell(value) for value in event.params.values()]
            yield str(event.index).rjust(7) + "".join(" " + c.rjust(width - 1) for c in cells) \
                + "\n"
        elif isinstance(event, RunEnd):
            yield "final parameters: " + ", ".join(
                f"{name} = {printer.number(value)}" for name, value in event.final.items())
            yield "\n"
            if event.final_loss is not None:
                yield f"final loss: {numbers.plain(event.final_loss)} (after {event.steps} steps)\n"
            if event.accuracy is not None:
                yield (f"accuracy with the final parameters: {numbers.plain(event.accuracy)}"
                       " (fraction of the samples classified correctly)\n")
            for warning in event.diagnostics:
                where = [f"epoch {warning.epoch}"] if warning.epoch is not None else []
                where += [f"step {warning.step}"] if warning.step is not None else []
                prefix = f"warning ({', '.join(where)}): " if where else "warning: "
                yield prefix + warning.message + "\n"
