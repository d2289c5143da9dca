"""The report of ``gdtrace check`` in its formats: text/terminal, Markdown, JSON, CSV and
Gradescope's ``results.json``; and a class's summary and gradebook.

Like the solution renderers, these only write what the grader put in the report: every
number shown is the student's text, the key's value or the value expected from the student's
own numbers, rounded for display only. The JSON form is fixed by the shared spec
answer-format.md (fields may be added, none changed).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence

from gdtrace.check.cells import Address, Cell
from gdtrace.check.report import CellTally, CellVerdict, ClassReport, Report
from gdtrace.errors import UsageError
from gdtrace.formula.expr import Expr

REPORT_FORMATS = ("text", "terminal", "markdown", "html", "json", "csv", "gradescope")
MARKS = {"correct": "✓", "carried": "ECF", "rounding": "≈", "wrong": "✗", "missing": "–"}
DIAGNOSES = {
    "sign": "the sign is flipped",
    "decimal": "the decimal point is shifted (off by a power of 10)",
    "factor": "a factor is missing or extra (2, ½, η or n)",
    "digits": "two adjacent digits are swapped",
    "stale": "it uses the value from before the update",
}
COLORS = {"correct": "32", "carried": "33", "rounding": "33", "wrong": "1;31", "missing": "2"}
TABLE_WIDTH = 160
Headings = dict[tuple[str, str], str]


# --------------------------------------------------------------------------------- helpers


def _printer() -> Callable[[Expr], str]:
    from gdtrace.render.printer import ExprPrinter

    return ExprPrinter().symbolic


def headings_of(cells: Iterable[Cell]) -> Headings:
    """Column headings by (section, key), as the worked solution's tables write them."""
    show = _printer()
    out: Headings = {}
    for cell in cells:
        a, q = cell.address, cell.quantity
        if (a.section, a.key) not in out:
            out[(a.section, a.key)] = show(q.heading or q.symbol)
    return out


def _entry(address: Address) -> str:
    return "[" + ",".join(str(i + 1) for i in address.index) + "]" if address.index else ""


def _digits(cell: CellVerdict) -> int:
    """Display decimals of the computed numbers beside a written one: two more than written."""
    from gdtrace.check.answers import read_number

    parsed = read_number(cell.given) if cell.given else None
    written = parsed[1] if parsed is not None else 2
    return max(2, min(written + 2, 10))


def _num(value: float | None, decimals: int) -> str:
    if value is None:
        return "–"
    from gdtrace.render.printer import NumberFormat

    return NumberFormat(decimals).plain(value)


def where(cell: CellVerdict) -> str:
    """``step 7``, ``step 2 sample 3``, ``epoch 1``, ``final``: the place of a number."""
    a = cell.address
    if a.section == "final":
        return "final"
    if a.section == "loss":
        return f"epoch {a.epoch} loss"
    return f"step {a.step}" + (f" sample {a.sample}" if a.sample is not None else "")


def explanation(cell: CellVerdict, show: Callable[[Expr], str]) -> str:
    """``you wrote 0.957; from your z₇ = 3.0694, σ(z₇) = 0.95561; key 0.95579``."""
    digits = _digits(cell)
    symbol = show(cell.symbol) + _entry(cell.address)
    parts = [f"you wrote {cell.given}"]
    written = [f"{show(o.symbol)} = {o.value:.10g}" for o in cell.operands if o.written]
    worked = [f"{show(o.symbol)} = {_num(o.value, digits)}" for o in cell.operands
              if not o.written]
    if written or worked:
        used = f"from your {', '.join(written)}" if written else "from"
        if worked:  # operands the student left blank: worked on from their earlier numbers
            used += (" and " if written else " ") + ", ".join(worked) + \
                " (worked on from your earlier numbers)"
        parts.append(f"{used}, {symbol} = {_num(cell.expected_from_yours, digits)}")
    elif cell.expected_from_yours is not None and cell.expected_from_yours != cell.expected:
        parts.append(f"from your numbers {symbol} = {_num(cell.expected_from_yours, digits)}")
    parts.append(f"key {_num(cell.expected, digits)}")
    return "; ".join(parts)


