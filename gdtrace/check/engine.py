"""Grading a student's numbers with error carried forward, from the trace alone.

Every line of the trace keeps its formula, its operands and (``Quantity.links``) the earlier
line each operand is the value of. That is a dependency graph of the whole worked solution,
for every model, built by the solvers as they compute. The grader walks it once per answers
document, in dependency order, and keeps for every line the range of values the student's own
numbers give it (:mod:`gdtrace.formula.evaluate`): what they wrote where they wrote it, the formula
over their earlier numbers where they left it blank. A number is then

- ``correct`` when it matches the key,
- ``carried`` when it matches the formula evaluated with the student's own operands (error
  carried forward: right given an earlier slip),
- ``rounding`` when it is one of those values rounded the wrong way at its written precision,
- ``wrong`` otherwise, with a diagnosis where one simple mistake explains it.

Rules and tolerances: the shared spec answer-format.md; conventions: docs/check.md.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from gdtrace.check.answers import Answers, Written
from gdtrace.check.cells import Address, Cell, cells_of
from gdtrace.check.report import CellVerdict, CheckOptions, Operand, Report
from gdtrace.formula import expr as E
from gdtrace.formula.evaluate import CannotEvaluate, Compiled, Span, compile_formula, point
from gdtrace.formula.rounding import Carry, round_half_away
from gdtrace.trace import Part, ProblemInfo, Quantity, Role, Run

# Past this many combinations of an operand's two readings (as written / as it should have
# been), the readings of each operand are merged into one range: a little more lenient, bounded.
MAX_COMBINATIONS = 16
KEYED = (E.Sym, E.Ref, E.Deriv)


@dataclass(eq=False)
class Node:
    """One distinct value of the worked solution (lines that compute the same thing from the
    same operands are one node: the loss's σ(z₁) and step 1's σ(z₁) in SGD)."""

    index: int
    quantity: Quantity
    sources: dict[str, Node]  # operand key → the node it is the value of
    given: dict[str, Span]  # operand key → a number given by the problem
    rounded: int | None  # carry rounding of the result
    cells: list[Cell] = field(default_factory=list)
    element: tuple[int, ...] | None = None  # an entry of its one source (a Part link)
    compiled: Compiled | None = None  # the formula, compiled once (None: cannot evaluate)
    symbols: dict[str, E.Expr] = field(default_factory=dict)  # how the formula writes each
    shape: tuple[int, ...] = ()  # of the value: () for a number

    def __post_init__(self) -> None:
        self.shape = tuple(np.shape(self.quantity.value))
        # (operand key, index of its node) in a list: the hot loop reads it once per document
        self.source_list = [(key, n.index) for key, n in self.sources.items()]
        self.source_indexes = [n.index for n in self.sources.values()]
    cuts: list[tuple[E.Expr, str, Node]] = field(default_factory=list)

    @property
    def formula(self) -> E.Expr | None:
        return self.quantity.formula

    @property
    def key_value(self) -> float | np.ndarray:
        value = self.quantity.value
        return np.asarray(value, dtype=float) if isinstance(value, np.ndarray) else float(value)


@dataclass
class _State:
    """What a node stands for downstream, for one answers document."""

    readings: list[Span]  # the student's value of it: one range, or two for a wrong number
    # what the student wrote of it (None: nothing; an array with nan where an entry is blank)
    written: float | np.ndarray | None = None


class Grader:
    """The dependency graph of one run, built once; :meth:`grade` checks an answers document."""

    def __init__(self, run: Run, info: ProblemInfo) -> None:
        self.run = run
        self.info = info
        carry = run.settings.get("carry_decimals")
        self.carry = int(carry) if carry is not None else None
        self.cells = list(cells_of(run))
        self.nodes: list[Node] = []
        self._by_quantity: dict[int, Node] = {}
        self._canonical: dict[tuple, Node] = {}
        for cell in self.cells:
            node = self._node(cell.quantity)
            node.cells.append(cell)
        self._find_cuts()
        # a number's ranges by the ranges of its operands: the same readings give the same
        # ranges, and a class's documents share most of theirs (everything scalar is hashable)
        self._derived: dict[tuple, tuple[list[Span], list[Span]]] = {}
        self._weighed: dict[tuple, tuple[str, float | None, Span]] = {}  # … and verdicts
        self._positions = {cell.address: i for i, cell in enumerate(self.cells)}

    # -- the graph -------------------------------------------------------------------------
    def _node(self, quantity: Quantity) -> Node:
        """The node of a line, visiting the lines it depends on first (iteratively: a run's
        chain of parameters is as long as the run)."""
        found = self._by_quantity.get(id(quantity))
        if found is not None:
            return found
        stack: list[tuple[Quantity, bool]] = [(quantity, False)]
        while stack:
            current, ready = stack.pop()
            if id(current) in self._by_quantity:
                continue
            if not ready:
                stack.append((current, True))
                targets = (link.of if isinstance(link, Part) else link
                           for link in current.links.values())
                stack.extend((target, False) for target in targets
                             if id(target) not in self._by_quantity)
                continue
            self._by_quantity[id(current)] = self._make(current)
        return self._by_quantity[id(quantity)]

    def _make(self, quantity: Quantity) -> Node:
        sources = {key: self._part(link) if isinstance(link, Part)
                   else self._by_quantity[id(link)] for key, link in quantity.links.items()}
        given = {key: point(value) for key, value in quantity.operands.items()
                 if key not in sources}
        rounded = quantity.rounded if quantity.rounded is not None else (
            self.carry if quantity.formula is not None else None)
        signature = self._signature(quantity, sources)
        if signature is not None and signature in self._canonical:
            return self._canonical[signature]
        node = Node(len(self.nodes), quantity, sources, given, rounded)
        if quantity.formula is not None:
            try:
                node.compiled = compile_formula(quantity.formula)
            except CannotEvaluate:
                node.compiled = None
        self.nodes.append(node)
        if signature is not None:
            self._canonical[signature] = node
        return node

    def _part(self, part: Part) -> Node:
        """The node of one entry of a vector or matrix line."""
        of = self._by_quantity[id(part.of)]
        signature = ("part", of.index, part.index)
        if signature not in self._canonical:
            value = np.asarray(part.of.value, dtype=float)[part.index]
            entry = Quantity(part.of.key, part.of.role, part.of.symbol, float(value))
            node = Node(len(self.nodes), entry, {"of": of}, {}, None, element=part.index)
            self.nodes.append(node)
            self._canonical[signature] = node
        return self._canonical[signature]

    def _signature(self, quantity: Quantity, sources: dict[str, Node]) -> tuple | None:
        """What a line computes, from what: equal signatures are the same value."""
        if quantity.formula is None:
            if sources and quantity.rounded is not None:
                return ("round", quantity.rounded, *(n.index for n in sources.values()))
            return None
        try:
            shape = _shape(quantity.formula, quantity, sources)
        except TypeError:
            return None
        return (shape, quantity.rounded, self.carry)

    def _find_cuts(self) -> None:
        """Where a student may have written a line that some of a formula's operands combine
        into (∂L/∂z₃ for ∂L/∂a₃·σ'(z₃)), the formula rewritten to use it."""
        products: dict[tuple, list[Node]] = {}
        for node in self.nodes:
            if node.cells and isinstance(node.formula, E.Mul):
                factors = node.formula.factors
                keys = [_shape(f, node.quantity, node.sources) for f in factors]
                products.setdefault(keys[0], []).append(node)
        if not products:
            return
        for node in self.nodes:
            formula = node.formula
            if formula is None:
                continue
            for mul in _products_in(formula):
                keys = [_shape(f, node.quantity, node.sources) for f in mul.factors]
                have = Counter(keys)
                for key in set(keys):
                    for other in products.get(key, ()):
                        if other is node or other.index >= node.index:
                            continue
                        assert isinstance(other.formula, E.Mul)
                        theirs = Counter(_shape(f, other.quantity, other.sources)
                                         for f in other.formula.factors)
                        if theirs == have and mul is formula:
                            continue  # the same formula: nothing to cut
                        if any(have[k] < n for k, n in theirs.items()):
                            continue
                        leaf_key = f"cut:{other.index}"
                        rest = list(mul.factors)
                        for k, n in theirs.items():
                            for _ in range(n):
                                rest.pop([_shape(f, node.quantity, node.sources)
                                          for f in rest].index(k))
                        leaf = E.Ref(other.quantity.symbol, leaf_key)
                        replaced = E.Mul((leaf, *rest)) if rest else leaf
                        node.cuts.append((_replace(formula, mul, replaced), leaf_key, other))

    # -- grading ---------------------------------------------------------------------------
    def grade(self, answers: Answers, options: CheckOptions | None = None) -> Report:
        options = options or CheckOptions()
        written = _group(answers.entries)
        states: list[_State] = []
        verdicts: list[CellVerdict] = []
        memo: dict[int, float | np.ndarray] = {}  # "expected from yours", computed lazily
        for node in self.nodes:
            derived, unrounded, signature = self._derive(node, states)
            mine = [(cell, entries) for cell in node.cells
                    if (entries := written.get(cell.address)) is not None]
            if not mine:
                states.append(_State(derived))
                continue
            judged = [self._judge(node, cell, entries, derived, states, options, written,
                                  unrounded, signature, memo) for cell, entries in mine]
            for cell_verdicts, _ in judged:
                verdicts.extend(cell_verdicts)
            states.append(judged[0][1])
        verdicts.sort(key=lambda v: self._order(v.address))
        return Report(self.info, answers.source, self.run.label, verdicts, options,
                      list(answers.ignored))

    def _order(self, address: Address) -> tuple:
        return (self._positions.get(address.whole(), 0), address.index)

    def _derive(self, node: Node, states: list[_State]
                ) -> tuple[list[Span], list[Span], tuple | None]:
        """The ranges the formula gives over the student's operands, the ranges before
        carry rounding (a student who truncates where the problem rounds made a rounding
        slip), and for a number, the signature of its operands' readings (equal signatures
        give equal ranges)."""
        if node.element is not None:
            state = states[node.sources["of"].index]
            entries = [s.element(node.element) for s in state.readings]
            return entries, entries, None
        if node.formula is None:
            if node.sources and node.rounded is not None:
                (source,) = node.sources.values()
                state = states[source.index]
                return [_round(s, node.rounded) for s in state.readings], state.readings, None
            value = point(node.key_value)
            return [value], [value], None
        if not node.shape:  # a class writes the same numbers often: one evaluation each
            signature = (node.index, *((r.lo, r.hi) for i in node.source_indexes
                                       for r in states[i].readings))
            found = self._derived.get(signature)
            if found is None:
                if len(self._derived) > 500_000:
                    self._derived.clear()
                    self._weighed.clear()
                found = self._derived[signature] = self._derive_formula(node, states)
            return found[0], found[1], signature
        return (*self._derive_formula(node, states), None)

    def _derive_formula(self, node: Node, states: list[_State]
                        ) -> tuple[list[Span], list[Span]]:
        try:
            if node.compiled is None or node.formula is None:
                raise CannotEvaluate("formula")
            readings = self._evaluate_all(node.formula, node, states)
        except (CannotEvaluate, ValueError, FloatingPointError):
            value = point(node.key_value)
            return [value], [value]
        if node.rounded is None:
            return readings, readings
        return [_round(s, node.rounded) for s in readings], readings

    def _yours(self, node: Node, states: list[_State], memo: dict[int, float | np.ndarray]
               ) -> float | np.ndarray:
        """The value of a line at the student's numbers as written: what they wrote where
        they wrote it, else its formula at the values of its operands (computed only for
        the numbers a report explains, and kept in the document's ``memo``)."""
        stack = [node]
        while stack:
            current = stack[-1]
            if current.index in memo:
                stack.pop()
                continue
            pending = [s for s in current.sources.values() if s.index not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            memo[current.index] = self._point(current, states, memo)
        return memo[node.index]

    def _point(self, node: Node, states: list[_State], memo: dict[int, float | np.ndarray]
               ) -> float | np.ndarray:
        if node.element is not None:
            value: float | np.ndarray = float(
                np.asarray(memo[node.sources["of"].index])[node.element])
        elif node.formula is None:
            if node.sources and node.rounded is not None:
                (source,) = node.sources.values()
                value = _round_value(memo[source.index], node.rounded)
            else:
                value = node.key_value
        else:
            try:
                if node.compiled is None:
                    raise CannotEvaluate("formula")
                env = dict(node.given)
                for key, index in node.source_list:
                    env[key] = point(memo[index])
                value = node.compiled(env).lo
                if node.rounded is not None:
                    value = _round_value(value, node.rounded)
            except (CannotEvaluate, ValueError, FloatingPointError):
                value = node.key_value
        written = states[node.index].written if node.index < len(states) else None
        if written is None:
            return value
        if isinstance(written, np.ndarray):
            return np.where(np.isnan(written), value, written)
        return written

    def _evaluate_all(self, formula: E.Expr, node: Node, states: list[_State],
                      extra: dict[str, Node] | None = None) -> list[Span]:
        """The formula's range for each combination of its operands' readings."""
        if extra is None and formula is node.formula and node.compiled is not None:
            env = dict(node.given)
            branching = False
            for key, index in node.source_list:
                readings = states[index].readings
                env[key] = readings[0]
                if len(readings) > 1:
                    branching = True
            if not branching:  # one reading each: the common case, one evaluation
                return [node.compiled(env)]
        sources = dict(node.sources)
        if extra:
            sources.update(extra)
        choices = {key: states[n.index].readings for key, n in sources.items()}
        several = [key for key, options in choices.items() if len(options) > 1]
        combos = math.prod(len(choices[k]) for k in several)
        if combos > MAX_COMBINATIONS:
            for key in several:
                merged = choices[key][0]
                for other in choices[key][1:]:
                    merged = merged.hull(other)
                choices[key] = [merged]
            several = []
        base = dict(node.given)
        base.update({key: options[0] for key, options in choices.items()})
        run = node.compiled if formula is node.formula and node.compiled is not None \
            else compile_formula(formula)
        if not several:
            return [run(base)]
        out = []
        for picked in itertools.product(*(choices[k] for k in several)):
            env = dict(base)
            env.update(zip(several, picked))
            out.append(run(env))
        return out

    def _judge(self, node: Node, cell: Cell, entries: dict[tuple[int, ...], Written],
               derived: list[Span], states: list[_State], options: CheckOptions,
               written: dict[Address, dict[tuple[int, ...], Written]],
               unrounded: list[Span], signature: tuple | None,
               memo: dict[int, float | np.ndarray]) -> tuple[list[CellVerdict], _State]:
        """The verdicts of a cell's written numbers and what the cell stands for downstream."""
        key = node.key_value
        shape = node.shape
        exact = self.carry is not None
        verdicts: list[CellVerdict] = []
        as_written = list(derived)  # entries replaced one by one below
        should_have = list(derived)
        any_wrong = False
        for index, w in (sorted(entries.items()) if len(entries) > 1 else entries.items()):
            key_e = float(np.asarray(key)[index]) if shape else float(key)
            spans = [s.element(index) for s in derived] if shape else derived
            base = CellVerdict(cell.address.at(index), cell.quantity.symbol, w.text, key_e,
                               None, "missing", None, [], options.points_of(
                                   cell.address.section), 0.0, w.line)
            if len(spans) == 1 and node.formula is not None:
                base.expected_range = (float(spans[0].lo), float(spans[0].hi))
            elif spans and node.formula is not None:
                base.expected_range = (min(float(s.lo) for s in spans),
                                       max(float(s.hi) for s in spans))
            if w.value is None:
                verdicts.append(base)
                continue
            cached = signature is not None and not node.cuts
            weighed = self._weighed.get((signature, w.text)) if cached else None
            if weighed is None:
                weighed = self._weigh(node, w, key_e, spans, unrounded, index, states, exact)
                if cached:
                    self._weighed[(signature, w.text)] = weighed
            verdict, middle, reading = weighed
            if middle is not None:  # the value from the operands that explain v
                base.from_yours = middle
            else:  # the formula at the student's numbers as written, when first asked for
                base.later = self._later_yours(node, states, index, memo)
            base.verdict = verdict
            base.score = base.points * options.credit(verdict)
            if verdict == "wrong":
                any_wrong = True
                base.diagnosis = self._diagnose(node, w, key_e, spans, index, states)
            if verdict != "correct":  # "from your …" is only written for these
                base.operands = self._operands(node, states, written, memo)
            verdicts.append(base)
            if not shape:  # a number: its reading replaces the formula's ranges
                as_written = [reading]
                if verdict != "wrong":
                    should_have = [reading]
                continue
            as_written = [_set(s, index, reading, shape) for s in as_written]
            if verdict != "wrong":
                should_have = [_set(s, index, reading, shape) for s in should_have]
        readings = as_written + (should_have if any_wrong else [])
        return verdicts, _State(readings, _written_values(entries, shape))

    def _later_yours(self, node: Node, states: list[_State], index: tuple[int, ...],
                     memo: dict[int, float | np.ndarray]) -> Callable[[], float]:
        """A function giving the formula's value at the student's numbers (the states and
        the memo stay as this document left them)."""

        def value() -> float:
            yours = self._operand_values(node, states, memo)
            return float(np.asarray(yours)[index]) if index else float(yours)

        return value

    def _operand_values(self, node: Node, states: list[_State],
                        memo: dict[int, float | np.ndarray]) -> float | np.ndarray:
        """The formula at the student's numbers as written (its own written value aside)."""
        for source in node.sources.values():
            self._yours(source, states, memo)
        if node.formula is None or node.compiled is None:
            return node.key_value
        try:
            env = dict(node.given)
            for key, index in node.source_list:
                env[key] = point(memo[index])
            value = node.compiled(env).lo
        except (CannotEvaluate, ValueError, FloatingPointError):
            return node.key_value
        return _round_value(value, node.rounded) if node.rounded is not None else value

    def _weigh(self, node: Node, w: Written, key: float, spans: list[Span],
               unrounded: list[Span], index: tuple[int, ...], states: list[_State],
               exact: bool) -> tuple[str, float | None, Span]:
        """(verdict, the middle of the range that explains the number or None, what the
        number stands for downstream), from the number and the ranges alone (and, where
        the formula has cuts, the states)."""
        v, h = float(w.value or 0.0), w.half_unit
        correct = abs(v - key) <= h + 1e-12 * abs(key)
        if len(spans) == 1:
            matching = spans[0] if spans[0].contains(v, h) else None
        else:
            matching = next((s for s in spans if s.contains(v, h)), None)
        if matching is None and node.cuts and not correct:
            matching = next((s.element(index) for s in self._cut_readings(node, states)
                             if s.element(index).contains(v, h)), None)
        if correct:
            verdict = "correct"
        elif matching is not None:
            verdict = "carried"
        elif _rounded_wrong(v, w, [point(key), *spans,
                                   *((s.element(index) for s in unrounded) if index
                                     else unrounded)]):
            verdict = "rounding"
        else:
            verdict = "wrong"
        middle = None if matching is None else float(matching.mid)
        if exact:  # paper arithmetic with carry_decimals carries what is written
            reading = point(v)
        elif middle is not None:  # v, or the unrounded value behind it
            reading = point(v).hull(point(middle))
        else:  # a slip is carried as written
            reading = Span.around(v, h)
        return verdict, middle, reading

    def _cut_readings(self, node: Node, states: list[_State]) -> list[Span]:
        out: list[Span] = []
        for formula, leaf_key, other in node.cuts:
            try:
                spans = self._evaluate_all(formula, node, states, {leaf_key: other})
            except (CannotEvaluate, ValueError):
                continue
            if node.rounded is not None:
                spans = [_round(s, node.rounded) for s in spans]
            out.extend(spans)
        return out

    def _operands(self, node: Node, states: list[_State],
                  written: dict[Address, dict[tuple[int, ...], Written]],
                  memo: dict[int, float | np.ndarray]) -> list[Operand]:
        """The student's numbers the formula used, for "from your z₃ = …" (scalars only)."""
        out = []
        for key, source in node.sources.items():
            value = self._yours(source, states, memo)
            if isinstance(value, np.ndarray):
                continue
            symbol = node.symbols.get(key)
            if symbol is None:
                symbol = node.symbols[key] = _leaf_symbol(node.formula, key) or \
                    source.quantity.symbol
            out.append(Operand(symbol, float(value),
                               any(c.address in written for c in source.cells)))
        return out

    # -- diagnosis -------------------------------------------------------------------------
    def _diagnose(self, node: Node, w: Written, key: float, spans: list[Span],
                  index: tuple[int, ...], states: list[_State]) -> str | None:
        """The one simple mistake that explains a wrong number, if one does."""
        v, h = float(w.value or 0.0), w.half_unit
        targets = [point(key), *spans]

        def explained(value: float) -> bool:
            return any(t.contains(value, h) for t in targets)

        if v != 0 and explained(-v):
            return "sign"
        if self._mutated(node, states, index, _sign_variants, v, h):
            return "sign"
        for power in (1, 2, 3, -1, -2, -3):
            if explained(v / 10.0 ** power):
                return "decimal"
        if w.text is not None and any(
                explained(value) for value in _digit_swaps(w.text)):
            return "digits"
        for factor in self._factors(node):
            if explained(v / factor):
                return "factor"
        if self._mutated(node, states, index, _dropped_factors, v, h):
            return "factor"
        if self._stale(node, states, index, v, h):
            return "stale"
        return None

    def _factors(self, node: Node) -> list[float]:
        """2, ½, and the run's η and n (and their inverses) as whole-value factors."""
        out = [2.0, 0.5]
        eta = self.run.settings.get("learning_rate")
        n = next((float(s.lo) for k, s in node.given.items() if k in ("n", "N")), None)
        for f in (eta, n):
            if isinstance(f, (int, float)) and f not in (0, 1) and math.isfinite(f):
                out += [float(f), 1.0 / float(f)]
        return out

    def _mutated(self, node: Node, states: list[_State], index: tuple[int, ...], variants,
                 v: float, h: float) -> bool:
        formula = node.formula
        if formula is None:
            return False
        return any(self._explains(variant, node, states, index, v, h)
                   for variant in variants(formula))

    def _explains(self, formula: E.Expr, node: Node, states: list[_State],
                  index: tuple[int, ...], v: float, h: float) -> bool:
        """Whether ``formula`` (a variant of the node's) over these states gives v."""
        try:
            spans = self._evaluate_all(formula, node, states)
        except (CannotEvaluate, ValueError):
            return False
        if node.rounded is not None:
            spans = [_round(s, node.rounded) for s in spans]
        return any(s.element(index).contains(v, h) for s in spans)

    def _stale(self, node: Node, states: list[_State], index: tuple[int, ...], v: float,
               h: float) -> bool:
        """The value before an update: a parameter left as it was, or a formula that used a
        parameter's previous value."""
        quantity = node.quantity
        if quantity.role is Role.PARAM and isinstance(quantity.symbol, E.Sym):
            own = quantity.symbol.key
            before = node.sources.get(own)
            readings = states[before.index].readings if before is not None else \
                [node.given[own]] if own in node.given else []
            if any(r.element(index).contains(v, h) for r in readings):
                return True
        formula = node.formula
        if formula is None:
            return False
        for source in node.sources.values():
            if source.quantity.role is not Role.PARAM:
                continue
            if not isinstance(source.quantity.symbol, E.Sym):
                continue
            own = source.quantity.symbol.key
            earlier = source.sources.get(own)
            previous = states[earlier.index].readings if earlier is not None else \
                [source.given[own]] if own in source.given else []
            for reading in previous:
                env_states = list(states)
                env_states[source.index] = _State([reading])
                if self._explains(formula, node, env_states, index, v, h):
                    return True
        return False


# ----------------------------------------------------------------------------------- helpers


def _group(entries: dict[Address, Written]) -> dict[Address, dict[tuple[int, ...], Written]]:
    grouped: dict[Address, dict[tuple[int, ...], Written]] = {}
    for address, written in entries.items():
        grouped.setdefault(address.whole(), {})[address.index] = written
    return grouped


def _hashable(value: object) -> object:
    if isinstance(value, np.ndarray):
        return (value.shape, tuple(value.ravel().tolist()))
    if isinstance(value, (int, float, np.floating)):
        return float(value)
    raise TypeError(type(value).__name__)


def _shape(node: E.Expr, quantity: Quantity, sources: dict[str, Node]) -> tuple:
    """A formula as a hashable tree, each keyed leaf replaced by what it stands for."""
    if isinstance(node, KEYED):
        key = node.key
        if key in sources:
            return ("q", sources[key].index)
        if key in quantity.operands:
            return ("v", _hashable(quantity.operands[key]))
        return ("?", key)
    if isinstance(node, E.Num):
        return ("n", float(node.value))
    if isinstance(node, E.Text):
        return ("t", node.text)
    if isinstance(node, E.Func):
        return ("f", node.name, *(_shape(a, quantity, sources) for a in node.args))
    if isinstance(node, E.Compare):
        return ("c", node.op, _shape(node.lhs, quantity, sources),
                _shape(node.rhs, quantity, sources))
    if isinstance(node, E.Sum):
        return ("s", *(_shape(t, quantity, sources) for t in node.terms))
    return (type(node).__name__, *(_shape(c, quantity, sources) for c in node.children()))


def _products_in(node: E.Expr) -> Iterable[E.Mul]:
    if isinstance(node, E.Mul):
        yield node
    if isinstance(node, KEYED):
        return
    for child in node.children():
        yield from _products_in(child)


def _replace(node: E.Expr, target: E.Expr, by: E.Expr) -> E.Expr:
    """The tree with the subtree ``target`` (by identity) replaced."""
    if node is target:
        return by
    if isinstance(node, KEYED) or not node.children():
        return node
    return _rebuild(node, [_replace(c, target, by) for c in node.children()])


def _rebuild(node: E.Expr, children: list[E.Expr]) -> E.Expr:
    if isinstance(node, E.Add):
        return E.Add(tuple(children))
    if isinstance(node, E.Mul):
        return E.Mul(tuple(children))
    if isinstance(node, E.Neg):
        return E.Neg(children[0])
    if isinstance(node, E.Div):
        return E.Div(children[0], children[1])
    if isinstance(node, E.Pow):
        return E.Pow(children[0], children[1])
    if isinstance(node, E.Func):
        return E.Func(node.name, tuple(children))
    if isinstance(node, E.Compare):
        return E.Compare(children[0], node.op, children[1])
    if isinstance(node, E.Sum):
        return E.Sum(node.index, node.upper, node.body, tuple(children)) if node.terms \
            else node
    return node


def _sign_variants(formula: E.Expr) -> Iterable[E.Expr]:
    """The formula with one sign flipped: a term of a sum negated, or a minus dropped."""
    for node in _walk(formula):
        if isinstance(node, E.Add):
            for i, term in enumerate(node.terms):
                flipped = term.arg if isinstance(term, E.Neg) else E.Neg(term)
                terms = list(node.terms)
                terms[i] = flipped
                yield _replace(formula, node, E.Add(tuple(terms)))
        elif isinstance(node, E.Neg):
            yield _replace(formula, node, node.arg)


def _dropped_factors(formula: E.Expr) -> Iterable[E.Expr]:
    """The formula with one constant factor left out (η, λ/n, 1/n, 2, ½)."""
    for node in _walk(formula):
        if isinstance(node, E.Mul) and len(node.factors) > 1:
            for i, factor in enumerate(node.factors):
                if _constant(factor):
                    rest = node.factors[:i] + node.factors[i + 1:]
                    yield _replace(formula, node, rest[0] if len(rest) == 1 else E.Mul(rest))


def _constant(node: E.Expr) -> bool:
    if isinstance(node, E.Num):
        return True
    if isinstance(node, E.Sym):
        return node.key in ("eta", "lambda", "n", "N", "m") or node.base in ("η", "λ")
    if isinstance(node, E.Div):
        return _constant(node.num) and _constant(node.den)
    return False


def _walk(node: E.Expr) -> Iterable[E.Expr]:
    yield node
    if isinstance(node, KEYED):
        return
    for child in node.children():
        yield from _walk(child)


def _leaf_symbol(formula: E.Expr | None, key: str) -> E.Expr | None:
    """How the formula writes the operand ``key`` (z₃ for a Ref to z₃)."""
    if formula is None:
        return None
    for node in _walk(formula):
        if isinstance(node, KEYED) and node.key == key:
            return node.shown if isinstance(node, E.Ref) else node
    return None


def _digit_swaps(text: str) -> Iterable[float]:
    """The numbers ``text`` becomes with two adjacent digits swapped."""
    chars = list(text)
    for i in range(len(chars) - 1):
        if chars[i].isdigit() and chars[i + 1].isdigit() and chars[i] != chars[i + 1]:
            swapped = chars[:]
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            try:
                yield float("".join(swapped).replace("−", "-"))
            except ValueError:
                continue


def _rounded_wrong(v: float, w: Written, spans: list[Span]) -> bool:
    """v is a value of one of the ranges rounded the wrong way at v's precision: truncated,
    or rounded up instead of to nearest (any x with |x − v| < one unit of v's last digit).
    The spans are of one number each."""
    unit = w.unit
    return any(float(s.lo) < v + unit and float(s.hi) > v - unit for s in spans)


def _round(span: Span, decimals: int) -> Span:
    carry = Carry(decimals)
    if isinstance(span.lo, np.ndarray) and isinstance(span.hi, np.ndarray):
        return Span(carry.array(span.lo), carry.array(span.hi), span.column)
    return Span(carry(float(span.lo)), carry(float(span.hi)))


def _round_value(value: float | np.ndarray, decimals: int) -> float | np.ndarray:
    if isinstance(value, np.ndarray):
        return Carry(decimals).array(value)
    return round_half_away(value, decimals)


def _set(span: Span, index: tuple[int, ...], reading: Span, shape: tuple[int, ...]) -> Span:
    """``span`` with entry ``index`` replaced by ``reading`` (the whole span for a number)."""
    if not shape:
        return reading
    lo, hi = np.array(span.lo, dtype=float), np.array(span.hi, dtype=float)
    lo[index], hi[index] = float(np.min(reading.lo)), float(np.max(reading.hi))
    return Span(lo, hi, span.column)


def _written_values(entries: dict[tuple[int, ...], Written], shape: tuple[int, ...]
                    ) -> float | np.ndarray | None:
    """A cell's written numbers: a number, an array (nan where blank), or None."""
    if not shape:
        w = entries.get(())
        return w.value if w is not None else None
    out = np.full(shape, np.nan)
    for index, w in entries.items():
        if w.value is not None:
            out[index] = w.value
    return out
