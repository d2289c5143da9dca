"""``--require``: conditions a variant must meet, checked on its solved trace.

Each check returns ``None`` when the variant passes, else a short reason (shown when no draw
passes, and counted by ``--report``). ``distinct`` is checked by the generator, which sees the
other variants.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from gdtrace.errors import UsageError
from gdtrace.formula.expr import Add, Div, Func, Num
from gdtrace.trace import Quantity, Run, Trace

SATURATION = 1e-3  # σ within this of 0 or 1 cannot be worked by hand to 4 decimals
NICE_MAX = 1000.0  # |value| below this …
NICE_MIN = 1e-4  # … and, unless 0, at least this: not 0 (nor an exponent) at 4 decimals
DIVERGING = {"diverging", "non_finite", "unstable_learning_rate"}
NAMES = ("converges", "diverges", "no_saturation", "nice", "distinct")
_BOUND = re.compile(r"(final_loss|final\.[^<>=\s]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)")

Check = Callable[[Trace], "str | None"]


@dataclass(frozen=True)
class Requirement:
    name: str
    check: Check | None  # None: checked by the generator (distinct)


def quantities(run: Run) -> Iterator[Quantity]:
    """Every written line of a run: epoch losses, per-sample rows, step lines, blocks."""
    for epoch in run.epochs:
        if epoch.loss_line is not None:
            yield epoch.loss_line
        for step in epoch.steps:
            for row in step.rows:
                yield from row
            yield from step.quantities
    for block in run.blocks:
        yield from block.quantities


def _losses(run: Run) -> list[float]:
    values = [e.loss for e in run.epochs if e.loss is not None]
    return [float(v) for v in values] + ([float(run.final_loss)] if run.final_loss is not None
                                         else [])


def converges(trace: Trace) -> str | None:
    """Finite, no divergence warning, and the loss ends below where it started."""
    bad = [w.code for w in trace.warnings if w.code in DIVERGING]
    if bad:
        return f"warning {bad[0]}"
    run = trace.runs[0]
    if run.stopped_early:
        return "stopped early (a value became non-finite)"
    losses = _losses(run)
    if not all(math.isfinite(v) for v in losses):
        return "a loss is not finite"
    if len(losses) >= 2 and not losses[-1] < losses[0]:
        return f"loss {losses[0]:.4g} → {losses[-1]:.4g} did not fall"
    return None


def diverges(trace: Trace) -> str | None:
    return "converges" if converges(trace) is None else None


def _sigmoid(quantity: Quantity) -> bool:
    """σ(z) by key, as σ(…), or written out as 1/(1 + exp(−u)) (network layers)."""
    formula = quantity.formula
    if quantity.key == "sigma" or (isinstance(formula, Func) and formula.name == "σ"):
        return True
    return (isinstance(formula, Div) and isinstance(formula.num, Num) and formula.num.value == 1
            and isinstance(formula.den, Add) and len(formula.den.terms) == 2
            and isinstance(formula.den.terms[0], Num) and formula.den.terms[0].value == 1
            and isinstance(formula.den.terms[1], Func) and formula.den.terms[1].name == "exp")


def no_saturation(trace: Trace) -> str | None:
    """No σ(z) within 1e-3 of 0 or 1."""
    for quantity in quantities(trace.runs[0]):
        if _sigmoid(quantity):
            value = np.asarray(quantity.value, dtype=float)
            near = np.minimum(np.abs(value), np.abs(1 - value))
            if np.any(near < SATURATION):
                return f"σ = {float(value.flat[int(np.argmin(near))]):.6g} saturated"
    return None


def nice(trace: Trace) -> str | None:
    """Every answer cell finite, below 1000 in size and, unless 0, at least 0.0001."""
    from gdtrace.check.cells import cells_of

    for cell in cells_of(trace.runs[0]):
        for value in np.asarray(cell.quantity.value, dtype=float).flat:
            size = abs(float(value))
            if not math.isfinite(size) or size >= NICE_MAX or 0 < size < NICE_MIN:
                return f"{cell.address.label()} = {float(value):.4g} is not nice"
    return None


def _bound(name: str, op: str, limit: float) -> Check:
    def check(trace: Trace) -> str | None:
        run = trace.runs[0]
        value: float | np.ndarray | None
        if name == "final_loss":
            value = run.final_loss
        else:
            key = name.removeprefix("final.")
            if key not in run.final:
                raise UsageError(f"--require {name}: the problem has no final {key!r} (final:"
                                 f" {', '.join(run.final)})")
            value = run.final[key]
        if value is None or np.ndim(value) != 0:
            raise UsageError(f"--require {name}: not a single number")
        number = float(value)
        ok = {"<": number < limit, ">": number > limit, "<=": number <= limit,
              ">=": number >= limit}[op]
        return None if ok else f"{name} = {number:.4g}"

    return check


CHECKS: dict[str, Check] = {"converges": converges, "diverges": diverges,
                            "no_saturation": no_saturation, "nice": nice}


def parse(text: str | None) -> list[Requirement]:
    """``converges,no_saturation,final_loss<0.5`` → requirements; unknown names are errors."""
    out: list[Requirement] = []
    for part in (text or "").split(","):
        word = part.strip()
        if not word:
            continue
        bound = _BOUND.fullmatch(word)
        if word == "distinct":
            out.append(Requirement(word, None))
        elif word in CHECKS:
            out.append(Requirement(word, CHECKS[word]))
        elif bound:
            try:
                limit = float(bound[3])
            except ValueError:
                raise UsageError(f"--require {word}: {bound[3]!r} is not a number") from None
            out.append(Requirement(word, _bound(bound[1], bound[2], limit)))
        else:
            from gdtrace.problem.schema import suggest

            raise UsageError(f"--require: unknown condition {word!r}{suggest(word, NAMES)}"
                             f" (choose from {', '.join(NAMES)}, final_loss<X,"
                             " final.NAME>X)")
    names = {r.name for r in out}
    if {"converges", "diverges"} <= names:
        raise UsageError("--require: converges and diverges exclude each other")
    return out
