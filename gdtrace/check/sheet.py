"""``gdtrace sheet``: the blank answer sheet of a problem, for a student to fill in.

Every cell of the run (:func:`gdtrace.check.cells.cells_of`), empty, in the three forms
``gdtrace check`` reads back or a student prints: YAML (the answers document of the shared
spec, with the givens as comments), CSV (one row per number, the columns of
:data:`gdtrace.check.answers.CSV_COLUMNS`) and Markdown (the worked solution's tables with
blank cells). The sheet shows only numbers the problem gives (inputs, targets, settings);
it never shows a computed one, so handing it out gives nothing away.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from gdtrace.check.answers import CSV_COLUMNS
from gdtrace.check.cells import SECTIONS, Cell, cells_of, listed
from gdtrace.errors import UsageError
from gdtrace.formula.expr import Expr
from gdtrace.trace import Role, Run, Step, Trace

SHEET_FORMATS = ("yaml", "csv", "markdown")
SHEET_EXTENSIONS = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv", ".md": "markdown",
                    ".markdown": "markdown"}
STEP_SECTIONS = ("values", "grad", "params")


# ------------------------------------------------------------------------------ selection


@dataclass(frozen=True)
class Selection:
    """Which cells a sheet asks for: ``--keys`` (sections or keys) and ``--steps``."""

    sections: frozenset[str] = frozenset()
    keys: frozenset[str] = frozenset()
    steps: frozenset[int] | None = None  # None: every step

    def wants(self, cell: Cell, epoch_steps: dict[int, set[int]], last_step: int | None) -> bool:
        a = cell.address
        if self.sections or self.keys:
            if a.section not in self.sections and (a.section == "loss" or a.key not in self.keys):
                return False
        if self.steps is None:
            return True
        if a.step is not None:
            return a.step in self.steps
        if a.section == "loss":  # the loss at the start of an epoch whose steps are asked for
            return bool(epoch_steps.get(a.epoch or 0, set()) & self.steps)
        return last_step in self.steps  # final: when the last step is asked for


def parse_selection(run: Run, keys: str | None = None, steps: str | None = None) -> Selection:
    """``--keys grad,params,z`` and ``--steps 1-4,7`` checked against the run's cells (an
    unknown name or step is a usage error with a suggestion)."""
    from gdtrace.problem.schema import suggest

    cells = list(cells_of(run))
    sections: set[str] = set()
    names: set[str] = set()
    known = list(dict.fromkeys(c.address.key for c in cells if c.address.section != "loss"))
    for word in _items(keys):
        if word in SECTIONS:
            sections.add(word)
        elif word in known:
            names.add(word)
        else:
            raise UsageError(f"--keys: the problem has no key '{word}'"
                             f"{suggest(word, [*SECTIONS, *known])} (sections: "
                             f"{', '.join(SECTIONS)}; keys: {', '.join(known)})")
    chosen: set[int] | None = None
    if steps is not None:
        have = sorted({c.address.step for c in cells if c.address.step is not None})
        chosen = set()
        for word in _items(steps):
            first, dash, last = word.partition("-")
            try:
                low = int(first)
                high = int(last) if dash else low
            except ValueError:
                raise UsageError(f"--steps: '{word}' is not a step or a range such as "
                                 "1-4") from None
            if low > high or low < 1:
                raise UsageError(f"--steps: '{word}' is not a range of steps (such as 1-4)")
            missing = [n for n in range(low, high + 1) if n not in have]
            if missing:
                span = f"{have[0]}–{have[-1]}" if have else "none"
                raise UsageError(f"--steps: the run has no step {missing[0]} (steps {span})")
            chosen.update(range(low, high + 1))
        if not chosen:
            raise UsageError("--steps: give step numbers, e.g. 1-4,7")
    return Selection(frozenset(sections), frozenset(names),
                     frozenset(chosen) if chosen is not None else None)


def _items(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def selected_cells(run: Run, selection: Selection) -> list[Cell]:
    """The run's cells a sheet asks for, in trace order."""
    epoch_steps = {e.index: {s.index for s in e.steps} for e in run.epochs}
    last = max((s.index for e in run.epochs for s in e.steps), default=None)
    return [c for c in cells_of(run) if selection.wants(c, epoch_steps, last)]


