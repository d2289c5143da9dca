"""Terminal (rich, coloured) and plain-text output: the same content, styled or not.

Layout: a header with the model and its formulas; per run and epoch a table with one row per
update step (or, with ``--steps``, every worked line: symbolic → substituted → result); then
the final parameters, the loss per epoch, predictions and warnings.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len

from gdtrace.formula.expr import Add, Deriv, Expr, Mul, Neg, Num, Ref, Sym
from gdtrace.output import visible
from gdtrace.render import RenderOptions, display_decimals
from gdtrace.render.fit import fill, tokens, wrap
from gdtrace.render.layout import (
    Column,
    DocumentWriter,
    NumberedStep,
    StreamItem,
    as_step,
    batch_table,
    epoch_losses,
    exact,
    settings_text,
    step_label,
    step_panels,
    step_table,
    worked_parts,
)
from gdtrace.render.plain import PlainSink, RichSink, coloured_console
from gdtrace.render.printer import ExprPrinter, NumberFormat
from gdtrace.trace import (
    Epoch,
    Header,
    ProblemInfo,
    Quantity,
    Role,
    Run,
    Stability,
    Step,
    Trace,
    Value,
)
from gdtrace.trace import Table as TraceTable

if TYPE_CHECKING:
    from rich.console import Console

LONG_RUN_KEEP = 3  # a run with more than 2·3 + 1 epochs prints the first and last 3 in full
PLAIN_WIDTH = 160  # wide enough for the worked lines of the seed problems when piped


def worked_line(printer: ExprPrinter, quantity: Quantity) -> str:
    """``lhs rel symbolic = substituted = value``, dropping parts that would repeat."""
    lhs, parts = worked_parts(printer, quantity)
    return f"{lhs} {quantity.relation} " + " = ".join(parts)


class _Slot:
    """A leaf's number while a template is printed: its marker text (negative or not)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _MarkerPrinter(ExprPrinter):
    """Prints a formula with each substituted leaf as a marker, so the text can be filled
    with any numbers of the same signs (the printer's only use of a leaf's text besides
    copying it is whether it starts with "-")."""

    def number(self, value: object) -> str:
        return value.text if isinstance(value, _Slot) else super().number(value)


MARKER = "\x01"  # followed by one private-use character per leaf: never in a formula
TEMPLATE_LIMIT = 4096  # templates (and numbers, formula shapes) kept; then the cache starts afresh


class _Form:
    """One formula written for one symbol with one relation: its leaves' keys and the
    templates of its substituted part, one per pattern of signs (shared by every tree of the
    same shape)."""

    __slots__ = ("formula", "symbol", "keys", "templates")

    def __init__(self, formula: Expr, symbol: Expr, keys: list[str],
                 templates: dict[tuple[int, ...], _Template | None]) -> None:
        self.formula = formula  # kept: the forms are found by the trees' ids
        self.symbol = symbol
        self.keys = keys
        self.templates = templates


class _Template:
    """A worked line's fixed text: ``lhs rel ``, the symbolic part, and the substituted part
    as a ``str.format`` string with one field per leaf (its number's text, without the
    minus)."""

    __slots__ = ("head", "symbolic", "substituted")

    def __init__(self, head: str, symbolic: str, substituted: str) -> None:
        self.head = head
        self.symbolic = symbolic
        self.substituted = substituted