def _verdict_words(cell: CellVerdict, root: bool) -> str:
    words = cell.verdict
    if cell.diagnosis:
        words += f": {DIAGNOSES.get(cell.diagnosis, cell.diagnosis)}"
    if root:
        words += "; the first slip"
    return words


def _score(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def summary_line(report: Report) -> str:
    """``seed000.yaml: 89/92 points — 25 correct, 62 carried, …; first slip: step 1 b``."""
    counts = report.counts
    parts = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    line = f"{report.answers}: {_score(report.score)}/{_score(report.max_score)} points — {parts}"
    if report.root is not None:
        line += f"; first slip: {_label(report.root, _printer())}"
    return line


# ------------------------------------------------------------------------------ text tables


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], paint: Callable[[str], str]
           ) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    out = ["   ".join(h.rjust(w) for h, w in zip(head, widths)),
           "─" * (sum(widths) + 3 * (len(widths) - 1))]
    for row in rows:
        out.append("   ".join(paint(c.rjust(w)) for c, w in zip(row, widths)))
    return out


def _columns(cells: Sequence[CellVerdict], headings: Headings
             ) -> dict[tuple[str, str, tuple[int, ...]], str]:
    columns: dict[tuple[str, str, tuple[int, ...]], str] = {}
    for cell in cells:
        a = cell.address
        heading = headings.get((a.section, a.key), a.key) + _entry(a)
        if a.section == "params":
            heading += " after"
        columns.setdefault((a.section, a.key, a.index), heading)
    return columns


def _epoch_tables(report: Report, headings: Headings, mark: Callable[[CellVerdict], str]
                  ) -> list[tuple[int | None, list[str], list[list[str]]]]:
    """Per epoch, one or more (heading, rows) tables: a row per step (and sample), each
    answered number as written with its mark. Too wide for a page: one table per section,
    and a section's columns over several tables, each repeating step (and sample)."""
    out = []
    epochs: dict[int | None, list[CellVerdict]] = {}
    for cell in report.cells:
        if cell.address.step is not None:
            epochs.setdefault(cell.address.epoch, []).append(cell)
    for epoch, cells in epochs.items():
        columns = _columns(cells, headings)
        widths = {c: len(h) for c, h in columns.items()}
        for cell in cells:
            a = cell.address
            key = (a.section, a.key, a.index)
            widths[key] = max(widths[key], len(mark(cell)))
        groups = [list(columns)]
        if sum(w + 3 for w in widths.values()) > TABLE_WIDTH - 20:
            groups = [[c for c in columns if c[0] == s] for s in ("values", "grad", "params")]
            groups = [chunk for g in groups if g for chunk in _fit(g, widths)]
        for group in groups:
            rows: dict[tuple[int, int | None], dict[tuple, CellVerdict]] = {}
            chosen = set(group)
            for cell in cells:
                a = cell.address
                key = (a.section, a.key, a.index)
                if key in chosen:
                    rows.setdefault((a.step or 0, a.sample), {})[key] = cell
            samples = any(sample is not None for _, sample in rows)
            head = ["step", *(["sample"] if samples else []), *(columns[c] for c in group)]
            body = []
            for (step, sample), found in rows.items():
                line = [str(step), *([str(sample) if sample else ""] if samples else [])]
                line += [mark(found[c]) if c in found else "" for c in group]
                body.append(line)
            out.append((epoch, head, body))
    return out


def _fit(columns: list[tuple], widths: dict[tuple, int]) -> list[list[tuple]]:
    """Columns packed into tables that fit the page (at least one column each)."""
    chunks: list[list[tuple]] = [[]]
    used = 0
    for column in columns:
        width = widths[column] + 3
        if chunks[-1] and used + width > TABLE_WIDTH - 20:
            chunks.append([])
            used = 0
        chunks[-1].append(column)
        used += width
    return chunks


def _given_mark(cell: CellVerdict) -> str:
    return f"{cell.given if cell.given is not None else ''} {MARKS[cell.verdict]}".strip()


