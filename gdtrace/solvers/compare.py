"""``gdtrace compare``: the same problem under several settings, and how the results differ."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np

from gdtrace.errors import UsageError
from gdtrace.problem.model import Problem
from gdtrace.solvers.optimizers import OptimizerConfig
from gdtrace.trace import Comparison, Contrast, ParamChange, Run, Trace

BIAS_NAME = re.compile(r"^b\d*$")  # b (regressions), b1, b2 … (network layers and nodes)
SETTING_LABELS = {"lam": "λ", "learning_rate": "η", "update": "update"}
MAX_RUNS = 100
"""Most runs one comparison makes (each a worked solution, side by side in one table)."""


def check_run_count(count: int) -> None:
    """Refuse a comparison of more runs than :data:`MAX_RUNS`, before running any."""
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
    """Solve each labelled configuration and set the differences from the first."""
    from gdtrace.solvers import solve_runs

    trace = solve_runs(configs)
    trace.comparison = comparison_of(trace.runs)
    return trace


CLOSED_FORM_MODELS = ("ridge", "ols")
"""Models that ``gdtrace compare`` compares by fitting method (:func:`compare_methods`)."""


@dataclass(frozen=True)
class ComparisonPlan:
    """What to vary: every combination of the λ, η and update values is a run, each once per
    optimizer (the file's own first); ``batch_size`` goes to the minibatch runs."""

    lam: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    update: list[str] = field(default_factory=list)
    optimizer: list[str] = field(default_factory=list)
    batch_size: int | None = None

    def variations(self) -> dict[str, list[object]]:
        return {"lam": list(self.lam), "learning_rate": list(self.learning_rate),
                "update": list(self.update)}


def configurations_for(problem: Problem, plan: ComparisonPlan) -> list[tuple[str, Problem]]:
    """The labelled runs of a comparison, each checked by the file's own rules and small
    enough to write out; at least two (the problem as written and one other)."""
    from gdtrace.problem import apply_overrides
    from gdtrace.solvers.streaming import check_work

    variations = plan.variations()
    check_applies(problem, variations)
    optimizers = [apply_overrides(problem, optimizer=name).optimizer for name in plan.optimizer]
    if not any(variations.values()) and not optimizers:
        raise UsageError("say what to compare: --l2, --lr, --update or --optimizer "
                         "(e.g. gdtrace compare --l2 0.5)")
    configs = configurations(problem, variations)
    if plan.batch_size is not None:
        configs = with_batch_size(configs, plan.batch_size)
    if optimizers:
        check_run_count(len(configs) * (len(optimizers) + 1))
        configs = with_optimizers(configs, problem.optimizer, optimizers)
    checked = [(label, apply_overrides(variant)) for label, variant in validated(configs)]
    for _, variant in checked:  # every run of the comparison is a worked solution
        check_work(variant, streaming=False, max_steps=None,
                   advice="compare fewer epochs (--epochs N)")
    if len(checked) < 2:
        raise UsageError("nothing to compare: every value given equals the problem's own "
                         "setting; give a different one (e.g. --l2 0.5)")
    return checked


def with_optimizers(configs: list[tuple[str, Problem]], own: OptimizerConfig,
                    optimizers: list[OptimizerConfig]) -> list[tuple[str, Problem]]:
    """Each configuration once per optimizer; the file's own optimizer keeps the plain label."""
    choices = [own]
    for optimizer in optimizers:
        if optimizer not in choices:
            choices.append(optimizer)
    out = []
    for label, variant in configs:
        for choice in choices:
            if choice == own:
                out.append((label, variant))
                continue
            named = f"optimizer = {choice}"
            out.append((named if label == "as written" else f"{label}, {named}",
                        variant.with_overrides(optimizer=choice)))
    return out


def with_batch_size(configs: list[tuple[str, Problem]], size: int) -> list[tuple[str, Problem]]:
    """``--batch-size`` goes to every minibatch run (checked like the file's key)."""
    from gdtrace.problem import apply_overrides

    if not any(variant.update == "minibatch" for _, variant in configs):
        raise UsageError("--batch-size applies to minibatch runs only; add minibatch to "
                         "--update (e.g. --update sgd,minibatch --batch-size 2)")
    return [(label, apply_overrides(variant, batch_size=size)
             if variant.update == "minibatch" else variant)
            for label, variant in configs]


def check_applies(problem: Problem, variations: dict[str, list[object]]) -> None:
    """``--l2`` on a model without ``lambda`` (function, perceptron) is a usage error."""
    from gdtrace.problem import MODELS

    keys = MODELS[problem.model].object.fields
    for name, option, key in (("lam", "--l2", "lambda"),
                              ("learning_rate", "--lr", "learning_rate"),
                              ("update", "--update", "update")):
        if variations.get(name) and key not in keys:
            raise UsageError(f"{option} does not apply to model {problem.model}")


def validated(configs: list[tuple[str, Problem]]) -> list[tuple[str, Problem]]:
    """Re-check each variant with the same rules as the file (e.g. a negative λ)."""
    from gdtrace.problem import MODELS, apply_overrides

    for _, variant in configs:
        keys = MODELS[variant.model].object.fields
        apply_overrides(variant,
                        lam=variant.lam if "lambda" in keys else None,
                        learning_rate=variant.learning_rate if "learning_rate" in keys else None,
                        update=variant.update if "update" in keys else None)
    return configs


def compare_methods(problem: Problem, methods: list[str], l2: list[float],
                    learning_rates: list[float], epochs: int | None = None) -> Trace:
    """``compare --methods ols,ridge,gd`` and the ridge path ``--l2 0.1,1,10`` (no methods:
    ridge at each λ): the same data fitted each way, side by side, each run's final loss
    being its RMSE. One learning rate at most (the gd method's)."""
    from gdtrace.solvers.closed_form import method_runs, method_variants, methods_header
    from gdtrace.trace import ProblemInfo

    if len(learning_rates) > 1:
        raise UsageError("--lr: give one learning rate for the gd method")
    if any(lam < 0 for lam in l2):
        raise UsageError("--l2: λ must be at least 0")
    if epochs is not None and epochs < 1:
        raise UsageError("--epochs: must be at least 1")
    if learning_rates and learning_rates[0] <= 0:
        raise UsageError("--lr: must be greater than 0")
    chosen = methods or (["ridge"] if l2 else [])
    if not chosen:
        raise UsageError("say what to compare: --methods (e.g. ols,ridge,gd) or --l2 "
                         "(e.g. 0.1,1,10 for a ridge path)")
    variants = method_variants(problem, chosen, l2,
                               learning_rates[0] if learning_rates else None, epochs)
    check_run_count(len(variants))
    runs, warnings = method_runs(variants)
    info = ProblemInfo(problem.title, problem.model, problem.source)
    trace = Trace(info, methods_header(problem), runs, warnings)
    trace.comparison = comparison_of(runs)
    return trace