class WorkedLines:
    """``worked_line`` with the formula printed once per shape.

    A worked line's text depends on its formula's structure, which operands are given and
    their numbers' text; the numbers change from step to step, the rest recurs (the same
    sample's z line every epoch). The symbolic part and a template of the substituted part
    (keyed by the structure and each leaf's sign) are kept, and each line fills in its
    numbers. Formulas with array operands, or none, are printed as before."""

    def __init__(self, printer: ExprPrinter) -> None:
        self.printer = printer
        # (symbol's shape, formula's shape, relation) → templates by the leaves' signs
        self.templates: dict[tuple[object, ...], dict[tuple[int, ...], _Template | None]] = {}
        self.template_count = 0
        self.forms: dict[tuple[int, int, str], _Form] = {}  # by the trees' ids
        self.texts: dict[float, str] = {}
        self.shapes: dict[int, tuple[Expr, int, list[str]]] = {}  # by id, the tree kept
        self.symbols: dict[int, tuple[Expr, str]] = {}
        self.symbol_shapes: dict[int, tuple[Expr, int]] = {}  # by id, the tree kept
        self.shape_numbers: dict[object, int] = {}  # each distinct shape → a small number
        self.numbered = 0  # numbers handed out: never reused, even after a clear

    def _shape_number(self, node: Expr, keys: list[str]) -> int:
        """A number standing for ``node``'s shape (equal shapes, equal numbers), so a
        template's key hashes a few ints instead of a whole tree of tuples."""
        shape = _shape(node, keys)
        number = self.shape_numbers.get(shape)
        if number is None:
            if len(self.shape_numbers) >= TEMPLATE_LIMIT:
                self.shape_numbers.clear()
            self.numbered += 1
            number = self.shape_numbers[shape] = self.numbered
        return number

    def _symbol_number(self, symbol: Expr) -> int:
        known = self.symbol_shapes.get(id(symbol))
        if known is None or known[0] is not symbol:
            if len(self.symbol_shapes) >= TEMPLATE_LIMIT:
                self.symbol_shapes.clear()
            known = self.symbol_shapes[id(symbol)] = (symbol, self._shape_number(symbol, []))
        return known[1]

    def _formula_shape(self, formula: Expr) -> tuple[Expr, int, list[str]] | None:
        """(the tree, its shape's number, its leaves' keys once each in order), remembered
        by the tree's id (a solver may reuse its formula trees); None when it cannot be keyed
        (an unhashable constant, an array in a Num)."""
        known = self.shapes.get(id(formula))
        if known is None or known[0] is not formula:
            found: list[str] = []
            try:
                shape = self._shape_number(formula, found)
            except TypeError:
                return None
            known = (formula, shape, list(dict.fromkeys(found)))
            if len(self.shapes) >= TEMPLATE_LIMIT:
                self.shapes.clear()
            self.shapes[id(formula)] = known
        return known

    def _form(self, formula: Expr, symbol: Expr, relation: str) -> _Form | None:
        """The :class:`_Form` of ``formula`` written for ``symbol``, remembered by the trees'
        ids; None when it cannot be keyed (an unhashable constant)."""
        known = self._formula_shape(formula)
        if known is None:
            return None
        try:
            group = (self._symbol_number(symbol), known[1], relation)
        except TypeError:  # an unhashable constant (an array in a Num)
            return None
        templates = self.templates.get(group)
        if templates is None:
            if len(self.templates) >= TEMPLATE_LIMIT:  # groups left empty (array operands)
                self.start_afresh()
            templates = self.templates[group] = {}
        if len(self.forms) >= TEMPLATE_LIMIT:
            self.forms.clear()
        form = self.forms[id(formula), id(symbol), relation] = _Form(formula, symbol, known[2],
                                                                     templates)
        return form

    def line(self, quantity: Quantity) -> str:
        """``worked_line(printer, quantity)``."""
        text = self.fill(quantity.symbol, quantity.formula, quantity.relation,
                         quantity.operands, quantity.value)
        return worked_line(self.printer, quantity) if text is None else text

    def from_parts(self, symbol: Expr, formula: Expr, relation: str,
                 operands: dict[str, Value], value: float) -> str:
        """The worked line of a line given by its parts (a numbered step's)."""
        text = self.fill(symbol, formula, relation, operands, value)
        if text is None:
            return worked_line(self.printer, Quantity("", Role.VALUE, symbol, value, formula,
                                                      operands, relation))
        return text

    def fill(self, symbol: Expr, formula: Expr | None, relation: str,
             operands: dict[str, Value], result: Value) -> str | None:
        """The worked line from its template; None when it has none (no formula or operands,
        an array among them, too many leaves): then the printer writes it."""
        if formula is None or not operands:
            return None
        form = self.forms.get((id(formula), id(symbol), relation))
        if form is None or form.formula is not formula or form.symbol is not symbol:
            form = self._form(formula, symbol, relation)
            if form is None:
                return None
        texts: list[str] = []
        signs: list[int] = []
        memo = self.texts
        for key in form.keys:
            value = operands.get(key)
            if value is None:
                signs.append(0)
                texts.append("")
                continue
            if type(value) is not float and not isinstance(value, (float, int)):
                return None
            text = memo.get(value)
            if text is None:
                text = self.number(value)
            if text[0] == "-":
                signs.append(2)
                texts.append(text[1:])
            else:
                signs.append(1)
                texts.append(text)
        pattern = tuple(signs)
        templates = form.templates
        template = templates.get(pattern, MISSING)
        if template is MISSING:
            template = self.template(symbol, formula, relation, form, signs)
        if template is None:
            return None
        symbolic = template.symbolic
        substituted = template.substituted.format(*texts)
        shown = self.number(result) if type(result) is float else self.value(result)
        if substituted == symbolic:
            return template.head + symbolic if symbolic == shown \
                else f"{template.head}{symbolic} = {shown}"
        if substituted == shown:
            return f"{template.head}{symbolic} = {substituted}"
        return f"{template.head}{symbolic} = {substituted} = {shown}"

    def symbolic(self, node: Expr) -> str:
        """``printer.symbolic(node)``, remembered for a node a solver reuses (a feature's
        symbol in every step's inputs line)."""
        known = self.symbols.get(id(node))
        if known is None or known[0] is not node:
            if len(self.symbols) >= TEMPLATE_LIMIT:
                self.symbols.clear()
            known = self.symbols[id(node)] = (node, self.printer.symbolic(node))
        return known[1]

    def value(self, value: object) -> str:
        """``printer.number(value)``, remembered for a float."""
        return self.number(value) if isinstance(value, float) else self.printer.number(value)

    def number(self, value: float) -> str:
        """``printer.number``, remembered: inputs, η and many values recur."""
        text = self.texts.get(value)
        if text is None:
            text = self.printer.number(value)
            if len(self.texts) >= TEMPLATE_LIMIT:
                self.texts.clear()
            if value == value:  # NaN never finds itself again
                self.texts[value] = text
        return text

    def template(self, symbol: Expr, formula: Expr, relation: str, form: _Form,
                 signs: list[int]) -> _Template | None:
        """The line's :class:`_Template` for these signs, kept in ``form``; None (also kept)
        when markers cannot stand for the numbers (too many leaves). Templates are bounded:
        past ``TEMPLATE_LIMIT`` of them every form starts afresh."""
        if self.template_count >= TEMPLATE_LIMIT:
            self.start_afresh()
        self.template_count += 1
        template = form.templates[tuple(signs)] = self.new_template(
            symbol, formula, relation, form.keys, signs)
        return template

    def start_afresh(self) -> None:
        """Forget every template (and the forms that hold them)."""
        for group in self.templates.values():
            group.clear()
        self.templates.clear()
        self.forms.clear()
        self.template_count = 0

    def new_template(self, symbol: Expr, formula: Expr, relation: str, keys: list[str],
                     signs: list[int]) -> _Template | None:
        """The fixed text of a line with these leaves and signs; None when markers cannot
        stand for the numbers (too many leaves)."""
        if len(keys) > 6000:
            return None
        slots: dict[str, _Slot] = {}
        for index, (key, sign) in enumerate(zip(keys, signs)):
            if sign and key not in slots:
                marker = MARKER + chr(0xE000 + index)
                slots[key] = _Slot("-" + marker if sign == 2 else marker)
        marked = _MarkerPrinter(self.printer.numbers).substituted(formula, slots)
        position = {slot.text.lstrip("-"): keys.index(key) for key, slot in slots.items()}
        pieces: list[str] = []
        rest = marked
        while MARKER in rest:
            before, _, after = rest.partition(MARKER)
            pieces.append(_literal(before))
            pieces.append(f"{{{position[MARKER + after[0]]}}}")
            rest = after[1:]
        pieces.append(_literal(rest))
        head = f"{self.printer.symbolic(symbol)} {relation} "
        return _Template(head, self.printer.symbolic(formula), "".join(pieces))


