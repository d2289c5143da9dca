"""``--summary`` and ``--stream``: the fast path gives bit-identical numbers, the output formats
hold, memory stays flat and the work guard answers at once. (No timing assertions: the
benchmarks in ``benchmarks/`` measure speed.)"""

from __future__ import annotations

import itertools
import json
import sys
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.errors import UsageError
from gdtrace.problem import bundled_problems, load_problem, load_problem_text
from gdtrace.problem.model import Dataset
from gdtrace.render.json_format import trace_document
from gdtrace.solvers import RunOptions, solve
from gdtrace.solvers.glm import events as glm_events
from gdtrace.solvers.glm import run_glm
from gdtrace.solvers.streaming import (
    EpochEnd,
    EpochStart,
    RunEnd,
    RunStart,
    StepDone,
    StepRows,
    check_work,
    planned_steps,
    step_record,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import make_scale_data  # noqa: E402

RUNNER = CliRunner()
LOGREG = load_problem("problems/logreg.yaml")
LINREG = load_problem("problems/linreg.yaml")


def exact(value: object) -> str:
    """Bit-exact text of nested values (repr keeps every digit and the sign of zero)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ",".join(exact(v) for v in value) + "]"
    return repr(float(value)) if isinstance(value, (float, np.floating)) else repr(value)


def normal_path(problem, options: RunOptions | None = None
                ) -> tuple[list[str], object, list[dict]]:
    run, diagnostics = run_glm(problem, options=options)
    lines = []
    for epoch in run.epochs:
        lines.append(f"epoch {epoch.index} {exact(epoch.loss)}")
        for step in epoch.steps:
            record = step_record(step, epoch.index)
            lines.append(exact([record.index, record.samples, record.values, record.grad,
                                record.params]))
    end = exact([run.final, run.final_loss])
    return lines, end, [d.__dict__ for d in diagnostics]


def fast_path(problem, steps: bool = True) -> tuple[list[str], object, list[dict]]:
    lines: list[str] = []
    start = end = None
    for event in glm_events(problem, steps=steps):
        if isinstance(event, RunStart):
            start = event
        elif isinstance(event, EpochStart):
            lines.append(f"epoch {event.index} {exact(event.loss)}")
        elif isinstance(event, StepDone):
            lines.append(exact([event.index, event.samples, event.values, event.grad,
                                event.params]))
        elif isinstance(event, StepRows):
            k, p = len(start.value_keys), len(start.param_names)
            for row in event.table.tolist():
                assert all(v == int(v) for v in row[:3])
                numbers = row[3:]
                lines.append(exact([int(row[1]), [int(row[2])],
                                    dict(zip(start.value_keys, numbers[:k])),
                                    dict(zip(start.param_names, numbers[k:k + p])),
                                    dict(zip(start.param_names, numbers[k + p:]))]))
        elif isinstance(event, RunEnd):
            end = event
    return lines, exact([end.final, end.final_loss]), [d.__dict__ for d in end.diagnostics]


VARIANTS = list(itertools.product(
    ["sgd", "batch", "minibatch"], [0.0, 0.5], [0.1, 1000.0, 1e300], [None, 2]))


@pytest.mark.parametrize("base", [LOGREG, LINREG], ids=["logistic", "linear"])
@pytest.mark.parametrize("update,lam,lr,carry", VARIANTS)
def test_fast_path_is_bit_identical(base, update, lam, lr, carry):
    losses = ["log", "mse"] if base.model == "logistic" else ["mse", "half_sse", "sse"]
    for loss in losses:
        problem = replace(base, update=update, lam=lam, learning_rate=lr, loss=loss,
                          carry_decimals=carry, epochs=5,
                          batch_size=3 if update == "minibatch" else None)
        expected = normal_path(problem)
        assert fast_path(problem) == expected
        summary = fast_path(problem, steps=False)
        assert summary[1:] == expected[1:]  # final numbers and warnings
        assert summary[0] == [line for line in expected[0] if line.startswith("epoch")]


@pytest.mark.parametrize("weights,rows", [
    ([-0.0, 0.0], [[0, 0, 1], [0, 1, 0], [0, 0, 0]]),  # signs of zero must survive
    ([1e200, -1e200], [[1e150, 1e150, 1], [2, 3, 0]]),  # z overflows in the first step
    ([0.5, -0.25], [[1e308, 1, 1], [1, 1e308, 0]]),  # parameters overflow after a step
])
@pytest.mark.parametrize("model", ["logistic", "linear"])
@pytest.mark.parametrize("shuffle", [None, 3])
def test_fast_path_edge_cases(weights, rows, model, shuffle):
    text = (f"model: {model}\ndataset:\n  columns: [a, c, y]\n  rows: {rows}\n"
            f"weights: {weights}\nlearning_rate: 0.5\nepochs: 3\n")
    if shuffle is not None:
        text += f"shuffle: {{seed: {shuffle}}}\n"
    problem = load_problem_text(text.replace("1e", "1.0e"), "edge.yaml")
    assert fast_path(problem) == normal_path(problem)
    assert fast_path(problem, steps=False)[1:] == normal_path(problem)[1:]


def test_overflow_is_reported_at_the_same_step_in_every_mode():
    problem = replace(LINREG, update="sgd", learning_rate=1e300, epochs=3)
    _, _, diagnostics = normal_path(problem)
    first = next(d for d in diagnostics if d["code"] == "non_finite")
    assert (first["epoch"], first["step"]) == (1, 2)
    for steps in (True, False):
        assert fast_path(problem, steps)[2] == diagnostics


def test_stream_matches_the_json_document():
    result = RUNNER.invoke(app, ["solve", "logreg", "--format", "json", "--stream"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [line["type"] for line in lines]
    assert kinds == ["run"] + (["epoch"] + ["step"] * 4 + ["epoch_end"]) * 2 + ["end"]
    document = trace_document(solve(LOGREG))
    run = document["runs"][0]
    steps = [s for e in run["epochs"] for s in e["steps"]]
    streamed = [{k: v for k, v in line.items() if k not in ("type", "epoch")}
                for line in lines if line["type"] == "step"]
    assert streamed == steps
    assert [line["loss"] for line in lines if line["type"] == "epoch"] == \
        [e["loss"] for e in run["epochs"]]
    assert lines[-1]["final"] == run["final"] and lines[-1]["final_loss"] == run["final_loss"]
    assert lines[0]["params"] == ["w1", "w2", "w3", "b"] and lines[0]["steps"] == 8


def test_stream_of_a_batch_model_and_max_steps():
    result = RUNNER.invoke(app, ["solve", "linreg", "--format", "json", "--stream",
                                 "--max-steps", "3"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    steps = [line for line in lines if line["type"] == "step"]
    assert [s["step"] for s in steps] == [1, 2, 3] and len(steps[0]["values"]["z"]) == 4
    messages = [w["message"] for w in lines[-1]["warnings"]]
    assert "stopped after 3 of 4 steps (--max-steps)" in messages
    assert lines[-1]["final"] == steps[-1]["params"]


def test_stream_needs_json():
    result = RUNNER.invoke(app, ["solve", "logreg", "--stream", "--format", "text"])
    assert result.exit_code == 2 and "--format json" in result.stderr


def test_summary_text_one_line_per_epoch():
    result = RUNNER.invoke(app, ["solve", "logreg", "--summary", "--epochs", "5",
                                 "--format", "text"])
    assert result.exit_code == 0
    rows = [line.split() for line in result.stdout.splitlines()
            if line[:7].strip().isdigit()]
    assert [row[0] for row in rows] == ["1", "2", "3", "4", "5"]
    trace = solve(replace(LOGREG, epochs=5))
    assert rows[1][1] == f"{trace.runs[0].epochs[1].loss:.4f}"
    assert rows[-1][2:] == [f"{v:.4f}" for v in trace.runs[0].final.values()]
    assert "final loss:" in result.stdout and "(after 20 steps)" in result.stdout


def test_summary_json_lines():
    result = RUNNER.invoke(app, ["solve", "logreg", "--summary", "--format", "json"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["run", "epoch", "epoch_end", "epoch",
                                                "epoch_end", "end"]
    assert lines[-2]["params"] == lines[-1]["final"]


def test_the_library_solve_has_the_same_guard_and_max_steps(tmp_path):
    import gdtrace

    path = make_scale_data.write(tmp_path, rows=200, features=3, epochs=100)
    with pytest.raises(UsageError, match="--summary"):
        gdtrace.solve(str(path))
    trace = gdtrace.solve(str(path), max_steps=450)
    assert sum(len(e.steps) for e in trace.runs[0].epochs) == 450
    assert any("450 of 20000" in w.message for w in trace.warnings)


def test_other_models_stream_through_their_own_solver():
    result = RUNNER.invoke(app, ["solve", "sigmoid_mlp", "--format", "json", "--stream"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    document = trace_document(solve(load_problem("problems/sigmoid_mlp.yaml")))
    assert lines[-1]["final"] == document["runs"][0]["final"]


def test_work_guard_and_max_steps(tmp_path):
    path = make_scale_data.write(tmp_path, rows=200, features=3, epochs=100)
    problem = load_problem(path)
    assert planned_steps(problem) == 20_000
    with pytest.raises(UsageError, match="--summary"):
        check_work(problem, streaming=False, max_steps=None)
    check_work(problem, streaming=True, max_steps=None)
    check_work(problem, streaming=False, max_steps=50)
    result = RUNNER.invoke(app, ["solve", str(path), "--max-steps", "450", "--format", "json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    run = document["runs"][0]
    assert [len(e["steps"]) for e in run["epochs"]] == [200, 200, 50] and run["stopped_early"]
    assert "stopped after 450 of 20000 steps (--max-steps)" in \
        [w["message"] for w in document["warnings"]]
    streamed = RUNNER.invoke(app, ["solve", str(path), "--max-steps", "450", "--format", "json",
                                   "--summary"])
    end = json.loads(streamed.stdout.splitlines()[-1])
    assert end["final"] == run["final"] and end["final_loss"] == run["final_loss"]
    assert [w["message"] for w in end["warnings"]] == [w["message"] for w in
                                                       document["warnings"]]


def test_max_steps_of_other_models_stops_at_an_epoch_end():
    result = RUNNER.invoke(app, ["solve", "sigmoid_mlp", "--max-steps", "1", "--format", "json"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert len(document["runs"][0]["epochs"]) == 1
    assert "ran 1 of 2 epochs" in document["warnings"][-1]["message"]


def test_scale_data_generator(tmp_path):
    path = make_scale_data.write(tmp_path, rows=50, features=4, epochs=2)
    problem = load_problem(path)
    assert problem.dataset.X.shape == (50, 4) and set(problem.dataset.Y[:, 0]) <= {0.0, 1.0}
    assert problem.epochs == 2 and problem.update == "sgd"


def test_memory_is_flat_in_epochs():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 8))
    y = (rng.uniform(size=(500, 1)) < 0.5).astype(float)
    names = [f"x{j}" for j in range(8)]
    dataset = Dataset([*names, "y"], names, ["y"], X, y)
    base = replace(LOGREG, dataset=dataset, weights=[0.0] * 8, weight_names=names,
                   learning_rate=0.01)

    def peak(epochs: int) -> int:
        tracemalloc.start()
        for _ in glm_events(replace(base, epochs=epochs), steps=True):
            pass
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    small, large = peak(2), peak(20)
    assert large < 1.5 * small + 200_000, (small, large)


def test_events_carry_epoch_ends():
    events = list(glm_events(replace(LOGREG, epochs=3), steps=False))
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.index for e in ends] == [1, 2, 3] and ends[-1].steps == 12
    assert not any(isinstance(e, (StepDone, StepRows)) for e in events)


@pytest.mark.parametrize("args", [["--summary"], ["--summary", "--format", "json"],
                                  ["--format", "json", "--stream"],
                                  ["--max-steps", "2", "--format", "json"]])
@pytest.mark.parametrize("name", sorted(bundled_problems()))
def test_every_bundled_problem_in_every_long_run_mode(name, args):
    result = RUNNER.invoke(app, ["solve", name, *args])
    assert result.exit_code == 0, result.output
    if "json" in args and "--max-steps" not in args:
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert lines[0]["type"] == "run" and lines[-1]["type"] == "end"


def test_parallel_stream_to_a_file_is_identical(tmp_path, monkeypatch):
    """A long --stream formats its lines in a second process; the file is the same."""
    import gdtrace.writer as writer

    path = make_scale_data.write(tmp_path, rows=300, features=3, epochs=4)
    single = tmp_path / "single.jsonl"
    parallel = tmp_path / "parallel.jsonl"
    args = ["solve", str(path), "--format", "json", "--stream", "-o"]
    assert RUNNER.invoke(app, [*args, str(single)]).exit_code == 0
    monkeypatch.setattr(writer, "PARALLEL_STEPS", 100)
    assert RUNNER.invoke(app, [*args, str(parallel)]).exit_code == 0
    assert parallel.read_bytes() == single.read_bytes()
    assert len(single.read_text().splitlines()) == 1 + 4 * (1 + 300 + 1) + 1


def test_progress_bar_only_in_a_terminal(monkeypatch):
    import io

    from gdtrace.writer import ProgressBar

    with ProgressBar(10**6) as progress:  # stderr is not a terminal under pytest
        assert progress is None
    with ProgressBar(10) as progress:
        assert progress is None
    fake = io.StringIO()
    fake.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stderr", fake)
    with ProgressBar(10**6) as progress:
        assert progress is not None
        progress(500_000, 10**6)


@pytest.mark.parametrize("update", ["sgd", "batch", "minibatch"])
@pytest.mark.parametrize("limit", [1, 3, 5, 100])
def test_max_steps_same_in_both_paths(update, limit):
    problem = replace(LOGREG, update=update, epochs=3,
                      batch_size=3 if update == "minibatch" else None)
    lines, end, diagnostics = normal_path(problem, RunOptions(max_steps=limit))
    events = list(glm_events(problem, max_steps=limit))
    finished = events[-1]
    assert exact([finished.final, finished.final_loss]) == end
    assert [d.__dict__ for d in finished.diagnostics] == diagnostics
    assert finished.steps == min(limit, len([x for x in lines if not x.startswith("epoch")]))