def render_text(report: Report, headings: Headings | None = None, color: bool = False) -> str:
    """Summary line, the wrong numbers (each explained), the rounding slips, then per epoch
    a table of every answered number marked ✓ / ECF / ≈ / ✗ / –."""
    show = _printer()
    headings = headings or {}

    def paint(text: str) -> str:
        if not color:
            return text
        for verdict, mark in MARKS.items():
            if text.rstrip().endswith(" " + mark) or text.strip() == mark:
                return f"\x1b[{COLORS[verdict]}m{text}\x1b[0m"
        return text

    lines = [summary_line(report)]
    wrong = report.wrong
    if wrong:
        lines += ["", f"wrong ({len(wrong)}):"]
        for cell in wrong:
            words = _verdict_words(cell, cell is report.root)
            lines.append(paint(f"  {_label(cell, show)}: {explanation(cell, show)} ({words}) "
                               f"{MARKS['wrong']}"))
    slips = [c for c in report.cells if c.verdict == "rounding"]
    if slips:
        lines += ["", f"rounded the wrong way ({len(slips)}; credit "
                      f"{_score(report.options.rounding_credit)} each):"]
        for cell in slips:
            lines.append(f"  {_label(cell, show)}: you wrote {cell.given}; "
                         f"key {_num(cell.expected, _digits(cell))}")
    for epoch, head, body in _epoch_tables(report, headings, _given_mark):
        lines += ["", f"epoch {epoch}:"]
        lines += _table(head, body, paint)
    for section, title in (("loss", "loss at the start of each epoch"),
                           ("final", "final parameters")):
        cells = [c for c in report.cells if c.address.section == section]
        if cells:
            lines.append("")
            lines += _wrapped(f"{title}: ", [(_short_label(c, show), _given_mark(c))
                                             for c in cells], paint)
    lines.append("")
    lines.append("marks: ✓ correct, ECF carried (right from your own earlier numbers), "
                 "≈ rounded the wrong way, ✗ wrong, – left blank")
    return "\n".join(lines) + "\n"


def _wrapped(start: str, items: list[tuple[str, str]], paint: Callable[[str], str]
             ) -> list[str]:
    """``name mark, name mark, …`` over lines of at most the page's width."""
    lines: list[str] = []
    line, width = start, len(start)
    for i, (name, mark) in enumerate(items):
        text = f"{name} {mark}" + ("," if i < len(items) - 1 else "")
        if width > len(start) and width + 1 + len(text) > TABLE_WIDTH:
            lines.append(line)
            line, width = " " * len(start), len(start)
        elif width > len(start):
            line, width = line + " ", width + 1
        line += f"{name} {paint(mark)}" + ("," if i < len(items) - 1 else "")
        width += len(text)
    return [*lines, line]


def _label(cell: CellVerdict, show: Callable[[Expr], str]) -> str:
    return f"{where(cell)} {show(cell.symbol)}{_entry(cell.address)}"


def _short_label(cell: CellVerdict, show: Callable[[Expr], str]) -> str:
    if cell.address.section == "loss":
        return f"epoch {cell.address.epoch}"
    return f"{show(cell.symbol)}{_entry(cell.address)}"


# -------------------------------------------------------------------------------- markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def render_markdown(report: Report, headings: Headings | None = None) -> str:
    """Feedback a TA can paste: the score, what to fix (each explained), the tables."""
    show = _printer()
    headings = headings or {}
    counts = report.counts
    out = [f"### Check of `{report.answers}`", "",
           f"**{_score(report.score)} / {_score(report.max_score)} points** — "
           + ", ".join(f"{n} {v}" for v, n in counts.items()) + "."]
    if report.root is not None:
        out[-1] += f" The first slip is **{_md(_label(report.root, show))}**."
    if report.wrong:
        out += ["", "**To fix:**", ""]
        for cell in report.wrong:
            words = _verdict_words(cell, cell is report.root)
            out.append(f"- {_md(_label(cell, show))}: {_md(explanation(cell, show))} "
                       f"(*{words}*)")
    slips = [c for c in report.cells if c.verdict == "rounding"]
    if slips:
        out += ["", "**Rounded the wrong way** (round to nearest):", ""]
        out += [f"- {_md(_label(c, show))}: you wrote {c.given}, key "
                f"{_num(c.expected, _digits(c))}" for c in slips]
    for epoch, head, body in _epoch_tables(report, headings, _given_mark):
        out += ["", f"Epoch {epoch}:", "", "| " + " | ".join(_md(h) for h in head) + " |",
                "|" + "---:|" * len(head)]
        out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in body]
    for section, title in (("loss", "Loss at the start of each epoch"),
                           ("final", "Final parameters")):
        cells = [c for c in report.cells if c.address.section == section]
        if cells:
            out += ["", f"{title}: " + ", ".join(
                f"{_md(_short_label(c, show))} {_md(_given_mark(c))}" for c in cells) + "."]
    out += ["", "✓ correct · ECF right from your own earlier numbers (error carried forward) · "
                "≈ rounded the wrong way · ✗ wrong · – left blank"]
    return "\n".join(out) + "\n"