MISSING = _Template("", "", "")  # a pattern of signs not seen yet (None: seen, no template)


def _literal(text: str) -> str:
    """``text`` inside a ``str.format`` string."""
    return text.replace("{", "{{").replace("}", "}}")


def _unsigned(text: str) -> str:
    """A leaf's number as its marker stands for it: without the minus, which the template
    holds (or dropped, as ``a + (-b)`` is written ``a − b``)."""
    return text[1:] if text.startswith("-") else text


def _shape(node: Expr, keys: list[str]) -> object:
    """Everything about ``node`` that its printed text depends on, as nested tuples; the
    keys of its substitutable leaves are appended to ``keys`` in a fixed order."""
    kind = type(node)
    if type(node) is Sym:
        keys.append(node.key)
        return node.key, node.base, node.sub, node.hat
    if type(node) is Num:
        return kind, node.value
    if type(node) is Add:
        return kind, tuple([_shape(term, keys) for term in node.terms])
    if type(node) is Mul:
        return kind, tuple([_shape(factor, keys) for factor in node.factors])
    if type(node) is Neg:
        return kind, _shape(node.arg, keys)
    if type(node) is Deriv:
        derivative = kind, _shape(node.of, keys), _shape(node.wrt, keys), node.key
        keys.append(node.key)
        return derivative
    if type(node) is Ref:
        reference = kind, _shape(node.shown, keys), node.key
        keys.append(node.key)
        return reference
    out: list[object] = [kind]
    for name, value in node.__dict__.items():
        if isinstance(value, Expr):
            out.append(_shape(value, keys))
        elif isinstance(value, tuple):
            out.append(tuple([_shape(item, keys) if isinstance(item, Expr) else item
                              for item in value]))
        else:
            if name == "key":
                keys.append(value)
            out.append(value)
    return tuple(out)


