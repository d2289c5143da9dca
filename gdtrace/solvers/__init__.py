"""Solvers turn a validated problem into a trace; they format nothing.

Each model name maps to a module with ``solve_run(problem, label) -> (Run, diagnostics)`` and
``header(problem) -> Header``; modules are imported only when their model is used.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from gdtrace.problem.model import Problem
from gdtrace.trace import Diagnostic, Header, ProblemInfo, Run, Trace


@dataclass(frozen=True)
class SolverEntry:
    module: str  # dotted path of the module holding solve_run and header


SOLVERS: dict[str, SolverEntry] = {
    "logistic": SolverEntry("gdtrace.solvers.glm_entry"),
    "linear": SolverEntry("gdtrace.solvers.glm_entry"),
    "network": SolverEntry("gdtrace.solvers.network"),
    "mlp": SolverEntry("gdtrace.solvers.mlp"),
    "ridge": SolverEntry("gdtrace.solvers.closed_form"),
    "ols": SolverEntry("gdtrace.solvers.closed_form"),
    "function": SolverEntry("gdtrace.solvers.function"),
    "perceptron": SolverEntry("gdtrace.solvers.perceptron"),
}


def register_solver(model: str, module: str) -> None:
    """Let a model's module be found by name (used by models added after the core)."""
    SOLVERS[model] = SolverEntry(module)


def _entry(model: str) -> tuple[Callable[[Problem, str], tuple[Run, list[Diagnostic]]],
                                Callable[[Problem], Header]]:
    module = importlib.import_module(SOLVERS[model].module)
    return module.solve_run, module.header


def header_for(problem: Problem) -> Header:
    return _entry(problem.model)[1](problem)


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a trace (or a class's reports) is built: lines
    link only backwards (no cycles), so each collection would re-scan the growing structure
    for nothing (about a third of a network's solve time; docs/performance.md)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def solve(problem: Problem, label: str = "as written") -> Trace:
    """Solve one problem as one run."""
    return solve_runs([(label, problem)])


def solve_runs(configurations: list[tuple[str, Problem]]) -> Trace:
    """Solve several labelled variants of one problem (``compare``) into one trace."""
    first = configurations[0][1]
    solve_run, header = _entry(first.model)
    runs: list[Run] = []
    warnings: list[Diagnostic] = []
    with no_cycle_collection():
        for label, problem in configurations:
            run, diagnostics = solve_run(problem, label)
            runs.append(run)
            warnings.extend(diagnostics)
    info = ProblemInfo(first.title, first.model, first.source)
    return Trace(info, header(first), runs, warnings, decimals_hint=first.carry_decimals)
