"""Problem keys for ``model: derivative``: a derivation task (f, wrt, an optional claim), so a
homework sheet's "show that ∂f/∂X = …" questions can live beside its numeric problems.

There are no steps to run, so ``gdtrace solve`` points to ``gdtrace derive FILE``. When sympy is
installed, f and the claim are read here already, so ``gdtrace validate`` reports a typo with
the file's line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gdtrace.problem.load import common_args
from gdtrace.problem.model import Problem, Spec
from gdtrace.problem.registry import register_model
from gdtrace.problem.schema import Context, Enum, Field, String

LAYOUTS = ("ml", "numerator", "denominator")  # as gdtrace.derive.LAYOUTS (not imported: light)



@dataclass(frozen=True)
class DerivativeSpec(Spec):
    """A derivation task: f, the variable, and the optional claim, shapes and layout."""

    f: str
    wrt: str
    claim: str | None = None
    shape: str | None = None
    layout: str = "ml"


_NO_TRAINING: dict[str, Field | None] = {
    key: None for key in ("dataset", "learning_rate", "lambda", "epochs", "update",
                          "batch_size", "shuffle", "carry_decimals", "threshold", "optimizer")
}


def _check_expressions(checked: dict[str, Any], ctx: Context) -> None:
    try:
        from gdtrace.derive.parse import DeriveError, parse, parse_shapes
    except ImportError:  # sympy missing: `gdtrace derive` says how to install it
        return
    try:
        shapes = parse_shapes(checked.get("shape"))
    except DeriveError as error:
        raise ctx.error(str(error).removeprefix("--shape: "), "shape") from None
    for key in ("f", "claim"):
        if checked.get(key) is None:
            continue
        try:
            parsed = parse(checked[key], shapes, key)
        except DeriveError as error:
            raise ctx.error(str(error).removeprefix(f"{key}: "), key) from None
        except (ValueError, TypeError, ArithmeticError, RecursionError) as error:
            raise ctx.error(f"cannot read it: {error}", key) from None
        if key == "f" and checked["wrt"] not in parsed.symbols:
            names = ", ".join(sorted(parsed.symbols)) or "none"
            raise ctx.error(f"{checked['wrt']!r} does not occur in f (its variables: {names})",
                            "wrt")


def _build_derivative(checked: dict[str, Any], ctx: Context) -> Problem:
    _check_expressions(checked, ctx)
    args = common_args(checked, ctx)
    spec = DerivativeSpec(checked["f"], checked["wrt"], checked.get("claim"),
                          checked.get("shape"), checked.get("layout") or "ml")
    return Problem(**args, spec=spec)


register_model(
    "derivative",
    {
        **_NO_TRAINING,
        "f": Field(String(min_length=1), required=True,
                   doc="The expression, e.g. \"a^T X^T X b\": capitals are matrices, lower-case"
                       " letters column vectors; ^T, ^{-1}, tr( ), det( ), log( ), exp, tanh,"
                       " sigma, norm, products by juxtaposition or *."),
        "wrt": Field(String(min_length=1), required=True,
                     doc="The variable to differentiate by, e.g. X."),
        "claim": Field(String(min_length=1),
                       doc="An answer to check, e.g. \"X(a b^T + b a^T)\"; exit status 1 when it"
                           " is wrong."),
        "shape": Field(String(min_length=1),
                       doc="Sizes where the defaults (n×n matrices, n-vectors) do not fit, e.g."
                           " \"X=3x4,a=3,b=4\"."),
        "layout": Field(Enum(LAYOUTS), default="ml",
                        doc="ml: ∂f/∂X shaped like X, vector f by its m×n Jacobian; numerator;"
                            " denominator."),
    },
    _build_derivative,
    label="Derivative (matrix calculus)",
    doc="A derivation task for `gdtrace derive FILE`: f, wrt and an optional claim to check.",
)
