"""Answers documents: a student's numbers for a problem, read with their written precision.

The shape is the ``--format json`` document of one run, sparse (shared spec answer-format.md):
``epochs: [{epoch, loss}]``, ``steps: [{step, values, grad, params}]``, ``final``. Steps may also
sit inside their epochs as in the JSON, and a whole ``--format json`` document is accepted (its
run chosen by ``run:``). A CSV with the columns of ``gdtrace sheet --format csv`` is read too.

Every number keeps the text it was written as: ``0.743`` claims three decimals and ``"1.10"``
two. YAML is only composed (never constructed), so the text and line of each value are at hand
and nothing in the file is executed.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from gdtrace.check.cells import Address, Cell, listed
from gdtrace.errors import GdtraceError
from gdtrace.problem.schema import suggest
from gdtrace.trace import Run

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
CSV_COLUMNS = ("epoch", "step", "sample", "section", "key", "entry", "answer")
# keys of a --format json document that an answers document may carry and check ignores
IGNORED_KEYS = {"gdtrace", "label", "settings", "final_loss", "predictions", "threshold",
                "accuracy", "stability", "blocks", "stopped_early", "warnings", "comparison"}
_NUMBER_CHARS = frozenset("0123456789.eE+-")


class AnswersError(GdtraceError):
    """A bad answers document: one line naming the file, the line and the key."""

    def __init__(self, message: str, source: str, line: int | None = None, key: str = ""):
        self.message, self.source, self.line, self.key = message, source, line, key
        super().__init__(self.describe())

    def describe(self) -> str:
        where = self.source + (f":{self.line}" if self.line is not None else "")
        return f"{where}: {self.key + ': ' if self.key else ''}{self.message}"


@dataclass(frozen=True)
class Written:
    """One number as the student wrote it; ``value`` None means written with no value."""

    text: str | None
    value: float | None
    decimals: int
    line: int | None = None

    @property
    def half_unit(self) -> float:
        """½·10⁻ᵈ: how far the unrounded number behind the written one may lie."""
        return 0.5 * 10.0 ** -self.decimals

    @property
    def unit(self) -> float:
        return 10.0 ** -self.decimals


def read_number(text: str) -> tuple[float, int] | None:
    """The value and written decimals of ``text`` (``0.743`` → 3, ``1.5e-3`` → 4), or None
    when it is not a plain decimal number."""
    cleaned = text.strip().replace("−", "-").replace("_", "")
    if not cleaned or not _NUMBER_CHARS.issuperset(cleaned):
        return None
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    mantissa, _, exponent = cleaned.lower().partition("e")
    point = mantissa.find(".")
    decimals = len(mantissa) - point - 1 if point >= 0 else 0
    if exponent:
        decimals -= int(exponent)
    return value, decimals


@dataclass
class Answers:
    """The numbers of one answers document, by cell address (one entry per number)."""

    source: str
    problem: str | None = None
    run: str | None = None
    entries: dict[Address, Written] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # what was read but is not graded


# ----------------------------------------------------------------------------------- reading


class _Index:
    """The cells of a run arranged for reading answers, built once per run."""

    def __init__(self, cells: list[Cell], run: Run) -> None:
        self.run = run
        self.cells = {cell.address: cell for cell in cells}
        self.steps: dict[int, dict[str, dict[str, Cell]]] = {}
        self.samples: dict[int, int] = {}
        self.epochs = {epoch.index for epoch in run.epochs}
        self.loss_epochs: set[int] = set()
        for cell in cells:
            a = cell.address
            if a.section == "loss":
                self.loss_epochs.add(a.epoch or 0)
            if a.step is not None:
                sections = self.steps.setdefault(a.step, {})
                sections.setdefault(a.section, {})[a.key] = cell
                if a.sample is not None:
                    self.samples[a.step] = max(self.samples.get(a.step, 0), a.sample)
        self.listed_steps = {step.index for epoch in run.epochs for step in epoch.steps
                             if listed(run, len(step.rows))}
        self.final = {c.address.key: c for c in cells if c.address.section == "final"}


_INDEXES: dict[int, tuple[list[Cell], _Index]] = {}


def _index_of(cells: list[Cell], run: Run) -> _Index:
    """The index of a list of cells (kept with the list, so a class of answers documents
    builds it once)."""
    found = _INDEXES.get(id(cells))
    if found is None or found[0] is not cells:
        if len(_INDEXES) > 64:
            _INDEXES.clear()
        found = _INDEXES[id(cells)] = (cells, _Index(cells, run))
    return found[1]


class _Reader:
    """Walks a composed YAML tree against the cells of the run it answers."""

    def __init__(self, source: str, cells: list[Cell], run: Run) -> None:
        index = _index_of(cells, run)
        self.source = source
        self.run = run
        self.cells = index.cells
        self.steps = index.steps
        self.samples = index.samples
        self.epochs = index.epochs
        self.loss_epochs = index.loss_epochs
        self.final = index.final
        self.answers = Answers(source)
        self.seen: set[int] = set()

    def fail(self, message: str, node: yaml.Node | None, key: str = "") -> AnswersError:
        line = node.start_mark.line + 1 if node is not None else None
        return AnswersError(message, self.source, line, key)

    # -- structure ------------------------------------------------------------------------
    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        self._once(node, key)
        if not isinstance(node, yaml.MappingNode):
            raise self.fail("expected a mapping of keys to values", node, key)
        out: list[tuple[str, yaml.Node, yaml.Node]] = []
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.fail("a key must be plain text", k, key)
            out.append((k.value, k, v))
        return out

    def sequence(self, node: yaml.Node, key: str) -> list[yaml.Node]:
        self._once(node, key)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail("expected a list", node, key)
        return list(node.value)

    def _once(self, node: yaml.Node, key: str) -> None:
        """Refuse YAML aliases: an answers document has no reason to repeat a part of itself."""
        if id(node) in self.seen:
            raise self.fail("YAML aliases (*name) are not allowed in answers", node, key)
        self.seen.add(id(node))

    def text(self, node: yaml.Node, key: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail("expected a number", node, key)
        plain = node.style in (None, "")  # not quoted: YAML's null spellings mean no value
        if node.tag.endswith(":null") or (plain and node.value in ("", "~", "null", "Null",
                                                                   "NULL")):
            return None
        return node.value

    def integer(self, node: yaml.Node, key: str) -> int:
        text = self.text(node, key)
        if text is None or not re.fullmatch(r"\d+", text.strip()):
            raise self.fail(f"expected a whole number, got {_short(text)}", node, key)
        return int(text)

    def document(self, root: yaml.Node | None) -> Answers:
        if root is None:
            raise AnswersError("the answers document is empty", self.source)
        entries = self.mapping(root, "")
        keys = {k for k, _, _ in entries}
        if "runs" in keys:  # a whole --format json document: answer with one of its runs
            return self.json_document(entries)
        self.top(entries)
        return self.answers

    def json_document(self, entries: list[tuple[str, yaml.Node, yaml.Node]]) -> Answers:
        by_key = {k: v for k, _, v in entries}
        for run_node in self.sequence(by_key["runs"], "runs"):
            pairs = self.mapping(run_node, "runs[]")
            label = next((self.text(v, "label") for k, _, v in pairs if k == "label"), None)
            if label in (None, self.run.label):
                self.answers.run = label
                self.top(pairs)
                return self.answers
        raise self.fail(f"no run labelled {self.run.label!r}", by_key["runs"], "runs")

    def top(self, entries: list[tuple[str, yaml.Node, yaml.Node]]) -> None:
        for key, key_node, value in entries:
            if key == "problem":
                if isinstance(value, yaml.ScalarNode):
                    self.answers.problem = self.text(value, key)
            elif key == "run":
                self.answers.run = self.text(value, key)
            elif key == "epochs":
                for item in self.sequence(value, key):
                    self.epoch(item)
            elif key == "steps":
                for item in self.sequence(value, key):
                    self.step(item)
            elif key == "final":
                self.final_values(value)
            elif key not in IGNORED_KEYS:
                choices = ["problem", "run", "epochs", "steps", "final"]
                raise self.fail(f"unknown key{suggest(key, choices)} (expected one of "
                                f"{', '.join(choices)})", key_node, key)

    def epoch(self, node: yaml.Node) -> None:
        pairs = self.mapping(node, "epochs[]")
        by_key = {k: (kn, v) for k, kn, v in pairs}
        if "epoch" not in by_key:
            raise self.fail("each entry of epochs needs its epoch number (epoch: 1)", node,
                            "epochs[]")
        number = self.integer(by_key["epoch"][1], "epoch")
        where = f"epochs[epoch {number}]"
        if number not in self.epochs:
            raise self.fail(f"the run has no epoch {number} (epochs {_span(self.epochs)})",
                            by_key["epoch"][1], where)
        for key, key_node, value in pairs:
            if key == "loss" and number not in self.loss_epochs:
                self.answers.ignored.append(f"{where}.loss: not graded (this model writes no "
                                            "loss line)")
            elif key == "loss":
                address = Address(number, None, None, "loss", "loss")
                self.number_cell(value, address, f"{where}.loss")
            elif key == "steps":
                for item in self.sequence(value, f"{where}.steps"):
                    self.step(item)
            elif key not in ("epoch",) and key not in IGNORED_KEYS:
                raise self.fail(f"unknown key{suggest(key, ['epoch', 'loss', 'steps'])}",
                                key_node, where)

    def step(self, node: yaml.Node) -> None:
        pairs = self.mapping(node, "steps[]")
        by_key = {k: v for k, _, v in pairs}
        if "step" not in by_key:
            raise self.fail("each entry of steps needs its step number (step: 1)", node,
                            "steps[]")
        number = self.integer(by_key["step"], "step")
        if number not in self.steps:
            raise self.fail(f"the run has no step {number} (steps {_span(self.steps)})",
                            by_key["step"], "steps[]")
        sections = self.steps[number]
        for key, key_node, value in pairs:
            where = f"steps[step {number}].{key}"
            if key in ("values", "grad", "params"):
                known = sections.get(key, {})
                for name, name_node, item in self.mapping(value, where):
                    if name not in known:
                        hint = suggest(name, list(known))
                        listing = ", ".join(list(known)[:12]) or "none"
                        raise self.fail(f"step {number} has no {key} key {name!r}{hint} "
                                        f"(its keys: {listing})", name_node, where)
                    self.step_value(number, key, name, item, f"{where}.{name}")
            elif key not in ("step", "samples", "title"):
                raise self.fail(f"unknown key{suggest(key, ['values', 'grad', 'params'])}",
                                key_node, f"steps[step {number}]")

    def step_value(self, step: int, section: str, name: str, node: yaml.Node, where: str) -> None:
        cell = self.steps[step][section][name]
        if cell.address.sample is None:
            self.number_cell(node, cell.address, where)
            return
        count = self.samples.get(step, 1)
        if not isinstance(node, yaml.SequenceNode):
            if count == 1:  # one sample: a plain number is fine
                self.number_cell(node, Address(cell.address.epoch, step, 1, section, name),
                                 where)
                return
            raise self.fail(f"step {step} has {count} samples: write a list of {count} "
                            "values, one per sample", node, where)
        items = self.sequence(node, where)
        if len(items) != count:
            raise self.fail(f"expected a list of {count} values (one per sample), got "
                            f"{len(items)}", node, where)
        for sample, item in enumerate(items, start=1):
            address = Address(cell.address.epoch, step, sample, section, name)
            if address not in self.cells:
                continue
            self.number_cell(item, address, f"{where}[{sample}]")

    def final_values(self, node: yaml.Node) -> None:
        for name, name_node, value in self.mapping(node, "final"):
            if name not in self.final:
                raise self.fail(f"no final parameter {name!r}{suggest(name, list(self.final))}",
                                name_node, "final")
            self.number_cell(value, self.final[name].address, f"final.{name}")

    # -- numbers --------------------------------------------------------------------------
    def number_cell(self, node: yaml.Node, address: Address, where: str) -> None:
        cell = self.cells.get(address)
        if cell is None:
            raise self.fail("no such value in the trace", node, where)
        shape = cell.shape
        if not shape:
            self.answers.entries[address] = self.written(node, where)
            return
        for index, written in self.array(node, shape, where, ()):
            self.answers.entries[address.at(index)] = written

    def array(self, node: yaml.Node, shape: tuple[int, ...], where: str,
              index: tuple[int, ...]) -> list[tuple[tuple[int, ...], Written]]:
        if not shape:
            return [(index, self.written(node, where))]
        items = self.sequence(node, where)
        if len(items) != shape[0]:
            dims = "×".join(str(d) for d in shape)
            raise self.fail(f"expected a list of {shape[0]} entries (a {dims} value), got "
                            f"{len(items)}", node, where)
        out = []
        for i, item in enumerate(items):
            out += self.array(item, shape[1:], f"{where}[{i + 1}]", (*index, i))
        return out

    def written(self, node: yaml.Node, where: str) -> Written:
        line = node.start_mark.line + 1
        text = self.text(node, where)
        if text is None:
            return Written(None, None, 0, line)
        parsed = read_number(text)
        if parsed is None:
            raise self.fail(f"expected a number, got {_short(text)}", node, where)
        return Written(text.strip(), parsed[0], parsed[1], line)


def _short(text: str | None) -> str:
    if text is None:
        return "nothing"
    shown = text if len(text) <= 40 else text[:37] + "…"
    return repr(shown)


def _span(numbers: object) -> str:
    values = sorted(numbers)  # type: ignore[call-overload]
    if not values:
        return "none"
    return f"{values[0]}–{values[-1]}" if len(values) > 1 else str(values[0])


# ------------------------------------------------------------------------------ entry points


def _compose(text: str) -> yaml.Node | None:
    """The document's node tree, built from the parser's events: like ``yaml.compose`` with no
    tag resolution (every value is read from its own text by :func:`read_number`), without a
    call back into Python per value (a class of 300 documents spends its time here)."""
    loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
    stack: list[tuple[yaml.Node, list]] = []
    key_tag, seq_tag, map_tag = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:seq",
                                 "tag:yaml.org,2002:map")

    items: list = []  # the open collection's items (the root's "collection" at the top)
    scalar, start_kinds = yaml.ScalarEvent, (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    parser = loader(text)
    try:
        while True:
            event = parser.get_event()
            if event is None:
                break
            kind = type(event)
            if kind is scalar:
                items.append(yaml.ScalarNode(key_tag, event.value, event.start_mark,
                                             event.end_mark, event.style))
            elif kind in start_kinds:
                mapping = kind is yaml.MappingStartEvent
                opened: yaml.Node = (yaml.MappingNode if mapping else yaml.SequenceNode)(
                    map_tag if mapping else seq_tag, [], event.start_mark, None)
                items.append(opened)
                stack.append((opened, items))
                items = []
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                node, outer = stack.pop()
                node.value = list(zip(items[::2], items[1::2])) if isinstance(
                    node, yaml.MappingNode) else items
                items = outer
            elif kind is yaml.AliasEvent:
                raise yaml.MarkedYAMLError(problem="YAML aliases (*name) are not allowed in "
                                           "answers", problem_mark=event.start_mark)
            elif kind is yaml.DocumentStartEvent and items:
                raise yaml.MarkedYAMLError(problem="more than one YAML document",
                                           problem_mark=event.start_mark)
    finally:
        parser.dispose()
    return items[0] if items else None


def parse_answers(text: str, source: str, cells: list[Cell], run: Run) -> Answers:
    """Read an answers document (YAML or JSON text) against the cells of ``run``."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise AnswersError(f"larger than {MAX_BYTES // 1024} KiB; an answers document is a "
                           "few hundred numbers", source)
    if not text.strip():
        raise AnswersError("the answers document is empty", source)
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise AnswersError(f"not valid YAML or JSON: {exc.problem}", source,
                           mark.line + 1 if mark is not None else None) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise AnswersError(f"not valid YAML or JSON ({type(exc).__name__})", source) from None
    try:
        return _Reader(source, cells, run).document(root)
    except RecursionError:
        raise AnswersError(f"nested too deeply (more than {MAX_DEPTH} levels)", source) from None


