"""Solvers turn a validated problem into a trace; they format nothing.

Each model name maps to a :class:`Solver`: two public functions of its module,
``solve(problem, label, options) -> Solved`` (the run, its diagnostics and the header, planned
once) and ``header(problem, options) -> Header`` (the header alone, for ``--summary``). Modules
are imported only when their model is used.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from gdtrace.problem.model import Problem
from gdtrace.trace import Diagnostic, Header, ProblemInfo, Run, Trace


@dataclass(frozen=True)
class RunOptions:
    """How to run a problem, as opposed to what the problem is (``--symbolic``, ``--max-steps``).

    ``symbolic``: a network prints its general gradient formulas instead of training (as the
    file's ``symbolic: true``). ``max_steps``: logistic and linear regression stop after that
    many steps, with a warning (other models are cut to whole epochs by
    :func:`gdtrace.solvers.streaming.capped` before they are solved).
    """

    symbolic: bool = False
    max_steps: int | None = None


class Solved(NamedTuple):
    """One solved configuration: the run, what went wrong or needs saying, and the header."""

    run: Run
    diagnostics: list[Diagnostic]
    header: Header


SolveFunction = Callable[[Problem, str, RunOptions], Solved]
HeaderFunction = Callable[[Problem, RunOptions], Header]


@dataclass(frozen=True)
class Solver:
    """Where a model's solver lives: a module and the names of its two public functions."""

    module: str
    solve: str = "solve"
    header: str = "header"

    def functions(self) -> tuple[SolveFunction, HeaderFunction]:
        module = importlib.import_module(self.module)
        return getattr(module, self.solve), getattr(module, self.header)


SOLVERS: dict[str, Solver] = {
    "logistic": Solver("gdtrace.solvers.glm", "solve_glm", "glm_header"),
    "linear": Solver("gdtrace.solvers.glm", "solve_glm", "glm_header"),
    "network": Solver("gdtrace.solvers.network"),
    "mlp": Solver("gdtrace.solvers.mlp"),
    "ridge": Solver("gdtrace.solvers.closed_form"),
    "ols": Solver("gdtrace.solvers.closed_form"),
    "function": Solver("gdtrace.solvers.function"),
    "perceptron": Solver("gdtrace.solvers.perceptron"),
}


def header_for(problem: Problem, options: RunOptions | None = None) -> Header:
    """The header (model, loss, update rule, formulas, settings) without solving: what
    ``--summary`` prints above the lines a run writes as it goes."""
    return SOLVERS[problem.model].functions()[1](problem, options or RunOptions())


def asks_formulas(problem: Problem, options: RunOptions | None = None) -> bool:
    """True when a network prints its gradient formulas instead of training: the file says
    ``symbolic: true`` (or left its numbers out), or the run asks ``--symbolic``."""
    from gdtrace.problem.network_models import FormulaSpec

    if options is not None and options.symbolic:
        return True
    return isinstance(problem.spec, FormulaSpec) and problem.spec.symbolic


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


def solve(problem: Problem, label: str = "as written", options: RunOptions | None = None
          ) -> Trace:
    """Solve one problem as one run."""
    return solve_runs([(label, problem)], options)


def solve_runs(configurations: list[tuple[str, Problem]], options: RunOptions | None = None
               ) -> Trace:
    """Solve several labelled variants of one problem (``compare``) into one trace; the
    header is the first configuration's, planned with its run."""
    chosen = options or RunOptions()
    first = configurations[0][1]
    solve_one = SOLVERS[first.model].functions()[0]
    solved: list[Solved] = []
    with no_cycle_collection():
        for label, problem in configurations:
            solved.append(solve_one(problem, label, chosen))
    info = ProblemInfo(first.title, first.model, first.source)
    return Trace(info, solved[0].header, [s.run for s in solved],
                 [d for s in solved for d in s.diagnostics], decimals_hint=first.carry_decimals)
