"""Gradient descent on a function given as a formula, with a convergence analysis.

Each step writes x_{n+1} = x_n − η·f′(x_n) (for several variables, each coordinate with its
partial derivative). The derivative, the gradient and the Hessian are built symbolically by
:mod:`gdtrace.formula.parse`, simplified, and evaluated at each iterate.

Convergence: when every second derivative is a constant, f is quadratic and gradient descent
is the linear map x_{n+1} − x* = (I − ηH)(x_n − x*). It converges from every start iff
0 < η < 2/λmax(H) (1-D: 2/f′′), the distance to x* shrinks by |1 − η·f′′| per step, η = 1/f′′
lands on x* in one step and 1/f′′ < η < 2/f′′ overshoots and oscillates. For any other f the
same test is applied to the Hessian at the last iterate (the minimiser reached), and the
iterates themselves are watched for divergence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdtrace.formula import expr as E
from gdtrace.formula.parse import FUNCTIONS, depends_on, derivative, evaluate, substitute
from gdtrace.formula.rounding import Carry
from gdtrace.problem.extra_models import FunctionSpec
from gdtrace.problem.model import Problem
from gdtrace.solvers import RunOptions, Solved
from gdtrace.solvers.checks import first_non_finite
from gdtrace.solvers.optimizers import (
    ETA,
    RULES_TEXT,
    Optimizer,
    Slot,
    make_optimizer,
    state_index,
)
from gdtrace.trace import (
    Block,
    Diagnostic,
    Epoch,
    Formula,
    Header,
    Quantity,
    Role,
    Run,
    Stability,
    Step,
    Table,
    Value,
)

F = E.Sym("f", "f")
RISING_STEPS_FOR_DIVERGENCE = 3
STATIONARY_TOLERANCE = 1e-4

@dataclass
class Calculus:
    """f, its gradient and Hessian as simplified trees, built once per problem."""

    f: E.Expr
    variables: list[str]
    gradient: list[E.Expr]
    hessian: list[list[E.Expr]]

    @property
    def one_d(self) -> bool:
        return len(self.variables) == 1

    @property
    def quadratic(self) -> bool:
        """Every second derivative is a constant: f is a polynomial of degree ≤ 2 (abs is
        excluded: its second derivative is 0 except at the kink, where it does not exist)."""
        return not _has_kink(self.f) and all(not any(depends_on(h, v) for v in self.variables)
                                             for row in self.hessian for h in row)

    def values(self, point: np.ndarray) -> dict[str, float]:
        return {name: float(v) for name, v in zip(self.variables, point)}

    def hessian_at(self, point: np.ndarray) -> np.ndarray:
        at = self.values(point)
        return np.array([[evaluate(h, at) for h in row] for row in self.hessian], dtype=float)

    def numbers(self, point: Sequence[float]) -> tuple[float, list[float]]:
        """f and its gradient at a point, uncarried: :func:`evaluate`'s numbers, through the
        compiled :func:`kernel` where it has no exception to turn into inf or nan."""
        found = self.compiled()(*point) or self.evaluated(point)
        return found[0], found[1:]

    def evaluated(self, point: Sequence[float]) -> list[float]:
        """f and its gradient at a point by :func:`evaluate` itself (the kernel's fallback)."""
        operands = dict(zip(self.variables, point))
        with np.errstate(all="ignore"):
            return [evaluate(tree, operands) for tree in (self.f, *self.gradient)]

    def compiled(self) -> Callable[..., list[float] | None]:
        """:func:`kernel` of f and its gradient, compiled at the first call: f then each
        partial derivative at a point, or None where :meth:`numbers` evaluates the trees."""
        if self._kernel is None:
            self._kernel = kernel([self.f, *self.gradient], self.variables)
        return self._kernel

    _kernel: Callable[..., list[float] | None] | None = field(default=None, repr=False)


# ------------------------------------------------------------------------- numeric kernel

_FORWARD = {function.shown: function.forward for function in FUNCTIONS.values()}


def kernel(trees: Sequence[E.Expr], variables: Sequence[str]
           ) -> Callable[..., list[float] | None]:
    """The values of ``trees`` at a point (one float per variable, in order) as one compiled
    Python function: :func:`evaluate`'s arithmetic written out, for the ~10⁵ steps of a
    ``--summary``. Each node becomes one line doing exactly what ``evaluate`` does for it
    (an Add sums from 0.0 left to right, a Mul multiplies left to right from its first
    factor, since 1.0·a = a exactly; Div is ``/``, Pow ``math.pow``, a function its
    ``forward``), and a subtree that occurs twice is computed once (the same operations give
    the same number). Where ``evaluate`` turns an exception into inf or nan (a division by 0,
    ``math.pow``'s overflow or domain error) the generated code raises instead and returns
    None: the caller then evaluates the trees themselves."""
    names = {name: f"v{j}" for j, name in enumerate(variables)}
    lines: list[str] = []
    memo: dict[tuple[Any, ...], str] = {}
    scope: dict[str, Any] = {"_pow": math.pow}

    def emit(node: E.Expr) -> str:
        if isinstance(node, E.Num):
            value = float(node.value)
            if math.isfinite(value):
                return f"({value!r})"
            scope[f"c{len(scope)}"] = value
            return f"c{len(scope) - 1}"
        if isinstance(node, E.Sym):
            return names[node.key]
        identity = _identity(node)
        if identity not in memo:
            memo[identity] = f"t{len(memo)}"
            lines.append(f"        {memo[identity]} = {_operation(node, emit, scope)}")
        return memo[identity]

    results = [emit(tree) for tree in trees]
    source = (f"def compiled({', '.join(names.values())}):\n    try:\n"
              + "\n".join([*lines, "        pass"])
              + "\n    except (ArithmeticError, ValueError):\n        return None\n"
              + f"    return [{', '.join(results)}]\n")
    exec(compile(source, "<gdtrace function kernel>", "exec"), scope)  # noqa: S102
    compiled: Callable[..., list[float] | None] = scope["compiled"]
    return compiled


def _operation(node: E.Expr, emit: Callable[[E.Expr], str], scope: dict[str, Any]) -> str:
    """One node's operation on its children's names, as :func:`evaluate` performs it."""
    if isinstance(node, E.Add):
        return " + ".join(["0.0", *map(emit, node.terms)])
    if isinstance(node, E.Neg):
        return f"-{emit(node.arg)}"
    if isinstance(node, E.Mul):
        return " * ".join(map(emit, node.factors)) or "1.0"
    if isinstance(node, E.Div):
        return f"{emit(node.num)} / {emit(node.den)}"
    if isinstance(node, E.Pow):
        return f"_pow({emit(node.base)}, {emit(node.exp)})"
    if isinstance(node, E.Func):
        name = f"f{len(scope)}"
        scope[name] = _FORWARD[node.name]
        return f"{name}({emit(node.args[0])})"
    raise TypeError(f"cannot evaluate {type(node).__name__}")


def _identity(node: E.Expr) -> tuple[Any, ...]:
    """A structural identity for sharing subtrees (a constant by its repr: 0.0 is not -0.0)."""
    if isinstance(node, E.Num):
        return ("num", repr(float(node.value)))
    if isinstance(node, E.Sym):
        return ("sym", node.key)
    if isinstance(node, E.Func):
        return ("func", node.name, tuple(_identity(a) for a in node.args))
    return (type(node).__name__, tuple(_identity(c) for c in node.children()))


def _has_kink(node: E.Expr) -> bool:
    if isinstance(node, E.Func) and node.name in ("abs", "sign"):
        return True
    return any(_has_kink(child) for child in node.children())


def calculus(problem: Problem) -> Calculus:
    """f, its gradient and Hessian, derived once per solve (the header and the run share it)."""
    spec = problem.spec_of(FunctionSpec)
    variables, tree = list(spec.variables), spec.f
    gradient = [derivative(tree, v) for v in variables]
    hessian = [[derivative(g, v) for v in variables] for g in gradient]
    return Calculus(tree, variables, gradient, hessian)


# --------------------------------------------------------------------------------- symbols


def at(name: str, index: int | str, key: str | None = None) -> E.Sym:
    """The variable at iterate n: x₀, x₁ … (keyed by ``key``, default the name itself)."""
    return E.Sym(key or name, name, str(index))


def plain(name: str) -> E.Sym:
    return E.Sym(name, name)


def f_of(args: Sequence[E.Expr]) -> E.Expr:
    return E.Func("f", tuple(args))


def grad_symbol(calc: Calculus, name: str, index: int | str | None) -> E.Expr:
    """f′(x₀) in 1-D, ∂f/∂x otherwise (the partial's point is the step's)."""
    if calc.one_d:
        arg = plain(name) if index is None else at(name, index)
        return E.Func("f′", (arg,))
    return E.Deriv(F, plain(name), key=f"d:{name}")


def second_symbol(name: str) -> E.Expr:
    return E.Func("f′′", (plain(name),))


# ---------------------------------------------------------------------------------- header


def header(problem: Problem, options: RunOptions | None = None) -> Header:
    """The header alone (``--summary``)."""
    return header_of(problem, calculus(problem))


def header_of(problem: Problem, calc: Calculus) -> Header:
    names = calc.variables
    point = [plain(n) for n in names]
    formulas = [Formula(f_of(point), calc.f, "the function to minimise")]
    for name, grad in zip(names, calc.gradient):
        label = "derivative (simplified)" if calc.one_d else "partial derivative (simplified)"
        formulas.append(Formula(grad_symbol(calc, name, None), grad, label))
    if calc.one_d:
        formulas.append(Formula(second_symbol(names[0]), calc.hessian[0][0],
                                "second derivative"))
    optimizer = make_optimizer(problem.optimizer, problem.learning_rate)
    for name in names:
        if optimizer.plain:
            formulas.append(Formula(at(name, "n+1"),
                                    at(name, "n") - ETA * _grad_at(calc, name, "n"),
                                    "gradient-descent step"))
        else:
            formulas += optimizer.formulas(plain(name), grad_symbol(calc, name, None),
                                           state_index(name))
    notes = []
    if not optimizer.plain:
        notes.append(optimizer.note("", "each variable"))
        notes.append("the convergence analysis (η < 2/f′′) is about plain gradient descent, so "
                     f"it is not done with {optimizer.name}")
    elif calc.quadratic:
        notes.append("every second derivative is constant: f is quadratic, so the convergence "
                     "analysis below is exact")
    update = "gradient descent, one step per iteration"
    if not optimizer.plain:
        update += f"; optimizer: {optimizer.description()}"
    return Header(model="gradient descent on a function", loss="f itself (the value to minimise)",
                  update=update, formulas=formulas,
                  settings=_settings(problem), notes=notes)


def _grad_at(calc: Calculus, name: str, index: int | str) -> E.Expr:
    if calc.one_d:
        return E.Func("f′", (at(name, index),))
    return E.Deriv(F, plain(name), key=f"d:{name}")


def _settings(problem: Problem) -> dict[str, object]:
    settings: dict[str, object] = {"learning_rate": problem.learning_rate,
                                   "steps": problem.epochs}
    spec = problem.spec_of(FunctionSpec)
    for name, value in zip(spec.variables, spec.start):
        settings[f"start_{name}"] = value
    if problem.carry_decimals is not None:
        settings["carry_decimals"] = problem.carry_decimals
    settings.update(problem.optimizer.settings())  # nothing for plain gradient descent
    return settings


# ----------------------------------------------------------------------------------- steps


def _step(calc: Calculus, number: int, point: np.ndarray, carry: Carry, optimizer: Optimizer,
          sources: dict[str, Quantity] | None = None) -> tuple[Step, np.ndarray]:
    """One iterate; ``sources`` are the lines that wrote the current point (none: the start)."""
    names = calc.variables
    sources = sources or {}
    k = number - 1
    operands = calc.values(point)
    iterate = {n: at(n, k) for n in names}  # x → x₀ in this step's formulas (same keys)
    row = [Quantity(n, Role.INPUT, at(n, k), float(v), heading=plain(n))
           for n, v in zip(names, point)]
    f_value, grads = _numbers(calc, point, carry)
    row.append(Quantity("f", Role.VALUE, f_of([at(n, k) for n in names]), f_value,
                        substitute(calc.f, iterate),
                        dict(operands), heading=f_of([plain(n) for n in names]),
                        links=dict(sources)))
    quantities: list[Quantity] = []
    for name, tree, g in zip(names, calc.gradient, grads):
        quantities.append(Quantity(name, Role.GRAD, grad_symbol(calc, name, k), g,
                                   substitute(tree, iterate),
                                   dict(operands), heading=grad_symbol(calc, name, None),
                                   links=dict(sources)))
    grad_lines = {q.key: q for q in quantities}
    slots = [Slot(n, at(n, k, key=f"cur:{n}"), f"grad:{n}",
                  E.Ref(grad_symbol(calc, n, k), f"grad:{n}"), sources.get(n), grad_lines[n])
             for n in names]
    state, params = optimizer.step(slots, [float(v) for v in point], grads)
    for name, line in zip(names, params):  # written x₁ = x₀ − η·f′(x₀): the next iterate
        line.symbol, line.relation, line.heading = at(name, k + 1), "=", plain(name)
    quantities += state + params
    moved = np.array([float(line.value) for line in params])
    return Step(number, [], [row], quantities, title=f"Step {number}"), moved


def _numbers(calc: Calculus, point: np.ndarray, carry: Carry) -> tuple[float, list[float]]:
    """f and its gradient at an iterate, carry-rounded: the numbers of one step, shared by
    the worked step and ``--summary``/``--stream``."""
    f_value, grads = calc.numbers([float(v) for v in point])
    return carry(f_value), [carry(g) for g in grads]


def _compiled_update(optimizer: Optimizer, count: int
                     ) -> tuple[Callable[..., Any] | None, tuple[float, ...]]:
    """An optimizer with state, as straight-line float code (its ``RULES_TEXT`` rule written
    out per variable, as a network's summary updates: the same numbers as
    ``Optimizer.values``, without numpy's cost per call on a few floats), and its start state;
    (None, ()) for plain gradient descent, which the loop writes inline."""
    if optimizer.plain:
        return None, ()
    from gdtrace.solvers.network_kernel import compile_update

    updater = compile_update(RULES_TEXT[optimizer.name], optimizer.hyper, optimizer.eta,
                             optimizer.carry, (True,) * count, None)
    return updater.update, updater.start


def _state_lines(optimizer: Optimizer, names: list[str], point: list[float],
                 grads: list[float], kept: tuple[float, ...], number: int) -> dict[str, Value]:
    """The optimizer's state lines of update ``number`` by key, as the worked step writes
    them: ``Optimizer.values`` from the state the compiled update kept (``kept``, in
    ``RULES_TEXT`` order: every parameter's first kept kind, then the next …)."""
    with optimizer.resumed(optimizer.kept_state(names, kept), number - 1):
        return optimizer.values(names, point, grads)[1]


def events(problem: Problem, label: str = "as written", *, steps: bool = True,
           max_steps: int | None = None, progress: Callable[[int, int], None] | None = None,
           finished: list[Any] | None = None) -> Iterator[Any]:
    """The iterates as ``--summary``/``--stream`` events, numbers only (one epoch of
    ``steps`` iterations, as the worked solution)."""
    from gdtrace.solvers.streaming import EpochEnd, EpochStart, RunStart, StepDone, run_end

    calc = calculus(problem)
    carry = Carry(problem.carry_decimals)
    optimizer = make_optimizer(problem.optimizer, problem.learning_rate, carry)
    names = list(calc.variables)
    point = [carry(v) for v in problem.spec_of(FunctionSpec).start]
    limit = problem.epochs if max_steps is None else min(problem.epochs, max_steps)
    yield RunStart(label, names, ["f"], limit, _settings(problem))
    raw_f, raw_grads = calc.numbers(point)  # f and f′ at the iterate, before carry rounding
    yield EpochStart(1, carry(raw_f))
    rising, diagnostics, stopped, number = Rising(raw_f), [], False, 0
    rounds, eta, compiled = carry.decimals is not None, optimizer.eta, calc.compiled()
    state: dict[str, Value] = {}
    update, kept = _compiled_update(optimizer, len(names)) if not steps else (None, ())
    for number in range(1, limit + 1):
        if rounds:  # as _numbers (without rounding, carry is float() of a float: skipped)
            raw_f, raw_grads = carry(raw_f), [carry(g) for g in raw_grads]
        f_value, grads = raw_f, raw_grads
        if update is not None:  # --summary: no state by key to write, unless it may overflow
            moved, new_kept, check = update(point, tuple(grads), kept, number)
            state = {} if math.isfinite(check) else \
                _state_lines(optimizer, names, point, grads, kept, number)  # by key, to look
            point, kept = moved, new_kept
        elif not optimizer.plain:
            moved, state = optimizer.values(names, point, grads)
            point = [float(v) for v in moved]
        elif rounds:  # Optimizer.values' plain rule, w − η·g carry-rounded, inline
            point = [carry(p - eta * g) for p, g in zip(point, grads)]
        else:
            point = [p - eta * g for p, g in zip(point, grads)]
        if steps:
            yield StepDone(1, number, [], {"f": f_value} | state, dict(zip(names, grads)),
                           dict(zip(names, point)))
        if progress is not None:
            progress(number, limit)
        if not math.isfinite(f_value + sum(grads) + sum(state.values()) + sum(point)):
            # then look closer, in the worked step's order of lines
            written = [("f", f_value), *zip(names, grads), *state.items(), *zip(names, point)]
            bad = next(((k, v) for k, v in written if not math.isfinite(v)), None)
            if bad is not None:
                diagnostics.append(_left_float_range(bad[0], bad[1], label, number))
                stopped = True
                break
        found = compiled(*point) or calc.evaluated(point)  # calc.numbers, without a call
        raw_f, raw_grads = found[0], found[1:]
        rising.add(raw_f)
    final_value = calc.numbers(point)[0] if stopped else raw_f
    yield EpochEnd(1, number, dict(zip(names, point)))
    if not stopped:
        diagnostics.extend(rising.diagnostics(label))
    yield run_end(dict(zip(names, point)),
                  carry(final_value) if math.isfinite(final_value) else final_value,
                  diagnostics, stopped, number, limit, problem.epochs, label, finished)


def solve(problem: Problem, label: str, options: RunOptions) -> Solved:
    """The registry's entry: the header and the run from one derivation of f."""
    calc = calculus(problem)
    return Solved(*solve_run(problem, label, calc), header_of(problem, calc))


def solve_run(problem: Problem, label: str, calc: Calculus | None = None
              ) -> tuple[Run, list[Diagnostic]]:
    calc = calc or calculus(problem)
    carry = Carry(problem.carry_decimals)
    optimizer = make_optimizer(problem.optimizer, problem.learning_rate, carry)
    point = np.array([carry(v) for v in problem.spec_of(FunctionSpec).start], dtype=float)
    diagnostics: list[Diagnostic] = []
    with np.errstate(all="ignore"):
        start_value = evaluate(calc.f, calc.values(point))
    epoch = Epoch(1, carry(start_value), [])
    rising = Rising(start_value)
    stopped = False
    sources: dict[str, Quantity] = {}
    for number in range(1, problem.epochs + 1):
        step, point = _step(calc, number, point, carry, optimizer, sources)
        epoch.steps.append(step)
        sources = {q.key: q for q in step.of_role(Role.PARAM)}
        bad = first_non_finite(step)
        if bad is not None:
            diagnostics.append(_left_float_range(bad.key, bad.value, label, number))
            stopped = True
            break
        with np.errstate(all="ignore"):
            rising.add(evaluate(calc.f, calc.values(point)))
    with np.errstate(all="ignore"):
        final_value = evaluate(calc.f, calc.values(point))
    if not stopped:
        diagnostics.extend(rising.diagnostics(label))
    final: dict[str, Value] = {name: float(v) for name, v in zip(calc.variables, point)}
    blocks, stability, found = analyse(problem, calc, point, label) if optimizer.plain \
        else ([], None, [])  # the analysis is about plain gradient descent
    run = Run(label=label, settings=_settings(problem), epochs=[epoch], final=final,
              final_loss=carry(final_value) if math.isfinite(final_value) else final_value,
              param_names=list(calc.variables), stability=stability, blocks=blocks,
              stopped_early=stopped)
    return run, found + diagnostics


def _left_float_range(key: str, value: object, label: str, step: int) -> Diagnostic:
    """The run stops: a value of the step is not finite (the worked and numeric paths)."""
    return Diagnostic("non_finite", f"{key} became {value} at step {step}: the iterates left "
                      "the range of float64 (or f is undefined there); the run stops here",
                      label, 1, step)


@dataclass
class Rising:
    """Divergence on the iterates: f rose for several steps in a row. Fed f at each iterate,
    it keeps only the last value (``--summary`` of a long run stays in constant memory)."""

    last: float
    seen: int = 0  # values after the first
    rising: int = 0
    first: int | None = None  # the step the first run of rises started at

    def add(self, value: float) -> None:
        self.seen += 1
        if self.first is None:
            self.rising = self.rising + 1 if value > self.last else 0
            if self.rising == RISING_STEPS_FOR_DIVERGENCE:
                self.first = self.seen - RISING_STEPS_FOR_DIVERGENCE + 1
        self.last = value

    def diagnostics(self, label: str) -> list[Diagnostic]:
        if self.first is None:
            return []
        return [Diagnostic("diverging", f"f rose {RISING_STEPS_FOR_DIVERGENCE} steps in a "
                           f"row, starting at step {self.first}: gradient descent is moving "
                           "away from the minimum (the iterates diverge)", label, 1, self.first)]


# -------------------------------------------------------------------------------- analysis


def analyse(problem: Problem, calc: Calculus, last: np.ndarray, label: str,
            ) -> tuple[list[Block], Stability | None, list[Diagnostic]]:
    """The convergence analysis: exact for a quadratic, local (at the last iterate) otherwise."""
    eta = problem.learning_rate
    start = np.array(problem.spec_of(FunctionSpec).start, dtype=float)
    if calc.quadratic:
        hessian = calc.hessian_at(start)
        return _quadratic(calc, hessian, start, eta, label)
    with np.errstate(all="ignore"):
        defined = math.isfinite(evaluate(calc.f, calc.values(last))) \
            if np.all(np.isfinite(last)) else False
    if not defined:  # the run stopped where f is not a number: nothing local to analyse
        return [], None, []
    with np.errstate(all="ignore"):
        hessian = calc.hessian_at(last)
    if not np.all(np.isfinite(hessian)):
        return [], None, []
    return _local(calc, hessian, last, eta, label)


def _eigen(hessian: np.ndarray) -> np.ndarray:
    symmetric = (hessian + hessian.T) / 2
    return np.linalg.eigvalsh(symmetric)


def _hessian_table(calc: Calculus, hessian: np.ndarray, title: str) -> Table:
    names = calc.variables
    rows: list[list[object]] = [[f"∂/∂{n}"] + [float(v) for v in row]
                                for n, row in zip(names, hessian)]
    return Table(title, ["H"] + [f"∂f/∂{n}" for n in names], rows)


def _quadratic(calc: Calculus, hessian: np.ndarray, start: np.ndarray, eta: float, label: str,
               ) -> tuple[list[Block], Stability | None, list[Diagnostic]]:
    names = calc.variables
    eigen = _eigen(hessian)
    lam_min, lam_max = float(eigen[0]), float(eigen[-1])
    quantities: list[Quantity] = []
    tables: list[Table] = []
    diagnostics: list[Diagnostic] = []
    if calc.one_d:
        name = names[0]
        curvature = float(hessian[0, 0])
        fpp = E.Sym("fpp", "f′′")
        quantities.append(Quantity("second_derivative", Role.VALUE, second_symbol(name),
                                   curvature, calc.hessian[0][0]))
        if curvature <= 0:
            diagnostics.append(_no_minimum(curvature, one_d=True, label=label))
            return [Block("Convergence analysis", quantities)], None, diagnostics
        grad0 = evaluate(calc.gradient[0], calc.values(start))
        x_star = float(start[0] - grad0 / curvature)
        quantities.append(Quantity(
            "minimiser", Role.VALUE, E.Sym("x_star", f"{name}*"), x_star,
            at(name, 0, "x0") - E.Ref(E.Func("f′", (at(name, 0),)), "g0") / fpp,
            {"x0": float(start[0]), "g0": grad0, "fpp": curvature}))
        f_star = evaluate(calc.f, {name: x_star})
        quantities.append(Quantity("minimum", Role.VALUE, f_of([E.Sym("x_star", f"{name}*")]),
                                   f_star, calc.f, {name: x_star}))
        limit = 2.0 / curvature
        one_step = 1.0 / curvature
        factor = 1.0 - eta * curvature
        quantities += [
            Quantity("eta_limit", Role.VALUE, CONVERGES, limit,
                     E.Num(2) / fpp, {"fpp": curvature}, relation="<"),
            Quantity("eta_one_step", Role.VALUE, E.Text("one-step learning rate"), one_step,
                     E.Num(1) / fpp, {"fpp": curvature}),
            Quantity("step_factor", Role.VALUE, E.Sym("step_factor", "q"), factor,
                     1 - ETA * fpp, {ETA.key: eta, "fpp": curvature}),
            Quantity("contraction", Role.VALUE, E.Sym("contraction", "ρ"), abs(factor),
                     E.Func("abs", (1 - ETA * fpp,)), {ETA.key: eta, "fpp": curvature}),
        ]
        tables.append(_regimes_1d(one_step, limit, eta))
        hessian_formula: E.Expr = calc.hessian[0][0]
        if not 0 < eta < limit:
            diagnostics.append(Diagnostic(
                "unstable_learning_rate",
                f"η = {eta:g} is not below 2/f′′ = 2/{curvature:g} = {limit:g}: each step "
                f"multiplies the distance to the minimiser {name}* = {x_star:g} by "
                f"1 − η·f′′ = {factor:g}, so |{name}ₙ − {name}*| "
                + ("stays the same (the iterates bounce back and forth)" if abs(factor) == 1
                   else f"grows {abs(factor):g}× per step")
                + " and gradient descent does not converge", label))
    else:
        tables.append(_hessian_table(calc, hessian, "Hessian H (constant: f is quadratic)"))
        lam = E.Sym("lambda_max", "λmax")
        for k, value in enumerate(eigen):
            quantities.append(Quantity(f"eigenvalue_{k + 1}", Role.VALUE,
                                       E.Sym(f"eigenvalue_{k + 1}", "λ", str(k + 1)),
                                       float(value)))
        tables.append(curvature_table(eigen))
        if lam_min <= 0:
            diagnostics.append(_no_minimum(lam_min, one_d=False, label=label, eigen=eigen))
            return [Block("Convergence analysis", quantities, tables)], None, diagnostics
        gradient0 = np.array([evaluate(g, calc.values(start)) for g in calc.gradient])
        minimiser = start - np.linalg.solve(hessian, gradient0)
        for name, value in zip(names, minimiser):
            quantities.append(Quantity(f"minimiser_{name}", Role.VALUE,
                                       E.Sym(f"star:{name}", f"{name}*"), float(value)))
        quantities.append(Quantity("minimum", Role.VALUE,
                                   f_of([E.Sym(f"star:{n}", f"{n}*") for n in names]),
                                   evaluate(calc.f, calc.values(minimiser))))
        limit = 2.0 / lam_max
        factors = 1.0 - eta * eigen
        contraction = float(np.max(np.abs(factors)))
        best = 2.0 / (lam_min + lam_max)
        lam_lo = E.Sym("lambda_min", "λmin")
        quantities += [
            Quantity("eta_limit", Role.VALUE, CONVERGES, limit,
                     E.Num(2) / lam, {"lambda_max": lam_max}, relation="<"),
            Quantity("eta_best", Role.VALUE, E.Sym("eta_best", "η", "best"), best,
                     E.Num(2) / (lam_lo + lam), {"lambda_min": lam_min, "lambda_max": lam_max}),
            Quantity("contraction", Role.VALUE, E.Sym("contraction", "ρ"), contraction,
                     E.Func("max", (E.Func("abs", (1 - ETA * lam_lo,)),
                                    E.Func("abs", (1 - ETA * lam,)))),
                     {ETA.key: eta, "lambda_min": lam_min, "lambda_max": lam_max}),
        ]
        tables.append(_regimes_nd(lam_min, lam_max, eta))  # stays last: popped below
        hessian_formula = E.Sym("H", "∇²f")
        if not 0 < eta < limit:
            diagnostics.append(Diagnostic(
                "unstable_learning_rate",
                f"η = {eta:g} is not below 2/λmax = 2/{lam_max:g} = {limit:g}: along the "
                f"Hessian's steepest direction each step multiplies the error by "
                f"1 − η·λmax = {1 - eta * lam_max:g}, so gradient descent does not converge",
                label))
    stability = Stability(hessian_formula, lam_max, 2.0 / lam_max, eta)
    regimes = tables.pop()
    bound = "2/f′′" if calc.one_d else "2/λmax"
    title = ("Convergence analysis (exact: f is quadratic). Gradient descent converges from "
             f"every start iff 0 < η < {bound}")
    return [Block(title, quantities, tables),
            Block("Learning rates", [], [regimes])], stability, diagnostics


def _no_minimum(curvature: float, one_d: bool, label: str,
                eigen: np.ndarray | None = None) -> Diagnostic:
    if eigen is not None:  # several variables: say what the Hessian is, from all eigenvalues
        kind, _, _, meaning = classify_hessian(eigen)
        return Diagnostic("no_minimum", f"the Hessian's eigenvalues are {_eigen_text(eigen)}: "
                          f"it is {kind}, so {meaning}", label)
    shape = "concave" if curvature < 0 else "flat in some direction"
    return Diagnostic("no_minimum", f"f′′ is {curvature:g} ≤ 0: f is {shape} and has no "
                      "unique minimum, so gradient descent cannot converge to one (it runs "
                      "off unless it starts exactly at a stationary point)", label)


CURVATURE_TOLERANCE = 1e-12  # relative to the largest |eigenvalue|: below it counts as 0


def classify_hessian(eigen: np.ndarray) -> tuple[str, str, str, str]:
    """The Hessian's kind from the signs of all its eigenvalues (only together do they tell a
    minimum, a maximum and a saddle apart): kind, the stationary point, what gradient descent
    does (short, for a table) and the same in a sentence."""
    scale = max(float(np.max(np.abs(eigen))), 1e-300)
    positive = int(np.sum(eigen > CURVATURE_TOLERANCE * scale))
    negative = int(np.sum(eigen < -CURVATURE_TOLERANCE * scale))
    zero = len(eigen) - positive - negative
    s_neg = "s" if negative != 1 else ""
    if positive and negative:
        return ("indefinite", "saddle", f"runs away along the negative direction{s_neg}",
                f"f curves up along {positive} eigen-direction{'s' if positive != 1 else ''} "
                f"and down along {negative}: a stationary point is a saddle, not a minimum (f is"
                " neither convex nor concave); gradient descent is pulled in along the positive"
                f" directions but runs away along the negative one{s_neg} unless it starts "
                "exactly without a component there")
    if negative and zero:
        return ("negative semidefinite", "no minimum", "runs away",
                "f is concave and flat in some direction: it has no minimum, and gradient "
                "descent runs away along the negative directions")
    if negative:
        return ("negative definite", "maximum", "runs away in every direction",
                "f is concave: a stationary point is a maximum, and gradient descent runs away "
                "from it in every direction")
    if positive and zero:
        return ("positive semidefinite", "no unique minimum",
                "does not converge along the flat directions",
                "f is convex but flat along the eigenvectors of λ = 0: there is no unique "
                "minimum, and gradient descent does not converge along them")
    if positive:
        return ("positive definite", "minimum", "converges for a small enough η",
                "f is strictly convex around it: gradient descent converges to the minimum for "
                "a small enough η")
    return ("zero", "none", "moves by the same step forever",
            "the curvature is zero: f is linear and gradient descent never stops")


def _eigen_text(eigen: np.ndarray) -> str:
    scale = max(float(np.max(np.abs(eigen))), 1e-300)
    return ", ".join("0" if abs(v) <= CURVATURE_TOLERANCE * scale else f"{v:.4g}"
                     for v in eigen)


def curvature_table(eigen: np.ndarray) -> Table:
    kind, point, gd, _ = classify_hessian(eigen)
    return Table("the Hessian by the signs of its eigenvalues",
                 ["eigenvalues", "Hessian", "stationary point", "gradient descent"],
                 [[_eigen_text(eigen), kind, point, gd]])


MARK = "← this run"
CONVERGES = E.Sym("eta_bound", "η")  # written "η < 2/f′′ = …" with relation "<"


def _regimes_1d(one_step: float, limit: float, eta: float) -> Table:
    rows: list[list[object]] = [
        [0.0, one_step, "0 < q < 1", "monotone: approaches the minimiser from one side"],
        [one_step, one_step, "q = 0", "one step: x₁ is the minimiser"],
        [one_step, limit, "−1 < q < 0", "oscillates around the minimiser, converging"],
        [limit, limit, "q = −1", "bounces between x₀ and 2x* − x₀, never converges"],
        [limit, math.inf, "q < −1", "oscillates with growing amplitude: diverges"],
    ]
    return _mark(Table("what each learning rate does (q = 1 − η·f′′)",
                       ["η from", "η to", "factor", "behaviour", ""], rows), eta)


def _regimes_nd(lam_min: float, lam_max: float, eta: float) -> Table:
    rows: list[list[object]] = [
        [0.0, 1.0 / lam_max, "all 1 − ηλ > 0", "monotone in every eigen-direction"],
        [1.0 / lam_max, 2.0 / lam_max, "1 − η·λmax ≤ 0",
         "overshoots along the steepest direction, still converging"
         + (" (one step when all λ are equal and η = 1/λ)" if lam_min == lam_max else "")],
        [2.0 / lam_max, math.inf, "1 − η·λmax ≤ −1", "does not converge (diverges if > 2/λmax)"],
    ]
    return _mark(Table("what each learning rate does (error along eigenvector i is multiplied "
                       "by 1 − η·λᵢ each step)", ["η from", "η to", "factor", "behaviour", ""],
                       rows), eta)


def _mark(table: Table, eta: float) -> Table:
    """Flag the row this run's η falls in (a single-point row wins when η is exactly on it)."""
    exact = [r for r in table.rows if r[0] == r[1] == eta]
    inside = [r for r in table.rows if r[0] < r[1] and r[0] <= eta < r[1]]
    chosen = (exact or inside or [table.rows[-1]])[0]
    for row in table.rows:
        row.append(MARK if row is chosen else "")
    return table


def _local(calc: Calculus, hessian: np.ndarray, last: np.ndarray, eta: float, label: str,
           ) -> tuple[list[Block], Stability | None, list[Diagnostic]]:
    names = calc.variables
    quantities: list[Quantity] = []
    tables: list[Table] = []
    diagnostics: list[Diagnostic] = []
    at_last = calc.values(last)
    with np.errstate(all="ignore"):
        grad = np.array([evaluate(g, at_last) for g in calc.gradient])
    norm = float(np.linalg.norm(grad))
    for name, value in zip(names, last):
        quantities.append(Quantity(f"last_{name}", Role.VALUE, E.Sym(f"last:{name}", name,
                                                                      "last"), float(value)))
    quantities.append(Quantity("gradient_norm", Role.VALUE, E.Sym("gradient_norm", "‖∇f‖"),
                               norm))
    if calc.one_d:
        curvature = float(hessian[0, 0])
        quantities.append(Quantity("second_derivative", Role.VALUE,
                                   E.Func("f′′", (E.Sym(f"last:{names[0]}", names[0], "last"),)),
                                   curvature,
                                   substitute(calc.hessian[0][0],
                                              {names[0]: E.Sym(names[0], names[0], "last")}),
                                   dict(at_last)))
        eigen = np.array([curvature])
    else:
        tables.append(_hessian_table(calc, hessian, "Hessian H at the last iterate"))
        eigen = _eigen(hessian)
        tables.append(curvature_table(eigen))
        for k, value in enumerate(eigen):
            quantities.append(Quantity(f"eigenvalue_{k + 1}", Role.VALUE,
                                       E.Sym(f"eigenvalue_{k + 1}", "λ", str(k + 1)),
                                       float(value)))
    lam_max, lam_min = float(eigen[-1]), float(eigen[0])
    stationary = norm <= STATIONARY_TOLERANCE * max(1.0, float(np.max(np.abs(last))))
    title = ("Convergence analysis (local, at the last iterate): stable near it iff "
             f"0 < η < {'2/f′′' if calc.one_d else '2/λmax'}")
    if lam_max <= 0:
        what = "" if calc.one_d else f" ({classify_hessian(eigen)[0]})"
        diagnostics.append(Diagnostic(
            "no_minimum", f"the Hessian at the last iterate has no positive curvature{what}: "
            "this is not near a minimum", label))
        return [Block(title, quantities, tables)], None, diagnostics
    limit = 2.0 / lam_max
    lam = E.Sym("lambda_max", "λmax") if not calc.one_d else E.Sym("lambda_max", "f′′")
    quantities += [
        Quantity("eta_limit", Role.VALUE, CONVERGES, limit,
                 E.Num(2) / lam, {"lambda_max": lam_max}, relation="<"),
        Quantity("contraction", Role.VALUE, E.Sym("contraction", "ρ"),
                 float(np.max(np.abs(1.0 - eta * eigen)))),
    ]
    if not stationary:
        diagnostics.append(Diagnostic(
            "not_converged", f"after the last step the gradient is still {norm:.3g}: the "
            "iterates have not reached a stationary point, so the local analysis describes the "
            "last iterate, not a minimiser", label))
    elif lam_min < 0 and not calc.one_d:
        kind, _, _, meaning = classify_hessian(eigen)
        diagnostics.append(Diagnostic(
            "saddle", f"the iterates reached a stationary point whose Hessian is {kind}: "
            f"{meaning}", label))
    elif lam_min > 0 and eta >= limit:
        diagnostics.append(Diagnostic(
            "unstable_learning_rate", f"η = {eta:g} is not below 2/λmax = {limit:g} of the "
            "Hessian at the point reached: gradient descent cannot settle there", label))
    return [Block(title, quantities, tables)], None, diagnostics
