"""Least squares and ridge regression in closed form, worked step by step.

With the design matrix X̃ (the features, plus a column of ones for the intercept b unless
``fit_intercept: false``), ridge minimises Σ(y − ŷ)² + λΣw_j² and OLS is λ = 0:

    A = X̃ᵀX̃ + λD,   c = X̃ᵀy,   β = A⁻¹c

where D is the identity except a 0 for b, so the intercept is not penalized. β is computed by
solving Aβ = c (``numpy.linalg.solve``); the inverse A⁻¹ is shown for small problems so each
coefficient can be checked by hand, but it is not what the numbers come from. ``method: pinv``
uses the Moore–Penrose pseudo-inverse instead (OLS: β = X̃⁺y; ridge: β = A⁺c), computed from the
singular value decomposition, which also gives the minimum-norm solution when A is singular.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdtrace.formula import expr as E
from gdtrace.problem.extra_models import ClosedFormSpec
from gdtrace.problem.model import Problem, Spec
from gdtrace.solvers import RunOptions, Solved
from gdtrace.solvers.optimizers import ETA
from gdtrace.trace import Block, Diagnostic, Formula, Header, Quantity, Role, Run, Table, Value

SHOW_INVERSE_UP_TO = 6  # parameters; beyond that the inverse is not printed
SHOW_TERMS_UP_TO = 12  # summands in a written-out coefficient line
ILL_CONDITIONED = 1e8  # condition number of A above which a warning is given

BETA = E.Sym("beta", "β")
A_SYM = E.Sym("A", "A")
C_SYM = E.Sym("c", "c")
LAMBDA = E.Sym("lambda", "λ")
N = E.Sym("n", "n")


@dataclass
class Fit:
    """Everything the worked solution writes down, computed once."""

    names: list[str]  # parameter names in design-matrix column order (w1 … wd, then b)
    design: np.ndarray  # X̃
    y: np.ndarray
    gram: np.ndarray  # X̃ᵀX̃
    penalty: np.ndarray  # λD
    system: np.ndarray  # A = X̃ᵀX̃ + λD
    rhs: np.ndarray  # c = X̃ᵀy
    beta: np.ndarray
    inverse: np.ndarray | None  # A⁻¹ (normal method) or A⁺ / X̃⁺ (pinv), for display
    singular_values: np.ndarray  # of X̃ (ols pinv) or A
    condition: float  # κ(A) = σmax/σmin (inf when singular)
    rank: int
    fitted: np.ndarray
    residuals: np.ndarray
    mse: float
    rmse: float
    method: str
    singular: bool  # A is not invertible (normal method fell back to the pseudo-inverse)


def design_matrix(X: np.ndarray, fit_intercept: bool) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return np.hstack([X, np.ones((X.shape[0], 1))]) if fit_intercept else X


def errors_of(X: np.ndarray, y: np.ndarray, final: dict[str, float], names: list[str],
              ) -> tuple[float, float]:
    """MSE and RMSE of parameters ``final`` (w… in ``names`` order, then b if present)."""
    w = np.array([final[n] for n in names], dtype=float)
    b = float(final.get("b", 0.0))
    with np.errstate(all="ignore"):
        residuals = np.asarray(y, dtype=float) - (np.asarray(X, dtype=float) @ w + b)
        mse = float(np.mean(residuals ** 2))
    return mse, math.sqrt(mse) if math.isfinite(mse) else mse


def fit(problem: Problem) -> Fit:
    dataset = problem.dataset
    assert dataset is not None  # the loader requires one
    spec = problem.spec_of(ClosedFormSpec)
    intercept, method = spec.fit_intercept, spec.method
    ridge = problem.model == "ridge"
    lam = problem.lam if ridge else 0.0
    design = design_matrix(dataset.X, intercept)
    y = dataset.Y[:, 0].astype(float)
    p = design.shape[1]
    names = list(problem.weight_names) + (["b"] if intercept else [])
    d = np.ones(p)
    if intercept:
        d[-1] = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        gram = design.T @ design
        rhs = design.T @ y
    if not (np.isfinite(gram).all() and np.isfinite(rhs).all()):
        _overflowed(problem, design, y)
    penalty = lam * np.diag(d)
    system = gram + penalty
    rank = int(np.linalg.matrix_rank(system))
    singular = rank < p
    sv_system = np.linalg.svd(system, compute_uv=False)
    condition = float(sv_system[0] / sv_system[-1]) if sv_system[-1] > 0 else math.inf
    inverse: np.ndarray | None
    if method == "pinv":
        if ridge:
            inverse = np.linalg.pinv(system)
            beta = inverse @ rhs
            singular_values = sv_system
        else:
            inverse = np.linalg.pinv(design)
            beta = inverse @ y
            singular_values = np.linalg.svd(design, compute_uv=False)
    elif singular:
        inverse = np.linalg.pinv(system)
        beta = inverse @ rhs
        singular_values = sv_system
    else:
        beta = np.linalg.solve(system, rhs)
        inverse = np.linalg.inv(system) if p <= SHOW_INVERSE_UP_TO else None
        singular_values = sv_system
    fitted = design @ beta
    residuals = y - fitted
    mse = float(np.mean(residuals ** 2))
    return Fit(names, design, y, gram, penalty, system, rhs, beta, inverse, singular_values,
               condition, rank, fitted, residuals, mse, math.sqrt(mse), method, singular)


def _overflowed(problem: Problem, design: np.ndarray, y: np.ndarray) -> None:
    """XᵀX or Xᵀy left float64: say so (exit 2) rather than call the system singular."""
    from gdtrace.errors import ProblemError

    largest = float(max(np.max(np.abs(design)), np.max(np.abs(y))))
    raise ProblemError(f"XᵀX overflows float64 (the data reach {largest:.3g}, and their "
                       "squares summed pass 1.8e308); rescale the data, e.g. divide each "
                       "column by its largest value", source=problem.source, field="dataset")


# ---------------------------------------------------------------------------------- header


def _design_symbol() -> E.Sym:
    return E.Sym("Xt", "X̃")


def header(problem: Problem, options: RunOptions | None = None) -> Header:
    ridge = problem.model == "ridge"
    spec = problem.spec_of(ClosedFormSpec)
    intercept, method = spec.fit_intercept, spec.method
    X, y = _design_symbol(), E.Sym("y", "y")
    Xt = E.Sym("XtT", "X̃ᵀ")
    formulas = [Formula(E.Sym("yhat", "y", hat=True), X * BETA, "prediction, β = (w₁ … w_d"
                        + (", b)" if intercept else ")"))]
    if ridge:
        formulas.append(Formula(A_SYM, Xt * X + LAMBDA * E.Sym("D", "D"),
                                "D = I with 0 for b: the intercept is not penalized"
                                if intercept else "D = I"))
    else:
        formulas.append(Formula(A_SYM, Xt * X, "normal equations matrix"))
    formulas.append(Formula(C_SYM, Xt * y))
    if method == "pinv" and not ridge:
        formulas.append(Formula(BETA, E.Sym("Xpinv", "X̃⁺") * y,
                                "X̃⁺ = VΣ⁺Uᵀ, the pseudo-inverse (minimum-norm least squares)"))
    elif method == "pinv":
        formulas.append(Formula(BETA, E.Sym("Apinv", "A⁺") * C_SYM,
                                "A⁺ = VΣ⁺Uᵀ, the pseudo-inverse"))
    else:
        formulas.append(Formula(BETA, E.Pow(A_SYM, E.Num(-1)) * C_SYM,
                                "computed by solving Aβ = c (a linear solve)"))
    e_i = E.Sym("e_i", "e", "i")
    formulas.append(Formula(e_i, E.Sym("y_i", "y", "i") - E.Sym("yhat_i", "y", "i", hat=True),
                            "residual"))
    formulas.append(Formula(E.Sym("MSE", "MSE"), (1 / N) * E.Sum("i", N, e_i ** 2)))
    formulas.append(Formula(E.Sym("RMSE", "RMSE"), E.func("sqrt", E.Sym("MSE", "MSE"))))
    notes = []
    if ridge and intercept:
        notes.append("the intercept b is not penalized: D has a 0 in b's place")
    if method == "pinv":
        notes.append("method pinv: the pseudo-inverse from the singular value decomposition "
                     "(numpy.linalg.pinv)")
    else:
        notes.append("β comes from a linear solve of Aβ = c (numpy.linalg.solve); A⁻¹ is shown "
                     "for small problems only to check the numbers by hand")
    loss = "Σ(y − ŷ)² + λΣw_j² (ridge)" if ridge else "Σ(y − ŷ)² (least squares)"
    model = "ridge regression" if ridge else "ordinary least squares"
    return Header(model=f"{model}, closed form", loss=loss,
                  update="none: solved in closed form", formulas=formulas,
                  settings=settings(problem), notes=notes)


def settings(problem: Problem) -> dict[str, object]:
    out: dict[str, object] = {}
    if problem.model == "ridge":
        out["lambda"] = problem.lam
    spec = problem.spec_of(ClosedFormSpec)
    out["fit_intercept"] = spec.fit_intercept
    out["method"] = spec.method
    return out


# -------------------------------------------------------------------------------- the run


def _matrix_table(title: str, names: list[str], matrix: np.ndarray) -> Table:
    return Table(title, [""] + names, [[n] + [float(v) for v in row]
                                       for n, row in zip(names, matrix)])


def solve(problem: Problem, label: str, options: RunOptions) -> Solved:
    """The registry's entry: the run and its header (which needs no fit)."""
    return Solved(*solve_run(problem, label), header(problem, options))


