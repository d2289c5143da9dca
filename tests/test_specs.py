"""Typed model specs, run options and planning a run once (issue 11): each loader builds its
model's frozen spec, solvers read it by attribute, run options never live in the problem, and
a solve builds its setup (or derives f) once, for the header and the run together."""

from __future__ import annotations

import dataclasses

import pytest

from gdtrace.problem import bundled_problems, load_problem
from gdtrace.problem.derivative_model import DerivativeSpec
from gdtrace.problem.extra_models import ClosedFormSpec, FunctionSpec, PerceptronSpec
from gdtrace.problem.model import Problem, Spec
from gdtrace.problem.network_models import MlpSpec, NetworkSpec
from gdtrace.solvers import SOLVERS, RunOptions, asks_formulas, header_for, solve

SPEC_OF_MODEL: dict[str, type[Spec]] = {
    "logistic": Spec, "linear": Spec, "network": NetworkSpec, "mlp": MlpSpec,
    "ridge": ClosedFormSpec, "ols": ClosedFormSpec, "function": FunctionSpec,
    "perceptron": PerceptronSpec, "derivative": DerivativeSpec,
}


def bundled(name: str) -> Problem:
    return load_problem(bundled_problems()[name])


@pytest.mark.parametrize("name", sorted(bundled_problems()))
def test_every_bundled_problem_has_its_models_frozen_spec(name: str) -> None:
    problem = bundled(name)
    assert type(problem.spec) is SPEC_OF_MODEL[problem.model]
    assert not hasattr(problem, "extra")
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.spec.anything = 1  # type: ignore[attr-defined]


def test_spec_of_names_the_wrong_kind() -> None:
    problem = bundled("logreg")
    with pytest.raises(TypeError, match="logistic problem has no NetworkSpec"):
        problem.spec_of(NetworkSpec)


def test_closed_form_spec_holds_the_files_gradient_descent_settings() -> None:
    spec = bundled("ridge").spec_of(ClosedFormSpec)
    assert (spec.fit_intercept, spec.method, spec.gd_learning_rate, spec.gd_epochs) == \
        (True, "normal", 0.08, 1000)


def test_function_spec_keeps_variables_and_start_in_order() -> None:
    spec = bundled("quadratic").spec_of(FunctionSpec)
    assert len(spec.variables) == len(spec.start) >= 1
    assert all(isinstance(v, float) for v in spec.start)


@pytest.mark.parametrize("name", sorted(bundled_problems()))
def test_header_for_equals_the_header_planned_with_the_run(name: str) -> None:
    problem = bundled(name)
    if problem.model not in SOLVERS:
        return  # a derivation task has no solver
    assert repr(header_for(problem)) == repr(solve(problem).header)  # Expr has no ==


def test_symbolic_is_a_run_option_not_a_problem_setting() -> None:
    problem = bundled("backprop")
    assert not asks_formulas(problem)
    assert asks_formulas(problem, RunOptions(symbolic=True))
    assert solve(problem, options=RunOptions(symbolic=True)).runs[0].epochs == []
    assert solve(problem).runs[0].epochs  # the problem itself is unchanged


def test_max_steps_is_a_run_option() -> None:
    problem = bundled("logreg")
    capped = solve(problem, options=RunOptions(max_steps=2))
    assert sum(len(e.steps) for e in capped.runs[0].epochs) == 2
    assert [w.code for w in capped.warnings] == ["max_steps"]
    assert sum(len(e.steps) for e in solve(problem).runs[0].epochs) > 2


def test_a_glm_solve_builds_its_setup_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from gdtrace.solvers import glm

    calls: list[Problem] = []
    original = glm.setup_from

    def counted(problem: Problem) -> glm.GLMSetup:
        calls.append(problem)
        return original(problem)

    monkeypatch.setattr(glm, "setup_from", counted)
    solve(bundled("logreg"))
    assert len(calls) == 1


def test_a_function_solve_derives_f_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from gdtrace.solvers import function

    calls: list[Problem] = []
    original = function.calculus

    def counted(problem: Problem) -> function.Calculus:
        calls.append(problem)
        return original(problem)

    monkeypatch.setattr(function, "calculus", counted)
    solve(bundled("quadratic"))
    assert len(calls) == 1


@pytest.mark.parametrize("module", ["gdtrace.solvers.network", "gdtrace.solvers.mlp"])
def test_a_network_solve_builds_its_setup_once(module: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    solver = importlib.import_module(module)
    calls: list[Problem] = []
    original = solver.setup_from

    def counted(problem: Problem):  # type: ignore[no-untyped-def]
        calls.append(problem)
        return original(problem)

    monkeypatch.setattr(solver, "setup_from", counted)
    solve(bundled("backprop" if module.endswith("network") else "sigmoid_mlp"))
    assert len(calls) == 1


def test_a_closed_form_problem_keeps_the_files_learning_rate() -> None:
    """Issue 11: a ridge file saying learning_rate: 0.08 is not loaded as the default 0.1."""
    import gdtrace

    problem = gdtrace.load("ridge")
    assert problem.learning_rate == 0.08 == problem.spec_of(ClosedFormSpec).gd_learning_rate
    assert problem.epochs == 1  # the closed form takes no steps
