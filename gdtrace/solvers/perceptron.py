"""The perceptron: step activation, w ← w + η(y − ŷ)x, one sample at a time in file order.

z = w·x + b and ŷ = [z ≥ 0] (0/1 targets) or ŷ = 2[z ≥ 0] − 1 (−1/1 targets). A sample that is
classified correctly has y − ŷ = 0 and changes nothing. Training stops after the first epoch
without a mistake, or after ``epochs`` epochs. The "loss" of an epoch is the number of samples
the parameters at its start misclassify.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdtrace.formula import expr as E
from gdtrace.formula.rounding import Carry
from gdtrace.problem.extra_models import PerceptronSpec
from gdtrace.problem.model import Problem
from gdtrace.solvers import RunOptions, Solved
from gdtrace.solvers.checks import keep_step
from gdtrace.solvers.glm import (
    bias_sym,
    feature_sym,
    linear_combination,
    target_sym,
    value_sym,
    weight_sym,
)
from gdtrace.solvers.optimizers import ETA, Optimizer, make_optimizer
from gdtrace.trace import (
    Block,
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
    Step,
    Value,
)


def _predict(z: float, signed: bool) -> float:
    """The step activation: 1 when z ≥ 0, else 0 (or −1 for −1/1 targets)."""
    return 1.0 if z >= 0 else (-1.0 if signed else 0.0)


def _activation(z: E.Expr, signed: bool) -> E.Expr:
    step = E.Compare(z, "≥", E.Num(0))
    return 2 * step - 1 if signed else step


def solve(problem: Problem, label: str, options: RunOptions) -> Solved:
    """The registry's entry: the run and its header."""
    return Solved(*solve_run(problem, label), header(problem, options))


def header(problem: Problem, options: RunOptions | None = None) -> Header:
    signed = problem.spec_of(PerceptronSpec).signed
    j = "j"
    w_j, x_j = E.Sym("w_j", "w", j), E.Sym("x_j", "x", j)
    z = E.Sym("z", "z")
    error = E.Sym("error", "error")
    formulas = [
        Formula(z, E.Sum(j, E.Sym("d", "d"), w_j * x_j) + bias_sym(), "pre-activation"),
        Formula(E.Sym("yhat", "y", hat=True), _activation(z, signed),
                "step activation: " + ("−1 or 1" if signed else "0 or 1")),
        Formula(error, E.Sym("y", "y") - E.Sym("yhat", "y", hat=True), "0 when correct"),
        Formula(w_j, w_j + ETA * error * x_j, "perceptron rule", "←"),
        Formula(bias_sym(), bias_sym() + ETA * error, "bias", "←"),
    ]
    return Header(model="perceptron", loss="none: the loss per epoch is the number of "
                  "misclassified samples", update="one sample per update, in file order; "
                  "stops after an epoch without mistakes", formulas=formulas,
                  settings=_settings(problem),
                  notes=["a correctly classified sample has error 0 and changes nothing"])


def _settings(problem: Problem) -> dict[str, object]:
    out: dict[str, object] = {"learning_rate": problem.learning_rate, "epochs": problem.epochs}
    if problem.carry_decimals is not None:
        out["carry_decimals"] = problem.carry_decimals
    return out


