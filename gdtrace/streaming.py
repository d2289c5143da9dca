"""Long runs without keeping the trace: a solver-side stream of events (``--summary``,
``--stream``).

A full trace keeps every worked line of every step (formula trees, operands), which is what a
four-row homework needs and what a 10 000-row data set cannot afford. :func:`run_events` yields
the same numbers as plain events instead, and keeps nothing: memory is flat in the number of
epochs and steps.

For logistic and linear regression the events come from :func:`glm_events`, a fast path that
performs exactly the arithmetic of :func:`gdtrace.solvers.glm.run_glm` (same operations, same
order, same numpy calls) without building :class:`~gdtrace.trace.Quantity` objects; tests check
the results are bit-identical. A step where a value stops being finite is rebuilt with the normal
path, so the stop is reported with the same quantity and message. Any other model falls back to
its normal solver and replays the trace as events (correct, but not memory-flat).

Nothing here formats text: the renderers turn events into lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from gdtrace.problem.model import Problem
from gdtrace.solvers.checks import first_non_finite, non_finite_step
from gdtrace.trace import Diagnostic, Role, Step

GLM_MODELS = ("logistic", "linear")
# Models whose solver module computes the run as numbers only (an ``events`` function): flat
# memory and no worked lines for --summary/--stream. Others replay a full trace.
NUMERIC_EVENTS = {"mlp": "gdtrace.solvers.mlp", "function": "gdtrace.solvers.function",
                  "network": "gdtrace.solvers.network",
                  "perceptron": "gdtrace.solvers.perceptron"}


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


Event = Union[RunStart, EpochStart, StepDone, StepRows, EpochEnd, RunEnd]
Progress = Callable[[int, int], None]  # (steps done, steps planned)


def planned_steps(problem: Problem) -> int:
    """Update steps the problem asks for: epochs × updates per epoch (1 per epoch without data)."""
    dataset = problem.dataset
    n = dataset.n if dataset is not None else 1
    return max(1, problem.epochs) * -(-n // problem.samples_per_update())


def run_events(problem: Problem, label: str = "as written", *, steps: bool = True,
               max_steps: int | None = None, progress: Progress | None = None,
               finished: list[RunEnd] | None = None) -> Iterator[Event]:
    """The run as events; ``steps=False`` skips :class:`StepDone` (``--summary``).
    ``finished`` receives the :class:`RunEnd` too, for a caller that only passes the events on
    (the CLI needs its warnings for ``--strict``)."""
    if problem.model in GLM_MODELS:
        yield from glm_events(problem, label, steps=steps, max_steps=max_steps,
                              progress=progress, finished=finished)
    elif problem.model in NUMERIC_EVENTS:
        import importlib

        module = importlib.import_module(NUMERIC_EVENTS[problem.model])
        yield from module.events(problem, label, steps=steps, max_steps=max_steps,
                                 progress=progress, finished=finished)
    else:
        yield from replay_events(problem, label, steps=steps, max_steps=max_steps,
                                 finished=finished)


# ------------------------------------------------------------------------------- work guard

TRACE_LIMIT = 20_000
"""Most numbers a full worked solution may record (beyond it the text is unreadable anyway)."""
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
               advice: str = "use --summary (one line per epoch), --format json --stream (one"
                             " line per step) or --max-steps N") -> None:
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
    from dataclasses import replace

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


# --------------------------------------------------------------------------------- fast path


def _sigmoid(z: float) -> float:
    """:func:`gdtrace.functions.stable_sigmoid` for one float, with the same numpy exp (whose
    last bit can differ from ``math.exp``), so the result is bit-identical."""
    small = np.exp(-abs(z))
    return float(1.0 / (1.0 + small)) if z >= 0 else float(small / (1.0 + small))


def glm_loss(setup: Any, w: np.ndarray, b: float) -> float:
    """The epoch loss, as the normal path computes it (one shared function)."""
    from gdtrace.solvers.glm import loss_value

    return loss_value(setup, w, b)


class _Stop(Exception):
    """The run stops at this step (a value stopped being finite)."""


@dataclass
class _State:
    """Parameters after the last step and the number of steps taken."""

    w: np.ndarray
    b: float
    step: int = 0


def glm_events(problem: Problem, label: str = "as written", *, steps: bool = True,
               max_steps: int | None = None, progress: Progress | None = None,
               finished: list[RunEnd] | None = None) -> Iterator[Event]:
    """Logistic/linear regression as events, with ``run_glm``'s exact arithmetic.

    Plain SGD without carry rounding takes the fast loop; everything else (batches, carry
    rounding) builds each step with the normal path and drops it once its numbers are out.
    """
    from gdtrace.solvers import glm

    setup = glm.setup_from(problem)
    carry = setup.carry
    names = [*setup.weight_names, "b"]
    keys = ["z", "sigma", "error"] if setup.logistic else ["z", "error"]
    if setup.logistic and setup.loss == "mse":
        keys.append("delta")
    planned = planned_steps(problem)
    limit = planned if max_steps is None else min(planned, max_steps)
    yield RunStart(label, names, keys, limit, glm._settings(problem, setup))
    state = _State(carry.array(np.array(problem.weights, dtype=float)), carry(problem.bias))
    rng = np.random.default_rng(problem.shuffle_seed) if problem.shuffle_seed is not None \
        else None
    optimizer = getattr(setup, "optimizer", None)
    plain = optimizer is None or optimizer.plain
    fast = setup.batch_size == 1 and carry.decimals is None and plain
    diagnostics: list[Diagnostic] = []
    losses: list[float] = []
    stopped = False
    with np.errstate(all="ignore"):
        for epoch_index in range(1, problem.epochs + 1):
            if state.step >= limit:
                break
            order = np.arange(setup.n)
            if rng is not None and setup.update != "batch":
                order = rng.permutation(setup.n)
            loss = glm_loss(setup, state.w, state.b)
            losses.append(glm.objective(setup, loss, state.w))
            yield EpochStart(epoch_index, loss)
            if not math.isfinite(loss):
                diagnostics.append(glm.non_finite_loss(loss, label, epoch_index))
                stopped = True
                break
            epoch_steps = _sgd_fast if fast else _normal_steps
            try:
                yield from epoch_steps(setup, state, order, epoch_index, limit, steps, progress)
            except _Stop as stop:
                diagnostics.append(non_finite_step(*stop.args[:1], label, *stop.args[1:]))
                stopped = True
                break
            yield EpochEnd(epoch_index, state.step, _named(names, state.w, state.b))
    capped = state.step >= limit and limit < planned and not stopped
    if progress is not None:
        progress(state.step, limit)
    w, b = state.w, state.b
    with np.errstate(all="ignore"):
        final_loss = glm_loss(setup, w, b)
    closing = glm.closing_diagnostics(setup, losses, glm.objective(setup, final_loss, w),
                                      stopped, label)[1]
    if capped:
        closing.insert(0, glm.max_steps_diagnostic(limit, planned, label))
    diagnostics.extend(closing)
    with np.errstate(all="ignore"):
        accuracy = glm._outcome(problem, setup, w, b).accuracy
    yield _ended(RunEnd(_named(names, w, b), final_loss, diagnostics, stopped or capped,
                        state.step, accuracy), finished)


def _normal_steps(setup: Any, state: _State, order: np.ndarray, epoch: int, limit: int,
                  steps: bool, progress: Progress | None) -> Iterator[Event]:
    """One epoch with the normal path's steps, kept only until they are written."""
    from gdtrace.solvers import glm

    every = max(1, limit // 200)
    for start in range(0, setup.n, setup.batch_size):
        if state.step >= limit:
            return
        state.step += 1
        group = [int(s) for s in order[start:start + setup.batch_size]]
        step = glm._step(setup, state.step, group, state.w, state.b)
        if steps:
            yield step_record(step, epoch)
        bad = first_non_finite(step)
        if bad is not None:
            raise _Stop(bad, epoch, state.step)
        params = step.of_role(Role.PARAM)
        state.w = np.array([q.value for q in params[:-1]], dtype=float)
        state.b = float(params[-1].value)
        if progress is not None and state.step % every == 0:
            progress(state.step, limit)


def _rebuilt_stop(setup: Any, state: _State, group: list[int], epoch: int, steps: bool
                  ) -> Iterator[Event]:
    """Rebuild the step that produced a non-finite value with the normal path and stop there,
    so the message names the same first quantity as ``run_glm``."""
    from gdtrace.solvers import glm

    step = glm._step(setup, state.step, group, state.w, state.b)
    if steps:
        yield step_record(step, epoch)
    bad = first_non_finite(step)
    if bad is None:  # cannot happen: the fast loop saw the same non-finite number
        raise AssertionError("fast path and normal path disagree")
    raise _Stop(bad, epoch, state.step)


def _stop_at_previous(setup: Any, state: _State, block: _Block | None,
                      previous: tuple[np.ndarray, float, int], epoch: int,
                      steps: bool) -> Iterator[Any]:
    """The previous step's update overflowed: hand on the steps before it, then stop at it
    (rebuilt by the normal path, so its warning names the value as a worked solution does)."""
    state.w, state.b, sample = previous
    if block is not None:
        block.drop_last()
        yield block.rows()
    yield from _rebuilt_stop(setup, state, [sample], epoch, steps)


def _sgd_fast(setup: Any, state: _State, order: np.ndarray, epoch: int, limit: int,
              steps: bool, progress: Progress | None) -> Iterator[Event]:
    """One SGD epoch without carry rounding: ``glm._step``'s arithmetic on plain floats and
    numpy rows, operation for operation.

    Non-finite parameters are caught one step late, for speed: any infinite or NaN weight or
    bias makes the next z (or the end-of-epoch check) non-finite, and the step that produced
    it is then rebuilt from the parameters it started with. In ``steps`` mode the steps are
    collected in blocks (:class:`StepRows`) that are handed on only once that check passed.
    """
    from gdtrace.solvers import glm

    ys = setup.y.tolist()
    rows = list(setup.X)
    eta, lam = setup.eta, setup.lam
    penalty_factor = lam / setup.n
    scale = glm._numeric_scale(setup, 1)
    logistic, delta = setup.logistic, setup.logistic and setup.loss == "mse"
    isfinite, dot, exp = math.isfinite, np.dot, np.exp
    every = max(1, limit // 200) if progress is not None else 0
    w, b, step = state.w, state.b, state.step
    # glm._step adds 0 to each signal·x (turning −0.0 into 0.0) and then scales it. When
    # nothing is recorded, η·(signal·x) gives the same new weights unless a weight is −0.0,
    # which only a −0.0 in the file can cause (a − b is −0.0 only for −0.0 − 0.0).
    short = not steps and scale == 1.0 and not lam and not np.any(np.signbit(w) & (w == 0))
    block = _Block(len(w)) if steps else None
    w_prev, b_prev, s_prev = w, b, -1
    for s in order.tolist():
        if step >= limit:
            break
        x = rows[s]
        z = float(dot(w, x)) + b
        if not isfinite(z):
            state.w, state.b, state.step = w, b, step
            if s_prev >= 0 and not _finite(w, b):
                yield from _stop_at_previous(setup, state, block, (w_prev, b_prev, s_prev),
                                             epoch, steps)
            if block is not None:
                yield block.rows()
            state.step += 1
            yield from _rebuilt_stop(setup, state, [s], epoch, steps)
        if block is not None and block.full():
            yield block.rows()  # every step in it is checked: this z is finite
        step += 1
        y = ys[s]
        if logistic:
            small = float(exp(-abs(z)))
            sigma = 1.0 / (1.0 + small) if z >= 0 else small / (1.0 + small)
            error = sigma - y
            signal = 2 * error * sigma * (1 - sigma) if delta else error
        else:
            error = y - z
            signal = error
        w_prev, b_prev, s_prev = w, b, s
        if short:
            w = w - eta * (signal * x)
            b = b - eta * (0 + signal)
        else:
            g = signal * x
            g += 0.0  # as glm._step's sum(): a −0.0 product is recorded as 0.0
            if scale != 1.0:
                g = scale * g
            if lam:
                g = g + penalty_factor * w
            gb = scale * (0 + signal)
            w = w - eta * g
            b = b - eta * gb
            if block is not None:
                k = len(block.scalars)
                block.grads[k] = g
                block.params[k] = w
                if logistic:
                    block.scalars.append((epoch, step, s + 1, z, sigma, error, signal, gb, b)
                                         if delta else (epoch, step, s + 1, z, sigma, error,
                                                        gb, b))
                else:
                    block.scalars.append((epoch, step, s + 1, z, error, gb, b))
        if every and step % every == 0:
            progress(step, limit)  # type: ignore[misc]
    state.w, state.b, state.step = w, b, step
    if s_prev >= 0 and not _finite(w, b):
        yield from _stop_at_previous(setup, state, block, (w_prev, b_prev, s_prev), epoch, steps)
    if block is not None and block.scalars:
        yield block.rows()


class _Block:
    """Fast-path steps waiting to be handed on: per step a tuple ``(epoch, step, sample,
    values…, ∂L/∂b, b)`` and the rows of the weight gradient and the new weights."""

    SIZE = 1024

    def __init__(self, d: int) -> None:
        self.scalars: list[tuple[float, ...]] = []
        self.grads = np.empty((self.SIZE, d))
        self.params = np.empty((self.SIZE, d))

    def full(self) -> bool:
        return len(self.scalars) == self.SIZE

    def drop_last(self) -> None:
        self.scalars.pop()

    def rows(self) -> StepRows:
        """The block as :class:`StepRows` (numbers only rearranged), and empty again."""
        k = len(self.scalars)
        scalars = np.array(self.scalars, dtype=float).reshape(k, -1)
        table = np.hstack([scalars[:, :-2], self.grads[:k], scalars[:, -2:-1], self.params[:k],
                           scalars[:, -1:]])
        self.scalars = []
        return StepRows(table)


def _finite(w: np.ndarray, b: float) -> bool:
    return math.isfinite(b) and bool(np.isfinite(w).all())


def run_end(final: dict[str, Any], final_loss: float | None, diagnostics: list[Diagnostic],
            stopped: bool, steps: int, limit: int, planned: int, label: str,
            finished: list[RunEnd] | None, accuracy: float | None = None) -> RunEnd:
    """A model's last event: with the ``--max-steps`` warning when the run was cut short by
    it, and passed to ``finished`` for a caller that only forwards the events."""
    from gdtrace.solvers.glm import max_steps_diagnostic

    capped = steps >= limit and limit < planned and not stopped
    if capped:
        diagnostics.append(max_steps_diagnostic(limit, planned, label))
    return _ended(RunEnd(final, final_loss, diagnostics, stopped or capped, steps, accuracy),
                  finished)


def _ended(end: RunEnd, finished: list[RunEnd] | None) -> RunEnd:
    if finished is not None:
        finished.append(end)
    return end


def _named(names: list[str], w: np.ndarray, b: float) -> dict[str, float]:
    return {name: float(v) for name, v in zip(names, w)} | {"b": float(b)}


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
    yield _ended(RunEnd(dict(run.final), run.final_loss, list(trace.warnings),
                        run.stopped_early, count,
                        outcome.accuracy if outcome is not None else None), finished)
