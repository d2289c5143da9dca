"""``gdtrace compare``: the same problem under several settings, and how the results differ."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np

from gdtrace.problem.model import Problem
from gdtrace.trace import Comparison, Contrast, ParamChange, Run, Trace

BIAS_NAME = re.compile(r"^b\d*$")  # b (regressions), b1, b2 … (network layers and nodes)
SETTING_LABELS = {"lam": "λ", "learning_rate": "η", "update": "update"}
MAX_RUNS = 100
"""Most runs one comparison makes (each a worked solution, side by side in one table)."""


def check_run_count(count: int) -> None:
    """Refuse a comparison of more runs than :data:`MAX_RUNS`, before running any."""
    from gdtrace.errors import UsageError

    if count > MAX_RUNS:
        raise UsageError(f"this comparison would make {count} runs, more than {MAX_RUNS}; "
                         "give fewer values (every combination of the lists is a run)")


def configurations(problem: Problem, variations: dict[str, list[object]]) -> list[
        tuple[str, Problem]]:
    """"As written" first, then one run per combination of the varied settings that differs
    from it (``--lr 0.1,0.01`` on a file with η = 0.1 adds only the η = 0.01 run)."""
    runs: list[tuple[str, Problem]] = [("as written", problem)]
    varied = {name: values for name, values in variations.items() if values}
    check_run_count(math.prod(len(values) for values in varied.values()))
    names = list(varied)
    for combination in itertools.product(*(varied[name] for name in names)):
        changes = dict(zip(names, combination))
        if all(getattr(problem, name) == value for name, value in changes.items()):
            continue
        label = ", ".join(f"{SETTING_LABELS[name]} = {_short(value)}"
                          for name, value in changes.items())
        runs.append((label, problem.with_overrides(**changes)))
    return runs


def _short(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _size(value: object) -> float:
    """|w| for a number, the Frobenius norm ‖W‖ for a matrix or vector."""
    return float(np.linalg.norm(np.asarray(value, dtype=float)))


def comparison_of(runs: list[Run]) -> Comparison:
    """Differences of every later run from the first, parameter by parameter."""
    baseline = runs[0]
    contrasts = []
    with np.errstate(all="ignore"):  # a diverged run's inf or nan is shown, not warned about
        for run in runs[1:]:
            contrasts.append(_contrast(baseline, run))
    return Comparison(baseline.label, contrasts)


def _contrast(baseline: Run, run: Run) -> Contrast:
    """One run against the baseline: each parameter's change, the loss difference."""
    changes = []
    for name in baseline.param_names:
        before, after = baseline.final.get(name), run.final.get(name)
        if before is None or after is None or np.shape(before) != np.shape(after):
            continue  # a parameter one of the runs does not have
        changes.append(ParamChange(name, before, after, np.subtract(after, before),
                                   _size(after) - _size(before),
                                   bias=BIAS_NAME.match(name) is not None))
    loss_difference = None
    if baseline.final_loss is not None and run.final_loss is not None:
        difference = run.final_loss - baseline.final_loss
        loss_difference = difference if math.isfinite(difference) else None
    return Contrast(run.label, baseline.label, changes, loss_difference)


def compare(configs: list[tuple[str, Problem]]) -> Trace:
    from gdtrace.solvers import solve_runs

    trace = solve_runs(configs)
    trace.comparison = comparison_of(trace.runs)
    return trace


def compare_methods(problem: Problem, methods: list[str], l2: list[float],
                    learning_rate: float | None = None, epochs: int | None = None) -> Trace:
    """``compare --methods ols,ridge,gd`` and the ridge path ``--l2 0.1,1,10``: the same data
    fitted each way, side by side, each run's final loss being its RMSE."""
    from gdtrace.solvers.closed_form import method_runs, method_variants, methods_header
    from gdtrace.trace import ProblemInfo

    variants = method_variants(problem, methods, l2, learning_rate, epochs)
    check_run_count(len(variants))
    runs, warnings = method_runs(variants)
    info = ProblemInfo(problem.title, problem.model, problem.source)
    trace = Trace(info, methods_header(problem), runs, warnings)
    trace.comparison = comparison_of(runs)
    return trace
