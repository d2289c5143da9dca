"""model: function — gradient descent on a formula, and its convergence analysis (seed §5)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.errors import ProblemError
from gdtrace.problem import apply_overrides, load_problem, load_problem_text, resolve_problem
from gdtrace.render import RenderOptions, render
from gdtrace.solvers import solve
from gdtrace.trace import Role


def problem(f: str, start: str = "{x: 3}", lr: float = 0.1, steps: int = 5, extra: str = ""):
    text = (f"model: function\nf: \"{f}\"\nstart: {start}\nlearning_rate: {lr}\n"
            f"steps: {steps}\n{extra}")
    return load_problem_text(text, "test.yaml")


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr if result.stderr_bytes else ""


def block_values(run) -> dict[str, float]:
    return {q.key: q.value for block in run.blocks for q in block.quantities}


# ----------------------------------------------------------------------- the steps


@pytest.mark.parametrize("eta", [0.01, 0.05, 0.1, 0.15, 0.2, 0.25])
def test_iterates_are_the_closed_form_of_seed_section_5(eta: float) -> None:
    """x_n = (1 − 10η)^n x₀ exactly (seed-values §5), and f′(x_n) = 10x_n at every step."""
    trace = solve(problem("5*x^2 + 2", lr=eta, steps=8))
    run = trace.runs[0]
    x = 3.0
    for n, step in enumerate(run.epochs[0].steps, start=1):
        grad = step.of_role(Role.GRAD)[0].value
        assert grad == pytest.approx(10 * x, rel=1e-12, abs=1e-12)
        assert step.rows[0][-1].value == pytest.approx(5 * x * x + 2, rel=1e-12)
        x = x - eta * 10 * x
        assert step.of_role(Role.PARAM)[0].value == pytest.approx(
            (1 - 10 * eta) ** n * 3.0, rel=1e-9, abs=1e-12)
    assert run.final["x"] == pytest.approx((1 - 10 * eta) ** 8 * 3.0, rel=1e-9, abs=1e-12)
    assert run.final_loss == pytest.approx(5 * run.final["x"] ** 2 + 2, rel=1e-12)


def test_convergence_analysis_of_seed_section_5() -> None:
    run = solve(problem("5*x^2 + 2")).runs[0]
    values = block_values(run)
    assert values["second_derivative"] == 10
    assert values["eta_limit"] == pytest.approx(0.2, rel=1e-15)  # range (0, 1/5)
    assert values["eta_one_step"] == pytest.approx(0.1, rel=1e-15)  # one step at 1/10
    assert values["minimiser"] == 0 and values["minimum"] == 2
    assert values["contraction"] == pytest.approx(0.0, abs=1e-15)
    assert run.stability is not None and run.stability.eta_limit == pytest.approx(0.2)
    assert run.final["x"] == 0.0  # η = 0.1 lands on x* = 0 in one step


@pytest.mark.parametrize("eta, regime", [(0.05, "monotone"), (0.1, "one step"),
                                         (0.15, "oscillates around"), (0.2, "bounces"),
                                         (0.25, "diverges")])
def test_the_regime_of_this_run_is_marked(eta: float, regime: str) -> None:
    run = solve(problem("5*x^2 + 2", lr=eta)).runs[0]
    table = next(t for b in run.blocks for t in b.tables if "learning rate" in t.title)
    marked = [row for row in table.rows if row[-1]]
    assert len(marked) == 1 and regime in marked[0][3]


def test_divergent_rate_says_why() -> None:
    trace = solve(problem("5*x^2 + 2", lr=0.25))
    messages = [w.message for w in trace.warnings]
    why = next(m for m in messages if "2/f′′" in m)
    assert "0.2" in why and "-1.5" in why and "1.5× per step" in why
    assert any(w.code == "diverging" for w in trace.warnings)


def test_cli_quadratic_prints_the_range_and_the_one_step_rate() -> None:
    code, out, _ = cli("solve", "quadratic", "--format", "text")
    assert code == 0
    assert "f′(x) = 10x" in out
    assert "converges from every start iff 0 < η < 2/f′′" in out
    assert "η < 2/f′′ = 2/10 = 0.2" in out
    assert "one-step learning rate = 1/f′′ = 1/10 = 0.1" in out
    assert "x₁ = x₀ − η·f′(x₀) = 3 − 0.1·30 = 0" in _steps_output()


def _steps_output() -> str:
    return cli("solve", "quadratic", "--format", "text", "--steps")[1]


def test_cli_lr_and_epochs_overrides_apply() -> None:
    code, out, _ = cli("solve", "quadratic", "--lr", "0.25", "--epochs", "3", "--format",
                       "json")
    assert code == 0
    document = json.loads(out)
    run = document["runs"][0]
    assert run["settings"]["learning_rate"] == 0.25 and run["settings"]["steps"] == 3
    assert len(run["epochs"][0]["steps"]) == 3
    assert run["final"] == {"x": pytest.approx(3 * (-1.5) ** 3)}
    codes = {w["code"] for w in document["warnings"]}
    assert "unstable_learning_rate" in codes


def test_json_final_maps_every_variable() -> None:
    trace = solve(problem("(x - 1)^2 + 3*(y + 2)^2", start="{x: 0, y: 0}", lr=0.1, steps=50))
    document = json.loads(render(trace, "json", RenderOptions()))
    final = document["runs"][0]["final"]
    assert set(final) == {"x", "y"}
    assert final["x"] == pytest.approx(1, abs=1e-4) and final["y"] == pytest.approx(-2, abs=1e-4)
    step = document["runs"][0]["epochs"][0]["steps"][0]
    assert step["grad"] == {"x": -2.0, "y": 12.0}


def test_two_variable_quadratic_uses_the_largest_hessian_eigenvalue() -> None:
    run = solve(problem("x^2 + 10*y^2 - 2*x*y + 4", start="{x: 1, y: 1}", lr=0.05)).runs[0]
    values = block_values(run)
    eig = np.linalg.eigvalsh(np.array([[2.0, -2.0], [-2.0, 20.0]]))
    assert values["eta_limit"] == pytest.approx(2 / eig[-1], rel=1e-12)
    assert values["eta_best"] == pytest.approx(2 / (eig[0] + eig[-1]), rel=1e-12)
    assert values["contraction"] == pytest.approx(max(abs(1 - 0.05 * eig)), rel=1e-12)
    assert values["minimiser_x"] == pytest.approx(0, abs=1e-12)


def test_two_variable_iterates_match_numpy() -> None:
    eta, steps = 0.05, 12
    run = solve(problem("x^2 + 10*y^2 - 2*x*y + 4", start="{x: 1, y: -2}", lr=eta,
                        steps=steps)).runs[0]
    point = np.array([1.0, -2.0])
    for _ in range(steps):
        x, y = point
        point = point - eta * np.array([2 * x - 2 * y, 20 * y - 2 * x])
    assert [run.final["x"], run.final["y"]] == pytest.approx(point.tolist(), rel=1e-12)


def test_non_quadratic_uses_the_hessian_at_the_point_reached() -> None:
    run = solve(problem("x^4 - 3*x^3 + 2", lr=0.01, steps=200)).runs[0]
    assert run.final["x"] == pytest.approx(2.25, rel=1e-9)
    values = block_values(run)
    assert values["second_derivative"] == pytest.approx(12 * 2.25 ** 2 - 18 * 2.25, rel=1e-6)
    assert values["eta_limit"] == pytest.approx(2 / 20.25, rel=1e-6)
    assert run.stability is None  # only a local statement


def test_divergence_is_detected_on_the_iterates_and_overflow_stops_the_run() -> None:
    trace = solve(problem("x^4", start="{x: 3}", lr=0.1, steps=30))
    run = trace.runs[0]
    assert run.stopped_early
    assert any(w.code == "non_finite" for w in trace.warnings)
    assert len(run.epochs[0].steps) < 30


def test_carry_rounding_applies_to_every_written_value() -> None:
    run = solve(problem("x^2", start="{x: 1}", lr=0.15, steps=3,
                        extra="carry_decimals: 2\n")).runs[0]
    xs = [s.of_role(Role.PARAM)[0].value for s in run.epochs[0].steps]
    assert xs == [0.7, 0.49, 0.34]  # 0.343 → 0.34


@pytest.mark.parametrize("yaml_text, field, words", [
    ('model: function\nf: "5*x@2"\nstart: {x: 1}\nlearning_rate: 0.1\nsteps: 2\n', "f",
     "column 4"),
    ('model: function\nf: "x + z"\nstart: {x: 1}\nlearning_rate: 0.1\nsteps: 2\n', "f",
     "unknown name 'z'"),
    ('model: function\nf: "x"\nstart: {x: 1}\nlearning_rate: 0.1\n', "steps", "steps"),
    ('model: function\nf: "x"\nstart: {x: 1}\nlearning_rate: 0.1\nsteps: 2\nepochs: 2\n',
     "epochs", "not both"),
    ('model: function\nf: "exp"\nstart: {exp: 1}\nlearning_rate: 0.1\nsteps: 2\n',
     "start.exp", "function name"),
    ('model: function\nf: "x"\nstart: {}\nlearning_rate: 0.1\nsteps: 2\n', "start",
     "at least 1"),
])
def test_bad_function_problems_name_the_field(yaml_text: str, field: str, words: str) -> None:
    with pytest.raises(ProblemError) as caught:
        load_problem_text(yaml_text, "bad.yaml")
    assert caught.value.field == field
    assert words in str(caught.value)


def test_cli_bad_formula_is_one_line_and_exit_2(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text('model: function\nf: "5*x @ 2"\nstart: {x: 1}\nlearning_rate: 0.1\n'
                    "steps: 2\n")
    result = CliRunner().invoke(app, ["solve", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "column 5" in result.stderr


def test_epochs_is_an_alias_of_steps_and_overridable() -> None:
    loaded = load_problem(resolve_problem("quadratic"))
    assert loaded.epochs == 5
    assert apply_overrides(loaded, epochs=2).epochs == 2


def test_every_format_renders_the_function_problem() -> None:
    from gdtrace.render import FORMATS

    trace = solve(problem("5*x^2 + 2", lr=0.25))
    for fmt in FORMATS:
        if fmt in ("html", "svg"):
            continue
        text = render(trace, fmt, RenderOptions())
        assert text and (fmt == "csv" or "0.2" in text), fmt


def test_concave_function_warns_that_there_is_no_minimum() -> None:
    trace = solve(problem("-x^2", lr=0.1))
    assert any(w.code == "no_minimum" for w in trace.warnings)
    assert not math.isnan(trace.runs[0].final["x"])


def test_compare_learning_rates_on_a_function_problem() -> None:
    result = CliRunner().invoke(app, ["compare", "quadratic", "--lr", "0.05,0.15", "--format",
                                      "json"])
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    assert [r["final"]["x"] for r in runs] == pytest.approx(
        [0.0, 3 * 0.5 ** 5, 3 * (-0.5) ** 5], abs=1e-15)
    bad = CliRunner().invoke(app, ["compare", "quadratic", "--l2", "1"])
    assert bad.exit_code == 2 and "--l2 does not apply to model function" in bad.stderr


@pytest.mark.parametrize("eta, row", [(0.05, 0), (0.1, 1), (0.15, 1), (0.2, 2), (0.3, 2)])
def test_two_variable_regime_marks_a_boundary_learning_rate(eta: float, row: int) -> None:
    """H = diag(10, 2): 1/λmax = 0.1 starts the overshooting row, 2/λmax = 0.2 the last one."""
    run = solve(problem("5*x^2 + y^2", start="{x: 1, y: 1}", lr=eta)).runs[0]
    table = next(t for b in run.blocks for t in b.tables if "learning rate" in t.title)
    assert [i for i, r in enumerate(table.rows) if r[-1]] == [row]
