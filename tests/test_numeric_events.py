"""``--summary``/``--stream`` of the models computed as numbers only agree with the worked trace.

The events path (no worked lines, nothing kept) and the full solver share the numeric kernel,
so every number must be bit-identical: epoch losses, each step's values, gradients and
parameters, the final parameters and loss.
"""

from __future__ import annotations

import numpy as np
from check_problems import random_problem
from hypothesis import HealthCheck, Phase, given, settings

from gdtrace.problem import load_problem_text
from gdtrace.solvers import solve
from gdtrace.solvers.streaming import (
    NUMERIC_EVENTS,
    EpochEnd,
    EpochStart,
    RunEnd,
    StepDone,
    run_events,
    step_record,
)

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])


def same(a: object, b: object) -> bool:
    return bool(np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               equal_nan=True))


@SETTINGS
@given(random_problem(sorted(NUMERIC_EVENTS)))
def test_events_equal_the_worked_trace(text: str) -> None:
    problem = load_problem_text(text, "random.yaml")
    run = solve(problem).runs[0]
    events = list(run_events(problem, steps=True))
    losses = [e.loss for e in events if isinstance(e, EpochStart)]
    assert len(losses) == len(run.epochs)
    assert all(same(a, b.loss) for a, b in zip(losses, run.epochs))
    done = [e for e in events if isinstance(e, StepDone)]
    worked = [step_record(step, epoch.index) for epoch in run.epochs for step in epoch.steps]
    assert len(done) == len(worked)
    for fast, slow in zip(done, worked):
        assert fast.samples == slow.samples
        slow_values = {k: v for k, v in slow.values.items() if not k.endswith("(rounded)")}
        assert list(fast.values) == list(slow_values)
        assert all(same(fast.values[k], slow_values[k]) for k in slow_values)
        assert fast.grad.keys() == slow.grad.keys()
        assert all(same(fast.grad[k], slow.grad[k]) for k in slow.grad)
        assert all(same(fast.params[k], slow.params[k]) for k in slow.params)
    end = events[-1]
    assert isinstance(end, RunEnd)
    assert same(end.final_loss, run.final_loss)
    assert all(same(end.final[k], run.final[k]) for k in run.final)
    # --summary: numbers only, the same epoch losses, parameters after each epoch and end
    summary = list(run_events(problem, steps=False))
    assert [e.loss for e in summary if isinstance(e, EpochStart)] == losses
    ends = [e.params for e in summary if isinstance(e, EpochEnd)]
    last = [e.params for e in events if isinstance(e, EpochEnd)]
    assert len(ends) == len(last)
    assert all(same(a[k], b[k]) for a, b in zip(ends, last) for k in b)
    assert same(summary[-1].final_loss, run.final_loss)
    assert all(same(summary[-1].final[k], run.final[k]) for k in run.final)


def test_summary_keeps_no_steps() -> None:
    """--summary yields no step events (and so keeps none)."""
    from gdtrace.api import load

    events = list(run_events(load("relu_mlp", epochs=3), steps=False))
    assert not any(isinstance(e, StepDone) for e in events)
    assert sum(isinstance(e, EpochStart) for e in events) == 3
