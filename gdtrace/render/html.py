"""``--format html``: the worked solution as a self-contained web page.

The shared document layout (gdtrace.render.layout) written as HTML through
:class:`gdtrace.render.page.HtmlPage`: real tables (the step table's columns grouped under
"forward pass", "gradients", "parameters after" …), every formula and worked line as MathML
(:class:`gdtrace.render.mathml.MathMLPrinter`, laid out natively by current browsers),
epochs folded in ``<details>``, warnings highlighted, the loss per epoch as an inline SVG
chart and a print style sheet. No script is needed and nothing is fetched. The terminal's
look as a page is ``--format terminal-html`` (terminal_html.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from gdtrace import __version__
from gdtrace.formula import expr as E
from gdtrace.render import RenderOptions, display_decimals
from gdtrace.render.layout import (
    Column,
    DocumentWriter,
    Row,
    batch_table,
    epoch_losses,
    exact,
    step_label,
    step_panels,
    step_table,
    worked_parts,
)
from gdtrace.render.mathml import BREAK, MathMLPrinter, math_element, relation, row
from gdtrace.render.page import Cell, HtmlPage, Markup, escape
from gdtrace.render.printer import ExprPrinter, NumberFormat
from gdtrace.trace import Epoch, Quantity, Role, Run, Stability, Step, Trace
from gdtrace.trace import Table as TraceTable

# A worked line longer than this (characters of its text, roughly) is set one part per row
# (symbolic, substituted, result) and a long expanded sum is cut between its terms.
LINE_LIMIT = 78
TABLE_LIMIT = 110  # characters (roughly) of a table that fits a page; wider ones are split
OPEN_EPOCHS = 3  # runs with more epochs fold all but the first and the last
NUMERIC = re.compile(r"[-−+]?[\d.,e+−-]*\d[\d.,e+−-]*|inf|-inf|nan|")  # a number-like cell


def visible_length(markup: str) -> int:
    """Roughly how many characters a MathML fragment prints."""
    return len(re.sub(r"<[^>]*>", "", markup.replace(BREAK, "")).replace("&#x2062;", "")
               .replace("&#x2061;", ""))


def _whole(markup: str) -> bool:
    """True when every element opened in ``markup`` is closed in it (a row can stand alone)."""
    depth = 0
    for tag in re.finditer(r"<(/?)[a-z]+[^>]*?(/?)>", markup):
        if tag.group(1):
            depth -= 1
            if depth < 0:
                return False
        elif not tag.group(2):
            depth += 1
    return depth == 0


class HtmlWriter(DocumentWriter):
    """Writes one trace as an HTML page: the syntax of the shared layout."""

    score_heading = "ŷ"

    def __init__(self, trace: Trace, options: RenderOptions) -> None:
        super().__init__(trace, options)
        numbers = NumberFormat(display_decimals(trace, options))
        self.math = MathMLPrinter(numbers)
        self.plain = ExprPrinter(numbers)
        self.page = HtmlPage(trace.problem.title, generator=f"gdtrace {__version__}")
        self.runs_level = 1 if self.several_runs else 0
        self._in_epoch = False
        self._epoch_open = True

    # math ----------------------------------------------------------------------------------
    def inline(self, content: str, label: str = "") -> str:
        return math_element(content, label=label)

    def symbol_math(self, node: E.Expr) -> str:
        return self.inline(self.math.symbolic(node), self.plain.symbolic(node))

    # the layout's primitives ---------------------------------------------------------------
    def section(self, title: str, depth: int) -> None:
        level = 2 if depth == 0 else depth + 2 + self.runs_level
        if depth == 1 and self._in_epoch:
            self.page.open_details(Markup(title), self._epoch_open, level, "epoch")
            return
        self.page.heading(Markup(title), level)

    def paragraph(self, text: str) -> None:
        self.page.paragraph(Markup(text))

    def text(self, text: str) -> str:
        return escape(text)

    def cell(self, value: object) -> str:
        if isinstance(value, str):
            return escape(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return escape(self.plain.numbers.fixed(float(value)))
        return self.inline(self.math.number(value), self.plain.number(value))  # a matrix

    def sym(self, quantity: Quantity) -> str:
        return self.symbol_math(quantity.heading or quantity.symbol)

    def num(self, value: object) -> str:
        return escape(self.plain.number(value))

    def setting_number(self, value: object) -> str:
        return exact(value)

    def param_name(self, name: str) -> str:
        return self.symbol_math(E.sym(name))

    def value_is(self, symbol: str, value: object) -> str:
        return self.inline(f"<mi>{escape(symbol)}</mi><mo>=</mo>{self.math.number(value)}",
                           f"{symbol} = {self.plain.number(value)}")

    def param_value(self, name: str, value: object) -> str:
        return self.inline(f"{self.math.symbolic(E.sym(name))}<mo>=</mo>"
                           f"{self.math.number(value)}", f"{name} = {self.plain.number(value)}")

    def stability_parts(self, stability: Stability) -> tuple[str, str, str, str]:
        lam = "<msub><mi>λ</mi><mi>max</mi></msub>"
        limit = self.math.format_number(stability.eta_limit)
        return (self.inline("<mi>H</mi><mo>=</mo>"
                            + self.math.symbolic(stability.hessian_formula)),
                self.inline(f"{lam}<mo>=</mo>{self.math.number(stability.lambda_max)}"),
                self.inline(f"<mn>0</mn><mo>&lt;</mo><mi>η</mi><mo>&lt;</mo><mn>2</mn><mo>/</mo>"
                            f"{lam}<mo>=</mo>{limit}"),
                self.inline(f"<mi>η</mi><mo>=</mo><mn>{escape(exact(stability.eta))}</mn>"))

    def prediction_rule(self, threshold: float) -> str:
        return f"ŷ ≥ {escape(exact(threshold))}"

    def data_table(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
                   caption: str | None = None, keep: int = 1,
                   groups: Sequence[tuple[str, int]] = ()) -> None:
        self.page.table([Markup(h) for h in headings],
                        [[Markup(c) for c in r] for r in rows],
                        caption=Markup(caption[:1].upper() + caption[1:].rstrip(":"))
                        if caption else None, groups=groups)

    def grid(self, table: tuple[list[Column], list[Row]], caption: str | None = None,
             keep: int = 1) -> None:
        headings, rows = table
        self.data_table([self.column(c) for c in headings], [self.cells(r) for r in rows],
                        caption, keep)

    def write_step_table(self, steps: list[Step]) -> None:
        """The epoch's table, then each step's worked lines folded under it (a page has
        room for both: the table to follow the run, the lines to check one step)."""
        if steps:
            headings, rows = step_table(steps)
            self.grouped_table(headings, rows, 2, step_panels(headings))
        for step in steps:
            self.page.open_details(f"{step_label(step)}: worked lines", False,
                                   4 + self.runs_level, "aside")
            self.write_step_lines(step)
            self.page.close_details()

    def grouped_table(self, headings: list[Column], rows: list[Row], keep: int,
                      groups: Sequence[tuple[str, int]]) -> None:
        """One table with a heading row naming the column groups (forward pass, gradients
        …) when it is narrow enough for a page, else one table per group (neighbours
        merged while they fit), each repeating the ``keep`` columns, as the terminal
        splits them: printed on paper, a table never scrolls."""
        texts = [self.column(c) for c in headings]
        cells = [self.cells(r) for r in rows]
        widths = [max(visible_length(t), *(visible_length(r[i]) for r in cells)) + 2
                  for i, t in enumerate(texts)]
        keys = sum(widths[:keep])
        if sum(widths) <= TABLE_LIMIT:
            self.data_table(texts, cells, groups=[("", keep), *groups] if len(groups) > 1
                            else ())
            return
        parts: list[tuple[str, list[int]]] = []
        start = keep
        for label, count in groups:
            columns = list(range(start, start + count))
            start += count
            if parts and keys + sum(widths[i] for i in parts[-1][1] + columns) <= TABLE_LIMIT:
                parts[-1] = (f"{parts[-1][0]}, {label}", parts[-1][1] + columns)
            else:
                parts.append((label, columns))
        for label, columns in parts:
            chosen = list(range(keep)) + columns
            self.data_table([texts[i] for i in chosen], [[r[i] for i in chosen] for r in cells],
                            caption=label)

    def worked_rows(self, quantity: Quantity) -> list[tuple[str, str, str]]:
        """(left side, relation, right side) rows of one worked line: one row when it is
        short, else one per part, long sums cut between their terms."""
        lhs, parts = worked_parts(self.math, quantity, BREAK)
        rel = relation(quantity.relation)
        equals = relation("=")
        whole = equals.join(p.replace(BREAK, "") for p in parts)
        if visible_length(lhs + whole) <= LINE_LIMIT:
            return [(lhs, rel, whole)]
        rows: list[tuple[str, str, str]] = []
        for position, part in enumerate(parts):
            first = (lhs, rel) if position == 0 else ("", equals)
            pieces = part.split(BREAK)
            if len(pieces) == 1 or not all(_whole(p) for p in pieces):
                rows.append((*first, part.replace(BREAK, "")))
                continue
            current = pieces[0]
            for piece in pieces[1:]:
                if visible_length(current + piece) > LINE_LIMIT:
                    rows.append((*first, current))
                    first, current = ("", ""), "<mspace width=\"1em\"/>" + piece
                else:
                    current += piece
            rows.append((*first, current))
        return rows

    def worked(self, quantities: Sequence[Quantity]) -> None:
        lines = []
        for quantity in quantities:
            label = self.plain.symbolic(quantity.symbol)
            for lhs, rel, rhs in self.worked_rows(quantity):
                left = math_element(row(lhs), label=label) if lhs else ""
                middle = math_element(rel) if rel else ""
                lines.append(f'<div class="lhs">{left}</div><div class="rel">{middle}</div>'
                             f'<div class="rhs">{math_element(row(rhs))}</div>')
        if lines:
            self.page.raw('<div class="worked">\n' + "\n".join(lines) + "\n</div>")

    def result(self) -> str:
        return self.page.render()

    # sections ------------------------------------------------------------------------------
    def write_header(self) -> None:
        trace, header = self.trace, self.trace.header
        self.page.heading(trace.problem.title, 1)
        pairs = [("source", trace.problem.source), ("model", header.model),
                 ("loss", header.loss), ("update", header.update)]
        if len(trace.runs) == 1:
            pairs.append(("settings",
                          self.settings_text(header.settings).removeprefix("settings: ")))
        self.page.definitions(pairs)
        if header.formulas:
            rows = []
            for formula in header.formulas:
                rows.append([
                    Cell(Markup(self.inline(self.math.symbolic(formula.lhs))), "lhs"),
                    Cell(Markup(self.inline(relation(formula.relation))), "rel"),
                    Cell(Markup(self.inline(self.math.symbolic(formula.rhs),
                                            self.plain.symbolic(formula.rhs))), "rhs"),
                    Cell(formula.label, "label")])
            self.page.raw('<div class="scroll"><table class="formulas"><tbody>' + "".join(
                "<tr>" + "".join(c.html() for c in r) + "</tr>" for r in rows)
                + "</tbody></table></div>")
        for note in header.notes:
            self.page.paragraph(f"({note})")

    def write_epochs(self, run: Run) -> None:
        count = len(run.epochs)
        for position, epoch in enumerate(run.epochs):
            self._epoch_open = count <= OPEN_EPOCHS or position in (0, count - 1)
            self.write_epoch(epoch)

    def write_epoch(self, epoch: Epoch) -> None:
        self._in_epoch = True  # the epoch's heading becomes the <details> summary
        try:
            super().write_epoch(epoch)
        finally:
            if self._in_epoch:
                self.page.close_details()
            self._in_epoch = False

    def write_loss_line(self, quantity: Quantity) -> None:
        self.worked([quantity])

    def section_in_epoch(self, title: str) -> None:
        self.page.heading(Markup(title), 4 + self.runs_level)

    def write_batch_step(self, step: Step) -> None:
        self.section_in_epoch(self.text(step_label(step)))
        headings, rows = batch_table(step)
        self.grouped_table(headings, rows, 1, step_panels([Column("step"), *headings]))
        self.worked(step.quantities)

    def inputs_line(self, row_: list[Quantity]) -> str:
        return ", ".join(self.inline(f"{self.math.symbolic(q.heading or q.symbol)}<mo>=</mo>"
                                     f"{self.math.number(q.value)}")
                         for q in row_ if q.role is Role.INPUT)

    def write_worked_step(self, step: Step) -> None:
        self.section_in_epoch(self.text(step_label(step)))
        self.write_step_lines(step)

    def write_step_lines(self, step: Step) -> None:
        """A step's inputs and worked lines, sample by sample, then the step's own."""
        for sample, row_ in zip(step.samples, step.rows):
            given = self.inputs_line(row_)
            if given:
                label = f"sample {sample}: " if len(step.rows) > 1 else ""
                self.page.paragraph(Markup(label + given), "inputs")
            self.worked([q for q in row_ if q.role is not Role.INPUT])
        if step.rows and step.quantities and len(step.rows) > 1:
            self.page.paragraph("then for the step:", "inputs")
        self.worked(step.quantities)

    def write_trace_table(self, table: TraceTable) -> None:
        """A block's table; its words (a learning rate's behaviour) are left-aligned."""
        def cell(value: object) -> str | Cell:
            if isinstance(value, str) and not NUMERIC.fullmatch(value.strip()):
                return Cell(value, "text")
            return Markup(self.cell(value))

        self.page.table([Markup(escape(c)) for c in table.columns],
                        [[cell(c) for c in row_] for row_ in table.rows],
                        caption=table.title[:1].upper() + table.title[1:] if table.title
                        else None)

    def write_summary(self, run: Run) -> None:
        self.section(self.result_title(run), 1)
        items = []
        if run.final:
            items.append(self.final_parameters(run))
        if run.final_loss is not None:
            items.append(f"final loss: {self.inline(self.math.number(run.final_loss))}")
        items += self.checks(run)
        self.page.items([Markup(i) for i in items], "result")
        losses = epoch_losses(run)
        if losses:
            self.data_table(["epoch", self.inline("<mi>L</mi>", "L") + " at the start"],
                            [[str(i), self.cell(loss)] for i, loss in losses],
                            caption="loss per epoch (start of epoch)")
            chart = loss_chart(run, self.plain.number)
            if chart:
                self.page.raw(chart)
        if run.outcome is not None:
            self.write_predictions(run.outcome)

    def warnings_start(self) -> None:
        self.page.heading("Warnings", 2)

    def warning(self, where: str, message: str) -> None:
        self.page.warning(message, f"Warning ({where})" if where else "Warning")


# ------------------------------------------------------------------------------- loss chart

CHART_WIDTH, CHART_HEIGHT = 520, 220
MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 16, 14, 40


def loss_chart(run: Run, label: Callable[[object], str]) -> str:
    """The loss at the start of each epoch and the final loss as an inline SVG line chart.
    The values are the trace's (:func:`gdtrace.render.plot.loss_points`); only their place on the
    drawing is worked out here (log scale by the same rule as ``gdtrace plot``)."""
    from gdtrace.render.plot import loss_points, wants_log_scale

    points = [(x, y) for x, y in loss_points(run) if math.isfinite(y)]
    if len(points) < 2:
        return ""
    log = wants_log_scale([y for _, y in points])
    heights = [math.log10(y) if log else y for _, y in points]
    low, high = min(heights), max(heights)
    span_y = (high - low) or 1.0
    top_value = escape(label(points[heights.index(high)][1]))
    bottom_value = escape(label(points[heights.index(low)][1]))
    margin_left = 14 + 7 * max(len(top_value), len(bottom_value))  # room for the labels
    first, last = points[0][0], points[-1][0]
    span_x = (last - first) or 1
    inner_w = CHART_WIDTH - margin_left - MARGIN_RIGHT
    inner_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def place(x: float, h: float) -> tuple[float, float]:
        return (margin_left + (x - first) / span_x * inner_w,
                MARGIN_TOP + (high - h) / span_y * inner_h)

    placed = [place(x, h) for (x, _), h in zip(points, heights)]
    line = " ".join(f"{px:.1f},{py:.1f}" for px, py in placed)
    dots = "".join(f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="3">'
                   f"<title>{'final' if k == len(points) - 1 else f'start of epoch {x + 1}'}: "
                   f"L = {escape(label(y))}</title></circle>"
                   for k, ((px, py), (x, y)) in enumerate(zip(placed, points)))
    x0, y0 = margin_left, MARGIN_TOP + inner_h
    axes = (f'<path class="axis" d="M{x0},{MARGIN_TOP} V{y0} H{x0 + inner_w}"/>'
            f'<text x="{x0 - 6}" y="{MARGIN_TOP + 4}" text-anchor="end">'
            f"{top_value}</text>"
            f'<text x="{x0 - 6}" y="{y0}" text-anchor="end">'
            f"{bottom_value}</text>"
            f'<text x="{x0}" y="{y0 + 16}" text-anchor="middle">{first}</text>'
            f'<text x="{x0 + inner_w}" y="{y0 + 16}" text-anchor="middle">{last}</text>'
            f'<text x="{x0 + inner_w / 2}" y="{y0 + 32}" text-anchor="middle">'
            "epochs completed</text>")
    scale = " (log scale)" if log else ""
    return (f'<figure class="chart"><svg class="chart" xmlns="http://www.w3.org/2000/svg" '
            f'width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
            f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" '
            f'aria-label="loss per epoch{scale}">{axes}'
            f'<polyline class="line" points="{line}"/>{dots}</svg>'
            f"<figcaption>Loss at the start of each epoch, then the final loss{scale}."
            "</figcaption></figure>")


def render(trace: Trace, options: RenderOptions) -> str:
    return HtmlWriter(trace, options).write()