def solve_run(problem: Problem, label: str) -> tuple[Run, list[Diagnostic]]:
    dataset = problem.dataset
    assert dataset is not None
    signed = problem.spec_of(PerceptronSpec).signed
    carry = Carry(problem.carry_decimals)
    eta = problem.learning_rate
    update = make_optimizer(None, eta, carry)  # plain gradient descent, the one update rule
    X, y = dataset.X.astype(float), dataset.Y[:, 0].astype(float)
    names = list(problem.weight_names)
    w = np.array([carry(v) for v in problem.weights], dtype=float)
    b = carry(problem.bias)
    epochs: list[Epoch] = []
    converged_at: int | None = None
    number = 0
    sources: dict[str, Quantity] = {}  # operand key → the line that wrote the parameter last
    diagnostics: list[Diagnostic] = []
    stopped = False
    with np.errstate(all="ignore"):  # an overflow is reported as the run's stop, not leaked
        for epoch_index in range(1, problem.epochs + 1):
            epoch = Epoch(epoch_index, float(_mistakes(X, y, w, b, signed)), [])
            epochs.append(epoch)
            updated = False
            for sample in range(dataset.n):
                number += 1
                step, w, b, changed = _step(problem, number, sample, X, y, w, b, signed, carry,
                                            update, sources)
                sources = {f"param:{q.key}": q for q in step.of_role(Role.PARAM)}
                updated = updated or changed
                if not keep_step(epoch, step, label, diagnostics):
                    stopped = True
                    break
            if stopped or not updated:
                converged_at = None if stopped else epoch_index
                break
        final_mistakes = _mistakes(X, y, w, b, signed)
        outcome = _outcome(X, y, w, b, signed)
    final: dict[str, Value] = {n: float(v) for n, v in zip(names, w)}
    final["b"] = float(b)
    blocks = [_summary_block(converged_at, len(epochs), final_mistakes)]
    if converged_at is None and not stopped:
        diagnostics.append(_not_converged(final_mistakes, problem.epochs, label))
    run = Run(label=label, settings=_settings(problem), epochs=epochs, final=final,
              final_loss=float(final_mistakes), param_names=[*names, "b"],
              outcome=outcome, blocks=blocks, stopped_early=stopped)
    return run, diagnostics


def _mistakes(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, signed: bool) -> int:
    """How many samples the parameters misclassify (:func:`_predict` on every z at once: z ≥ 0
    is the same comparison, and nan is not ≥ 0 there either)."""
    predictions = np.where(X @ w + b >= 0, 1.0, -1.0 if signed else 0.0)
    return int(np.sum(predictions != y))


@dataclass
class StepNumbers:
    """One perceptron step as numbers: z = w·x + b, ŷ, y − ŷ and the updated parameters."""

    z: float
    yhat: float
    error: float
    w: np.ndarray
    b: float


def step_numbers(w: np.ndarray, b: float, x: np.ndarray, t: float, signed: bool, carry: Carry,
                 update: Optimizer, steady: bool = False) -> StepNumbers:
    """The numbers of one step, computed once: the worked step writes its lines from them and
    ``--summary``/``--stream`` use them alone. The perceptron rule is gradient descent with
    gradient g = −(y − ŷ)·x_j (and −(y − ŷ) for b): plain gradient descent's w − η·g,
    carry-rounded (``update`` is the plain optimizer, whose ``values`` computes exactly this;
    written out here for the weights as one vector, ~10⁵ steps of a ``--summary``).

    ``steady`` (see :func:`steady`): a correctly classified sample returns the parameters
    themselves, which are then exactly what the rule computes."""
    z = carry(float(np.dot(w, x) + b))
    yhat = _predict(z, signed)
    error = t - yhat
    if steady and error == 0:
        return StepNumbers(z, yhat, error, w, b)
    eta = update.eta
    new_w = update.write(w - eta * (-error * x))
    return StepNumbers(z, yhat, error, np.asarray(new_w), float(update.write(b - eta * -error)))


def steady(w: np.ndarray, b: float, carry: Carry) -> bool:
    """Whether an error of 0 leaves every parameter as it is, bit for bit, from now on.

    With error 0 the rule subtracts η·(−0·x) = ±0, and p − (±0) = p for every p except −0.0
    (−0.0 − (−0.0) = +0.0). No parameter is −0.0 later if none is now: p − q is −0.0 only when
    p is. Carry rounding is left out (its rounding of a rounded value is not relied upon)."""
    negative_zero = bool(np.any((w == 0) & np.signbit(w))) or (b == 0 and math.copysign(1, b) < 0)
    return carry.decimals is None and not negative_zero


