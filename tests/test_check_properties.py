"""Properties of check over random problems of every model with steps.

- The dependency graph is sound: every line's formula, evaluated at its operands, gives its
  value, and every link points at a line whose value is the operand it stands for.
- gdtrace's own JSON, rounded to 2–8 decimals, checks with no wrong number.
- A simulated student who slips once (a sign flip, ×10, two digits swapped, a random value)
  and computes everything after it from what they wrote: the slip is the only wrong number,
  with the matching diagnosis, and the numbers computed from it are carried, not wrong.

Examples are derandomized: the same problems every run, so a failure is never flaky.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from check_problems import MODELS, random_problem
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from gdtrace.check import Answers, Grader, check
from gdtrace.check.answers import Written, read_number
from gdtrace.check.cells import Address
from gdtrace.formula.evaluate import value_of
from gdtrace.formula.rounding import Carry, round_half_away
from gdtrace.problem import load_problem_text
from gdtrace.render.json_format import trace_document
from gdtrace.solvers import solve
from gdtrace.trace import Part, Trace

# no shrinking: a failure is reported as drawn, and CI never spends minutes shrinking it
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])
BUNDLED = ["logreg", "linreg", "adam", "backprop", "softmax", "relu_mlp", "sigmoid_mlp",
           "quadratic", "perceptron"]


def solved(text: str) -> Trace:
    return solve(load_problem_text(text, "random.yaml"))


def every_line(trace: Trace):
    """Every line of every run, hidden ones (reached through links) included."""
    seen: set[int] = set()
    for run in trace.runs:
        stack = []
        for epoch in run.epochs:
            if epoch.loss_line is not None:
                stack.append(epoch.loss_line)
            for step in epoch.steps:
                stack += [q for row in step.rows for q in row] + step.quantities
        while stack:
            line = stack.pop()
            if id(line) in seen:
                continue
            seen.add(id(line))
            yield run, line
            stack += [link.of if isinstance(link, Part) else link for link in line.links.values()]


def check_graph(trace: Trace) -> None:
    for run, line in every_line(trace):
        carry = Carry(run.settings.get("carry_decimals"))
        for key, link in line.links.items():
            linked = np.asarray(link.of.value)[link.index] if isinstance(link, Part) \
                else link.value
            if line.formula is None:  # a value carried rounded into the next step
                assert line.rounded is not None and np.allclose(
                    Carry(line.rounded).array(np.asarray(linked)), line.value), line.key
                continue
            assert np.allclose(linked, line.operands[key], rtol=1e-12, atol=0), (line.key, key)
        if line.formula is None:
            continue
        with np.errstate(all="ignore"):
            value = value_of(line.formula, line.operands)
        if not np.all(np.isfinite(value)):
            # ln of a σ that carry rounding made 0 or 1: the solver writes the loss from the
            # stable form instead (glm.loss_value), a documented exception
            continue
        value = carry.array(value) if isinstance(value, np.ndarray) else carry(value)
        assert np.allclose(value, line.value, rtol=1e-9, atol=1e-12), line.key


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_formulas_and_links_reproduce_the_trace(name: str) -> None:
    from gdtrace.api import solve as solve_named

    check_graph(solve_named(name))


@SETTINGS
@given(random_problem())
def test_random_formulas_and_links_reproduce_the_trace(text: str) -> None:
    check_graph(solved(text))


def rounded_document(trace: Trace, decimals: int) -> dict:
    """The JSON document with every number written as text with ``decimals`` decimals."""

    def write(value: object) -> object:
        if isinstance(value, float):
            return f"{value:.{decimals}f}"
        if isinstance(value, list):
            return [write(v) for v in value]
        if isinstance(value, dict):
            return {k: (write(v) if k not in ("step", "epoch", "samples", "title") else v)
                    for k, v in value.items()}
        return value

    document = trace_document(trace)
    run = document["runs"][0]
    return {"epochs": [{"epoch": e["epoch"], "loss": write(e["loss"]),
                        "steps": [write(s) for s in e["steps"]]} for e in run["epochs"]],
            "final": write(run["final"])}


@SETTINGS
@given(random_problem(), st.integers(2, 8))
def test_own_json_rounded_has_no_wrong_number(text: str, decimals: int) -> None:
    trace = solved(text)
    document = rounded_document(trace, decimals)
    assume(all(math.isfinite(float(v)) for v in _numbers(document)))
    report = check(trace, document)
    assert report.counts["wrong"] == 0, [(c.address, c.given, c.expected) for c in report.wrong]
    assert report.counts["correct"] > 0


def _numbers(value: object):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in ("step", "epoch", "samples", "title"):
                yield from _numbers(v)


# ------------------------------------------------------------------------- one slip, carried


def text_of(value: float, digits: int, carry: int | None) -> str:
    """value as the simulated student writes it: ``digits`` significant digits (a tiny
    optimizer state keeps its information), or the problem's carry decimals."""
    if carry is not None:
        return f"{round_half_away(value, carry):.{carry}f}"
    decimals = 0 if value == 0 else max(digits - 1 - math.floor(math.log10(abs(value))), 0)
    decimals = min(decimals, 12)
    return f"{round_half_away(value, decimals):.{decimals}f}"


