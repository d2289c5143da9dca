"""Logistic and linear regression trained by SGD, batch or minibatch gradient descent.

Conventions (docs/models.md): z = w·x + b. Logistic: ŷ = σ(z), error = σ(z) − y; with log loss
the sample gradient is error·x, with mse it is 2·error·σ(z)(1 − σ(z))·x. Linear: ŷ = z,
error = y − ŷ, gradient −c·error·x with c = 2 (mse, sse) or 1 (half_mse, half_sse). Mean-type
losses average over the samples of an update, sum-type losses add them up. L2 adds (λ/n)·w_j
(w_j before the step, n = samples in the data set) to each weight gradient, never to the bias.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import chain

import numpy as np

from gdtrace.errors import ProblemError
from gdtrace.formula.expr import Deriv, Expr, Num, Ref, Sum, Sym, func, sym
from gdtrace.formula.functions import SQUARED_LOSSES, log_loss_from_logits, stable_sigmoid
from gdtrace.formula.rounding import Carry
from gdtrace.problem.model import Problem
from gdtrace.solvers import RunOptions, Solved
from gdtrace.solvers.checks import first_non_finite, non_finite_step
from gdtrace.solvers.optimizers import ETA, Optimizer, Slot, make_optimizer, plain_rule
from gdtrace.solvers.streaming import (
    EpochEnd,
    EpochStart,
    Event,
    Progress,
    RunEnd,
    RunStart,
    StepDone,
    StepRows,
    ended,
    max_steps_diagnostic,
    planned_steps,
    step_record,
)
from gdtrace.trace import (
    Diagnostic,
    Epoch,
    Formula,
    Header,
    Link,
    Outcome,
    Prediction,
    Quantity,
    Role,
    Run,
    Stability,
    Step,
    Value,
)

FORMULA_LIMIT = 20_000  # formula trees a streamed run keeps for reuse (then starts afresh)
RISING_EPOCHS_FOR_DIVERGENCE = 3
# A rise counts when it exceeds a millionth of the loss: SGD at a constant learning rate ends
# in a cycle whose loss drifts by ~1e-10 from epoch to epoch, which is not divergence.
RISE_TOLERANCE = 1e-6

LOSS_NAME = Sym("L", "L")
LAMBDA = Sym("lambda", "λ")
N_SAMPLES = Sym("n", "n")
BATCH = Sym("m", "m")


@dataclass
class GLMSetup:
    """The parts of a problem the GLM update needs, with names resolved once."""

    logistic: bool
    loss: str
    weight_names: list[str]
    features: list[str]
    target: str
    X: np.ndarray
    y: np.ndarray
    eta: float
    lam: float
    update: str
    batch_size: int
    carry: Carry
    optimizer: Optimizer  # keeps its state (velocity, m, v …) across the run's steps
    # a run that drops its steps (a streamed document) makes each formula tree once per
    # (line, sample) and reuses it; None: every line gets its own tree
    formulas: dict[tuple[object, ...], Expr] | None = None

    def formula(self, key: tuple[object, ...], build: Callable[[], Expr]) -> Expr:
        """The formula tree ``build()`` makes, remembered under ``key`` when reusing."""
        if self.formulas is None:
            return build()
        found = self.formulas.get(key)
        if found is None:
            if len(self.formulas) >= FORMULA_LIMIT:
                self.formulas.clear()
            found = self.formulas[key] = build()
        return found

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def mean_type(self) -> bool:
        return self.logistic or SQUARED_LOSSES[self.loss].reduction == "mean"

    @property
    def factor(self) -> float:
        """c in the linear gradient −c·Σ e·x: 2 for (y − ŷ)², 1 for ½(y − ŷ)²."""
        return 1.0 if self.logistic else SQUARED_LOSSES[self.loss].factor


def setup_from(problem: Problem) -> GLMSetup:
    dataset = problem.dataset
    if dataset is None or len(dataset.targets) != 1:
        count = 0 if dataset is None else len(dataset.targets)
        raise ProblemError(f"{problem.model} regression needs exactly one target column, "
                           f"got {count}", source=problem.source, field="dataset.targets")
    return GLMSetup(
        logistic=problem.model == "logistic", loss=problem.loss,
        weight_names=list(problem.weight_names), features=list(dataset.features),
        # rows contiguous (the loader's column selection leaves X in Fortran order): w·x of a
        # sample is then the same dot product a plain numpy loop computes, and faster
        target=dataset.targets[0], X=np.ascontiguousarray(dataset.X, dtype=float),
        y=dataset.Y[:, 0].astype(float),
        eta=problem.learning_rate, lam=problem.lam, update=problem.update,
        batch_size=problem.samples_per_update(), carry=Carry(problem.carry_decimals),
        optimizer=make_optimizer(problem.optimizer, problem.learning_rate,
                                 Carry(problem.carry_decimals)))


# ---------------------------------------------------------------------------------------------
# Symbols. Operand keys are namespaced so a weight may share a column's name.


@lru_cache(maxsize=4096)
def weight_sym(name: str) -> Sym:
    """(Symbols are immutable: each name's is made once, not in every line of every step.)"""
    return sym(name, key=weight_key(name))


def weight_key(name: str) -> str:
    """The operand key of a parameter (``param:w1``, ``param:b``)."""
    return f"param:{name}"


@lru_cache(maxsize=4096)
def bias_sym() -> Sym:
    return Sym("param:b", "b")


@lru_cache(maxsize=4096)
def feature_sym(name: str) -> Sym:
    return sym(name, key=f"input:{name}")


@lru_cache(maxsize=4096)
def target_sym(name: str, sample: int | str) -> Sym:
    return sym(name, key=f"input:{name}", sub=str(sample))


@lru_cache(maxsize=4096)
def value_sym(base: str, sample: int | str, key: str) -> Sym:
    """(Made once per sample: a printer remembers a symbol's text by the symbol.)"""
    return Sym(key, base, sub=str(sample))


@lru_cache(maxsize=4096)
def heading_sym(key: str, base: str) -> Sym:
    """A column heading without the sample number (z, error, δ)."""
    return Sym(key, base)


@lru_cache(maxsize=4096)
def target_heading(name: str) -> Sym:
    return sym(name)


@lru_cache(maxsize=4096)
def grad_sym(param: Sym) -> Deriv:
    return Deriv(LOSS_NAME, param, key=f"grad:{param.key.removeprefix('param:')}")


def _all_finite(step: Step) -> bool:
    """Every value of the step a finite float: the common case, checked without numpy (then
    :func:`first_non_finite` has nothing to find)."""
    isfinite = math.isfinite
    for row in step.rows:
        for quantity in row:
            value = quantity.value
            if type(value) is not float or not isfinite(value):
                return False
    for quantity in step.quantities:
        value = quantity.value
        if type(value) is not float or not isfinite(value):
            return False
    return True


def sigma_of(z: Expr) -> Expr:
    return func("σ", z)


@lru_cache(maxsize=4096)
def sigma_sym_of(z: Sym) -> Expr:
    """σ(zₛ) of a sample's z symbol, made once per symbol (symbols compare by identity)."""
    return sigma_of(z)


# ---------------------------------------------------------------------------------------------
# Formula builders shared by the header (generic indices) and the steps (numbers).


def linear_combination(weights: list[Expr], inputs: list[Expr], bias: Expr) -> Expr:
    total: Expr = weights[0] * inputs[0]
    for w, x in zip(weights[1:], inputs[1:]):
        total = total + w * x
    return total + bias


def penalty(weight: Expr) -> Expr:
    return (LAMBDA / N_SAMPLES) * weight


def header_for(problem: Problem, setup: GLMSetup) -> Header:
    j, i = "j", "i"
    w_j, x_j, x_ij = Sym("w_j", "w", j), Sym("x_j", "x", j), Sym("x_ij", "x", i + j)
    b = bias_sym()
    z = Sym("z", "z")
    formulas = [Formula(z, Sum(j, Sym("d", "d"), w_j * x_j) + b, "pre-activation")]
    if setup.logistic:
        formulas.append(Formula(sigma_of(z), 1 / (1 + func("exp", -z)), "prediction ŷ"))
        formulas.append(Formula(Sym("error", "error"), sigma_of(z) - Sym("y", "y"), "error"))
        if setup.loss == "mse":
            formulas.append(Formula(Sym("delta", "δ"), 2 * Sym("error", "error") * sigma_of(z)
                                    * (1 - sigma_of(z)), "∂(σ − y)²/∂z"))
    else:
        formulas.append(Formula(Sym("yhat", "y", hat=True), z, "prediction"))
        formulas.append(Formula(Sym("error", "error"), Sym("y", "y") - Sym("yhat", "y", hat=True),
                                "error"))
    e_i = Sym("error_i", "error" if setup.loss != "mse" or not setup.logistic else "δ", i)
    grad_w = Deriv(LOSS_NAME, w_j, "grad:w_j")
    grad_b = Deriv(LOSS_NAME, b, "grad:b")
    per_update = "sample" if setup.update == "sgd" else "group"
    w_grad = _aggregate(setup, Sum(i, BATCH, e_i * x_ij), BATCH)
    b_grad = _aggregate(setup, Sum(i, BATCH, e_i), BATCH)
    if setup.update == "sgd":
        e_single = Sym("error", e_i.base)
        w_grad = _aggregate(setup, e_single * x_j, None)
        b_grad = _aggregate(setup, e_single, None)
    formulas.append(Formula(grad_w, w_grad + penalty(w_j), f"weight gradient per {per_update}"))
    formulas.append(Formula(grad_b, b_grad, "bias gradient (not penalized)"))
    if setup.optimizer.plain:
        formulas.append(Formula(w_j, w_j - ETA * grad_w, "update (same for b)", "←"))
    else:
        formulas.extend(setup.optimizer.formulas(w_j, grad_w, "j"))
    loss_description = _loss_description(setup)
    update = {"sgd": "SGD: one sample per update, in file order",
              "batch": "batch gradient descent: all samples per update",
              "minibatch": f"minibatch gradient descent: groups of {setup.batch_size}",
              }[setup.update]
    if problem.shuffle_seed is not None and setup.update != "batch":
        update += f", order shuffled each epoch (seed {problem.shuffle_seed})"
    if not setup.optimizer.plain:
        update += f"; optimizer: {setup.optimizer.description()}, the same rules for b"
    notes = ["m = samples in the update; n = samples in the data set"] if setup.update != "sgd" \
        else ["n = samples in the data set"]
    if not setup.optimizer.plain:
        notes.append(setup.optimizer.note("j"))
        if setup.optimizer.name == "adam" and setup.update != "sgd":
            notes.append("Adam's mⱼ is not the batch size m")
    return Header(
        model="logistic regression" if setup.logistic else "linear regression",
        loss=loss_description, update=update, formulas=formulas,
        settings=settings_of(problem, setup), notes=notes)


def _loss_description(setup: GLMSetup) -> str:
    if setup.logistic:
        return ("log loss (cross-entropy): L = −(1/n)Σ[y ln σ(z) + (1 − y) ln(1 − σ(z))]"
                if setup.loss == "log" else "mean squared error on σ(z): L = (1/n)Σ(σ(z) − y)²")
    return SQUARED_LOSSES[setup.loss].description


def _aggregate(setup: GLMSetup, summed: Expr, count: Expr | None) -> Expr:
    """Scale a summed error term as the loss says: logistic (1/m)Σ, linear −(c/m)Σ or −cΣ."""
    if setup.logistic:
        return summed if count is None else (1 / count) * summed
    c = setup.factor
    if count is not None and setup.mean_type:
        return -((Num(c) / count) * summed)
    return -summed if c == 1 else -(Num(c) * summed)


def settings_of(problem: Problem, setup: GLMSetup) -> dict[str, object]:
    settings: dict[str, object] = {"learning_rate": setup.eta, "lambda": setup.lam,
                                   "epochs": problem.epochs, "update": setup.update,
                                   "loss": setup.loss}
    if setup.update == "minibatch":
        settings["batch_size"] = setup.batch_size
    if problem.carry_decimals is not None:
        settings["carry_decimals"] = problem.carry_decimals
    if problem.shuffle_seed is not None:
        settings["shuffle_seed"] = problem.shuffle_seed
    settings.update(setup.optimizer.settings())  # nothing for plain gradient descent
    return settings


# ---------------------------------------------------------------------------------------------
# The training loop.


def solve_glm(problem: Problem, label: str, options: RunOptions) -> Solved:
    """The registry's entry for logistic and linear: header and run from one setup."""
    setup = setup_from(problem)
    header = header_for(problem, setup)
    run, diagnostics = run_glm(problem, label, options, setup)
    return Solved(run, diagnostics, header)


def glm_header(problem: Problem, options: RunOptions) -> Header:
    """The header alone (``--summary``)."""
    return header_for(problem, setup_from(problem))


def run_glm(problem: Problem, label: str = "as written", options: RunOptions | None = None,
            setup: GLMSetup | None = None) -> tuple[Run, list[Diagnostic]]:
    """Train as the problem says and record every written-down value."""
    training = Training(problem, label, options=options, setup=setup)
    epochs: list[Epoch] = []
    for item in training.items():
        if isinstance(item, Epoch):
            epochs.append(item)
        else:
            assert isinstance(item, Step)  # a linked run's steps are worked steps
            epochs[-1].steps.append(item)
    return training.run(epochs), training.diagnostics


class Training:
    """One run as it goes: :meth:`items` yields each epoch (its steps still empty) and then
    its steps, one at a time; once they are exhausted :meth:`run` and :attr:`diagnostics`
    hold the run's end. :func:`run_glm` collects everything; a streamed document writes each
    item and drops it. ``linked=False`` builds lines that link to no earlier line (the
    parameters' sources, the loss's per-sample passes): otherwise every step would keep the
    whole run alive through its links, and the text does not print them; such a run of
    plain SGD without carry rounding hands on numbered steps (:class:`NumberedStep`: the
    fast path's numbers, no Quantity lines) instead of worked steps."""

    def __init__(self, problem: Problem, label: str = "as written", linked: bool = True,
                 options: RunOptions | None = None, setup: GLMSetup | None = None) -> None:
        self.problem, self.label, self.linked = problem, label, linked
        self.setup = setup or setup_from(problem)
        if not linked:
            self.setup.formulas = {}
        carry = self.setup.carry
        self.w = carry.array(np.array(problem.weights, dtype=float))
        self.b = carry(problem.bias)
        self.diagnostics: list[Diagnostic] = []
        self.objectives: list[float | None] = []
        self.stopped = False
        self.steps_taken = 0
        self.limit, self.planned = max_steps_of(problem, options)
        # a streamed plain SGD run without carry rounding takes the fast path's numbers
        self.numbered = not linked and self.setup.batch_size == 1 \
            and self.setup.carry.decimals is None and self.setup.optimizer.plain

    def items(self) -> Iterator[Epoch | Step | NumberedStep]:
        problem, setup = self.problem, self.setup
        rng = np.random.default_rng(problem.shuffle_seed) if problem.shuffle_seed is not None \
            else None
        with np.errstate(all="ignore"):
            for epoch_index in range(1, problem.epochs + 1):
                if self.steps_taken >= self.limit:
                    break
                order = np.arange(setup.n)
                if rng is not None and setup.update != "batch":
                    order = rng.permutation(setup.n)
                loss_line = _loss_line(setup, self.w, self.b, self.sources,
                                       passes=self.linked)
                loss = float(loss_line.value)
                yield Epoch(epoch_index, loss, [], loss_line)
                self.objectives.append(objective(setup, loss, self.w))
                if not np.isfinite(loss):
                    self.diagnostics.append(non_finite_loss(loss, self.label, epoch_index))
                    self.stopped = True
                    break
                yield from self.epoch_steps(epoch_index, order)
                if self.stopped:
                    break

    sources: dict[str, Quantity] | None = None
    """Operand key → the line that wrote the parameter last (linked runs only)."""

    def epoch_steps(self, epoch_index: int, order: np.ndarray
                    ) -> Iterator[Step | NumberedStep]:
        if self.numbered:
            yield from self.numbered_steps(epoch_index, order)
            return
        setup = self.setup
        if self.linked and self.sources is None:
            self.sources = {}
        for start in range(0, setup.n, setup.batch_size):
            if self.steps_taken >= self.limit:
                break
            group = [int(s) for s in order[start:start + setup.batch_size]]
            self.steps_taken += 1
            step = _step(setup, self.steps_taken, group, self.w, self.b, self.sources)
            yield step
            bad = None if _all_finite(step) else first_non_finite(step)
            if bad is not None:
                self.diagnostics.append(non_finite_step(bad, self.label, epoch_index,
                                                        step.index))
                self.stopped = True
                break
            params = step.of_role(Role.PARAM)
            if self.linked:
                self.sources = {weight_key(q.key): q for q in params}
            self.w = np.array([q.value for q in params[:-1]], dtype=float)
            self.b = float(params[-1].value)

    def numbered_steps(self, epoch_index: int, order: np.ndarray
                       ) -> Iterator[Step | NumberedStep]:
        """:meth:`epoch_steps` from the fast path's numbers (:func:`_sgd_fast`, the worked
        path's arithmetic on plain floats): each step a :class:`NumberedStep`, the one that
        overflows (if any) rebuilt by the worked path, as :meth:`epoch_steps` writes it."""
        setup = self.setup
        state = _State(self.w, self.b, self.steps_taken)
        w, b, d = self.w.tolist(), float(self.b), len(setup.weight_names)
        try:
            for event in _sgd_fast(setup, state, order, epoch_index, self.limit, True, None):
                if isinstance(event, StepRows):
                    for row in event.table.tolist():
                        yield NumberedStep(setup, w, b, row)
                        w, b = row[-d - 1:-1], row[-1]
                elif isinstance(event, StepDone):  # the last step: a value is not finite
                    yield _step(setup, event.index, [event.samples[0] - 1], state.w, state.b)
        except _Stop as stop:
            self.diagnostics.append(non_finite_step(stop.bad, self.label, epoch_index,
                                                    stop.step))
            self.stopped = True
        self.w, self.b, self.steps_taken = state.w, state.b, state.step

    def run(self, epochs: list[Epoch]) -> Run:
        """The run's end (after :meth:`items`): final parameters and loss, predictions,
        stability, and the closing warnings added to :attr:`diagnostics`."""
        setup, label, w, b = self.setup, self.label, self.w, self.b
        final: dict[str, Value] = {name: float(v) for name, v in zip(setup.weight_names, w)}
        final["b"] = float(b)
        with np.errstate(all="ignore"):
            final_loss = loss_value(setup, w, b)
        stability, closing = closing_diagnostics(
            setup, self.objectives, objective(setup, final_loss, w), self.stopped, label)
        capped = self.steps_taken >= self.limit and self.limit < self.planned \
            and not self.stopped
        if capped:
            self.diagnostics.append(max_steps_diagnostic(self.limit, self.planned, label))
        self.diagnostics.extend(closing)
        return Run(label=label, settings=settings_of(self.problem, setup), epochs=epochs,
                   final=final, final_loss=final_loss, param_names=[*setup.weight_names, "b"],
                   outcome=outcome_of(self.problem, setup, w, b), stability=stability,
                   stopped_early=self.stopped or capped)


def max_steps_of(problem: Problem, options: RunOptions | None = None) -> tuple[int, int]:
    """(steps to run, steps planned): ``--max-steps`` arrives as ``options.max_steps``."""
    planned = planned_steps(problem)
    asked = options.max_steps if options is not None else None
    return (planned if asked is None else min(planned, int(asked))), planned


def non_finite_loss(value: float, label: str, epoch: int) -> Diagnostic:
    """The run stops: the loss at the start of an epoch is not finite."""
    return Diagnostic("non_finite", f"the loss became {value}"
                      f"{' (overflow)' if np.isinf(value) else ''} at the start "
                      f"of epoch {epoch}; the run stops here", label, epoch)


def objective(setup: GLMSetup, loss: float, w: np.ndarray) -> float:
    """What the updates minimise: the data loss plus the L2 term (λ/2n)·Σw_j² whose gradient is
    the (λ/n)·w_j the updates add. Divergence is judged on this, so a penalty that trades a
    little data loss for smaller weights is not mistaken for divergence."""
    if not setup.lam:
        return loss
    with np.errstate(all="ignore"):  # w·w of diverged weights is inf, never a RuntimeWarning
        return loss + setup.lam / (2 * setup.n) * float(np.dot(w, w))


def closing_diagnostics(setup: GLMSetup, losses: Sequence[float | None], final_loss: float,
                        stopped: bool, label: str) -> tuple[Stability | None, list[Diagnostic]]:
    """Warnings after the loop (a non-finite final loss, a rising objective, an unstable η) and
    the stability analysis; shared by :func:`run_glm` and the ``--summary``/``--stream`` path.
    ``losses`` and ``final_loss`` are objectives (see :func:`objective`)."""
    diagnostics: list[Diagnostic] = []
    if not stopped and not np.isfinite(final_loss):
        diagnostics.append(Diagnostic(
            "non_finite", f"the final loss became {final_loss}"
            f"{' (overflow)' if np.isinf(final_loss) else ''}", label))
    diagnostics.extend(_rising_loss([*losses, final_loss], label,  # type: ignore[list-item]
                                    penalized=setup.lam > 0))
    # the η < 2/λmax test is about plain gradient descent, not about momentum or Adam
    stability = _stability(setup) if not setup.logistic and setup.update == "batch" \
        and setup.optimizer.plain else None
    if stability is not None and not stability.stable:
        ratio = setup.eta / stability.eta_limit
        diagnostics.append(Diagnostic(
            "unstable_learning_rate",
            f"η = {setup.eta:g} is {ratio:.3g}× the stability limit 2/λmax = "
            f"{stability.eta_limit:.6g}: batch gradient descent on this loss diverges", label))
    return stability, diagnostics


def _rising_loss(losses: list[float], label: str, penalized: bool = False) -> list[Diagnostic]:
    """Divergence: the objective rose for 3 epochs in a row (reported once, where it started)."""
    what = "the loss plus its L2 penalty" if penalized else "the loss"
    rising = 0
    for k in range(1, len(losses)):
        threshold = losses[k - 1] + RISE_TOLERANCE * abs(losses[k - 1])
        rising = rising + 1 if losses[k] > threshold else 0
        if rising == RISING_EPOCHS_FOR_DIVERGENCE:
            start = k - RISING_EPOCHS_FOR_DIVERGENCE + 1
            return [Diagnostic("diverging", f"{what} rose {RISING_EPOCHS_FOR_DIVERGENCE} "
                               f"epochs in a row, starting in epoch {start}: training diverges",
                               label, start)]
    return []


def _forward_row(setup: GLMSetup, sample: int, w: np.ndarray, b: float,
                 sources: dict[str, Quantity]) -> list[Quantity]:
    """Inputs, z, σ(z) (logistic), error and δ (logistic mse) for one sample; ``sources`` are
    the lines the parameters come from (none: the problem's starting values)."""
    carry, s = setup.carry, sample + 1
    x, y = setup.X[sample], float(setup.y[sample])
    weights = [weight_sym(n) for n in setup.weight_names]
    inputs = [feature_sym(n) for n in setup.features]
    row = [Quantity(f, Role.INPUT, feature_sym(f), float(v)) for f, v in zip(setup.features, x)]
    y_sym = target_sym(setup.target, s)
    row.append(Quantity(setup.target, Role.INPUT, y_sym, y, heading=target_heading(setup.target)))
    operands: dict[str, Value] = {ws.key: float(v) for ws, v in zip(weights, w)}
    operands |= {xs.key: float(v) for xs, v in zip(inputs, x)} | {"param:b": b}
    z = carry(float(np.dot(w, x) + b))
    z_sym = value_sym("z", s, "z")
    z_line = Quantity("z", Role.VALUE, z_sym, z, setup.formula(("z",), partial(_z_formula, setup)),
                      operands, heading=heading_sym("z", "z"), links=dict(sources))
    row.append(z_line)
    if setup.logistic:
        sigma = carry(float(stable_sigmoid(z)))
        sigma_line = Quantity("sigma", Role.VALUE, sigma_sym_of(z_sym), sigma,
                              setup.formula(("sigma", s), partial(_sigma_formula, s)), {"z": z},
                              heading=sigma_sym_of(heading_sym("z", "z")), links={"z": z_line})
        row.append(sigma_line)
        error = carry(sigma - y)
        error_line = Quantity("error", Role.VALUE, value_sym("error", s, "error"), error,
                              setup.formula(("error", s), partial(_error_formula, setup, s)),
                              {"sigma": sigma, y_sym.key: y},
                              heading=heading_sym("error", "error"),
                              links={"sigma": sigma_line})
        row.append(error_line)
        if setup.loss == "mse":
            delta = carry(2 * error * sigma * (1 - sigma))
            row.append(Quantity("delta", Role.VALUE, value_sym("δ", s, "delta"), delta,
                                setup.formula(("delta", s), partial(_delta_formula, s)),
                                {"error": error, "sigma": sigma}, heading=heading_sym("delta", "δ"),
                                links={"error": error_line, "sigma": sigma_line}))
    else:
        error = carry(y - z)
        row.append(Quantity("error", Role.VALUE, value_sym("error", s, "error"), error,
                            setup.formula(("error", s), partial(_error_formula, setup, s)),
                            {y_sym.key: y, "z": z},
                            heading=heading_sym("error", "error"), links={"z": z_line}))
    return row


# Each line's formula tree, made by one function for the worked path (_forward_row, _step) and
# the numbered path (NumberedStep) alike; ``s`` is the sample's number (from 1).


def _z_formula(setup: GLMSetup) -> Expr:
    return linear_combination([weight_sym(n) for n in setup.weight_names],
                              [feature_sym(n) for n in setup.features], bias_sym())


def _sigma_formula(s: int) -> Expr:
    return 1 / (1 + func("exp", -Ref(value_sym("z", s, "z"), "z")))


def _error_formula(setup: GLMSetup, s: int) -> Expr:
    y_sym, z_sym = target_sym(setup.target, s), value_sym("z", s, "z")
    if setup.logistic:
        return Ref(sigma_sym_of(z_sym), "sigma") - y_sym
    return y_sym - Ref(z_sym, "z")


def _delta_formula(s: int) -> Expr:
    sig = Ref(sigma_sym_of(value_sym("z", s, "z")), "sigma")
    return 2 * Ref(value_sym("error", s, "error"), "error") * sig * (1 - sig)


def _weight_gradient_formula(setup: GLMSetup, j: int, samples: tuple[int, ...],
                             base: str) -> Expr:
    """∂L/∂w_j's formula over the step's samples, with the L2 term when λ is set."""
    formula = setup.formula(("grad", j, samples, base),
                            partial(_weight_gradient, setup, j, samples, base))
    if not setup.lam:
        return formula
    w_sym = weight_sym(setup.weight_names[j])
    return setup.formula(("grad+l2", j, samples, base),
                         lambda: formula + (LAMBDA / N_SAMPLES) * w_sym)


class NumberedStep:
    """A streamed SGD step given by the fast path's numbers (one row of :func:`_sgd_fast`'s
    :class:`StepRows`): the text writer fills its worked lines (:meth:`lines`: each line's
    symbol, formula tree, relation, operands and value, as :func:`_step` makes them) without
    building :class:`Quantity` lines; :meth:`step` is the same step from the worked path."""

    __slots__ = ("setup", "index", "samples", "w", "b", "row")
    title = ""  # a step's own title: none (``Step 3 — sample 3``)

    def __init__(self, setup: GLMSetup, w: list[float], b: float, row: list[float]) -> None:
        """``w``, ``b``: the parameters the step starts from; ``row``: ``[epoch, step,
        sample, values…, ∂L/∂w…, ∂L/∂b, w…, b]``."""
        self.setup, self.w, self.b, self.row = setup, w, b, row
        self.index = int(row[1])
        self.samples = [int(row[2])]

    def step(self) -> Step:
        """The step as :func:`_step` builds it (its numbers are these, bit for bit)."""
        return _step(self.setup, self.index, [self.samples[0] - 1],
                     np.array(self.w, dtype=float), self.b)

    def inputs(self) -> list[tuple[Expr, float]]:
        """The sample's inputs line: (heading, value) of each feature and the target."""
        setup, sample = self.setup, self.samples[0] - 1
        shown: list[tuple[Expr, float]] = [
            (feature_sym(name), value) for name, value in zip(setup.features,
                                                              setup.X[sample].tolist())]
        shown.append((target_heading(setup.target), float(setup.y[sample])))
        return shown

    def lines(self) -> list[tuple[Expr, Expr, str, dict[str, Value], float]]:
        """(symbol, formula, relation, operands, value) of every worked line after the
        inputs, in :func:`_step`'s order: z, σ(z), error, δ, gradients, updates."""
        setup, s, row, w, b = self.setup, self.samples[0], self.row, self.w, self.b
        x, y = setup.X[s - 1].tolist(), float(setup.y[s - 1])
        d = len(w)
        k = len(row) - 2 * d - 2  # where the gradients start
        values, grads, new = row[3:k], row[k:k + d + 1], row[k + d + 1:]
        weights = [weight_sym(name) for name in setup.weight_names]
        operands: dict[str, Value] = {ws.key: v for ws, v in zip(weights, w)}
        operands |= {feature_sym(name).key: v for name, v in zip(setup.features, x)}
        operands["param:b"] = b
        z_sym, y_key = value_sym("z", s, "z"), target_sym(setup.target, s).key
        error_sym, error_formula = value_sym("error", s, "error"), setup.formula(
            ("error", s), partial(_error_formula, setup, s))
        lines: list[tuple[Expr, Expr, str, dict[str, Value], float]] = [
            (z_sym, setup.formula(("z",), partial(_z_formula, setup)), "=", operands,
             values[0])]
        base = "error"
        if setup.logistic:
            z, sigma, error = values[:3]
            lines.append((sigma_sym_of(z_sym), setup.formula(("sigma", s), partial(
                _sigma_formula, s)), "=", {"z": z}, sigma))
            lines.append((error_sym, error_formula, "=", {"sigma": sigma, y_key: y}, error))
            if setup.loss == "mse":
                base = "δ"
                lines.append((value_sym("δ", s, "delta"), setup.formula(("delta", s), partial(
                    _delta_formula, s)), "=", {"error": error, "sigma": sigma}, values[3]))
        else:
            lines.append((error_sym, error_formula, "=", {y_key: y, "z": values[0]},
                          values[1]))
        signal, samples = values[-1], (s - 1,)
        for j, ws in enumerate(weights):
            given: dict[str, Value] = {"s0": signal, "x0": x[j]}
            if setup.lam:
                given |= {"lambda": setup.lam, "n": float(setup.n), ws.key: w[j]}
            lines.append((grad_sym(ws), _weight_gradient_formula(setup, j, samples, base), "=",
                          given, grads[j]))
        lines.append((grad_sym(bias_sym()), setup.formula(
            ("grad", "b", samples, base), partial(_bias_gradient, setup, samples, base)), "=",
            {"s0": signal}, grads[d]))
        for ws, current, grad, value in zip([*weights, bias_sym()], [*w, b], grads, new):
            grad_leaf = grad_sym(ws)
            lines.append((ws, plain_rule(ws, grad_leaf), "←",
                          {ws.key: current, "eta": setup.eta, grad_leaf.key: grad}, value))
        return lines


def _signal(row: list[Quantity]) -> Quantity:
    """The per-sample factor the gradient multiplies by x: δ for logistic mse, else error."""
    keyed = {q.key: q for q in row}
    return keyed.get("delta", keyed["error"])


def _signal_base(signal: Quantity) -> str:
    """The signal's printed name (error or δ), for the sums over the samples of a step."""
    symbol = signal.symbol
    assert isinstance(symbol, Sym)
    return symbol.base


def _step(setup: GLMSetup, number: int, group: list[int], w: np.ndarray, b: float,
          sources: dict[str, Quantity] | None = None) -> Step:
    """One update; ``sources`` are the lines the parameters come from (None: a step built to
    be dropped, by --summary/--stream, which must not chain the optimizer's lines)."""
    carry = setup.carry
    linked = sources is not None
    sources = sources or {}
    rows = [_forward_row(setup, s, w, b, sources) for s in group]
    signals = [_signal(row) for row in rows]
    m = len(group)
    weights = [weight_sym(n) for n in setup.weight_names]
    scale = numeric_scale(setup, m)
    quantities: list[Quantity] = []
    penalty_factor = setup.lam / setup.n

    base = _signal_base(signals[0])
    samples = tuple(group)
    signal_operands = {f"s{k}": q.value for k, q in enumerate(signals)}
    signal_links: dict[str, Link] = {f"s{k}": q for k, q in enumerate(signals)}
    for j, (name, w_sym) in enumerate(zip(setup.weight_names, weights)):
        x_values = {f"x{k}": float(setup.X[s, j]) for k, s in enumerate(group)}
        formula = _weight_gradient_formula(setup, j, samples, base)
        operands = signal_operands | x_values
        links = dict(signal_links)
        raw = scale * sum(float(q.value) * float(setup.X[s, j]) for q, s in zip(signals, group))
        if setup.lam:
            operands |= {"lambda": setup.lam, "n": float(setup.n), w_sym.key: float(w[j])}
            if w_sym.key in sources:
                links[w_sym.key] = sources[w_sym.key]
            raw += penalty_factor * float(w[j])
        quantities.append(Quantity(name, Role.GRAD, grad_sym(w_sym), carry(raw), formula,
                                   operands, links=links))
    b_formula = setup.formula(("grad", "b", samples, base),
                              partial(_bias_gradient, setup, samples, base))
    b_raw = scale * sum(float(q.value) for q in signals)
    quantities.append(Quantity("b", Role.GRAD, grad_sym(bias_sym()), carry(b_raw),
                               b_formula, dict(signal_operands),
                               links=dict(signal_links)))
    grads = {q.key: float(q.value) for q in quantities}
    grad_lines = {q.key: q for q in quantities}
    names = [*setup.weight_names, "b"]
    slots = [Slot(name, w_sym, grad_sym(w_sym).key, grad_sym(w_sym), sources.get(w_sym.key),
                  grad_lines[name])
             for name, w_sym in zip(names, [*weights, bias_sym()])]
    state_lines, param_lines = setup.optimizer.step(
        slots, [*map(float, w), b], [grads[name] for name in names], linked)
    quantities.extend(state_lines + param_lines)
    return Step(number, [s + 1 for s in group], rows, quantities)


def _signal_ref(base: str, samples: tuple[int, ...], k: int) -> Ref:
    return Ref(value_sym(base, samples[k] + 1, f"s{k}"), f"s{k}")


def _weight_gradient(setup: GLMSetup, j: int, samples: tuple[int, ...], base: str) -> Expr:
    """∂L/∂w_j's formula (without the penalty) over the step's samples."""
    m = len(samples)
    x_refs = [Ref(feature_sym(setup.features[j]), f"x{k}") for k in range(m)]
    if setup.update == "sgd":
        return _aggregate(setup, _signal_ref(base, samples, 0) * x_refs[0], None)
    x_ij = sym(setup.features[j], key="x_ij", sub="i" + sym(setup.features[j]).sub)
    summed = Sum("i", Num(m), Sym("signal_i", base, "i") * x_ij,
                 tuple(_signal_ref(base, samples, k) * x_refs[k] for k in range(m)))
    return _aggregate(setup, summed, Num(m))


def _bias_gradient(setup: GLMSetup, samples: tuple[int, ...], base: str) -> Expr:
    """∂L/∂b's formula over the step's samples."""
    m = len(samples)
    if setup.update == "sgd":
        return _aggregate(setup, _signal_ref(base, samples, 0), None)
    summed = Sum("i", Num(m), Sym("signal_i", base, "i"),
                 tuple(_signal_ref(base, samples, k) for k in range(m)))
    return _aggregate(setup, summed, Num(m))


def numeric_scale(setup: GLMSetup, m: int) -> float:
    """The number the summed signal·x is multiplied by (matches :func:`_aggregate`)."""
    if setup.logistic:
        return 1.0 / m
    if setup.update == "sgd" or not setup.mean_type:
        return -setup.factor
    return -setup.factor / m


def _loss_line(setup: GLMSetup, w: np.ndarray, b: float,
               sources: dict[str, Quantity] | None = None, passes: bool = True) -> Quantity:
    """Data loss over the whole data set (no penalty), written out sample by sample.

    Its terms link to each sample's forward pass (z, σ(z), error) at these parameters: lines
    not shown in the worked solution, through which ``gdtrace check`` follows a student's
    parameters into the loss (``passes=False``: no links, for a streamed run)."""
    carry = setup.carry
    forward = [{q.key: q for q in _forward_row(setup, i, w, b, sources or {})}
               for i in range(setup.n)] if passes else []
    links: dict[str, Link] = {}
    n = setup.n
    z = carry.array(setup.X @ w + b)
    operands: dict[str, Value] = {}
    if setup.logistic:
        p = carry.array(stable_sigmoid(z))
        for i, (y, p_i) in enumerate(zip(setup.y.tolist(), p.tolist())):
            operands[f"y{i}"] = y
            operands[f"p{i}"] = p_i
            if forward:
                links[f"p{i}"] = forward[i]["sigma"]
    else:
        for i, error in enumerate(carry.array(setup.y - z).tolist()):
            operands[f"e{i}"] = error
            if forward:
                links[f"e{i}"] = forward[i]["error"]
    operands["n"] = float(n)
    formula = setup.formula(("loss",), lambda: _loss_formula(setup))
    return Quantity("loss", Role.LOSS, LOSS_NAME, loss_value(setup, w, b), formula, operands,
                    links=links)


def _loss_formula(setup: GLMSetup) -> Expr:
    """The loss line's formula: the general sum and its terms, one per sample (operands
    ``y{i}``, ``p{i}`` or ``e{i}``)."""
    terms: list[Expr] = []
    if setup.logistic:
        for i in range(setup.n):
            y_ref, p_ref = Ref(Sym("y", "y", str(i + 1)), f"y{i}"), Ref(Sym("p", "p", str(i + 1)),
                                                                        f"p{i}")
            if setup.loss == "log":
                terms.append(y_ref * func("ln", p_ref) + (1 - y_ref) * func("ln", 1 - p_ref))
            else:
                terms.append((p_ref - y_ref) ** 2)
        if setup.loss == "log":
            body = Sym("y_i", "y", "i") * func("ln", sigma_of(Sym("z_i", "z", "i"))) + \
                (1 - Sym("y_i", "y", "i")) * func("ln", 1 - sigma_of(Sym("z_i", "z", "i")))
            return -((1 / N_SAMPLES) * Sum("i", N_SAMPLES, body, tuple(terms)))
        body = (sigma_of(Sym("z_i", "z", "i")) - Sym("y_i", "y", "i")) ** 2
        return (1 / N_SAMPLES) * Sum("i", N_SAMPLES, body, tuple(terms))
    for i in range(setup.n):
        terms.append(Ref(Sym("e", "error", str(i + 1)), f"e{i}") ** 2)
    loss = SQUARED_LOSSES[setup.loss]
    half = loss.factor == 1.0
    body = (Sym("y_i", "y", "i") - Sym("yhat_i", "y", "i", hat=True)) ** 2
    summed = Sum("i", N_SAMPLES, body, tuple(terms))
    if loss.reduction == "mean":
        return (1 / (2 * N_SAMPLES) if half else 1 / N_SAMPLES) * summed
    return (1 / Num(2)) * summed if half else summed


def loss_value(setup: GLMSetup, w: np.ndarray, b: float) -> float:
    """The number :func:`_loss_line` writes, without its terms (also used by the
    ``--summary``/``--stream`` fast path, so both paths share one computation)."""
    carry = setup.carry
    z = carry.array(setup.X @ w + b)
    ys = setup.y
    if setup.logistic and setup.loss == "log":
        value = float(np.mean(log_loss_from_logits(z, ys)))
        if carry.decimals is not None:
            p = carry.array(stable_sigmoid(z))
            if np.all((p > 0) & (p < 1)):
                # on paper the line is evaluated with the rounded σ(zᵢ) it shows
                value = float(-np.mean(ys * np.log(p) + (1 - ys) * np.log(1 - p)))
    elif setup.logistic:
        value = float(np.mean((carry.array(stable_sigmoid(z)) - ys) ** 2))
    else:
        loss = SQUARED_LOSSES[setup.loss]
        squares = carry.array(ys - z) ** 2
        half = loss.factor == 1.0
        if loss.reduction == "mean":
            value = float(np.mean(squares)) * (0.5 if half else 1.0)
        else:
            value = float(np.sum(squares)) * (0.5 if half else 1.0)
    return carry(value)


def _stability(setup: GLMSetup) -> Stability | None:
    """λmax of the loss's Hessian c/n·X̃ᵀX̃ (+ λ/n on the weights) gives the limit η < 2/λmax
    (None when X̃ᵀX̃ overflows: data near the float limit has no such analysis)."""
    design = np.hstack([setup.X, np.ones((setup.n, 1))])
    scale = setup.factor / (setup.n if setup.mean_type else 1)
    with np.errstate(all="ignore"):  # data near the float limit: X̃ᵀX̃ overflows
        hessian = scale * design.T @ design
    hessian[np.arange(setup.X.shape[1]), np.arange(setup.X.shape[1])] += setup.lam / setup.n
    if not np.all(np.isfinite(hessian)):
        return None
    lambda_max = float(np.linalg.eigvalsh(hessian)[-1])
    c = Num(setup.factor)
    xtx = Sym("XtX", "X̃ᵀX̃")
    formula: Expr = (c / N_SAMPLES) * xtx if setup.mean_type else c * xtx
    if setup.factor == 1:
        formula = (1 / N_SAMPLES) * xtx if setup.mean_type else xtx
    return Stability(formula, lambda_max, 2.0 / lambda_max, setup.eta)


def outcome_of(problem: Problem, setup: GLMSetup, w: np.ndarray, b: float) -> Outcome:
    scores = _scores(setup, w, b)
    threshold = problem.threshold
    labels = [int(s >= threshold) for s in scores]
    predictions = [Prediction(i + 1, float(s), lab, float(t))
                   for i, (s, lab, t) in enumerate(zip(scores, labels, setup.y))]
    return Outcome(threshold, predictions, _accuracy(setup, np.array(labels)))


def accuracy_of(problem: Problem, setup: GLMSetup, w: np.ndarray, b: float) -> float | None:
    """:func:`outcome_of`'s accuracy without a prediction object per sample (a summary of a
    million rows needs only the fraction)."""
    labels = (_scores(setup, w, b) >= problem.threshold).astype(int)
    return _accuracy(setup, labels)


def _scores(setup: GLMSetup, w: np.ndarray, b: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        z = setup.X @ w + b
        return stable_sigmoid(z) if setup.logistic else z


def _accuracy(setup: GLMSetup, labels: np.ndarray) -> float | None:
    """The fraction classified right, for 0/1 targets only."""
    binary = bool(np.all(np.isin(setup.y, (0.0, 1.0))))
    return float(np.mean(labels == setup.y)) if binary else None


# ---------------------------------------------------------------------------------------------
# --summary and --stream: the same arithmetic on plain numbers (gdtrace.solvers.streaming's events).


class _Stop(Exception):
    """The run stops at this step: ``bad`` is its first value that is not finite."""

    def __init__(self, bad: Quantity, epoch: int, step: int) -> None:
        super().__init__(bad.key)
        self.bad, self.epoch, self.step = bad, epoch, step


@dataclass
class _State:
    """Parameters after the last step and the number of steps taken."""

    w: np.ndarray
    b: float
    step: int = 0


def events(problem: Problem, label: str = "as written", *, steps: bool = True,
               max_steps: int | None = None, progress: Progress | None = None,
               finished: list[RunEnd] | None = None) -> Iterator[Event]:
    """Logistic/linear regression as events, with ``run_glm``'s exact arithmetic.

    Plain SGD without carry rounding takes the fast loop; everything else (batches, carry
    rounding) builds each step with the normal path and drops it once its numbers are out.
    """
    setup = setup_from(problem)
    carry = setup.carry
    names = [*setup.weight_names, "b"]
    keys = ["z", "sigma", "error"] if setup.logistic else ["z", "error"]
    if setup.logistic and setup.loss == "mse":
        keys.append("delta")
    planned = planned_steps(problem)
    limit = planned if max_steps is None else min(planned, max_steps)
    yield RunStart(label, names, keys, limit, settings_of(problem, setup))
    state = _State(carry.array(np.array(problem.weights, dtype=float)), carry(problem.bias))
    rng = np.random.default_rng(problem.shuffle_seed) if problem.shuffle_seed is not None \
        else None
    optimizer = getattr(setup, "optimizer", None)
    plain = optimizer is None or optimizer.plain
    fast = setup.batch_size == 1 and carry.decimals is None and plain
    diagnostics: list[Diagnostic] = []
    losses: list[float] = []
    stopped = False
    with np.errstate(all="ignore"):
        for epoch_index in range(1, problem.epochs + 1):
            if state.step >= limit:
                break
            order = np.arange(setup.n)
            if rng is not None and setup.update != "batch":
                order = rng.permutation(setup.n)
            loss = loss_value(setup, state.w, state.b)
            losses.append(objective(setup, loss, state.w))
            yield EpochStart(epoch_index, loss)
            if not math.isfinite(loss):
                diagnostics.append(non_finite_loss(loss, label, epoch_index))
                stopped = True
                break
            epoch_steps = _sgd_fast if fast else _normal_steps
            try:
                yield from epoch_steps(setup, state, order, epoch_index, limit, steps, progress)
            except _Stop as stop:
                diagnostics.append(non_finite_step(stop.bad, label, stop.epoch, stop.step))
                stopped = True
                break
            yield EpochEnd(epoch_index, state.step, _named(names, state.w, state.b))
    capped = state.step >= limit and limit < planned and not stopped
    if progress is not None:
        progress(state.step, limit)
    w, b = state.w, state.b
    with np.errstate(all="ignore"):
        final_loss = loss_value(setup, w, b)
    closing = closing_diagnostics(setup, losses, objective(setup, final_loss, w),
                                      stopped, label)[1]
    if capped:
        closing.insert(0, max_steps_diagnostic(limit, planned, label))
    diagnostics.extend(closing)
    with np.errstate(all="ignore"):
        accuracy = accuracy_of(problem, setup, w, b)
    yield ended(RunEnd(_named(names, w, b), final_loss, diagnostics, stopped or capped,
                        state.step, accuracy), finished)


def _normal_steps(setup: GLMSetup, state: _State, order: np.ndarray, epoch: int, limit: int,
                  steps: bool, progress: Progress | None) -> Iterator[Event]:
    """One epoch with the normal path's steps, kept only until they are written."""
    every = max(1, limit // 200)
    for start in range(0, setup.n, setup.batch_size):
        if state.step >= limit:
            return
        state.step += 1
        group = [int(s) for s in order[start:start + setup.batch_size]]
        step = _step(setup, state.step, group, state.w, state.b)
        if steps:
            yield step_record(step, epoch)
        bad = first_non_finite(step)
        if bad is not None:
            raise _Stop(bad, epoch, state.step)
        params = step.of_role(Role.PARAM)
        state.w = np.array([q.value for q in params[:-1]], dtype=float)
        state.b = float(params[-1].value)
        if progress is not None and state.step % every == 0:
            progress(state.step, limit)


def _rebuilt_stop(setup: GLMSetup, state: _State, group: list[int], epoch: int, steps: bool
                  ) -> Iterator[Event]:
    """Rebuild the step that produced a non-finite value with the normal path and stop there,
    so the message names the same first quantity as ``run_glm``."""
    step = _step(setup, state.step, group, state.w, state.b)
    if steps:
        yield step_record(step, epoch)
    bad = first_non_finite(step)
    if bad is None:  # cannot happen: the fast loop saw the same non-finite number
        raise AssertionError("fast path and normal path disagree")
    raise _Stop(bad, epoch, state.step)


def _stop_at_previous(setup: GLMSetup, state: _State, block: _Block | None,
                      previous: tuple[np.ndarray, float, int], epoch: int,
                      steps: bool) -> Iterator[Event]:
    """The previous step's update overflowed: hand on the steps before it, then stop at it
    (rebuilt by the normal path, so its warning names the value as a worked solution does)."""
    state.w, state.b, sample = previous
    if block is not None:
        block.drop_last()
        yield block.rows()
    yield from _rebuilt_stop(setup, state, [sample], epoch, steps)


def _sgd_fast(setup: GLMSetup, state: _State, order: np.ndarray, epoch: int, limit: int,
              steps: bool, progress: Progress | None) -> Iterator[Event]:
    """One SGD epoch without carry rounding: ``_step``'s arithmetic on plain floats and
    numpy rows, operation for operation.

    Non-finite parameters are caught one step late, for speed: any infinite or NaN weight or
    bias makes the next z (or the end-of-epoch check) non-finite, and the step that produced
    it is then rebuilt from the parameters it started with. In ``steps`` mode the steps are
    collected in blocks (:class:`StepRows`) that are handed on only once that check passed.
    """
    ys = setup.y.tolist()
    rows = setup.X  # a row view per step: a list of every row's view would cost ~120 B a row
    eta, lam = setup.eta, setup.lam
    penalty_factor = lam / setup.n
    scale = numeric_scale(setup, 1)
    logistic, delta = setup.logistic, setup.logistic and setup.loss == "mse"
    isfinite, dot, exp = math.isfinite, np.dot, np.exp
    every = max(1, limit // 200) if progress is not None else 0
    w, b, step = state.w, state.b, state.step
    # glm._step adds 0 to each signal·x (turning −0.0 into 0.0) and then scales it. When
    # nothing is recorded, η·(signal·x) gives the same new weights unless a weight is −0.0,
    # which only a −0.0 in the file can cause (a − b is −0.0 only for −0.0 − 0.0).
    short = not steps and scale == 1.0 and not lam and not np.any(np.signbit(w) & (w == 0))
    block = _Block(len(w)) if steps else None
    w_prev, b_prev, s_prev = w, b, -1
    for s in chain.from_iterable(  # Python ints, 65 536 at a time (not a list of a million)
            order[start:start + 65536].tolist() for start in range(0, len(order), 65536)):
        if step >= limit:
            break
        x = rows[s]
        z = float(dot(w, x)) + b
        if not isfinite(z):
            state.w, state.b, state.step = w, b, step
            if s_prev >= 0 and not _finite(w, b):
                yield from _stop_at_previous(setup, state, block, (w_prev, b_prev, s_prev),
                                             epoch, steps)
            if block is not None:
                yield block.rows()
            state.step += 1
            yield from _rebuilt_stop(setup, state, [s], epoch, steps)
        if block is not None and block.full():
            yield block.rows()  # every step in it is checked: this z is finite
        step += 1
        y = ys[s]
        if logistic:
            small = float(exp(-abs(z)))
            sigma = 1.0 / (1.0 + small) if z >= 0 else small / (1.0 + small)
            error = sigma - y
            signal = 2 * error * sigma * (1 - sigma) if delta else error
        else:
            error = y - z
            signal = error
        w_prev, b_prev, s_prev = w, b, s
        if short:
            w = w - eta * (signal * x)
            b = b - eta * (0 + signal)
        else:
            g = signal * x
            g += 0.0  # as glm._step's sum(): a −0.0 product is recorded as 0.0
            if scale != 1.0:
                g = scale * g
            if lam:
                g = g + penalty_factor * w
            gb = scale * (0 + signal)
            w = w - eta * g
            b = b - eta * gb
            if block is not None:
                values = ((z, sigma, error, signal) if delta else (z, sigma, error)) \
                    if logistic else (z, error)
                block.record((epoch, step, s + 1, *values, gb, b), g, w)
        if every and step % every == 0:
            progress(step, limit)  # type: ignore[misc]
    state.w, state.b, state.step = w, b, step
    if s_prev >= 0 and not _finite(w, b):
        yield from _stop_at_previous(setup, state, block, (w_prev, b_prev, s_prev), epoch, steps)
    if block is not None and block.scalars:
        yield block.rows()


class _Block:
    """Fast-path steps waiting to be handed on: per step a tuple ``(epoch, step, sample,
    values…, ∂L/∂b, b)`` and the rows of the weight gradient and the new weights."""

    SIZE = 1024

    def __init__(self, d: int) -> None:
        self.scalars: list[tuple[float, ...]] = []
        self.grads = np.empty((self.SIZE, d))
        self.params = np.empty((self.SIZE, d))

    def full(self) -> bool:
        return len(self.scalars) == self.SIZE

    def record(self, scalars: tuple[float, ...], grads: np.ndarray, params: np.ndarray) -> None:
        """One step: ``(epoch, step, sample, values…, ∂L/∂b, b)``, ∂L/∂w and the new w."""
        k = len(self.scalars)
        self.grads[k] = grads
        self.params[k] = params
        self.scalars.append(scalars)

    def drop_last(self) -> None:
        self.scalars.pop()

    def rows(self) -> StepRows:
        """The block as :class:`StepRows` (numbers only rearranged), and empty again."""
        k = len(self.scalars)
        scalars = np.array(self.scalars, dtype=float).reshape(k, -1)
        table = np.hstack([scalars[:, :-2], self.grads[:k], scalars[:, -2:-1], self.params[:k],
                           scalars[:, -1:]])
        self.scalars = []
        return StepRows(table)


def _finite(w: np.ndarray, b: float) -> bool:
    return math.isfinite(b) and bool(np.isfinite(w).all())




def _named(names: list[str], w: np.ndarray, b: float) -> dict[str, Value]:
    named: dict[str, Value] = {name: float(v) for name, v in zip(names, w)}
    named["b"] = float(b)
    return named
