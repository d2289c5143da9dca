"""ridge / ols / pinv in closed form agree with numpy's own least-squares routines."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gdtrace.cli import app
from gdtrace.errors import ProblemError
from gdtrace.problem import load_problem, load_problem_text, resolve_problem
from gdtrace.render import RenderOptions, render
from gdtrace.solvers import solve
from gdtrace.solvers.closed_form import fit

DATA = np.array([[1, 2, 3.1], [2, 1, 3.9], [3, 4, 7.2], [4, 3, 7.8], [5, 5, 10.1]])


def problem_text(model: str, rows: np.ndarray, extra: str = "") -> str:
    d = rows.shape[1] - 1
    columns = [f"x{j + 1}" for j in range(d)] + ["y"]
    body = "\n".join(f"    - [{', '.join(repr(float(v)) for v in row)}]" for row in rows)
    return (f"model: {model}\ndataset:\n  columns: [{', '.join(columns)}]\n  rows:\n{body}\n"
            f"{extra}")


def load(model: str, rows: np.ndarray = DATA, extra: str = ""):
    return load_problem_text(problem_text(model, rows, extra), "test.yaml")


def ridge_reference(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Ridge with an unpenalized intercept as an augmented least-squares problem (lstsq)."""
    n, d = X.shape
    design = np.hstack([X, np.ones((n, 1))])
    extra_rows = np.hstack([np.sqrt(lam) * np.eye(d), np.zeros((d, 1))])
    A = np.vstack([design, extra_rows])
    b = np.concatenate([y, np.zeros(d)])
    return np.linalg.lstsq(A, b, rcond=None)[0]


def as_vector(run) -> np.ndarray:
    return np.array([run.final[name] for name in run.param_names])


def test_ols_agrees_with_lstsq() -> None:
    run = solve(load("ols")).runs[0]
    X, y = DATA[:, :2], DATA[:, 2]
    design = np.hstack([X, np.ones((5, 1))])
    expected = np.linalg.lstsq(design, y, rcond=None)[0]
    assert as_vector(run) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert run.param_names == ["w1", "w2", "b"]
    residuals = y - design @ expected
    assert run.final_loss == pytest.approx(np.mean(residuals ** 2), rel=1e-9)


@pytest.mark.parametrize("lam", [0.0, 0.1, 1.0, 10.0])
def test_ridge_agrees_with_augmented_lstsq_and_leaves_b_unpenalized(lam: float) -> None:
    run = solve(load("ridge", extra=f"lambda: {lam}\n")).runs[0]
    expected = ridge_reference(DATA[:, :2], DATA[:, 2], lam)
    assert as_vector(run) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_ridge_without_intercept_is_the_textbook_formula() -> None:
    lam = 2.0
    run = solve(load("ridge", extra=f"lambda: {lam}\nfit_intercept: false\n")).runs[0]
    X, y = DATA[:, :2], DATA[:, 2]
    expected = np.linalg.inv(X.T @ X + lam * np.eye(2)) @ X.T @ y
    assert as_vector(run) == pytest.approx(expected, rel=1e-9)
    assert "b" not in run.final


def test_pinv_agrees_with_numpy_pinv_and_lists_singular_values() -> None:
    run = solve(load("ols", extra="method: pinv\n")).runs[0]
    design = np.hstack([DATA[:, :2], np.ones((5, 1))])
    assert as_vector(run) == pytest.approx(np.linalg.pinv(design) @ DATA[:, 2], rel=1e-9,
                                           abs=1e-9)
    values = {q.key: q.value for b in run.blocks for q in b.quantities}
    singular = np.linalg.svd(design, compute_uv=False)
    assert [values[f"singular_value_{k + 1}"] for k in range(3)] == pytest.approx(singular,
                                                                                 rel=1e-12)
    assert values["rank"] == 3


