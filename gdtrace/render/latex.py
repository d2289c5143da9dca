"""``--format latex``: the worked solution as a homework answer key.

Each update step is an ``align*`` block whose lines read symbolic → substituted → result
(``z_{1} &= w_{1} x_{1} + b = 0.08 \\cdot 5 + 0 = 0.4``); tables use booktabs rules. The output
is a fragment to ``\\input`` (it needs ``amsmath`` and ``booktabs``), or with ``--standalone`` a
whole document that compiles with pdflatex. Every user-supplied string is escaped and every
non-ASCII character is replaced by a LaTeX command, so the output is plain ASCII and needs no
``inputenc`` setup.
"""

from __future__ import annotations

from collections.abc import Sequence

from gdtrace import __version__
from gdtrace.formula import expr as E
from gdtrace.render import RenderOptions, display_decimals
from gdtrace.render.latex_printer import (
    LatexPrinter,
    align_block,
    align_lines,
    formula_rows,
    latex_number,
)
from gdtrace.render.latex_text import tex
from gdtrace.render.layout import (
    DocumentWriter,
    epoch_losses,
    exact,
    reading,
    step_label,
)
from gdtrace.render.printer import NumberFormat
from gdtrace.trace import Contrast, Quantity, Role, Run, Stability, Step, Trace
from gdtrace.trace import Table as TraceTable

SECTION_COMMANDS = ["section", "subsection", "subsubsection", "paragraph"]