def solve_run(problem: Problem, label: str) -> tuple[Run, list[Diagnostic]]:
    result = fit(problem)
    dataset = problem.dataset
    assert dataset is not None
    ridge = problem.model == "ridge"
    intercept = problem.spec_of(ClosedFormSpec).fit_intercept
    names = result.names
    diagnostics: list[Diagnostic] = []
    target = dataset.targets[0]

    # 1. the design matrix and the normal equations
    design_rows: list[list[object]] = [
        [i + 1, *(float(v) for v in row), float(t)]
        for i, (row, t) in enumerate(zip(result.design, result.y))]
    columns = ["sample"] + list(dataset.features) + (["1 (for b)"] if intercept else []) \
        + [target]
    tables = [Table("design matrix X̃" + (" (a column of ones for the intercept b)"
                                         if intercept else "") + " and target y"
                    + (f" ({target})" if target != "y" else ""),
                    columns, design_rows),
              _matrix_table("X̃ᵀX̃", names, result.gram)]
    if ridge:
        note = " (D = I with 0 for b: the intercept is not penalized)" if intercept else ""
        tables.append(_matrix_table(f"A = X̃ᵀX̃ + λD{note}", names, result.system))
    tables.append(Table("c = X̃ᵀy", ["", "c"], [[n, float(v)] for n, v in zip(names, result.rhs)]))
    setup_quantities = [Quantity("condition_number", Role.VALUE, E.Sym("kappa", "κ(A)"),
                                 result.condition,
                                 E.Div(E.Sym("smax", "σmax"), E.Sym("smin", "σmin")),
                                 {"smax": float(np.linalg.svd(result.system,
                                                              compute_uv=False)[0]),
                                  "smin": float(np.linalg.svd(result.system,
                                                              compute_uv=False)[-1])})]
    blocks = [Block("Normal equations", setup_quantities, tables)]

    # 2. the solve
    solve_tables: list[Table] = []
    solve_quantities: list[Quantity] = []
    if result.method == "pinv":
        what = "A" if ridge else "X̃"
        for k, value in enumerate(result.singular_values):
            solve_quantities.append(Quantity(f"singular_value_{k + 1}", Role.VALUE,
                                             E.Sym(f"sigma{k + 1}", "σ", str(k + 1)),
                                             float(value)))
        solve_quantities.append(Quantity("rank", Role.VALUE, E.Sym("rank", f"rank({what})"),
                                         float(result.rank if ridge else
                                               np.linalg.matrix_rank(result.design))))
        if result.inverse is not None and result.inverse.size <= 60:
            if ridge:
                solve_tables.append(_matrix_table("A⁺ (pseudo-inverse)", names, result.inverse))
            else:
                solve_tables.append(Table("X̃⁺ (pseudo-inverse: one row per parameter, one "
                                          "column per sample)",
                                          [""] + [str(i + 1) for i in range(result.y.size)],
                                          [[n] + [float(v) for v in row]
                                           for n, row in zip(names, result.inverse)]))
    elif result.inverse is not None:
        title = "A⁻¹ (shown to check by hand; β itself comes from solving Aβ = c)"
        if result.singular:
            title = "A⁺ (A is singular, so the pseudo-inverse gives the minimum-norm β)"
        solve_tables.append(_matrix_table(title, names, result.inverse))
    solve_quantities += _coefficient_lines(result, ridge)
    blocks.append(Block("Solution", solve_quantities, solve_tables))

    # 3. fitted values and errors
    residual_rows: list[list[object]] = [
        [i + 1, float(t), float(f), float(e), float(e * e)]
        for i, (t, f, e) in enumerate(zip(result.y, result.fitted, result.residuals))]
    n = result.y.size
    terms = tuple(E.Ref(E.Sym(f"e{i}", "e", str(i + 1)), f"e{i}") ** 2 for i in range(n))
    e_i = E.Sym("e_i", "e", "i")
    operands: dict[str, Value] = {f"e{i}": float(e) for i, e in enumerate(result.residuals)}
    operands["n"] = float(n)
    mse_line = Quantity("mse", Role.LOSS, E.Sym("MSE", "MSE"), result.mse,
                        (1 / N) * E.Sum("i", N, e_i ** 2, terms if n <= SHOW_TERMS_UP_TO else ()),
                        operands)
    rmse_line = Quantity("rmse", Role.VALUE, E.Sym("RMSE", "RMSE"), result.rmse,
                         E.func("sqrt", E.Sym("mse", "MSE")), {"mse": result.mse})
    blocks.append(Block("Fitted values and errors", [mse_line, rmse_line],
                        [Table("fitted values ŷ = X̃β and residuals e = y − ŷ",
                               ["sample", "y", "ŷ", "e", "e²"], residual_rows)]))

    if result.singular and result.method != "pinv":
        diagnostics.append(Diagnostic(
            "singular", f"A is singular (rank {result.rank} < {len(names)} parameters): the "
            "normal equations have many solutions; the pseudo-inverse gives the one with the "
            "smallest norm (use method: pinv, or ridge with λ > 0)", label))
    elif result.condition > ILL_CONDITIONED:
        diagnostics.append(Diagnostic(
            "ill_conditioned", f"A = X̃ᵀX̃{' + λD' if ridge else ''} is ill-conditioned "
            f"(condition number κ = {result.condition:.3g}): about "
            f"{math.log10(result.condition):.0f} of the ~16 significant digits may be lost in "
            "the solve; method: pinv or a larger λ is more reliable", label))
    final: dict[str, Value] = {n_: float(v) for n_, v in zip(names, result.beta)}
    run = Run(label=label, settings=settings(problem), epochs=[], final=final,
              final_loss=result.mse, param_names=names, blocks=blocks)
    return run, diagnostics


