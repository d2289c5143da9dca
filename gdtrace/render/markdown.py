"""``--format markdown``: GitHub-flavoured Markdown with ``$$…$$`` display math.

The layout follows the console renderer: a heading per run and epoch, a table per epoch (one
row per update step), and with ``--steps`` every worked line (symbolic → substituted → result)
as display math in an ``aligned`` block, which GitHub, Jupyter and Obsidian all render. Table
cells and headings use Unicode symbols (x₁, σ(z)) so the tables read well as plain text too.
"""

from __future__ import annotations

from collections.abc import Sequence

from gdtrace import __version__
from gdtrace import expr as E
from gdtrace.render import RenderOptions, display_decimals
from gdtrace.render.latex import (
    LatexPrinter,
    align_lines,
    reading,
    relation,
    settings_text,
    text_math,
)
from gdtrace.render.printer import ExprPrinter, NumberFormat
from gdtrace.trace import Block, Comparison, Epoch, Quantity, Role, Run, Step, Trace
from gdtrace.trace import Table as TraceTable

_SPECIAL = set("\\`*_[]<>|$~#")


def md(text: str) -> str:
    """Escape user text so Markdown shows it literally (one line, no markup)."""
    text = " ".join(str(text).split())
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def code(text: str) -> str:
    """Inline code that survives backticks in the text."""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