class LatexWriter(DocumentWriter):
    """Writes one trace as LaTeX: the syntax of the shared layout (gdtrace.render.layout)."""

    dash = "---"
    minus = " $-$ "
    percent = "\\%"
    score_heading = r"$\hat{y}$"
    stopped_early = "The run stopped early: see the warnings below."
    worked_always = True

    def __init__(self, trace: Trace, options: RenderOptions) -> None:
        super().__init__(trace, options)
        self.printer = LatexPrinter(NumberFormat(display_decimals(trace, options)))
        self.out: list[str] = []
        self.runs_level = 1 if self.several_runs else 0

    def emit(self, text: str = "") -> None:
        self.out.append(text)

    def heading(self, level: int, title: str) -> None:
        command = SECTION_COMMANDS[min(level, len(SECTION_COMMANDS) - 1)]
        self.emit(f"\\{command}*{{{title}}}")

    def section(self, title: str, depth: int) -> None:
        self.heading(1 if depth == 0 else depth + self.runs_level, title)

    def paragraph(self, text: str) -> None:
        self.emit(f"\\noindent {text}\n")

    def text(self, text: str) -> str:
        return tex(text)

    def num(self, value: object) -> str:
        return f"${self.printer.number(value)}$"

    def setting_number(self, value: object) -> str:
        return exact(value)

    def value_is(self, symbol: str, value: object) -> str:
        return f"${symbol} = {self.printer.number(value)}$"

    def param_name(self, name: str) -> str:
        return f"${self.printer.symbolic(E.sym(name))}$"

    def prediction_rule(self, threshold: float) -> str:
        return f"$\\hat{{y}} \\geq {exact(threshold)}$"

    def param_value(self, name: str, value: object) -> str:
        return f"${self.printer.symbolic(E.sym(name))} = {self.printer.number(value)}$"

    def stability_parts(self, stability: Stability) -> tuple[str, str, str, str]:
        limit = latex_number(*self.printer.numbers.parts(stability.eta_limit))
        return (f"$H = {self.printer.symbolic(stability.hessian_formula)}$",
                f"$\\lambda_{{\\max}} = {self.printer.number(stability.lambda_max)}$",
                f"$0 < \\eta < 2/\\lambda_{{\\max}} = {limit}$",
                f"$\\eta = {self.printer.number(stability.eta)}$")

    def cell(self, value: object) -> str:
        """A table cell: fixed decimals (so a column lines up) in math mode."""
        if isinstance(value, str):
            return tex(value)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, (int, float)):
            text = self.printer.numbers.fixed(float(value))
            mantissa, _, exponent = text.partition("e")
            if mantissa in ("nan", "inf", "-inf"):
                return f"${latex_number(mantissa, None)}$"
            return f"${latex_number(mantissa, int(exponent) if exponent else None)}$"
        return f"${self.printer.number(value)}$"

    def sym(self, quantity: Quantity) -> str:
        return f"${self.printer.symbolic(quantity.heading or quantity.symbol)}$"

    def data_table(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
                   caption: str | None = None, keep: int = 1) -> None:
        """A booktabs tabular; wide tables are set smaller so they fit the text width."""
        if caption:
            self.paragraph(caption)
        small = len(headings) > 8
        self.emit("\\begin{center}")
        if small:
            self.emit("\\footnotesize\\setlength{\\tabcolsep}{3pt}")
        self.emit(f"\\begin{{tabular}}{{{'r' * len(headings)}}}")
        self.emit("\\toprule")
        self.emit(" & ".join(headings) + r" \\")
        self.emit("\\midrule")
        for row in rows:
            self.emit(" & ".join(row) + r" \\")
        self.emit("\\bottomrule")
        self.emit("\\end{tabular}")
        self.emit("\\end{center}\n")

    def worked(self, quantities: Sequence[Quantity]) -> None:
        rows = [line for q in quantities for line in align_lines(self.printer, q)]
        if rows:
            self.emit(align_rows(rows))

    def result(self) -> str:
        body = "\n".join(self.out) + "\n"
        return standalone(self.trace, body) if self.options.standalone else body

    def write_run_heading(self, run: Run) -> None:
        self.section(f"Run: {tex(run.label)}", 0)
        self.emit(tex(self.settings_text(run.settings)) + "\n")

    def write_header(self) -> None:
        trace, header = self.trace, self.trace.header
        self.emit(f"% gdtrace {__version__}: {tex(trace.problem.title)}")
        self.emit("% needs \\usepackage{amsmath,booktabs}")
        self.heading(0, tex(trace.problem.title))
        lines = [f"source: \\texttt{{{tex(trace.problem.source)}}}",
                 f"model: {tex(header.model)}", f"loss: {tex(header.loss)}",
                 f"update: {tex(header.update)}"]
        if len(trace.runs) == 1:
            lines.append(tex(self.settings_text(header.settings)))
        self.paragraph(" \\\\\n".join(lines))
        if header.formulas:
            self.emit(align_block(formula_rows(self.printer, header.formulas)))
        for note in header.notes:
            self.paragraph(f"({tex(note)})")

    def write_worked_step(self, step: Step) -> None:
        self.section(tex(step_label(step)), 2)
        rows: list[str] = []
        for sample, row in zip(step.samples, step.rows):
            inputs = [q for q in row if q.role is Role.INPUT]
            if inputs:
                given = ", ".join(f"${self.printer.symbolic(q.heading or q.symbol)} = "
                                  f"{self.printer.number(q.value)}$" for q in inputs)
                label = f"sample {sample}: " if len(step.rows) > 1 else ""
                if rows:
                    rows.append(f"\\intertext{{{label}{given}}}")
                else:  # before the block: \intertext on the first row leaves a gap
                    self.emit(f"\\noindent {label}{given}")
            for quantity in row:
                if quantity.role is not Role.INPUT:
                    rows.extend(align_lines(self.printer, quantity))
        if step.rows and step.quantities and len(step.rows) > 1:
            rows.append(r"\intertext{then for the step:}")
        for quantity in step.quantities:
            rows.extend(align_lines(self.printer, quantity))
        if rows:
            self.emit(align_rows(rows))

    def write_trace_table(self, table: TraceTable) -> None:
        self.data_table([tex(c) for c in table.columns],
                        [[self.cell(c) for c in row] for row in table.rows],
                        caption=tex(table.title) if table.title else None)

    def write_summary(self, run: Run) -> None:
        self.section(self.result_title(run), 1)
        lines = []
        if run.final:
            lines.append(self.final_parameters(run))
        if run.final_loss is not None:
            lines.append(f"final loss: {self.num(run.final_loss)}")
        if lines:
            self.paragraph(" \\\\\n".join(lines))
        losses = epoch_losses(run)
        if losses:
            self.data_table(["epoch", "$L$ at the start"],
                            [[str(i), self.cell(loss)] for i, loss in losses],
                            caption="loss per epoch:")
        if run.outcome is not None:
            self.write_predictions(run.outcome)
        for line in self.checks(run):
            self.paragraph(line)

    def reading(self, contrast: Contrast) -> str:
        return reading(contrast, self.printer.number)  # numbers outside $…$: tex escapes them

    def warnings_start(self) -> None:
        self.heading(1, "Warnings")
        self.emit("\\begin{itemize}")

    def warning(self, where: str, message: str) -> None:
        prefix = f"({tex(where)}) " if where else ""
        self.emit(f"\\item {prefix}{tex(message)}")

    def warnings_end(self) -> None:
        self.emit("\\end{itemize}\n")


def align_rows(rows: list[str]) -> str:
    """An align* block; an ``\\intertext`` row is joined to the next row without ``\\\\``."""
    text = ""
    for position, row in enumerate(rows):
        text += row
        if position < len(rows) - 1 and not row.startswith("\\intertext"):
            text += " \\\\\n"
        else:
            text += "\n"
    if rows and rows[-1].startswith("\\intertext"):
        text += "\\\\\n"
    return "\\begin{align*}\n" + text + "\\end{align*}\n"


def standalone(trace: Trace, body: str) -> str:
    """Wrap a fragment in a document that compiles with pdflatex (standard packages only)."""
    return (
        "\\documentclass[11pt]{article}\n"
        "\\usepackage{amsmath}\n"
        "\\usepackage{booktabs}\n"
        "\\usepackage[margin=2cm]{geometry}\n"
        "\\allowdisplaybreaks\n"
        "\\setlength{\\parindent}{0pt}\n"
        f"\\title{{{tex(trace.problem.title)}}}\n"
        "\\date{}\n"
        "\\begin{document}\n"
        f"{body}"
        "\\end{document}\n"
    )


def render(trace: Trace, options: RenderOptions) -> str:
    return LatexWriter(trace, options).write()