def _step(problem: Problem, number: int, sample: int, X: np.ndarray, y: np.ndarray,
          w: np.ndarray, b: float, signed: bool, carry: Carry, update: Optimizer,
          sources: dict[str, Quantity] | None = None) -> tuple[Step, np.ndarray, float, bool]:
    sources = sources or {}
    dataset = problem.dataset
    assert dataset is not None
    names = list(problem.weight_names)
    features = list(dataset.features)
    target = dataset.targets[0]
    s = sample + 1
    x, t = X[sample], float(y[sample])
    numbers = step_numbers(w, b, x, t, signed, carry, update)
    weights = [weight_sym(n) for n in names]
    inputs = [feature_sym(f) for f in features]
    row = [Quantity(f, Role.INPUT, feature_sym(f), float(v)) for f, v in zip(features, x)]
    y_sym = target_sym(target, s)
    row.append(Quantity(target, Role.INPUT, y_sym, t, heading=E.sym(target)))
    operands: dict[str, Value] = {ws.key: float(v) for ws, v in zip(weights, w)}
    operands |= {xs.key: float(v) for xs, v in zip(inputs, x)}
    operands["param:b"] = b
    z_sym = value_sym("z", s, "z")
    z_line = Quantity("z", Role.VALUE, z_sym, numbers.z,
                      linear_combination(list(weights), list(inputs), bias_sym()),
                      operands, heading=E.Sym("z", "z"), links=dict(sources))
    row.append(z_line)
    yhat_sym = E.Sym("yhat", "y", str(s), hat=True)
    yhat_line = Quantity("yhat", Role.VALUE, yhat_sym, numbers.yhat,
                         _activation(E.Ref(z_sym, "z"), signed), {"z": numbers.z},
                         heading=E.Sym("yhat", "y", hat=True), links={"z": z_line})
    row.append(yhat_line)
    error = numbers.error
    error_sym = value_sym("error", s, "error")
    error_line = Quantity("error", Role.VALUE, error_sym, error,
                          y_sym - E.Ref(yhat_sym, "yhat"), {y_sym.key: t, "yhat": numbers.yhat},
                          heading=E.Sym("error", "error"), links={"yhat": yhat_line})
    row.append(error_line)
    quantities = []
    error_ref = E.Ref(error_sym, "error")
    for j, (name, w_sym) in enumerate(zip(names, weights)):
        x_ref = E.Ref(feature_sym(features[j]), "x")
        links: dict[str, Link] = {"error": error_line}
        if w_sym.key in sources:
            links[w_sym.key] = sources[w_sym.key]
        quantities.append(Quantity(name, Role.PARAM, w_sym, float(numbers.w[j]),
                                   w_sym + ETA * error_ref * x_ref,
                                   {w_sym.key: float(w[j]), "eta": problem.learning_rate,
                                    "error": error, "x": float(x[j])}, relation="←",
                                   links=links))
    links = {"error": error_line}
    if "param:b" in sources:
        links["param:b"] = sources["param:b"]
    quantities.append(Quantity("b", Role.PARAM, bias_sym(), numbers.b,
                               bias_sym() + ETA * error_ref,
                               {"param:b": b, "eta": problem.learning_rate, "error": error},
                               relation="←", links=links))
    return Step(number, [s], [row], quantities), numbers.w, numbers.b, error != 0