class ConsoleWriter(DocumentWriter):
    """Writes one trace as terminal or plain text: the syntax of the shared layout
    (gdtrace.render.layout); all styling decisions live here."""

    def __init__(self, trace: Trace, options: RenderOptions) -> None:
        self.trace = trace
        self.options = options
        self.printer = ExprPrinter(NumberFormat(display_decimals(trace, options)))
        self.lines = WorkedLines(self.printer)
        width = options.width or PLAIN_WIDTH
        self.sink: RichSink | PlainSink
        if options.color:
            self.sink = RichSink(coloured_console(width))
        else:  # plain text needs no rich Console: same bytes, a fraction of the start-up
            self.sink = PlainSink(width)

    # basic output --------------------------------------------------------------------------
    @property
    def console(self) -> Console:
        """The rich console of a coloured writer (html/svg replace it with a recording one)."""
        if not isinstance(self.sink, RichSink):
            raise AttributeError("a plain-text writer has no rich console")
        return self.sink.console

    @console.setter
    def console(self, console: Console) -> None:
        self.sink = RichSink(console)

    @property
    def buffer(self) -> RichSink | PlainSink:
        """What was written so far: ``buffer.getvalue()`` is the text."""
        return self.sink

    @property
    def fitted(self) -> bool:
        """A width was given (the terminal's, COLUMNS, --width): every line must fit it.
        Without one the output is as wide as its content (PLAIN_WIDTH for the tables)."""
        return self.options.width is not None

    def line(self, text: str = "", style: str | None = None, hang: int = 2) -> None:
        """One line; when fitted and too wide, wrapped with a hanging indent."""
        if not text.isprintable():  # printable text has no control character to escape
            text = visible(text)
        if self.fitted and cell_len(text) > self.sink.width:
            for part in wrap(text, self.sink.width, hang):
                self.sink.line(part, style)
            return
        self.sink.line(text, style)

    def heading(self, text: str, level: int = 1) -> None:
        self.line()
        text = visible(text)
        style = "bold underline" if level == 1 else "bold"
        self.line(text, style if self.options.color else None)
        if not self.options.color:
            self.line(("=" if level == 1 else "-") * min(cell_len(text), self.sink.width))

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
              keep: int = 1, title: str | None = None,
              groups: Sequence[tuple[str, int]] = ()) -> None:
        """Print a table, split into several when wider than the console (first ``keep``
        columns repeat in each part so every row stays identifiable). When fitted, the parts
        are ``groups`` of columns (label, count) if given, and a part too wide even alone is
        transposed (see :meth:`fitted_table`)."""
        width = self.sink.width
        widths = [max(cell_len(h), *(cell_len(r[i]) for r in rows)) + 3 if rows else cell_len(h) + 3
                  for i, h in enumerate(headings)]
        if self.fitted and sum(widths) - 3 > width:
            if title:
                self.line(title)
            self.fitted_table(headings, rows, keep, widths, groups)
            return
        parts: list[list[int]] = []
        current = list(range(keep))
        used = sum(widths[:keep])
        for index in range(keep, len(headings)):
            if used + widths[index] > width and len(current) > keep:
                parts.append(current)
                current, used = list(range(keep)), sum(widths[:keep])
            current.append(index)
            used += widths[index]
        parts.append(current)
        for group in parts:
            self.sink.table([visible(headings[i]) for i in group],
                            [[visible(row[i]) for i in group] for row in rows],
                            title=None if title is None else visible(title),
                            header_style="bold" if self.options.color else "")
            title = None

    def fitted_table(self, headings: Sequence[str], rows: Sequence[Sequence[str]], keep: int,
                     widths: list[int], groups: Sequence[tuple[str, int]]) -> None:
        """A table wider than the width, as parts that fit: its column groups (merged while
        neighbours fit together), else even runs of columns (no orphan column); each part
        repeats the ``keep`` columns. A part that cannot fit is transposed."""
        width = self.sink.width
        key_width = sum(widths[:keep])
        if groups:
            spans, start = [], keep
            for label, count in groups:
                spans.append((label, list(range(start, start + count))))
                start += count
            merged: list[tuple[str, list[int]]] = []
            for label, columns in spans:
                if merged and key_width + sum(widths[i] for i in merged[-1][1] + columns) \
                        - 3 <= width:
                    merged[-1] = (f"{merged[-1][0]}, {label}", merged[-1][1] + columns)
                else:
                    merged.append((label, columns))
            parts = merged
        else:
            parts = [("", columns) for columns in even_runs(widths[keep:], width - key_width,
                                                             keep)]
        for label, columns in parts:
            if label and len(parts) > 1:
                self.line(f"{label}:")
            chosen = list(range(keep)) + columns
            if key_width + sum(widths[i] for i in columns) - 3 <= width:
                self.sink.table([headings[i] for i in chosen],
                                [[row[i] for i in chosen] for row in rows],
                                header_style="bold" if self.options.color else "")
            else:
                self.transposed([headings[i] for i in chosen],
                                [[row[i] for i in chosen] for row in rows])

    def transposed(self, headings: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """One row per quantity, one column per original row (headed by its first key, e.g.
        the step), in runs of columns that fit; when not even one column fits, each
        original row as ``heading = value`` lines."""
        width = self.sink.width
        names = list(headings[1:])
        table = [[row[0] for row in rows]] + [[row[i] for row in rows]
                                              for i in range(1, len(headings))]
        name_width = max(cell_len(n) for n in [headings[0], *names]) + 3
        widths = [max(cell_len(line[k]) for line in table) + 3 for k in range(len(rows))]
        if name_width + max(widths, default=0) - 3 > width:
            for row in rows:
                self.line(f"{headings[0]} {row[0]}:")
                for name, cell in zip(headings[1:], row[1:]):
                    self.line(f"  {name} = {cell}", hang=4)
            return
        for run in even_runs(widths, width - name_width, 0):
            self.sink.table([headings[0], *(table[0][k] for k in run)],
                            [[name, *(table[i + 1][k] for k in run)]
                             for i, name in enumerate(names)],
                            header_style="bold" if self.options.color else "")

    # the layout's primitives ---------------------------------------------------------------
    def section(self, title: str, depth: int) -> None:
        if depth < 2:
            self.heading(title, depth + 1)
        else:  # a step: a bold line, no rule
            self.line()
            self.line(title, "bold" if self.options.color else None)

    def paragraph(self, text: str) -> None:
        self.line(text)

    def text(self, text: str) -> str:
        return text

    def setting_number(self, value: object) -> str:
        return exact(value)

    def param_name(self, name: str) -> str:
        return name

    def value_is(self, symbol: str, value: object) -> str:
        return f"{symbol} = {self.num(value)}"

    def param_value(self, name: str, value: object) -> str:
        return f"{name} = {self.num(value)}"

    def prediction_rule(self, threshold: float) -> str:
        return f"ŷ ≥ {exact(threshold)}"

    def stability_parts(self, stability: Stability) -> tuple[str, str, str, str]:
        return (f"H = {self.printer.symbolic(stability.hessian_formula)}",
                f"λmax = {self.num(stability.lambda_max)}",
                f"0 < η < 2/λmax = {stability.eta_limit:.6g}",  # 6 digits, as in the warning
                f"η = {exact(stability.eta)}")

    def data_table(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
                   caption: str | None = None, keep: int = 1) -> None:
        if caption:
            self.line(caption)
        self.table(headings, rows, keep=keep)

    def write_step_table(self, steps: list[Step]) -> None:
        if steps:
            headings, rows = step_table(steps)
            self.table([self.column(c) for c in headings], [self.cells(r) for r in rows],
                       keep=2, groups=step_panels(headings))

    def write_batch_step(self, step: Step) -> None:
        self.section(step_label(step), 2)
        headings, rows = batch_table(step)
        self.table([self.column(c) for c in headings], [self.cells(r) for r in rows], keep=1,
                   groups=step_panels([Column("step"), *headings]))  # after the sample column
        self.worked(step.quantities)

    def worked(self, quantities: Sequence[Quantity]) -> None:
        for quantity in quantities:
            self.worked_line(quantity, "  ")

    def worked_line(self, quantity: Quantity, indent: str) -> None:
        """``lhs = symbolic = substituted = value``; when fitted and too wide, broken after
        each "=" with the next part indented under the right-hand side, and a part still too
        wide broken between its terms."""
        text = indent + self.lines.line(quantity)
        width = self.sink.width
        if not self.fitted or cell_len(text) <= width:
            self.line(text)
            return
        lhs, parts = worked_parts(self.printer, quantity)
        head = f"{indent}{lhs} {quantity.relation} "
        hang = " " * cell_len(head) if cell_len(head) <= width // 3 else indent + "    "
        for position, part in enumerate(parts):
            words = tokens(part, operators=True)
            if position < len(parts) - 1:
                words[-1] += " ="
            for piece in fill(words, width, head if position == 0 else hang, hang + "  "):
                self.sink.line(piece)

    def result(self) -> str:
        return self.buffer.getvalue()

    # sections ------------------------------------------------------------------------------
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
            self.line(self.settings_text(header.settings))
        self.line("formulas:")
        width = max((cell_len(self.printer.symbolic(f.lhs)) for f in header.formulas),
                    default=0)
        texts = []
        for formula in header.formulas:
            lhs = self.printer.symbolic(formula.lhs)
            lhs = " " * (width - cell_len(lhs)) + lhs  # cell widths: ŷ is one column, not two
            texts.append(f"  {lhs} {formula.relation} {self.printer.symbolic(formula.rhs)}")
        column = 62  # the descriptions' column when it fits
        room = self.sink.width
        if self.fitted and any(max(cell_len(t) + 2, column) + cell_len(f.label) > room
                               for t, f in zip(texts, header.formulas) if f.label):
            column = max(cell_len(t) for t in texts) + 2  # just right of the longest formula
        for text, formula in zip(texts, header.formulas):
            if not formula.label:
                self.line(text)
                continue
            start = text + " " * max(column - 2 - cell_len(text), 0) + "  "
            if self.fitted and room - column < 16:  # too narrow beside it: on its own line
                self.line(text)
                start, column_text = " " * 6, " " * 6
            else:
                column_text = " " * column
            for piece in fill(tokens(formula.label), room if self.fitted else 10**6, start,
                              column_text):
                self.sink.line(piece)
        for note in header.notes:
            self.line(f"  ({note})")

    def write_epochs(self, run: Run) -> None:
        """Every epoch; for a long run only the first and last ``LONG_RUN_KEEP`` in full and one
        line (loss, steps) for each epoch between, unless ``--full`` asks for all."""
        epochs = run.epochs
        keep = LONG_RUN_KEEP
        if self.options.full or len(epochs) <= 2 * keep + 1:
            for epoch in epochs:
                self.write_epoch(epoch)
            return
        for epoch in epochs[:keep]:
            self.write_epoch(epoch)
        self.write_middle([self.middle_row(e) for e in epochs[keep:-keep]])
        for epoch in epochs[-keep:]:
            self.write_epoch(epoch)

    def middle_row(self, epoch: Epoch) -> list[str]:
        """A summarised epoch's row: epoch, loss at the start, steps."""
        return [str(epoch.index), self.cell(epoch.loss) if epoch.loss is not None else "",
                str(len(epoch.steps))]

    def write_middle(self, rows: list[list[str]]) -> None:
        """The middle of a long run, one row per epoch (see :meth:`write_epochs`)."""
        self.heading(f"Epochs {rows[0][0]}–{rows[-1][0]}: summarised", 2)
        self.line(f"{len(rows)} epochs are not written out here; --full prints every one.")
        self.table(["epoch", "loss at the start", "steps"], rows, keep=1)

    def write_epoch_stream(self, items: Iterable[StreamItem], out: Callable[[str], object]
                           ) -> None:
        """:meth:`write_epochs` as the epochs arrive. With ``--full`` each is written as it
        comes. Otherwise the first ``LONG_RUN_KEEP`` are; which epochs are the last ones is
        known only when the run ends (it may stop early), so the latest ``LONG_RUN_KEEP + 1``
        epochs are kept whole and any older one becomes a row of the summarised middle."""
        if self.options.full:
            super().write_epoch_stream(items, out)
            return
        keep = LONG_RUN_KEEP
        written = 0
        pending: deque[Epoch] = deque()
        middle: list[list[str]] = []
        for epoch in whole_epochs(items):
            if written < keep:
                self.write_epoch(epoch)
                written += 1
                out(self.take())
                continue
            pending.append(epoch)
            if len(pending) > keep + 1:
                middle.append(self.middle_row(pending.popleft()))
        if middle:
            middle.append(self.middle_row(pending.popleft()))
            self.write_middle(middle)
        for epoch in pending:
            self.write_epoch(epoch)

    def take(self) -> str:
        return self.sink.take()

    def write_loss_line(self, quantity: Quantity) -> None:
        self.worked_line(quantity, "")  # not indented: under the heading

    def write_worked_step(self, step: Step) -> None:
        self.section(step_label(step), 2)
        for k, row in enumerate(step.rows):
            inputs = [q for q in row if q.role is Role.INPUT]
            if inputs:  # several samples in one step: say whose inputs these are
                several = len(step.rows) > 1 and len(step.samples) == len(step.rows)
                who = f"sample {step.samples[k]}: " if several else ""
                self.line("  " + who + ", ".join(
                    f"{self.lines.symbolic(q.heading or q.symbol)} = {self.lines.value(q.value)}"
                    for q in inputs))
            for quantity in row:
                if quantity.role is not Role.INPUT:
                    self.worked_line(quantity, "  ")
        self.worked(step.quantities)

    def write_numbered_step(self, step: NumberedStep) -> None:
        """:meth:`write_worked_step`'s text filled straight from the step's numbers (fitted
        to a width, the step is built whole: a line too wide is broken by its parts)."""
        if self.fitted:
            self.write_worked_step(step.step())
            return
        lines = self.lines
        self.section(step_label(step), 2)
        self.line("  " + ", ".join(f"{lines.symbolic(symbol)} = {lines.value(value)}"
                                   for symbol, value in step.inputs()))
        for symbol, formula, relation, operands, value in step.lines():
            self.line("  " + lines.from_parts(symbol, formula, relation, operands, value))

    def write_trace_table(self, table: TraceTable) -> None:
        rows = [[cell if isinstance(cell, str) else self.num(cell) for cell in row]
                for row in table.rows]
        self.line(table.title)
        self.table(table.columns, rows, keep=1)

    def write_summary(self, run: Run) -> None:
        self.section(self.result_title(run), 1)
        if run.final:
            self.line(self.final_parameters(run))
        losses = epoch_losses(run)
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
            self.write_predictions(run.outcome)
        for line in self.checks(run):
            self.line(line)

    def loss_chart(self, run: Run) -> str:
        """``loss chart: ▇▅▂▁ …``; the bar heights come from gdtrace.render.plot.sparkline (the
        scaling is the chart module's job), this renderer only prints them."""
        from gdtrace.render.plot import loss_points, sparkline, wants_log_scale

        losses = [loss for _, loss in loss_points(run)]
        if len(losses) < 2:
            return ""
        bars = sparkline(losses, max((self.options.width or PLAIN_WIDTH) - 50, 10))
        scale = ", log scale" if wants_log_scale(losses) else ""
        return f"loss chart: {bars}  (start of epoch 1 … final{scale})"

    def warnings_start(self) -> None:
        self.line()

    def warning(self, where: str, message: str) -> None:
        prefix = f"warning ({where}): " if where else "warning: "
        self.line(prefix + message, "bold yellow" if self.options.color else None)


_settings_text = settings_text  # the --summary lines write the same settings line


def even_runs(widths: Sequence[int], room: int, keep: int) -> list[list[int]]:
    """Indexes (offset by ``keep``) of ``widths`` in consecutive runs that each fit ``room``,
    as even as the first greedy split allows, so no run is a lone leftover column. A
    column wider than ``room`` is a run of its own."""
    greedy: list[list[int]] = [[]]
    used = 0
    for index, width in enumerate(widths):
        if greedy[-1] and used + width - 3 > room:
            greedy.append([])
            used = 0
        greedy[-1].append(index)
        used += width
    count = len(greedy)
    if count > 1:
        size = -(-len(widths) // count)
        even = [list(range(k, min(k + size, len(widths)))) for k in range(0, len(widths), size)]
        if len(even) == count and all(sum(widths[i] for i in run) - 3 <= room for run in even):
            greedy = even
    return [[i + keep for i in run] for run in greedy]


def render(trace: Trace, options: RenderOptions) -> str:
    return ConsoleWriter(trace, options).write()


def write_streamed(trace: Trace, items: Iterable[StreamItem], options: RenderOptions,
                   out: Callable[[str], object]) -> None:
    """:func:`render`'s text, handed to ``out`` piece by piece as the epochs and steps of
    ``items`` arrive (see :meth:`DocumentWriter.write_streamed`)."""
    ConsoleWriter(trace, options).write_streamed(items, out)


def whole_epochs(items: Iterable[StreamItem]) -> Iterator[Epoch]:
    """Each epoch with its steps, once the next epoch (or the end) shows it is complete."""
    epoch: Epoch | None = None
    for item in items:
        if isinstance(item, Epoch):
            if epoch is not None:
                yield epoch
            epoch = item
        elif epoch is not None:
            epoch.steps.append(as_step(item))
    if epoch is not None:
        yield epoch


def summary_lines(info: ProblemInfo, header: Header, events: Iterable[object],
                  options: RenderOptions) -> Iterator[str]:
    """``--summary`` as plain text, one line per epoch, written while the run goes: the loss
    at the start of the epoch and the parameters after its last step."""
    from gdtrace.solvers.streaming import EpochEnd, EpochStart, RunEnd, RunStart

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
