"""A network's ``--summary`` computed by compiled float code gives the worked path's numbers.

The optimizers' rules are written once as text (``optimizers.RULES_TEXT``); a network's
``--summary`` compiles that text per parameter after the kernel's gradient lines
(``network_kernel.compile_update``), and runs a one-sample data set's epochs in blocks
(``Updater.epochs``, handed to the JSON writer as ``EpochRows``). These tests check, bit for
bit, that the compiled update equals ``Optimizer.values`` on numpy arrays (random values,
hyper-parameters, carry rounding, frozen parameters, overflow), that the fused and blocked
forms equal the kernel plus the update, and that whole runs (every optimizer, overflow,
``--max-steps``, progress) give the same events and the same JSON text as the step-by-step
loop and the worked solution.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gdtrace.formula.rounding import Carry
from gdtrace.problem import load_problem_text
from gdtrace.problem.optimizer_config import HYPERS, OptimizerConfig
from gdtrace.render.json_format import stream_lines
from gdtrace.solvers import network, solve
from gdtrace.solvers.network_kernel import compile_kernel, compile_update
from gdtrace.solvers.optimizers import RULES_TEXT, Optimizer
from gdtrace.solvers.streaming import EpochEnd, EpochRows, EpochStart, RunEnd, run_events
from gdtrace.trace import ProblemInfo

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])
OPTIMIZERS = list(RULES_TEXT)


def same(a: Any, b: Any) -> bool:
    """Bit for bit, NaN equal to NaN and 0.0 not equal to -0.0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True)) and \
        bool(np.array_equal(np.signbit(a), np.signbit(b)))


# ------------------------------------------------------------- the update, rule by rule

FLOATS = st.one_of(
    st.floats(-10.0, 10.0, allow_nan=False),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 1e300, -1e300, 1e154, 5e-324]))


def hyper_values(name: str) -> st.SearchStrategy[dict[str, float]]:
    """Valid hyper-parameters: rates in [0, 1), ε > 0."""
    values = {h.key: (st.floats(1e-12, 1.0) if h.kind == "positive"
                      else st.floats(0.0, 1.0, exclude_max=True)) for h in HYPERS[name]}
    return st.fixed_dictionaries(values)