def events(problem: Problem, label: str = "as written", *, steps: bool = True,
           max_steps: int | None = None, progress: Callable[[int, int], None] | None = None,
           finished: list[Any] | None = None) -> Iterator[Any]:
    """The run as ``--summary``/``--stream`` events from :func:`step_numbers` alone (no
    worked lines, nothing kept between steps). A step whose numbers stop being finite is
    rebuilt as the worked solution writes it, so the warning names the same line."""
    from gdtrace.solvers.checks import first_non_finite, non_finite_step
    from gdtrace.solvers.streaming import (
        EpochEnd,
        EpochStart,
        RunStart,
        StepDone,
        planned_steps,
        run_end,
    )

    dataset = problem.dataset
    assert dataset is not None
    signed = problem.spec_of(PerceptronSpec).signed
    carry = Carry(problem.carry_decimals)
    update = make_optimizer(None, problem.learning_rate, carry)
    X, y = dataset.X.astype(float), dataset.Y[:, 0].astype(float)
    names = list(problem.weight_names)
    w = np.array([carry(v) for v in problem.weights], dtype=float)
    b = carry(problem.bias)
    planned = planned_steps(problem)
    limit = planned if max_steps is None else min(planned, max_steps)
    yield RunStart(label, [*names, "b"], ["z", "yhat", "error"], limit, _settings(problem))
    still = steady(w, b, carry)
    diagnostics: list[Diagnostic] = []
    number, stopped, updated = 0, False, True
    with np.errstate(all="ignore"):
        for epoch in range(1, problem.epochs + 1):
            if number >= limit:
                break
            yield EpochStart(epoch, float(_mistakes(X, y, w, b, signed)))
            updated = False
            for sample in range(dataset.n):
                if number >= limit:
                    break
                number += 1
                x = X[sample]
                numbers = step_numbers(w, b, x, float(y[sample]), signed, carry, update,
                                       still)
                # without an error the parameters stay as they were (finite: the data and
                # the start are); a sum is finite only if every value is (one that overflows
                # is looked at value by value)
                if not math.isfinite(numbers.z) or numbers.error != 0 and not math.isfinite(
                        numbers.b + float(numbers.w.sum())):
                    step = _step(problem, number, sample, X, y, w, b, signed, carry,
                                 make_optimizer(None, problem.learning_rate, carry))[0]
                    bad = first_non_finite(step)  # rebuilt as worked, for the same warning
                    if bad is not None:
                        diagnostics.append(non_finite_step(bad, label, epoch, number))
                        stopped = True
                w, b = numbers.w, numbers.b
                updated = updated or numbers.error != 0
                if steps:
                    yield StepDone(epoch, number, [sample + 1], {
                        "z": numbers.z, "yhat": numbers.yhat, "error": numbers.error}, {},
                        _named(names, w, b))
                if progress is not None:
                    progress(number, limit)
                if stopped:
                    break
            yield EpochEnd(epoch, number, _named(names, w, b))
            if stopped or (not updated and number % dataset.n == 0):  # a whole epoch, no update
                break
        final_mistakes = _mistakes(X, y, w, b, signed)
        accuracy = _outcome(X, y, w, b, signed).accuracy
    if not stopped and number >= planned and updated:
        diagnostics.append(_not_converged(final_mistakes, problem.epochs, label))
    yield run_end(_named(names, w, b), float(final_mistakes), diagnostics, stopped, number,
                  limit, planned, label, finished, accuracy)


def _named(names: list[str], w: np.ndarray, b: float) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, w)} | {"b": float(b)}


def _not_converged(mistakes: int, epochs: int, label: str) -> Diagnostic:
    return Diagnostic(
        "not_converged", f"still {mistakes} mistake(s) after {epochs} "
        "epoch(s): give more epochs (if the classes are not linearly separable the "
        "perceptron never stops making mistakes)", label)


def _summary_block(converged_at: int | None, ran: int, mistakes: int) -> Block:
    """How many epochs ran and whether the last one made no mistake."""
    quantities = [
        Quantity("epochs_run", Role.VALUE, E.Text("epochs run"), float(ran)),
        Quantity("mistakes", Role.VALUE, E.Text("mistakes with the final parameters"),
                 float(mistakes)),
    ]
    if converged_at is not None:
        title = "Converged: an epoch without mistakes"
        quantities.append(Quantity("converged_epoch", Role.VALUE,
                                   E.Text("first epoch without an update"), float(converged_at)))
    else:
        title = "Not converged within the epochs given"
    return Block(title, quantities)


def _outcome(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, signed: bool) -> Outcome:
    predictions = []
    for i, z in enumerate(X @ w + b):
        yhat = _predict(float(z), signed)
        predictions.append(Prediction(i + 1, yhat, int(yhat), float(y[i])))
    accuracy = float(np.mean([p.label == p.target for p in predictions]))
    return Outcome(0.0 if signed else 0.5, predictions, accuracy)