def mutate(text: str, kind: str, rng: np.random.Generator) -> str | None:
    """The slip: None when this kind of slip cannot change this number."""
    value, decimals = read_number(text) or (0.0, 0)
    if kind == "sign":
        return text[1:] if text.startswith("-") else "-" + text
    if kind == "decimal":
        return f"{value * 10:.{max(decimals - 1, 0)}f}"
    if kind == "digits":
        digits = [i for i in range(len(text) - 1) if text[i].isdigit() and text[i + 1].isdigit()
                  and text[i] != text[i + 1]]
        if not digits:
            return None
        i = digits[int(rng.integers(0, len(digits)))]
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return f"{value + (abs(value) + 1) * rng.choice([-1, 1]) * rng.uniform(3, 9):.{decimals}f}"


def simulate(grader: Grader, digits: int, slip: int, kind: str, rng: np.random.Generator,
             carry: int | None = None) -> tuple[Answers, Address | None, set[int]]:
    """A student who writes every number to ``digits`` significant digits (or the carry
    decimals), computing each from the numbers they wrote before; the ``slip``-th number they
    write is mutated. Returns the answers, the slipped address and the nodes that depend on
    the slip."""
    answers = Answers("simulated")
    have: dict[int, object] = {}
    slipped: Address | None = None
    tainted: set[int] = set()
    count = 0
    for node in grader.nodes:
        if node.element is not None:
            have[node.index] = float(np.asarray(have[node.sources["of"].index])[node.element])
        elif node.formula is None:
            if node.sources and node.rounded is not None:
                (source,) = node.sources.values()
                value = have[source.index]
                have[node.index] = Carry(node.rounded).array(value) \
                    if isinstance(value, np.ndarray) else round_half_away(value, node.rounded)
            else:
                have[node.index] = node.key_value
        else:
            operands = {k: s.lo for k, s in node.given.items()}
            operands |= {k: have[s.index] for k, s in node.sources.items()}
            value = value_of(node.formula, operands)
            if node.rounded is not None:
                value = Carry(node.rounded).array(value) if isinstance(value, np.ndarray) \
                    else round_half_away(value, node.rounded)
            have[node.index] = value
        if any(s.index in tainted for s in node.sources.values()):
            tainted.add(node.index)
        if not node.cells:
            continue
        value = np.asarray(have[node.index], dtype=float)
        written = np.empty_like(value)
        for index in np.ndindex(value.shape):
            if not math.isfinite(float(value[index])):  # the slip broke the arithmetic
                return answers, None, tainted
            text = text_of(float(value[index]), digits, carry)
            written_decimals = read_number(text)[1] if read_number(text) else 0
            unit = 10.0 ** -written_decimals
            if count == slip and abs(float(value[index])) >= 30 * unit:
                changed = mutate(text, kind, rng)
                if changed is not None and abs(float(changed) - float(text)) > 3 * unit:
                    text = changed
                    slipped = node.cells[0].address.at(index)
                    tainted.add(node.index)
            if not math.isfinite(float(text)):
                return answers, None, tainted
            count += 1
            written[index] = float(text)
            for cell in node.cells[:1]:
                answers.entries[cell.address.at(index)] = Written(
                    text, float(text), (read_number(text) or (0.0, 0))[1])
        have[node.index] = float(written) if written.ndim == 0 else written
    return answers, slipped, tainted