class _Marked(str):
    """A table cell's text that remembers its number's verdict (for the HTML classes)."""

    cell: CellVerdict


def _marked(cell: CellVerdict) -> str:
    text = _Marked(_given_mark(cell))
    text.cell = cell
    return text


HTML_CLASSES = {"correct": "right", "carried": "right", "rounding": "wrong", "wrong": "wrong",
                "missing": "wrong"}


def render_html(report: Report, headings: Headings | None = None) -> str:
    """A web page of the report (gdtrace.render.page): the score, what to fix, and the
    tables with every answered number coloured by its verdict (the key in its tooltip)."""
    from gdtrace import __version__
    from gdtrace.render.page import Cell as HtmlCell
    from gdtrace.render.page import HtmlPage

    show = _printer()
    page = HtmlPage(f"Check of {report.answers}", generator=f"gdtrace {__version__}")
    page.heading(f"Check of {report.answers}", 1)
    page.paragraph(summary_line(report))
    if report.wrong:
        page.heading("To fix", 2)
        page.items(f"{_label(c, show)}: {explanation(c, show)} "
                   f"({_verdict_words(c, c is report.root)})" for c in report.wrong)
    slips = [c for c in report.cells if c.verdict == "rounding"]
    if slips:
        page.heading("Rounded the wrong way (round to nearest)", 2)
        page.items(f"{_label(c, show)}: you wrote {c.given}, key "
                   f"{_num(c.expected, _digits(c))}" for c in slips)

    def html_cell(text: str) -> str | HtmlCell:
        cell = getattr(text, "cell", None)
        if cell is None:
            return text
        key = "" if cell.expected is None else f"key {_num(cell.expected, _digits(cell) + 2)}"
        return HtmlCell(str(text), HTML_CLASSES[cell.verdict], f"{cell.verdict}; {key}")

    for epoch, head, body in _epoch_tables(report, headings or {}, _marked):
        page.table(head, [[html_cell(c) for c in row] for row in body],
                   caption=f"Epoch {epoch}")
    for section, title in (("loss", "Loss at the start of each epoch"),
                           ("final", "Final parameters")):
        cells = [c for c in report.cells if c.address.section == section]
        if cells:
            page.table([_short_label(c, show) for c in cells],
                       [[html_cell(_marked(c)) for c in cells]], caption=title)
    page.paragraph("✓ correct · ECF right from your own earlier numbers (error carried "
                   "forward) · ≈ rounded the wrong way · ✗ wrong · – left blank")
    return page.render()


# ------------------------------------------------------------------------------ json / csv


def report_data(report: Report) -> dict[str, object]:
    """The spec's JSON document of one report (with the added fields index, line, symbol,
    points, score and root)."""
    from gdtrace import __version__

    show = _printer()
    root = report.root
    counts = report.counts
    return {
        "gdtrace": __version__,
        "problem": {"title": report.problem.title, "model": report.problem.model,
                    "source": report.problem.source},
        "answers": report.answers,
        "run": report.run,
        "summary": {**counts, "score": report.score, "max_score": report.max_score},
        "cells": [{
            "epoch": c.address.epoch, "step": c.address.step, "sample": c.address.sample,
            "section": c.address.section, "key": c.address.key, "given": c.given,
            "expected": c.expected, "expected_from_yours": c.expected_from_yours,
            "verdict": c.verdict, "diagnosis": c.diagnosis,
            "index": [i + 1 for i in c.address.index] or None, "line": c.line,
            "symbol": show(c.symbol) + _entry(c.address), "points": c.points,
            "score": c.score, "root": c is root,
        } for c in report.cells],
    }