def _coefficient_lines(result: Fit, ridge: bool) -> list[Quantity]:
    """w_j = Σₖ (A⁻¹)ⱼₖ·cₖ written out with numbers (or Σᵢ (X̃⁺)ⱼᵢ·yᵢ for pinv OLS)."""
    lines = []
    pinv_ols = result.method == "pinv" and not ridge
    matrix = result.inverse
    vector = result.y if pinv_ols else result.rhs
    inverse_name = "X̃⁺" if pinv_ols else ("A⁺" if result.method == "pinv" or result.singular
                                          else "A⁻¹")
    index = "i" if pinv_ols else "k"
    vec_name = "y" if pinv_ols else "c"
    for j, (name, value) in enumerate(zip(result.names, result.beta)):
        symbol = E.sym(name, key=f"coef:{name}") if name != "b" else E.Sym("coef:b", "b")
        if matrix is None or vector.size > SHOW_TERMS_UP_TO:
            lines.append(Quantity(name, Role.PARAM, symbol, float(value)))
            continue
        terms = tuple(E.Ref(E.Sym(f"m{k}", f"({inverse_name})", f"{j + 1}{k + 1}"), f"m{k}")
                      * E.Ref(E.Sym(f"v{k}", vec_name, str(k + 1)), f"v{k}")
                      for k in range(vector.size))
        body = E.Sym("m_jk", f"({inverse_name})", f"{j + 1}{index}") * \
            E.Sym("v_k", vec_name, index)
        operands: dict[str, Value] = {f"m{k}": float(matrix[j, k]) for k in range(vector.size)}
        operands |= {f"v{k}": float(vector[k]) for k in range(vector.size)}
        lines.append(Quantity(name, Role.PARAM, symbol, float(value),
                              E.Sum(index, E.Num(vector.size), body, terms), operands))
    return lines


