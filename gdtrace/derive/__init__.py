"""``gdtrace derive``: matrix calculus written out step by step and checked numerically.

sympy builds and simplifies the matrix expressions (``MatrixSymbol`` …); gdtrace adds what a
student needs on top: the identities used, in order (:mod:`.calculus`), a layout convention, a
numeric check by central differences (:mod:`.numeric`) and the printing (:mod:`.render`).
sympy is optional (``pip install "gdtrace[derive]"``) and imported only here, so the other
commands start as fast as before.
"""

from __future__ import annotations

from gdtrace.errors import UsageError

LAYOUTS = ("ml", "numerator", "denominator")
"""ml (default): ∂(scalar)/∂X has the shape of X and the derivative of a vector is its m×n
Jacobian; numerator: both as the Jacobian (∂f/∂X is shaped like Xᵀ); denominator: both
transposed from the Jacobian (∂f/∂X like X, ∂(Ax)/∂x = Aᵀ)."""


def require_sympy() -> None:
    """A clear message (exit 2) instead of an ImportError when the extra is missing."""
    try:
        import sympy  # noqa: F401
    except ImportError:
        raise UsageError('derive needs sympy: pip install "gdtrace[derive]"') from None
