"""A run that overflows ends the same way in every output: the worked solution, ``--summary``
and ``--stream`` give the same final parameters (those the failing step started from), final
loss, steps and warning, for every bundled problem and optimizer."""

from __future__ import annotations

import json

import pytest
from test_network_summary import MAZUR as MAZUR_TEMPLATE
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.problem import bundled_problems

MAZUR = MAZUR_TEMPLATE.replace("LR", "0.5").replace("EPOCHS", "40").replace("OPTIMIZER", "sgd")

STATE_OVERFLOW = """model: function
f: "1e200*x + y^2"
start: {x: 1, y: 2}
learning_rate: 0.1
steps: 5
"""

TRAINED = [name for name in sorted(bundled_problems()) if name not in ("ridge", "rnn_bptt")]


def _ends(args: list[str]) -> list[object]:
    """(final parameters, final loss, steps, stopped early, overflow warnings) of each output."""
    runner = CliRunner()
    worked = runner.invoke(app, ["solve", *args, "--format", "json"])
    assert worked.exit_code == 0, worked.output
    document = json.loads(worked.stdout)
    run = document["runs"][0]
    steps = sum(len(epoch["steps"]) for epoch in run["epochs"])
    ends = [(run["final"], run["final_loss"], steps, bool(run.get("stopped_early")),
             _overflows(document["warnings"]))]
    for mode in ("--summary", "--stream"):
        result = runner.invoke(app, ["solve", *args, mode, "--format", "json"])
        assert result.exit_code == 0, result.output
        end = json.loads(result.stdout.splitlines()[-1])
        ends.append((end["final"], end["final_loss"], end["steps"],
                     bool(end["stopped_early"]), _overflows(end["warnings"])))
    return ends


def _overflows(warnings: list[dict]) -> list[tuple]:
    return [(w["message"], w["epoch"], w["step"]) for w in warnings if w["code"] == "non_finite"]


@pytest.mark.parametrize("optimizer", [None, "momentum", "adam"])
@pytest.mark.parametrize("name", [*TRAINED, "mazur"])
def test_an_overflowing_run_ends_alike_in_every_output(tmp_path, name, optimizer):
    if name == "perceptron" and optimizer:
        pytest.skip("the perceptron has no optimizer")
    if name == "mazur":
        (tmp_path / "mazur.yaml").write_text(MAZUR)
        name = str(tmp_path / "mazur.yaml")
    args = [name, "--lr", "1e300"] + (["--optimizer", optimizer] if optimizer else [])
    worked, summary, stream = _ends(args)
    assert summary == worked and stream == worked


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop", "adam"])
def test_an_optimizer_state_that_overflows_ends_alike(tmp_path, optimizer):
    """g² overflows while the iterate stays finite (the state's √ is inf, the step 0): the
    worked step stops at the state line, and so do --summary and --stream, with its warning."""
    (tmp_path / "f.yaml").write_text(STATE_OVERFLOW)
    args = [str(tmp_path / "f.yaml"), "--optimizer", optimizer]
    worked, summary, stream = _ends(args)
    assert worked[3] and summary == worked and stream == worked
    assert [message.split(" became")[0] for message, _, _ in worked[4]] == \
        [{"adagrad": "s.x", "rmsprop": "s.x", "adam": "v.x"}[optimizer]]