# ------------------------------------------------------------------ compare --methods, --l2

METHODS = ("ols", "pinv", "ridge", "gd")


def method_variants(problem: Problem, methods: list[str], l2: list[float],
                    learning_rate: float | None, epochs: int | None,
                    ) -> list[tuple[str, Problem]]:
    """One labelled problem per method (ridge once per λ of ``l2``, default the file's λ).

    ``gd`` is batch gradient descent on ½·MSE with the same λ as ridge (its gradient gets
    (λ/n)·w), whose minimiser is exactly the ridge solution (OLS when λ = 0); on a ``linear``
    problem it is that problem as written.
    """
    from dataclasses import replace

    from gdtrace.errors import UsageError

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UsageError(f"--methods: unknown method '{unknown[0]}' (choose from "
                         f"{', '.join(METHODS)})")
    if problem.dataset is None or len(problem.dataset.targets) != 1:
        raise UsageError(f"--methods needs a regression problem with one target column "
                         f"(model {problem.model} has none)")
    closed = problem.model in ("ridge", "ols")
    intercept = problem.spec_of(ClosedFormSpec).fit_intercept if closed else True
    normal = ClosedFormSpec(intercept, "normal")
    variants: list[tuple[str, Problem]] = []
    for method in methods:
        if method in ("ols", "pinv"):
            spec = ClosedFormSpec(intercept, "pinv" if method == "pinv" else "normal")
            variants.append((method, replace(problem, model="ols", lam=0.0, spec=spec)))
        elif method == "ridge":
            for lam in l2 or [problem.lam]:
                variants.append((f"ridge, λ = {lam:g}",
                                 replace(problem, model="ridge", lam=lam, spec=normal)))
        else:
            variants.append(_gd_variant(problem, closed, intercept, learning_rate, epochs))
    if not variants:
        raise UsageError("--methods: name at least one method")
    return variants


