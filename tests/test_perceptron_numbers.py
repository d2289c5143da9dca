"""The perceptron's ``--summary`` shortcut: a correctly classified sample keeps the parameters.

:func:`gdtrace.solvers.perceptron.step_numbers` returns the parameters themselves when the error
is 0 and :func:`~gdtrace.solvers.perceptron.steady` holds; the numbers must be the rule's bit for
bit (the sign of zero included), and the streamed events the worked trace's.
"""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdtrace.formula.rounding import Carry
from gdtrace.problem import load_problem_text
from gdtrace.solvers import solve
from gdtrace.solvers.optimizers import make_optimizer
from gdtrace.solvers.perceptron import steady, step_numbers
from gdtrace.solvers.streaming import StepDone, run_events, step_record

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
VALUES = st.sampled_from([0.0, -0.0, 1.0, -2.5]) | st.floats(-10, 10)


def bits(values: object) -> list[bytes]:
    """Each value's exact float64 bytes (0.0 and -0.0 differ)."""
    return [struct.pack("<d", v) for v in np.ravel(np.asarray(values, dtype=float))]


@SETTINGS
@given(st.lists(st.tuples(VALUES, VALUES), min_size=1, max_size=4), VALUES,
       st.sampled_from([(0.0, False), (1.0, False), (-1.0, True), (1.0, True)]),
       st.sampled_from([0.1, 0.5, 1.0, 0.3]))
def test_the_shortcut_gives_the_rules_numbers(pairs: list[tuple[float, float]], b: float,
                                              target: tuple[float, bool], eta: float) -> None:
    w = np.array([p[0] for p in pairs])
    x = np.array([p[1] for p in pairs])
    t, signed = target
    carry = Carry(None)
    ruled = step_numbers(w, b, x, t, signed, carry, make_optimizer(None, eta, carry))
    if steady(w, b, carry):
        short = step_numbers(w, b, x, t, signed, carry, make_optimizer(None, eta, carry), True)
        assert bits(short.w) == bits(ruled.w)
        assert bits(short.b) == bits(ruled.b)
        assert (short.z, short.yhat, short.error) == (ruled.z, ruled.yhat, ruled.error)


def test_a_negative_zero_is_not_steady() -> None:
    """The case the check exists for: −0.0 − (−0.0) is +0.0, so the rule changes its bits."""
    w, x, carry = np.array([-0.0, 1.0]), np.array([2.0, 0.0]), Carry(None)
    assert not steady(w, 0.0, carry) and not steady(np.array([1.0]), -0.0, carry)
    assert steady(np.array([0.0, 1.0]), 0.0, carry) and not steady(w, 0.0, Carry(2))
    ruled = step_numbers(w, 0.0, x, 1.0, False, carry, make_optimizer(None, 0.5, carry))
    assert ruled.error == 0 and bits(ruled.w) != bits(w)


PROBLEM = """model: perceptron
dataset:
  columns: [x1, x2, y]
  rows: [[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 1], [0.5, 2, 1], [-1, 0.25, 0]]
weights: [{w1}, {w2}]
bias: {b}
learning_rate: 0.5
epochs: 6
"""


def test_streamed_steps_equal_the_worked_ones_bit_for_bit() -> None:
    for w1, w2, b in (("0", "0", "0"), ("-0.0", "0.5", "0"), ("0.25", "-0.0", "-0.0")):
        problem = load_problem_text(PROBLEM.format(w1=w1, w2=w2, b=b), "p.yaml")
        run = solve(problem).runs[0]
        worked = [step_record(step, epoch.index) for epoch in run.epochs for step in epoch.steps]
        done = [e for e in run_events(problem, steps=True) if isinstance(e, StepDone)]
        assert len(done) == len(worked) > 0
        for fast, slow in zip(done, worked):
            assert bits(list(fast.params.values())) == bits(list(slow.params.values()))