def format_for(output: str | None, requested: str | None) -> str:
    """The sheet format asked for, else the one ``-o FILE``'s extension names, else YAML."""
    from gdtrace.output import format_from_extension

    if requested:
        if requested not in SHEET_FORMATS:
            raise UsageError(f"unknown sheet format '{requested}' (choose from "
                             f"{', '.join(SHEET_FORMATS)})")
        return requested
    if output is None:
        return "yaml"
    return format_from_extension(output, SHEET_EXTENSIONS, "sheet format",
                                 ".yaml, .csv or .md, or give --format")


# -------------------------------------------------------------------------------- writing


def sheet(trace: Trace, fmt: str = "yaml", *, run: Run | None = None,
          selection: Selection | None = None, problem_ref: str | None = None,
          answers_name: str | None = None) -> str:
    """The blank sheet of one run (the first unless given) as text in ``fmt``; YAML names
    ``problem_ref`` as its ``problem:`` and ``answers_name`` in its check command."""
    chosen = run or trace.runs[0]
    cells = selected_cells(chosen, selection or Selection())
    if fmt == "csv":
        return sheet_csv(cells)
    if fmt == "markdown":
        return sheet_markdown(trace, chosen, cells)
    if fmt == "yaml":
        return sheet_yaml(trace, chosen, cells, problem_ref, answers_name)
    raise UsageError(f"unknown sheet format '{fmt}' (choose from {', '.join(SHEET_FORMATS)})")