def render_json(report: Report) -> str:
    return json.dumps(report_data(report), indent=2, ensure_ascii=False) + "\n"


CSV_REPORT_COLUMNS = ("answers", "epoch", "step", "sample", "section", "key", "entry", "given",
                      "expected", "expected_from_yours", "verdict", "diagnosis", "points",
                      "score", "line", "root")


def _blank(value: object) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def report_rows(report: Report) -> list[list[str]]:
    root = report.root
    return [[report.answers, _blank(c.address.epoch), _blank(c.address.step),
             _blank(c.address.sample), c.address.section, c.address.key,
             ",".join(str(i + 1) for i in c.address.index), c.given or "",
             _blank(c.expected), _blank(c.expected_from_yours), c.verdict, c.diagnosis or "",
             _blank(c.points), _blank(c.score), _blank(c.line), "1" if c is root else ""]
            for c in report.cells]


def _csv(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(rows)
    return out.getvalue()


def render_csv(report: Report) -> str:
    """One row per answered number (each entry of a vector or matrix)."""
    return _csv(CSV_REPORT_COLUMNS, report_rows(report))


# ------------------------------------------------------------------------------- gradescope


def render_gradescope(report: Report) -> str:
    """``results.json`` as Gradescope's autograder specification defines it: the total
    ``score``, and ``tests`` — one per step, then the epoch losses and the final parameters —
    each with ``name``, ``score``, ``max_score``, ``status`` and ``output`` (what to fix)."""
    show = _printer()
    groups: dict[str, list[CellVerdict]] = {}
    for cell in report.cells:
        a = cell.address
        name = (f"Step {a.step}" if a.step is not None else
                "Loss at the start of each epoch" if a.section == "loss" else "Final parameters")
        groups.setdefault(name, []).append(cell)
    tests = []
    for name, cells in groups.items():
        score = sum(c.score for c in cells)
        max_score = sum(c.points for c in cells)
        lines = []
        for c in cells:
            if c.verdict in ("wrong", "rounding", "missing"):
                words = _verdict_words(c, c is report.root)
                text = (explanation(c, show) if c.given is not None else "left blank")
                lines.append(f"{_label(c, show)}: {text} ({words})")
        carried = sum(1 for c in cells if c.verdict == "carried")
        if carried:
            lines.append(f"{carried} number{'s' if carried != 1 else ''} right from your own "
                         "earlier numbers (error carried forward)")
        tests.append({"name": name, "score": score, "max_score": max_score,
                      "status": "passed" if not any(c.verdict == "wrong" for c in cells)
                      else "failed",
                      "output": "\n".join(lines) or "all correct",
                      "visibility": "visible"})
    data = {"score": report.score, "output": summary_line(report), "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------ class


def render_report(report: Report, fmt: str, headings: Headings | None = None) -> str:
    """One report in ``fmt`` (see :data:`REPORT_FORMATS`)."""
    if fmt in ("text", "terminal"):
        return render_text(report, headings, color=fmt == "terminal")
    if fmt == "markdown":
        return render_markdown(report, headings)
    if fmt == "html":
        return render_html(report, headings)
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "gradescope":
        return render_gradescope(report)
    raise UsageError(f"unknown check format '{fmt}' (choose from {', '.join(REPORT_FORMATS)})")


GRADEBOOK_COLUMNS = ("file", "score", "max_score", "wrong", "first_slip", "correct", "carried",
                     "rounding", "missing")


def gradebook(reports: Sequence[Report]) -> str:
    """One row per answers file: score, maximum, number of wrong cells and the first slip."""
    rows = []
    for report in reports:
        counts = report.counts
        root = report.root
        rows.append([report.answers, _blank(report.score), _blank(report.max_score),
                     str(counts["wrong"]), root.address.label() if root is not None else "",
                     str(counts["correct"]), str(counts["carried"]), str(counts["rounding"]),
                     str(counts["missing"])])
    return _csv(GRADEBOOK_COLUMNS, rows)


def _tally_label(tally: CellTally, show: Callable[[Expr], str]) -> str:
    a = tally.address
    if a.section == "loss":
        return f"epoch {a.epoch} loss"
    if a.section == "final":
        return f"final {show(tally.symbol)}{_entry(a)}"
    sample = f" sample {a.sample}" if a.sample is not None else ""
    return f"step {a.step}{sample} {show(tally.symbol)}{_entry(a)}"


def class_summary(result: ClassReport, markdown: bool = False, limit: int = 10) -> str:
    """How the class did: mean score, and the numbers most students got wrong or carried."""
    show = _printer()
    reports = result.reports
    count = len(reports)
    top = max((r.max_score for r in reports), default=0.0)
    head = ["number", "wrong", "carried", "rounding", "missing", "answered"]
    rows = [[_tally_label(t, show), str(t.wrong), str(t.carried), str(t.rounding),
             str(t.missing), str(t.answered)] for t in result.struggles(limit)]
    intro = (f"class: {count} answers file{'s' if count != 1 else ''}, mean score "
             f"{result.mean_score:.2f} points ({result.mean_share:.0%} of the points each file "
             f"answered; at most {_score(top)}), {result.with_wrong} with a wrong number")
    if markdown:
        out = ["### Class summary", "", intro[0].upper() + intro[1:] + "."]
        if rows:
            out += ["", "Where the class struggles (most wrong first):", "",
                    "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
            out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
        return "\n".join(out) + "\n"
    out = [intro]
    if rows:
        out += ["where the class struggles (most wrong first):"]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        out.append("  " + "   ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                                     for i, h in enumerate(head)))
        for row in rows:
            out.append("  " + "   ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                                         for i, c in enumerate(row)))
    else:
        out.append("no number was wrong or carried in any file")
    return "\n".join(out) + "\n"


def class_data(result: ClassReport, limit: int = 10) -> dict[str, object]:
    from gdtrace import __version__

    show = _printer()
    return {
        "gdtrace": __version__,
        "problem": {"title": result.problem.title, "model": result.problem.model,
                    "source": result.problem.source},
        "reports": [report_data(r) for r in result.reports],
        "summary": {"files": len(result.reports), "mean_score": result.mean_score,
                    "mean_share": result.mean_share, "with_wrong": result.with_wrong},
        "struggles": [{"epoch": t.address.epoch, "step": t.address.step,
                       "sample": t.address.sample, "section": t.address.section,
                       "key": t.address.key, "index": [i + 1 for i in t.address.index] or None,
                       "symbol": show(t.symbol), "answered": t.answered, "wrong": t.wrong,
                       "carried": t.carried, "rounding": t.rounding, "missing": t.missing}
                      for t in result.struggles(limit)],
    }


def render_class(result: ClassReport, fmt: str, headings: Headings | None = None) -> str:
    """Several answers files: each report, then the class summary (``csv``: the gradebook;
    ``json``: one document with every report and the struggles)."""
    if fmt == "csv":
        return gradebook(result.reports)
    if fmt == "json":
        return json.dumps(class_data(result), indent=2, ensure_ascii=False) + "\n"
    if fmt in ("gradescope", "html"):
        what = "the results.json of one submission" if fmt == "gradescope" else \
            "one answers file's page"
        raise UsageError(f"--format {fmt} writes {what}: give one answers file (for a class: "
                         "markdown, json or csv)")
    if fmt not in REPORT_FORMATS:
        raise UsageError(f"unknown check format '{fmt}' (choose from "
                         f"{', '.join(REPORT_FORMATS)})")
    parts = [render_report(r, fmt, headings) for r in result.reports]
    parts.append(class_summary(result, markdown=fmt == "markdown"))
    return "\n".join(parts)
