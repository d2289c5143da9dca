"""Registry entry for the logistic and linear models (see :mod:`gdtrace.solvers.glm`)."""

from __future__ import annotations

from gdtrace.problem.model import Problem
from gdtrace.solvers.glm import header_for, run_glm, setup_from
from gdtrace.trace import Diagnostic, Header, Run


def solve_run(problem: Problem, label: str) -> tuple[Run, list[Diagnostic]]:
    return run_glm(problem, label)


def header(problem: Problem) -> Header:
    return header_for(problem, setup_from(problem))
