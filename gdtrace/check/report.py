"""What ``gdtrace check`` found: one verdict per answered number, a summary, the root slip.

Plain data, like the trace: the grader fills it in, the report formats (text, Markdown, JSON,
CSV, Gradescope) read it. The JSON form is fixed by the shared spec answer-format.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from gdtrace.check.cells import Address
from gdtrace.formula.expr import Expr
from gdtrace.trace import ProblemInfo

VERDICTS = ("correct", "carried", "rounding", "wrong", "missing")
DIAGNOSES = ("sign", "decimal", "factor", "digits", "stale")


@dataclass(frozen=True)
class CheckOptions:
    """How answers are scored: error carried forward (``--no-ecf`` turns it off), the credit
    of a rounding slip (0–1), and the points of one number in each section."""

    ecf: bool = True
    rounding_credit: float = 1.0
    points: dict[str, float] = field(default_factory=dict)

    def points_of(self, section: str) -> float:
        return float(self.points.get(section, 1.0))

    def credit(self, verdict: str) -> float:
        """The share of a number's points a verdict earns."""
        if verdict == "correct":
            return 1.0
        if verdict == "carried":
            return 1.0 if self.ecf else 0.0
        if verdict == "rounding":
            return self.rounding_credit
        return 0.0


@dataclass(frozen=True)
class Operand:
    """One number a formula used, as the student had it: for "from your z₃ = −1.54"."""

    symbol: Expr
    value: float
    written: bool  # the student wrote it (else it was recomputed from their earlier numbers)


@dataclass
class CellVerdict:
    """The verdict of one answered number."""

    address: Address
    symbol: Expr  # how the worked solution writes the cell (z₃, ∂L/∂w₁)
    given: str | None  # the text as written; None when written with no value
    expected: float | None  # the key
    from_yours: float | None  # the formula at the student's own numbers (expected_from_yours)
    verdict: str
    diagnosis: str | None = None
    operands: list[Operand] = field(default_factory=list)
    points: float = 1.0
    score: float = 0.0
    line: int | None = None  # where the answers file wrote it
    # the range the formula gives over the student's own numbers (all their readings): the
    # tolerance behind "carried"; None where the line cannot be re-evaluated
    expected_range: tuple[float, float] | None = None
    # computes from_yours when it is first read: a correct number's is rarely asked for, and
    # a class of documents need not pay for it (the grader supplies it)
    later: Callable[[], float] | None = field(default=None, repr=False, compare=False)

    @property
    def expected_from_yours(self) -> float | None:
        """The formula evaluated with the student's own numbers (error carried forward)."""
        if self.later is not None:
            self.from_yours, self.later = self.later(), None
        return self.from_yours


@dataclass
class Report:
    """One answers document checked against one run of the problem."""

    problem: ProblemInfo
    answers: str  # the answers file as named on the command line
    run: str  # the run's label
    cells: list[CellVerdict]
    options: CheckOptions = field(default_factory=CheckOptions)
    notes: list[str] = field(default_factory=list)  # what was read but not graded

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(cell.verdict for cell in self.cells)
        return {verdict: found.get(verdict, 0) for verdict in VERDICTS}

    @property
    def score(self) -> float:
        return sum(cell.score for cell in self.cells)

    @property
    def max_score(self) -> float:
        return sum(cell.points for cell in self.cells)

    @property
    def wrong(self) -> list[CellVerdict]:
        return [cell for cell in self.cells if cell.verdict == "wrong"]

    @property
    def root(self) -> CellVerdict | None:
        """The first wrong number in trace order: where the trouble starts."""
        return next(iter(self.wrong), None)


@dataclass
class CellTally:
    """How a class did on one number of the sheet."""

    address: Address
    symbol: Expr
    answered: int = 0
    wrong: int = 0
    carried: int = 0
    rounding: int = 0
    missing: int = 0


@dataclass
class ClassReport:
    """Several answers documents of one problem: each report and, per number, the tally."""

    problem: ProblemInfo
    reports: list[Report]

    def tallies(self) -> list[CellTally]:
        """Per number, in trace order, how many students got it wrong, carried or missed it."""
        by_address: dict[Address, CellTally] = {}
        for report in self.reports:
            for cell in report.cells:
                tally = by_address.setdefault(cell.address, CellTally(cell.address, cell.symbol))
                tally.answered += 1
                if cell.verdict in ("wrong", "carried", "rounding", "missing"):
                    setattr(tally, cell.verdict, getattr(tally, cell.verdict) + 1)
        return list(by_address.values())

    @property
    def mean_score(self) -> float:
        return sum(r.score for r in self.reports) / len(self.reports) if self.reports else 0.0

    @property
    def mean_share(self) -> float:
        """The mean of each file's score over its own maximum (files answer different parts)."""
        shares = [r.score / r.max_score for r in self.reports if r.max_score]
        return sum(shares) / len(self.reports) if self.reports else 0.0

    @property
    def with_wrong(self) -> int:
        """How many files have a wrong number."""
        return sum(1 for r in self.reports if r.wrong)

    def struggles(self, limit: int = 10) -> list[CellTally]:
        """The numbers most students got wrong (then carried), most first."""
        ranked = [t for t in self.tallies() if t.wrong or t.carried]
        ranked.sort(key=lambda t: (-t.wrong, -t.carried))
        return ranked[:limit]
