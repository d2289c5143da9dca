"""Carry rounding: round every written-down value the way a person does on paper."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, localcontext

import numpy as np


def round_half_away(value: float, decimals: int) -> float:
    """Round on the decimal form, half away from zero: 1.105 → 1.11 (binary 1.10499… is not).

    The decimal form is Python's shortest repr of the float: the digits that read back as the
    same number. So 1.105 (stored as 1.10499…98) rounds up, while a computed 5.904999999999999
    is below the half and rounds down, exactly as the reference values do.
    """
    value = float(value)  # a numpy float's repr is "np.float64(…)", not its digits
    if not math.isfinite(value):
        return value
    digits = repr(value)
    point = digits.find(".")
    if "e" not in digits and point >= 0:
        written = len(digits) - point - 1
        if written <= decimals:
            return value + 0.0  # already written with at most that many decimals: unchanged
        if not (written == decimals + 1 and digits[-1] == "5"):
            # not a tie in the decimal form, so the binary value lies on the same side of
            # the halfway point as its digits: Python's correctly rounded round() agrees
            return round(value, decimals) + 0.0
    decimal = Decimal(digits)
    with localcontext() as context:
        context.prec = 400  # enough for any float's integer part plus the decimals
        rounded = float(decimal.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))
    return rounded + 0.0  # turn -0.0 into 0.0


class Carry:
    """Applies carry rounding when ``decimals`` is set and is the identity otherwise."""

    def __init__(self, decimals: int | None) -> None:
        self.decimals = decimals

    def __call__(self, value: float) -> float:
        value = float(value)
        if self.decimals is None:
            return value
        return round_half_away(value, self.decimals)

    def array(self, values: np.ndarray) -> np.ndarray:
        if self.decimals is None:
            if type(values) is np.ndarray and values.dtype == np.float64:
                return values  # the common case, on every line of a long run: no copy
            return np.asarray(values, dtype=float)
        flat = [self(v) for v in np.asarray(values, dtype=float).ravel()]
        return np.array(flat, dtype=float).reshape(np.shape(values))