def test_rank_deficient_pinv_gives_the_minimum_norm_solution() -> None:
    rows = np.array([[1, 2, 1.0], [2, 4, 2.1], [3, 6, 2.9], [4, 8, 4.2]])  # x2 = 2·x1
    trace = solve(load("ols", rows, "method: pinv\n"))
    design = np.hstack([rows[:, :2], np.ones((4, 1))])
    expected = np.linalg.pinv(design) @ rows[:, 2]
    assert as_vector(trace.runs[0]) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    normal = solve(load("ols", rows))
    assert any(w.code == "singular" for w in normal.warnings)
    assert as_vector(normal.runs[0]) == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_ill_conditioned_gram_matrix_warns_with_the_condition_number() -> None:
    rows = np.array([[1, 1.0, 1.0], [2, 2.0001, 2.1], [3, 3.0, 2.9], [4, 4.0002, 4.2]])
    trace = solve(load("ols", rows))
    warning = next(w for w in trace.warnings if w.code == "ill_conditioned")
    kappa = np.linalg.cond(np.hstack([rows[:, :2], np.ones((4, 1))]).T
                           @ np.hstack([rows[:, :2], np.ones((4, 1))]))
    assert f"{kappa:.3g}" in warning.message
    design = np.hstack([rows[:, :2], np.ones((4, 1))])
    expected = np.linalg.lstsq(design, rows[:, 2], rcond=None)[0]
    assert as_vector(trace.runs[0]) == pytest.approx(expected, rel=1e-5)  # κ ≈ 8e9 costs digits


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 9), st.integers(1, 3), st.floats(0.0, 20.0), st.integers(0, 10_000))
def test_random_problems_agree_with_numpy(n: int, d: int, lam: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = np.round(rng.normal(size=(n, d + 1)) * 5, 3)
    X, y = rows[:, :d], rows[:, d]
    design = np.hstack([X, np.ones((n, 1))])
    if np.linalg.matrix_rank(design) < d + 1 or np.linalg.cond(design) > 1e6:
        return
    ridge = as_vector(solve(load("ridge", rows, f"lambda: {lam}\n")).runs[0])
    assert ridge == pytest.approx(ridge_reference(X, y, lam), rel=1e-9, abs=1e-9)
    ols = as_vector(solve(load("ols", rows)).runs[0])
    assert ols == pytest.approx(np.linalg.lstsq(design, y, rcond=None)[0], rel=1e-9, abs=1e-9)
    pinv = as_vector(solve(load("ols", rows, "method: pinv\n")).runs[0])
    assert pinv == pytest.approx(np.linalg.pinv(design) @ y, rel=1e-9, abs=1e-9)


def test_worked_blocks_hold_the_intermediate_matrices() -> None:
    problem = load("ridge", extra="lambda: 1\n")
    result = fit(problem)
    design = np.hstack([DATA[:, :2], np.ones((5, 1))])
    assert result.gram == pytest.approx(design.T @ design)
    assert result.system == pytest.approx(design.T @ design + np.diag([1.0, 1.0, 0.0]))
    assert result.rhs == pytest.approx(design.T @ DATA[:, 2])
    assert result.inverse == pytest.approx(np.linalg.inv(result.system))
    assert result.rmse == pytest.approx(np.sqrt(result.mse))
    run = solve(problem).runs[0]
    titles = [t.title for b in run.blocks for t in b.tables]
    assert any("intercept is not penalized" in t for t in titles)
    assert any(t.startswith("A⁻¹") for t in titles)


def test_console_output_says_how_it_solves_and_that_b_is_not_penalized() -> None:
    trace = solve(load_problem(resolve_problem("ridge")))
    text = render(trace, "text", RenderOptions())
    assert "the intercept b is not penalized" in text
    assert "linear solve" in text
    assert "RMSE = sqrt(MSE)" in text
    assert "w₁ = Σₖ (A⁻¹)₁ₖ·cₖ = (" in text


def test_json_final_names_coefficients_by_the_weights_mapping() -> None:
    problem = load("ridge", extra="lambda: 1\nweights: {slope: 0, tilt: 0}\n")
    document = json.loads(render(solve(problem), "json", RenderOptions()))
    run = document["runs"][0]
    assert list(run["final"]) == ["slope", "tilt", "b"]
    assert run["epochs"] == []
    values = {k: v for block in run["blocks"] for k, v in block["values"].items()}
    assert values["rmse"] == pytest.approx(np.sqrt(values["mse"]))


def test_closed_form_rejects_training_keys() -> None:
    with pytest.raises(ProblemError, match="unknown key 'update'"):
        load("ols", extra="update: batch\n")
    with pytest.raises(ProblemError, match="unknown key 'lambda'"):
        load("ols", extra="lambda: 1\n")
    with pytest.raises(ProblemError, match="lambda"):
        load("ridge")


# ------------------------------------------------------------------------ compare --methods


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_compare_methods_side_by_side_rmse() -> None:
    result = cli("compare", "ridge", "--methods", "ols,pinv,ridge,gd", "--format", "json")
    assert result.exit_code == 0, result.stderr
    runs = {r["label"]: r for r in json.loads(result.stdout)["runs"]}
    assert list(runs) == ["ols", "pinv", "ridge, λ = 1", "gd, η = 0.08, 1000 epochs"]
    X, y = DATA[:, :2], DATA[:, 2]
    design = np.hstack([X, np.ones((5, 1))])
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    rmse = np.sqrt(np.mean((y - design @ beta) ** 2))
    assert runs["ols"]["final_loss"] == pytest.approx(rmse, rel=1e-9)
    assert runs["pinv"]["final_loss"] == pytest.approx(rmse, rel=1e-9)
    ridge = ridge_reference(X, y, 1.0)
    assert [runs["ridge, λ = 1"]["final"][k] for k in ("w1", "w2", "b")] == pytest.approx(ridge)
    gd = runs["gd, η = 0.08, 1000 epochs"]
    assert [gd["final"][k] for k in ("w1", "w2", "b")] == pytest.approx(ridge, abs=1e-5)


def test_ridge_path_with_l2_list() -> None:
    result = cli("compare", "ridge", "--l2", "0.1,1,10", "--format", "json")
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    assert [r["label"] for r in runs] == ["ridge, λ = 0.1", "ridge, λ = 1", "ridge, λ = 10"]
    for run, lam in zip(runs, (0.1, 1, 10)):
        expected = ridge_reference(DATA[:, :2], DATA[:, 2], lam)
        assert [run["final"][k] for k in ("w1", "w2", "b")] == pytest.approx(expected, rel=1e-9)


def test_compare_methods_on_a_linear_problem_and_bad_input() -> None:
    ok = cli("compare", "linreg", "--methods", "ols,ridge", "--l2", "1", "--format", "text")
    assert ok.exit_code == 0 and "Comparison" in ok.stdout
    for args in (["--methods", "nope"], ["--methods", "gd", "--lr", "0.1,0.2"],
                 ["--methods", "ols", "--carry", "2"]):
        bad = cli("compare", "ridge", *args)
        assert bad.exit_code == 2 and bad.stderr.count("\n") == 1, args
    missing = cli("compare", "ridge")
    assert missing.exit_code == 2


def test_solve_ridge_is_not_mistaken_for_a_long_run() -> None:
    """learning_rate/epochs in a ridge file only configure `compare --methods gd`."""
    result = cli("solve", "ridge", "--steps", "--format", "text")
    assert result.exit_code == 0, result.stderr
    assert "Fitted values and errors" in result.stdout


def test_ridge_pinv_and_ols_without_intercept_agree_with_numpy() -> None:
    ridge = solve(load("ridge", extra="lambda: 3\nmethod: pinv\n")).runs[0]
    assert as_vector(ridge) == pytest.approx(ridge_reference(DATA[:, :2], DATA[:, 2], 3.0),
                                             rel=1e-9)
    values = {q.key: q.value for b in ridge.blocks for q in b.quantities}
    design = np.hstack([DATA[:, :2], np.ones((5, 1))])
    system = design.T @ design + np.diag([3.0, 3.0, 0.0])
    assert [values[f"singular_value_{k + 1}"] for k in range(3)] == pytest.approx(
        np.linalg.svd(system, compute_uv=False), rel=1e-12)
    ols = solve(load("ols", extra="fit_intercept: false\n")).runs[0]
    expected = np.linalg.lstsq(DATA[:, :2], DATA[:, 2], rcond=None)[0]
    assert as_vector(ols) == pytest.approx(expected, rel=1e-9)
    assert ols.param_names == ["w1", "w2"]