def _gd_variant(problem: Problem, closed: bool, intercept: bool, learning_rate: float | None,
                epochs: int | None) -> tuple[str, Problem]:
    from dataclasses import replace

    from gdtrace.errors import UsageError

    if not intercept:
        raise UsageError("--methods gd: gradient descent always fits an intercept b; remove "
                         "fit_intercept: false to compare with it")
    if not closed:
        eta = learning_rate or problem.learning_rate
        count = epochs or problem.epochs
        return (f"gd, η = {eta:g}, {count} epochs",
                replace(problem, learning_rate=eta, epochs=count))
    spec = problem.spec_of(ClosedFormSpec)
    gd_eta = learning_rate or spec.gd_learning_rate
    gd_count = epochs or spec.gd_epochs
    if gd_eta is None or gd_count is None:
        raise UsageError("--methods gd needs a learning rate and a number of epochs: add "
                         "learning_rate and epochs to the problem file or give --lr and "
                         "--epochs")
    linear = replace(problem, model="linear", learning_rate=float(gd_eta), epochs=int(gd_count),
                     update="batch", batch_size=None, loss="half_mse", spec=Spec(),
                     shuffle_seed=None, carry_decimals=None)
    return f"gd, η = {float(gd_eta):g}, {int(gd_count)} epochs", linear


