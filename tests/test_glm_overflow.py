"""A data set near the float limit: X̃ᵀX̃ overflows, so there is no stability analysis (it
raised LinAlgError from eigvalsh; found by tests/test_fuzz.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from gdtrace.cli import app

HUGE = """\
model: linear
dataset:
  columns: [x1, x2, x3, y]
  rows: [[1.8961503816218355e+154, 8, 6, 1], [6, 4, 3, 1], [8, 5, 9, 0], [7, 9, 1, 0]]
learning_rate: 0.005
epochs: 4
update: batch
loss: mse
"""


def test_overflowing_hessian_skips_the_stability_analysis(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(HUGE)
    result = CliRunner().invoke(app, ["solve", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["runs"][0]
    assert "stability" not in run


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, np.float64("inf"),
                                 np.array([1.0, np.nan]), np.array([[np.inf]])])
def test_first_non_finite_finds_floats_numpy_scalars_and_arrays(bad):
    """The check every solver runs after a step: the first bad value, whatever its type, and
    nothing in a step of finite floats, ints and arrays."""
    from gdtrace.formula.expr import sym
    from gdtrace.solvers.checks import first_non_finite
    from gdtrace.trace import Quantity, Role, Step

    def line(key, value):
        return Quantity(key, Role.VALUE, sym(key), value, None, {})

    fine = [line("a", 1.5), line("b", np.float64(2.0)), line("c", 3), line("d", np.ones(3))]
    step = Step(1, [1], [fine + [line("bad", bad)]], [line("later", math.inf)])
    assert first_non_finite(step).key == "bad"
    assert first_non_finite(Step(1, [1], [fine], [])) is None