def sheet_csv(cells: Iterable[Cell]) -> str:
    """One row per number (each entry of a vector or matrix), the answer column empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cell in cells:
        a = cell.address
        for index in _entries(cell.shape):
            entry = ",".join(str(i + 1) for i in index)
            writer.writerow([_blank(a.epoch), _blank(a.step), _blank(a.sample), a.section, a.key,
                             entry, ""])
    return out.getvalue()


def _entries(shape: tuple[int, ...]) -> Iterable[tuple[int, ...]]:
    return itertools.product(*(range(n) for n in shape)) if shape else [()]


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


def _given(value: object) -> str:
    """A number the problem gives, exactly as given (5, 0.08), or a list of them."""
    from gdtrace.render.layout import exact

    if isinstance(value, (np.ndarray, np.generic)):
        value = value.tolist()
    if isinstance(value, list):
        return "[" + ", ".join(_given(v) for v in value) + "]"
    return exact(float(value)) if isinstance(value, (int, float)) else str(value)


def _symbol(expr: Expr) -> str:
    from gdtrace.render.printer import ExprPrinter

    return ExprPrinter().symbolic(expr)


def _givens(step: Step) -> list[str]:
    """Per sample of a step, its inputs and target as given: ``x₁ = 5, …, y = 1``."""
    out = []
    for number, row in zip(step.samples, step.rows):
        parts = [f"{_symbol(q.heading or q.symbol)} = {_given(q.value)}" for q in row
                 if q.role is Role.INPUT]
        if parts:
            out.append(f"sample {number}: " + ", ".join(parts))
    return out


def _blank_value(shape: tuple[int, ...]) -> str:
    if not shape:
        return ""
    inner = _blank_value(shape[1:]) or "~"
    return "[" + ", ".join([inner] * shape[0]) + "]"


def sheet_yaml(trace: Trace, run: Run, cells: Sequence[Cell], problem_ref: str | None,
               answers_name: str | None = None) -> str:
    """The answers document of the spec with every value empty and the givens as comments."""
    from gdtrace.render.layout import exact, settings_text

    source = trace.problem.source
    named = f"{trace.problem.title} ({source})" if source not in trace.problem.title \
        else trace.problem.title
    lines = [f"# Answer sheet: {named}",
             f"# {settings_text(run.settings, exact)}",
             "# Write each number as you worked it out (its decimals count); leave a value empty",
             "# (or ~ in a list) where you have none. Remove what the homework does not ask.",
             f"# Check it: gdtrace check {trace.problem.source} {answers_name or 'THIS_FILE'}"]
    if problem_ref:
        lines.append(f"problem: {_quoted(problem_ref)}")
    if len(trace.runs) > 1:
        lines.append(f"run: {_quoted(run.label)}")
    losses = [c for c in cells if c.address.section == "loss"]
    if losses:
        lines.append("epochs:")
        for cell in losses:
            lines += [f"  - epoch: {cell.address.epoch}",
                      f"    loss:   # {_symbol(cell.quantity.symbol)} at the start of epoch "
                      f"{cell.address.epoch}"]
    by_step: dict[int, list[Cell]] = {}
    for cell in cells:
        if cell.address.step is not None:
            by_step.setdefault(cell.address.step, []).append(cell)
    if by_step:
        lines.append("steps:")
    steps = {s.index: s for e in run.epochs for s in e.steps}
    for number, step_cells in by_step.items():
        lines += _step_sheet(steps[number], number, step_cells)
    finals = [c for c in cells if c.address.section == "final"]
    if finals:
        entries = [f"{_key(c.address.key)}: {_blank_value(c.shape)}" for c in finals]
        lines.append("final: {" + ", ".join(entries) + "}   # the parameters after the last step")
    return "\n".join(lines) + "\n"


def _step_sheet(step: Step, number: int, step_cells: list[Cell]) -> list[str]:
    """One step of the sheet: the givens as comments, then each section's blank keys."""
    epoch = step_cells[0].address.epoch
    lines = [f"  # step {number} (epoch {epoch}), {given}" for given in _givens(step)]
    lines.append(f"  - step: {number}")
    for section in STEP_SECTIONS:
        mine = [c for c in step_cells if c.address.section == section]
        if not mine:
            continue
        many = mine[0].address.sample is not None
        entries = []
        for key in dict.fromkeys(c.address.key for c in mine):
            cell = next(c for c in mine if c.address.key == key)
            if many:
                value = "[" + ", ".join([_blank_value(cell.shape) or "~"] * len(step.rows)) + "]"
            else:
                value = _blank_value(cell.shape)
            entries.append(f"{_key(key)}: {value}")
        flow = f"    {section}: {{" + ", ".join(entries) + "}"
        if len(flow) <= 100:
            lines.append(flow)
        else:  # one key a line where the flow form would run off the page
            lines.append(f"    {section}:")
            lines += [f"      {entry}".rstrip() for entry in entries]
    return lines


def _key(key: str) -> str:
    """A key as YAML reads it back unchanged (``dL/da5`` plain, ``f'(z4)`` quoted)."""
    import re

    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_/]*", key) else _quoted(key)