EXPECTED = {"sign": "sign", "decimal": "decimal", "digits": "digits", "random": None}


def explanations(kind: str, cell) -> set[str]:
    """The diagnoses that fit a slip: its own, and "decimal" or "sign" when the slip happens
    to be one as well (swapping the digits of 0.10 gives 0.01, a tenth)."""
    out = {EXPECTED[kind]}
    given, original = float(cell.given), cell.expected_from_yours
    if original:
        ratio = abs(given / original)
        if any(math.isclose(ratio, 10.0 ** k, rel_tol=0.02) for k in (-3, -2, -1, 1, 2, 3)):
            out.add("decimal")
        if given * original < 0:
            out.add("sign")
    return out


@SETTINGS
@given(random_problem(), st.integers(3, 6), st.integers(0, 400),
       st.sampled_from(list(EXPECTED)), st.integers(0, 2 ** 31))
def test_one_slip_is_the_only_wrong_number_and_is_carried(text: str, decimals: int, slip: int,
                                                           kind: str, seed: int) -> None:
    trace = solved(text)
    assume(not trace.runs[0].stopped_early)
    grader = Grader(trace.runs[0], trace.problem)
    carry = trace.runs[0].settings.get("carry_decimals")
    # paper arithmetic with carry_decimals writes what it carries
    answers, slipped, tainted = simulate(grader, decimals, slip, kind, np.random.default_rng(seed),
                                         None if carry is None else int(carry))
    assume(slipped is not None)
    report = grader.grade(answers)
    slip_cell = next(c for c in report.cells if c.address == slipped)
    if slip_cell.expected_range is not None:
        # the student's own numbers must pin the slipped line down: an operand written as
        # 0.000 (an optimizer state too small for the digits) makes any value consistent
        low, high = slip_cell.expected_range
        assume(high - low < abs(float(slip_cell.given) - slip_cell.expected_from_yours) / 2)
    wrong = [c.address for c in report.wrong]
    assert wrong == [slipped], [(c.address, c.given, c.expected_from_yours) for c in report.wrong]
    if EXPECTED[kind] is not None:
        assert report.wrong[0].diagnosis in explanations(kind, report.wrong[0])
    assert report.counts["rounding"] == 0
    # the numbers computed from the slip that differ from the key are carried
    downstream = {cell.address for node in grader.nodes if node.index in tainted
                  for cell in node.cells}
    for cell in report.cells:
        if cell.address.whole() in downstream and cell.address != slipped:
            written_decimals = (read_number(cell.given or "0") or (0.0, 0))[1]
            off_key = abs(float(cell.given or 0) - (cell.expected or 0)) > \
                0.5 * 10.0 ** -written_decimals
            assert cell.verdict == ("carried" if off_key else "correct"), cell


@pytest.mark.parametrize("model", MODELS)
def test_every_model_is_covered(model: str) -> None:
    """The strategy draws every model (a guard against a model silently dropping out)."""
    from hypothesis import find

    find(random_problem([model]), lambda text: f'"model": "{model}"' in text,
         settings=settings(database=None, derandomize=True))
