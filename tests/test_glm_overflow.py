"""A data set near the float limit: X̃ᵀX̃ overflows, so there is no stability analysis (it
raised LinAlgError from eigvalsh; found by tests/test_fuzz.py)."""

from __future__ import annotations

import json

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