def parse_answers_csv(text: str, source: str, cells: list[Cell]) -> Answers:
    """Read the CSV form (``gdtrace sheet --format csv``): one row per number."""
    answers = Answers(source)
    by_address = {cell.address: cell for cell in cells}
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise AnswersError("the answers document is empty", source)
    columns = [h.strip().lower() for h in header]
    missing = [c for c in CSV_COLUMNS if c not in columns and c != "entry"]
    if missing:
        raise AnswersError(f"missing column(s) {', '.join(missing)} (expected "
                           f"{','.join(CSV_COLUMNS)})", source, 1)
    at = {name: columns.index(name) for name in CSV_COLUMNS if name in columns}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(columns):
            raise AnswersError(f"expected {len(columns)} columns, got {len(row)}", source, line)

        def field_of(name: str, row: list[str] = row) -> str:
            return row[at[name]].strip() if name in at else ""

        def optional_int(name: str, line: int = line) -> int | None:
            text = field_of(name)
            if not text:
                return None
            if not text.isdigit():
                raise AnswersError(f"expected a whole number, got {_short(text)}", source, line,
                                   name)
            return int(text)

        entry = field_of("entry")
        try:
            index = tuple(int(i) - 1 for i in entry.split(",")) if entry else ()
        except ValueError:
            raise AnswersError(f"expected entry numbers such as 1,2, got {_short(entry)}",
                               source, line, "entry") from None
        address = Address(optional_int("epoch"), optional_int("step"), optional_int("sample"),
                          field_of("section"), field_of("key"))
        cell = by_address.get(address)
        if cell is None:
            raise AnswersError(f"no such cell in the trace ({address.label()})", source, line,
                               "key")
        if len(index) != len(cell.shape) or any(
                i < 0 or i >= n for i, n in zip(index, cell.shape)):
            raise AnswersError(f"entry {_short(entry)} does not fit a value of shape "
                               f"{'×'.join(map(str, cell.shape)) or 'a number'}", source, line,
                               "entry")
        text = field_of("answer")
        if not text:
            answers.entries[address.at(index)] = Written(None, None, 0, line)
            continue
        parsed = read_number(text)
        if parsed is None:
            raise AnswersError(f"expected a number, got {_short(text)}", source, line, "answer")
        answers.entries[address.at(index)] = Written(text, parsed[0], parsed[1], line)
    return answers