def _quoted(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _headings(cell: Cell) -> list[tuple[tuple[int, ...], str]]:
    """The column headings of a cell, one per entry: ``σ(z)``, ``∂L/∂w₁``, ``W₁[1,2] after``."""
    q = cell.quantity
    base = _symbol(q.heading or q.symbol)
    if cell.address.section == "params":
        base += " after"
    out = []
    for index in _entries(cell.shape):
        entry = "[" + ",".join(str(i + 1) for i in index) + "]" if index else ""
        if entry and base.endswith(" after"):
            out.append((index, base[:-6] + entry + " after"))
        else:
            out.append((index, base + entry))
    return out


def sheet_markdown(trace: Trace, run: Run, cells: Sequence[Cell]) -> str:
    """The worked solution's tables with blank cells, to print: one table per epoch for
    one-sample steps, a table of samples and a list of the step's numbers otherwise."""
    from gdtrace.render.layout import exact, settings_text

    out = [f"# Answer sheet: {trace.problem.title}", "",
           f"Problem: `{trace.problem.source}`. {settings_text(run.settings, exact)}.",
           "Write each number with the decimals you worked with.", ""]
    by_step: dict[int, list[Cell]] = {}
    for cell in cells:
        if cell.address.step is not None:
            by_step.setdefault(cell.address.step, []).append(cell)
    for epoch in run.epochs:
        losses = [c for c in cells if c.address.section == "loss"
                  and c.address.epoch == epoch.index]
        steps = [s for s in epoch.steps if s.index in by_step]
        if not losses and not steps:
            continue
        out += [f"## Epoch {epoch.index}", ""]
        for cell in losses:
            out += [f"Loss at the start of the epoch: {_symbol(cell.quantity.symbol)} = "
                    "\\_\\_\\_\\_\\_\\_\\_\\_", ""]
        if steps and not any(listed(run, len(s.rows)) for s in steps):
            out += _one_table(steps, by_step)
        else:
            for step in steps:
                out += _step_tables(run, step, by_step[step.index])
    finals = [c for c in cells if c.address.section == "final"]
    if finals:
        out += ["## Final parameters", "", "| parameter | your answer |", "|---|---|"]
        for cell in finals:
            for _, heading in _headings(cell):
                out.append(f"| {_md(heading.removesuffix(' after'))} |  |")
        out.append("")
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _one_table(steps: Sequence[Step], by_step: dict[int, list[Cell]]) -> list[str]:
    """SGD: one row per step, the sample's inputs filled in, the rest blank."""
    inputs = [q for q in steps[0].rows[0] if q.role is Role.INPUT] if steps[0].rows else []
    columns: dict[tuple[str, str, tuple[int, ...]], str] = {}
    for step in steps:
        for cell in by_step[step.index]:
            for index, heading in _headings(cell):
                columns.setdefault((cell.address.section, cell.address.key, index), heading)
    head = ["step", "sample", *(_symbol(q.heading or q.symbol) for q in inputs),
            *columns.values()]
    out = ["| " + " | ".join(_md(h) for h in head) + " |",
           "|" + "---:|" * len(head)]
    for step in steps:
        row = step.rows[0] if step.rows else []
        given = {q.key: q for q in row if q.role is Role.INPUT}
        have = {(c.address.section, c.address.key) for c in by_step[step.index]}
        cells = [str(step.index), ", ".join(map(str, step.samples))]
        cells += [_given(given[q.key].value) if q.key in given else "" for q in inputs]
        cells += [" " if (section, key) in have else "—" for section, key, _ in columns]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def _step_tables(run: Run, step: Step, cells: Sequence[Cell]) -> list[str]:
    """A step with several samples: a table of its samples, then its step-level numbers."""
    from gdtrace.render.layout import step_label

    out = [f"### {step_label(step)}", ""]
    per_sample = [c for c in cells if c.address.sample is not None]
    if per_sample or step.rows:
        inputs = [q for q in step.rows[0] if q.role is Role.INPUT] if step.rows else []
        columns: dict[tuple[str, tuple[int, ...]], str] = {}
        for cell in per_sample:
            for index, heading in _headings(cell):
                columns.setdefault((cell.address.key, index), heading)
        if inputs or columns:
            head = ["sample", *(_symbol(q.heading or q.symbol) for q in inputs),
                    *columns.values()]
            out += ["| " + " | ".join(_md(h) for h in head) + " |",
                    "|" + "---:|" * len(head)]
            for number, row in zip(step.samples, step.rows):
                given = {q.key: q for q in row if q.role is Role.INPUT}
                line = [str(number)]
                line += [_given(given[q.key].value) if q.key in given else "" for q in inputs]
                line += [" "] * len(columns)
                out.append("| " + " | ".join(line) + " |")
            out.append("")
    rest = [c for c in cells if c.address.sample is None]
    if rest:
        out += ["| quantity | your answer |", "|---|---|"]
        for cell in rest:
            for _, heading in _headings(cell):
                out.append(f"| {_md(heading)} |  |")
        out.append("")
    return out