class MarkdownWriter:
    """Writes one trace as Markdown; the layout mirrors the console renderer."""

    def __init__(self, trace: Trace, options: RenderOptions) -> None:
        self.trace = trace
        self.options = options
        numbers = NumberFormat(display_decimals(trace, options))
        self.math = LatexPrinter(numbers)
        self.text = ExprPrinter(numbers)
        self.out: list[str] = []
        self.runs_level = 1 if len(trace.runs) > 1 else 0

    # basic output --------------------------------------------------------------------------
    def emit(self, text: str = "") -> None:
        self.out.append(text)

    def heading(self, level: int, text: str) -> None:
        self.emit(f"{'#' * min(level, 6)} {text}")
        self.emit()

    def num(self, value: object) -> str:
        return self.text.number(value)

    def inline(self, latex: str) -> str:
        return f"${latex}$"

    def cell(self, value: object) -> str:
        if isinstance(value, str):
            return md(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.text.numbers.fixed(float(value))
        return md(self.text.number(value))

    def sym(self, quantity: Quantity) -> str:
        return md(self.text.symbolic(quantity.heading or quantity.symbol))

    def table(self, headings: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A GitHub table; numbers right-aligned, every row as wide as the heading row."""
        width = len(headings)
        self.emit("| " + " | ".join(headings) + " |")
        self.emit("|" + "|".join("---:" for _ in headings) + "|")
        for row in rows:
            cells = list(row)[:width] + [""] * (width - len(row))
            self.emit("| " + " | ".join(cells) + " |")
        self.emit()

    def display(self, rows: Sequence[str]) -> None:
        """Worked lines as one ``$$`` block with an ``aligned`` environment."""
        if not rows:
            return
        self.emit("$$")
        self.emit(r"\begin{aligned}")
        self.emit(" \\\\\n".join(rows))
        self.emit(r"\end{aligned}")
        self.emit("$$")
        self.emit()

    def worked(self, quantities: Sequence[Quantity]) -> None:
        self.display([line for q in quantities for line in align_lines(self.math, q)])

    # sections ------------------------------------------------------------------------------
    def write(self) -> str:
        self.write_header()
        show_epochs = self.trace.comparison is None or self.options.full
        for run in self.trace.runs:
            if self.runs_level:
                self.heading(2, f"Run: {md(run.label)}")
                self.emit(md(self.settings_text(run.settings)))
                self.emit()
            if show_epochs:
                for epoch in run.epochs:
                    self.write_epoch(epoch)
                for block in run.blocks:
                    self.write_block(block)
            self.write_summary(run)
        if self.trace.comparison is not None:
            self.write_comparison(self.trace.comparison)
        self.write_warnings()
        return "\n".join(self.out).rstrip("\n") + "\n"

    def settings_text(self, settings: dict[str, object]) -> str:
        return settings_text(settings, self.text.number)

    def write_header(self) -> None:
        trace, header = self.trace, self.trace.header
        self.emit(f"<!-- gdtrace {__version__} -->")
        self.heading(1, md(trace.problem.title))
        self.emit(f"- **source:** {code(trace.problem.source)}")
        self.emit(f"- **model:** {md(header.model)}")
        self.emit(f"- **loss:** {md(header.loss)}")
        self.emit(f"- **update:** {md(header.update)}")
        if len(trace.runs) == 1:
            settings = self.settings_text(header.settings).removeprefix("settings: ")
            self.emit(f"- **settings:** {md(settings)}")
        self.emit()
        rows = []
        for formula in header.formulas:
            row = (f"{self.math.symbolic(formula.lhs)} &{relation(formula.relation)} "
                   f"{self.math.symbolic(formula.rhs)}")
            if formula.label:
                row += f" && {text_math(formula.label)}"
            rows.append(row)
        self.display(rows)
        for note in header.notes:
            self.emit(f"({md(note)})")
            self.emit()

    def write_epoch(self, epoch: Epoch) -> None:
        loss = f" — loss at the start L = {self.num(epoch.loss)}" if epoch.loss is not None \
            else ""
        self.heading(2 + self.runs_level, f"Epoch {epoch.index}{loss}")
        if self.options.steps:
            if epoch.loss_line is not None:
                self.worked([epoch.loss_line])
            for step in epoch.steps:
                self.write_worked_step(step)
            return
        if all(len(step.rows) <= 1 for step in epoch.steps):
            self.write_step_table(epoch.steps)
        else:
            for step in epoch.steps:
                self.write_batch_step(step)

    def step_title(self, step: Step) -> str:
        if step.title:
            return md(step.title)
        samples = ", ".join(str(s) for s in step.samples)
        return f"Step {step.index} — sample{'s' if len(step.samples) > 1 else ''} {samples}"

    def inputs_line(self, row: list[Quantity]) -> str:
        return ", ".join(self.inline(f"{self.math.symbolic(q.heading or q.symbol)} = "
                                     f"{self.math.number(q.value)}")
                         for q in row if q.role is Role.INPUT)

    def write_worked_step(self, step: Step) -> None:
        self.heading(3 + self.runs_level, self.step_title(step))
        rows: list[str] = []
        for sample, row in zip(step.samples, step.rows):
            given = self.inputs_line(row)
            if given:
                if rows:
                    self.display(rows)
                    rows = []
                label = f"sample {sample}: " if len(step.rows) > 1 else ""
                self.emit(label + given)
                self.emit()
            for quantity in row:
                if quantity.role is not Role.INPUT:
                    rows.extend(align_lines(self.math, quantity))
        rows.extend(line for q in step.quantities for line in align_lines(self.math, q))
        self.display(rows)

    def write_step_table(self, steps: list[Step]) -> None:
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
        self.table(headings, rows)

    def write_batch_step(self, step: Step) -> None:
        self.heading(3 + self.runs_level, self.step_title(step))
        headings = ["sample"] + [self.sym(q) for q in step.rows[0]]
        self.table(headings, [[str(sample)] + [self.cell(q.value) for q in row]
                              for sample, row in zip(step.samples, step.rows)])
        self.worked(step.quantities)

    def write_block(self, block: Block) -> None:
        self.heading(2 + self.runs_level, md(block.title))
        for table in block.tables:
            self.write_trace_table(table)
        self.worked(block.quantities)

    def write_trace_table(self, table: TraceTable) -> None:
        if table.title:
            self.emit(f"**{md(table.title)}**")
            self.emit()
        self.table([md(c) for c in table.columns],
                   [[self.cell(c) for c in row] for row in table.rows])

    def write_summary(self, run: Run) -> None:
        self.heading(2 + self.runs_level,
                     "Result" if not self.runs_level else f"Result: {md(run.label)}")
        if run.final:
            self.emit("- final parameters: " + ", ".join(
                self.inline(f"{self.math.symbolic(E.sym(name))} = {self.math.number(value)}")
                for name, value in run.final.items()))
        if run.final_loss is not None:
            self.emit(f"- final loss: {self.num(run.final_loss)}")
        if run.outcome is not None and run.outcome.accuracy is not None:
            outcome = run.outcome
            correct = round(outcome.accuracy * len(outcome.predictions))
            self.emit(f"- accuracy: {correct}/{len(outcome.predictions)} "
                      f"({self.num(outcome.accuracy * 100)}%)")
        if run.stability is not None:
            st = run.stability
            verdict = st.verdict
            hessian = self.inline("H = " + self.math.symbolic(st.hessian_formula))
            lam = self.inline(r"\lambda_{\max} = " + self.math.number(st.lambda_max))
            limit = self.inline(r"0 < \eta < 2/\lambda_{\max} = "
                                + self.math.format_number(st.eta_limit))
            eta = self.inline(r"\eta = " + self.math.number(st.eta))
            self.emit(f"- stability: Hessian {hessian}, {lam}; batch GD converges only for "
                      f"{limit}; {eta} {verdict}.")
        if run.stopped_early:
            self.emit("- the run stopped early: see the warnings below.")
        self.emit()
        losses = [(e.index, e.loss) for e in run.epochs if e.loss is not None]
        if losses:
            self.emit("Loss per epoch (start of epoch):")
            self.emit()
            self.table(["epoch", "L"], [[str(i), self.cell(loss)] for i, loss in losses])
        if run.outcome is not None:
            outcome = run.outcome
            self.emit(f"Predictions with the final parameters (1 when ŷ ≥ "
                      f"{self.num(outcome.threshold)}):")
            self.emit()
            self.table(["sample", "ŷ", "label", "target"],
                       [[str(p.sample), self.cell(p.score), str(p.label), self.cell(p.target)]
                        for p in outcome.predictions])

    def write_comparison(self, comparison: Comparison) -> None:
        self.heading(2, "Comparison")
        runs = self.trace.runs
        headings = ["parameter"] + [md(run.label) for run in runs]
        headings += [f"{md(c.run)} − {md(c.baseline)}" for c in comparison.contrasts]
        rows = []
        for name in runs[0].param_names:
            cells = [md(name)]
            cells += [self.cell(run.final[name]) if name in run.final else "" for run in runs]
            for contrast in comparison.contrasts:
                change = next((ch for ch in contrast.changes if ch.name == name), None)
                cells.append(self.cell(change.difference) if change is not None else "")
            rows.append(cells)
        self.emit("Final parameters:")
        self.emit()
        self.table(headings, rows)
        epochs = max(len(run.epochs) for run in runs)
        loss_rows = []
        for k in range(epochs):
            loss_rows.append([str(k + 1)] + [
                self.cell(run.epochs[k].loss) if k < len(run.epochs)
                and run.epochs[k].loss is not None else "" for run in runs])
        loss_rows.append(["final"] + [self.cell(run.final_loss) if run.final_loss is not None
                                      else "" for run in runs])
        self.emit("Loss per epoch (start of epoch):")
        self.emit()
        self.table(["epoch"] + [md(run.label) for run in runs], loss_rows)
        for contrast in comparison.contrasts:
            self.emit(md(reading(contrast, self.text.number)))
            self.emit()

    def write_warnings(self) -> None:
        for warning in self.trace.warnings:
            where = [w for w in (warning.run if len(self.trace.runs) > 1 else "",
                                 f"epoch {warning.epoch}" if warning.epoch is not None else "",
                                 f"step {warning.step}" if warning.step is not None else "") if w]
            prefix = f" ({md(', '.join(where))})" if where else ""
            self.emit(f"> **Warning{prefix}:** {md(warning.message)}")
            self.emit()


def render(trace: Trace, options: RenderOptions) -> str:
    return MarkdownWriter(trace, options).write()