def load_answers(path: str | Path, cells: list[Cell], run: Run,
                 display_name: str | None = None) -> Answers:
    """Read an answers file (``.yaml``/``.yml``/``.json``, or ``.csv``)."""
    source = display_name or str(path)
    target = Path(path)
    try:
        if target.is_dir():
            raise AnswersError("is a folder, not an answers file", source)
        size = target.stat().st_size
        if size > MAX_BYTES:
            raise AnswersError(f"larger than {MAX_BYTES // 1024} KiB; an answers document is a "
                               "few hundred numbers", source)
        raw = target.read_bytes()
    except FileNotFoundError:
        raise AnswersError("no such answers file", source) from None
    except OSError as exc:
        raise AnswersError(f"cannot read it ({exc.strerror or type(exc).__name__})",
                           source) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AnswersError("not UTF-8 text", source) from None
    if target.suffix.lower() == ".csv":
        return parse_answers_csv(text, source, cells)
    return parse_answers(text, source, cells, run)


def as_array(entries: dict[tuple[int, ...], Written], shape: tuple[int, ...]) -> np.ndarray:
    """Written values of one vector/matrix cell as an array (nan where not written)."""
    values = np.full(shape, np.nan)
    for index, written in entries.items():
        if written.value is not None:
            values[index] = written.value
    return values
