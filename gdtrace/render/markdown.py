"""``--format markdown``: GitHub-flavoured Markdown with ``$$…$$`` display math.

The layout follows the console renderer: a heading per run and epoch, a table per epoch (one
row per update step), and with ``--steps`` every worked line (symbolic → substituted → result)
as display math in an ``aligned`` block, which GitHub, Jupyter and Obsidian all render. Table
cells and headings use Unicode symbols (x₁, σ(z)) so the tables read well as plain text too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from gdtrace import __version__
from gdtrace.formula import expr as E
from gdtrace.render import RenderOptions, display_decimals
from gdtrace.render.latex_printer import LatexPrinter, align_lines, formula_rows
from gdtrace.render.layout import (
    DocumentWriter,
    StreamItem,
    epoch_losses,
    exact,
    step_label,
)
from gdtrace.render.printer import ExprPrinter, NumberFormat
from gdtrace.trace import Quantity, Role, Run, Stability, Step, Trace
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


class MarkdownWriter(DocumentWriter):
    """Writes one trace as Markdown: the syntax of the shared layout (gdtrace.render.layout)."""

    same_columns = False

    def __init__(self, trace: Trace, options: RenderOptions) -> None:
        super().__init__(trace, options)
        numbers = NumberFormat(display_decimals(trace, options))
        self.math = LatexPrinter(numbers)
        self.plain = ExprPrinter(numbers)
        self.out: list[str] = []
        self.runs_level = 1 if self.several_runs else 0

    # basic output --------------------------------------------------------------------------
    def emit(self, text: str = "") -> None:
        self.out.append(text)

    def heading(self, level: int, text: str) -> None:
        self.emit(f"{'#' * min(level, 6)} {text}")
        self.emit()

    def section(self, title: str, depth: int) -> None:
        self.heading(2 if depth == 0 else depth + 1 + self.runs_level, title)

    def paragraph(self, text: str) -> None:
        self.emit(text)
        self.emit()

    def text(self, text: str) -> str:
        return md(text)

    def num(self, value: object) -> str:
        return self.plain.number(value)

    def setting_number(self, value: object) -> str:
        return exact(value)

    def value_is(self, symbol: str, value: object) -> str:
        return f"{symbol} = {self.num(value)}"

    def prediction_rule(self, threshold: float) -> str:
        return f"ŷ ≥ {exact(threshold)}"

    def param_value(self, name: str, value: object) -> str:
        return self.inline(f"{self.math.symbolic(E.sym(name))} = {self.math.number(value)}")

    def stability_parts(self, stability: Stability) -> tuple[str, str, str, str]:
        return (self.inline("H = " + self.math.symbolic(stability.hessian_formula)),
                self.inline(r"\lambda_{\max} = " + self.math.number(stability.lambda_max)),
                self.inline(r"0 < \eta < 2/\lambda_{\max} = "
                            + self.math.format_number(stability.eta_limit)),
                self.inline(r"\eta = " + self.math.number(stability.eta)))

    def inline(self, latex: str) -> str:
        return f"${latex}$"

    def cell(self, value: object) -> str:
        if isinstance(value, str):
            return md(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.plain.numbers.fixed(float(value))
        return md(self.plain.number(value))

    def sym(self, quantity: Quantity) -> str:
        return md(self.plain.symbolic(quantity.heading or quantity.symbol))

    def param_name(self, name: str) -> str:
        return md(name)

    def data_table(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
                   caption: str | None = None, keep: int = 1) -> None:
        """A GitHub table; numbers right-aligned, every row as wide as the heading row."""
        if caption:
            self.paragraph(caption[:1].upper() + caption[1:])
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

    def result(self) -> str:
        return "\n".join(self.out).rstrip("\n") + "\n"

    def take(self) -> str:
        """:meth:`result`'s text written so far, in pieces that add up to it: trailing blank
        lines are kept back (the document's end trims them, :meth:`take_last`)."""
        out = self.out
        end = len(out)
        while end and (not out[end - 1] or out[end - 1].endswith("\n")):
            end -= 1
        if not end:
            return ""
        text = "\n".join(out[:end]) + "\n"
        self.out = out[end:]
        return text

    def take_last(self) -> str:
        text = "\n".join(self.out).rstrip("\n")
        self.out = []
        return text + "\n" if text else ""

    # sections ------------------------------------------------------------------------------
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
        self.display(formula_rows(self.math, header.formulas))
        for note in header.notes:
            self.paragraph(f"({md(note)})")

    def inputs_line(self, row: list[Quantity]) -> str:
        return ", ".join(self.inline(f"{self.math.symbolic(q.heading or q.symbol)} = "
                                     f"{self.math.number(q.value)}")
                         for q in row if q.role is Role.INPUT)

    def write_worked_step(self, step: Step) -> None:
        self.section(self.text(step_label(step)), 2)
        rows: list[str] = []
        for sample, row in zip(step.samples, step.rows):
            given = self.inputs_line(row)
            if given:
                if rows:
                    self.display(rows)
                    rows = []
                label = f"sample {sample}: " if len(step.rows) > 1 else ""
                self.paragraph(label + given)
            for quantity in row:
                if quantity.role is not Role.INPUT:
                    rows.extend(align_lines(self.math, quantity))
        rows.extend(line for q in step.quantities for line in align_lines(self.math, q))
        self.display(rows)

    def write_trace_table(self, table: TraceTable) -> None:
        if table.title:
            self.paragraph(f"**{md(table.title)}**")
        self.data_table([md(c) for c in table.columns],
                        [[self.cell(c) for c in row] for row in table.rows])

    def write_summary(self, run: Run) -> None:
        self.section(self.result_title(run), 1)
        if run.final:
            self.emit("- " + self.final_parameters(run))
        if run.final_loss is not None:
            self.emit(f"- final loss: {self.num(run.final_loss)}")
        for line in self.checks(run):
            self.emit("- " + line)
        self.emit()
        losses = epoch_losses(run)
        if losses:
            self.data_table(["epoch", "L"], [[str(i), self.cell(loss)] for i, loss in losses],
                            caption="loss per epoch (start of epoch):")
        if run.outcome is not None:
            self.write_predictions(run.outcome)

    def warning(self, where: str, message: str) -> None:
        prefix = f" ({md(where)})" if where else ""
        self.paragraph(f"> **Warning{prefix}:** {md(message)}")


def render(trace: Trace, options: RenderOptions) -> str:
    return MarkdownWriter(trace, options).write()


def write_streamed(trace: Trace, items: Iterable[StreamItem], options: RenderOptions,
                   out: Callable[[str], object]) -> None:
    """:func:`render`'s text, handed to ``out`` piece by piece as the epochs and steps of
    ``items`` arrive (see :meth:`DocumentWriter.write_streamed`)."""
    MarkdownWriter(trace, options).write_streamed(items, out)