def method_runs(variants: list[tuple[str, Problem]]) -> tuple[list[Run], list[Diagnostic]]:
    """Solve each variant with its own solver; each run's ``final_loss`` becomes its RMSE on
    the data so every method is measured the same way (gd's epochs are left out)."""
    from gdtrace.solvers.glm import run_glm

    runs: list[Run] = []
    diagnostics: list[Diagnostic] = []
    for label, variant in variants:
        if variant.model in ("ridge", "ols"):
            run, found = solve_run(variant, label)
        else:
            run, found = run_glm(variant, label)
            run.settings = {"learning_rate": variant.learning_rate, "epochs": variant.epochs,
                            "update": variant.update, "loss": variant.loss,
                            "lambda": variant.lam}
            run.epochs = []
            run.outcome = None
            if variant.lam > 0 and run.stability is not None and run.stability.stable:
                # with λ > 0 the data loss may rise while the penalized loss falls toward
                # the ridge solution: that is not divergence
                found = [d for d in found if d.code != "diverging"]
        dataset = variant.dataset
        assert dataset is not None
        names = [n for n in run.param_names if n != "b"]
        _, rmse = errors_of(dataset.X, dataset.Y[:, 0], {k: float(v) for k, v in
                                                         run.final.items()}, names)
        run.final_loss = rmse
        runs.append(run)
        diagnostics.extend(found)
    return runs, diagnostics


def methods_header(problem: Problem) -> Header:
    intercept = problem.spec_of(ClosedFormSpec).fit_intercept \
        if problem.model in ("ridge", "ols") else True
    X, y = _design_symbol(), E.Sym("y", "y")
    Xt = E.Sym("XtT", "X̃ᵀ")
    D = E.Sym("D", "D")
    formulas = [
        Formula(E.Sym("beta_ols", "β", "ols"), E.Pow(Xt * X, E.Num(-1)) * Xt * y,
                "least squares (a linear solve)"),
        Formula(E.Sym("beta_pinv", "β", "pinv"), E.Sym("Xpinv", "X̃⁺") * y,
                "pseudo-inverse from the SVD"),
        Formula(E.Sym("beta_ridge", "β", "ridge"), E.Pow(Xt * X + LAMBDA * D, E.Num(-1)) * Xt * y,
                "D = I with 0 for b: the intercept is not penalized" if intercept else "D = I"),
        Formula(E.Sym("w_j", "w", "j"), E.Sym("w_j", "w", "j") - ETA
                * E.Deriv(E.Sym("L", "L"), E.Sym("w_j", "w", "j"), "g"),
                "gd: batch steps on L = ½·MSE (+ (λ/n)·w in the gradient)", "←"),
        Formula(E.Sym("RMSE", "RMSE"), E.func("sqrt", (1 / N) * E.Sum("i", N, (
            E.Sym("y_i", "y", "i") - E.Sym("yhat_i", "y", "i", hat=True)) ** 2)),
            "what the methods are compared by"),
    ]
    return Header(model="least squares, pseudo-inverse, ridge and gradient descent compared",
                  loss="each run's final loss is its RMSE on the data set",
                  update="closed form, or batch gradient descent for gd",
                  formulas=formulas, settings={},
                  notes=["gd minimises ½·MSE + (λ/2n)Σw_j², whose minimiser is the ridge "
                         "solution with the same λ, so with enough epochs gd meets ridge",
                         "run `gdtrace solve` on a single method to see its worked steps"])
