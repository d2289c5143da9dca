"""Long runs without keeping the trace: a solver-side stream of events (``--summary``,
``--stream``).

A full trace keeps every worked line of every step (formula trees, operands), which is what a
four-row homework needs and what a 10 000-row data set cannot afford. :func:`run_events` yields
the same numbers as plain events instead, and keeps nothing: memory is flat in the number of
epochs and steps.

This module is the generic plumbing: the events, the work guard, ``--max-steps`` and the run's
last event. The numbers come from the model's own solver module, named in
:data:`NUMERIC_EVENTS` (an ``events`` function; for logistic and linear regression
:func:`gdtrace.solvers.glm.events`, a fast path with ``run_glm``'s exact arithmetic); the
solvers import this module, never the reverse, so the modules are imported by name. Any other
model falls back to its normal solver and replays the trace as events (correct, but not
memory-flat).

Nothing here formats text: the renderers turn events into lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Union

import numpy as np

from gdtrace.problem.model import Problem
from gdtrace.trace import Diagnostic, Epoch, Role, Run, Step, Trace

GLM_MODELS = ("logistic", "linear")
# Models whose solver module computes the run as numbers only (an ``events`` function): flat
# memory and no worked lines for --summary/--stream. Others replay a full trace.
NUMERIC_EVENTS = {"mlp": "gdtrace.solvers.mlp", "function": "gdtrace.solvers.function",
                  "network": "gdtrace.solvers.network",
                  "perceptron": "gdtrace.solvers.perceptron"}
# Logistic and linear regression's events hand on plain SGD steps in blocks (StepRows).
GLM_EVENTS = "gdtrace.solvers.glm"
# Models whose ``events`` take ``epoch_rows`` (hand on whole epochs in blocks: EpochRows).
EPOCH_ROWS = ("network",)


@dataclass
class RunStart:
    """Names fixed for the whole run: parameters (``b`` last) and per-sample value keys."""

    label: str
    param_names: list[str]
    value_keys: list[str]
    planned_steps: int
    settings: dict[str, Any]


@dataclass
class EpochStart:
    index: int
    loss: float | None  # data loss with the parameters at the start of the epoch


@dataclass
class StepDone:
    """One update, built by the normal path: values by key (a list per key when the step used
    several samples), gradients and parameters by name."""

    epoch: int
    index: int
    samples: list[int]
    values: dict[str, Any]
    grad: dict[str, Any]
    params: dict[str, Any]


@dataclass
class StepRows:
    """Several fast-path updates (one sample each, every number finite): a float table, one
    row ``[epoch, step, sample, values…, grads…, params…]`` per step in :class:`RunStart`
    order."""

    table: np.ndarray


@dataclass
class EpochRows:
    """Several whole epochs computed as numbers only (``--summary``, for a consumer that asks
    for them: :func:`run_events`'s ``epoch_rows``), in place of each one's
    :class:`EpochStart` and :class:`EpochEnd`: one row per epoch, ``(epoch, loss, epoch,
    steps, params…)`` (the numbers of its two summary lines in writing order, parameters in
    :class:`RunStart` order), every number a finite float."""

    rows: list[tuple[Any, ...]]


@dataclass
class EpochEnd:
    index: int
    steps: int  # steps taken so far in the run
    params: dict[str, Any]  # parameters after the epoch's last step


@dataclass
class RunEnd:
    final: dict[str, Any]
    final_loss: float | None
    diagnostics: list[Diagnostic]
    stopped_early: bool
    steps: int
    accuracy: float | None = None


Event = Union[RunStart, EpochStart, StepDone, StepRows, EpochRows, EpochEnd, RunEnd]
Progress = Callable[[int, int], None]  # (steps done, steps planned)


def planned_steps(problem: Problem) -> int:
    """Update steps the problem asks for: epochs × updates per epoch (1 per epoch without data)."""
    dataset = problem.dataset
    n = dataset.n if dataset is not None else 1
    return max(1, problem.epochs) * -(-n // problem.samples_per_update())


def run_events(problem: Problem, label: str = "as written", *, steps: bool = True,
               max_steps: int | None = None, progress: Progress | None = None,
               finished: list[RunEnd] | None = None, epoch_rows: bool = False
               ) -> Iterator[Event]:
    """The run as events; ``steps=False`` skips :class:`StepDone` (``--summary``).
    ``finished`` receives the :class:`RunEnd` too, for a caller that only passes the events on
    (the CLI needs its warnings for ``--strict``). ``epoch_rows``: the caller also takes
    :class:`EpochRows` (a model in :data:`EPOCH_ROWS` may then hand on many tiny epochs at
    once; without it every epoch is its :class:`EpochStart` and :class:`EpochEnd`)."""
    if problem.model in GLM_MODELS or problem.model in NUMERIC_EVENTS:
        import importlib

        module = importlib.import_module(GLM_EVENTS if problem.model in GLM_MODELS
                                         else NUMERIC_EVENTS[problem.model])
        rows = {"epoch_rows": True} if epoch_rows and problem.model in EPOCH_ROWS else {}
        yield from module.events(problem, label, steps=steps, max_steps=max_steps,
                                 progress=progress, finished=finished, **rows)
    else:
        yield from replay_events(problem, label, steps=steps, max_steps=max_steps,
                                 finished=finished)


# ------------------------------------------------------------------------------- work guard

TRACE_LIMIT = 20_000
"""Most numbers a full worked solution may record (beyond it the text is unreadable anyway)."""
WORKED_MAX_ROWS = TRACE_LIMIT // 3
"""Most data set rows a worked solution can have: each row records at least 3 numbers an epoch
(see :func:`recorded_numbers`), so a longer data set is refused whatever the settings."""
WORKED_ADVICE = "use --summary (one line per epoch), --format json --stream (one line per step)" \
    " or --max-steps N"
STREAM_LIMIT = 100_000_000
"""Most steps × parameters for ``--summary``/``--stream`` (about a minute of work)."""


def recorded_numbers(problem: Problem) -> tuple[int, int]:
    """Estimated (numbers a full trace records, steps × parameters) for the work guard."""
    from gdtrace.problem.network_models import MlpSpec, NetworkSpec

    dataset = problem.dataset
    n, d, k = (dataset.n, len(dataset.features), len(dataset.targets)) if dataset is not None \
        else (1, 1, 1)
    params = len(problem.weights) + 1 if problem.weights else (d + 1) * k
    spec = problem.spec
    if isinstance(spec, MlpSpec):  # an mlp: every entry of every W and b
        params = sum(layer.weights.size + layer.bias.size for layer in spec.layers)
    elif isinstance(spec, NetworkSpec):  # a network of named nodes
        params = len(spec.graph.params)
    steps = planned_steps(problem)
    per_step = -(-n * max(1, problem.epochs) // steps) * (d + k + 4) + 2 * params
    return steps * per_step + max(1, problem.epochs) * n * 3, steps * params


def check_work(problem: Problem, *, streaming: bool, max_steps: int | None,
               advice: str = WORKED_ADVICE) -> None:
    """Refuse a run too big to finish or show, naming the options that make it possible.

    An explicit ``--max-steps`` is the user's own limit and is always accepted.
    """
    from gdtrace.errors import UsageError
    from gdtrace.solvers import asks_formulas

    if max_steps is not None or asks_formulas(problem):  # formulas: no steps to run
        return
    numbers, work = recorded_numbers(problem)
    steps = planned_steps(problem)
    if streaming and work > STREAM_LIMIT:
        raise UsageError(
            f"this run has {steps} steps × {work // steps} parameters, more than gdtrace runs"
            f" without being asked ({STREAM_LIMIT:.0e}); pass --max-steps N to run N steps")
    if not streaming and numbers > TRACE_LIMIT:
        rows = problem.dataset.n if problem.dataset is not None else 0
        why = f" (the data set has {rows} rows: even one epoch is too long to work through)" \
            if numbers // max(1, problem.epochs) > TRACE_LIMIT and rows > 1 else ""
        raise UsageError(
            f"this run has {steps} steps and would write about {numbers} numbers, too many for"
            f" a worked solution{why}; {advice}")


def capped(problem: Problem, max_steps: int | None) -> tuple[Problem, Diagnostic | None]:
    """``--max-steps`` for a full trace. Logistic and linear regression stop after exactly N
    steps (the solver reads ``RunOptions.max_steps`` and warns); other models run the whole
    epochs that fit in N steps (at least one), with a warning saying so."""

    planned = planned_steps(problem)
    if max_steps is None or max_steps >= planned:
        return problem, None
    if problem.model in GLM_MODELS:
        return problem, None  # the caller passes RunOptions(max_steps=…) to the solver
    per_epoch = planned // max(1, problem.epochs)
    epochs = max(1, max_steps // per_epoch)
    note = Diagnostic("max_steps", f"--max-steps {max_steps}: ran {epochs} of {problem.epochs}"
                      f" epochs ({epochs * per_epoch} of {planned} steps); a worked solution"
                      " stops at the end of an epoch")
    return replace(problem, epochs=epochs), note


def run_end(final: dict[str, Any], final_loss: float | None, diagnostics: list[Diagnostic],
            stopped: bool, steps: int, limit: int, planned: int, label: str,
            finished: list[RunEnd] | None, accuracy: float | None = None) -> RunEnd:
    """A model's last event: with the ``--max-steps`` warning when the run was cut short by
    it, and passed to ``finished`` for a caller that only forwards the events."""
    capped = steps >= limit and limit < planned and not stopped
    if capped:
        diagnostics.append(max_steps_diagnostic(limit, planned, label))
    return ended(RunEnd(final, final_loss, diagnostics, stopped or capped, steps, accuracy),
                 finished)


def ended(end: RunEnd, finished: list[RunEnd] | None) -> RunEnd:
    """``end``, also handed to ``finished`` (a caller that only forwards the events)."""
    if finished is not None:
        finished.append(end)
    return end


def max_steps_diagnostic(limit: int, planned: int, label: str) -> Diagnostic:
    return Diagnostic("max_steps", f"stopped after {limit} of {planned} steps (--max-steps)",
                      label)


def step_record(step: Step, epoch: int) -> StepDone:
    """A full :class:`Step` as an event: per-sample values (a list per key when the step used
    several samples), gradients and parameters by name."""
    values: dict[str, Any] = {}
    for row in step.rows:
        for quantity in row:
            if quantity.role is Role.VALUE:
                values.setdefault(quantity.key, []).append(quantity.value)
    if len(step.rows) == 1:
        values = {key: items[0] for key, items in values.items()}
    for quantity in step.of_role(Role.VALUE):
        values[quantity.key] = quantity.value
    return StepDone(epoch, step.index, list(step.samples), values,
                    {q.key: q.value for q in step.of_role(Role.GRAD)},
                    {q.key: q.value for q in step.of_role(Role.PARAM)})


# ------------------------------------------------------------------------ any other model


def replay_events(problem: Problem, label: str = "as written", *, steps: bool = True,
                  max_steps: int | None = None, finished: list[RunEnd] | None = None
                  ) -> Iterator[Event]:
    """Models without a fast path: solve normally, then replay the trace as events."""
    from gdtrace.solvers import RunOptions, solve_runs

    problem, note = capped(problem, max_steps)
    trace = solve_runs([(label, problem)], RunOptions(max_steps=max_steps))
    if note is not None:
        trace.warnings.append(note)
    run = trace.runs[0]
    value_keys: list[str] = []
    first = next((s for e in run.epochs for s in e.steps), None)
    if first is not None and first.rows:
        value_keys = [q.key for q in first.rows[0] if q.role is Role.VALUE]
    yield RunStart(label, list(run.param_names), value_keys, planned_steps(problem),
                   dict(run.settings))
    count = 0
    for epoch in run.epochs:
        yield EpochStart(epoch.index, epoch.loss)
        last: dict[str, Any] = {}
        for step in epoch.steps:
            count += 1
            record = step_record(step, epoch.index)
            last = record.params
            if steps:
                yield record
        yield EpochEnd(epoch.index, count, last)
    outcome = run.outcome
    yield ended(RunEnd(dict(run.final), run.final_loss, list(trace.warnings),
                        run.stopped_early, count,
                        outcome.accuracy if outcome is not None else None), finished)


# ------------------------------------------------------------------ a document, streamed


@dataclass
class StreamedDocument:
    """A one-run worked document whose epochs and steps arrive one at a time: ``items``
    yields each epoch (its steps empty) and then its steps. ``trace`` has the header from
    the start; its run and warnings are complete once ``items`` is exhausted (the run's
    epochs are the ones yielded, their steps dropped, so memory stays flat)."""

    trace: Trace
    items: Iterator[Epoch | Step]


def streamed_document(problem: Problem, label: str = "as written",
                      max_steps: int | None = None) -> StreamedDocument:
    """The document ``gdtrace solve`` writes, as :class:`StreamedDocument`: logistic and
    linear regression computed step by step (``glm.Training``, its lines linking to no
    earlier line so a written step can be dropped); any other model solved whole and then
    handed on (the same text, not memory-flat)."""
    import importlib

    from gdtrace.trace import ProblemInfo

    problem, note = capped(problem, max_steps)
    info = ProblemInfo(problem.title, problem.model, problem.source)
    from gdtrace.solvers import RunOptions

    options = RunOptions(max_steps=max_steps)
    if problem.model not in GLM_MODELS:
        from gdtrace.solvers import solve_runs

        whole = solve_runs([(label, problem)], options)
        if note is not None:
            whole.warnings.append(note)
        run = whole.runs[0]
        trace = Trace(info, whole.header, [replace(run, epochs=[])], [],
                      decimals_hint=whole.decimals_hint)
        return StreamedDocument(trace, _handed_on(trace, run, whole.warnings))
    glm = importlib.import_module(GLM_EVENTS)
    setup = glm.setup_from(problem)  # planned once: the header, then the training
    header = glm.header_for(problem, setup)
    training = glm.Training(problem, label, linked=False, options=options, setup=setup)
    placeholder = Run(label, {}, [], {}, None, [])
    trace = Trace(info, header, [placeholder], [], decimals_hint=problem.carry_decimals)
    return StreamedDocument(trace, _trained(trace, training, note))


def _handed_on(trace: Trace, run: Run, warnings: list[Diagnostic]) -> Iterator[Epoch | Step]:
    for epoch in run.epochs:
        yield replace(epoch, steps=[])
        yield from epoch.steps
    trace.runs[0] = run
    trace.warnings.extend(warnings)


def _trained(trace: Trace, training: Any, note: Diagnostic | None) -> Iterator[Epoch | Step]:
    """``training``'s items; each epoch is kept without its steps and loss line (what the
    result and the summarised middle of a long run need), and the run's end is put in
    ``trace`` when they run out."""
    shells: list[Epoch] = []
    for item in training.items():
        if isinstance(item, Epoch):
            shells.append(Epoch(item.index, item.loss, []))
        yield item
    trace.runs[0] = training.run(shells)
    trace.warnings.extend(training.diagnostics)
    if note is not None:
        trace.warnings.append(note)