@st.composite
def update_case(draw: st.DrawFn) -> tuple[Any, ...]:
    name = draw(st.sampled_from(OPTIMIZERS))
    hyper = draw(hyper_values(name))
    eta = draw(st.sampled_from([0.5, 0.1, 1e-3, 3.0, 1e300]))
    decimals = draw(st.sampled_from([None, None, 2, 4]))
    size = draw(st.integers(1, 5))
    trainable = tuple(draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    p = draw(st.lists(FLOATS, min_size=size, max_size=size))
    steps = [draw(st.lists(FLOATS, min_size=size, max_size=size))
             for _ in range(draw(st.integers(1, 4)))]
    return name, hyper, eta, decimals, trainable, p, steps


def _kernel_of(size: int, trainable: tuple[bool, ...]) -> Any:
    """A kernel over ``size`` parameters (only its namespace matters for ``update``)."""
    text = json.dumps({
        "title": "k", "model": "network",
        "dataset": {"columns": ["x1", "y"], "rows": [[1.0, 0.5]]},
        "nodes": [{"name": 1, "activation": "linear",
                   "edges": {f"w{i}": "x1" for i in range(size)}}],
        "outputs": [1], "weights": {f"w{i}": 0.1 for i in range(size)},
        "loss": "half_sse", "learning_rate": 0.1, "epochs": 1})
    setup = network.setup_from(load_problem_text(text, "k.yaml"))
    return compile_kernel(setup.graph, setup.loss, setup.carry, trainable)


@SETTINGS
@given(update_case())
def test_compiled_update_equals_optimizer_values(case: tuple[Any, ...]) -> None:
    """``update`` = ``Optimizer.values`` on numpy vectors of the trainable parameters, step
    after step (state and bias corrections carried), bit for bit."""
    name, hyper, eta, decimals, trainable, p, steps = case
    carry = Carry(decimals)
    config = OptimizerConfig(name, hyper) if name != "sgd" else OptimizerConfig()
    optimizer = Optimizer(config, eta, carry)
    updater = compile_update(RULES_TEXT[name], optimizer.hyper, eta, carry, trainable,
                             _kernel_of(len(p), trainable))
    live = [i for i, flag in enumerate(trainable) if flag]
    ours, state = list(p), updater.start
    theirs = np.array([p[i] for i in live], dtype=float)
    for number, grads in enumerate(steps, start=1):
        g = tuple(grads[i] for i in live)
        ours, state, _ = updater.update(ours, g, state, number)
        with np.errstate(all="ignore"):
            moved, _ = optimizer.values(["θ"], [theirs], [np.array(g, dtype=float)])
        theirs = np.asarray(moved[0], dtype=float)
        assert same([ours[i] for i in live], theirs)
        assert all(same(ours[i], p[i]) for i, flag in enumerate(trainable) if not flag)
        kept = optimizer.state.get("θ", {})
        assert same(state, [v for kind in RULES_TEXT[name].kept for v in kept[kind]])


def test_rule_text_names_only_what_it_is_given() -> None:
    """Every name in a rule's text is one the compiled forms bind (a typo would otherwise be
    a NameError in one form only)."""
    import re

    for name, rule in RULES_TEXT.items():
        known = {"p", "g", "eta", "t", "sqrt", "W", *(h.key for h in HYPERS[name]),
                 *rule.kept, *(k for k, _ in rule.lines), *(s for s, _ in rule.shared)}
        texts = [e for _, e in rule.lines] + [rule.new] + [e for _, e in rule.shared]
        for text in texts:
            assert set(re.findall(r"[A-Za-z_]\w*", text)) <= known, (name, text)


# ------------------------------------------------------------------------- whole runs

def network_doc(rows: list[list[float]], hidden: str, output: str, weights: dict[str, Any],
                loss: str, learning_rate: float, epochs: int) -> dict[str, Any]:
    """A 2-2-2 network with a shared bias per layer (Mazur's layout) as a problem mapping."""
    def node(name: str, activation: str, sources: tuple[str, str], first: int, bias: str
             ) -> dict[str, Any]:
        edges = {f"w{first}": sources[0], f"w{first + 1}": sources[1]}
        return {"name": name, "activation": activation, "edges": edges, "bias": bias}

    return {"title": "random 2-2-2", "model": "network",
            "dataset": {"columns": ["i1", "i2", "t1", "t2"], "targets": ["t1", "t2"],
                        "rows": rows},
            "nodes": [node("h1", hidden, ("i1", "i2"), 1, "b1"),
                      node("h2", hidden, ("i1", "i2"), 3, "b1"),
                      node("o1", output, ("h1", "h2"), 5, "b2"),
                      node("o2", output, ("h1", "h2"), 7, "b2")],
            "outputs": ["o1", "o2"], "weights": weights, "loss": loss,
            "learning_rate": learning_rate, "epochs": epochs}


@st.composite
def one_sample_network(draw: st.DrawFn, samples: int | None = None) -> tuple[str, int | None]:
    """A 2-2-2 network with a shared bias per layer (as Mazur's), random activations, loss,
    optimizer and learning rate (huge ones overflow), one sample unless ``samples``; and a
    ``--max-steps`` or None."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    n = samples or 1
    rows = [[round(float(v), 2) for v in rng.uniform(-1, 1, 4)] for _ in range(n)]
    hidden = draw(st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu", "linear"]))
    output = draw(st.sampled_from(["sigmoid", "linear", "tanh"]))
    weights: dict[str, Any] = {f"w{i}": round(float(v), 2)
                               for i, v in enumerate(rng.uniform(-1, 1, 8), start=1)}
    weights |= {"b1": 0.35, "b2": 0.6}
    if draw(st.booleans()):
        weights["w3"] = {"value": weights["w3"], "trainable": False}
    name = draw(st.sampled_from(OPTIMIZERS))
    doc = network_doc(rows, hidden, output, weights,
                      draw(st.sampled_from(["half_sse", "mse", "sse", "half_mse"])),
                      draw(st.sampled_from([0.5, 0.1, 2.0, 1e150, 1e300])),
                      draw(st.integers(1, 700)))
    if samples is not None:
        doc["update"] = draw(st.sampled_from(["sgd", "batch"]))
    if name != "sgd":
        doc["optimizer"] = {"name": name}
    max_steps = draw(st.one_of(st.none(), st.integers(1, 800)))
    return json.dumps(doc), max_steps


def _events(text: str, max_steps: int | None, rows: bool, blocks: bool = True,
            progress: Any = None) -> list[Any]:
    problem = load_problem_text(text, "random.yaml")
    if blocks:
        return list(run_events(problem, steps=False, max_steps=max_steps, epoch_rows=rows,
                               progress=progress))
    original = network._Numeric.one_sample
    network._Numeric.one_sample = lambda self: False  # type: ignore[method-assign]
    try:
        return list(run_events(problem, steps=False, max_steps=max_steps, progress=progress))
    finally:
        network._Numeric.one_sample = original  # type: ignore[method-assign]


def _unrolled(events: list[Any], names: list[str]) -> list[Any]:
    """EpochRows as the EpochStart and EpochEnd of each row."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, EpochRows):
            for row in event.rows:
                out += [EpochStart(row[0], row[1]),
                        EpochEnd(row[2], row[3], dict(zip(names, row[4:])))]
        else:
            out.append(event)
    return out


def _same_events(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if type(x) is not type(y):
            return False
        if isinstance(x, EpochStart) and not (x.index == y.index and same(x.loss, y.loss)):
            return False
        if isinstance(x, EpochEnd) and not (
                (x.index, x.steps) == (y.index, y.steps) and list(x.params) == list(y.params)
                and same(list(x.params.values()), list(y.params.values()))):
            return False
        if isinstance(x, RunEnd) and not (
                (x.steps, x.stopped_early, x.diagnostics) == (y.steps, y.stopped_early,
                                                             y.diagnostics)
                and same(x.final_loss, y.final_loss)
                and same(list(x.final.values()), list(y.final.values()))):
            return False
    return True


@SETTINGS
@given(one_sample_network())
def test_blocks_equal_the_step_by_step_loop(case: tuple[str, int | None]) -> None:
    """A one-sample run in blocks gives the step-by-step loop's events (losses, parameters,
    the overflow warning and where the run stops, --max-steps), as EpochRows or not, and the
    same JSON lines."""
    text, max_steps = case
    plain = _events(text, max_steps, rows=False, blocks=False)
    names = plain[0].param_names
    assert _same_events(_events(text, max_steps, rows=False), plain)
    blocked = _events(text, max_steps, rows=True)
    assert _same_events(_unrolled(blocked, names), plain)
    info = ProblemInfo("random", "network", "random.yaml")
    assert "".join(stream_lines(info, blocked)) == "".join(stream_lines(info, plain))


@SETTINGS
@given(one_sample_network(samples=3))
def test_several_samples_equal_the_step_by_step_loop(case: tuple[str, int | None]) -> None:
    """More than one sample (per-sample SGD through ``train``, batch through ``update``):
    the JSON lines equal those written epoch by epoch from the worked solution's numbers."""
    text, max_steps = case
    events = _events(text, max_steps, rows=True)
    assert not any(isinstance(e, EpochRows) for e in events)
    problem = load_problem_text(text, "random.yaml")
    run = solve(problem).runs[0]
    if max_steps is None and not run.stopped_early:
        losses = [e.loss for e in events if isinstance(e, EpochStart)]
        assert same(losses, [e.loss for e in run.epochs])
        assert same(list(events[-1].final.values()), list(run.final.values()))


@SETTINGS
@given(one_sample_network())
def test_blocks_equal_the_worked_solution(case: tuple[str, int | None]) -> None:
    """The epoch losses, parameters after each epoch, final parameters and warnings of the
    blocks are the worked solution's (which writes every line through ``Optimizer.step`` and
    stops at the first value that is not finite, whichever line writes it)."""
    text, _ = case
    problem = load_problem_text(text, "random.yaml")
    epochs = min(problem.epochs, 60)  # the worked solution records every line
    problem = load_problem_text(text.replace(f'"epochs": {problem.epochs}',
                                             f'"epochs": {epochs}'), "random.yaml")
    trace = solve(problem)
    run = trace.runs[0]
    events = _unrolled(list(run_events(problem, steps=False, epoch_rows=True)),
                       [p.name for p in network.setup_from(problem).graph.params])
    losses = [e.loss for e in events if isinstance(e, EpochStart)]
    assert same(losses, [e.loss for e in run.epochs])
    ends = [e.params for e in events if isinstance(e, EpochEnd)]
    worked = [{q.key: q.value for q in e.steps[-1].of_role(network.Role.PARAM)}
              for e in run.epochs if e.steps]
    if run.stopped_early:  # the failing step is shown, but the run ends where it started
        worked[-1] = dict(run.final)
    assert len(ends) == len(worked)
    assert all(same(list(a.values()), [b[k] for k in a]) for a, b in zip(ends, worked))
    end = events[-1]
    assert isinstance(end, RunEnd) and end.stopped_early == run.stopped_early
    assert same(end.final_loss, run.final_loss)
    assert same(list(end.final.values()), list(run.final.values()))
    assert [(d.code, d.message, d.epoch, d.step) for d in end.diagnostics] == \
        [(d.code, d.message, d.epoch, d.step) for d in trace.warnings]


MAZUR = """
title: Mazur's 2-2-2 network (shared bias per layer)
model: network
dataset:
  columns: [i1, i2, o1t, o2t]
  targets: [o1t, o2t]
  rows:
    - [0.05, 0.10, 0.01, 0.99]
nodes:
  - {name: h1, activation: sigmoid, edges: {w1: i1, w2: i2}, bias: b1}
  - {name: h2, activation: sigmoid, edges: {w3: i1, w4: i2}, bias: b1}
  - {name: o1, activation: sigmoid, edges: {w5: h1, w6: h2}, bias: b2}
  - {name: o2, activation: sigmoid, edges: {w7: h1, w8: h2}, bias: b2}
outputs: [o1, o2]
weights: {w1: 0.15, w2: 0.20, w3: 0.25, w4: 0.30, w5: 0.40, w6: 0.45, w7: 0.50, w8: 0.55,
          b1: 0.35, b2: 0.60}
loss: half_sse
learning_rate: LR
epochs: EPOCHS
optimizer: OPTIMIZER
"""


def mazur(optimizer: str, epochs: int, lr: str = "0.5") -> str:
    return MAZUR.replace("OPTIMIZER", optimizer).replace("EPOCHS", str(epochs)) \
        .replace("LR", lr)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_mazur_rows_across_blocks(optimizer: str) -> None:
    """Mazur's network over several blocks, every optimizer: EpochRows, the step-by-step
    loop and the worked solution agree bit for bit (also the epoch after a block's end)."""
    epochs = 2 * network.EPOCH_BLOCK + 3
    text = mazur(optimizer, epochs)
    plain = _events(text, None, rows=False, blocks=False)
    blocked = _events(text, None, rows=True)
    assert sum(isinstance(e, EpochRows) for e in blocked) == 3
    assert _same_events(_unrolled(blocked, plain[0].param_names), plain)
    run = solve(load_problem_text(mazur(optimizer, 40), "m.yaml")).runs[0]
    losses = [e.loss for e in plain if isinstance(e, EpochStart)][:40]
    assert losses == [e.loss for e in run.epochs]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_overflow_stops_at_the_worked_step_with_its_warning(optimizer: str) -> None:
    """Linear nodes and η = 1e300: the run stops at the first step that writes a value that
    is not finite (here a node's z, before any parameter), with the worked solution's warning
    naming it, in blocks as step by step."""
    text = mazur(optimizer, 50, "1e300").replace("activation: sigmoid", "activation: linear")
    plain = _events(text, None, rows=False, blocks=False)
    blocked = _events(text, None, rows=True)
    assert _same_events(_unrolled(blocked, plain[0].param_names), plain)
    end = blocked[-1]
    assert end.stopped_early and end.steps < 50
    worked = solve(load_problem_text(text, "mazur.yaml"))
    assert [(d.code, d.message, d.epoch, d.step) for d in end.diagnostics] == \
        [(d.code, d.message, d.epoch, d.step) for d in worked.warnings]
    assert [d.code for d in end.diagnostics] == ["non_finite"]
    assert end.diagnostics[0].step == end.steps


def test_max_steps_inside_a_block_and_progress() -> None:
    """--max-steps ends the run inside a block with its warning; the progress callback
    hears the steps done, last of all the limit."""
    heard: list[tuple[int, int]] = []
    text = mazur("momentum", 1000)
    blocked = _events(text, 300, rows=True, progress=lambda done, total: heard.append(
        (done, total)))
    plain = _events(text, 300, rows=False, blocks=False)
    assert _same_events(_unrolled(blocked, plain[0].param_names), plain)
    end = blocked[-1]
    assert end.steps == 300 and end.stopped_early
    assert [d.code for d in end.diagnostics] == ["max_steps"]
    assert heard[-1] == (300, 300) and [d for d, _ in heard] == sorted(d for d, _ in heard)


def test_summary_json_is_the_same_text() -> None:
    """``gdtrace solve --summary -f json`` writes the same bytes with EpochRows (the CLI's
    path) as epoch by epoch, and each line reads back as the events' numbers."""
    text = mazur("adam", 600)
    info = ProblemInfo("m", "network", "m.yaml")
    blocked = "".join(stream_lines(info, _events(text, None, rows=True)))
    assert blocked == "".join(stream_lines(info, _events(text, None, rows=False)))
    lines = [json.loads(line) for line in blocked.splitlines()]
    assert [line["type"] for line in lines[1:5]] == ["epoch", "epoch_end", "epoch", "epoch_end"]
    assert all(math.isfinite(line["loss"]) for line in lines if line["type"] == "epoch")


def test_cli_summary_uses_epoch_rows(tmp_path: Any) -> None:
    """The CLI's JSON summary of a one-sample network asks for EpochRows and writes what
    the events give."""
    from typer.testing import CliRunner

    from gdtrace.cli import app

    path = tmp_path / "m.yaml"
    path.write_text(mazur("rmsprop", 300))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["solve", str(path), "--summary", "-f", "json", "-o",
                                      str(out)])
    assert result.exit_code == 0, result.output
    problem = load_problem_text(path.read_text(), str(path))
    info = ProblemInfo(problem.title, problem.model, problem.source)
    assert out.read_text() == "".join(stream_lines(info, _events(path.read_text(), None,
                                                                 rows=False)))
